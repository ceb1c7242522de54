"""The facts: what ``collect`` returns, its schema, and the one way tests build them.

Schema (every key is always present; a source that could not be read is a
record with its ``status`` and ``reason``, never a missing key)::

    Facts = {
      "mode": "live" | "snapshot", "root": str, "hostname": str | None,
      "errors": [str], "versions": {"kernel", "qemu", "libvirt"},
      "deployment": {"shape", "evidence": [str], "overridden": bool, "layout": Layout},   # sources/deployment.py
      "sources": {"domains": "libvirt" | "status_files" | "snapshot", "domains_reason": str | None,
                  "processes": "/proc", "root": str, "deployment": {...}},
      "qemu_kvm": Record,                       # specs "config.qemu_kvm"; parsed: shellvars result
      "kernel": {
        "release": str | None,
        "proc_modules": Record,                 # parsed: kmod.parse_proc_modules
        "builtin": Record,                      # parsed: [module names]
        "sys_module": bool, "sys_class_misc": str | None,
        "dev": {"path", "present": bool | None, "kind", "rdev", "reason"},
        "modprobe_d": ConfDir, "modprobe_conf": Record,         # parsed: kmod.parse_modprobe_conf
        "modules_load_d": ConfDir, "etc_modules": Record,       # parsed: kmod.parse_modules_load
        "sysconfig_modules": ConfDir,   # parsed: kmod.parse_modules_script; each file also "executable"
      },
      "domains": [Domain], "orphan_qemu": [Process], "domains_error"?: str,
    }
    Record  = {"source", "path", "status", "reason", "parsed", "truncated", "error"?}   # specs.read_source
    ConfDir = {"source", "dirs": [str], "files": [Record], "errors": [str]}            # specs.read_confdir
    Domain  = {"name", "uuid", "state", "pid", "xml": domxml result | None, "xml_source", "xml_error",
               "pid_source"?, "state_source"?, "process": Process | None, "log": Record | None}
    Process = {"pid", "status", "reason", "argv_source", "argv": [str] | None,
               "parsed": qemuargv result | None, "fds": int | None, "fd_reason",
               "vhost_fds": [int], "tun_fds": [int], "vhost_threads": [str] | None}

``node(files=..., ...)`` builds facts the way ``collect`` does, from literal
file contents, by running the real collector over an in-memory node: tests
never hand-write fact dicts.
"""
import os
import stat as _stat

from . import collect as _collect
from . import deployment, specs
from .reader import MISSING, NOT_FILE, OK, Read


class MemoryReader(object):
    """The reader interface (``reader.RootReader``) over ``{node path: text | bytes | DEVICE | LINK(target)}``."""

    live = False
    root = "/memory"

    def __init__(self, files, max_bytes=specs.DEFAULT_CAP):
        self.max_bytes = max_bytes
        self.files = dict(files)
        self.dirs = set()
        for path in self.files:
            parts = path.strip("/").split("/")
            for i in range(len(parts)):
                self.dirs.add("/" + "/".join(parts[:i]) if i else "/")

    def read(self, node_path, binary=False, max_bytes=None):
        data = self.files.get(node_path)
        if data is None:
            if node_path in self.dirs:
                return Read(node_path, NOT_FILE, reason="%s is a directory, not a file" % node_path)
            return Read(node_path, MISSING, reason="%s does not exist" % node_path)
        if isinstance(data, Unreadable):
            return Read(node_path, data.status, reason="%s: %s" % (node_path, data.reason))
        if isinstance(data, (Device, Link)):
            return Read(node_path, NOT_FILE, reason="%s is not a regular file" % node_path)
        max_bytes = self.max_bytes if max_bytes is None else max_bytes
        if len(data) > max_bytes:
            return Read(node_path, "too_large", reason="%s is larger than the %d-byte cap: not read"
                        % (node_path, max_bytes))
        if binary and isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if not binary and isinstance(data, bytes):
            data = data.decode("utf-8", "surrogateescape")
        return Read(node_path, OK, data)

    def read_tail(self, node_path, max_bytes):
        return self.read(node_path)

    def listdir(self, node_path):
        prefix = node_path.rstrip("/") + "/"
        if node_path not in self.dirs:
            return Read(node_path, MISSING, reason="%s does not exist" % node_path)
        names = sorted(set(p[len(prefix):].split("/")[0] for p in self.files if p.startswith(prefix)))
        return Read(node_path, OK, names)

    def readlink(self, node_path):
        data = self.files.get(node_path)
        if isinstance(data, Link):
            return Read(node_path, OK, data.target)
        return Read(node_path, MISSING if data is None else NOT_FILE, reason="%s is not a link" % node_path)

    def stat(self, node_path, follow=True):
        data = self.files.get(node_path)
        if data is None:
            if node_path in self.dirs:
                return Read(node_path, OK, os.stat_result((_stat.S_IFDIR | 0o755,) + (0,) * 9))
            return Read(node_path, MISSING, reason="%s does not exist" % node_path)
        if isinstance(data, Unreadable):
            return Read(node_path, data.status, reason="%s: %s" % (node_path, data.reason))
        if isinstance(data, Device):
            return Read(node_path, OK, _DeviceStat(data))
        mode = 0o755 if isinstance(data, Executable) else 0o644
        return Read(node_path, OK, os.stat_result((_stat.S_IFREG | mode,) + (0,) * 9))

    def exists(self, node_path):
        return node_path in self.files or node_path in self.dirs


class Executable(str):
    """A regular file with its execute bits set (mode 0755) in a ``MemoryReader``; its text as a str."""


class Device(object):
    """A character device node in a ``MemoryReader`` (``major:minor``)."""

    def __init__(self, major=10, minor=238):
        self.major, self.minor = major, minor


class Unreadable(object):
    """A path the reader cannot read (``status`` as the reader says it: ``denied``, ``error``, ...)."""

    def __init__(self, status="denied", reason="Permission denied"):
        self.status, self.reason = status, reason


class Link(object):
    def __init__(self, target):
        self.target = target


class _DeviceStat(object):
    def __init__(self, dev):
        self.st_mode = _stat.S_IFCHR | 0o666
        self.st_rdev = os.makedev(dev.major, dev.minor)


def process(argv, pid=100, vhost_fds=(), fds=True, threads=None, status=OK, reason=None):
    """A qemu process record as ``collect.collect_process`` makes it (argv parsed once)."""
    from ..parsers import qemuargv
    return {"pid": pid, "status": status, "reason": reason, "argv_source": "/proc/%d/cmdline" % pid,
            "argv": argv, "parsed": qemuargv.parse_qemu_argv(argv) if argv else None,
            "fds": 10 if fds else None, "fd_reason": None if fds else "denied", "vhost_fds": list(vhost_fds),
            "tun_fds": [], "vhost_threads": threads if threads is not None
            else (["vhost-%d" % pid] if vhost_fds else [])}


def log_record(path, messages=(), argv=None):
    """A parsed QEMU log record (``specs.LOG_SPEC``): vhost messages ``[(line, text)]``, the last start's argv."""
    parsed = {"starts": 1 if argv else 0, "last_start": {"argv": argv} if argv else None,
              "vhost_messages": [{"line": line, "text": text} for line, text in messages]}
    return {"source": "libvirt.qemu_log", "path": path, "status": OK, "reason": None, "parsed": parsed,
            "truncated": False}


def domain(name="vm1", uuid="u", state="running", pid=100, proc=None, xml=None, log=None, xml_error=None):
    """A domain record as ``collect`` makes it."""
    return {"name": name, "uuid": uuid, "state": state, "pid": pid, "xml": xml, "xml_source": "test",
            "xml_error": xml_error, "process": proc, "log": log}


def iface(mac, model="virtio", type="ethernet", driver_name=None, queues=None, alias="net0", target_dev="tap0"):
    """One ``<interface>`` as ``domxml.parse_domain_xml`` returns it."""
    return {"type": type, "mac": mac, "model": model, "driver_name": driver_name, "queues": queues,
            "target_dev": target_dev, "alias": alias, "source": {}}


def xml(name="vm1", uuid="u", type="kvm", interfaces=()):
    return {"name": name, "uuid": uuid, "type": type, "interfaces": list(interfaces), "status": None, "nova": None}


MODULES_VHOST = "vhost_net 32768 1 - Live 0x0\nvhost 57344 1 vhost_net, Live 0x0\ntun 61440 3 vhost_net, Live 0x0\n"
MODULES_NONE = "tun 61440 3 - Live 0x0\n"
DEFAULT_1 = "# qemu-kvm defaults\nKSM_ENABLED=1\nVHOST_NET_ENABLED=1\n"


def node(files=None, mode="snapshot", hostname="node1", release="5.4.0", domains=(), orphans=(), shape=None,
         dev=True, sources=None, **extra):
    """Facts of a node whose files are ``files`` (``{node path: text}``), collected by the real code.

    ``dev``: ``True`` (a misc 10:238 node), ``False`` (absent) or a ``Device``.
    The default node is compliant: VHOST_NET_ENABLED=1, vhost_net loaded, /dev/vhost-net present.
    A file given as ``None`` is removed from the defaults.
    """
    tree = {"/etc/hostname": hostname + "\n", "/proc/sys/kernel/osrelease": release + "\n",
            "/proc/modules": MODULES_VHOST, "/etc/default/qemu-kvm": DEFAULT_1,
            "/lib/modules/%s/modules.builtin" % release: "kernel/drivers/net/tun.ko\n",
            "/sys/module/vhost_net/refcnt": "1\n"}
    if dev:
        tree["/dev/vhost-net"] = dev if isinstance(dev, Device) else Device()
    for path, text in (files or {}).items():
        if text is None:
            tree.pop(path, None)
            if path == "/sys/module/vhost_net":
                tree.pop("/sys/module/vhost_net/refcnt", None)
        else:
            tree[path] = text
    reader = MemoryReader(tree)
    shape_info = deployment.detect(reader, shape)
    layout = deployment.layout(shape_info["shape"])
    raw = _collect.collect_node_sources(reader, layout, live=False)
    facts = {"mode": mode, "root": reader.root, "hostname": hostname, "errors": [], "versions": {"kernel": release},
             "deployment": dict(shape_info, layout=dict((k, layout[k]) for k in deployment.LAYOUT_KEYS)),
             "sources": sources or {"domains": mode, "domains_reason": None, "processes": "/proc",
                                    "root": reader.root},
             "qemu_kvm": raw["config.qemu_kvm"], "kernel": _collect.kernel_facts(raw),
             "domains": list(domains), "orphan_qemu": list(orphans)}
    facts.update(extra)
    return facts


__all__ = ["MemoryReader", "Device", "Link", "Unreadable", "node", "process", "domain", "iface", "xml", "log_record",
           "MODULES_VHOST", "MODULES_NONE", "DEFAULT_1", "specs"]
