"""ansible-playbook audit.yml end to end over snapshot hosts (ansible_connection=local)."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from report_validation import undocumented_fields, validate_audit_json, validate_junit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAP = os.path.join(REPO, "tests", "snapshots")
pytestmark = [pytest.mark.e2e]


def playbook(*args, env=None):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml"] + list(args)
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    full_env.update(env or {})
    return subprocess.run(cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    proc = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % out)
    return proc, out


def test_exit_status_says_drift(fleet_run):
    proc, _ = fleet_run
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "fatal: [trusty-2014.fail]: DRIFT => drift: fail: qemu_kvm.vhost_net_enabled" in proc.stdout


def test_terminal_ends_with_the_fleet_table_not_json(fleet_run):
    proc, _ = fleet_run
    assert "Fleet audit against policy default" in proc.stdout
    assert '"checks"' not in proc.stdout          # no pages of JSON
    assert any(l.strip().startswith("trusty-2014.fail") and "FAIL" in l for l in proc.stdout.splitlines())


def test_json_report_matches_every_snapshots_expectations(fleet_run):
    _, out = fleet_run
    doc = validate_audit_json(out / "audit.json")
    assert undocumented_fields(doc) == []
    assert doc["run"]["partial"] is False
    assert doc["schema_version"] == 1
    assert doc["policy"]["name"] == "default" and doc["policy"]["digest"].startswith("sha256:")
    assert doc["generated_at"].endswith("Z")
    scenarios = sorted(d for d in os.listdir(SNAP) if os.path.isfile(os.path.join(SNAP, d, "expect.yml")))
    assert sorted(doc["hosts"]) == scenarios
    for name in scenarios:
        with open(os.path.join(SNAP, name, "expect.yml")) as handle:
            expect = yaml.safe_load(handle)
        host = doc["hosts"][name]
        assert host["reachable"] is True
        assert host["state"] == expect["state"], name
        states = dict((c["id"], c["state"]) for c in host["checks"])
        for cid, state in expect["checks"].items():
            assert states[cid] == state, (name, cid)
    summary = doc["summary"]
    assert "trusty-2014.fail" in summary["failing_hosts_by_check"]["domains.vhost"]
    assert summary["hosts_by_state"]["pass"] == ["builtin.pass", "compliant-json-mq.pass", "compliant-keyval.pass"]


def test_junit_and_markdown(fleet_run):
    _, out = fleet_run
    validate_junit(out / "audit.xml")
    root = ET.parse(str(out / "audit.xml")).getroot()
    suites = dict((s.get("name"), s) for s in root.findall("testsuite"))
    assert suites["trusty-2014.fail"].get("failures") == "3"
    assert suites["process-missing.unknown"].get("errors") == "1"
    assert suites["compliant-keyval.pass"].get("failures") == "0"
    md = (out / "audit.md").read_text()
    assert "## trusty-2014.fail" in md and "keepalived-lb01" in md


def test_report_only_mode_exits_zero(tmp_path):
    proc = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % tmp_path,
                    "-e", "audit_fail_on_drift=false", "--limit", "trusty-2014.fail")
    assert proc.returncode == 0, proc.stdout[-3000:]
    # A limited run is partial: it says so, and leaves the full fleet's report alone.
    assert not (tmp_path / "audit.json").exists()
    doc = validate_audit_json(tmp_path / "audit-partial.json")
    assert list(doc["hosts"]) == ["trusty-2014.fail"]
    assert doc["run"]["partial"] is True and doc["run"]["limit"] == "trusty-2014.fail"
    assert doc["run"]["hosts_in_inventory"] == 11


def test_clean_hosts_pass_the_gate(tmp_path):
    proc = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % tmp_path,
                    "--limit", "builtin.pass,compliant-keyval.pass,compliant-json-mq.pass")
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_malformed_policy_stops_before_any_host_is_touched(tmp_path):
    bad = tmp_path / "policy.yml"
    bad.write_text("name: broken\nchecks:\n  domains.vhost:\n    levle: warn\n")
    proc = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % (tmp_path / "r"),
                    "-e", "audit_policy_file=%s" % bad)
    assert proc.returncode != 0
    assert "checks.domains.vhost.levle" in proc.stdout
    assert "Audit the node" not in proc.stdout
    assert not (tmp_path / "r").exists()


def test_unreachable_host_is_reported_and_others_audited(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"compute": {"hosts": {
        "gone": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                 "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes"},
        "trusty": {"audit_root": os.path.join(SNAP, "trusty-2014.fail"), "audit_use_libvirt": False,
                   "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    proc = playbook("-i", str(inv), "-e", "audit_report_dir=%s" % tmp_path)
    assert proc.returncode != 0
    doc = validate_audit_json(tmp_path / "audit.json")
    validate_junit(tmp_path / "audit.xml")
    assert doc["hosts"]["gone"]["reachable"] is False
    assert doc["hosts"]["gone"]["state"] == "unreachable"
    assert doc["summary"]["unreachable"] == ["gone"]
    assert doc["hosts"]["trusty"]["state"] == "fail"


def test_empty_inventory_fails_instead_of_passing(tmp_path):
    inv = tmp_path / "empty.ini"
    inv.write_text("[compute]\n")
    proc = playbook("-i", str(inv), "-e", "audit_report_dir=%s" % tmp_path)
    assert proc.returncode != 0
    assert "nothing would be audited" in proc.stdout
