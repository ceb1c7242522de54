"""Per-host action: give each host the Ansible status that tells the truth about it.

The audit itself never fails a host (one broken node must not stop the fleet
audit, and the reports must be whole), so without this step every host would
be `ok` and the gate would fail whichever host ran it. This action runs on
every host after the reports are written, on the controller (no connection),
and returns, for this host alone:

- unreachable: the host did not answer the audit (`unreachable` in the recap,
  in `--limit @retry`, in AWX/AAP host summaries), without connecting again;
- failed: the host drifts by the gate (`fail_on`), or, after `--tags fix`,
  drift is left on it that the fix could have fixed; the message says which;
- ok: otherwise, with a plain statement of what is left (kernel cannot
  provide vhost-net, restarts planned) when there is something.
"""
import os
import sys

from ansible.plugins.action import ActionBase

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.checks import GATE_DEFAULT  # noqa: E402
from nodeaudit.controller import remediation as _remediation  # noqa: E402
from nodeaudit.controller import report as _report  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402


def fix_left(entry, policy, kernel_cannot_provide=False):
    """What the fix could still change on this host after it ran: a list of plain statements (empty: nothing)."""
    steps = _remediation.remediation_steps(entry, policy or {})
    left = []
    if steps["fix_config"]:
        left.append("VHOST_NET_ENABLED is still %r in %s" % (steps["config_value"], steps["config_path"]))
    if (steps["load_module"] or steps["persist_module"]) and not kernel_cannot_provide:
        left.append("vhost_net is still not %s" % ("loaded" if steps["load_module"] else "persisted at boot"))
    if steps["remove_blacklist"]:
        left.append("the vhost_net blacklist is still in %s" % ", ".join(steps["remove_blacklist"]))
    return left, steps["notes"]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("result", "fail_on", "gate", "mode", "policy", "kernel_cannot_provide"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        fail_on = tuple(str(s) for s in (args.get("fail_on") or GATE_DEFAULT))
        gate = bool(args.get("gate", True))
        mode = str(args.get("mode") or "audit")
        entry = _report.safe_tree(_report.host_entry(_plain(args.get("result"))))
        result["changed"] = False
        if entry["state"] == _report.UNREACHABLE:
            result.update(unreachable=True, msg=entry.get("reason"),
                          audit_gate=bool(gate and _report.UNREACHABLE in fail_on))
            return result
        restarts = entry.get("needs_restart") or []
        if mode == "fix":
            left, notes = fix_left(entry, _plain(args.get("policy") or {}), bool(args.get("kernel_cannot_provide")))
            result["audit_statement"] = True     # said on the screen even when ok (callback compute_audit)
            if left and self._task.check_mode:
                result["msg"] = "check mode: the fix would change what is left here: %s" % "; ".join(left)
            elif left:
                result.update(failed=True, msg="drift left that the fix could have fixed: %s" % "; ".join(left))
                return result
            else:
                said = list(notes)
                if restarts:
                    said.append("%d domain(s) need a restart (see restart-plan.md): %s"
                                % (len(restarts), ", ".join(restarts)))
                result["msg"] = ("fixed what the fix may fix; left: %s" % "; ".join(said)) if said else \
                    "nothing left to fix"
            return result
        drift = _report.host_drift(entry, fail_on)
        if drift and gate:
            result.update(failed=True, msg="drift: %s" % "; ".join(drift))
        elif drift:
            result["msg"] = "drift, reported only (audit_fail_on_drift=false): %s" % "; ".join(drift)
            result["audit_statement"] = True
        else:
            result["msg"] = "no drift (%s)" % entry.get("state")
        return result
