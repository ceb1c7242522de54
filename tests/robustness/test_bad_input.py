"""Bad input never breaks the audit (issue 6, part 1).

Each case breaks one thing in a healthy snapshot node built under tmp_path, runs the
real collector and evaluation, and says what the verdict and the message must be:
no exception escapes, "could not read" is never a pass, the reason says what happened
in words an operator understands, and every other check keeps its healthy state.
Where the issue names a parser, the parser is called directly too.

Several of these first pinned real bugs (as strict xfails) and were fixed in the
product: a dangling or binary defaults file, a truncated /proc/modules, broken or
unwrapped status files, a truncated JSON -netdev, a domain that vanished.
"""
import json
import sys
import types

import pytest

from robust_tools import (MAC_A, MAC_B, PID_A, QEMU_DEFAULT, assert_rest_audited, checks_of, domains_of,
                      snapgen)
from nodeaudit.sources import collect as collect_mod
from nodeaudit.parsers import domxml, kmod, qemuargv, shellvars
from nodeaudit.controller import report
from nodeaudit.errors import ArgvError, DomainXMLError, ParseError, ShellSyntaxError
from nodeaudit.sources.reader import MISSING, Read, RootReader
from argv_verdicts import verdicts

ELF = (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00>\x00\x01\x00\x00\x00\x10\x10\x00\x00") * 20
ALL_BYTES = bytes(range(256)) * 4


def vhost_check(result):
    return checks_of(result)["qemu_kvm.vhost_net_enabled"]


# --------------------------------------------------------- /etc/default/qemu-kvm

def test_healthy_node_passes_everything(node):
    result = node().audit()
    assert result["state"] == "pass"
    assert_rest_audited(result, broken=())


def test_default_file_empty_is_not_applicable(node):
    n = node()
    n.write(QEMU_DEFAULT, b"")
    check = vhost_check(n.audit())
    assert check["state"] == "not_applicable"
    assert "does not set VHOST_NET_ENABLED" in check["reason"]
    assert shellvars.parse_shell_assignments("") == {"vars": {}, "assignments": [], "unparsed": [], "uncertain": {}}
    assert_rest_audited(n.audit(), broken=("qemu_kvm.vhost_net_enabled",))


@pytest.mark.parametrize("blob", [ELF, ALL_BYTES], ids=["elf", "all-bytes"])
def test_default_file_binary_is_never_a_pass(node, blob):
    n = node()
    n.write(QEMU_DEFAULT, blob)
    result = n.audit()
    assert vhost_check(result)["state"] in ("error", "fail", "not_applicable")
    assert vhost_check(result)["reason"]
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))
    try:
        shellvars.parse_shell_assignments(blob.decode("utf-8", "surrogateescape"))
    except ShellSyntaxError as exc:
        assert exc.line is not None


def test_default_file_binary_is_an_error_that_says_binary(node):
    n = node()
    n.write(QEMU_DEFAULT, ELF)
    check = vhost_check(n.audit())
    assert check["state"] == "error"
    assert "binary" in check["reason"]


def test_default_file_not_utf8_in_a_comment_is_still_read(node):
    n = node()
    n.write(QEMU_DEFAULT, "# r\xe9glage du module\nVHOST_NET_ENABLED=1\n".encode("latin-1"))
    result = n.audit()
    assert vhost_check(result)["state"] == "pass"
    assert_rest_audited(result, broken=())


def test_default_file_not_utf8_in_the_value_fails_naming_the_value(node):
    n = node()
    n.write(QEMU_DEFAULT, b"VHOST_NET_ENABLED=1\xe9\n")
    result = n.audit()
    check = vhost_check(result)
    assert check["state"] == "fail"
    assert "not '1'" in check["reason"] and "modprobe" in check["reason"]
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))


def test_default_file_not_utf8_reports_are_valid_utf8(node):
    n = node()
    n.write(QEMU_DEFAULT, b"VHOST_NET_ENABLED=1\xe9\n")
    result = n.audit()
    doc = report.build({"h": report.host_entry({"audit": result})}, "default", "sha256:0", "2026-01-01T00:00:00Z")
    for render in (report.junit, report.markdown, report.table, report.to_json):
        render(doc).encode("utf-8")
    assert "\\udc" not in report.to_json(doc)


def test_default_file_crlf_fails_and_says_carriage_return(node):
    n = node()
    n.write(QEMU_DEFAULT, "KSM_ENABLED=1\r\nVHOST_NET_ENABLED=1\r\n")
    result = n.audit()
    check = vhost_check(result)
    assert check["state"] == "fail"
    assert "carriage return" in check["reason"] and "CRLF" in check["reason"]
    assert any(":2: VHOST_NET_ENABLED=1" in e for e in check["evidence"])
    assert shellvars.parse_shell_assignments("VHOST_NET_ENABLED=1\r\n")["vars"]["VHOST_NET_ENABLED"] == "1\r"
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))


def test_default_file_over_the_size_cap_is_an_error_not_read(node):
    n = node()
    n.write(QEMU_DEFAULT, "VHOST_NET_ENABLED=1\n" + "#" * 6000 + "\n")
    policy = {"checks": {"qemu_kvm.settings": {"level": "fail", "expected": {"KSM_ENABLED": "1"}}}}
    result = n.audit(policy=policy, max_bytes=4096)
    checks = checks_of(result)
    assert checks["qemu_kvm.vhost_net_enabled"]["state"] == "error"
    assert checks["qemu_kvm.vhost_net_enabled"]["reason"] == \
        "/etc/default/qemu-kvm is larger than the 4096-byte cap: not read"
    assert checks["qemu_kvm.settings"]["state"] == "error"          # never a pass on a file not read
    assert "larger than the 4096-byte cap" in checks["qemu_kvm.settings"]["reason"]
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled", "qemu_kvm.settings"))


def test_default_file_is_a_directory(node):
    n = node()
    n.mkdir(QEMU_DEFAULT)
    result = n.audit()
    check = vhost_check(result)
    assert check["state"] == "error"
    assert check["reason"] == "/etc/default/qemu-kvm is a directory, not a file"
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))


def test_default_file_dangling_symlink_is_never_a_pass(node):
    n = node()
    n.symlink(QEMU_DEFAULT, "/etc/qemu-kvm.dpkg-old")
    result = n.audit()
    assert vhost_check(result)["state"] in ("error", "not_applicable")
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))


def test_default_file_dangling_symlink_says_so(node):
    n = node()
    n.symlink(QEMU_DEFAULT, "/etc/qemu-kvm.dpkg-old")
    check = vhost_check(n.audit())
    assert check["state"] == "error"
    assert "symbolic link" in check["reason"] and "/etc/qemu-kvm.dpkg-old" in check["reason"]


def test_default_file_looping_symlink_is_an_error(node):
    n = node()
    n.symlink(QEMU_DEFAULT, "qemu-kvm.d")
    n.symlink("/etc/default/qemu-kvm.d", "/etc/default/qemu-kvm")
    result = n.audit()
    check = vhost_check(result)
    assert check["state"] == "error"
    assert check["reason"] == "/etc/default/qemu-kvm: too many levels of symbolic links (loop)"
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))


def test_default_file_unbalanced_quote_fails_naming_the_line(node):
    n = node()
    n.write(QEMU_DEFAULT, "KSM_ENABLED=1\nVHOST_NET_ENABLED='1\nKVM_HUGEPAGES=0\n")
    result = n.audit()
    check = vhost_check(result)
    assert check["state"] == "fail"
    assert check["reason"].startswith("/bin/sh cannot source /etc/default/qemu-kvm (unterminated single quote")
    assert "/etc/default/qemu-kvm:2" in check["reason"]
    with pytest.raises(ShellSyntaxError) as exc:
        shellvars.parse_shell_assignments("KSM_ENABLED=1\nVHOST_NET_ENABLED='1\nKVM_HUGEPAGES=0\n")
    assert exc.value.line == 2
    with pytest.raises(ShellSyntaxError):
        shellvars.parse_shell_assignments('VHOST_NET_ENABLED="1\n')
    assert_rest_audited(result, broken=("qemu_kvm.vhost_net_enabled",))


# ------------------------------------------------------------ /proc/modules, lsmod

def test_proc_modules_missing_is_unknown(node):
    n = node(sys_module=False)       # /proc/modules is then the only word on "loaded"
    n.remove("/proc/modules")
    result = n.audit()
    check = checks_of(result)["kernel.vhost_net"]
    assert check["state"] == "unknown"
    assert "whether the module is loaded could not be read" in check["reason"]
    assert "/proc/modules does not exist" in check["reason"]
    assert_rest_audited(result, broken=("kernel.vhost_net",))


def test_proc_modules_truncated_keeps_the_whole_lines(node):
    text = snapgen.MODULES_VHOST[:-40]          # the last line is cut
    parsed = kmod.parse_proc_modules(text)
    assert "vhost_net" in parsed["modules"] and "vhost" in parsed["modules"]
    assert [b["line"] for b in parsed["bad_lines"]] == [7]
    n = node(sys_module=False)
    n.write("/proc/modules", text)
    assert_rest_audited(n.audit(), broken=())


def test_proc_modules_truncated_in_the_vhost_net_line_is_never_a_pass(node):
    n = node(sys_module=False)
    n.write("/proc/modules", snapgen.MODULES_BASE + "vhost_net 3276")
    result = n.audit()
    assert checks_of(result)["kernel.vhost_net"]["state"] != "pass"
    assert_rest_audited(result, broken=("kernel.vhost_net",))


def test_proc_modules_truncated_in_the_vhost_net_line_is_unknown(node):
    n = node(sys_module=False)
    n.write("/proc/modules", snapgen.MODULES_BASE + "vhost_net 3276")
    check = checks_of(n.audit())["kernel.vhost_net"]
    assert check["state"] == "unknown"
    assert "/proc/modules" in check["reason"] and "vhost_net 3276" in check["reason"]


def test_lsmod_without_header_loses_nothing():
    text = "vhost_net              18104  2\nvhost                  29009  1 vhost_net\ntap 28672 1 vhost_net\n"
    parsed = kmod.parse_lsmod(text)
    assert sorted(parsed["modules"]) == ["tap", "vhost", "vhost_net"]
    assert parsed["bad_lines"] == []
    with_header = kmod.parse_lsmod("Module                  Size  Used by\n" + text)
    assert with_header["modules"] == parsed["modules"]
    assert kmod.parse_lsmod("Module                  Size  Used by\n") == {"modules": {}, "bad_lines": []}
    assert kmod.parse_lsmod("vhost_net 18104")["bad_lines"] == [{"line": 1, "raw": "vhost_net 18104"}]


# -------------------------------------------------------------------- domain XML

STATUS_A = "/run/libvirt/qemu/vm-a.xml"


def status_a(n):
    return snapgen.domain_xml([d for d in n.spec["domains"] if d["name"] == "vm-a"][0], status=True)


def assert_vm_b_still_audited(result):
    dom_b = domains_of(result)["vm-b"]
    assert dom_b["verdict"] == "pass" and dom_b["nics"][0]["mac"] == MAC_B and dom_b["nics"][0]["vhost"] is True


@pytest.mark.parametrize("mutate, message", [
    (lambda xml: xml[:len(xml) // 2], "/run/libvirt/qemu/vm-a.xml: not well-formed XML"),
    (lambda xml: "", "/run/libvirt/qemu/vm-a.xml: empty document"),
    (lambda xml: "pid=1101 state=running\n", "/run/libvirt/qemu/vm-a.xml: not well-formed XML"),
    (lambda xml: "<network><name>default</name></network>",
     "/run/libvirt/qemu/vm-a.xml: root element is <network>, not <domain> or <domstatus>"),
], ids=["truncated", "empty", "not-xml", "not-a-domain"])
def test_status_xml_broken_is_an_error_for_that_domain_only(node, mutate, message):
    n = node()
    n.write(STATUS_A, mutate(status_a(n)))
    result = n.audit()
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] == "error"
    assert dom_a["reason"].startswith(message)
    check = checks_of(result)["domains.vhost"]
    assert check["state"] == "error" and check["reason"] == "could not judge: vm-a"
    assert_vm_b_still_audited(result)
    assert_rest_audited(result, broken=("domains.vhost",))
    with pytest.raises(DomainXMLError):
        domxml.parse_domain_xml(mutate(status_a(n)))


def test_status_xml_broken_does_not_turn_the_qemu_into_an_orphan(node):
    n = node()
    n.write(STATUS_A, status_a(n)[:200])
    names = sorted(domains_of(n.audit()))
    assert names == ["vm-a", "vm-b"]


def test_status_xml_over_the_size_cap_is_an_error(node):
    n = node()
    n.write(STATUS_A, status_a(n).replace("</domain>", "<description>%s</description></domain>" % ("x" * 9000)))
    result = n.audit(max_bytes=8192)
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] == "error"
    assert dom_a["reason"].startswith("/run/libvirt/qemu/vm-a.xml is larger than the 8192-byte cap: not read")
    assert_vm_b_still_audited(result)
    # The parser itself copes with a large document (the cap is the reader's job).
    big = "<domain type='kvm'><name>big</name><description>%s</description></domain>" % ("x" * (4 << 20))
    assert domxml.parse_domain_xml(big)["name"] == "big"


def test_status_xml_with_unknown_elements_is_read(node):
    n = node()
    xml = status_a(n).replace("<devices>", "<devices><frobnicator x='1'><deep/></frobnicator>")
    xml = xml.replace("<name>", "<vendor:ext xmlns:vendor='urn:x'/><name>").replace("</domstatus>",
                                                                                    "<privateData/></domstatus>")
    n.write(STATUS_A, xml)
    result = n.audit()
    assert domains_of(result)["vm-a"]["verdict"] == "pass"
    assert_rest_audited(result, broken=())
    parsed = domxml.parse_domain_xml(xml)
    assert parsed["status"]["pid"] == PID_A and parsed["interfaces"][0]["mac"] == MAC_A


def test_domain_xml_with_and_without_domstatus_wrapper():
    dom = snapgen._dom("vm-x", 9, 999, [snapgen._nic(MAC_A)])
    wrapped = domxml.parse_domain_xml(snapgen.domain_xml(dom, status=True))
    bare = domxml.parse_domain_xml(snapgen.domain_xml(dom))
    assert wrapped["status"] == {"state": "running", "reason": "booted", "pid": 999}
    assert bare["status"] is None
    assert wrapped["name"] == bare["name"] == "vm-x"
    with pytest.raises(DomainXMLError, match="holds no <domain>"):
        domxml.parse_domain_xml("<domstatus state='running' pid='1'/>")
    with pytest.raises(DomainXMLError, match="DTD/entities not allowed"):
        domxml.parse_domain_xml("<!DOCTYPE d [<!ENTITY a 'aaaa'>]><domain><name>&a;</name></domain>")


def test_status_xml_without_wrapper_is_never_a_false_pass(node):
    n = node()
    n.write(STATUS_A, snapgen.domain_xml([d for d in n.spec["domains"] if d["name"] == "vm-a"][0]))
    result = n.audit()
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] in ("unknown", "pass")
    assert dom_a["reason"] or dom_a["verdict"] == "pass"
    assert_vm_b_still_audited(result)


def test_status_xml_without_wrapper_is_judged_by_its_process(node):
    n = node()
    n.write(STATUS_A, snapgen.domain_xml([d for d in n.spec["domains"] if d["name"] == "vm-a"][0]))
    dom_a = domains_of(n.audit())["vm-a"]
    assert dom_a["pid"] == PID_A
    assert not any("no qemu process" in (nic["reason"] or "") for nic in dom_a["nics"])
    assert dom_a["verdict"] == "pass"


# --------------------------------------------------------------------- qemu argv

def test_argv_empty_is_unknown(node):
    n = node()
    n.write_argv(PID_A, [])
    result = n.audit()
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] == "unknown"
    assert dom_a["reason"] == "cannot tell: /proc/1101/cmdline is empty (zombie or exiting process)"
    assert dom_a["nics"][0]["vhost"] is None
    assert checks_of(result)["domains.vhost"]["state"] == "unknown"
    assert_vm_b_still_audited(result)
    assert_rest_audited(result, broken=("domains.vhost",))
    assert qemuargv.split_cmdline(b"") == [] and qemuargv.parse_qemu_argv([])["nics"] == []


def _truncated_netdev(argv):
    return [a[:len(a) // 2] if a.startswith('{"type":"tap"') else a for a in argv]


def test_argv_truncated_json_netdev_is_unknown_with_the_error_as_evidence(node):
    n = node()
    argv = _truncated_netdev(n.argv("vm-a"))
    n.write_argv(PID_A, argv)
    result = n.audit()
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] == "unknown"
    assert dom_a["nics"][0]["vhost"] is None and dom_a["nics"][0]["state"] == "unknown"
    assert any("malformed JSON in -netdev" in e for e in dom_a["evidence"])
    assert_vm_b_still_audited(result)
    assert_rest_audited(result, broken=("domains.vhost",))
    parsed = qemuargv.parse_qemu_argv(argv)
    assert parsed["errors"] and parsed["errors"][0]["reason"].startswith("malformed JSON in -netdev")


def test_argv_truncated_json_netdev_reason_names_the_malformed_netdev(node):
    n = node()
    n.write_argv(PID_A, _truncated_netdev(n.argv("vm-a")))
    nic = domains_of(n.audit())["vm-a"]["nics"][0]
    assert "malformed" in nic["reason"] or "could not be read" in nic["reason"]


def test_argv_device_pointing_to_a_missing_netdev_is_unknown(node):
    n = node()
    n.write_argv(PID_A, [a.replace('"netdev":"hostnet0"', '"netdev":"hostnet9"') for a in n.argv("vm-a")])
    result = n.audit()
    dom_a = domains_of(result)["vm-a"]
    nic = [x for x in dom_a["nics"] if x["mac"] == MAC_A][0]
    assert nic["state"] == "unknown" and nic["vhost"] is None
    assert nic["reason"] == "device points at netdev 'hostnet9', which is not on the command line"
    assert dom_a["verdict"] == "unknown" and dom_a["needs_restart"] is False
    assert_vm_b_still_audited(result)
    assert_rest_audited(result, broken=("domains.vhost",))


def test_argv_nul_inside_an_argument(node):
    # In /proc/<pid>/cmdline a NUL ends an argument: the JSON netdev is cut in two.
    n = node()
    argv = [a.replace('"vhost":true', '"vh\0ost":true') for a in n.argv("vm-a")]
    n.write_argv(PID_A, argv)
    result = n.audit()
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] == "unknown"
    assert any("malformed JSON in -netdev" in e for e in dom_a["evidence"])
    assert_vm_b_still_audited(result)
    # Parsers given a NUL inside one str argument do not raise.
    parsed = qemuargv.parse_qemu_argv(["qemu", "-netdev", "tap,id=h\0n,vhost=on", "-device",
                                       "virtio-net-pci,netdev=h\0n,mac=52:54:00:00:00:01"])
    assert verdicts(parsed)[0]["vhost"] is True
    assert qemuargv.split_shell_args("qemu -name 'a\0b'")["argv"] == ["qemu", "-name", "a\0b"]
    assert qemuargv.split_cmdline(b"qemu\0-name\0a\0\0b\0") == ["qemu", "-name", "a", "", "b"]
    with pytest.raises(ArgvError):
        qemuargv.split_shell_args("qemu -name 'open")


# ------------------------------------------------------------- races on the node

def test_pid_vanishing_between_listing_and_reading(node, monkeypatch):
    n = node()
    real_read = RootReader.read
    seen = []

    def read(self, node_path, *args, **kw):
        if node_path == "/proc/%d/cmdline" % PID_A:
            seen.append(node_path)
            return Read(node_path, MISSING, reason="%s does not exist" % node_path)
        return real_read(self, node_path, *args, **kw)

    monkeypatch.setattr(RootReader, "read", read)
    result = n.audit()
    assert seen, "the process was listed and its cmdline read"
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] == "unknown"
    assert dom_a["reason"] == "cannot tell: qemu pid 1101: no such process"
    assert dom_a["nics"][0]["reason"] == "cannot read what runs: qemu pid 1101: no such process"
    assert checks_of(result)["domains.vhost"]["state"] == "unknown"
    assert_vm_b_still_audited(result)
    assert_rest_audited(result, broken=("domains.vhost",))


# A fake python3-libvirt: enough of the API collect.domains_from_libvirt uses.
VIR_ERR_NO_DOMAIN = 42


class FakeLibvirtError(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code

    def get_error_message(self):
        return str(self)

    def get_error_code(self):
        return self.code


class FakeDomain(object):
    def __init__(self, spec, gone=False):
        self.spec = spec
        self.gone = gone

    def name(self):
        return self.spec["name"]

    def UUIDString(self):
        return self.spec["uuid"]

    def state(self):
        return [1, 1]

    def XMLDesc(self, flags=0):
        if self.gone:
            raise FakeLibvirtError("Domain not found: no domain with matching uuid '%s' (%s)"
                                   % (self.spec["uuid"], self.spec["name"]), VIR_ERR_NO_DOMAIN)
        return snapgen.domain_xml(self.spec)


class FakeConnection(object):
    def __init__(self, domains, list_error=None):
        self.domains = domains
        self.list_error = list_error
        self.closed = False

    def getLibVersion(self):
        return 9000000

    def getVersion(self):
        return 7002000

    def listAllDomains(self, flags=0):
        if self.list_error:
            raise FakeLibvirtError(self.list_error)
        return list(self.domains)

    def close(self):
        self.closed = True


def fake_libvirt(monkeypatch, domains, open_error=None, list_error=None):
    mod = types.ModuleType("libvirt")
    mod.libvirtError = FakeLibvirtError
    mod.VIR_ERR_NO_DOMAIN = VIR_ERR_NO_DOMAIN
    mod.calls = []

    def open_read_only(uri):
        mod.calls.append(("openReadOnly", uri))
        if open_error:
            raise FakeLibvirtError(open_error)
        mod.conn = FakeConnection(domains, list_error)
        return mod.conn

    def read_write(*args, **kw):
        mod.calls.append(("open", args))
        raise AssertionError("the audit must never open a read-write libvirt connection")

    mod.openReadOnly = open_read_only
    mod.open = read_write
    mod.openAuth = read_write
    mod.registerErrorHandler = lambda handler, ctx: None
    monkeypatch.setitem(sys.modules, "libvirt", mod)
    return mod


class _LiveOverSnapshot(RootReader):
    """Reads a snapshot with snapshot path rules while collect() takes its live branch (libvirt)."""

    ROOT = None

    def __init__(self, root="/", max_bytes=4 * 1024 * 1024, **kw):
        super().__init__(self.ROOT, max_bytes, **kw)
        self.live = True            # collect() sees a live node; paths still resolve inside ROOT


def live_audit(n, monkeypatch):
    monkeypatch.setattr(_LiveOverSnapshot, "ROOT", n.root)
    monkeypatch.setattr(collect_mod, "RootReader", _LiveOverSnapshot)
    from robust_tools import DEFAULT_POLICY, evaluate, validate
    return evaluate(collect_mod.collect(root="/"), validate(DEFAULT_POLICY), host_name="robust")


def test_domain_disappearing_between_list_and_xml_through_libvirt(node, monkeypatch):
    n = node()
    specs = n.spec["domains"]
    fake = fake_libvirt(monkeypatch, [FakeDomain(d, gone=d["name"] == "vm-a") for d in specs])
    domains, versions, error = collect_mod.domains_from_libvirt("qemu:///system", RootReader(n.root))
    assert error is None and versions == {"libvirt": "9.0.0", "qemu": "7.2.0"}
    by_name = dict((d["name"], d) for d in domains)
    assert by_name["vm-a"]["xml"] is None
    assert "Domain not found" in by_name["vm-a"]["xml_error"]
    assert by_name["vm-b"]["xml"]["name"] == "vm-b" and by_name["vm-b"]["pid"] == 1102
    assert fake.conn.closed and [c[0] for c in fake.calls] == ["openReadOnly"]


def _live_pair(node, monkeypatch):
    """Audit the same node live-through-libvirt twice: every domain there, then vm-a gone (and its qemu)."""
    n = node()
    fakes = [FakeDomain(d) for d in n.spec["domains"]]
    fake_libvirt(monkeypatch, fakes)
    baseline = live_audit(n, monkeypatch)
    fakes[0].gone = True
    n.remove("/proc/%d" % PID_A)
    return baseline, live_audit(n, monkeypatch)


def test_domain_disappearing_full_audit_keeps_auditing_the_others(node, monkeypatch):
    baseline, result = _live_pair(node, monkeypatch)
    assert result["sources"]["domains"] == "libvirt"
    assert domains_of(baseline)["vm-a"]["verdict"] == "pass"
    dom_a = domains_of(result)["vm-a"]
    assert dom_a["verdict"] in ("unknown", "not_applicable")
    assert dom_a["reason"]
    assert any("Domain not found" in e for e in dom_a["evidence"])
    assert_vm_b_still_audited(result)
    base_checks, checks = checks_of(baseline), checks_of(result)
    for check_id in base_checks:
        if check_id != "domains.vhost":
            assert checks[check_id]["state"] == base_checks[check_id]["state"], check_id
    assert checks["domains.vhost"]["state"] != "pass"
    json.dumps(result)


def test_domain_disappearing_reason_says_so(node, monkeypatch):
    _, result = _live_pair(node, monkeypatch)
    reason = domains_of(result)["vm-a"]["reason"]
    assert "not found" in reason.lower() or "disappeared" in reason


@pytest.mark.parametrize("kw, words", [
    ({"open_error": "Failed to connect socket to '/run/libvirt/libvirt-sock': Connection refused"},
     "cannot connect to qemu:///system: Failed to connect socket"),
    ({"list_error": "internal error: client socket is closed"},
     "listing domains through qemu:///system failed: internal error: client socket is closed"),
], ids=["connect", "list"])
def test_libvirt_failing_falls_back_to_status_files_and_says_why(node, monkeypatch, kw, words):
    n = node()
    fake_libvirt(monkeypatch, [FakeDomain(d) for d in n.spec["domains"]], **kw)
    result = live_audit(n, monkeypatch)
    assert result["sources"]["domains"] == "status_files"
    assert result["sources"]["domains_reason"].startswith(words)
    assert "fell back to libvirt's status files" in result["sources"]["domains_reason"]
    assert domains_of(result)["vm-a"]["verdict"] == "pass"
    assert_vm_b_still_audited(result)


# ------------------------------------------------------------------------ policy

@pytest.mark.parametrize("policy, key, words", [
    ({"checks": {"domains.vhost": {"levle": "warn"}}}, "checks.domains.vhost.levle", "unknown policy key"),
    ({"chekcs": {}}, "chekcs", "unknown policy key"),
    ({"restart": {"max_per_host": "two"}}, "restart.max_per_host", "must be a positive integer"),
    ({"checks": {"kernel.vhost_net": {"exempt": {"hosts": "arm-*"}}}}, "checks.kernel.vhost_net.exempt.hosts",
     "must be a list of strings"),
    ({"checks": "all"}, "checks", "must be a mapping"),
    ({"remediation": {"remove_blacklist": "yes"}}, "remediation.remove_blacklist", "must be true or false"),
    ({"checks": {"domains.vhots": {"level": "fail"}}}, "checks.domains.vhots", "unknown check id 'domains.vhots'"),
], ids=["unknown-key", "unknown-top-key", "wrong-type-int", "wrong-type-list", "wrong-type-mapping",
        "wrong-type-bool", "unknown-check-id"])
def test_bad_policy_is_the_modules_own_failure_naming_the_key(run_module, node, policy, key, words):
    code, out, _raw = run_module({"root": node().root, "policy": policy})
    assert code == 1 and out["failed"] is True
    assert out["msg"].startswith("invalid policy: ")
    assert words in out["msg"]
    assert out["key"] == key
    assert key.split("checks.")[-1] in out["msg"]          # the bad key (or check id) is named
    assert "audit" not in out                       # nothing was read on the node


def test_parse_errors_are_typed():
    for cls in (ShellSyntaxError, DomainXMLError, ArgvError):
        assert issubclass(cls, ParseError)
