"""Kernel judges: ``kernel.vhost_net`` (usable now) and ``kernel.vhost_net_boot`` (after a reboot).

They read ``views["kernel"]`` (``combiners/kernel.py``) and, for the boot
loaders, ``views["config"]``.
"""
from ..textsafe import excerpt
from .config import describe_value
from .registry import judge, result


def _block_notes(k):
    notes, evidence = [], []
    install = k["install"]
    if install:
        evidence.append(install.get("evidence"))
        if install.get("blocks"):
            notes.append("`install vhost_net %s` blocks every load (%s)" % (install.get("command"),
                                                                             install.get("evidence")))
    for item in k["blacklisted"]:
        evidence.append(item)
        notes.append("blacklisted (%s): alias auto-loading and `modprobe -b` skip it" % item)
    for item in k.get("refused") or []:
        evidence.append(item)
        notes.append("%s: the kernel refuses to load it, whoever asks" % item)
    for name, entry in sorted((k.get("loading") or {}).items()):
        if entry.get("loads") is False and entry.get("kind") in ("alias", "install", "not_found") and not (
                k["install_blocked"] and entry.get("kind") == "install"):
            notes.append("%s: %s" % (entry.get("who"), entry.get("why")))
            evidence.extend(e for e in entry.get("evidence") or [] if e not in evidence)
    return notes, evidence


def _kernel_evidence(k):
    evidence = []
    pm = k["proc_modules"]
    if pm["status"] == "ok":
        evidence.append("/proc/modules: vhost_net %s" % ("listed" if k["loaded"] else "not listed"))
    else:
        evidence.append("/proc/modules: %s" % (pm["reason"] or pm["status"]))
    if k["builtin"] is not None:
        evidence.append("%s: vhost_net %s" % (k["builtin_path"], "built in" if k["builtin"] else "not listed"))
    elif k["builtin_path"]:
        evidence.append("%s: %s" % (k["builtin_path"], k["builtin_reason"] or k["builtin_status"]))
    evidence.append("/sys/module/vhost_net: %s" % ("present" if k["sys_module"] else "absent"))
    dev = k["dev"]
    evidence.append("%s: %s" % (dev["path"], "present" + (" (char %s)" % dev["rdev"] if dev.get("rdev") else "")
                                if dev["present"] else (dev.get("reason") or "absent")))
    return evidence


@judge("kernel.vhost_net")
def check_kernel(views, params):
    k = views["kernel"]
    cid = "kernel.vhost_net"
    expected = "vhost_net loaded or built in, and /dev/vhost-net (misc 10:238) present"
    evidence = _kernel_evidence(k)
    notes, block_evidence = _block_notes(k)
    evidence.extend(block_evidence)
    loaded, builtin, dev, pm = k["loaded"], k["builtin"], k["dev"], k["proc_modules"]
    module_there = bool(loaded) or bool(builtin) or k["sys_module"]
    actual = "module %s; /dev/vhost-net %s" % (
        "loaded" if loaded else "built in" if builtin else "present in /sys/module" if k["sys_module"]
        else "not loaded" if loaded is False else "state unknown",
        "present" if dev["present"] else "absent" if dev["present"] is False else "unreadable")
    if module_there and dev["present"]:
        return result(cid, "pass", expected, actual, None, evidence)
    if loaded is False and k["bad_lines"] and not builtin and not k["sys_module"]:
        raw = "; ".join(excerpt(b.get("raw"), 80) for b in k["bad_lines"][:3])
        return result(cid, "unknown", expected, actual,
                      "/proc/modules has unreadable line(s) (a truncated read?): %s; vhost_net may be one of them"
                      % raw, evidence)
    reasons = []
    if not module_there:
        if pm["status"] == "missing":
            reasons.append("/proc/modules does not exist (kernel without loadable module support)")
        if loaded is False:
            reasons.append("vhost_net is not loaded")
        if builtin is False:
            reasons.append("not built in")
    if dev["present"] is False:
        reasons.append(dev.get("reason") or "/dev/vhost-net is absent")
    reasons.extend(notes)
    if dev["present"] and not module_there:
        if k["install_blocked"] or k.get("refused"):
            return result(cid, "fail", expected, actual, "; ".join(reasons), evidence)
        if loaded is None and builtin is None:
            return result(cid, "unknown", expected, actual,
                          "/dev/vhost-net is present but whether the module is loaded could not be read: "
                          + (pm["reason"] or ""), evidence)
        return result(cid, "warn", expected, actual,
                      "vhost_net is not loaded; /dev/vhost-net is a static node that loads it on first open"
                      + ("; " + "; ".join(notes) if notes else ""), evidence)
    if dev["present"] is None and not module_there and loaded is None:
        return result(cid, "unknown", expected, actual, "; ".join(reasons) or "nothing could be read", evidence)
    return result(cid, "fail", expected, actual, "; ".join(reasons) or "vhost-net is not available", evidence)


@judge("kernel.vhost_net_boot")
def check_kernel_boot(views, params):
    k, cfg = views["kernel"], views["config"]
    cid = "kernel.vhost_net_boot"
    expected = ("vhost_net built in, listed in modules-load.d or /etc/modules, loaded by a boot script "
                "(/etc/sysconfig/modules), or VHOST_NET_ENABLED=1")
    notes, evidence = _block_notes(k)
    listed = [e for e in k["boot_load"] if e.get("via", "modules-load") == "modules-load"]
    scripts = [e for e in k["boot_load"] if e.get("via") == "sysconfig-modules"]
    for entry in listed:
        evidence.append("%s:%s: %s" % (entry["path"], entry["line"], entry["module"]))
    for entry in scripts:
        evidence.append("%s:%s: modprobe%s %s (run at boot%s%s)" % (
            entry["path"], entry["line"], " -b" if entry["blacklist"] else "", entry["module"],
            ", not executable: whether it runs could not be told" if entry.get("executable") is None else "",
            "; inside a condition of the script" if entry["conditional"] else ""))
    for entry in k.get("boot_scripts_not_run") or []:
        evidence.append("%s:%s: modprobe %s, but the script is not executable: not run at boot" % (
            entry["path"], entry["line"], entry["module"]))
    value = cfg["key"]["value"] if cfg["readable"] else None
    if value is not None:
        evidence.append("%s: VHOST_NET_ENABLED=%s" % (cfg["path"], describe_value(value)))
    if k["builtin"]:
        return result(cid, "pass", expected, "built into the kernel", None, evidence + ["%s: vhost_net" % k["builtin_path"]])
    if k["install_blocked"] or k.get("refused"):
        return result(cid, "fail", expected, "blocked", "; ".join(notes), evidence)
    loading = k.get("loading") or {}
    loaders = []
    if listed:
        loaders.append("listed in %s" % ", ".join(sorted(set(e["path"] for e in listed))))
    if value == "1":
        loaders.append("VHOST_NET_ENABLED=1 (qemu-kvm job runs `modprobe -b vhost_net`)")
    if scripts:
        loaders.append("loaded by %s (a boot script)" % ", ".join(sorted(set(e["path"] for e in scripts))))
    blacklisted = bool(k["blacklisted"])
    # `modprobe vhost_net` without -b loads a blacklisted module all the same (the blacklist stops aliases
    # and -b callers only): such a boot script still loads it.
    unstoppable = [e for e in scripts if not e["blacklist"]]
    stopped = blacklisted and not unstoppable
    if blacklisted and unstoppable:
        evidence.append("%s:%s: `modprobe %s` without -b ignores the blacklist" % (
            unstoppable[0]["path"], unstoppable[0]["line"], unstoppable[0]["module"]))
    # kmod's lookup (when the module tree was read): does each boot loader really end with vhost_net loaded?
    ran = [loading.get("modules-load")] if listed else []
    ran += [loading.get("modprobe -b")] if value == "1" or any(e["blacklist"] for e in scripts) else []
    ran += [loading.get("modprobe")] if unstoppable else []
    ran = [r for r in ran if r]
    if loaders and not stopped and ran and all(r.get("loads") is False for r in ran):
        return result(cid, "fail", expected, "; ".join(loaders) + ", but modprobe would not load it",
                      "; ".join("%s: %s" % (r.get("who"), r.get("why")) for r in ran), evidence)
    if loaders and not stopped and ran and not any(r.get("loads") for r in ran):
        return result(cid, "unknown", expected, "; ".join(loaders),
                      "; ".join("%s: %s" % (r.get("who"), r.get("why")) for r in ran), evidence)
    if loaders and not stopped:
        return result(cid, "pass", expected, "; ".join(loaders), None, evidence)
    if loaders and stopped:
        return result(cid, "fail", expected, "; ".join(loaders) + ", but blacklisted",
                      "blacklisted: systemd-modules-load and `modprobe -b` both honour the blacklist; "
                      + "; ".join(notes), evidence)
    if blacklisted:
        return result(cid, "fail", expected, "not loaded at boot; blacklisted",
                      "nothing loads vhost_net at boot and the blacklist also stops on-demand loading through "
                      "/dev/vhost-net; " + "; ".join(notes), evidence)
    return result(cid, "warn", expected, "nothing loads vhost_net at boot",
                  "vhost_net is not built in, not in modules-load.d or /etc/modules, and VHOST_NET_ENABLED is %s: only "
                  "on-demand loading through a static /dev/vhost-net node could load it"
                  % ("unset" if value is None else describe_value(value)), evidence)
