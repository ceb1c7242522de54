"""Kernel module state and configuration, read the way the kernel and kmod read them.

Pure parsers: text in, plain data out, no I/O. Nothing but :class:`ParseError`
subclasses may escape (the parsers here report bad lines instead of raising
for text; only a listing / file list of the wrong *shape* raises ParseError).

Sources:

* ``/proc/modules``: ``name size refcount deps state address [taint]``
* ``lsmod``: ``name size used_by_count [holders]``, header optional
* ``/lib/modules/$(uname -r)/modules.builtin``: one ``kernel/.../name.ko`` per line
* ``/etc/modules`` and ``modules-load.d/*.conf``: one module per line
* ``modprobe.d/*.conf``: kmod directives (``blacklist``, ``install``, ``options`` ...)

Module names are compared after :func:`normalize_module` (the kernel and kmod
treat ``-`` and ``_`` alike: ``vhost-net`` is ``vhost_net``).
"""
import posixpath
import re

from ..errors import ParseError

__all__ = ["normalize_module", "parse_proc_modules", "parse_lsmod", "parse_modules_builtin",
           "parse_modules_load", "parse_modprobe_conf", "effective_conf_files", "module_load_policy"]

_MODNAME_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
# ASCII digits only, and few enough for int() (a 4,300-digit field is a bad line, not a crash).
_INT_RE = re.compile(r"-?[0-9]{1,18}\Z")
_UINT_RE = re.compile(r"[0-9]{1,18}\Z")
_STATES = frozenset(("Live", "Loading", "Unloading"))
_LSMOD_HEADER = re.compile(r"Module\s+Size\s+Used\s+by\s*\Z")
_KO_SUFFIXES = (".ko.zst", ".ko.xz", ".ko.gz", ".ko")
_CMD_TOKEN = re.compile(r"[^\s;&|'\"()`]+")


def normalize_module(name):
    """A module name as the kernel stores it: ``-`` becomes ``_``.

    Sample input: ``vhost-net``

    >>> normalize_module("vhost-net")
    'vhost_net'
    >>> normalize_module("vhost_net")
    'vhost_net'
    """
    return str(name).replace("-", "_")


def _split_lines(text):
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ParseError("expected text, got %s" % type(text).__name__)
    return text.split("\n")


def _used_by(field):
    return [normalize_module(n) for n in field.split(",") if n and n not in ("-", "[permanent]")]


def parse_proc_modules(text):
    """Loaded modules from ``/proc/modules``.

    Sample input::

        vhost_net 32768 1 - Live 0xffffffffc0a6b000
        tap 24576 1 vhost_net, Live 0x0000000000000000
        vhost 49152 2 vhost_vsock,vhost_net, Live 0x0000000000000000

    A line that does not have the six fields (a truncated read) goes to
    ``bad_lines``; the others are kept. ``refcount`` is None when the kernel
    prints ``-`` (no unload support).

    >>> r = parse_proc_modules("vhost_net 32768 1 - Live 0xffffffffc0a6b000\\n"
    ...                        "tap 24576 1 vhost_net, Live 0x0000000000000000\\nvhost 4915")
    >>> r["modules"]["tap"]
    {'size': 24576, 'refcount': 1, 'used_by': ['vhost_net'], 'state': 'Live'}
    >>> r["modules"]["vhost_net"]["used_by"], r["bad_lines"]
    ([], [{'line': 3, 'raw': 'vhost 4915'}])
    """
    modules = {}
    bad = []
    for number, raw in enumerate(_split_lines(text), 1):
        fields = raw.split()
        if not fields:
            continue
        if (len(fields) >= 5 and _MODNAME_RE.match(fields[0]) and _UINT_RE.match(fields[1])
                and (fields[2] == "-" or _INT_RE.match(fields[2])) and fields[4] in _STATES
                and normalize_module(fields[0]) not in modules):
            modules[normalize_module(fields[0])] = {
                "size": int(fields[1]),
                "refcount": None if fields[2] == "-" else int(fields[2]),
                "used_by": _used_by(fields[3]),
                "state": fields[4],
            }
        else:
            bad.append({"line": number, "raw": raw})
    return {"modules": modules, "bad_lines": bad}


def parse_lsmod(text):
    """Loaded modules from ``lsmod`` output, with or without its header.

    Sample input (``lsmod | grep net``: no header, nothing may be lost)::

        vhost_net              18104  2
        vhost                  29009  1 vhost_net
        macvtap                18255  1 vhost_net

    Same shape as :func:`parse_proc_modules`; ``state`` is None (lsmod does
    not show it).

    >>> r = parse_lsmod("vhost_net              18104  2\\nvhost                  29009  1 vhost_net\\n")
    >>> sorted(r["modules"]), r["modules"]["vhost"]["used_by"]
    (['vhost', 'vhost_net'], ['vhost_net'])
    >>> r = parse_lsmod("Module                  Size  Used by\\nvhost_net 32768 1\\ntap 2457")
    >>> r["modules"]["vhost_net"], r["bad_lines"]
    ({'size': 32768, 'refcount': 1, 'used_by': [], 'state': None}, [{'line': 3, 'raw': 'tap 2457'}])
    """
    modules = {}
    bad = []
    for number, raw in enumerate(_split_lines(text), 1):
        fields = raw.split()
        if not fields:
            continue
        if _LSMOD_HEADER.match(raw.strip()):
            continue
        if (len(fields) in (3, 4) and _MODNAME_RE.match(fields[0]) and _UINT_RE.match(fields[1])
                and _INT_RE.match(fields[2]) and normalize_module(fields[0]) not in modules):
            modules[normalize_module(fields[0])] = {
                "size": int(fields[1]),
                "refcount": int(fields[2]),
                "used_by": _used_by(fields[3]) if len(fields) == 4 else [],
                "state": None,
            }
        else:
            bad.append({"line": number, "raw": raw})
    return {"modules": modules, "bad_lines": bad}


def _module_from_path(path):
    base = posixpath.basename(path.strip())
    for suffix in _KO_SUFFIXES:
        if base.endswith(suffix):
            return normalize_module(base[:-len(suffix)])
    return None


def parse_modules_builtin(text):
    """Modules built into the kernel, from ``modules.builtin``.

    Sample input::

        kernel/drivers/vhost/vhost_net.ko
        kernel/drivers/vhost/vhost.ko

    Lines that are not ``.ko`` paths are skipped. Names are normalised and
    listed once, in file order.

    >>> parse_modules_builtin("kernel/drivers/vhost/vhost_net.ko\\nkernel/drivers/net/tap.ko\\n\\n")
    ['vhost_net', 'tap']
    """
    names = []
    seen = set()
    for raw in _split_lines(text):
        name = _module_from_path(raw)
        if name and _MODNAME_RE.match(name) and name not in seen:
            seen.add(name)
            names.append(name)
    return names


def parse_modules_load(text):
    """Modules loaded at boot, from ``/etc/modules`` or ``modules-load.d/*.conf``.

    Sample input::

        # /etc/modules: kernel modules to load at boot time.
        ; also a comment
          vhost_net
        tap

    One module per line, white space trimmed; a line whose first character is
    ``#`` or ``;`` is a comment (systemd-modules-load). The module is the first
    word as written (not normalised; ``/etc/modules`` may carry arguments
    after it).

    >>> parse_modules_load("# comment\\n; comment\\n  vhost_net  \\n\\ntap\\n")
    [{'module': 'vhost_net', 'line': 3}, {'module': 'tap', 'line': 5}]
    """
    entries = []
    for number, raw in enumerate(_split_lines(text), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        entries.append({"module": line.split()[0], "line": number})
    return entries


def _kmod_split(line):
    """kmod's strtok(" \\t"): a carriage return is part of a word."""
    return [w for w in re.split(r"[ \t]+", line) if w]


def parse_modprobe_conf(text):
    """Directives of a ``modprobe.d`` file, as kmod reads them.

    Sample input::

        # vhost-net tuning
        blacklist floppy
        options vhost_net experimental_zcopytx=0
        install nvidiafb /bin/true
        alias net-pf-10 off

    A line ending in ``\\`` joins the next one; a line whose first word starts
    with ``#`` is a comment (kmod has no comments after a directive). ``module``
    is the second word, normalised (for ``alias`` it is the alias name);
    ``args`` is the rest of the line as one string (the command of
    ``install``/``remove``, the options of ``options``). Unknown commands are
    kept. ``line`` is the first physical line of the directive. As in kmod,
    only space and tab separate words: ``blacklist vhost_net\\r`` (CRLF) names
    a module ``vhost_net\\r``, which is not ``vhost_net``.

    >>> parse_modprobe_conf("# c\\nblacklist vhost-net\\ninstall vhost_net /bin/sh -c \\\\\\n 'exit 1'\\n")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'cmd': 'blacklist', 'module': 'vhost_net', 'args': '', 'line': 2, 'raw': 'blacklist vhost-net'},
     {'cmd': 'install', 'module': 'vhost_net', 'args': "/bin/sh -c 'exit 1'", 'line': 3,
      'raw': "install vhost_net /bin/sh -c 'exit 1'"}]
    """
    directives = []
    physical = _split_lines(text)
    index = 0
    while index < len(physical):
        start = index + 1
        line = physical[index]
        index += 1
        while line.endswith("\\") and index < len(physical):
            line = line[:-1] + physical[index]
            index += 1
        words = _kmod_split(line)
        if not words or words[0].startswith("#"):
            continue
        match = re.match(r"[ \t]*[^ \t]+[ \t]*([^ \t]*)[ \t]*", line)
        rest = line[match.end():] if match else ""
        directives.append({
            "cmd": words[0],
            "module": normalize_module(words[1]) if len(words) > 1 else None,
            "args": rest.strip(" \t"),
            "line": start,
            "raw": line,
        })
    return directives


def effective_conf_files(listing):
    """The modprobe.d files kmod reads, in the order it reads them.

    Sample input (directories in precedence order, highest first)::

        [("/etc/modprobe.d", ["blacklist.conf", "vhost.conf", "notes.txt"]),
         ("/run/modprobe.d", []),
         ("/lib/modprobe.d", ["aliases.conf", "blacklist.conf"])]

    Only ``*.conf`` (not hidden); a name in a higher directory masks the same
    name lower down; the result is ordered by file name.

    >>> effective_conf_files([("/etc/modprobe.d", ["blacklist.conf", "vhost.conf", "notes.txt"]),
    ...                       ("/run/modprobe.d", []),
    ...                       ("/lib/modprobe.d", ["aliases.conf", "blacklist.conf"])])
    [('/lib/modprobe.d', 'aliases.conf'), ('/etc/modprobe.d', 'blacklist.conf'), ('/etc/modprobe.d', 'vhost.conf')]
    """
    chosen = {}
    try:
        for directory, names in listing:
            for name in names:
                if not isinstance(name, str) or not isinstance(directory, str):
                    raise ParseError("directory and file names must be strings")
                if name.startswith(".") or not name.endswith(".conf") or "/" in name:
                    continue
                if name not in chosen:
                    chosen[name] = directory
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ParseError):
            raise
        raise ParseError("listing must be [(dir, [names])]: %s" % exc)
    return [(chosen[name], name) for name in sorted(chosen)]


def _install_is_wrapper(command, module):
    """True when an install command still loads ``module`` (modprobe --ignore-install / insmod)."""
    tokens = _CMD_TOKEN.findall(command)
    bases = [posixpath.basename(t) for t in tokens]
    names = set()
    for token in tokens:
        names.add(normalize_module(token))
        from_path = _module_from_path(token)
        if from_path:
            names.add(from_path)
    if module not in names:
        return False
    if "modprobe" in bases and ("--ignore-install" in tokens or "-i" in tokens):
        return True
    if "insmod" in bases:
        return True
    return False


def module_load_policy(files, module):
    """What modprobe.d says about loading one module.

    Sample input (``files`` in effective order, each with its parsed directives)::

        [("/etc/modprobe.d/blacklist.conf", parse_modprobe_conf("blacklist vhost_net\\n")),
         ("/etc/modprobe.d/vhost.conf", parse_modprobe_conf(
             "install vhost_net /bin/true\\noptions vhost_net experimental_zcopytx=0\\n"))]

    Returns ``{"blacklisted": [evidence], "install": {...} | None, "options": [evidence]}``;
    evidence strings are ``"<path>:<line>: <raw line>"``.

    * ``blacklist X`` stops loading X by an alias (udev, the kernel's
      ``request_module("char-major-10-238")`` when ``/dev/vhost-net`` is
      opened) and ``modprobe -b X`` (the Ubuntu qemu-kvm boot job's call; also
      systemd-modules-load), but not a plain ``modprobe X`` nor loading X as a
      dependency.
    * ``install X CMD``: the first one for X wins (kmod), later ones are listed
      in ``install["ignored"]``. ``blocks`` is False only when CMD itself still
      loads X (``modprobe --ignore-install X`` / ``-i``, or ``insmod``); anything
      else (``/bin/true``, ``/bin/false``, ``true``, ``/bin/sh -c 'exit 1'``,
      ``echo ...``) blocks every load of X, ``modprobe -b`` included.
    * ``options X ...`` is tuning, never a blacklist; ``options vhost ...`` is
      about the module ``vhost``, not ``vhost_net``.

    >>> files = [("/etc/modprobe.d/blacklist.conf", parse_modprobe_conf("blacklist vhost-net\\n")),
    ...          ("/etc/modprobe.d/vhost.conf", parse_modprobe_conf(
    ...              "install vhost_net /bin/true\\noptions vhost_net experimental_zcopytx=0\\n"))]
    >>> policy = module_load_policy(files, "vhost_net")
    >>> policy["blacklisted"]
    ['/etc/modprobe.d/blacklist.conf:1: blacklist vhost-net']
    >>> policy["options"]
    ['/etc/modprobe.d/vhost.conf:2: options vhost_net experimental_zcopytx=0']
    >>> policy["install"]["command"], policy["install"]["blocks"], policy["install"]["evidence"]
    ('/bin/true', True, '/etc/modprobe.d/vhost.conf:1: install vhost_net /bin/true')
    >>> wrapper = parse_modprobe_conf("install vhost_net /sbin/modprobe --ignore-install vhost_net $CMDLINE_OPTS\\n")
    >>> module_load_policy([("/etc/modprobe.d/w.conf", wrapper)], "vhost_net")["install"]["blocks"]
    False
    """
    target = normalize_module(module)
    blacklisted = []
    options = []
    install = None
    try:
        for path, directives in files:
            for item in directives:
                if item.get("module") != target:
                    continue
                evidence = "%s:%s: %s" % (path, item.get("line"), item.get("raw"))
                cmd = item.get("cmd")
                if cmd == "blacklist":
                    blacklisted.append(evidence)
                elif cmd == "options":
                    options.append(evidence)
                elif cmd == "install":
                    if install is None:
                        command = item.get("args") or ""
                        install = {"command": command, "evidence": evidence,
                                   "blocks": not _install_is_wrapper(command, target), "ignored": []}
                    else:
                        install["ignored"].append(evidence)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ParseError("files must be [(path, [directive])]: %s" % exc)
    return {"blacklisted": blacklisted, "install": install, "options": options}
