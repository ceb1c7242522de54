"""combiners/adverts: gaps, late adverts and the master timeline, on literal advert times."""
import doctest

from nodeaudit.combiners import adverts

LB1, LB2 = "10.99.0.11", "10.99.0.12"


def ads(src, prio, times, adv=1.0):
    return [{"t": float(t), "src": src, "priority": prio, "advert_int_s": adv} for t in times]


def test_doctests():
    result = doctest.testmod(adverts)
    assert result.attempted > 0 and result.failed == 0


def test_steady_master_no_change_no_outage():
    tl = adverts.master_timeline(ads(LB1, 150, [i * 1.001 for i in range(60)]))
    assert tl["master_changes"] == [] and tl["max_no_master_s"] == 0.0
    assert tl["masters"] == [LB1]


def test_crime_sigstop_shape():
    # lb01 stopped 5 s after t=10: lb02 takes over 3.6 s after lb01's last advert, lb01 preempts back.
    trace = ads(LB1, 150, list(range(0, 11)) + [15.1, 16.1, 17.1])
    trace += ads(LB2, 100, [13.61, 14.61, 15.15])
    tl = adverts.master_timeline(trace)
    changes = [(c["from"], c["to"], c["reason"]) for c in tl["master_changes"]]
    assert changes == [(LB1, LB2, "timeout"), (LB2, LB1, "preempt")]
    assert 2.5 < tl["max_no_master_s"] < 2.6  # 13.61 - (10 + 1.05)
    s = adverts.sender_stats([a["t"] for a in trace if a["src"] == LB1], 1.0)
    assert s["max_gap_s"] == 5.1 and s["late_count"] == 1 and s["late"][0]["t"] == 15.1


def test_graceful_handover_priority_zero():
    trace = ads(LB1, 150, [0, 1, 2]) + ads(LB1, 0, [2.4]) + ads(LB2, 100, [3.01, 4.01, 5.01])
    tl = adverts.master_timeline(trace)
    assert [(c["from"], c["to"], c["reason"]) for c in tl["master_changes"]] == [(LB1, LB2, "handover")]
    assert tl["handovers"] == [{"t": 2.4, "src": LB1}]
    assert abs(tl["max_no_master_s"] - 0.61) < 1e-6


def test_live_migration_gap_is_small_outage_no_change():
    tl = adverts.master_timeline(ads(LB1, 150, [0, 1, 2, 3.18, 4.18]))
    assert tl["master_changes"] == []
    assert 0.12 < tl["max_no_master_s"] < 0.14  # 3.18 - (2 + 1.05)


def test_all_at_once_outage():
    tl = adverts.master_timeline(ads(LB1, 150, [0, 1, 2]) + ads(LB1, 150, [12.5, 13.5]))
    assert tl["master_changes"] == [] and abs(tl["max_no_master_s"] - 9.45) < 1e-6


def test_split_brain_higher_priority_holds():
    # Both advertise for a few seconds (each thinks it is master): lb01 (150) holds, no flapping counted.
    trace = ads(LB1, 150, range(0, 10)) + ads(LB2, 100, [3.5, 4.5, 5.5])
    tl = adverts.master_timeline(trace)
    assert tl["master_changes"] == [] and tl["masters"] == [LB1]


def test_equal_priority_higher_address_wins():
    tl = adverts.master_timeline(ads("10.0.0.9", 100, [0, 1, 2]) + ads("10.0.0.10", 100, [0.5, 1.5, 2.5]))
    assert tl["masters"][-1] == "10.0.0.10"


def test_observation_end_counts_trailing_outage():
    tl = adverts.master_timeline(ads(LB1, 150, [0, 1]), end=10.0)
    assert abs(tl["max_no_master_s"] - (10.0 - 2.05)) < 1e-6
    assert tl["segments"][-1]["master"] is None


def test_no_adverts():
    tl = adverts.master_timeline([])
    assert tl["master_changes"] == [] and tl["segments"] == []


def test_percentiles_and_late_cap():
    times = [0.0]
    for i in range(100):
        times.append(times[-1] + (3.0 if i % 10 == 0 else 1.0))
    s = adverts.sender_stats(times, 1.0, max_late=3)
    assert s["late_count"] == 10 and len(s["late"]) == 3
    assert s["p50_gap_s"] == 1.0 and s["p90_gap_s"] == 1.0 and s["p99_gap_s"] == 3.0


def test_summarise_nic_splits_directions_and_instances():
    ev = []
    for i in range(5):
        ev.append({"t": float(i), "dir": "sent", "flow": ("vrrp", 51), "src": LB1, "priority": 150,
                   "advert_int_s": 1.0, "version": 2, "family": 4})
        ev.append({"t": i + 0.5, "dir": "heard", "flow": ("vrrp", 52), "src": LB2, "priority": 200,
                   "advert_int_s": 1.0, "version": 3, "family": 4})
    out = adverts.summarise_nic(ev)
    assert [(o["vrid"], o["version"], [(s["src"], s["dir"]) for s in o["senders"]]) for o in out] == [
        (51, 2, [(LB1, "sent")]), (52, 3, [(LB2, "heard")])]
    assert out[0]["adverts"][0] == [0.0, "sent", LB1, 150, 1.0]
