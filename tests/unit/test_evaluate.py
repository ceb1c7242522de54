"""Evaluation is a pure function: facts in, verdicts out. Literal facts, one case each."""
import copy

import pytest

from nodeaudit.evaluate import evaluate, judge_domain
from nodeaudit.sources import facts as F
from nodeaudit.policy import validate

MAC = "52:54:00:aa:bb:01"


def argv(netdev, device='{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"%s"}' % MAC,
         accel="kvm"):
    out = ["/usr/bin/qemu-system-x86_64", "-name", "guest=vm1", "-accel", accel]
    if netdev:
        out += ["-netdev", netdev]
    if device:
        out += ["-device", device]
    return out


def proc(args, vhost_fds=(), fds=True, pid=100):
    return F.process(args, pid=pid, vhost_fds=vhost_fds, fds=fds)


def iface(mac=MAC, **kw):
    return F.iface(mac, **kw)


def dom(process, ifaces=None, dtype="kvm", state="running", log=None):
    return F.domain(proc=process, state=state, log=log,
                    xml=F.xml(type=dtype, interfaces=ifaces if ifaces is not None else [iface()]))


def nic(d, mode="live"):
    out = judge_domain(d, mode)
    assert len(out["nics"]) >= 1
    return out, out["nics"][0]


def test_keyval_vhost_with_vhostfd_held_passes():
    out, n = nic(dom(proc(argv("tap,fd=30,id=hostnet0,vhost=on,vhostfd=31"), vhost_fds=[31])))
    assert n["vhost"] is True and out["needs_restart"] is False
    assert any("/proc/100/fd/{31} -> /dev/vhost-net" in e for e in n["evidence"])
    assert any("vhost-100" in e for e in n["evidence"])


def test_vhostfd_in_argv_but_not_a_vhost_fd_is_unknown():
    out, n = nic(dom(proc(argv("tap,fd=30,id=hostnet0,vhost=on,vhostfd=31"), vhost_fds=[])))
    assert n["vhost"] is None and n["state"] == "unknown"
    assert "/proc/100/fd/31 is not /dev/vhost-net" in n["reason"]
    assert out["verdict"] == "unknown"


def test_vhost_on_without_vhostfd_judged_by_held_fds():
    _, n = nic(dom(proc(argv("tap,ifname=tap0,id=hostnet0,vhost=on"), vhost_fds=[40])))
    assert n["vhost"] is True
    _, n = nic(dom(proc(argv("tap,ifname=tap0,id=hostnet0,vhost=on"), vhost_fds=[])))
    assert n["vhost"] is False and "holds no fd to /dev/vhost-net" in n["reason"]


def test_vhostforce_counts_as_requested():
    _, n = nic(dom(proc(argv("tap,fd=30,id=hostnet0,vhostforce=on,vhostfd=31"), vhost_fds=[31])))
    assert n["vhost"] is True


def test_json_without_vhost_fails_and_needs_restart():
    out, n = nic(dom(proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}'))))
    assert n["vhost"] is False and out["needs_restart"] is True
    assert "no vhost=on" in n["reason"]


def test_explicit_vhost_off_is_named():
    _, n = nic(dom(proc(argv("tap,fd=30,id=hostnet0,vhost=off"))))
    assert n["vhost"] is False and "vhost=off" in n["reason"]


def test_xml_asking_for_vhost_is_not_evidence():
    out, n = nic(dom(proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}')), [iface(driver_name="vhost")]))
    assert n["vhost"] is False and out["needs_restart"] is True
    assert "the XML is not evidence" in n["reason"]


def test_driver_qemu_fails_but_a_restart_would_not_help():
    out, n = nic(dom(proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}')), [iface(driver_name="qemu")]))
    assert n["vhost"] is False and n["state"] == "fail"
    assert out["needs_restart"] is False
    assert "change the XML first" in n["reason"]


def test_log_fallback_overrides_argv():
    log = F.log_record("/var/log/libvirt/qemu/vm1.log", [(9, "vhost-net requested but could not be initialized")])
    out, n = nic(dom(proc(argv("tap,fd=30,id=hostnet0,vhost=on,vhostfd=31"), vhost_fds=[31]), log=log))
    assert n["vhost"] is False and out["needs_restart"] is True
    assert any("/var/log/libvirt/qemu/vm1.log:9:" in e for e in n["evidence"])


def test_non_virtio_model_is_not_applicable():
    dev = '{"driver":"e1000","netdev":"hostnet0","id":"net0","mac":"%s"}' % MAC
    out, n = nic(dom(proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}', dev)), [iface(model="e1000")]))
    assert n["vhost"] is None and n["state"] == "not_applicable" and "e1000" in n["reason"]
    assert out["needs_restart"] is False and out["verdict"] == "not_applicable"


@pytest.mark.parametrize("netdev,word", [
    ('{"type":"vhost-user","chardev":"c0","id":"hostnet0"}', "vhost-user"),
    ('{"type":"vhost-vdpa","vhostdev":"/dev/vhost-vdpa-0","id":"hostnet0"}', "vhost-vdpa"),
    ('{"type":"user","id":"hostnet0"}', "user-mode"),
    ('{"type":"socket","listen":":2015","id":"hostnet0"}', "not a tap"),
])
def test_other_datapaths_are_not_failures(netdev, word):
    out, n = nic(dom(proc(argv(netdev)), []))
    assert n["vhost"] is None and n["state"] == "not_applicable" and word in n["reason"]
    assert out["needs_restart"] is False


def test_legacy_net_never_has_vhost():
    args = ["/usr/bin/kvm", "-enable-kvm", "-net", "nic,macaddr=%s,vlan=0,model=virtio" % MAC,
            "-net", "tap,fd=30,vlan=0"]
    out, n = nic(dom(proc(args), []))
    assert n["vhost"] is False and "legacy" in n["reason"] and out["needs_restart"] is True


def test_tcg_domain_is_not_applicable_by_xml_or_by_argv():
    out = judge_domain(dom(proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}')), dtype="qemu"), "live")
    assert out["verdict"] == "not_applicable" and "TCG" in out["reason"] and not out["needs_restart"]
    no_xml = dom(proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}', accel="tcg")))
    no_xml["xml"] = None
    out = judge_domain(no_xml, "live")
    assert out["verdict"] == "not_applicable" and "-accel tcg" in out["reason"]


def test_hotplugged_nic_judged_by_spare_vhost_fds():
    second = iface(mac="52:54:00:aa:bb:02", alias="net1")
    d = dom(proc(argv("tap,fd=30,id=hostnet0,vhost=on,vhostfd=31"), vhost_fds=[31, 45]), [iface(), second])
    out = judge_domain(d, "live")
    by_mac = dict((n["mac"], n) for n in out["nics"])
    assert by_mac[MAC]["vhost"] is True
    assert by_mac["52:54:00:aa:bb:02"]["vhost"] is True
    d = dom(proc(argv("tap,fd=30,id=hostnet0,vhost=on,vhostfd=31"), vhost_fds=[31]), [iface(), second])
    by_mac = dict((n["mac"], n) for n in judge_domain(d, "live")["nics"])
    assert by_mac["52:54:00:aa:bb:02"]["vhost"] is False
    d = dom(proc(argv("tap,fd=30,id=hostnet0,vhost=on,vhostfd=31"), fds=False), [iface(), second])
    by_mac = dict((n["mac"], n) for n in judge_domain(d, "live")["nics"])
    assert by_mac["52:54:00:aa:bb:02"]["vhost"] is None


def test_device_to_missing_netdev_is_unknown_not_pass():
    dev = '{"driver":"virtio-net-pci","netdev":"hostnet9","id":"net0","mac":"%s"}' % MAC
    out = judge_domain(dom(proc(argv(None, dev))), "live")
    assert [n["state"] for n in out["nics"]] == ["unknown"]
    assert out["verdict"] == "unknown"


def test_vanished_process_is_unknown_with_the_reason():
    gone = F.process(None, status="missing", reason="qemu pid 100: no such process")
    out = judge_domain(dom(gone), "live")
    assert out["verdict"] == "unknown" and "no such process" in out["reason"]
    assert [n["vhost"] for n in out["nics"]] == [None]


def test_shutoff_domain_is_not_applicable():
    out = judge_domain(dom(None, state="shutoff"), "live")
    assert out["verdict"] == "not_applicable" and out["nics"][0]["state"] == "not_applicable"


def facts(files=None, **extra):
    """A compliant node (VHOST_NET_ENABLED=1, vhost_net loaded, /dev/vhost-net), with ``files`` changed."""
    return F.node(files, **extra)


def states(f, policy=None):
    return dict((c["id"], (c["state"], c["reason"])) for c in evaluate(f, validate(policy or {}))["checks"])


def test_compliant_node():
    s = states(facts())
    assert s["qemu_kvm.vhost_net_enabled"][0] == "pass"
    assert s["kernel.vhost_net"][0] == "pass"
    assert s["kernel.vhost_net_boot"][0] == "pass"
    assert s["domains.vhost"] == ("not_applicable", s["domains.vhost"][1])


QK = "/etc/default/qemu-kvm"


@pytest.mark.parametrize("line,state,word", [
    ("VHOST_NET_ENABLED=0\n", "fail", "'0'"), ("VHOST_NET_ENABLED=yes\n", "fail", "'yes'"),
    ("VHOST_NET_ENABLED=1\r\n", "fail", "CRLF"), ('VHOST_NET_ENABLED=" 1"\n', "fail", "white space"),
    ("VHOST_NET_ENABLED=1\n", "pass", None),
])
def test_vhost_net_enabled_values(line, state, word):
    got = states(facts({QK: line}))["qemu_kvm.vhost_net_enabled"]
    assert got[0] == state
    if word:
        assert word in got[1]


def test_uncertain_value_is_unknown_and_syntax_error_fails():
    f = facts({QK: "VHOST_NET_ENABLED=$(cat /x)\n"})
    assert states(f)["qemu_kvm.vhost_net_enabled"][0] == "unknown"
    f = facts({QK: "A=1\nB=2\nC=3\nVHOST_NET_ENABLED='1\n"})
    state, reason = states(f)["qemu_kvm.vhost_net_enabled"]
    assert state == "fail" and "/etc/default/qemu-kvm:4" in reason


def test_unreadable_file_is_error():
    f = facts({QK: "#" * (4 * 1024 * 1024 + 1)})
    state, reason = states(f)["qemu_kvm.vhost_net_enabled"]
    assert state == "error" and reason.startswith("/etc/default/qemu-kvm is larger than the")
    f = facts({QK: F.Unreadable("denied", "Permission denied")})
    assert states(f)["qemu_kvm.vhost_net_enabled"] == ("error", "/etc/default/qemu-kvm: Permission denied")


NO_MODULE = {"/proc/modules": F.MODULES_NONE, "/sys/module/vhost_net": None}


def test_kernel_module_missing_and_blacklist_named():
    f = facts(dict(NO_MODULE, **{"/etc/modprobe.d/bl.conf": "blacklist vhost_net\n"}), dev=False)
    s = states(f)
    assert s["kernel.vhost_net"][0] == "fail" and "blacklisted (/etc/modprobe.d/bl.conf:1" in s["kernel.vhost_net"][1]
    assert s["kernel.vhost_net_boot"][0] == "warn"     # raw fail; the default policy level for it is warn
    assert states(f, {"checks": {"kernel.vhost_net_boot": {"level": "fail"}}})["kernel.vhost_net_boot"][0] == "fail"


def test_static_node_without_module_is_warn_unless_blocked():
    f = facts(NO_MODULE)
    assert states(f)["kernel.vhost_net"][0] == "warn"
    f = facts(dict(NO_MODULE, **{"/etc/modprobe.d/x.conf": "install vhost_net /bin/true\n"}))
    assert states(f)["kernel.vhost_net"][0] == "fail"


def test_unreadable_kernel_state_is_unknown():
    f = facts({"/proc/modules": F.Unreadable("denied", "Permission denied"), "/sys/module/vhost_net": None,
               "/lib/modules/5.4.0/modules.builtin": None, "/dev/vhost-net": F.Unreadable()}, dev=False)
    assert states(f)["kernel.vhost_net"][0] == "unknown"


def test_off_level_and_worst_state():
    f = facts({QK: "VHOST_NET_ENABLED=0\n"})
    result = evaluate(f, validate({}))
    assert result["state"] == "fail"
    result = evaluate(f, validate({"checks": {"qemu_kvm.vhost_net_enabled": {"level": "off"}}}))
    check = result["checks"][0]
    assert check["state"] == "not_applicable" and "off in the policy" in check["reason"]
    assert result["state"] == "warn"        # kernel.vhost_net_boot: nothing loads vhost_net at boot


def test_orphan_qemu_is_judged_but_never_planned_for_restart():
    f = facts(orphans=[proc(argv('{"type":"tap","fd":"30","id":"hostnet0"}'), pid=777)])
    result = evaluate(f, validate({}))
    assert result["domains"][0]["name"] == "vm1 (qemu pid 777, not known to libvirt)"
    assert result["domains"][0]["verdict"] == "fail" and result["domains"][0]["needs_restart"] is False
    assert result["needs_restart"] == []
    assert [c["state"] for c in result["checks"] if c["id"] == "domains.vhost"] == ["fail"]


def test_uncertain_without_assignment_is_unknown_not_absent():
    f = facts({QK: "read VHOST_NET_ENABLED\n"})
    assert states(f)["qemu_kvm.vhost_net_enabled"][0] == "unknown"


def test_unset_after_assignment_fails():
    f = facts({QK: "VHOST_NET_ENABLED=1\nunset VHOST_NET_ENABLED\n"})
    state, reason = states(f)["qemu_kvm.vhost_net_enabled"]
    assert state == "fail" and "unset later" in reason


def test_domains_that_could_not_be_listed_are_an_error_not_absent():
    f = facts(domains_error="cannot list the running domains: /run/libvirt/qemu: Permission denied")
    state, reason = states(f)["domains.vhost"]
    assert state == "error" and "Permission denied" in reason


def test_structured_kernel_and_config_fields_for_the_fix():
    f = facts(dict(NO_MODULE, **{"/etc/modprobe.d/bl.conf": "# baseline\nblacklist vhost_net\n",
                                 "/etc/modprobe.d/vh.conf": "install vhost /bin/false\n",
                                 QK: "KSM_ENABLED=1\nVHOST_NET_ENABLED=0\n"}))
    result = evaluate(f, validate({}))
    k, c = result["kernel"], result["config"]
    assert k["blocks"] == [
        {"kind": "blacklist", "path": "/etc/modprobe.d/bl.conf", "line": 2, "raw": "blacklist vhost_net",
         "module": "vhost_net", "stops": ["alias", "modprobe -b", "systemd-modules-load"]},
        {"kind": "install", "path": "/etc/modprobe.d/vh.conf", "line": 1, "raw": "install vhost /bin/false",
         "module": "vhost", "stops": ["all"]}]
    assert k["install_blocked"] is True and k["can_provide"] is False and "blocks every load" in k["can_provide_reason"]
    assert k["module_support"] is True
    assert (c["sourceable"], c["key_line"], c["vhost_net_enabled"], c["syntax_error"]) == (True, 2, "0", None)
    f = facts({QK: "VHOST_NET_ENABLED='1\n"})
    c = evaluate(f, validate({}))["config"]
    assert c["sourceable"] is False and c["syntax_error"]["line"] == 1 and c["key_line"] is None
    ok = evaluate(facts(), validate({}))["kernel"]
    assert (ok["can_provide"], ok["can_provide_reason"], ok["blocks"]) == (True, None, [])
    gone = evaluate(facts({"/proc/modules": None, "/sys/module/vhost_net": None}, dev=False), validate({}))["kernel"]
    assert gone["module_support"] is False and gone["can_provide"] is False
    assert "no loadable module support" in gone["can_provide_reason"]
