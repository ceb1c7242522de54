"""collect.yml end to end on this machine (ansible_connection=local), then audit.yml over the tarball.

The machine running the tests is a node too (no libvirtd: domains from status
files): `collect.yml --check` must still write exactly one archive (the node
is only read), the archive must audit to the same kernel and boot verdicts as
this machine audited live, and an unreachable host must not stop the others.
"""
import glob
import json
import os
import re
import socket
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.e2e]


def play(*args):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")] + list(args)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    work = tmp_path_factory.mktemp("collect")
    inv = work / "inventory.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"compute": {"hosts": {
        "this-node": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                      "audit_use_libvirt": False},
        "gone-node": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody",
                      "ansible_ssh_common_args": "-o ConnectTimeout=3 -o StrictHostKeyChecking=no"}}}}}}))
    snaps = work / "snapshots"
    proc = play("collect.yml", "-i", str(inv), "--check", "-e", "collect_dest=%s" % snaps)
    return {"proc": proc, "work": work, "inv": inv, "archives": sorted(glob.glob(str(snaps / "*.tar.gz")))}


def test_one_archive_for_the_reachable_node_even_in_check_mode(collected):
    out = collected["proc"].stdout
    assert [os.path.basename(a).rsplit("-", 1)[0] for a in collected["archives"]] == ["this-node"], out[-3000:]
    # The node that could not be reached is Ansible's unreachable, and the exit status says so (4).
    assert collected["proc"].returncode == 4, out[-3000:]
    assert re.search(r"gone-node\s*:.*unreachable=1", out), out[-3000:]
    with tarfile.open(collected["archives"][0]) as tar:
        manifest = [m for m in tar.getmembers() if m.name.endswith("/MANIFEST.json")][0]
        doc = json.load(tar.extractfile(manifest))
        assert not any(m.isdev() for m in tar.getmembers())
    assert doc["host"] == socket.gethostname() and doc["format"] == "nodeaudit-snapshot"
    assert oct(os.stat(collected["archives"][0]).st_mode & 0o777) == "0o600"


def test_the_archive_audits_like_the_live_node(collected):
    work = collected["work"]
    # A --limit run is partial: written as audit.json here only because it is asked for.
    live = play("audit.yml", "-i", str(collected["inv"]), "-l", "this-node", "-e",
                "audit_report_dir=%s" % (work / "live"), "-e", "audit_report_partial_overwrite=true")
    inv = work / "offline.yml"
    subprocess.check_call([sys.executable, os.path.join(REPO, "scripts", "offline_inventory.py")]
                          + collected["archives"] + ["-o", str(inv)])
    copy = play("audit.yml", "-i", str(inv), "-e", "audit_report_dir=%s" % (work / "copy"))
    with open(str(work / "live" / "audit.json")) as handle:
        a = json.load(handle)["hosts"]["this-node"]
    with open(str(work / "copy" / "audit.json")) as handle:
        b = json.load(handle)["hosts"]["this-node"]
    assert live.returncode in (0, 2) and copy.returncode in (0, 2), copy.stdout[-2000:]
    # domains.vhost is left out: other processes' qemus on this machine may come and go between the runs.
    keep = ("qemu_kvm.vhost_net_enabled", "qemu_kvm.settings", "kernel.vhost_net", "kernel.vhost_net_boot")
    assert dict((c["id"], c["state"]) for c in a["checks"] if c["id"] in keep) == \
        dict((c["id"], c["state"]) for c in b["checks"] if c["id"] in keep)
    assert b["mode"] == "snapshot" and b["sources"]["offline"]["kind"] == "snapshot"
    assert b["confidence"]["level"] in ("copy", "indirect") and a["confidence"]
