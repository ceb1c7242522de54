#!/usr/bin/env python3
"""The staging lab: real compute nodes on one machine, audited over SSH.

    python3 tests/lab/lab.py up        # start every node (idempotent)
    python3 tests/lab/lab.py status    # one line per node; exit 0 only if all are up
    python3 tests/lab/lab.py down      # stop everything, leave nothing behind

A node is a process tree in its own mount, pid and uts namespaces (see
../shared/LAB-NOTES.md for what was verified on this kind of machine):

    unshare --mount --pid --fork --mount-proc --uts --propagation private \
        python3 lab.py _node-init compute-1          # becomes the node's PID 1
      - hostname compute-1
      - tmpfs over /run; /etc and /var overlaid (upper layer on that tmpfs) so
        missing mount points are made inside the node, never on the host
      - tmpfs over /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
      - bind mounts of the node's private copies, from .state/<node>/etc/:
        /etc/default (with the scenario's qemu-kvm file, or none),
        /etc/modprobe.d, /etc/modules-load.d, /etc/libvirt (qemu.conf: root),
        /etc/passwd and /etc/group (plus the libvirt-qemu account libvirtd
        insists on looking up)
      - virtlogd -d; libvirtd -d; virsh define + start --paused per domain
      - libvirtd stopped again when the scenario says so
      - exec sshd -D on 127.0.0.1:PORT (lab-generated host and client keys)

Killing the node's PID 1 (the exec'd sshd) makes the kernel end every
process of the node; mounts die with its mount namespace. `down` does that,
then sweeps leftovers (processes tagged with this lab's environment, tap
devices named by the scenarios). `up` leaves a healthy node alone and
restarts one that is not exactly what its scenario says (PID 1 gone,
libvirtd or a qemu missing, scenario file changed, ssh not answering).
`up` and `down` hold .state/lock, so two of them never interleave.

Environment: LAB_BASE_PORT (22201: compute-N listens on BASE+N-1, compute-5's
port stays closed), LAB_UP_TIMEOUT (150 s), LAB_STATE_DIR, LAB_INVENTORY,
LAB_DEBUG=1 (node start-up steps with timestamps in .state/<node>/init.log).

What each node runs and what the audit must say about it is data:
scenarios/<node>.yml. Standard library + PyYAML only.
"""
import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from xml.sax.saxutils import quoteattr, escape

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCENARIO_DIR = os.path.join(HERE, "scenarios")
STATE = os.path.abspath(os.environ.get("LAB_STATE_DIR") or os.path.join(HERE, ".state"))
INVENTORY = os.path.abspath(os.environ.get("LAB_INVENTORY") or os.path.join(HERE, "inventory.yml"))
BASE_PORT = int(os.environ.get("LAB_BASE_PORT") or 22201)
# Seconds to wait for every node's SSH. A quiet 2-core machine needs ~5 s; a
# machine loaded by something else (load average 50) was seen to need ~40 s.
UP_TIMEOUT = float(os.environ.get("LAB_UP_TIMEOUT") or 150)

CLIENT_KEY = os.path.join(STATE, "id_ed25519")
AUTHORIZED_KEYS = os.path.join(STATE, "authorized_keys")
KNOWN_HOSTS = os.path.join(STATE, "known_hosts")
HOST_CREATED = os.path.join(STATE, "host-created-dirs")  # only if overlayfs is unavailable
LOCK = os.path.join(STATE, "lock")  # up and down of one lab never interleave
# Environment variables set only on node processes (and inherited by their
# daemons): `down` finds leftovers by them even if .state was lost.
TAG_LAB, TAG_NODE = "NODEAUDIT_LAB", "NODEAUDIT_LAB_NODE"

PACKAGES = [
    "libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients", "qemu-system-x86",
    "openssh-server", "openssh-client", "iproute2", "util-linux",
    "procps",  # ps/pgrep inside the nodes (testinfra's process module)
]
SSHD = "/usr/sbin/sshd"
URI = "qemu:///system"

# Node-private directories: a tmpfs each, or a bind mount of .state/<node>/etc/<x>.
TMPFS_DIRS = ["/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt"]
PRIVATE_ETC = ["default", "modprobe.d", "modules-load.d", "libvirt"]
# Debian's libvirt looks up its build-time qemu user/group (libvirt-qemu) before
# it reads qemu.conf; that user does not exist here. Each node gets private
# copies of /etc/passwd and /etc/group with it added (the host's stay as they are).
PRIVATE_ETC_FILES = ["passwd", "group"]
NODE_HOME = "/run/lab-root"  # root's home in a node (node_root_home)
QEMU_ACCOUNT = {"passwd": "libvirt-qemu:x:64055:64055:Libvirt Qemu (lab):/var/lib/libvirt:/usr/sbin/nologin\n",
                "group": "libvirt-qemu:x:64055:\n"}
QEMU_CONF = """\
# Written by tests/lab/lab.py for this lab node only (bind-mounted over /etc/libvirt).
# No systemd, no libvirt-qemu user on this machine: run qemu as root.
user = "root"
group = "root"
# Keep qemu out of the host's cgroup tree and away from AppArmor/SELinux:
# a node must leave nothing behind when its namespace dies.
cgroup_controllers = [ ]
security_driver = "none"
"""

DOMAIN_STATES = ("running-paused", "defined-only")
# Deployment shapes a node can take (issue 10; scenarios' `setup.shape`): where libvirt keeps its
# files, as the real deployments do (module_utils/nodeaudit/sources/deployment.py reads them).
KOLLA_LOGS = "/var/lib/docker/volumes/kolla_logs/_data/libvirt"
KOLLA_XML = "/var/lib/docker/volumes/nova_libvirt_qemu/_data"
SNAP_COMMON = "/var/snap/openstack-hypervisor/common"
NODE_SHAPES = (None, "kolla", "sunbeam")
DAEMON_LOG_CONF = ('\n# lab shape: libvirtd logs its warnings where the deployment keeps them\n'
                   'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')
LIBVIRTD_STATES = ("running", "stopped_after_start")


def log(msg):
    print("lab: " + msg, file=sys.stderr, flush=True)


def die(msg):
    log("error: " + msg)
    sys.exit(2)


# --------------------------------------------------------------------------- scenarios

def load_scenarios():
    """Every scenarios/*.yml with a `name`, validated; {name: scenario} in name order."""
    result = {}
    for fname in sorted(os.listdir(SCENARIO_DIR)):
        if not fname.endswith(".yml"):
            continue
        path = os.path.join(SCENARIO_DIR, fname)
        with open(path, "rb") as handle:
            raw = handle.read()
        data = yaml.safe_load(raw)
        if not isinstance(data, dict) or "name" not in data:
            continue  # fleet.yml and other non-node files
        data["_path"] = path
        data["_digest"] = hashlib.sha256(raw).hexdigest()[:16]
        data["port"] = BASE_PORT + int(data["port_offset"])
        result[data["name"]] = data
    validate(result)
    return result


def load_fleet():
    with open(os.path.join(SCENARIO_DIR, "fleet.yml")) as handle:
        return yaml.safe_load(handle) or {}


def is_node(sc):
    """A scenario that runs a node (the unreachable host has no set-up)."""
    return bool(sc.get("setup"))


def validate(scenarios):
    taps, macs, ports, names = {}, {}, {}, set()
    for name, sc in scenarios.items():
        where = os.path.relpath(sc["_path"], REPO)
        if sc["port"] in ports:
            die("%s: port_offset clashes with %s" % (where, ports[sc["port"]]))
        ports[sc["port"]] = name
        if not is_node(sc):
            continue
        setup = sc["setup"]
        if setup.get("libvirtd", "running") not in LIBVIRTD_STATES:
            die("%s: libvirtd must be one of %s" % (where, LIBVIRTD_STATES))
        if setup.get("shape") not in NODE_SHAPES:
            die("%s: shape must be one of %s" % (where, NODE_SHAPES))
        for dom in setup.get("domains") or []:
            if dom["name"] in names:
                die("%s: domain name %s used twice in the lab" % (where, dom["name"]))
            names.add(dom["name"])
            if dom.get("type", "kvm") not in ("kvm", "qemu"):
                die("%s: %s: type must be kvm or qemu" % (where, dom["name"]))
            if dom.get("state", "running-paused") not in DOMAIN_STATES:
                die("%s: %s: state must be one of %s" % (where, dom["name"], DOMAIN_STATES))
            for nic in dom.get("nics") or []:
                tap, mac = nic["tap"], nic["mac"].lower()
                if len(tap) > 15 or not tap.startswith("lab"):
                    die("%s: tap %r: at most 15 characters and starting with 'lab'" % (where, tap))
                if tap in taps or mac in macs:
                    die("%s: tap %s / mac %s not unique in the lab" % (where, tap, mac))
                taps[tap] = macs[mac] = name


def all_taps(scenarios):
    return [nic["tap"] for sc in scenarios.values() if is_node(sc)
            for dom in sc["setup"].get("domains") or [] for nic in dom.get("nics") or []]


def domain_xml(dom):
    """libvirt XML for one scenario domain: no disk, paused forever, tap NICs."""
    name = dom["name"]
    lines = [
        "<domain type=%s>" % quoteattr(dom.get("type", "kvm")),
        "  <name>%s</name>" % escape(name),
        "  <uuid>%s</uuid>" % uuid.uuid5(uuid.NAMESPACE_URL, "nodeaudit-lab:" + name),
        "  <memory unit='MiB'>%d</memory>" % int(dom.get("memory_mib", 32)),
        "  <vcpu>1</vcpu>",
        "  <os><type arch='x86_64'>hvm</type></os>",
        "  <on_poweroff>destroy</on_poweroff>",
        "  <devices>",
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>",
    ]
    for nic in dom.get("nics") or []:
        lines += [
            "    <interface type='ethernet'>",
            "      <mac address=%s/>" % quoteattr(nic["mac"]),
            "      <target dev=%s/>" % quoteattr(nic["tap"]),
            "      <model type=%s/>" % quoteattr(nic.get("model", "virtio")),
        ]
        attrs = ""
        if nic.get("driver_name"):
            attrs += " name=%s" % quoteattr(nic["driver_name"])
        if nic.get("queues"):
            attrs += " queues=%s" % quoteattr(str(nic["queues"]))
        if attrs:
            lines.append("      <driver%s/>" % attrs)
        lines.append("    </interface>")
    lines += [
        "    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>" if dom.get("vnc") else "",
        "    <memballoon model='none'/>",
        "  </devices>",
        "</domain>",
        "",
    ]
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- processes

def read(path, mode="r"):
    try:
        with open(path, mode) as handle:
            return handle.read()
    except OSError:
        return None


def ns_of(pid, kind="pid"):
    try:
        return os.readlink("/proc/%s/ns/%s" % (pid, kind))
    except OSError:
        return None


def starttime(pid):
    stat = read("/proc/%s/stat" % pid)
    if not stat:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid):
    """True for a live process, False for a zombie or a gone pid."""
    stat = read("/proc/%s/stat" % pid)
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def comm(pid):
    return (read("/proc/%s/comm" % pid) or "").strip()


def cmdline(pid):
    raw = read("/proc/%s/cmdline" % pid, "rb") or b""
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def procs_in_ns(ns):
    """Host pids of every process whose pid namespace is `ns`."""
    return [p for p in pids() if ns and ns_of(p) == ns]


def tagged_procs(node=None):
    """Processes of this lab's nodes: they inherit TAG_LAB / TAG_NODE from the node init."""
    want = ("%s=%s" % (TAG_LAB, STATE)).encode()
    found = []
    for p in pids():
        if p == os.getpid():
            continue
        env = read("/proc/%d/environ" % p, "rb") or b""
        parts = env.split(b"\0")
        if want in parts and (node is None or ("%s=%s" % (TAG_NODE, node)).encode() in parts):
            found.append(p)
    return found


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def port_open(port, timeout=0.5):
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(argv, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    kw.setdefault("universal_newlines", True)
    proc = subprocess.run(argv, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(argv), proc.returncode, (proc.stdout or "").strip()))
    return proc


# --------------------------------------------------------------------------- node state (host side)

def node_dir(name):
    return os.path.join(STATE, name)


def node_record(name):
    text = read(os.path.join(node_dir(name), "node.json"))
    return json.loads(text) if text else None


def node_pid1(name):
    """The node's PID 1 as a host pid, if the recorded process is still that process."""
    rec = node_record(name)
    if not rec:
        return None, None
    pid = rec.get("pid1")
    if pid and starttime(pid) == rec.get("starttime") and ns_of(pid) == rec.get("pidns"):
        return pid, rec
    return None, rec


def node_facts(name, sc):
    """What runs in the node: {'pid1', 'sshd', 'libvirtd', 'qemu', 'record'} (no SSH)."""
    pid, rec = node_pid1(name)
    facts = {"pid1": pid, "record": rec, "sshd": False, "libvirtd": False, "virtlogd": False, "qemu": 0}
    if not pid:
        return facts
    facts["sshd"] = comm(pid) == "sshd"
    for p in procs_in_ns(rec["pidns"]):
        c = comm(p)
        if c == "libvirtd":
            facts["libvirtd"] = True
        elif c == "virtlogd":
            facts["virtlogd"] = True
        elif c.startswith("qemu-system"):
            facts["qemu"] += 1
    return facts


def ssh_base(port):
    return ["ssh", "-i", CLIENT_KEY, "-p", str(port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
            "-o", "UserKnownHostsFile=" + KNOWN_HOSTS, "-o", "StrictHostKeyChecking=yes",
            "-o", "LogLevel=ERROR", "root@127.0.0.1"]


def ssh_answers(port, tries=2):
    """`ssh ... true` succeeds (tried twice: a loaded machine can be slow to answer)."""
    for _ in range(tries):
        try:
            if subprocess.run(ssh_base(port) + ["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0:
                return True
        except subprocess.TimeoutExpired:
            pass
    return False


def running_domains(sc):
    return [d for d in sc["setup"].get("domains") or [] if d.get("state", "running-paused") == "running-paused"]


def node_health(name, sc, with_ssh=True):
    """(ok, why) : is the node exactly what its scenario asks for?"""
    f = node_facts(name, sc)
    if not f["record"]:
        return False, "down", f
    if not f["pid1"]:
        return False, "PID 1 gone", f
    if not f["sshd"]:
        return False, "PID 1 is not sshd (start-up did not finish)", f
    if f["record"].get("digest") != sc["_digest"] or f["record"].get("port") != sc["port"]:
        return False, "scenario or port changed since start", f
    want_libvirtd = sc["setup"].get("libvirtd", "running") == "running"
    if f["libvirtd"] != want_libvirtd:
        return False, "libvirtd %s" % ("missing" if want_libvirtd else "running"), f
    if f["qemu"] != len(running_domains(sc)):
        return False, "%d qemu processes, expected %d" % (f["qemu"], len(running_domains(sc))), f
    if with_ssh and not ssh_answers(sc["port"]):
        return False, "ssh does not answer", f
    return True, "up", f


def teardown_node(name, taps):
    """Kill the node's namespace, sweep what it left, delete its taps. Idempotent.

    Only the node's PID 1 is killed: the kernel then kills the rest of the
    namespace, and `unshare` (its parent) reaps it and exits by itself.
    Killing `unshare` too would hand the zombie to the host's init, which may
    reap slowly. Zombies count as gone: they hold no fd, tap or mount.
    """
    rec = node_record(name) or {}
    pid, _ = node_pid1(name)
    if pid:
        kill(pid)
    namespaces = {rec.get("pidns")} | {ns_of(p) for p in tagged_procs(name)}
    namespaces -= {None, ns_of("self")}
    unshare_pid = rec.get("unshare_pid")
    if not (unshare_pid and starttime(unshare_pid) == rec.get("unshare_starttime")):
        unshare_pid = None
    deadline = time.time() + 10
    while True:
        left = [p for p in set([q for ns in namespaces for q in procs_in_ns(ns)] + tagged_procs(name)) if alive(p)]
        if not left:
            break
        if time.time() > deadline:
            log("%s: processes still alive after 10 s: %s" % (name, left))
            break
        for p in left:
            if p != unshare_pid or time.time() > deadline - 5:
                kill(p)
        time.sleep(0.05)
    for tap in taps:
        if os.path.exists("/sys/class/net/" + tap):
            run(["ip", "link", "del", tap], check=False)
    try:
        os.unlink(os.path.join(node_dir(name), "node.json"))
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------- up

def ensure_packages():
    missing = []
    for pkg in PACKAGES:
        out = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False).stdout
        if out.strip() != "install ok installed":
            missing.append(pkg)
    if not missing:
        return
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env, stdout=sys.stderr, stderr=sys.stderr)
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing,
        env=env, stdout=sys.stderr, stderr=sys.stderr)


def ensure_client_key():
    os.makedirs(STATE, mode=0o700, exist_ok=True)
    if not os.path.exists(CLIENT_KEY):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nodeaudit-lab", "-f", CLIENT_KEY])
    pub = read(CLIENT_KEY + ".pub").strip()
    with open(AUTHORIZED_KEYS, "w") as handle:
        handle.write(pub + "\n")


def copy_etc_dir(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True)
    else:
        os.makedirs(dst)


def node_root_home(passwd):
    """The node's root logs in to a home of its own (NODE_HOME, on the node's /run), not the host's /root.

    sshd runs every command through root's shell, and bash sources ~/.bashrc for it: the host's
    dotfiles are not the node's (seen: a stale pyenv rehash lock in the host's ~/.bashrc made each
    `ssh node true` take 60 s, and no lab node came up in CI). /root itself stays visible: the
    venv's python may live under it.
    """
    out = []
    for line in passwd.splitlines(True):
        fields = line.rstrip("\n").split(":")
        if len(fields) == 7 and fields[0] == "root":
            fields[5] = NODE_HOME
            line = ":".join(fields) + "\n"
        out.append(line)
    return "".join(out)


def prepare_node(name, sc):
    """Write .state/<node>/: private /etc copies, domain XML, host key."""
    d = node_dir(name)
    os.makedirs(d, mode=0o700, exist_ok=True)
    setup = sc["setup"]
    etc = os.path.join(d, "etc")
    os.makedirs(etc, exist_ok=True)
    for sub in PRIVATE_ETC:
        copy_etc_dir(os.path.join("/etc", sub), os.path.join(etc, sub))
    for fname in PRIVATE_ETC_FILES:
        text = read(os.path.join("/etc", fname)) or ""
        if not any(line.startswith("libvirt-qemu:") for line in text.splitlines()):
            text = (text if text.endswith("\n") or not text else text + "\n") + QEMU_ACCOUNT[fname]
        if fname == "passwd":
            text = node_root_home(text)
        with open(os.path.join(etc, fname), "w") as handle:
            handle.write(text)
    qemu_kvm = os.path.join(etc, "default", "qemu-kvm")
    if os.path.lexists(qemu_kvm):
        os.unlink(qemu_kvm)
    if setup.get("qemu_kvm_default") is not None:
        with open(qemu_kvm, "w") as handle:
            handle.write(setup["qemu_kvm_default"])
    for fname, text in (setup.get("modprobe_d") or {}).items():
        with open(os.path.join(etc, "modprobe.d", fname), "w") as handle:
            handle.write(text)
    for fname, text in (setup.get("modules_load_d") or {}).items():
        with open(os.path.join(etc, "modules-load.d", fname), "w") as handle:
            handle.write(text)
    with open(os.path.join(etc, "libvirt", "qemu.conf"), "w") as handle:
        handle.write(QEMU_CONF)
    if setup.get("shape"):
        with open(os.path.join(etc, "libvirt", "libvirtd.conf"), "a") as handle:
            handle.write(DAEMON_LOG_CONF)
    doms = os.path.join(d, "domains")
    if os.path.exists(doms):
        shutil.rmtree(doms)
    os.makedirs(doms)
    for dom in setup.get("domains") or []:
        with open(os.path.join(doms, dom["name"] + ".xml"), "w") as handle:
            handle.write(domain_xml(dom))
    hostkey = os.path.join(d, "ssh_host_ed25519_key")
    if not os.path.exists(hostkey):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", hostkey])


def write_known_hosts(scenarios):
    lines = []
    for name, sc in scenarios.items():
        if is_node(sc):
            key = read(os.path.join(node_dir(name), "ssh_host_ed25519_key.pub")).split()
            lines.append("[127.0.0.1]:%d %s %s" % (sc["port"], key[0], key[1]))
    with open(KNOWN_HOSTS, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def launch_node(name, sc):
    d = node_dir(name)
    logf = open(os.path.join(d, "init.log"), "w")
    argv = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--uts", "--propagation", "private",
            sys.executable, os.path.abspath(__file__), "_node-init", name]
    env = dict(os.environ, LAB_STATE_DIR=STATE, LAB_BASE_PORT=str(BASE_PORT), PYTHONUNBUFFERED="1")
    env.update({TAG_LAB: STATE, TAG_NODE: name})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True, env=env, cwd="/")
    logf.close()
    child = None
    deadline = time.time() + 5
    while time.time() < deadline and child is None:
        kids = (read("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) or "").split()
        if kids and ns_of(kids[0]) != ns_of("self"):
            child = int(kids[0])
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.02)
    if child is None:
        raise RuntimeError("%s: unshare did not start the node (see %s)" % (name, os.path.join(d, "init.log")))
    rec = {"name": name, "port": sc["port"], "digest": sc["_digest"], "pid1": child,
           "starttime": starttime(child), "pidns": ns_of(child), "unshare_pid": proc.pid,
           "unshare_starttime": starttime(proc.pid), "started": time.time()}
    with open(os.path.join(d, "node.json"), "w") as handle:
        json.dump(rec, handle, indent=1)
    return proc


def wait_node(name, sc, proc, deadline):
    """Block until the node's sshd answers and the node looks as its scenario says."""
    logpath = os.path.join(node_dir(name), "init.log")
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = "".join((read(logpath) or "").splitlines(True)[-15:])
            raise RuntimeError("%s: node exited during start-up (%s):\n%s" % (name, logpath, tail))
        pid, rec = node_pid1(name)
        if pid and comm(pid) == "sshd" and port_open(sc["port"]):
            ok, why, _ = node_health(name, sc)
            if ok:
                return
        time.sleep(0.2)
    raise RuntimeError("%s: not up after %.0f s: %s (see %s)" % (name, UP_TIMEOUT, node_health(name, sc)[1], logpath))


def write_inventory(scenarios):
    fleet = load_fleet()
    common = "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5" % KNOWN_HOSTS
    hosts = {}
    for name, sc in scenarios.items():
        # One multiplexed SSH connection per node, for Ansible and testinfra alike
        # (testinfra opens one connection per command otherwise). A literal path:
        # testinfra %-formats its ssh command line, so no ssh %-tokens here.
        control = os.path.join(STATE, "cp-" + name)
        if len(control) > 100:  # unix socket paths are limited to 108 bytes
            control = "/tmp/nodeaudit-lab-%s-%s" % (hashlib.sha256(STATE.encode()).hexdigest()[:8], name)
        hosts[name] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": sc["port"],
            "ansible_user": "root",
            "ansible_ssh_private_key_file": CLIENT_KEY,
            "ansible_ssh_common_args": common + " -o ControlPath=" + control,
            "ansible_python_interpreter": sys.executable,
        }
    inv = {"all": {"children": {"compute": {"hosts": hosts, "vars": fleet.get("group_vars") or {}}}}}
    header = ("# Generated by tests/lab/lab.py up: the staging lab (do not edit, not committed).\n"
              "# Scenarios: tests/lab/scenarios/; state, keys, known_hosts: %s\n" % STATE)
    tmp = INVENTORY + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(header)
        yaml.safe_dump(inv, handle, default_flow_style=False, sort_keys=False)
    os.replace(tmp, INVENTORY)


def check_host():
    if os.geteuid() != 0:
        die("the lab needs root (namespaces, mounts, tap devices)")
    for dev in ("/dev/kvm", "/dev/net/tun"):
        if not os.path.exists(dev):
            die("%s is missing: the lab's KVM domains cannot start on this machine" % dev)


def cmd_up(args):
    t0 = time.time()
    check_host()
    scenarios = load_scenarios()
    ensure_packages()
    ensure_client_key()
    taps = {}
    for name, sc in scenarios.items():
        if is_node(sc):
            taps[name] = [nic["tap"] for dom in sc["setup"].get("domains") or [] for nic in dom.get("nics") or []]
    todo = []
    nodes = [name for name, sc in scenarios.items() if is_node(sc)]
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        health = dict(zip(nodes, pool.map(lambda n: node_health(n, scenarios[n]), nodes)))
    for name in nodes:
        sc = scenarios[name]
        ok, why, _ = health[name]
        if ok:
            log("%s: already up, left alone" % name)
            continue
        if why != "down":
            log("%s: %s: restarting it" % (name, why))
        teardown_node(name, taps[name])
        if port_open(sc["port"]):
            die("%s: port %d is taken by something else (set LAB_BASE_PORT)" % (name, sc["port"]))
        todo.append(name)
    for name, sc in scenarios.items():
        if not is_node(sc) and port_open(sc["port"]):
            die("%s must be unreachable but port %d answers (set LAB_BASE_PORT)" % (name, sc["port"]))
    for name in todo:
        prepare_node(name, scenarios[name])
    write_known_hosts(scenarios)
    procs = {name: launch_node(name, scenarios[name]) for name in todo}
    deadline = time.time() + UP_TIMEOUT
    errors = []
    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        futures = {name: pool.submit(wait_node, name, scenarios[name], procs[name], deadline) for name in todo}
        for name, fut in futures.items():
            try:
                fut.result()
                log("%s: up on 127.0.0.1:%d" % (name, scenarios[name]["port"]))
            except Exception as exc:  # report every node, then fail
                errors.append(str(exc))
    write_inventory(scenarios)
    if errors:
        for err in errors:
            log(err)
        die("lab not up (python3 tests/lab/lab.py down cleans up)")
    if os.environ.get("LAB_GUESTS", "1") != "0":  # the real keepalived guests' nodes (tests/lab/guests.py)
        import guests
        try:
            guests.up()
        except Exception as exc:
            die("guest nodes not up: %s (python3 tests/lab/lab.py down cleans up)" % exc)
    log("lab up in %.1f s; inventory: %s" % (time.time() - t0, os.path.relpath(INVENTORY)))
    return 0


# --------------------------------------------------------------------------- down / status

def cmd_down(args):
    t0 = time.time()
    scenarios = load_scenarios()
    names = set(n for n, sc in scenarios.items() if is_node(sc))
    if os.path.isdir(STATE):
        names |= {n for n in os.listdir(STATE) if os.path.exists(os.path.join(STATE, n, "node.json"))}
    taps = all_taps(scenarios)
    import guests  # the real guests' nodes and their netns (tests/lab/guests.py)
    guests.down()
    for name in sorted(names):
        teardown_node(name, [])
    # Leftovers of a lost .state: anything tagged with this lab, every lab tap, any lab mount.
    for p in tagged_procs():
        ns = ns_of(p)
        for q in procs_in_ns(ns) if ns != ns_of("self") else [p]:
            kill(q)
    for tap in taps:
        if os.path.exists("/sys/class/net/" + tap):
            run(["ip", "link", "del", tap], check=False)
    mounts = [line.split()[1] for line in (read("/proc/mounts") or "").splitlines() if STATE in line]
    for mnt in reversed(mounts):
        run(["umount", "-l", mnt], check=False)
    for path in reversed((read(HOST_CREATED) or "").split()):
        try:
            os.rmdir(path)
        except OSError:
            pass
    if os.path.exists(HOST_CREATED):
        os.unlink(HOST_CREATED)
    if os.path.exists(INVENTORY):
        os.unlink(INVENTORY)
    log("lab down in %.1f s" % (time.time() - t0))
    return 0


def cmd_status(args):
    scenarios = load_scenarios()
    all_up = True
    print("%-10s %-6s %-6s %-5s %-9s %s" % ("node", "port", "state", "qemu", "libvirtd", "note"))
    nodes = [name for name, sc in scenarios.items() if is_node(sc)]
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        health = dict(zip(nodes, pool.map(lambda n: node_health(n, scenarios[n], with_ssh=not args.quick), nodes)))
    for name, sc in scenarios.items():
        if not is_node(sc):
            state = "closed" if not port_open(sc["port"]) else "OPEN!"
            print("%-10s %-6d %-6s %-5s %-9s %s" % (name, sc["port"], state, "-", "-", "unreachable by design"))
            continue
        ok, why, f = health[name]
        all_up = all_up and ok
        print("%-10s %-6d %-6s %-5d %-9s %s" % (
            name, sc["port"], "up" if ok else "down", f["qemu"],
            "running" if f["libvirtd"] else "stopped", "" if ok else why))
    if all_up and not os.path.exists(INVENTORY):
        all_up = False
        print("(inventory %s missing: run lab.py up)" % os.path.relpath(INVENTORY))
    return 0 if all_up else 3


# --------------------------------------------------------------------------- inside a node

def sh(*argv):
    if os.environ.get("LAB_DEBUG"):
        print("%.3f %s" % (time.time(), " ".join(argv)), flush=True)
    run(list(argv))


def make_mountpoint(path, overlaid):
    """mkdir -p `path`; inside an overlaid tree it lands in the node's tmpfs, else on the host (recorded)."""
    if os.path.isdir(path):
        return
    if not any(path.startswith(root + "/") for root in overlaid):
        top = path
        while not os.path.exists(os.path.dirname(top)):
            top = os.path.dirname(top)
        with open(HOST_CREATED, "a") as handle:
            handle.write(top + "\n")
    os.makedirs(path)


def wait_for(pred, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def node_init(name):
    """PID 1 of a node, inside the new namespaces. Ends by exec'ing sshd.

    PID 1 must reap every orphan: libvirtd probes qemu with daemonized
    processes and waits for them to vanish, and a zombie never does. So the
    set-up runs in a forked worker while PID 1 only reaps; then PID 1 becomes
    sshd (which reaps its own orphans in turn).
    """
    t0 = time.time()
    sc = load_scenarios()[name]
    os.environ.update({TAG_LAB: STATE, TAG_NODE: name, "LIBVIRT_DEFAULT_URI": URI})
    assert os.getpid() == 1, "node init must run as PID 1 of a new pid namespace"
    worker = os.fork()
    if worker == 0:
        try:
            node_setup(name, sc)
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        sys.stdout.flush()
        os._exit(0)
    while True:
        pid, status = os.wait()
        if pid == worker:
            break
    if os.waitstatus_to_exitcode(status) != 0:
        print("%s: set-up failed, node stops" % name, flush=True)
        sys.exit(1)
    print("%s: node ready in %.1f s, exec sshd on 127.0.0.1:%d" % (name, time.time() - t0, sc["port"]), flush=True)
    exec_sshd(name, sc)


def node_setup(name, sc):
    """Mounts, daemons and domains of one node (runs in PID 1's worker)."""
    setup = sc["setup"]
    d = node_dir(name)
    socket.sethostname(name)
    sh("mount", "-t", "tmpfs", "-o", "mode=755", "lab-" + name, "/run")
    overlaid = []
    for root in ("/etc", "/var"):
        upper, work = "/run/lab-overlay%s/upper" % root, "/run/lab-overlay%s/work" % root
        os.makedirs(upper)
        os.makedirs(work)
        proc = run(["mount", "-t", "overlay", "lab-" + name, "-o",
                    "lowerdir=%s,upperdir=%s,workdir=%s" % (root, upper, work), root], check=False)
        if proc.returncode == 0:
            overlaid.append(root)
        else:
            print("overlay on %s failed (%s): missing mount points go to the host and are removed by down"
                  % (root, proc.stdout.strip()), flush=True)
    for path in TMPFS_DIRS:
        make_mountpoint(path, overlaid)
        sh("mount", "-t", "tmpfs", "-o", "mode=755", "lab-" + name, path)
    for sub in PRIVATE_ETC:
        target = os.path.join("/etc", sub)
        make_mountpoint(target, overlaid)
        sh("mount", "--bind", os.path.join(d, "etc", sub), target)
    for fname in PRIVATE_ETC_FILES:
        sh("mount", "--bind", os.path.join(d, "etc", fname), os.path.join("/etc", fname))
    for path in ("/run/sshd", "/run/libvirt", "/var/log/libvirt/qemu", NODE_HOME):
        os.makedirs(path, exist_ok=True)
    os.chmod("/run/sshd", 0o755)
    os.chmod(NODE_HOME, 0o700)

    daemons = shape_setup(setup.get("shape"), overlaid)
    sh(*(daemons + ["virtlogd -d"] if daemons else ["virtlogd", "-d"]))
    wait_for(lambda: os.path.exists("/run/libvirt/virtlogd-sock"), "virtlogd", timeout=60)
    sh(*(daemons + ["libvirtd -d"] if daemons else ["libvirtd", "-d"]))
    wait_for(lambda: run(["virsh", "-q", "uri"], check=False).returncode == 0, "libvirtd", timeout=60)
    for dom in setup.get("domains") or []:
        sh("virsh", "-q", "define", os.path.join(d, "domains", dom["name"] + ".xml"))
        if dom.get("state", "running-paused") == "running-paused":
            sh("virsh", "-q", "start", "--paused", dom["name"])
    if setup.get("libvirtd", "running") == "stopped_after_start":
        pid = int(read("/run/libvirtd.pid").strip())
        os.kill(pid, signal.SIGTERM)
        # Its parent is PID 1 (libvirtd -d daemonizes), which reaps it.
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), "libvirtd to stop", timeout=60)


def shape_setup(shape, overlaid):
    """The node's deployment shape: its directories, and the argv prefix that starts libvirt's daemons.

    kolla: virtlogd and libvirtd run in a mount namespace of their own (the nova_libvirt
    "container": same pid namespace and /run as the host, kolla's volumes bind-mounted over
    /var/log/libvirt and /etc/libvirt/qemu), so the host sees the domain logs and the XML only in
    the volumes. sunbeam: libvirt's run, log and config directories also appear under the snap's
    common directory, where the snap's libvirt keeps them. Default: the daemons run as they are.
    """
    if shape == "kolla":
        for path in (KOLLA_LOGS + "/qemu", KOLLA_XML, "/etc/kolla", "/etc/systemd/system"):
            make_mountpoint(path, overlaid)
        if not os.path.lexists("/etc/systemd/system/qemu-kvm.service"):
            os.symlink("/dev/null", "/etc/systemd/system/qemu-kvm.service")     # kolla masks it on Ubuntu
        inner = "mount --bind %s /var/log/libvirt && mount --bind %s /etc/libvirt/qemu && exec sh -c \"$0\"" % (
            KOLLA_LOGS, KOLLA_XML)
        os.makedirs("/etc/libvirt/qemu", exist_ok=True)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]
    if shape == "sunbeam":
        for sub, src in (("run/libvirt", "/run/libvirt"), ("log/libvirt", "/var/log/libvirt"),
                         ("etc/libvirt", "/etc/libvirt")):
            target = os.path.join(SNAP_COMMON, sub)
            make_mountpoint(target, overlaid)
            sh("mount", "--bind", src, target)
    return None


def exec_sshd(name, sc):
    d = node_dir(name)
    os.execv(SSHD, [
        SSHD, "-D", "-e", "-f", "/dev/null", "-p", str(sc["port"]),
        "-o", "ListenAddress=127.0.0.1",
        "-o", "HostKey=" + os.path.join(d, "ssh_host_ed25519_key"),
        "-o", "AuthorizedKeysFile=" + AUTHORIZED_KEYS,
        "-o", "StrictModes=no", "-o", "UsePAM=no", "-o", "PidFile=none",
        "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
        "-o", "Subsystem=sftp internal-sftp",
        "-o", "MaxStartups=100", "-o", "MaxSessions=100",
        "-o", "LogLevel=ERROR",
    ])


# --------------------------------------------------------------------------- main

@contextlib.contextmanager
def lab_lock():
    """Serialise `up` and `down` of this lab (e.g. `make test` in two shells)."""
    os.makedirs(STATE, mode=0o700, exist_ok=True)
    with open(LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another lab.py up/down is running on %s; waiting for it" % STATE)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_node-init"]:  # internal: PID 1 of a node, started by `up` through unshare
        return node_init(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start every node (idempotent); writes %s" % os.path.relpath(INVENTORY, REPO))
    sub.add_parser("down", help="stop every node, remove lab processes, taps, mounts (idempotent)")
    st = sub.add_parser("status", help="one line per node; exit 0 only if every node is up")
    st.add_argument("--quick", action="store_true", help="do not try SSH")
    args = parser.parse_args(argv)
    if args.cmd == "status":
        return cmd_status(args)
    with lab_lock():
        return {"up": cmd_up, "down": cmd_down}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
