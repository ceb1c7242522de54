"""controller/rollout: master last (gracefully), and the probe's verdict before the next member."""
import doctest

from nodeaudit.controller import probe_report, rollout
from test_probe_report import LB1, LB2, POLICY, ev, nic, probe


def doc_of(lb1_events, lb2_events, joins2=(), start=0.0, end=60.0):
    n1 = nic("keepalived-lb01", "m1", "t1", lb1_events, start, end)
    n2 = nic("keepalived-lb02", "m2", "t2", lb2_events, start, end)
    n2["vrrp_joins"] = list(joins2)
    p1, p2 = probe("c1", [n1]), probe("c2", [n2])
    for p in (p1, p2):
        p["started"], p["ended"] = start, end
    return probe_report.build({"c1": p1, "c2": p2}, {}, POLICY)


STEPS = [{"wave": 1, "host": "c1", "domain": "keepalived-lb01", "group": "keepalived-lb", "method": "libvirt"},
         {"wave": 2, "host": "c2", "domain": "keepalived-lb02", "group": "keepalived-lb", "method": "libvirt"},
         {"wave": 1, "host": "c3", "domain": "web-1", "group": None, "method": "libvirt"}]


def test_doctests():
    result = doctest.testmod(rollout)
    assert result.attempted > 0 and result.failed == 0


def test_master_moves_last_and_is_graceful():
    doc = doc_of([ev(t, "sent", LB1, 150) for t in range(5)], [], start=0, end=5)
    assert rollout.current_masters(doc) == [{"vrid": 51, "family": 4, "host": "c1", "domain": "keepalived-lb01",
                                             "src": LB1}]
    steps, notes = rollout.order_master_last(STEPS, doc)
    order = [(s["wave"], s["domain"], s.get("ha_role"), s.get("stop")) for s in steps]
    assert order == [(1, "keepalived-lb02", "backup", "destroy"), (1, "web-1", None, None),
                     (2, "keepalived-lb01", "master", "graceful")]
    assert "moved to the last turn" in notes[0]
    assert STEPS[0]["wave"] == 1  # the input is not changed


def test_master_already_last_keeps_order():
    doc = doc_of([], [ev(t, "sent", LB2, 100) for t in range(5)], start=0, end=5)
    steps, notes = rollout.order_master_last(STEPS, doc)
    assert [s["domain"] for s in steps if s.get("group")] == ["keepalived-lb01", "keepalived-lb02"]
    assert "already last" in notes[0]


def test_no_vrrp_seen_keeps_plan_and_no_verification():
    steps, notes = rollout.order_master_last(STEPS, {"instances": []})
    assert [(s["domain"], s.get("ha_role"), s.get("probe")) for s in steps] == [
        ("keepalived-lb01", None, False), ("web-1", None, None), ("keepalived-lb02", None, False)]
    assert "no VRRP seen" in notes[0] and "not verified on the wire" in notes[0]


def test_vrrp_seen_but_master_not_planned_keeps_order_with_verification():
    doc = doc_of([ev(t + 0.001, "heard", LB2, 100) for t in range(5)], [ev(t, "sent", LB2, 100) for t in range(5)],
                 start=0, end=5)
    steps, notes = rollout.order_master_last(STEPS[:1] + STEPS[2:], doc)
    assert [(s["domain"], s.get("ha_role"), s.get("probe")) for s in steps] == [
        ("keepalived-lb01", "backup", True), ("web-1", None, None)]
    assert "no member of the plan is a VRRP master" in notes[0]


def test_backup_restart_verified_by_igmp_join():
    # lb02 (backup) restarted at t=5; lb01 keeps advertising; lb02's guest rejoins 224.0.0.18 at t=9.
    lb1 = [ev(t, "sent", LB1, 150) for t in range(20)]
    doc = doc_of(lb1, [ev(t + 0.001, "heard", LB1, 150) for t in range(20)], joins2=[9.2], end=20)
    step = {"domain": "keepalived-lb02", "host": "c2"}
    v = rollout.verify_step(doc, step, restarted_at=5.0)
    assert v["ok"], v
    assert v["master"]["domain"] == "keepalived-lb01"
    heard = [ev(t + 0.001, "heard", LB1, 150) for t in range(20)]
    v = rollout.verify_step(doc_of(lb1, heard, joins2=[3.0], end=20), step, restarted_at=5.0)
    assert not v["ok"] and "not seen back" in v["reason"]  # the join before the restart does not count
    assert rollout.verify_step(doc_of(lb1, heard, end=20), step, 5.0, rejoin=False)["ok"]
    v = rollout.verify_step(doc_of(lb1, [], end=20), step, 5.0)
    assert not v["ok"] and "no VRRP instance with keepalived-lb02" in v["reason"]


def test_master_handover_then_preempt_back_verified():
    lb1 = [ev(t, "sent", LB1, 150) for t in range(5)] + [ev(5.0, "sent", LB1, 0)]
    lb1 += [ev(14 + t, "sent", LB1, 150) for t in range(6)]
    lb2 = [ev(5.61 + t, "sent", LB2, 100) for t in range(9)]
    doc = doc_of(lb1, lb2, end=20)
    v = rollout.verify_step(doc, {"domain": "keepalived-lb01", "host": "c1"}, restarted_at=4.9)
    assert v["ok"], v
    assert v["master"]["domain"] == "keepalived-lb01" and v["master_changes"] == 2


def test_no_master_at_the_end_fails():
    doc = doc_of([ev(t, "sent", LB1, 150) for t in range(5)], [], end=20)
    v = rollout.verify_step(doc, {"domain": "keepalived-lb01", "host": "c1"}, 1.0)
    assert not v["ok"] and "no master at the end" in v["reason"]


def test_a_probe_that_ends_inside_a_late_adverts_wait_still_sees_the_master():
    # lb01 advertised every second until 19.0; the probe ended at 20.3, 0.25 s past its hold
    # (1.05 s): no backup takes over before 3 intervals, so the group is whole (seen on TCG guests).
    lb1 = [ev(t, "sent", LB1, 150) for t in range(20)]
    heard = [ev(t + 0.001, "heard", LB1, 150) for t in range(20)]
    step = {"domain": "keepalived-lb02", "host": "c2"}
    v = rollout.verify_step(doc_of(lb1, heard, end=20.3), step, 5.0, rejoin=False)
    assert v["ok"], v
    assert v["master"]["domain"] == "keepalived-lb01"
    assert v["max_no_master_s"] > 0          # the strict outage figure still shows the tail
    # Past the master-down interval the master is gone, whatever it advertised before.
    v = rollout.verify_step(doc_of(lb1, heard, end=22.5), step, 5.0, rejoin=False)
    assert not v["ok"] and "no master at the end" in v["reason"]


def test_a_master_that_handed_over_with_priority_0_is_gone_at_once():
    lb1 = [ev(t, "sent", LB1, 150) for t in range(19)] + [ev(19.0, "sent", LB1, 0)]
    v = rollout.verify_step(doc_of(lb1, [], end=19.4), {"domain": "keepalived-lb01", "host": "c1"}, 1.0,
                            rejoin=False)
    assert not v["ok"] and "no master at the end" in v["reason"]


def test_new_master_not_yet_flowing_fails():
    lb1 = [ev(t, "sent", LB1, 150) for t in range(5)] + [ev(5.0, "sent", LB1, 0)]
    doc = doc_of(lb1, [ev(9.5, "sent", LB2, 100)], end=9.8)
    v = rollout.verify_step(doc, {"domain": "keepalived-lb02", "host": "c2"}, 1.0)
    assert not v["ok"] and "not yet flowing" in v["reason"]


def test_split_brain_fails():
    doc = doc_of([ev(t, "sent", LB1, 150) for t in range(20)], [ev(t + 0.5, "sent", LB2, 100) for t in range(20)],
                 end=20)
    v = rollout.verify_step(doc, {"domain": "keepalived-lb02", "host": "c2"}, 1.0)
    assert not v["ok"] and "split brain" in v["reason"]


def test_unknown_domain():
    v = rollout.verify_step({"instances": []}, {"domain": "x", "host": "c"}, 0)
    assert not v["ok"] and "no VRRP instance" in v["reason"]


def test_restart_force_plans_requested_domains_with_the_planner():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    "filter_plugins"))
    import nodeaudit_plan
    import nodeaudit_rollout

    def host(name, dom, uuid):
        return {"reachable": True, "host": name, "mode": "live", "kernel": {"can_provide": False}, "checks": [],
                "sources": {"domains": "libvirt"},
                "domains": [{"name": dom, "uuid": uuid, "state": "running", "type": "qemu", "needs_restart": False,
                             "pid": 7, "nics": []},
                            {"name": "web-" + name, "uuid": uuid + "w", "state": "running", "type": "qemu",
                             "needs_restart": False, "pid": 8, "nics": []}]}
    hosts = {"c1": host("c1", "keepalived-lb01", "u1"), "c2": host("c2", "keepalived-lb02", "u2")}
    forced = nodeaudit_rollout.restart_force(hosts, ["keepalived-*"])
    assert hosts["c1"]["domains"][0]["needs_restart"] is False  # input untouched
    pols = {"c1": POLICY, "c2": POLICY}
    plan = nodeaudit_plan.restart_plan(forced, pols, True, {})
    steps = nodeaudit_plan.restart_steps(plan)
    assert [(s["wave"], s["domain"], s["group"]) for s in steps] == [
        (1, "keepalived-lb01", "keepalived-lb"), (2, "keepalived-lb02", "keepalived-lb")]
    # lb01 is master on the wire: it goes last
    doc = doc_of([ev(t, "sent", LB1, 150) for t in range(5)], [], start=0, end=5)
    out = nodeaudit_rollout.restart_master_last(steps, doc)
    assert [(s["domain"], s["stop"], s["probe"]) for s in out["steps"]] == [
        ("keepalived-lb02", "destroy", True), ("keepalived-lb01", "graceful", True)]
    assert nodeaudit_plan.restart_plan(hosts, pols, True, {})["waves"] == []  # without it: nothing planned
