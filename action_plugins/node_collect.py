"""Controller side of node_collect: run the module on the node, write its archive here.

The module returns the archive base64-encoded (nothing is written on the
node); this plugin writes it atomically as <dest>/<host>-<UTC time>.tar.gz on
the controller and drops the base64 from the task result, so neither the
callback output nor a registered variable carries the archive around.
"""
import base64
import os
import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.controller.report_files import write_atomic  # noqa: E402



class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        dest = str(args.get("dest") or "snapshots")
        module_result = self._execute_module(module_name="node_collect", module_args=args, task_vars=task_vars)
        result.update(module_result)
        if result.get("failed") or "archive_b64" not in result:
            return result
        data = base64.b64decode(result.pop("archive_b64"))
        manifest = result.get("manifest") or {}
        host = str(task_vars.get("inventory_hostname") or manifest.get("host") or "node")
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in host)[:64]
        stamp = str(manifest.get("top", "")).rsplit("-", 1)[-1] or "snapshot"
        path = os.path.join(os.path.abspath(dest), "%s-%s.tar.gz" % (safe, stamp))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, data, mode=0o600)   # a snapshot is shared with care: owner only
        except OSError as exc:
            raise AnsibleActionFail("cannot write the snapshot %s: %s" % (path, exc.strerror or exc))
        result["path"] = path
        result["changed"] = False
        return result
