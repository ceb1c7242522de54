import doctest
import os

import pytest
import yaml

from nodeaudit import policy
from nodeaudit.errors import PolicyError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_doctests():
    assert doctest.testmod(policy).failed == 0


def test_shipped_yaml_equals_the_builtin_default():
    with open(os.path.join(REPO, "policies", "default.yml")) as handle:
        assert yaml.safe_load(handle) == policy.DEFAULT_POLICY


def test_default_validates_and_keeps_every_check():
    full = policy.validate({})
    assert set(full["checks"]) == {"qemu_kvm.vhost_net_enabled", "qemu_kvm.settings", "kernel.vhost_net",
                                   "kernel.vhost_net_boot", "domains.vhost"}


@pytest.mark.parametrize("doc,key", [
    ({"chekcs": {}}, "chekcs"),
    ({"checks": {"domains.vhots": {}}}, "checks.domains.vhots"),
    ({"checks": {"domains.vhost": {"level": "loud"}}}, "checks.domains.vhost.level"),
    ({"checks": {"domains.vhost": {"levle": "warn"}}}, "checks.domains.vhost.levle"),
    ({"checks": {"domains.vhost": {"exempt": {"hosts": "web-*"}}}}, "checks.domains.vhost.exempt.hosts"),
    ({"checks": {"qemu_kvm.settings": {"expected": {"KSM_ENABLED": [1]}}}}, "checks.qemu_kvm.settings.expected.KSM_ENABLED"),
    ({"checks": {"kernel.vhost_net": {"expected": {"A": "1"}}}}, "checks.kernel.vhost_net.expected"),
    ({"ha_groups": {"name": "x"}}, "ha_groups"),
    ({"ha_groups": [{"name": "x"}]}, "ha_groups[0]"),
    ({"ha_groups": [{"name": "x", "domains": "lb*"}]}, "ha_groups[0].domains"),
    ({"restart": {"method": "reboot"}}, "restart.method"),
    ({"restart": {"max_per_host": 0}}, "restart.max_per_host"),
    ({"restart": {"max_per_wave": True}}, "restart.max_per_wave"),
    ({"restart": {"window": {"start": "01:00"}}}, "restart.window.end"),
    ({"remediation": {"remove_blacklist": "yes"}}, "remediation.remove_blacklist"),
    ({"name": 3}, "name"),
    ([], "<policy>"),
])
def test_malformed_policy_names_the_bad_key(doc, key):
    with pytest.raises(PolicyError) as exc:
        policy.validate(doc)
    assert exc.value.key == key
    assert key.split(".")[-1].split("[")[0] in str(exc.value)


def test_merge_overrides_per_group():
    merged = policy.merge(policy.DEFAULT_POLICY, {"checks": {"kernel.vhost_net_boot": {"level": "fail"}},
                                                  "ha_groups": [{"name": "lb", "domains": ["lb*"]}]})
    full = policy.validate(merged)
    assert full["checks"]["kernel.vhost_net_boot"]["level"] == "fail"
    assert full["checks"]["domains.vhost"]["level"] == "fail"
    assert full["ha_groups"] == [{"name": "lb", "domains": ["lb*"]}]
    assert policy.DEFAULT_POLICY["ha_groups"] == []


def test_digest_is_stable_and_sensitive():
    a = policy.digest(policy.DEFAULT_POLICY)
    assert a == policy.digest(policy.validate({}))
    assert a != policy.digest(policy.validate({"checks": {"domains.vhost": {"level": "warn"}}}))


# -- one policy object: defaults from the registry ---------------------------------

from nodeaudit import checks as checkreg  # noqa: E402
from nodeaudit.controller import plan as planmod  # noqa: E402
from nodeaudit.controller import policy_file  # noqa: E402


def test_shipped_yaml_is_generated_from_the_registry():
    with open(os.path.join(REPO, "policies", "default.yml")) as handle:
        text = handle.read()
    assert text == policy.default_policy_yaml(), (
        "policies/default.yml is out of date: PYTHONPATH=module_utils python3 -c 'from nodeaudit import policy; "
        "print(policy.default_policy_yaml(), end=\"\")' > policies/default.yml")


def test_default_policy_comes_from_the_registry():
    for check_id, entry in checkreg.CHECKS.items():
        spec = policy.DEFAULT_POLICY["checks"][check_id]
        assert spec["level"] == entry["default_level"]
        for name, param in entry["params"].items():
            assert spec[name] == param["default"]
        assert set(spec) == {"level"} | set(entry["params"])


def test_planner_and_policy_share_the_restart_defaults():
    assert planmod.DEFAULT_RESTART == policy.DEFAULT_POLICY["restart"] == policy.validate({})["restart"]
    assert policy.DEFAULT_POLICY["restart"]["wave_minutes"] == 15


def test_validation_iterates_the_registry(monkeypatch):
    # A throwaway check with an integer parameter: validation, defaults and the
    # shipped-file generator know it from its registry entry alone.
    entry = {"short": "tmp", "default_level": "warn", "title": "throwaway", "severity": "low", "layer": "kernel",
             "rationale": "-", "remediation": {"text": "-", "disruption": "none", "reboot": False},
             "params": {"max_age": {"type": "integer", "range": (1, 30), "default": 7, "doc": "days"}}}
    monkeypatch.setitem(checkreg.CHECKS, "tmp.throwaway", entry)
    full = policy.validate({})
    assert full["checks"]["tmp.throwaway"] == {"level": "warn", "max_age": 7}
    assert policy.validate({"checks": {"tmp.throwaway": {"max_age": 30}}})["checks"]["tmp.throwaway"]["max_age"] == 30
    with pytest.raises(PolicyError) as exc:
        policy.validate({"checks": {"tmp.throwaway": {"max_age": 31}}})
    assert exc.value.key == "checks.tmp.throwaway.max_age"
    with pytest.raises(PolicyError) as exc:
        policy.validate({"checks": {"tmp.throwaway": {"expected": {}}}})
    assert exc.value.key == "checks.tmp.throwaway.expected"
    assert "tmp.throwaway:" in policy.default_policy_yaml()


def test_validate_is_idempotent_so_node_and_controller_digests_agree():
    doc = {"checks": {"qemu_kvm.settings": {"expected": {"KSM_ENABLED": 1}},
                      "domains.vhost": {"exempt": {"domains": ["*-dpdk"], "expires": "2030-01-01"}}},
           "ha_groups": [{"name": "lb", "domains": ["lb*"]}],
           "restart": {"window": {"start": "2030-01-01T01:00:00Z", "end": "2030-01-01T02:00:00Z"}}}
    once = policy.validate(doc)
    assert policy.validate(once) == once and policy.digest(policy.validate(once)) == policy.digest(once)
    assert once["checks"]["qemu_kvm.settings"]["expected"] == {"KSM_ENABLED": "1"}


# -- levels (both ways) and off -----------------------------------------------------------

@pytest.mark.parametrize("level, judged, want", [
    ("fail", "fail", "fail"), ("fail", "warn", "fail"), ("warn", "fail", "warn"), ("warn", "warn", "warn"),
    ("fail", "unknown", "unknown"), ("warn", "error", "error"), ("warn", "unknown", "unknown"),
    ("fail", "pass", "pass"), ("warn", "not_applicable", "not_applicable"),
    ("off", "fail", "not_applicable"), ("off", "unknown", "not_applicable"),
])
def test_level_table(level, judged, want):
    pol = policy.validate({"checks": {"kernel.vhost_net_boot": {"level": level}}})
    assert policy.apply_level(pol, "kernel.vhost_net_boot", judged, "r")[0] == want


def test_advisory_of_a_fail_by_default_check_stays_warn():
    pol = policy.validate({})
    assert policy.apply_level(pol, "kernel.vhost_net", "warn", "static node")[0] == "warn"
    assert policy.apply_level(pol, "kernel.vhost_net", "fail", "absent")[0] == "fail"


def test_bare_off_is_off_and_true_is_refused_naming_the_fix():
    doc = yaml.safe_load("checks:\n  kernel.vhost_net_boot: {level: off}\n")
    assert doc["checks"]["kernel.vhost_net_boot"]["level"] is False
    assert policy.validate(doc)["checks"]["kernel.vhost_net_boot"]["level"] == "off"
    with pytest.raises(PolicyError) as exc:
        policy.validate(yaml.safe_load("checks:\n  kernel.vhost_net_boot: {level: on}\n"))
    assert exc.value.key == "checks.kernel.vhost_net_boot.level" and '"off"' in str(exc.value)


def test_shipped_yaml_quotes_every_level():
    with open(os.path.join(REPO, "policies", "default.yml")) as handle:
        for line in handle:
            if line.strip().startswith("level:"):
                assert line.split(":", 1)[1].strip().startswith('"'), line


# -- exemptions that expire ------------------------------------------------------------

def _exempt_policy(expires):
    return policy.validate({"checks": {"kernel.vhost_net": {"exempt": {"hosts": ["arm-*"], "reason": "no kernel",
                                                                       "expires": expires}},
                                       "domains.vhost": {"exempt": {"domains": ["*-dpdk"], "expires": expires}}}})


def test_exemption_applies_until_it_expires_then_is_ignored_and_said():
    import datetime
    day = datetime.date(2026, 12, 1)
    live = _exempt_policy("2026-12-01")
    assert policy.host_exempt(live, "kernel.vhost_net", ["arm-1"], today=day) == "no kernel"
    assert policy.domain_exempt(live, "domains.vhost", "x-dpdk", today=day)
    gone = _exempt_policy("2026-11-30")
    assert policy.host_exempt(gone, "kernel.vhost_net", ["arm-1"], today=day) is None
    assert policy.domain_exempt(gone, "domains.vhost", "x-dpdk", today=day) is None
    audit = {"host": "arm-1", "checks": [{"id": "kernel.vhost_net", "evidence": ["e"]},
                                         {"id": "domains.vhost", "evidence": []}],
             "domains": [{"name": "x-dpdk"}, {"name": "web"}]}
    policy.annotate(audit, gone, ["arm-1"], today=day)
    notes = audit["policy"]["expired_exemptions"]
    assert [(n["check"], n["hosts"], n["domains"]) for n in notes] == [("kernel.vhost_net", ["arm-1"], []),
                                                                      ("domains.vhost", [], ["x-dpdk"])]
    assert audit["checks"][0]["evidence"][0].startswith("policy exemption for host arm-1 (no kernel) expired on "
                                                        "2026-11-30: not applied")
    assert audit["policy"]["digest"] == policy.digest(gone)


def test_expires_accepts_a_yaml_date_and_refuses_nonsense():
    doc = yaml.safe_load("checks:\n  kernel.vhost_net:\n    exempt: {hosts: [a], expires: 2027-01-31}\n")
    assert policy.validate(doc)["checks"]["kernel.vhost_net"]["exempt"]["expires"] == "2027-01-31"
    for bad in ("soon", "2027-02-30", 20270131, "9999-12-31"):
        with pytest.raises(PolicyError) as exc:
            policy.validate({"checks": {"kernel.vhost_net": {"exempt": {"hosts": ["a"], "expires": bad}}}})
        assert exc.value.key == "checks.kernel.vhost_net.exempt.expires"


# -- ranges: no OverflowError later --------------------------------------------------------

@pytest.mark.parametrize("restart, key", [
    ({"wave_minutes": 10 ** 12}, "restart.wave_minutes"),
    ({"max_per_wave": 10 ** 30}, "restart.max_per_wave"),
    ({"verify_timeout": 0}, "restart.verify_timeout"),
    ({"window": {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59Z"}}, "restart.window.start"),
    ({"window": {"start": "0001-01-01T00:00:00+14:00", "end": "2026-01-01T00:00:00Z"}}, "restart.window.start"),
    ({"window": {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}}, "restart.window.end"),
    ({"window": {"start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"}}, "restart.window.end"),
    ({"window": {"start": "tomorrow", "end": "2026-01-01T00:00:00Z"}}, "restart.window.start"),
])
def test_dates_and_durations_are_range_checked(restart, key):
    with pytest.raises(PolicyError) as exc:
        policy.validate({"restart": restart})
    assert exc.value.key == key


def test_window_as_yaml_datetimes_is_kept_as_utc_text():
    doc = yaml.safe_load("restart:\n  window: {start: 2026-11-28T01:00:00Z, end: 2026-11-28 05:00:00+01:00}\n")
    assert policy.validate(doc)["restart"]["window"] == {"start": "2026-11-28T01:00:00Z",
                                                         "end": "2026-11-28T04:00:00Z"}


# -- ha_groups in overrides: merged, never dropped -------------------------------------

BASE = {"ha_groups": [{"name": "lb", "domains": ["keepalived-lb*"]}]}


def test_override_cannot_drop_or_replace_ha_groups():
    assert policy.merge(BASE, {"ha_groups": []})["ha_groups"] == BASE["ha_groups"]
    merged = policy.validate(policy.merge(BASE, {"ha_groups": [{"name": "db", "server_group": "galera"}]}))
    assert [g["name"] for g in merged["ha_groups"]] == ["lb", "db"]
    assert policy.merge(BASE, {"ha_groups": list(BASE["ha_groups"])})["ha_groups"] == BASE["ha_groups"]
    with pytest.raises(PolicyError) as exc:
        policy.merge(BASE, {"ha_groups": [{"name": "lb", "domains": ["other*"]}]})
    assert exc.value.key == "ha_groups[0]" and "redefines HA group 'lb'" in str(exc.value)
    with pytest.raises(PolicyError) as exc:
        policy.validate({"ha_groups": [{"name": "x", "domains": ["a"]}, {"name": "x", "domains": ["b"]}]})
    assert exc.value.key == "ha_groups[1].name"


# -- the file and where errors come from ------------------------------------------------------

@pytest.mark.parametrize("text, what", [("", "an empty document"), ("# only a comment\n", "an empty document"),
                                        ("- checks: {}\n", "a list"), ("just text\n", "a str")])
def test_policy_file_must_be_a_mapping(tmp_path, text, what):
    path = tmp_path / "p.yml"
    path.write_text(text)
    with pytest.raises(PolicyError) as exc:
        policy_file.load_policy_file(str(path))
    assert str(path) in str(exc.value) and what in str(exc.value) and "refusing" in str(exc.value)


def test_bad_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("name: x\nchecks:\n  domains.vhost: {level: warn\n")
    with pytest.raises(PolicyError) as exc:
        policy_file.load_policy_file(str(path))
    assert "policy file %s, line 4" % path in str(exc.value)


def test_relative_policy_file_resolves_from_where_the_user_stands(tmp_path, monkeypatch):
    (tmp_path / "mine.yml").write_text("name: mine\n")
    monkeypatch.chdir(tmp_path)
    assert policy_file.load_policy_file("mine.yml") == {"name": "mine"}
    with pytest.raises(PolicyError) as exc:
        policy_file.load_policy_file("absent.yml")
    assert str(tmp_path / "absent.yml") in str(exc.value)


def test_alias_bomb_and_size_are_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        "%s: &%s [%s]\n" % (c, c, ", ".join(["*" + p] * 9)) for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(PolicyError) as exc:
        policy_file.parse_policy_text(bomb, "bomb.yml")
    assert "aliases" in str(exc.value) or "expanded" in str(exc.value)
    with pytest.raises(PolicyError) as exc:
        policy_file.parse_policy_text("name: " + "x" * (policy_file.MAX_POLICY_BYTES + 1), "big.yml")
    assert "limit" in str(exc.value)
    assert policy_file.parse_policy_text("a: &x {k: 1}\nb: *x\n", "ok.yml") == {"a": {"k": 1}, "b": {"k": 1}}


def test_errors_name_the_base_file_not_a_host():
    with pytest.raises(PolicyError) as exc:
        policy_file.effective_policies({"h1": {}, "h2": {}}, {"checks": {"domains.vhost": {"levle": "x"}}},
                                       {}, "/etc/p.yml")
    assert str(exc.value).startswith("base policy file /etc/p.yml: unknown policy key 'checks.domains.vhost.levle'")
    assert "h1" not in str(exc.value) and "h2" not in str(exc.value)


def test_errors_name_the_group_or_the_hosts_that_carry_the_override():
    bad = {"checks": {"domains.vhost": {"level": "loud"}}}
    groups = {"all": ["a", "b", "c"], "compute": ["a", "b", "c"], "lb": ["b", "c"]}
    with pytest.raises(PolicyError) as exc:
        policy_file.effective_policies({"a": {}, "b": bad, "c": bad}, {"name": "p"}, groups, "p.yml")
    assert "audit_policy_overrides of group 'lb' (hosts b, c)" in str(exc.value)
    assert " a" not in str(exc.value).split(":")[0]
    with pytest.raises(PolicyError) as exc:
        policy_file.effective_policies({"a": {}, "b": {}, "c": bad}, {"name": "p"}, groups, "p.yml")
    assert "audit_policy_overrides of host c:" in str(exc.value)
    assert exc.value.key == "checks.domains.vhost.level"


def test_effective_policies_share_one_validation_per_distinct_override():
    got = policy_file.effective_policies({"a": {}, "b": {"restart": {"max_per_host": 2}}, "c": None},
                                         {"name": "p"}, {}, None)
    assert got["a"] is got["c"] and got["b"]["restart"]["max_per_host"] == 2
    assert got["a"]["name"] == "p"


def test_level_fail_promotes_the_boot_warning_of_inventory_example():
    # inventory.example's override: {"checks": {"kernel.vhost_net_boot": {"level": "fail"}}}
    from nodeaudit.evaluate import evaluate
    from nodeaudit.sources.collect import collect
    root = os.path.join(REPO, "tests", "snapshots", "trusty-2014.fail")
    facts = collect(root=root)
    by_default = dict((c["id"], c["state"]) for c in evaluate(facts, policy.validate({}))["checks"])
    assert by_default["kernel.vhost_net_boot"] == "warn"
    strict = policy.validate({"checks": {"kernel.vhost_net_boot": {"level": "fail"}}})
    promoted = dict((c["id"], c["state"]) for c in evaluate(collect(root=root), strict)["checks"])
    assert promoted["kernel.vhost_net_boot"] == "fail"
