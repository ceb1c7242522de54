"""Fleet aggregation and the three reports (JSON, JUnit, Markdown) plus the terminal table.

Pure: host results in, documents out. Runs on the controller (through
``filter_plugins/nodeaudit_filters.py``) and in the benchmarks.

Why not Ansible's ``junit`` callback: it writes one test case per *task*; the
operators asked for one test suite per host and one test case per *check*,
with fail as a failure, error/unknown as errors and not_applicable skipped.
That mapping lives in the audit result, not in the task list.
"""
import json
from xml.sax.saxutils import escape, quoteattr

from ..checks import CHECK_IDS, CHECKS, GATE_DEFAULT, STATES, worst

REPORT_SCHEMA_VERSION = 1
UNREACHABLE = "unreachable"
_SYMBOL = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "unknown": "UNKN", "error": "ERR",
           "not_applicable": "n/a", UNREACHABLE: "UNREACH"}


def host_entry(result):
    """Normalise what Ansible registered for one host into the report's host entry.

    ``result`` is the registered result of the ``compute_audit`` task (or None
    when the host never ran it).
    """
    if not isinstance(result, dict):
        return {"reachable": False, "state": "error", "reason": "no audit result (host skipped or never reached)",
                "checks": [], "domains": [], "needs_restart": []}
    if result.get("unreachable"):
        return {"reachable": False, "state": "error",
                "reason": "unreachable: %s" % (result.get("msg") or "no answer").strip(),
                "checks": [], "domains": [], "needs_restart": []}
    audit = result.get("audit")
    if result.get("failed") or not isinstance(audit, dict):
        return {"reachable": True, "state": "error",
                "reason": "audit failed on the node: %s" % (result.get("msg") or "no audit returned"),
                "checks": [], "domains": [], "needs_restart": []}
    entry = dict(audit)
    entry["reachable"] = True
    return entry


def build(hosts, policy_name, policy_digest, generated_at, host_order=None):
    """The canonical fleet report (``audit.json``).

    ``hosts`` maps inventory names to host entries (see ``host_entry``).
    """
    names = list(host_order or sorted(hosts))
    by_state = dict((s, []) for s in STATES)
    failing = dict((c, []) for c in CHECK_IDS)
    not_evaluated = dict((c, []) for c in CHECK_IDS)
    unreachable = []
    restarts = 0
    for name in names:
        entry = hosts[name]
        if not entry.get("reachable"):
            unreachable.append(name)
        by_state.setdefault(entry.get("state") or "error", []).append(name)
        for check in entry.get("checks") or []:
            if check.get("state") == "fail":
                failing.setdefault(check["id"], []).append(name)
            elif check.get("state") in ("unknown", "error"):
                not_evaluated.setdefault(check["id"], []).append(name)
        restarts += len(entry.get("needs_restart") or [])
    summary = {
        "hosts": len(names),
        "hosts_by_state": dict((k, v) for k, v in by_state.items() if v),
        "failing_hosts_by_check": dict((k, v) for k, v in failing.items() if v),
        "not_evaluated_by_check": dict((k, v) for k, v in not_evaluated.items() if v),
        "unreachable": unreachable,
        "domains_needing_restart": restarts,
        "state": worst([hosts[n].get("state") or "error" for n in names]) if names else "not_applicable",
    }
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": generated_at,
        "policy": {"name": policy_name, "digest": policy_digest},
        "summary": summary,
        "hosts": dict((n, hosts[n]) for n in names),
    }


def fleet(results, policy_name, policy_digest, generated_at, host_order=None):
    """The fleet report from what Ansible registered per host: ``{inventory_name: result}``."""
    hosts = dict((name, host_entry(result)) for name, result in results.items())
    return build(hosts, policy_name, policy_digest, generated_at, host_order=host_order)


def gate(doc, fail_on=GATE_DEFAULT):
    """Whether the run is drift for CI, and why: ``{"drift": bool, "reasons": [...]}``."""
    reasons = []
    summary = doc["summary"]
    if "unreachable" in fail_on and summary["unreachable"]:
        reasons.append("unreachable: %s" % ", ".join(summary["unreachable"]))
    for state in ("fail", "error", "unknown", "warn"):
        if state in fail_on:
            hosts = [h for h, e in doc["hosts"].items() if e.get("reachable") and
                     any(c.get("state") == state for c in e.get("checks") or [])
                     or (state == "error" and e.get("reachable") and e.get("state") == "error" and not e.get("checks"))]
            if hosts:
                reasons.append("%s: %s" % (state, ", ".join(sorted(hosts))))
    return {"drift": bool(reasons), "reasons": reasons}


def _check_map(entry):
    return dict((c["id"], c) for c in entry.get("checks") or [])


def table(doc, width=None):
    """One readable fleet table: a row per host, a column per check, then the worst findings."""
    ids = list(CHECK_IDS)
    short = dict((i, CHECKS[i]["short"]) for i in ids)
    hosts = doc["hosts"]
    name_w = max([len("host")] + [len(h) for h in hosts])
    header = "%-*s  %-7s  " % (name_w, "host", "state") + "  ".join("%-8s" % short[i] for i in ids) + "  restart"
    lines = ["Fleet audit against policy %s (%s)" % (doc["policy"]["name"], doc["policy"]["digest"]), "", header,
             "-" * len(header)]
    for name, entry in hosts.items():
        checks = _check_map(entry)
        if not entry.get("reachable"):
            state = UNREACHABLE
        else:
            state = entry.get("state") or "error"
        cells = []
        for cid in ids:
            c = checks.get(cid)
            cells.append("%-8s" % (_SYMBOL.get(c["state"], c["state"]) if c else "-"))
        domains = entry.get("domains") or []
        restart = "%d/%d" % (len(entry.get("needs_restart") or []), len(domains)) if entry.get("reachable") else "-"
        lines.append("%-*s  %-7s  %s  %s" % (name_w, name, _SYMBOL.get(state, state), "  ".join(cells), restart))
    lines.append("")
    s = doc["summary"]
    lines.append("hosts: %d   %s" % (s["hosts"], "   ".join("%s: %d" % (k, len(v)) for k, v in
                                                          sorted(s["hosts_by_state"].items()))))
    if s["unreachable"]:
        lines.append("unreachable: %s" % ", ".join(s["unreachable"]))
    lines.append("domains needing a restart: %d" % s["domains_needing_restart"])
    findings = []
    for name, entry in hosts.items():
        if not entry.get("reachable") or (entry.get("state") == "error" and not entry.get("checks")):
            findings.append("%s: %s" % (name, entry.get("reason")))
            continue
        for c in entry.get("checks") or []:
            if c["state"] in ("fail", "error", "unknown", "warn"):
                findings.append("%s %s %s: %s" % (name, _SYMBOL[c["state"]], c["id"], c.get("reason")))
    if findings:
        lines.append("")
        lines.append("findings:")
        limit = 60
        for f in findings[:limit]:
            lines.append("  " + (f if len(f) <= 220 else f[:217] + "..."))
        if len(findings) > limit:
            lines.append("  ... %d more in the reports" % (len(findings) - limit))
    return "\n".join(lines)


def junit(doc):
    """JUnit XML: a testsuite per host, a testcase per check.

    fail -> <failure>, error and unknown -> <error>, not_applicable -> <skipped>,
    warn -> passes with the reason in <system-out>. An unreachable host is one
    errored test case.
    """
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    total = failures = errors = skipped = 0
    suites = []
    for name, entry in doc["hosts"].items():
        cases = []
        f = e = s = 0
        if not entry.get("reachable") or not entry.get("checks"):
            e += 1
            cases.append('    <testcase classname=%s name="audit"><error message=%s/></testcase>'
                         % (quoteattr(name), quoteattr(entry.get("reason") or "no result")))
        for c in entry.get("checks") or []:
            body = ""
            msg = "%s (expected: %s; found: %s)" % (c.get("reason"), c.get("expected"), c.get("actual"))
            detail = escape("\n".join(c.get("evidence") or []))
            if c["state"] == "fail":
                f += 1
                body = "<failure message=%s>%s</failure>" % (quoteattr(msg), detail)
            elif c["state"] in ("error", "unknown"):
                e += 1
                body = "<error message=%s type=%s>%s</error>" % (quoteattr(msg), quoteattr(c["state"]), detail)
            elif c["state"] == "not_applicable":
                s += 1
                body = "<skipped message=%s/>" % quoteattr(c.get("reason") or "not applicable")
            elif c["state"] == "warn":
                body = "<system-out>%s</system-out>" % escape("WARN: " + msg)
            cases.append("    <testcase classname=%s name=%s>%s</testcase>"
                         % (quoteattr(name), quoteattr(c["id"]), body))
        n = len(cases)
        total += n
        failures += f
        errors += e
        skipped += s
        suites.append('  <testsuite name=%s tests="%d" failures="%d" errors="%d" skipped="%d">\n%s\n  </testsuite>'
                      % (quoteattr(name), n, f, e, s, "\n".join(cases)))
    out.append('<testsuites name="compute-audit" tests="%d" failures="%d" errors="%d" skipped="%d">'
               % (total, failures, errors, skipped))
    out.extend(suites)
    out.append("</testsuites>")
    return "\n".join(out) + "\n"


def _md(text):
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def markdown(doc):
    s = doc["summary"]
    lines = ["# Compute node audit", "",
             "Generated %s against policy `%s` (%s)." % (doc["generated_at"], doc["policy"]["name"],
                                                           doc["policy"]["digest"]), "",
             "| hosts | %s | unreachable | domains needing restart |" % " | ".join(STATES),
             "|---|%s---|---|" % ("---|" * len(STATES)),
             "| %d | %s | %d | %d |" % (s["hosts"], " | ".join(str(len(s["hosts_by_state"].get(k, []))) for k in STATES),
                                        len(s["unreachable"]), s["domains_needing_restart"]), "",
             "## Fleet", "", "| host | state | %s |" % " | ".join("`%s`" % c for c in CHECK_IDS),
             "|---|---|%s" % ("---|" * len(CHECK_IDS))]
    for name, entry in doc["hosts"].items():
        checks = _check_map(entry)
        state = entry.get("state") if entry.get("reachable") else UNREACHABLE
        lines.append("| %s | %s | %s |" % (_md(name), state, " | ".join(
            checks[c]["state"] if c in checks else "-" for c in CHECK_IDS)))
    for name, entry in doc["hosts"].items():
        lines += ["", "## %s" % _md(name), ""]
        if not entry.get("reachable") or not entry.get("checks"):
            lines.append("**%s**: %s" % ("unreachable" if not entry.get("reachable") else "error", _md(entry.get("reason"))))
            continue
        src = entry.get("sources") or {}
        lines.append("Read from: domains via `%s`%s; kernel %s." % (
            src.get("domains"), " (%s)" % _md(src["domains_reason"]) if src.get("domains_reason") else "",
            _md((entry.get("versions") or {}).get("kernel"))))
        confidence = entry.get("confidence") or {}
        if confidence.get("note") and confidence.get("level") != "direct":
            # Issue 13.4: say when the verdicts rest on indirect evidence (a copy, a sosreport, a log, the XML).
            lines += ["", "Evidence (%s): %s." % (_md(confidence.get("level")), _md(confidence["note"]))]
        lines += ["", "| check | state | expected | found | reason |", "|---|---|---|---|---|"]
        for c in entry["checks"]:
            lines.append("| `%s` | %s | %s | %s | %s |" % (c["id"], c["state"], _md(c.get("expected")),
                                                           _md(c.get("actual")), _md(c.get("reason"))))
        todo = [c for c in entry["checks"] if c["state"] in ("fail", "warn") and c["id"] in CHECKS]
        if todo:
            lines += ["", "What to do:", ""]
            for c in todo:
                fix = CHECKS[c["id"]]["remediation"]
                lines.append("- `%s`: %s (disruption: %s)" % (c["id"], _md(fix["text"]), _md(fix["disruption"])))
        rows = []
        for d in entry.get("domains") or []:
            for n in d.get("nics") or []:
                rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    _md(d["name"]), d.get("state"), "yes" if d.get("needs_restart") else "no", _md(n.get("mac")),
                    _md(n.get("model")), {True: "yes", False: "**no**", None: "-"}[n.get("vhost")], _md(n.get("reason"))))
        if rows:
            lines += ["", "| domain | state | needs restart | mac | model | vhost | reason |",
                      "|---|---|---|---|---|---|---|"] + rows
    return "\n".join(lines) + "\n"


def to_json(doc):
    """Compact JSON: `indent=` makes CPython fall back to its pure-Python encoder,
    5x slower on a large fleet (bench: report_10000_s). Use `jq .` to read it."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=False, default=str) + "\n"
