"""What the fix may change on a node, whether its kernel can provide vhost-net, and whether a restart worked.

Pure: read from the structured fields of a host's audit entry (as in
``audit.json`` ``hosts``; see docs/DESIGN.md): ``kernel.can_provide`` /
``can_provide_reason`` / ``module_support`` / ``blocks``, ``config.sourceable``
/ ``syntax_error`` / ``key_line`` / ``read_by``, and the checks' states.
Nothing here reads a ``reason`` or an ``evidence`` string: those are for
people.

- ``kernel_can_provide(entry)``: may a restart on this host give vhost-net?
  (the planner and the rollout ask);
- ``remediation_steps(entry, policy)``: what ``--tags fix`` may change on the
  node (role ``vhost_fix``, filter ``vhost_fix_steps``);
- ``verify_restart(audit_result, step, restarted, kernel_ok)``: one domain
  judged after its restart from a fresh audit of its node (role
  ``restart_rollout``, filter ``restart_verify``).
"""
from ..actions.restart import same_state
from ..combiners.domain import RUNNING_STATES

MODULE = "vhost_net"


# -- the kernel ------------------------------------------------------------------

def kernel_can_provide(entry):
    """``(True, None)`` when a qemu started now on this host can get vhost-net, else ``(False, reason)``.

    ``kernel.can_provide`` is the audit's verdict; "could not tell" (null) is
    not a yes: a restart there might run in userspace again.

    >>> kernel_can_provide({"kernel": {"can_provide": True}})
    (True, None)
    >>> kernel_can_provide({"kernel": {"can_provide": False, "can_provide_reason": "/dev/vhost-net is absent"}})[1]
    'the kernel cannot provide vhost-net (/dev/vhost-net is absent): a restarted qemu would run in userspace again'
    >>> kernel_can_provide({"kernel": {"can_provide": None}})[1]
    'the kernel cannot be shown to provide vhost-net (the audit could not tell): a restarted qemu may run in userspace again'
    """
    kernel = (entry or {}).get("kernel") or {}
    verdict = kernel.get("can_provide")
    if verdict is True:
        return True, None
    if verdict is None:
        return False, ("the kernel cannot be shown to provide vhost-net (%s): a restarted qemu may run in userspace "
                       "again" % (kernel.get("can_provide_reason") or "the audit could not tell"))
    return False, ("the kernel cannot provide vhost-net (%s): a restarted qemu would run in userspace again"
                   % (kernel.get("can_provide_reason") or "no reason given"))


def blacklist_blocks(kernel):
    """The ``blacklist vhost_net`` lines of the audit's ``kernel.blocks`` (path, line, raw), in order."""
    return [b for b in kernel.get("blocks") or ()
            if b.get("kind") == "blacklist" and (b.get("module") or "").replace("-", "_") == MODULE]


# -- what the fix may change --------------------------------------------------------

def remediation_steps(entry, policy=None):
    """What ``--tags fix`` may change on one node, decided from its audit.

    Returns ``{"fix_config", "config_path", "config_value", "config_line", "load_module", "persist_module",
    "remove_blacklist": [paths], "blacklist_lines": [{"path","line","raw"}], "kernel_ok_after", "notes": [str]}``:
    ``fix_config`` only when ``VHOST_NET_ENABLED`` is present, not ``1``,
    something reads it and ``/bin/sh`` can source the file (a missing key is not
    added: the releases without it never read it; ``vhost_net`` is then
    persisted through ``modules-load.d``); ``load_module`` only where the kernel
    check did not pass, the kernel can load modules, nothing blocks it, and a
    blacklist is either absent or to be removed (``remediation.remove_blacklist``).

    >>> audit = {"reachable": True, "mode": "live",
    ...          "config": {"path": "/etc/default/qemu-kvm", "status": "ok", "vhost_net_enabled": "0",
    ...                     "sourceable": True, "key_line": 3, "read_by": "the qemu-kvm boot job"},
    ...          "kernel": {"module_support": False, "can_provide": False, "vhost_net_builtin": False, "blocks": []},
    ...          "checks": [{"id": "qemu_kvm.vhost_net_enabled", "state": "fail"}, {"id": "kernel.vhost_net", "state": "fail"}]}
    >>> s = remediation_steps(audit)
    >>> s["fix_config"], s["config_line"], s["load_module"], s["kernel_ok_after"]
    (True, 3, False, False)
    >>> s["notes"][0]
    'kernel cannot provide vhost-net: it has no loadable module support (no /proc/modules) and vhost_net is not built in; not loaded, no VM restart planned here'
    """
    policy = policy or {}
    out = {"fix_config": False, "config_path": None, "config_value": None, "config_line": None,
           "load_module": False, "persist_module": False, "remove_blacklist": [], "blacklist_lines": [],
           "kernel_ok_after": None, "notes": []}
    why_not = _not_fixable(entry)
    if why_not:
        out["notes"].append(why_not)
        return out
    checks = dict((c.get("id"), c) for c in entry.get("checks") or ())
    _config_step(out, entry.get("config") or {}, checks.get("qemu_kvm.vhost_net_enabled") or {})
    remove = bool((policy.get("remediation") or {}).get("remove_blacklist"))
    kernel = entry.get("kernel") or {}
    _blacklist_step(out, kernel, remove)
    _module_step(out, entry, checks, remove)
    return out


def _not_fixable(entry):
    if not entry or not entry.get("reachable", True) or not entry.get("checks"):
        return "not audited (%s): nothing changed" % ((entry or {}).get("reason") or "no audit result")
    if entry.get("mode") not in (None, "live"):
        return "audited from a snapshot (%s): nothing to fix on a copy" % entry.get("root")
    return None


def _config_step(out, config, check):
    """``VHOST_NET_ENABLED=1`` where the check found it present and not 1, the file sourceable and read."""
    path = config.get("path")
    out["config_path"], out["config_value"] = path, config.get("vhost_net_enabled")
    out["config_line"] = config.get("key_line")
    notes = out["notes"]
    state = check.get("state")
    if state in ("fail", "warn"):
        syntax = config.get("syntax_error") or {}
        if config.get("status") != "ok":
            notes.append("%s could not be read (%s): not changed" % (path, config.get("status")))
        elif config.get("sourceable") is False:
            notes.append("%s: /bin/sh cannot source it (%s%s): not rewritten, fix it by hand"
                         % (path, syntax.get("message") or "syntax error",
                            ", line %s" % syntax["line"] if syntax.get("line") is not None else ""))
        elif config.get("sourceable") is None:
            notes.append("%s: whether /bin/sh can source it could not be told: not rewritten" % path)
        elif config.get("vhost_net_enabled") is None or config.get("key_line") is None:
            notes.append("%s has no VHOST_NET_ENABLED: the key is not added (nothing reads it on this release)"
                         % path)
        elif "read_by" in config and config["read_by"] is None:
            notes.append("%s: nothing on this node reads VHOST_NET_ENABLED: not rewritten (vhost_net is persisted "
                         "through modules-load.d instead)" % path)
        else:
            out["fix_config"] = True
    elif state == "unknown":
        notes.append("%s: VHOST_NET_ENABLED is decided at run time (%s): not rewritten"
                     % (path, check.get("reason")))
    elif state == "not_applicable" and check.get("reason"):
        notes.append("qemu_kvm.vhost_net_enabled does not apply: %s" % check.get("reason"))


def _blacklist_step(out, kernel, remove):
    """A ``blacklist vhost_net`` is reported; removed only when the policy says so."""
    lines = blacklist_blocks(kernel)
    if not lines:
        return
    files = []
    for block in lines:
        if block.get("path") and block["path"] not in files:
            files.append(block["path"])
    where = ", ".join(files) or "modprobe.d"
    if remove:
        out["remove_blacklist"] = files
        out["blacklist_lines"] = [{"path": b.get("path"), "line": b.get("line"), "raw": b.get("raw")} for b in lines]
        out["notes"].append("vhost_net is blacklisted in %s: removed (policy remediation.remove_blacklist: true; "
                            "a backup is kept)" % where)
    else:
        out["notes"].append("vhost_net is blacklisted in %s: left as is (it may be a security baseline; set "
                            "remediation.remove_blacklist: true in the policy to remove it)" % where)


def _module_step(out, entry, checks, remove):
    """Load and persist vhost_net where the kernel check (or the boot check) did not pass and it can help."""
    kernel = entry.get("kernel") or {}
    notes = out["notes"]
    kernel_failed = (checks.get("kernel.vhost_net") or {}).get("state") in ("fail", "warn", "unknown", "error")
    boot_failed = (checks.get("kernel.vhost_net_boot") or {}).get("state") in ("fail", "warn")
    ok_now = kernel_can_provide(entry)[0]
    out["kernel_ok_after"] = ok_now
    if not (kernel_failed or boot_failed) or kernel.get("vhost_net_builtin"):
        return
    if kernel.get("install_blocked"):
        notes.append("an `install vhost_net ...` line blocks every load: not changed (remove it by hand if it is "
                     "not intended); kernel cannot provide vhost-net, no VM restart planned here")
        return
    if kernel.get("module_support") is False:
        notes.append("kernel cannot provide vhost-net: it has no loadable module support (no /proc/modules) and "
                     "vhost_net is not built in; not loaded, no VM restart planned here")
        return
    if kernel.get("module_support") is None:
        notes.append("whether the kernel can load modules could not be read: vhost_net not loaded, no VM restart "
                     "planned here")
        return
    if blacklist_blocks(kernel) and not remove:
        return
    out["load_module"] = kernel_failed
    out["persist_module"] = True
    if kernel_failed or ok_now is False:
        out["kernel_ok_after"] = None  # known after the re-audit


# -- after a restart ------------------------------------------------------------------

def verify_restart(audit_result, step, restarted=None, kernel_ok=True):
    """Judge one domain after its restart from a fresh compute_audit result of its host.

    Returns ``{"ok", "reason", "pid", "state", "vhost", "nics"}``: the pid must be the
    new one (libvirt: the module's new_pid; other methods: not the planned old pid),
    the domain back in its previous state (or running for nova), and, where the kernel
    can provide vhost-net, every judged virtio tap NIC with vhost-net active.

    >>> audit = {"audit": {"domains": [{"name": "d", "pid": 2, "state": "running",
    ...                                 "nics": [{"mac": "m", "vhost": True, "state": "pass"}]}]}}
    >>> verify_restart(audit, {"host": "h", "domain": "d", "pid": 1, "state": "running"}, {"new_pid": 2})["ok"]
    True
    >>> verify_restart(audit, {"host": "h", "domain": "d", "pid": 2, "state": "running"}, {})["reason"]
    'qemu pid 2 did not change'
    """
    audit_result, step, restarted = audit_result or {}, step or {}, restarted or {}
    audit = audit_result.get("audit") or {}
    out = {"ok": False, "reason": None, "pid": None, "state": None, "vhost": None, "nics": []}
    if audit_result.get("unreachable") or audit_result.get("failed") or not audit:
        out["reason"] = "re-audit of %s failed: %s" % (step.get("host"), audit_result.get("msg") or "no audit")
        return out
    dom = _find_domain(audit, step.get("domain"))
    if dom is None:
        if step.get("method") == "live_migrate":
            out.update(ok=True, reason="no longer on %s (live-migrated away)" % step.get("host"))
        else:
            out["reason"] = "domain %s not found on %s after the restart" % (step.get("domain"), step.get("host"))
        return out
    judged = [n for n in dom.get("nics") or [] if n.get("state") in ("pass", "fail")]
    out.update(pid=dom.get("pid"), state=dom.get("state"),
               nics=[{"mac": n.get("mac"), "vhost": n.get("vhost"), "state": n.get("state")}
                     for n in dom.get("nics") or []],
               vhost=all(n.get("vhost") for n in judged) if judged else None)
    problems = _pid_problems(dom, step, restarted) + _state_problems(dom, step, restarted)
    if kernel_ok and out["vhost"] is False:
        problems.append("still without vhost-net after the restart: %s" % "; ".join(
            "%s: %s" % (n.get("mac"), n.get("reason")) for n in judged if not n.get("vhost")))
    if problems:
        out["reason"] = "; ".join(problems)
        return out
    out["ok"] = True
    if not kernel_ok and out["vhost"] is False:
        out["reason"] = "new qemu process, still without vhost-net: the kernel cannot provide it " \
                        "(restart_without_vhost)"
    return out


def _find_domain(audit, name):
    found = None
    for dom in audit.get("domains") or []:
        if dom.get("name") == name:
            found = dom
    return found


def _pid_problems(dom, step, restarted):
    problems = []
    new_pid = restarted.get("new_pid")
    if new_pid is not None and dom.get("pid") != new_pid:
        problems.append("qemu pid is %s, not the new pid %s" % (dom.get("pid"), new_pid))
    if step.get("pid") is not None and dom.get("pid") == step.get("pid"):
        problems.append("qemu pid %s did not change" % dom.get("pid"))
    return problems


def _state_problems(dom, step, restarted):
    if step.get("method") == "nova":
        if dom.get("state") not in RUNNING_STATES:
            return ["domain is %s after the hard reboot" % dom.get("state")]
        return []
    want = restarted.get("previous_state") or step.get("state")
    if want and not same_state(want, dom.get("state")):
        return ["domain is %s, not %s as before" % (dom.get("state"), want)]
    return []
