"""The one judgement of a NIC: does vhost-net carry it, and would a restart change that?

Pure. Input is one pair from ``combiners/domain.pair_nics`` (an argv NIC as
``parsers/qemuargv`` paired it, with its XML interface if any; or an XML
interface the argv does not have: hot-plugged) and the domain's context (the
process facts, the QEMU log's vhost messages). Output is one record::

    {"mac", "model", "backend", "netdev", "queues",
     "vhost": True | False | None,      # does vhost-net carry this NIC's traffic (None: could not tell)
     "state": pass | fail | unknown | not_applicable,
     "reason": str | None, "restart_fixes": bool, "evidence": [str],
     "evidence_kind": "argv+fds" | "argv" | "xml+fds" | ...}

``vhost`` is ``None`` whenever the state is ``not_applicable`` (an e1000, a
vhost-user or user-mode NIC: the question does not apply), so a report never
shows "vhost: no" for a NIC that was never meant to have it.
"""
import re

from ..parsers import qemuargv
from ..textsafe import ascii_int, excerpt

TAP_BACKENDS = frozenset(qemuargv.TAP_TYPES)
_VHOST_OFF = re.compile(r'(^|,)vhost=(off|no|false)(,|$)|"vhost"\s*:\s*false')
XML_BACKEND = {"ethernet": "tap", "bridge": "tap", "network": "tap", "direct": "tap", "vhostuser": "vhost-user",
               "vdpa": "vhost-vdpa", "hostdev": "hostdev", "user": "user", "mcast": "socket", "server": "socket",
               "client": "socket", "udp": "socket"}
OTHER_DATAPATH = {
    "vhost-user": "vhost-user: the datapath is a userspace switch (e.g. OVS-DPDK), not vhost-net; not a failure",
    "vhost-vdpa": "vhost-vdpa: a hardware (vDPA) datapath, not vhost-net; not a failure",
    "hostdev": "PCI passthrough (hostdev / SR-IOV VF): the NIC bypasses the host datapath; vhost-net does not apply",
    "user": "user-mode networking (slirp): no tap device, vhost-net cannot apply",
}


def record(mac, model, backend, netdev_id, queues):
    return {"mac": mac, "model": model, "backend": backend, "netdev": netdev_id, "queues": queues,
            "vhost": None, "state": "unknown", "reason": None, "restart_fixes": False, "evidence": []}


def _argv_evidence(source, netdev):
    return "%s argv[%s]: %s" % (source, netdev.get("index"), excerpt(netdev.get("arg"), 200))


def _structure(nic, rec, model):
    """Verdicts that follow from how the argv pairs the NIC, before any vhost question; None to go on."""
    netdev = nic.get("netdev") or {}
    pairing = nic.get("pairing")
    backend = rec["backend"]
    if pairing == "no_device":
        reason = "netdev %r has no NIC device (front end) on the command line" % (netdev.get("id"),)
        return dict(state="not_applicable", reason=reason)
    if pairing == "hub_no_backend":
        return dict(state="not_applicable",
                    reason="legacy -net (hub) syntax: no backend on vlan %s; vhost-net is not used" % nic.get("vlan"))
    if pairing == "missing_netdev":
        return dict(state="unknown", reason="device points at netdev %r, which is not on the command line"
                    % (nic.get("netdev_id"),))
    if pairing == "unconnected":
        return dict(state="unknown", reason="NIC device %s has no netdev= (not connected to a backend)" % model)
    if backend in OTHER_DATAPATH:
        return dict(state="not_applicable", reason=OTHER_DATAPATH[backend])
    if backend is None:
        return dict(state="not_applicable", reason="netdev type not stated: vhost-net does not apply")
    if backend not in TAP_BACKENDS:
        return dict(state="not_applicable",
                    reason="backend %s is not a tap device: vhost-net does not apply (other datapath)" % backend)
    if pairing == "hub":
        return dict(vhost=False, state="fail", restart_fixes=True,
                    reason="legacy -net (hub) syntax (`-net nic` + `-net tap`): the %s backend sits behind a hub, "
                           "virtio runs in QEMU userspace and vhost-net is never used this way" % backend)
    if netdev.get("vhost") is None and not netdev.get("vhostforce"):
        return dict(state="unknown", reason="%s backend with an unreadable vhost= value (%s)"
                    % (backend, excerpt(netdev.get("arg"), 80)))
    if nic.get("driver") is None:
        return dict(state="not_applicable", reason="%s backend, NIC model not stated (machine default, not "
                                                    "virtio-net): vhost-net does not apply" % backend)
    if not nic.get("virtio"):
        return dict(state="not_applicable",
                    reason="model %s is not virtio: vhost-net only serves virtio-net NICs" % model)
    return None


def _vhost_requested(rec, netdev, proc, source, vhost_messages):
    ev = rec["evidence"]
    if vhost_messages:
        msg = vhost_messages[-1]
        ev.append("%s:%s: %s" % (msg.get("path"), msg.get("line"), excerpt(msg.get("text"), 200)))
        return dict(vhost=False, state="fail", restart_fixes=True,
                    reason="vhost requested on the command line, but QEMU logged after its start: %s"
                           % excerpt(msg.get("text"), 160))
    if proc is None or proc.get("fds") is None:
        return dict(vhost=True, state="pass",
                    reason="judged by the argv alone (%s)" % ("fds not captured" if proc is None
                                                               else proc.get("fd_reason") or "fds unreadable"))
    named = [str(f) for f in netdev.get("vhostfds") or []]
    vhostfds = [f for f in named if ascii_int(f, 9) is not None]
    held = set(proc.get("vhost_fds") or [])
    base = proc.get("fd_base") or "/proc/%s/fd" % proc.get("pid")    # fd_base: lsof in a sosreport
    if named and not vhostfds:
        return dict(state="unknown", reason="argv passes vhostfd %s, not an fd number"
                    % excerpt(",".join(named), 60))
    if vhostfds:
        missing = [f for f in vhostfds if ascii_int(f, 9) not in held]
        if not missing:
            ev.append("%s/{%s} -> /dev/vhost-net" % (base, ",".join(vhostfds)))
            if proc.get("vhost_threads"):
                ev.append("vhost worker threads: %s" % ", ".join(sorted(set(proc["vhost_threads"]))[:4]))
            return dict(vhost=True, state="pass")
        return dict(state="unknown", reason="argv passes vhostfd %s but %s/%s is not /dev/vhost-net"
                    % (",".join(vhostfds), base, missing[0]))
    if held:
        ev.append("%s: %d fd(s) -> /dev/vhost-net" % (base, len(held)))
        return dict(vhost=True, state="pass")
    if proc.get("fd_cut"):
        return dict(state="unknown", reason=_fd_cut_reason(proc, base))
    return dict(vhost=False, state="fail", restart_fixes=True,
                reason="vhost=on in the argv, but the process holds no fd to /dev/vhost-net")


def _fd_cut_reason(proc, base):
    cut = proc.get("fd_cut") or 0
    total = proc.get("fd_total") or 0
    return ("no fd -> /dev/vhost-net among the first %d of %d fds read in %s (cap): %d fd(s) were not read, "
            "one of them may be it" % (total - cut, total, base, cut))


def _userspace(rec, netdev, iface, proc, source):
    backend = rec["backend"]
    explicit = "vhost=off" if _VHOST_OFF.search(netdev.get("arg") or "") else "no vhost=on"
    reason = "%s `-netdev %s` has %s: virtio runs in QEMU userspace" % (source, backend, explicit)
    if proc is not None and proc.get("fds") is not None and not proc.get("vhost_fds"):
        rec["evidence"].append("%s: no fd -> /dev/vhost-net" % (proc.get("fd_base") or "/proc/%s/fd" % proc.get("pid")))
    driver_name = (iface or {}).get("driver_name")
    if driver_name == "qemu":
        return dict(vhost=False, state="fail", restart_fixes=False,
                    reason=reason + "; the domain XML asks for it (<driver name='qemu'/>): a restart keeps userspace, "
                                    "change the XML first")
    if driver_name == "vhost":
        reason += "; the domain XML says <driver name='vhost'/> yet the running qemu has none (the XML is not evidence)"
    return dict(vhost=False, state="fail", restart_fixes=True, reason=reason)


def judge_argv_nic(nic, iface, proc, source, vhost_messages):
    """A NIC the qemu argv has (``nic`` from ``parsers/qemuargv``), with its XML interface if paired."""
    netdev = nic.get("netdev") or {}
    device = nic.get("device") or {}
    iface = iface or {}
    backend = netdev.get("type") or (XML_BACKEND.get(iface.get("type")) if iface else None)
    queues = netdev.get("queues") or (len(netdev.get("fds") or []) or None) or iface.get("queues")
    model = nic.get("driver") or iface.get("model")
    rec = record(nic.get("mac") or iface.get("mac"), model, backend, nic.get("netdev_id"), queues)
    rec["evidence_kind"] = "argv" if proc is None or proc.get("fds") is None else "argv+fds"
    if netdev:
        rec["evidence"].append(_argv_evidence(source, netdev))
    if device:
        rec["evidence"].append("%s argv[%s]: -device %s" % (source, device.get("index"),
                                                            excerpt(device.get("driver"), 60)))
    if nic.get("shared_netdev"):
        rec["evidence"].append("netdev %r is also used by another device" % nic.get("netdev_id"))
    verdict = _structure(nic, rec, model)
    if verdict is None:
        if netdev.get("vhost") or netdev.get("vhostforce"):
            verdict = _vhost_requested(rec, netdev, proc, source, vhost_messages)
        else:
            verdict = _userspace(rec, netdev, iface, proc, source)
    rec.update(verdict)
    return rec


def judge_hotplug_nic(iface, proc, fds):
    """An XML interface the argv does not have (hot-plugged); ``fds`` are the spare vhost fds paired with it."""
    backend = XML_BACKEND.get(iface.get("type"), iface.get("type"))
    rec = record(iface.get("mac"), iface.get("model"), backend, None, iface.get("queues"))
    rec["evidence_kind"] = "xml+fds"
    rec["evidence"].append("domain XML: <interface type='%s'> mac %s, not in the qemu argv (hot-plugged)"
                           % (iface.get("type"), iface.get("mac")))
    if backend in OTHER_DATAPATH:
        rec.update(state="not_applicable", reason=OTHER_DATAPATH[backend])
    elif backend != "tap":
        rec.update(state="not_applicable", reason="backend %s is not a tap device" % backend)
    elif not qemuargv.is_virtio_net(iface.get("model") or ""):
        rec.update(state="not_applicable", reason="model %s is not virtio" % iface.get("model"))
    elif proc is None or proc.get("fds") is None:
        rec.update(state="unknown", reason="hot-plugged NIC (not in the argv) and the process fds could not be read")
    elif fds:
        rec["evidence"].append("/proc/%s/fd/{%s} -> /dev/vhost-net (beyond the argv's)"
                               % (proc.get("pid"), ",".join(str(f) for f in fds)))
        rec.update(vhost=True, state="pass", reason="hot-plugged NIC: judged by /dev/vhost-net fds beyond the argv's")
    elif proc.get("fd_cut"):
        rec.update(state="unknown", reason="hot-plugged NIC: " + _fd_cut_reason(proc, "/proc/%s/fd" % proc.get("pid")))
    else:
        rec.update(vhost=False, state="fail", restart_fixes=iface.get("driver_name") != "qemu",
                   reason="hot-plugged NIC (not in the argv) and the process holds no /dev/vhost-net fd beyond "
                          "the argv's")
    return rec


def judge_argv(argv, source="argv"):
    """Every NIC of a qemu argv judged by the argv alone (no process, no XML): corpus files, ``ps`` lines.

    >>> [(n["netdev"], n["vhost"], n["state"]) for n in judge_argv(["qemu-system-x86_64", "-netdev",
    ...     "tap,id=h0,vhost=on", "-device", "virtio-net-pci,netdev=h0"])]
    [('h0', True, 'pass')]
    """
    parsed = qemuargv.parse_qemu_argv(argv)
    return [judge_argv_nic(nic, None, None, source, []) for nic in parsed["nics"]]
