"""The real keepalived guests (tests/lab/guests.py): the crime, the probe, the rollout that keeps the VIP up.

Two TCG guests boot from Debian's cloud kernel with keepalived (lb01 priority
150 on guest-1, lb02 100 on guest-2). The tests assert thresholds, never exact
times (TCG guests share two cores with everything else):

- the audit calls their NICs not applicable for vhost-net (TCG, no KVM);
- the crime: lb01's qemu SIGSTOPped 5 s while probe.yml captures: a gap over
  3 s in lb01's adverts, at least one master change, probe.yml exits 2, and
  lb02's console agrees (it became MASTER, then BACKUP again);
- the rollout (audit.yml --tags fix, restart_domains=keepalived-*): the probe
  names lb01 master, lb02 restarts first, lb01 last and gracefully, the probe
  verifies the group after each; the bridge capture sees no master lost by a
  timeout and the VIP without a master well under the 3.6 s of a timeout;
- the live-migration rollout: each guest moves to the other libvirtd (a new
  qemu pid there), no timeout change, the VIP kept.

Guests boot only here (module fixture), and are destroyed at the end.
"""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench"))
import crime  # noqa: E402
import guests  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def guest_nodes(lab_inventory):
    if not all(guests.node_ok(n) for n in guests.NODES):
        msg = "the guest nodes are not up (lab.py up starts them unless LAB_GUESTS=0)"
        if os.environ.get("LAB_REQUIRED") == "1" and os.environ.get("LAB_GUESTS", "1") != "0":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    yield lab_inventory
    guests.reset()


def test_guest_audit_tcg_not_applicable(guest_nodes, tmp_path):
    guests.reset()
    guests.boot()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml",
                           "-i", guest_nodes, "-e", "audit_hosts=guests", "-e", "audit_report_dir=%s" % tmp_path],
                          cwd=guests.lab.REPO, capture_output=True, text=True, timeout=300)
    doc = json.load(open(tmp_path / "audit.json"))
    seen = {}
    for host, entry in doc["hosts"].items():
        for dom in (entry.get("audit") or entry)["domains"]:  # a report host entry: the audit at its top
            seen[dom["name"]] = (host, dom)
    for name, g in guests.GUESTS.items():
        host, dom = seen[name]
        assert host == g["home"] and dom["type"] == "qemu" and dom["state"] == "running", proc.stdout[-2000:]
        assert dom["needs_restart"] is False and "TCG" in (dom.get("reason") or ""), dom
        [nic] = dom["nics"]
        assert nic["mac"] == g["mac"] and nic["vhost"] is not True


def test_crime_probe_finds_the_flap_and_consoles_agree(guest_nodes, tmp_path):
    res = crime.run_crime(seconds=30, starve=5.0, report_dir=str(tmp_path), log=lambda m: None)
    assert res["rc"] == 2, res["playbook_output"][-3000:]
    doc = res["doc"]
    [inst] = [i for i in doc["instances"] if i["vrid"] == guests.VRID]
    assert inst["status"] == "flapped" and inst["master_changes_count"] >= 1
    members = {m["domain"]: m for m in inst["members"]}
    assert set(members) == set(guests.GUESTS)
    lb1 = members["keepalived-lb01"]
    assert lb1["max_gap_s"] > 3.0 and lb1["late_count"] >= 1 and lb1["kernel_drops"] == 0
    assert lb1["host"] == "guest-1" and lb1["mac"] == guests.GUESTS["keepalived-lb01"]["mac"]
    assert lb1["datapath"].startswith("not applicable (TCG guest")
    assert any(c["from_domain"] == "keepalived-lb01" and c["to_domain"] == "keepalived-lb02"
               and c["reason"] == "timeout" for c in inst["master_changes"])
    assert "keepalived-lb01's adverts up to" in inst["summary"]
    lb2_console = "\n".join(res["consoles"]["keepalived-lb02"])
    assert "Entering MASTER STATE" in lb2_console and "Entering BACKUP STATE" in lb2_console
    assert os.path.exists(tmp_path / "probe.md") and os.path.exists(tmp_path / "probe.prom")
    assert "Entering MASTER STATE" in open(tmp_path / "crime-consoles" / "keepalived-lb01.log").read()
    # The real keepalived decides: every advert it sent parsed, with a valid checksum.
    assert not doc["errors"], doc["errors"]
    assert all(m["bad_checksums"] == 0 and m["malformed"] == 0 for m in inst["members"]), inst["members"]


def test_rollout_keeps_the_vip_up(guest_nodes):
    import crime_bench
    res = crime_bench.rollout("rollout", probe_seconds=None)
    assert res["playbook_rc"] == 0, res.get("playbook_tail")
    events = res["journal"]
    order = [e for e in events if e["event"] == "ha_order"]
    assert order and order[0]["masters"] == ["keepalived-lb01"]
    probes = [e for e in events if e["event"] == "restart_probe"]
    assert [(e["domain"], e["ha_role"], e["ok"]) for e in probes] == [
        ("keepalived-lb02", "backup", True), ("keepalived-lb01", "master", True)]
    assert probes[1]["stop"] == "graceful"
    assert not [c for c in res["master_changes"] if c["reason"] == "timeout"], res["master_changes"]
    assert res["vip_outage_s"] < 2.0, res  # a timeout costs 3 x advert_int + skew (3.6 s): far from it


def test_live_migration_rollout_keeps_the_vip_up(guest_nodes):
    import crime_bench
    res = crime_bench.rollout("live_migrate", probe_seconds=None)
    assert res["playbook_rc"] == 0, res.get("playbook_tail")
    for dom, (node, pid) in res["qemu_before"].items():
        now_node, now_pid = res["qemu_after"][dom]
        assert now_node != node and now_pid not in (None, pid)  # a new qemu process on the other libvirtd
    assert not [c for c in res["master_changes"] if c["reason"] == "timeout"], res["master_changes"]
    assert res["vip_outage_s"] < 2.0, res
