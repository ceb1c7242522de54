"""Boot-configuration judges: ``qemu_kvm.vhost_net_enabled`` and ``qemu_kvm.settings``.

They read ``views["config"]`` (``combiners/config.py``) only.
"""
from ..textsafe import safe_text
from .registry import judge, result

ID = "qemu_kvm.vhost_net_enabled"


def describe_value(value):
    """A value as people should see it: quoted, with CR, tabs and white space made visible.

    >>> describe_value("1\\r")
    "'1\\\\r' (carriage return: the file has CRLF line endings)"
    """
    if value == "1":
        return "'1'"
    notes = []
    if "\r" in value:
        notes.append("carriage return: the file has CRLF line endings")
    core = value.replace("\r", "")
    if core.strip() != core:
        notes.append("surrounding white space")
    shown = safe_text(value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t"))
    return "'%s'%s" % (shown, " (%s)" % "; ".join(notes) if notes else "")


def _evidence_line(path, item):
    return "%s:%s: %s" % (path, item.get("line"), (item.get("raw") or "").rstrip("\n"))


@judge(ID)
def check_vhost_net_enabled(views, params):
    cfg = views["config"]
    path = cfg["path"]
    expected = "VHOST_NET_ENABLED=1 in %s, as /bin/sh reads it" % path
    if cfg.get("read_by", "") is None:
        # Issue 10: nothing on this node reads the key (kolla, Sunbeam, TripleO, RHEL, Ubuntu >= 18.10, a masked
        # qemu-kvm.service): judging it would be judging an inert file.
        return result(ID, "not_applicable", expected,
                      "%s %s" % (path, "is absent" if cfg["status"] in ("missing", "not_applicable") else
                                 "is read by nothing"),
                      "%s: VHOST_NET_ENABLED is inert here; the fix persists vhost_net in modules-load.d instead"
                      % (cfg.get("read_by_reason") or "nothing on this node reads VHOST_NET_ENABLED"),
                      ["%s: %s" % (path, cfg.get("read_by_reason") or "not read")])
    if cfg["status"] in ("missing", "not_applicable"):
        return result(ID, "not_applicable", expected, "%s is absent" % path,
                      "%s is absent: nothing on this node reads VHOST_NET_ENABLED (no Ubuntu qemu-kvm job)" % path,
                      [path + ": absent"])
    if cfg["syntax_error"]:
        err = cfg["syntax_error"]
        where = "%s:%s" % (path, err.get("line")) if err.get("line") else path
        return result(ID, "fail", expected, "/bin/sh cannot source %s" % path,
                      "/bin/sh cannot source %s (%s at %s): the boot job fails before it would run modprobe"
                      % (path, err.get("message"), where), [where + ": " + str(err.get("message"))])
    if not cfg["readable"]:
        return result(ID, "error", expected, "could not read %s" % path, cfg["reason"],
                      [path + ": " + str(cfg["reason"])])
    key = cfg["key"]
    item, uncertain = key["assignment"], key["uncertain"]
    outcome = cfg.get("job_outcome") or {}
    if item is None and not uncertain and outcome.get("value") is not None:
        # The key comes from a file this one sources with `.`: judged by what the job ends up with.
        ev = [path + ": sources %s" % ", ".join(sorted(cfg.get("includes") or [])) or path]
        if outcome.get("runs_modprobe"):
            return result(ID, "pass", expected, "VHOST_NET_ENABLED=%s (from a sourced file)"
                          % describe_value(outcome["value"]), None, ev)
        state = "unknown" if outcome.get("runs_modprobe") is None else "fail"
        return result(ID, state, expected, "VHOST_NET_ENABLED=%s (from a sourced file)"
                      % describe_value(outcome["value"]), "%s: %s" % (cfg.get("read_by"), outcome.get("why")), ev)
    if item is None and uncertain:
        return result(ID, "unknown", expected, "value decided at run time",
                      "VHOST_NET_ENABLED depends on the run time environment: %s" % uncertain, [path])
    if item is None:
        return result(ID, "not_applicable", expected, "VHOST_NET_ENABLED is not set",
                      "%s does not set VHOST_NET_ENABLED (later Ubuntu dropped the key; the job no longer reads it)"
                      % path, [path + ": no VHOST_NET_ENABLED assignment"])
    evidence = [_evidence_line(path, item)]
    if uncertain:
        return result(ID, "unknown", expected, "value decided at run time",
                      "VHOST_NET_ENABLED depends on the run time environment: %s" % uncertain, evidence)
    if not key["set"]:
        return result(ID, "fail", expected, "VHOST_NET_ENABLED is unset",
                      "VHOST_NET_ENABLED is assigned at line %s but unset later in the file: the job sees it empty"
                      % item.get("line"), evidence)
    value = key["value"]
    if value == "1" and outcome.get("runs_modprobe") is False:
        return result(ID, "fail", expected, "VHOST_NET_ENABLED='1', but the boot job never gets to modprobe",
                      "%s: %s" % (cfg.get("read_by"), outcome.get("why")), evidence)
    if value == "1" and outcome and outcome.get("runs_modprobe") is None:
        return result(ID, "unknown", expected, "VHOST_NET_ENABLED='1'",
                      "whether %s gets to modprobe cannot be read statically: %s" % (cfg.get("read_by"),
                                                                                    outcome.get("why")), evidence)
    if value == "1":
        return result(ID, "pass", expected, "VHOST_NET_ENABLED='1'", None, evidence)
    owner = ""
    if cfg.get("shape") == "charmed":
        owner = ("; the file is maintained by Juju (nova-compute charm) and a local edit is reverted: persist "
                 "vhost_net in /etc/modules-load.d/vhost_net.conf, or change the charm's configuration")
    return result(ID, "fail", expected, "VHOST_NET_ENABLED=%s" % describe_value(value),
                  "VHOST_NET_ENABLED is %s, not '1': the qemu-kvm boot job will not run `modprobe -b vhost_net`%s"
                  % (describe_value(value), owner), evidence)


@judge("qemu_kvm.settings")
def check_settings(views, params):
    cfg = views["config"]
    path = cfg["path"]
    wanted = (params or {}).get("expected") or {}
    expected = ", ".join("%s=%s" % kv for kv in sorted(wanted.items())) or "nothing (the policy sets no values)"
    cid = "qemu_kvm.settings"
    if not wanted:
        return result(cid, "not_applicable", expected, "-", "the policy sets no expected values", [])
    if cfg["status"] in ("missing", "not_applicable"):
        return result(cid, "not_applicable", expected, "%s is absent" % path, "%s is absent" % path,
                      [path + ": absent"])
    if not cfg["readable"]:
        reason = cfg["reason"] or "/bin/sh cannot source %s: %s" % (path, (cfg["syntax_error"] or {}).get("message"))
        if cfg["syntax_error"]:
            reason = "/bin/sh cannot source %s: %s" % (path, cfg["syntax_error"].get("message"))
        return result(cid, "error", expected, "could not read %s" % path, reason, [path])
    wrong, evidence, unsure = [], [], []
    for name in sorted(wanted):
        item = cfg["assignments"].get(name)
        value = cfg["vars"].get(name)
        if item is not None:
            evidence.append(_evidence_line(path, item))
        if name in cfg["uncertain"]:
            unsure.append(name)
        elif value != wanted[name]:
            wrong.append("%s=%s (want %s)" % (name, "unset" if value is None else describe_value(value), wanted[name]))
    actual = ", ".join("%s=%s" % (k, cfg["vars"].get(k, "unset")) for k in sorted(wanted))
    if wrong:
        return result(cid, "fail", expected, actual, "; ".join(wrong), evidence)
    if unsure:
        return result(cid, "unknown", expected, actual, "decided at run time: %s" % ", ".join(unsure), evidence)
    return result(cid, "pass", expected, actual, None, evidence)
