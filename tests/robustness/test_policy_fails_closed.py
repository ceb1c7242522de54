"""Promise: a careless policy fails closed (issue 14, point 6; the planner's findings of "The planner and the fix").

Each finding of the issue, asserting the honest outcome: the policy is
refused naming the key or the file, or the plan carries an error and restarts
nothing it cannot justify. No finding turns a failing gate green or restarts
an HA pair together.
"""
import json
import signal

import pytest
import yaml

from nodeaudit import policy
from nodeaudit.controller import policy_file
from nodeaudit.controller.plan import plan
from nodeaudit.errors import PolicyError

KERNEL = {"can_provide": True, "can_provide_reason": None, "module_support": True, "blocks": []}


def host(*names, **extra):
    entry = {"reachable": True, "state": "fail", "mode": "live", "sources": {"domains": "libvirt"},
             "kernel": dict(KERNEL), "checks": [],
             "domains": [{"name": n, "uuid": "u-" + n, "state": "running", "needs_restart": True, "exempt": False}
                         for n in names]}
    entry.update(extra)
    return entry


# -- the gate weakened ---------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "---\n", "- name: x\n  checks: {}\n", "[]\n"])
def test_a_policy_file_that_is_not_a_mapping_is_refused_not_defaulted(text):
    with pytest.raises(PolicyError, match="must be a YAML mapping"):
        policy_file.parse_policy_text(text, "p.yml")
    with pytest.raises(PolicyError):
        policy_file.effective_policies({"h": {}}, yaml.safe_load(text), {}, "p.yml")


def test_level_off_as_readme_and_default_yml_write_it():
    doc = policy_file.parse_policy_text("checks:\n  domains.vhost: {level: off}\n  kernel.vhost_net: {level: \"off\"}\n",
                                        "p.yml")
    full = policy.validate(doc)
    assert full["checks"]["domains.vhost"]["level"] == full["checks"]["kernel.vhost_net"]["level"] == "off"


def test_yaml_alias_bomb_in_ha_groups_metadata_is_refused_quickly():
    bomb = ("ha_groups:\n  - name: g\n    metadata:\n      a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join("      %s: &%s [%s]\n" % (c, c, ", ".join(["*" + p] * 9)) for p, c in zip("abcdefgh", "bcdefghi")))
    old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(AssertionError("hung on the alias bomb")))
    signal.alarm(30)
    try:
        with pytest.raises(PolicyError, match="alias|expanded"):
            policy_file.parse_policy_text(bomb, "bomb.yml")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the planner ---------------------------------------------------------------------

def test_server_group_without_instance_data_never_puts_the_pair_in_one_wave():
    groups = [{"name": "lb", "server_group": "keepalived"}]
    hosts = {"c1": host("lb-a"), "c2": host("lb-b")}
    p = plan(hosts, dict((h, policy.validate({"ha_groups": groups})) for h in hosts))
    assert p["waves"] == [] and [e["error"] for e in p["errors"]] == ["ha_groups_unresolved"]


def test_per_host_override_cannot_replace_ha_groups():
    base = {"ha_groups": [{"name": "lb", "domains": ["lb-*"]}]}
    got = policy_file.effective_policies({"c1": {}, "c2": {"ha_groups": [{"name": "web", "domains": ["web-*"]}]},
                                          "c3": {"ha_groups": []}}, base, {}, "p.yml")
    assert all("lb" in [g["name"] for g in got[h]["ha_groups"]] for h in got)
    hosts = {"c1": host("lb-a"), "c2": host("lb-b"), "c3": host("lb-c")}
    p = plan(hosts, got)
    assert all(sum(1 for i in w if i.get("group") == "lb") <= 1 for w in p["waves"]) and len(p["waves"]) == 3
    with pytest.raises(PolicyError, match="redefines HA group 'lb'"):
        policy_file.effective_policies({"c2": {"ha_groups": [{"name": "lb", "domains": ["x*"]}]}}, base, {}, None)


@pytest.mark.parametrize("method", ["libvirt", "nova", "live_migrate"])
def test_a_snapshot_is_never_planned(method):
    hosts = {"snap": host("a", mode="snapshot", root="/srv/snap", sources={"domains": "snapshot"})}
    p = plan(hosts, {"snap": policy.validate({"restart": {"method": method}})}, {"restart_without_vhost": True})
    assert p["waves"] == [] and "snapshot" in p["skipped"][0]["reason"]


@pytest.mark.parametrize("restart", [
    {"window": {"start": "9999-12-31T23:00:00Z", "end": "9999-12-31T23:59:00Z"}},
    {"wave_minutes": 10 ** 15},
])
def test_window_at_the_edge_or_huge_wave_minutes_is_refused_by_the_policy_and_no_crash_in_the_plan(restart):
    with pytest.raises(PolicyError):
        policy.validate({"restart": restart})
    raw = dict({"method": "libvirt", "max_per_host": 1, "max_per_wave": 10,
                "window": {"start": "2026-11-28T01:00:00Z", "end": "2026-11-28T02:00:00Z"}}, **restart)
    p = plan({"c1": host("a")}, {"c1": {"restart": raw}})
    assert [e["error"] for e in p["errors"]] == ["window_invalid"]
    json.dumps(p)


def test_a_window_in_the_past_is_refused_for_execution():
    pol = policy.validate({"restart": {"window": {"start": "2026-11-28T01:00:00Z", "end": "2026-11-28T05:00:00Z"}}})
    p = plan({"c1": host("a")}, {"c1": pol}, {"now": "2026-12-01T00:00:00Z"})
    assert [e["error"] for e in p["errors"]] == ["window_past"]
