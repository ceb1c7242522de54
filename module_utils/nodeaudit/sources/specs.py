"""Every source the audit reads, declared as data.

A spec names one source: its logical name, the path (or path pattern) under
the root, the size cap, the pure parser that reads it, and the deployment
shapes it applies to. ``{qemu_run_dir}``, ``{qemu_log_dir}``, ``{qemu_config_dir}``,
``{defaults_file}`` come from the node's layout (``deployment.py``);
``{release}`` and ``{name}`` from what was read before (the kernel release, a
domain's name). ``read_source`` (one small collector for every spec) reads a
spec with the confined reader and returns one record:

    {"source": name, "path": str, "status": "ok" | reader status | "parse_error" | "dangling" | ...,
     "reason": str | None, "parsed": <the parser's data> | None, "truncated": bool}

A record never raises for the node's bad state. Adding a source is one spec
here and its parser in ``parsers/``; the collector (``collect.py``) walks
``NODE_SPECS`` and the per-domain and per-process specs.
"""
import collections
import functools

from .. import caps
from ..errors import ParseError
from ..parsers import domxml, kmod, qemulog, shellvars, sos_kernel, sos_lsof, sos_ps
from .reader import MISSING, OK

ALL_SHAPES = "*"
KIB = 1024
MIB = 1024 * KIB
DEFAULT_CAP = 4 * MIB          # the reader's default cap for a whole file (collect(max_bytes=) changes it)
WHOLE = None                   # a spec cap of None: the reader's cap
SMALL_CAP = 256                # one-line /proc and /sys files
LOG_TAIL_BYTES = 512 * KIB     # the tail of a domain's QEMU log
CMDLINE_CAP = WHOLE            # /proc/<pid>/cmdline
MAX_FDS = caps.MAX_FDS         # fds read per qemu process (numeric order; the argv's vhostfds always)

MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d",
                 "/lib/modprobe.d")
MODULES_LOAD_DIRS = ("/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d",
                     "/usr/lib/modules-load.d", "/lib/modules-load.d")
MODULES_BASES = ("/lib/modules", "/usr/lib/modules")
VHOST_NET_DEV = "/dev/vhost-net"
VHOST_NET_RDEV = (10, 238)

Spec = collections.namedtuple("Spec", "name path kind cap parser shapes doc")
# kind: "file" (whole file, text), "tail" (the end of a file), "confdir" (a systemd-style .d directory set:
# ``path`` is a tuple of directories in precedence order, a name in a higher one masks the same name lower;
# every effective ``*.conf`` file read), "stat" (lstat/stat only), "exists".


class BinaryFile(ParseError):
    """A text source that holds NUL bytes: not what anyone wrote by hand."""


def parse_defaults(text):
    """``/etc/default/qemu-kvm`` as ``/bin/sh`` sources it (``shellvars``); NUL bytes are refused."""
    if "\x00" in text[:8192]:
        # dash drops NUL bytes and reads on; a defaults file with NULs is not what anyone wrote.
        raise BinaryFile("a binary file (NUL bytes), not a shell defaults file")
    return shellvars.parse_shell_assignments(text)


def parse_first_line(text):
    return text.strip() or None


NODE_SPECS = (
    Spec("host.hostname", "/etc/hostname", "file", SMALL_CAP, parse_first_line, ALL_SHAPES,
         "the node's name in a snapshot (live: the running kernel's)"),
    Spec("kernel.osrelease", "/proc/sys/kernel/osrelease", "file", SMALL_CAP, parse_first_line, ALL_SHAPES,
         "the kernel release: which modules.builtin applies"),
    Spec("kernel.proc_modules", "/proc/modules", "file", WHOLE, kmod.parse_proc_modules, ALL_SHAPES,
         "loaded modules; absent when the kernel has no loadable-module support"),
    Spec("kernel.sys_module", "/sys/module/vhost_net", "exists", None, None, ALL_SHAPES,
         "the module's sysfs directory (loaded or built in)"),
    Spec("kernel.dev", VHOST_NET_DEV, "stat", None, None, ALL_SHAPES,
         "the device node libvirt opens (misc 10:238)"),
    Spec("kernel.sys_class_misc", "/sys/class/misc/vhost-net/dev", "file", SMALL_CAP, parse_first_line, ALL_SHAPES,
         "the misc device's major:minor"),
    Spec("kernel.modprobe_d", MODPROBE_DIRS, "confdir", WHOLE, kmod.parse_modprobe_conf, ALL_SHAPES,
         "modprobe.d(5): blacklist, install, options, alias"),
    Spec("kernel.modprobe_conf", "/etc/modprobe.conf", "file", WHOLE, kmod.parse_modprobe_conf, ALL_SHAPES,
         "the legacy single modprobe configuration file"),
    Spec("kernel.modules_load_d", MODULES_LOAD_DIRS, "confdir", WHOLE, kmod.parse_modules_load, ALL_SHAPES,
         "modules-load.d(5): modules systemd loads at boot"),
    Spec("kernel.etc_modules", "/etc/modules", "file", WHOLE, kmod.parse_modules_load, ALL_SHAPES,
         "Debian's /etc/modules: modules loaded at boot"),
    Spec("kernel.sysconfig_modules", ("/etc/sysconfig/modules",), "confdir", WHOLE, kmod.parse_modules_script,
         ALL_SHAPES, "RHEL/Fedora boot scripts (*.modules, run at boot when executable): `modprobe -b vhost_net`"),
    Spec("config.qemu_kvm", "{defaults_file}", "file", WHOLE, parse_defaults, ALL_SHAPES,
         "VHOST_NET_ENABLED and the other qemu-kvm job settings"),
    Spec("kernel.cmdline", "/proc/cmdline", "file", 64 * KIB, kmod.parse_kernel_cmdline, ALL_SHAPES,
         "the kernel command line: modprobe.blacklist=, module_blacklist=, mod.param="),
)

# The module tree kmod resolves names in (needs the kernel release), read from the same base as modules.builtin.
INDEX_SPECS = (
    ("dep", "modules.dep", kmod.parse_modules_dep),
    ("alias", "modules.alias", kmod.parse_modules_alias),
    ("devname", "modules.devname", kmod.parse_modules_devname),
    ("softdep", "modules.softdep", kmod.parse_modprobe_conf),
    ("symbols", "modules.symbols", kmod.parse_modules_alias),
)

# Needs the kernel release: read after kernel.osrelease, first base that has it wins.
BUILTIN_SPECS = tuple(
    Spec("kernel.modules_builtin", base + "/{release}/modules.builtin", "file", WHOLE,
         kmod.parse_modules_builtin, ALL_SHAPES, "modules built into the kernel")
    for base in MODULES_BASES)

# libvirt's own files, per domain.
STATUS_SPEC = Spec("libvirt.status", "{qemu_run_dir}/{name}.xml", "file", WHOLE, domxml.parse_domain_xml,
                   ALL_SHAPES, "the live status file (<domstatus> with the qemu pid) of a running domain")
CONFIG_SPEC = Spec("libvirt.config", "{qemu_config_dir}/{name}.xml", "file", WHOLE, domxml.parse_domain_xml,
                   ALL_SHAPES, "the persistent definition of a domain")
LOG_SPEC = Spec("libvirt.qemu_log", "{qemu_log_dir}/{name}.log", "tail", LOG_TAIL_BYTES, qemulog.parse_qemu_log,
                ALL_SHAPES, "the domain's QEMU log: the argv of the last start and QEMU's vhost messages")
STATUS_DIR_SPEC = "{qemu_run_dir}"
CONFIG_DIR_SPEC = "{qemu_config_dir}"
# libvirtd's own log (the shape's first existing ``daemon_logs`` entry) and the Linux audit log (issue 10.3).
DAEMON_LOG_SPEC = Spec("libvirt.daemon_log", "{daemon_log}", "tail", LOG_TAIL_BYTES, qemulog.parse_libvirtd_log,
                       ALL_SHAPES, "libvirtd's warnings when it cannot open /dev/vhost-net (the fallback is silent)")
AUDIT_LOG_SPEC = Spec("audit.log", "/var/log/audit/audit.log", "tail", LOG_TAIL_BYTES, qemulog.parse_audit_log,
                      ALL_SHAPES, "libvirt's VIRT_RESOURCE records of every /dev/vhost-net open, res=failed included")

# Per qemu process (read by collect.collect_process; listed here so every source is in one place).
PROCESS_SPECS = (
    Spec("proc.comm", "/proc/{pid}/comm", "file", SMALL_CAP, parse_first_line, ALL_SHAPES, "the process name"),
    Spec("proc.cmdline", "/proc/{pid}/cmdline", "file", CMDLINE_CAP, None, ALL_SHAPES,
         "the qemu argv (NUL-separated), parsed once by parsers/qemuargv"),
    Spec("proc.fd", "/proc/{pid}/fd/*", "readlink", MAX_FDS, None, ALL_SHAPES,
         "fd link targets: /dev/vhost-net, /dev/net/tun"),
    Spec("proc.task_comm", "/proc/{pid}/task/*/comm", "file", SMALL_CAP, None, ALL_SHAPES,
         "thread names: vhost-<pid> workers"),
)


# What a sosreport keeps instead of /proc, /dev and the rest (sources/sosreport.py reads them; paths under
# the sosreport's root; alternatives in preference order: the first one the sosreport has wins). File
# names are sos's own (parsers/sos_ps.sos_command_filename, sos 3.0 to 4.x; see parsers/sos_ps.py).
def _sos_ps(name):
    return Spec("sos.ps", "/sos_commands/process/" + name, "file", WHOLE,
                functools.partial(sos_ps.parse_ps, form=name), ALL_SHAPES, "sos process plugin: %s" % name)


SOS_SPECS = {
    "ps": tuple(_sos_ps(name) for name in sos_ps.PS_FILES) + (
        Spec("sos.ps", "/ps", "file", WHOLE, sos_ps.parse_ps, ALL_SHAPES, "sos's root link to its ps output"),),
    "lsof": tuple(Spec("sos.lsof", "/sos_commands/process/" + sos_ps.sos_command_filename(cmd), "file", WHOLE,
                       sos_lsof.parse_lsof, ALL_SHAPES, "sos process plugin: %s" % cmd) for cmd in sos_lsof.COMMANDS)
    + (Spec("sos.lsof", "/lsof", "file", WHOLE, sos_lsof.parse_lsof, ALL_SHAPES, "sos's root link to lsof"),),
    "lsmod": tuple(Spec("sos.lsmod", path, "file", WHOLE, None, ALL_SHAPES, "sos kernel plugin: lsmod (raw text: "
                        "kmod's error when there is no /proc/modules)") for path in ("/sos_commands/kernel/lsmod",
                                                                                     "/lsmod")),
    "uname": tuple(Spec("sos.uname", path, "file", SMALL_CAP * 16, None, ALL_SHAPES, "sos kernel plugin: uname -a")
                   for path in ("/sos_commands/kernel/uname_-a", "/uname")),
    "misc": (Spec("sos.proc_misc", "/proc/misc", "file", WHOLE, sos_kernel.parse_proc_misc, ALL_SHAPES,
                  "sos kernel plugin's copy of /proc/misc: 238 vhost-net when the device is registered"),),
    "modinfo_dir": "/sos_commands/kernel",     # modinfo_ALL_MODULES (3.6+) or the mangled command (3.0-3.5)
    "hostname": tuple(Spec("sos.hostname", path, "file", SMALL_CAP * 16, parse_first_line, ALL_SHAPES,
                           "the node's name") for path in ("/hostname", "/sos_commands/general/hostname",
                                                            "/sos_commands/host/hostname", "/etc/hostname")),
    "version": (Spec("sos.version", "/version.txt", "file", SMALL_CAP * 16, None, ALL_SHAPES, "sos's version"),),
    "virsh_dirs": ("/sos_commands/virsh", "/sos_commands/libvirt"),
    # libvirt plugin: /run/libvirt/ (3.9+), /var/run/libvirt/ (3.6-3.8); logs incl. TripleO's container paths.
    "status_dirs": ("/run/libvirt/qemu", "/var/run/libvirt/qemu"),
    "log_dirs": ("/var/log/libvirt", "/var/log/containers/libvirt", "/var/log/containers"),
}


def expand(path, values):
    """A spec path with its ``{placeholders}`` filled; ``None`` when a value is missing or ``None``.

    >>> expand("{log_dir}/qemu/{name}.log", {"log_dir": "/var/log/libvirt", "name": "vm1"})
    '/var/log/libvirt/qemu/vm1.log'
    >>> expand("{defaults_file}", {"defaults_file": None}) is None
    True
    """
    try:
        return path.format(**values) if "{" in path else path
    except (KeyError, IndexError):
        return None
    except ValueError:
        return None


def _record(spec, path, status, reason=None, parsed=None, truncated=False):
    return {"source": spec.name, "path": path, "status": status, "reason": reason, "parsed": parsed,
            "truncated": truncated}


def _parse(spec, path, read):
    if spec.parser is None:
        return _record(spec, path, OK, parsed=read.text(), truncated=read.truncated)
    try:
        return _record(spec, path, OK, parsed=spec.parser(read.text()), truncated=read.truncated)
    except BinaryFile as exc:
        return _record(spec, path, "binary", reason="%s is %s" % (path, exc.message))
    except ParseError as exc:
        rec = _record(spec, path, "parse_error", reason="%s: %s" % (path, exc), truncated=read.truncated)
        rec["error"] = {"message": exc.message, "line": exc.line}
        return rec


def read_source(reader, spec, values=None):
    """Read and parse one spec (``file``/``tail``/``stat``/``exists``); never raises for the node's state."""
    path = expand(spec.path, values or {})
    if path is None:
        return _record(spec, None, "not_applicable",
                       reason="%s has no path on this deployment shape" % spec.name)
    if spec.kind == "exists":
        return _record(spec, path, OK, parsed=reader.exists(path))
    if spec.kind == "stat":
        return _record(spec, path, OK, parsed=None)   # the caller stats (follow rules depend on the mode)
    if spec.kind == "tail":
        read = reader.read_tail(path, spec.cap)
    else:
        read = reader.read(path, max_bytes=spec.cap)
    if read.status == MISSING and reader.exists(path):
        link = reader.readlink(path)
        return _record(spec, path, "dangling", reason="%s is a symbolic link to %s, which does not exist"
                       % (path, link.data if link.ok else "?"))
    if not read.ok:
        return _record(spec, path, read.status, reason=read.reason)
    return _parse(spec, path, read)


# The file names a confdir source reads (default ``*.conf``).
CONFDIR_SUFFIX = {"kernel.sysconfig_modules": ".modules"}
# Confdir sources whose files run only when executable: each record gets ``executable``.
CONFDIR_EXECUTABLE = ("kernel.sysconfig_modules",)


def read_confdir(reader, spec, suffix=None):
    """A systemd-style .d directory set: every effective file, parsed, in effective order.

    Returns ``{"source", "dirs", "files": [record], "errors": [str]}``; for the scripts of
    CONFDIR_EXECUTABLE each record also says ``executable`` (True, False, None: could not tell).
    """
    suffix = suffix or CONFDIR_SUFFIX.get(spec.name, ".conf")
    listing = []
    errors = []
    for directory in spec.path:
        read = reader.listdir(directory)
        if read.ok:
            listing.append((directory, [n for n in read.data if n.endswith(suffix)]))
        else:
            if read.status != MISSING:
                errors.append(read.reason)
            listing.append((directory, []))
    files = []
    for directory, name in kmod.effective_conf_files(listing, **({} if suffix == ".conf" else {"suffixes": (suffix,)})):
        file_spec = spec._replace(path="%s/%s" % (directory, name), kind="file")
        rec = read_source(reader, file_spec)
        if rec["status"] not in (OK, MISSING) and rec.get("reason"):
            errors.append(rec["reason"])
        if spec.name in CONFDIR_EXECUTABLE and rec["status"] == OK:
            st = reader.stat(file_spec.path)
            rec["executable"] = bool(st.data.st_mode & 0o111) if st.ok else None
        files.append(rec)
    return {"source": spec.name, "dirs": list(spec.path), "files": files, "errors": errors}
