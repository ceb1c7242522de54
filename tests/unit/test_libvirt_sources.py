"""libvirtd's own log, the Linux audit log and QEMU's fallback messages (issue 10.3)."""
import json

import pytest

from nodeaudit.parsers import qemulog

LIBVIRTD_LOG = """\
2024-03-01 09:59:59.900+0000: 2211: info : libvirt version: 8.0.0, package: 1ubuntu7.8 (Ubuntu)
2024-03-01 09:59:59.901+0000: 2211: info : hostname: compute-7
2024-03-01 10:00:00.123+0000: 2211: warning : qemuInterfaceOpenVhostNet:716 : Unable to open vhost-net. Opened so far 0, requested 1
2024-03-01 10:00:00.124+0000: 2211: warning : qemuInterfaceOpenVhostNet:716 : Unable to open vhost-net. Opened so far 2, requested 4\r
2024-03-01 10:05:00.000+0000: 2230: error : qemuInterfaceOpenVhostNet:705 : vhost-net was requested for an interface, but is unavailable
2024-03-01 10:06:00.000+0000: 2230: error : virNetDevTapCreate:240 : Unable to create tap device tap0: Device or resource busy
garbage line mentioning vhost-net but nothing else
"""

AUDIT_LOG = """\
type=VIRT_CONTROL msg=audit(1709287200.100:810): pid=2211 uid=0 auid=4294967295 ses=4294967295 msg='virt=kvm op=start reason=booted vm="instance-00000001" uuid=5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e vm-pid=-1 exe="/usr/sbin/libvirtd" hostname=? addr=? terminal=? res=success'
type=VIRT_RESOURCE msg=audit(1709287200.123:812): pid=2211 uid=0 auid=4294967295 ses=4294967295 msg='virt=kvm resrc=net reason=open vm="instance-00000001" uuid=5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e net=FA:16:3E:11:22:33 path="/dev/vhost-net" rdev=0A:EE exe="/usr/sbin/libvirtd" hostname=? addr=? terminal=? res=failed'
type=VIRT_RESOURCE msg=audit(1709287200.124:813): pid=2211 uid=0 auid=4294967295 ses=4294967295 msg='virt=kvm resrc=net reason=open vm="instance-00000001" uuid=5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e net=fa:16:3e:11:22:34 path="/dev/net/tun" rdev=0A:C8 exe="/usr/sbin/libvirtd" hostname=? addr=? terminal=? res=success'
type=VIRT_RESOURCE msg=audit(1709287300.000:900): pid=2211 uid=0 auid=4294967295 ses=4294967295 msg='virt=kvm resrc=net reason=open vm=6C623031207370616365 uuid=11111111-2222-3333-4444-555555555555 net=52:54:00:aa:bb:cc path="/dev/vhost-net" rdev=0A:EE exe="/usr/sbin/libvirtd" hostname=? addr=? terminal=? res=success'
type=VIRT_RESOURCE msg=audit(1364481363.243:24287): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:virtd_t:s0-s0:c0.c1023 msg='resrc=net reason=open vm="old" uuid=22222222-2222-3333-4444-555555555555 net='52:54:00:00:00:01' path="/dev/vhost-net" rdev=0A:EE: exe="/usr/sbin/libvirtd" hostname=? addr=? terminal=? res=failed'
"""


def test_libvirtd_warnings_and_errors():
    got = qemulog.parse_libvirtd_log(LIBVIRTD_LOG)["vhost_open_failed"]
    assert [(e["line"], e["opened"], e["requested"], e["required"]) for e in got] == [
        (3, 0, 1, False), (4, 2, 4, False), (5, 0, None, True)]
    assert got[1]["text"].endswith("requested 4")
    json.dumps(got)


def test_libvirtd_log_empty_and_binary():
    assert qemulog.parse_libvirtd_log("") == {"vhost_open_failed": []}
    assert qemulog.parse_libvirtd_log(b"\xff\xfe vhost-net \x00") == {"vhost_open_failed": []}


def test_audit_records_per_nic():
    recs = qemulog.parse_audit_log(AUDIT_LOG)["records"]
    assert [(r["vm"], r["mac"], r["success"]) for r in recs] == [
        ("instance-00000001", "fa:16:3e:11:22:33", False),
        ("lb01 space", "52:54:00:aa:bb:cc", True),        # virAuditEncode hex-encodes a name with a blank
        ("old", "52:54:00:00:00:01", False),              # libvirt < 1.0: no virt=, quoted MAC
    ]
    assert recs[0]["uuid"] == "5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e" and recs[0]["serial"] == 812


def test_audit_tun_records_and_other_types_ignored():
    assert qemulog.parse_audit_log(AUDIT_LOG.splitlines()[0] + "\n" + AUDIT_LOG.splitlines()[2])["records"] == []


def test_attribution_by_start_time():
    events = qemulog.parse_libvirtd_log(LIBVIRTD_LOG)["vhost_open_failed"]
    starts = {"instance-00000001": "2024-03-01 10:00:00.200+0000", "instance-00000002": "2024-03-01 10:05:00.300+0000",
              "instance-00000009": "2024-02-01 10:00:00.000+0000"}
    got = qemulog.attribute_by_start(events, starts)
    assert sorted(got) == ["instance-00000001", "instance-00000002"]
    assert [e["line"] for e in got["instance-00000001"]] == [3, 4]
    assert got["instance-00000002"][0]["required"] is True


def test_attribution_ambiguous_when_two_start_together():
    events = [{"timestamp": "2024-03-01 10:00:00.000+0000", "line": 1}]
    got = qemulog.attribute_by_start(events, {"a": "2024-03-01 10:00:00.200+0000", "b": "2024-03-01 10:00:00.300+0000"})
    assert got["a"][0]["ambiguous"] and got["b"][0]["ambiguous"]


@pytest.mark.parametrize("line", [
    "2024-03-01T10:00:01.000000Z qemu-system-x86_64: unable to start vhost net: 25: falling back on userspace virtio",
    "qemu-system-x86_64: -netdev tap,fd=30,id=hostnet0,vhost=on,vhostfd=31: vhost-net requested but could not be "
    "initialized",
    "qemu-kvm: -netdev tap,fds=30:31,id=hostnet0,vhost=on: tap: open vhost char device failed: Permission denied",
    "qemu-system-aarch64: -netdev tap,id=hostnet0,vhost=on: vhost-net support is not compiled in",
])
def test_qemu_fallback_messages_after_the_last_start(line):
    log = ("2024-03-01 10:00:00.000+0000: starting up libvirt version: 8.0.0, qemu version: 6.2.0, kernel: 5.15.0, "
           "hostname: c1\nLC_ALL=C /usr/bin/qemu-system-x86_64 -name guest=a\n%s\n" % line)
    got = qemulog.parse_qemu_log(log)["vhost_messages"]
    assert [m["line"] for m in got] == [3]
    before = line + "\n" + log.replace(line + "\n", "")
    assert qemulog.parse_qemu_log(before)["vhost_messages"] == []   # a message before the last start is history
