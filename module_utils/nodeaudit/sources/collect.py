"""Collectors: read the node and return what they saw, and why not.

A collector never raises for a host's bad state (a missing file, a vanished
process, a domain that disappeared, libvirt down): it records the outcome and
the reason and goes on. Only programming errors escape.

Facts are plain data; ``evaluate.py`` turns them into verdicts.
"""
import os
import re
import socket
import stat

from ..parsers import domxml, kmod, qemuargv, qemulog, shellvars
from ..errors import ParseError
from .reader import MISSING, OK, Read, RootReader

QEMU_DEFAULT = "/etc/default/qemu-kvm"
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
                 "/lib/modprobe.d")
MODULES_LOAD_DIRS = ("/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d",
                     "/usr/lib/modules-load.d", "/lib/modules-load.d")
STATUS_DIR = "/run/libvirt/qemu"
CONFIG_DIR = "/etc/libvirt/qemu"
LOG_DIR = "/var/log/libvirt/qemu"
VHOST_NET_DEV = "/dev/vhost-net"
VHOST_NET_RDEV = (10, 238)
MAX_FDS = 4096
LOG_TAIL_BYTES = 512 * 1024

_QEMU_COMM = re.compile(r"^(qemu|kvm)")
_SAFE_NAME = re.compile(r"^[^/\x00]+$")
_LIBVIRT_STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
                   6: "crashed", 7: "pmsuspended"}


def _err(read):
    return {"status": read.status, "path": read.path, "reason": read.reason}


def collect_qemu_default(reader):
    read = reader.read(QEMU_DEFAULT)
    if read.status == MISSING and reader.exists(QEMU_DEFAULT):
        link = reader.readlink(QEMU_DEFAULT)
        read = Read(QEMU_DEFAULT, "dangling", reason="%s is a symbolic link to %s, which does not exist"
                    % (QEMU_DEFAULT, link.data if link.ok else "?"))
    fact = {"path": QEMU_DEFAULT, "status": read.status, "reason": read.reason, "parsed": None, "syntax_error": None}
    if not read.ok:
        return fact
    if "\x00" in read.data[:8192]:
        # dash drops NUL bytes and reads on; a defaults file with NULs is not what anyone wrote.
        fact.update(status="binary", reason="%s is a binary file (NUL bytes), not a shell defaults file" % QEMU_DEFAULT)
        return fact
    try:
        fact["parsed"] = shellvars.parse_shell_assignments(read.text())
    except ParseError as exc:
        fact["syntax_error"] = {"message": exc.message, "line": exc.line}
    return fact


def _modprobe_files(reader, dirs, suffix=".conf"):
    """Effective config files of a systemd-style .d directory set (name in a higher dir masks lower)."""
    listing = []
    errors = []
    for directory in dirs:
        read = reader.listdir(directory)
        if read.ok:
            listing.append((directory, [n for n in read.data if n.endswith(suffix)]))
        elif read.status != MISSING:
            errors.append(read.reason)
            listing.append((directory, []))
        else:
            listing.append((directory, []))
    return kmod.effective_conf_files(listing), errors


def collect_kernel(reader, live):
    fact = {"errors": []}
    # Release: decides which modules.builtin applies.
    release = None
    read = reader.read("/proc/sys/kernel/osrelease")
    if read.ok:
        release = read.text().strip() or None
    elif live:
        release = os.uname()[2]
    fact["release"] = release

    read = reader.read("/proc/modules")
    pm = {"path": "/proc/modules", "status": read.status, "reason": read.reason, "modules": None, "bad_lines": []}
    if read.ok:
        try:
            parsed = kmod.parse_proc_modules(read.text())
            pm["modules"] = sorted(parsed["modules"])
            pm["vhost_net"] = parsed["modules"].get("vhost_net")
            pm["bad_lines"] = parsed.get("bad_lines", [])
        except ParseError as exc:
            pm["status"], pm["reason"] = "parse_error", "%s: %s" % (read.path, exc)
    fact["proc_modules"] = pm
    fact["vhost_net_loaded"] = bool(pm.get("vhost_net")) if pm["modules"] is not None else None

    builtin = {"status": "unknown", "path": None, "reason": "kernel release unknown", "vhost_net": None}
    if release:
        for base in ("/lib/modules", "/usr/lib/modules"):
            path = "%s/%s/modules.builtin" % (base, release)
            read = reader.read(path)
            builtin.update(path=path, status=read.status, reason=read.reason)
            if read.ok:
                names = kmod.parse_modules_builtin(read.text())
                builtin["vhost_net"] = "vhost_net" in names
                builtin["reason"] = None
                break
    fact["builtin"] = builtin

    fact["sys_module"] = reader.exists("/sys/module/vhost_net")

    dev = {"path": VHOST_NET_DEV, "present": False, "kind": None, "rdev": None, "reason": None}
    st = reader.stat(VHOST_NET_DEV, follow=not live)
    if not st.ok and not live:
        st = reader.stat(VHOST_NET_DEV, follow=False)   # a dangling link in a snapshot still says "it was there"
    if st.ok:
        mode = st.data.st_mode
        dev["present"] = True
        if stat.S_ISCHR(mode):
            dev["kind"] = "char"
            dev["rdev"] = "%d:%d" % (os.major(st.data.st_rdev), os.minor(st.data.st_rdev))
            if live and (os.major(st.data.st_rdev), os.minor(st.data.st_rdev)) != VHOST_NET_RDEV:
                dev["present"] = False
                dev["reason"] = "%s is char %s, not misc 10:238" % (VHOST_NET_DEV, dev["rdev"])
        else:
            dev["kind"] = "other"
            if live:
                dev["present"] = False
                dev["reason"] = "%s exists but is not a character device" % VHOST_NET_DEV
    elif st.status == MISSING:
        dev["reason"] = "%s does not exist" % VHOST_NET_DEV
    else:
        dev["present"] = None
        dev["reason"] = st.reason
    fact["dev"] = dev

    read = reader.read("/sys/class/misc/vhost-net/dev")
    fact["sys_class_misc"] = read.text().strip() if read.ok else None

    files, errors = _modprobe_files(reader, MODPROBE_DIRS)
    fact["errors"].extend(errors)
    parsed_files = []
    for directory, name in files:
        path = "%s/%s" % (directory, name)
        read = reader.read(path)
        if read.ok:
            try:
                parsed_files.append((path, kmod.parse_modprobe_conf(read.text())))
            except ParseError as exc:
                fact["errors"].append("%s: %s" % (path, exc))
        elif read.status != MISSING:
            fact["errors"].append(read.reason)
    legacy = reader.read("/etc/modprobe.conf")
    if legacy.ok:
        try:
            parsed_files.append(("/etc/modprobe.conf", kmod.parse_modprobe_conf(legacy.text())))
        except ParseError as exc:
            fact["errors"].append("/etc/modprobe.conf: %s" % exc)
    fact["modprobe_files"] = [p for p, _ in parsed_files]
    fact["modprobe"] = kmod.module_load_policy(parsed_files, "vhost_net")
    # vhost_net needs vhost: an install block on the dependency stops it too.
    dependency = kmod.module_load_policy(parsed_files, "vhost")
    dep_install = dependency.get("install")
    if dep_install and dep_install.get("blocks") and not (fact["modprobe"].get("install") or {}).get("blocks"):
        fact["modprobe"]["install"] = dict(dep_install, command="%s (on its dependency vhost)" % dep_install["command"])

    entries = []
    files, errors = _modprobe_files(reader, MODULES_LOAD_DIRS)
    fact["errors"].extend(errors)
    sources = ["%s/%s" % (d, n) for d, n in files] + ["/etc/modules"]
    for path in sources:
        read = reader.read(path)
        if read.ok:
            for entry in kmod.parse_modules_load(read.text()):
                entries.append({"module": entry["module"], "line": entry["line"], "path": path})
        elif read.status != MISSING:
            fact["errors"].append(read.reason)
    fact["boot_load"] = [e for e in entries if kmod.normalize_module(e["module"]) == "vhost_net"]
    return fact


# -- domains ---------------------------------------------------------------

def _parse_xml(read):
    if not read.ok:
        return None, read.reason
    try:
        return domxml.parse_domain_xml(read.text()), None
    except ParseError as exc:
        return None, "%s: %s" % (read.path, exc)


def _xml_names(reader, directory):
    read = reader.listdir(directory)
    if not read.ok:
        return [], (None if read.status == MISSING else read.reason)
    return [n[:-4] for n in read.data if n.endswith(".xml") and _SAFE_NAME.match(n)], None


def domains_from_files(reader):
    """Domains from libvirt's own files: live status (<domstatus>) and persistent definitions."""
    domains = {}
    errors = []
    names, error = _xml_names(reader, STATUS_DIR)
    if error:
        errors.append("cannot list the running domains: %s" % error)
    for name in names:
        path = "%s/%s.xml" % (STATUS_DIR, name)
        parsed, error = _parse_xml(reader.read(path))
        dom = {"name": name, "uuid": None, "state": "unknown", "pid": None, "xml": parsed, "xml_source": path,
               "xml_error": error}
        if parsed:
            status = parsed.get("status") or {}
            dom.update(uuid=parsed.get("uuid"), pid=status.get("pid"), state=status.get("state") or "unknown",
                       name=parsed.get("name") or name)
        domains[dom["name"]] = dom
    names, error = _xml_names(reader, CONFIG_DIR)
    if error:
        errors.append(error)
    for name in names:
        if name in domains:
            continue
        path = "%s/%s.xml" % (CONFIG_DIR, name)
        parsed, error = _parse_xml(reader.read(path))
        if parsed and parsed.get("name") in domains:
            continue
        dom = {"name": (parsed or {}).get("name") or name, "uuid": (parsed or {}).get("uuid"), "state": "shutoff",
               "pid": None, "xml": parsed, "xml_source": path, "xml_error": error}
        domains[dom["name"]] = dom
    return [domains[k] for k in sorted(domains)], errors


def domains_from_libvirt(uri, reader):
    """Domains through a read-only libvirt connection; raises nothing, returns (domains, versions, error)."""
    try:
        import libvirt  # noqa: F401  (python3-libvirt on the node)
    except ImportError:
        return None, {}, "libvirt-python is not installed on the node"
    try:
        libvirt.registerErrorHandler(lambda *args: None, None)
    except Exception:  # pragma: no cover - old bindings
        pass
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        return None, {}, "cannot connect to %s: %s" % (uri, exc.get_error_message() or exc)
    if conn is None:
        return None, {}, "cannot connect to %s" % uri
    versions = {}
    try:
        try:
            versions["libvirt"] = _version_string(conn.getLibVersion())
            versions["qemu"] = _version_string(conn.getVersion())
        except libvirt.libvirtError:
            pass
        try:
            handles = conn.listAllDomains(0)
        except libvirt.libvirtError as exc:
            return None, versions, "listing domains through %s failed: %s" % (uri, exc.get_error_message() or exc)
        domains = []
        for handle in handles:
            dom = {"name": None, "uuid": None, "state": "unknown", "pid": None, "xml": None,
                   "xml_source": "libvirt %s (live XML)" % uri, "xml_error": None}
            try:
                dom["name"] = handle.name()
                dom["uuid"] = handle.UUIDString()
                dom["state"] = _LIBVIRT_STATES.get(handle.state()[0], "unknown")
                xml_text = handle.XMLDesc(0)
            except libvirt.libvirtError as exc:
                # The domain went away between the list and this call, or libvirt broke.
                if exc.get_error_code() == getattr(libvirt, "VIR_ERR_NO_DOMAIN", 42):
                    dom["xml_error"] = "domain %s disappeared during the audit (%s)" % (
                        dom["name"] or "?", exc.get_error_message() or exc)
                else:
                    dom["xml_error"] = "domain %s: %s" % (dom["name"] or "?", exc.get_error_message() or exc)
                if dom["name"] is None:
                    continue
                domains.append(dom)
                continue
            try:
                dom["xml"] = domxml.parse_domain_xml(xml_text)
            except ParseError as exc:
                dom["xml_error"] = "live XML of %s: %s" % (dom["name"], exc)
            if dom["state"] not in ("shutoff",):
                status = reader.read("%s/%s.xml" % (STATUS_DIR, dom["name"])) if _SAFE_NAME.match(dom["name"]) else None
                if status is not None and status.ok:
                    try:
                        dom["pid"] = (domxml.parse_domain_xml(status.text()).get("status") or {}).get("pid")
                    except ParseError:
                        pass
            domains.append(dom)
        return sorted(domains, key=lambda d: d["name"]), versions, None
    finally:
        try:
            conn.close()
        except Exception:  # pragma: no cover
            pass


def _version_string(number):
    if not number:
        return None
    return "%d.%d.%d" % (number // 1000000, (number // 1000) % 1000, number % 1000)


def scan_processes(reader):
    """One pass over /proc: qemu-looking processes by pid, with their comm."""
    read = reader.listdir("/proc")
    if not read.ok:
        return None, read.reason
    found = {}
    for name in read.data:
        if not name.isdigit():
            continue
        comm = reader.read("/proc/%s/comm" % name, max_bytes=256)
        if comm.ok and _QEMU_COMM.match(comm.text().strip()):
            found[int(name)] = comm.text().strip()
    return found, None


def collect_process(reader, pid):
    """What a qemu process runs with: argv, fds to /dev/vhost-net, vhost worker threads."""
    base = "/proc/%d" % pid
    proc = {"pid": pid, "status": OK, "reason": None, "argv_source": base + "/cmdline", "argv": None,
            "fds": None, "fd_reason": None, "vhost_fds": [], "tun_fds": [], "vhost_threads": None}
    read = reader.read(base + "/cmdline", binary=True)
    if not read.ok:
        proc["status"] = read.status
        proc["reason"] = "qemu pid %d: %s" % (pid, read.reason if read.status != MISSING else "no such process")
        return proc
    argv = qemuargv.split_cmdline(read.data)
    if not argv:
        proc["status"] = "empty"
        proc["reason"] = "%s is empty (zombie or exiting process)" % read.path
        return proc
    proc["argv"] = argv
    listing = reader.listdir(base + "/fd")
    if listing.ok:
        fds = {}
        for name in listing.data[:MAX_FDS]:
            if not name.isdigit():
                continue
            link = reader.readlink("%s/fd/%s" % (base, name))
            if link.ok:
                fds[int(name)] = link.data
        proc["fds"] = len(fds)
        proc["vhost_fds"] = sorted(fd for fd, target in fds.items() if target == VHOST_NET_DEV)
        proc["tun_fds"] = sorted(fd for fd, target in fds.items() if target == "/dev/net/tun")
    else:
        proc["fd_reason"] = listing.reason
    tasks = reader.listdir(base + "/task")
    if tasks.ok:
        threads = []
        for tid in tasks.data:
            comm = reader.read("%s/task/%s/comm" % (base, tid), max_bytes=256)
            if comm.ok and comm.text().startswith("vhost-"):
                threads.append(comm.text().strip())
        proc["vhost_threads"] = threads
    return proc


def collect_log(reader, name, tail_bytes=LOG_TAIL_BYTES):
    if not _SAFE_NAME.match(name or ""):
        return {"status": "skipped", "reason": "domain name unusable as a file name"}
    path = "%s/%s.log" % (LOG_DIR, name)
    read = reader.read_tail(path, tail_bytes)
    if not read.ok:
        return {"status": read.status, "path": path, "reason": read.reason}
    parsed = qemulog.parse_qemu_log(read.text())
    return {"status": OK, "path": path, "truncated": read.truncated, "parsed": parsed}


def collect(root="/", libvirt_uri="qemu:///system", use_libvirt=True, max_bytes=None, log_tail_bytes=LOG_TAIL_BYTES,
            budget=None):
    """Everything the audit needs from one node, in one pass.

    ``budget``: seconds the reads may take (reader.py); what was not read in time is an error, said plainly.
    Raises ``reader.RootRefused`` (before reading anything) for a snapshot root that is the live root.
    """
    reader = RootReader(root, max_bytes=max_bytes or 4 * 1024 * 1024, budget=budget)
    live = reader.live
    facts = {"mode": "live" if live else "snapshot", "root": reader.root, "errors": [], "versions": {}}

    if live:
        facts["hostname"] = socket.gethostname()
    else:
        read = reader.read("/etc/hostname", max_bytes=256)
        facts["hostname"] = read.text().strip() if read.ok and read.text().strip() else None

    facts["qemu_kvm"] = collect_qemu_default(reader)
    facts["kernel"] = collect_kernel(reader, live)
    facts["versions"]["kernel"] = facts["kernel"]["release"]

    sources = {"domains": None, "domains_reason": None, "processes": "/proc", "root": reader.root}
    domains = None
    if live and use_libvirt:
        domains, versions, error = domains_from_libvirt(libvirt_uri, reader)
        facts["versions"].update(versions)
        if domains is not None:
            sources["domains"] = "libvirt"
        else:
            sources["domains_reason"] = "%s; fell back to libvirt's status files (%s, %s)" % (
                error, STATUS_DIR, CONFIG_DIR)
    if domains is None:
        domains, errors = domains_from_files(reader)
        facts["errors"].extend(errors)
        listing = [e for e in errors if e.startswith("cannot list the running domains")]
        if listing:
            # Without the list, "no running domain" would be a guess: domains.vhost says error.
            facts["domains_error"] = "%s%s" % (listing[0], "; " + sources["domains_reason"]
                                                if sources.get("domains_reason") else "")
        if sources["domains"] is None:
            sources["domains"] = "status_files" if live else "snapshot"
        if not live:
            sources["domains_reason"] = "snapshot of %s: no libvirt connection" % reader.root
    facts["sources"] = sources

    procs, error = scan_processes(reader)
    if error:
        facts["errors"].append("cannot list processes: %s" % error)
        procs = {}
    by_uuid = {}
    for dom in domains:
        if dom.get("uuid"):
            by_uuid[dom["uuid"].lower()] = dom
    by_name = dict((d["name"], d) for d in domains if d.get("name") and not d.get("uuid"))
    claimed = set()
    for dom in domains:
        if dom.get("pid"):
            claimed.add(dom["pid"])
    # Domains whose pid is not known: find their qemu by -uuid in the argv.
    unclaimed = {}
    for pid in sorted(procs):
        if pid in claimed:
            continue
        proc = collect_process(reader, pid)
        unclaimed[pid] = proc
        parsed = qemuargv.parse_qemu_argv(proc["argv"]) if proc["argv"] else None
        uuid = (parsed or {}).get("uuid")
        dom = by_uuid.get(uuid.lower()) if uuid else None
        how = "-uuid %s" % uuid
        if dom is None and (parsed or {}).get("name") in by_name:
            dom = by_name[parsed["name"]]
            how = "-name guest=%s" % parsed["name"]
        if dom is not None and not dom.get("pid") and dom.get("state") not in ("shutoff",):
            dom["pid"] = pid
            dom["pid_source"] = "/proc/%d/cmdline %s" % (pid, how)
            if dom.get("state") in ("unknown", "nostate"):
                dom["state"] = "running"
                dom["state_source"] = "qemu pid %d runs with its %s" % (pid, how)
            claimed.add(pid)
    for dom in domains:
        pid = dom.get("pid")
        if pid and dom.get("state") not in ("shutoff",):
            dom["process"] = unclaimed.get(pid) or collect_process(reader, pid)
        else:
            dom["process"] = None
        if dom.get("state") not in ("shutoff",):
            dom["log"] = collect_log(reader, dom.get("name"), log_tail_bytes)
            last = ((dom["log"].get("parsed") or {}).get("last_start") or {})
            if last.get("qemu_version") and not facts["versions"].get("qemu"):
                facts["versions"]["qemu"] = last["qemu_version"]
            if last.get("libvirt_version") and not facts["versions"].get("libvirt"):
                facts["versions"]["libvirt"] = last["libvirt_version"]
        else:
            dom["log"] = None
    facts["domains"] = domains
    # qemu processes no domain claims (started by hand, by another libvirtd in
    # a container, or left behind): still judged by what they run.
    facts["orphan_qemu"] = [unclaimed[pid] for pid in sorted(unclaimed) if pid not in claimed]
    if reader.timed_out:
        facts["errors"].append("the audit's time budget of %ss ran out: reads after it were not done (first: %s)"
                               % (budget, ", ".join(reader.timed_out[:3])))
    reader.close()
    return facts
