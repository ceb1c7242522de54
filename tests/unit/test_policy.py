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
