"""Promise: right with many fds and odd names (issue 14, point 3).

All of a qemu's fds are considered (numeric order, no silent cut; a cap says
what it skipped and the verdict is unknown when the cut could matter); digits
mean ASCII digits everywhere; a name or path from the node that is not UTF-8,
or holds control characters, never makes the node ERR and reaches no output raw.
"""
import json
import os

import pytest

from robust_tools import MAC_A, PID_A, assert_rest_audited, checks_of, domains_of, snapgen
from nodeaudit.sources import collect as collect_mod

VHOST_NO_FD = "tap,fd=30,id=hostnet0,vhost=on"       # QEMU opened /dev/vhost-net itself: no vhostfd= in argv


def _argv_without_vhostfd(n, name="vm-a"):
    argv = n.argv(name)
    out = []
    for arg in argv:
        if arg.startswith("{") and '"type":"tap"' in arg and '"id":"hostnet0"' in arg:
            arg = json.dumps({"type": "tap", "fd": "30", "id": "hostnet0", "vhost": True}, separators=(",", ":"))
        out.append(arg)
    return out


def _many_fds(n, pid, count, vhost_fd):
    base = n.path("/proc/%d/fd" % pid)
    for name in os.listdir(base):
        os.unlink(os.path.join(base, name))
    for fd in range(count):
        os.symlink("/dev/vhost-net" if fd == vhost_fd else "/dev/null", os.path.join(base, str(fd)))


# ---------------------------------------------------------------- many fds

def test_vhost_fd_that_sorts_after_4096_as_a_string_is_found(node):
    """Finding: more than 4,096 fds, names sorted as strings, cut at 4,096: fd 9 ("9" sorts last) was never
    read, a false FAIL with needs_restart."""
    n = node()
    n.write_argv(PID_A, _argv_without_vhostfd(n))
    _many_fds(n, PID_A, 5000, vhost_fd=9)
    result = n.audit()
    vm = domains_of(result)["vm-a"]
    assert vm["verdict"] == "pass", vm
    assert vm["needs_restart"] is False
    assert_rest_audited(result, ())


def test_fd_cap_that_could_hide_the_vhost_fd_makes_the_verdict_unknown(node, monkeypatch):
    n = node()
    n.write_argv(PID_A, _argv_without_vhostfd(n))
    _many_fds(n, PID_A, 3000, vhost_fd=2500)
    monkeypatch.setattr(collect_mod, "MAX_FDS", 1000)
    result = n.audit()
    vm = domains_of(result)["vm-a"]
    assert vm["verdict"] == "unknown", vm
    assert vm["needs_restart"] is False
    nic = [x for x in vm["nics"] if x["mac"] == MAC_A][0]
    assert nic["vhost"] is None
    assert "1000" in nic["reason"] and "2000" in nic["reason"]        # what was read, what was skipped
    assert checks_of(result)["domains.vhost"]["state"] == "unknown"


def test_fd_cap_does_not_matter_when_the_argv_names_the_vhost_fds(node, monkeypatch):
    """vhostfd=N in the argv: fd N is read whatever the cap, so the cut cannot change the verdict."""
    n = node()
    monkeypatch.setattr(collect_mod, "MAX_FDS", 1)
    result = n.audit()
    assert domains_of(result)["vm-a"]["verdict"] == "pass"
    assert domains_of(result)["vm-b"]["verdict"] == "pass"


def test_fds_are_read_in_numeric_order(node):
    n = node()
    _many_fds(n, PID_A, 12, vhost_fd=10)
    facts = n.facts()
    proc = [d for d in facts["domains"] if d["name"] == "vm-a"][0]["process"]
    assert proc["vhost_fds"] == [10] and proc["fds"] == 12


# ------------------------------------------------------------ ASCII digits

def test_unicode_digit_pid_directory_is_not_a_process(node):
    """Finding: /proc/¹ passed isdigit() and int() crashed the node's audit."""
    n = node()
    n.write("/proc/\u00b9/comm", "qemu-system-x86\n")
    n.write("/proc/\u00b9/cmdline", b"/usr/bin/qemu-system-x86_64\0")
    n.write("/proc/\u0663\u0664/comm", "qemu-system-x86\n")          # Arabic-Indic digits
    result = n.audit()
    assert_rest_audited(result, ())


def test_unicode_digit_fd_name_is_skipped(node):
    n = node()
    os.symlink("/dev/vhost-net", n.path("/proc/%d/fd/\u00b2" % PID_A))
    result = n.audit()
    assert_rest_audited(result, ())


def test_unicode_digit_vhostfd_in_the_argv_is_unknown_not_a_crash(node):
    n = node()
    argv = [a.replace('"vhostfd":"', '"vhostfd":"\u00b2') if '"id":"hostnet0"' in a else a for a in n.argv("vm-a")]
    assert argv != n.argv("vm-a")
    n.write_argv(PID_A, argv)
    result = n.audit()
    vm = domains_of(result)["vm-a"]
    assert vm["verdict"] in ("unknown", "fail")
    assert vm["verdict"] != "pass"
    assert domains_of(result)["vm-b"]["verdict"] == "pass"


def test_huge_number_in_proc_modules_is_a_bad_line_not_a_crash(node):
    """Finding: a 4,300-digit size in /proc/modules crashed the audit (int() refuses > 4,300 digits)."""
    n = node()
    modules = snapgen.MODULES_VHOST.replace("bridge 176128", "bridge " + "9" * 4400)
    n.write("/proc/modules", modules)
    result = n.audit()
    assert_rest_audited(result, ())


def test_huge_number_in_the_vhost_net_line_is_never_a_pass(node):
    n = node()
    n.write("/proc/modules", snapgen.MODULES_VHOST.replace("vhost_net 32768 2", "vhost_net 32768 " + "7" * 5000))
    n.remove("/sys/module/vhost_net")
    result = n.audit()
    assert checks_of(result)["kernel.vhost_net"]["state"] != "pass"
    assert_rest_audited(result, ("kernel.vhost_net", "kernel.vhost_net_boot"))


# --------------------------------------------------------------- odd names

BAD = b"\xff\xfe-bad"


def test_non_utf8_modprobe_d_file_name_does_not_err_the_node(node, run_module):
    """Finding: a non-UTF-8 file name in modprobe.d made the whole node ERR."""
    n = node()
    os.makedirs(n.path("/etc/modprobe.d"), exist_ok=True)
    with open(os.path.join(os.fsencode(n.path("/etc/modprobe.d")), BAD + b".conf"), "w") as handle:
        handle.write("blacklist vhost_net\n")
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0, out
    raw.encode("utf-8")
    assert out["audit"]["kernel"]["blacklisted"] is True           # the file was read and judged
    assert out["audit"]["kernel"]["modprobe_files"] == ["/etc/modprobe.d/\\xff\\xfe-bad.conf"]   # said, escaped
    assert_rest_audited(out["audit"], ("kernel.vhost_net", "kernel.vhost_net_boot"))


def test_non_utf8_status_file_name_does_not_err_the_node(node, run_module):
    n = node()
    status = n.path("/run/libvirt/qemu")
    with open(os.path.join(os.fsencode(status), BAD + b".xml"), "w") as handle:
        handle.write("not xml at all")
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0, out
    doms = domains_of(out["audit"])
    assert doms["vm-a"]["verdict"] == "pass" and doms["vm-b"]["verdict"] == "pass"
    assert any("\\xff\\xfe-bad" in name for name in doms)
    assert "\udcff" not in raw


def test_control_characters_in_names_reach_no_output_raw(node, run_module):
    """A domain named with ESC/BEL/newlines (from its status file and XML): escaped in what the module returns."""
    n = node()
    evil = "vm-\x1b[2J\x07evil\nforged | PASS"
    dom = snapgen._dom(evil, 7, 1107, [snapgen._nic("52:54:00:00:07:01", vhost=True)])
    n.write("/run/libvirt/qemu/%s.xml" % evil, snapgen.domain_xml(dom, status=True).replace(
        "<name>%s</name>" % evil, "<name>%s</name>" % evil.replace("\x1b", "&#x1b;").replace("\x07", "")))
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0
    body = json.loads(raw)
    blob = json.dumps(body, ensure_ascii=False)
    assert "\x1b" not in blob and "\x07" not in blob and "evil\nforged" not in blob


@pytest.mark.parametrize("where", ["/etc/modules-load.d", "/proc/%d/task" % PID_A])
def test_non_utf8_names_elsewhere(node, run_module, where):
    n = node()
    base = os.fsencode(n.path(where))
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, BAD + b".conf"), "w") as handle:
        handle.write("vhost_net\n")
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0, out
    assert_rest_audited(out["audit"], ())
