"""The restart planner (module_utils/nodeaudit/controller/plan.py): literal cases and properties."""
import doctest
import json

import pytest
from hypothesis import given, settings, strategies as st

from nodeaudit.controller import plan as planmod
from nodeaudit.controller.plan import plan, plan_markdown, plan_waves
from nodeaudit.controller.remediation import kernel_can_provide

# The audit's structured kernel fields (kernel.can_provide is the combiner's verdict: see test_remediation.py).
KERNEL_OK = {"dev_vhost_net": True, "vhost_net_loaded": True, "vhost_net_builtin": False,
             "blacklisted": False, "install_blocked": False, "module_support": True,
             "can_provide": True, "can_provide_reason": None, "blocks": []}
KERNEL_NONE = {"dev_vhost_net": False, "vhost_net_loaded": None, "vhost_net_builtin": None,
               "blacklisted": False, "install_blocked": False, "module_support": False,
               "can_provide": False, "can_provide_reason": "/dev/vhost-net is absent", "blocks": []}


def host(domains, kernel=KERNEL_OK, source="libvirt", **extra):
    entry = {"reachable": True, "state": "fail", "sources": {"domains": source}, "kernel": dict(kernel),
             "checks": [], "domains": [dict({"needs_restart": True, "exempt": False, "state": "running",
                                             "uuid": "uuid-" + d["name"]}, **d) for d in domains]}
    entry.update(extra)
    return entry


def policy(max_per_host=1, max_per_wave=10, groups=(), window=None, wave_minutes=None, method="libvirt"):
    restart = {"method": method, "max_per_host": max_per_host, "max_per_wave": max_per_wave, "window": window}
    if wave_minutes:
        restart["wave_minutes"] = wave_minutes
    return {"ha_groups": list(groups), "restart": restart}


def pairs(p):
    return [[(i["host"], i["domain"]) for i in wave] for wave in p["waves"]]


def test_doctests():
    result = doctest.testmod(planmod)
    assert result.failed == 0 and result.attempted > 5


# -- literal cases ---------------------------------------------------------------

LAB_LIKE = {
    "compute-1": host([{"name": "keepalived-lb01"}, {"name": "web-1"}, {"name": "mq-1"},
                       {"name": "userspace-1", "needs_restart": False}]),
    "compute-2": host([{"name": "keepalived-lb02"}, {"name": "app-2"}]),
}
LB = [{"name": "keepalived-lb", "domains": ["keepalived-lb*"]}]


def test_ha_pair_never_in_one_wave_and_in_consecutive_waves():
    p = plan(LAB_LIKE, dict((h, policy(groups=LB)) for h in LAB_LIKE))
    waves = pairs(p)
    assert waves == [
        [("compute-1", "keepalived-lb01"), ("compute-2", "app-2")],
        [("compute-1", "mq-1"), ("compute-2", "keepalived-lb02")],
        [("compute-1", "web-1")],
    ]
    assert p["groups"] == {"keepalived-lb": [{"host": "compute-1", "domain": "keepalived-lb01", "wave": 1},
                                             {"host": "compute-2", "domain": "keepalived-lb02", "wave": 2}]}
    assert p["waves"][0][0]["group"] == "keepalived-lb"
    assert p["errors"] == [] and p["windows"] is None
    assert p["summary"]["waves"] == p["summary"]["lower_bound_waves"] == 3


def test_not_needing_restart_and_exempt_are_not_planned():
    hosts = {"h": host([{"name": "a"}, {"name": "b", "needs_restart": False},
                        {"name": "c", "exempt": True, "reason": "exempt in the policy: dpdk"}])}
    p = plan(hosts, {"h": policy()})
    assert pairs(p) == [[("h", "a")]]
    assert p["skipped"] == [{"host": "h", "domain": "c", "reason": "exempt in the policy: dpdk"}]


def test_kernel_without_vhost_plans_nothing_there_unless_told():
    hosts = {"ok": host([{"name": "a"}]), "novhost": host([{"name": "b"}], kernel=KERNEL_NONE)}
    p = plan(hosts, {})
    assert pairs(p) == [[("ok", "a")]]
    [skip] = p["skipped"]
    assert skip["host"] == "novhost" and skip["domain"] == "b"
    assert "cannot provide vhost-net" in skip["reason"] and "/dev/vhost-net is absent" in skip["reason"]
    assert "restart_without_vhost" in skip["reason"]
    p = plan(hosts, {}, {"restart_without_vhost": True})
    assert pairs(p) == [[("novhost", "b"), ("ok", "a")]] and p["skipped"] == []


# test_kernel_can_provide and test_kernel_reason_quotes_the_check moved to test_remediation.py
# (the verdict is the audit's kernel.can_provide; the planner only reads it).


def test_unreachable_host_and_libvirt_down_are_skipped_plainly():
    hosts = {"c4": host([{"name": "web-4"}], source="status_files",
                        ),
             "c5": {"reachable": False, "state": "error", "reason": "unreachable: ssh: connect refused",
                    "checks": [], "domains": [], "needs_restart": []}}
    hosts["c4"]["sources"]["domains_reason"] = "libvirt: Failed to connect socket"
    p = plan(hosts, {}, {"restart_without_vhost": True})
    assert p["waves"] == []
    reasons = dict(((s["host"], s["domain"]), s["reason"]) for s in p["skipped"])
    assert "libvirt did not answer" in reasons[("c4", "web-4")]
    assert reasons[("c5", None)].startswith("unreachable")
    # nova restarts through the cloud API: libvirtd being down does not matter
    p = plan(hosts, {"c4": policy(method="nova")})
    assert pairs(p) == [[("c4", "web-4")]] and p["waves"][0][0]["method"] == "nova"


def test_limits_per_host_and_per_wave():
    hosts = dict(("h%d" % i, host([{"name": "d%d-%d" % (i, j)} for j in range(3)])) for i in range(4))
    p = plan(hosts, dict((h, policy(max_per_host=2, max_per_wave=5)) for h in hosts))
    assert [len(w) for w in p["waves"]] == [5, 5, 2]
    for wave in p["waves"]:
        per = {}
        for item in wave:
            per[item["host"]] = per.get(item["host"], 0) + 1
        assert max(per.values()) <= 2


def test_fleet_limit_is_the_strictest_policy():
    hosts = {"a": host([{"name": "x"}, {"name": "y"}]), "b": host([{"name": "z"}])}
    p = plan(hosts, {"a": policy(max_per_host=2, max_per_wave=10), "b": policy(max_per_wave=1)})
    assert p["limits"]["max_per_wave"] == 1 and [len(w) for w in p["waves"]] == [1, 1, 1]


def test_server_group_and_metadata_groups():
    hosts = {"a": host([{"name": "instance-0001", "uuid": "u1"}, {"name": "instance-0002", "uuid": "u2"}]),
             "b": host([{"name": "instance-0003", "uuid": "u3"}, {"name": "instance-0004", "uuid": "u4"}])}
    groups = [{"name": "db", "server_group": "galera"}, {"name": "etcd", "metadata": {"role": "etcd"}}]
    instances = {"u1": {"server_groups": ["galera"]}, "u3": {"server_groups": ["galera"]},
                 "u2": {"metadata": {"role": "etcd"}}, "u4": {"metadata": {"role": "etcd", "x": "y"}}}
    p = plan(hosts, dict((h, policy(max_per_host=2, groups=groups)) for h in hosts), {"instances": instances})
    assert sorted(p["groups"]) == ["db", "etcd"]
    for wave in p["waves"]:
        for name in ("db", "etcd"):
            assert sum(1 for i in wave if i.get("group") == name) <= 1
    assert len(p["waves"]) == 2


def test_member_of_two_groups():
    hosts = {"a": host([{"name": "lb1"}, {"name": "db1"}]), "b": host([{"name": "lb2-db2"}]),
             "c": host([{"name": "other"}])}
    groups = [{"name": "lb", "domains": ["lb*"]}, {"name": "db", "domains": ["db*", "*-db2"]}]
    p = plan(hosts, dict((h, policy(groups=groups)) for h in hosts))
    item = [i for w in p["waves"] for i in w if i["domain"] == "lb2-db2"][0]
    assert item["groups"] == ["db", "lb"]
    _assert_properties(hosts, dict((h, policy(groups=groups)) for h in hosts), p)


def test_window_fits_gives_each_wave_its_time():
    p = plan(LAB_LIKE, dict((h, policy(groups=LB, window={"start": "2026-11-28T01:00:00Z",
                                                               "end": "2026-11-28T02:00:00Z"}, wave_minutes=20))
                            for h in LAB_LIKE))
    assert p["errors"] == []
    assert p["windows"] == [
        {"wave": 1, "start": "2026-11-28T01:00:00Z", "end": "2026-11-28T01:20:00Z"},
        {"wave": 2, "start": "2026-11-28T01:20:00Z", "end": "2026-11-28T01:40:00Z"},
        {"wave": 3, "start": "2026-11-28T01:40:00Z", "end": "2026-11-28T02:00:00Z"},
    ]
    assert p["summary"]["fits_window"] is True


def test_window_too_short_is_an_error_not_silence():
    p = plan(LAB_LIKE, dict((h, policy(groups=LB, window={"start": "2026-11-28T01:00:00Z",
                                                               "end": "2026-11-28T01:30:00Z"}))
                            for h in LAB_LIKE))
    [err] = p["errors"]
    assert err["error"] == "window_too_short" and err["waves_needed"] == 3 and err["waves_available"] == 2
    assert "waves 3..3 do not fit" in err["message"]
    assert len(p["windows"]) == 2 and p["summary"]["fits_window"] is False
    assert "outside the window" in plan_markdown(p)
    assert "window_too_short" in plan_markdown(p)


def test_window_invalid_and_conflicting():
    hosts = {"a": host([{"name": "x"}]), "b": host([{"name": "y"}])}
    p = plan(hosts, {"a": policy(window={"start": "tomorrow", "end": "2026-01-01T00:00:00Z"})})
    assert p["errors"][0]["error"] == "window_invalid"
    p = plan(hosts, {"a": policy(window={"start": "2026-01-01T02:00:00Z", "end": "2026-01-01T01:00:00Z"})})
    assert any(e["error"] == "window_invalid" for e in p["errors"])
    p = plan(hosts, {"a": policy(window={"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}),
                     "b": policy(window={"start": "2026-01-02T00:00:00Z", "end": "2026-01-02T01:00:00Z"})})
    assert any(e["error"] == "window_conflict" for e in p["errors"])


def test_empty_fleet():
    p = plan({}, {})
    assert p["waves"] == [] and p["skipped"] == [] and p["summary"]["planned"] == 0
    assert "Nothing to restart." in plan_markdown(p)


def test_plan_waves_shape_and_json():
    p = plan(LAB_LIKE, dict((h, policy(groups=LB)) for h in LAB_LIKE))
    waves = plan_waves(p)
    assert waves[0] == [{"host": "compute-1", "domain": "keepalived-lb01"}, {"host": "compute-2", "domain": "app-2"}]
    json.dumps(p)


def test_deterministic_whatever_the_input_order():
    rev = dict(reversed(list(LAB_LIKE.items())))
    for entry in rev.values():
        entry = dict(entry)
    a = plan(LAB_LIKE, dict((h, policy(groups=LB)) for h in LAB_LIKE))
    shuffled = dict((h, dict(LAB_LIKE[h], domains=list(reversed(LAB_LIKE[h]["domains"])))) for h in rev)
    b = plan(shuffled, dict((h, policy(groups=LB)) for h in rev))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# -- properties --------------------------------------------------------------------

def _assert_properties(hosts, policies, p, without_vhost=False):
    placed = [(i["host"], i["domain"]) for w in p["waves"] for i in w]
    assert len(placed) == len(set(placed)), "a domain is in two waves"
    expected = set()
    for h, entry in hosts.items():
        ok = kernel_can_provide(entry)[0] or without_vhost
        for d in entry["domains"]:
            if d["needs_restart"] and not d["exempt"] and ok:
                expected.add((h, d["name"]))
    assert set(placed) == expected
    skipped = set((s["host"], s["domain"]) for s in p["skipped"])
    assert not skipped & set(placed)
    fleet_max = p["limits"]["max_per_wave"]
    for number, wave in enumerate(p["waves"], 1):
        assert wave, "empty wave"
        assert len(wave) <= fleet_max
        per_host, per_group = {}, {}
        for item in wave:
            assert item["wave"] == number
            per_host[item["host"]] = per_host.get(item["host"], 0) + 1
            for g in item.get("groups") or ([item["group"]] if item.get("group") else []):
                per_group[g] = per_group.get(g, 0) + 1
        for h, n in per_host.items():
            assert n <= int(((policies.get(h) or {}).get("restart") or {}).get("max_per_host", 1))
        assert all(n == 1 for n in per_group.values()), "two members of an HA group in one wave"
    for g, members in p["groups"].items():
        waves = [m["wave"] for m in members]
        assert waves == sorted(waves) and len(set(waves)) == len(waves)


names = st.sampled_from(["lb%d" % i for i in range(6)] + ["db%d" % i for i in range(4)] + ["web%d" % i for i in range(8)])


@st.composite
def fleets(draw):
    nhosts = draw(st.integers(0, 6))
    hosts, policies = {}, {}
    groups = [{"name": "lb", "domains": ["lb*"]}, {"name": "db", "domains": ["db*"]},
              {"name": "odd", "domains": ["*1", "*3"]}]
    for i in range(nhosts):
        h = "compute-%d" % i
        doms = draw(st.lists(names, unique=True, max_size=8))
        hosts[h] = host([{"name": d, "needs_restart": draw(st.booleans()), "exempt": draw(st.booleans()) and
                          draw(st.booleans())} for d in doms],
                        kernel=draw(st.sampled_from([KERNEL_OK, KERNEL_OK, KERNEL_NONE])))
        policies[h] = policy(max_per_host=draw(st.integers(1, 3)), max_per_wave=draw(st.integers(1, 6)),
                             groups=draw(st.sampled_from([groups, groups[:1], []])))
    return hosts, policies


@settings(max_examples=300, deadline=None)
@given(fleets(), st.booleans())
def test_properties(fleet, without_vhost):
    hosts, policies = fleet
    p = plan(hosts, policies, {"restart_without_vhost": without_vhost})
    _assert_properties(hosts, policies, p, without_vhost)
    assert p["limits"]["max_per_wave"] == min([policies[h]["restart"]["max_per_wave"] for h in hosts
                                               if any(d["needs_restart"] for d in hosts[h]["domains"])] or [10])
    assert p["summary"]["waves"] >= p["summary"]["lower_bound_waves"]
    plan_markdown(p)


# -- speed --------------------------------------------------------------------------

def big_fleet(n_domains=10000, n_groups=2000, n_hosts=500):
    hosts = {}
    for h in range(n_hosts):
        hosts["compute-%04d" % h] = host([])
    for i in range(n_domains):
        h = "compute-%04d" % ((i * 7919) % n_hosts)
        g = i % n_groups
        hosts[h]["domains"].append({"name": "g%04d-m%d" % (g, i // n_groups), "uuid": "u%d" % i,
                                    "needs_restart": True, "exempt": False, "state": "running"})
    pol = policy(max_per_host=2, max_per_wave=200, groups=[{"name": "ha", "domains": ["x*"]}])
    return hosts, pol


def _grouped_policy(pol):
    # every domain "gNNNN-mK" is in HA group gNNNN: one pattern per group
    return dict(pol, ha_groups=[{"name": "g%04d" % g, "domains": ["g%04d-*" % g]} for g in range(2000)])


def test_ten_thousand_domains_in_two_thousand_server_groups():
    hosts, pol = big_fleet()
    # Per-host policies with 2000 patterns each would make membership O(n * groups):
    # the realistic fleet has few patterns per host; here the groups come from the cloud (server groups).
    instances = {}
    for entry in hosts.values():
        for d in entry["domains"]:
            instances[d["uuid"]] = {"server_groups": [d["name"].split("-")[0]]}
    pol = dict(pol, ha_groups=[{"name": "sg", "server_group": "g0000"}])
    policies = dict((h, pol) for h in hosts)
    # Speed is measured by `make bench` (plan_10000_s), never asserted here.
    p = plan(hosts, policies, {"instances": instances})
    assert p["summary"]["planned"] == 10000
    _assert_properties(hosts, policies, p)


def test_two_thousand_pattern_groups():
    hosts, pol = big_fleet()
    # 2000 HA groups by name pattern: membership must not cost domains x groups fnmatch calls
    policies = dict((h, _grouped_policy(pol)) for h in hosts)
    p = plan(hosts, policies)
    assert len(p["groups"]) == 2000 and p["summary"]["planned"] == 10000
    assert p["summary"]["waves"] == p["summary"]["lower_bound_waves"]


# -- fails closed (issue 14.6) ------------------------------------------------------

@pytest.mark.parametrize("method", ["libvirt", "nova", "live_migrate"])
def test_snapshots_are_never_planned_whatever_the_method(method):
    hosts = {"snap": host([{"name": "a"}], source="snapshot", mode="snapshot", root="/srv/snap/c1"),
             "live": host([{"name": "b"}])}
    p = plan(hosts, dict((h, policy(method=method)) for h in hosts), {"restart_without_vhost": True})
    assert pairs(p) == [[("live", "b")]]
    [skip] = p["skipped"]
    assert (skip["host"], skip["domain"]) == ("snap", "a") and "snapshot" in skip["reason"]
    assert "/srv/snap/c1" in skip["reason"]


def test_server_group_without_instance_data_is_an_error_not_an_empty_group():
    hosts = {"a": host([{"name": "instance-0001", "uuid": "u1"}]), "b": host([{"name": "instance-0002", "uuid": "u2"}])}
    groups = [{"name": "db", "server_group": "galera"}]
    p = plan(hosts, dict((h, policy(groups=groups)) for h in hosts))
    [err] = p["errors"]
    assert err["error"] == "ha_groups_unresolved" and err["groups"] == ["db"] and err["domains"] == 2
    assert "restart_instances" in err["message"]
    assert p["waves"] == [] and p["summary"]["planned"] == 0
    assert sorted((s["host"], s["domain"]) for s in p["skipped"]) == [("a", "instance-0001"), ("b", "instance-0002")]
    # with the cloud's data the pair goes in two waves
    instances = {"u1": {"server_groups": ["galera"]}, "u2": {"server_groups": ["galera"]}}
    p = plan(hosts, dict((h, policy(groups=groups)) for h in hosts), {"instances": instances})
    assert p["errors"] == [] and len(p["waves"]) == 2
    # nova's own XML metadata naming the server group is enough too
    hosts["a"]["domains"][0]["nova"] = {"server_group": "galera"}
    hosts["b"]["domains"][0]["nova"] = {"server_group": "galera"}
    p = plan(hosts, dict((h, policy(groups=groups)) for h in hosts))
    assert p["errors"] == [] and len(p["waves"]) == 2


def test_metadata_group_without_instance_data_is_an_error():
    hosts = {"a": host([{"name": "x", "uuid": "u1", "nova": {"server_group": "g"}}])}
    p = plan(hosts, {"a": policy(groups=[{"name": "etcd", "metadata": {"role": "etcd"}}])})
    assert [e["error"] for e in p["errors"]] == ["ha_groups_unresolved"] and p["waves"] == []


def test_a_window_in_the_past_is_refused():
    window = {"start": "2026-11-28T01:00:00Z", "end": "2026-11-28T02:00:00Z"}
    pols = dict((h, policy(groups=LB, window=window, wave_minutes=20)) for h in LAB_LIKE)
    p = plan(LAB_LIKE, pols, {"now": "2026-12-01T15:00:00Z"})
    past = [e for e in p["errors"] if e["error"] == "window_past"]
    assert past and past[0]["waves_past"] == 3 and "in the past" in past[0]["message"]
    # half over: the waves whose slots ended are named
    p = plan(LAB_LIKE, pols, {"now": "2026-11-28T01:30:00Z"})
    [err] = p["errors"]
    assert err["error"] == "window_past" and err["waves_past"] == 1
    assert plan(LAB_LIKE, pols, {"now": "2026-11-28T00:00:00Z"})["errors"] == []


@pytest.mark.parametrize("window, minutes", [
    ({"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59Z"}, 15),
    ({"start": "9999-12-31T23:00:00-05:00", "end": "9999-12-31T23:30:00-05:00"}, 15),
    ({"start": "0001-01-01T00:00:00+05:00", "end": "0001-01-02T00:00:00Z"}, 15),
    ({"start": "2026-11-28T01:00:00Z", "end": "2026-11-28T02:00:00Z"}, 10 ** 12),
])
def test_window_at_the_date_range_edge_or_huge_wave_minutes_is_an_error_not_a_crash(window, minutes):
    hosts = {"a": host([{"name": "x"}])}
    p = plan(hosts, {"a": policy(window=window, wave_minutes=minutes)})
    assert [e["error"] for e in p["errors"]] == ["window_invalid"]
    json.dumps(p)
    plan_markdown(p)
