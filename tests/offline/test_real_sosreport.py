"""A real sosreport of this machine (Debian's sos), audited (issue 13.3).

`sos report` runs the process, kernel, libvirt, virsh and systemd plugins while a
stand-in qemu runs (argv with a space inside one argument, /dev/net/tun held
open); the .tar.xz it writes must pass the safe extraction as it is, be
recognised as a sosreport, and give what the live node gives: the host name,
the kernel's module support and device, the stand-in's argv from ps (the
space flagged) and its tun fd from lsof. Skipped without sos or root.
"""
import glob
import os
import shutil
import socket
import subprocess
import sys

import pytest

from nodeaudit.evaluate import evaluate
from nodeaudit.policy import DEFAULT_POLICY, validate
from nodeaudit.sources import archive, offline
from nodeaudit.sources.collect import collect

pytestmark = [pytest.mark.slow]

SOS = shutil.which("sos")


@pytest.fixture(scope="module")
def real_sosreport(tmp_path_factory):
    if not SOS or os.geteuid() != 0:
        pytest.skip("needs Debian's sosreport (apt-packages.txt) and root")
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")
    work = tmp_path_factory.mktemp("sos")
    (work / "fakeqemu.py").write_text("import time\nf = open('/dev/net/tun', 'rb', buffering=0)\n"
                                      "print(f.fileno(), flush=True)\ntime.sleep(120)\n")
    argv = [sys.executable, "-m", "fakeqemu", "-name", "guest=stand in", "-uuid",
            "6a1b7c2e-0000-4000-8000-0000000000aa", "-netdev", "tap,fd=30,id=hostnet0,vhost=on,vhostfd=31",
            "-device", "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:aa:00:01", "-msg", "timestamp=on"]
    # The stand-in's comm is python, its argv[0] the interpreter: the sos adapter looks for qemu by argv[0],
    # so run it through a symlink named like qemu.
    qemu = work / "qemu-system-x86_64"
    os.symlink(sys.executable, str(qemu))
    argv[0] = str(qemu)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, universal_newlines=True, cwd=str(work),
                            env=dict(os.environ, PYTHONPATH=str(work)))
    try:
        fd = int(proc.stdout.readline())
        out = work / "out"
        out.mkdir()
        run = subprocess.run([SOS, "report", "--batch", "--quiet", "-o", "process,kernel,libvirt,virsh,systemd",
                              "--tmp-dir", str(out)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
        tarballs = glob.glob(str(out / "sosreport-*.tar.xz"))
        assert run.returncode == 0 and tarballs, run.stdout[-2000:]
        return {"path": tarballs[0], "pid": proc.pid, "fd": fd, "argv": argv}
    finally:
        proc.kill()
        proc.wait()


def test_the_real_archive_passes_the_safe_extraction(real_sosreport, tmp_path):
    info = archive.extract(real_sosreport["path"], str(tmp_path))
    assert info["top"].startswith("sosreport-") and info["extracted"] > 10
    assert archive.looks_like_sosreport(str(tmp_path / info["top"]))


def test_the_real_sosreport_audits_like_the_live_node(real_sosreport):
    facts = offline.collect_offline(real_sosreport["path"])
    result = evaluate(facts, validate(DEFAULT_POLICY))
    live = collect(root="/", use_libvirt=False)
    assert result["host"] == socket.gethostname()
    assert result["sources"]["domains"] == "sosreport" and result["sources"]["sos_version"]
    assert facts["kernel"]["release"] == live["kernel"]["release"]
    assert (facts["kernel"]["proc_modules"]["status"] == "ok") == (live["kernel"]["proc_modules"]["status"] == "ok")
    if not live["kernel"]["dev"]["present"] and live["kernel"]["proc_modules"]["status"] != "ok":
        # This machine: no loadable modules, no vhost-net; the sosreport must say so too, not "unknown".
        assert [c["state"] for c in result["checks"] if c["id"] == "kernel.vhost_net"] == ["fail"]


def test_the_stand_in_qemu_is_read_from_ps_and_lsof(real_sosreport):
    facts = offline.collect_offline(real_sosreport["path"])
    procs = dict((p["pid"], p) for p in facts["orphan_qemu"])
    proc = procs[real_sosreport["pid"]]
    assert proc["argv_kind"] == "ps" and proc["argv"] == " ".join(real_sosreport["argv"]).split(" ")
    name_value = proc["argv"].index("guest=stand")
    assert name_value in proc["argv_ambiguous"] and name_value + 1 in proc["argv_ambiguous"]
    assert real_sosreport["fd"] in proc["tun_fds"] and proc["vhost_fds"] == []
    result = evaluate(facts, validate(DEFAULT_POLICY))
    dom = [d for d in result["domains"] if "qemu pid %d" % real_sosreport["pid"] in d["name"]][0]
    nic = dom["nics"][0]
    # vhost=on but fd 31 is not /dev/vhost-net in lsof, and no XML confirms the NIC: never pass.
    assert nic["state"] == "unknown" and nic["evidence_from"]["argv"] == "ps"
