"""Collectors: read the node and return what they saw, and why not.

``collect`` walks the declared source specs (``specs.py``) with one small
collector per kind (``specs.read_source``, ``specs.read_confdir``), with the
paths of the node's deployment shape (``deployment.py``). A collector never
raises for a host's bad state (a missing file, a vanished process, a domain
that disappeared, libvirt down): it records the outcome and the reason and
goes on. Only programming errors escape.

Facts are raw records (``facts.py`` documents their schema); the combiners
(``combiners/``) turn them into each layer's view and the checks judge those.
"""
import os
import re
import socket
import stat

from .. import caps
from ..errors import ParseError
from ..parsers import domxml, qemuargv, qemulog
from ..parsers import procs as procinfo
from ..textsafe import ascii_int
from . import deployment, specs
from .reader import MISSING, OK, RootReader
from .specs import LOG_TAIL_BYTES, MAX_FDS, VHOST_NET_DEV, VHOST_NET_RDEV

_SAFE_NAME = re.compile(r"^[^/\x00]+$")
# virDomainState, as libvirt numbers it.
LIBVIRT_STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
                  6: "crashed", 7: "pmsuspended"}


def _device_node(reader, live):
    """``/dev/vhost-net`` as found: present, its kind and major:minor, or why not."""
    dev = {"path": VHOST_NET_DEV, "present": False, "kind": None, "rdev": None, "reason": None}
    st = reader.stat(VHOST_NET_DEV, follow=not live)
    if not st.ok and not live:
        st = reader.stat(VHOST_NET_DEV, follow=False)   # a dangling link in a snapshot still says "it was there"
    if st.ok:
        mode = st.data.st_mode
        dev["present"] = True
        if stat.S_ISCHR(mode):
            dev["kind"] = "char"
            rdev = (os.major(st.data.st_rdev), os.minor(st.data.st_rdev))
            dev["rdev"] = "%d:%d" % rdev
            if live and rdev != VHOST_NET_RDEV:
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
    return dev


def collect_node_sources(reader, layout, live):
    """Every node-level source (``specs.NODE_SPECS``): ``{spec name: record}``."""
    out = {}
    for spec in specs.NODE_SPECS:
        if spec.kind == "confdir":
            out[spec.name] = specs.read_confdir(reader, spec)
        elif spec.kind == "stat":
            out[spec.name] = _device_node(reader, live)
        else:
            out[spec.name] = specs.read_source(reader, spec, layout)
    release = out["kernel.osrelease"]["parsed"] if out["kernel.osrelease"]["status"] == OK else None
    if release is None and live:
        release = os.uname()[2]
    out["kernel.release"] = release
    builtin = {"source": "kernel.modules_builtin", "path": None, "status": "unknown", "parsed": None,
               "reason": "kernel release unknown", "truncated": False}
    if release:
        for spec in specs.BUILTIN_SPECS:
            builtin = specs.read_source(reader, spec, {"release": release})
            if builtin["status"] == OK:
                break
    out["kernel.modules_builtin"] = builtin
    index = {}
    if release:
        for base in specs.MODULES_BASES:
            if not reader.exists("%s/%s/modules.dep" % (base, release)):
                continue
            for key, name, parser in specs.INDEX_SPECS:
                spec = specs.Spec("kernel.modules_" + key, "%s/%s/%s" % (base, release, name), "file", specs.WHOLE,
                                  parser, specs.ALL_SHAPES, name)
                index[key] = specs.read_source(reader, spec)
            break
    out["kernel.index"] = index
    return out


def kernel_facts(sources):
    """The kernel layer's raw facts, one record per source (the kernel combiner reads them)."""
    return {
        "release": sources["kernel.release"],
        "proc_modules": sources["kernel.proc_modules"],
        "builtin": sources["kernel.modules_builtin"],
        "sys_module": sources["kernel.sys_module"]["parsed"],
        "dev": sources["kernel.dev"],
        "sys_class_misc": sources["kernel.sys_class_misc"]["parsed"]
        if sources["kernel.sys_class_misc"]["status"] == OK else None,
        "modprobe_d": sources["kernel.modprobe_d"],
        "modprobe_conf": sources["kernel.modprobe_conf"],
        "modules_load_d": sources["kernel.modules_load_d"],
        "etc_modules": sources["kernel.etc_modules"],
        "sysconfig_modules": sources.get("kernel.sysconfig_modules") or {},
        "cmdline": sources.get("kernel.cmdline"),
        "index": sources.get("kernel.index") or {},
    }


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


def domains_from_files(reader, layout):
    """Domains from libvirt's own files: live status (<domstatus>) and persistent definitions."""
    status_dir, config_dir = layout["qemu_run_dir"], layout["qemu_config_dir"]
    domains = {}
    errors = []
    names, error = _xml_names(reader, status_dir)
    if error:
        errors.append("cannot list the running domains: %s" % error)
    for name in names:
        path = "%s/%s.xml" % (status_dir, name)
        parsed, error = _parse_xml(reader.read(path))
        dom = {"name": name, "uuid": None, "state": "unknown", "pid": None, "xml": parsed, "xml_source": path,
               "xml_error": error}
        if parsed:
            status = parsed.get("status") or {}
            dom.update(uuid=parsed.get("uuid"), pid=status.get("pid"), state=status.get("state") or "unknown",
                       name=parsed.get("name") or name)
        domains[dom["name"]] = dom
    names, error = _xml_names(reader, config_dir)
    if error:
        errors.append(error)
    for name in names:
        if name in domains:
            continue
        path = "%s/%s.xml" % (config_dir, name)
        parsed, error = _parse_xml(reader.read(path))
        if parsed and parsed.get("name") in domains:
            continue
        dom = {"name": (parsed or {}).get("name") or name, "uuid": (parsed or {}).get("uuid"), "state": "shutoff",
               "pid": None, "xml": parsed, "xml_source": path, "xml_error": error}
        domains[dom["name"]] = dom
    return [domains[k] for k in sorted(domains)], errors


def domains_from_libvirt(uri, reader, layout=None):
    """Domains through a read-only libvirt connection; raises nothing, returns (domains, versions, error)."""
    layout = layout or deployment.layout(deployment.DEFAULT_SHAPE)
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
                dom["state"] = LIBVIRT_STATES.get(handle.state()[0], "unknown")
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
                status = reader.read("%s/%s.xml" % (layout["qemu_run_dir"], dom["name"])) if _SAFE_NAME.match(dom["name"]) else None
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


def scan_processes(reader, layout, notes=None, stats=None):
    """One pass over /proc: qemu processes by pid, with their comm.

    A real host's /proc holds kernel threads whose comm starts with ``kvm``
    (``kvm-pit/<pid>``, ``kvm-nx-lpage-re``), other programs named ``qemu-*``
    and zombies: none of them is a qemu to judge (issue 10). ``stats`` gets
    ``{"listed": {pid}, "skipped": {kind: count}}``.

    At most ``caps.MAX_PIDS`` entries are examined and ``caps.MAX_QEMU`` qemu processes kept; a cut is
    said in ``notes`` ("N more not shown").
    """
    read = reader.listdir("/proc")
    if not read.ok:
        return None, read.reason
    pids = sorted(n for n in (ascii_int(name, 9) for name in read.data) if n is not None)
    if len(pids) > caps.MAX_PIDS and notes is not None:
        notes.append(caps.more(len(pids) - caps.MAX_PIDS, "/proc entries") + " (cap %d): not examined for qemu"
                     % caps.MAX_PIDS)
    found = {}
    skipped = {}
    over = 0
    for pid in pids[:caps.MAX_PIDS]:
        comm = reader.read("/proc/%d/comm" % pid, max_bytes=256)
        if not comm.ok:
            continue
        text = comm.text().strip()
        if not (layout["qemu_comm_re"].match(text) or text.startswith(("kvm", "qemu"))):
            continue
        status = reader.read("/proc/%d/status" % pid, max_bytes=4096)
        kind, _why = procinfo.qemu_process_kind(text, status.text() if status.ok else None)
        if kind == "qemu" and layout["qemu_comm_re"].match(text):
            if len(found) >= caps.MAX_QEMU:
                over += 1
                continue
            found[pid] = text
        else:
            key = kind if kind != "qemu" else "other-program"
            skipped[key] = skipped.get(key, 0) + 1
    if over and notes is not None:
        notes.append(caps.more(over, "qemu process(es)") + " (cap %d): not judged" % caps.MAX_QEMU)
    if stats is not None:
        stats.update(listed=set(pids), skipped=skipped)
    return found, None


def _argv_vhostfds(parsed):
    named = set()
    for netdev in (parsed or {}).get("netdevs") or ():
        for fd in netdev.get("vhostfds") or ():
            number = ascii_int(str(fd), 9)
            if number is not None:
                named.add(number)
    return named


def check_stale(dom, sources, listed, is_qemu, live):
    """A status file whose pid is gone or now runs something else is stale (issue 10).

    Only when the domains come from files (libvirt down, or a snapshot): a live
    libvirt's answer is kept. Pid reuse is checked by the argv's ``-uuid`` /
    ``-name``; "gone" needs a whole /proc (live, or a snapshot with pid 1 in it).
    A stale domain is never judged and never planned for a restart.
    """
    if sources.get("domains") == "libvirt":
        return
    proc = dom.get("process") or {}
    pid = dom.get("pid")
    reason = None
    if proc.get("argv"):
        match, why = procinfo.match_domain(dom.get("name"), dom.get("uuid"), proc.get("parsed") or {})
        if match is False or not is_qemu:
            reason = "pid %s now belongs to another process (%s)" % (
                pid, why if match is False else "not a qemu: %s" % proc["argv"][0])
    elif proc.get("status") == MISSING and pid not in listed and 1 in listed and (live or len(listed) > 1):
        reason = "pid %s is gone (no /proc/%s)" % (pid, pid)
    if reason:
        dom["stale_reason"] = "%s names pid %s but %s: the status file is stale (the domain is not running)" % (
            dom.get("xml_source") or "the status file", pid, reason)
        dom["state"] = "stale"
        dom["process"] = None


def collect_process(reader, pid):
    """What a qemu process runs with: argv, fds to /dev/vhost-net, vhost worker threads."""
    base = "/proc/%d" % pid
    proc = {"pid": pid, "status": OK, "reason": None, "argv_source": base + "/cmdline", "argv": None,
            "parsed": None, "fds": None, "fd_reason": None, "vhost_fds": [], "tun_fds": [], "vhost_threads": None}
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
    # Parsed once, here: the domain judge, the orphan's name and the pairing all reuse it.
    proc["parsed"] = qemuargv.parse_qemu_argv(argv)
    listing = reader.listdir(base + "/fd")
    if listing.ok:
        # Every fd in numeric order (names sorted as strings put fd 9 after fd 4095: issue 14), up to
        # MAX_FDS; the fds the argv names as vhostfds are read whatever the cap. A cut is counted
        # (fd_cut): the NIC judges say unknown where a skipped fd could hold /dev/vhost-net.
        numbers = sorted(n for n in (ascii_int(name, 9) for name in listing.data) if n is not None)
        chosen = numbers[:MAX_FDS]
        if len(numbers) > MAX_FDS:
            named = _argv_vhostfds(proc["parsed"])
            chosen += [n for n in numbers[MAX_FDS:] if n in named]
            proc["fd_cut"] = len(numbers) - len(chosen)
            proc["fd_total"] = len(numbers)
        fds = {}
        for number in chosen:
            link = reader.readlink("%s/fd/%d" % (base, number))
            if link.ok:
                fds[number] = link.data
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


def collect_log(reader, name, layout, tail_bytes=LOG_TAIL_BYTES):
    """The tail of a domain's QEMU log (``specs.LOG_SPEC``), parsed."""
    if not _SAFE_NAME.match(name or ""):
        return {"status": "skipped", "reason": "domain name unusable as a file name"}
    spec = specs.LOG_SPEC._replace(cap=tail_bytes)
    return specs.read_source(reader, spec, dict(layout, name=name))


def _match_processes(reader, domains, procs):
    """Pair qemu processes with domains; returns ``{pid: process}`` read so far and the claimed pids."""
    by_uuid = {}
    for dom in domains:
        if dom.get("uuid"):
            by_uuid[dom["uuid"].lower()] = dom
    by_name = dict((d["name"], d) for d in domains if d.get("name") and not d.get("uuid"))
    claimed = set(dom["pid"] for dom in domains if dom.get("pid"))
    unclaimed = {}
    # Domains whose pid is not known: find their qemu by -uuid (or -name) in the argv.
    for pid in sorted(procs):
        if pid in claimed:
            continue
        proc = collect_process(reader, pid)
        unclaimed[pid] = proc
        parsed = proc.get("parsed") or {}
        uuid = parsed.get("uuid")
        dom = by_uuid.get(uuid.lower()) if uuid else None
        how = "-uuid %s" % uuid
        if dom is None and parsed.get("name") in by_name:
            dom = by_name[parsed["name"]]
            how = "-name guest=%s" % parsed["name"]
        if dom is not None and not dom.get("pid") and dom.get("state") not in ("shutoff",):
            dom["pid"] = pid
            dom["pid_source"] = "/proc/%d/cmdline %s" % (pid, how)
            if dom.get("state") in ("unknown", "nostate"):
                dom["state"] = "running"
                dom["state_source"] = "qemu pid %d runs with its %s" % (pid, how)
            claimed.add(pid)
    return unclaimed, claimed


def _list_domains(reader, layout, live, use_libvirt, libvirt_uri, facts):
    sources = {"domains": None, "domains_reason": None, "processes": "/proc", "root": reader.root}
    domains = None
    status_dir, config_dir = layout["qemu_run_dir"], layout["qemu_config_dir"]
    if live and use_libvirt:
        domains, versions, error = domains_from_libvirt(libvirt_uri, reader, layout)
        facts["versions"].update(versions)
        if domains is not None:
            sources["domains"] = "libvirt"
        else:
            sources["domains_reason"] = "%s; fell back to libvirt's status files (%s, %s)" % (
                error, status_dir, config_dir)
    if domains is None:
        domains, errors = domains_from_files(reader, layout)
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
    return domains, sources


def libvirt_events(reader, layout, domains, tail_bytes, facts):
    """libvirtd's own log and the audit log, where present, as per-domain evidence (issue 10.3).

    libvirtd's warning names no domain: it goes to the domain whose QEMU log
    shows a start right after it. The audit records name the domain and the NIC.
    """
    events = {"daemon_log": None, "audit_log": None}
    for path in layout.get("daemon_logs") or []:
        if reader.exists(path):
            events["daemon_log"] = specs.read_source(reader, specs.DAEMON_LOG_SPEC._replace(cap=tail_bytes),
                                                     {"daemon_log": path})
            break
    if reader.exists(specs.AUDIT_LOG_SPEC.path):
        events["audit_log"] = specs.read_source(reader, specs.AUDIT_LOG_SPEC._replace(cap=tail_bytes))
    facts["libvirt_events"] = dict((k, dict(v, parsed=None) if v else None) for k, v in events.items())
    daemon = events["daemon_log"] if events["daemon_log"] and events["daemon_log"]["status"] == OK else None
    audit = events["audit_log"] if events["audit_log"] and events["audit_log"]["status"] == OK else None
    starts = {}
    for dom in domains:
        last = ((((dom.get("log") or {}).get("parsed")) or {}).get("last_start") or {})
        if last.get("timestamp") and dom.get("name"):
            starts[dom["name"]] = last["timestamp"]
    warned = qemulog.attribute_by_start(daemon["parsed"]["vhost_open_failed"], starts) if daemon else {}
    for dom in domains:
        dom["libvirt_warnings"] = [dict(e, path=daemon["path"]) for e in warned.get(dom.get("name"), [])]
        dom["audit_records"] = [dict(r, path=audit["path"]) for r in (audit["parsed"]["records"] if audit else [])
                                if (r.get("uuid") and dom.get("uuid") and r["uuid"].lower() == dom["uuid"].lower())
                                or (not r.get("uuid") and r.get("vm") == dom.get("name"))]


def collect(root="/", libvirt_uri="qemu:///system", use_libvirt=True, max_bytes=None, log_tail_bytes=LOG_TAIL_BYTES,
            deployment_override=None, budget=None, reader=None):
    """Everything the audit needs from one node, in one pass (schema: ``facts.py``).

    ``budget``: seconds the reads may take (reader.py); what was not read in time is an error, said plainly.
    Raises ``reader.RootRefused`` (before reading anything) for a snapshot root that is the live root.
    ``reader``: a RootReader to read through, left open (sources/snapshot.py passes one that records every read).
    """
    own_reader = reader is None
    if own_reader:
        reader = RootReader(root, max_bytes=max_bytes or specs.DEFAULT_CAP, budget=budget)
    try:
        facts = {"mode": "live" if reader.live else "snapshot", "root": reader.root, "errors": [], "versions": {}}
        shape, layout, libvirt_uri = _deployment_facts(reader, deployment_override, libvirt_uri, facts)
        node = collect_node_sources(reader, layout, reader.live)
        _host_facts(reader, node, layout, facts)
        domains, sources = _domain_list(reader, layout, use_libvirt, libvirt_uri, facts)
        sources["deployment"] = {"shape": shape["shape"], "evidence": shape["evidence"],
                                 "overridden": shape["overridden"]}
        facts["sources"] = sources
        _domain_processes(reader, layout, domains, log_tail_bytes, facts)
        if reader.timed_out:
            facts["errors"].append("the audit's time budget of %ss ran out: reads after it were not done (first: %s)"
                                   % (budget, ", ".join(reader.timed_out[:3])))
        return facts
    finally:
        if own_reader:
            reader.close()


def _deployment_facts(reader, override, libvirt_uri, facts):
    """The node's deployment shape and the layout it implies (where libvirt keeps what), into ``facts``."""
    shape = deployment.detect(reader, override)
    layout = deployment.refine(deployment.layout(shape["shape"]), reader)
    if libvirt_uri == "qemu:///system" and layout.get("uri"):
        libvirt_uri = layout["uri"]          # Sunbeam's libvirt listens on the snap's socket
    facts["deployment"] = dict(shape, layout=dict([(k, layout[k]) for k in deployment.LAYOUT_KEYS] +
                                                  [("shape", shape["shape"])]))
    if shape.get("error"):
        facts["errors"].append(shape["error"])
    return shape, layout, libvirt_uri


def _host_facts(reader, node, layout, facts):
    """Hostname, the defaults file (with what it sources, for the boot job's outcome) and the kernel."""
    if reader.live:
        facts["hostname"] = socket.gethostname()
    else:
        rec = node["host.hostname"]
        facts["hostname"] = rec["parsed"] if rec["status"] == OK else None
    facts["qemu_kvm"] = node["config.qemu_kvm"]
    if facts["qemu_kvm"].get("status") == OK and layout.get("vhost_key_job"):
        # Files the defaults file sources with `.` (what dash would read too), for the boot job's outcome.
        read = reader.read(facts["qemu_kvm"]["path"])
        includes = {}
        if read.ok:
            from ..parsers import shellvars
            for _line, target in shellvars._include_targets(read.text())[:8]:
                inc = reader.read(target, max_bytes=specs.DEFAULT_CAP)
                includes[target] = inc.text() if inc.ok else None if inc.status == MISSING else ""
            facts["qemu_kvm"] = dict(facts["qemu_kvm"], text=read.text(), includes=includes,
                                     job=layout.get("vhost_key_job"))
    facts["kernel"] = kernel_facts(node)
    facts["versions"]["kernel"] = facts["kernel"]["release"]


def _domain_list(reader, layout, use_libvirt, libvirt_uri, facts):
    """The node's domains (libvirt, else its files), within the cap; ``(domains, sources)``."""
    domains, sources = _list_domains(reader, layout, reader.live, use_libvirt, libvirt_uri, facts)
    if len(domains) > caps.MAX_DOMAINS:
        # Cut, and said: domains.vhost cannot pass for a node whose domains were not all judged.
        facts["domains_cut"] = len(domains) - caps.MAX_DOMAINS
        facts["errors"].append(caps.more(facts["domains_cut"], "domain(s)") + " (cap %d): not judged"
                               % caps.MAX_DOMAINS)
        domains = domains[:caps.MAX_DOMAINS]
    return domains, sources


def _domain_processes(reader, layout, domains, log_tail_bytes, facts):
    """Each domain's qemu process and log, libvirt's own events, and the qemu processes no domain claims."""
    sources = facts["sources"]
    scanned = {}
    procs, error = scan_processes(reader, layout, facts["errors"], scanned)
    sources["processes_skipped"] = scanned.get("skipped") or {}
    if error:
        facts["errors"].append("cannot list processes: %s" % error)
        procs = {}
    unclaimed, claimed = _match_processes(reader, domains, procs)
    for dom in domains:
        running = dom.get("state") not in ("shutoff",)
        pid = dom.get("pid")
        dom["process"] = (unclaimed.get(pid) or collect_process(reader, pid)) if pid and running else None
        if dom["process"] is not None:
            check_stale(dom, sources, scanned.get("listed") or set(), pid in (procs or {}), reader.live)
            running = dom.get("state") not in ("shutoff", "stale")
        dom["log"] = collect_log(reader, dom.get("name"), layout, log_tail_bytes) if running else None
        last = (((dom["log"] or {}).get("parsed") or {}).get("last_start") or {})
        for key in ("qemu", "libvirt"):
            if last.get(key + "_version") and not facts["versions"].get(key):
                facts["versions"][key] = last[key + "_version"]
    facts["domains"] = domains
    libvirt_events(reader, layout, domains, log_tail_bytes, facts)
    # qemu processes no domain claims (started by hand, by another libvirtd in
    # a container, or left behind): still judged by what they run.
    facts["orphan_qemu"] = [unclaimed[pid] for pid in sorted(unclaimed) if pid not in claimed]

