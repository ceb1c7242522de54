"""The Ansible collection built from this repository (`make collection`): it builds,
installs with ansible-galaxy, its audit playbook runs from an unrelated directory,
ansible-doc documents its plugins and roles, and ansible-test (sanity, units) passes
on the built tree."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from report_validation import validate_audit_json, validate_junit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAP = os.path.join(REPO, "tests", "snapshots")
BIN = os.path.dirname(sys.executable)
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# ansible-test sanity tests that run on this machine: the others need a
# container or a virtual environment bootstrapped with a download from outside
# the package registries (ansible-doc, import, pep8, pylint, pslint,
# runtime-metadata, validate-modules, yamllint).
LOCAL_SANITY = ("action-plugin-docs", "changelog", "compile", "empty-init", "ignores", "line-endings", "no-assert",
                "no-get-exception", "no-illegal-filenames", "no-smart-quotes", "replace-urlopen", "shebang",
                "shellcheck", "symlinks", "use-argspec-type-path", "use-compat-six")


def galaxy():
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        return yaml.safe_load(handle)


def clean_env(**extra):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_"))
    env.update(ANSIBLE_NOCOLOR="1", **extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "build_collection.py"), "--out", str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    meta = galaxy()
    tarball = out / ("%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"]))
    assert tarball.exists(), proc.stdout
    tree = out / "collection" / "ansible_collections" / meta["namespace"] / meta["name"]
    return tarball, tree


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    tarball, _ = built
    dest = tmp_path_factory.mktemp("collections")
    proc = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(dest),
                           str(tarball)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=clean_env(), timeout=300)
    assert proc.returncode == 0 and "installed successfully" in proc.stdout, proc.stdout
    return dest


def test_the_installed_playbook_runs_from_an_unrelated_directory(installed, tmp_path):
    with open(os.path.join(SNAP, "inventory.yml")) as handle:
        inv = yaml.safe_load(handle)
    for spec in inv["all"]["children"]["compute"]["hosts"].values():
        spec["audit_root"] = spec["audit_root"].replace("{{ inventory_dir }}", SNAP)
    work = tmp_path / "somewhere"
    work.mkdir()
    (work / "inventory.yml").write_text(yaml.safe_dump(inv))
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed),
                    ANSIBLE_STDOUT_CALLBACK="vhostaudit.compute.compute_audit",
                    ANSIBLE_CALLBACKS_ENABLED="vhostaudit.compute.audit_exit,ansible.posix.json")
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "vhostaudit.compute.audit", "-i", "inventory.yml"],
                          cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)
    assert proc.returncode == 2, proc.stdout[-3000:]                 # drift (the snapshots have some)
    doc = validate_audit_json(work / "reports" / "audit.json")        # ./reports of where the user stands
    validate_junit(work / "reports" / "audit.xml")
    assert len(doc["hosts"]) == 11
    assert "Fleet audit against policy default" in proc.stdout
    assert "fatal: [trusty-2014.fail]: DRIFT => drift: fail:" in proc.stdout


def test_ansible_doc_documents_modules_actions_filters_and_roles(installed):
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed))
    for kind, name in (("module", "compute_audit"), ("module", "domain_restart"), ("module", "audit_report"),
                       ("module", "audit_host_status"), ("filter", "restart_plan"), ("filter", "audit_policy"),
                       ("callback", "audit_exit"), ("callback", "compute_audit"), ("role", "audit_report")):
        proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", kind, "--json", "vhostaudit.compute." + name],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=120)
        assert proc.returncode == 0, (kind, name, proc.stdout[-2000:])
        doc = json.loads(proc.stdout)
        assert doc, (kind, name)
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", "module", "--json", "vhostaudit.compute.compute_audit"],
                          env=env, stdout=subprocess.PIPE, universal_newlines=True, timeout=120)
    attrs = json.loads(proc.stdout)["vhostaudit.compute.compute_audit"]["doc"]["attributes"]
    assert set(attrs) >= {"check_mode", "diff_mode", "platform"}


def test_ansible_test_sanity_and_units_pass_on_the_built_collection(built):
    _, tree = built
    test = os.path.join(BIN, "ansible-test")
    env = clean_env()
    cmd = [test, "sanity", "--python", "%d.%d" % sys.version_info[:2], "--color", "no"]
    for name in LOCAL_SANITY:
        if name != "shellcheck" or shutil.which("shellcheck"):
            cmd += ["--test", name]
    proc = subprocess.run(cmd, cwd=str(tree), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    units = subprocess.run([test, "units", "--python", "%d.%d" % sys.version_info[:2], "--color", "no"],
                           cwd=str(tree), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=900)
    assert units.returncode == 0, units.stdout[-4000:]
    assert " passed" in units.stdout


def test_execution_environment_and_requirements_parse():
    with open(os.path.join(REPO, "execution-environment.yml")) as handle:
        ee = yaml.safe_load(handle)
    assert ee["version"] == 3
    with open(os.path.join(REPO, "requirements.txt")) as handle:
        pins = dict(line.strip().split("==") for line in handle if "==" in line and not line.startswith("#"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + pins["ansible-core"]
    with open(os.path.join(REPO, ee["dependencies"]["galaxy"])) as handle:
        req = yaml.safe_load(handle)
    names = [c["name"] for c in req["collections"]]
    assert "community.general" in names
    meta = galaxy()
    tarball = "build/%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"])
    assert ee["additional_build_files"][0]["src"] == tarball
    assert any(tarball.split("/")[-1] in step for step in ee["additional_build_steps"]["append_final"])
    with open(os.path.join(REPO, "meta", "runtime.yml")) as handle:
        assert yaml.safe_load(handle)["requires_ansible"].startswith(">=2.19")
