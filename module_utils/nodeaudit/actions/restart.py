"""Restart one libvirt domain's qemu process (destroy + start), and prove it happened.

Used by ``library/domain_restart.py``; kept here so it is tested without
Ansible. The libvirt binding is passed in (``libvirt_mod``), so tests inject a
fake one; nothing here imports libvirt.

Why destroy + start: a running VM gets vhost-net only in a *new* qemu
process. ``virsh reboot`` (and ``virDomainReboot``/``Reset``) reboots the guest
inside the same process, so nothing changes; a managed save and restore keeps
the device model as it was. Only a new process opens ``/dev/vhost-net``.

The proof is the qemu pid libvirt records in its live status file
(``/run/libvirt/qemu/<name>.xml``, ``<domstatus pid=...>``): it must change,
and the domain must be back in the state it had (running, or paused: a paused
domain is started paused with ``VIR_DOMAIN_START_PAUSED``).
"""
import datetime
import os
import time

from .. import caps
from ..parsers.domxml import parse_domain_xml
from ..errors import DomainXMLError

from ..sources import deployment
from ..sources.collect import LIBVIRT_STATES as STATE_NAMES  # virDomainState values: one table

# libvirt's status files on the default deployment shape (sources/deployment.py is the one place for paths).
STATUS_DIR = deployment.SHAPES[deployment.DEFAULT_SHAPE]["run_dir"] + "/qemu"
RESTARTABLE = ("running", "blocked", "paused")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state_name(code):
    """
    >>> state_name(3), state_name(1), state_name(42)
    ('paused', 'running', 'state-42')
    """
    return STATE_NAMES.get(code, "state-%s" % code)


def same_state(before, after):
    """``blocked`` is a running domain waiting on I/O: it counts as running.

    >>> same_state("blocked", "running"), same_state("paused", "running")
    (True, False)
    """
    norm = lambda s: "running" if s in ("running", "blocked") else s
    return norm(before) == norm(after)


def status_pid(name, status_dir=STATUS_DIR):
    """The qemu pid libvirt recorded for ``name`` (``<domstatus pid=...>``), or ``(None, reason)``.

    Returns ``(pid, None)`` or ``(None, why)``.
    """
    path = os.path.join(status_dir, name + ".xml")
    try:
        with open(path, "rb") as handle:
            text = handle.read(caps.MAX_FILE_BYTES)
    except OSError as exc:
        return None, "%s: %s" % (path, exc.strerror or exc)
    try:
        status = parse_domain_xml(text).get("status") or {}
    except DomainXMLError as exc:
        return None, "%s: %s" % (path, exc)
    if not status.get("pid"):
        return None, "%s has no <domstatus pid>" % path
    return status["pid"], None


def pid_alive(pid, proc="/proc"):
    return pid is not None and os.path.exists(os.path.join(proc, str(pid)))


class RestartError(Exception):
    def __init__(self, msg, result):
        Exception.__init__(self, msg)
        self.result = result


def restart_domain(conn, libvirt_mod, name, status_dir=STATUS_DIR, timeout=30.0, check_mode=False,
                   proc="/proc", clock=time.monotonic, sleep=time.sleep, graceful_timeout=0):
    """Destroy and start ``name`` on ``conn``; return the result dict or raise RestartError(msg, result).

    With ``graceful_timeout`` > 0 a running domain is first asked to shut down
    (``virDomainShutdown``: the ACPI power button, so a keepalived master in
    it can send its priority-0 advert and hand over), and destroyed only if it
    is not off after that many seconds. A paused domain cannot run its guest's
    shutdown: it is destroyed as before.

    ``result``: name, uuid, persistent, previous_state, state, old_pid, new_pid,
    started_at, finished_at, seconds, actions (what was done, in order), changed,
    stop ("destroy", "graceful", or "graceful_timeout" when it had to be destroyed).
    """
    result = {"name": name, "uuid": None, "persistent": None, "previous_state": None, "state": None,
              "old_pid": None, "new_pid": None, "started_at": now_iso(), "finished_at": None, "seconds": None,
              "actions": [], "changed": False, "stop": "destroy"}
    t0 = clock()

    def fail(msg):
        result["finished_at"] = now_iso()
        result["seconds"] = round(clock() - t0, 3)
        raise RestartError(msg, result)

    try:
        dom = conn.lookupByName(name)
        result["uuid"] = dom.UUIDString()
        before = state_name(dom.state()[0])
        persistent = bool(dom.isPersistent())
    except libvirt_mod.libvirtError as exc:
        fail("libvirt: cannot look up domain %s: %s" % (name, exc))
    result["previous_state"] = result["state"] = before
    result["persistent"] = persistent
    old_pid, why = status_pid(name, status_dir)
    result["old_pid"] = old_pid
    if before not in RESTARTABLE:
        fail("domain %s is %s: there is no qemu process to restart" % (name, before))
    if old_pid is None:
        fail("cannot read the current qemu pid of %s (%s): the restart could not be proven, not starting it"
             % (name, why))
    paused = before == "paused"
    flags = libvirt_mod.VIR_DOMAIN_START_PAUSED if paused else 0
    graceful = graceful_timeout > 0 and not paused
    plan = ["%s (qemu pid %s ends)" % ("shut down, destroy after %g s" % graceful_timeout if graceful else "destroy",
                                       old_pid),
            "start%s (a new qemu process)" % (" paused" if paused else "")]
    if not persistent:
        plan[1] = "create from the saved live XML%s (transient domain: destroy removes it)" % (
            " paused" if paused else "")
    if check_mode:
        result["actions"] = ["would " + step for step in plan]
        result["changed"] = True
        result["finished_at"] = now_iso()
        result["seconds"] = round(clock() - t0, 3)
        return result
    xml = None
    if not persistent:
        try:
            xml = dom.XMLDesc(libvirt_mod.VIR_DOMAIN_XML_SECURE)
        except libvirt_mod.libvirtError as exc:
            fail("transient domain %s: cannot save its XML before destroying it: %s" % (name, exc))
    off = False
    if graceful:
        try:
            dom.shutdown()
            result["changed"] = True
            result["actions"].append("shutdown requested at %s (ACPI power button)" % now_iso())
            t_stop = clock()
            while clock() - t_stop < graceful_timeout:
                try:
                    if state_name(dom.state()[0]) == "shutoff":
                        off = True
                        break
                except libvirt_mod.libvirtError:  # a transient domain is gone once off
                    off = not persistent
                    if off:
                        break
                sleep(0.1)
        except libvirt_mod.libvirtError as exc:
            result["actions"].append("shutdown refused (%s)" % exc)
        result["stop"] = "graceful" if off else "graceful_timeout"
        if off:
            result["actions"].append("off by itself at %s" % now_iso())
    if not off:
        try:
            dom.destroy()
        except libvirt_mod.libvirtError as exc:
            fail("destroy of %s failed: %s" % (name, exc))
        result["changed"] = True
        result["actions"].append("destroyed at %s (qemu pid %s)%s" % (
            now_iso(), old_pid, " after %g s without stopping" % graceful_timeout if graceful else ""))
    try:
        if persistent:
            dom.createWithFlags(flags)
        else:
            dom = conn.createXML(xml, flags)
    except libvirt_mod.libvirtError as exc:
        try:
            result["state"] = state_name(dom.state()[0])
        except libvirt_mod.libvirtError:
            result["state"] = "unknown" if persistent else "undefined"
        fail("start of %s failed after it was destroyed: the domain is now %s: %s"
             % (name, result["state"], exc))
    result["actions"].append("started%s at %s" % (" paused" if paused else "", now_iso()))
    # libvirt writes the status file before createWithFlags returns; wait a little anyway
    new_pid, why, state = None, None, None
    while True:
        try:
            state = state_name(dom.state()[0])
        except libvirt_mod.libvirtError as exc:
            state, why = "unknown", "libvirt: %s" % exc
        new_pid, pid_why = status_pid(name, status_dir)
        why = pid_why or why
        if new_pid is not None and new_pid != old_pid and same_state(before, state):
            break
        if clock() - t0 > timeout:
            break
        sleep(0.2)
    result["state"], result["new_pid"] = state, new_pid
    result["finished_at"] = now_iso()
    result["seconds"] = round(clock() - t0, 3)
    if new_pid is None:
        fail("%s: no new qemu pid after %.0f s (%s)" % (name, timeout, why))
    if new_pid == old_pid:
        fail("%s: the qemu pid did not change (%s): no new process, vhost-net cannot have changed" % (name, new_pid))
    if not same_state(before, state):
        fail("%s: the domain is %s, not %s as before the restart" % (name, state, before))
    if proc and not pid_alive(new_pid, proc):
        fail("%s: the new qemu pid %s is not a running process" % (name, new_pid))
    return result
