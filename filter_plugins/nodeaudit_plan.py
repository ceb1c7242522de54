"""Jinja filters over the restart planner and the fix (module_utils/nodeaudit/controller/plan.py and
remediation.py, pure code: every judgement is there, with its unit tests; these only adapt Ansible's data).

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
from nodeaudit.controller import remediation as _remediation  # noqa: E402
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
    """What --tags fix may change on the node (controller/remediation.py:remediation_steps)."""
    return _remediation.remediation_steps(_plain(entry or {}), _plain(policy or {}))


def restart_kernel_ok(entry):
    """``[ok, reason]`` for a host's audit entry (controller/remediation.py:kernel_can_provide)."""
    ok, why = _remediation.kernel_can_provide(_plain(entry or {}))
    return [ok, why]


def restart_verify(audit_result, step, restarted=None, kernel_ok=True):
    """One domain judged after its restart (controller/remediation.py:verify_restart, unit-tested there)."""
    return _remediation.verify_restart(_plain(audit_result or {}), _plain(step or {}), _plain(restarted or {}),
                                       _bool(kernel_ok))


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
