"""Differential tests: the auditor's port of kmod against the real kmod.

Generated modprobe.d trees (hypothesis), a generated module tree (tiny ELF
objects with .modinfo and exported symbols, indexed by the real ``depmod -b``)
and a generated kernel command line (bind-mounted over /proc/cmdline in a
private mount namespace) are given to the real ``modprobe -C ... -d ...
--show-depends`` (with and without ``-b``) and ``modprobe -c``; the auditor's
:mod:`nodeaudit.parsers.kmod` must print the same actions, reach the same
verdict for vhost_net, and read the same configuration, on every case. A
failure names the case (files, command line, query) that differed.
"""
import os
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nodeaudit.parsers import kmod

RELEASE = "6.1.0-audit"
NEEDED = ("modprobe", "depmod", "gcc", "unshare", "mount")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or any(shutil.which(p) is None for p in NEEDED),
    reason="needs root (a mount namespace for /proc/cmdline), kmod's modprobe/depmod and gcc")

# name -> (aliases, exported symbols, symbols it uses): the real vhost_net dependency shape.
MODULES = {
    "vhost_iotlb": ((), ("vhost_iotlb_add_range",), ()),
    "vhost": ((), ("vhost_dev_init",), ("vhost_iotlb_add_range",)),
    "tun": (("char-major-10-200", "devname:net/tun"), ("tun_get_socket",), ()),
    "tap": ((), ("tap_get_socket",), ()),
    "vhost_net": (("char-major-10-238", "devname:vhost-net"), (),
                  ("vhost_dev_init", "vhost_iotlb_add_range", "tun_get_socket", "tap_get_socket")),
    "macvtap": ((), (), ("tap_get_socket",)),
}
BUILTIN_VARIANT = ("vhost_iotlb", "vhost", "vhost_net")


def _module_source(name, aliases, exports, imports):
    info = "".join("alias=%s\\0" % a for a in aliases) + "name=%s\\0vermagic=%s SMP mod_unload \\0" % (name, RELEASE)
    out = ['static const char __mi[] __attribute__((section(".modinfo"), used, aligned(1))) = "%s";' % info,
           'static const char __this[] __attribute__((section(".gnu.linkonce.this_module"), used)) = "m";']
    for sym in exports:
        out.append("int %s = 1;" % sym)
    if exports:
        out.append('static const char __ks[] __attribute__((section("__ksymtab_strings"), used, aligned(1))) = "%s";'
                   % "".join("%s\\0" % s for s in exports))
    for i, sym in enumerate(imports):
        out.append("extern int %s; int *__ref%d = &%s;" % (sym, i, sym))
    return "\n".join(out) + "\n"


def _build_tree(base, builtin=()):
    moddir = os.path.join(base, "lib", "modules", RELEASE)
    for name, (aliases, exports, imports) in MODULES.items():
        if name in builtin:
            continue
        sub = "drivers/vhost" if name.startswith("vhost") else "drivers/net"
        target = os.path.join(moddir, "kernel", sub)
        os.makedirs(target, exist_ok=True)
        src = os.path.join(base, name + ".c")
        with open(src, "w") as handle:
            handle.write(_module_source(name, aliases, exports, [s for s in imports if not any(
                s in MODULES[b][1] for b in builtin)]))
        subprocess.run(["gcc", "-c", "-o", os.path.join(target, name + ".ko"), src], check=True)
    os.makedirs(moddir, exist_ok=True)
    with open(os.path.join(moddir, "modules.builtin"), "w") as handle:
        handle.write("".join("kernel/drivers/vhost/%s.ko\n" % b for b in builtin))
    with open(os.path.join(moddir, "modules.builtin.modinfo"), "wb") as handle:
        for b in builtin:
            for a in MODULES[b][0]:
                handle.write(("%s.alias=%s\0" % (b, a)).encode())
    subprocess.run(["depmod", "-b", base, RELEASE], check=True, stderr=subprocess.DEVNULL)
    return moddir


def _index(moddir):
    def text(name):
        path = os.path.join(moddir, name)
        return open(path).read() if os.path.exists(path) else ""
    builtin_alias = []
    path = os.path.join(moddir, "modules.builtin.modinfo")
    if os.path.exists(path):
        for item in open(path, "rb").read().split(b"\0"):
            key, _sep, value = item.decode().partition("=")
            if key.endswith(".alias"):
                builtin_alias.append((kmod.alias_normalize(value), key[:-len(".alias")]))
    return kmod.module_index(dep=kmod.parse_modules_dep(text("modules.dep")),
                             alias=kmod.parse_modules_alias(text("modules.alias")),
                             builtin=kmod.parse_modules_builtin(text("modules.builtin")),
                             builtin_alias=builtin_alias,
                             symbols=kmod.parse_modules_alias(text("modules.symbols")),
                             devname=kmod.parse_modules_devname(text("modules.devname")))


@pytest.fixture(scope="module")
def trees():
    base = tempfile.mkdtemp(prefix="kmod-diff-")
    out = {}
    for variant, builtin in (("modules", ()), ("builtin", BUILTIN_VARIANT)):
        root = os.path.join(base, variant)
        moddir = _build_tree(root, builtin)
        out[variant] = {"root": root, "moddir": moddir, "index": _index(moddir)}
    yield out
    shutil.rmtree(base, ignore_errors=True)


# -- generated configuration --------------------------------------------------

MODS = st.sampled_from(["vhost_net", "vhost-net", "vhost", "vhost_iotlb", "tun", "tap", "vh", "vhost*", "vhost_n?t",
                        "vhost_net\r", "char-major-10-238", "[v]host_net", "macvtap", "nosuch"])
TARGETS = st.sampled_from(["vhost_net", "vhost-net", "tun", "vhost", "off", "macvtap", "char-major-10-238", "nosuch"])
COMMANDS = st.sampled_from(["/bin/true", "/bin/false", "/sbin/modprobe --ignore-install vhost_net $CMDLINE_OPTS",
                            "/bin/sh -c 'exit 1'", "/usr/local/sbin/policy", " /bin/true", "/bin/true\t-x"])
OPTIONS = st.sampled_from(["experimental_zcopytx=0", "a=1  b=2", "x=\"1 2\"", "\tq=1"])
SOFT = st.lists(st.sampled_from(["tun", "tap", "vh", "macvtap", "nosuch", "vhost"]), max_size=2)


@st.composite
def directive(draw):
    kind = draw(st.sampled_from(["blacklist", "install", "remove", "options", "alias", "softdep", "comment",
                                 "blank", "bad", "indented-comment"]))
    mod = draw(MODS)
    if kind == "blacklist":
        return "blacklist %s" % mod
    if kind in ("install", "remove"):
        return "%s %s %s" % (kind, mod, draw(COMMANDS))
    if kind == "options":
        return "options %s %s" % (mod, draw(OPTIONS))
    if kind == "alias":
        return "alias %s %s" % (draw(st.sampled_from(["vh", "vhost_net", "vhost-net", "char-major-10-238",
                                                       "devname:vhost-net", "vhost*", "v?"])), draw(TARGETS))
    if kind == "softdep":
        pre, post = draw(SOFT), draw(SOFT)
        return "softdep %s%s%s" % (mod, (" pre: " + " ".join(pre)) if pre or not post else "",
                                   (" post: " + " ".join(post)) if post else "")
    if kind == "comment":
        return "# blacklist vhost_net"
    if kind == "indented-comment":
        return "   # install vhost_net /bin/true"
    if kind == "bad":
        return draw(st.sampled_from(["blacklist", "options vhost_net", "install vhost_net", "frob vhost_net",
                                     "include /etc/x.conf"]))
    return ""


@st.composite
def conf_file(draw):
    lines = draw(st.lists(directive(), max_size=6))
    text = ""
    for line in lines:
        sep = draw(st.sampled_from(["\n", "\n", "\r\n", " \\\n"])) if line else "\n"
        if sep == " \\\n":
            # A continued line: split it at a blank.
            head, blank, tail = line.partition(" ")
            text += head + " \\\n" + tail + "\n" if blank else line + "\n"
        else:
            text += line + sep
    return text


@st.composite
def config_tree(draw):
    names = draw(st.lists(st.sampled_from(["00-first.conf", "blacklist.conf", "vhost.conf", "zz.conf", "x.alias",
                                           "notes.txt", ".hidden.conf"]), min_size=1, max_size=3, unique=True))
    etc = {n: draw(conf_file()) for n in names}
    lib = {}
    if draw(st.booleans()):
        for n in draw(st.lists(st.sampled_from(["blacklist.conf", "lib.conf", "vhost.conf"]), max_size=2, unique=True)):
            lib[n] = draw(conf_file())
    cmdline = draw(st.sampled_from([
        "ro quiet", "ro modprobe.blacklist=vhost_net", "modprobe.blacklist=tun,vhost-net",
        "vhost_net.experimental_zcopytx=1 quiet", "module_blacklist=vhost_net", 'vhost-net.x="a b" ro',
        '"modprobe.blacklist=vhost_net"', "modprobe.blacklist=vhost", "tap.q=1 modprobe.blacklist=nosuch,vh"]))
    variant = draw(st.sampled_from(["modules", "modules", "builtin"]))
    return {"etc": etc, "lib": lib, "cmdline": cmdline, "variant": variant}


QUERIES = ["vhost_net", "vhost-net", "char-major-10-238", "devname:vhost-net", "vh", "vhost"]


def _run_real(tree, case, workdir):
    etc = os.path.join(workdir, "etc")
    lib = os.path.join(workdir, "lib")
    for d, files in ((etc, case["etc"]), (lib, case["lib"])):
        os.makedirs(d, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(d, name), "w", newline="") as handle:
                handle.write(text)
    cmdline = os.path.join(workdir, "cmdline")
    with open(cmdline, "w") as handle:
        handle.write(case["cmdline"] + "\n")
    base = "modprobe -d %s -S %s -C %s -C %s" % (tree["root"], RELEASE, etc, lib)
    script = ["mount --bind %s /proc/cmdline || exit 99" % cmdline, "echo '@@config'", "%s -c 2>/dev/null" % base]
    for q in QUERIES:
        for flag in ("", "-b "):
            script.append("echo '@@%s%s'" % (flag, q))
            script.append("%s %s--show-depends '%s' 2>/dev/null" % (base, flag, q))
    script.append("echo '@@-i vhost_net'")
    script.append("%s -i --show-depends vhost_net 2>/dev/null" % base)
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(script)],
                          stdout=subprocess.PIPE, timeout=60)
    assert proc.returncode != 99, "cannot bind-mount over /proc/cmdline"
    sections = {}
    current = None
    for line in proc.stdout.decode("utf-8", "replace").split("\n"):
        if line.startswith("@@"):
            current = line[2:]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    for key in sections:
        while sections[key] and sections[key][-1] == "":
            sections[key].pop()
    return sections


def _mine(tree, case, workdir):
    etc = os.path.join(workdir, "etc")
    lib = os.path.join(workdir, "lib")
    listing = [(etc, sorted(case["etc"])), (lib, sorted(case["lib"]))]
    files = []
    for directory, name in kmod.effective_conf_files(listing):
        files.append(("%s/%s" % (directory, name), kmod.parse_modprobe_conf(
            (case["etc"] if directory == etc else case["lib"])[name])))
    softdep = os.path.join(tree["moddir"], "modules.softdep")
    soft = (softdep, kmod.parse_modprobe_conf(open(softdep).read())) if os.path.exists(softdep) else None
    return kmod.build_config(files, kmod.parse_kernel_cmdline(case["cmdline"] + "\n"), soft)


def _verdict_from_lines(lines, index, real):
    """vhost_net's verdict read from the real modprobe's --show-depends output alone.

    An insmod whose dependencies were not inserted before it fails; an install
    line runs its command: a no-op loads nothing, the ``modprobe
    --ignore-install vhost_net`` wrapper loads what the real ``modprobe -i
    --show-depends vhost_net`` says (a wrapper met again inside it is a loop),
    anything else is unknown unless vhost_net loads anyway (None).
    """
    have, unknown = _real_run(lines, index, real, inside_wrapper=False)
    if "vhost_net" in have:
        return True
    return None if unknown else False


def _real_run(lines, index, real, inside_wrapper):
    have = set()
    unknown = False
    for line in lines:
        word, _sep, rest = line.partition(" ")
        if word == "builtin":
            have.add(rest.strip())
        elif word == "insmod":
            name = kmod._module_from_path(rest.split(" ")[0])
            deps = ((index["dep"] or {}).get(name) or {}).get("deps") or []
            if all(d in have for d in deps):
                have.add(name)
        elif word == "install":
            command = rest.rstrip(" ")
            if "--ignore-install vhost_net" in command:
                if not inside_wrapper:
                    got, unsure = _real_run(real["-i vhost_net"], index, real, inside_wrapper=True)
                    have |= got
                    unknown = unknown or unsure
            elif not any(command.startswith(c) for c in ("/bin/true", "/bin/false", "/bin/sh -c 'exit 1'",
                                                          " /bin/true")):
                unknown = True      # a script: unknown, unless vhost_net and its dependencies load anyway
    return have, unknown


def _describe(case, query=None):
    files = "; ".join("etc/%s=%r" % kv for kv in sorted(case["etc"].items()))
    files += "".join("; lib/%s=%r" % kv for kv in sorted(case["lib"].items()))
    return "case: tree=%s cmdline=%r files: %s%s" % (case["variant"], case["cmdline"], files,
                                                   "; query: modprobe %s" % query if query else "")


@settings(max_examples=int(os.environ.get("KMOD_DIFF_EXAMPLES", "120")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=config_tree())
def test_kmod_port_agrees_with_real_modprobe(trees, case):
    tree = trees[case["variant"]]
    workdir = tempfile.mkdtemp(prefix="kmod-case-")
    try:
        real = _run_real(tree, case, workdir)
        conf = _mine(tree, case, workdir)
        got_config = kmod.show_config(conf)
        want_config = real["config"][:real["config"].index("# End of configuration files. Dumping indexes now:")]
        while want_config and want_config[-1] == "":
            want_config.pop()
        assert got_config == want_config, "modprobe -c differs; " + _describe(case)
        for q in QUERIES:
            for flag in ("", "-b "):
                want = real[flag + q]
                result = kmod.probe(conf, tree["index"], q, use_blacklist=bool(flag), dirname=tree["moddir"])
                got = kmod.render_show_depends(result)
                assert got == want, "--show-depends differs; " + _describe(case, flag + q)
                mine = kmod.load_outcome(result, "vhost_net", index=tree["index"], conf=conf)["loads"]
                theirs = _verdict_from_lines(want, tree["index"], real)
                assert mine == theirs, "vhost_net verdict differs (mine %r, real %r); %s" % (
                    mine, theirs, _describe(case, flag + q))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("conf_text,query,flag,loads", [
    ("", "char-major-10-238", "", True),
    ("blacklist vhost_net\n", "char-major-10-238", "", False),
    ("blacklist vhost_net\n", "vhost_net", "", True),
    ("blacklist vhost_net\n", "vhost_net", "-b", False),
    ("blacklist vhost\n", "vhost_net", "-b", True),
    ("install vhost /bin/true\n", "vhost_net", "", False),
    ("install vhost_net /bin/true\nsoftdep vhost_net pre: tun\n", "vhost_net", "", True),
    ("alias vhost_net tun\n", "vhost_net", "", False),
    ("alias char-major-10-238 off\n", "char-major-10-238", "", False),
    ("install vhost_net /sbin/modprobe --ignore-install vhost_net\n", "vhost_net", "-b", True),
])
def test_named_cases_against_real_modprobe(trees, conf_text, query, flag, loads):
    """The forms the README names, each checked against the real modprobe and the port."""
    case = {"etc": {"a.conf": conf_text}, "lib": {}, "cmdline": "ro", "variant": "modules"}
    tree = trees["modules"]
    workdir = tempfile.mkdtemp(prefix="kmod-case-")
    try:
        real = _run_real(tree, case, workdir)
        conf = _mine(tree, case, workdir)
        result = kmod.probe(conf, tree["index"], query, use_blacklist=bool(flag), dirname=tree["moddir"])
        assert kmod.render_show_depends(result) == real[(flag + " " if flag else "") + query]
        assert kmod.load_outcome(result, index=tree["index"], conf=conf)["loads"] is loads
        assert _verdict_from_lines(real[(flag + " " if flag else "") + query], tree["index"], real) is loads
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
