"""Property tests over the pure parsers and the evaluation (issue 6, part 4).

The contract (docs/DESIGN.md): a parser returns plain JSON-serialisable data or
raises its own typed error (a ``ParseError`` subclass); anything else escaping is
a bug. ``evaluate`` never raises on facts of the shape ``collect`` produces, and
never says ``pass`` without evidence nor anything else without a reason.

Bounded by the hypothesis profile: "ci" (default, ~150 examples per test) inside
`make test`; HYPOTHESIS_PROFILE=fuzz (20,000) in `make fuzz`.
"""
import json
import re

from hypothesis import assume, given
from hypothesis import strategies as st

from robust_tools import snapgen
from nodeaudit.parsers import domxml, kmod, qemuargv, qemulog, shellvars
from nodeaudit.checks import STATES
from nodeaudit.errors import ArgvError, DomainXMLError, ParseError, ShellSyntaxError
from nodeaudit.evaluate import evaluate
from nodeaudit.policy import DEFAULT_POLICY, validate
from argv_verdicts import verdicts
from nodeaudit.sources import facts as F


def tokens_text(tokens, max_size=40):
    """Text assembled from format-specific tokens and arbitrary characters."""
    return st.lists(st.one_of(st.sampled_from(tokens), st.text(max_size=6)), max_size=max_size).map("".join)


def mixed(tokens, max_size=40):
    return st.one_of(st.text(max_size=200), tokens_text(tokens, max_size),
                     st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")))


SHELL_TOKENS = ["VHOST_NET_ENABLED", "=", "1", "0", "\n", "\r\n", " ", "\t", "'", '"', "\\", "$", "${", "}", "$(",
                ")", "(", "`", "#", ";", "&&", "||", "|", "&", "<", ">", "<<", "EOF", "export ", "readonly ",
                "unset ", "if ", "then ", "fi", "case ", " in ", "esac", ";;", "for ", "do ", "done", "{ ", "}",
                "while ", "eval ", ". ", "exit", "KSM_ENABLED", "$VHOST_NET_ENABLED", "~", "$((", "\x00"]
MODULE_TOKENS = ["vhost_net", "vhost-net", "vhost", "tap", " ", "\t", "\n", "\r", "32768", "-1", "-", "Live",
                 "Loading", "Unloading", "0x0000000000000000", ",", "[permanent]", "(OE)", "Module", "Size",
                 "Used by", "#", ";", "\\", "blacklist ", "install ", "options ", "alias ", "remove ", "softdep ",
                 "/bin/true", "/sbin/modprobe --ignore-install vhost_net", "kernel/drivers/vhost/vhost_net.ko",
                 ".ko.zst", "/"]
ARG_TOKENS = ["-netdev", "-device", "-nic", "-net", "-object", "-name", "-uuid", "-accel", "-machine", "-vnc",
              "-spice", "-enable-kvm", "tap", "user", "vhost-user", "bridge", "nic", "virtio-net-pci", "e1000",
              ",", ",,", "=", "id=", "netdev=", "fd=", "fds=", "vhost=on", "vhost=off", "vhostfd=", "vhostfds=",
              "vhostforce=on", "queues=", "mac=", "model=", "vlan=", "password=", "data=", "secret", "{", "}",
              '"', ":", "[", "]", '"type":', '"vhost":true', '"id":', '"netdev":', '"driver":', "true", "null",
              "1", "30", "hostnet0", "kvm", "tcg", "\x00", "\\"]
XML_TOKENS = ["<domain type='kvm'>", "</domain>", "<domstatus state='running' pid='42'>", "</domstatus>",
              "<name>", "</name>", "<uuid>", "</uuid>", "<devices>", "</devices>", "<interface type='bridge'>",
              "</interface>", "<mac address='52:54:00:00:00:01'/>", "<model type='virtio'/>",
              "<driver name='vhost' queues='2'/>", "<source bridge='br0'/>", "<address type='pci' bus='0x1'/>",
              "<metadata>", "</metadata>", "<nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'>",
              "</nova:instance>", "<graphics passwd='x'/>", "<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&lt;",
              "<?xml version='1.0'?>", "<!DOCTYPE d>", "<", ">", "/", "'", '"', "=", " "]
LOG_TOKENS = ["2026-11-20 10:00:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0, kernel: 5.4,"
              " hostname: h", "\n", "\\\n", "LC_ALL=C ", "/usr/bin/qemu-system-x86_64 ", "-netdev ",
              "tap,vhost=on,vhostfd=3 ", "'", '"', "falling back on userspace virtio",
              "vhost-net requested but could not be initialized", "password=x", "\r", " "]


def json_ok(value):
    json.dumps(value)
    return value


# ------------------------------------------------------------------ shellvars

@given(mixed(SHELL_TOKENS))
def test_shellvars_only_raises_shell_syntax_error(text):
    try:
        result = shellvars.parse_shell_assignments(text)
    except ShellSyntaxError as exc:
        assert exc.line is None or exc.line >= 1
        return
    json_ok(result)
    assert set(result) == {"vars", "assignments", "unparsed", "uncertain"}
    for item in result["assignments"]:
        assert item["line"] >= 1


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="'\\\n\x00"), max_size=40))
def test_shellvars_single_quoted_value_is_literal(value):
    result = shellvars.parse_shell_assignments("VHOST_NET_ENABLED='%s'\n" % value)
    assert result["vars"]["VHOST_NET_ENABLED"] == value
    assert "VHOST_NET_ENABLED" not in result["uncertain"]


# ----------------------------------------------------------------------- kmod

@given(mixed(MODULE_TOKENS))
def test_kmod_text_parsers_never_raise_on_text(text):
    for parse in (kmod.parse_proc_modules, kmod.parse_lsmod):
        result = json_ok(parse(text))
        lines = text.split("\n")
        for bad in result["bad_lines"]:
            assert lines[bad["line"] - 1] == bad["raw"]
    json_ok(kmod.parse_modules_builtin(text))
    json_ok(kmod.parse_modules_load(text))
    directives = json_ok(kmod.parse_modprobe_conf(text))
    json_ok(kmod.module_load_policy([("/etc/modprobe.d/x.conf", directives)], "vhost_net"))


@given(st.lists(st.tuples(st.sampled_from(["/etc/modprobe.d", "/run/modprobe.d", "/lib/modprobe.d"]),
                          st.lists(st.one_of(st.text(max_size=12), st.sampled_from(["a.conf", "b.conf", ".h.conf"])),
                                   max_size=5)), max_size=4))
def test_kmod_effective_conf_files(listing):
    result = kmod.effective_conf_files(listing)
    names = [name for _d, name in result]
    assert names == sorted(set(names))
    assert all(n.endswith(".conf") and not n.startswith(".") for n in names)


@given(st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=3)))
def test_kmod_wrong_shapes_raise_parse_error(value):
    try:
        kmod.effective_conf_files(value)
        kmod.module_load_policy(value, "vhost_net")
    except ParseError:
        pass


# ------------------------------------------------------------------- qemuargv

argv_strategy = st.lists(st.one_of(st.sampled_from(ARG_TOKENS), tokens_text(ARG_TOKENS, 12), st.text(max_size=30)),
                         max_size=30)


@given(st.binary(max_size=400))
def test_split_cmdline_any_bytes(data):
    argv = qemuargv.split_cmdline(data)
    assert all(isinstance(a, str) and "\x00" not in a for a in argv)
    if data and data.endswith(b"\0"):
        assert len(argv) == data.count(b"\0")


@given(mixed(ARG_TOKENS + ["'", '"', "\\\n", "LC_ALL=C ", " "]))
def test_split_shell_args_only_raises_argv_error(text):
    try:
        result = qemuargv.split_shell_args(text)
    except ArgvError as exc:
        assert exc.line is None or exc.line >= 1
        result = qemuargv.split_shell_args(text, strict=False)
    json_ok(result)


@given(argv_strategy)
def test_parse_qemu_argv_never_raises_on_string_lists(argv):
    result = json_ok(qemuargv.parse_qemu_argv(argv))
    for nic in verdicts(result):
        assert nic["vhost"] in (True, False, None)
        assert nic["vhost"] is not None or nic["reason"]
    for netdev in result["netdevs"]:
        assert len(netdev["arg"]) <= qemuargv.EXCERPT_MAX


@given(st.one_of(st.none(), st.integers(), st.text(max_size=5),
                 st.lists(st.one_of(st.integers(), st.none(), st.binary(max_size=5)), max_size=4)))
def test_parse_qemu_argv_wrong_types_raise_argv_error(argv):
    try:
        qemuargv.parse_qemu_argv(argv)
    except ArgvError:
        pass


SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", min_size=12,
                 max_size=24)


@given(argv_strategy, SECRET, st.sampled_from([
    ["-object", "secret,id=s0,data=%s,format=base64"],
    ["-object", '{"qom-type":"secret","id":"s0","data":"%s"}'],
    ["-spice", "port=5900,password=%s"],
    ["-vnc", ":0,password=%s"],
    ["-drive", "file=x,password=%s"],
    ["-netdev", '{"type":"tap","id":"n","passwd":"%s"'],
]), st.integers(min_value=0, max_value=30))
def test_redact_argv_hides_secrets_wherever_they_are(argv, secret, template, where):
    assume(secret.lower() not in ("on", "off", "yes", "no", "true", "false"))
    assume(not any(secret in a for a in argv))
    argv = ["/usr/bin/qemu-system-x86_64"] + argv
    where = max(1, min(where, len(argv)))
    # Insert at an option boundary: the secret is the value of its option.
    while where > 1 and argv[where - 1] in qemuargv._WITHARG:
        where -= 1
    full = argv[:where] + [template[0], template[1] % secret] + argv[where:]
    redacted = qemuargv.redact_argv(full)
    assert len(redacted) == len(full)
    assert secret not in json.dumps(redacted)
    assert secret not in json.dumps(qemuargv.parse_qemu_argv(full))


# --------------------------------------------------------------------- domxml

VALID_XML = snapgen.domain_xml(snapgen._dom("vm-f", 1, 42, [snapgen._nic("52:54:00:00:00:01", queues=2),
                                                            snapgen._nic("52:54:00:00:00:02", type="bridge")]),
                               status=True)


@given(st.one_of(mixed(XML_TOKENS, 60), st.binary(max_size=300)))
def test_parse_domain_xml_only_raises_domain_xml_error(text):
    try:
        result = domxml.parse_domain_xml(text)
    except DomainXMLError:
        return
    json_ok(result)
    assert result["status"] is None or set(result["status"]) == {"state", "reason", "pid"}


@given(st.integers(min_value=0, max_value=len(VALID_XML)), st.integers(min_value=0, max_value=len(VALID_XML)),
       tokens_text(XML_TOKENS, 4))
def test_parse_domain_xml_mutations_of_a_real_document(cut, at, insert):
    for text in (VALID_XML[:cut], VALID_XML[:at] + insert + VALID_XML[at:]):
        try:
            result = domxml.parse_domain_xml(text)
        except DomainXMLError:
            continue
        json_ok(result)
        assert "passwd" not in json.dumps(result)


# -------------------------------------------------------------------- qemulog

@given(mixed(LOG_TOKENS, 60))
def test_parse_qemu_log_never_raises_on_text(text):
    result = json_ok(qemulog.parse_qemu_log(text))
    assert result["starts"] >= (1 if result["last_start"] else 0)
    if result["last_start"]:
        assert not re.search(r"(?<![\w-])password=x", json.dumps(result["last_start"]["argv"]))


# ------------------------------------------------------------------- evaluate

STATUSES = ["ok", "missing", "not_file", "too_large", "loop", "denied", "error"]
DOMAIN_STATES = ["running", "paused", "shutoff", "unknown", "crashed", "nostate", "blocked", "pmsuspended",
                 "shutdown"]


@st.composite
def domain_facts(draw, index):
    name = draw(st.one_of(st.just("vm-%d" % index), st.text(min_size=1, max_size=12)))
    xml = None
    xml_error = None
    if draw(st.booleans()):
        try:
            xml = domxml.parse_domain_xml(draw(st.one_of(st.just(VALID_XML), mixed(XML_TOKENS, 30))))
        except DomainXMLError as exc:
            xml_error = "xml: %s" % exc
    state = draw(st.sampled_from(DOMAIN_STATES))
    process = None
    if draw(st.booleans()):
        argv = draw(st.one_of(st.just(snapgen.qemu_argv(snapgen._dom(name, index, 100 + index, [
            snapgen._nic("52:54:00:00:00:01", vhost=draw(st.booleans()),
                         syntax=draw(st.sampled_from(["json", "keyval", "legacy"])))]))), argv_strategy))
        process = F.process(argv or None, pid=100 + index, fds=draw(st.booleans()),
                            vhost_fds=draw(st.lists(st.integers(min_value=0, max_value=64), max_size=4)),
                            threads=draw(st.one_of(st.none(), st.just(["vhost-1"]))),
                            status="ok" if argv else "empty", reason=None if argv else "cmdline is empty")
    log = None
    if draw(st.booleans()):
        log = dict(F.log_record("/var/log/libvirt/qemu/%s.log" % name),
                   parsed=qemulog.parse_qemu_log(draw(mixed(LOG_TOKENS, 30))))
    return F.domain(name=name, uuid=draw(st.one_of(st.none(), st.text(max_size=8))), state=state,
                    pid=draw(st.one_of(st.none(), st.integers(min_value=1, max_value=10 ** 6))), xml=xml,
                    xml_error=xml_error, proc=process, log=log)


def _file(draw, tokens, size):
    """A drawn file: text from ``tokens``, absent, or unreadable in one of the reader's ways."""
    status = draw(st.sampled_from(STATUSES))
    if status == "ok":
        return draw(mixed(tokens, size))
    if status == "missing":
        return None
    return F.Unreadable(status, "why: " + status)


@st.composite
def node_facts(draw):
    files = {"/etc/default/qemu-kvm": _file(draw, SHELL_TOKENS, 20),
             "/proc/modules": _file(draw, MODULE_TOKENS, 20),
             "/etc/modprobe.d/x.conf": draw(mixed(MODULE_TOKENS, 20)),
             "/lib/modules/5.4.0/modules.builtin": draw(st.sampled_from(
                 [None, "kernel/drivers/vhost/vhost_net.ko\n", "kernel/drivers/net/tun.ko\n"]))}
    if draw(st.booleans()):
        files["/etc/modules"] = "vhost_net\n"
    if not draw(st.booleans()):
        files["/sys/module/vhost_net"] = None
    dev = draw(st.sampled_from([True, False, "unreadable"]))
    if dev == "unreadable":
        files["/dev/vhost-net"] = F.Unreadable()
        dev = False
    count = draw(st.integers(min_value=0, max_value=3))
    domains = [draw(domain_facts(i)) for i in range(count)]
    return F.node(files, mode=draw(st.sampled_from(["live", "snapshot"])), hostname=draw(st.text(max_size=10)),
                  dev=dev, domains=domains,
                  orphans=[d["process"] for d in domains[:1] if d["process"] and d["process"]["argv"]],
                  sources={"domains": "snapshot", "domains_reason": draw(st.one_of(st.none(), st.text(max_size=20))),
                           "processes": "/proc", "root": "/"})


POLICIES = [validate(DEFAULT_POLICY),
            validate({"checks": {"qemu_kvm.settings": {"level": "fail", "expected": {"KSM_ENABLED": "1"}},
                                 "domains.vhost": {"level": "warn", "exempt": {"domains": ["vm-1"]}},
                                 "kernel.vhost_net": {"level": "off"}}})]


@given(node_facts(), st.sampled_from(POLICIES))
def test_evaluate_never_raises_and_always_explains(facts, policy):
    result = evaluate(facts, policy, host_name="fuzz")
    json.dumps(result)
    assert result["state"] in STATES
    for check in result["checks"]:
        assert check["state"] in STATES
        if check["state"] != "pass":
            assert check["reason"], check
    for dom in result["domains"]:
        assert dom["verdict"] in STATES
        for nic in dom["nics"]:
            assert nic["vhost"] in (True, False, None)
            assert nic["vhost"] is True or nic["reason"], nic
    # "Could not read" is never a pass.
    checks = dict((c["id"], c) for c in result["checks"])
    if facts["qemu_kvm"]["status"] not in ("ok", "missing", "parse_error") \
            and policy["checks"]["qemu_kvm.vhost_net_enabled"]["level"] != "off":
        assert checks["qemu_kvm.vhost_net_enabled"]["state"] == "error"
