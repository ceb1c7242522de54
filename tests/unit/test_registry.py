"""The check registry: a check is one catalogue entry plus one judge, and nothing else needs touching.

A throwaway check registered at run time shows up in the audit result, the
JSON report, the terminal table, JUnit, Markdown and policy validation.
"""
import json
import xml.etree.ElementTree as ET

import pytest

from nodeaudit import checks
from nodeaudit.checks import registry
from nodeaudit.controller import report
from nodeaudit.errors import PolicyError
from nodeaudit.evaluate import evaluate
from nodeaudit.policy import validate
from nodeaudit.sources import facts as F

THROWAWAY = "kernel.throwaway_release"
ENTRY = {
    "title": "the kernel release is not 5.4.0 (a throwaway check for the registry test)",
    "short": "thrwaway",
    "severity": "low",
    "layer": "kernel",
    "rationale": "Only here to prove that one entry and one judge are enough.",
    "remediation": {"text": "none", "disruption": "none", "reboot": False},
    "default_level": "fail",
    "params": {},
}


def judge_release(views, params):
    release = views["kernel"]["release"]
    state = "fail" if release == "5.4.0" else "pass"
    return registry.result(THROWAWAY, state, "a release other than 5.4.0", "release %s" % release,
                           "the kernel is %s" % release if state == "fail" else None,
                           ["/proc/sys/kernel/osrelease: %s" % release])


@pytest.fixture
def throwaway():
    checks.register(THROWAWAY, ENTRY, judge_release)
    try:
        yield
    finally:
        checks.unregister(THROWAWAY)
    assert THROWAWAY not in checks.CHECKS and THROWAWAY not in checks.JUDGES


def _doc(policy):
    audit = evaluate(F.node(release="5.4.0"), policy, host_name="node1")
    hosts = {"node1": report.host_entry({"audit": audit})}
    return audit, report.build(hosts, "default", "sha256:x", "2026-12-01T00:00:00Z")


def test_a_registered_check_is_everywhere(throwaway):
    audit, doc = _doc(validate({}))
    mine = [c for c in audit["checks"] if c["id"] == THROWAWAY]
    assert len(mine) == 1 and mine[0]["state"] == "fail" and mine[0]["reason"] == "the kernel is 5.4.0"
    assert audit["state"] == "fail"
    assert json.loads(report.to_json(doc))["summary"]["failing_hosts_by_check"] == {THROWAWAY: ["node1"]}
    table = report.table(doc)
    header = [line for line in table.splitlines() if line.startswith("host")][0]
    assert "thrwaway" in header.split()
    assert "node1 FAIL %s: the kernel is 5.4.0" % THROWAWAY in " ".join(table.split())
    cases = ET.fromstring(report.junit(doc).encode()).iter("testcase")
    failed = [c for c in cases if c.get("name") == THROWAWAY]
    assert len(failed) == 1 and failed[0].find("failure") is not None
    assert "`%s`" % THROWAWAY in report.markdown(doc)


def test_policy_validation_knows_a_registered_check(throwaway):
    policy = validate({"checks": {THROWAWAY: {"level": "warn"}}})
    audit, _ = _doc(policy)
    assert [c["state"] for c in audit["checks"] if c["id"] == THROWAWAY] == ["warn"]
    with pytest.raises(PolicyError, match="unknown policy key"):
        validate({"checks": {THROWAWAY: {"levle": "warn"}}})


def test_an_unregistered_check_is_refused_by_the_policy():
    with pytest.raises(PolicyError, match="unknown check id %r" % THROWAWAY):
        validate({"checks": {THROWAWAY: {"level": "warn"}}})


def test_register_refuses_an_incomplete_entry_or_a_duplicate():
    with pytest.raises(ValueError, match="lacks short"):
        checks.register(THROWAWAY, dict((k, v) for k, v in ENTRY.items() if k != "short"), judge_release)
    with pytest.raises(ValueError, match="already registered"):
        checks.register("domains.vhost", ENTRY, judge_release)
    assert THROWAWAY not in checks.CHECKS
