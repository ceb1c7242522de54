"""The fleet probe report: VRRP instances across hosts, one master timeline each, joined with the audit.

Pure (controller side): the vrrp_probe results of every host (and, when the
playbook ran it, each host's compute_audit result) in, the report out.

- An instance is a VRRP VRID (per address family) seen on any captured NIC.
  Its members are the NICs that SENT adverts for it during the capture, plus
  the NICs that only heard it and whose domain is in one policy `ha_groups`
  entry with a sender (a healthy backup is silent in VRRP: without the policy
  it cannot be told apart from a bystander on the same segment, and is
  listed under `listeners`).
- One master timeline per instance: the members' own adverts (as they left
  each VM), plus adverts heard from senders that are no captured member (a
  physical router, a VM on a host not probed), merged by time. The nodes'
  clocks must agree (NTP); the lab's nodes share one clock.
- A member's lateness counts only while it held the instance
  (combiners.adverts.attributed_gaps): a backup's silence is not late.
- Each member is joined with its NIC's audit verdict (vhost-net, userspace
  virtio, not applicable and why, unknown).

Statuses: `flapped` (a master was lost without a handover: a timeout change),
`late` (a member's adverts came over late_factor x advert_int apart while it
was master), `ok`. `failing` is the list of instances whose status is in
`fail_on` (default both): probe.yml exits nonzero (2) when it is not empty.
"""
import json

from ..combiners import adverts as _adv
from ..textsafe import safe_text

SCHEMA_VERSION = 1
FAIL_ON_DEFAULT = ("flapped", "late")
DEDUP_S = 0.05  # two copies of one advert (its sender's tap, a peer's tap) are closer than this


def _domain_verdicts(audit):
    """{(domain, mac): {"vhost", "datapath", "reason"}} from one host's audit result."""
    out = {}
    for dom in (audit or {}).get("domains") or []:
        for nic in dom.get("nics") or []:
            out[(dom.get("name"), (nic.get("mac") or "").lower())] = _datapath(dom, nic)
        out[(dom.get("name"), None)] = _datapath(dom, None)
    return out


def _datapath(dom, nic):
    vhost = nic.get("vhost") if nic else None
    reason = (nic or {}).get("reason") or dom.get("reason")
    state = (nic or {}).get("state") or dom.get("verdict")
    if dom.get("type") == "qemu":
        text = "not applicable (TCG guest: vhost-net is for KVM)"
    elif vhost is True:
        text = "vhost-net"
    elif vhost is False and state != "not_applicable":
        text = "virtio in userspace"
    elif state == "not_applicable":
        text = "not applicable (%s)" % safe_text(reason or "")
    else:
        text = "unknown (%s)" % safe_text(reason or "no audit of this NIC")
    return {"vhost": vhost, "datapath": text, "reason": safe_text(reason) if reason else None,
            "needs_restart": bool(dom.get("needs_restart"))}


def _ha_group_of(policy, domain):
    import fnmatch
    for group in (policy or {}).get("ha_groups") or []:
        for pat in group.get("domains") or []:
            if domain and fnmatch.fnmatchcase(domain, pat):
                return group.get("name")
    return None


def build(probes, audits=None, policy=None, late_factor=_adv.LATE_FACTOR, fail_on=FAIL_ON_DEFAULT,
          generated_at=None, unreachable=()):
    """probes: {host: vrrp_probe result `probe` | None}; audits: {host: compute_audit `audit`}."""
    audits = audits or {}
    instances = {}
    quiet, errors = [], []
    seconds, started, ended = None, None, None
    for host in sorted(probes):
        probe = probes[host]
        if not probe:
            errors.append({"host": host, "error": "no probe result"})
            continue
        seconds = probe.get("seconds") if seconds is None else max(seconds, probe.get("seconds") or 0)
        started = probe.get("started") if started is None else min(started, probe.get("started"))
        ended = probe.get("ended") if ended is None else max(ended, probe.get("ended"))
        for err in probe.get("errors") or []:
            errors.append({"host": host, "error": safe_text(err)})
        verdicts = _domain_verdicts(audits.get(host))
        for nic in probe.get("nics") or []:
            if nic.get("error"):
                errors.append({"host": host, "error": safe_text(nic["error"])})
            if not nic.get("instances"):
                quiet.append({"host": host, "domain": nic.get("domain"), "tap": nic.get("tap")})
            for inst in nic.get("instances") or []:
                if inst.get("kind") != "vrrp":
                    continue
                key = (inst["vrid"], inst.get("family"))
                entry = instances.setdefault(key, {"vrid": inst["vrid"], "family": inst.get("family"),
                                                   "version": inst.get("version"), "nics": []})
                verdict = verdicts.get((nic.get("domain"), (nic.get("mac") or "").lower())) or \
                    verdicts.get((nic.get("domain"), None))
                entry["nics"].append({"host": host, "nic": nic, "inst": inst, "verdict": verdict})
    out = []
    for key in sorted(instances):
        out.append(_instance(instances[key], policy, late_factor, started, ended, seconds))
    failing = [i["vrid"] for i in out if i["status"] in fail_on]
    status = "flapped" if any(i["status"] == "flapped" for i in out) else \
        "late" if any(i["status"] == "late" for i in out) else "ok"
    return {"schema_version": SCHEMA_VERSION, "generated_at": generated_at, "seconds": seconds,
            "started": started, "ended": ended, "late_factor": late_factor,
            "hosts": sorted(probes), "unreachable": sorted(unreachable),
            "instances": out, "quiet_nics": quiet, "errors": errors,
            "status": status, "fail_on": list(fail_on), "failing": failing,
            "exit_code": 2 if failing else 0}


def _instance(entry, policy, late_factor, started, ended, seconds):
    senders = {}
    for item in entry["nics"]:
        for s in item["inst"]["senders"]:
            if s["dir"] == "sent":
                senders[(item["host"], item["nic"].get("domain"), item["nic"].get("tap"))] = s["src"]
    sender_groups = set(_ha_group_of(policy, d) for (_, d, _) in senders) - {None}
    members, listeners = [], []
    member_srcs = set(senders.values())
    for item in entry["nics"]:
        nic, inst = item["nic"], item["inst"]
        ident = (item["host"], nic.get("domain"), nic.get("tap"))
        sent = [a for a in inst.get("adverts") or [] if a[1] == "sent"]
        rec = {"host": item["host"], "domain": nic.get("domain"), "mac": nic.get("mac"), "tap": nic.get("tap"),
               "src": senders.get(ident), "adverts": len(sent),
               "priorities": sorted(set(a[3] for a in sent)),
               "datapath": (item["verdict"] or {}).get("datapath") or "unknown (no audit of this host)",
               "vhost": (item["verdict"] or {}).get("vhost"),
               "needs_restart": (item["verdict"] or {}).get("needs_restart", False),
               "kernel_drops": (nic.get("kernel") or {}).get("drops"),
               "bad_checksums": nic.get("bad_checksums", 0), "malformed": nic.get("malformed_count", 0),
               "vrrp_joins": list(nic.get("vrrp_joins") or []),
               "adverts_truncated": inst.get("adverts_truncated", False)}
        if ident in senders:
            members.append(rec)
        elif _ha_group_of(policy, nic.get("domain")) in sender_groups and sender_groups:
            rec["role"] = "silent (backup)"
            members.append(rec)
        else:
            listeners.append({"host": item["host"], "domain": nic.get("domain"), "tap": nic.get("tap"),
                              "vrrp_joins": list(nic.get("vrrp_joins") or [])})
    # One stream of adverts for the instance: every copy captured (as it left a member's VM, or as
    # another tap heard it), one per sender and moment (copies within DEDUP_S are one advert; the
    # copy that left the VM wins). A member whose own tap was not captured (live-migrated to a
    # host's tap the probe did not know) is still followed through what the others heard.
    copies = []
    for item in entry["nics"]:
        for a in item["inst"].get("adverts") or []:
            copies.append((a[2], a[0], 0 if a[1] == "sent" else 1, a))
    copies.sort(key=lambda c: (c[0], c[1], c[2]))
    timeline_ads, last = [], {}
    external = set()
    for src, t, _, a in copies:
        if src in last and t - last[src] < DEDUP_S:
            continue
        last[src] = t
        if src not in member_srcs:
            external.add(src)
        timeline_ads.append({"t": t, "src": src, "priority": a[3], "advert_int_s": a[4]})
    tl = _adv.master_timeline(timeline_ads, start=started, end=ended)
    late_all, max_gap = [], None
    for rec in members:
        if not rec["src"]:
            rec.update(max_gap_s=None, p99_gap_s=None, late=[], late_count=0)
            continue
        g = _adv.attributed_gaps(timeline_ads, rec["src"], late_factor)
        rec.update(max_gap_s=g["max_gap_s"], p99_gap_s=g["p99_gap_s"], late=g["late"], late_count=g["late_count"],
                   advert_int_s=g.get("advert_int_s"))
        if g["max_gap_s"] is not None:
            max_gap = g["max_gap_s"] if max_gap is None else max(max_gap, g["max_gap_s"])
        late_all += [dict(x, host=rec["host"], domain=rec["domain"]) for x in g["late"]]
    by_src = {}
    for rec in members:
        if rec["src"]:
            by_src[rec["src"]] = rec
    changes = []
    for c in tl["master_changes"]:
        changes.append(dict(c, from_domain=(by_src.get(c["from"]) or {}).get("domain"),
                            to_domain=(by_src.get(c["to"]) or {}).get("domain")))
    flapped = any(c["reason"] == "timeout" for c in changes)
    status = "flapped" if flapped else "late" if late_all else "ok"
    inst = {"vrid": entry["vrid"], "family": entry["family"], "version": entry["version"],
            "members": members, "listeners": listeners, "external_sources": sorted(external),
            "master_changes": changes, "master_changes_count": len(changes),
            "handovers": tl["handovers"], "max_gap_s": max_gap,
            "late": sorted(late_all, key=lambda x: x["t"]), "max_no_master_s": tl["max_no_master_s"],
            "no_master_s": tl["no_master_s"], "timeline": tl["segments"], "status": status,
            "last_advert": dict((a["src"], a["t"]) for a in sorted(timeline_ads, key=lambda x: x["t"])
                                if a["priority"] > 0)}
    inst["summary"] = summary_line(inst, seconds)
    return inst


def _short(domain):
    return domain or "?"


def summary_line(inst, seconds):
    """One operator's sentence per instance.

    >>> summary_line({"vrid": 51, "members": [
    ...     {"domain": "keepalived-lb01", "host": "compute-1", "max_gap_s": 5.1, "late_count": 1,
    ...      "datapath": "virtio in userspace"},
    ...     {"domain": "keepalived-lb02", "host": "compute-2", "max_gap_s": 1.0, "late_count": 0,
    ...      "datapath": "virtio in userspace"}],
    ...     "master_changes_count": 2, "max_no_master_s": 2.6, "status": "flapped"}, 60)
    "VRID 51 (keepalived-lb01 on compute-1, keepalived-lb02 on compute-2): 2 master changes in 60 s; \
no master for up to 2.6 s; keepalived-lb01's adverts up to 5.1 s late; keepalived-lb01's NIC runs virtio in userspace"
    """
    who = ", ".join("%s on %s" % (_short(m["domain"]), m["host"]) for m in inst["members"])
    parts = ["%d master change%s in %s s" % (inst["master_changes_count"],
                                             "" if inst["master_changes_count"] == 1 else "s",
                                             ("%g" % seconds) if seconds is not None else "?")]
    if inst.get("max_no_master_s"):
        parts.append("no master for up to %.1f s" % inst["max_no_master_s"])
    for m in inst["members"]:
        if m.get("late_count"):
            parts.append("%s's adverts up to %.1f s late" % (_short(m["domain"]), m["max_gap_s"]))
    for m in inst["members"]:
        if m.get("late_count"):
            dp = m.get("datapath") or "unknown"
            verb = "runs " if not dp.startswith(("not applicable", "unknown")) else "is "
            parts.append("%s's NIC %s%s" % (_short(m["domain"]), verb, dp))
    if inst["status"] == "ok":
        parts.append("adverts on time")
    return "VRID %d (%s): %s" % (inst["vrid"], who, "; ".join(parts))


def to_json(doc):
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def markdown(doc):
    lines = ["# VRRP probe", "",
             "Captured %s s on %d host(s); status **%s**%s." % (
                 "%g" % doc["seconds"] if doc["seconds"] is not None else "?", len(doc["hosts"]), doc["status"],
                 " (exit %d)" % doc["exit_code"] if doc["exit_code"] else ""), ""]
    for inst in doc["instances"]:
        lines += ["## VRID %d (IPv%s, VRRPv%s): %s" % (inst["vrid"], inst["family"], inst["version"], inst["status"]),
                  "", inst["summary"], "",
                  "| host | domain | mac | adverts | priorities | max gap (s) | late | datapath |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in inst["members"]:
            lines.append("| %s | %s | %s | %d | %s | %s | %d | %s |" % (
                m["host"], m["domain"], m["mac"], m["adverts"], ",".join(str(p) for p in m["priorities"]) or "-",
                "-" if m.get("max_gap_s") is None else "%.3f" % m["max_gap_s"], m.get("late_count") or 0,
                m["datapath"]))
        if inst["master_changes"]:
            lines += ["", "Master changes:", ""]
            for c in inst["master_changes"]:
                lines.append("- %.3f: %s -> %s (%s)" % (c["t"], c.get("from_domain") or c["from"],
                                                        c.get("to_domain") or c["to"], c["reason"]))
        if inst["late"]:
            lines += ["", "Late adverts:", ""]
            for x in inst["late"]:
                lines.append("- %.3f: %s on %s, %.3f s after the previous one" % (x["t"], x["domain"], x["host"],
                                                                                x["gap_s"]))
        lines.append("")
    if doc["quiet_nics"]:
        lines += ["## NICs with no adverts", ""] + ["- %s %s (%s)" % (q["host"], q["domain"], q["tap"])
                                                     for q in doc["quiet_nics"]] + [""]
    if doc["errors"]:
        lines += ["## Errors", ""] + ["- %s: %s" % (e["host"], e["error"]) for e in doc["errors"]] + [""]
    return "\n".join(lines)


def terminal(doc):
    """The lines probe.yml prints."""
    out = [inst["summary"] for inst in doc["instances"]] or ["no VRRP adverts seen on any captured NIC"]
    for e in doc["errors"]:
        out.append("error: %s: %s" % (e["host"], e["error"]))
    out.append("probe status: %s%s" % (doc["status"], " -> exit 2 (fail_on: %s)" % ", ".join(doc["fail_on"])
                                       if doc["exit_code"] else ""))
    return out


def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus(doc):
    """Text exposition format (node_exporter textfile collector / promtool check metrics)."""
    rows = [
        ("nodeaudit_vrrp_master_changes", "Master changes during the probe, per VRRP instance.", "gauge"),
        ("nodeaudit_vrrp_no_master_seconds", "Longest time with no master during the probe.", "gauge"),
        ("nodeaudit_vrrp_member_max_gap_seconds", "Longest gap between a member's adverts while master.", "gauge"),
        ("nodeaudit_vrrp_member_late_adverts", "A member's late adverts during the probe.", "gauge"),
        ("nodeaudit_vrrp_probe_failing", "1 when an instance flapped or went late (probe.yml exits 2).", "gauge"),
    ]
    values = {r[0]: [] for r in rows}
    for inst in doc["instances"]:
        lab = 'vrid="%d",family="%s"' % (inst["vrid"], inst["family"])
        values["nodeaudit_vrrp_master_changes"].append((lab, inst["master_changes_count"]))
        values["nodeaudit_vrrp_no_master_seconds"].append((lab, inst["max_no_master_s"] or 0))
        for m in inst["members"]:
            mlab = lab + ',host="%s",domain="%s"' % (_label(m["host"]), _label(m["domain"]))
            if m.get("max_gap_s") is not None:
                values["nodeaudit_vrrp_member_max_gap_seconds"].append((mlab, m["max_gap_s"]))
            values["nodeaudit_vrrp_member_late_adverts"].append((mlab, m.get("late_count") or 0))
    values["nodeaudit_vrrp_probe_failing"].append(("", 1 if doc["failing"] else 0))
    lines = []
    for name, help_text, kind in rows:
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
        for lab, v in values[name]:
            lines.append("%s%s %s" % (name, "{%s}" % lab if lab else "", repr(float(v))))
    return "\n".join(lines) + "\n"
