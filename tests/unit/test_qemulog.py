"""qemulog: libvirt per-domain qemu logs (last start, vhost messages)."""
import doctest
import json

import pytest
from hypothesis import given, settings, strategies as st

from nodeaudit.parsers import qemuargv, qemulog
from nodeaudit.errors import ParseError
from argv_verdicts import verdicts

SECRET = "+EUYvhFUAtuwxmpcm4Nxu9h5OU1jziJqEstcPh0R3A8="

START1 = ("2022-02-10 16:14:03.381+0000: starting up libvirt version: 6.0.0, package: 0ubuntu8.15 "
          "(Christian Ehrhardt <christian.ehrhardt@canonical.com> Thu, 18 Nov 2021 10:23:11 +0100), "
          "qemu version: 4.2.1Debian 1:4.2-3ubuntu6.19, kernel: 5.4.0-97-generic, hostname: compute4.mylab.home")
START2 = ("2022-02-11 09:00:00.001+0000: starting up libvirt version: 6.0.0, package: 0ubuntu8.16, "
          "qemu version: 4.2.1Debian 1:4.2-3ubuntu6.21, kernel: 5.4.0-99-generic, hostname: compute4")

TWO_STARTS = "\n".join([
    START1,
    "LC_ALL=C \\",
    "/usr/bin/qemu-system-x86_64 \\",
    "-name guest=instance-00000002,debug-threads=on \\",
    "-netdev tap,fd=21,id=hostnet0,vhost=on,vhostfd=22 \\",
    "-device virtio-net-pci,netdev=hostnet0,id=net0,mac=fa:16:3e:06:b5:50",
    "qemu-system-x86_64: -netdev tap,fd=21,id=hostnet0,vhost=on,vhostfd=22: "
    "vhost-net requested but could not be initialized",
    "2022-02-10 16:18:33.029+0000: shutting down, reason=failed",
    START2,
    "LC_ALL=C \\",
    "PATH=/usr/bin \\",
    "/usr/bin/qemu-system-x86_64 \\",
    "-name guest=instance-00000002,debug-threads=on \\",
    "-object secret,id=libvirt-1-storage-secret0,data=%s,keyid=masterKey0,iv=IoKiohQ0I7Lbs9Zy0zIzeg==,format=base64 \\" % SECRET,
    "-smbios 'type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova' \\",
    "-netdev tap,fd=33,id=hostnet0 \\",
    "-device virtio-net-pci,netdev=hostnet0,id=net0,mac=fa:16:3e:06:b5:50",
    "char device redirected to /dev/pts/2 (label charserial0)",
    "2022-02-11T09:00:01.000000Z qemu-system-x86_64: warning: host doesn't support requested feature",
    "qemu-system-x86_64: unable to start vhost net: 38: falling back on userspace virtio",
    "",
])


def test_doctests():
    result = doctest.testmod(qemulog)
    assert result.attempted > 0
    assert result.failed == 0


def test_last_start_wins():
    r = qemulog.parse_qemu_log(TWO_STARTS)
    assert r["starts"] == 2
    ls = r["last_start"]
    assert ls["line"] == 9
    assert ls["timestamp"] == "2022-02-11 09:00:00.001+0000"
    assert (ls["libvirt_version"], ls["qemu_version"], ls["kernel"], ls["hostname"]) == (
        "6.0.0", "4.2.1Debian 1:4.2-3ubuntu6.21", "5.4.0-99-generic", "compute4")
    assert ls["env"] == {"LC_ALL": "C", "PATH": "/usr/bin"}
    assert ls["argv"][0] == "/usr/bin/qemu-system-x86_64"
    assert "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova" in ls["argv"]
    # only the message after the last start counts
    assert r["vhost_messages"] == [{
        "line": 20,
        "text": "qemu-system-x86_64: unable to start vhost net: 38: falling back on userspace virtio"}]
    nics = verdicts(qemuargv.parse_qemu_argv(ls["argv"]))
    assert [(n["netdev_id"], n["vhost"]) for n in nics] == [("hostnet0", False)]


def test_first_start_fields_with_commas_in_package():
    r = qemulog.parse_qemu_log(TWO_STARTS.split(START2)[0])
    ls = r["last_start"]
    assert (ls["libvirt_version"], ls["qemu_version"], ls["kernel"], ls["hostname"]) == (
        "6.0.0", "4.2.1Debian 1:4.2-3ubuntu6.19", "5.4.0-97-generic", "compute4.mylab.home")
    assert [m["line"] for m in r["vhost_messages"]] == [7]


def test_secret_never_returned():
    assert SECRET not in json.dumps(qemulog.parse_qemu_log(TWO_STARTS))


@pytest.mark.parametrize("text,starts,messages", [
    ("", 0, []),
    ("\n\n", 0, []),
    ("qemu: vhost-net support is not compiled in\n", 0, [1]),   # no start: whole text scanned
    ("2013-01-01 00:00:00.000+0000: starting up\n", 1, []),      # ancient: no versions, no argv
    ("2014-09-05 10:00:00.000+0000: starting up\nLC_ALL=C /usr/bin/kvm -name x\n"
     "kvm: -netdev tap,id=hostnet0,vhost=on: vhost-net requested but could not be initialized\n", 1, [3]),
    ("2014-09-05 10:00:00.000+0000: starting up\r\nLC_ALL=C /usr/bin/kvm -S\r\n"
     "Falling Back On Userspace Virtio\r\n", 1, [3]),
])
def test_table(text, starts, messages):
    r = qemulog.parse_qemu_log(text)
    assert r["starts"] == starts
    assert [m["line"] for m in r["vhost_messages"]] == messages
    json.dumps(r)


def test_ancient_single_line_argv():
    r = qemulog.parse_qemu_log("2014-09-05 10:00:00.000+0000: starting up\n"
                               "LC_ALL=C PATH=/bin /usr/bin/kvm -name x -netdev tap,id=h,vhost=on\n")
    ls = r["last_start"]
    assert ls["libvirt_version"] is None
    assert ls["env"] == {"LC_ALL": "C", "PATH": "/bin"}
    assert ls["argv"] == ["/usr/bin/kvm", "-name", "x", "-netdev", "tap,id=h,vhost=on"]


def test_truncated_log_unterminated_quote():
    r = qemulog.parse_qemu_log(START2 + "\nLC_ALL=C \\\n/usr/bin/qemu \\\n-smbios 'type=1,manu")
    assert r["last_start"]["argv"] == ["/usr/bin/qemu", "-smbios", "type=1,manu"]


def test_bytes_and_bad_type():
    assert qemulog.parse_qemu_log(b"\xff\n")["starts"] == 0
    with pytest.raises(ParseError):
        qemulog.parse_qemu_log(None)


def test_messages_are_capped():
    long = "qemu: vhost-net requested but could not be initialized " + "x" * 5000
    msg = qemulog.parse_qemu_log(long)["vhost_messages"][0]
    assert len(msg["text"]) <= qemuargv.EXCERPT_MAX


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(),
    st.lists(st.sampled_from([START1, START2, "LC_ALL=C \\", "/usr/bin/qemu \\", "-S",
                              "'unterminated \\", "falling back on userspace virtio", "\\", "",
                              "-object secret,id=s,data=SEKRIT,iv=IVIV \\"]), max_size=20)
    .map("\n".join),
))
def test_never_raises(text):
    r = qemulog.parse_qemu_log(text)
    blob = json.dumps(r)
    assert "SEKRIT" not in blob and "IVIV" not in blob
