"""probe.yml end to end, without the lab: ansible-playbook inside a network namespace of the test's own.

A sender on one end of a veth pair plays a flapping VRRP pair (a master whose
adverts stop for 4 s, a backup taking over, the master preempting back), again
and again; probe.yml captures on the other end (`probe_interfaces`) on
"localhost" and must exit 2 with the instance flapped in reports/probe.json.
A steady master alone exits 0. Needs root (namespaces, packet sockets).
"""
import json
import os
import subprocess
import sys

import jsonschema
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")]

SENDER = r"""
import socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
from nodeaudit.parsers.vrrp import internet_checksum as ck
def advert(src_last, prio):
    m = bytearray(struct.pack("!BBBBBBH", 0x21, 51, prio, 1, 0, 1, 0) + bytes([192, 0, 2, 100]) + bytes(8))
    m[6:8] = struct.pack("!H", ck(bytes(m)))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(m), 0, 0, 255, 112, 0,
                               bytes([192, 0, 2, src_last]), bytes([224, 0, 0, 18])))
    ip[10:12] = struct.pack("!H", ck(bytes(ip)))
    return bytes.fromhex("01005e000012525400990000") [:11] + bytes([src_last]) + b"\x08\x00" + bytes(ip) + bytes(m)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("pvb", 0))
flap = sys.argv[2] == "flap"
end = time.time() + float(sys.argv[3])
while time.time() < end:
    for _ in range(4):
        s.send(advert(11, 150)); time.sleep(1.0)
    if flap:
        time.sleep(3.7)
        s.send(advert(12, 100)); time.sleep(1.0)
        s.send(advert(12, 100)); time.sleep(0.3)
"""


@pytest.fixture
def netns():
    name = "nap%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (["link", "set", "lo", "up"], ["link", "add", "pva", "type", "veth", "peer", "name", "pvb"],
                    ["link", "set", "pva", "up"], ["link", "set", "pvb", "up"]):
            subprocess.run(["ip", "-n", name] + cmd, check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run_probe(netns, tmp_path, mode):
    inv = tmp_path / "inv.ini"
    inv.write_text("[compute]\nlocalhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    sender = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SENDER,
                               os.path.join(REPO, "module_utils"), mode, "60"])
    try:
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(["ip", "netns", "exec", netns, os.path.join(os.path.dirname(sys.executable),
                                                                          "ansible-playbook"),
                               "probe.yml", "-i", str(inv), "-e", "probe_seconds=12", "-e", "probe_audit=false",
                               "-e", '{"probe_interfaces": ["pva"]}', "-e", "probe_report_dir=%s" % tmp_path],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    finally:
        sender.kill()
        sender.wait()
    return proc, json.load(open(tmp_path / "probe.json"))


def test_flapping_pair_exits_2(netns, tmp_path):
    proc, doc = run_probe(netns, tmp_path, "flap")
    assert proc.returncode == 2, proc.stdout[-3000:]
    jsonschema.validate(doc, json.load(open(os.path.join(REPO, "docs", "probe.schema.json"))))
    [inst] = doc["instances"]
    assert inst["vrid"] == 51 and inst["status"] == "flapped"
    assert any(c["reason"] == "timeout" and c["from"] == "192.0.2.11" for c in inst["master_changes"])
    assert inst["max_no_master_s"] > 2.0
    assert "VRID 51" in proc.stdout and "probe status: flapped" in proc.stdout
    assert "nodeaudit_vrrp_probe_failing 1.0" in open(tmp_path / "probe.prom").read()


def test_steady_master_exits_0(netns, tmp_path):
    proc, doc = run_probe(netns, tmp_path, "steady")
    assert proc.returncode == 0, proc.stdout[-3000:]
    [inst] = doc["instances"]
    assert inst["status"] == "ok" and inst["master_changes"] == []
