"""Runtime judges: every NIC of every domain (``judge_domain``) and the ``domains.vhost`` check."""
from .. import caps
from ..combiners.domain import RUNNING_STATES, domain_view
from ..textsafe import excerpt
from . import evidence as _evidence
from . import nic as _nic
from .catalogue import worst
from .registry import judge, result


def _xml_nic(iface, state, reason):
    rec = _nic.record(iface.get("mac"), iface.get("model"), _nic.XML_BACKEND.get(iface.get("type"), iface.get("type")),
                      None, iface.get("queues"))
    rec.update(state=state, reason=reason)
    rec["evidence_kind"] = "xml"
    return rec


def _not_running(view, out):
    out["nics"] = [_xml_nic(i, "not_applicable", "domain is %s: no qemu process to judge" % view["state"])
                   for i in view["ifaces"]]
    if view["state"] in ("unknown", "nostate", "crashed") or (view["xml_error"] and not view["xml"]):
        out["verdict"] = "unknown" if not view["xml_error"] else "error"
        out["reason"] = view["xml_error"] or "domain state is %s" % view["state"]
    elif view.get("stale_reason"):
        out["reason"] = excerpt(view["stale_reason"], 400)
        out["stale"] = True
    else:
        out["reason"] = "domain is %s" % view["state"]
    return out


def _no_argv(view, out):
    proc = view["process"]
    why = (proc or {}).get("reason") or view["xml_error"] or (
        "no qemu pid known for this domain" if not view["pid"] else "qemu pid %s unreadable" % view["pid"])
    if view["xml"].get("type") == "qemu":
        out.update(verdict="not_applicable", reason="TCG domain (<domain type='qemu'>): vhost-net never applies")
        return out
    out.update(verdict="unknown", reason="cannot tell: %s" % why)
    out["nics"] = [_xml_nic(i, "unknown", "cannot read what runs: %s" % why) for i in view["ifaces"]]
    return out


def _tcg(view, out):
    out.update(verdict="not_applicable", reason="TCG domain (%s): vhost-net never applies"
               % ("<domain type='qemu'>" if view["xml"].get("type") == "qemu" else "-accel tcg"))
    for nic in view["parsed"].get("nics") or []:
        rec = _nic.record(nic.get("mac"), nic.get("driver"), (nic.get("netdev") or {}).get("type"),
                          nic.get("netdev_id"), None)
        rec.update(state="not_applicable", reason="TCG domain: vhost-net never applies", evidence_kind="argv")
        out["nics"].append(rec)
    return out


def _summarise(view, out, states):
    fails = states.count("fail")
    out["verdict"] = worst(states)
    out["needs_restart"] = view["type"] != "qemu" and any(n["state"] == "fail" and n["restart_fixes"]
                                                          for n in out["nics"])
    out["restart_fixes_nics"] = [n["mac"] for n in out["nics"] if n["state"] == "fail" and n["restart_fixes"]]
    if out["verdict"] == "fail":
        out["reason"] = "%d virtio NIC(s) without vhost-net" % fails
        if not out["needs_restart"]:
            out["reason"] += ("; a restart would not change it: %s"
                              % "; ".join(sorted(set(n["reason"] for n in out["nics"] if n["state"] == "fail")))[:300])
    elif out["verdict"] == "unknown":
        out["reason"] = "cannot tell for %d NIC(s)" % states.count("unknown")
    elif out["verdict"] == "error":
        out["reason"] = "%s (its NICs were judged by its qemu process)" % excerpt(view["xml_error"], 200)
    elif out["verdict"] == "not_applicable":
        out["reason"] = "no virtio NIC on a tap backend"


def judge_domain(dom, mode):
    """One domain: its NICs with vhost true/false/null and a reason each."""
    view = domain_view(dom, mode)
    xml = view["xml"]
    out = {"name": view["name"], "uuid": view["uuid"], "state": view["state"], "pid": view["pid"],
           "type": xml.get("type"), "needs_restart": False, "exempt": False, "managed": True,
           "nova": xml.get("nova"), "verdict": "not_applicable", "reason": None, "nics": [], "evidence": [],
           "restart_fixes_nics": []}
    if view["xml_error"]:
        out["evidence"].append(excerpt(view["xml_error"]))
    if not view["running"]:
        return _capped(_not_running(view, out))
    if view["argv"] is None:
        return _capped(_no_argv(view, out))
    if view["argv_note"]:
        out["evidence"].append(view["argv_note"])
    parsed, source = view["parsed"], view["argv_source"]
    for error in parsed.get("errors") or []:
        out["evidence"].append("%s argv[%s]: %s" % (source, error.get("index"), excerpt(error.get("reason"), 200)))
    out["type"] = view["type"]
    if view["type"] == "qemu" or view["accel"] == "tcg":
        return _capped(_tcg(view, out))
    if view["type"] is None:
        out["evidence"].append("domain type unknown (no XML, no accel in the argv): judged as KVM")
    out["nics"] = _judge_nics(view)
    out["evidence"].extend(_libvirt_evidence(view))
    _blame_unreadable_netdevs(out["nics"], parsed)
    states = [n["state"] for n in out["nics"]]
    if view["xml_error"]:
        # What runs was judged, but an input about this domain was broken: say so, never pass.
        states.append("error")
    cut = parsed.get("cut") or {}
    if cut.get("netdevs") or cut.get("devices"):
        # NIC options past the parser's cap were counted, not judged: never a pass for this domain.
        out["evidence"].append("%s: %s (cap %d per argv): cannot tell for them" % (
            source, ", ".join(caps.more(v, "-%s option(s)" % k[:-1]) for k, v in sorted(cut.items())
                              if k in ("netdevs", "devices") and v), caps.MAX_NETDEVS))
        states.append("unknown")
    _summarise(view, out, states)
    return _capped(out)


def _judge_nics(view):
    """Every NIC of a running KVM domain, each judged once: paired from the argv, hostdev, hot-plugged, detached."""
    source, pairs = view["argv_source"], view["pairs"]
    proc = view["process"] if source.startswith("/proc") else None
    argv_proc = view["process"] if (view["process"] or {}).get("argv_source") == source else None
    nics = []
    for pair in pairs["argv"]:
        rec = _nic.judge_argv_nic(pair["nic"], pair["iface"], view["process"], source, view["vhost_messages"])
        # A sosreport's ps argv is lossy: unknown where a space could have changed the answer (issue 13).
        nics.append(_evidence.guard_lossy(rec, pair["nic"], pair["iface"], argv_proc))
    for iface in pairs["hostdev"]:
        rec = _xml_nic(iface, "not_applicable", _nic.OTHER_DATAPATH["hostdev"])
        rec["backend"] = "hostdev"
        rec["evidence"].append("domain XML: <interface type='hostdev'> mac %s" % iface.get("mac"))
        nics.append(rec)
    for hot in pairs["hotplug"]:
        nics.append(_nic.judge_hotplug_nic(hot["iface"], proc, hot["fds"]))
    for nic in pairs.get("detached") or []:
        rec = _nic.record(nic.get("mac"), nic.get("driver"), (nic.get("netdev") or {}).get("type"),
                          nic.get("netdev_id"), None)
        rec.update(state="not_applicable", detached=True, evidence_kind="argv",
                   reason="detached at run time: in the qemu argv (%s) but not in the live domain XML"
                          % (nic.get("netdev_id") or nic.get("mac")))
        nics.append(rec)
    return nics


def _libvirt_evidence(view):
    """What libvirt itself logged about this domain's start: daemon-log warnings, failed vhost-net opens."""
    lines = []
    for warning in view.get("libvirt_warnings") or []:
        lines.append("%s:%s: %s (matched to this domain's start by time%s)" % (
            warning.get("path"), warning.get("line"), excerpt(warning.get("text"), 160),
            "; ambiguous" if warning.get("ambiguous") else ""))
    for record in view.get("audit_records") or []:
        if record.get("success") is False:
            lines.append("%s:%s: libvirt could not open /dev/vhost-net for NIC %s (res=failed)"
                         % (record.get("path"), record.get("line"), record.get("mac")))
    return lines


def _blame_unreadable_netdevs(nics, parsed):
    """An unknown NIC of a domain whose argv had an unreadable -netdev says that may be why."""
    netdev_errors = [e for e in parsed.get("errors") or [] if "netdev" in (e.get("reason") or "")]
    if not netdev_errors:
        return
    for n in nics:
        if n["state"] == "unknown":
            n["reason"] = "%s, or its -netdev could not be read (%s)" % (n["reason"], "; ".join(
                "argv[%s]: %s" % (e.get("index"), excerpt(e.get("reason"), 80)) for e in netdev_errors[:2]))


def _capped(out):
    """NICs and evidence shown per domain are capped (the verdict above is over all of them)."""
    if len(out["nics"]) > caps.MAX_NICS:
        out["nics_not_shown"] = len(out["nics"]) - caps.MAX_NICS
        out["evidence"].append(caps.more(out["nics_not_shown"], "NIC(s)") + " (cap %d; the verdict is over all)"
                               % caps.MAX_NICS)
        out["nics"] = out["nics"][:caps.MAX_NICS]
    for nic in out["nics"]:
        nic["evidence"] = caps.cut_list(nic["evidence"], caps.MAX_EVIDENCE, "evidence item(s)")
    out["evidence"] = caps.cut_list(out["evidence"], caps.MAX_EVIDENCE, "evidence item(s)")
    return out


def judge_orphan(proc):
    """A qemu process no libvirt domain claims: judged by what it runs, never planned for a restart."""
    name = (proc.get("parsed") or {}).get("name")
    out = judge_domain({"name": "%s (qemu pid %d, not known to libvirt)" % (name or "?", proc["pid"]),
                        "state": "running", "pid": proc["pid"], "process": proc, "xml": None, "log": None}, "live")
    out["managed"] = False
    out["needs_restart"] = False
    out["restart_fixes_nics"] = []
    out["reason"] = ("%s; a qemu process that no libvirt domain of this node claims: restart it through "
                     "whoever started it" % (out["reason"] or out["verdict"]))
    return out


@judge("domains.vhost")
def check_domains(views, params):
    facts, domains = views["facts"], views["domains"]
    expected = "vhost-net active on every virtio NIC on a tap backend of every running KVM domain"
    sources = facts.get("sources") or {}
    evidence = []
    if sources.get("domains_reason"):
        evidence.append("domains from %s: %s" % (sources.get("domains"), sources["domains_reason"]))
    judged = [d for d in domains if not d["exempt"]]
    bad = [(d, n) for d in judged for n in d["nics"] if n["state"] == "fail"]
    unsure = [d for d in judged if d["verdict"] in ("unknown", "error")]
    good = [(d, n) for d in judged for n in d["nics"] if n["state"] == "pass"]
    # Per-NIC detail lives in `domains`; the check lists the first few and counts the rest.
    for d, n in bad[:10]:
        evidence.append("%s (pid %s) %s %s: %s" % (d["name"], d["pid"], n["netdev"] or "-", n["mac"], n["reason"]))
    if len(bad) > 10:
        evidence.append("...and %d more NIC(s) without vhost-net: see domains" % (len(bad) - 10))
    for d in unsure:
        evidence.append("%s: %s" % (d["name"], d["reason"]))
    for d in domains:
        if d["exempt"]:
            evidence.append("%s: exempt (%s)" % (d["name"], d["reason"]))
    total = len(bad) + len(good)
    actual = "%d of %d virtio tap NIC(s) without vhost-net in %d domain(s)" % (
        len(bad), total, len(set(d["name"] for d, _ in bad)))
    if unsure:
        actual += "; %d domain(s) could not be judged" % len(unsure)
    if bad:
        names = sorted(set(d["name"] for d, _ in bad))
        return result("domains.vhost", "fail", expected, actual,
                      "running without vhost-net: %s" % ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""),
                      evidence)
    if facts.get("domains_error"):
        return result("domains.vhost", "error", expected, "domains could not be listed", facts["domains_error"],
                      evidence)
    if facts.get("domains_cut"):
        return result("domains.vhost", "unknown", expected, actual,
                      "%s (cap %d): cannot tell for them" % (caps.more(facts["domains_cut"], "domain(s)"),
                                                            caps.MAX_DOMAINS), evidence)
    if unsure:
        state = "error" if any(d["verdict"] == "error" for d in unsure) else "unknown"
        return result("domains.vhost", state, expected, actual,
                      "could not judge: %s" % ", ".join(d["name"] for d in unsure[:20]), evidence)
    if not good:
        running = [d for d in judged if d["state"] in RUNNING_STATES]
        return result("domains.vhost", "not_applicable", expected, actual,
                      "no running KVM domain with a virtio NIC on a tap backend (%d domain(s), %d running)"
                      % (len(domains), len(running)), evidence)
    from .registry import MAX_EVIDENCE
    for d, n in good[:MAX_EVIDENCE - len(evidence)]:
        evidence.extend(n["evidence"][:2])
    return result("domains.vhost", "pass", expected, actual, None, evidence)
