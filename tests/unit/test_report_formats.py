"""The reports as their consumers read them: the xunit JUnit schema and junitparser,
the shipped JSON Schemas, Markdown renderers, terminals; and history."""
import json
import xml.etree.ElementTree as ET

import pytest

from nodeaudit.controller import history, report
from nodeaudit.controller.report_files import load_report, write_reports
from report_validation import undocumented_fields, validate_audit_json, validate_junit, validate_plan_json

ESC_LINE = "2026-01-01 qemu: \x1b[2J\x1b[31mvhost-net\x07 falling back\r\n"


def _check(cid, state, reason="r", evidence=None):
    return {"id": cid, "state": state, "reason": None if state == "pass" else reason, "expected": "e",
            "actual": "a", "evidence": evidence or ["/etc/default/qemu-kvm:7: VHOST_NET_ENABLED=0"]}


def _nasty_fleet(run=None):
    """Node text at its worst: ESC and BEL from a QEMU log, HTML, Markdown, undecodable bytes, FQDNs."""
    evil_name = "lb<b>01</b>|*x*\x1b[31m" + b"\xff".decode("utf-8", "surrogateescape")
    bad = {"audit": {"host": "compute-1.example.org", "state": "fail", "checks": [
        _check("qemu_kvm.vhost_net_enabled", "fail", "VHOST_NET_ENABLED is '0'\x1b]0;pwned\x07"),
        _check("kernel.vhost_net", "unknown", evidence=[ESC_LINE]),
        _check("kernel.vhost_net_boot", "not_applicable"),
        _check("domains.vhost", "fail", "<driver name='qemu'/> asks for userspace")],
        "domains": [
            {"name": evil_name, "state": "running", "needs_restart": True, "uuid": "u-1",
             "nics": [{"mac": "52:54:00:00:00:01", "model": "virtio-net-pci", "vhost": False,
                       "reason": "<driver name='qemu'/>\nFORGED | line"}]},
            {"name": "broken-1", "state": "unknown", "needs_restart": False, "nics": [],
             "reason": "/run/libvirt/qemu/broken-1.xml: not well-formed XML"}],
        "needs_restart": [evil_name]}, "duration_s": 0.25}
    ok = {"audit": {"host": "c2", "state": "pass", "checks": [_check("kernel.vhost_net", "pass")],
                    "domains": [], "needs_restart": []}}
    gone = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused"}
    return report.fleet({"compute-1.example.org": bad, "c2": ok, "gone": gone}, "default", "sha256:abc",
                        "2026-11-26T00:00:00Z", host_order=["compute-1.example.org", "c2", "gone"], run=run)


def _all_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_strings(v)


def test_no_control_character_survives_into_the_document():
    doc = _nasty_fleet()
    for text in _all_strings(doc):
        assert not any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 for ch in text), repr(text)
        text.encode("utf-8")                                  # no lone surrogate
    dom = doc["hosts"]["compute-1.example.org"]["domains"][0]["name"]
    assert "\\x1b[31m" in dom and dom.endswith("\\xff")       # said, not dropped


def test_json_validates_against_the_shipped_schema_and_documents_every_field():
    doc = _nasty_fleet()
    validate_audit_json(json.loads(report.to_json(doc)))
    assert undocumented_fields(doc) == []
    doc["summary"]["hosts"] = "three"
    with pytest.raises(Exception):
        validate_audit_json(doc)


def test_junit_is_valid_against_the_xunit_schema_and_junitparser_reads_it(tmp_path):
    doc = _nasty_fleet()
    path = tmp_path / "audit.xml"
    path.write_text(report.junit(doc), encoding="utf-8")
    xml = validate_junit(path)
    suites = dict((s.name, s) for s in xml)
    assert set(suites) == {"compute-1.example.org", "c2", "gone"}
    bad = suites["compute-1.example.org"]
    assert (bad.tests, bad.failures, bad.errors, bad.skipped) == (4, 2, 1, 1)
    assert bad.hostname == "compute-1.example.org" and bad.timestamp == "2026-11-26T00:00:00"
    assert bad.time == 0.25
    cases = dict((c.name, c) for c in bad)
    # Jenkins splits a classname at its last dot: the host part has none left.
    assert cases["domains.vhost"].classname.rsplit(".", 1)[1] == "compute-1\u2024example\u2024org"
    assert [r.message for r in cases["domains.vhost"].result][0].startswith("<driver name='qemu'/>")
    assert cases["kernel.vhost_net"].result[0].type == "unknown"
    assert "\\x1b[2J" in cases["kernel.vhost_net"].result[0].text
    assert suites["gone"].errors == 1
    root = ET.parse(str(path)).getroot()
    assert root.get("skipped") is None                        # the xunit schema refuses it on <testsuites>
    assert root.get("tests") == "6"


def test_junit_without_the_text_layer_would_be_refused(tmp_path):
    """The test above could fail: raw ESC in XML is not well-formed (what users saw)."""
    path = tmp_path / "raw.xml"
    path.write_text('<?xml version="1.0"?><testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
                    '<testcase name="a"><system-out>\x1b[31m</system-out></testcase></testsuite></testsuites>')
    with pytest.raises(Exception):
        validate_junit(path)


def test_markdown_escapes_html_and_markdown_and_lists_every_domain():
    md = report.markdown(_nasty_fleet())
    assert "<driver" not in md and "&lt;driver name='qemu'/&gt;" in md
    assert "<b>" not in md and "\x1b" not in md
    assert "lb&lt;b&gt;01&lt;/b&gt;\\|\\*x\\*" in md
    assert "broken-1" in md and "not well-formed XML" in md          # the unparsable domain is listed
    assert not any(line.startswith("FORGED") for line in md.splitlines())
    # Counts: one row of states that adds up to the hosts (unreachable not counted twice).
    head = md.splitlines()
    i = head.index(next(l for l in head if l.startswith("| hosts |")))
    cols = [c.strip() for c in head[i].strip("|").split("|")]
    vals = [c.strip() for c in head[i + 2].strip("|").split("|")]
    counts = dict(zip(cols, vals))
    assert counts["hosts"] == "3" and counts["unreachable"] == "1" and counts["error"] == "0"
    assert sum(int(counts[s]) for s in report.HOST_STATES) == 3


def _big_fleet(n):
    results = {}
    for i in range(n):
        bad = i % 10 == 0
        results["host-%04d" % i] = {"audit": {"state": "fail" if bad else "pass", "checks": [
            _check("domains.vhost", "fail" if bad else "pass", "running without vhost-net: " + "x" * 200)],
            "domains": [{"name": "vm-%d-%d" % (i, j), "state": "running", "needs_restart": bad,
                         "nics": [{"mac": "52:54:00:00:%02x:%02x" % (i % 256, j), "model": "virtio-net-pci",
                                   "vhost": not bad, "reason": "r" * 300}]} for j in range(8)],
            "needs_restart": []}}
    return report.fleet(results, "default", "sha256:abc", "2026-11-26T00:00:00Z")


def test_markdown_keeps_within_the_budget_and_keeps_the_failures():
    doc = _big_fleet(400)
    full = report.markdown(doc, budget=None)
    assert len(full.encode()) > report.MARKDOWN_BUDGET                  # the case users hit at ~280 hosts
    cut = report.markdown(doc)
    assert len(cut.encode()) <= report.MARKDOWN_BUDGET
    assert "[audit.json](audit.json)" in cut and "cut to" in cut
    for i in range(0, 400, 10):
        assert "| host-%04d | fail |" % i in cut                        # every failing host is still there
    assert "| host-0001 |" not in cut
    small = report.markdown(doc, budget=20000)
    assert len(small.encode()) <= 20000 and "host-0390" in small


def test_table_short_mode_and_colour():
    doc = _nasty_fleet()
    full = report.table(doc)
    short = report.table(doc, summary="short")
    assert any(l.startswith("c2 ") for l in full.splitlines())
    assert not any(l.startswith("c2 ") for l in short.splitlines()) and "1 clean hosts not listed" in short
    painted = report.table(doc, colour=lambda text, state: "<%s>%s</>" % (state, text))
    assert "<fail>FAIL    </>" in painted and "<unknown>UNKN    </>" in painted
    assert "<pass>" in painted and "\x1b" not in full


def test_partial_run_says_so_everywhere():
    doc = _nasty_fleet(run={"limit": "c2,gone,compute-1.example.org", "hosts_in_inventory": 10})
    assert doc["run"]["partial"] is True and doc["run"]["hosts_audited"] == 3
    assert "partial run: 3 of 10 hosts" in report.table(doc)
    assert "**Partial run**: 3 of 10 hosts" in report.markdown(doc)
    assert 'name="partial" value="true"' in report.junit(doc)
    validate_audit_json(doc)
    assert _nasty_fleet()["run"]["partial"] is False


def test_history_says_what_changed(tmp_path):
    before = _nasty_fleet()
    after_results = {"compute-1.example.org": {"audit": {"state": "fail", "checks": [
        _check("qemu_kvm.vhost_net_enabled", "pass"), _check("kernel.vhost_net", "fail"),
        _check("domains.vhost", "fail")], "domains": [{"name": "new-vm", "state": "running", "needs_restart": True,
                                                       "nics": []}], "needs_restart": ["new-vm"]}},
        "gone": {"audit": {"state": "pass", "checks": [_check("kernel.vhost_net", "pass")], "domains": [],
                           "needs_restart": []}},
        "c3": {"unreachable": True, "msg": "no route"}}
    after = report.fleet(after_results, "default", "sha256:abc", "2026-11-27T00:00:00Z",
                         host_order=["compute-1.example.org", "gone", "c3"])
    c = history.changes(before, after)
    assert {"host": "compute-1.example.org", "check": "qemu_kvm.vhost_net_enabled", "was": "fail", "now": "pass"} \
        in c["fixed"]
    assert {"host": "compute-1.example.org", "check": "kernel.vhost_net", "was": "unknown", "now": "fail"} \
        not in c["newly_failing"]                                  # unknown -> fail: still not evaluated-ok
    assert {"host": "gone", "was": "unreachable", "now": "pass"} in c["fixed"]
    assert c["newly_needing_restart"] == [{"host": "compute-1.example.org", "domain": "new-vm"}]
    assert c["restarted"] == []                                    # the old domain is gone, not restarted
    assert c["hosts_added"] == ["c3"] and c["hosts_removed"] == ["c2"]
    doc = report.build(after["hosts"], "default", "sha256:abc", after["generated_at"],
                       host_order=list(after["hosts"]), changes=c)
    validate_audit_json(doc)
    assert "changes since 2026-11-26T00:00:00Z:" in report.table(doc)
    assert "## Changes" in report.markdown(doc)
    assert history.changes(None, after) == {"previous": None, "reason": "no previous report to compare with"}


def test_previous_report_is_kept(tmp_path):
    first = _nasty_fleet()
    write_reports(first, str(tmp_path))
    assert not (tmp_path / "audit.previous.json").exists()
    second = _big_fleet(3)
    files = write_reports(second, str(tmp_path))
    assert load_report(str(tmp_path / "audit.previous.json"))["hosts"].keys() == first["hosts"].keys()
    for path in files:
        if path.endswith(".json"):
            validate_audit_json(path)
        elif path.endswith(".xml"):
            validate_junit(path)


def test_restart_plan_schema_accepts_a_real_plan():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    "filter_plugins"))
    import nodeaudit_plan
    hosts = {"c1": {"reachable": True, "sources": {"domains": "libvirt"}, "state": "fail",
                    "checks": [{"id": "kernel.vhost_net", "state": "pass"}],
                    "domains": [{"name": "lb1", "uuid": "u1", "state": "running", "pid": 10, "needs_restart": True,
                                 "nics": [{"vhost": False, "restart_fixes": True}]}], "needs_restart": ["lb1"]},
             "c2": {"reachable": False, "state": "unreachable", "reason": "unreachable: x", "checks": [],
                    "domains": [], "needs_restart": []}}
    plan = nodeaudit_plan.restart_plan(hosts, {})
    doc = json.loads(nodeaudit_plan.restart_plan_json(plan, "2026-01-01T00:00:00Z"))
    validate_plan_json(doc)
    assert any(s["host"] == "c2" and s["domain"] is None for s in doc["skipped"])
    doc["waves"] = [[{"host": "c1"}]]
    with pytest.raises(Exception):
        validate_plan_json(doc)
