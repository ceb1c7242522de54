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


def _as_text(text):
    """Parser input as text: bytes decoded (bad bytes replaced), anything else refused."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ParseError("expected text, got %s" % type(text).__name__)
    return text


def _split_lines(text):
    return _as_text(text).split("\n")


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


_SCRIPT_SEPARATORS = re.compile(r"\s*(?:&&|\|\||[;|&])\s*")
_SCRIPT_OPENERS = ("if", "case", "while", "until", "for")
_SCRIPT_CLOSERS = ("fi", "esac", "done")


def parse_modules_script(text):
    """``modprobe`` calls in a boot script of RHEL's ``/etc/sysconfig/modules/*.modules`` kind.

    RHEL/CentOS 6's rc.sysinit (7's rhel-loadmodules.service) runs every
    *executable* ``/etc/sysconfig/modules/*.modules`` at boot; qemu's
    ``kvm.modules`` loads vhost_net there. A shell script is not read whole
    (that is ``shellvars``' job for the one file whose outcome decides a
    check): this finds each ``modprobe`` command word, its options (``-b`` /
    ``--use-blacklist``: the blacklist applies; ``-a``: every name is a
    module) and the module names it names, and whether the line sits inside an
    ``if``/``case``/loop or after ``&&``/``||`` (``conditional``: it runs only
    when the script's test holds, e.g. once ``kvm`` loaded). A ``$variable``
    module name is not a name this can read: it is skipped.

    Sample input (qemu's kvm.modules, shortened)::

        #!/bin/sh
        if [ $(grep -c vmx /proc/cpuinfo) -ne 0 ]; then
            modprobe -b kvm-intel >/dev/null 2>&1
        fi
        modprobe -b vhost_net >/dev/null 2>&1

    >>> text = "#!/bin/sh\\nif grep -q vmx /proc/cpuinfo; then\\n    modprobe -b kvm-intel >/dev/null 2>&1\\nfi\\n" \\
    ...        "modprobe -b vhost_net >/dev/null 2>&1   # vhost\\n[ \\"$kvm\\" ] && /sbin/modprobe vhost-net\\n"
    >>> [(e["module"], e["line"], e["blacklist"], e["conditional"]) for e in parse_modules_script(text)]
    [('kvm-intel', 3, True, True), ('vhost_net', 5, True, False), ('vhost-net', 6, False, True)]
    """
    entries = []
    depth = 0
    for number, raw in enumerate(_split_lines(text), 1):
        words = []
        for word in raw.split():
            if word.startswith("#"):
                break
            words.append(word)
        line = " ".join(words)
        commands = _SCRIPT_SEPARATORS.split(line)
        chained = len(commands) > 1 and bool(re.search(r"&&|\|\|", line))
        for command in commands:
            toks = command.split()
            while toks and toks[0] in ("then", "else", "do", "elif", "!", "{", "("):
                toks = toks[1:]
            if not toks:
                continue
            if toks[0] in _SCRIPT_OPENERS:
                depth += 1
                continue
            if toks[0] in _SCRIPT_CLOSERS:
                depth = max(0, depth - 1)
                continue
            if toks[0].rsplit("/", 1)[-1] != "modprobe":
                continue
            blacklist, every = False, False
            names = []
            for tok in toks[1:]:
                if tok[:1] in "<>" or tok[:1].isdigit() and tok[1:2] in "<>":
                    break                                    # a redirection: the arguments end
                if tok.startswith("--"):
                    blacklist = blacklist or tok == "--use-blacklist"
                    every = every or tok == "--all"
                elif tok.startswith("-") and not names:
                    blacklist = blacklist or "b" in tok[1:]
                    every = every or "a" in tok[1:]
                else:
                    names.append(tok)
            for name in (names if every else names[:1]):
                if "$" in name or "`" in name:
                    continue
                entries.append({"module": name.strip("'\""), "line": number, "blacklist": blacklist,
                                "conditional": depth > 0 or chained, "raw": raw.strip()[:200]})
    return entries


def _kmod_split(line):
    """kmod's strtok(" \\t"): a carriage return is part of a word."""
    return [w for w in re.split(r"[ \t]+", line) if w]


def _kmod_lines(text):
    """Logical lines as kmod's ``freadline_wrapped`` reads them: [(first_line, text)].

    ``\\`` + newline joins lines; ``\\`` + any other character keeps only that
    character (kmod drops the backslash); a ``\\`` at the very end is dropped.
    """
    text = _as_text(text)
    out = []
    buf = []
    line = 1
    first = 1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append((first, "".join(buf)))
            buf = []
            line += 1
            first = line
            i += 1
        elif c == "\\":
            if i + 1 < n and text[i + 1] == "\n":
                line += 1
                i += 2
            elif i + 1 < n:
                buf.append(text[i + 1])
                i += 2
            else:
                i += 1
        else:
            j = i
            while j < n and text[j] not in "\n\\":
                j += 1
            buf.append(text[i:j])
            i = j
    if buf:
        out.append((first, "".join(buf)))
    return out


def _underscores(name):
    """kmod's ``underscores()``: ``-`` -> ``_`` outside ``[...]``; None when kmod rejects the name."""
    if name is None:
        return None
    out = []
    i = 0
    while i < len(name):
        c = name[i]
        if c == "-":
            out.append("_")
        elif c == "]":
            return None
        elif c == "[":
            j = name.find("]", i)
            if j < 0:
                return None
            out.append(name[i:j + 1])
            i = j
        else:
            out.append(c)
        i += 1
    return "".join(out)


_NEEDS_VALUE = frozenset(("options", "install", "remove", "softdep", "weakdep"))
_KNOWN = frozenset(("alias", "blacklist", "options", "install", "remove", "softdep", "weakdep"))


def parse_modprobe_conf(text):
    """Directives of a ``modprobe.d`` file, as kmod (``kmod_config_parse``) reads them.

    Sample input::

        # vhost-net tuning
        blacklist floppy
        options vhost_net experimental_zcopytx=0
        install nvidiafb /bin/true
        alias net-pf-10 off

    A line ending in ``\\`` joins the next one (a ``\\`` before any other
    character is dropped, as kmod does); a line whose first character is ``#``
    is a comment (kmod has no comments after a directive). ``module`` is the
    second word, normalised (for ``alias`` it is the alias pattern); ``args``
    is the rest of the line, stripped; ``value`` is exactly what kmod stores
    (the rest after the one blank that ends the module name; for ``alias`` the
    target module). ``bad`` says why kmod ignores the line ("ignoring bad
    line"), else None. ``line`` is the first physical line of the directive.
    As in kmod, only space and tab separate words: ``blacklist vhost_net\\r``
    (CRLF) names a module ``vhost_net\\r``, which is not ``vhost_net``.

    >>> parse_modprobe_conf("# c\\nblacklist vhost-net\\ninstall vhost_net /bin/sh -c \\\\\\n 'exit 1'\\n")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'cmd': 'blacklist', 'module': 'vhost_net', 'args': '', 'line': 2, 'raw': 'blacklist vhost-net',
      'value': None, 'bad': None},
     {'cmd': 'install', 'module': 'vhost_net', 'args': "/bin/sh -c 'exit 1'", 'line': 3,
      'raw': "install vhost_net /bin/sh -c 'exit 1'", 'value': "/bin/sh -c 'exit 1'", 'bad': None}]
    >>> [d["bad"] for d in parse_modprobe_conf("blacklist\\noptions vhost_net\\n  # indented\\nfoo x\\n")]
    ['no module name', 'nothing after the module name', "unknown command 'foo'"]
    """
    directives = []
    for start, line in _kmod_lines(text):
        words = _kmod_split(line)
        if not words or words[0].startswith("#"):
            # kmod skips "#..." lines; an indented "# x" it reports as a bad line and ignores too.
            continue
        match = re.match(r"[ \t]*([^ \t]+)[ \t]*([^ \t]*)", line)
        rest = line[match.end():] if match else ""
        cmd = words[0]
        module = _underscores(words[1]) if len(words) > 1 else None
        # kmod: strtok_r(NULL, "\\0") after the module name is the rest after ONE delimiter.
        value = None
        bad = None
        if match and match.group(2):
            after = line[match.start(2) + len(match.group(2)):]
            value = after[1:] if after else ""
        if cmd not in _KNOWN:
            bad = "unknown command %r" % cmd if cmd not in ("include", "config") else \
                "command %s is deprecated and not parsed" % cmd
        elif len(words) < 2:
            bad = "no module name"
        elif module is None:
            bad = "bad module name %r" % words[1]
        elif cmd == "alias":
            target = _underscores(words[2]) if len(words) > 2 else None
            if target is None:
                bad = "alias without a module" if len(words) < 3 else "bad module name %r" % words[2]
            value = target
        elif cmd == "blacklist":
            value = None
        elif cmd in _NEEDS_VALUE and not value:
            bad = "nothing after the module name"
            value = None
        if value is not None and cmd == "options":
            value = value.replace("\t", " ")
        directives.append({
            "cmd": cmd,
            "module": module if module is not None else (words[1] if len(words) > 1 else None),
            "args": rest.strip(" \t"),
            "line": start,
            "raw": line,
            "value": value,
            "bad": bad,
        })
    return directives


def effective_conf_files(listing, suffixes=(".conf", ".alias")):
    """The modprobe.d files kmod reads, in the order it reads them.

    Sample input (directories in precedence order, highest first)::

        [("/etc/modprobe.d", ["blacklist.conf", "vhost.conf", "notes.txt"]),
         ("/run/modprobe.d", []),
         ("/lib/modprobe.d", ["aliases.conf", "blacklist.conf"])]

    Only ``*.conf`` and ``*.alias`` (kmod reads both; not hidden; ``suffixes``
    for other directory sets of the same rules); a name in a higher directory
    masks the same name lower down; the result is ordered by file name.

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
                if name.startswith(".") or "/" in name or not any(
                        name.endswith(sfx) and len(name) > len(sfx) for sfx in suffixes):
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


# -- the whole loading rules: a port of kmod's lookup and probe ---------------
#
# Why a port and not a call to modprobe: the audit runs on nodes (and on
# snapshots of nodes) where running `modprobe --dry-run` would read the live
# /proc/cmdline and /sys/module instead of the snapshot's, and older nodes run
# module-init-tools or another kmod. This is kmod v30's libkmod logic
# (libkmod-config.c kmod_config_parse / kmod_config_parse_kcmdline,
# libkmod.c kmod_lookup_alias_*, libkmod-module.c kmod_module_new_from_lookup /
# __kmod_module_get_probe_list / kmod_module_probe_insert_module), checked
# against the real modprobe by tests/unit/test_kmod_differential.py.

VHOST_NET_ALIASES = ("char-major-10-238", "devname:vhost-net")

# Entry points that load vhost_net, and how each one calls kmod.
ENTRY_POINTS = (
    # name, what is looked up, use_blacklist (-b / KMOD_PROBE_APPLY_BLACKLIST), who does it
    ("modprobe", "vhost_net", False, "`modprobe vhost_net` (an operator, a deployment tool)"),
    ("modprobe -b", "vhost_net", True, "`modprobe -b vhost_net` (the Ubuntu qemu-kvm boot job)"),
    ("modules-load", "vhost_net", True, "systemd-modules-load / the Debian kmod init (modules-load.d, /etc/modules)"),
    ("on-demand", "char-major-10-238", False, "the kernel's request_module(\"char-major-10-238\") when a static "
                                              "/dev/vhost-net is opened"),
)


def _c_fnmatch(pattern, name):
    """fnmatch(3) with flags 0 (as kmod calls it): ``*``, ``?``, ``[...]`` (``!``/``^``), ``\\`` escapes."""
    memo = {}

    def match(pi, ni):
        key = (pi, ni)
        if key in memo:
            return memo[key]
        result = False
        while True:
            if pi == len(pattern):
                result = ni == len(name)
                break
            c = pattern[pi]
            if c == "*":
                while pi < len(pattern) and pattern[pi] == "*":
                    pi += 1
                if pi == len(pattern):
                    result = True
                    break
                result = any(match(pi, k) for k in range(ni, len(name) + 1))
                break
            if ni == len(name):
                result = False
                break
            if c == "?":
                pi += 1
                ni += 1
                continue
            if c == "[":
                end, ok = _bracket(pattern, pi, name[ni])
                if end is None:        # no closing ']': '[' is literal
                    if name[ni] != "[":
                        break
                    pi += 1
                    ni += 1
                    continue
                if not ok:
                    break
                pi = end
                ni += 1
                continue
            if c == "\\" and pi + 1 < len(pattern):
                pi += 1
                c = pattern[pi]
            if name[ni] != c:
                break
            pi += 1
            ni += 1
        memo[key] = result
        return result

    return match(0, 0)


def _bracket(pattern, pi, ch):
    """(index after the bracket expression, matched) or (None, False) when it is not closed."""
    i = pi + 1
    negate = False
    if i < len(pattern) and pattern[i] in "!^":
        negate = True
        i += 1
    matched = False
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            return i + 1, matched != negate
        first = False
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            hi = pattern[i + 2]
            if c <= ch <= hi:
                matched = True
            i += 3
            continue
        if c == ch:
            matched = True
        i += 1
    return None, False


def alias_normalize(name):
    """kmod's ``alias_normalize``: ``-`` -> ``_`` outside ``[...]``; None for a name kmod rejects.

    >>> alias_normalize("char-major-10-238"), alias_normalize("pci:v[0-9]*"), alias_normalize("a]")
    ('char_major_10_238', 'pci:v[0-9]*', None)
    """
    return _underscores(name)


def parse_modules_dep(text):
    """``modules.dep``: {module: {"path": relative path, "deps": [module, ...] in load order}}.

    Sample input::

        kernel/drivers/vhost/vhost_net.ko.zst: kernel/drivers/vhost/vhost.ko.zst kernel/drivers/net/tap.ko.zst

    ``deps`` are in the order kmod loads them (the file lists the nearest
    dependency first; kmod prepends each, so it loads the last one first).

    >>> parse_modules_dep("kernel/drivers/vhost/vhost_net.ko: kernel/drivers/vhost/vhost.ko kernel/drivers/net/tap.ko\\n")
    {'vhost_net': {'path': 'kernel/drivers/vhost/vhost_net.ko', 'deps': ['tap', 'vhost'], 'dep_paths': ['kernel/drivers/net/tap.ko', 'kernel/drivers/vhost/vhost.ko']}}
    """
    out = {}
    for raw in _split_lines(text):
        if ":" not in raw:
            continue
        path, _sep, rest = raw.partition(":")
        path = path.strip()
        name = _module_from_path(path)
        if not name or name in out:
            continue
        dep_paths = [p for p in re.split(r"[ \t]+", rest) if p][::-1]
        out[name] = {"path": path, "deps": [_module_from_path(p) or p for p in dep_paths], "dep_paths": dep_paths}
    return out


def parse_modules_alias(text):
    """``modules.alias`` / ``modules.symbols`` / ``modules.builtin.alias``: [(pattern, module)].

    Sample input::

        # Aliases extracted from modules themselves.
        alias char-major-10-238 vhost_net
        alias devname:vhost-net vhost_net

    Patterns are normalised as depmod writes them into the ``.bin`` index.

    >>> parse_modules_alias("# x\\nalias char-major-10-238 vhost_net\\nalias devname:vhost-net vhost_net\\n")
    [('char_major_10_238', 'vhost_net'), ('devname:vhost_net', 'vhost_net')]
    """
    out = []
    for raw in _split_lines(text):
        words = raw.split()
        if len(words) >= 3 and words[0] == "alias":
            pattern = alias_normalize(words[1])
            if pattern is not None:
                out.append((pattern, normalize_module(words[2])))
        elif len(words) == 2 and not raw.startswith("#") and words[0] != "alias":
            pattern = alias_normalize(words[0])     # modules.builtin.alias has no "alias " prefix
            if pattern is not None:
                out.append((pattern, normalize_module(words[1])))
    return out


def parse_modules_devname(text):
    """``modules.devname``: the static device nodes kmod creates at boot, [{"module","devname","type","major","minor"}].

    Sample input::

        # Device nodes to trigger on-demand module loading.
        vhost_net vhost-net c10:238

    >>> parse_modules_devname("# x\\nvhost_net vhost-net c10:238\\ntun net/tun c10:200\\n")[0]
    {'module': 'vhost_net', 'devname': 'vhost-net', 'type': 'c', 'major': 10, 'minor': 238}
    """
    out = []
    for raw in _split_lines(text):
        words = raw.split()
        if len(words) != 3 or raw.startswith("#"):
            continue
        match = re.match(r"([cb])([0-9]+):([0-9]+)\Z", words[2])
        if match:
            out.append({"module": normalize_module(words[0]), "devname": words[1], "type": match.group(1),
                        "major": int(match.group(2)), "minor": int(match.group(3))})
    return out


def _kernel_args(text):
    """Words of a kernel command line as the kernel's next_arg() splits them (double quotes group)."""
    words = []
    i = 0
    text = text.rstrip("\n")
    n = len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        quoted = False
        j = i
        while j < n and (quoted or not text[j].isspace()):
            if text[j] == '"':
                quoted = not quoted
            j += 1
        words.append(text[i:j])
        i = j
    return words


def parse_kernel_cmdline(text):
    """What ``/proc/cmdline`` says about loading modules.

    Sample input::

        BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro modprobe.blacklist=vhost_net,floppy vhost_net.experimental_zcopytx=0

    * ``modprobe.blacklist=a,b``: kmod adds ``blacklist a`` and ``blacklist b``
      (read exactly as kmod's ``kmod_config_parse_kcmdline`` reads it);
    * ``mod.param=value``: kmod adds ``options mod param=value``;
    * ``module_blacklist=a,b``: the kernel itself refuses to load those modules,
      whoever asks (``init_module`` fails), ``insmod`` included.

    Everything after a bare ``--`` goes to init, not to the kernel (kmod does
    not know that and still reads it: both are reported).

    >>> r = parse_kernel_cmdline("ro modprobe.blacklist=vhost_net,floppy vhost-net.x=1 module_blacklist=vhost\\n")
    >>> r["modprobe_blacklist"], r["options"], r["module_blacklist"]
    (['vhost_net', 'floppy'], [('vhost_net', 'x=1')], ['vhost'])
    """
    text = _as_text(text)
    blacklist = []
    options = []
    for modname, param, value in _kcmdline_kmod(text):
        if modname == "modprobe" and param.startswith("blacklist="):
            blacklist.extend(value.split(","))
        else:
            name = _underscores(modname)
            if name is not None:
                options.append((name, param))
    kernel = []
    for word in _kernel_args(text):
        if word == "--":
            break
        key, sep, value = word.partition("=")
        if key.replace("-", "_") == "module_blacklist" and sep:
            kernel.extend(normalize_module(v) for v in value.strip('"').split(",") if v)
    return {"modprobe_blacklist": blacklist, "options": options, "module_blacklist": kernel}


def _kcmdline_kmod(text):
    """Port of kmod v30 kmod_config_parse_kcmdline: [(modname, param, value)] in order."""
    buf = list(text[:4095]) + ["\0"]
    out = []
    IGNORE, MODNAME, PARAM, VALUE = range(4)
    state = MODNAME
    quote_start = None
    modname = 0
    param = None
    value = None
    quoted = False
    p = 0
    while p < len(buf):
        c = buf[p]
        complete = False
        last = c == "\0"
        if c == '"':
            quoted = not quoted
            if quoted and state == MODNAME and p == modname:
                quote_start = p
                modname = p + 1
            elif state != VALUE:
                state = IGNORE
        elif c in "\0 \n\t\v\f\r":
            if quoted and state == VALUE:
                pass
            elif quoted:
                state = IGNORE
            elif state in (VALUE, PARAM):
                buf[p] = "\0"
                complete = True
            else:
                modname = p + 1
                state = MODNAME
                quote_start = None
        elif c == ".":
            if state == MODNAME:
                buf[p] = "\0"
                param = p + 1
                state = PARAM
            elif state == PARAM:
                state = IGNORE
        elif c == "=":
            if state == PARAM:
                value = p + 1
                state = VALUE
            elif state == MODNAME:
                state = IGNORE
        if complete:
            def cstr(start):
                end = start
                while end < len(buf) and buf[end] != "\0":
                    end += 1
                return "".join(buf[start:end])
            if quote_start is not None and quote_start < modname and value is not None:
                # kmod re-quotes "mod.param=a b" as mod.param="a b"
                m, pa = cstr(modname), cstr(param)
                val = '"' + cstr(value)
                out.append((m, pa.split("=", 1)[0] + "=" + val, val))
            elif param is not None:
                pa = cstr(param)
                out.append((cstr(modname), pa, pa.split("=", 1)[1] if "=" in pa else None))
            modname = p + 1
            state = MODNAME
            quote_start = None
            param = value = None
        if last:
            break
        p += 1
    return [(m, pa, v if v is not None else "") for m, pa, v in out if m and pa]


def _softdep_lists(value):
    """kmod_config_add_softdep: ``pre:`` / ``post:`` lists (split on isspace)."""
    pre, post, mode = [], [], None
    for word in re.split(r"[ \t\n\v\f\r]+", value or ""):
        if not word:
            continue
        if word == "pre:":
            mode = pre
        elif word == "post:":
            mode = post
        elif mode is not None:
            mode.append(word)
    return pre, post


def build_config(files, cmdline=None, softdep_file=None):
    """kmod's configuration from the effective modprobe.d files, modules.softdep and /proc/cmdline.

    ``files`` is ``[(path, directives)]`` in effective order (see
    :func:`effective_conf_files`; ``directives`` from :func:`parse_modprobe_conf`);
    ``softdep_file`` is ``(path, directives)`` of ``modules.softdep`` (kmod sorts it
    among the files by its name); ``cmdline`` is :func:`parse_kernel_cmdline` output.
    Every entry keeps its evidence (``"<path>:<line>: <raw>"``).

    >>> conf = build_config([("/etc/modprobe.d/v.conf", parse_modprobe_conf("blacklist vhost-net\\nalias vh vhost_net\\n"))],
    ...                     parse_kernel_cmdline("modprobe.blacklist=tun"))
    >>> [b["module"] for b in conf["blacklist"]], conf["alias"][0]["pattern"], conf["blacklist"][1]["evidence"]
    (['vhost_net', 'tun'], 'vh', '/proc/cmdline: modprobe.blacklist=tun')
    """
    ordered = list(files or [])
    if softdep_file is not None:
        name = posixpath.basename(softdep_file[0])
        index = len(ordered)
        for i, (path, _d) in enumerate(ordered):
            if posixpath.basename(path) >= name:
                index = i
                break
        if not (index < len(ordered) and posixpath.basename(ordered[index][0]) == name):
            ordered.insert(index, softdep_file)
    conf = {"blacklist": [], "install": [], "remove": [], "alias": [], "options": [], "softdep": [], "bad": []}
    try:
        for path, directives in ordered:
            for item in directives:
                evidence = "%s:%s: %s" % (path, item.get("line"), item.get("raw"))
                if item.get("bad"):
                    conf["bad"].append({"evidence": evidence, "reason": item["bad"]})
                    continue
                cmd = item.get("cmd")
                module = item.get("module")
                entry = {"module": module, "evidence": evidence, "path": path, "line": item.get("line"),
                         "raw": item.get("raw")}
                if cmd == "blacklist":
                    conf["blacklist"].append(entry)
                elif cmd in ("install", "remove"):
                    entry["command"] = item.get("value")
                    conf[cmd].append(entry)
                elif cmd == "alias":
                    entry.update(pattern=module, module=item.get("value"))
                    conf["alias"].append(entry)
                elif cmd == "options":
                    entry["options"] = item.get("value")
                    conf["options"].append(entry)
                elif cmd == "softdep":
                    pre, post = _softdep_lists(item.get("value"))
                    entry.update(pattern=module, pre=pre, post=post)
                    conf["softdep"].append(entry)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ParseError("files must be [(path, [directive])]: %s" % exc)
    cmdline = cmdline or {}
    for name in cmdline.get("modprobe_blacklist") or []:
        conf["blacklist"].append({"module": name, "evidence": "/proc/cmdline: modprobe.blacklist=%s" % name,
                                  "path": "/proc/cmdline", "line": None, "raw": "modprobe.blacklist=%s" % name,
                                  "kind": "cmdline"})
    for name, param in cmdline.get("options") or []:
        conf["options"].append({"module": name, "options": param, "evidence": "/proc/cmdline: %s.%s" % (name, param),
                                "path": "/proc/cmdline", "line": None, "raw": "%s.%s" % (name, param)})
    return conf


def show_config(conf):
    """The configuration part of ``modprobe -c``, line for line (kmod v30's format)."""
    lines = ["blacklist %s" % b["module"] for b in conf["blacklist"]]
    lines += ["install %s %s" % (c["module"], c["command"]) for c in conf["install"]]
    lines += ["remove %s %s" % (c["module"], c["command"]) for c in conf["remove"]]
    lines += ["alias %s %s" % (a["pattern"], a["module"]) for a in conf["alias"]]
    lines += ["options %s %s" % (o["module"], o["options"]) for o in conf["options"]]
    for s in conf["softdep"]:
        text = ("pre: " + " ".join(s["pre"]) if s["pre"] else "") + ("post: " + " ".join(s["post"]) if s["post"] else "")
        lines.append("softdep %s %s" % (s["pattern"], text))
    return lines


def module_index(dep=None, alias=None, builtin=None, builtin_alias=None, symbols=None, devname=None):
    """The module tree of one kernel release, from the parsed ``/lib/modules/<release>/modules.*`` files.

    ``None`` for a file that could not be read (then lookups that need it say unknown).
    """
    return {"dep": dep, "alias": alias if alias is not None else ([] if dep is not None else None),
            "builtin": builtin, "builtin_alias": builtin_alias or [], "symbols": symbols or [],
            "devname": devname}


class _Mod(object):
    __slots__ = ("key", "name", "alias", "alias_evidence", "builtin", "install", "install_set", "visited", "required",
                 "ignorecmd")

    def __init__(self, key, name, alias=None):
        self.key = key
        self.name = name
        self.alias = alias
        self.alias_evidence = None
        self.builtin = False
        self.install = None
        self.install_set = False
        self.visited = False
        self.required = False
        self.ignorecmd = False


class _Kmod(object):
    """One kmod context: configuration + module index (libkmod's kmod_ctx)."""

    def __init__(self, conf, index, dirname="", loaded=()):
        self.conf = conf
        self.index = index
        self.dirname = dirname.rstrip("/")
        self.cache = {}
        self.loaded = set(normalize_module(m) for m in loaded or ())
        self.unknown = []

    def new(self, name, alias=None):
        key = name if alias is None else "%s\\%s" % (name, alias)
        mod = self.cache.get(key)
        if mod is None:
            mod = self.cache[key] = _Mod(key, name, alias)
        return mod

    def moddep(self, name):
        dep = self.index.get("dep")
        if dep is None:
            return None
        return dep.get(name)

    def is_builtin(self, mod):
        return mod.builtin or mod.name in (self.index.get("builtin") or ())

    def path(self, mod):
        entry = self.moddep(mod.name)
        return "%s/%s" % (self.dirname, entry["path"]) if entry else None

    def lookup(self, given):
        name = alias_normalize(given)
        if name is None:
            return None
        out = []
        for alias in self.conf["alias"]:
            if _c_fnmatch(alias["pattern"], name):
                mod = self.new(alias["module"], alias["pattern"])
                mod.alias_evidence = alias["evidence"]
                out.append(mod)
        if out:
            return out
        if ":" not in name and self.moddep(name):
            return [self.new(name)]
        if name.startswith("symbol:"):
            out = [self.new(m, name) for p, m in self.index.get("symbols") or [] if _c_fnmatch(p, name)]
            if out:
                return out
        for kind in ("install", "remove"):
            for cmd in self.conf[kind]:
                if cmd["module"] == name:
                    mod = self.new(name)
                    if kind == "install" and not mod.install_set:
                        mod.install, mod.install_set = cmd, True
                    return [mod]
        out = [self.new(m, name) for p, m in self.index.get("alias") or [] if _c_fnmatch(p, name)]
        if out:
            return out
        if name in (self.index.get("builtin") or ()):
            mod = self.new(name)
            mod.builtin = True
            return [mod]
        out = [self.new(m, name) for p, m in self.index.get("builtin_alias") or [] if _c_fnmatch(p, name)]
        for mod in out:
            mod.builtin = True
        return out

    def install_of(self, mod):
        if not mod.install_set:
            mod.install_set = True
            for cmd in self.conf["install"]:
                if _c_fnmatch(cmd["module"], mod.name):
                    mod.install = cmd
                    break
        return mod.install

    def options_of(self, mod):
        opts = [o for o in self.conf["options"] if o["module"] == mod.name or (mod.alias and o["module"] == mod.alias)]
        return opts

    def blacklisted(self, mod):
        return [b for b in self.conf["blacklist"] if b["module"] == mod.name]

    def deps(self, mod):
        entry = self.moddep(mod.name)
        return [self.new(d) for d in entry["deps"]] if entry else []

    def softdeps(self, mod):
        for soft in self.conf["softdep"]:
            if _c_fnmatch(soft["pattern"], mod.name):
                pre = [m for n in soft["pre"] for m in (self.lookup(n) or [])]
                post = [m for n in soft["post"] for m in (self.lookup(n) or [])]
                return pre, post, soft
        return [], [], None

    def fill_softdep(self, mod, out):
        pre, post, soft = self.softdeps(mod)
        for m in pre:
            self.probe_list(m, False, False, out)
        out.append((mod, soft if (pre or post) else None))
        mod.ignorecmd = bool(pre or post)
        for m in post:
            self.probe_list(m, False, False, out)

    def probe_list(self, mod, required, ignorecmd, out):
        if mod.visited:
            return
        mod.visited = True
        deps = self.deps(mod)
        if required:
            mod.required = True
            for d in deps:
                d.required = True
        for d in deps:
            self.fill_softdep(d, out)
        if ignorecmd:
            out.append((mod, None))
            mod.ignorecmd = True
        else:
            self.fill_softdep(mod, out)

    def probe(self, given, use_blacklist=False, ignore_commands=False, ignore_loaded=True):
        """What ``modprobe [-b] [-i] GIVEN`` does: {"found", "actions", "stopped", "evidence"}."""
        mods = self.lookup(given)
        result = {"name": given, "found": bool(mods), "modules": [], "actions": [], "stopped": [], "evidence": [],
                  "use_blacklist": use_blacklist, "ignore_commands": ignore_commands}
        if mods is None:
            result["stopped"].append({"module": given, "why": "invalid", "evidence": []})
            return result
        for mod in mods:
            result["modules"].append(mod.name)
            if mod.alias_evidence:
                result["evidence"].append(mod.alias_evidence)
            if not ignore_loaded and (mod.name in self.loaded or self.is_builtin(mod)):
                result["actions"].append({"action": "in-kernel", "module": mod.name, "required": True})
                continue
            if (mod.alias is not None) or use_blacklist:
                black = self.blacklisted(mod)
                if black:
                    result["stopped"].append({"module": mod.name, "why": "blacklisted", "alias": mod.alias,
                                              "evidence": [b["evidence"] for b in black]})
                    continue
            for m in self.cache.values():
                m.visited = False
                m.required = False
            todo = []
            self.probe_list(mod, True, ignore_commands, todo)
            for m, soft in todo:
                options = self.options_of(m)
                text = " ".join(o["options"] for o in options)
                action = {"module": m.name, "required": m.required, "options": text,
                          "evidence": [o["evidence"] for o in options] + ([soft["evidence"]] if soft else [])}
                if not ignore_loaded and (m.name in self.loaded or self.is_builtin(m)):
                    action["action"] = "in-kernel"
                    result["actions"].append(action)
                    continue
                install = self.install_of(m)
                if install is not None and not m.ignorecmd:
                    action.update(action="install", command=install["command"])
                    action["evidence"].insert(0, install["evidence"])
                else:
                    path = self.path(m)
                    if path is None:
                        action.update(action="builtin" if self.is_builtin(m) else "none", path=None)
                    else:
                        action.update(action="insmod", path=path)
                result["actions"].append(action)
        return result


def render_show_depends(result):
    """``modprobe --show-depends`` output lines for a :meth:`_Kmod.probe` result (kmod v30 print_action)."""
    lines = []
    for action in result["actions"]:
        # module_options_concat() leaves a blank after the module's options even with no extra ones.
        options = action["options"] + " " if action["options"] else ""
        if action["action"] == "install":
            lines.append("install %s %s" % (action["command"], options))
        elif action["action"] == "insmod":
            lines.append("insmod %s %s" % (action["path"], options))
        elif action["action"] == "builtin":
            lines.append("builtin %s" % action["module"])
    return lines


def probe(conf, index, name, use_blacklist=False, ignore_commands=False, loaded=None, dirname=""):
    """What modprobe would do for ``name``: the actions in order, and what stopped it.

    ``loaded`` is the set of modules in the kernel (``/proc/modules``); None
    means "as --show-depends": ignore what is loaded.

    >>> idx = module_index(dep=parse_modules_dep("kernel/vhost_net.ko: kernel/vhost.ko\\nkernel/vhost.ko:\\n"),
    ...                    alias=parse_modules_alias("alias char-major-10-238 vhost_net\\n"))
    >>> conf = build_config([("/etc/modprobe.d/b.conf", parse_modprobe_conf("blacklist vhost_net\\n"))])
    >>> render_show_depends(probe(conf, idx, "vhost_net", dirname="/lib/modules/6.1"))
    ['insmod /lib/modules/6.1/kernel/vhost.ko ', 'insmod /lib/modules/6.1/kernel/vhost_net.ko ']
    >>> probe(conf, idx, "char-major-10-238")["stopped"][0]["why"]
    'blacklisted'
    """
    ctx = _Kmod(conf, index, dirname, loaded or ())
    result = ctx.probe(name, use_blacklist=use_blacklist, ignore_commands=ignore_commands,
                       ignore_loaded=loaded is None)
    return result


_NOOP_COMMANDS = frozenset(("true", "false", ":", "exit", "echo", "printf", "logger", "return"))
_SH_C = re.compile(r"""^(?:/usr)?(?:/bin/)?(?:sh|bash|dash)\s+-c\s+(['"])(.*)\1\s*$""", re.S)


def install_effect(command):
    """What an install command runs: {"kind": "noop" | "modprobe" | "unknown", "calls": [...], "why"}.

    ``calls`` are the ``modprobe`` / ``insmod`` invocations in it, in order:
    ``{"prog": "modprobe", "name", "ignore_install", "use_blacklist"}`` or
    ``{"prog": "insmod", "name"}``. A command made only of those and of no-ops
    (``true``, ``false``, ``:``, ``exit``, ``echo``, ``logger``; also inside
    ``sh -c '...'``) is read; anything else (a script) is "unknown".

    >>> install_effect("/bin/true")["kind"], install_effect("/bin/sh -c 'exit 1'")["kind"]
    ('noop', 'noop')
    >>> install_effect("/sbin/modprobe tun; /sbin/modprobe --ignore-install vhost_net $CMDLINE_OPTS")["calls"]
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'prog': 'modprobe', 'name': 'tun', 'ignore_install': False, 'use_blacklist': False},
     {'prog': 'modprobe', 'name': 'vhost_net', 'ignore_install': True, 'use_blacklist': False}]
    >>> install_effect("/usr/local/sbin/vhost-policy")["kind"]
    'unknown'
    """
    body = (command or "").strip()
    inner = _SH_C.match(body)
    if inner:
        body = inner.group(2)
    calls = []
    for part in re.split(r";|&&|\|\||\n", body):
        words = part.split()
        if not words:
            continue
        prog = posixpath.basename(words[0])
        if prog in _NOOP_COMMANDS:
            continue
        if prog == "modprobe":
            flags = [w for w in words[1:] if w.startswith("-")]
            names = [w for w in words[1:] if not w.startswith("-") and "=" not in w and not w.startswith("$")]
            if not names or any(f not in ("-i", "--ignore-install", "-b", "--use-blacklist", "-q", "--quiet", "-v",
                                          "--verbose", "-s", "--syslog") for f in flags):
                return {"kind": "unknown", "calls": calls, "why": "`%s`: modprobe with options not read here"
                        % part.strip()}
            calls.append({"prog": "modprobe", "name": names[0],
                          "ignore_install": "-i" in flags or "--ignore-install" in flags,
                          "use_blacklist": "-b" in flags or "--use-blacklist" in flags})
        elif prog == "insmod" and len(words) > 1:
            calls.append({"prog": "insmod", "name": _module_from_path(words[1]) or normalize_module(words[1])})
        else:
            return {"kind": "unknown", "calls": calls, "why": "runs `%s`, which cannot be read statically"
                    % part.strip()}
    return {"kind": "modprobe" if calls else "noop", "calls": calls, "why": None}


def classify_install(command, module):
    """Whether ``install MODULE COMMAND`` still loads MODULE: "loads", "blocks" or "unknown" (no recursion).

    >>> classify_install("/bin/true", "vhost_net"), classify_install("/sbin/modprobe -i vhost-net", "vhost_net")
    ('blocks', 'loads')
    """
    effect = install_effect(command)
    if any(normalize_module(c["name"]) == normalize_module(module) and (c["prog"] == "insmod" or c["ignore_install"])
           for c in effect["calls"]):
        return "loads"
    if effect["kind"] == "unknown":
        return "unknown"
    return "blocks" if effect["kind"] == "noop" else "unknown"


def simulate(result, conf, index, depth=0, loaded=None, stack=()):
    """Run a :func:`probe` result as the kernel would see it: {"loaded": set, "unknown": why | None, "blocker"}.

    An ``insmod`` whose dependencies are not in the kernel fails (unknown
    symbols); a required module that fails stops modprobe; an ``install``
    command runs its ``modprobe`` calls (followed, to a depth of 3); a call
    that repeats one already running (``install vhost modprobe -i vhost_net``:
    ``-i`` skips only vhost_net's own install command, not its dependency's)
    is a loop that loads nothing more.
    """
    have = set(loaded or ())
    blocker = None
    pending = None
    for action in result.get("actions") or []:
        m = action["module"]
        kind = action["action"]
        if kind in ("builtin", "in-kernel"):
            have.add(m)
            continue
        if kind == "insmod":
            deps = ((index.get("dep") or {}).get(m) or {}).get("deps") or []
            missing = [d for d in deps if d not in have]
            if not missing:
                have.add(m)
                continue
            blocker = blocker or {"module": m, "why": "%s cannot load without %s" % (m, ", ".join(missing))}
        elif kind == "install":
            effect = install_effect(action["command"])
            if effect["kind"] == "unknown":
                if not action.get("required"):
                    # A soft dependency's command: its failure is ignored and the rest goes on, but what it
                    # did is unknown (it may load the module itself).
                    pending = pending or "`install %s %s`: %s" % (m, action["command"], effect["why"])
                    continue
                return {"loaded": have, "unknown": "`install %s %s`: %s" % (m, action["command"], effect["why"]),
                        "blocker": blocker, "evidence": action.get("evidence", [])}
            for call in effect["calls"]:
                if call["prog"] == "insmod":
                    have.add(normalize_module(call["name"]))
                    continue
                key = (normalize_module(call["name"]), call["use_blacklist"], call["ignore_install"])
                if key in stack:
                    continue
                if depth >= 3:
                    return {"loaded": have, "unknown": "install commands nest too deep to follow", "blocker": blocker,
                            "evidence": action.get("evidence", [])}
                sub = _Kmod(conf, index, "", ()).probe(call["name"], use_blacklist=call["use_blacklist"],
                                                       ignore_commands=call["ignore_install"])
                got = simulate(sub, conf, index, depth + 1, have, stack + (key,))
                if got["unknown"]:
                    return got
                have |= got["loaded"]
            if m not in have:
                blocker = blocker or {"module": m, "why": "`install %s %s` runs instead of loading %s" % (
                    m, action["command"], m), "evidence": action.get("evidence", [])}
                if action.get("required"):
                    continue
        else:
            blocker = blocker or {"module": m, "why": "%s has no module file to load" % m}
    return {"loaded": have, "unknown": None, "pending": pending, "blocker": blocker, "evidence": []}


def load_outcome(result, module="vhost_net", index=None, conf=None):
    """Whether one modprobe call ends with ``module`` in the kernel: {"loads": True|False|None, "why", "evidence", "kind"}.

    ``result`` is :func:`probe` output. ``loads`` is None (unknown) when an
    ``install`` command runs something that cannot be read statically.
    """
    target = normalize_module(module)
    evidence = list(result.get("evidence") or [])
    for stop in result.get("stopped") or []:
        evidence.extend(stop.get("evidence") or [])
    for action in result.get("actions") or []:
        evidence.extend(e for e in action.get("evidence") or [] if e not in evidence)
    if not result.get("found"):
        return {"loads": False, "why": "modprobe finds no module, alias or install command named %s"
                                       % result.get("name"), "evidence": evidence, "kind": "not_found"}
    actions = result.get("actions") or []
    if not actions:
        stops = result.get("stopped") or []
        if stops and stops[0].get("why") == "blacklisted":
            how = ("looked up through the alias %s" % stops[0]["alias"]) if stops[0].get("alias") else \
                "asked with -b"
            return {"loads": False, "why": "%s is blacklisted and %s: modprobe skips it"
                                           % (stops[0]["module"], how), "evidence": evidence, "kind": "blacklist"}
        return {"loads": False, "why": "%s resolves to %s, which modprobe has nothing to load for"
                                       % (result.get("name"), ", ".join(result.get("modules") or ["nothing"])),
                "evidence": evidence, "kind": "alias"}
    top = (alias_normalize(result.get("name") or "") or "", bool(result.get("use_blacklist")),
           bool(result.get("ignore_commands")))
    ran = simulate(result, conf, index, stack=(top,))
    if target in ran["loaded"]:
        how = [a for a in actions if a["module"] == target]
        return {"loads": True, "why": "%s %s" % (how[0]["action"] if how else "install command loads",
                                                 (how[0].get("path") or target) if how else target),
                "evidence": evidence, "kind": None}
    if ran["unknown"] or ran.get("pending"):
        return {"loads": None, "why": ran["unknown"] or ran["pending"], "evidence": evidence, "kind": "install"}
    if not any(a["module"] == target for a in actions):
        return {"loads": False, "why": "%s resolves to %s, not %s" % (
            result.get("name"), ", ".join(sorted(set(result.get("modules") or []))) or "nothing", target),
            "evidence": evidence, "kind": "alias"}
    blocker = ran["blocker"] or {"why": "%s is not loaded" % target}
    kind = "install" if "install" in blocker["why"] else "alias" if "no module file" in blocker["why"] else "missing"
    return {"loads": False, "why": blocker["why"], "evidence": evidence, "kind": kind}


def loading_rules(conf, index, loaded=None, kernel_refuses=(), module="vhost_net", aliases=VHOST_NET_ALIASES):
    """Every way ``module`` gets loaded on this node, and what each one does.

    Returns ``{"entry_points": {name: {"loads", "why", "evidence", "kind", "who"}},
    "blocks": [{"kind","path","line","raw","module","stops"}], "static_node": {...} | None}``.
    ``kernel_refuses`` is the kernel's own ``module_blacklist=`` list.
    """
    target = normalize_module(module)
    out = {}
    blocks = {}
    for name, looked_up, use_blacklist, who in ENTRY_POINTS:
        lookup = looked_up if looked_up != "vhost_net" else target
        if looked_up.startswith("char-major") and module != "vhost_net":
            continue
        result = probe(conf, index, lookup, use_blacklist=use_blacklist, loaded=loaded)
        verdict = load_outcome(result, target, index=index, conf=conf)
        refused = [m for m in kernel_refuses if m == target or any(
            a.get("module") == m and a.get("required") for a in result.get("actions") or [])]
        if verdict["loads"] is not False and refused and not any(
                a["action"] == "in-kernel" and a["module"] == target for a in result.get("actions") or []):
            verdict = {"loads": False, "why": "the kernel command line's module_blacklist=%s makes the kernel "
                                              "refuse to load it" % ",".join(refused),
                       "evidence": ["/proc/cmdline: module_blacklist=%s" % ",".join(kernel_refuses)],
                       "kind": "kernel_cmdline"}
        verdict["who"] = who
        out[name] = verdict
        if verdict["loads"] is False and verdict.get("kind") in ("blacklist", "install", "alias", "kernel_cmdline"):
            for ev in verdict["evidence"]:
                key = (verdict["kind"], ev)
                blocks.setdefault(key, []).append(name)
    listed = []
    for (kind, ev), stops in blocks.items():
        path, line, raw = _split_evidence(ev)
        if kind == "blacklist" and path == "/proc/cmdline":
            kind = "cmdline"
        listed.append({"kind": kind, "path": path, "line": line, "raw": raw, "module": _evidence_module(raw),
                       "stops": stops, "evidence": ev})
    static = None
    for entry in index.get("devname") or []:
        if entry["module"] == target:
            static = entry
    return {"entry_points": out, "blocks": listed, "static_node": static}


def _split_evidence(ev):
    match = re.match(r"(.*?):([0-9]+): (.*)\Z", ev, re.S)
    if match:
        return match.group(1), int(match.group(2)), match.group(3)
    path, _sep, raw = ev.partition(": ")
    return path, None, raw


def _evidence_module(raw):
    words = _kmod_split(raw or "")
    if not words:
        return None
    if words[0].startswith("modprobe.blacklist=") or words[0].startswith("module_blacklist="):
        return normalize_module(words[0].split("=", 1)[1])
    return normalize_module(words[1]) if len(words) > 1 else None
