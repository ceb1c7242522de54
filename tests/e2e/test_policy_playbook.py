"""The policy through ansible-playbook: the file fails closed, errors say where, paths resolve from the user's cwd."""
import json
import os
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAP = os.path.join(REPO, "tests", "snapshots")
pytestmark = [pytest.mark.e2e]


def playbook(*args, cwd=REPO):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(REPO, "audit.yml")]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(cmd + list(args), cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


def inventory(tmp_path, groups):
    """Two snapshot hosts (trusty in group lb, builtin outside it), group vars from ``groups``."""
    host = lambda name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                         "audit_root": os.path.join(SNAP, name), "audit_use_libvirt": False}
    doc = {"all": {"children": {"compute": {"hosts": {"trusty": host("trusty-2014.fail"),
                                                      "builtin": host("builtin.pass")},
                                            "children": {"lb": {"hosts": {"trusty": {}},
                                                                "vars": groups.get("lb", {})}}}}}}
    path = tmp_path / "inv.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize("text", ["", "- checks: {}\n"])
def test_empty_or_list_policy_file_is_refused_not_defaulted(tmp_path, text):
    bad = tmp_path / "policy.yml"
    bad.write_text(text)
    proc = playbook("-i", inventory(tmp_path, {}), "-e", "audit_report_dir=%s" % (tmp_path / "r"),
                    "-e", "audit_policy_file=%s" % bad)
    assert proc.returncode != 0
    assert "must be a YAML mapping" in proc.stdout and str(bad) in proc.stdout
    assert "Audit the node" not in proc.stdout and not (tmp_path / "r").exists()


def test_group_override_error_names_the_group_not_an_innocent_host(tmp_path):
    inv = inventory(tmp_path, {"lb": {"audit_policy_overrides": {"checks": {"domains.vhost": {"levle": "warn"}}}}})
    proc = playbook("-i", inv, "-e", "audit_report_dir=%s" % (tmp_path / "r"))
    assert proc.returncode != 0
    assert "audit_policy_overrides of group 'lb' (host trusty)" in proc.stdout
    assert "checks.domains.vhost.levle" in proc.stdout and "builtin" not in proc.stdout.split("invalid policy")[1][:300]


def test_relative_policy_file_from_another_directory_and_digest_per_host(tmp_path):
    (tmp_path / "mine.yml").write_text('name: mine\nchecks:\n  kernel.vhost_net_boot: {level: "fail"}\n')
    inv = inventory(tmp_path, {"lb": {"audit_policy_overrides": {"checks": {"domains.vhost": {"level": "warn"}}}}})
    proc = playbook("-i", inv, "-e", "audit_report_dir=%s" % (tmp_path / "r"), "-e", "audit_policy_file=mine.yml",
                    cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout[-3000:]
    doc = json.loads((tmp_path / "r" / "audit.json").read_text())
    trusty, builtin = doc["hosts"]["trusty"], doc["hosts"]["builtin"]
    states = dict((c["id"], c["state"]) for c in trusty["checks"])
    assert states["kernel.vhost_net_boot"] == "fail" and states["domains.vhost"] == "warn"
    assert trusty["policy"]["name"] == "mine" and trusty["policy"]["digest"].startswith("sha256:")
    assert trusty["policy"]["digest"] != builtin["policy"]["digest"]
