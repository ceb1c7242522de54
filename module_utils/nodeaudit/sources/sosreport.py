"""An extracted sosreport, read into the same facts ``collect.collect`` gathers from a node.

What sos keeps, by plugin (the paths come from sos's own plugins, 3.0 to 4.x;
command outputs are named by sos's mangling, parsers/sos_ps.sos_command_filename):

- process: ``ps`` (sos_commands/process/ps_auxwwwm, ps_auxwww, ps_auxfwww,
  ps_alxwww, ps_-elfL) and ``lsof`` (lsof_M_-n_-l_-c, lsof_-b_M_-n_-l_-c,
  lsof_-b_M_-n_-l, lsof_M_-n_-l). The argv comes from ps (lossy: split on
  spaces, see parsers/sos_ps.split_command), fds from lsof, vhost workers from
  ps's ``[vhost-<pid>]`` kernel threads.
- kernel: proc/modules, sos_commands/kernel/lsmod, modinfo_ALL_MODULES,
  uname_-a, proc/misc, proc/cmdline, sys/module/*/ (parameters, initstate...),
  etc/modprobe.d (4.5+ also lib/, run/, usr/local/lib/modprobe.d; never
  usr/lib/modprobe.d).
- systemd: etc/modules-load.d/*.conf (only /etc).
- libvirt: etc/libvirt/qemu/*.xml, the status files run/libvirt/qemu/*.xml
  (3.6-3.8: var/run/libvirt/), var/log/libvirt/qemu/*.log*, and TripleO's
  var/log/containers/libvirt/qemu/*.log* (4.5+) and var/log/containers/qemu/*.log.
- virsh: sos_commands/virsh/virsh_-r_list_--all and virsh_-r_dumpxml_<domain>.

What no sos version copies, and so what a sosreport cannot show: /proc/<pid>/cmdline,
/proc/<pid>/fd, /proc/<pid>/task (vhost worker threads of kernels from 6.4
are qemu's own threads, visible only in /proc), /dev (whether /dev/vhost-net
exists), modules.builtin, /etc/default/qemu-kvm, /etc/modules,
/usr/lib/modprobe.d and the modules-load.d directories outside /etc.
"""
import os
import re

from .. import caps
from ..errors import ParseError
from ..parsers import kmod, qemuargv, sos_kernel, sos_lsof, sos_ps
from . import collect as collect_mod
from . import deployment, specs
from .reader import MISSING, OK, RootReader

SOS = specs.SOS_SPECS
PS_FILES = sos_ps.PS_FILES
LSOF_FILES = tuple(sos_ps.sos_command_filename(c) for c in sos_lsof.COMMANDS)
STATUS_DIRS = SOS["status_dirs"]
LOG_DIRS = SOS["log_dirs"]
VIRSH_DIRS = SOS["virsh_dirs"]
_LSMOD_FAILED = re.compile(r"could not get list of modules|/proc/modules: No such file")
NOT_IN_SOS = {
    "/etc/default/qemu-kvm": "no sos plugin copies /etc/default/qemu-kvm",
    "/dev/vhost-net": "sos does not copy /dev",
    "modules.builtin": "sos does not copy modules.builtin",
}


def _first(reader, alternatives):
    """The record of the first spec of ``alternatives`` the sosreport has (status ok), or None."""
    for spec in alternatives:
        rec = specs.read_source(reader, spec)
        if rec["status"] == OK:
            return rec
    return None


def _hostname(reader):
    """hostname (the host plugin), else uname -a's node name, else sos's archive name ``sosreport-HOST-...``."""
    rec = _first(reader, SOS["hostname"])
    if rec is not None and rec["parsed"]:
        return rec["parsed"].split()[0]
    uname = _first(reader, SOS["uname"])
    words = uname["parsed"].split() if uname is not None else []
    if len(words) >= 2 and words[0] == "Linux":
        return words[1]
    m = re.match(r"^sosreport-(.+?)-(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})", os.path.basename(reader.root))
    return m.group(1) if m else None


def _record(source, path, status, parsed=None, reason=None):
    return {"source": source, "path": path, "status": status, "reason": reason, "parsed": parsed,
            "truncated": False}


def _kernel(reader, node):
    """The kernel facts (collect.kernel_facts records), completed from what sos keeps instead."""
    kernel = collect_mod.kernel_facts(node)
    notes = []
    uname = _first(reader, SOS["uname"])
    if not kernel.get("release") and uname is not None:
        kernel["release"] = sos_kernel.parse_uname(uname["parsed"])
    if (kernel.get("proc_modules") or {}).get("status") == MISSING:
        lsmod = _first(reader, SOS["lsmod"])
        text = lsmod["parsed"] if lsmod is not None else None
        if lsmod is not None and _LSMOD_FAILED.search(text):
            # kmod's lsmod reads /proc/modules: its error is the kernel's "no loadable module support".
            kernel["proc_modules"] = _record("kernel.proc_modules", "/proc/modules", MISSING,
                                             reason="/proc/modules is not in the sosreport and %s says: %s"
                                             % (lsmod["path"], (text.strip().splitlines() or [""])[-1][:160]))
        elif lsmod is not None:
            try:
                kernel["proc_modules"] = _record("kernel.proc_modules", lsmod["path"], OK, kmod.parse_lsmod(text))
            except ParseError as exc:
                kernel["proc_modules"] = _record("kernel.proc_modules", lsmod["path"], "parse_error",
                                                 reason="%s: %s" % (lsmod["path"], exc))
    modinfo = None
    listing = reader.listdir(SOS["modinfo_dir"])
    if listing.ok:
        for name in listing.data:
            if name.startswith("modinfo"):
                read = reader.read("%s/%s" % (SOS["modinfo_dir"], name))
                if read.ok:
                    modinfo = (read.path, sos_kernel.parse_modinfo(read.text()))
                    break
    builtin = kernel.get("builtin") or {}
    if builtin.get("status") != OK:
        if modinfo is not None and "vhost_net" in modinfo[1]:
            # modinfo of every /sys/module entry: `filename: (builtin)` says built in, a .ko path says not.
            kernel["builtin"] = _record("kernel.modules_builtin", modinfo[0], OK,
                                        ["vhost_net"] if modinfo[1]["vhost_net"]["builtin"] else [])
        else:
            kernel["builtin"] = _record(
                "kernel.modules_builtin", "modules.builtin", "not_collected",
                reason="%s; %s" % (NOT_IN_SOS["modules.builtin"],
                                   "%s has no vhost_net (not in /sys/module when sos ran)" % modinfo[0]
                                   if modinfo is not None else "no modinfo output in the sosreport"))
    dev = dict(kernel.get("dev") or {})
    misc_rec = _first(reader, SOS["misc"])
    minors = misc_rec["parsed"] if misc_rec is not None else {}
    misc_ok = misc_rec is not None
    if not dev.get("present"):
        if minors.get("vhost-net") == collect_mod.VHOST_NET_RDEV[1]:
            dev.update(present=True, kind="registered", rdev="10:238",
                       reason="/proc/misc lists 238 vhost-net: the kernel registered the device (devtmpfs makes "
                              "/dev/vhost-net); %s" % NOT_IN_SOS["/dev/vhost-net"])
        elif misc_ok and kernel["proc_modules"].get("status") == MISSING and \
                not (kernel["builtin"].get("status") == OK and "vhost_net" in (kernel["builtin"].get("parsed") or [])):
            dev.update(present=False, kind=None, rdev=None,
                       reason="/proc/misc does not list vhost-net and the kernel has no loadable modules: no "
                              "/dev/vhost-net can work (%s)" % NOT_IN_SOS["/dev/vhost-net"])
        else:
            dev.update(present=None, kind=None, rdev=None, reason="%s%s" % (NOT_IN_SOS["/dev/vhost-net"], (
                "; /proc/misc does not list vhost-net (the misc device was not registered when sos ran)"
                if misc_ok else "; no /proc/misc either")))
            notes.append(dev["reason"])
    kernel["dev"] = dev
    kernel["sosreport"] = {"modinfo": modinfo[0] if modinfo else None, "proc_misc": misc_ok,
                           "vhost_net_misc": minors.get("vhost-net"), "notes": notes}
    return kernel


def _qemu_default(node):
    fact = dict(node["config.qemu_kvm"])
    if fact["status"] == MISSING:
        fact.update(status="not_collected", reason="%s: %s, so VHOST_NET_ENABLED cannot be read from a sosreport"
                    % (fact["path"], NOT_IN_SOS["/etc/default/qemu-kvm"]))
    return fact


def _ps(reader):
    rec = _first(reader, SOS["ps"])
    return (rec["path"], rec["parsed"]) if rec is not None else (None, None)


def _lsof(reader):
    rec = _first(reader, SOS["lsof"])
    return (rec["path"], rec["parsed"]) if rec is not None else (None, None)


def processes(reader):
    """qemu processes from ps, with fds from lsof: ``({pid: proc}, notes)``."""
    notes = []
    ps_path, ps = _ps(reader)
    if ps is None:
        return {}, ["no ps output in the sosreport (sos_commands/process/%s): what runs cannot be read"
                    % "|".join(PS_FILES)]
    lsof_path, lsof = _lsof(reader)
    if lsof is None:
        notes.append("no lsof output in the sosreport (sos_commands/process/%s): fds cannot be read"
                     % "|".join(LSOF_FILES))
    workers = {}
    for row in ps["processes"]:
        m = re.match(r"^vhost-([0-9]+)$", row.get("kernel_thread") or "")
        if m:
            workers.setdefault(int(m.group(1)), []).append(row["kernel_thread"])
    procs = {}
    for row in ps["processes"]:
        if row.get("kernel_thread"):
            continue
        split = sos_ps.split_command(row["command"])
        if not sos_ps.is_qemu_command(split["argv"]):
            continue
        pid = row["pid"]
        source = "%s line %d" % (ps_path, row["line"])
        proc = {"pid": pid, "status": "ok", "reason": None, "argv_source": source, "argv": split["argv"],
                "parsed": qemuargv.parse_qemu_argv(split["argv"]),
                "argv_kind": "ps", "argv_ambiguous": split["ambiguous"],
                "argv_ambiguous_reasons": dict((str(k), v) for k, v in split["reasons"].items()),
                "fds": None, "fd_reason": None, "fd_source": None, "vhost_fds": [], "tun_fds": [],
                "vhost_threads": workers.get(pid)}
        if lsof is not None:
            entry = lsof["pids"].get(pid)
            if entry is None:
                proc["fd_reason"] = "pid %d is not in %s (lsof cut by its timeout, or the process started " \
                                    "after it)" % (pid, lsof_path)
            elif not entry["complete"]:
                proc["fd_reason"] = "pid %d is the last process in %s: its listing may have been cut" \
                                    % (pid, lsof_path)
                proc["vhost_fds"], proc["tun_fds"] = entry["vhost_fds"], entry["tun_fds"]
                if entry["vhost_fds"]:
                    proc["fds"] = entry["lines"]
            else:
                proc.update(fds=entry["lines"], vhost_fds=entry["vhost_fds"], tun_fds=entry["tun_fds"])
            proc["fd_source"] = lsof_path
            proc["fd_base"] = "%s pid %d fd" % (lsof_path, pid)
        else:
            proc["fd_reason"] = "no lsof output in the sosreport"
        procs[pid] = proc
    return procs, notes


def _virsh(reader):
    """Running domain names from `virsh -r list --all`, and the live XML from `virsh -r dumpxml`."""
    running = {}
    xml = {}
    for directory in VIRSH_DIRS:
        read = reader.read(directory + "/virsh_-r_list_--all")
        if read.ok:
            for line in read.text().split("\n")[2:]:
                words = line.split()
                if len(words) >= 3:
                    running[words[1]] = " ".join(words[2:])
        listing = reader.listdir(directory)
        if listing.ok:
            for name in listing.data:
                if name.startswith("virsh_-r_dumpxml_"):
                    xml[name[len("virsh_-r_dumpxml_"):]] = directory + "/" + name
    return running, xml


def domains(reader, layout):
    """Domains: status files (pid, live XML), else virsh dumpxml with virsh's state, else the definitions."""
    found = {}
    errors = []
    status_dir = None
    for directory in STATUS_DIRS:
        listing = reader.listdir(directory)
        if listing.ok:
            status_dir = directory
            break
    if status_dir:
        for name in listing.data:
            if not name.endswith(".xml"):
                continue
            path = "%s/%s" % (status_dir, name)
            parsed, error = collect_mod._parse_xml(reader.read(path))
            status = (parsed or {}).get("status") or {}
            dom = {"name": (parsed or {}).get("name") or name[:-4], "uuid": (parsed or {}).get("uuid"),
                   "state": status.get("state") or "unknown", "pid": status.get("pid"), "xml": parsed,
                   "xml_source": path, "xml_error": error}
            found[dom["name"]] = dom
    running, dumps = _virsh(reader)
    for name, state in running.items():
        if name in found:
            continue
        state_word = {"running": "running", "paused": "paused", "shut off": "shutoff", "idle": "running",
                      "in shutdown": "running", "crashed": "crashed", "pmsuspended": "pmsuspended"}.get(
            state.strip(), "unknown")
        path = dumps.get(name)
        parsed, error = collect_mod._parse_xml(reader.read(path)) if path else (None, "no virsh dumpxml output")
        found[name] = {"name": name, "uuid": (parsed or {}).get("uuid"), "state": state_word, "pid": None,
                       "xml": parsed, "xml_source": path or "virsh -r list --all", "xml_error": error,
                       "state_source": "sos_commands/virsh/virsh_-r_list_--all"}
    config_dir = layout["config_dir"] + "/qemu"
    names, error = collect_mod._xml_names(reader, config_dir)
    if error:
        errors.append(error)
    for name in names:
        path = "%s/%s.xml" % (config_dir, name)
        parsed, error = collect_mod._parse_xml(reader.read(path))
        key = (parsed or {}).get("name") or name
        if key in found:
            if found[key].get("xml") is None and parsed:
                found[key].update(xml=parsed, xml_source=path, xml_error=None)
            continue
        # Neither a status file nor virsh says it runs: defined, and (as far as the sosreport shows) shut off.
        state = "shutoff" if status_dir or running else "unknown"
        found[key] = {"name": key, "uuid": (parsed or {}).get("uuid"), "state": state, "pid": None, "xml": parsed,
                      "xml_source": path, "xml_error": error}
    listing_ok = bool(status_dir) or bool(running)
    return [found[k] for k in sorted(found)], errors, listing_ok, status_dir


def _log(reader, name, layout, tail_bytes):
    """The QEMU log (specs.LOG_SPEC) in the first of libvirt's and TripleO's log directories that has it."""
    first = None
    for directory in LOG_DIRS:
        rec = collect_mod.collect_log(reader, name, dict(layout, log_dir=directory, qemu_log_dir=directory + "/qemu"),
                                      tail_bytes)
        if rec.get("status") == OK:
            return rec
        first = first or rec
    return first


def collect(root, max_bytes=None, log_tail_bytes=collect_mod.LOG_TAIL_BYTES, budget=None):
    """Facts from an extracted sosreport at ``root`` (the schema of collect.collect, sources/facts.py)."""
    reader = RootReader(root, max_bytes=max_bytes or caps.MAX_FILE_BYTES, budget=budget)
    try:
        return _collect(reader, log_tail_bytes)
    finally:
        reader.close()


def _collect(reader, log_tail_bytes):
    facts = {"mode": "snapshot", "root": reader.root, "errors": [], "versions": {}}
    shape = deployment.DEFAULT_SHAPE
    layout = deployment.layout(shape)
    facts["deployment"] = {"shape": shape, "overridden": False, "layout": dict(
        (k, layout[k]) for k in deployment.LAYOUT_KEYS),
        "evidence": ["a sosreport: read with the paths sos uses (libvirt's own and TripleO's log paths)"]}
    node = collect_mod.collect_node_sources(reader, layout, live=False)
    facts["hostname"] = _hostname(reader)
    facts["qemu_kvm"] = _qemu_default(node)
    facts["kernel"] = _kernel(reader, node)
    facts["errors"].extend(facts["kernel"]["sosreport"]["notes"])
    facts["versions"]["kernel"] = facts["kernel"].get("release")
    version = _first(reader, SOS["version"])
    sos_version = None
    if version is not None:
        m = re.search(r"sos(?:report)?:?\s*(?:version\s*)?([0-9][0-9.]*)", version["parsed"], re.IGNORECASE)
        sos_version = m.group(1) if m else None
    doms, errors, listing_ok, status_dir = domains(reader, layout)
    facts["errors"].extend(errors)
    procs, notes = processes(reader)
    facts["errors"].extend(notes)
    reason = "sosreport%s at %s: %s" % (" (sos %s)" % sos_version if sos_version else "", reader.root,
                                        "domains from libvirt's status files (%s)" % status_dir.lstrip("/")
                                        if status_dir else "domains from virsh output and definitions"
                                        if listing_ok else "no status files and no virsh list: running domains "
                                                           "cannot be listed")
    facts["sources"] = {"domains": "sosreport", "domains_reason": reason, "processes": "ps/lsof (sosreport)",
                        "root": reader.root, "sos_version": sos_version,
                        "deployment": {"shape": shape, "evidence": facts["deployment"]["evidence"],
                                       "overridden": False}}
    if not listing_ok:
        facts["domains_error"] = "cannot list the running domains: the sosreport has no %s and no virsh list" \
                                 % " or ".join(d.lstrip("/") for d in STATUS_DIRS)
    by_uuid = dict((d["uuid"].lower(), d) for d in doms if d.get("uuid"))
    by_name = dict((d["name"], d) for d in doms)
    claimed = set(d["pid"] for d in doms if d.get("pid"))
    for pid in sorted(procs):
        if pid in claimed:
            continue
        parsed = procs[pid]["parsed"]
        dom = by_uuid.get((parsed.get("uuid") or "").lower()) or by_name.get(parsed.get("name"))
        if dom is not None and not dom.get("pid") and dom.get("state") not in ("shutoff",):
            dom["pid"] = pid
            dom["pid_source"] = "%s (-uuid/-name)" % procs[pid]["argv_source"]
            claimed.add(pid)
    for dom in doms:
        pid = dom.get("pid")
        running = dom.get("state") not in ("shutoff",)
        dom["process"] = None
        if pid and running:
            dom["process"] = procs.get(pid) or {
                "pid": pid, "status": MISSING, "argv": None, "argv_source": None, "parsed": None,
                "reason": "qemu pid %d is not in the sosreport's ps output" % pid}
        dom["log"] = _log(reader, dom.get("name"), layout, log_tail_bytes) if running else None
        last = (((dom.get("log") or {}).get("parsed") or {}).get("last_start") or {})
        for key, field in (("qemu", "qemu_version"), ("libvirt", "libvirt_version")):
            if last.get(field) and not facts["versions"].get(key):
                facts["versions"][key] = last[field]
    facts["domains"] = doms
    facts["orphan_qemu"] = [procs[p] for p in sorted(procs) if p not in claimed]
    if reader.timed_out:
        facts["errors"].append("the audit's time budget ran out: reads after it were not done (first: %s)"
                               % ", ".join(reader.timed_out[:3]))
    return facts


# What the audit reads of a sosreport (everything else in the archive is checked, not written).
_WANTED = re.compile(r"^(?:[^/]+/)?(?:"
                     r"sos_commands/(?:process|kernel|libvirt|virsh|host|general|systemd)/[^/]+"
                     r"|(?:version\.txt|hostname|uname|lsmod|ps|lsof)"
                     r"|proc/(?:modules|misc|cmdline|sys/kernel/osrelease)"
                     r"|sys/module/vhost(?:_net)?/.*|sys/class/misc/vhost-net/.*"
                     r"|etc/(?:hostname|modules|modprobe\.conf|default/qemu-kvm|modprobe\.d/.*|modules-load\.d/.*"
                     r"|libvirt/qemu/[^/]+)"
                     r"|(?:usr/)?lib/modules/[^/]+/modules\.builtin|(?:usr/|usr/local/)?lib/modprobe\.d/.*"
                     r"|(?:var/)?run/(?:libvirt/qemu/[^/]+|modprobe\.d/.*|modules-load\.d/.*)"
                     r"|var/log/(?:libvirt/qemu|containers/libvirt/qemu|containers/qemu)/[^/]+"
                     r")$")


def selection(names):
    """For ``archive.extract(select=)``: only what the audit reads when the archive is a sosreport."""
    if not any(re.match(r"^(?:[^/]+/)?sos_commands/", n) for n in names):
        return None
    return _WANTED.match


def is_sosreport(root):
    return os.path.isdir(os.path.join(root, "sos_commands"))
