"""What sos's kernel plugin keeps, beyond lsmod (pure: text in, data out).

sos/report/plugins/kernel.py (3.x: sos/plugins/kernel.py) runs ``lsmod``
(``sos_commands/kernel/lsmod``; parsers/kmod.parse_lsmod reads it), ``uname -a``
(``uname_-a``), ``modinfo`` of every entry of ``/sys/module``
(``modinfo_ALL_MODULES`` from 3.6; before, the mangled command itself, cut at
64 characters in 3.0-3.5), and copies ``/proc/modules``, ``/proc/misc``,
``/proc/cmdline``, ``/sys/module/*/{parameters,initstate,refcnt,taint,version}``
and the modprobe.d directories. It never copies ``modules.builtin`` or ``/dev``.
"""
import re

from ..errors import ParseError


def _text(text, what):
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ParseError("%s must be text, not %s" % (what, type(text).__name__))
    return text


def parse_modinfo(text):
    """``modinfo A B C ...`` output: ``{module: {"filename", "builtin": bool, "depends": [..]}}``.

    Blocks start at ``filename:`` (kmod prints ``filename: (builtin)`` for a built-in
    module, with ``name:`` since kmod 27); a module without a ``name:`` line is named
    after its file.

    Sample input::

        filename:       /lib/modules/5.4.0-97-generic/kernel/drivers/vhost/vhost_net.ko
        depends:        vhost,tap
        name:           vhost_net
        filename:       (builtin)
        name:           tun

    >>> r = parse_modinfo("filename:       /lib/modules/5.4.0-97-generic/kernel/drivers/vhost/vhost_net.ko\\n"
    ...                   "depends:        vhost,tap\\nname:           vhost_net\\n"
    ...                   "filename:       (builtin)\\nname:           tun\\n")
    >>> r["vhost_net"]["builtin"], r["vhost_net"]["depends"], r["tun"]["builtin"]
    (False, ['vhost', 'tap'], True)
    """
    text = _text(text, "modinfo output")
    modules = {}
    block = None

    def close(b):
        if b is None:
            return
        name = b.get("name")
        if not name and b.get("filename") and b["filename"] != "(builtin)":
            name = re.sub(r"\.ko(\.[a-z]+)?$", "", b["filename"].rsplit("/", 1)[-1])
        if name:
            name = name.replace("-", "_")
            modules[name] = {"filename": b.get("filename"), "builtin": b.get("filename") == "(builtin)",
                             "depends": b.get("depends", [])}

    for raw in text.split("\n"):
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "filename":
            close(block)
            block = {"filename": value}
        elif block is None:
            # "modinfo: ERROR: Module x not found." and the like.
            continue
        elif key == "name":
            block["name"] = value
        elif key == "depends":
            block["depends"] = [d for d in value.split(",") if d]
    close(block)
    return modules


def parse_proc_misc(text):
    """``/proc/misc``: ``{name: minor}``.

    >>> parse_proc_misc(" 58 network_throughput\\n238 vhost-net\\n200 tun\\n")["vhost-net"]
    238
    """
    text = _text(text, "/proc/misc")
    out = {}
    for raw in text.split("\n"):
        words = raw.split()
        if len(words) == 2 and re.match(r"^[0-9]{1,6}$", words[0]):
            out[words[1]] = int(words[0])
    return out


def parse_uname(text):
    """``uname -a``: the kernel release (third word), or None.

    >>> parse_uname("Linux compute4 5.4.0-97-generic #110-Ubuntu SMP Thu Jan 13 18:22:13 UTC 2022 x86_64 GNU/Linux")
    '5.4.0-97-generic'
    """
    text = _text(text, "uname output")
    words = text.split()
    if len(words) >= 3 and words[0] == "Linux":
        return words[2]
    return None
