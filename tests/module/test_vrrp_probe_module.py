"""library/vrrp_probe: the real module capturing on a veth in a network namespace (the kernel decides).

Needs root (network namespaces, packet sockets); skipped otherwise. The
namespace and its veth pair are made and removed by the test.
"""
import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils.testing import patch_module_args

from library_loader import load_module

HERE = os.path.dirname(os.path.abspath(__file__))
STATUS = """<domstatus state='running' reason='booted' pid='4242'>
<domain type='qemu'><name>keepalived-lb01</name><uuid>0b1f2b8e-5a0e-4b5b-9f9f-000000000001</uuid>
<devices><interface type='ethernet'><mac address='52:54:00:00:01:01'/><target dev='pva' managed='no'/>
<model type='virtio'/></interface></devices></domain></domstatus>
"""
OTHER = STATUS.replace("keepalived-lb01", "web-1").replace("pva", "nosuchtap0")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


@pytest.fixture
def netns():
    name = "nav%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "add", "pva", "type", "veth", "peer", "name", "pvb"],
                    ["link", "set", "pva", "up"], ["link", "set", "pvb", "up"]):
            subprocess.run(["ip", "-n", name] + cmd, check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@needs_root
def test_probe_in_netns_sees_adverts_gap_handover_and_filters_flood(netns, tmp_path):
    status = tmp_path / "status"
    status.mkdir()
    (status / "keepalived-lb01.xml").write_text(STATUS)
    (status / "web-1.xml").write_text(OTHER)
    out = tmp_path / "out.json"
    subprocess.run(["ip", "netns", "exec", netns, sys.executable, os.path.join(HERE, "netns_probe_run.py"),
                    str(status), str(out)], check=True, timeout=60)
    result = json.loads(out.read_text())
    assert result["changed"] is False
    probe = result["probe"]
    [nic] = probe["nics"]  # web-1 does not match keepalived-*
    assert (nic["domain"], nic["mac"], nic["tap"], nic["error"]) == ("keepalived-lb01", "52:54:00:00:01:01", "pva", None)
    # 30,000 flood frames were sent; the kernel filter let only the 12 VRRP frames and the IGMP join through.
    assert nic["frames"] == 13 and nic["kernel"]["drops"] == 0
    assert len(nic["vrrp_joins"]) == 1 and nic["vrrp_leaves"] == []  # the IGMPv3 join of 224.0.0.18
    assert nic["bad_checksums"] == 0
    assert nic["malformed_count"] == 1 and "5 addresses" in nic["malformed"][0]["error"]
    [inst] = nic["instances"]
    assert (inst["vrid"], inst["version"], inst["family"]) == (51, 2, 4)
    by_src = {s["src"]: s for s in inst["senders"]}
    sent = by_src["10.99.0.1"]
    assert sent["dir"] == "sent" and sent["priorities"] == [0, 150] and sent["count"] == 11
    assert sent["advert_int_s"] == 1.0
    # the 0.8 s pause is under 1.5 x the advertised 1 s: not late; the timestamps are the kernel's
    assert 0.7 < sent["max_gap_s"] < 1.4 and sent["late_count"] == 0
    assert inst["handovers"] and inst["handovers"][0]["src"] == "10.99.0.1"
    assert probe["cpu"]["pct"] < 50
    assert len(inst["adverts"]) == 11


def test_bad_arguments_are_the_modules_own_failure(capsys):
    module = load_module("vrrp_probe")
    for args, words in (({"seconds": 0}, "seconds must be"), ({"traffic": "udp"}, "needs udp_ports"),
                        ({"late_factor": 1.0}, "late_factor")):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        out = json.loads(capsys.readouterr().out)
        assert exc.value.code == 1 and words in out["msg"]


def test_no_domains_is_said_plainly(capsys, tmp_path):
    module = load_module("vrrp_probe")
    with patch_module_args({"seconds": 0.2, "status_dir": str(tmp_path)}):
        with pytest.raises(SystemExit):
            module.main()
    out = json.loads(capsys.readouterr().out)
    assert out["probe"]["nics"] == [] and "no running domain matches" in out["probe"]["errors"][-1]


CAPTURE_UDP = r"""
import socket, sys, threading, time
sys.path.insert(0, sys.argv[1])
from nodeaudit.sources import capture
def frame(port):
    return bytes.fromhex("ffffffffffff525400000101" "0800" "4500001c00000000401100000a630001ffffffff"
                         "1234%04x00080000" % port)
def send():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind(("pvb", 0))
    time.sleep(0.3)
    for port in (9999, 1234, 3784, 9999):
        s.send(frame(port))
threading.Thread(target=send, daemon=True).start()
got = []
capture.capture(["pva"], 1.0, capture.bpf_program("udp", (9999,)), lambda n, t, o, d: got.append(d[36:38].hex()))
print(",".join(got))
"""


@needs_root
def test_udp_port_filter_in_the_kernel(netns):
    mu = os.path.join(os.path.dirname(os.path.dirname(HERE)), "module_utils")
    out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CAPTURE_UDP, mu],
                         check=True, capture_output=True, text=True, timeout=30).stdout.strip()
    assert out == "270f,270f"  # port 9999 twice; 1234 and 3784 dropped by the filter


def _fake_capture(log):
    """capture.capture's contract without sockets: run until `seconds` or until should_stop() says so."""
    import time as _time

    def capture_fn(ifnames, seconds, program, on_frame, should_stop=None):
        started = _time.time()
        while _time.time() - started < seconds:
            if should_stop is not None and should_stop():
                break
            _time.sleep(0.02)
        log.append(_time.time() - started)
        return {"errors": {}, "interfaces": {}, "started": started, "ended": _time.time(),
                "cpu": {"user_s": 0, "system_s": 0, "pct": 0}}
    return capture_fn


def test_a_touched_stop_file_ends_the_probe_and_a_stale_one_does_not(tmp_path):
    # A rollout's other hosts cannot see the restarted member back: the controller touches the stop file.
    import threading
    import time as _time
    module = load_module("vrrp_probe")
    nics = [{"domain": "keepalived-lb01", "mac": "52:54:00:00:01:01", "tap": "pva", "model": "virtio"}]
    stop = tmp_path / "probe.stop"
    log = []
    threading.Timer(0.3, stop.touch).start()
    out = module.probe(nics, 5.0, capture_fn=_fake_capture(log), stop_file=str(stop))
    assert log[-1] < 2.0 and out["stopped_by_file"] is True
    # A stop file left from an earlier rollout (touched before this probe began) is not a request.
    old = _time.time() - 60
    os.utime(str(stop), (old, old))
    out = module.probe(nics, 0.6, capture_fn=_fake_capture(log), stop_file=str(stop))
    assert log[-1] >= 0.6 and out["stopped_by_file"] is False
    # No stop file given: the probe is as long as asked (or until_back).
    out = module.probe(nics, 0.3, capture_fn=_fake_capture(log))
    assert log[-1] >= 0.3 and out["stopped_by_file"] is False
