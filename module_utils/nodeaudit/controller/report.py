"""Fleet aggregation and the reports (JSON, JUnit, Markdown) plus the terminal table.

Pure: host results in, documents out. Runs on the controller (the
``audit_report`` action plugin, ``scripts/merge_reports.py``) and in the
benchmarks. ``schemas/audit.schema.json`` documents every field of the
document ``build`` returns.

Text from a node (domain names, reasons, evidence, file contents) goes through
``textsafe.safe_text`` once, in ``build``: every renderer below works on a
document that holds no control character, no undecodable byte and no line
break inside a value. The renderers then escape for their own format (XML by a
real XML writer, Markdown for both HTML and Markdown).

Why not Ansible's ``junit`` callback: it writes one test case per *task*; the
operators asked for one test suite per host and one test case per *check*,
with fail as a failure, error/unknown as errors and not_applicable skipped.
That mapping lives in the audit result, not in the task list.
"""
import html
import json
import re
import xml.etree.ElementTree as ET

from ..checks import CHECKS, GATE_DEFAULT, STATES, worst
from ..textsafe import UNSAFE, safe_text

_UNSAFE = UNSAFE.search

REPORT_SCHEMA_VERSION = 1
UNREACHABLE = "unreachable"
HOST_STATES = STATES + (UNREACHABLE,)
_SYMBOL = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "unknown": "UNKN", "error": "ERR",
           "not_applicable": "n/a", UNREACHABLE: "UNREACH"}
# What the terminal table colours, by Ansible's colour names (ansible.utils.color).
COLOURS = {"fail": "red", "error": "red", UNREACHABLE: "red", "warn": "yellow", "unknown": "yellow"}
# GitHub refuses a step summary over 1 MiB; leave room for what else a job appends.
MARKDOWN_BUDGET = 900 * 1024


# ----------------------------------------------------------------- text safety

def safe_tree(value):
    """Every string (keys included) of a JSON-like value through ``safe_text``.

    >>> safe_tree({"lb\\x1b[31m": ["a\\nb", 1, None]})
    {'lb\\\\x1b[31m': ['a\\\\nb', 1, None]}
    """
    # Hot path (every string of every host's result, 10,000 hosts): exact-type dispatch, one regex
    # search per string, safe_text only where it would change something (textsafe.UNSAFE).
    kind = type(value)
    if kind is str:
        return safe_text(value) if _UNSAFE(value) else value
    if kind is dict:
        return dict(((k if type(k) is str and not _UNSAFE(k) else safe_text(str(k))), safe_tree(v))
                    for k, v in value.items())
    if kind is list or kind is tuple:
        return [safe_tree(v) for v in value]
    if kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return dict((safe_text(str(k)), safe_tree(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [safe_tree(v) for v in value]
    return value


# ----------------------------------------------------------------- aggregation

def _bare(reason, state, extra=None):
    entry = {"reachable": state != UNREACHABLE, "state": state, "reason": reason,
             "checks": [], "domains": [], "needs_restart": []}
    entry.update(extra or {})
    return entry


def host_entry(result):
    """Normalise what Ansible registered for one host into the report's host entry.

    ``result`` is the registered result of the ``compute_audit`` task (or None
    when the host never ran it). An unreachable host has state ``unreachable``;
    a host whose module failed has state ``error``.
    """
    if not isinstance(result, dict):
        return _bare("no audit result (host skipped or never reached)", "error", {"reachable": False})
    if result.get("unreachable"):
        return _bare("unreachable: %s" % str(result.get("msg") or "no answer").strip(), UNREACHABLE)
    audit = result.get("audit")
    if result.get("failed") or not isinstance(audit, dict):
        return _bare("audit failed on the node: %s" % (result.get("msg") or "no audit returned"), "error")
    entry = dict(audit)
    entry["reachable"] = True
    if isinstance(result.get("duration_s"), (int, float)):
        entry["duration_s"] = float(result["duration_s"])
    return entry


def _state(entry):
    if not entry.get("reachable"):
        return UNREACHABLE if entry.get("state") == UNREACHABLE else "error"
    state = entry.get("state")
    return state if state in STATES else "error"


def build(hosts, policy_name, policy_digest, generated_at, host_order=None, run=None, changes=None):
    """The canonical fleet report (``audit.json``).

    ``hosts`` maps inventory names to host entries (see ``host_entry``).
    ``run`` says what this run covered (``limit``, ``hosts_in_inventory``,
    ``started_at``, ``duration_s``); ``changes`` is ``history.changes``.
    """
    names = list(host_order or sorted(hosts))
    hosts = dict((safe_text(str(n)), safe_tree(hosts[n])) for n in names)
    names = [safe_text(str(n)) for n in names]
    by_state = dict((s, []) for s in HOST_STATES)
    failing = dict((c, []) for c in list(CHECKS))
    not_evaluated = dict((c, []) for c in list(CHECKS))
    unreachable = []
    restarts = 0
    for name in names:
        entry = hosts[name]
        entry["state"] = _state(entry)
        if entry["state"] == UNREACHABLE:
            unreachable.append(name)
        by_state.setdefault(entry["state"], []).append(name)
        for check in entry.get("checks") or []:
            if check.get("state") == "fail":
                failing.setdefault(check["id"], []).append(name)
            elif check.get("state") in ("unknown", "error"):
                not_evaluated.setdefault(check["id"], []).append(name)
        restarts += len(entry.get("needs_restart") or [])
    reachable_states = [hosts[n]["state"] for n in names if hosts[n]["state"] != UNREACHABLE]
    summary = {
        "hosts": len(names),
        "hosts_by_state": dict((k, v) for k, v in by_state.items() if v),
        "failing_hosts_by_check": dict((k, v) for k, v in failing.items() if v),
        "not_evaluated_by_check": dict((k, v) for k, v in not_evaluated.items() if v),
        "unreachable": unreachable,
        "domains_needing_restart": restarts,
        "state": (UNREACHABLE if unreachable and not reachable_states else
                  worst(reachable_states + (["error"] if unreachable else [])) if names else "not_applicable"),
    }
    run = dict(run or {})
    run.setdefault("limit", None)
    run["hosts_audited"] = len(names)
    run.setdefault("hosts_in_inventory", len(names))
    # Partial: fewer hosts than the group has (a --limit that covers the whole group is not).
    run["partial"] = run["hosts_in_inventory"] > len(names)
    doc = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": generated_at,
        "policy": {"name": policy_name, "digest": policy_digest},
        "run": safe_tree(run),
        "summary": summary,
        "hosts": dict((n, hosts[n]) for n in names),
    }
    if changes is not None:
        doc["changes"] = safe_tree(changes)
    return doc


def fleet(results, policy_name, policy_digest, generated_at, host_order=None, run=None):
    """The fleet report from what Ansible registered per host: ``{inventory_name: result}``."""
    hosts = dict((name, host_entry(result)) for name, result in results.items())
    return build(hosts, policy_name, policy_digest, generated_at, host_order=host_order, run=run)


# ----------------------------------------------------------------- the gate, per host and for the fleet

def host_drift(entry, fail_on=GATE_DEFAULT):
    """Why this one host is drift for the gate: a list of ``"state: check-id (reason)"`` (empty: no drift)."""
    state = _state(entry)
    if state == UNREACHABLE:
        return ["unreachable: %s" % entry.get("reason")] if UNREACHABLE in fail_on else []
    if not entry.get("checks"):
        return ["error: %s" % entry.get("reason")] if "error" in fail_on else []
    return ["%s: %s (%s)" % (c.get("state"), c.get("id"), c.get("reason")) for c in entry["checks"]
            if c.get("state") in fail_on and c.get("state") != "pass"]


def gate(doc, fail_on=GATE_DEFAULT):
    """Whether the run is drift for CI, and why: ``{"drift": bool, "reasons": [...], "hosts": [...]}``."""
    reasons = []
    summary = doc["summary"]
    if UNREACHABLE in fail_on and summary["unreachable"]:
        reasons.append("unreachable: %s" % ", ".join(summary["unreachable"]))
    for state in ("fail", "error", "unknown", "warn"):
        if state in fail_on:
            hosts = [h for h, e in doc["hosts"].items() if e.get("reachable") and
                     any(c.get("state") == state for c in e.get("checks") or [])
                     or (state == "error" and e.get("reachable") and e.get("state") == "error" and not e.get("checks"))]
            if hosts:
                reasons.append("%s: %s" % (state, ", ".join(sorted(hosts))))
    drifting = [h for h, e in doc["hosts"].items() if host_drift(e, fail_on)]
    return {"drift": bool(reasons), "reasons": reasons, "hosts": drifting}


def _check_map(entry):
    return dict((c["id"], c) for c in entry.get("checks") or [])


# ----------------------------------------------------------------- terminal

def table(doc, summary="full", colour=None):
    """One readable fleet table: a row per host, a column per check, then the findings.

    ``summary="short"`` lists only the hosts that are not clean (for big fleets).
    ``colour(text, state)`` may wrap a cell in terminal colour (the action
    plugin passes Ansible's own ``stringc``, which is a no-op without colour).
    """
    paint = colour or (lambda text, state: text)
    ids = list(CHECKS)
    short = dict((i, CHECKS[i]["short"]) for i in ids)
    hosts = doc["hosts"]
    shown = [(n, e) for n, e in hosts.items() if summary != "short" or e.get("state") not in ("pass", "not_applicable")
             or any(c.get("state") not in ("pass", "not_applicable") for c in e.get("checks") or [])]
    name_w = max([len("host")] + [len(n) for n, _ in shown])
    header = "%-*s  %-7s  " % (name_w, "host", "state") + "  ".join("%-8s" % short[i] for i in ids) + "  restart"
    policy = doc["policy"]
    lines = ["Fleet audit against policy %s (%s)" % (policy["name"], policy["digest"])]
    run = doc.get("run") or {}
    if run.get("partial"):
        lines.append("partial run: %d of %d hosts in the inventory (limit: %s)"
                     % (run.get("hosts_audited", len(hosts)), run.get("hosts_in_inventory", len(hosts)),
                        run.get("limit")))
    lines += ["", header, "-" * len(header)]
    for name, entry in shown:
        checks = _check_map(entry)
        state = entry.get("state") or "error"
        cells = []
        for cid in ids:
            c = checks.get(cid)
            text = "%-8s" % (_SYMBOL.get(c["state"], c["state"]) if c else "-")
            cells.append(paint(text, c["state"]) if c else text)
        domains = entry.get("domains") or []
        restart = "%d/%d" % (len(entry.get("needs_restart") or []), len(domains)) if entry.get("reachable") else "-"
        lines.append("%-*s  %s  %s  %s" % (name_w, name, paint("%-7s" % _SYMBOL.get(state, state), state),
                                           "  ".join(cells), restart))
    if summary == "short" and len(shown) < len(hosts):
        lines.append("(%d clean hosts not listed: -e audit_summary=full lists every host)" % (len(hosts) - len(shown)))
    lines.append("")
    s = doc["summary"]
    lines.append("hosts: %d   %s" % (s["hosts"], "   ".join("%s: %d" % (k, len(v)) for k, v in
                                                          sorted(s["hosts_by_state"].items()))))
    if s["unreachable"]:
        lines.append("unreachable: %s" % ", ".join(s["unreachable"]))
    lines.append("domains needing a restart: %d" % s["domains_needing_restart"])
    lines += changes_lines(doc.get("changes"))
    findings = []
    for name, entry in hosts.items():
        if not entry.get("reachable") or (entry.get("state") == "error" and not entry.get("checks")):
            findings.append((entry.get("state"), "%s: %s" % (name, entry.get("reason"))))
            continue
        for c in entry.get("checks") or []:
            if c["state"] in ("fail", "error", "unknown", "warn"):
                findings.append((c["state"], "%s %s %s: %s" % (name, _SYMBOL[c["state"]], c["id"], c.get("reason"))))
    if findings:
        lines.append("")
        lines.append("findings:")
        limit = 20 if summary == "short" else 60
        for state, f in findings[:limit]:
            lines.append("  " + paint(f if len(f) <= 220 else f[:217] + "...", state))
        if len(findings) > limit:
            lines.append("  ... %d more in the reports" % (len(findings) - limit))
    return "\n".join(lines)


def changes_lines(changes):
    """The history section of the terminal summary (``history.changes``), plain lines."""
    if not changes:
        return []
    if changes.get("previous") is None:
        return ["", "changes: %s" % changes.get("reason", "no previous report to compare with")]
    lines = ["", "changes since %s:" % changes["previous"]]
    parts = [("newly failing", changes.get("newly_failing")), ("fixed", changes.get("fixed")),
             ("newly needing a restart", changes.get("newly_needing_restart")),
             ("restarted", changes.get("restarted"))]
    said = False
    for label, items in parts:
        if items:
            said = True
            lines.append("  %s: %s" % (label, ", ".join(_change_text(i) for i in items)))
    if changes.get("hosts_added"):
        said = True
        lines.append("  hosts new in this report: %s" % ", ".join(changes["hosts_added"]))
    if changes.get("hosts_removed"):
        said = True
        lines.append("  hosts not in this report: %s" % ", ".join(changes["hosts_removed"]))
    if not said:
        lines.append("  nothing changed")
    return lines


def _change_text(item):
    if item.get("domain"):
        return "%s/%s" % (item["host"], item["domain"])
    if item.get("check"):
        return "%s %s (%s -> %s)" % (item["host"], item["check"], item.get("was"), item.get("now"))
    return "%s (%s -> %s)" % (item["host"], item.get("was"), item.get("now"))


# ----------------------------------------------------------------- JUnit

# Jenkins splits a classname at its last dot into package and class: an FQDN
# host (compute-1.example.org) would become package "compute-1.example" and
# class "org". Dots in the host part are replaced by U+2024 ONE DOT LEADER,
# which reads the same and is not a separator, and the classname gets a fixed
# package: "compute-audit.<host>".
_DOT_LEADER = "\u2024"


def classname(host):
    """
    >>> classname("compute-1.example.org")
    'compute-audit.compute-1\\u2024example\\u2024org'
    """
    return "compute-audit." + host.replace(".", _DOT_LEADER)


def _seconds(value):
    return "%.3f" % (float(value) if isinstance(value, (int, float)) else 0.0)


def junit(doc):
    """JUnit XML, valid against the Jenkins xunit JUnit schema (tests/schemas/junit-10.xsd).

    A testsuite per host, a testcase per check: fail -> <failure>, error and
    unknown -> <error>, not_applicable -> <skipped>, warn -> passes with the
    reason in <system-out>. An unreachable host is one errored test case.
    Built with ElementTree (a real XML writer): text is escaped by it, and
    ``build`` already removed what XML 1.0 cannot hold (control characters).
    """
    run = doc.get("run") or {}
    root = ET.Element("testsuites", {"name": "compute-audit"})
    total = failures = errors = 0
    for name, entry in doc["hosts"].items():
        suite = ET.SubElement(root, "testsuite", {"name": name})
        props = ET.SubElement(suite, "properties")
        for key, value in (("policy", "%s (%s)" % (doc["policy"]["name"], doc["policy"]["digest"])),
                           ("state", entry.get("state")), ("partial", str(bool(run.get("partial"))).lower()),
                           ("limit", run.get("limit") or "")):
            ET.SubElement(props, "property", {"name": key, "value": str(value)})
        f = e = s = n = 0
        cls = classname(name)
        if not entry.get("reachable") or not entry.get("checks"):
            e += 1
            n += 1
            case = ET.SubElement(suite, "testcase", {"classname": cls, "name": "audit", "time": _seconds(0)})
            ET.SubElement(case, "error", {"message": str(entry.get("reason") or "no result"),
                                          "type": entry.get("state") or "error"})
        for c in entry.get("checks") or []:
            n += 1
            case = ET.SubElement(suite, "testcase", {"classname": cls, "name": c["id"], "time": _seconds(0)})
            msg = "%s (expected: %s; found: %s)" % (c.get("reason"), c.get("expected"), c.get("actual"))
            detail = "\n".join(str(x) for x in c.get("evidence") or [])
            if c["state"] == "fail":
                f += 1
                ET.SubElement(case, "failure", {"message": msg, "type": "fail"}).text = detail
            elif c["state"] in ("error", "unknown"):
                e += 1
                ET.SubElement(case, "error", {"message": msg, "type": c["state"]}).text = detail
            elif c["state"] == "not_applicable":
                s += 1
                ET.SubElement(case, "skipped", {"message": str(c.get("reason") or "not applicable")})
            elif c["state"] == "warn":
                ET.SubElement(case, "system-out").text = "WARN: " + msg + ("\n" + detail if detail else "")
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", str(e))
        suite.set("skipped", str(s))
        suite.set("time", _seconds(entry.get("duration_s")))
        suite.set("timestamp", str(doc["generated_at"]).rstrip("Z"))
        suite.set("hostname", str(entry.get("host") or name))
        total += n
        failures += f
        errors += e
    # The xunit schema allows no `skipped` on <testsuites>: per suite only.
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", _seconds(run.get("duration_s")))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ----------------------------------------------------------------- Markdown

# Inside a table cell (never at a line start) these are what Markdown acts on;
# < > & are escaped for HTML after them.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text):
    """Text for a Markdown table cell: Markdown punctuation backslash-escaped, HTML escaped.

    >>> md("<driver name='qemu'/> *x* | y")
    "&lt;driver name='qemu'/&gt; \\\\*x\\\\* \\\\| y"
    """
    text = safe_text("" if text is None else str(text))
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def _state_counts(s):
    return [len(s["hosts_by_state"].get(k, [])) for k in HOST_STATES]


def _md_head(doc, json_name):
    s = doc["summary"]
    run = doc.get("run") or {}
    lines = ["# Compute node audit", "",
             "Generated %s against policy %s (%s)." % (md(doc["generated_at"]), md(doc["policy"]["name"]),
                                                       md(doc["policy"]["digest"]))]
    if run.get("partial"):
        lines += ["", "**Partial run**: %d of %d hosts in the inventory (limit: %s)."
                  % (run.get("hosts_audited", s["hosts"]), run.get("hosts_in_inventory", s["hosts"]),
                     md(run.get("limit") or "none"))]
    lines += ["", "The full report: [%s](%s)." % (md(json_name), json_name), "",
              "| hosts | %s | domains needing restart |" % " | ".join(HOST_STATES),
              "|---|%s---|" % ("---|" * len(HOST_STATES)),
              "| %d | %s | %d |" % (s["hosts"], " | ".join(str(n) for n in _state_counts(s)),
                                    s["domains_needing_restart"])]
    changes = doc.get("changes")
    if changes:
        said = [l.strip() for l in changes_lines(changes)[1:] if l.strip()]
        said = [l[len("changes: "):] if l.startswith("changes: ") else l for l in said]
        lines += ["", "## Changes", ""] + [("- " + md(l)) if i else md(l) for i, l in enumerate(said)]
    return lines


def _code_id(cid):
    """A registered check id as code; anything else (a report read back from disk) escaped as text."""
    return "`%s`" % cid if cid in CHECKS else md(cid)


def _md_fleet(doc, names):
    # Check ids are the registry's own (never node text): shown as code.
    lines = ["", "## Fleet", "", "| host | state | %s | needs restart |" % " | ".join("`%s`" % c for c in CHECKS),
             "|---|---|%s---|" % ("---|" * len(list(CHECKS)))]
    for name in names:
        entry = doc["hosts"][name]
        checks = _check_map(entry)
        lines.append("| %s | %s | %s | %s |" % (md(name), entry.get("state"), " | ".join(
            checks[c]["state"] if c in checks else "-" for c in list(CHECKS)),
            len(entry.get("needs_restart") or []) if entry.get("reachable") else "-"))
    return lines


def _md_host(name, entry):
    lines = ["", "## %s" % md(name), ""]
    if not entry.get("reachable") or not entry.get("checks"):
        lines.append("**%s**: %s" % (entry.get("state"), md(entry.get("reason"))))
        return lines
    src = entry.get("sources") or {}
    lines.append("Read from: domains via %s%s; kernel %s." % (
        md(src.get("domains")), " (%s)" % md(src["domains_reason"]) if src.get("domains_reason") else "",
        md((entry.get("versions") or {}).get("kernel"))))
    confidence = entry.get("confidence") or {}
    if confidence.get("note") and confidence.get("level") != "direct":
        # Issue 13.4: say when the verdicts rest on indirect evidence (a copy, a sosreport, a log, the XML).
        lines += ["", "Evidence (%s): %s." % (md(confidence.get("level")), md(confidence["note"]))]
    lines += ["", "| check | state | expected | found | reason |", "|---|---|---|---|---|"]
    for c in entry["checks"]:
        lines.append("| %s | %s | %s | %s | %s |" % (_code_id(c["id"]), md(c["state"]), md(c.get("expected")),
                                                     md(c.get("actual")), md(c.get("reason"))))
    todo = [c for c in entry["checks"] if c["state"] in ("fail", "warn") and c["id"] in CHECKS]
    if todo:
        lines += ["", "What to do:", ""]
        for c in todo:
            fix = CHECKS[c["id"]]["remediation"]
            lines.append("- %s: %s (disruption: %s)" % (_code_id(c["id"]), md(fix["text"]), md(fix["disruption"])))
    rows = []
    for d in entry.get("domains") or []:
        verdict = {True: "yes", False: "**no**", None: "-"}
        nics = d.get("nics") or []
        if not nics:
            # Every domain is listed, the broken ones with their error.
            rows.append("| %s | %s | %s | - | - | - | %s |" % (
                md(d.get("name")), md(d.get("state")), "yes" if d.get("needs_restart") else "no",
                md(d.get("reason") or "no NIC on a tap backend")))
        for n in nics:
            rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                md(d.get("name")), md(d.get("state")), "yes" if d.get("needs_restart") else "no", md(n.get("mac")),
                md(n.get("model")), verdict.get(n.get("vhost"), "-"), md(n.get("reason"))))
    if rows:
        lines += ["", "| domain | state | needs restart | mac | model | vhost | reason |",
                  "|---|---|---|---|---|---|---|"] + rows
    return lines


def _clean(entry):
    return entry.get("state") in ("pass", "not_applicable")


def markdown(doc, budget=MARKDOWN_BUDGET, json_name="audit.json"):
    """The report for people. Over ``budget`` bytes it keeps the failures and links the full JSON."""
    names = list(doc["hosts"])
    lines = _md_head(doc, json_name) + _md_fleet(doc, names)
    for name in names:
        lines += _md_host(name, doc["hosts"][name])
    text = "\n".join(lines) + "\n"
    if budget is None or len(text.encode("utf-8")) <= budget:
        return text
    # Over budget: the summary, the table of the hosts that are not clean, then
    # their sections for as long as they fit; the JSON has everything.
    bad = [n for n in names if not _clean(doc["hosts"][n])]
    lines = _md_head(doc, json_name)
    note = ("", "**This summary is cut to %d KiB**: %d clean hosts are not listed and host details stop where the "
            "budget ends; [%s](%s) has every host." % (budget // 1024, len(names) - len(bad), md(json_name),
                                                        json_name))
    lines += list(note) + _md_fleet(doc, bad)
    size = len(("\n".join(lines) + "\n").encode("utf-8"))
    tail = ["", "... %d more hosts with findings: see [%s](%s)."]
    if size > budget:
        # Even the table of failing hosts is too big: list them by name only.
        lines = _md_head(doc, json_name) + list(note) + ["", "Hosts with findings: " +
                                                        ", ".join(md(n) for n in bad)]
        text = "\n".join(lines) + "\n"
        return text if len(text.encode("utf-8")) <= budget else text.encode("utf-8")[:budget - 64].decode(
            "utf-8", "ignore") + "\n\n... cut: see [%s](%s).\n" % (md(json_name), json_name)
    for i, name in enumerate(bad):
        section = _md_host(name, doc["hosts"][name])
        more = len(("\n".join(section)).encode("utf-8")) + 1
        if size + more + 200 > budget:
            lines += [tail[0], tail[1] % (len(bad) - i, md(json_name), json_name)]
            break
        lines += section
        size += more
    return "\n".join(lines) + "\n"


def to_json(doc):
    """Compact JSON: `indent=` makes CPython fall back to its pure-Python encoder,
    5x slower on a large fleet (bench: report_10000_s). Use `jq .` to read it."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=False, default=str) + "\n"
