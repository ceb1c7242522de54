"""What Ansible and its tools see: each host's own status (read from a real run's
JSON callback output), the exit statuses, and the screen (no empty play header,
each message once, the coloured table, the short summary)."""
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from nodeaudit.controller import report
from report_validation import validate_audit_json, validate_junit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAP = os.path.join(REPO, "tests", "snapshots")
pytestmark = [pytest.mark.e2e]


def playbook(*args, env=None, cwd=REPO, book=None):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
           book or os.path.join(REPO, "audit.yml")] + list(args)
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    full_env.pop("ANSIBLE_FORCE_COLOR", None)
    full_env.update(env or {})
    return subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


def json_run(*args):
    """A run with Ansible's JSON stdout callback (what AWX-like tools read); its parsed output."""
    proc = playbook(*args, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    start = proc.stdout.find("\n{")
    assert start >= 0 or proc.stdout.startswith("{"), proc.stdout[-3000:]
    return proc, json.loads(proc.stdout[start + 1:] if start >= 0 else proc.stdout)


@pytest.fixture(scope="module")
def fleet_inventory(tmp_path_factory):
    """The shipped snapshot hosts plus one that does not answer."""
    tmp = tmp_path_factory.mktemp("inv")
    with open(os.path.join(SNAP, "inventory.yml")) as handle:
        inv = yaml.safe_load(handle)
    hosts = inv["all"]["children"]["compute"]["hosts"]
    for spec in hosts.values():
        spec["audit_root"] = spec["audit_root"].replace("{{ inventory_dir }}", SNAP)
    hosts["gone"] = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                     "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes"}
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    return str(path)


def expected_status(doc):
    """From the report itself: which hosts the gate says drift, which did not answer."""
    out = {}
    for name, entry in doc["hosts"].items():
        if entry["state"] == "unreachable":
            out[name] = "unreachable"
        elif report.host_drift(entry):
            out[name] = "failed"
        else:
            out[name] = "ok"
    return out


def recap_status(stats):
    out = {}
    for name, s in stats.items():
        out[name] = "unreachable" if s["unreachable"] else "failed" if s["failures"] else "ok"
    return out


@pytest.mark.parametrize("extra", [[], ["--forks", "1"], ["-e", "audit_serial=3"]],
                         ids=["default", "forks=1", "serial=3"])
def test_each_host_has_its_own_status(fleet_inventory, tmp_path, extra):
    proc, out = json_run("-i", fleet_inventory, "-e", "audit_report_dir=%s" % tmp_path, *extra)
    doc = validate_audit_json(tmp_path / "audit.json")
    validate_junit(tmp_path / "audit.xml")
    assert len(doc["hosts"]) == 12                     # the reports are whole, under serial too
    want = expected_status(doc)
    assert sorted(v for v in want.values()) == sorted(["ok"] * 3 + ["failed"] * 8 + ["unreachable"])
    got = recap_status(out["stats"])
    got.pop("localhost")
    assert got == want
    assert proc.returncode == 4                        # a host was unreachable (drift too)


def test_limit_run_statuses_and_partial_report(fleet_inventory, tmp_path):
    proc, out = json_run("-i", fleet_inventory, "-e", "audit_report_dir=%s" % tmp_path,
                         "--limit", "trusty-2014.fail,builtin.pass")
    assert proc.returncode == 2
    assert recap_status(out["stats"]) == {"trusty-2014.fail": "failed", "builtin.pass": "ok"}
    doc = validate_audit_json(tmp_path / "audit-partial.json")
    assert doc["run"] == dict(doc["run"], partial=True, hosts_audited=2, hosts_in_inventory=12,
                              limit="trusty-2014.fail,builtin.pass")
    assert not (tmp_path / "audit.json").exists()


def test_exit_statuses(fleet_inventory, tmp_path):
    snap = os.path.join(SNAP, "inventory.yml")
    bad_policy = tmp_path / "bad.yml"
    bad_policy.write_text("name: broken\nchecks:\n  domains.vhost:\n    levle: warn\n")
    empty = tmp_path / "empty.ini"
    empty.write_text("[compute]\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cases = [
        (0, ["-i", snap, "--limit", "builtin.pass,compliant-keyval.pass"]),
        (0, ["-i", snap, "-e", "audit_fail_on_drift=false"]),
        (0, ["-i", fleet_inventory, "-e", '{"audit_fail_on": ["fail", "error", "unknown"]}', "-e",
             "audit_fail_on_drift=false"]),
        (2, ["-i", snap]),
        (4, ["-i", fleet_inventory, "--limit", "gone,builtin.pass"]),
        (5, ["-i", snap, "-e", "audit_policy_file=%s" % bad_policy]),
        (5, ["-i", snap, "-e", "audit_summary=tiny"]),
        (5, ["-i", snap, "-e", '{"audit_fail_on": ["fial"]}']),
        (6, ["-i", snap, "-e", "audit_report_dir=%s/sub" % blocker]),
        (7, ["-i", str(empty)]),
    ]
    for i, (want, args) in enumerate(cases):
        if not any(a.startswith("audit_report_dir=") for a in args):
            args = args + ["-e", "audit_report_dir=%s" % (tmp_path / ("r%d" % i))]
        proc = playbook(*args)
        assert proc.returncode == want, (args, proc.stdout[-2500:])
    # unreachable ignored by the gate: still `unreachable` in the recap, and exit 0
    proc, out = json_run("-i", fleet_inventory, "--limit", "gone,builtin.pass", "-e",
                         '{"audit_fail_on": ["fail"]}', "-e", "audit_report_dir=%s" % (tmp_path / "u"))
    assert proc.returncode == 0 and out["stats"]["gone"]["unreachable"] == 1


def _plays(text):
    """[(play header, [lines until the next PLAY or RECAP])]."""
    out = []
    for line in text.splitlines():
        if line.startswith("PLAY [") or line.startswith("PLAY RECAP"):
            out.append((line, []))
        elif out:
            out[-1][1].append(line)
    return out


def test_screen_no_empty_play_header_each_message_once(fleet_inventory, tmp_path):
    proc = playbook("-i", fleet_inventory, "-e", "audit_report_dir=%s" % tmp_path)
    text = proc.stdout
    for header, body in _plays(text):
        if header.startswith("PLAY RECAP"):
            continue
        assert any(l.startswith("TASK [") for l in body), "empty play: %s" % header
    doc = json.loads((tmp_path / "audit.json").read_text())
    for name, entry in doc["hosts"].items():
        for reason in report.host_drift(entry):
            assert text.count(reason) <= 2, reason          # the status line (and the findings, cut)
        assert len(re.findall(r"fatal: \[%s\]" % re.escape(name), text)) <= 1, name
    assert "[ERROR]: Task failed" not in text and "Origin:" not in text
    assert text.count("Fleet audit against policy") == 1
    assert "reports: %s" % (tmp_path / "audit.json") in text
    assert "fatal: [gone]: UNREACHABLE! =>" in text


def test_plain_audit_has_no_fix_play_and_the_table_is_coloured(tmp_path):
    proc = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % tmp_path,
                    env={"ANSIBLE_NOCOLOR": "0", "ANSIBLE_FORCE_COLOR": "1"})
    text = proc.stdout
    assert "Fix" not in "".join(h for h, _ in _plays(text))
    row = next(l for l in text.splitlines() if l.startswith("trusty-2014.fail "))
    assert "\x1b[0;31mFAIL\x1b[0m" in row                   # red FAIL
    row = next(l for l in text.splitlines() if l.startswith("process-missing.unknown "))
    assert "\x1b[0;33mUNKN\x1b[0m" in row                   # yellow UNKNOWN
    node_text = [l for l in text.splitlines() if "\x1b" in l and "FAIL" not in l and "UNKN" not in l
                 and "WARN" not in l and "ERR" not in l and "ok" not in l and "changed" not in l
                 and "fatal" not in l and "failed" not in l]
    assert all(re.search(r"\x1b\[[0-9;]*m", l) for l in node_text)   # only Ansible's own colour codes


def test_short_summary_lists_only_hosts_with_findings(tmp_path):
    proc = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % tmp_path,
                    "-e", "audit_summary=short")
    rows = [l.split()[0] for l in proc.stdout.splitlines()
            if l.startswith(("builtin.pass ", "trusty-2014.fail ")) and " : ok=" not in l]
    assert rows == ["trusty-2014.fail"]
    assert "3 clean hosts not listed" in proc.stdout
    none = playbook("-i", os.path.join(SNAP, "inventory.yml"), "-e", "audit_report_dir=%s" % tmp_path,
                    "-e", "audit_summary=none")
    assert "Fleet audit against policy" not in none.stdout
    assert "reports: %s" % (tmp_path / "audit.json") in none.stdout          # the paths are always printed


def test_the_repository_playbook_runs_from_any_directory_without_its_ansible_cfg(tmp_path):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_"))
    env["ANSIBLE_NOCOLOR"] = "1"
    with open(os.path.join(SNAP, "inventory.yml")) as handle:
        inv = yaml.safe_load(handle)
    for spec in inv["all"]["children"]["compute"]["hosts"].values():
        spec["audit_root"] = spec["audit_root"].replace("{{ inventory_dir }}", SNAP)
    (tmp_path / "inv.yml").write_text(yaml.safe_dump(inv))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                           os.path.join(REPO, "audit.yml"), "-i", "inv.yml", "-e", "audit_report_dir=out"],
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "was not found" not in proc.stdout
    validate_audit_json(tmp_path / "out" / "audit.json")       # a relative path from where the user stands
