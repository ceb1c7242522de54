"""Jinja filters over the restart planner and the fix (module_utils/nodeaudit/controller/plan.py, pure code).

Imported from this repository's module_utils/ the same way as nodeaudit_filters.py.
"""
import datetime
import json
import os
import sys

from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.controller import plan as _plan  # noqa: E402
from nodeaudit.controller import report as _report  # noqa: E402
from nodeaudit.evaluate import RUNNING_STATES  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402




def _bool(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def restart_plan(hosts, policies, restart_without_vhost=False, instances=None, now=None):
    """``audit_doc.hosts | restart_plan(audit_policies, restart_without_vhost, instances)`` -> the plan.

    ``now`` (default: the controller's clock) makes a maintenance window that is already over an error.
    """
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    try:
        return _plan.plan(_plain(hosts or {}), _plain(policies or {}),
                          {"restart_without_vhost": _bool(restart_without_vhost),
                           "instances": _plain(instances or {}), "now": _plain(now)})
    except (TypeError, ValueError, KeyError) as exc:
        raise AnsibleFilterError("restart planner: %s" % exc)


def restart_plan_json(plan_doc, generated_at=None, previous=None):
    """reports/restart-plan.json: ``waves`` as lists of ``{host, domain}``; ``steps`` with every detail
    (schemas/restart-plan.schema.json).

    ``previous`` is the text of the file being replaced: when the plan is the
    same, its ``generated_at`` is kept, so an unchanged plan is not rewritten
    (a second ``--tags fix`` run is ``changed=0``).
    """
    doc = _plain(plan_doc)
    out = {"schema_version": doc.get("schema_version"), "generated_at": generated_at,
           "waves": _plan.plan_waves(doc), "steps": doc.get("waves"), "skipped": doc.get("skipped"),
           "windows": doc.get("windows"), "limits": doc.get("limits"), "groups": doc.get("groups"),
           "errors": doc.get("errors"), "summary": doc.get("summary")}
    try:
        old = json.loads(str(previous)) if previous else None
    except ValueError:
        old = None
    if isinstance(old, dict) and dict(old, generated_at=None) == dict(out, generated_at=None):
        out["generated_at"] = old.get("generated_at")
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


def restart_plan_markdown(plan_doc):
    return _plan.plan_markdown(_plain(plan_doc))


def restart_steps(plan_doc):
    """The plan's items in execution order (wave by wave, then host, domain)."""
    return [item for wave in _plain(plan_doc).get("waves") or [] for item in wave]


def restart_host_entry(result):
    """A registered compute_audit result -> the report's host entry (reachable, audit...)."""
    return _report.host_entry(_plain(result) if result is not None else None)


def vhost_fix_steps(entry, policy=None):
    return _plan.remediation_steps(_plain(entry or {}), _plain(policy or {}))


def restart_kernel_ok(entry):
    """``[ok, reason]`` for a host's audit entry (see plan.kernel_can_provide)."""
    ok, why = _plan.kernel_can_provide(_plain(entry or {}))
    return [ok, why]


def restart_verify(audit_result, step, restarted=None, kernel_ok=True):
    """Judge one domain after its restart from a fresh compute_audit result of its host.

    Returns ``{"ok", "reason", "pid", "state", "vhost", "nics"}``: the pid must be the
    new one (libvirt: the module's new_pid; other methods: not the planned old pid),
    the domain back in its previous state (or running for nova), and, where the kernel
    can provide vhost-net, every virtio tap NIC with vhost-net active.
    """
    audit_result = _plain(audit_result or {})
    step = _plain(step or {})
    restarted = _plain(restarted or {})
    audit = audit_result.get("audit") or {}
    name = step.get("domain")
    out = {"ok": False, "reason": None, "pid": None, "state": None, "vhost": None, "nics": []}
    if audit_result.get("unreachable") or audit_result.get("failed") or not audit:
        out["reason"] = "re-audit of %s failed: %s" % (step.get("host"), audit_result.get("msg") or "no audit")
        return out
    dom = None
    for d in audit.get("domains") or []:
        if d.get("name") == name:
            dom = d
    if dom is None:
        if step.get("method") == "live_migrate":
            out.update(ok=True, reason="no longer on %s (live-migrated away)" % step.get("host"))
            return out
        out["reason"] = "domain %s not found on %s after the restart" % (name, step.get("host"))
        return out
    out["pid"], out["state"] = dom.get("pid"), dom.get("state")
    out["nics"] = [{"mac": n.get("mac"), "vhost": n.get("vhost"), "state": n.get("state")}
                   for n in dom.get("nics") or []]
    judged = [n for n in dom.get("nics") or [] if n.get("state") in ("pass", "fail")]
    out["vhost"] = all(n.get("vhost") for n in judged) if judged else None
    new_pid = restarted.get("new_pid")
    problems = []
    if new_pid is not None and dom.get("pid") != new_pid:
        problems.append("qemu pid is %s, not the new pid %s" % (dom.get("pid"), new_pid))
    if step.get("pid") is not None and dom.get("pid") == step.get("pid"):
        problems.append("qemu pid %s did not change" % dom.get("pid"))
    want = restarted.get("previous_state") or step.get("state")
    norm = lambda s: "running" if s in ("running", "blocked") else s
    if step.get("method") == "nova":
        if dom.get("state") not in RUNNING_STATES:
            problems.append("domain is %s after the hard reboot" % dom.get("state"))
    elif want and norm(dom.get("state")) != norm(want):
        problems.append("domain is %s, not %s as before" % (dom.get("state"), want))
    if _bool(kernel_ok) and out["vhost"] is False:
        problems.append("still without vhost-net after the restart: %s" % "; ".join(
            "%s: %s" % (n.get("mac"), n.get("reason")) for n in judged if not n.get("vhost")))
    if problems:
        out["reason"] = "; ".join(problems)
        return out
    out["ok"] = True
    if not _bool(kernel_ok) and out["vhost"] is False:
        out["reason"] = "new qemu process, still without vhost-net: the kernel cannot provide it " \
                        "(restart_without_vhost)"
    return out


class FilterModule(object):
    def filters(self):
        return {
            "restart_plan": restart_plan,
            "restart_plan_json": restart_plan_json,
            "restart_plan_markdown": restart_plan_markdown,
            "restart_steps": restart_steps,
            "restart_kernel_ok": restart_kernel_ok,
            "restart_verify": restart_verify,
            "vhost_fix_steps": vhost_fix_steps,
            "restart_host_entry": restart_host_entry,
        }
