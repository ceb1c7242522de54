"""libvirt's per-domain QEMU log: ``/var/log/libvirt/qemu/<name>.log``.

Every start of the domain appends a block::

    2022-02-10 16:18:04.843+0000: starting up libvirt version: 6.0.0, package: ..., qemu version: 4.2.1Debian ..., kernel: 5.4.0-97-generic, hostname: compute4
    LC_ALL=C \\
    /usr/bin/qemu-system-x86_64 \\
    -netdev tap,fd=35,id=hostnet0,vhost=on,vhostfd=36 \\
    ...
    <runtime messages>

The last start is the one that runs now. QEMU says so in the log when a NIC
does not get vhost-net ("falling back on userspace virtio", "vhost-net
requested but could not be initialized", ...).

Pure: text in, plain data out. The argv, the env and every message are returned redacted
(``nodeaudit.redact``).
"""
import re

from .. import redact
from ..errors import ParseError
from .qemuargv import redact_argv, split_shell_args, _cap

_START = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r": starting up(?P<rest>.*)$")
_LIBVIRT = re.compile(r"libvirt version: ([^,\s]+)")
_QEMU = re.compile(r"qemu version: (.*?)(?:, kernel: |, hostname: |$)")
_KERNEL = re.compile(r"kernel: ([^,\s]+)")
_HOSTNAME = re.compile(r"hostname: ([^,\s]+)")

VHOST_PATTERNS = (
    "falling back on userspace virtio",
    "vhost-net requested but could not be initialized",
    "vhost-net support is not compiled in",
    "unable to start vhost net",
    "open vhost char device failed",
)
MAX_ARGV_LINES = 5000


def _field(regex, text):
    m = regex.search(text)
    return m.group(1).strip() if m else None


def _continues(line):
    """True when the line ends with an unescaped backslash (a continuation)."""
    stripped = line.rstrip("\r")
    count = len(stripped) - len(stripped.rstrip("\\"))
    return count % 2 == 1


def parse_qemu_log(text):
    """Read a libvirt per-domain qemu log; report the last start.

    ``starts`` counts ``starting up`` lines; ``last_start`` has the versions,
    the env and the (redacted) argv of the last one; ``vhost_messages`` are
    the lines after it (or in the whole text when no start is logged) that
    say a NIC does not use vhost-net. Line numbers are 1-based.

    Sample input::

        2022-02-10 16:18:04.843+0000: starting up libvirt version: 6.0.0, qemu version: 4.2.1Debian 1:4.2-3ubuntu6.19, kernel: 5.4.0-97-generic, hostname: compute4
        LC_ALL=C \\
        /usr/bin/qemu-system-x86_64 \\
        -netdev tap,fd=21,id=hostnet0,vhost=on,vhostfd=22
        qemu-system-x86_64: -netdev tap,fd=21,id=hostnet0,vhost=on,vhostfd=22: vhost-net requested but could not be initialized

    >>> log = ("2022-02-10 16:18:04.843+0000: starting up libvirt version: 6.0.0, "
    ...        "qemu version: 4.2.1Debian 1:4.2-3ubuntu6.19, kernel: 5.4.0-97-generic, hostname: compute4\\n"
    ...        "LC_ALL=C \\\\\\n/usr/bin/qemu-system-x86_64 \\\\\\n"
    ...        "-netdev tap,fd=21,id=hostnet0,vhost=on,vhostfd=22\\n"
    ...        "qemu-system-x86_64: -netdev tap,fd=21,id=hostnet0,vhost=on,vhostfd=22: "
    ...        "vhost-net requested but could not be initialized\\n")
    >>> r = parse_qemu_log(log)
    >>> r["starts"], r["last_start"]["qemu_version"], r["last_start"]["kernel"]
    (1, '4.2.1Debian 1:4.2-3ubuntu6.19', '5.4.0-97-generic')
    >>> r["last_start"]["env"], r["last_start"]["argv"][-1]
    ({'LC_ALL': 'C'}, 'tap,fd=21,id=hostnet0,vhost=on,vhostfd=22')
    >>> [m["line"] for m in r["vhost_messages"]]
    [5]
    >>> parse_qemu_log("")
    {'starts': 0, 'last_start': None, 'vhost_messages': []}
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        raise ParseError("qemu log must be text, not %s" % type(text).__name__)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    starts = 0
    last = None
    for number, line in enumerate(lines):
        if _START.match(line.rstrip("\r")):
            starts += 1
            last = number

    result = {"starts": starts, "last_start": None, "vhost_messages": []}
    scan_from = 0
    if last is not None:
        m = _START.match(lines[last].rstrip("\r"))
        rest = m.group("rest")
        block = []
        k = last + 1
        while k < len(lines) and len(block) < MAX_ARGV_LINES:
            block.append(lines[k])
            k += 1
            if not _continues(lines[k - 1]):
                break
        split = split_shell_args("\n".join(block), strict=False) if block else \
            {"env": {}, "argv": []}
        result["last_start"] = {
            "line": last + 1,
            "timestamp": m.group("ts"),
            "libvirt_version": _field(_LIBVIRT, rest),
            "qemu_version": _field(_QEMU, rest),
            "kernel": _field(_KERNEL, rest),
            "hostname": _field(_HOSTNAME, rest),
            "env": dict((k, redact.REDACTED if redact.is_secret_key(k) else redact.redact_text(v))
                        for k, v in split["env"].items()),
            "argv": redact_argv(split["argv"]),
        }
        scan_from = k

    for number in range(scan_from, len(lines)):
        low = lines[number].lower()
        if any(p in low for p in VHOST_PATTERNS):
            result["vhost_messages"].append({
                "line": number + 1,
                # Free text (a line may start with "-", quote JSON, a URL, rbd:...:key=): the one redactor.
                "text": _cap(redact.redact_text(lines[number].rstrip("\r"))),
            })
    return result


# -- libvirtd's own log and the Linux audit log --------------------------------

_LIBVIRTD_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?): (?P<tid>\d+): "
    r"(?P<level>[a-z]+) : (?P<func>[A-Za-z0-9_]+)(?::(?P<lineno>\d+))? : (?P<msg>.*)$")
_VHOST_OPEN = re.compile(r"Unable to open vhost-net\. Opened so far (\d+), requested (\d+)")
_VHOST_REQUIRED = re.compile(r"vhost-net was requested for an interface, but is unavailable")


def parse_libvirtd_log(text):
    """libvirtd's own log (``/var/log/libvirt/libvirtd.log``, ``virtqemud.log``, or a container's copy).

    libvirt opens ``/dev/vhost-net`` itself and passes the fd to QEMU; when
    the open fails it falls back to userspace with only a warning
    (``qemuInterfaceOpenVhostNet``), and the warning does not name the domain.
    With ``<driver name='vhost'/>`` it is an error instead and the domain does
    not start.

    Sample input::

        2024-03-01 10:00:00.123+0000: 2211: warning : qemuInterfaceOpenVhostNet:716 : Unable to open vhost-net. Opened so far 0, requested 1
        2024-03-01 10:00:05.001+0000: 2211: error : qemuInterfaceOpenVhostNet:705 : vhost-net was requested for an interface, but is unavailable

    Returns ``{"vhost_open_failed": [{"line", "timestamp", "opened", "requested", "required", "text"}]}``.

    >>> r = parse_libvirtd_log("2024-03-01 10:00:00.123+0000: 2211: warning : qemuInterfaceOpenVhostNet:716 : "
    ...                        "Unable to open vhost-net. Opened so far 0, requested 1\\nnoise\\n")
    >>> e = r["vhost_open_failed"][0]
    >>> e["line"], e["timestamp"], e["opened"], e["requested"], e["required"]
    (1, '2024-03-01 10:00:00.123+0000', 0, 1, False)
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        raise ParseError("libvirtd log must be text, not %s" % type(text).__name__)
    out = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if "vhost-net" not in line:
            continue
        m = _LIBVIRTD_LINE.match(line)
        msg = m.group("msg") if m else line
        opened = _VHOST_OPEN.search(msg)
        required = _VHOST_REQUIRED.search(msg)
        if not (opened or required):
            continue
        out.append({"line": number, "timestamp": m.group("ts") if m else None,
                    "opened": int(opened.group(1)) if opened else 0,
                    "requested": int(opened.group(2)) if opened else None,
                    "required": bool(required), "text": _cap(line)})
    return {"vhost_open_failed": out}


_AUDIT_TIME = re.compile(r"msg=audit\((\d+(?:\.\d+)?):(\d+)\)")
_AUDIT_FIELD = re.compile(r"""([A-Za-z_]+)=("[^"]*"|'[^']*'|[^\s']*)""")


def _audit_value(raw):
    """An audit field value: "quoted" as is, else hex-encoded (virAuditEncode / auditd)."""
    if raw is None:
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw and len(raw) % 2 == 0 and re.match(r"[0-9A-Fa-f]+\Z", raw) and raw not in ("?",):
        try:
            decoded = bytes.fromhex(raw).decode("utf-8")
            if decoded.isprintable():
                return decoded
        except (ValueError, UnicodeDecodeError):
            pass
    return raw


def parse_audit_log(text):
    """libvirt's ``VIRT_RESOURCE`` records about ``/dev/vhost-net`` in the Linux audit log.

    libvirt records every vhost-net open (``virDomainAuditNetDevice``) with
    the domain, its uuid and the NIC's MAC; ``res=failed`` is the open that
    failed: that NIC runs in userspace.

    Sample input (``/var/log/audit/audit.log``)::

        type=VIRT_RESOURCE msg=audit(1709287200.123:812): pid=2211 uid=0 auid=4294967295 ses=4294967295 msg='virt=kvm resrc=net reason=open vm="instance-00000001" uuid=5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e net=fa:16:3e:11:22:33 path="/dev/vhost-net" rdev=0A:EE exe="/usr/sbin/libvirtd" hostname=? addr=? terminal=? res=failed'

    Returns ``{"records": [{"line", "time", "serial", "vm", "uuid", "mac", "path", "success", "text"}]}``
    for ``resrc=net reason=open`` records whose path is ``/dev/vhost-net``.

    >>> r = parse_audit_log("type=VIRT_RESOURCE msg=audit(1709287200.123:812): pid=2211 uid=0 msg='virt=kvm "
    ...   "resrc=net reason=open vm=\\"instance-00000001\\" uuid=5d0c1a5e-8f55-4a55-9d8b-2c4a2f1c7f0e "
    ...   "net=fa:16:3e:11:22:33 path=\\"/dev/vhost-net\\" rdev=0A:EE exe=\\"/usr/sbin/libvirtd\\" res=failed'\\n")
    >>> rec = r["records"][0]
    >>> rec["vm"], rec["mac"], rec["success"], rec["time"]
    ('instance-00000001', 'fa:16:3e:11:22:33', False, 1709287200.123)
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        raise ParseError("audit log must be text, not %s" % type(text).__name__)
    out = []
    for number, raw in enumerate(text.split("\n"), 1):
        if "resrc=net" not in raw or "reason=open" not in raw:
            continue
        fields = {}
        for key, value in _AUDIT_FIELD.findall(raw):
            if key == "msg" and value.startswith("'"):
                for k2, v2 in _AUDIT_FIELD.findall(value[1:-1] if value.endswith("'") else value[1:]):
                    fields.setdefault(k2, v2)
            else:
                fields.setdefault(key, value)
        # The inner msg='...' holds a quoted value with blanks: read it again from the raw text.
        inner = re.search(r"msg='(.*)'\s*$", raw.rstrip("\r")) or re.search(r"msg='([^']*)'?", raw)
        if inner:
            for k2, v2 in _AUDIT_FIELD.findall(inner.group(1)):
                fields[k2] = v2
        path = _audit_value(fields.get("path"))
        if path != "/dev/vhost-net":
            continue
        when = _AUDIT_TIME.search(raw)
        res = _audit_value(fields.get("res"))
        out.append({"line": number, "time": float(when.group(1)) if when else None,
                    "serial": int(when.group(2)) if when else None,
                    "vm": _audit_value(fields.get("vm")), "uuid": _audit_value(fields.get("uuid")),
                    "mac": (_audit_value(fields.get("net")) or "").lower() or None, "path": path,
                    "success": None if res is None else res in ("success", "1"), "text": _cap(raw.rstrip("\r"))})
    return {"records": out}


def log_epoch(timestamp):
    """Seconds since the epoch of a libvirt log timestamp (``2024-03-01 10:00:00.123+0000``), or None.

    >>> log_epoch("2024-03-01 10:00:00.500+0000"), log_epoch("2024-03-01T11:00:00.5+01:00"), log_epoch("x")
    (1709287200.5, 1709287200.5, None)
    """
    import datetime
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?\Z", timestamp or "")
    if not m:
        return None
    try:
        base = datetime.datetime(*[int(m.group(i)) for i in range(1, 7)], tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    offset = 0
    zone = m.group(8)
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:4])) * 60 * (1 if zone[0] == "+" else -1)
    return base.timestamp() + float(m.group(7) or 0) - offset


def attribute_by_start(events, starts, window=60.0):
    """Which domain start each libvirtd warning belongs to (the warning names none).

    ``events`` from :func:`parse_libvirtd_log`; ``starts`` is ``{domain: timestamp of its last start}``
    (the qemu log's ``starting up`` line, written right after libvirt opened the fds). A warning
    goes to the domain whose start is the first at or after it, within ``window`` seconds;
    two starts in that span make it ambiguous (listed under every candidate with ``ambiguous``).

    >>> ev = [{"timestamp": "2024-03-01 10:00:00.100+0000", "line": 7}]
    >>> attribute_by_start(ev, {"a": "2024-03-01 10:00:00.300+0000", "b": "2024-03-01 11:00:00.000+0000"})
    {'a': [{'timestamp': '2024-03-01 10:00:00.100+0000', 'line': 7, 'ambiguous': False}]}
    """
    points = sorted((log_epoch(ts), name) for name, ts in (starts or {}).items() if log_epoch(ts) is not None)
    out = {}
    for event in events or []:
        when = log_epoch(event.get("timestamp"))
        if when is None:
            continue
        after = [(t, n) for t, n in points if when - 1.0 <= t <= when + window]
        if not after:
            continue
        first = after[0][0]
        close = [n for t, n in after if t - first < 1.0]
        for name in close:
            item = dict(event)
            item["ambiguous"] = len(close) > 1
            out.setdefault(name, []).append(item)
    return out
