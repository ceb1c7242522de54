"""Round trip on every lab node (issue 13): collect.yml, then audit.yml over the archives.

`ansible-playbook collect.yml` captures each live lab node into
DIR/<host>-<UTC time>.tar.gz; `audit.yml` over an inventory of those archives
(scripts/offline_inventory.py, audit_root = the tarball) must give the same
verdicts as the live audit, check by check and NIC by NIC. compute-5 (closed
port) yields no archive and does not stop the others.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _play(argv, timeout=600):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return proc


def _describe(proc):
    return "exit %s\n%s\n%s" % (proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:])


@pytest.fixture(scope="module")
def offline_run(lab_inventory, lab_nodes, tmp_path_factory):
    work = tmp_path_factory.mktemp("offline")
    snaps = str(work / "snapshots")
    collect = _play(["ansible-playbook", "collect.yml", "-i", lab_inventory, "-e", "collect_dest=" + snaps])
    archives = sorted(glob.glob(os.path.join(snaps, "*.tar.gz")))
    inv = str(work / "inventory.yml")
    subprocess.check_call([sys.executable, os.path.join(REPO, "scripts", "offline_inventory.py")] + archives
                          + ["-o", inv]) if archives else None
    live = _play(["ansible-playbook", "audit.yml", "-i", lab_inventory, "-e", "audit_report_dir=%s" % (work / "live")])
    copy = _play(["ansible-playbook", "audit.yml", "-i", inv, "-e", "audit_report_dir=%s" % (work / "copy")]) \
        if archives else None
    return {"collect": collect, "archives": archives, "live": live, "copy": copy, "work": work, "nodes": lab_nodes}


def _report(run, which):
    path = os.path.join(str(run["work"]), which, "audit.json")
    assert os.path.exists(path), _describe(run[which])
    with open(path) as handle:
        return json.load(handle)["hosts"]


def verdicts(host):
    return {
        "checks": dict((c["id"], c["state"]) for c in host["checks"]),
        "nics": dict(((d["name"], n["mac"], n["netdev"]), (n["state"], n["vhost"], n["restart_fixes"]))
                     for d in host["domains"] for n in d["nics"]),
        "domains": dict((d["name"], (d["state"], d["verdict"], d["needs_restart"])) for d in host["domains"]),
    }


def test_collect_writes_one_archive_per_reachable_node(offline_run, scenarios):
    names = sorted(os.path.basename(a).rsplit("-", 1)[0] for a in offline_run["archives"])
    assert names == sorted(offline_run["nodes"]), _describe(offline_run["collect"])
    assert "compute-5" in offline_run["collect"].stdout  # reported, not silently dropped
    # ... as Ansible's own unreachable, with the exit status that says a snapshot is missing.
    assert offline_run["collect"].returncode == 4, _describe(offline_run["collect"])
    assert re.search(r"compute-5\s*:.*unreachable=1", offline_run["collect"].stdout), _describe(offline_run["collect"])
    for path in offline_run["archives"]:
        with tarfile.open(path) as tar:
            assert not any(m.isdev() for m in tar.getmembers())
            manifest = [m for m in tar.getmembers() if m.name.endswith("/MANIFEST.json")]
            doc = json.load(tar.extractfile(manifest[0]))
        host = os.path.basename(path).rsplit("-", 1)[0]
        want = ((scenarios.get(host) or {}).get("expect") or {}).get("sources", {}).get("domains")
        # Domains came from where the live audit takes them (libvirt, or the status files when libvirtd is down).
        assert doc["sources"]["domains"] == (want or "libvirt") and doc["qemu_pids"], (host, doc["sources"])


def test_the_audit_of_each_copy_equals_the_live_audit_nic_by_nic(offline_run):
    live, copy = _report(offline_run, "live"), _report(offline_run, "copy")
    for name in offline_run["nodes"]:
        assert name in copy, sorted(copy)
        want, got = verdicts(live[name]), verdicts(copy[name])
        assert got["nics"] and got == want, name
        assert copy[name]["sources"]["offline"]["kind"] == "snapshot"
        assert copy[name]["mode"] == "snapshot" and live[name]["mode"] == "live"


SOS = shutil.which("sos")


def test_a_real_sosreport_of_each_node_gives_the_live_nic_verdicts(offline_run, tmp_path):
    """Debian's `sos report` run inside every lab node; its .tar.xz audited as audit_root would be.

    A sosreport has no /proc/<pid>/cmdline, fd links or /dev: the argv comes from ps, the fds from lsof.
    Every NIC must get the live verdict, or `unknown` (never a different verdict), and the NICs the live
    audit fails (userspace virtio) must fail from the sosreport too unless its ps line was lossy there.
    """
    if not SOS:
        pytest.skip("Debian's sosreport is not installed (apt-packages.txt)")
    from lab_tools import ssh
    from nodeaudit.evaluate import evaluate
    from nodeaudit.policy import DEFAULT_POLICY, validate
    from nodeaudit.sources import offline
    live = _report(offline_run, "live")
    compared = 0
    for name in offline_run["nodes"]:
        out = tmp_path / name
        out.mkdir()
        os.chmod(str(out), 0o777)
        ssh(name, "sos report --batch --quiet -o process,kernel,libvirt,virsh,systemd --tmp-dir %s" % out)
        tarballs = glob.glob(str(out / "sosreport-*.tar.xz"))
        assert len(tarballs) == 1, (name, os.listdir(str(out)))
        result = evaluate(offline.collect_offline(tarballs[0]), validate(DEFAULT_POLICY))
        assert result["sources"]["domains"] == "sosreport"
        want, got = verdicts(live[name])["nics"], verdicts(result)["nics"]
        managed = dict((k, v) for k, v in want.items() if "not known to libvirt" not in k[0])
        for key, value in managed.items():
            assert key in got, (name, key, sorted(got))
            if got[key] != value:
                assert got[key][0] == "unknown", (name, key, value, got[key])
            else:
                compared += 1
    assert compared > 0
