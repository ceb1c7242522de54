"""The kernel layer's view: can a qemu started now get vhost-net, and will it after a reboot?

Pure: the raw kernel facts (``facts["kernel"]``: one source record per file,
see ``sources/facts.py``) in, one typed view out::

    {"release",
     "proc_modules": {"path", "status", "reason"}, "module_support": True | False | None,
     "loaded": True | False | None, "bad_lines": [{"line", "raw"}],
     "builtin": True | False | None, "builtin_path", "builtin_status", "builtin_reason",
     "sys_module": bool, "dev": {"path", "present", "kind", "rdev", "reason"},
     "modprobe_files": [path], "blacklisted": [evidence], "install": {...} | None, "options": [evidence],
     "install_blocked": bool,
     "blocks": [{"kind": "blacklist" | "install" | "cmdline" | "kernel_cmdline" | "alias", "path", "line", "raw",
                 "module", "stops": [str]}],
     "loading": {entry point: {"loads", "why", "evidence", "kind", "who"}} | None,   # kmod's lookup (issue 10)
     "refused": [evidence],                             # the kernel's own module_blacklist=
     "boot_load": [{"module", "line", "path", "via", "blacklist", "conditional"}],   # what loads vhost_net at
                                                        # boot: modules-load.d, /etc/modules, sysconfig scripts
     "boot_scripts_not_run": [{"path", "line", "module"}],   # a *.modules script that is not executable
     "can_provide": True | False | None, "can_provide_reason": str | None,
     "errors": [str]}

``blocks`` says, for every line that stops vhost_net (or its dependency
``vhost``) from loading, which loaders it stops: a ``blacklist`` stops
alias loading (``/dev/vhost-net``'s on-demand ``char-major-10-238``) and
``modprobe -b`` (the qemu-kvm job, systemd-modules-load); an ``install ...
/bin/true`` stops every load. No check or fix reads the raw records.
"""
from ..parsers import kmod

MODULE = "vhost_net"
DEPENDENCY = "vhost"
_BLACKLIST_STOPS = ["alias", "modprobe -b", "systemd-modules-load"]
_INSTALL_STOPS = ["all"]


def _modprobe_files(kernel):
    """``[(path, directives)]`` in effective order (modprobe.d, then the legacy modprobe.conf), and read errors."""
    files, errors = [], []
    confdir = kernel.get("modprobe_d") or {}
    errors.extend(confdir.get("errors") or [])
    records = list(confdir.get("files") or [])
    legacy = kernel.get("modprobe_conf")
    if legacy and legacy.get("status") == "ok":
        records.append(legacy)
    elif legacy and legacy.get("status") not in ("missing", None) and legacy.get("reason"):
        errors.append(legacy["reason"])
    for rec in records:
        if rec.get("status") == "ok":
            files.append((rec["path"], rec.get("parsed") or []))
    return files, errors


def _first_install(files, module):
    """The ``install`` directive kmod uses for ``module`` (the first one wins), with its file."""
    for path, directives in files:
        for item in directives:
            if item.get("cmd") == "install" and item.get("module") == module:
                return path, item
    return None, None


def _blocks(files, policy, dep_install):
    blocks = []
    for path, directives in files:
        for item in directives:
            if item.get("cmd") == "blacklist" and item.get("module") == MODULE:
                blocks.append({"kind": "blacklist", "path": path, "line": item.get("line"), "raw": item.get("raw"),
                               "module": MODULE, "stops": list(_BLACKLIST_STOPS)})
    for module, install in ((MODULE, policy.get("install")), (DEPENDENCY, dep_install)):
        if install and install.get("blocks"):
            path, item = _first_install(files, module)
            if item is not None:
                blocks.append({"kind": "install", "path": path, "line": item.get("line"), "raw": item.get("raw"),
                               "module": module, "stops": list(_INSTALL_STOPS)})
    return blocks


def _boot_load(kernel):
    """What loads vhost_net at boot, each with its file and line; and the boot scripts that do not run."""
    entries, errors, not_run = [], [], []
    confdir = kernel.get("modules_load_d") or {}
    errors.extend(confdir.get("errors") or [])
    records = list(confdir.get("files") or []) + [kernel.get("etc_modules") or {}]
    for rec in records:
        if rec.get("status") == "ok":
            for entry in rec.get("parsed") or []:
                if kmod.normalize_module(entry.get("module") or "") == MODULE:
                    entries.append({"module": entry["module"], "line": entry["line"], "path": rec["path"],
                                    "via": "modules-load", "blacklist": True, "conditional": False})
        elif rec.get("status") not in ("missing", None) and rec.get("reason"):
            errors.append(rec["reason"])
    # RHEL/Fedora: rc.sysinit (6) or rhel-loadmodules.service (7) runs each executable *.modules script.
    scripts = kernel.get("sysconfig_modules") or {}
    errors.extend(scripts.get("errors") or [])
    for rec in scripts.get("files") or []:
        if rec.get("status") != "ok":
            continue
        for entry in rec.get("parsed") or []:
            if kmod.normalize_module(entry.get("module") or "") != MODULE:
                continue
            item = {"module": entry["module"], "line": entry["line"], "path": rec["path"],
                    "via": "sysconfig-modules", "blacklist": bool(entry.get("blacklist")),
                    "conditional": bool(entry.get("conditional"))}
            if rec.get("executable") is False:
                not_run.append(item)
            else:
                item["executable"] = rec.get("executable")
                entries.append(item)
    return entries, errors, not_run


def _can_provide(view):
    """Whether a qemu started now can get vhost-net, and why not (for people)."""
    dev = view["dev"]
    there = view["loaded"] or view["builtin"]
    why = None
    if view.get("refused"):
        why = "the kernel refuses to load it (%s)" % ", ".join(view["refused"])
    elif view["install_blocked"]:
        why = "an `install vhost_net ...` line blocks every load"
    elif dev.get("present") is None:
        return None, "whether /dev/vhost-net exists could not be read"
    elif not dev.get("present"):
        why = dev.get("reason") or "/dev/vhost-net is absent"
    elif not there and view["blacklisted"]:
        why = "vhost_net is not loaded and blacklisted (on-demand loading through /dev/vhost-net is blocked)"
    if why is None:
        return True, None
    if view["module_support"] is False and not view["builtin"]:
        why += "; the kernel has no loadable module support (no /proc/modules) and vhost_net is not built in"
    return False, why


def _loading_rules(view, kernel, files):
    """The whole loading rules (issue 10): /proc/cmdline's blacklists, and kmod's lookup over the module tree.

    ``view["loading"]``: ``{entry point: {"loads", "why", "evidence", "kind", "who"}}`` when the node's
    ``modules.dep`` was read, else None (``loading_reason`` says why); blocks the directive scan cannot see
    (an alias shadowing the name, a kernel command line blacklist, an install on a module the lookup reaches)
    are added to ``blocks``.
    """
    cmd = kernel.get("cmdline") or {}
    cmdline = cmd.get("parsed") if cmd.get("status") == "ok" else None
    view["cmdline"] = cmdline
    view["refused"] = []
    if cmdline:
        for name in cmdline.get("modprobe_blacklist") or []:
            if kmod.normalize_module(name) == MODULE:
                ev = "/proc/cmdline: modprobe.blacklist=%s" % name
                view["blacklisted"].append(ev)
                view["blocks"].append({"kind": "cmdline", "path": "/proc/cmdline", "line": None,
                                       "raw": "modprobe.blacklist=%s" % name, "module": MODULE,
                                       "stops": list(_BLACKLIST_STOPS)})
        refused = [m for m in cmdline.get("module_blacklist") or [] if m in (MODULE, DEPENDENCY, "tap", "tun",
                                                                              "vhost_iotlb")]
        for name in refused:
            view["refused"].append("/proc/cmdline: module_blacklist=%s" % name)
            view["blocks"].append({"kind": "kernel_cmdline", "path": "/proc/cmdline", "line": None,
                                   "raw": "module_blacklist=%s" % name, "module": name, "stops": ["all"]})
    index = kernel.get("index") or {}
    dep = index.get("dep") or {}
    view["loading"] = None
    if dep.get("status") != "ok":
        view["loading_reason"] = "modules.dep of the running kernel not read: kmod's lookup not evaluated"
        return
    parsed = dict((k, (rec.get("parsed") if rec.get("status") == "ok" else None)) for k, rec in index.items())
    idx = kmod.module_index(dep=parsed.get("dep"), alias=parsed.get("alias") or [],
                            builtin=(kernel.get("builtin") or {}).get("parsed") or [],
                            symbols=parsed.get("symbols") or [], devname=parsed.get("devname"))
    softdep = (index["softdep"]["path"], parsed["softdep"]) if parsed.get("softdep") is not None else None
    conf = kmod.build_config(files, cmdline, softdep)
    loaded = None
    pm = kernel.get("proc_modules") or {}
    if pm.get("status") == "ok":
        loaded = set(((pm.get("parsed") or {}).get("modules") or {}).keys())
    rules = kmod.loading_rules(conf, idx, loaded=loaded, kernel_refuses=(cmdline or {}).get("module_blacklist") or ())
    view["loading"] = rules["entry_points"]
    view["static_node"] = rules["static_node"]
    plain = rules["entry_points"].get("modprobe") or {}
    if view["install_blocked"] and plain.get("loads") is not False:
        # kmod itself would still load it (a softdep makes it ignore the install command, or the lookup
        # never reaches that install): the directive scan alone was wrong.
        view["install_blocked"] = False
        view["install_overridden"] = plain.get("why")
        view["blocks"] = [b for b in view["blocks"] if b["kind"] != "install"]
    seen = set((b["kind"], b["path"], b["line"]) for b in view["blocks"])
    for block in rules["blocks"]:
        key = (block["kind"] if block["kind"] != "blacklist" else "blacklist", block["path"], block["line"])
        if key in seen or (block["kind"] == "blacklist" and block["path"] == "/proc/cmdline"):
            continue
        seen.add(key)
        view["blocks"].append(dict((k, block[k]) for k in ("kind", "path", "line", "raw", "module", "stops")))


def kernel_view(kernel):
    kernel = kernel or {}
    pm = kernel.get("proc_modules") or {"path": "/proc/modules", "status": "missing", "reason": None}
    view = {"release": kernel.get("release"), "errors": []}
    view["proc_modules"] = {"path": pm.get("path") or "/proc/modules", "status": pm.get("status"),
                            "reason": pm.get("reason")}
    if pm.get("status") == "ok":
        modules = (pm.get("parsed") or {}).get("modules") or {}
        view["loaded"] = MODULE in modules
        view["bad_lines"] = list((pm.get("parsed") or {}).get("bad_lines") or [])
        view["module_support"] = True
    else:
        view["loaded"] = None
        view["bad_lines"] = []
        view["module_support"] = False if pm.get("status") == "missing" else None
        if pm.get("status") == "parse_error":
            view["proc_modules"]["status"] = "parse_error"
    builtin = kernel.get("builtin") or {}
    view["builtin"] = (MODULE in (builtin.get("parsed") or [])) if builtin.get("status") == "ok" else None
    view["builtin_path"] = builtin.get("path")
    view["builtin_status"] = builtin.get("status")
    view["builtin_reason"] = builtin.get("reason")
    view["sys_module"] = bool(kernel.get("sys_module"))
    view["dev"] = dict(kernel.get("dev") or {"path": "/dev/vhost-net", "present": None, "reason": "not read"})

    files, errors = _modprobe_files(kernel)
    view["errors"].extend(errors)
    view["modprobe_files"] = [p for p, _ in files]
    policy = kmod.module_load_policy(files, MODULE)
    # vhost_net needs vhost: an install block on the dependency stops it too.
    dep_install = kmod.module_load_policy(files, DEPENDENCY).get("install")
    install = policy.get("install")
    if dep_install and dep_install.get("blocks") and not (install or {}).get("blocks"):
        install = dict(dep_install, command="%s (on its dependency vhost)" % dep_install["command"])
    view["blacklisted"] = list(policy.get("blacklisted") or [])
    view["options"] = list(policy.get("options") or [])
    view["install"] = install
    view["install_blocked"] = bool(install and install.get("blocks"))
    view["blocks"] = _blocks(files, policy, dep_install)
    _loading_rules(view, kernel, files)
    boot, errors, not_run = _boot_load(kernel)
    view["boot_load"] = boot
    view["boot_scripts_not_run"] = not_run
    view["errors"].extend(errors)
    view["can_provide"], view["can_provide_reason"] = _can_provide(view)
    return view
