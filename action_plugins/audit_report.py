"""Controller-side action: build the fleet report from every host's audit result
and write audit.json / audit.xml / audit.md atomically, in one step; print the
fleet table (coloured when Ansible prints colour) and the report paths.

Why an action plugin and not set_fact + copy: the bench profile showed the
report role spending most of its time templating the whole fleet document
through set_fact and shipping each report as `content` through copy (10 of
12 s at 200 hosts). Here the pure code in module_utils/nodeaudit/controller/report.py
runs once on plain data, and module_utils/nodeaudit/controller/report_files.py
writes each file atomically: a report is whole or absent, never partial (a
full file system gives a clear error and leaves the previous report).

A limited run (``--limit``, or fewer hosts than the group has) is partial: by
default it writes ``<basename>-partial.*`` and leaves the full fleet's report
alone (``partial_overwrite: true`` replaces it). History: the full report
being replaced is kept as ``<basename>.previous.json`` and the new one says
what changed since it (``changes``).
"""
import os
import sys
import time

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible import constants as C
from ansible.utils.display import Display

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.controller import history as _history  # noqa: E402
from nodeaudit.controller import prometheus as _prometheus  # noqa: E402
from nodeaudit.controller import report as _report  # noqa: E402
from nodeaudit.checks import GATE_DEFAULT  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402
from nodeaudit.controller.report_files import ReportWriteError, load_report, write_atomic, write_reports  # noqa: E402

display = Display()
SUMMARY_MODES = ("full", "short", "none")


def _our_stdout_callback():
    """Whether callback_plugins/compute_audit.py prints the table (coloured) after this task."""
    try:
        name = str(C.config.get_config_value("DEFAULT_STDOUT_CALLBACK") or "")
    except Exception:  # pylint: disable=broad-except
        return False
    return name == "compute_audit" or name.endswith(".compute_audit")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("hosts", "dest", "basename", "policy_name", "policy_digest", "generated_at",
                             "fail_on", "expose_doc", "limit", "hosts_in_inventory", "started_at", "duration_s",
                             "summary", "partial_overwrite", "markdown_budget", "results_var", "hosts_group",
                             "prometheus", "prometheus_per_host"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        hosts = [str(h) for h in args.get("hosts") or []]
        dest = str(args["dest"])
        basename = str(args.get("basename") or "audit")
        summary_mode = str(args.get("summary") or "full")
        if summary_mode not in SUMMARY_MODES:
            return dict(failed=True, audit_exit_status=5,
                        msg="audit_summary must be one of %s, not %r" % (", ".join(SUMMARY_MODES), summary_mode))
        results_var = str(args.get("results_var") or "audit_result")
        hostvars = task_vars["hostvars"]
        results = dict((name, _plain(hostvars[name].get(results_var)) if name in hostvars else None)
                       for name in hosts)
        limit = args.get("limit")
        limit = None if limit in (None, "", []) else (",".join(limit) if isinstance(limit, list) else str(limit))
        prom = args.get("prometheus")
        if prom:
            prom = str(prom)
            if os.path.isdir(prom):
                prom = os.path.join(prom, "compute_audit.prom")
            if not prom.endswith(".prom"):
                return dict(failed=True, audit_exit_status=5,
                            msg="audit_prometheus must be a directory or a file ending in .prom (node_exporter's "
                                "textfile collector reads only *.prom), not %r" % prom)
        started = args.get("started_at")
        duration = args.get("duration_s")
        if duration is None and started:
            try:
                duration = max(0.0, time.time() - float(started))
            except (TypeError, ValueError):
                duration = None
        in_inventory = args.get("hosts_in_inventory")
        run = {"limit": limit, "hosts_in_inventory": int(in_inventory) if in_inventory is not None else len(hosts),
               "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(started))) if started else None,
               "duration_s": round(float(duration), 3) if duration is not None else None,
               "hosts_group": str(args["hosts_group"]) if args.get("hosts_group") else None}
        doc = _report.fleet(results, str(args.get("policy_name") or "default"), str(args.get("policy_digest") or ""),
                            str(args.get("generated_at")), host_order=hosts, run=run)
        partial = doc["run"]["partial"]
        previous = load_report(os.path.join(dest, "%s.json" % basename))
        doc["changes"] = _history.changes(previous, doc, partial=partial)
        name = basename if not partial or boolean(args.get("partial_overwrite") or False) else "%s-partial" % basename
        budget = args.get("markdown_budget")
        try:
            files = write_reports(doc, dest, name, keep_previous=(name == basename),
                                  markdown_budget=int(budget) if budget else _report.MARKDOWN_BUDGET)
            if prom and (not partial or boolean(args.get("partial_overwrite") or False)):
                directory = os.path.dirname(os.path.abspath(prom))
                if not os.path.isdir(directory):
                    raise ReportWriteError(2, "cannot write %s: no directory %s" % (prom, directory))
                try:
                    write_atomic(prom, _prometheus.exposition(doc))
                except OSError as exc:
                    raise ReportWriteError(exc.errno, "cannot write %s: %s" % (prom, exc.strerror))
                files.append(prom)
            elif prom:
                display.display("audit_prometheus: %s left as it was (a partial run would drop the other hosts' "
                                "series; -e audit_report_partial_overwrite=true writes it)" % prom)
        except ReportWriteError as exc:
            return dict(failed=True, audit_exit_status=6, msg=exc.strerror, changed=False)
        fail_on = tuple(str(s) for s in (args.get("fail_on") or GATE_DEFAULT))
        gate = _report.gate(doc, fail_on)
        table = _report.table(doc, summary=summary_mode) if summary_mode != "none" else None
        if not _our_stdout_callback():
            # AWX/AAP and other stdout callbacks: printed here, uncoloured (ours colours it).
            if table:
                display.display(table)
            display.display("reports: %s" % ", ".join(files))
        result.update(changed=False, files=files, table=table, summary=doc["summary"], gate=gate, partial=partial,
                      host_drift=dict((h, _report.host_drift(e, fail_on)) for h, e in doc["hosts"].items()),
                      host_state=dict((h, e.get("state")) for h, e in doc["hosts"].items()),
                      host_reason=dict((h, e.get("reason")) for h, e in doc["hosts"].items()),
                      changes=doc["changes"])
        if boolean(args.get("prometheus_per_host") or False):
            # For each node's own textfile directory (roles/audit_report/tasks/status.yml copies it there).
            result["host_prometheus"] = dict((h, _prometheus.exposition(doc, hosts=[h])) for h in doc["hosts"]
                                             if doc["hosts"][h].get("reachable"))
        if boolean(args.get("expose_doc") or False):
            result["ansible_facts"] = {"audit_doc": doc}
        return result
