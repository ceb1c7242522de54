"""The Jinja filters in filter_plugins/: policy merge + validation, fleet aggregation."""
import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

from nodeaudit.controller import report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("nodeaudit_filters",
                                               os.path.join(REPO, "filter_plugins", "nodeaudit_filters.py"))
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)
FILTERS = filters.FilterModule().filters()


def test_fleet_keeps_host_order_and_counts_unreachable():
    # (was the audit_fleet filter's test; the filter was dead code: the action plugin calls report.fleet)
    results = {"n1": {"audit": {"state": "pass", "checks": [], "domains": [], "needs_restart": []}},
               "n2": {"unreachable": True, "msg": "Connection refused"}}
    doc = report.fleet(results, "default", "sha256:x", "2026-11-26T00:00:00Z", host_order=["n2", "n1"])
    assert list(doc["hosts"]) == ["n2", "n1"] and doc["summary"]["unreachable"] == ["n2"]
    assert "audit_fleet" not in FILTERS


def test_policies_filter_names_the_host_and_the_key():
    base = {"name": "default"}
    got = FILTERS["audit_policies"]({"a": {}, "b": {"checks": {"domains.vhost": {"level": "warn"}}}}, base)
    assert got["b"]["checks"]["domains.vhost"]["level"] == "warn" and got["a"]["checks"]["domains.vhost"]["level"] == "fail"
    with pytest.raises(AnsibleFilterError, match=r"host b.*checks\.domains\.vhost\.levle"):
        FILTERS["audit_policies"]({"b": {"checks": {"domains.vhost": {"levle": "warn"}}}}, base)
