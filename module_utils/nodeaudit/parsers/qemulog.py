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
