"""compute-audit's exit statuses (an aggregate callback, enabled in ansible.cfg).

ansible-playbook on its own exits 2 for any failed host and 4 for any
unreachable one: drift, an invalid policy and an unwritable report directory
would all be 2. This callback gives each its own status, documented in the
README, by ending the run with it once the recap is printed:

====  =====================================================================
0     no drift
2     drift: a host failed the gate (that host is `failed` in the recap)
4     a host was unreachable (and `unreachable` is in audit_fail_on)
5     invalid policy or options (a task of the audit_policy role, a role's
      argument-spec validation, or a task with `audit_exit_status: 5`, failed)
6     the reports could not be written
7     no host to audit
====  =====================================================================

Where the status comes from: a failed task's result key `audit_exit_status`
(the action plugins set it), or the task's own variable `audit_exit_status`
(the playbook's checks), or the role audit_policy. When `unreachable` is not
in audit_fail_on, an unreachable host is still `unreachable` in the recap but
does not make the run fail (exit 0 when nothing else failed).
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: audit_exit
type: aggregate
short_description: Distinct exit statuses for compute-audit runs
description:
  - Ends C(ansible-playbook) with a status that says why the run failed
    (2 drift, 4 unreachable, 5 invalid policy or options, 6 reports not
    written, 7 no host to audit) instead of Ansible's 2 for every failure.
requirements:
  - enabled in ansible.cfg (C(callback_plugins) path or C(callbacks_enabled))
"""

from ansible.plugins.callback import CallbackBase

# When several apply, the first in this order wins: what stopped the run
# before anything was audited says more than what followed from it.
PRECEDENCE = (5, 7, 6)
STATUS_ROLES = {"audit_policy": 5}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "audit_exit"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.statuses = set()
        self.ungated_unreachable = set()

    @staticmethod
    def _task_status(task):
        action = getattr(task, "action", "") or ""
        if action == "validate_argument_spec" or action.endswith(".validate_argument_spec"):
            return 5        # a role's options do not match its meta/argument_specs.yml
        value = (getattr(task, "vars", None) or {}).get("audit_exit_status")
        if value is None:
            role = getattr(task, "_role", None)
            name = role.get_name(include_role_fqcn=False) if role is not None else None
            value = STATUS_ROLES.get(name)
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        status = (result.result or {}).get("audit_exit_status")
        if status is None:
            status = self._task_status(result.task)
        if status is not None:
            self.statuses.add(int(status))

    def v2_runner_on_unreachable(self, result):
        if (result.result or {}).get("audit_gate") is False:
            self.ungated_unreachable.add(result.host.get_name())

    def v2_playbook_on_stats(self, stats):
        for status in PRECEDENCE:
            if status in self.statuses:
                raise SystemExit(status)
        failed = [h for h, n in stats.failures.items() if n]
        dark = set(h for h, n in stats.dark.items() if n)
        if dark and not failed and dark <= self.ungated_unreachable:
            raise SystemExit(0)
