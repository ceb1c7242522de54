"""controller/probe_report: instances across hosts, one master timeline, joined with the audit verdicts."""
import doctest
import json
import os
import subprocess

import jsonschema
import pytest

from nodeaudit.combiners import adverts
from nodeaudit.controller import probe_report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = json.load(open(os.path.join(REPO, "docs", "probe.schema.json")))
LB1, LB2 = "192.0.2.11", "192.0.2.12"
POLICY = {"ha_groups": [{"name": "keepalived-lb", "domains": ["keepalived-lb*"]}]}


def nic(domain, mac, tap, events, start=0.0, end=60.0):
    return {"domain": domain, "mac": mac, "tap": tap, "error": None, "kernel": {"packets": len(events), "drops": 0},
            "frames": len(events), "malformed": [], "malformed_count": 0,
            "instances": adverts.summarise_nic(events, start=start, end=end)}


def ev(t, direction, src, prio):
    return {"t": float(t), "dir": direction, "flow": ("vrrp", 51), "src": src, "priority": prio,
            "advert_int_s": 1.0, "version": 2, "family": 4}


def probe(host, nics):
    return {"host": host, "started": 0.0, "ended": 60.0, "seconds": 60, "traffic": "vrrp",
            "cpu": {"pct": 0.03}, "nics": nics, "errors": []}


def audit(domain, mac, vhost, typ="kvm"):
    return {"domains": [{"name": domain, "type": typ, "needs_restart": vhost is False, "verdict": "fail",
                         "nics": [{"mac": mac, "vhost": vhost, "state": "fail" if vhost is False else "pass",
                                   "reason": "virtio NIC without vhost-net" if vhost is False else None}]}]}


def crime():
    """lb01 (compute-1) starved 5 s from t=20: lb02 (compute-2) takes over, lb01 preempts back."""
    lb1_sent = list(range(0, 21)) + [25.1 + i for i in range(35)]
    lb2_sent = [23.61, 24.61, 25.2]
    on1 = [ev(t, "sent", LB1, 150) for t in lb1_sent] + [ev(t + 0.001, "heard", LB2, 100) for t in lb2_sent]
    on2 = [ev(t, "sent", LB2, 100) for t in lb2_sent] + [ev(t + 0.001, "heard", LB1, 150) for t in lb1_sent]
    probes = {"compute-1": probe("compute-1", [nic("keepalived-lb01", "52:54:00:00:01:01", "tap1", on1)]),
              "compute-2": probe("compute-2", [nic("keepalived-lb02", "52:54:00:00:01:02", "tap2", on2),
                                               nic("web-1", "52:54:00:00:02:01", "tap3", [])])}
    audits = {"compute-1": audit("keepalived-lb01", "52:54:00:00:01:01", False),
              "compute-2": audit("keepalived-lb02", "52:54:00:00:01:02", True)}
    return probes, audits


def test_doctests():
    result = doctest.testmod(probe_report)
    assert result.attempted > 0 and result.failed == 0


def test_crime_one_instance_two_members_two_changes_lb01_late_and_userspace():
    probes, audits = crime()
    doc = probe_report.build(probes, audits, POLICY, generated_at="2026-12-01T00:00:00Z")
    jsonschema.validate(doc, SCHEMA)
    [inst] = doc["instances"]
    assert inst["vrid"] == 51 and inst["status"] == "flapped"
    assert [(m["host"], m["domain"], m["mac"]) for m in inst["members"]] == [
        ("compute-1", "keepalived-lb01", "52:54:00:00:01:01"), ("compute-2", "keepalived-lb02", "52:54:00:00:01:02")]
    assert [(c["from_domain"], c["to_domain"], c["reason"]) for c in inst["master_changes"]] == [
        ("keepalived-lb01", "keepalived-lb02", "timeout"), ("keepalived-lb02", "keepalived-lb01", "preempt")]
    lb1, lb2 = inst["members"]
    assert lb1["late_count"] == 1 and abs(lb1["max_gap_s"] - 5.1) < 1e-6 and lb1["late"][0]["t"] == 25.1
    assert lb2["late_count"] == 0  # preempted by lb01: its silence afterwards is not lateness
    assert lb1["datapath"] == "virtio in userspace" and lb2["datapath"] == "vhost-net"
    assert "keepalived-lb01's adverts up to 5.1 s late" in inst["summary"]
    assert "keepalived-lb01's NIC runs virtio in userspace" in inst["summary"]
    assert "2 master changes in 60 s" in inst["summary"]
    assert doc["failing"] == [51] and doc["exit_code"] == 2
    assert {"host": "compute-2", "domain": "web-1", "tap": "tap3"} in doc["quiet_nics"]


def test_steady_pair_backup_is_silent_member_by_policy_and_ok():
    lb1 = [float(t) for t in range(60)]
    on1 = [ev(t, "sent", LB1, 150) for t in lb1]
    on2 = [ev(t + 0.001, "heard", LB1, 150) for t in lb1]
    probes = {"c1": probe("c1", [nic("keepalived-lb01", "m1", "t1", on1)]),
              "c2": probe("c2", [nic("keepalived-lb02", "m2", "t2", on2), nic("web-9", "m3", "t3", on2)])}
    doc = probe_report.build(probes, {}, POLICY)
    jsonschema.validate(doc, SCHEMA)
    [inst] = doc["instances"]
    assert [(m["domain"], m.get("role")) for m in inst["members"]] == [
        ("keepalived-lb01", None), ("keepalived-lb02", "silent (backup)")]
    assert inst["listeners"] == [{"host": "c2", "domain": "web-9", "tap": "t3", "vrrp_joins": []}]
    assert inst["status"] == "ok" and doc["exit_code"] == 0 and inst["master_changes"] == []
    assert inst["members"][0]["datapath"].startswith("unknown")
    # without the policy the backup cannot be told from a bystander
    doc = probe_report.build(probes, {}, None)
    assert [m["domain"] for m in doc["instances"][0]["members"]] == ["keepalived-lb01"]


def test_graceful_rollout_is_not_a_flap():
    lb1 = [ev(t, "sent", LB1, 150) for t in range(10)] + [ev(10.0, "sent", LB1, 0)]
    lb1 += [ev(25 + t, "sent", LB1, 150) for t in range(36)]
    lb2 = [ev(10.61 + t, "sent", LB2, 100) for t in range(15)]
    probes = {"c1": probe("c1", [nic("keepalived-lb01", "m1", "t1", lb1)]),
              "c2": probe("c2", [nic("keepalived-lb02", "m2", "t2", lb2)])}
    doc = probe_report.build(probes, {}, POLICY, fail_on=("flapped", "late"))
    [inst] = doc["instances"]
    assert [c["reason"] for c in inst["master_changes"]] == ["handover", "preempt"]
    assert inst["status"] == "ok" and doc["exit_code"] == 0
    assert abs(inst["max_no_master_s"] - 0.61) < 1e-6


def test_late_without_flap_and_fail_on():
    lb1 = [ev(t, "sent", LB1, 150) for t in (0, 1, 2, 4.0, 5, 6)]
    probes = {"c1": probe("c1", [nic("keepalived-lb01", "m1", "t1", lb1)])}
    doc = probe_report.build(probes, {}, POLICY)
    assert doc["instances"][0]["status"] == "late" and doc["exit_code"] == 2
    assert probe_report.build(probes, {}, POLICY, fail_on=("flapped",))["exit_code"] == 0


def test_external_sender_joins_the_timeline_once():
    router = "198.51.100.1"
    heard = [ev(t, "heard", router, 200) for t in range(10)]
    probes = {"c1": probe("c1", [nic("vm-a", "m1", "t1", heard)]), "c2": probe("c2", [nic("vm-b", "m2", "t2", heard)])}
    doc = probe_report.build(probes, {}, None)
    [inst] = doc["instances"]
    assert inst["members"] == [] and inst["external_sources"] == [router]
    assert inst["timeline"][0]["master"] == router and inst["master_changes"] == []


def test_missing_probe_and_errors_are_reported():
    probes, audits = crime()
    probes["compute-3"] = None
    probes["compute-2"]["errors"] = ["cannot capture on tapX: No such device"]
    doc = probe_report.build(probes, audits, POLICY)
    assert {"host": "compute-3", "error": "no probe result"} in doc["errors"]
    assert any("tapX" in e["error"] for e in doc["errors"])
    md = probe_report.markdown(doc)
    assert "## VRID 51" in md and "timeout" in md and "compute-3: no probe result" in md
    assert probe_report.terminal(doc)[-1].startswith("probe status: flapped -> exit 2")


def test_tcg_guest_is_not_applicable():
    probes, _ = crime()
    audits = {"compute-1": audit("keepalived-lb01", "52:54:00:00:01:01", None, typ="qemu")}
    doc = probe_report.build(probes, audits, POLICY)
    assert doc["instances"][0]["members"][0]["datapath"].startswith("not applicable (TCG guest")


@pytest.mark.skipif(not os.path.exists("/usr/bin/promtool"), reason="promtool not installed")
def test_prometheus_text_passes_promtool(tmp_path):
    probes, audits = crime()
    text = probe_report.prometheus(probe_report.build(probes, audits, POLICY))
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'nodeaudit_vrrp_master_changes{vrid="51",family="4"} 2.0' in text
