"""Conformance: shellvars and kmod against real files from ../shared/corpus (skipped when it is absent)."""
import glob
import os

import pytest

from nodeaudit.parsers import kmod, shellvars

QEMU_KVM_DEFAULTS = [
    # (corpus file, VHOST_NET_ENABLED after `. FILE`, or None when the key is absent)
    ("nodes/etc_default_qemu-kvm.trusty.blog.txt", "0"),
    ("nodes/etc_default_qemu-kvm.trusty-text.ubuntu-pkg-ppc.txt", "0"),
    ("nodes/etc_default_qemu-kvm.precise.ubuntu-pkg.txt", "0"),
    ("nodes/etc_default_qemu-kvm.xenial-x86.ubuntu-pkg.txt", "0"),
    ("nodes/etc_default_qemu-kvm.modern.ubuntu-pkg.txt", None),
    ("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt", "0"),
    ("packaging/trusty_qemu-system-x86.qemu-kvm.default", "0"),
    ("packaging/xenial_qemu-system-common.qemu-kvm.default", "0"),
    ("packaging/later-ubuntu_qemu-system-common.qemu-kvm.default", None),
]


@pytest.mark.parametrize("rel,expected", QEMU_KVM_DEFAULTS, ids=[os.path.basename(r) for r, _ in QEMU_KVM_DEFAULTS])
def test_qemu_kvm_default(corpus, rel, expected):
    result = shellvars.parse_shell_assignments(corpus(rel))
    assert result["vars"].get("VHOST_NET_ENABLED") == expected
    assert result["unparsed"] == []
    assert result["uncertain"] == {}
    if expected is not None:
        item = [a for a in result["assignments"] if a["name"] == "VHOST_NET_ENABLED"][-1]
        assert item["raw"] == "VHOST_NET_ENABLED=0"


def test_every_qemu_kvm_default_in_corpus_is_covered(corpus):
    found = sorted(os.path.relpath(p, corpus.dir) for p in
                   glob.glob(os.path.join(corpus.dir, "nodes", "etc_default_qemu-kvm.*.txt"))
                   + glob.glob(os.path.join(corpus.dir, "packaging", "*qemu-kvm.default")))
    assert found == sorted(rel for rel, _ in QEMU_KVM_DEFAULTS)


def test_precise_values(corpus):
    result = shellvars.parse_shell_assignments(corpus("nodes/etc_default_qemu-kvm.precise.ubuntu-pkg.txt"))
    # Quoted value with a leading space; the commented-out `#KVM_NESTED=""` and `#TAPBR=virbr0` do not count.
    assert result["vars"] == {"KSM_ENABLED": "1", "SLEEP_MILLISECS": "200", "VHOST_NET_ENABLED": "0",
                              "KVM_NESTED": " nested=1"}


def test_focal_juju_values(corpus):
    result = shellvars.parse_shell_assignments(corpus("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt"))
    assert result["vars"] == {"KSM_ENABLED": "AUTO", "SLEEP_MILLISECS": "200", "VHOST_NET_ENABLED": "0",
                              "KVM_HUGEPAGES": "0"}
    assert [a["line"] for a in result["assignments"] if a["name"] == "VHOST_NET_ENABLED"] == [11]


def test_modern_ubuntu_dropped_the_key(corpus):
    result = shellvars.parse_shell_assignments(corpus("nodes/etc_default_qemu-kvm.modern.ubuntu-pkg.txt"))
    assert result["vars"] == {"KSM_ENABLED": "AUTO", "SLEEP_MILLISECS": "200"}


def test_sysconfig_tricky(corpus):
    result = shellvars.parse_shell_assignments(corpus("nodes/sysconfig.tricky.insights-core.txt"))
    # These are the values /bin/sh gives; on this file they agree with insights-core's
    # test_tricky_config (insights-core differs elsewhere: it strips `\r` and drops `export` lines).
    assert result["vars"] == {
        "SELECTOR": "and all that",
        "SPACES_IN_FRONT": "yes",
        "COMMENT_SPACE_OK": "value_with_#",
        "SPACE_COMMENT_IGNORED": "value_with",
        "COMMENT_NOSPACE_OK": "value_with_#_in_it",
        "COMMENT_QUOTED_IN_VALUE": "This value should have a # character in it",
        "MANY_QUOTES": "this is valid",
        "QUOTE_HANDLING": "single ' allowed",
        "OPTION_WITH_NO_VALUE": "",
        "DOUBLE_EQUALS": "=included",
        "VALUE_ON_QUOTE_COMMENT_LINE": "this_is_OK",
        "SPACES_AFTER_VALUE": "should_be_ignored",
    }
    # insights-core's "unparsed lines": the free text and `AND = '...'` (a command in sh).
    assert [u["raw"] for u in result["unparsed"]] == [
        "this line should be in unparsed lines afterward", "AND = 'so should this'"]
    assert result["uncertain"] == {}


def test_sysconfig_tricky_crlf_is_not_stripped(corpus):
    # insights-core would read these values without the `\r`; /bin/sh keeps it.
    text = corpus("nodes/sysconfig.tricky.insights-core.txt").replace("\n", "\r\n")
    result = shellvars.parse_shell_assignments(text)
    assert result["vars"]["DOUBLE_EQUALS"] == "=included\r"
    assert result["vars"]["SELECTOR"] == "and all that\r"
    assert result["vars"]["SPACE_COMMENT_IGNORED"] == "value_with"     # the comment swallows the `\r`


def test_lsmod_focal_compute(corpus):
    result = kmod.parse_lsmod(corpus("nodes/lsmod.focal-compute.hotsos.txt"))
    mods = result["modules"]
    assert result["bad_lines"] == []
    assert mods["vhost_net"] == {"size": 32768, "refcount": 1, "used_by": [], "state": None}
    assert mods["vhost"]["used_by"] == ["vhost_vsock", "vhost_net"]
    assert mods["tap"]["used_by"] == ["vhost_net"]
    assert {"kvm_intel", "kvm", "openvswitch", "floppy"} <= set(mods)
    assert len(mods) == 119      # 120 lines, one of them the header


def test_lsmod_headerless_grep_keeps_first_module(corpus):
    result = kmod.parse_lsmod(corpus("nodes/lsmod.grep-net.trusty.blog.txt"))
    assert list(result["modules"]) == ["vhost_net", "vhost", "macvtap"]
    assert result["modules"]["vhost_net"]["refcount"] == 2
    assert result["bad_lines"] == []


def test_lsmod_minimal(corpus):
    result = kmod.parse_lsmod(corpus("nodes/lsmod.minimal.inspec-fixture.txt"))
    assert result == {"modules": {"bridge": {"size": 73728, "refcount": 1, "used_by": ["br_netfilter"], "state": None},
                                  "video": {"size": 24400, "refcount": 0, "used_by": [], "state": None}},
                      "bad_lines": []}


def test_modprobe_showconfig(corpus):
    path = "modprobe --showconfig"
    files = [(path, kmod.parse_modprobe_conf(corpus("nodes/modprobe-showconfig.inspec-fixture.txt")))]
    floppy = kmod.module_load_policy(files, "floppy")
    assert floppy["blacklisted"] == ["modprobe --showconfig:1: blacklist floppy"]
    assert floppy["install"] is None
    for module, command in (("nvidiafb", "/bin/true"), ("sstfb", "/sbin/false")):
        policy = kmod.module_load_policy(files, module)
        assert policy["blacklisted"] == []
        assert policy["install"]["command"] == command
        assert policy["install"]["blocks"] is True
    assert kmod.module_load_policy(files, "vhost_net") == {"blacklisted": [], "install": None, "options": []}
