"""The lab's nodes are what their scenarios say (pytest-testinfra, ansible:// backend).

These tests check the lab, not the auditor: if one fails, the end-to-end
verdicts in test_lab_audit.py mean nothing.
"""
import re

import pytest
import testinfra

pytestmark = pytest.mark.lab

_HOSTS = {}


@pytest.fixture
def node(lab_node, lab_inventory, scenarios):
    """(name, scenario, testinfra host) for each lab node, over SSH as Ansible would connect."""
    name = lab_node
    if name not in _HOSTS:
        _HOSTS[name] = testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, lab_inventory))
    return name, scenarios[name], _HOSTS[name]


def running(sc):
    return [d for d in sc["setup"].get("domains") or [] if d.get("state", "running-paused") == "running-paused"]


def qemu_argvs(host):
    """{domain name: argv string} of every qemu process on the node."""
    result = {}
    for proc in host.process.filter(comm="qemu-system-x86"):
        args = proc.args
        match = re.search(r"-name guest=([^,\s]+)", args)
        result[match.group(1) if match else "?%s" % proc.pid] = args
    return result


def test_hostname(node):
    name, sc, host = node
    assert host.check_output("hostname") == name


def test_own_pid_namespace(node):
    name, sc, host = node
    # The node's PID 1 is its sshd: the node has its own pid namespace and /proc.
    assert host.file("/proc/1/comm").content_string.strip() == "sshd"


def test_qemu_kvm_default(node):
    name, sc, host = node
    want = sc["setup"].get("qemu_kvm_default")
    f = host.file("/etc/default/qemu-kvm")
    if want is None:
        assert not f.exists
    else:
        assert f.is_file
        assert f.content_string == want


def test_modprobe_d(node):
    name, sc, host = node
    files = sc["setup"].get("modprobe_d") or {}
    for fname, text in files.items():
        assert host.file("/etc/modprobe.d/" + fname).content_string == text
    blacklisted = any(re.search(r"^\s*blacklist\s+vhost[_-]net\b", t, re.M) for t in files.values())
    found = host.run("grep -rlsE '^[[:space:]]*blacklist[[:space:]]+vhost[_-]net' /etc/modprobe.d")
    assert bool(found.stdout.strip()) == blacklisted, found.stdout


def test_libvirtd(node):
    name, sc, host = node
    want = sc["setup"].get("libvirtd", "running") == "running"
    assert bool(host.process.filter(comm="libvirtd")) == want
    if want:
        assert host.run("virsh -c qemu:///system uri").rc == 0
    else:
        # The status files outlive libvirtd: the audit falls back to them.
        for dom in running(sc):
            status = host.file("/run/libvirt/qemu/%s.xml" % dom["name"])
            assert status.exists and "<domstatus" in status.content_string


def test_domain_states(node):
    name, sc, host = node
    if sc["setup"].get("libvirtd", "running") != "running":
        pytest.skip("libvirtd is stopped on this node by design")
    for dom in sc["setup"].get("domains") or []:
        state = host.check_output("virsh -c qemu:///system domstate %s" % dom["name"])
        want = "paused" if dom.get("state", "running-paused") == "running-paused" else "shut off"
        assert state == want, dom["name"]


def test_qemu_processes(node):
    name, sc, host = node
    argvs = qemu_argvs(host)
    assert sorted(argvs) == sorted(d["name"] for d in running(sc))
    for dom in running(sc):
        args = argvs[dom["name"]]
        assert ("-accel kvm" in args) == (dom.get("type", "kvm") == "kvm"), dom["name"]
        for nic in dom.get("nics") or []:
            assert nic["mac"] in args
            assert host.file("/sys/class/net/%s" % nic["tap"]).exists, nic["tap"]


def test_no_qemu_has_vhost(node):
    """This kernel has no vhost-net: no qemu of the lab can have it."""
    name, sc, host = node
    assert not host.file("/dev/vhost-net").exists
    for dom, args in qemu_argvs(host).items():
        assert "vhost" not in args, dom
