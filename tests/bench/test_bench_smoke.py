"""The benchmark harness keeps working (`make bench-smoke`, issue 5).

Never a timed assertion: a slow or loaded machine must not fail a test. The
smoke run (N = 3 hosts, a 10-domain module run, 100 host reports) only has to
produce every key, each a positive finite number or null with a reason.
"""
import json
import math
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))

import run as bench  # noqa: E402

FAKE_VIRSH = os.path.join(REPO, "bench", "fakebin", "virsh")


def _sane(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("sizes,times,expected", [
    ([10, 100, 1000], [0.01, 0.1, 1.0], 1.0),
    ([10, 100, 1000], [0.01, 1.0, 100.0], 2.0),
    ([3, 10], [0.5, 0.5], 0.0),
])
def test_fit_exponent_is_the_log_log_slope(sizes, times, expected):
    assert bench.fit_exponent(sizes, times) == pytest.approx(expected, abs=1e-3)


def test_fit_exponent_needs_two_sizes_and_positive_times():
    assert bench.fit_exponent([10], [1.0]) is None
    assert bench.fit_exponent([10, 100], [0.0, 1.0]) is None


def test_judge_reports_met_missed_and_unmeasured():
    targets = bench.judge({"audit_vs_ping": 1.2, "naive_vs_audit": 2.0, "plan_10000_s": None})
    assert targets["audit_vs_ping"]["met"] is True
    assert targets["naive_vs_audit"]["met"] is False      # a lower bound
    assert targets["plan_10000_s"]["met"] is None


def test_plan_input_spreads_each_ha_group_over_hosts():
    hosts, policies = bench.plan_input(200, 40, per_host=20)
    assert len(hosts) == 10 and set(policies) == set(hosts)
    members = {}
    for host, entry in hosts.items():
        for dom in entry["domains"]:
            members.setdefault(dom["name"].split("-")[0], set()).add(host)
    assert len(members) == 40
    assert all(len(h) == 5 for h in members.values())      # 5 members, 5 different hosts


def test_fake_virsh_answers_list_and_dumpxml(tmp_path):
    root = str(tmp_path / "node")
    bench.make_root(root, "n1", 3, 2)
    env = dict(os.environ, VIRSH_SNAPSHOT_ROOT=root)
    names = subprocess.run([FAKE_VIRSH, "list", "--name"], env=env, capture_output=True, text=True, check=True)
    assert names.stdout.split() == ["instance-00000001", "instance-00000002", "instance-00000003"]
    xml = subprocess.run([FAKE_VIRSH, "--root", root, "dumpxml", "instance-00000002"], capture_output=True,
                         text=True, check=True).stdout
    assert xml.startswith("<domain type='kvm'") and xml.rstrip().endswith("</domain>")
    assert "domstatus" not in xml
    missing = subprocess.run([FAKE_VIRSH, "dumpxml", "nope"], env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "failed to get domain" in missing.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_bench_smoke_writes_every_key(tmp_path):
    out = tmp_path / "bench-smoke.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "run.py"), "--smoke", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["mode"] == "smoke"
    for key in bench.KEYS:
        assert key in doc, key
        if doc[key] is None:
            assert doc["notes"].get(key), "%s is null without a reason" % key
        elif key.endswith("_exponent"):
            # A log-log slope over the smoke run's tiny sizes is noise under load: it may be negative.
            assert isinstance(doc[key], float) and math.isfinite(doc[key]), "%s = %r" % (key, doc[key])
        else:
            assert _sane(doc[key]), "%s = %r" % (key, doc[key])
    for key, target in doc["targets"].items():
        assert target["met"] in (True, False, None), key
    assert doc["fleet"]["sizes"]["3"]["audited_hosts"] == 3
    assert doc["module"]["sizes"]["10"]["peak_rss_mb"] > 0
    assert doc["reports"]["hosts"] == 100
    assert (tmp_path / "bench-smoke-profile.txt").exists()
    assert "fleet" in proc.stdout and "module_1000_s" in proc.stdout
