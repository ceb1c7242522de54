"""A real host's processes and the deployment shapes' detection (issue 10.1, 10.2)."""
import pytest

from nodeaudit.parsers import procs
from nodeaudit.sources import deployment
from nodeaudit.sources.reader import RootReader


@pytest.mark.parametrize("comm,status,argv,kind", [
    ("kvm-pit/4711", "Name:\tkvm-pit/4711\nState:\tS (sleeping)\nPid:\t4790\nPPid:\t2\n", None, "kernel-thread"),
    ("kvm-nx-lpage-re", "Name:\tkvm-nx-lpage-re\nState:\tS\nPid:\t90\nPPid:\t2\nKthread:\t1\n", None,
     "kernel-thread"),
    ("kvm-nx-lpage-re", None, None, "other-program"),          # no status: the comm alone is not qemu's
    ("qemu-ga", "State:\tS\nPPid:\t1\n", ["/usr/bin/qemu-ga"], "other-program"),
    ("qemu-nbd", None, ["/usr/bin/qemu-nbd", "-c", "/dev/nbd0"], "other-program"),
    ("qemu-system-x86", "State:\tZ (zombie)\nPPid:\t1\n", [], "zombie"),
    ("qemu-system-x86", "State:\tS\nPPid:\t1\n", [], "exiting"),
    ("qemu-system-x86", "State:\tS\nPPid:\t1\n", ["/usr/bin/qemu-system-x86_64", "-name", "guest=a"], "qemu"),
    ("qemu-kvm", "State:\tS\nPPid:\t1\n", ["/usr/libexec/qemu-kvm", "-name", "guest=a"], "qemu"),
    ("kvm", "State:\tS\nPPid:\t1\n", ["/usr/bin/kvm", "-name", "a"], "qemu"),
    ("qemu-system-aar", "State:\tS\nPPid:\t1\n", ["/usr/bin/qemu-system-aarch64"], "qemu"),
    ("qemu-system-x86", "State:\tS\nPPid:\t1\n", ["/bin/bash"], "other-program"),
])
def test_qemu_process_kind(comm, status, argv, kind):
    assert procs.qemu_process_kind(comm, status, argv)[0] == kind


@pytest.mark.parametrize("parsed,expected", [
    ({"uuid": "5D0C1A5E-8F55-4A55-9D8B-2C4A2F1C7F0E", "name": "x"}, True),
    ({"uuid": "11111111-2222-3333-4444-555555555555", "name": "instance-1"}, False),
    ({"name": "instance-1"}, True),          # no -uuid in the argv: -name decides
    ({}, None),
])
def test_match_domain(parsed, expected):
    assert procs.match_domain("instance-1", "5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e", parsed)[0] is expected


def _tree(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel.lstrip("/")
        if text is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return RootReader(str(tmp_path))


@pytest.mark.parametrize("files,shape", [
    ({"/var/snap/openstack-hypervisor/common": None}, "sunbeam"),
    ({"/etc/kolla": None}, "kolla"),
    ({"/var/log/containers/libvirt": None}, "tripleo"),
    ({"/etc/openstack_deploy": None}, "openstack-ansible"),
    ({"/etc/default/qemu-kvm": "# Configuration file maintained by Juju. Local changes may be overwritten.\n"},
     "charmed"),
    ({"/etc/os-release": 'ID="centos"\nVERSION_ID="7"\n'}, "rhel"),
    ({"/etc/os-release": 'ID=rocky\nID_LIKE="rhel centos fedora"\n'}, "rhel"),
    ({"/etc/os-release": "ID=ubuntu\nVERSION_ID=\"22.04\"\n"}, "debian"),
    ({}, "debian"),
])
def test_detect(tmp_path, files, shape):
    got = deployment.detect(_tree(tmp_path, files))
    assert got["shape"] == shape and got["evidence"] and got["overridden"] is False


def test_unknown_override_is_said(tmp_path):
    got = deployment.detect(_tree(tmp_path, {}), override="openstack-helm")
    assert got["shape"] == "debian" and "not a known shape" in got["evidence"][0] and got["error"]


@pytest.mark.parametrize("files,reader,job", [
    ({"/etc/init/qemu-kvm.conf": "x"}, "/etc/init/qemu-kvm.conf (upstart pre-start, sh -e)", "upstart"),
    ({"/usr/share/qemu/init/qemu-kvm-init": "x", "/lib/systemd/system/qemu-kvm.service": "x"},
     "/usr/share/qemu/init/qemu-kvm-init (qemu-kvm.service, /bin/sh)", "qemu-kvm-init"),
    ({"/etc/os-release": 'ID=ubuntu\nVERSION_ID="18.10"\n'}, None, None),
    ({"/etc/os-release": 'ID=ubuntu\nVERSION_ID="18.04"\n'}, deployment.SHAPES["debian"]["vhost_key_reader"], None),
    ({}, deployment.SHAPES["debian"]["vhost_key_reader"], None),      # not proven inert: the key is judged
])
def test_refine_who_reads_the_key(tmp_path, files, reader, job):
    lay = deployment.refine(deployment.layout("debian"), _tree(tmp_path, files))
    assert lay["vhost_key_reader"] == reader and lay["vhost_key_job"] == job


def test_masked_service_reads_nothing(tmp_path):
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/systemd/system/qemu-kvm.service").symlink_to("/dev/null")
    (tmp_path / "etc/init").mkdir(parents=True)
    (tmp_path / "etc/init/qemu-kvm.conf").write_text("x")
    lay = deployment.refine(deployment.layout("debian"), RootReader(str(tmp_path)))
    assert lay["vhost_key_reader"] is None and "masked" in lay["vhost_key_reason"]


@pytest.mark.parametrize("shape", ["kolla", "sunbeam", "tripleo", "rhel"])
def test_shapes_where_nothing_reads_the_key(tmp_path, shape):
    lay = deployment.refine(deployment.layout(shape), _tree(tmp_path, {"/etc/init/qemu-kvm.conf": "x"}))
    assert lay["vhost_key_reader"] is None and lay["vhost_key_reason"]


def test_fix_never_edits_a_file_juju_owns():
    from nodeaudit.controller import remediation as plan
    owner = deployment.SHAPES["charmed"]["defaults_owner"]
    audit = {"reachable": True, "mode": "live",
             "config": {"path": "/etc/default/qemu-kvm", "status": "ok", "vhost_net_enabled": "0", "owner": owner,
                        "sourceable": True, "key_line": 3, "read_by": "the qemu-kvm boot job"},
             "kernel": {"vhost_net_loaded": True, "dev_vhost_net": True, "module_support": True, "can_provide": True},
             "checks": [{"id": "qemu_kvm.vhost_net_enabled", "state": "fail"},
                        {"id": "kernel.vhost_net", "state": "pass"}, {"id": "kernel.vhost_net_boot", "state": "pass"}]}
    steps = plan.remediation_steps(audit)
    assert steps["fix_config"] is False and steps["persist_module"] is True
    assert any("not edited" in n and "Juju" in n for n in steps["notes"])
    audit["config"]["owner"] = None
    assert plan.remediation_steps(audit)["fix_config"] is True


def test_child_of_pid_2_in_a_pid_namespace_is_not_a_kernel_thread():
    status = "Name:\tqemu-system-x86\nState:\tS (sleeping)\nPid:\t40\nPPid:\t2\nVmSize:\t 812344 kB\n"
    assert procs.parse_status(status)["kthread"] is False
    assert procs.qemu_process_kind("qemu-system-x86", status, ["/usr/bin/qemu-system-x86_64"])[0] == "qemu"
