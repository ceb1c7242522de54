"""No secret from a hostile node survives in a collected snapshot (issue 13).

The node of test_security.py (secrets in the qemu argv, the domain XML, the
status XML and the QEMU log, where the audit looks) is captured the way
node_collect captures a live node; every byte of every member of the
tarball, the manifest included, is searched for every secret, raw and
base64-decoded forms alike. The snapshot must still audit to the same
verdicts (redaction must not change what is judged).
"""
import io
import tarfile

from test_security import SECRETS, secret_node  # noqa: F401  (pytest fixture)
from nodeaudit.sources import offline, snapshot
from nodeaudit.evaluate import evaluate
from nodeaudit.policy import DEFAULT_POLICY, validate


def _members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        out = {}
        for member in tar.getmembers():
            out[member.name] = tar.extractfile(member).read() if member.isfile() else \
                member.linkname.encode() if member.issym() else b""
        return out


def test_the_hostile_node_really_has_its_secrets_where_the_audit_reads(secret_node):
    import os
    found = set()
    for base, _, files in os.walk(secret_node.root):
        for name in files:
            if not os.path.isfile(os.path.join(base, name)) or os.path.islink(os.path.join(base, name)):
                continue
            with open(os.path.join(base, name), "rb") as handle:
                blob = handle.read()
            found.update(s for s in SECRETS if s.encode() in blob)
    assert found == set(SECRETS)


def test_no_secret_survives_in_the_tarball(secret_node, tmp_path):
    data, manifest = snapshot.capture(root=secret_node.root, use_libvirt=False)
    members = _members(data)
    assert any(n.endswith("/cmdline") for n in members) and any(n.endswith(".log") for n in members)
    assert any(n.endswith(".xml") for n in members)
    for name, blob in members.items():
        for secret in SECRETS:
            assert secret.encode() not in blob, (name, secret)
            assert secret not in name
    assert any(b"<redacted>" in blob for name, blob in members.items() if name.endswith("/cmdline"))
    assert any(b"&lt;redacted&gt;" in blob for name, blob in members.items() if name.endswith(".xml"))
    assert any(b"<redacted>" in blob for name, blob in members.items() if name.endswith(".log"))
    # The gzip stream itself, for good measure.
    for secret in SECRETS:
        assert secret.encode() not in data


def test_the_redacted_snapshot_audits_the_same(secret_node, tmp_path):
    data, _ = snapshot.capture(root=secret_node.root, use_libvirt=False)
    path = tmp_path / "hostile.tar.gz"
    path.write_bytes(data)
    policy = validate(DEFAULT_POLICY)
    before = evaluate(secret_node.facts(), policy)
    after = evaluate(offline.collect_offline(str(path)), policy)
    key = lambda a: ([(c["id"], c["state"]) for c in a["checks"]],
                     [(d["name"], [(n["mac"], n["state"], n["vhost"]) for n in d["nics"]]) for d in a["domains"]])
    assert key(after) == key(before)
