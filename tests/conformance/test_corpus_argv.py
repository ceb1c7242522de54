"""Conformance: the argv / XML / log parsers against real files nobody here wrote.

Reads ../shared/corpus (skips when absent). The per-NIC answers below encode
libvirt-args/EXPECTED.md: ground truth is what the QEMU command line says.
"""
import glob
import json
import os

import pytest

from nodeaudit.parsers import domxml, qemuargv, qemulog
from argv_verdicts import verdicts


def answer(nic):
    """EXPECTED.md's question, "does vhost-net carry this NIC?": True, False (it does not: a userspace
    virtio NIC, or one vhost-net never applies to), or None when the judge could not tell."""
    if nic["vhost"] is True:
        return True
    return False if nic["state"] in ("fail", "not_applicable") else None

# file -> [(netdev id, vhost-net?)]; "hostdevN" entries are vfio-pci passthrough
# NICs: no -netdev, so they never appear in "nics" and never get vhost-net.
EXPECTED = {
    "tap-vhost.x86_64-latest.args": [("hostnet0", True)],
    "net-virtio-vhost.x86_64-latest.args": [("hostnet0", True), ("hostnet1", True), ("hostnet2", True)],
    "net-mtu.x86_64-latest.args": [("hostnet0", True), ("hostnet1", True)],
    "net-coalesce.x86_64-latest.args": [("hostnet0", True), ("hostnet1", True), ("hostnet2", True)],
    "net-virtio-network-portgroup.x86_64-latest.args": [
        ("hostnet0", True), ("hostnet1", False), ("hostnet2", False)],
    "net-eth-unmanaged-tap.x86_64-latest.args": [("hostnet0", True)],
    "net-vhostuser.x86_64-latest.args": [("hostnet0", False), ("hostnet1", False), ("hostnet2", False)],
    "net-vhostuser-multiq.x86_64-latest.args": [
        ("hostnet0", False), ("hostnet1", False), ("hostnet2", False), ("hostnet3", False),
        ("hostnet4", False)],
    "net-vdpa.x86_64-latest.args": [("hostnet0", False)],
    "net-vdpa-multiqueue.x86_64-latest.args": [("hostnet0", False)],
    "net-virtio.x86_64-latest.args": [("hostnet0", False)],
    "net-virtio-rxtxqueuesize.x86_64-latest.args": [("hostnet0", False)],
    "net-virtio-device.x86_64-latest.args": [("hostnet0", False)],
    "net-virtio-disable-offloads.args": [("hostnet0", False)],
    "net-eth-ifname.args": [("hostnet0", False)],
    "qemuxml2argv-net-virtio.args": [("vlan0", False)],
    "qemuxml2argv-net-eth.args": [("vlan0", False)],
    "net-hostdev.x86_64-latest.args": [("hostdev0", False)],
    "net-virtio-teaming.x86_64-latest.args": [
        ("hostua-backup0", False), ("hostua-backup1", False), ("hostdev0", False), ("hostdev1", False)],
}

# Secrets that appear in corpus argv; they must never come back out.
CORPUS_SECRETS = ["XAPibndN+4AnDL8fOeRgBGGcl9O4v+eEhhiAHdImV0Q=", "NiTD9GloeE3G64Y40Qf+lg==",
                  "+EUYvhFUAtuwxmpcm4Nxu9h5OU1jziJqEstcPh0R3A8=", "IoKiohQ0I7Lbs9Zy0zIzeg=="]


def parse_args_file(corpus, rel):
    split = qemuargv.split_shell_args(corpus(rel))
    return qemuargv.parse_qemu_argv(split["argv"])


def test_expected_totals():
    flat = [v for pairs in EXPECTED.values() for _, v in pairs]
    assert flat.count(True) == 11
    assert flat.count(False) == 24


def test_every_args_file_is_covered(corpus):
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(corpus.dir, "libvirt-args", "*.args")))
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_libvirt_args(corpus, name):
    result = parse_args_file(corpus, "libvirt-args/" + name)
    assert result["errors"] == []
    assert result["binary"].startswith("/usr/bin/qemu")
    json.dumps(result)
    expected = [(i, v) for i, v in EXPECTED[name] if not i.startswith("hostdev")]
    assert [(n["netdev_id"], answer(n)) for n in verdicts(result)] == expected
    for nic in verdicts(result):
        assert nic["device"] is not None and nic["netdev"] is not None, nic["reason"]
    # passthrough NICs: a vfio-pci -device with that id, and no NIC record for it
    for ident, _ in EXPECTED[name]:
        if ident.startswith("hostdev"):
            argv = qemuargv.split_shell_args(corpus("libvirt-args/" + name))["argv"]
            assert any('"driver":"vfio-pci"' in a and '"id":"%s"' % ident in a for a in argv)
            assert all(n["netdev_id"] != ident for n in verdicts(result))


def test_totals_from_the_parser(corpus):
    yes = no = 0
    for name, pairs in EXPECTED.items():
        result = parse_args_file(corpus, "libvirt-args/" + name)
        by_id = dict((n["netdev_id"], answer(n)) for n in verdicts(result))
        for ident, _ in pairs:
            if by_id.get(ident) is True:
                yes += 1
            else:
                no += 1
    assert (yes, no) == (11, 24)


def test_multiqueue_and_legacy_details(corpus):
    r = parse_args_file(corpus, "libvirt-args/tap-vhost.x86_64-latest.args")
    nd = r["netdevs"][0]
    assert (nd["syntax"], nd["fds"], nd["vhostfds"], nd["queues"]) == (
        "json", ["102", "103", "104", "105", "106"], ["44", "45", "46", "47", "48"], 5)
    assert r["accel"] == "tcg"
    r = parse_args_file(corpus, "libvirt-args/qemuxml2argv-net-eth.args")
    assert verdicts(r)[0]["netdev"]["syntax"] == "legacy-net"
    assert "legacy -net (hub) syntax" in verdicts(r)[0]["reason"]
    r = parse_args_file(corpus, "libvirt-args/net-vhostuser-multiq.x86_64-latest.args")
    assert [n["queues"] for n in r["netdevs"]] == [None, None, None, None, 4]
    r = parse_args_file(corpus, "libvirt-args/net-eth-ifname.args")
    assert (r["name"], r["accel"], r["netdevs"][0]["syntax"]) == ("QEMUGuest1", "tcg", "keyval")


def test_libvirt_xml_parses(corpus):
    paths = sorted(glob.glob(os.path.join(corpus.dir, "libvirt-args", "*.xml")))
    assert len(paths) == 18
    for path in paths:
        d = domxml.parse_domain_xml(corpus("libvirt-args/" + os.path.basename(path)))
        assert d["type"] == "qemu" and d["interfaces"], path
        json.dumps(d)


def test_libvirt_xml_details(corpus):
    d = domxml.parse_domain_xml(corpus("libvirt-args/tap-vhost.xml"))
    assert [(i["model"], i["driver_name"], i["queues"]) for i in d["interfaces"]] == [("virtio", "vhost", 5)]
    d = domxml.parse_domain_xml(corpus("libvirt-args/net-virtio-teaming.xml"))
    assert [i["type"] for i in d["interfaces"]] == ["user", "user", "hostdev", "hostdev"]
    assert d["interfaces"][2]["source"] == {"address": "0000:03:07.1"}


# -------------------------------------------------------------------- nodes/

@pytest.mark.parametrize("name,uuid", [
    ("libvirt-qemu-log.instance-00000001.hotsos.log", "d1d75e2f-ada4-49bc-a963-528d89dfda25"),
    ("libvirt-qemu-log.instance-00000002.hotsos.log", "359150c9-6f40-416e-b381-185bff09e974"),
])
def test_hotsos_logs(corpus, name, uuid):
    log = qemulog.parse_qemu_log(corpus("nodes/" + name))
    assert log["starts"] == 1
    ls = log["last_start"]
    assert (ls["libvirt_version"], ls["qemu_version"], ls["kernel"], ls["hostname"]) == (
        "6.0.0", "4.2.1Debian 1:4.2-3ubuntu6.19", "5.4.0-97-generic", "compute4.mylab.home")
    assert ls["env"]["LC_ALL"] == "C"
    assert log["vhost_messages"] == []
    r = qemuargv.parse_qemu_argv(ls["argv"])
    assert (r["uuid"], r["accel"]) == (uuid, "kvm")
    assert [(n["netdev_id"], n["driver"], n["vhost"]) for n in verdicts(r)] == [
        ("hostnet0", "virtio-net-pci", True)]
    blob = json.dumps([log, r])
    for secret in CORPUS_SECRETS:
        assert secret not in blob
    assert "data=<redacted>" in blob


def test_json_netdev_node_args(corpus):
    r = parse_args_file(corpus, "nodes/qemu-args.json-netdev.libvirt-test.args")
    assert [(n["netdev_id"], n["driver"], answer(n)) for n in verdicts(r)] == [
        ("hostnet0", "virtio-net-pci", True), ("hostnet1", "rtl8139", False), ("hostnet2", "rtl8139", False)]


def ps_argv(line, columns=10):
    """ps aux COMMAND column, split on whitespace: lossy (spaces inside args break)."""
    return line.split()[columns:]


def qemu_lines(text):
    return [l for l in text.splitlines() if "qemu" in l and not l.startswith("USER")]


def test_ps_auxwwwm(corpus):
    lines = qemu_lines(corpus("nodes/ps_auxwwwm.focal-compute-qemu.hotsos.txt"))
    assert len(lines) == 1
    r = qemuargv.parse_qemu_argv(ps_argv(lines[0]))
    assert (r["name"], r["accel"]) == ("instance-00000001", "kvm")
    assert [(n["netdev_id"], n["vhost"]) for n in verdicts(r)] == [("hostnet0", True)]
    redacted = json.dumps(qemuargv.redact_argv(ps_argv(lines[0])))
    for secret in CORPUS_SECRETS:
        assert secret not in redacted


def test_ps_arm64(corpus):
    lines = qemu_lines(corpus("nodes/ps.arm64-qemu-line.hotsos.txt"))
    r = qemuargv.parse_qemu_argv(ps_argv(lines[0]))
    assert r["binary"] == "/usr/bin/qemu-system-aarch64"
    assert (r["name"], r["accel"], r["errors"]) == ("instance-00037cd9", "kvm", [])
    assert [(n["netdev_id"], n["vhost"]) for n in verdicts(r)] == [("hostnet0", True)]


def test_ps_elided_is_survivable(corpus):
    text = corpus("nodes/ps_aux.qemu-elided.trusty.blog.txt")
    # the wrapped continuation line: a netdev with vhost=on but no device in view
    argv = ["qemu"] + text.splitlines()[1].split()
    r = qemuargv.parse_qemu_argv(argv)
    assert r["name"] == "instance-000000dd"
    assert r["netdevs"][0]["vhost"] is True
    assert verdicts(r)[0]["device"] is None and verdicts(r)[0]["vhost"] is None


def test_ps_no_netdev(corpus):
    lines = qemu_lines(corpus("nodes/ps_auxww.qemu-kvm-no-netdev.insights-core.txt"))
    r = qemuargv.parse_qemu_argv(ps_argv(lines[0]))
    assert (r["binary"], r["name"], r["accel"], verdicts(r)) == ("/usr/libexec/qemu-kvm", "rhel7", "kvm", [])
    assert r["uuid"] == "13798ffc-bc1e-d437-4f3f-2e0fa6c923ad"


def test_domstatus(corpus):
    d = domxml.parse_domain_xml(corpus("nodes/domstatus.run-libvirt-qemu.instance-00000001.hotsos.xml"))
    assert d["status"] == {"state": "running", "reason": "migrated", "pid": 1791722}
    assert (d["name"], d["type"]) == ("instance-00000001", "kvm")
    assert [(i["type"], i["mac"], i["model"], i["driver_name"], i["target_dev"], i["alias"], i["source"])
            for i in d["interfaces"]] == [
        ("bridge", "fa:16:3e:a7:45:cb", "virtio", None, "tap0e778df8-ca", "net0", {"bridge": "br-int"})]
    assert d["nova"]["name"] == "focal-161303-1"


def test_persistent_domain(corpus):
    d = domxml.parse_domain_xml(corpus("nodes/domain.etc-libvirt-qemu.instance-00000001.hotsos.xml"))
    assert d["status"] is None
    assert d["uuid"] == "d1d75e2f-ada4-49bc-a963-528d89dfda25"
    assert d["interfaces"][0]["alias"] is None


def test_rhosp10_malformed_uuid(corpus):
    d = domxml.parse_domain_xml(corpus("nodes/domain.rhosp10.insights-core.xml"))
    assert d["uuid"] == "601da52c-450f-4d8e-b502-503431536fa69"
    assert (d["name"], d["type"]) == ("instance-000008d6", "kvm")
    assert d["nova"]["name"] == "django_vm_001" and d["nova"]["project"] == "vpcdi1"
    assert [(i["type"], i["model"], i["source"]) for i in d["interfaces"]] == [
        ("bridge", "virtio", {"bridge": "qbrf975e53f-e0"})]
