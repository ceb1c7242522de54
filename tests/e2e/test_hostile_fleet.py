"""Issue 14, "Done when": a snapshot inventory holding one of each hostile node finishes within the audit
timeout with every other host audited, no secret in any output at -vvv (the canary), and the report set whole.

One playbook run (ansible-playbook audit.yml -vvv) over: a healthy node; a FIFO at a QEMU log path; a
symlink maze as the defaults file; a 4 MiB cmdline of -netdev options; 5,000 fds with the vhost fd sorting
last as a string; Unicode digits (/proc/¹, fd/², vhostfd=²) and a 4,400-digit /proc/modules size;
non-UTF-8 file names; a device node; secrets in every shape issue 14 found leaking, and ESC/newlines in a
domain name; a snapshot root that is a symlink to /; and a node whose module hangs (its interpreter sleeps
when it runs compute_audit), which the async timeout stops and the report names.
"""
import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _p in (os.path.join(REPO, "tests", "robustness"), os.path.join(REPO, "module_utils")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import robust_tools as rt  # noqa: E402
from robust_tools import PID_A, PID_B, snapgen  # noqa: E402
from nodeaudit.controller.report_files import check_set  # noqa: E402

pytestmark = [pytest.mark.e2e]

CANARIES = ["CANARYARGV%02d" % i for i in range(6)] + ["CANARYLOG%02d" % i for i in range(10)]
LOG_SHAPES = [
    "-netdev tap,id=hostnet0,vhost=on,password={s}: vhost-net requested but could not be initialized",
    "qemu: -drive file=rbd:vms/disk:id=nova:key={s}:auth_supported=cephx: falling back on userspace virtio",
    'qemu: -blockdev {{"driver":"rbd","password":"{s}"}}: unable to start vhost net',
    "qemu: -blockdev driver=luks,file.key={s}: falling back on userspace virtio",
    "qemu: -drive x-password={s},if=none: falling back on userspace virtio",
    '{{"type":"tap","auth":{{"token":["a","{s}"]}}}} falling back on userspace virtio',
    "fetch https://user:{s}@10.0.0.1/disk failed: falling back on userspace virtio",
    "iscsi://user%{s}@10.0.0.1/iqn.2026-01.x:t/1: falling back on userspace virtio",
    "LIBVIRT_AUTH_PASSWORD={s} falling back on userspace virtio",
    '-object {{"qom-type":"secret","id":"s2","data":"{s}',
]
START = ("2026-11-20 10:00:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0, "
         "kernel: 5.4.0-97-generic, hostname: h\n")
HANG = """#!/bin/sh
# A hung node: the compute_audit module never returns (everything else runs normally).
# Its pid goes to HUNG_PIDS so the test can end it: nothing on the controller side kills a process
# that hangs before the module runs (the task's timeout only stops waiting for it).
case "$1" in *AnsiballZ_compute_audit.py) echo $$ >> "$(dirname "$0")/hung.pids"; exec sleep 3600;; esac
exec %s "$@"
""" % sys.executable


def _node(base, name, **changes):
    spec = dict(rt.BASE)
    spec.update(changes)
    spec["hostname"] = name
    return rt.Node(os.path.join(base, name), spec)


def build_fleet(base):
    hosts = {}
    # healthy
    hosts["healthy"] = _node(base, "healthy").root
    # FIFO at a QEMU log path
    n = _node(base, "fifo-log")
    os.makedirs(n.path("/var/log/libvirt/qemu"), exist_ok=True)
    os.mkfifo(n.path("/var/log/libvirt/qemu/vm-a.log"))
    hosts["fifo-log"] = n.root
    # a symlink maze as the defaults file (200 deep, 41 hops: refused after bounded work)
    n = _node(base, "maze")
    rel = "/".join(["d"] * 200)
    os.makedirs(n.path("/maze/" + rel))
    for k in range(41):
        os.symlink("/maze/%s/l%d" % (rel, k + 1), n.path("/maze/%s/l%d" % (rel, k)))
    n.remove(rt.QEMU_DEFAULT)
    os.symlink("/maze/%s/l0" % rel, n.path(rt.QEMU_DEFAULT))
    hosts["maze"] = n.root
    # a 4 MiB cmdline of -netdev options
    n = _node(base, "big-cmdline")
    flood, size = [], 0
    while size < 4 * 1024 * 1024 - 4096:
        flood += ["-netdev", "tap,id=h%d,fd=3" % len(flood)]
        size += len(flood[-1]) + 9
    n.write_argv(PID_A, n.argv("vm-a") + flood)
    hosts["big-cmdline"] = n.root
    # 5,000 fds, the vhost fd (9) sorts after the first 4,096 names as strings; no vhostfd= in the argv
    n = _node(base, "many-fds")
    argv = [json.dumps({"type": "tap", "fd": "30", "id": "hostnet0", "vhost": True}, separators=(",", ":"))
            if a.startswith("{") and '"id":"hostnet0"' in a and '"type":"tap"' in a else a for a in n.argv("vm-a")]
    n.write_argv(PID_A, argv)
    fd_dir = n.path("/proc/%d/fd" % PID_A)
    for name in os.listdir(fd_dir):
        os.unlink(os.path.join(fd_dir, name))
    for fd in range(5000):
        os.symlink("/dev/vhost-net" if fd == 9 else "/dev/null", os.path.join(fd_dir, str(fd)))
    hosts["many-fds"] = n.root
    # Unicode digits and a huge number
    n = _node(base, "digits")
    n.write("/proc/\u00b9/comm", "qemu-system-x86\n")
    os.symlink("/dev/vhost-net", n.path("/proc/%d/fd/\u00b2" % PID_A))
    n.write_argv(PID_B, [a.replace("vhostfd=", "vhostfd=\u00b2") for a in n.argv("vm-b")])
    n.write("/proc/modules", snapgen.MODULES_VHOST.replace("bridge 176128", "bridge " + "9" * 4400))
    hosts["digits"] = n.root
    # non-UTF-8 file names
    n = _node(base, "non-utf8")
    os.makedirs(n.path("/etc/modprobe.d"), exist_ok=True)
    with open(os.path.join(os.fsencode(n.path("/etc/modprobe.d")), b"\xff\xfe.conf"), "w") as handle:
        handle.write("options vhost_net experimental_zcopytx=0\n")
    with open(os.path.join(os.fsencode(n.path("/run/libvirt/qemu")), b"\xff.xml"), "w") as handle:
        handle.write("<domain")
    hosts["non-utf8"] = n.root
    # a device node where a file is read
    if os.geteuid() == 0:
        n = _node(base, "device-node")
        n.remove("/etc/modules")
        os.mknod(n.path("/etc/modules"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        hosts["device-node"] = n.root
    # secrets in every shape found leaking, and ESC / newlines in a domain name
    lines = [shape.format(s=secret) for shape, secret in zip(LOG_SHAPES, CANARIES[6:])]
    log = START + "LC_ALL=C \\\n/usr/bin/qemu-system-x86_64 \\\n-name guest=vm-a \\\n-S\n" + "\n".join(lines) + "\n"
    dom = snapgen._dom("vm-a", 1, PID_A, [snapgen._nic(rt.MAC_A, vhost=True)], log=log)
    n = _node(base, "secrets", domains=[dom, rt.BASE["domains"][1]])
    n.write_argv(PID_A, n.argv("vm-a") + [
        "-netdev", "tap,id=hostnet9,file.key=%s,x-password=%s" % (CANARIES[0], CANARIES[1]),
        "-netdev", '{"type":"tap","id":"hostnet8","auth":{"token":["%s"]}' % CANARIES[2],
        "-netdev", "tap,id=hostnet7,script=https://u:%s@h/x" % CANARIES[3],
        "-drive", "file=rbd:vms/d:id=nova:key=%s" % CANARIES[4],
        "-netdev", '{"type":"tap","id":"hostnet6","password":"%s"' % CANARIES[5]])
    evil = "vm-\x1b[2Jevil"
    bad = snapgen._dom(evil, 9, 1109, [snapgen._nic("52:54:00:00:09:01", vhost=True)])
    n.write("/run/libvirt/qemu/%s.xml" % evil, snapgen.domain_xml(bad, status=True).replace(
        "<name>%s</name>" % evil, "<name>vm-&#x1b;[2Jevil\nforged | PASS</name>").replace("\x1b", ""))
    hosts["secrets"] = n.root
    # a snapshot root that is a symlink to /
    os.symlink("/", os.path.join(base, "root-is-slash"))
    hosts["root-is-slash"] = os.path.join(base, "root-is-slash")
    return hosts


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("hostile"))
    hosts = build_fleet(base)
    hang = os.path.join(base, "hung-python")
    with open(hang, "w") as handle:
        handle.write(HANG)
    os.chmod(hang, 0o755)
    inventory = {"all": {"children": {"compute": {"hosts": {}}}}}
    for name, root in sorted(hosts.items()):
        inventory["all"]["children"]["compute"]["hosts"][name] = {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "audit_root": root, "audit_use_libvirt": False}
    inventory["all"]["children"]["compute"]["hosts"]["hung"] = {
        "ansible_connection": "local", "ansible_python_interpreter": hang, "audit_root": hosts["healthy"],
        "audit_use_libvirt": False, "audit_timeout": 15}
    inv = os.path.join(base, "inventory.yml")
    with open(inv, "w") as handle:
        yaml.safe_dump(inventory, handle)
    out = os.path.join(base, "reports")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml", "-vvv", "-i", inv,
           "-e", "audit_report_dir=%s" % out]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    yield proc, out, hosts
    # The hung node's process outlives the run (its task timed out; nothing kills it): end it here.
    try:
        with open(os.path.join(base, "hung.pids")) as handle:
            for pid in handle.read().split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
    except OSError:
        pass
    import shutil
    shutil.rmtree(base, ignore_errors=True)


def test_the_hostile_fleet_finishes_and_every_other_host_is_audited(hostile_run):
    proc, out, hosts = hostile_run
    text = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 2, text[-4000:]                 # drift, not a crash
    doc = json.load(open(os.path.join(out, "audit.json")))
    assert sorted(doc["hosts"]) == sorted(list(hosts) + ["hung"])
    h = doc["hosts"]
    assert h["healthy"]["state"] == "pass"
    for name in hosts:
        if name in ("root-is-slash",):
            continue
        assert h[name]["checks"], name                         # audited: every check has a state
        assert h[name]["state"] in ("pass", "warn", "unknown", "error", "fail"), name
    assert h["root-is-slash"]["state"] == "error" and "resolves to /" in h["root-is-slash"]["reason"]
    assert h["hung"]["state"] == "error"
    assert "did not finish within audit_timeout=15s" in h["hung"]["reason"]
    states = dict((c["id"], c["state"]) for c in h["many-fds"]["checks"])
    assert states["domains.vhost"] == "pass"                   # fd 9 found among 5,000
    assert dict((c["id"], c["state"]) for c in h["big-cmdline"]["checks"])["domains.vhost"] == "unknown"
    assert os.path.getsize(os.path.join(out, "audit.json")) < 8 * 1024 * 1024


def test_no_secret_in_any_output_at_vvv(hostile_run):
    proc, out, _hosts = hostile_run
    blobs = {"stdout -vvv": proc.stdout}
    for name in os.listdir(out):
        blobs[name] = open(os.path.join(out, name), "rb").read()
    for where, blob in blobs.items():
        for canary in CANARIES:
            assert canary.encode() not in blob, (where, canary)
    assert b"<redacted>" in blobs["audit.json"]
    for where, blob in blobs.items():
        assert b"\x1b" not in blob, where                         # no raw ESC anywhere


def test_the_report_set_is_whole(hostile_run):
    _proc, out, _hosts = hostile_run
    assert check_set(out) is None
    assert sorted(n for n in os.listdir(out) if n.startswith(".")) == []
