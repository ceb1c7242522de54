"""sosreport parsers (parsers/sos_ps.py, sos_lsof.py, sos_kernel.py): literal samples, ugly ones,
and differential tests against the real programs: procps `ps` in every option form sos used, real
`lsof` with sos's options, and sos's own _mangle_command (Debian's sosreport package).
"""
import doctest
import os
import shutil
import subprocess
import sys

import pytest

from nodeaudit.errors import ParseError
from nodeaudit.parsers import sos_kernel, sos_lsof, sos_ps


@pytest.mark.parametrize("mod", [sos_ps, sos_lsof, sos_kernel])
def test_doctests(mod):
    failures, tests = doctest.testmod(mod)
    assert tests > 0 and failures == 0


AUXWWWM = """USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
libvirt+ 1791722  2.5  3.6 3423732 600704 ?      -    16:18   0:02 /usr/bin/qemu-system-x86_64 -name guest=i-1 -netdev tap,fd=35,id=hostnet0,vhost=on,vhostfd=36
libvirt+       -  1.4    -      -     - -        Sl   16:18   0:01 -
libvirt+       -  0.0    -      -     - -        Sl   16:18   0:00 -
root        4242  0.0  0.0      0     0 ?        S    16:18   0:00 [vhost-1791722]
"""


def test_auxwwwm_thread_rows_and_kernel_threads():
    r = sos_ps.parse_ps(AUXWWWM, "ps_auxwwwm")
    assert r["form"] == "aux" and r["header"] and r["threads"] == {1791722: 2}
    assert [p["pid"] for p in r["processes"]] == [1791722, 4242]
    assert r["processes"][1]["kernel_thread"] == "vhost-1791722"
    assert r["processes"][0]["command"].endswith("vhostfd=36")


def test_headerless_tail_of_a_cut_output_takes_the_form_from_the_file_name():
    tail = "\n".join(AUXWWWM.splitlines()[1:])
    r = sos_ps.parse_ps(tail, "ps_auxwwwm")
    assert not r["header"] and r["processes"][0]["pid"] == 1791722
    elfl = ("4 S   107 1791722   1  1791722  2  5  80   0 - 855933 -      16:18 ?        00:00:02 "
            "/usr/bin/qemu-system-x86_64 -name guest=i-1\n"
            "1 S   107 1791722   1  1791730  0  5  80   0 - 855933 -      16:18 ?        00:00:00 "
            "/usr/bin/qemu-system-x86_64 -name guest=i-1\n")
    r = sos_ps.parse_ps(elfl, "ps_-elfL")
    assert [p["pid"] for p in r["processes"]] == [1791722] and r["threads"] == {1791722: 1}


def test_forest_art_is_stripped_and_garbage_is_reported():
    text = ("USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\n"
            "root 10 0.0 0.0 1 1 ? Ss 10:00 0:00 /usr/sbin/libvirtd\n"
            "root 11 0.0 0.0 1 1 ? Sl 10:00 0:00  \\_ /usr/bin/qemu-system-x86_64 -name guest=x\n"
            " -name instance-000000dd -S ... -netdev tap,fd=25\n"
            "half a line\n")
    r = sos_ps.parse_ps(text, "ps_auxfwww")
    assert r["processes"][1]["command"] == "/usr/bin/qemu-system-x86_64 -name guest=x"
    assert len(r["bad_lines"]) == 2


def test_the_elided_trusty_line_of_the_corpus_is_no_argv(corpus):
    r = sos_ps.parse_ps(corpus("nodes/ps_aux.qemu-elided.trusty.blog.txt"))
    argvs = [sos_ps.split_command(p["command"])["argv"] for p in r["processes"]]
    assert argvs == [["/usr/bin/qemu-system-x86_64"]] and r["bad_lines"]


def test_insights_qemu_kvm_line(corpus):
    r = sos_ps.parse_ps(corpus("nodes/ps_auxww.qemu-kvm-no-netdev.insights-core.txt"), "ps_auxww")
    split = sos_ps.split_command(r["processes"][0]["command"])
    assert sos_ps.is_qemu_command(split["argv"]) and "-netdev" not in split["argv"]


def test_split_command_ambiguity():
    s = sos_ps.split_command("qemu -name guest=a b -enable-kvm -netdev tap,id=n0,vhost=on -device virtio-net-pci,"
                             "netdev=n0")
    assert s["ambiguous"] == [2, 3, 8]      # guest=a + "b", and the last word
    assert s["argv"][6] == "tap,id=n0,vhost=on" and 6 not in s["ambiguous"]
    assert sos_ps.split_command("qemu -netdev tap,id=n0 vhost=on")["ambiguous"] == [2, 3]
    assert sos_ps.split_command("qemu -netdev tap,")["ambiguous"] == [2]
    assert sos_ps.split_command("")["argv"] == []
    with pytest.raises(ParseError):
        sos_ps.split_command(None)
    with pytest.raises(ParseError):
        sos_ps.parse_ps(42)


LSOF = """COMMAND       PID     TID TASKCMD          USER   FD      TYPE             DEVICE  SIZE/OFF       NODE NAME
lsof: WARNING: can't stat() fuse.gvfsd-fuse file system /run/user/1000/gvfs
qemu-syst    2948                              0   30u      CHR             10,200       0t0        145 /dev/net/tun
qemu-syst    2948    2960 CPU 0/KVM            0   30u      CHR             10,200       0t0        145 /dev/net/tun
qemu-syst    2948                              0   31u      CHR             10,238       0t0        147 /dev/vhost-net
qemu-syst    2948                              0   32u      REG               0,15         0      12345 /tmp/fake /dev/vhost-net
qemu-syst    3001                              0   40u      CHR             10,238       0t0        147 /dev/vhost-net
"""


def test_lsof_fds_threads_warnings_and_a_cut_last_process():
    r = sos_lsof.parse_lsof(LSOF)
    p = r["pids"][2948]
    assert p["vhost_fds"] == [31] and p["tun_fds"] == [30] and p["complete"]
    assert r["pids"][3001]["vhost_fds"] == [40] and not r["pids"][3001]["complete"]
    assert len(r["bad_lines"]) == 1
    with pytest.raises(ParseError):
        sos_lsof.parse_lsof(None)


def test_modinfo_and_misc_and_uname():
    m = sos_kernel.parse_modinfo("modinfo: ERROR: Module nope not found.\nfilename: (builtin)\nname: vhost_net\n"
                                 "filename: /lib/modules/6.1/kernel/drivers/net/tap.ko.xz\nalias: char-major\n")
    assert m["vhost_net"]["builtin"] is True and m["tap"]["builtin"] is False
    assert sos_kernel.parse_proc_misc("garbage\n238 vhost-net\n") == {"vhost-net": 238}
    assert sos_kernel.parse_uname("not linux") is None


# ------------------------------------------------------------------ differential: the real programs

SOS_INIT = "/usr/lib/python3/dist-packages/sos/report/plugins/__init__.py"


@pytest.mark.skipif(not os.path.exists(SOS_INIT), reason="Debian's sosreport package is not installed")
@pytest.mark.parametrize("command", [
    "ps auxwww", "ps auxwwwm", "ps alxwww", "ps -elfL", "ps auxfwww", "lsof -b +M -n -l", "lsof -b +M -n -l -c ''",
    "lsof +M -n -l -c ''", "lsof +M -n -l", "lsmod", "uname -a", "virsh -r list --all",
    "virsh -r dumpxml instance-00000001", "/usr/bin/virsh -r dumpxml a.b/c", "modinfo vhost_net tun"])
def test_file_names_match_sos_own_mangling(command):
    code = ("import sys; from sos.report.plugins import _mangle_command; "
            "sys.stdout.write(_mangle_command(sys.argv[1], 255))")
    real = subprocess.check_output(["/usr/bin/python3", "-c", code, command], universal_newlines=True)
    assert sos_ps.sos_command_filename(command) == real


@pytest.fixture
def odd_process(tmp_path):
    """A process whose argv holds a space and that holds /dev/net/tun open, like a qemu with a tap."""
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")
    (tmp_path / "fakeqemu.py").write_text("import sys, time\nf = open('/dev/net/tun', 'rb', buffering=0)\n"
                                          "print(f.fileno(), flush=True)\ntime.sleep(60)\n")
    # `-m fakeqemu` reads as qemu's `-m <memory>`: an option with its value, like the rest.
    argv = [sys.executable, "-m", "fakeqemu", "-name", "guest=a b", "-netdev", "tap,id=hostnet0,vhost=on",
            "-msg", "timestamp=on"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, universal_newlines=True, cwd=str(tmp_path),
                            env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    try:
        fd = int(proc.stdout.readline())
        yield proc.pid, argv, fd
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not shutil.which("ps"), reason="procps ps is not installed")
@pytest.mark.parametrize("options", ["auxwww", "auxwwwm", "alxwww", "-elfL", "auxfwww"])
def test_real_ps_in_every_form_sos_used(options, odd_process):
    pid, argv, _ = odd_process
    out = subprocess.check_output(["ps", options], universal_newlines=True)
    r = sos_ps.parse_ps(out, sos_ps.sos_command_filename("ps " + options))
    rows = [p for p in r["processes"] if p["pid"] == pid]
    assert len(rows) == 1, out[:2000]
    split = sos_ps.split_command(rows[0]["command"])
    words = " ".join(argv).split(" ")
    last = len(split["argv"]) - 1
    if split["argv"] == words:
        # ps joined argv with spaces: splitting gives the words; the space inside "guest=a b" is flagged,
        # and the last word (a line may be cut).
        assert split["ambiguous"] == [4, 5, 9], rows[0]["command"]
        assert split["argv"][7] == "tap,id=hostnet0,vhost=on" and 7 not in split["ambiguous"]
    else:
        # ps cut the line (seen with `f` on deep process trees): what is left is a prefix, its last word suspect.
        assert words[:last] == split["argv"][:last] and words[last].startswith(split["argv"][last])
        assert last in split["ambiguous"]


@pytest.mark.skipif(not shutil.which("lsof"), reason="lsof is not installed")
@pytest.mark.parametrize("options", [["-b", "+M", "-n", "-l"], ["+M", "-n", "-l", "-c", ""]])
def test_real_lsof_with_sos_options_finds_the_tun_fd(options, odd_process):
    pid, _, fd = odd_process
    proc = subprocess.run(["lsof"] + options, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True, timeout=120)
    r = sos_lsof.parse_lsof(proc.stdout)
    assert pid in r["pids"], proc.stdout[:1000]
    assert fd in r["pids"][pid]["tun_fds"] and r["pids"][pid]["vhost_fds"] == []
