"""The fleet report as Prometheus text exposition (controller only, pure).

For node_exporter's textfile collector, the convention for batch jobs: the
audit writes ``compute_audit.prom`` atomically (report_files.write_atomic)
into the collector's directory, and node_exporter serves it on every scrape.
``promtool check metrics`` and ``promtool test rules`` check it in the tests;
``examples/prometheus/compute-audit.rules.yml`` is an example alert rule.

Series (every label value from a node already went through ``safe_text`` in
``report.build``; here it is escaped as the exposition format requires):

- ``compute_audit_host_up{host}``: 1 reachable, 0 not.
- ``compute_audit_host_state{host,state}``: a state set, 1 for the host's state.
- ``compute_audit_check_state{host,check,state}``: a state set per host and check.
- ``compute_audit_nic_vhost{host,domain,instance_uuid,mac,target}``: 1 vhost-net
  active, 0 userspace virtio, NaN could not tell.
- ``compute_audit_domain_needs_restart{host,domain,instance_uuid}``: 1 / 0.
- ``compute_audit_domains_needing_restart{host}``: count per host.
- ``compute_audit_hosts{state}``: hosts per state, fleet-wide.
- ``compute_audit_last_run_timestamp_seconds``, ``compute_audit_duration_seconds``,
  ``compute_audit_host_duration_seconds{host}``, ``compute_audit_partial``.
"""
import calendar
import math
import time

from ..checks import CHECKS, STATES

HOST_STATES = STATES + ("unreachable",)


def escape_label(value):
    """Label value escaping of the text exposition format: backslash, double quote, line feed.

    >>> escape_label('a"b\\\\c\\nd')
    'a\\\\"b\\\\\\\\c\\\\nd'
    """
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs):
    return "{%s}" % ",".join('%s="%s"' % (k, escape_label("" if v is None else v)) for k, v in pairs)


def _value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _timestamp(text):
    try:
        return float(calendar.timegm(time.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        return None


class _Out(object):
    def __init__(self):
        self.families = []

    def family(self, name, help_text, kind="gauge"):
        samples = []
        self.families.append((name, help_text, kind, samples))
        return samples

    def text(self):
        lines = []
        for name, help_text, kind, samples in self.families:
            if not samples:
                continue
            lines.append("# HELP %s %s" % (name, help_text))
            lines.append("# TYPE %s %s" % (name, kind))
            for labels, value in samples:
                lines.append("%s%s %s" % (name, _labels(labels) if labels else "", _value(value)))
        return "\n".join(lines) + "\n"


def exposition(doc, hosts=None):
    """Text exposition of the fleet document (or of ``hosts``, a subset of its host names)."""
    names = [n for n in doc["hosts"] if hosts is None or n in hosts]
    out = _Out()
    up = out.family("compute_audit_host_up", "1 when the host answered the audit, 0 when it did not.")
    hstate = out.family("compute_audit_host_state", "The host's worst check state (a state set: 1 for its state).")
    cstate = out.family("compute_audit_check_state", "Each check's state on each host (a state set: 1 for its state).")
    vhost = out.family("compute_audit_nic_vhost",
                       "1 when the virtio NIC runs on vhost-net, 0 when in QEMU userspace, NaN when it could not be told.")
    needs = out.family("compute_audit_domain_needs_restart",
                       "1 when a restart of the domain's qemu would give a NIC vhost-net it lacks now.")
    count = out.family("compute_audit_domains_needing_restart", "Domains on the host needing a restart.")
    hdur = out.family("compute_audit_host_duration_seconds", "Seconds the audit took on the node.")
    for name in names:
        entry = doc["hosts"][name]
        up.append(([("host", name)], bool(entry.get("reachable"))))
        for state in HOST_STATES:
            hstate.append(([("host", name), ("state", state)], entry.get("state") == state))
        checks = dict((c.get("id"), c.get("state")) for c in entry.get("checks") or [])
        for cid in CHECKS:
            if cid not in checks:
                continue
            for state in STATES:
                cstate.append(([("host", name), ("check", cid), ("state", state)], checks[cid] == state))
        if not entry.get("reachable"):
            continue
        restarts = 0
        for dom in entry.get("domains") or []:
            uuid = ((dom.get("nova") or {}).get("uuid")) or dom.get("uuid") or ""
            for nic in dom.get("nics") or []:
                v = nic.get("vhost")
                vhost.append(([("host", name), ("domain", dom.get("name")), ("instance_uuid", uuid),
                               ("mac", nic.get("mac") or ""),
                               ("target", nic.get("target_dev") or nic.get("ifname") or "")],
                              float("nan") if v is None else bool(v)))
            needs.append(([("host", name), ("domain", dom.get("name")), ("instance_uuid", uuid)],
                          bool(dom.get("needs_restart"))))
            restarts += 1 if dom.get("needs_restart") else 0
        count.append(([("host", name)], restarts))
        if isinstance(entry.get("duration_s"), (int, float)):
            hdur.append(([("host", name)], float(entry["duration_s"])))
    if hosts is None:
        by_state = doc["summary"]["hosts_by_state"]
        fleet = out.family("compute_audit_hosts", "Hosts in the audit by state.")
        for state in HOST_STATES:
            fleet.append(([("state", state)], len(by_state.get(state, []))))
    run = doc.get("run") or {}
    stamp = _timestamp(doc.get("generated_at"))
    if stamp is not None:
        out.family("compute_audit_last_run_timestamp_seconds",
                   "When the audit report was made (Unix time).").append(([], stamp))
    if isinstance(run.get("duration_s"), (int, float)):
        out.family("compute_audit_duration_seconds", "Seconds the whole audit run took.").append(
            ([], float(run["duration_s"])))
    out.family("compute_audit_partial", "1 when the run covered only part of the group (--limit).").append(
        ([], bool(run.get("partial"))))
    return out.text()
