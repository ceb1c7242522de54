"""Fleet aggregation and the three report formats."""
import json
import xml.etree.ElementTree as ET

from nodeaudit.controller import report


def _check(cid, state, reason="r"):
    return {"id": cid, "state": state, "reason": None if state == "pass" else reason, "expected": "e", "actual": "a",
            "evidence": ["/etc/default/qemu-kvm:7: VHOST_NET_ENABLED=0"]}


def _fleet():
    ok = {"audit": {"state": "pass", "checks": [_check("kernel.vhost_net", "pass"), _check("domains.vhost", "pass")],
                    "domains": [], "needs_restart": []}}
    bad = {"audit": {"state": "fail", "checks": [_check("qemu_kvm.vhost_net_enabled", "fail"),
                                                 _check("kernel.vhost_net", "unknown"),
                                                 _check("kernel.vhost_net_boot", "not_applicable"),
                                                 _check("domains.vhost", "warn")],
                     "domains": [{"name": "lb|1", "state": "running", "needs_restart": True,
                                  "nics": [{"mac": "52:54:00:00:00:01", "model": "virtio-net-pci", "vhost": False,
                                            "reason": "no vhost=on <&>"}]}],
                     "needs_restart": ["lb|1"]}}
    gone = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused"}
    broken = {"failed": True, "msg": "python3 not found"}
    hosts = dict((n, report.host_entry(r)) for n, r in
                 [("ok-1", ok), ("bad-1", bad), ("gone-1", gone), ("broken-1", broken)])
    return report.build(hosts, "default", "sha256:abc", "2026-11-26T00:00:00Z",
                        host_order=["ok-1", "bad-1", "gone-1", "broken-1"])


def test_summary():
    doc = _fleet()
    s = doc["summary"]
    assert doc["schema_version"] == 1 and doc["policy"] == {"name": "default", "digest": "sha256:abc"}
    assert s["unreachable"] == ["gone-1"]
    assert s["failing_hosts_by_check"] == {"qemu_kvm.vhost_net_enabled": ["bad-1"]}
    assert s["not_evaluated_by_check"] == {"kernel.vhost_net": ["bad-1"]}
    assert s["hosts_by_state"]["pass"] == ["ok-1"]
    assert s["hosts_by_state"]["error"] == ["broken-1"]
    assert s["hosts_by_state"]["unreachable"] == ["gone-1"]       # its own state: never counted twice
    assert sum(len(v) for v in s["hosts_by_state"].values()) == s["hosts"]
    assert s["domains_needing_restart"] == 1
    assert doc["hosts"]["gone-1"]["reachable"] is False
    assert doc["hosts"]["broken-1"]["reachable"] is True
    assert list(doc["hosts"]) == ["ok-1", "bad-1", "gone-1", "broken-1"]
    json.loads(report.to_json(doc))


def test_gate():
    doc = _fleet()
    assert report.gate(doc, ("fail",))["reasons"] == ["fail: bad-1"]
    g = report.gate(doc, ("fail", "error", "unknown", "unreachable"))
    assert g["drift"] and g["reasons"] == ["unreachable: gone-1", "fail: bad-1", "error: broken-1", "unknown: bad-1"]
    assert g["hosts"] == ["bad-1", "gone-1", "broken-1"]
    assert report.host_drift(doc["hosts"]["ok-1"]) == []
    assert report.host_drift(doc["hosts"]["gone-1"], ("fail",)) == []
    clean = report.build({"ok-1": _fleet()["hosts"]["ok-1"]}, "d", "x", "t")
    assert report.gate(clean, ("fail", "error", "unknown", "unreachable")) == {"drift": False, "reasons": [],
                                                                               "hosts": []}


def test_junit_maps_states():
    root = ET.fromstring(report.junit(_fleet()).encode())
    suites = dict((s.get("name"), s) for s in root.findall("testsuite"))
    assert set(suites) == {"ok-1", "bad-1", "gone-1", "broken-1"}
    bad = suites["bad-1"]
    assert (bad.get("tests"), bad.get("failures"), bad.get("errors"), bad.get("skipped")) == ("4", "1", "1", "1")
    cases = dict((c.get("name"), c) for c in bad.findall("testcase"))
    assert cases["qemu_kvm.vhost_net_enabled"].find("failure") is not None
    assert cases["kernel.vhost_net"].find("error").get("type") == "unknown"
    assert cases["kernel.vhost_net_boot"].find("skipped") is not None
    assert cases["domains.vhost"].find("failure") is None
    assert suites["gone-1"].find("testcase/error") is not None
    assert root.get("failures") == "1"


def test_markdown_and_table_are_readable_and_escaped():
    doc = _fleet()
    md = report.markdown(doc)
    assert "| lb\\|1 |" in md
    assert "**no**" in md
    table = report.table(doc)
    lines = table.splitlines()
    assert any(l.startswith("bad-1") and "FAIL" in l and "UNKN" in l for l in lines)
    assert any(l.startswith("gone-1") and "UNREACH" in l for l in lines)
    assert "unreachable: gone-1" in table
    assert "bad-1 FAIL qemu_kvm.vhost_net_enabled: r" in table


# safe_tree's fast path skips safe_text for strings UNSAFE does not match: they must be exactly the
# strings safe_text leaves as they are (control characters, line separators, lone surrogates).
from hypothesis import given as _given, strategies as _st  # noqa: E402
from nodeaudit import textsafe as _textsafe  # noqa: E402


@_given(_st.text(alphabet=_st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()),
                 max_size=12))
def test_unsafe_matches_exactly_what_safe_text_changes(text):
    assert (_textsafe.safe_text(text) != text) == bool(_textsafe.UNSAFE.search(text))
    assert report.safe_tree({text: [text, 1, None, True]}) == {_textsafe.safe_text(text): [
        _textsafe.safe_text(text), 1, None, True]}
