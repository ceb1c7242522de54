"""The runtime layer's view of one domain: what runs, paired with what libvirt says.

Pure. ``domain_view(dom, mode)`` turns one domain's raw facts (``facts["domains"][i]``:
the XML, the process record with its argv parsed once by the collector, the
QEMU log) into::

    {"name", "uuid", "state", "pid", "running": bool, "xml": {...}, "xml_error", "ifaces": [iface],
     "process": {...} | None, "argv": [str] | None, "argv_source": str | None, "argv_note": str | None,
     "parsed": parse_qemu_argv(...) | None, "accel", "type": "kvm" | "qemu" | None,
     "vhost_messages": [{"line", "text", "path"}],
     "pairs": {"argv": [{"nic", "iface"}], "hotplug": [{"iface", "fds"}], "hostdev": [iface],
               "spare_vhost_fds": [fd]}}

``pair_nics`` is the one explicit pairing step: argv NICs with XML interfaces
(by MAC, then by device alias), the XML interfaces the argv lacks
(hot-plugged), and the ``/dev/vhost-net`` fds no argv netdev names (spare),
handed to the hot-plugged NICs in a fixed order. The result depends on
nothing but its input (no shared pool mutated while judging).
"""
from ..parsers import qemuargv
from ..textsafe import ascii_int

RUNNING_STATES = ("running", "paused", "blocked", "pmsuspended", "shutdown")


def pair_nics(nics, ifaces, vhost_fds, with_fds=True, live_xml=False):
    """``{"argv": [{"nic", "iface"}], "hotplug": [{"iface", "fds"}], "hostdev": [iface], "spare_vhost_fds"}``.

    >>> p = pair_nics([{"mac": "52:54:00:00:00:01", "netdev": {"vhostfds": ["31"]}, "device": {"id": "net0"}}],
    ...               [{"mac": "52:54:00:00:00:01"}, {"mac": "52:54:00:00:00:02", "queues": 1}], [31, 40])
    >>> [bool(x["iface"]) for x in p["argv"]], [(h["iface"]["mac"], h["fds"]) for h in p["hotplug"]]
    ([True], [('52:54:00:00:00:02', [40])])
    """
    by_mac, by_alias = {}, {}
    for iface in ifaces:
        if iface.get("mac"):
            by_mac.setdefault(iface["mac"].lower(), iface)
        if iface.get("alias"):
            by_alias.setdefault(iface["alias"], iface)
    used = set()
    argv_pairs = []
    detached = []
    named_fds = set()
    for nic in nics:
        iface = None
        if nic.get("mac") and nic["mac"].lower() in by_mac:
            iface = by_mac[nic["mac"].lower()]
        elif (nic.get("device") or {}).get("id") in by_alias:
            iface = by_alias[nic["device"]["id"]]
        if iface is not None:
            used.add(id(iface))
        elif live_xml and nic.get("mac"):
            # In the argv, gone from the live XML: detached at run time (its fd numbers may be reused).
            detached.append(nic)
            continue
        argv_pairs.append({"nic": nic, "iface": iface})
        for fd in (nic.get("netdev") or {}).get("vhostfds") or ():
            number = ascii_int(str(fd), 9)
            if number is not None:
                named_fds.add(number)
    spare = sorted(fd for fd in vhost_fds or () if fd not in named_fds)
    pool = list(spare)
    hotplug, hostdev = [], []
    for iface in ifaces:
        if id(iface) in used:
            continue
        if iface.get("type") == "hostdev":
            hostdev.append(iface)
            continue
        need = iface.get("queues") or 1
        fds = []
        if with_fds and len(pool) >= need and qemuargv.is_virtio_net(iface.get("model") or ""):
            fds, pool = pool[:need], pool[need:]
        hotplug.append({"iface": iface, "fds": fds})
    return {"argv": argv_pairs, "hotplug": hotplug, "hostdev": hostdev, "spare_vhost_fds": spare,
            "detached": detached}


def _argv(dom, mode):
    proc = dom.get("process")
    log = dom.get("log") or {}
    last = ((log.get("parsed") or {}).get("last_start") or {})
    if proc and proc.get("argv"):
        parsed = proc.get("parsed") or qemuargv.parse_qemu_argv(proc["argv"])
        return proc["argv"], proc.get("argv_source"), parsed, None
    if mode == "snapshot" and last.get("argv"):
        return (last["argv"], "%s (argv of the last start)" % log.get("path"), qemuargv.parse_qemu_argv(last["argv"]),
                "no /proc/<pid> in the snapshot: judged by the argv QEMU logged at its last start")
    return None, None, None, None


def domain_view(dom, mode):
    xml = dom.get("xml") or {}
    view = {"name": dom.get("name"), "uuid": dom.get("uuid") or xml.get("uuid"), "state": dom.get("state"),
            "pid": dom.get("pid"), "running": dom.get("state") in RUNNING_STATES, "xml": xml,
            "xml_error": dom.get("xml_error"), "ifaces": list(xml.get("interfaces") or []),
            "process": dom.get("process"), "managed": dom.get("managed", True)}
    argv, source, parsed, note = _argv(dom, mode) if view["running"] else (None, None, None, None)
    view.update(argv=argv, argv_source=source, argv_note=note, parsed=parsed)
    accel = (parsed or {}).get("accel")
    view["accel"] = accel
    view["type"] = xml.get("type") or ("kvm" if accel == "kvm" else "qemu" if accel == "tcg" else None)
    log = dom.get("log") or {}
    view["vhost_messages"] = [dict(m, path=log.get("path")) for m in ((log.get("parsed") or {})
                                                                      .get("vhost_messages") or [])]
    proc = view["process"]
    from_proc = bool(source and source.startswith("/proc"))
    live_xml = bool(xml) and (xml.get("status") is not None or "live XML" in (dom.get("xml_source") or ""))
    view["pairs"] = pair_nics((parsed or {}).get("nics") or [], view["ifaces"],
                              (proc or {}).get("vhost_fds") if from_proc else [],
                              with_fds=from_proc, live_xml=live_xml) if parsed else None
    view["stale_reason"] = dom.get("stale_reason")
    view["libvirt_warnings"] = list(dom.get("libvirt_warnings") or [])
    view["audit_records"] = list(dom.get("audit_records") or [])
    return view
