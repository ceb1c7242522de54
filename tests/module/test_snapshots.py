"""Snapshot scenarios: each folder tests/snapshots/<scenario>.<state>/ is a node,
and its expect.yml says what the audit must find. The folder listing shows the
whole behaviour of the auditor.
"""
import json
import os

import pytest
import yaml

from nodeaudit.sources.collect import collect
from nodeaudit.evaluate import evaluate
from nodeaudit.policy import DEFAULT_POLICY, validate

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "snapshots")
SCENARIOS = sorted(d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, "expect.yml")))


def audit(root, policy=None):
    return evaluate(collect(root=root), validate(policy or DEFAULT_POLICY), host_name="snap")


def test_there_are_scenarios_for_every_state():
    states = set(s.rsplit(".", 1)[1] for s in SCENARIOS)
    assert {"pass", "fail", "unknown", "error"} <= states


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario):
    root = os.path.join(HERE, scenario)
    with open(os.path.join(root, "expect.yml")) as handle:
        expect = yaml.safe_load(handle)
    result = audit(root)
    assert result["mode"] == "snapshot"
    assert result["sources"]["domains"] == "snapshot"
    checks = dict((c["id"], c) for c in result["checks"])
    for check_id, state in expect["checks"].items():
        assert checks[check_id]["state"] == state, (check_id, checks[check_id])
    assert result["state"] == expect["state"]
    for check in result["checks"]:
        if check["state"] != "pass":
            assert check["reason"], check
        assert check["expected"] and check["actual"] is not None
    domains = dict((d["name"], d) for d in result["domains"])
    for name, want in expect["domains"].items():
        dom = domains[name]
        assert dom["needs_restart"] == want["needs_restart"], dom
        if "state" in want:
            assert dom["state"] == want["state"]
        nics = dict((n["mac"], n) for n in dom["nics"])
        assert set(nics) == set(want["nics"]), (name, list(nics))
        for mac, vhost in want["nics"].items():
            assert nics[mac]["vhost"] is vhost, (name, nics[mac])
            if vhost is not True:
                assert nics[mac]["reason"], nics[mac]
            assert nics[mac]["evidence"] or vhost is None


def test_no_secret_from_the_node_reaches_the_result():
    for scenario in SCENARIOS:
        blob = json.dumps(audit(os.path.join(HERE, scenario)))
        assert "c2VjcmV0LWNlcGgta2V5LWRvLW5vdC1sZWFr" not in blob
        assert "aXYtZG8tbm90LWxlYWs=" not in blob
        assert "vnc-secret" not in blob


def test_evidence_names_file_pid_and_argv():
    result = audit(os.path.join(HERE, "trusty-2014.fail"))
    checks = dict((c["id"], c) for c in result["checks"])
    assert any("/etc/default/qemu-kvm:7: VHOST_NET_ENABLED=0" in e for e in checks["qemu_kvm.vhost_net_enabled"]["evidence"])
    dom = [d for d in result["domains"] if d["name"] == "keepalived-lb01"][0]
    assert dom["pid"] == 2101
    assert any("/proc/2101/cmdline argv[" in e and "-netdev" not in e or "tap" in e for e in dom["nics"][0]["evidence"])
    assert any(e.startswith("/proc/2101/cmdline argv[") for e in dom["nics"][0]["evidence"])


def test_policy_level_warn_and_domain_exemption():
    root = os.path.join(HERE, "trusty-2014.fail")
    policy = {"checks": {"qemu_kvm.vhost_net_enabled": {"level": "warn"},
                         "domains.vhost": {"exempt": {"domains": ["keepalived-*", "web-*"], "reason": "migrating"}}}}
    result = audit(root, policy)
    checks = dict((c["id"], c) for c in result["checks"])
    assert checks["qemu_kvm.vhost_net_enabled"]["state"] == "warn"
    assert checks["domains.vhost"]["state"] == "not_applicable"
    assert all(d["exempt"] for d in result["domains"])
    assert result["needs_restart"] == []


def test_host_exemption_keeps_what_was_found_as_evidence():
    root = os.path.join(HERE, "trusty-2014.fail")
    result = audit(root, {"checks": {"kernel.vhost_net": {"exempt": {"hosts": ["snap"], "reason": "no vhost kernel"}}}})
    check = [c for c in result["checks"] if c["id"] == "kernel.vhost_net"][0]
    assert check["state"] == "not_applicable"
    assert "no vhost kernel" in check["reason"]
    assert check["evidence"][0].startswith("found: fail")


def test_settings_check_compares_other_keys():
    root = os.path.join(HERE, "trusty-2014.fail")
    result = audit(root, {"checks": {"qemu_kvm.settings": {"level": "fail", "expected": {"KSM_ENABLED": "0",
                                                                                           "KVM_HUGEPAGES": 0}}}})
    check = [c for c in result["checks"] if c["id"] == "qemu_kvm.settings"][0]
    assert check["state"] == "fail"
    assert "KSM_ENABLED='1' (want 0)" in check["reason"]
    assert "KVM_HUGEPAGES" not in check["reason"]


def test_unlistable_status_directory_is_an_error(tmp_path):
    import shutil
    root = tmp_path / "node"
    shutil.copytree(os.path.join(HERE, "trusty-2014.fail"), str(root), symlinks=True)
    shutil.rmtree(str(root / "run/libvirt/qemu"))
    (root / "run/libvirt/qemu").write_text("not a directory")
    shutil.rmtree(str(root / "proc"))
    result = audit(str(root))
    check = [c for c in result["checks"] if c["id"] == "domains.vhost"][0]
    assert check["state"] == "error", check
    assert "cannot list the running domains" in check["reason"]
