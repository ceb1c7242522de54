"""Safe extraction (sources/archive.py): hostile tarballs are refused with a clear message.

Every attack tarball is built here with tarfile, the way an attacker would
write it; after a refusal nothing may exist outside the destination and the
canary outside it must be untouched.
"""
import io
import os
import tarfile

import pytest

from nodeaudit.sources import archive
from nodeaudit.sources.archive import ArchiveError


def _tar(path, entries, mode="w:gz"):
    """entries: (name, kind, payload): kind file/dir/sym/hard/chr/fifo."""
    with tarfile.open(path, mode) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 10, 238
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    return path


@pytest.fixture
def place(tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("outside")
    dest = tmp_path / "dest"
    dest.mkdir()
    return tmp_path, dest, canary


def _refused(tmp, dest, canary, entries, words, mode="w:gz"):
    path = _tar(str(tmp / "evil.tar.gz"), entries, mode)
    with pytest.raises(ArchiveError) as info:
        archive.extract(path, str(dest))
    for word in words:
        assert word in info.value.message, info.value.message
    assert canary.read_text() == "outside"
    assert sorted(os.listdir(str(tmp))) == ["canary", "dest", "evil.tar.gz"]
    return info.value


def test_a_good_snapshot_extracts_with_its_top_directory(place):
    tmp, dest, _ = place
    path = _tar(str(tmp / "ok.tar.gz"), [
        ("node-1", "dir", None),
        ("node-1/etc/hostname", "file", "node-1\n"),
        ("node-1/proc/42/fd/3", "sym", "/dev/vhost-net"),
        ("node-1/proc/42/fd/4", "sym", "socket:[123]"),
        ("node-1/lsmod", "sym", "sos_commands/kernel/lsmod"),
        ("node-1/sos_commands/kernel/lsmod", "file", "Module Size Used by\n"),
    ])
    info = archive.extract(path, str(dest))
    assert info["top"] == "node-1" and info["extracted"] == 2 and not info["skipped"]
    assert os.readlink(str(dest / "node-1/proc/42/fd/3")) == "/dev/vhost-net"
    assert (dest / "node-1/etc/hostname").read_text() == "node-1\n"
    assert (dest / "node-1/lsmod").read_text() == "Module Size Used by\n"


@pytest.mark.parametrize("name", ["../escaped", "a/../../escaped", "/tmp/escaped", "./a/./../../x"])
def test_path_traversal_is_refused(place, name):
    tmp, dest, canary = place
    err = _refused(tmp, dest, canary, [("a/ok", "file", "x"), (name, "file", "pwned")], ["path traversal"])
    assert err.member == name


@pytest.mark.parametrize("target,words", [
    ("../../canary", ["points outside the archive"]),
    ("/etc/passwd", ["absolute target"]),
    (str("/") + "tmp", ["absolute target"]),
    ("b/../../x", ["climbs"]),
])
def test_links_out_are_refused(place, target, words):
    tmp, dest, canary = place
    _refused(tmp, dest, canary, [("top/a", "sym", target)], words)


def test_a_link_through_a_link_to_the_top_is_refused(place):
    """b -> . is inside; a -> b/../x would resolve above the top through b."""
    tmp, dest, canary = place
    _refused(tmp, dest, canary, [("b", "sym", "."), ("a", "sym", "b/../x")], ["climbs"])


def test_writing_through_a_link_is_refused(place):
    tmp, dest, canary = place
    _refused(tmp, dest, canary, [("top/d", "sym", "."), ("top/d/../../canary", "file", "pwned")], ["traversal"])
    dest2 = tmp / "dest2"
    path = _tar(str(tmp / "evil2.tar.gz"), [("top/etc", "sym", "../x"), ("top/x", "dir", None),
                                           ("top/etc/passwd", "file", "pwned")])
    with pytest.raises(ArchiveError) as info:
        dest2.mkdir()
        archive.extract(path, str(dest2))
    assert "not a directory" in info.value.message
    assert canary.read_text() == "outside"


def test_a_duplicate_member_is_refused(place):
    tmp, dest, canary = place
    _refused(tmp, dest, canary, [("top/f", "sym", "g"), ("top/f", "file", "pwned")], ["appears twice"])


@pytest.mark.parametrize("kind,word", [("chr", "character device"), ("fifo", "FIFO")])
def test_device_files_are_refused(place, kind, word):
    tmp, dest, canary = place
    _refused(tmp, dest, canary, [("top/dev/vhost-net", kind, None)], [word, "no device files"])


def test_hard_links_only_to_earlier_files(place):
    tmp, dest, canary = place
    _refused(tmp, dest, canary, [("top/h", "hard", "/etc/shadow")], ["absolute path"])
    dest2 = tmp / "d2"
    dest2.mkdir()
    path = _tar(str(tmp / "ok.tar"), [("top/f", "file", "data"), ("top/h", "hard", "top/f")], "w")
    archive.extract(path, str(dest2))
    assert (dest2 / "top/h").read_text() == "data" and not os.path.islink(str(dest2 / "top/h"))


def test_caps(place):
    tmp, dest, canary = place
    path = _tar(str(tmp / "big.tar.xz"), [("top/a", "file", "x" * 5000), ("top/b", "file", "y" * 10)], "w:xz")
    info = archive.extract(path, str(dest), max_member=1000)
    assert [s["name"] for s in info["skipped"]] == ["top/a"] and "cap" in info["skipped"][0]["reason"]
    assert not (dest / "top/a").exists() and (dest / "top/b").read_text() == "y" * 10
    with pytest.raises(ArchiveError) as err:
        archive.extract(path, str(tmp / "nope"), max_total=4000)
    assert "unpacks to more than 4000 bytes" in err.value.message
    with pytest.raises(ArchiveError) as err:
        archive.extract(path, str(tmp / "nope"), max_members=1)
    assert "more than 1 members" in err.value.message


def test_damaged_and_foreign_files(place):
    tmp, dest, _ = place
    path = _tar(str(tmp / "ok.tar.gz"), [("top/a", "file", os.urandom(200000).hex())])
    data = open(path, "rb").read()
    with open(str(tmp / "cut.tar.gz"), "wb") as handle:
        handle.write(data[:len(data) // 2])
    with pytest.raises(ArchiveError) as err:
        archive.extract(str(tmp / "cut.tar.gz"), str(dest))
    assert "damaged or truncated" in err.value.message
    (tmp / "notes.txt").write_text("hello")
    with pytest.raises(ArchiveError) as err:
        with archive.opened_root(str(tmp / "notes.txt")):
            pass
    assert "neither a directory nor a tar archive" in err.value.message


def test_opened_root_cleans_up(place):
    tmp, _, _ = place
    path = _tar(str(tmp / "ok.tar.gz"), [("h-1/etc/hostname", "file", "h\n")])
    with archive.opened_root(path, tmp_dir=str(tmp)) as (root, info):
        assert os.path.basename(root) == "h-1" and info["archive"] == path
        assert open(os.path.join(root, "etc/hostname")).read() == "h\n"
        work = os.path.dirname(root)
        assert oct(os.stat(work).st_mode & 0o777) == "0o700"
    assert not os.path.exists(work)
    with archive.opened_root(str(tmp)) as (root, info):
        assert root == str(tmp) and info["archive"] is None
