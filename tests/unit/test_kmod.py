"""kmod.py: /proc/modules, lsmod, modules.builtin, modules-load.d and modprobe.d as the kernel and kmod read them."""
import doctest
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeaudit.parsers import kmod
from nodeaudit.errors import ParseError

PROC_MODULES = (
    "vhost_net 32768 1 - Live 0xffffffffc0a6b000\n"
    "tap 24576 1 vhost_net, Live 0x0000000000000000\n"
    "vhost 49152 2 vhost_vsock,vhost_net, Live 0x0000000000000000\n"
    "nvidia 35000000 50 nvidia_modeset,nvidia_uvm, Live 0x0000000000000000 (POE)\n"
    "kvm_intel 282624 3 - Loading 0x0000000000000000\n"
    "noun 16384 - - Live 0x0000000000000000\n"
    "perm 16384 0 [permanent], Live 0x0000000000000000\n"
)

# (id, text, expected modules (name -> dict), expected bad line numbers)
PROC_CASES = [
    ("empty", "", {}, []),
    ("blank-lines", "\n\n", {}, []),
    ("one", "vhost_net 32768 1 - Live 0xffffffffc0a6b000\n",
     {"vhost_net": {"size": 32768, "refcount": 1, "used_by": [], "state": "Live"}}, []),
    ("crlf", "vhost_net 32768 1 - Live 0x0\r\n",
     {"vhost_net": {"size": 32768, "refcount": 1, "used_by": [], "state": "Live"}}, []),
    ("truncated-last", "tap 24576 1 vhost_net, Live 0x0\nvhost_net 327",
     {"tap": {"size": 24576, "refcount": 1, "used_by": ["vhost_net"], "state": "Live"}}, [2]),
    ("truncated-state", "vhost_net 32768 1 - Li", {}, [1]),
    ("nul-bytes", "vhost\x00net 32768 1 - Live 0x0\n", {}, [1]),
    ("lsmod-line-is-bad", "vhost_net              32768  1\n", {}, [1]),
    ("header-is-bad", "Module Size Used by\n", {}, [1]),
    ("dash-name-normalised", "vhost-net 1 0 - Live 0x0\n",
     {"vhost_net": {"size": 1, "refcount": 0, "used_by": [], "state": "Live"}}, []),
]


@pytest.mark.parametrize("text,modules,bad", [c[1:] for c in PROC_CASES], ids=[c[0] for c in PROC_CASES])
def test_parse_proc_modules(text, modules, bad):
    result = kmod.parse_proc_modules(text)
    assert result["modules"] == modules
    assert [b["line"] for b in result["bad_lines"]] == bad
    json.dumps(result)


def test_parse_proc_modules_full_sample():
    result = kmod.parse_proc_modules(PROC_MODULES)
    assert result["bad_lines"] == []
    mods = result["modules"]
    assert mods["vhost"]["used_by"] == ["vhost_vsock", "vhost_net"]
    assert mods["nvidia"]["used_by"] == ["nvidia_modeset", "nvidia_uvm"]
    assert mods["kvm_intel"]["state"] == "Loading"
    assert mods["noun"]["refcount"] is None
    assert mods["perm"]["used_by"] == []
    assert list(mods) == ["vhost_net", "tap", "vhost", "nvidia", "kvm_intel", "noun", "perm"]


def test_parse_proc_modules_bad_line_raw():
    assert kmod.parse_proc_modules("a 1 0 - Live 0x0\ngarbage here\n")["bad_lines"] == [
        {"line": 2, "raw": "garbage here"}]


LSMOD_FULL = (
    "Module                  Size  Used by\n"
    "vhost_net              32768  1\n"
    "tap                    24576  1 vhost_net\n"
    "vhost                  49152  2 vhost_vsock,vhost_net\n"
)
LSMOD_GREP = (
    "vhost_net              18104  2\n"
    "vhost                  29009  1 vhost_net\n"
    "macvtap                18255  1 vhost_net\n"
)

LSMOD_CASES = [
    ("empty", "", [], []),
    ("header-only", "Module                  Size  Used by\n", [], []),
    ("full", LSMOD_FULL, ["vhost_net", "tap", "vhost"], []),
    ("headerless-grep-keeps-first", LSMOD_GREP, ["vhost_net", "vhost", "macvtap"], []),
    ("truncated-last", LSMOD_FULL + "kvm_intel   2826", ["vhost_net", "tap", "vhost"], [5]),
    ("crlf", LSMOD_GREP.replace("\n", "\r\n"), ["vhost_net", "vhost", "macvtap"], []),
    ("garbage-line", "vhost_net 1 2\n\x00\x01\x02\nfoo bar baz\n", ["vhost_net"], [2, 3]),
    ("header-tab-separated", "Module\tSize\tUsed by\nvhost_net\t1\t0\n", ["vhost_net"], []),
]


@pytest.mark.parametrize("text,names,bad", [c[1:] for c in LSMOD_CASES], ids=[c[0] for c in LSMOD_CASES])
def test_parse_lsmod(text, names, bad):
    result = kmod.parse_lsmod(text)
    assert list(result["modules"]) == names
    assert [b["line"] for b in result["bad_lines"]] == bad


def test_parse_lsmod_values():
    result = kmod.parse_lsmod(LSMOD_GREP)
    assert result["modules"]["vhost_net"] == {"size": 18104, "refcount": 2, "used_by": [], "state": None}
    assert result["modules"]["macvtap"]["used_by"] == ["vhost_net"]


BUILTIN_CASES = [
    ("empty", "", []),
    ("paths", "kernel/drivers/vhost/vhost_net.ko\nkernel/drivers/vhost/vhost.ko\n", ["vhost_net", "vhost"]),
    ("dash-normalised", "kernel/drivers/net/foo-bar.ko\n", ["foo_bar"]),
    ("compressed-and-crlf", "kernel/a/x.ko.zst\r\nkernel/b/y.ko.xz\n", ["x", "y"]),
    ("not-ko-skipped", "kernel/drivers/vhost/README\n\n# c\n", []),
    ("duplicates-once", "kernel/a/x.ko\nkernel/b/x.ko\n", ["x"]),
    ("bare-name", "vhost_net.ko\n", ["vhost_net"]),
]


@pytest.mark.parametrize("text,names", [c[1:] for c in BUILTIN_CASES], ids=[c[0] for c in BUILTIN_CASES])
def test_parse_modules_builtin(text, names):
    assert kmod.parse_modules_builtin(text) == names


MODULES_LOAD_CASES = [
    ("empty", "", []),
    ("only-comments", "# a\n; b\n   # c\n", []),
    ("debian-etc-modules", "# /etc/modules: kernel modules to load at boot time.\n#\nvhost_net\n",
     [{"module": "vhost_net", "line": 3}]),
    ("whitespace-trimmed", "  \tvhost_net  \r\n", [{"module": "vhost_net", "line": 1}]),
    ("args-after-name", "vhost_net experimental_zcopytx=0\n", [{"module": "vhost_net", "line": 1}]),
    ("dash-kept-as-written", "vhost-net\n", [{"module": "vhost-net", "line": 1}]),
    ("comment-not-inline", "vhost_net # x\n", [{"module": "vhost_net", "line": 1}]),
    ("commented-module", "#vhost_net\n;tap\n", []),
]


@pytest.mark.parametrize("text,entries", [c[1:] for c in MODULES_LOAD_CASES],
                         ids=[c[0] for c in MODULES_LOAD_CASES])
def test_parse_modules_load(text, entries):
    assert kmod.parse_modules_load(text) == entries


MODPROBE_CASES = [
    ("empty", "", []),
    ("comments", "# blacklist vhost_net\n   # x\n\n", []),
    ("blacklist", "blacklist vhost-net\n", [("blacklist", "vhost_net", "", 1)]),
    ("install-rest-verbatim", "install vhost_net /bin/sh -c 'exit  1'\n",
     [("install", "vhost_net", "/bin/sh -c 'exit  1'", 1)]),
    ("continuation", "options vhost_net \\\nexperimental_zcopytx=0\nblacklist tap\n",
     [("options", "vhost_net", "experimental_zcopytx=0", 1), ("blacklist", "tap", "", 3)]),
    ("tabs", "\tblacklist\tvhost_net\t\n", [("blacklist", "vhost_net", "", 1)]),
    ("crlf-module-keeps-cr", "blacklist vhost_net\r\n", [("blacklist", "vhost_net\r", "", 1)]),
    ("unknown-kept", "frobnicate vhost_net 1\n", [("frobnicate", "vhost_net", "1", 1)]),
    ("no-module", "blacklist\n", [("blacklist", None, "", 1)]),
    ("alias", "alias char-major-10-238 vhost_net\n", [("alias", "char_major_10_238", "vhost_net", 1)]),
    ("softdep", "softdep vhost_net pre: tun\n", [("softdep", "vhost_net", "pre: tun", 1)]),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in MODPROBE_CASES], ids=[c[0] for c in MODPROBE_CASES])
def test_parse_modprobe_conf(text, expected):
    got = kmod.parse_modprobe_conf(text)
    assert [(d["cmd"], d["module"], d["args"], d["line"]) for d in got] == expected


def test_parse_modprobe_conf_raw_is_joined_line():
    got = kmod.parse_modprobe_conf("install vhost_net /bin/echo \\\n no\n")
    assert got == [{"cmd": "install", "module": "vhost_net", "args": "/bin/echo  no", "line": 1,
                    "raw": "install vhost_net /bin/echo  no", "value": "/bin/echo  no", "bad": None}]


EFFECTIVE_CASES = [
    ("empty", [], []),
    ("masking-and-order",
     [("/etc/modprobe.d", ["vhost.conf", "blacklist.conf", "README", ".hidden.conf"]),
      ("/run/modprobe.d", ["aaa.conf"]),
      ("/usr/local/lib/modprobe.d", []),
      ("/usr/lib/modprobe.d", ["blacklist.conf", "systemd.conf"]),
      ("/lib/modprobe.d", ["aliases.conf", "systemd.conf"])],
     [("/run/modprobe.d", "aaa.conf"), ("/lib/modprobe.d", "aliases.conf"), ("/etc/modprobe.d", "blacklist.conf"),
      ("/usr/lib/modprobe.d", "systemd.conf"), ("/etc/modprobe.d", "vhost.conf")]),
    ("only-conf", [("/etc/modprobe.d", ["x.conf.dpkg-old", "x.conf~", "y.CONF"])], []),
]


@pytest.mark.parametrize("listing,expected", [c[1:] for c in EFFECTIVE_CASES], ids=[c[0] for c in EFFECTIVE_CASES])
def test_effective_conf_files(listing, expected):
    assert kmod.effective_conf_files(listing) == expected


@pytest.mark.parametrize("listing", [None, 5, [("/etc", None)], [("/etc", [1])]])
def test_effective_conf_files_bad_shape_is_typed(listing):
    with pytest.raises(ParseError):
        kmod.effective_conf_files(listing)


def _policy(text, module="vhost_net", path="/etc/modprobe.d/x.conf"):
    return kmod.module_load_policy([(path, kmod.parse_modprobe_conf(text))], module)


# (id, conf text, blacklisted?, install blocks (None = no install), options count)
POLICY_CASES = [
    ("nothing", "", False, None, 0),
    ("blacklist", "blacklist vhost_net\n", True, None, 0),
    ("blacklist-dash", "blacklist vhost-net\n", True, None, 0),
    ("blacklist-other", "blacklist vhost\nblacklist vhost_net_extra\n", False, None, 0),
    ("blacklist-crlf-does-not-match", "blacklist vhost_net\r\n", False, None, 0),
    ("install-true", "install vhost_net /bin/true\n", False, True, 0),
    ("install-false", "install vhost_net /bin/false\n", False, True, 0),
    ("install-usr-bin-true", "install vhost_net /usr/bin/true\n", False, True, 0),
    ("install-bare-true", "install vhost_net true\n", False, True, 0),
    ("install-sh-exit", "install vhost_net /bin/sh -c 'exit 1'\n", False, True, 0),
    ("install-echo", "install vhost_net echo vhost_net disabled\n", False, True, 0),
    ("install-plain-modprobe-loops", "install vhost_net /sbin/modprobe vhost_net\n", False, True, 0),
    ("install-wrapper", "install vhost_net /sbin/modprobe --ignore-install vhost_net $CMDLINE_OPTS\n",
     False, False, 0),
    ("install-wrapper-short", "install vhost_net modprobe -i vhost-net && echo hi\n", False, False, 0),
    ("install-wrapper-sh", "install vhost_net /bin/sh -c '/sbin/modprobe tun; /sbin/modprobe --ignore-install "
                           "vhost_net'\n", False, False, 0),
    ("install-insmod", "install vhost_net /sbin/insmod /lib/modules/x/vhost_net.ko\n", False, False, 0),
    ("install-wrapper-other-module", "install vhost_net /sbin/modprobe --ignore-install tun\n", False, True, 0),
    ("options-is-tuning", "options vhost_net experimental_zcopytx=0\n", False, None, 1),
    ("options-vhost-is-other-module", "options vhost max_mem_regions=509\n", False, None, 0),
    ("comment", "# blacklist vhost_net\n#install vhost_net /bin/true\n", False, None, 0),
]


@pytest.mark.parametrize("text,blacklisted,blocks,options", [c[1:] for c in POLICY_CASES],
                         ids=[c[0] for c in POLICY_CASES])
def test_module_load_policy(text, blacklisted, blocks, options):
    policy = _policy(text)
    assert bool(policy["blacklisted"]) is blacklisted
    if blocks is None:
        assert policy["install"] is None
    else:
        assert policy["install"]["blocks"] is blocks
    assert len(policy["options"]) == options
    json.dumps(policy)


def test_first_install_wins_and_all_are_listed():
    files = [("/etc/modprobe.d/a.conf", kmod.parse_modprobe_conf("install vhost_net /sbin/modprobe --ignore-install "
                                                                  "vhost_net\n")),
             ("/lib/modprobe.d/b.conf", kmod.parse_modprobe_conf("# x\ninstall vhost-net /bin/true\n"))]
    policy = kmod.module_load_policy(files, "vhost-net")
    assert policy["install"] == {
        "command": "/sbin/modprobe --ignore-install vhost_net",
        "evidence": "/etc/modprobe.d/a.conf:1: install vhost_net /sbin/modprobe --ignore-install vhost_net",
        "blocks": False,
        "ignored": ["/lib/modprobe.d/b.conf:2: install vhost-net /bin/true"],
    }


def test_policy_evidence_strings():
    policy = _policy("blacklist vhost_net\noptions vhost_net experimental_zcopytx=0\n", path="/etc/modprobe.d/v.conf")
    assert policy == {"blacklisted": ["/etc/modprobe.d/v.conf:1: blacklist vhost_net"], "install": None,
                      "options": ["/etc/modprobe.d/v.conf:2: options vhost_net experimental_zcopytx=0"]}


def test_policy_bad_shape_is_typed():
    with pytest.raises(ParseError):
        kmod.module_load_policy([("/x", [None])], "vhost_net")


@pytest.mark.parametrize("name,expected", [("vhost-net", "vhost_net"), ("vhost_net", "vhost_net"), ("a-b-c", "a_b_c"),
                                           ("", "")])
def test_normalize_module(name, expected):
    assert kmod.normalize_module(name) == expected


@pytest.mark.parametrize("func", [kmod.parse_proc_modules, kmod.parse_lsmod, kmod.parse_modules_builtin,
                                  kmod.parse_modules_load, kmod.parse_modprobe_conf])
def test_not_text_is_typed(func):
    with pytest.raises(ParseError):
        func(None)


def test_doctests():
    failures, tests = doctest.testmod(kmod)
    assert tests > 0
    assert failures == 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("vhost_net-0123456789 \t\n\r,\\#;-[]/.ko")) | st.characters(),
               max_size=200))
def test_property_only_typed_errors(text):
    for func in (kmod.parse_proc_modules, kmod.parse_lsmod, kmod.parse_modules_builtin, kmod.parse_modules_load,
                 kmod.parse_modprobe_conf):
        json.dumps(func(text))
    kmod.module_load_policy([("/x.conf", kmod.parse_modprobe_conf(text))], "vhost_net")
