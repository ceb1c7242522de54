"""-e audit_prometheus=PATH: the fleet as Prometheus text, judged by the real promtool
(Debian's prometheus package): `check metrics` on the output, `check rules` and
`test rules` of the example alert rules fed with the real output."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAP = os.path.join(REPO, "tests", "snapshots")
RULES = os.path.join(REPO, "examples", "prometheus", "compute-audit.rules.yml")
pytestmark = [pytest.mark.e2e]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None and not os.environ.get("CI"),
                                    reason="promtool (Debian package prometheus) is not installed")

SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{.*\})? (?P<value>\S+)$')


def run_audit(tmp_path, *extra):
    out = tmp_path / "textfile"
    out.mkdir()
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml",
           "-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % (tmp_path / "r"),
           "-e", "audit_prometheus=%s" % out] + list(extra)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    return proc, out / "compute_audit.prom"


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prom")
    proc, path = run_audit(tmp)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert path.exists(), proc.stdout[-3000:]
    with open(str(tmp / "r" / "audit.json")) as handle:
        return path, json.load(handle)


def samples(text):
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, line
        out.append((m.group("name"), m.group("labels") or "", m.group("value")))
    return out


@needs_promtool
def test_promtool_check_metrics_accepts_the_output(prom):
    path, _ = prom
    with open(str(path)) as handle:
        proc = subprocess.run([PROMTOOL, "check", "metrics"], stdin=handle, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout


@needs_promtool
def test_promtool_check_metrics_would_refuse_a_broken_one(tmp_path):
    bad = "# HELP x_total a counter\n# TYPE x_total gauge\nx_total{a=\"b} 1\n"
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=bad, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode != 0


def test_series_match_the_report(prom):
    path, doc = prom
    got = samples(path.read_text())
    names = set(n for n, _, _ in got)
    assert {"compute_audit_host_up", "compute_audit_check_state", "compute_audit_nic_vhost",
            "compute_audit_domain_needs_restart", "compute_audit_last_run_timestamp_seconds",
            "compute_audit_duration_seconds"} <= names
    failing = set()
    for name, entry in doc["hosts"].items():
        for c in entry["checks"]:
            if c["state"] == "fail":
                failing.add((name, c["id"]))
    series = set()
    for n, labels, value in got:
        if n == "compute_audit_check_state" and 'state="fail"' in labels and value == "1":
            host = re.search(r'host="([^"]*)"', labels).group(1)
            check = re.search(r'check="([^"]*)"', labels).group(1)
            series.add((host, check))
    assert series == failing
    restarts = sum(1 for n, _, v in got if n == "compute_audit_domain_needs_restart" and v == "1")
    assert restarts == doc["summary"]["domains_needing_restart"]


@needs_promtool
def test_example_rules_fire_on_the_real_output(prom, tmp_path):
    path, doc = prom
    check = subprocess.run([PROMTOOL, "check", "rules", RULES], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
    assert check.returncode == 0, check.stdout
    series = []
    for name, labels, value in samples(path.read_text()):
        if value == "NaN" or name == "compute_audit_last_run_timestamp_seconds":
            continue
        series.append({"series": name + labels, "values": "%sx5" % value})
    want = []
    for host, entry in doc["hosts"].items():
        for dom in entry.get("domains") or []:
            for nic in dom.get("nics") or []:
                if nic.get("vhost") is False:
                    want.append({"host": host, "domain": dom["name"], "mac": nic.get("mac") or ""})
    assert want, "the snapshots have userspace NICs"
    test = {"rule_files": [RULES], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [{"eval_time": "2m", "alertname": "VirtioNicWithoutVhostNet",
                             "exp_alerts": [_expected_alert(path, w) for w in want]}]}]}
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(yaml.safe_dump(test))
    proc = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:]


def _expected_alert(path, w):
    labels = dict({"severity": "warning", "host": w["host"], "domain": w["domain"], "mac": w["mac"]},
                  **_other_labels(path, w))
    return {"exp_labels": labels, "exp_annotations": {
        "summary": "%s/%s NIC %s runs virtio in QEMU userspace" % (w["host"], w["domain"], w["mac"]),
        "description": "The qemu process of %s (instance %s) has no vhost-net on %s: latency spikes (the 2014 "
                       "keepalived flap). See reports/audit.md." % (w["domain"], labels.get("instance_uuid", ""),
                                                                    w["mac"])}}


def _other_labels(path, want):
    for name, labels, value in samples(path.read_text()):
        if name == "compute_audit_nic_vhost" and value == "0" and 'host="%s"' % want["host"] in labels \
                and 'domain="%s"' % want["domain"] in labels and 'mac="%s"' % want["mac"] in labels:
            pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
            return dict((k, v) for k, v in pairs.items() if k in ("instance_uuid", "target") and v)
    return {}


def test_partial_run_leaves_the_textfile_alone(tmp_path):
    proc, path = run_audit(tmp_path, "--limit", "builtin.pass")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not path.exists() and "left as it was" in proc.stdout


def test_a_path_that_node_exporter_would_not_read_is_refused(tmp_path):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml",
           "-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % tmp_path,
           "-e", "audit_prometheus=%s/audit.txt" % tmp_path]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 5 and "ending in .prom" in proc.stdout


def test_per_node_textfile(tmp_path):
    node_dir = tmp_path / "node-textfile"
    node_dir.mkdir()
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml",
           "-i", os.path.join(SNAP, "inventory.yml"), "--limit", "trusty-2014.fail",
           "-e", "audit_report_dir=%s" % tmp_path, "-e", "audit_prometheus_node_dir=%s" % node_dir]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:]
    text = (node_dir / "compute_audit.prom").read_text()
    hosts = set(re.findall(r'host="([^"]+)"', text))
    assert hosts == {"trusty-2014.fail"}
    if PROMTOOL:
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
        assert check.returncode == 0, check.stdout
