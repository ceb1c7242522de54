"""Safe extraction of a node's evidence archive: a collected snapshot or a sosreport.

``audit_root`` may be a ``.tar.gz`` written by ``collect.yml`` (library/node_collect.py)
or a sosreport's ``.tar.xz`` / ``.tar.gz`` / ``.tar.bz2``. Such a file comes from a
customer's node, so it is hostile until shown otherwise. Before anything is
written, every member is checked, and the whole archive is refused with a
message naming the member when one of them:

- has an absolute name or a ``..`` component (path traversal);
- is a symbolic link that leads out of the archive: a relative target that
  climbs above the archive's top, or any ``..`` after a normal component
  (``b/../x`` would climb out through a link ``b -> .``), or an absolute
  target anywhere but in a ``proc/<pid>/fd/<n>`` record of a collected
  snapshot (those are readlink()-only records such as ``/dev/vhost-net``,
  and the snapshot reader resolves even them inside the root);
- is a hard link to anything but a regular file extracted before it;
- is a character or block device, a FIFO, or another special file;
- appears twice (a link first and a file through it second);
- makes the archive exceed the caps on members or on total bytes.

A single regular file over ``max_member`` bytes is not extracted (it is named
in ``skipped``: the audit then reports it missing, never judged from a part).
Files are written with ``O_EXCL | O_NOFOLLOW`` into directories created here,
modes 0644/0755, no owner, no setuid; nothing is ever written through a link.

Why not ``tarfile.extractall(filter="data")``: the data filter exists only on
Pythons from 3.12 (backported to 3.8.17/3.9.17/3.10.12/3.11.4), the nodes run
3.8+, and it refuses every absolute link target, which the fd records of a
collected snapshot are. Where the filter exists it is still asked about every
member that is not an fd record, as a second opinion.
"""
import contextlib
import errno
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zlib

DEFAULT_MAX_TOTAL = 2 * 1024 * 1024 * 1024      # bytes of all members together
DEFAULT_MAX_MEMBERS = 500000
DEFAULT_MAX_MEMBER = 256 * 1024 * 1024          # one file; larger ones are skipped
_CHUNK = 1024 * 1024

_DAMAGED = [tarfile.TarError, EOFError, OSError, ValueError, zlib.error]
try:
    import lzma
    _DAMAGED.append(lzma.LZMAError)
except ImportError:  # pragma: no cover - Python built without lzma
    pass
_DAMAGED = tuple(_DAMAGED)

_FD_RECORD = re.compile(r"(?:^|/)proc/[0-9]+/fd/[0-9]+$")


class ArchiveError(Exception):
    """The archive is refused (or unreadable); the message says which member and why."""

    def __init__(self, message, member=None):
        super().__init__(message)
        self.message = message
        self.member = member


def is_archive(path):
    """A regular file tarfile can read (gzip, xz, bzip2 or plain tar)."""
    try:
        if not os.path.isfile(path):
            return False
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError, EOFError, ValueError):
        return False


def _clean_name(name):
    """The member name as a relative POSIX path, or raise for traversal."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise ArchiveError("member %r has an absolute path: refused (path traversal)" % name, name)
    if "\x00" in name:
        raise ArchiveError("member %r has a NUL byte in its name: refused" % name, name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError("member %r has a '..' component: refused (path traversal)" % name, name)
    return "/".join(parts)


def _check_link(name, target):
    """Raise unless the symlink ``name -> target`` stays inside the archive."""
    if not target:
        raise ArchiveError("symbolic link %r has an empty target: refused" % name, name)
    if target.startswith("/"):
        if _FD_RECORD.search(name):
            return
        raise ArchiveError("symbolic link %r -> %r points outside the archive (absolute target): refused"
                           % (name, target), name)
    parts = [p for p in target.split("/") if p not in ("", ".")]
    seen_normal = False
    for part in parts:
        if part == "..":
            if seen_normal:
                raise ArchiveError("symbolic link %r -> %r climbs through another path ('..' after a name): "
                                   "refused" % (name, target), name)
        else:
            seen_normal = True
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if joined == ".." or joined.startswith("../"):
        raise ArchiveError("symbolic link %r -> %r points outside the archive: refused" % (name, target), name)


def _real_parent(dest, rel):
    """Create the parent directories of ``rel`` under dest; each must be a real directory."""
    parts = rel.split("/")[:-1]
    current = dest
    for part in parts:
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise ArchiveError("member %r would be written through %r, which is not a directory "
                               "(a link or a file): refused" % (rel, current[len(dest) + 1:]), rel)
    return current


def _second_opinion(member, dest):
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:
        return
    try:
        data_filter(member, dest)
    except tarfile.FilterError as exc:
        raise ArchiveError("member %r refused: %s" % (member.name, exc), member.name)


def _copy(handle, fd, limit):
    total = 0
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            return total
        total += len(chunk)
        if total > limit:
            raise ArchiveError("member is larger than its header says: refused")
        os.write(fd, chunk)


def extract(path, dest, max_total=DEFAULT_MAX_TOTAL, max_members=DEFAULT_MAX_MEMBERS,
            max_member=DEFAULT_MAX_MEMBER, wanted=None, select=None):
    """Check every member of the archive at ``path``, then extract it into ``dest`` (an empty directory).

    ``wanted(name) -> bool`` limits what is written (every member is still checked); ``select(names)``,
    called once every member is checked, may return such a predicate (None: everything). ``max_total``
    caps the bytes of what is written.
    Returns ``{"members": n, "bytes": n, "extracted": n, "skipped": [{"name", "reason"}], "top": str|None}``;
    raises ``ArchiveError`` when the archive is refused or unreadable.
    """
    try:
        tar = tarfile.open(path, "r:*")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ArchiveError("%s is not a readable tar archive: %s" % (path, exc))
    info = {"members": 0, "bytes": 0, "extracted": 0, "skipped": [], "top": None}
    try:
        members = []
        names = set()
        total = 0
        try:
            for member in tar:
                info["members"] += 1
                if info["members"] > max_members:
                    raise ArchiveError("%s has more than %d members: refused (cap)" % (path, max_members))
                rel = _clean_name(member.name)
                if not rel:
                    continue
                if rel in names:
                    raise ArchiveError("member %r appears twice in the archive: refused" % member.name, member.name)
                names.add(rel)
                if member.issym():
                    _check_link(rel, member.linkname)
                    if not (member.linkname.startswith("/") and _FD_RECORD.search(rel)):
                        _second_opinion(member, dest)
                elif member.islnk():
                    target = _clean_name(member.linkname)
                    if target not in names:
                        raise ArchiveError("hard link %r -> %r does not point to a file before it: refused"
                                           % (member.name, member.linkname), member.name)
                elif member.isdev() or not (member.isreg() or member.isdir()):
                    kind = ("character device" if member.ischr() else "block device" if member.isblk()
                            else "FIFO" if member.isfifo() else "special file")
                    raise ArchiveError("member %r is a %s: refused (no device files)" % (member.name, kind),
                                       member.name)
                else:
                    _second_opinion(member, dest)
                members.append((rel, member))
        except ArchiveError:
            raise
        except _DAMAGED as exc:
            raise ArchiveError("%s is damaged or truncated: %s" % (path, exc))
        if select is not None and wanted is None:
            wanted = select([rel for rel, _ in members])
        for rel, member in members:
            if member.isreg() and (wanted is None or wanted(rel)):
                total += member.size
        if total > max_total:
            raise ArchiveError("%s unpacks to more than %d bytes: refused (cap)" % (path, max_total))
        info["bytes"] = total
        tops = set(rel.split("/", 1)[0] for rel, _ in members)
        if len(tops) == 1:
            top = next(iter(tops))
            if all("/" in rel or m.isdir() for rel, m in members):
                info["top"] = top
        kinds = dict((rel, m) for rel, m in members)
        for rel, member in members:
            if wanted is not None and not (member.isdir() or member.issym()) and not wanted(rel):
                continue
            if member.isdir():
                _real_parent(dest, rel + "/x")
                continue
            if member.isreg() and member.size > max_member:
                info["skipped"].append({"name": rel, "reason": "%d bytes, over the %d-byte cap: not extracted"
                                        % (member.size, max_member)})
                continue
            parent = _real_parent(dest, rel)
            target = os.path.join(parent, rel.rsplit("/", 1)[-1])
            if member.issym():
                os.symlink(member.linkname, target)
            elif member.islnk():
                source = _clean_name(member.linkname)
                src_member = kinds.get(source)
                if src_member is None or not src_member.isreg():
                    raise ArchiveError("hard link %r -> %r is not to a regular file: refused"
                                       % (member.name, member.linkname), member.name)
                src_path = os.path.join(dest, *source.split("/"))
                if not os.path.isfile(src_path) or os.path.islink(src_path):
                    info["skipped"].append({"name": rel, "reason": "hard link to a file that was not extracted"})
                    continue
                shutil.copyfile(src_path, target, follow_symlinks=False)
                info["extracted"] += 1
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                # An executable stays executable (a boot script's run-or-not is evidence: sysconfig/modules).
                fd = os.open(target, flags, 0o755 if member.mode & 0o111 else 0o644)
                try:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        _copy(handle, fd, member.size)
                finally:
                    os.close(fd)
                info["extracted"] += 1
        return info
    except ArchiveError:
        raise
    except _DAMAGED as exc:
        raise ArchiveError("%s is damaged or truncated: %s" % (path, exc))
    finally:
        tar.close()


def looks_like_sosreport(root):
    """An extracted sosreport has sos_commands/ and one of sos_logs/, sos_reports/, version.txt."""
    if not os.path.isdir(os.path.join(root, "sos_commands")):
        return False
    return any(os.path.exists(os.path.join(root, n)) for n in ("sos_logs", "sos_reports", "version.txt"))


@contextlib.contextmanager
def opened_root(path, tmp_dir=None, wanted=None, select=None, **caps):
    """Yield ``(root_directory, info)`` for a directory or an archive.

    A directory is used as it is (``info["archive"]`` is None). An archive is
    checked and extracted into a fresh private temporary directory, removed
    afterwards; its single top-level directory (a sosreport's
    ``sosreport-HOST-DATE/``, a snapshot's ``HOST-TIME/``) is the root.
    """
    if os.path.isdir(path):
        yield path, {"archive": None}
        return
    if not is_archive(path):
        raise ArchiveError("%s is neither a directory nor a tar archive (.tar.gz, .tar.xz, .tar.bz2)" % path)
    work = tempfile.mkdtemp(prefix="nodeaudit-", dir=tmp_dir)
    try:
        os.chmod(work, 0o700)
        info = extract(path, work, wanted=wanted, select=select, **caps)
        info["archive"] = path
        root = os.path.join(work, info["top"]) if info.get("top") else work
        yield root, info
    finally:
        shutil.rmtree(work, ignore_errors=True)
