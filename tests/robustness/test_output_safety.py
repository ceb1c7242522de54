"""Promise: one output-safety layer (issue 14, point 5; the writers are the ops agent's part).

Names from a node reach the terminal table, audit.md, audit.xml and
merge_reports.py. The module already passes every string it returns through
``textsafe.safe_text`` (redact.scrub, tests in test_verdicts.py); these tests
hold the writers themselves to the promise, for a document that did not come
through the module (merged slices, older nodes): no raw control character, no
HTML, no forged line.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET


from robust_tools import REPO
from nodeaudit.controller import report

EVIL = "vm-\x1b[2J\x07evil\r\n| forged-host | PASS |<script>alert(1)</script><img src=x onerror=alert(2)>"
OPS = "ops agent's output-safety layer in the writers (issue 14.5)"


def _doc():
    audit = {"state": "fail", "host": EVIL, "checks": [
        {"id": "domains.vhost", "title": "t", "state": "fail", "severity": "high", "layer": "runtime",
         "expected": "x", "actual": EVIL, "reason": "running without vhost-net: " + EVIL, "evidence": [EVIL]}],
        "domains": [{"name": EVIL, "verdict": "fail", "reason": EVIL, "needs_restart": True, "exempt": False,
                     "nics": [], "evidence": [EVIL], "state": "running", "pid": 1}],
        "needs_restart": [EVIL]}
    return report.build({"compute-" + EVIL: report.host_entry({"audit": audit})}, "default", "sha256:0",
                        "2026-11-20T10:00:00Z")


def _raw_controls(text):
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]


def test_junit_is_well_formed_with_esc_and_bel_in_a_name():
    """Finding: ESC/BEL in a domain name made audit.xml not well-formed."""
    text = report.junit(_doc())
    ET.fromstring(text.encode("utf-8"))
    assert _raw_controls(text) == []


def test_markdown_keeps_no_raw_control_character():
    """Finding: audit.md kept raw ESC and \\r."""
    text = report.markdown(_doc())
    assert _raw_controls(text) == []


def test_markdown_holds_no_html_from_a_name():
    """Finding: audit.md kept <script> and <img onerror>."""
    text = report.markdown(_doc())
    assert "<script>" not in text and "<img" not in text


def test_fleet_table_has_no_forged_line():
    """Finding: newlines in a name forged lines in the fleet table."""
    text = report.table(_doc())
    assert _raw_controls(text) == []
    assert not any(line.lstrip().startswith("| forged-host") or line.lstrip().startswith("forged-host")
                   for line in text.splitlines())


def test_merge_reports_prints_no_raw_escape(tmp_path):
    """Finding: merge_reports.py printed raw ESC to the terminal."""
    doc = _doc()
    raw = json.dumps(doc, ensure_ascii=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "audit.json").write_text(raw)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "merge_reports.py"),
                           str(tmp_path / "a" / "audit.json"), "-o", str(tmp_path / "merged")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.decode("utf-8", "replace")
    assert "\x1b" not in out and "\x07" not in out, out[-2000:]
