"""scripts/merge_reports.py: job slices merged into one fleet report."""
import importlib.util
import json
import os

import pytest

from nodeaudit.controller import report

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("merge_reports", os.path.join(REPO, "scripts", "merge_reports.py"))
merge_reports = importlib.util.module_from_spec(spec)
spec.loader.exec_module(merge_reports)


def _doc(hosts, digest="sha256:a"):
    entries = dict((name, {"reachable": True, "state": state, "needs_restart": [], "domains": [],
                           "checks": [{"id": "domains.vhost", "state": state, "reason": "r"}]})
                   for name, state in hosts.items())
    return report.build(entries, "default", digest, "2026-11-26T00:00:00Z")


def test_merge_recomputes_the_summary(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(report.to_json(_doc({"n1": "pass", "n2": "fail"})))
    b.write_text(report.to_json(_doc({"n3": "pass"})))
    code = merge_reports.main([str(a), str(b), "-o", str(tmp_path / "out")])
    assert code == 2                                           # n2 fails: drift
    merged = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert list(merged["hosts"]) == ["n1", "n2", "n3"]
    assert merged["summary"]["hosts"] == 3
    assert merged["summary"]["failing_hosts_by_check"] == {"domains.vhost": ["n2"]}
    assert (tmp_path / "out" / "audit.xml").exists() and (tmp_path / "out" / "audit.md").exists()


def test_refuses_different_policies_and_duplicate_hosts():
    with pytest.raises(ValueError, match="policy"):
        merge_reports.merge([_doc({"n1": "pass"}), _doc({"n2": "pass"}, digest="sha256:b")])
    with pytest.raises(ValueError, match="more than one report"):
        merge_reports.merge([_doc({"n1": "pass"}), _doc({"n1": "fail"})])
    merged = merge_reports.merge([_doc({"n1": "pass"}), _doc({"n1": "fail"})], last_wins=True)
    assert merged["hosts"]["n1"]["state"] == "fail"


def test_bad_input_is_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert merge_reports.main([str(bad), "-o", str(tmp_path / "o")]) == 1


def _with_effective(doc, digests):
    for name, digest in digests.items():
        doc["hosts"][name]["policy"] = {"name": "default", "digest": digest, "expired_exemptions": []}
    return doc


def test_refuses_slices_whose_effective_policies_differ():
    a = _with_effective(_doc({"n1": "pass", "n2": "pass"}), {"n1": "sha256:e1", "n2": "sha256:e2"})
    b = _with_effective(_doc({"n1": "fail"}), {"n1": "sha256:e9"})
    with pytest.raises(ValueError, match="two effective policies"):
        merge_reports.merge([a, b], last_wins=True)
    c = _with_effective(_doc({"n3": "pass"}), {"n3": "sha256:e1"})
    merged = merge_reports.merge([a, c])
    assert merged["hosts"]["n3"]["policy"]["digest"] == "sha256:e1"
    with pytest.raises(ValueError, match="cannot tell"):
        merge_reports.merge([a, _doc({"n4": "pass"})])
