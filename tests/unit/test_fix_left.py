"""audit_host_status: what --tags fix still could have fixed (then the host fails), and what it must not."""
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("audit_host_status", os.path.join(REPO, "action_plugins",
                                                                                "audit_host_status.py"))
status = importlib.util.module_from_spec(spec)
spec.loader.exec_module(status)


def _entry(value, kernel_state="pass", loaded=True, module_support=True, blacklisted=False):
    # The audit's structured fields (CONTRACT.md): remediation reads these, never a reason.
    blocks = [{"kind": "blacklist", "path": "/etc/modprobe.d/bl.conf", "line": 1, "raw": "blacklist vhost_net",
               "module": "vhost_net", "stops": ["alias", "modprobe -b"]}] if blacklisted else []
    return {"reachable": True, "mode": "live",
            "config": {"path": "/etc/default/qemu-kvm", "status": "ok", "vhost_net_enabled": value,
                       "sourceable": True, "syntax_error": None, "key_line": 3, "read_by": "the qemu-kvm boot job"},
            "kernel": {"vhost_net_loaded": loaded if module_support else None, "vhost_net_builtin": False,
                       "dev_vhost_net": loaded, "blacklisted": blacklisted, "install_blocked": False,
                       "module_support": module_support, "can_provide": bool(loaded),
                       "can_provide_reason": None if loaded else "/dev/vhost-net is absent", "blocks": blocks},
            "checks": [{"id": "qemu_kvm.vhost_net_enabled", "state": "pass" if value == "1" else "fail"},
                       {"id": "kernel.vhost_net", "state": kernel_state},
                       {"id": "kernel.vhost_net_boot", "state": "pass" if value == "1" else "warn"},
                       {"id": "domains.vhost", "state": "fail"}],
            "domains": [], "needs_restart": ["lb1"]}


def test_config_still_wrong_after_the_fix_is_drift_it_could_have_fixed():
    left, _ = status.fix_left(_entry("0"), {})
    assert left == ["VHOST_NET_ENABLED is still '0' in /etc/default/qemu-kvm",
                    "vhost_net is still not persisted at boot"]


def test_what_it_must_not_fix_is_not_left():
    # Config fixed, kernel has no module support: nothing the fix could do.
    left, notes = status.fix_left(_entry("1", kernel_state="fail", loaded=False, module_support=False), {})
    assert left == [] and any("kernel cannot provide" in n for n in notes)
    # A blacklist the policy keeps is not the fix's to remove.
    left, notes = status.fix_left(_entry("1", kernel_state="fail", loaded=False, blacklisted=True), {})
    assert left == [] and any("left as is" in n for n in notes)


def test_a_loadable_module_not_loaded_is_left_unless_the_kernel_has_none():
    entry = _entry("1", kernel_state="fail", loaded=False)
    assert status.fix_left(entry, {})[0] == ["vhost_net is still not loaded"]
    assert status.fix_left(entry, {}, kernel_cannot_provide=True)[0] == []
