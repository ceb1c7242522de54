"""Capture what the audit reads on a node into a snapshot archive (library/node_collect.py).

The capture runs the audit's own collector (``collect.collect``) over a
``RecordingReader``: the same confinement and size caps, the same paths, no
list of its own that could drift from what the audit reads. Every read,
listing, readlink and stat is recorded with its outcome; the archive holds
what was found, the manifest also what was missing and why.

Kept out, on purpose:
- ``/proc/<pid>/...`` of processes that are not the qemu of a domain or an
  unclaimed qemu (the collector reads every process's ``comm`` to find them:
  the other names are nobody's business);
- device nodes: ``/dev/vhost-net`` becomes an empty regular file (the archive
  extractor refuses device files) and the manifest says what it was
  (``char 10:238``); it is written only when the live audit counted it as
  present.

Secrets are redacted at capture with the reports' rules, the one redactor
(nodeaudit.redact): each qemu argv element through ``qemuargv.redact_argv``
(which calls it); text files (QEMU logs, /etc files) line by line through
``redact_text``; domain XML element by element (attribute values and text
through ``redact_text``; ``passwd``/``password`` attributes and everything of a
``<secret>`` but its kind blanked: structure the free-text rules cannot see).

The host name of a live node comes from ``socket.gethostname()``; the
snapshot's ``etc/hostname`` is written from it (the manifest says so).
"""
import base64
import io
import json
import os
import re
import stat
import tarfile
import time
import xml.etree.ElementTree as ET

from .. import caps, redact
from ..parsers import qemuargv
from . import collect as collect_mod
from . import deployment
from .reader import RootReader
from .specs import LOG_TAIL_BYTES, VHOST_NET_DEV

FORMAT = "nodeaudit-snapshot"
FORMAT_VERSION = 1
MANIFEST = "MANIFEST.json"
DEFAULT_MAX_ARCHIVE = 64 * 1024 * 1024
_PROC_PID = re.compile(r"^/proc/([0-9]+)(/|$)")
_SECRET_ATTRS = frozenset(("passwd", "password"))
_SECRET_KIND_ATTRS = frozenset(("type", "ephemeral", "private"))


class RecordingReader(RootReader):
    """A RootReader that remembers every outcome (live node only)."""

    def __init__(self, root="/", max_bytes=None, budget=None):
        RootReader.__init__(self, root, max_bytes or caps.MAX_FILE_BYTES, budget=budget)
        self.files = {}       # node path -> bytes (whole file)
        self.tails = {}       # node path -> (text, truncated)
        self.dirs = set()
        self.links = {}       # node path -> target
        self.stats = {}       # node path -> (kind, rdev)
        self.executable = set()   # node paths of executable files that were stat-ed (kept 0755 in the tar)
        self.missing = {}     # node path -> (status, reason)

    def _miss(self, result):
        if not result.ok and result.path not in self.missing:
            self.missing[result.path] = (result.status, result.reason)
        return result

    def read(self, node_path, binary=False, max_bytes=None):
        result = RootReader.read(self, node_path, binary=True, max_bytes=max_bytes)
        if result.ok:
            self.files[node_path] = result.data
            if not binary:
                result.data = result.data.decode("utf-8", "surrogateescape")
        return self._miss(result)

    def read_tail(self, node_path, max_bytes):
        result = RootReader.read_tail(self, node_path, max_bytes)
        if result.ok:
            self.tails[node_path] = (result.data, result.truncated)
        return self._miss(result)

    def listdir(self, node_path):
        result = RootReader.listdir(self, node_path)
        if result.ok:
            self.dirs.add(node_path.rstrip("/") or "/")
        return self._miss(result)

    def readlink(self, node_path):
        result = RootReader.readlink(self, node_path)
        if result.ok:
            self.links[node_path] = result.data
        return self._miss(result)

    def stat(self, node_path, follow=True):
        result = RootReader.stat(self, node_path, follow=follow)
        if result.ok:
            mode = result.data.st_mode
            kind = ("char" if stat.S_ISCHR(mode) else "dir" if stat.S_ISDIR(mode) else "file"
                    if stat.S_ISREG(mode) else "link" if stat.S_ISLNK(mode) else "other")
            rdev = "%d:%d" % (os.major(result.data.st_rdev), os.minor(result.data.st_rdev)) \
                if kind == "char" else None
            self.stats.setdefault(node_path, (kind, rdev))
            if kind == "file" and mode & 0o111:
                self.executable.add(node_path)
        return self._miss(result)


# -- redaction (the reports' rules) ----------------------------------------

def redact_cmdline(data):
    argv = qemuargv.split_cmdline(data)
    if not argv:
        return data
    return ("\x00".join(qemuargv.redact_argv(argv)) + "\x00").encode("utf-8", "surrogateescape")


def redact_text(text):
    """Every line through the one redactor (nodeaudit.redact.redact_text); line ends kept as they were."""
    return "\n".join(redact.redact_text(line) if line.strip() else line for line in text.split("\n"))


def redact_xml(text):
    """Domain / status XML with secret attribute values and secret-looking values hidden.

    Returns ``(text, None)`` or ``(None, why)`` when the XML cannot be parsed (then
    nothing of it is kept: what cannot be read cannot be redacted).
    """
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        return None, "has a DOCTYPE or ENTITY declaration"
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return None, "is not well-formed XML (%s)" % exc
    _redact_elem(root, False)
    return ET.tostring(root, encoding="unicode"), None


def _redact_elem(elem, in_secret):
    """Attribute values and text through redact_value; everything of a <secret> hidden but its kind."""
    tag = elem.tag.rsplit("}", 1)[-1].lower() if isinstance(elem.tag, str) else ""
    in_secret = in_secret or tag == "secret"
    for name in list(elem.attrib):
        local = name.rsplit("}", 1)[-1].lower()
        if local in _SECRET_ATTRS or (in_secret and local not in _SECRET_KIND_ATTRS):
            elem.attrib[name] = redact.REDACTED
        else:
            elem.attrib[name] = redact.redact_text(elem.attrib[name])
    if elem.text and elem.text.strip():
        elem.text = redact.REDACTED if in_secret else redact_text(elem.text)
    for child in elem:
        _redact_elem(child, in_secret)
        if child.tail and child.tail.strip():
            child.tail = redact.REDACTED if in_secret else redact_text(child.tail)


def _redact(path, data):
    """(bytes, how) for one captured file."""
    if path.endswith("/cmdline") and path.startswith("/proc/"):
        return redact_cmdline(data), "argv"
    if path.startswith("/proc/") or path.startswith("/sys/"):
        return data, None
    text = data.decode("utf-8", "surrogateescape")
    if path.endswith(".xml"):
        redacted, why = redact_xml(text)
        if redacted is None:
            return ("<!-- not captured: %s %s, so it could not be redacted -->\n" % (path, why)).encode(), "dropped"
        return redacted.encode("utf-8", "surrogateescape"), "xml"
    return redact_text(text).encode("utf-8", "surrogateescape"), "text"


# -- the capture ----------------------------------------------------------------

def _kept_pids(facts):
    pids = set()
    for dom in facts.get("domains") or []:
        if dom.get("process") and dom.get("pid"):
            pids.add(int(dom["pid"]))
    for proc in facts.get("orphan_qemu") or []:
        pids.add(int(proc["pid"]))
    return pids


def _keep(path, pids):
    m = _PROC_PID.match(path)
    return m is None or int(m.group(1)) in pids


def capture(libvirt_uri="qemu:///system", use_libvirt=True, max_bytes=None, log_tail_bytes=None,
            max_archive=DEFAULT_MAX_ARCHIVE, now=None, root="/", budget=None):
    """Collect the live node and pack what was read. Returns ``(archive_bytes, manifest)``."""
    reader = RecordingReader(root, max_bytes=max_bytes, budget=budget)
    facts = collect_mod.collect(root=root, libvirt_uri=libvirt_uri, use_libvirt=use_libvirt,
                                max_bytes=max_bytes, log_tail_bytes=log_tail_bytes or LOG_TAIL_BYTES,
                                reader=reader)
    # What the audit of the copy reads when libvirt is not there: its own files.
    shape = (facts.get("deployment") or {}).get("shape") or deployment.DEFAULT_SHAPE
    collect_mod.domains_from_files(reader, deployment.layout(shape))
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    host = facts.get("hostname") or "node"
    top = "%s-%s" % (re.sub(r"[^A-Za-z0-9._-]", "_", host)[:64], stamp)
    pids = _kept_pids(facts)

    entries = {}          # relative path -> ("dir"|"file"|"link", payload)
    read_list = []
    notes = []

    def add_dirs(rel):
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if entries.get(d, ("dir",))[0] != "dir":
                return False
            entries.setdefault(d, ("dir", None))
        return True

    for path in sorted(reader.dirs):
        if path == "/" or not _keep(path, pids):
            continue
        rel = path.lstrip("/")
        if add_dirs(rel + "/x"):
            entries.setdefault(rel, ("dir", None))
    budget = max_archive
    omitted = []
    sources = [(p, d, "file", None) for p, d in reader.files.items()] + \
              [(p, t.encode("utf-8", "surrogateescape"), "tail", trunc) for p, (t, trunc) in reader.tails.items()]
    for path, data, kind, truncated in sorted(sources, key=lambda s: s[0]):
        if not _keep(path, pids):
            continue
        data, how = _redact(path, data)
        if len(data) > budget:
            omitted.append(path)
            continue
        rel = path.lstrip("/")
        if not add_dirs(rel) or rel in entries:
            continue
        budget -= len(data)
        entries[rel] = ("exec" if path in reader.executable else "file", data)
        item = {"path": path, "bytes": len(data), "redacted": how}
        if kind == "tail":
            item["tail"] = True
            item["start_cut"] = bool(truncated)
        read_list.append(item)
    for path, target in sorted(reader.links.items()):
        if not _keep(path, pids):
            continue
        rel = path.lstrip("/")
        if add_dirs(rel) and rel not in entries:
            entries[rel] = ("link", target)
            read_list.append({"path": path, "link": target})
    dev = (facts.get("kernel") or {}).get("dev") or {}
    for path, (kind, rdev) in sorted(reader.stats.items()):
        rel = path.lstrip("/")
        if rel in entries or not _keep(path, pids):
            continue
        if kind == "dir":
            if add_dirs(rel + "/x"):
                entries[rel] = ("dir", None)
            continue
        if path == VHOST_NET_DEV and not dev.get("present"):
            notes.append("%s is %s%s on the node, which the audit does not count as the vhost-net device: "
                         "not recorded" % (path, kind, " " + rdev if rdev else ""))
            continue
        if add_dirs(rel):
            entries[rel] = ("file", b"")
            read_list.append({"path": path, "stat": kind, "rdev": rdev, "placeholder": True})
            notes.append("%s was a %s%s: recorded as an empty file (archives carry no device files)"
                         % (path, kind, " " + rdev if rdev else ""))
    hostname = (host + "\n").encode("utf-8", "surrogateescape")
    if "etc/hostname" not in entries and add_dirs("etc/hostname"):
        entries["etc/hostname"] = ("file", hostname)
        notes.append("etc/hostname written from the live host name (socket.gethostname())")
    if omitted:
        notes.append("%d file(s) left out: the archive reached its %d-byte cap (%s)"
                     % (len(omitted), max_archive, ", ".join(omitted[:10])))
    missing = [{"path": p, "status": s, "reason": r} for p, (s, r) in sorted(reader.missing.items())
               if _keep(p, pids)]
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "host": host, "collected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "top": top,
        "versions": facts.get("versions") or {},
        "sources": facts.get("sources") or {},
        "caps": {"max_file_size": reader.max_bytes, "log_tail_bytes": log_tail_bytes or LOG_TAIL_BYTES,
                 "max_archive": max_archive},
        "qemu_pids": sorted(pids),
        "read": read_list,
        "missing": missing,
        "omitted": omitted,
        "timed_out": list(reader.timed_out[:50]),
        "notes": notes,
        "redaction": "qemu argv, QEMU logs, /etc files and domain XML through the reports' redaction "
                     "(nodeaudit.redact)",
    }
    reader.close()
    return pack(top, entries, manifest, now), manifest


def pack(top, entries, manifest, now):
    """A .tar.gz of ``top/`` with the entries and the manifest, deterministic order, no owners."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(rel, kind, payload):
            info = tarfile.TarInfo("%s/%s" % (top, rel) if rel else top)
            info.mtime = int(now)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, payload, 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o755 if kind == "exec" else 0o644
                tar.addfile(info, io.BytesIO(payload))
        add("", "dir", None)
        for rel in sorted(entries):
            add(rel, *entries[rel])
        add(MANIFEST, "file", (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return buf.getvalue()


def encode(data):
    return base64.b64encode(data).decode("ascii")


def read_manifest(root):
    """The manifest of an extracted snapshot, or None."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    try:
        with open(path, "r", encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == FORMAT else None

