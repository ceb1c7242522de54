"""A real host's processes: which are qemu, and whether a status file's pid is still its domain's qemu.

Pure: text in, data out. On a real KVM host ``/proc`` holds kernel threads
whose ``comm`` starts with ``kvm`` (``kvm-pit/<pid>``, ``kvm-nx-lpage-re``,
``kvm-irqfd-clean``), helpers whose name starts with ``qemu`` (``qemu-ga``,
``qemu-nbd``), zombies (``State: Z``, empty cmdline) and, after a crash or a
reboot, status files naming pids that are gone or now belong to something
else. None of those is a qemu process of a domain.
"""
import posixpath
import re

from ..sources.deployment import is_qemu_comm

__all__ = ["parse_status", "qemu_process_kind", "match_domain"]

_STATUS_FIELD = re.compile(r"^([A-Za-z_()]+):\s*(.*)$")


def parse_status(text):
    """``/proc/<pid>/status``: {"name", "state", "ppid", "kthread": bool}.

    Sample input::

        Name:   kvm-pit/4711
        State:  S (sleeping)
        PPid:   2
        Kthread: 1

    ``kthread`` is True when the kernel says so (``Kthread: 1``), for
    ``kthreadd`` itself (pid 2, parent 0), or for a child of pid 2 without any
    memory map (no ``VmSize``: kernel threads have none; in a pid namespace pid
    2 is an ordinary process, whose children do have one).

    >>> parse_status("Name:\\tkvm-pit/4711\\nState:\\tS (sleeping)\\nPid:\\t4790\\nPPid:\\t2\\n")["kthread"]
    True
    >>> parse_status("Name:\\tqemu-system-x86\\nState:\\tZ (zombie)\\nPid:\\t9\\nPPid:\\t1\\n")["state"]
    'Z'
    """
    fields = {}
    for line in (text or "").split("\n"):
        m = _STATUS_FIELD.match(line)
        if m:
            fields[m.group(1)] = m.group(2).strip()
    state = (fields.get("State") or "")[:1] or None
    ppid = fields.get("PPid")
    pid = fields.get("Pid")
    kthread = (fields.get("Kthread") == "1" or (ppid == "0" and pid == "2")
               or (ppid == "2" and "VmSize" not in fields and (fields.get("State") or "")[:1] not in ("Z", "X")))
    return {"name": fields.get("Name"), "state": state, "ppid": int(ppid) if ppid and ppid.isdigit() else None,
            "kthread": bool(kthread)}


def qemu_process_kind(comm, status_text=None, argv=None, exe=None):
    """Is this process a qemu process to judge? ("qemu", None) or (kind, why) for anything else.

    kinds: ``kernel-thread``, ``zombie``, ``other-program``, ``exiting``.

    >>> qemu_process_kind("kvm-pit/4711", "Name:\\tkvm-pit/4711\\nState:\\tS\\nPPid:\\t2\\n")[0]
    'kernel-thread'
    >>> qemu_process_kind("qemu-system-x86", "State:\\tZ (zombie)\\nPPid:\\t1\\n", [])[0]
    'zombie'
    >>> qemu_process_kind("qemu-ga", None, ["/usr/bin/qemu-ga"])[0]
    'other-program'
    >>> qemu_process_kind("qemu-kvm", "State:\\tS\\nPPid:\\t1\\n", ["/usr/libexec/qemu-kvm", "-name", "guest=a"])
    ('qemu', None)
    """
    status = parse_status(status_text) if status_text else {}
    if status.get("kthread"):
        return "kernel-thread", "%s is a kernel thread (parent kthreadd)" % comm
    if status.get("state") in ("Z", "X"):
        return "zombie", "%s is a zombie (State: %s): nothing runs" % (comm, status.get("state"))
    if not is_qemu_comm(comm):
        return "other-program", "comm %r is not a qemu system emulator" % comm
    if argv is not None and not argv:
        if not status_text:
            return "kernel-thread", "%s has an empty cmdline and no status: a kernel thread or an exiting process" \
                % comm
        return "exiting", "%s has an empty cmdline (exiting)" % comm
    if argv:
        base = posixpath.basename(argv[0])
        if not (base.startswith("qemu-system-") or base in ("qemu-kvm", "kvm") or
                (exe and posixpath.basename(exe).startswith(("qemu-system-", "qemu-kvm")))):
            return "other-program", "argv[0] %r is not a qemu system emulator" % argv[0]
    return "qemu", None


def match_domain(dom_name, dom_uuid, parsed_argv):
    """Does the qemu whose argv is ``parsed_argv`` (qemuargv.parse_qemu_argv) run this domain?

    Returns ``(True | False | None, why)``: True when ``-uuid`` (or, with no uuid
    on either side, ``-name guest=``) matches; False when it names another
    domain (the status file's pid was reused); None when the argv says neither.

    >>> match_domain("a", "5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e", {"uuid": "5D0C1A5E-8F55-4A55-9D8B-2C4A2F1C7F0E"})
    (True, '-uuid 5D0C1A5E-8F55-4A55-9D8B-2C4A2F1C7F0E')
    >>> match_domain("a", "5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e", {"uuid": "11111111-2222-3333-4444-555555555555", "name": "b"})[0]
    False
    """
    parsed = parsed_argv or {}
    uuid = parsed.get("uuid")
    name = parsed.get("name")
    if uuid and dom_uuid:
        if uuid.lower() == dom_uuid.lower():
            return True, "-uuid %s" % uuid
        return False, "its argv runs -uuid %s%s, not %s" % (uuid, " (-name %s)" % name if name else "", dom_uuid)
    if name and dom_name:
        if name == dom_name:
            return True, "-name guest=%s" % name
        return False, "its argv runs -name %s, not %s" % (name, dom_name)
    return None, "its argv has neither -uuid nor -name"
