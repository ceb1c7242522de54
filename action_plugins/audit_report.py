"""Controller-side action: build the fleet report from every host's audit result
and write audit.json / audit.xml / audit.md atomically, in one step.

Why an action plugin and not set_fact + copy: the bench profile showed the
report role spending most of its time templating the whole fleet document
through set_fact and shipping each report as `content` through copy (10 of
12 s at 200 hosts). Here the pure code in module_utils/nodeaudit/report.py
(the same functions the filters in filter_plugins/ expose) runs once on plain
data, and each file is written to a temporary file in the destination
directory, flushed, then renamed: a report is whole or absent, never partial
(a full file system gives a clear error and leaves the previous report).
"""
import errno
import os
import sys
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit import report as _report  # noqa: E402
from nodeaudit.plain import plain as _plain  # noqa: E402




def write_atomic(path, text):
    """Write text to path through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
        entries = {}
        for name in hosts:
            registered = hostvars[name].get("audit_result") if name in hostvars else None
            entries[name] = _report.host_entry(_plain(registered), name)
        doc = _report.build(entries, str(args.get("policy_name") or "default"), str(args.get("policy_digest") or ""),
                            str(args.get("generated_at")), host_order=hosts)
        try:
            if not os.path.isdir(dest):
                os.makedirs(dest, 0o755)
            files = []
            for suffix, render in (("json", _report.to_json), ("xml", _report.junit), ("md", _report.markdown)):
                path = os.path.join(dest, "%s.%s" % (basename, suffix))
                write_atomic(path, render(doc))
                files.append(path)
        except OSError as exc:
            why = "the file system is full" if exc.errno == errno.ENOSPC else exc.strerror
            raise AnsibleActionFail("cannot write the reports in %s: %s (%s); no partial report was left"
                                    % (dest, why, exc))
        fail_on = tuple(str(s) for s in (args.get("fail_on") or ("fail", "unreachable")))
        result.update(changed=False, files=files, summary=doc["summary"], table=_report.table(doc),
                      gate=_report.gate(doc, fail_on))
        if args.get("expose_doc"):
            result["ansible_facts"] = {"audit_doc": doc}
        return result
