"""Controller-side action: the fleet probe report (reports/probe.json, probe.md, probe.prom), in one step.

Reads every probed host's vrrp_probe result (`probe_result`) and audit
(`audit_result`) from hostvars, builds the report with the pure code in
module_utils/nodeaudit/controller/probe_report.py and writes each file
atomically (report_files.write_atomic). Returns the terminal lines and the
exit code probe.yml gates on (2 when an instance in fail_on's states).
"""
import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.controller import probe_report as _probe  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402
from nodeaudit.controller.report_files import write_atomic  # noqa: E402


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("hosts", "dest", "basename", "policy", "fail_on", "late_factor", "generated_at",
                             "prometheus"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        hosts = [str(h) for h in args.get("hosts") or []]
        hostvars = task_vars["hostvars"]
        probes, audits, unreachable = {}, {}, []
        for name in hosts:
            hv = hostvars[name] if name in hostvars else {}
            pr = _plain(hv.get("probe_result")) or {}
            job = _plain(hv.get("probe_job")) or {}
            if job.get("unreachable") or pr.get("unreachable"):
                unreachable.append(name)
            probes[name] = pr.get("probe")
            au = _plain(hv.get("audit_result")) or {}
            if au.get("audit"):
                audits[name] = au["audit"]
        fail_on = tuple(str(s) for s in (args.get("fail_on") or _probe.FAIL_ON_DEFAULT))
        for state in fail_on:
            if state not in ("flapped", "late"):
                raise AnsibleActionFail("probe_fail_on: unknown state %r (flapped, late)" % state)
        doc = _probe.build(probes, audits, _plain(args.get("policy")) or {},
                           late_factor=float(args.get("late_factor") or 1.5), fail_on=fail_on,
                           generated_at=str(args.get("generated_at") or ""), unreachable=unreachable)
        dest = str(args["dest"])
        base = str(args.get("basename") or "probe")
        files = []
        try:
            os.makedirs(dest, exist_ok=True)
            prom = str(args.get("prometheus") or "") or os.path.join(dest, base + ".prom")
            for path, render in ((os.path.join(dest, base + ".json"), _probe.to_json),
                                 (os.path.join(dest, base + ".md"), _probe.markdown), (prom, _probe.prometheus)):
                # atomic: a node_exporter textfile collector never reads half a file
                write_atomic(path, render(doc))
                files.append(path)
        except OSError as exc:
            raise AnsibleActionFail("cannot write the probe reports in %s: %s" % (dest, exc))
        result.update(changed=False, files=files, lines=_probe.terminal(doc), status=doc["status"],
                      failing=doc["failing"], exit_code=doc["exit_code"])
        return result
