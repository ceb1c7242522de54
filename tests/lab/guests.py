#!/usr/bin/env python3
"""Real guests in the lab: two TCG VMs running keepalived, on two lab libvirtds, in a netns of their own.

    python3 tests/lab/guests.py up          # image (cached), netns, the two guest nodes (lab.py up calls it)
    python3 tests/lab/guests.py boot        # start both guests, wait for MASTER / BACKUP
    python3 tests/lab/guests.py stop        # destroy both guests (the nodes stay)
    python3 tests/lab/guests.py starve DOM SECONDS   # SIGSTOP DOM's qemu for SECONDS, then SIGCONT
    python3 tests/lab/guests.py migrate DOM NODE     # live-migrate DOM to NODE's libvirtd
    python3 tests/lab/guests.py where DOM   # the node DOM runs on now
    python3 tests/lab/guests.py down        # stop and remove all of it (lab.py down calls it)

What ../shared/LAB-NOTES.md ("Real guests") verified on this machine, used here:

- The guests run under TCG (`<domain type='qemu'>`): /dev/kvm here is a nested
  software hypervisor on which a guest OS stops with emulation failures. The
  audit therefore calls their NICs not applicable for vhost (vhost-net is for
  KVM); a KVM guest with a userspace NIC is what the paused KVM domains of
  compute-1..4 show, and keepalived in a KVM guest cannot be run here.
- The image: Debian's cloud kernel (the versioned package linux-image-cloud-amd64
  depends on), busybox-static, keepalived and the libraries it needs beyond the
  host's, fetched with `apt-get download` and unpacked with `dpkg-deb -x`,
  never installed; cached by package version under tests/lab/.cache/guest/
  (gitignored). A gzip initramfs (Python's own cpio writer) holds busybox, the
  virtio modules (insmod in dependency order), keepalived and its libraries,
  and /init (GUEST_INIT below). 128 MiB is the minimum guest RAM.
- Network: the netns `nagnet` holds a bridge and the taps (made in advance,
  `managed='no'`), and both guest nodes: each is `ip netns exec nagnet unshare
  --mount --pid --fork --mount-proc --uts` with its own libvirtd (lab.py's node
  set-up), its own `host_uuid` and migration ports. Their sshd listens on the
  netns' loopback; Ansible reaches it with a ProxyCommand (`_relay`) that
  enters the netns. Guest addresses are 192.0.2.0/24 (TEST-NET-1), inside that
  netns only: nothing leaves it.
- keepalived 2.2.7: vrid 51, advert_int 1, priorities 150 (lb01) / 100 (lb02),
  both start BACKUP (lb01 takes MASTER after the master-down timer). Its log
  goes to the guest console, kept as evidence in .state/<node>/console-<dom>.log.
- Graceful stop: `virsh shutdown` presses the ACPI power button; /init then
  sends SIGTERM to keepalived (it advertises priority 0: the handover) and
  powers off.
- Live migration: `virsh migrate --live` from the host, connected to each
  node's libvirtd socket through /proc/<libvirtd pid>/root, with a destination
  XML naming the destination node's own tap and console file.

Everything is torn down by `down` (and by lab.py down): the nodes' PID 1 killed
(the kernel ends libvirtd and qemu), the netns deleted (bridge and taps with it).
"""
import argparse
import calendar
import glob
import gzip
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab  # noqa: E402  (tests/lab/lab.py: node set-up, teardown, keys, inventory)

CACHE = os.path.abspath(os.environ.get("LAB_GUEST_CACHE") or os.path.join(HERE, ".cache", "guest"))
NETNS = "nagnet"
BRIDGE = "gbr0"
SUBNET = "192.0.2"
VIP = SUBNET + ".100"
VRID = 51
ADVERT_INT = 1
KERNEL_META = "linux-image-cloud-amd64"
PACKAGES = ["busybox-static", "keepalived", "libsnmp40", "libnl-genl-3-200", "libnl-3-200", "libnftnl11",
            "libpci3", "libperl5.36", "libsensors5", "libwrap0"]
# insmod order: each module's `depends=` (the package has no modules.dep we could use without kmod).
MODULES = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net", "button", "evdev"]
IMAGE_VERSION = "1"  # bump when GUEST_INIT or the image layout changes

NODES = {
    "guest-1": {"port_offset": 20, "host_uuid": "6b1c0f7e-0001-4d7b-9a0e-6e6f64656131", "migration_port": 49200},
    "guest-2": {"port_offset": 21, "host_uuid": "6b1c0f7e-0002-4d7b-9a0e-6e6f64656132", "migration_port": 49300},
}
GUESTS = {
    "keepalived-lb01": {"home": "guest-1", "mac": "52:54:00:99:00:11", "ip": SUBNET + ".11", "priority": 150},
    "keepalived-lb02": {"home": "guest-2", "mac": "52:54:00:99:00:12", "ip": SUBNET + ".12", "priority": 100},
}


def tap_of(dom, node):
    """Each (domain, node) pair has its own tap: lb01 on guest-1 is g1-lb01, migrated to guest-2 g2-lb01."""
    return "g%s-%s" % (node[-1], dom[-4:])


ALL_TAPS = [tap_of(d, n) for d in GUESTS for n in NODES]

GUEST_INIT = r"""#!/bin/busybox sh
# /init of the lab's keepalived guests (tests/lab/guests.py). Configuration from the kernel command line.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
mkdir -p /proc /sys /dev /run /tmp /var/run /etc/keepalived
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in __MODULES__; do insmod /lib/modules/$m.ko 2>/dev/null || echo "lab-guest: insmod $m failed"; done
for w in $(cat /proc/cmdline); do
  case "$w" in lab_*=*) eval "${w%%=*}='${w#*=}'";; esac
done
hostname "$lab_name"
ip link set lo up
n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
ip link set eth0 up
ip addr add "$lab_ip/24" dev eth0
cat > /etc/keepalived/keepalived.conf <<EOF
global_defs {
  router_id $lab_name
}
vrrp_instance VI_$lab_vrid {
  state BACKUP
  interface eth0
  virtual_router_id $lab_vrid
  priority $lab_prio
  advert_int $lab_adv
  virtual_ipaddress {
    $lab_vip/24
  }
}
EOF
echo "lab-guest: $lab_name up, $lab_ip, vrid $lab_vrid priority $lab_prio, starting keepalived"
keepalived -n -l -D -P -f /etc/keepalived/keepalived.conf &
KPID=$!
power_buttons() {
  for d in /sys/class/input/input*; do
    if [ "$(cat $d/name 2>/dev/null)" = "Power Button" ]; then
      for e in $d/event*; do [ -e "$e" ] && echo /dev/input/$(basename $e); done
    fi
  done
}
(
  n=0; evs=""; while [ -z "$evs" ] && [ $n -lt 50 ]; do evs=$(power_buttons); [ -z "$evs" ] && sleep 0.2; n=$((n+1)); done
  if [ -z "$evs" ]; then echo "lab-guest: no power button device: graceful shutdown unavailable"; exit 0; fi
  for ev in $evs; do ( dd if="$ev" bs=24 count=1 of=/dev/null 2>/dev/null; touch /tmp/power ) & done
  while [ ! -e /tmp/power ]; do sleep 0.2; done
  echo "lab-guest: power button: SIGTERM to keepalived (priority 0 advert), then power off"
  kill -TERM $KPID
  n=0; while kill -0 $KPID 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
  echo "lab-guest: keepalived stopped; powering off"
  poweroff -f
) &
while true; do wait; sleep 1; done
"""


def log(msg):
    print("guests: " + msg, file=sys.stderr, flush=True)


def run(argv, check=True, **kw):
    return lab.run(argv, check=check, **kw)


# --------------------------------------------------------------------------- the image

def _apt(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def candidate(pkg):
    """The version `apt-get download` would fetch, or None."""
    out = _apt(["apt-cache", "show", "--no-all-versions", pkg]).stdout
    m = re.search(r"^Version: (\S+)", out, re.M)
    return m.group(1) if m else None


def kernel_package():
    out = _apt(["apt-cache", "show", "--no-all-versions", KERNEL_META]).stdout
    m = re.search(r"^Depends:.*?(linux-image-[0-9][^\s,]*-cloud-amd64)", out, re.M)
    return m.group(1) if m else None


def deb_path(pkg, version):
    return os.path.join(CACHE, "debs", "%s_%s_amd64.deb" % (pkg, version.replace(":", "%3a")))


def ensure_debs():
    """[(pkg, version, path)] of every package the image needs, downloaded once per version."""
    kpkg = kernel_package()
    if kpkg is None:
        _apt(["apt-get", "update", "-q"])
        kpkg = kernel_package()
    if kpkg is None:
        raise RuntimeError("apt-cache does not know %s: cannot build the guest kernel" % KERNEL_META)
    os.makedirs(os.path.join(CACHE, "debs"), exist_ok=True)
    out = []
    for pkg in [kpkg] + PACKAGES:
        version = candidate(pkg)
        if version is None:
            raise RuntimeError("apt-cache does not know %s" % pkg)
        path = deb_path(pkg, version)
        if not os.path.exists(path):
            log("downloading %s %s" % (pkg, version))
            proc = _apt(["apt-get", "download", "-q", "%s=%s" % (pkg, version)], cwd=os.path.dirname(path))
            if proc.returncode != 0 or not os.path.exists(path):
                raise RuntimeError("apt-get download %s=%s failed: %s" % (pkg, version, proc.stderr.strip()))
        out.append((pkg, version, path))
    return out


def cpio_newc(entries):
    """A newc cpio archive from [(path, mode, data | symlink target | None for a dir)] (what the kernel unpacks).

    Why not the cpio program: it is not on every machine, and the format is a
    110-byte ASCII header per entry (kernel Documentation/driver-api/early-userspace).
    """
    buf = io.BytesIO()
    ino = 1
    for path, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        name = path.lstrip("/").encode() + b"\0"
        body = data.encode() if isinstance(data, str) else (data or b"")
        hdr = "070701" + "".join("%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name), 0))
        buf.write(hdr.encode() + name)
        buf.write(b"\0" * ((4 - (110 + len(name)) % 4) % 4))
        buf.write(body)
        buf.write(b"\0" * ((4 - len(body) % 4) % 4))
        ino += 1
    return buf.getvalue()


def _libs(root, binary):
    """The shared libraries `binary` needs: [(path in the guest, file on this machine)]."""
    dirs = [os.path.join(root, d) for d in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")]
    proc = _apt(["ldd", binary], env=dict(os.environ, LD_LIBRARY_PATH=":".join(dirs)))
    libs, missing = [], []
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            if m.group(2) == "not":
                missing.append(m.group(1))
            else:
                libs.append(("/lib/x86_64-linux-gnu/" + m.group(1), m.group(2)))
        m = re.match(r"\s*(/\S*ld-linux\S*)", line)
        if m:
            libs.append(("/lib64/ld-linux-x86-64.so.2", m.group(1)))
    if missing:
        raise RuntimeError("keepalived needs libraries neither the host nor the downloaded packages have: %s"
                           % ", ".join(missing))
    return libs


def ensure_image():
    """(kernel path, initrd path, description): built once per package versions."""
    debs = ensure_debs()
    key = hashlib.sha256(("%s|%s|%s" % (IMAGE_VERSION, GUEST_INIT, [(p, v) for p, v, _ in debs])).encode())
    key = key.hexdigest()[:12]
    kernel, initrd = os.path.join(CACHE, "vmlinuz-" + key), os.path.join(CACHE, "initrd-%s.gz" % key)
    info = {"packages": {p: v for p, v, _ in debs}, "key": key}
    if os.path.exists(kernel) and os.path.exists(initrd):
        return kernel, initrd, info
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="guest-root-", dir=CACHE) as root:
        for _, _, path in debs:
            run(["dpkg-deb", "-x", path, root])
        vmlinuz = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))
        if len(vmlinuz) != 1:
            raise RuntimeError("expected one kernel in the kernel package, found %s" % vmlinuz)
        entries = [(d, 0o40755, None) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "lib", "lib64",
                                                "lib/modules", "lib/x86_64-linux-gnu", "etc", "proc", "sys",
                                                "dev", "run", "tmp", "var", "var/run")]
        entries.append(("init", 0o100755, GUEST_INIT.replace("__MODULES__", " ".join(MODULES))))
        with open(os.path.join(root, "bin", "busybox"), "rb") as handle:
            entries.append(("bin/busybox", 0o100755, handle.read()))
        for mod in MODULES:
            found = glob.glob(os.path.join(root, "lib", "modules", "*", "kernel", "**", mod + ".ko"), recursive=True)
            if len(found) != 1:
                raise RuntimeError("module %s: found %s" % (mod, found))
            with open(found[0], "rb") as handle:
                entries.append(("lib/modules/%s.ko" % mod, 0o100644, handle.read()))
        kbin = os.path.join(root, "usr", "sbin", "keepalived")
        with open(kbin, "rb") as handle:
            entries.append(("usr/sbin/keepalived", 0o100755, handle.read()))
        seen = set()
        for dest, src in _libs(root, kbin):
            if dest in seen:
                continue
            seen.add(dest)
            with open(os.path.realpath(src), "rb") as handle:
                entries.append((dest.lstrip("/"), 0o100755, handle.read()))
        entries += [("etc/passwd", 0o100644, "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
                    ("etc/group", 0o100644, "root:x:0:\nnogroup:x:65534:\n")]
        tmp = initrd + ".tmp"
        with gzip.open(tmp, "wb", compresslevel=6) as handle:
            handle.write(cpio_newc(entries))
        shutil.copyfile(vmlinuz[0], kernel + ".tmp")
        os.replace(kernel + ".tmp", kernel)
        os.replace(tmp, initrd)
    for old in glob.glob(os.path.join(CACHE, "vmlinuz-*")) + glob.glob(os.path.join(CACHE, "initrd-*")):
        if key not in old:
            os.unlink(old)
    with open(os.path.join(CACHE, "image.json"), "w") as handle:
        json.dump(info, handle, indent=1)
    log("guest image %s built in %.1f s (%d MB initramfs)" % (key, time.time() - t0, os.path.getsize(initrd) >> 20))
    return kernel, initrd, info


# --------------------------------------------------------------------------- netns, nodes, domains

def netns_exists():
    return os.path.exists("/run/netns/" + NETNS)


def ensure_netns():
    if not netns_exists():
        run(["ip", "netns", "add", NETNS])
    ns = ["ip", "-n", NETNS]
    run(ns + ["link", "set", "lo", "up"])
    if not os.path.exists("/run/netns/" + NETNS) or run(ns + ["link", "show", BRIDGE], check=False).returncode:
        run(ns + ["link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0"])
    run(ns + ["link", "set", BRIDGE, "up"])
    for tap in ALL_TAPS:
        if run(ns + ["link", "show", tap], check=False).returncode:
            run(ns + ["tuntap", "add", "dev", tap, "mode", "tap"])
        run(ns + ["link", "set", tap, "master", BRIDGE, "up"])


def node_port(node):
    return lab.BASE_PORT + NODES[node]["port_offset"]


def console_path(dom, node):
    return os.path.join(lab.node_dir(node), "console-%s.log" % dom)


def guest_xml(dom, node, kernel, initrd):
    g = GUESTS[dom]
    cmdline = ("console=ttyS0 quiet loglevel=3 panic=-1 lab_name=%s lab_ip=%s lab_prio=%d lab_vrid=%d "
               "lab_vip=%s lab_adv=%d" % (dom, g["ip"], g["priority"], VRID, VIP, ADVERT_INT))
    return "\n".join([
        "<domain type='qemu'>",
        "  <name>%s</name>" % escape(dom),
        "  <uuid>%s</uuid>" % uuid.uuid5(uuid.NAMESPACE_URL, "nodeaudit-lab-guest:" + dom),
        "  <memory unit='MiB'>128</memory>",
        "  <vcpu>1</vcpu>",
        "  <os>",
        "    <type arch='x86_64' machine='pc'>hvm</type>",
        "    <kernel>%s</kernel>" % escape(kernel),
        "    <initrd>%s</initrd>" % escape(initrd),
        "    <cmdline>%s</cmdline>" % escape(cmdline),
        "  </os>",
        "  <features><acpi/><tcg><tb-cache unit='MiB'>32</tb-cache></tcg></features>",
        "  <on_poweroff>destroy</on_poweroff>",
        "  <on_reboot>restart</on_reboot>",
        "  <devices>",
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>",
        "    <interface type='ethernet'>",
        "      <mac address=%s/>" % quoteattr(g["mac"]),
        "      <target dev=%s managed='no'/>" % quoteattr(tap_of(dom, node)),
        "      <model type='virtio'/>",
        "    </interface>",
        "    <serial type='file'><source path=%s append='on'/><target port='0'/></serial>"
        % quoteattr(console_path(dom, node)),
        "    <memballoon model='none'/>",
        "  </devices>",
        "</domain>",
        "",
    ])


def node_scenario(node):
    return {"name": node, "port": node_port(node), "_digest": "guest-" + IMAGE_VERSION,
            "setup": {"libvirtd": "running", "domains": [], "qemu_kvm_default": None}}


def prepare(node, kernel, initrd):
    sc = node_scenario(node)
    lab.prepare_node(node, sc)
    d = lab.node_dir(node)
    etc = os.path.join(d, "etc", "libvirt")
    port = NODES[node]["migration_port"]
    with open(os.path.join(etc, "qemu.conf"), "a") as handle:
        handle.write("# Two libvirtds in one netns: each its own migration ports.\n"
                     "migration_port_min = %d\nmigration_port_max = %d\n" % (port, port + 15))
    with open(os.path.join(etc, "libvirtd.conf"), "a") as handle:
        handle.write("\n# No SMBIOS here: each lab libvirtd needs its own host uuid to migrate.\n"
                     "host_uuid = \"%s\"\n" % NODES[node]["host_uuid"])
    gdir = os.path.join(d, "guest-domains")
    if os.path.exists(gdir):
        shutil.rmtree(gdir)
    os.makedirs(gdir)
    for dom in GUESTS:  # XML for every guest (a migration lands here); defined only on its home node
        with open(os.path.join(gdir, "%s.xml" % dom), "w") as handle:
            handle.write(guest_xml(dom, node, kernel, initrd))
    return sc


def launch(node):
    """Start the node: ip netns exec nagnet unshare ... guests.py _node-init NODE (its PID 1)."""
    d = lab.node_dir(node)
    logf = open(os.path.join(d, "init.log"), "w")
    argv = ["ip", "netns", "exec", NETNS, "unshare", "--mount", "--pid", "--fork", "--mount-proc", "--uts",
            "--propagation", "private", sys.executable, os.path.abspath(__file__), "_node-init", node]
    env = dict(os.environ, LAB_STATE_DIR=lab.STATE, LAB_BASE_PORT=str(lab.BASE_PORT), PYTHONUNBUFFERED="1")
    env.update({lab.TAG_LAB: lab.STATE, lab.TAG_NODE: node})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True, env=env, cwd="/")
    logf.close()
    child, deadline = None, time.time() + 10
    while time.time() < deadline and child is None:
        # ip netns exec execs unshare in place (same pid); its child is the node's PID 1
        kids = (lab.read("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) or "").split()
        if kids and lab.ns_of(kids[0]) != lab.ns_of("self"):
            child = int(kids[0])
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.02)
    if child is None:
        raise RuntimeError("%s: the node did not start (see %s)" % (node, os.path.join(d, "init.log")))
    rec = {"name": node, "port": node_port(node), "digest": "guest-" + IMAGE_VERSION, "pid1": child,
           "starttime": lab.starttime(child), "pidns": lab.ns_of(child), "unshare_pid": proc.pid,
           "unshare_starttime": lab.starttime(proc.pid), "started": time.time(), "guest_node": True}
    with open(os.path.join(d, "node.json"), "w") as handle:
        json.dump(rec, handle, indent=1)
    return proc


def node_init(node):
    """PID 1 of a guest node (as lab.node_init, plus the guest domains defined)."""
    sc = node_scenario(node)
    os.environ.update({lab.TAG_LAB: lab.STATE, lab.TAG_NODE: node, "LIBVIRT_DEFAULT_URI": lab.URI})
    assert os.getpid() == 1
    worker = os.fork()
    if worker == 0:
        try:
            lab.node_setup(node, sc)
            for dom, g in sorted(GUESTS.items()):
                if g["home"] == node:
                    lab.sh("virsh", "-q", "define", os.path.join(lab.node_dir(node), "guest-domains", dom + ".xml"))
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stdout.flush()
            os._exit(1)
        sys.stdout.flush()
        os._exit(0)
    while True:
        pid, status = os.wait()
        if pid == worker:
            break
    if os.waitstatus_to_exitcode(status) != 0:
        print("%s: set-up failed, node stops" % node, flush=True)
        sys.exit(1)
    print("%s: guest node ready, exec sshd on 127.0.0.1:%d in netns %s" % (node, sc["port"], NETNS), flush=True)
    lab.exec_sshd(node, sc)


def relay(port):
    """ProxyCommand inside the netns: stdin/stdout <-> 127.0.0.1:port."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(None)
    fds = [0, sock.fileno()]
    while True:
        ready, _, _ = select.select(fds, [], [])
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                sock.shutdown(socket.SHUT_WR)
                fds.remove(0)
            else:
                sock.sendall(data)
        if sock.fileno() in ready:
            data = sock.recv(65536)
            if not data:
                return 0
            os.write(1, data)


def ssh_argv(node):
    proxy = "ip netns exec %s %s %s _relay %d" % (NETNS, sys.executable, os.path.abspath(__file__), node_port(node))
    return lab.ssh_base(node_port(node))[:-1] + ["-o", "ProxyCommand=" + proxy, "root@127.0.0.1"]


def node_ok(node):
    pid, rec = lab.node_pid1(node)
    if not pid or lab.comm(pid) != "sshd" or (rec or {}).get("digest") != "guest-" + IMAGE_VERSION:
        return False
    return libvirtd_pid(node) is not None


def libvirtd_pid(node):
    pid, rec = lab.node_pid1(node)
    if not pid:
        return None
    for p in lab.procs_in_ns(rec["pidns"]):
        if lab.comm(p) == "libvirtd":
            return p
    return None


def uri(node):
    """A URI for the node's libvirtd from the host (its socket seen through /proc/<pid>/root)."""
    pid = libvirtd_pid(node)
    if pid is None:
        raise RuntimeError("%s: libvirtd is not running" % node)
    return "qemu:///system?socket=/proc/%d/root/run/libvirt/libvirt-sock" % pid


def virsh(node, *args, check=True, timeout=120):
    return run(["virsh", "-q", "-c", uri(node)] + list(args), check=check, timeout=timeout)


def write_access(nodes):
    """known_hosts lines and the `guests` inventory group (appended to what lab.py wrote)."""
    with open(lab.KNOWN_HOSTS, "a") as handle:
        for node in nodes:
            key = lab.read(os.path.join(lab.node_dir(node), "ssh_host_ed25519_key.pub")).split()
            handle.write("[127.0.0.1]:%d %s %s\n" % (node_port(node), key[0], key[1]))
    import yaml
    text = lab.read(lab.INVENTORY) or "# Generated by tests/lab/guests.py up (lab.py up was not run).\n"
    inv = yaml.safe_load(text) or {}
    inv.setdefault("all", {}).setdefault("children", {})
    header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
    hosts = {}
    for node in nodes:
        proxy = "ip netns exec %s %s %s _relay %d" % (NETNS, sys.executable, os.path.abspath(__file__),
                                                      node_port(node))
        hosts[node] = {
            "ansible_host": "127.0.0.1", "ansible_port": node_port(node), "ansible_user": "root",
            "ansible_ssh_private_key_file": lab.CLIENT_KEY,
            "ansible_ssh_common_args": ("-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
                                        "-o ConnectTimeout=10 -o ControlPath=/tmp/nodeaudit-guest-%s-%s "
                                        "-o ProxyCommand='%s'" % (lab.KNOWN_HOSTS,
                                                                  hashlib.sha256(lab.STATE.encode()).hexdigest()[:8],
                                                                  node, proxy)),
            "ansible_python_interpreter": sys.executable,
        }
    inv["all"]["children"]["guests"] = {"hosts": hosts, "vars": {
        "lab_guest_netns": NETNS,
        "audit_policy_overrides": {"ha_groups": [{"name": "keepalived-lb", "domains": ["keepalived-lb*"]}]}}}
    tmp = lab.INVENTORY + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(header)
        yaml.safe_dump(inv, handle, default_flow_style=False, sort_keys=False)
    os.replace(tmp, lab.INVENTORY)


def up():
    """Image, netns and both guest nodes (idempotent). Domains defined, not started."""
    t0 = time.time()
    kernel, initrd, info = ensure_image()
    lab.ensure_client_key()  # lab.py up made it already; `guests.py up` alone needs it too
    todo = [n for n in NODES if not node_ok(n)]
    if todo:
        for node in todo:
            lab.teardown_node(node, [])
    ensure_netns()
    procs = {}
    for node in todo:
        prepare(node, kernel, initrd)
        procs[node] = launch(node)
    write_access(list(NODES))  # known_hosts first: the readiness check below is an ssh
    deadline = time.time() + lab.UP_TIMEOUT
    for node in todo:
        while not (node_ok(node) and _ssh_ok(node)):
            if procs[node].poll() is not None or time.time() > deadline:
                tail = "".join((lab.read(os.path.join(lab.node_dir(node), "init.log")) or "").splitlines(True)[-15:])
                raise RuntimeError("%s: guest node not up:\n%s" % (node, tail))
            time.sleep(0.2)
    log("guest nodes up in %.1f s (image %s)" % (time.time() - t0, info["key"]))


def _ssh_ok(node):
    try:
        return subprocess.run(ssh_argv(node) + ["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def down():
    for node in NODES:
        lab.teardown_node(node, [])
    if netns_exists():
        # Leftovers of a lost .state: any process still in the netns.
        for pid in run(["ip", "netns", "pids", NETNS], check=False).stdout.split():
            lab.kill(int(pid))
        run(["ip", "netns", "del", NETNS], check=False)


# --------------------------------------------------------------------------- guests

def state_of(dom):
    """{node: state} for every node that knows `dom` (running, shut off, paused...)."""
    out = {}
    for node in NODES:
        if libvirtd_pid(node) is None:
            continue
        proc = virsh(node, "domstate", dom, check=False)
        if proc.returncode == 0:
            out[node] = proc.stdout.strip()
    return out


def where(dom):
    for node, state in state_of(dom).items():
        if state in ("running", "paused"):
            return node
    return None


def qemu_pid(dom):
    node = where(dom)
    if node is None:
        return None, None
    rec = lab.node_record(node)
    for p in lab.procs_in_ns(rec["pidns"]):
        if lab.comm(p).startswith("qemu-system"):
            cmd = (lab.read("/proc/%d/cmdline" % p) or "").split("\0")
            if "guest=%s,debug-threads=on" % dom in cmd or any(a.startswith("guest=%s," % dom) for a in cmd):
                return node, p
    return node, None


def console(dom):
    """Every console log line of `dom` (all nodes, by time of file), for evidence."""
    text = []
    for node in NODES:
        path = console_path(dom, node)
        if os.path.exists(path):
            text.append(lab.read(path) or "")
    return "".join(text)


def defined_on(dom):
    return sorted(state_of(dom))


def start(dom):
    """Start `dom` where it is defined (its home, or where a migration left it)."""
    if where(dom):
        return
    nodes = defined_on(dom)
    if not nodes:
        raise RuntimeError("%s is defined on no guest node" % dom)
    virsh(nodes[0], "start", dom)


def reset():
    """Both guests off and defined on their home node only (as after up), for the next scenario."""
    stop()
    for dom, g in GUESTS.items():
        for node in defined_on(dom):
            if node != g["home"]:
                virsh(node, "undefine", dom, check=False)
        if g["home"] not in defined_on(dom):
            virsh(g["home"], "define", os.path.join(lab.node_dir(g["home"]), "guest-domains", dom + ".xml"))


def console_marks():
    """Where each guest's console text ends now: wait_states looks only at what comes after."""
    return {dom: len(console(dom)) for dom in GUESTS}


def wait_states(timeout=90, marks=None):
    """Block until lb01 logs MASTER and lb02 BACKUP after their last start (after `marks`, if given)."""
    marks = marks or {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        c1 = console("keepalived-lb01")[marks.get("keepalived-lb01", 0):]
        c2 = console("keepalived-lb02")[marks.get("keepalived-lb02", 0):]
        s1 = c1.rsplit("lab-guest: keepalived-lb01 up", 1)[-1] if "lab-guest: keepalived-lb01 up" in c1 else ""
        s2 = c2.rsplit("lab-guest: keepalived-lb02 up", 1)[-1] if "lab-guest: keepalived-lb02 up" in c2 else ""
        if "Entering MASTER STATE" in s1 and "Entering BACKUP STATE" in s2:
            return time.time()
        time.sleep(0.25)
    raise RuntimeError("guests not MASTER/BACKUP after %d s; consoles:\n%s\n%s" % (
        timeout, console("keepalived-lb01")[-1500:], console("keepalived-lb02")[-1500:]))


def boot(timeout=120):
    t0 = time.time()
    marks = console_marks()  # a console keeps the earlier boots' lines (append): only new ones count
    for dom in GUESTS:
        start(dom)
    wait_states(timeout, marks)
    log("both guests up, lb01 MASTER, lb02 BACKUP, in %.1f s" % (time.time() - t0))


def stop():
    for dom in GUESTS:
        for node, state in state_of(dom).items():
            if state in ("running", "paused", "in shutdown"):
                virsh(node, "destroy", dom, check=False)


def starve(dom, seconds):
    node, pid = qemu_pid(dom)
    if pid is None:
        raise RuntimeError("%s is not running" % dom)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
    return node, pid


def migrate(dom, dest=None):
    """Live-migrate `dom` to `dest`'s libvirtd (default: the other node); (source, dest, old pid, new pid, s)."""
    src, old = qemu_pid(dom)
    if src is None:
        raise RuntimeError("%s is not running" % dom)
    dest = dest or [n for n in NODES if n != src][0]
    if src == dest:
        raise RuntimeError("%s already runs on %s" % (dom, dest))
    kernel, initrd, _ = ensure_image()
    xml = os.path.join(lab.node_dir(dest), "migrate-%s.xml" % dom)
    with open(xml, "w") as handle:
        handle.write(guest_xml(dom, dest, kernel, initrd))
    t0 = time.time()
    # --persistent --undefinesource: the domain then lives on the destination only, as after a
    # nova live migration (reset() puts it back home).
    run(["virsh", "-q", "-c", uri(src), "migrate", "--live", "--persistent", "--undefinesource",
         "--xml", xml, "--persistent-xml", xml, dom, uri(dest),
         "--migrateuri", "tcp://127.0.0.1:%d" % NODES[dest]["migration_port"]], timeout=120)
    took = time.time() - t0
    _, new = qemu_pid(dom)
    return src, dest, old, new, took


# --------------------------------------------------------------------------- measuring the VIP

def _capture_in_netns(seconds, out_path):
    """Inside the netns: capture VRRP on the bridge for `seconds`, write the adverts and timeline as JSON."""
    sys.path.insert(0, os.path.join(lab.REPO, "module_utils"))
    from nodeaudit.combiners import adverts
    from nodeaudit.parsers import vrrp
    from nodeaudit.sources import capture
    ads = []

    def on_frame(_, t, outgoing, data):
        try:
            f = vrrp.parse_frame(data)
        except vrrp.VRRPError:
            return
        if f.get("vrrp") and f["vrrp"]["vrid"] == VRID:
            ads.append({"t": t, "src": f["src"], "priority": f["vrrp"]["priority"],
                        "advert_int_s": f["vrrp"]["advert_int_s"]})
    stop_file = out_path + ".stop"
    cap = capture.capture([BRIDGE], seconds, capture.bpf_program("vrrp"), on_frame,
                          should_stop=lambda: os.path.exists(stop_file))
    tl = adverts.master_timeline(ads, start=cap["started"], end=cap["ended"])
    with open(out_path, "w") as handle:
        json.dump({"capture": cap, "adverts": ads, "timeline": tl}, handle)


class BridgeCapture(object):
    """The VIP's owner over time, seen on the guests' bridge (every advert of the instance), in the background."""

    def __init__(self, seconds):
        self.seconds = seconds
        fd, self.path = tempfile.mkstemp(prefix="guest-capture-", suffix=".json")
        os.close(fd)
        self.proc = subprocess.Popen(["ip", "netns", "exec", NETNS, sys.executable, os.path.abspath(__file__),
                                      "_capture", str(seconds), self.path])
        time.sleep(0.5)  # the socket is open well within this

    def result(self, stop=False):
        if stop:
            open(self.path + ".stop", "w").close()
        self.proc.wait(timeout=self.seconds + 60)
        if os.path.exists(self.path + ".stop"):
            os.unlink(self.path + ".stop")
        with open(self.path) as handle:
            data = json.load(handle)
        os.unlink(self.path)
        return data


def consoles_since(dom, marker_time):
    """Console lines of `dom` logged at or after `marker_time` (keepalived prefixes lines with the date)."""
    out = []
    for line in console(dom).splitlines():
        m = re.match(r"(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}): (.*)", line)
        if not m:
            continue
        try:
            t = calendar.timegm(time.strptime(m.group(1), "%a %b %d %H:%M:%S %Y"))  # guest clock: UTC
        except ValueError:
            continue
        if t >= int(marker_time):
            out.append(line)
    return out


# --------------------------------------------------------------------------- main

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_node-init"]:
        return node_init(argv[1])
    if argv[:1] == ["_relay"]:
        return relay(int(argv[1]))
    if argv[:1] == ["_capture"]:
        return _capture_in_netns(float(argv[1]), argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("up", "down", "boot", "stop", "reset", "status"):
        sub.add_parser(name)
    p = sub.add_parser("starve")
    p.add_argument("dom")
    p.add_argument("seconds", type=float)
    p = sub.add_parser("migrate")
    p.add_argument("dom")
    p.add_argument("node", choices=sorted(NODES), nargs="?")
    p = sub.add_parser("where")
    p.add_argument("dom")
    args = parser.parse_args(argv)
    if args.cmd == "up":
        with lab.lab_lock():
            up()
    elif args.cmd == "down":
        with lab.lab_lock():
            down()
    elif args.cmd == "boot":
        boot()
    elif args.cmd == "stop":
        stop()
    elif args.cmd == "starve":
        print(json.dumps(starve(args.dom, args.seconds)))
    elif args.cmd == "reset":
        reset()
    elif args.cmd == "migrate":
        src, dest, old, new, took = migrate(args.dom, args.node)
        print(json.dumps({"domain": args.dom, "from": src, "to": dest, "old_pid": old, "new_pid": new,
                          "seconds": round(took, 3)}))
    elif args.cmd == "where":
        print(where(args.dom) or "")
    elif args.cmd == "status":
        for node in NODES:
            print("%-8s %s" % (node, "up" if node_ok(node) else "down"))
        for dom in GUESTS:
            print("%-16s %s" % (dom, json.dumps(state_of(dom))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
