"""The boot-configuration layer's view: ``/etc/default/qemu-kvm`` as the boot job sees it.

Pure: the raw source record (``facts["qemu_kvm"]``, a ``specs.read_source``
record whose ``parsed`` is ``shellvars.parse_shell_assignments``) and the
deployment layout in, one view out::

    {"path", "status", "reason",            # status: ok | missing | not_applicable | parse_error | binary | ...
     "readable": bool,                      # the text was read and parsed
     "sourceable": True | False | None,     # False: /bin/sh cannot source it (syntax error)
     "syntax_error": {"message", "line"} | None,
     "vars": {NAME: value}, "uncertain": {NAME: reason},
     "assignments": {NAME: last assignment {"name","value","line","raw","exported"}},
     "key": {"assignment", "line", "set": bool, "value", "uncertain"}   # VHOST_NET_ENABLED
     "read_by": str | None, "owner": str | None}                        # from the deployment layout
                                           # (read_by None: nothing on the node reads the key, issue 10)

No check reads the raw record; the checks and the fix read this view.
"""
from ..parsers import shellvars

KEY = "VHOST_NET_ENABLED"


def _last_assignments(parsed):
    last = {}
    for item in parsed.get("assignments") or []:
        if item.get("name"):
            last[item["name"]] = item
    return last


def config_view(record, layout=None):
    layout = layout or {}
    record = record or {"path": layout.get("defaults_file"), "status": "missing", "reason": None}
    status = record.get("status")
    parsed = record.get("parsed") if status == "ok" else None
    error = record.get("error") if status == "parse_error" else None
    view = {
        "path": record.get("path") or layout.get("defaults_file") or "/etc/default/qemu-kvm",
        "status": status, "reason": record.get("reason"),
        "readable": parsed is not None,
        "sourceable": True if parsed is not None else False if error else None,
        "syntax_error": error,
        "vars": dict((parsed or {}).get("vars") or {}),
        "uncertain": dict((parsed or {}).get("uncertain") or {}),
        "assignments": _last_assignments(parsed or {}),
        "read_by": layout.get("vhost_key_reader", "the qemu-kvm boot job") if layout else "the qemu-kvm boot job",
        "read_by_reason": layout.get("vhost_key_reason"),
        "owner": layout.get("defaults_owner"),
        "shape": layout.get("shape"),
    }
    view["job_outcome"] = None
    if record.get("job") and record.get("text") is not None and parsed is not None:
        # What the boot job itself does when it sources the file (trusty's upstart job runs under sh -e).
        outcome = shellvars.boot_job_outcome(record["text"], errexit=record["job"] == "upstart",
                                             includes=record.get("includes") or {})
        view["job_outcome"] = dict((k, v) for k, v in outcome.items() if not k.startswith("_"))
    view["includes"] = sorted((record.get("includes") or {}).keys())
    item = view["assignments"].get(KEY)
    view["key"] = {"assignment": item, "line": item.get("line") if item else None,
                   "set": KEY in view["vars"], "value": view["vars"].get(KEY),
                   "uncertain": view["uncertain"].get(KEY)}
    return view
