"""``ps`` output as sosreport keeps it (pure: text in, data out).

sos's process plugin (sos/report/plugins/process.py; sos/plugins/process.py in 3.x)
ran, by version:

=================  =====================================================================
sos 3.0 - 4.0      ``ps auxwww`` (root symlink ``ps``), ``ps auxwwwm``, ``ps alxwww``;
                   3.6+ also ``ps -elfL``
sos 4.1 -          ``ps auxwwwm`` (root symlink ``ps``), ``ps alxwww``, ``ps -elfL``;
                   later ``ps auxfwww`` too
=================  =====================================================================

and stored each as ``sos_commands/process/<mangled command>`` (see
``sos_command_filename``: ``ps auxwwwm`` -> ``ps_auxwwwm``, ``ps -elfL`` -> ``ps_-elfL``).
Every form is read here, with or without its header (sos may cut a big output
and keep its tail): the columns then come from the form the file name says.

``ps`` prints a process's argv joined by single spaces, so splitting it back is
lossy: an argument that held a space comes back as two. ``split_command``
splits on spaces and says which argv positions cannot be trusted: a value
followed by words where qemu expects an option (``-smbios type=1,manufacturer=OpenStack
Foundation,...``: ``Foundation,...`` is not an option, so the ``-smbios`` value
held a space). A NIC whose ``-netdev`` or ``-device`` sits on such a position is
``unknown``, never ``pass``.
"""
import re

from ..errors import ParseError
from . import qemuargv

# Columns before the command, by form (header names as procps prints them).
FORMS = {
    "aux": ("USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME"),
    "alx": ("F", "UID", "PID", "PPID", "PRI", "NI", "VSZ", "RSS", "WCHAN", "STAT", "TTY", "TIME"),
    "elfL": ("F", "S", "UID", "PID", "PPID", "LWP", "C", "NLWP", "PRI", "NI", "ADDR", "SZ", "WCHAN", "STIME", "TTY",
             "TIME"),
}
_COMMAND_HEADERS = ("COMMAND", "CMD", "ARGS")
# sos file names (mangled commands) -> form, threads shown as rows, forest art.
FILE_FORMS = {
    "ps_auxwww": ("aux", False, False),
    "ps_auxwwwm": ("aux", True, False),
    "ps_auxfwww": ("aux", False, True),
    "ps_alxwww": ("alx", False, False),
    "ps_-elfL": ("elfL", True, False),
    "ps_aux": ("aux", False, False),
    "ps_auxww": ("aux", False, False),
    "ps_auxcww": ("aux", False, False),
}
# The files sos wrote, in the order the audit prefers them (threads as rows, then plain, forest, long, -L).
PS_FILES = ("ps_auxwwwm", "ps_auxwww", "ps_auxfwww", "ps_alxwww", "ps_-elfL")
_FOREST = re.compile(r"^[\s|]*\\_ ")
_KTHREAD = re.compile(r"^\[(.+)\]$")


def sos_command_filename(command, name_max=255):
    """The file name sos gives a command's output (sos _mangle_command, 3.6 to 4.x; 3.0-3.5 cut at 64).

    Sample input::

        lsof -b +M -n -l -c ''

    >>> sos_command_filename("lsof -b +M -n -l -c ''")
    'lsof_-b_M_-n_-l_-c'
    >>> sos_command_filename("ps auxwwwm"), sos_command_filename("/usr/bin/virsh -r dumpxml instance-1")
    ('ps_auxwwwm', 'virsh_-r_dumpxml_instance-1')
    """
    name = re.sub(r"^/(usr/|)(bin|sbin)/", "", command)
    name = re.sub(r"[^\w\-\.\/]+", "_", name)
    name = re.sub(r"/", ".", name).strip(" ._-")
    return name[0:name_max]


def _header(line):
    words = line.split()
    if not words or words[-1] not in _COMMAND_HEADERS:
        return None
    cols = tuple(words[:-1])
    for form, columns in FORMS.items():
        if cols == columns:
            return form
    if "PID" in cols:
        return cols
    return None


def parse_ps(text, form=None):
    """Rows of ``ps`` output.

    ``form``: a sos file name (``ps_auxwwwm``) or a form name (``aux``, ``alx``, ``elfL``);
    the header, when present, wins. Returns::

        {"form": str, "header": bool, "threads_shown": bool,
         "processes": [{"pid", "user", "lwp", "command", "kernel_thread": name|None, "line"}],
         "threads": {pid: count}, "bad_lines": [{"line", "raw"}]}

    Thread rows (``m``: PID ``-``; ``-L``: LWP != PID) are counted, not listed.

    Sample input::

        USER  PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND
        root 4242  0.0  0.0   0   0 ?   S    16:18 0:00 [vhost-1791]

    >>> r = parse_ps("USER  PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\\n"
    ...              "root 4242  0.0  0.0   0   0 ?   S    16:18 0:00 [vhost-1791]\\n")
    >>> r["form"], r["processes"][0]["pid"], r["processes"][0]["kernel_thread"]
    ('aux', 4242, 'vhost-1791')
    >>> parse_ps("", "ps_-elfL")["form"]
    'elfL'
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        raise ParseError("ps output must be text, not %s" % type(text).__name__)
    forest = False
    threads_shown = False
    if form in FILE_FORMS:
        form, threads_shown, forest = FILE_FORMS[form]
    elif form is not None and form not in FORMS:
        form = None
    result = {"form": form, "header": False, "threads_shown": threads_shown, "processes": [], "threads": {},
              "bad_lines": []}
    columns = FORMS.get(form) if form else None
    last_pid = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        head = _header(line)
        if head is not None:
            result["header"] = True
            if isinstance(head, tuple):
                columns, result["form"] = head, "custom"
            else:
                columns, result["form"] = FORMS[head], head
            continue
        if columns is None:
            # No header and no form: the aux layout is what sos's root `ps` link always was.
            columns, result["form"] = FORMS["aux"], "aux"
        fields = line.split(None, len(columns))
        if len(fields) <= len(columns):
            if len(fields) == len(columns):
                fields.append("")
            else:
                result["bad_lines"].append({"line": number, "raw": line[:200]})
                continue
        row = dict(zip(columns, fields[:len(columns)]))
        command = fields[len(columns)]
        if forest:
            command = _FOREST.sub("", command)
        pid_text = row.get("PID", "")
        if pid_text == "-":
            if last_pid is not None:
                result["threads"][last_pid] = result["threads"].get(last_pid, 0) + 1
            continue
        if not re.match(r"^[0-9]{1,10}$", pid_text):
            result["bad_lines"].append({"line": number, "raw": line[:200]})
            continue
        pid = int(pid_text)
        lwp = row.get("LWP")
        if lwp is not None and re.match(r"^[0-9]{1,10}$", lwp) and int(lwp) != pid:
            result["threads"][pid] = result["threads"].get(pid, 0) + 1
            continue
        last_pid = pid
        kthread = _KTHREAD.match(command.strip())
        result["processes"].append({"pid": pid, "user": row.get("USER") or row.get("UID"), "lwp": lwp,
                                    "command": command, "line": number,
                                    "kernel_thread": kthread.group(1) if kthread else None})
    return result


def split_command(command):
    """Split a ``ps`` command column back into argv, and say where it cannot be trusted.

    Returns ``{"argv": [...], "ambiguous": [index, ...], "reasons": {index: why}}``. An index
    is ambiguous when the value at it was followed by words that are not options
    (the value held a space: ps printed it as several words), when the line ends
    in the middle of an option that takes a value, and the last word always (a
    deep ``ps f`` forest or sos's size limits may cut a line).

    Sample input::

        /usr/bin/qemu-system-x86_64 -smbios type=1,manufacturer=OpenStack Foundation,product=Nova -netdev tap,vhost=on,id=n0

    >>> r = split_command("/usr/bin/qemu-system-x86_64 -smbios type=1,manufacturer=OpenStack "
    ...                   "Foundation,product=Nova -netdev tap,vhost=on,id=n0")
    >>> r["argv"][2], r["ambiguous"], r["argv"][5]
    ('type=1,manufacturer=OpenStack', [2, 3, 5], 'tap,vhost=on,id=n0')
    >>> split_command("qemu -netdev")["ambiguous"]
    [1]
    """
    if not isinstance(command, str):
        raise ParseError("ps command must be text, not %s" % type(command).__name__)
    argv = [w for w in command.strip().split(" ") if w != ""]
    ambiguous = {}
    i = 1
    last_value = None
    n = len(argv)
    while i < n:
        tok = argv[i]
        if tok.startswith("-") and len(tok) > 1:
            opt = qemuargv._option_name(tok)
            nxt = argv[i + 1] if i + 1 < n else None
            if qemuargv._takes_value(opt, nxt):
                if nxt is None:
                    ambiguous[i] = "the line ends after %s, which takes a value (output cut?)" % tok
                    break
                last_value = i + 1
                i += 2
                continue
            last_value = None
            i += 1
            continue
        # A word where an option was expected: the previous value went on past a space.
        start = i
        while i < n and not (argv[i].startswith("-") and len(argv[i]) > 1):
            i += 1
        why = "ps joins argv with spaces: %s was followed by %d word(s) that are not options, so it held a space" \
              % ("argv[%d]" % last_value if last_value is not None else "the program name", i - start)
        if last_value is not None:
            ambiguous[last_value] = why
        for k in range(start, i):
            ambiguous[k] = why
    if n > 1 and (n - 1) not in ambiguous:
        # ps (deep `f` forests) and sos (size limits) may cut a line: its last word may be a part.
        ambiguous[n - 1] = "the last word of a ps line may have been cut"
    return {"argv": argv, "ambiguous": sorted(ambiguous), "reasons": ambiguous}


def is_qemu_command(argv):
    """Does this argv run qemu (qemu-system-*, qemu-kvm, kvm)?"""
    if not argv:
        return False
    base = argv[0].rsplit("/", 1)[-1]
    return bool(re.match(r"^(qemu-system-[\w.-]+|qemu-kvm|qemu|kvm)$", base))
