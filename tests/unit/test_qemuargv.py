"""qemuargv: splitting, every NIC syntax, pairing, redaction."""
import doctest
import json

import pytest
from hypothesis import given, settings, strategies as st

from nodeaudit.parsers import qemuargv
from nodeaudit.errors import ArgvError, ParseError
from argv_verdicts import verdicts

Q = "/usr/bin/qemu-system-x86_64"

SECRET = "XAPibndN+4AnDL8fOeRgBGGcl9O4v+eEhhiAHdImV0Q="
IV = "NiTD9GloeE3G64Y40Qf+lg=="


def test_doctests():
    result = doctest.testmod(qemuargv)
    assert result.attempted > 0
    assert result.failed == 0


# ------------------------------------------------------------ split_cmdline

@pytest.mark.parametrize("data,expected", [
    (b"", []),
    (b"\x00", [""]),
    (b"qemu\x00-S\x00", ["qemu", "-S"]),
    (b"qemu\x00-S", ["qemu", "-S"]),                       # no trailing NUL
    (b"a\x00\x00b\x00", ["a", "", "b"]),                   # empty argument kept
    (b"a b\x00c", ["a b", "c"]),                           # spaces are not separators
    (b"\xff\xfe\x00", ["\ufffd\ufffd"]),                   # undecodable -> replacement
    (bytearray(b"x\x00"), ["x"]),
])
def test_split_cmdline(data, expected):
    assert qemuargv.split_cmdline(data) == expected


def test_split_cmdline_rejects_non_bytes():
    with pytest.raises(ArgvError):
        qemuargv.split_cmdline(42)


# ---------------------------------------------------------- split_shell_args

ARGS_FILE = """LC_ALL=C \\
PATH=/bin \\
HOME=/var/lib/libvirt/qemu/domain--1-test \\
/usr/bin/qemu-system-x86_64 \\
-name guest=test,debug-threads=on \\
-smbios 'type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova' \\
-netdev '{"type":"tap","fds":"102:103","vhost":true,"vhostfds":"44:45","id":"hostnet0"}' \\
-device '{"driver":"virtio-net-pci","netdev":"hostnet0","mac":"52:54:00:e5:48:58","id":"net0"}' \\
-msg timestamp=on
"""


@pytest.mark.parametrize("text,env,argv", [
    ("", {}, []),
    ("   \n\t", {}, []),
    ("qemu -S", {}, ["qemu", "-S"]),
    ("A=1 B=2 qemu C=3", {"A": "1", "B": "2"}, ["qemu", "C=3"]),
    ("'A=1' qemu", {}, ["A=1", "qemu"]),                  # quoted: not an assignment
    ("A'=1' qemu", {}, ["A=1", "qemu"]),                  # '=' quoted: not an assignment
    ("A='x y' qemu", {"A": "x y"}, ["qemu"]),             # quoted value is fine
    ("1A=2 qemu", {}, ["1A=2", "qemu"]),
    ("qemu \\\n-S \\\n-m 1", {}, ["qemu", "-S", "-m", "1"]),
    ("qemu \\\r\n-S", {}, ["qemu", "-S"]),
    ('qemu "a \\"b\\" \\$c \\x"', {}, ["qemu", 'a "b" $c \\x']),
    ("qemu a\\ b", {}, ["qemu", "a b"]),
    ("qemu ''", {}, ["qemu", ""]),
    ("qemu 'a'\"b\"c", {}, ["qemu", "abc"]),
    ("qemu '#x' #y", {}, ["qemu", "#x", "#y"]),           # '#' is kept (never a comment here)
    ("qemu trailing\\", {}, ["qemu", "trailing\\"]),
])
def test_split_shell_args(text, env, argv):
    assert qemuargv.split_shell_args(text) == {"env": env, "argv": argv}


def test_split_shell_args_args_file():
    r = qemuargv.split_shell_args(ARGS_FILE)
    assert r["env"] == {"LC_ALL": "C", "PATH": "/bin", "HOME": "/var/lib/libvirt/qemu/domain--1-test"}
    assert r["argv"][0] == Q
    assert "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova" in r["argv"]
    assert r["argv"][-1] == "timestamp=on"


@pytest.mark.parametrize("text,line", [
    ("qemu 'oops", 1),
    ("qemu \\\n-S \\\n-name \"x", 3),
])
def test_split_shell_args_unterminated(text, line):
    with pytest.raises(ArgvError) as err:
        qemuargv.split_shell_args(text)
    assert err.value.line == line
    loose = qemuargv.split_shell_args(text, strict=False)
    assert loose["argv"][0] == "qemu"


def test_split_shell_args_bytes_and_type():
    assert qemuargv.split_shell_args(b"qemu \xff")["argv"] == ["qemu", "\ufffd"]
    with pytest.raises(ArgvError):
        qemuargv.split_shell_args(None)


# --------------------------------------------------------------- keyval

@pytest.mark.parametrize("value,implied,expected", [
    ("tap,id=a", "type", {"type": "tap", "id": "a"}),
    ("id=a,type=tap", "type", {"id": "a", "type": "tap"}),
    ("tap,ifname=a,,b,id=x", "type", {"type": "tap", "ifname": "a,b", "id": "x"}),
    ("tap,id=x,,", "type", {"type": "tap", "id": "x,"}),
    ("", "type", {"type": ""}),
    ("a=1,a=2", None, {"a": "2"}),
    ("x,server,nowait", "backend", {"backend": "x", "server": "on", "nowait": "on"}),
])
def test_parse_keyval(value, implied, expected):
    assert qemuargv.parse_keyval(value, implied) == expected


@pytest.mark.parametrize("driver,expected", [
    ("virtio-net-pci", True), ("virtio-net-pci-non-transitional", True),
    ("virtio-net-pci-transitional", True), ("virtio-net-device", True),
    ("virtio-net-ccw", True), ("virtio", True), ("VIRTIO-NET-PCI", True),
    ("e1000", False), ("e1000e", False), ("rtl8139", False), ("vmxnet3", False),
    ("virtio-blk-pci", False), ("vfio-pci", False), ("", False), (None, False), (3, False),
])
def test_is_virtio_net(driver, expected):
    assert qemuargv.is_virtio_net(driver) is expected


# ------------------------------------------------------------ parse_qemu_argv

def parse(*args):
    return qemuargv.parse_qemu_argv([Q] + list(args))


def nic_summary(result):
    """Per NIC: (netdev id, driver, backend, vhost), vhost "n/a" where the judge says not_applicable."""
    return [(n["netdev_id"], n["driver"], n["backend"], "n/a" if n["state"] == "not_applicable" else n["vhost"])
            for n in verdicts(result)]


NIC_CASES = [
    # name, argv tail, [(netdev_id, driver, backend, vhost)]
    ("keyval vhost=on",
     ["-netdev", "tap,fd=35,id=hostnet0,vhost=on,vhostfd=36",
      "-device", "virtio-net-pci,host_mtu=1450,netdev=hostnet0,id=net0,mac=fa:16:3e:a7:45:cb"],
     [("hostnet0", "virtio-net-pci", "tap", True)]),
    ("keyval no vhost",
     ["-netdev", "tap,fd=3,id=hostnet0", "-device", "rtl8139,netdev=hostnet0,id=net0"],
     [("hostnet0", "rtl8139", "tap", "n/a")]),
    ("keyval vhost=off on virtio",
     ["-netdev", "tap,id=n0,vhost=off", "-device", "virtio-net-pci,netdev=n0"],
     [("n0", "virtio-net-pci", "tap", False)]),
    ("vhost yes/true/no words",
     ["-netdev", "tap,id=a,vhost=yes", "-device", "virtio-net-pci,netdev=a",
      "-netdev", "tap,id=b,vhost=true", "-device", "virtio-net-pci,netdev=b",
      "-netdev", "tap,id=c,vhost=no", "-device", "virtio-net-pci,netdev=c"],
     [("a", "virtio-net-pci", "tap", True), ("b", "virtio-net-pci", "tap", True),
      ("c", "virtio-net-pci", "tap", False)]),
    ("vhostfd alone turns vhost on (QEMU net_init_tap)",
     ["-netdev", "tap,fd=3,id=n,vhostfd=4", "-device", "virtio-net-pci,netdev=n"],
     [("n", "virtio-net-pci", "tap", True)]),
    ("vhostforce=on",
     ["-netdev", "tap,id=n,vhostforce=on", "-device", "virtio-net-pci,netdev=n"],
     [("n", "virtio-net-pci", "tap", True)]),
    ("unreadable vhost value",
     ["-netdev", "tap,id=n,vhost=maybe", "-device", "virtio-net-pci,netdev=n"],
     [("n", "virtio-net-pci", "tap", None)]),
    ("multiqueue keyval",
     ["-netdev", "tap,fds=30:31:32,id=hostnet0,vhost=on,vhostfds=40:41:42",
      "-device", "virtio-net-pci,mq=on,vectors=8,netdev=hostnet0,id=net0"],
     [("hostnet0", "virtio-net-pci", "tap", True)]),
    ("JSON multiqueue",
     ["-netdev", '{"type":"tap","fds":"102:103","vhost":true,"vhostfds":"44:45","id":"hostnet0"}',
      "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","mac":"52:54:00:e5:48:58","id":"net0"}'],
     [("hostnet0", "virtio-net-pci", "tap", True)]),
    ("JSON vhost false",
     ["-netdev", '{"type":"tap","fd":"3","vhost":false,"id":"n"}',
      "-device", '{"driver":"virtio-net-pci","netdev":"n"}'],
     [("n", "virtio-net-pci", "tap", False)]),
    ("type given as a key, not first",
     ["-netdev", "id=x,type=tap,vhost=on", "-device", "virtio-net-pci,netdev=x"],
     [("x", "virtio-net-pci", "tap", True)]),
    ("double-dash options",
     ["--netdev", "tap,id=x,vhost=on", "--device", "virtio-net-pci,netdev=x"],
     [("x", "virtio-net-pci", "tap", True)]),
    ("vhost=on on a non-virtio front end (AutoHCK e1000e)",
     ["-netdev", "tap,id=cs_r0004_c01,vhost=on,script=/x.sh,downscript=no",
      "-device", "e1000e,netdev=cs_r0004_c01,mac=56:00:04:01:cc:cc,id=cs_r0004_c01"],
     [("cs_r0004_c01", "e1000e", "tap", "n/a")]),
    ("vhost-user is not vhost-net",
     ["-chardev", "socket,id=charnet0,path=/tmp/v.sock",
      "-netdev", '{"type":"vhost-user","chardev":"charnet0","queues":4,"id":"hostnet0"}',
      "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0"}'],
     [("hostnet0", "virtio-net-pci", "vhost-user", "n/a")]),
    ("vhost-vdpa",
     ["-netdev", '{"type":"vhost-vdpa","vhostdev":"/dev/fdset/0","id":"hostnet0"}',
      "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0"}'],
     [("hostnet0", "virtio-net-pci", "vhost-vdpa", "n/a")]),
    ("user / slirp",
     ["-netdev", "user,id=hostnet0", "-device", "virtio-net-pci,netdev=hostnet0"],
     [("hostnet0", "virtio-net-pci", "user", "n/a")]),
    ("bridge without vhost",
     ["-netdev", "bridge,id=b0,br=br0", "-device", "virtio-net-pci,netdev=b0"],
     [("b0", "virtio-net-pci", "bridge", False)]),
    ("unknown backend type with vhost key",
     ["-netdev", "frobnicate,id=f,vhost=on", "-device", "virtio-net-pci,netdev=f"],
     [("f", "virtio-net-pci", "frobnicate", "n/a")]),
    ("-nic tap with vhost",
     ["-nic", "tap,model=virtio-net-pci,vhost=on,mac=52:54:00:12:34:56"],
     [(None, "virtio-net-pci", "tap", True)]),
    ("-nic user with id",
     ["-nic", "user,id=u1,model=e1000"],
     [("u1", "e1000", "user", "n/a")]),
    ("-nic tap without model",
     ["-nic", "tap,vhost=on"],
     [(None, None, "tap", "n/a")]),
    ("-nic none",
     ["-nic", "none"], []),
    ("legacy -net virtio + user",
     ["-net", "nic,macaddr=00:11:22:33:44:55,vlan=0,model=virtio", "-net", "user,vlan=0"],
     [("vlan0", "virtio", "user", "n/a")]),
    ("legacy -net tap vhost=on: still hub",
     ["-net", "nic,macaddr=00:11:22:33:44:55,model=virtio", "-net", "tap,vhost=on,vhostfd=4"],
     [("vlan0", "virtio", "tap", False)]),
    ("legacy two vlans, named backend",
     ["-net", "nic,vlan=1,model=rtl8139", "-net", "nic,vlan=0,model=virtio",
      "-net", "tap,vlan=0,name=t0", "-net", "user,vlan=1"],
     [("vlan1", "rtl8139", "user", "n/a"), ("t0", "virtio", "tap", False)]),
    ("legacy nic with no backend",
     ["-net", "nic,model=virtio"],
     [(None, "virtio", None, "n/a")]),
    ("legacy backend with no nic",
     ["-net", "tap,vlan=2"],
     [("vlan2", None, "tap", "n/a")]),
    ("-net nic,netdev= connects directly",
     ["-netdev", "tap,id=h0,vhost=on", "-net", "nic,netdev=h0,model=virtio"],
     [("h0", "virtio", "tap", True)]),
    ("device pointing at a missing netdev",
     ["-device", "virtio-net-pci,netdev=hostnet9,mac=52:54:00:00:00:09"],
     [("hostnet9", "virtio-net-pci", None, None)]),
    ("netdev without a device",
     ["-netdev", "tap,id=lonely,vhost=on"],
     [("lonely", None, "tap", "n/a")]),
    ("NIC device without netdev",
     ["-device", "e1000,mac=52:54:00:00:00:01"],
     [(None, "e1000", None, None)]),
    ("non-NIC devices are ignored",
     ["-device", "vfio-pci,host=0000:03:07.1,id=hostdev0",
      "-device", '{"driver":"virtio-blk-pci","drive":"d0"}',
      "-device", "virtio-balloon-pci,id=balloon0"],
     []),
    (",, escapes inside ids",
     ["-netdev", "tap,id=a,,b,vhost=on", "-device", "virtio-net-pci,netdev=a,,b"],
     [("a,b", "virtio-net-pci", "tap", True)]),
]


@pytest.mark.parametrize("name,tail,expected", NIC_CASES, ids=[c[0] for c in NIC_CASES])
def test_nics(name, tail, expected):
    result = parse(*tail)
    assert nic_summary(result) == expected
    for nic in verdicts(result):
        assert isinstance(nic["reason"], str) and nic["reason"]
    for nic in result["nics"]:      # the parser: structure and pairing only, no verdict
        assert set(nic) == {"netdev_id", "driver", "mac", "virtio", "backend", "netdev", "device", "pairing",
                            "vlan", "shared_netdev"}
    json.dumps(result)


def test_netdev_fields_keyval_multiqueue():
    r = parse("-netdev", "tap,fds=30:31:32,id=hostnet0,vhost=on,vhostfds=40:41:42,ifname=tap0")
    nd = r["netdevs"][0]
    assert nd == {
        "id": "hostnet0", "type": "tap", "vhost": True, "vhostforce": False,
        "fds": ["30", "31", "32"], "vhostfds": ["40", "41", "42"], "queues": 3,
        "ifname": "tap0", "syntax": "keyval", "index": 2,
        "arg": "tap,fds=30:31:32,id=hostnet0,vhost=on,vhostfds=40:41:42,ifname=tap0",
    }


def test_netdev_fields_json():
    r = parse("-netdev", '{"type":"vhost-user","chardev":"c","queues":4,"id":"h4"}',
              "-netdev", '{"type":"tap","fd":"102","vhost":true,"vhostfd":"44","id":"h0"}')
    vu, tap = r["netdevs"]
    assert (vu["type"], vu["queues"], vu["vhost"], vu["syntax"]) == ("vhost-user", 4, False, "json")
    assert (tap["fds"], tap["vhostfds"], tap["queues"], tap["vhost"]) == (["102"], ["44"], 1, True)


def test_device_fields():
    r = parse("-device", "virtio-net-pci,netdev=h,id=net0,mac=fa:16:3e:a7:45:cb,bus=pci.0",
              "-device", '{"driver":"rtl8139","netdev":"h2","id":"net1","mac":"10:11:22:33:44:55"}')
    assert r["devices"] == [
        {"driver": "virtio-net-pci", "netdev": "h", "mac": "fa:16:3e:a7:45:cb", "id": "net0",
         "index": 2, "syntax": "keyval"},
        {"driver": "rtl8139", "netdev": "h2", "mac": "10:11:22:33:44:55", "id": "net1",
         "index": 4, "syntax": "json"},
    ]


def test_legacy_reason_and_netdev_vhost():
    r = parse("-net", "nic,macaddr=00:11:22:33:44:55,vlan=0,model=virtio",
              "-net", "tap,vlan=0,vhost=on")
    assert r["netdevs"][0]["vhost"] is True          # as parsed
    assert r["netdevs"][0]["syntax"] == "legacy-net"
    assert r["devices"][0]["syntax"] == "legacy-net"
    assert r["devices"][0]["mac"] == "00:11:22:33:44:55"
    nic = verdicts(r)[0]
    assert nic["vhost"] is False and nic["virtio"] is True
    assert "legacy -net (hub) syntax" in nic["reason"]


def test_missing_netdev_reason():
    r = parse("-device", "virtio-net-pci,netdev=ghost")
    assert "ghost" in verdicts(r)[0]["reason"] and verdicts(r)[0]["netdev"] is None
    r = parse("-netdev", "tap,id=lonely")
    assert verdicts(r)[0]["device"] is None and "no NIC device" in verdicts(r)[0]["reason"]


@pytest.mark.parametrize("tail,accel", [
    ([], None),
    (["-accel", "kvm"], "kvm"),
    (["-accel", "tcg,thread=multi"], "tcg"),
    (["-accel", "kvm", "-accel", "tcg"], "kvm"),
    (["-machine", "pc-i440fx-4.2,accel=kvm,usb=off"], "kvm"),
    (["-machine", "pc,accel=kvm:tcg"], "kvm"),
    (["-M", "pc,accel=tcg"], "tcg"),
    (["-machine", "pc,usb=off"], None),
    (["-enable-kvm"], "kvm"),
    (["-no-kvm"], "tcg"),
    (["-machine", '{"type":"pc","accel":"hvf"}'], "hvf"),
])
def test_accel(tail, accel):
    assert parse(*tail)["accel"] == accel


@pytest.mark.parametrize("tail,name,uuid", [
    (["-name", "guest=instance-00000001,debug-threads=on"], "instance-00000001", None),
    (["-name", "QEMUGuest1"], "QEMUGuest1", None),
    (["-name", "a,,b,process=x"], "a,b", None),
    (["-uuid", "d1d75e2f-ada4-49bc-a963-528d89dfda25"], None, "d1d75e2f-ada4-49bc-a963-528d89dfda25"),
    (["-uuid", "601da52c-450f-4d8e-b502-503431536fa69"], None, "601da52c-450f-4d8e-b502-503431536fa69"),
])
def test_name_uuid(tail, name, uuid):
    r = parse(*tail)
    assert (r["name"], r["uuid"]) == (name, uuid)


# ---------------------------------------------------------------- ugly input

def test_empty_argv():
    r = qemuargv.parse_qemu_argv([])
    assert r == {"binary": None, "name": None, "uuid": None, "accel": None,
                 "netdevs": [], "devices": [], "nics": [], "errors": []}


def test_binary_only():
    assert qemuargv.parse_qemu_argv([Q])["binary"] == Q


def test_malformed_json_is_an_error_and_parsing_goes_on():
    r = parse("-netdev", '{"type":"tap","fd":"3","vhost":tr',          # truncated
              "-device", '{"driver":"virtio-net-pci","netdev":"h1"',   # truncated
              "-netdev", '["not","an","object"]',
              "-netdev", "{",
              "-netdev", "tap,id=h1,vhost=on",
              "-device", "virtio-net-pci,netdev=h1")
    assert [e["index"] for e in r["errors"]] == [2, 4, 8]
    assert all("malformed JSON" in e["reason"] for e in r["errors"])
    assert ("h1", "virtio-net-pci", "tap", True) in nic_summary(r)
    # '["not"...' is not JSON syntax for QEMU either (only '{' is): read as keyval, harmless
    assert r["netdevs"][0]["type"] == '["not"'
    json.dumps(r)


def test_deeply_nested_json_does_not_crash():
    r = parse("-netdev", "{" + '"a":[' * 100000)
    assert r["errors"] and r["errors"][0]["index"] == 2
    r = parse("-device", '{"driver":"virtio-net-pci","x":' + "[" * 5000 + "]" * 5000 + "}")
    json.dumps(r)


def test_trailing_option_without_value():
    for opt in ("-netdev", "-device", "-name", "-uuid", "-nic", "-net", "-accel", "-machine"):
        r = parse("-S", opt)
        assert r["errors"][-1]["index"] == 2
        assert opt in r["errors"][-1]["reason"]


def test_nul_bytes_inside_arguments():
    r = parse("-netdev", "tap,id=h\x000,vhost=on", "-device", "virtio-net-pci,netdev=h\x000",
              "-name", "\x00")
    assert nic_summary(r) == [("h\x000", "virtio-net-pci", "tap", True)]
    json.dumps(r)


def test_huge_argument_is_capped_in_arg():
    big = "tap,id=h0,vhost=on,script=" + "x" * 1000000
    r = parse("-netdev", big, "-device", "virtio-net-pci,netdev=h0")
    assert nic_summary(r) == [("h0", "virtio-net-pci", "tap", True)]
    arg = r["netdevs"][0]["arg"]
    assert len(arg) <= qemuargv.EXCERPT_MAX and arg.endswith(qemuargv.ELLIPSIS)


def test_non_string_argv():
    with pytest.raises(ArgvError) as err:
        qemuargv.parse_qemu_argv(["qemu", 3])
    assert err.value.index == 1
    with pytest.raises(ArgvError):
        qemuargv.parse_qemu_argv("qemu -S")
    assert qemuargv.parse_qemu_argv([b"qemu", b"-name", b"x\xff"])["name"] == "x\ufffd"


def test_values_that_look_like_options():
    # -netdev always takes a value, even a strange one; unknown flags do not swallow options
    r = parse("-unknown-flag", "-netdev", "tap,id=a,vhost=on", "-device", "virtio-net-pci,netdev=a")
    assert nic_summary(r) == [("a", "virtio-net-pci", "tap", True)]


# ----------------------------------------------------------------- redaction

SECRET_ARGV = [
    Q,
    "-object", "secret,id=libvirt-1-storage-secret0,data=%s,keyid=masterKey0,iv=%s,format=base64" % (SECRET, IV),
    "-object", '{"qom-type":"secret","id":"sec1","data":"JSONSECRETDATA","keyid":"masterKey0","iv":"JSONIVVALUE","format":"base64"}',
    "-blockdev", '{"driver":"rbd","pool":"nova","key-secret":"libvirt-1-storage-secret0","node-name":"n"}',
    "-vnc", "0.0.0.0:0,password=on",
    "-spice", "port=5900,addr=10.0.0.1,password=SPICEPASSWORD",
    "-vnc", ":1,password=VNCPASSWORD",
    "-drive", "file=iscsi://h/t/0,passwd=DRIVEPASSWD,key=AESKEYVALUE",
    "-object", '{"qom-type":"secret","id":"s2","data":"TRUNCATEDSECRET',
    "-netdev", '{"type":"tap","id":"h0","password":"NETDEVPASS","vhost":tru',
    "-append", "console=ttyS0 password=KERNELPASS",
    "-netdev", "tap,id=h1,secret=NETSECRET,vhost=on",
    "-device", "virtio-net-pci,netdev=h1",
]
LEAKS = [SECRET, IV, "JSONSECRETDATA", "JSONIVVALUE", "SPICEPASSWORD", "VNCPASSWORD",
         "DRIVEPASSWD", "AESKEYVALUE", "TRUNCATEDSECRET", "NETDEVPASS", "KERNELPASS", "NETSECRET"]


def test_redact_argv_hides_every_secret():
    out = qemuargv.redact_argv(SECRET_ARGV)
    blob = json.dumps(out)
    for leak in LEAKS:
        assert leak not in blob, leak
    assert len(out) == len(SECRET_ARGV)
    assert out[1] == "-object"
    assert "keyid=masterKey0" in out[2] and "id=libvirt-1-storage-secret0" in out[2]
    assert out[6] == SECRET_ARGV[6]                       # key-secret names an id: kept
    assert out[8] == "0.0.0.0:0,password=on"              # a flag, not a password
    assert "password=<redacted>" in out[10]


def test_parse_result_never_leaks():
    r = qemuargv.parse_qemu_argv(SECRET_ARGV)
    blob = json.dumps(r)
    for leak in LEAKS:
        assert leak not in blob, leak
    assert len(r["errors"]) == 1                             # the truncated -netdev JSON
    assert nic_summary(r) == [("h1", "virtio-net-pci", "tap", True)]


def test_redact_leaves_plain_argv_alone():
    argv = [Q, "-netdev", "tap,fd=35,id=hostnet0,vhost=on,vhostfd=36",
            "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0", "id":"net0"}',
            "-object", "secret,id=masterKey0,format=raw,file=/var/lib/libvirt/qemu/master-key.aes"]
    assert qemuargv.redact_argv(argv) == argv


def test_redact_lossy_ps_tokens():
    # whitespace-split ps output: the secret is a positional token, not an option value
    line = "qemu -S -object secret,id=s,data=%s,keyid=m,iv=%s,format=base64 -m 1" % (SECRET, IV)
    blob = json.dumps(qemuargv.redact_argv(line.split()[:2] + line.split()[3:]))
    assert SECRET not in blob and IV not in blob


# ------------------------------------------------------------------ properties

OPTIONS = st.sampled_from(["-netdev", "-device", "-net", "-nic", "-name", "-uuid", "-accel",
                           "-machine", "-M", "-object", "-vnc", "-spice", "-enable-kvm",
                           "-no-kvm", "--netdev", "-S", "-"])
VALUES = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="tapvhost=on,:{}\"[]0123456789idnetdevdriver-_", max_size=60),
    st.sampled_from(['{"type":"tap","vhost":true,"id":"a"}', '{"driver":"virtio-net-pci","netdev":"a"}',
                     "tap,id=a,vhost=on", "virtio-net-pci,netdev=a", "nic,model=virtio",
                     "tap,vlan=0", '{"type":', "{", "[1]", "{}", '{"id":{}}', '{"type":null}',
                     '{"fds":1,"type":"tap","vhost":"on","queues":true}', "none", ",,", "=",
                     '{"qom-type":"secret","data":[1,{"password":"x"}]}']),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(OPTIONS, VALUES), max_size=30))
def test_parse_never_raises(argv):
    try:
        r = qemuargv.parse_qemu_argv(argv)
    except ParseError:
        return
    json.dumps(r)
    for nic in verdicts(r):
        assert nic["vhost"] in (True, False, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=20))
def test_parse_arbitrary_text_lists(argv):
    json.dumps(qemuargv.parse_qemu_argv(argv))
    assert len(qemuargv.redact_argv(argv)) == len(argv)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_split_shell_args_only_argv_errors(text):
    try:
        r = qemuargv.split_shell_args(text)
    except ArgvError:
        r = qemuargv.split_shell_args(text, strict=False)
    json.dumps(r)


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_split_cmdline_never_raises(data):
    assert all(isinstance(a, str) for a in qemuargv.split_cmdline(data))
