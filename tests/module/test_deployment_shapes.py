"""Copies of real-shaped nodes the auditor has never seen (issue 10.7), one per deployment shape.

Each node is assembled at test time (snapgen's layout, then moved to where the
shape keeps things, plus the corpus's real files where they exist) with a
/proc that looks like a real KVM host's: pid 1, kernel threads whose comm starts
with ``kvm`` (``kvm-pit/<pid>``, ``kvm-nx-lpage-re``), ``qemu-ga``, a zombie qemu
and a few hundred unrelated processes. Scenario names say the state each
expects. Nothing from the corpus is copied into the repository.
"""
import os
import shutil
import sys

import pytest

from nodeaudit.evaluate import evaluate
from nodeaudit.policy import validate
from nodeaudit.sources import deployment
from nodeaudit.sources.collect import collect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "snapshots"))
import snapgen  # noqa: E402

VHOST_ARGV_LOG = """\
2026-11-20 10:00:00.000+0000: starting up libvirt version: 8.0.0, qemu version: 6.2.0, kernel: 5.15.0-91-generic, hostname: %s
LC_ALL=C \\
/usr/bin/qemu-system-x86_64 \\
-name guest=%s,debug-threads=on \\
-S
2026-11-20T10:00:01.000000Z qemu-system-x86_64: unable to start vhost net: 95: falling back on userspace virtio
"""
UBUNTU_2204 = 'NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n'
UBUNTU_1604 = 'NAME="Ubuntu"\nVERSION_ID="16.04"\nID=ubuntu\nID_LIKE=debian\n'
UBUNTU_1404 = 'NAME="Ubuntu"\nVERSION_ID="14.04"\nID=ubuntu\nID_LIKE=debian\n'
RHEL_9 = 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.2"\nID="rhel"\nID_LIKE="fedora"\n'


def _w(root, rel, text, binary=False):
    path = os.path.join(root, rel.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if binary else "w") as handle:
        handle.write(text)


def _move(root, src, dst):
    s = os.path.join(root, src.lstrip("/"))
    d = os.path.join(root, dst.lstrip("/"))
    if not os.path.exists(s) or os.path.abspath(s) == os.path.abspath(d):
        return
    os.makedirs(os.path.dirname(d), exist_ok=True)
    if os.path.exists(d):
        shutil.rmtree(d)
    shutil.move(s, d)


def real_proc(root, first_pid=100, count=300):
    """A real host's /proc around the qemu processes: pid 1, kthreadd, kvm kernel threads, helpers, a zombie."""
    _w(root, "/proc/1/comm", "systemd\n")
    _w(root, "/proc/1/cmdline", b"/sbin/init\0splash\0", binary=True)
    _w(root, "/proc/1/status", "Name:\tsystemd\nState:\tS (sleeping)\nPid:\t1\nPPid:\t0\n")
    _w(root, "/proc/2/comm", "kthreadd\n")
    _w(root, "/proc/2/status", "Name:\tkthreadd\nState:\tS (sleeping)\nPid:\t2\nPPid:\t0\n")
    threads = {50: "kvm-pit/4711", 51: "kvm-nx-lpage-re", 52: "kvm-irqfd-clean", 53: "kvm-pit/8101"}
    for pid, comm in threads.items():
        _w(root, "/proc/%d/comm" % pid, comm + "\n")
        _w(root, "/proc/%d/cmdline" % pid, b"", binary=True)
        _w(root, "/proc/%d/status" % pid, "Name:\t%s\nState:\tS (sleeping)\nPid:\t%d\nPPid:\t2\n" % (comm, pid))
    _w(root, "/proc/60/comm", "qemu-ga\n")
    _w(root, "/proc/60/cmdline", b"/usr/bin/qemu-ga\0--daemonize\0", binary=True)
    _w(root, "/proc/60/status", "Name:\tqemu-ga\nState:\tS (sleeping)\nPid:\t60\nPPid:\t1\n")
    _w(root, "/proc/61/comm", "qemu-system-x86\n")        # a zombie qemu: empty cmdline, State Z
    _w(root, "/proc/61/cmdline", b"", binary=True)
    _w(root, "/proc/61/status", "Name:\tqemu-system-x86\nState:\tZ (zombie)\nPid:\t61\nPPid:\t1\n")
    for k in range(count):
        pid = first_pid + k
        comm = ("bash", "sshd", "nova-compute", "ovs-vswitchd", "python3", "cron")[k % 6]
        _w(root, "/proc/%d/comm" % pid, comm + "\n")
        _w(root, "/proc/%d/cmdline" % pid, ("/usr/bin/%s\0" % comm).encode(), binary=True)


def _status_of(root, shape_run_dir, name, pid):
    path = os.path.join(root, shape_run_dir.lstrip("/"), name + ".xml")
    text = open(path).read()
    return text.replace("pid='%d'" % pid, "pid='%d'" % pid)


def node(root, shape, osr=None, domains=None, qemu_kvm=snapgen.LATER_DEFAULT, extra=None):
    spec = {"hostname": "c-" + shape, "qemu_kvm": qemu_kvm, "proc_modules": snapgen.MODULES_VHOST,
            "dev_vhost_net": True, "sys_module": True,
            "domains": domains or [snapgen._dom("vm-%s" % shape, 31, 4711,
                                                [snapgen._nic("52:54:00:00:31:01", syntax="keyval", vhost=True)])]}
    snapgen.write_node(root, spec)
    real_proc(root)
    if osr:
        _w(root, "/etc/os-release", osr)
    lay = deployment.layout(shape)
    _move(root, "/run/libvirt/qemu", lay["qemu_run_dir"])
    _move(root, "/etc/libvirt/qemu", lay["qemu_config_dir"])
    _move(root, "/var/log/libvirt/qemu", lay["qemu_log_dir"])
    for rel, text in (extra or {}).items():
        if text is None:
            os.makedirs(os.path.join(root, rel.lstrip("/")), exist_ok=True)
        elif text == "->/dev/null":
            os.makedirs(os.path.dirname(os.path.join(root, rel.lstrip("/"))), exist_ok=True)
            os.symlink("/dev/null", os.path.join(root, rel.lstrip("/")))
        else:
            _w(root, rel, text)
    return root


def audit(root, **kw):
    if "deployment" in kw:
        kw["deployment_override"] = kw.pop("deployment")
    return evaluate(collect(root=str(root), **kw), validate({}), host_name=os.path.basename(str(root)))


def checks(result):
    return dict((c["id"], c) for c in result["checks"])


def test_kolla_node_config_not_applicable_and_logs_in_the_volume(tmp_path):
    """kolla.config-na.vhost-fallback-fail: domain logs and libvirtd.log in the kolla_logs volume."""
    root = str(tmp_path / "kolla")
    node(root, "kolla", UBUNTU_2204, qemu_kvm=snapgen.TRUSTY_DEFAULT, domains=[snapgen._dom(
        "instance-00000007", 32, 4711, [snapgen._nic("fa:16:3e:00:32:01", syntax="keyval", vhost=True)],
        log=VHOST_ARGV_LOG % ("c-kolla", "instance-00000007"))], extra={
        "/etc/kolla": None, "/etc/systemd/system/qemu-kvm.service": "->/dev/null",
        "/var/lib/docker/volumes/kolla_logs/_data/libvirt/libvirtd.log":
            "2026-11-20 09:59:59.900+0000: 2211: warning : qemuInterfaceOpenVhostNet:716 : Unable to open "
            "vhost-net. Opened so far 0, requested 1\n"})
    result = audit(root)
    assert result["sources"]["deployment"]["shape"] == "kolla"
    assert any("/etc/kolla" in e for e in result["sources"]["deployment"]["evidence"])
    c = checks(result)
    assert c["qemu_kvm.vhost_net_enabled"]["state"] == "not_applicable"
    assert "modules-load.d" in c["qemu_kvm.vhost_net_enabled"]["reason"]
    dom = [d for d in result["domains"] if d["name"] == "instance-00000007"][0]
    assert dom["nics"][0]["vhost"] is False and "falling back" in dom["nics"][0]["reason"] + repr(dom["nics"][0])
    assert any("kolla_logs/_data/libvirt/libvirtd.log" in e for e in dom["evidence"])
    assert result["config"]["read_by"] is None


def test_sunbeam_node_reads_the_snap_directories(tmp_path):
    """sunbeam.pass: status files, XML and logs under /var/snap/openstack-hypervisor/common."""
    root = str(tmp_path / "sunbeam")
    node(root, "sunbeam", UBUNTU_2204)
    result = audit(root)
    assert result["sources"]["deployment"]["shape"] == "sunbeam"
    assert [d["name"] for d in result["domains"]] == ["vm-sunbeam"]
    assert result["domains"][0]["nics"][0]["vhost"] is True
    assert checks(result)["domains.vhost"]["state"] == "pass"
    assert checks(result)["qemu_kvm.vhost_net_enabled"]["state"] == "not_applicable"


def test_charmed_xenial_node_fails_and_says_juju_owns_the_file(tmp_path, corpus):
    """charmed-xenial.fail: the job reads the key, Juju owns the file."""
    text = "\n".join(l for l in corpus("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt").split("\n")
                     if not l.startswith("#@")) + "\n"
    root = str(tmp_path / "charmed")
    node(root, "charmed", UBUNTU_1604, qemu_kvm=text, extra={"/usr/share/qemu/init/qemu-kvm-init": "#!/bin/sh\n",
                                                              "/lib/systemd/system/qemu-kvm.service": "[Service]\n"})
    result = audit(root)
    assert result["sources"]["deployment"]["shape"] == "charmed"
    c = checks(result)["qemu_kvm.vhost_net_enabled"]
    assert c["state"] == "fail" and "maintained by Juju" in c["reason"] and "modules-load.d" in c["reason"]
    assert result["config"]["read_by"].startswith("/usr/share/qemu/init/qemu-kvm-init")


def test_trusty_upstart_node_is_read_by_the_job(tmp_path):
    root = str(tmp_path / "trusty")
    node(root, "debian", UBUNTU_1404, qemu_kvm=snapgen.TRUSTY_DEFAULT,
         extra={"/etc/init/qemu-kvm.conf": "pre-start script\nend script\n"})
    result = audit(root)
    assert result["config"]["read_by"] == "/etc/init/qemu-kvm.conf (upstart pre-start, sh -e)"
    assert checks(result)["qemu_kvm.vhost_net_enabled"]["state"] == "fail"


def test_jammy_key_present_but_inert(tmp_path):
    """jammy-key-inert.notapplicable: Ubuntu >= 18.10 reads nothing even when the file sets the key."""
    root = str(tmp_path / "jammy")
    node(root, "debian", UBUNTU_2204, qemu_kvm=snapgen.TRUSTY_DEFAULT)
    c = checks(audit(root))["qemu_kvm.vhost_net_enabled"]
    assert c["state"] == "not_applicable" and "18.10" in c["reason"]


def test_rhel_node_qemu_kvm_comm(tmp_path):
    """rhel.pass: /usr/libexec/qemu-kvm, comm qemu-kvm, no defaults file."""
    root = str(tmp_path / "rhel")
    node(root, "rhel", RHEL_9, qemu_kvm=None, extra={"/usr/libexec/qemu-kvm": ""})
    cmd = os.path.join(root, "proc/4711/cmdline")
    argv = open(cmd, "rb").read().replace(b"/usr/bin/qemu-system-x86_64", b"/usr/libexec/qemu-kvm")
    _w(root, "/proc/4711/cmdline", argv, binary=True)
    _w(root, "/proc/4711/comm", "qemu-kvm\n")
    result = audit(root)
    assert result["sources"]["deployment"]["shape"] == "rhel"
    assert result["domains"][0]["nics"][0]["vhost"] is True
    assert checks(result)["qemu_kvm.vhost_net_enabled"]["state"] == "not_applicable"


def test_tripleo_logs_under_var_log_containers(tmp_path):
    root = str(tmp_path / "tripleo")
    node(root, "tripleo", RHEL_9, qemu_kvm=None, domains=[snapgen._dom(
        "instance-0000000a", 33, 4711, [snapgen._nic("fa:16:3e:00:33:01", syntax="keyval", vhost=True)],
        log=VHOST_ARGV_LOG % ("c-tripleo", "instance-0000000a"))])
    result = audit(root)
    assert result["sources"]["deployment"]["shape"] == "tripleo"
    assert result["domains"][0]["nics"][0]["vhost"] is False          # QEMU logged its fallback there


def test_override_per_host(tmp_path):
    root = str(tmp_path / "override")
    node(root, "debian", UBUNTU_2204)
    result = audit(root, deployment="openstack-ansible")
    assert result["sources"]["deployment"] == {"shape": "openstack-ansible", "overridden": True,
                                               "evidence": ["audit_deployment=openstack-ansible (inventory)"]}


def test_real_proc_kernel_threads_and_zombies_are_not_qemu(tmp_path):
    """real-proc.pass: kvm-pit/<pid>, kvm-nx-lpage-re, qemu-ga and a zombie qemu are never judged."""
    root = str(tmp_path / "realproc")
    node(root, "debian", UBUNTU_2204)
    result = audit(root)
    assert [d["name"] for d in result["domains"]] == ["vm-debian"]       # no orphan "qemu" entries
    assert result["state"] != "unknown" and checks(result)["domains.vhost"]["state"] == "pass"
    skipped = result["sources"]["processes_skipped"]
    assert skipped.get("kernel-thread") == 4 and skipped.get("zombie") == 1


def test_stale_status_files_are_said_stale_and_never_planned(tmp_path):
    """stale-status.notapplicable: one pid reused by bash, one pid gone."""
    root = str(tmp_path / "stale")
    node(root, "debian", UBUNTU_2204, domains=[
        snapgen._dom("reused-1", 34, 4711, [snapgen._nic("52:54:00:00:34:01")]),
        snapgen._dom("gone-1", 35, 4712, [snapgen._nic("52:54:00:00:35:01")], proc=False)])
    _w(root, "/proc/4711/cmdline", b"/bin/bash\0-l\0", binary=True)
    _w(root, "/proc/4711/comm", "bash\n")
    result = evaluate(collect(root=root, use_libvirt=False), validate({}))
    doms = dict((d["name"], d) for d in result["domains"])
    for name in ("reused-1", "gone-1"):
        assert doms[name]["state"] == "stale" and doms[name]["stale"] is True
        assert "stale" in doms[name]["reason"] and doms[name]["needs_restart"] is False
    assert "another process" in doms["reused-1"]["reason"] and "gone" in doms["gone-1"]["reason"]
    assert result["needs_restart"] == []
    assert checks(result)["domains.vhost"]["state"] == "not_applicable"


def test_detached_nic_is_not_judged_as_present(tmp_path):
    """detached-nic.pass: a NIC still in the argv but gone from the live XML."""
    root = str(tmp_path / "detached")
    node(root, "debian", UBUNTU_2204, domains=[snapgen._dom(
        "hot-1", 36, 4711, [snapgen._nic("52:54:00:00:36:01", syntax="keyval", vhost=True),
                            snapgen._nic("52:54:00:00:36:02", syntax="keyval")])])
    status = os.path.join(root, "run/libvirt/qemu/hot-1.xml")
    text = open(status).read()
    start = text.index("<interface", text.index("52:54:00:00:36:01"))
    end = text.index("</interface>", start) + len("</interface>")
    _w(root, "/run/libvirt/qemu/hot-1.xml", text[:start] + text[end:])
    result = audit(root)
    nics = dict((n["mac"], n) for n in result["domains"][0]["nics"])
    assert nics["52:54:00:00:36:02"]["state"] == "not_applicable" and nics["52:54:00:00:36:02"]["detached"]
    assert nics["52:54:00:00:36:01"]["vhost"] is True
    assert checks(result)["domains.vhost"]["state"] == "pass"


@pytest.mark.parametrize("name", sorted(deployment.SHAPES))
def test_every_shape_has_its_data(name):
    data = deployment.layout(name)
    for key in deployment.LAYOUT_KEYS:
        assert key in data, (name, key)
    for key in ("run_dir", "qemu_log_dir", "daemon_logs", "uri", "fix", "qemu_comm", "vhost_key_reason"):
        assert data[key], (name, key)


MODULES_DEP = """\
kernel/drivers/vhost/vhost_net.ko.zst: kernel/drivers/vhost/vhost.ko.zst kernel/drivers/vhost/vhost_iotlb.ko.zst kernel/drivers/net/tap.ko.zst kernel/drivers/net/tun.ko.zst
kernel/drivers/vhost/vhost.ko.zst: kernel/drivers/vhost/vhost_iotlb.ko.zst
kernel/drivers/vhost/vhost_iotlb.ko.zst:
kernel/drivers/net/tap.ko.zst:
kernel/drivers/net/tun.ko.zst:
kernel/drivers/vhost/vhost_vsock.ko.zst: kernel/drivers/vhost/vhost.ko.zst kernel/drivers/vhost/vhost_iotlb.ko.zst
"""
MODULES_ALIAS = """\
# Aliases extracted from modules themselves.
alias char-major-10-238 vhost_net
alias devname:vhost-net vhost_net
alias char-major-10-200 tun
alias devname:net/tun tun
alias char-major-10-241 vhost_vsock
"""
MODULES_DEVNAME = "# Device nodes to trigger on-demand module loading.\nvhost_net vhost-net c10:238\ntun net/tun c10:200\n"


def _loading_node(root, modprobe_d=None, cmdline="BOOT_IMAGE=/vmlinuz ro quiet", loaded=False):
    spec_modules = snapgen.MODULES_VHOST if loaded else snapgen.MODULES_BASE
    node(root, "debian", UBUNTU_2204)
    _w(root, "/proc/modules", spec_modules)
    rel = "/lib/modules/%s/" % snapgen.RELEASE
    _w(root, rel + "modules.dep", MODULES_DEP)
    _w(root, rel + "modules.alias", MODULES_ALIAS)
    _w(root, rel + "modules.devname", MODULES_DEVNAME)
    _w(root, rel + "modules.builtin", "kernel/drivers/net/bridge.ko\n")
    _w(root, "/proc/cmdline", cmdline + "\n")
    _w(root, "/etc/modules-load.d/vhost_net.conf", "vhost_net\n")
    for name, text in (modprobe_d or {}).items():
        _w(root, "/etc/modprobe.d/" + name, text)
    policy = validate({"checks": {"kernel.vhost_net_boot": {"level": "fail"}}})
    return evaluate(collect(root=root), policy, host_name="loading")


@pytest.mark.parametrize("scenario,modprobe_d,cmdline,boot,kind", [
    ("plain.pass", {}, "ro quiet", "pass", None),
    ("alias-shadows-name.fail", {"local.conf": "alias vhost_net off\n"}, "ro", "fail", "alias"),
    ("cmdline-modprobe-blacklist.fail", {}, "ro modprobe.blacklist=floppy,vhost_net", "fail", "cmdline"),
    ("cmdline-kernel-refuses.fail", {}, "ro module_blacklist=vhost", "fail", "kernel_cmdline"),
    ("install-on-dependency.fail", {"v.conf": "install vhost_iotlb /bin/false\n"}, "ro", "fail", "install"),
    ("softdep-overrides-install.pass", {"v.conf": "install vhost_net /bin/true\nsoftdep vhost_net pre: tun\n"},
     "ro", "pass", None),
    ("install-script.unknown", {"v.conf": "install vhost_net /usr/local/sbin/vhost-gate\n"}, "ro", "unknown",
     None),
    ("wrapper.pass", {"v.conf": "install vhost_net /sbin/modprobe tun; /sbin/modprobe --ignore-install vhost_net\n"},
     "ro", "pass", None),
])
def test_loading_rules_in_all_their_forms(tmp_path, scenario, modprobe_d, cmdline, boot, kind):
    """Boot verdicts from the whole loading rules (the same port the differential test checks against kmod)."""
    result = _loading_node(str(tmp_path / scenario), modprobe_d, cmdline)
    c = checks(result)["kernel.vhost_net_boot"]
    assert c["level"] == "fail" and c["state"] == boot, (scenario, c["reason"])
    kinds = [b["kind"] for b in result["kernel"]["blocks"]]
    if kind:
        assert kind in kinds, (scenario, result["kernel"]["blocks"])
    else:
        assert not [k for k in kinds if k in ("install", "alias", "cmdline", "kernel_cmdline")], kinds


@pytest.mark.parametrize("scenario,text,init,state", [
    ("trusty-false-stops-sh-e.fail", "false\nVHOST_NET_ENABLED=1\n", "/etc/init/qemu-kvm.conf", "fail"),
    ("xenial-false-harmless.pass", "false\nVHOST_NET_ENABLED=1\n", "/usr/share/qemu/init/qemu-kvm-init", "pass"),
    ("xenial-exit-before-job.fail", "VHOST_NET_ENABLED=1\nexit 0\n", "/usr/share/qemu/init/qemu-kvm-init", "fail"),
    ("trusty-sources-missing-file.fail", "VHOST_NET_ENABLED=1\n. /etc/default/qemu-kvm.local\n",
     "/etc/init/qemu-kvm.conf", "fail"),
    ("trusty-sources-extra-file.pass", ". /etc/default/qemu-kvm.extra\n", "/etc/init/qemu-kvm.conf", "pass"),
    ("trusty-logger-under-sh-e.unknown", "logger -t qemu-kvm start\nVHOST_NET_ENABLED=1\n", "/etc/init/qemu-kvm.conf",
     "unknown"),
])
def test_what_dash_does_when_the_job_sources_the_file(tmp_path, scenario, text, init, state):
    root = str(tmp_path / scenario)
    node(root, "debian", UBUNTU_1404 if "trusty" in scenario else UBUNTU_1604, qemu_kvm=text,
         extra={init: "x\n", "/etc/default/qemu-kvm.extra": "VHOST_NET_ENABLED=1\n"})
    c = checks(audit(root))["qemu_kvm.vhost_net_enabled"]
    assert c["state"] == state, (scenario, c["reason"])


@pytest.mark.parametrize("binary,comm,device", [
    ("/usr/bin/qemu-system-aarch64", "qemu-system-aar", "virtio-net-device"),
    ("/usr/bin/qemu-system-s390x", "qemu-system-s39", "virtio-net-ccw"),
])
def test_other_architectures(tmp_path, binary, comm, device):
    """aarch64 (virtio-net-device) and s390x (virtio-net-ccw) qemu processes are judged like x86 ones."""
    root = str(tmp_path / comm)
    node(root, "debian", UBUNTU_2204)
    argv = open(os.path.join(root, "proc/4711/cmdline"), "rb").read()
    argv = argv.replace(b"/usr/bin/qemu-system-x86_64", binary.encode()).replace(b"virtio-net-pci", device.encode())
    _w(root, "/proc/4711/cmdline", argv, binary=True)
    _w(root, "/proc/4711/comm", comm + "\n")
    result = audit(root)
    nic = result["domains"][0]["nics"][0]
    assert nic["vhost"] is True and nic["model"] == device, nic
    assert checks(result)["domains.vhost"]["state"] == "pass"


def test_corpus_focal_charmed_node_with_a_real_proc(tmp_path, corpus):
    """charmed-focal.config-na.pass: the hotsos focal node (Juju's file says 0, its VM runs vhost=on) with
    its os-release: on Ubuntu 20.04 nothing reads the key, so the file's 0 is inert, and the kernel threads
    and helpers of a real /proc are not taken for qemu processes."""
    root = str(tmp_path / "focal")
    _w(root, "/etc/default/qemu-kvm", corpus("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt"))
    _w(root, "/run/libvirt/qemu/instance-00000001.xml",
       corpus("nodes/domstatus.run-libvirt-qemu.instance-00000001.hotsos.xml"))
    _w(root, "/etc/libvirt/qemu/instance-00000001.xml",
       corpus("nodes/domain.etc-libvirt-qemu.instance-00000001.hotsos.xml"))
    _w(root, "/var/log/libvirt/qemu/instance-00000001.log", corpus("nodes/libvirt-qemu-log.instance-00000001.hotsos.log"))
    _w(root, "/etc/os-release", 'NAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\nID_LIKE=debian\n')
    real_proc(root)
    # The node's qemu, with the argv its log recorded at the last start.
    from nodeaudit.parsers import qemulog
    argv = qemulog.parse_qemu_log(corpus("nodes/libvirt-qemu-log.instance-00000001.hotsos.log"))["last_start"]["argv"]
    _w(root, "/proc/1791722/cmdline", ("\0".join(argv) + "\0").encode(), binary=True)
    _w(root, "/proc/1791722/comm", "qemu-system-x86\n")
    _w(root, "/proc/1791722/status", "Name:\tqemu-system-x86\nState:\tS (sleeping)\nPid:\t1791722\nPPid:\t1\n"
                                     "VmSize:\t 4812344 kB\n")
    result = audit(root)
    assert result["sources"]["deployment"]["shape"] == "charmed"
    c = checks(result)
    assert c["qemu_kvm.vhost_net_enabled"]["state"] == "not_applicable" and "18.10" in c["qemu_kvm.vhost_net_enabled"]["reason"]
    assert c["domains.vhost"]["state"] == "pass"
    assert [d["name"] for d in result["domains"]] == ["instance-00000001"]
    assert result["sources"]["processes_skipped"].get("kernel-thread") == 4
    gone = str(tmp_path / "focal-gone")
    shutil.copytree(root, gone, symlinks=True)
    shutil.rmtree(os.path.join(gone, "proc/1791722"))
    dom = audit(gone)["domains"][0]          # a whole /proc without the status file's pid: stale
    assert dom["stale"] is True and "gone" in dom["reason"] and dom["needs_restart"] is False
