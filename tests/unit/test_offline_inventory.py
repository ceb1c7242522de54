"""scripts/offline_inventory.py: one host per node (the newest archive wins), audit_root the archive."""
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("offline_inventory", os.path.join(REPO, "scripts", "offline_inventory.py"))
inv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(inv)


def test_names_and_newest_wins(tmp_path):
    paths = [str(tmp_path / n) for n in ("compute-1-20261201T100000Z.tar.gz", "compute-1-20261201T120000Z.tar.gz",
                                         "sosreport-juju-4-2026-12-01-abcdef.tar.xz", "extracted-dir")]
    hosts = inv.inventory(paths)["all"]["children"]["compute"]["hosts"]
    assert sorted(hosts) == ["compute-1", "extracted-dir", "sosreport-juju-4-2026-12-01-abcdef"]
    assert hosts["compute-1"]["audit_root"].endswith("T120000Z.tar.gz")
    assert hosts["compute-1"]["ansible_connection"] == "local" and hosts["compute-1"]["audit_use_libvirt"] is False
    every = inv.inventory(paths, keep_all=True)["all"]["children"]["compute"]["hosts"]
    assert "compute-1-20261201T100000Z" in every and "compute-1-20261201T120000Z" in every
