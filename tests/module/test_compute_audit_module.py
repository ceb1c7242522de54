"""The Ansible module, run in-process through patch_module_args (ansible-core 2.19)."""
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from library_loader import load_module

SNAP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "snapshots")


def run(capsys, args):
    module = load_module("compute_audit")
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = json.loads(capsys.readouterr().out)
    return exc.value.code, out


def test_snapshot_audit_returns_the_audit(capsys):
    code, out = run(capsys, {"root": os.path.join(SNAP, "trusty-2014.fail"), "host_name": "h1"})
    assert code == 0
    assert out["changed"] is False
    audit = out["audit"]
    assert audit["state"] == "fail"
    assert [c["id"] for c in audit["checks"]][:1] == ["qemu_kvm.vhost_net_enabled"]
    assert {"keepalived-lb01", "web-1"} == set(audit["needs_restart"])
    for dom in audit["domains"]:
        assert set(dom) >= {"name", "uuid", "state", "pid", "needs_restart", "nics"}
        for nic in dom["nics"]:
            assert set(nic) >= {"mac", "model", "backend", "netdev", "queues", "vhost", "reason"}


def test_check_mode_is_supported_and_reads_the_same(capsys):
    root = os.path.join(SNAP, "compliant-keyval.pass")
    _, plain = run(capsys, {"root": root})
    code, checked = run(capsys, {"root": root, "_ansible_check_mode": True})
    assert code == 0
    assert checked["audit"]["state"] == plain["audit"]["state"] == "pass"


def test_bad_policy_is_the_modules_own_failure(capsys):
    code, out = run(capsys, {"root": os.path.join(SNAP, "builtin.pass"),
                             "policy": {"checks": {"kernel.vhost_net": {"level": "loud"}}}})
    assert code == 1
    assert out["failed"] is True
    assert "checks.kernel.vhost_net.level" in out["msg"]


def test_missing_root_fails_clearly(capsys, tmp_path):
    code, out = run(capsys, {"root": str(tmp_path / "nope")})
    assert code == 1
    assert "is not a directory" in out["msg"]


def test_unknown_option_is_rejected(capsys):
    code, out = run(capsys, {"root": "/", "bogus": 1})
    assert code == 1
    assert "bogus" in out["msg"]
