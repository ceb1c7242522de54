"""Evaluation: facts + policy -> the audit result. Pure: no I/O.

Each check says what was expected, what was found, and on what evidence
(file and line, pid, argv element). "Could not tell" is `unknown` (or `error`
when the input itself was broken), never a pass and never a silent fail.
"""
import re

from .parsers import qemuargv
from .checks import CHECKS, worst
from .policy import apply_level, domain_exempt, host_exempt
from .textsafe import excerpt as _excerpt, safe_text

SCHEMA_VERSION = 1
EXCERPT = 300
MAX_EVIDENCE = 40
RUNNING_STATES = ("running", "paused", "blocked", "pmsuspended", "shutdown")
TAP_BACKENDS = ("tap", "bridge")
_VHOST_OFF = re.compile(r'(^|,)vhost=(off|no|false)(,|$)|"vhost"\s*:\s*false')
_XML_BACKEND = {"ethernet": "tap", "bridge": "tap", "network": "tap", "direct": "tap", "vhostuser": "vhost-user",
                "vdpa": "vhost-vdpa", "hostdev": "hostdev", "user": "user", "mcast": "socket", "server": "socket",
                "client": "socket", "udp": "socket"}
_OTHER_DATAPATH = {
    "vhost-user": "vhost-user: the datapath is a userspace switch (e.g. OVS-DPDK), not vhost-net; not a failure",
    "vhost-vdpa": "vhost-vdpa: a hardware (vDPA) datapath, not vhost-net; not a failure",
    "hostdev": "PCI passthrough (hostdev / SR-IOV VF): the NIC bypasses the host datapath; vhost-net does not apply",
    "user": "user-mode networking (slirp): no tap device, vhost-net cannot apply",
}


def excerpt(text, limit=EXCERPT):
    return _excerpt(text, limit)


def _check(check_id, state, expected, actual, reason, evidence):
    spec = CHECKS[check_id]
    if state != "pass" and not reason:
        reason = actual
    # Rationale and remediation stay in the catalogue (checks.CHECKS): the
    # reports join them by id, so each host's result stays small.
    return {"id": check_id, "title": spec["title"], "state": state, "severity": spec["severity"],
            "layer": spec["layer"], "expected": safe_text(expected), "actual": safe_text(actual),
            "reason": safe_text(reason) if state != "pass" else None,
            "evidence": [excerpt(e) for e in evidence[:MAX_EVIDENCE]]
            + (["...and %d more" % (len(evidence) - MAX_EVIDENCE)] if len(evidence) > MAX_EVIDENCE else [])}


# -- /etc/default/qemu-kvm -------------------------------------------------

def _last_assignment(parsed, name):
    found = None
    for item in parsed.get("assignments", []):
        if item.get("name") == name:
            found = item
    return found


def _describe_value(value):
    if value == "1":
        return "'1'"
    notes = []
    if "\r" in value:
        notes.append("carriage return: the file has CRLF line endings")
    core = value.replace("\r", "")
    if core.strip() != core:
        notes.append("surrounding white space")
    shown = safe_text(value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t"))
    return "'%s'%s" % (shown, " (%s)" % "; ".join(notes) if notes else "")


def check_vhost_net_enabled(facts):
    fact = facts["qemu_kvm"]
    path = fact["path"]
    expected = "VHOST_NET_ENABLED=1 in %s, as /bin/sh reads it" % path
    if fact["status"] == "missing":
        return _check("qemu_kvm.vhost_net_enabled", "not_applicable", expected, "%s is absent" % path,
                      "%s is absent: nothing on this node reads VHOST_NET_ENABLED (no Ubuntu qemu-kvm job)" % path,
                      [path + ": absent"])
    if fact["status"] != "ok":
        return _check("qemu_kvm.vhost_net_enabled", "error", expected, "could not read %s" % path,
                      fact["reason"], [path + ": " + str(fact["reason"])])
    if fact.get("syntax_error"):
        err = fact["syntax_error"]
        where = "%s:%s" % (path, err.get("line")) if err.get("line") else path
        return _check("qemu_kvm.vhost_net_enabled", "fail", expected, "/bin/sh cannot source %s" % path,
                      "/bin/sh cannot source %s (%s at %s): the boot job fails before it would run modprobe"
                      % (path, err.get("message"), where), [where + ": " + str(err.get("message"))])
    parsed = fact["parsed"]
    item = _last_assignment(parsed, "VHOST_NET_ENABLED")
    uncertain = (parsed.get("uncertain") or {}).get("VHOST_NET_ENABLED")
    if item is None and uncertain:
        return _check("qemu_kvm.vhost_net_enabled", "unknown", expected, "value decided at run time",
                      "VHOST_NET_ENABLED depends on the run time environment: %s" % uncertain, [path])
    if item is None:
        return _check("qemu_kvm.vhost_net_enabled", "not_applicable", expected, "VHOST_NET_ENABLED is not set",
                      "%s does not set VHOST_NET_ENABLED (later Ubuntu dropped the key; the job no longer reads it)"
                      % path, [path + ": no VHOST_NET_ENABLED assignment"])
    evidence = ["%s:%s: %s" % (path, item.get("line"), (item.get("raw") or "").rstrip("\n"))]
    if uncertain:
        return _check("qemu_kvm.vhost_net_enabled", "unknown", expected, "value decided at run time",
                      "VHOST_NET_ENABLED depends on the run time environment: %s" % uncertain, evidence)
    if "VHOST_NET_ENABLED" not in parsed["vars"]:
        return _check("qemu_kvm.vhost_net_enabled", "fail", expected, "VHOST_NET_ENABLED is unset",
                      "VHOST_NET_ENABLED is assigned at line %s but unset later in the file: the job sees it empty"
                      % item.get("line"), evidence)
    value = parsed["vars"]["VHOST_NET_ENABLED"]
    if value == "1":
        return _check("qemu_kvm.vhost_net_enabled", "pass", expected, "VHOST_NET_ENABLED='1'", None, evidence)
    return _check("qemu_kvm.vhost_net_enabled", "fail", expected, "VHOST_NET_ENABLED=%s" % _describe_value(value),
                  "VHOST_NET_ENABLED is %s, not '1': the qemu-kvm boot job will not run `modprobe -b vhost_net`"
                  % _describe_value(value), evidence)


def check_settings(facts, policy):
    fact = facts["qemu_kvm"]
    path = fact["path"]
    wanted = policy["checks"].get("qemu_kvm.settings", {}).get("expected") or {}
    expected = ", ".join("%s=%s" % kv for kv in sorted(wanted.items())) or "nothing (the policy sets no values)"
    if not wanted:
        return _check("qemu_kvm.settings", "not_applicable", expected, "-", "the policy sets no expected values", [])
    if fact["status"] == "missing":
        return _check("qemu_kvm.settings", "not_applicable", expected, "%s is absent" % path,
                      "%s is absent" % path, [path + ": absent"])
    if fact["status"] != "ok" or fact.get("syntax_error"):
        reason = fact["reason"] or "/bin/sh cannot source %s: %s" % (path, (fact.get("syntax_error") or {}).get("message"))
        return _check("qemu_kvm.settings", "error", expected, "could not read %s" % path, reason, [path])
    parsed = fact["parsed"]
    wrong = []
    evidence = []
    unsure = []
    for key in sorted(wanted):
        item = _last_assignment(parsed, key)
        value = parsed["vars"].get(key)
        if item is not None:
            evidence.append("%s:%s: %s" % (path, item.get("line"), (item.get("raw") or "").rstrip("\n")))
        if key in (parsed.get("uncertain") or {}):
            unsure.append(key)
        elif value != wanted[key]:
            wrong.append("%s=%s (want %s)" % (key, "unset" if value is None else _describe_value(value), wanted[key]))
    actual = ", ".join("%s=%s" % (k, parsed["vars"].get(k, "unset")) for k in sorted(wanted))
    if wrong:
        return _check("qemu_kvm.settings", "fail", expected, actual, "; ".join(wrong), evidence)
    if unsure:
        return _check("qemu_kvm.settings", "unknown", expected, actual,
                      "decided at run time: %s" % ", ".join(unsure), evidence)
    return _check("qemu_kvm.settings", "pass", expected, actual, None, evidence)


# -- kernel ----------------------------------------------------------------

def _block_notes(kernel):
    notes = []
    evidence = []
    policy = kernel.get("modprobe") or {}
    install = policy.get("install")
    if install:
        evidence.append(install.get("evidence"))
        if install.get("blocks"):
            notes.append("`install vhost_net %s` blocks every load (%s)" % (install.get("command"), install.get("evidence")))
    for item in policy.get("blacklisted") or []:
        evidence.append(item)
        notes.append("blacklisted (%s): alias auto-loading and `modprobe -b` skip it" % item)
    return notes, evidence, bool(install and install.get("blocks")), bool(policy.get("blacklisted"))


def check_kernel(facts):
    k = facts["kernel"]
    expected = "vhost_net loaded or built in, and /dev/vhost-net (misc 10:238) present"
    evidence = []
    pm = k["proc_modules"]
    loaded = k.get("vhost_net_loaded")
    if pm["status"] == "ok":
        evidence.append("/proc/modules: vhost_net %s" % ("listed" if loaded else "not listed"))
    else:
        evidence.append("/proc/modules: %s" % (pm["reason"] or pm["status"]))
    builtin = k["builtin"]
    if builtin.get("vhost_net") is not None:
        evidence.append("%s: vhost_net %s" % (builtin["path"], "built in" if builtin["vhost_net"] else "not listed"))
    elif builtin.get("path"):
        evidence.append("%s: %s" % (builtin["path"], builtin.get("reason") or builtin.get("status")))
    evidence.append("/sys/module/vhost_net: %s" % ("present" if k["sys_module"] else "absent"))
    dev = k["dev"]
    evidence.append("%s: %s" % (dev["path"], "present" + (" (char %s)" % dev["rdev"] if dev.get("rdev") else "")
                                if dev["present"] else (dev.get("reason") or "absent")))
    notes, block_evidence, blocked, blacklisted = _block_notes(k)
    evidence.extend(block_evidence)

    module_there = bool(loaded) or bool(builtin.get("vhost_net")) or bool(k["sys_module"])
    actual = "module %s; /dev/vhost-net %s" % (
        "loaded" if loaded else "built in" if builtin.get("vhost_net") else "present in /sys/module" if k["sys_module"]
        else "not loaded" if loaded is False else "state unknown",
        "present" if dev["present"] else "absent" if dev["present"] is False else "unreadable")
    if module_there and dev["present"]:
        return _check("kernel.vhost_net", "pass", expected, actual, None, evidence)
    if loaded is False and pm.get("bad_lines") and not builtin.get("vhost_net") and not k["sys_module"]:
        raw = "; ".join(excerpt(b.get("raw"), 80) for b in pm["bad_lines"][:3])
        return _check("kernel.vhost_net", "unknown", expected, actual,
                      "/proc/modules has unreadable line(s) (a truncated read?): %s; vhost_net may be one of them"
                      % raw, evidence)
    reasons = []
    if not module_there:
        if pm["status"] == "missing":
            reasons.append("/proc/modules does not exist (kernel without loadable module support)")
        if loaded is False:
            reasons.append("vhost_net is not loaded")
        if builtin.get("vhost_net") is False:
            reasons.append("not built in")
    if dev["present"] is False:
        reasons.append(dev.get("reason") or "/dev/vhost-net is absent")
    reasons.extend(notes)
    if dev["present"] and not module_there:
        if blocked:
            return _check("kernel.vhost_net", "fail", expected, actual, "; ".join(reasons), evidence)
        if loaded is None and builtin.get("vhost_net") is None:
            return _check("kernel.vhost_net", "unknown", expected, actual,
                          "/dev/vhost-net is present but whether the module is loaded could not be read: "
                          + (pm["reason"] or ""), evidence)
        return _check("kernel.vhost_net", "warn", expected, actual,
                      "vhost_net is not loaded; /dev/vhost-net is a static node that loads it on first open"
                      + ("; " + "; ".join(notes) if notes else ""), evidence)
    if dev["present"] is None and not module_there and loaded is None:
        return _check("kernel.vhost_net", "unknown", expected, actual, "; ".join(reasons) or "nothing could be read",
                      evidence)
    return _check("kernel.vhost_net", "fail", expected, actual, "; ".join(reasons) or "vhost-net is not available",
                  evidence)


def check_kernel_boot(facts):
    k = facts["kernel"]
    cfg = facts["qemu_kvm"]
    expected = "vhost_net built in, listed in modules-load.d or /etc/modules, or VHOST_NET_ENABLED=1"
    notes, evidence, blocked, blacklisted = _block_notes(k)
    listed = k.get("boot_load") or []
    for entry in listed:
        evidence.append("%s:%s: %s" % (entry["path"], entry["line"], entry["module"]))
    value = None
    if cfg["status"] == "ok" and cfg.get("parsed") and not cfg.get("syntax_error"):
        value = cfg["parsed"]["vars"].get("VHOST_NET_ENABLED")
        if value is not None:
            evidence.append("%s: VHOST_NET_ENABLED=%s" % (cfg["path"], _describe_value(value)))
    builtin = k["builtin"].get("vhost_net")
    if builtin:
        return _check("kernel.vhost_net_boot", "pass", expected, "built into the kernel", None,
                      evidence + ["%s: vhost_net" % k["builtin"]["path"]])
    if blocked:
        return _check("kernel.vhost_net_boot", "fail", expected, "blocked", "; ".join(notes), evidence)
    loaders = []
    if listed:
        loaders.append("listed in %s" % ", ".join(sorted(set(e["path"] for e in listed))))
    if value == "1":
        loaders.append("VHOST_NET_ENABLED=1 (qemu-kvm job runs `modprobe -b vhost_net`)")
    if loaders and not blacklisted:
        return _check("kernel.vhost_net_boot", "pass", expected, "; ".join(loaders), None, evidence)
    if loaders and blacklisted:
        return _check("kernel.vhost_net_boot", "fail", expected, "; ".join(loaders) + ", but blacklisted",
                      "blacklisted: systemd-modules-load and `modprobe -b` both honour the blacklist; " + "; ".join(notes),
                      evidence)
    if blacklisted:
        return _check("kernel.vhost_net_boot", "fail", expected, "not loaded at boot; blacklisted",
                      "nothing loads vhost_net at boot and the blacklist also stops on-demand loading through "
                      "/dev/vhost-net; " + "; ".join(notes), evidence)
    return _check("kernel.vhost_net_boot", "warn", expected, "nothing loads vhost_net at boot",
                  "vhost_net is not built in, not in modules-load.d or /etc/modules, and VHOST_NET_ENABLED is %s: only "
                  "on-demand loading through a static /dev/vhost-net node could load it"
                  % ("unset" if value is None else _describe_value(value)), evidence)


# -- domains ---------------------------------------------------------------

def _argv_evidence(source, netdev):
    return "%s argv[%s]: %s" % (source, netdev.get("index"), excerpt(netdev.get("arg"), 200))


def _nic_record(mac, model, backend, netdev_id, queues):
    return {"mac": mac, "model": model, "backend": backend, "netdev": netdev_id, "queues": queues,
            "vhost": None, "state": "unknown", "reason": None, "restart_fixes": False, "evidence": []}


def _judge_argv_nic(nic, iface, proc, source, vhost_messages, pool):
    netdev = nic.get("netdev") or {}
    device = nic.get("device") or {}
    backend = netdev.get("type") or (_XML_BACKEND.get((iface or {}).get("type")) if iface else None)
    queues = netdev.get("queues") or (len(netdev.get("fds") or []) or None) or (iface or {}).get("queues")
    model = nic.get("driver") or (iface or {}).get("model")
    rec = _nic_record(nic.get("mac") or (iface or {}).get("mac"), model, backend, nic.get("netdev_id"), queues)
    ev = rec["evidence"]
    if netdev:
        ev.append(_argv_evidence(source, netdev))
    if device:
        ev.append("%s argv[%s]: -device %s" % (source, device.get("index"), excerpt(device.get("driver"), 60)))
    if not netdev and not device:
        rec.update(state="unknown", reason=nic.get("reason") or "NIC without netdev and device in the argv")
        return rec
    if backend in _OTHER_DATAPATH:
        rec.update(state="not_applicable", reason=_OTHER_DATAPATH[backend])
        return rec
    if not netdev:
        rec.update(state="unknown", reason=nic.get("reason") or "-device %s points to a netdev that is not in the argv"
                   % model)
        return rec
    if backend not in TAP_BACKENDS:
        rec.update(state="not_applicable", reason="backend %s is not a tap device: vhost-net does not apply" % backend)
        return rec
    if not nic.get("virtio"):
        rec.update(state="not_applicable",
                   reason="model %s is not virtio: vhost-net only serves virtio-net NICs" % (model or "unknown"))
        return rec
    driver_name = (iface or {}).get("driver_name")
    if netdev.get("syntax") == "legacy-net":
        rec.update(vhost=False, state="fail", restart_fixes=True,
                   reason="legacy `-net nic` / `-net tap` (hub) syntax: virtio runs in QEMU userspace, vhost-net is "
                          "never used this way")
        return rec
    if netdev.get("vhost") or netdev.get("vhostforce"):
        if vhost_messages:
            msg = vhost_messages[-1]
            ev.append("%s:%s: %s" % (msg.get("path"), msg.get("line"), excerpt(msg.get("text"), 200)))
            rec.update(vhost=False, state="fail", restart_fixes=True,
                       reason="vhost requested on the command line, but QEMU logged after its start: %s"
                              % excerpt(msg.get("text"), 160))
            return rec
        if proc is None or proc.get("fds") is None:
            rec.update(vhost=True, state="pass",
                       reason="judged by the argv alone (%s)" % ("fds not captured" if proc is None
                                                                  else proc.get("fd_reason") or "fds unreadable"))
            return rec
        vhostfds = [f for f in netdev.get("vhostfds") or [] if str(f).isdigit()]
        held = set(proc.get("vhost_fds") or [])
        base = "/proc/%s/fd" % proc.get("pid")
        if vhostfds:
            missing = [f for f in vhostfds if int(f) not in held]
            for f in vhostfds:
                if int(f) in held:
                    pool.discard(int(f))
            if not missing:
                ev.append("%s/{%s} -> /dev/vhost-net" % (base, ",".join(vhostfds)))
                if proc.get("vhost_threads"):
                    ev.append("vhost worker threads: %s" % ", ".join(sorted(set(proc["vhost_threads"]))[:4]))
                rec.update(vhost=True, state="pass")
                return rec
            rec.update(state="unknown", reason="argv passes vhostfd %s but %s/%s is not /dev/vhost-net"
                       % (",".join(vhostfds), base, missing[0]))
            return rec
        if held:
            ev.append("%s: %d fd(s) -> /dev/vhost-net" % (base, len(held)))
            rec.update(vhost=True, state="pass")
            return rec
        rec.update(vhost=False, state="fail", restart_fixes=True,
                   reason="vhost=on in the argv, but the process holds no fd to /dev/vhost-net")
        return rec
    # No vhost on the command line: userspace virtio.
    explicit = "vhost=off" if _VHOST_OFF.search(netdev.get("arg") or "") else "no vhost=on"
    reason = "%s `-netdev %s` has %s: virtio runs in QEMU userspace" % (source, backend, explicit)
    if proc is not None and proc.get("fds") is not None and not proc.get("vhost_fds"):
        ev.append("/proc/%s/fd: no fd -> /dev/vhost-net" % proc.get("pid"))
    if driver_name == "qemu":
        rec.update(vhost=False, state="fail", restart_fixes=False,
                   reason=reason + "; the domain XML asks for it (<driver name='qemu'/>): a restart keeps userspace, "
                                   "change the XML first")
        return rec
    if driver_name == "vhost":
        reason += "; the domain XML says <driver name='vhost'/> yet the running qemu has none (the XML is not evidence)"
    rec.update(vhost=False, state="fail", restart_fixes=True, reason=reason)
    return rec


def _judge_hotplug(iface, proc, pool):
    backend = _XML_BACKEND.get(iface.get("type"), iface.get("type"))
    rec = _nic_record(iface.get("mac"), iface.get("model"), backend, None, iface.get("queues"))
    rec["evidence"].append("domain XML: <interface type='%s'> mac %s, not in the qemu argv (hot-plugged)"
                           % (iface.get("type"), iface.get("mac")))
    if backend in _OTHER_DATAPATH:
        rec.update(state="not_applicable", reason=_OTHER_DATAPATH[backend])
        return rec
    if backend != "tap":
        rec.update(state="not_applicable", reason="backend %s is not a tap device" % backend)
        return rec
    if not qemuargv.is_virtio_net(iface.get("model") or ""):
        rec.update(state="not_applicable", reason="model %s is not virtio" % iface.get("model"))
        return rec
    if proc is None or proc.get("fds") is None:
        rec.update(state="unknown", reason="hot-plugged NIC (not in the argv) and the process fds could not be read")
        return rec
    need = iface.get("queues") or 1
    if len(pool) >= need:
        taken = sorted(pool)[:need]
        for fd in taken:
            pool.discard(fd)
        rec["evidence"].append("/proc/%s/fd/{%s} -> /dev/vhost-net (beyond the argv's)"
                               % (proc.get("pid"), ",".join(str(f) for f in taken)))
        rec.update(vhost=True, state="pass", reason="hot-plugged NIC: judged by /dev/vhost-net fds beyond the argv's")
        return rec
    rec.update(vhost=False, state="fail", restart_fixes=iface.get("driver_name") != "qemu",
               reason="hot-plugged NIC (not in the argv) and the process holds no /dev/vhost-net fd beyond the argv's")
    return rec


def judge_domain(dom, mode):
    """One domain: its NICs with vhost true/false/null and a reason each."""
    xml = dom.get("xml") or {}
    out = {"name": dom.get("name"), "uuid": dom.get("uuid") or xml.get("uuid"), "state": dom.get("state"),
           "pid": dom.get("pid"), "type": xml.get("type"), "needs_restart": False, "exempt": False, "managed": True,
           "nova": xml.get("nova"),
           "verdict": "not_applicable", "reason": None, "nics": [], "evidence": []}
    if dom.get("xml_error"):
        out["evidence"].append(excerpt(dom["xml_error"]))
    ifaces = list(xml.get("interfaces") or [])
    if dom.get("state") not in RUNNING_STATES:
        for iface in ifaces:
            rec = _nic_record(iface.get("mac"), iface.get("model"), _XML_BACKEND.get(iface.get("type"), iface.get("type")),
                              None, iface.get("queues"))
            rec.update(state="not_applicable", reason="domain is %s: no qemu process to judge" % dom.get("state"))
            out["nics"].append(rec)
        if dom.get("state") in ("unknown", "nostate", "crashed") or (dom.get("xml_error") and not xml):
            out["verdict"] = "unknown" if not dom.get("xml_error") else "error"
            out["reason"] = dom.get("xml_error") or "domain state is %s" % dom.get("state")
        else:
            out["reason"] = "domain is %s" % dom.get("state")
        return out
    proc = dom.get("process")
    log = dom.get("log") or {}
    parsed_log = log.get("parsed") or {}
    argv = None
    source = None
    if proc and proc.get("argv"):
        argv = proc["argv"]
        source = proc["argv_source"]
    elif mode == "snapshot" and (parsed_log.get("last_start") or {}).get("argv"):
        argv = parsed_log["last_start"]["argv"]
        source = "%s (argv of the last start)" % log.get("path")
        out["evidence"].append("no /proc/<pid> in the snapshot: judged by the argv QEMU logged at its last start")
    if argv is None:
        why = (proc or {}).get("reason") or dom.get("xml_error") or ("no qemu pid known for this domain"
                                                                      if not dom.get("pid") else
                                             "qemu pid %s unreadable" % dom.get("pid"))
        if xml.get("type") == "qemu":
            out.update(verdict="not_applicable", reason="TCG domain (<domain type='qemu'>): vhost-net never applies")
            return out
        out.update(verdict="unknown", reason="cannot tell: %s" % why)
        for iface in ifaces:
            rec = _nic_record(iface.get("mac"), iface.get("model"), _XML_BACKEND.get(iface.get("type"), iface.get("type")),
                              None, iface.get("queues"))
            rec.update(state="unknown", reason="cannot read what runs: %s" % why)
            out["nics"].append(rec)
        return out
    parsed = qemuargv.parse_qemu_argv(argv)
    for error in parsed.get("errors") or []:
        out["evidence"].append("%s argv[%s]: %s" % (source, error.get("index"), excerpt(error.get("reason"), 200)))
    accel = parsed.get("accel")
    dtype = xml.get("type") or ("kvm" if accel == "kvm" else "qemu" if accel == "tcg" else None)
    out["type"] = dtype
    if dtype == "qemu" or accel == "tcg":
        out.update(verdict="not_applicable",
                   reason="TCG domain (%s): vhost-net never applies" %
                          ("<domain type='qemu'>" if xml.get("type") == "qemu" else "-accel tcg"))
        for nic in parsed.get("nics") or []:
            rec = _nic_record(nic.get("mac"), nic.get("driver"), (nic.get("netdev") or {}).get("type"),
                              nic.get("netdev_id"), None)
            rec.update(state="not_applicable", reason="TCG domain: vhost-net never applies")
            out["nics"].append(rec)
        return out
    if dtype is None:
        out["evidence"].append("domain type unknown (no XML, no accel in the argv): judged as KVM")
    vhost_messages = []
    for msg in parsed_log.get("vhost_messages") or []:
        item = dict(msg)
        item["path"] = log.get("path")
        vhost_messages.append(item)
    pool = set((proc or {}).get("vhost_fds") or [])
    by_mac = {}
    by_alias = {}
    for iface in ifaces:
        if iface.get("mac"):
            by_mac[iface["mac"].lower()] = iface
        if iface.get("alias"):
            by_alias[iface["alias"]] = iface
    used = set()
    for nic in parsed.get("nics") or []:
        iface = None
        if nic.get("mac") and nic["mac"].lower() in by_mac:
            iface = by_mac[nic["mac"].lower()]
        elif (nic.get("device") or {}).get("id") in by_alias:
            iface = by_alias[nic["device"]["id"]]
        if iface is not None:
            used.add(id(iface))
        out["nics"].append(_judge_argv_nic(nic, iface, proc, source, vhost_messages, pool))
    for iface in ifaces:
        if id(iface) in used:
            continue
        if iface.get("type") == "hostdev":
            rec = _nic_record(iface.get("mac"), iface.get("model"), "hostdev", None, None)
            rec.update(state="not_applicable", reason=_OTHER_DATAPATH["hostdev"])
            rec["evidence"].append("domain XML: <interface type='hostdev'> mac %s" % iface.get("mac"))
            out["nics"].append(rec)
            continue
        out["nics"].append(_judge_hotplug(iface, proc if source and source.startswith("/proc") else None, pool))
    netdev_errors = [e for e in parsed.get("errors") or [] if "netdev" in (e.get("reason") or "")]
    for n in out["nics"]:
        if n["state"] == "unknown" and netdev_errors:
            n["reason"] = "%s, or its -netdev could not be read (%s)" % (n["reason"], "; ".join(
                "argv[%s]: %s" % (e.get("index"), excerpt(e.get("reason"), 80)) for e in netdev_errors[:2]))
    states = [n["state"] for n in out["nics"]]
    if dom.get("xml_error"):
        # What runs was judged, but an input about this domain was broken: say so, never pass.
        states.append("error")
    out["verdict"] = worst(states)
    out["needs_restart"] = dtype != "qemu" and any(n["state"] == "fail" and n["restart_fixes"] for n in out["nics"])
    if out["verdict"] == "fail":
        out["reason"] = "%d virtio NIC(s) without vhost-net" % states.count("fail")
        if not out["needs_restart"]:
            out["reason"] += ("; a restart would not change it: %s"
                              % "; ".join(sorted(set(n["reason"] for n in out["nics"] if n["state"] == "fail")))[:300])
    elif out["verdict"] == "unknown":
        out["reason"] = "cannot tell for %d NIC(s)" % states.count("unknown")
    elif out["verdict"] == "error":
        out["reason"] = "%s (its NICs were judged by its qemu process)" % excerpt(dom.get("xml_error"), 200)
    elif out["verdict"] == "not_applicable":
        out["reason"] = "no virtio NIC on a tap backend"
    return out


def check_domains(facts, domains, policy):
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
        return _check("domains.vhost", "fail", expected, actual,
                      "running without vhost-net: %s" % ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""),
                      evidence)
    if facts.get("domains_error"):
        return _check("domains.vhost", "error", expected, "domains could not be listed", facts["domains_error"], evidence)
    if unsure:
        state = "error" if any(d["verdict"] == "error" for d in unsure) else "unknown"
        return _check("domains.vhost", state, expected, actual,
                      "could not judge: %s" % ", ".join(d["name"] for d in unsure[:20]), evidence)
    if not good:
        running = [d for d in judged if d["state"] in RUNNING_STATES]
        return _check("domains.vhost", "not_applicable", expected, actual,
                      "no running KVM domain with a virtio NIC on a tap backend (%d domain(s), %d running)"
                      % (len(domains), len(running)), evidence)
    for d, n in good[:MAX_EVIDENCE - len(evidence)]:
        evidence.extend(n["evidence"][:2])
    return _check("domains.vhost", "pass", expected, actual, None, evidence)


def evaluate(facts, policy, host_name=None):
    """The audit result for one node (see docs/DESIGN.md for its shape)."""
    names = [n for n in (host_name, facts.get("hostname")) if n]
    domains = []
    for dom in facts.get("domains") or []:
        judged = judge_domain(dom, facts.get("mode"))
        reason = domain_exempt(policy, "domains.vhost", judged["name"])
        if reason:
            judged["exempt"] = True
            judged["reason"] = "exempt in the policy: %s" % reason
        domains.append(judged)
    for proc in facts.get("orphan_qemu") or []:
        name = None
        if proc.get("argv"):
            name = qemuargv.parse_qemu_argv(proc["argv"]).get("name")
        judged = judge_domain({"name": "%s (qemu pid %d, not known to libvirt)" % (name or "?", proc["pid"]),
                               "state": "running", "pid": proc["pid"], "process": proc, "xml": None, "log": None},
                              "live")
        judged["managed"] = False
        judged["needs_restart"] = False
        judged["reason"] = ("%s; a qemu process that no libvirt domain of this node claims: restart it through "
                            "whoever started it" % (judged["reason"] or judged["verdict"]))
        domains.append(judged)
    raw = [
        check_vhost_net_enabled(facts),
        check_settings(facts, policy),
        check_kernel(facts),
        check_kernel_boot(facts),
        check_domains(facts, domains, policy),
    ]
    checks = []
    for check in raw:
        exempt = host_exempt(policy, check["id"], names)
        if exempt:
            check["evidence"].insert(0, "found: %s: %s" % (check["state"], check["reason"] or check["actual"]))
            check["state"], check["reason"] = "not_applicable", "host exempt in the policy: %s" % exempt
        else:
            check["state"], check["reason"] = apply_level(policy, check["id"], check["state"], check["reason"])
        check["level"] = policy["checks"].get(check["id"], {}).get("level", "fail")
        checks.append(check)
    state = worst(c["state"] for c in checks)
    return {
        "schema_version": SCHEMA_VERSION,
        "host": facts.get("hostname"),
        "mode": facts.get("mode"),
        "root": facts.get("root"),
        "sources": facts.get("sources"),
        "versions": facts.get("versions"),
        "state": state,
        "checks": checks,
        "domains": domains,
        "needs_restart": sorted(d["name"] for d in domains if d["needs_restart"] and not d["exempt"]),
        "kernel": {
            "release": facts["kernel"].get("release"),
            "vhost_net_loaded": facts["kernel"].get("vhost_net_loaded"),
            "vhost_net_builtin": facts["kernel"]["builtin"].get("vhost_net"),
            "dev_vhost_net": facts["kernel"]["dev"].get("present"),
            "blacklisted": bool((facts["kernel"].get("modprobe") or {}).get("blacklisted")),
            "install_blocked": bool(((facts["kernel"].get("modprobe") or {}).get("install") or {}).get("blocks")),
            "modprobe_files": facts["kernel"].get("modprobe_files"),
            "boot_load": facts["kernel"].get("boot_load"),
        },
        "config": {
            "path": facts["qemu_kvm"]["path"],
            "status": facts["qemu_kvm"]["status"],
            "vhost_net_enabled": safe_text(((facts["qemu_kvm"].get("parsed") or {}).get("vars") or {})
                                           .get("VHOST_NET_ENABLED")),
        },
        "errors": [excerpt(e) for e in (facts.get("errors") or []) + (facts["kernel"].get("errors") or [])],
    }
