"""Collected snapshots (sources/snapshot.py, library/node_collect.py) audited back (sources/offline.py).

The round trip on the shipped snapshot nodes: capture what the audit reads,
pack it, extract the archive safely, audit it, and compare with the audit of
the original, check by check and NIC by NIC. (The same on every live lab
node is tests/lab/test_lab_offline.py.)
"""
import io
import json
import os
import tarfile

import pytest

from library_loader import load_module
from nodeaudit.evaluate import evaluate
from nodeaudit.policy import DEFAULT_POLICY, validate
from nodeaudit.sources import archive, offline, snapshot
from nodeaudit.sources.collect import collect

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAPSHOTS = os.path.join(REPO, "tests", "snapshots")
NODES = sorted(n for n in os.listdir(SNAPSHOTS) if os.path.isdir(os.path.join(SNAPSHOTS, n)))
POLICY = validate(DEFAULT_POLICY)


def verdicts(audit):
    """What must survive the round trip: every check's state, every NIC's state and vhost."""
    return {
        "checks": dict((c["id"], c["state"]) for c in audit["checks"]),
        "nics": dict(((d["name"], n["mac"], n["netdev"]), (n["state"], n["vhost"], n["restart_fixes"]))
                     for d in audit["domains"] for n in d["nics"]),
        "domains": dict((d["name"], (d["state"], d["verdict"], d["needs_restart"])) for d in audit["domains"]),
    }


def test_there_are_snapshot_nodes():
    assert len(NODES) >= 10


@pytest.mark.parametrize("name", NODES)
def test_round_trip_of_a_snapshot_node(name, tmp_path):
    root = os.path.join(SNAPSHOTS, name)
    data, manifest = snapshot.capture(root=root, use_libvirt=False, now=1767225600)
    path = tmp_path / ("%s.tar.gz" % name)
    path.write_bytes(data)
    before = evaluate(collect(root=root, use_libvirt=False), POLICY)
    after = evaluate(offline.collect_offline(str(path)), POLICY)
    assert verdicts(after) == verdicts(before)
    assert after["host"] == before["host"]
    assert after["sources"]["offline"]["kind"] == "snapshot"
    assert after["sources"]["offline"]["collected_at"] == "2026-01-01T00:00:00Z"
    assert str(tmp_path) not in json.dumps(after) or str(path) in json.dumps(after)
    assert manifest["format"] == snapshot.FORMAT and manifest["read"]


def test_manifest_says_what_was_read_and_what_was_missing(tmp_path):
    root = os.path.join(SNAPSHOTS, "trusty-2014.fail")
    data, manifest = snapshot.capture(root=root, use_libvirt=False)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        top = manifest["top"]
        stored = json.load(tar.extractfile("%s/MANIFEST.json" % top))
    assert stored == manifest
    read = set(r["path"] for r in manifest["read"])
    assert "/etc/default/qemu-kvm" in read and "/proc/modules" in read
    assert any(p.endswith("/cmdline") for p in read)
    missing = dict((m["path"], m) for m in manifest["missing"])
    assert missing["/dev/vhost-net"]["status"] == "missing"
    assert all(n == top or n.startswith(top + "/") for n in names)


def test_only_qemu_processes_are_captured(tmp_path):
    """The collector reads every process's comm to find qemu; the archive keeps only the qemu ones."""
    import shutil
    root = tmp_path / "node"
    shutil.copytree(os.path.join(SNAPSHOTS, "compliant-keyval.pass"), str(root), symlinks=True)
    (root / "proc" / "777").mkdir()
    (root / "proc" / "777" / "comm").write_text("sshd\n")
    (root / "proc" / "777" / "cmdline").write_bytes(b"sshd: admin@pts/0 Passw0rdInTitle\x00")
    data, manifest = snapshot.capture(root=str(root), use_libvirt=False)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert not any("/proc/777" in n for n in names)
    assert b"sshd" not in blob and b"Passw0rdInTitle" not in blob
    assert manifest["qemu_pids"]


def test_vhost_net_device_becomes_a_placeholder_and_the_manifest_says_so(tmp_path):
    root = os.path.join(SNAPSHOTS, "compliant-keyval.pass")
    data, manifest = snapshot.capture(root=root, use_libvirt=False)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        dev = tar.getmember("%s/dev/vhost-net" % manifest["top"])
        assert dev.isreg() and dev.size == 0
        assert not any(m.isdev() for m in tar.getmembers())
    assert any("/dev/vhost-net" in n for n in manifest["notes"])


def test_compute_audit_audits_a_tarball(tmp_path, capsys):
    from ansible.module_utils.testing import patch_module_args
    root = os.path.join(SNAPSHOTS, "vhost-fallback-log.fail")
    data, _ = snapshot.capture(root=root, use_libvirt=False)
    path = tmp_path / "node.tar.gz"
    path.write_bytes(data)
    module = load_module("compute_audit")
    with patch_module_args({"root": str(path), "host_name": "x"}):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 0, out
    want = evaluate(collect(root=root, use_libvirt=False), POLICY)
    assert verdicts(out["audit"]) == verdicts(want)
    assert out["audit"]["root"] == str(path)


def test_compute_audit_refuses_an_attack_tarball_with_a_clear_message(tmp_path, capsys):
    from ansible.module_utils.testing import patch_module_args
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(str(path), "w:gz") as tar:
        info = tarfile.TarInfo("node/etc/default/qemu-kvm")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../../../etc/shadow"
        tar.addfile(info)
    module = load_module("compute_audit")
    with patch_module_args({"root": str(path)}):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 1 and out["failed"]
    assert "points outside the archive" in out["msg"] and "node/etc/default/qemu-kvm" in out["msg"]


def test_node_collect_module_returns_the_archive_and_changes_nothing(tmp_path, capsys, monkeypatch):
    """The module on a (snapshot) root: changed false, the archive base64, in check mode too."""
    from ansible.module_utils.testing import patch_module_args
    module = load_module("node_collect")
    root = os.path.join(SNAPSHOTS, "builtin.pass")
    real = snapshot.capture
    monkeypatch.setattr(module.snapshot, "capture", lambda **kw: real(root=root, **dict(kw, use_libvirt=False)))
    with patch_module_args({"_ansible_check_mode": True}):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 0 and out["changed"] is False
    data = __import__("base64").b64decode(out["archive_b64"])
    (tmp_path / "a.tar.gz").write_bytes(data)
    assert archive.is_archive(str(tmp_path / "a.tar.gz"))
    assert out["manifest"]["host"] == open(os.path.join(root, "etc/hostname")).read().strip()
