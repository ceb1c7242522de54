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


class _Restart(object):
    """One restart's state: the result being built, the clock, and how a step fails."""

    def __init__(self, libvirt_mod, name, clock, sleep):
        self.lib, self.name, self.clock, self.sleep = libvirt_mod, name, clock, sleep
        self.t0 = clock()
        self.result = {"name": name, "uuid": None, "persistent": None, "previous_state": None, "state": None,
                       "old_pid": None, "new_pid": None, "started_at": now_iso(), "finished_at": None,
                       "seconds": None, "actions": [], "changed": False, "stop": "destroy"}

    def done(self):
        self.result["finished_at"] = now_iso()
        self.result["seconds"] = round(self.clock() - self.t0, 3)
        return self.result

    def fail(self, msg):
        raise RestartError(msg, self.done())

    def state_of(self, dom):
        return state_name(dom.state()[0])


def _look_up(run, conn, status_dir):
    """The domain, its state before, and the qemu pid it runs now (or the restart fails here)."""
    res = run.result
    try:
        dom = conn.lookupByName(run.name)
        res["uuid"] = dom.UUIDString()
        before = run.state_of(dom)
        persistent = bool(dom.isPersistent())
    except run.lib.libvirtError as exc:
        run.fail("libvirt: cannot look up domain %s: %s" % (run.name, exc))
    res["previous_state"] = res["state"] = before
    res["persistent"] = persistent
    res["old_pid"], why = status_pid(run.name, status_dir)
    if before not in RESTARTABLE:
        run.fail("domain %s is %s: there is no qemu process to restart" % (run.name, before))
    if res["old_pid"] is None:
        run.fail("cannot read the current qemu pid of %s (%s): the restart could not be proven, not starting it"
                 % (run.name, why))
    return dom, before, persistent


def _steps(old_pid, paused, graceful, graceful_timeout, persistent):
    """What the restart will do, in words (check mode says "would ...")."""
    stop = "shut down, destroy after %g s" % graceful_timeout if graceful else "destroy"
    steps = ["%s (qemu pid %s ends)" % (stop, old_pid), "start%s (a new qemu process)" % (" paused" if paused else "")]
    if not persistent:
        steps[1] = "create from the saved live XML%s (transient domain: destroy removes it)" % (
            " paused" if paused else "")
    return steps


def _shut_down(run, dom, graceful_timeout, persistent):
    """Ask the guest to power off (ACPI) and wait up to ``graceful_timeout``; True once it is off."""
    res = run.result
    off = False
    try:
        dom.shutdown()
        res["changed"] = True
        res["actions"].append("shutdown requested at %s (ACPI power button)" % now_iso())
        t_stop = run.clock()
        while run.clock() - t_stop < graceful_timeout:
            try:
                if run.state_of(dom) == "shutoff":
                    off = True
                    break
            except run.lib.libvirtError:  # a transient domain is gone once off
                off = not persistent
                if off:
                    break
            run.sleep(0.1)
    except run.lib.libvirtError as exc:
        res["actions"].append("shutdown refused (%s)" % exc)
    res["stop"] = "graceful" if off else "graceful_timeout"
    if off:
        res["actions"].append("off by itself at %s" % now_iso())
    return off


def _destroy(run, dom, graceful, graceful_timeout):
    try:
        dom.destroy()
    except run.lib.libvirtError as exc:
        run.fail("destroy of %s failed: %s" % (run.name, exc))
    run.result["changed"] = True
    run.result["actions"].append("destroyed at %s (qemu pid %s)%s" % (
        now_iso(), run.result["old_pid"], " after %g s without stopping" % graceful_timeout if graceful else ""))


def _start(run, conn, dom, persistent, xml, paused):
    """Start the domain again (a transient one from its saved XML); the domain object that runs now."""
    flags = run.lib.VIR_DOMAIN_START_PAUSED if paused else 0
    try:
        if persistent:
            dom.createWithFlags(flags)
        else:
            dom = conn.createXML(xml, flags)
    except run.lib.libvirtError as exc:
        try:
            run.result["state"] = run.state_of(dom)
        except run.lib.libvirtError:
            run.result["state"] = "unknown" if persistent else "undefined"
        run.fail("start of %s failed after it was destroyed: the domain is now %s: %s"
                 % (run.name, run.result["state"], exc))
    run.result["actions"].append("started%s at %s" % (" paused" if paused else "", now_iso()))
    return dom


def _prove_new_process(run, dom, before, status_dir, timeout, proc):
    """Wait for the new qemu pid in the status file, then prove the restart: new pid, same state, alive."""
    res, old_pid = run.result, run.result["old_pid"]
    # libvirt writes the status file before createWithFlags returns; wait a little anyway
    new_pid, why, state = None, None, None
    while True:
        try:
            state = run.state_of(dom)
        except run.lib.libvirtError as exc:
            state, why = "unknown", "libvirt: %s" % exc
        new_pid, pid_why = status_pid(run.name, status_dir)
        why = pid_why or why
        if new_pid is not None and new_pid != old_pid and same_state(before, state):
            break
        if run.clock() - run.t0 > timeout:
            break
        run.sleep(0.2)
    res["state"], res["new_pid"] = state, new_pid
    run.done()
    if new_pid is None:
        run.fail("%s: no new qemu pid after %.0f s (%s)" % (run.name, timeout, why))
    if new_pid == old_pid:
        run.fail("%s: the qemu pid did not change (%s): no new process, vhost-net cannot have changed"
                 % (run.name, new_pid))
    if not same_state(before, state):
        run.fail("%s: the domain is %s, not %s as before the restart" % (run.name, state, before))
    if proc and not pid_alive(new_pid, proc):
        run.fail("%s: the new qemu pid %s is not a running process" % (run.name, new_pid))


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
    run = _Restart(libvirt_mod, name, clock, sleep)
    dom, before, persistent = _look_up(run, conn, status_dir)
    paused = before == "paused"
    graceful = graceful_timeout > 0 and not paused
    if check_mode:
        run.result["actions"] = ["would " + step for step in
                                 _steps(run.result["old_pid"], paused, graceful, graceful_timeout, persistent)]
        run.result["changed"] = True
        return run.done()
    xml = None
    if not persistent:
        try:
            xml = dom.XMLDesc(libvirt_mod.VIR_DOMAIN_XML_SECURE)
        except libvirt_mod.libvirtError as exc:
            run.fail("transient domain %s: cannot save its XML before destroying it: %s" % (name, exc))
    if not (graceful and _shut_down(run, dom, graceful_timeout, persistent)):
        _destroy(run, dom, graceful, graceful_timeout)
    dom = _start(run, conn, dom, persistent, xml, paused)
    _prove_new_process(run, dom, before, status_dir, timeout, proc)
    return run.result
