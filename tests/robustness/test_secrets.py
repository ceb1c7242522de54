"""Promise: one redaction, everywhere (issue 14, point 4).

One redactor (nodeaudit.redact) for argv, keyval, JSON (nested values of every
type), URLs with userinfo and free log text, applied to every string that
leaves the node (the module runs ``redact.scrub`` over all it returns). The
findings of issue 14 are pinned one by one; the property tests put generated
secrets in every position of every shape. The canary test (the whole playbook
at -vvv over a hostile node) is in tests/e2e/test_hostile_fleet.py.
"""
import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from robust_tools import PID_A, domains_of, snapgen
from nodeaudit import redact
from nodeaudit.parsers import qemuargv, qemulog

START = ("2026-11-20 10:00:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0, "
         "kernel: 5.4.0-97-generic, hostname: h\n")

# ------------------------------------------------------ the findings, pinned

# Each: (shape, text with SECRET where the secret goes). These leaked into audit.json/md/xml and -vvv.
FINDINGS = [
    ("log line starting with -", "-netdev tap,id=hostnet0,vhost=on,password=SECRET: vhost-net requested but could "
                                 "not be initialized"),
    ("rbd key in a log line", "qemu: -drive file=rbd:vms/disk:id=nova:key=SECRET:auth_supported=cephx: falling back "
                              "on userspace virtio"),
    ("JSON password inside a log line", 'qemu: -blockdev {"driver":"rbd","password":"SECRET"}: unable to start '
                                        'vhost net'),
    ("file.key=", "qemu: -blockdev driver=luks,file.key=SECRET: falling back on userspace virtio"),
    ("x-password=", "qemu: -drive x-password=SECRET,if=none: falling back on userspace virtio"),
    ("a list under a secret key", '{"type":"tap","auth":{"token":["a", "SECRET"]}} falling back on userspace virtio'),
    ("an object under a secret key", '{"type":"tap","password":{"v":"SECRET"}} falling back on userspace virtio'),
    ("a number under a secret key", '{"type":"tap","key":4242SECRET} falling back on userspace virtio'),
    ("https userinfo", "fetch https://user:SECRET@10.0.0.1/disk failed: falling back on userspace virtio"),
    ("iscsi userinfo", "iscsi://user%SECRET@10.0.0.1/iqn.2026-01.x:t/1: falling back on userspace virtio"),
    ("env assignment", "LIBVIRT_AUTH_PASSWORD=SECRET falling back on userspace virtio"),
    ("truncated JSON secret object", '-object {"qom-type":"secret","id":"s2","data":"SECRET'),
    ("keyval escaped comma", "-drive file=x,password=SEC,,RET,if=none: falling back on userspace virtio"),
]


@pytest.mark.parametrize("shape,template", FINDINGS, ids=[f[0] for f in FINDINGS])
def test_redact_text_hides_each_finding(shape, template):
    secret = "Zq9SECRETx7"
    text = template.replace("SECRET", secret)
    out = redact.redact_text(text)
    assert "Zq9" not in out and "x7" not in out.replace("ux7", ""), (shape, out)
    assert redact.REDACTED in out
    assert redact.redact_text(out) == out                       # idempotent


@pytest.mark.parametrize("shape,template", FINDINGS, ids=[f[0] for f in FINDINGS])
def test_qemu_log_message_hides_each_finding(shape, template):
    secret = "Lg7SECRETq2"
    line = template.replace("SECRET", secret)
    if not any(p in line for p in qemulog.VHOST_PATTERNS):
        line += ": falling back on userspace virtio"
    parsed = qemulog.parse_qemu_log(START + "LC_ALL=C /usr/bin/qemu-system-x86_64 -S\n" + line + "\n")
    assert parsed["vhost_messages"], parsed
    assert "Lg7" not in json.dumps(parsed), shape


def test_what_is_not_a_secret_stays():
    """Redaction must not eat the evidence: ids that name secrets, flags, ordinary keys."""
    keep = ["-vnc :0,password=on", "-object secret,id=sec0,keyid=masterKey0,format=base64",
            "-drive file=rbd:vms/disk:id=nova:key-secret=sec0", "tap,id=hostnet0,vhost=on,vhostfd=31",
            '{"type":"tap","vhost":true,"vhostfds":"31:32"}', "/etc/default/qemu-kvm:7: VHOST_NET_ENABLED=0",
            "keyboard=us", "qemu_kvm.vhost_net_enabled", "see https://example.org/doc"]
    for text in keep:
        assert redact.redact_text(text) == text, text


def test_scrub_hides_values_under_secret_keys_of_any_type_and_keeps_the_schema():
    data = {"env": {"LIBVIRT_PASSWORD": "pw1", "Token": ["t1", {"x": "t2"}], "LC_ALL": "C"},
            "key_line": 7, "evidence": ["-netdev tap,passwd=pw3"], "name": "vm\x1b[31m", "state": "pass",
            "vhost": True, "password": True}
    out = redact.scrub(data)
    blob = json.dumps(out)
    for leak in ("pw1", "t1", "t2", "pw3", "\x1b"):
        assert leak not in blob
    assert out["key_line"] == 7 and out["state"] == "pass" and out["vhost"] is True
    assert out["env"]["LC_ALL"] == "C" and out["password"] is True


# ---------------------------------------------- properties: every position

SECRET = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/", min_size=10,
                 max_size=24)
KEYS = st.sampled_from(["password", "passwd", "secret", "key", "token", "x-password", "file.key", "auth_key",
                        "PASSWORD", "api-token", "LIBVIRT_PASSWORD", "passphrase", "encrypt.key"])
SHAPES = st.sampled_from([
    "{k}={s}", "{k}={s},if=none", "a=b,{k}={s}", "rbd:pool/img:id=admin:{k}={s}:conf=/etc/ceph.conf",
    '"{k}":"{s}"', '"{k}": "{s}"', '{{"a":1,"{k}":"{s}"}}', '{{"{k}":["x","{s}"]}}', '{{"{k}":{{"v":"{s}"}}}}',
    '{{"outer":{{"{k}":["{s}",1]}}}}', '"{k}":"{s}', "https://u:{s}@host/p", "iscsi://u%{s}@host/iqn",
    "http://{s}@host/", "-object secret,id=s,data={s}", '{{"qom-type":"secret","id":"s","data":"{s}"}}',
])
FILLER = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


def _assume_real(secret):
    # A secret, not a word of the result's own schema ("vhostforce") nor a flag word.
    assume(any(c.isdigit() for c in secret) and any(c.isalpha() for c in secret))


@given(SECRET, KEYS, SHAPES, FILLER, FILLER)
def test_redact_text_hides_a_secret_in_any_shape_and_position(secret, key, shape, before, after):
    _assume_real(secret)
    assume(secret not in before + after)
    text = before + " " + shape.format(k=key, s=secret) + " " + after
    out = redact.redact_text(text)
    assert secret not in out, (text, out)
    assert redact.redact_text(out) == out


@given(SECRET, KEYS, SHAPES, st.lists(st.sampled_from(["-netdev", "-drive", "-object", "-blockdev", "-name",
                                                        "tap,id=n0", "-S", "x", "-spice", "-append"]), max_size=8),
       st.integers(min_value=0, max_value=9))
def test_argv_and_its_parse_hide_a_secret_in_any_position(secret, key, shape, argv, where):
    _assume_real(secret)
    argv = ["/usr/bin/qemu-system-x86_64"] + argv
    where = max(1, min(where, len(argv)))
    element = shape.format(k=key, s=secret)
    full = argv[:where] + [element] + argv[where:]
    assert secret not in json.dumps(qemuargv.redact_argv(full))
    parsed = qemuargv.parse_qemu_argv(full)
    assert secret not in json.dumps(redact.scrub(parsed))
    # The excerpts the parser quotes are redacted already; every other field is scrubbed on the way out.
    assert secret not in json.dumps([d.get("arg") for d in parsed["netdevs"] + parsed["errors"]])


@given(SECRET, KEYS, SHAPES, FILLER)
def test_qemu_log_hides_a_secret_in_any_line(secret, key, shape, before):
    _assume_real(secret)
    assume(secret not in before)
    element = shape.format(k=key, s=secret)
    log = (START + "LC_ALL=C %s=%s \\\n/usr/bin/qemu-system-x86_64 \\\n-drive '%s' \\\n-S\n"
           % (key.upper().replace(".", "_").replace("-", "_"), secret, element.replace("'", ""))
           + before.replace("\n", " ") + element + ": falling back on userspace virtio\n")
    parsed = qemulog.parse_qemu_log(log)
    assert secret not in json.dumps(redact.scrub(parsed))
    assert secret not in json.dumps(parsed["vhost_messages"])


@given(SECRET, KEYS, st.recursive(st.one_of(st.integers(), st.text(max_size=5), st.booleans()),
                                  lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                                  max_leaves=8))
def test_json_nested_values_of_every_type_under_a_secret_key(secret, key, other):
    _assume_real(secret)
    for value in (secret, [secret], {"v": secret}, [{"w": [secret]}]):
        obj = {"type": "tap", "id": "n0", "other": other, "deep": {key: value}}
        text = json.dumps(obj)
        assert secret not in json.dumps(redact.redact_json(obj))
        assert secret not in redact.redact_value(text, "-netdev")
        assert secret not in redact.redact_text(text)
        assert secret not in redact.redact_text(text[:-3])          # truncated


# -------------------------------------- through the module, every string out

LOG_SECRETS = dict(("LOGSECRET%02d" % i, template) for i, (_shape, template) in enumerate(FINDINGS))


def test_module_output_holds_no_finding_secret(node, run_module):
    """Each finding's shape in the QEMU log (where QEMU quotes option values) and in the argv."""
    lines = []
    for secret, template in LOG_SECRETS.items():
        line = template.replace("SECRET", secret)
        if not any(p in line for p in qemulog.VHOST_PATTERNS):
            line += ": falling back on userspace virtio"
        lines.append(line)
    log = START + "LC_ALL=C \\\n/usr/bin/qemu-system-x86_64 \\\n-name guest=vm-a \\\n-S\n" + "\n".join(lines) + "\n"
    dom = snapgen._dom("vm-a", 1, PID_A, [snapgen._nic("52:54:00:00:01:01", vhost=True)], log=log)
    n = node(domains=[dom])
    argv = n.argv("vm-a") + [
        "-netdev", "tap,id=hostnet9,file.key=ARGVSECRET1,x-password=ARGVSECRET2",
        "-netdev", '{"type":"tap","id":"hostnet8","auth":{"token":["ARGVSECRET3"]}',
        "-netdev", "tap,id=hostnet7,script=https://u:ARGVSECRET4@h/x",
    ]
    n.write_argv(PID_A, argv)
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0 and domains_of(out["audit"])["vm-a"]["nics"]
    for secret in list(LOG_SECRETS) + ["ARGVSECRET%d" % i for i in range(1, 5)]:
        assert secret not in raw, secret
    assert redact.REDACTED in raw


# ------------------------------------------- the fast path changes nothing

# Text built from the pieces the redactor reacts to: secret-key fragments in any case (the Kelvin
# sign folds to k, the dotted capital I and the long s do not fold to ASCII), separators of every
# syntax, JSON escapes, URLs.
_PIECES = st.sampled_from([
    "password", "PassWord", "passwd", "pwd", "secret", "SECRET", "key", "\u212aey", "token", "credentials",
    "apikey", "privkey", "data", "iv", "qom-type", "id", "fd", "vhost", "on", "tap", "x", "\u0130", "\u017f",
    "=", ",", ",,", ":", "@", "//", "https://", "iscsi://", "%", '"', "{", "}", "[", "]", " ", ".", "-", "_",
    "\\", "\\u0070", "\\u006b", "AQBx==", "<redacted>",
])
_TEXTS = st.lists(_PIECES, max_size=14).map("".join)


@given(_TEXTS, st.sampled_from([None, "-object", "-netdev", "-drive", "-vnc", "-spice"]))
def test_fast_path_gives_what_the_full_redactor_gives(text, option):
    assert redact.redact_text(text) == redact._redact_text_full(text)
    assert redact.redact_value(text, option) == redact._redact_value_full(text, option)
    assert redact._split_keyval(text) == redact._split_keyval_slow(text)


def test_fast_path_still_hides_what_only_the_full_path_sees():
    # No ASCII "key" in the raw text, yet a secret: the JSON escape spells it, the Kelvin sign folds to it.
    assert "SECRET" not in redact.redact_value('{"\\u006bey":"SECRET"}', "-object")
    assert "SECRET" not in redact.redact_text("\u212aey=SECRET")
