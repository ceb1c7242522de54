"""The confined reader: nothing outside the root, caps, loops, and a Read for every failure."""
import os

import pytest

from nodeaudit.sources import reader as r


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "node"
    (base / "etc/default").mkdir(parents=True)
    (base / "etc/default/qemu-kvm").write_text("VHOST_NET_ENABLED=1\n")
    (tmp_path / "outside.txt").write_text("controller secret\n")
    return base


def test_reads_a_file(root):
    got = r.RootReader(str(root)).read("/etc/default/qemu-kvm")
    assert got.ok and got.text() == "VHOST_NET_ENABLED=1\n"


def test_absolute_symlink_stays_inside_the_root(root, tmp_path):
    os.symlink(str(tmp_path / "outside.txt"), str(root / "etc/escape"))
    got = r.RootReader(str(root)).read("/etc/escape")
    assert got.status == r.MISSING          # resolved as <root>/<tmp>/outside.txt
    assert got.data is None


def test_dotdot_symlink_cannot_climb(root):
    os.symlink("../../../../../outside.txt", str(root / "etc/up"))
    assert r.RootReader(str(root)).read("/etc/up").status == r.MISSING
    assert r.RootReader(str(root)).read("/../outside.txt").status == r.MISSING


def test_symlink_inside_root_is_followed(root):
    os.symlink("/etc/default/qemu-kvm", str(root / "etc/link"))
    assert r.RootReader(str(root)).read("/etc/link").text() == "VHOST_NET_ENABLED=1\n"


def test_loop_and_dangling(root):
    os.symlink("/etc/b", str(root / "etc/a"))
    os.symlink("/etc/a", str(root / "etc/b"))
    os.symlink("/nowhere", str(root / "etc/dangling"))
    rd = r.RootReader(str(root))
    assert rd.read("/etc/a").status == r.LOOP
    assert rd.read("/etc/dangling").status == r.MISSING
    assert rd.exists("/etc/dangling")          # a dangling link is still "there" in a snapshot
    assert rd.readlink("/etc/dangling").data == "/nowhere"


def test_size_cap(root):
    (root / "etc/big").write_text("x" * 5000)
    got = r.RootReader(str(root), max_bytes=4096).read("/etc/big")
    assert got.status == r.TOO_LARGE and got.data is None and "4096" in got.reason


def test_directory_is_not_a_file(root):
    got = r.RootReader(str(root)).read("/etc/default")
    assert got.status == r.NOT_FILE and "directory" in got.reason


def test_tail_starts_at_a_line(root):
    (root / "log").write_text("".join("line %d\n" % i for i in range(1000)))
    got = r.RootReader(str(root)).read_tail("/log", 100)
    assert got.truncated
    assert got.text().startswith("line ")
    assert got.text().endswith("line 999\n")


def test_live_reader_reads_proc():
    got = r.RootReader("/").read("/proc/self/cmdline", binary=True)
    assert got.ok and got.data
