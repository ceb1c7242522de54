"""``lsof`` output as sosreport keeps it (pure: text in, data out).

sos's process plugin ran, by version (file under ``sos_commands/process/``,
root symlink ``lsof``):

=============  ==============================  =======================
sos 3.0 - 3.5  ``lsof -b +M -n -l``            ``lsof_-b_M_-n_-l``
sos 3.6 - 4.0  ``lsof -b +M -n -l -c ''``      ``lsof_-b_M_-n_-l_-c``
sos 4.1 -      ``lsof +M -n -l -c ''``         ``lsof_M_-n_-l_-c``
(lsof-threads) ``lsof +M -n -l``               ``lsof_M_-n_-l``
=============  ==============================  =======================

4.1 added a 15 s timeout: a busy node's output may stop in the middle of a
process. Only what the audit needs is read: for each pid, which fd numbers
are open on ``/dev/vhost-net`` (char 10,238) and ``/dev/net/tun`` (10,200),
and whether the pid's listing is whole (another pid follows it in the output;
the last pid of the file may have been cut).
"""
import re

from ..errors import ParseError

# The commands sos ran, newest first: 4.1+, 3.6-4.0, 3.0-3.5, and the lsof-threads option.
COMMANDS = ("lsof +M -n -l -c ''", "lsof -b +M -n -l -c ''", "lsof -b +M -n -l", "lsof +M -n -l")
VHOST_NET = "/dev/vhost-net"
TUN = "/dev/net/tun"
_FD = re.compile(r"^([0-9]{1,9})[rwu]?[A-Za-z ]*$")
_PID = re.compile(r"^[0-9]{1,10}$")


def parse_lsof(text):
    """Per pid: fds on /dev/vhost-net and /dev/net/tun, the line count, and whether the listing is whole.

    Returns ``{"header": bool, "pids": {pid: {"command", "lines", "vhost_fds", "tun_fds", "complete"}},
    "order": [pid, ...], "bad_lines": [...]}``.

    Sample input::

        COMMAND     PID USER   FD   TYPE DEVICE SIZE/OFF NODE NAME
        qemu-syst  1791    0   35u   CHR 10,200      0t0  123 /dev/net/tun
        qemu-syst  1791    0   36u   CHR 10,238      0t0  456 /dev/vhost-net
        sshd       1800    0  cwd    DIR  252,1     4096    2 /

    >>> r = parse_lsof("COMMAND     PID USER   FD   TYPE DEVICE SIZE/OFF NODE NAME\\n"
    ...                "qemu-syst  1791    0   35u   CHR 10,200      0t0  123 /dev/net/tun\\n"
    ...                "qemu-syst  1791    0   36u   CHR 10,238      0t0  456 /dev/vhost-net\\n"
    ...                "sshd       1800    0  cwd    DIR  252,1     4096    2 /\\n")
    >>> p = r["pids"][1791]
    >>> p["vhost_fds"], p["tun_fds"], p["complete"], r["pids"][1800]["complete"]
    ([36], [35], True, False)
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        raise ParseError("lsof output must be text, not %s" % type(text).__name__)
    result = {"header": False, "pids": {}, "order": [], "bad_lines": []}
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        words = line.split()
        if words[0] == "COMMAND" and "PID" in words[:3]:
            result["header"] = True
            continue
        if len(words) < 3 or not _PID.match(words[1]):
            # lsof's warnings ("lsof: WARNING: can't stat() ...") and cut lines.
            result["bad_lines"].append({"line": number, "raw": line[:200]})
            continue
        pid = int(words[1])
        entry = result["pids"].get(pid)
        if entry is None:
            entry = {"command": words[0], "lines": 0, "vhost_fds": [], "tun_fds": [], "complete": False}
            result["pids"][pid] = entry
            result["order"].append(pid)
        entry["lines"] += 1
        name = words[-1]
        if name not in (VHOST_NET, TUN) or "CHR" not in words:
            continue
        at = words.index("CHR")
        fd = _FD.match(words[at - 1]) if at > 2 else None
        if fd is None:
            continue
        device = words[at + 1] if at + 1 < len(words) else ""
        if name == VHOST_NET and device not in ("10,238", "0xa,0xee"):
            continue
        bucket = entry["vhost_fds"] if name == VHOST_NET else entry["tun_fds"]
        if int(fd.group(1)) not in bucket:
            bucket.append(int(fd.group(1)))
    # A pid is whole when another pid follows it (lsof lists one process at a time).
    for pid in result["order"][:-1]:
        result["pids"][pid]["complete"] = True
    for entry in result["pids"].values():
        entry["vhost_fds"].sort()
        entry["tun_fds"].sort()
    return result
