"""Controller-side action: build the fleet report from every host's audit result
and write audit.json / audit.xml / audit.md atomically, in one step.

Why an action plugin and not set_fact + copy: the bench profile showed the
report role spending most of its time templating the whole fleet document
through set_fact and shipping each report as `content` through copy (10 of
12 s at 200 hosts). Here the pure code in module_utils/nodeaudit/controller/report.py
(report.fleet, which the audit_fleet filter also serves) runs once on plain
data, and module_utils/nodeaudit/controller/report_files.py writes each file atomically:
a report is whole or absent, never partial (a full file system gives a clear
error and leaves the previous report).
"""
import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.controller import report as _report  # noqa: E402
from nodeaudit.checks import GATE_DEFAULT  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402
from nodeaudit.controller.report_files import ReportWriteError, write_reports  # noqa: E402


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("hosts", "dest", "basename", "policy_name", "policy_digest", "generated_at",
                             "fail_on", "expose_doc"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        hosts = [str(h) for h in args.get("hosts") or []]
        dest = str(args["dest"])
        basename = str(args.get("basename") or "audit")
        hostvars = task_vars["hostvars"]
        results = dict((name, _plain(hostvars[name].get("audit_result") if name in hostvars else None))
                       for name in hosts)
        doc = _report.fleet(results, str(args.get("policy_name") or "default"), str(args.get("policy_digest") or ""),
                            str(args.get("generated_at")), host_order=hosts)
        try:
            files = write_reports(doc, dest, basename)
        except ReportWriteError as exc:
            raise AnsibleActionFail(exc.strerror)
        fail_on = tuple(str(s) for s in (args.get("fail_on") or GATE_DEFAULT))
        result.update(changed=False, files=files, summary=doc["summary"], table=_report.table(doc),
                      gate=_report.gate(doc, fail_on))
        if args.get("expose_doc"):
            result["ansible_facts"] = {"audit_doc": doc}
        return result
