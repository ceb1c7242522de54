"""What each verdict rests on (issue 13.4): the kind of evidence per NIC, a confidence note per host.

Pure functions over the facts and the judged domains; evaluate.py and checks/domains.py call them.
Each NIC keeps the judge's short ``evidence_kind`` (``argv+fds``, ``argv``, ``xml+fds``, ``xml``)
and gains ``evidence_from``, which says where that argv and those fds came from:

Evidence kinds of a NIC's verdict:

=============  =====================================================================
``argv``       ``proc`` (/proc/<pid>/cmdline: exact), ``ps`` (a sosreport's ps output:
               split on spaces, lossy), ``qemu_log`` (the argv QEMU logged at its last
               start: what it started with, not necessarily what runs), or None
``fds``        ``proc`` (/proc/<pid>/fd links), ``lsof`` (a sosreport's lsof output), None
``xml_only``   True when nothing of the process was read (only libvirt's XML)
=============  =====================================================================
"""

KIND_TEXT = {"proc": "argv from /proc/<pid>/cmdline", "ps": "argv from ps output (lossy)",
             "qemu_log": "argv from the QEMU log's last start"}
FD_TEXT = {"proc": "fds from /proc/<pid>/fd", "lsof": "fds from lsof output"}


def domain_kind(dom, mode):
    """The evidence kind judge_domain used for this domain's NICs (same choice of argv)."""
    proc = dom.get("process") or {}
    log = (dom.get("log") or {}).get("parsed") or {}
    if proc.get("argv"):
        argv = proc.get("argv_kind") or "proc"
        fds = None
        if proc.get("fds") is not None:
            fds = "lsof" if proc.get("fd_source") else "proc"
    elif mode == "snapshot" and (log.get("last_start") or {}).get("argv"):
        argv, fds = "qemu_log", None
    else:
        argv, fds = None, None
    text = ", ".join([KIND_TEXT[argv]] + ([FD_TEXT[fds]] if fds else [])) if argv else "domain XML only"
    return {"argv": argv, "fds": fds, "xml_only": argv is None, "text": text}


def annotate_domain(judged, dom, mode):
    """Set ``evidence_from`` on the judged domain and each of its NICs."""
    kind = domain_kind(dom, mode)
    judged["evidence_from"] = kind
    for nic in judged.get("nics") or []:
        nic["evidence_from"] = dict(kind)
    return judged


def guard_lossy(rec, nic, iface, proc):
    """A NIC judged from lossy ps output: ``unknown`` where a space could have changed the answer."""
    if not proc or proc.get("argv_kind") != "ps" or rec.get("state") not in ("pass", "fail"):
        return rec
    ambiguous = set(proc.get("argv_ambiguous") or [])
    reasons = proc.get("argv_ambiguous_reasons") or {}
    for part in ("netdev", "device"):
        index = (nic.get(part) or {}).get("index")
        if index is not None and index in ambiguous:
            rec.update(state="unknown", vhost=None, restart_fixes=False,
                       reason="the sosreport's ps output is lossy and its -%s (argv[%d]) cannot be trusted: %s "
                              "(was: %s)" % (part, index, reasons.get(str(index), "it may have held a space"),
                                             rec.get("reason") or rec["state"]))
            return rec
    if iface is None:
        rec.update(state="unknown", vhost=None, restart_fixes=False,
                   reason="a NIC seen only in the sosreport's lossy ps output: no interface of the domain's XML "
                          "has its MAC, so it may be words of another argument (was: %s)"
                          % (rec.get("reason") or rec["state"]))
    return rec


def host_confidence(domains, facts):
    """A report-level note when the verdicts rest on indirect evidence."""
    counts = {}
    for dom in domains:
        for nic in dom.get("nics") or []:
            kind = (nic.get("evidence_from") or {}).get("text") or "unknown"
            counts[kind] = counts.get(kind, 0) + 1
    offline = (facts.get("sources") or {}).get("offline") or {}
    sos = (facts.get("sources") or {}).get("domains") == "sosreport"
    indirect = [k for k in counts if k != "%s, %s" % (KIND_TEXT["proc"], FD_TEXT["proc"])
                and k != KIND_TEXT["proc"]]
    notes = []
    if sos:
        notes.append("judged from a sosreport: argv from ps output (split on spaces, so an argument with a space "
                     "makes its NIC unknown), fds from lsof, no /dev, no modules.builtin, no /etc/default/qemu-kvm")
    elif facts.get("mode") == "snapshot":
        notes.append("judged from a copy of the node%s, not the live node"
                     % (" collected %s" % offline["collected_at"] if offline.get("collected_at") else ""))
    if indirect:
        notes.append("NIC verdicts resting on indirect evidence: %s" % "; ".join(
            "%d on %s" % (counts[k], k) for k in sorted(indirect)))
    level = "direct" if not indirect and facts.get("mode") == "live" else "indirect" if indirect or sos \
        else "copy"
    return {"level": level, "note": ". ".join(notes) or None, "nics_by_evidence": counts}


def adjust_checks(checks, facts):
    """A sosreport cannot show some things: what rests on their absence is unknown, never a verdict."""
    if (facts.get("sources") or {}).get("domains") != "sosreport":
        return checks
    kernel = facts.get("kernel") or {}
    for check in checks:
        if check["id"] == "qemu_kvm.vhost_net_enabled" and (facts.get("qemu_kvm") or {}).get("status") == \
                "not_collected":
            check.update(state="unknown", reason=facts["qemu_kvm"]["reason"])
        elif check["id"] == "kernel.vhost_net" and check["state"] in ("fail", "warn") and \
                (kernel.get("dev") or {}).get("present") is None:
            check.update(state="unknown", reason="%s; whether a static /dev/vhost-net node would load vhost_net on "
                         "first open cannot be seen (was: %s)" % (kernel["dev"].get("reason"), check["reason"]))
        elif check["id"] == "kernel.vhost_net_boot" and check["state"] in ("fail", "warn") and \
                "blocked" not in (check.get("actual") or "") and "blacklisted" not in (check.get("actual") or ""):
            check.update(state="unknown", reason="a sosreport keeps only /etc/modules-load.d, not /etc/modules, "
                         "/usr/lib/modules-load.d or /etc/default/qemu-kvm: what loads vhost_net at boot cannot be "
                         "told (was: %s)" % check["reason"])
        elif check["id"] == "qemu_kvm.settings" and (facts.get("qemu_kvm") or {}).get("status") == "not_collected" \
                and check["state"] == "error":
            check.update(state="unknown", reason=facts["qemu_kvm"]["reason"])
    return checks
