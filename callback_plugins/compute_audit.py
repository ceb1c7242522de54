"""compute-audit's screen output: Ansible's default output, with the fleet
table coloured by state and each host's verdict said once.

It is the default stdout callback (ansible.builtin.default) with two changes:

- after the report task, the fleet table (from the task's result) is printed
  with FAIL/ERR/UNREACH in red and WARN/UNKN in yellow when Ansible prints
  colour (``ANSIBLE_NOCOLOR`` / no tty: plain);
- a host that fails or is unreachable by the audit's own status task is said
  once, on one line (``fatal: [host]: DRIFT => ...``), without the generic
  "Task failed" block and its YAML excerpt; the audit task's own (ignored)
  failure or unreachability is not printed, since the status task says it.

- the roles' argument-spec validation (meta/argument_specs.yml) prints
  nothing when it passes.

Every other event is the default callback's. Used when ansible.cfg says
``stdout_callback = compute_audit``; with any other stdout callback (AWX/AAP)
the report action prints the table itself, uncoloured.
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: compute_audit
type: stdout
short_description: Ansible's default output plus compute-audit's coloured fleet table
description:
  - The default stdout callback, printing the fleet table of the audit_report
    action coloured by state, and each host's audit status once.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout_callback in ansible.cfg
"""

from ansible import constants as C
from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.utils.color import stringc

# report.COLOURS, by the symbols the table prints.
CELL_COLOURS = {"FAIL": C.COLOR_ERROR, "ERR": C.COLOR_ERROR, "UNREACH": C.COLOR_ERROR,
                "WARN": C.COLOR_CHANGED, "UNKN": C.COLOR_CHANGED}     # yellow


def _is(task, name):
    action = getattr(task, "action", "") or ""
    return action == name or action.endswith("." + name)


def colour_table(text):
    """Colour the state cells of the fleet table (words delimited by spaces) and the findings."""
    out = []
    in_findings = False
    for line in text.splitlines():
        if line == "findings:":
            in_findings = True
            out.append(line)
            continue
        if in_findings and line.startswith("  "):
            words = line.split()
            colour = CELL_COLOURS.get(words[1]) if len(words) > 1 else None
            out.append(stringc(line, colour) if colour else line)
            continue
        parts = line.split(" ")
        out.append(" ".join(stringc(p, CELL_COLOURS[p]) if p in CELL_COLOURS else p for p in parts))
    return "\n".join(out)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "compute_audit"

    def v2_runner_on_ok(self, result):
        if _is(result.task, "validate_argument_spec"):
            return          # the roles' argument specs passed: nothing to say (a failure is printed)
        if _is(result.task, "audit_host_status") and result.result.get("audit_statement"):
            # The plain statement of what is left (after --tags fix, or drift only reported).
            if self._last_task_banner != result.task._uuid:
                self._print_task_banner(result.task)
            self._display.display("ok: [%s] => %s" % (self.host_label(result), result.result.get("msg")),
                                  color=C.COLOR_OK)
            return
        super(CallbackModule, self).v2_runner_on_ok(result)
        if _is(result.task, "audit_report"):
            table = result.result.get("table")
            if table:
                self._display.display(colour_table(table))
            files = result.result.get("files") or []
            if files:
                self._display.display("reports: %s" % ", ".join(files))     # always, even without the table

    def _once(self, result, word):
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
        self._display.display("fatal: [%s]: %s => %s" % (self.host_label(result), word, result.result.get("msg")),
                              color=C.COLOR_ERROR if word != "UNREACHABLE!" else C.COLOR_UNREACHABLE)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if _is(result.task, "compute_audit") and ignore_errors:
            return          # said once, by the host's status task (the audit goes on for the fleet)
        if _is(result.task, "audit_host_status") and not ignore_errors:
            self._once(result, "DRIFT")
            return
        super(CallbackModule, self).v2_runner_on_failed(result, ignore_errors)

    def v2_runner_on_unreachable(self, result):
        if _is(result.task, "compute_audit") and result.task.ignore_unreachable:
            return          # said once, by the host's status task
        if _is(result.task, "audit_host_status"):
            self._once(result, "UNREACHABLE!")
            return
        super(CallbackModule, self).v2_runner_on_unreachable(result)
