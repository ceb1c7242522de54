"""What changed since the previous fleet report (controller only, pure).

Each audit keeps the report it replaces (``<basename>.previous.json``) and
says what changed since it: checks newly failing or fixed, hosts newly
unreachable or back, domains newly needing a restart or restarted. The
result is the report's ``changes`` (schemas/audit.schema.json).

>>> prev = {"generated_at": "t0", "hosts": {"c1": {"state": "fail", "reachable": True, "needs_restart": ["lb1"],
...         "checks": [{"id": "domains.vhost", "state": "fail"}]}}}
>>> now = {"hosts": {"c1": {"state": "pass", "reachable": True, "needs_restart": [],
...        "checks": [{"id": "domains.vhost", "state": "pass"}]}}}
>>> c = changes(prev, now)
>>> c["fixed"], c["restarted"]
([{'host': 'c1', 'check': 'domains.vhost', 'was': 'fail', 'now': 'pass'}], [{'host': 'c1', 'domain': 'lb1'}])
"""

BAD = ("fail", "error", "unknown")


def _checks(entry):
    return dict((c.get("id"), c.get("state")) for c in entry.get("checks") or [] if isinstance(c, dict))


def _host_state(entry):
    if not entry.get("reachable", True):
        return "unreachable"
    return entry.get("state")


def changes(previous, current, partial=False):
    """``changes`` between two fleet documents; ``previous`` None means there is none.

    With ``partial`` (a --limit run), only the hosts in ``current`` are
    compared and hosts missing from it are not reported as removed.
    """
    if not isinstance(previous, dict) or not isinstance(previous.get("hosts"), dict):
        return {"previous": None, "reason": "no previous report to compare with"}
    out = {"previous": previous.get("generated_at"), "newly_failing": [], "fixed": [],
           "newly_needing_restart": [], "restarted": [], "hosts_added": [], "hosts_removed": []}
    before_hosts = previous["hosts"]
    for host, entry in current["hosts"].items():
        before = before_hosts.get(host)
        if not isinstance(before, dict):
            out["hosts_added"].append(host)
            continue
        was_h, now_h = _host_state(before), _host_state(entry)
        if (now_h == "unreachable") != (was_h == "unreachable"):
            key = "newly_failing" if now_h == "unreachable" else "fixed"
            out[key].append({"host": host, "was": was_h, "now": now_h})
        if now_h == "unreachable" or was_h == "unreachable":
            continue
        was_c, now_c = _checks(before), _checks(entry)
        for cid, state in now_c.items():
            old = was_c.get(cid)
            if state in BAD and old not in BAD:
                out["newly_failing"].append({"host": host, "check": cid, "was": old, "now": state})
            elif old in BAD and state not in BAD:
                out["fixed"].append({"host": host, "check": cid, "was": old, "now": state})
        was_r = set(before.get("needs_restart") or [])
        now_r = set(entry.get("needs_restart") or [])
        names = set(d.get("name") for d in entry.get("domains") or [] if isinstance(d, dict))
        for dom in sorted(now_r - was_r):
            out["newly_needing_restart"].append({"host": host, "domain": dom})
        for dom in sorted(was_r - now_r):
            # Gone from the host is not "restarted": only a domain still there that no longer needs it.
            if dom in names:
                out["restarted"].append({"host": host, "domain": dom})
    if not partial:
        out["hosts_removed"] = [h for h in before_hosts if h not in current["hosts"]]
    return out
