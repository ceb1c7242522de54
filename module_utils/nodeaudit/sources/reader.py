"""Confined, size-capped, type-checked, time-bounded reads under a root directory.

Live mode reads the node itself (root ``/``). Snapshot mode reads an extracted
copy of a node: every path is resolved *inside* the root (an absolute symlink
``/dev/vhost-net`` means ``<root>/dev/vhost-net``, ``..`` never climbs above
it), symlink loops are detected, and every read is capped, so a hostile or
broken snapshot can neither make the auditor read the controller's files nor
exhaust its memory.

Bounded by construction (issue 14):

* **type-checked before it is opened**: a path is ``stat``-ed first and only a
  regular file is opened (a FIFO, a socket or a device node never is: opening
  a FIFO blocks, opening a device can act on it); the open itself is
  ``O_NONBLOCK | O_NOCTTY`` (and ``O_NOFOLLOW`` in snapshot mode, where every
  link was already resolved inside the root), and ``fstat`` after the open
  checks that the same regular file was opened;
* **confinement costs O(path length)**: snapshot paths are resolved one
  component at a time *relative to a directory fd* (``lstat``/``readlink``/
  ``openat`` with ``dir_fd``), never by re-walking the whole joined path per
  component; resolved parent directories are kept in a small fd cache
  (``/proc/<pid>/fd/<n>`` readlinks share one); symlink hops (40) and the
  components walked per path (``MAX_COMPONENTS``) are capped;
* **time-bounded**: a reader may carry a deadline (``budget`` seconds); once it
  has passed, every call returns ``TIMEOUT`` at once, so a slow file system
  cannot stretch one node's collection without end (the module's async
  timeout in roles/compute_audit is the hard bound above this one);
* **a snapshot root is never the live root**: a root that resolves to ``/``
  (a symlink to ``/``, ``/tmp/../``) is refused (``RootRefused``), so the
  controller is never audited as "snapshot".

Nothing here raises for a host's bad state: every call returns a ``Read`` that
says what was found and, when nothing usable was, why not.
"""
import collections
import errno
import os
import stat
import time

from .. import caps

DEFAULT_MAX_BYTES = caps.MAX_FILE_BYTES
MAX_SYMLINK_HOPS = 40
# Components walked while resolving one path, links included (Linux walks at
# most PATH_MAX/2 per string and 40 links; a deeper walk is a maze, not a node).
MAX_COMPONENTS = 8192
FD_CACHE = 128

# The vocabulary of "why not".
OK = "ok"
MISSING = "missing"          # no such file: a fact, often a meaningful one
NOT_FILE = "not_file"        # a directory, FIFO, socket, device ... where a file was expected
TOO_LARGE = "too_large"      # over the size cap: not read
LOOP = "loop"                # symlink loop (or a path too deep to be a node's)
DENIED = "denied"            # permission denied
TIMEOUT = "timeout"          # the reader's time budget ran out before this read
ERROR = "error"              # any other OS error (vanished process, I/O error)

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
# O_PATH: a handle on a directory without read permission on it (like the kernel's own walk).
_O_WALK = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | _O_NOFOLLOW | \
    getattr(os, "O_CLOEXEC", 0)


class RootRefused(ValueError):
    """The snapshot root cannot be audited as a snapshot (it is the live root, or not a directory)."""


class Read(object):
    """The outcome of one read: ``status`` is one of the constants above."""

    __slots__ = ("path", "status", "data", "reason", "truncated")

    def __init__(self, path, status, data=None, reason=None, truncated=False):
        self.path = path
        self.status = status
        self.data = data
        self.reason = reason
        self.truncated = truncated

    @property
    def ok(self):
        return self.status == OK

    def text(self):
        if self.data is None:
            return None
        if isinstance(self.data, bytes):
            return self.data.decode("utf-8", "replace")
        return self.data

    def __repr__(self):
        return "Read(%r, %r, reason=%r)" % (self.path, self.status, self.reason)


def _status_for(exc):
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ESRCH):
        return MISSING
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DENIED
    if exc.errno == errno.ELOOP:
        return LOOP
    if exc.errno == errno.EISDIR:
        return NOT_FILE
    return ERROR


def _failed(node_path, exc):
    return Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror or exc))


def _lstat(node_path, name, dir_fd):
    """``(lstat of name in dir_fd, None)`` or ``(None, Read)``: missing when it (or a parent) is not there."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False), None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, Read(node_path, MISSING, reason="%s does not exist" % node_path)
        return None, _failed(node_path, exc)


def file_kind(mode):
    """What a non-regular file is, in words (for reasons)."""
    for test, word in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return word
    return "not a regular file"


def _not_regular(node_path, mode):
    if stat.S_ISDIR(mode):
        return Read(node_path, NOT_FILE, reason="%s is a directory, not a file" % node_path)
    return Read(node_path, NOT_FILE, reason="%s is %s, not a regular file: not opened" % (node_path, file_kind(mode)))


class _Loc(object):
    """A resolved snapshot path: ``name`` inside the directory ``dir_fd`` (``name`` None: the directory itself).

    ``st``: the lstat of ``name`` taken while resolving it (None for a directory itself), so a read
    checks the type before it opens without a second stat.
    """

    __slots__ = ("dir_fd", "name", "depth", "owned", "st")

    def __init__(self, dir_fd, name, depth, owned, st=None):
        self.dir_fd = dir_fd
        self.name = name
        self.depth = depth
        self.owned = owned
        self.st = st


class RootReader(object):
    """Reads node paths (always written as absolute node paths, e.g. ``/proc/modules``).

    ``budget``: seconds this reader may spend; after that every call returns ``TIMEOUT``.
    """

    def __init__(self, root="/", max_bytes=DEFAULT_MAX_BYTES, budget=None, clock=None):
        given = root or "/"
        self.root = os.path.abspath(given)
        self.live = self.root == "/"
        # Paths are resolved inside the root (snapshot rules) exactly when the root is not /.
        self._confined = not self.live
        if not self.live:
            real = os.path.realpath(self.root)
            if real == "/":
                raise RootRefused("snapshot root %s resolves to / (the machine running the audit): "
                                  "refused, it would audit this machine as a snapshot" % given)
        self.max_bytes = int(max_bytes)
        self._clock = clock or time.monotonic
        self.deadline = None if budget is None else self._clock() + float(budget)
        self.timed_out = []          # node paths not read because the budget ran out
        self._root_fd = None
        # Snapshot mode: node parent directory -> (fd, depth). A snapshot does not
        # change during one collect(), and /proc/<pid>/fd/<n> readlinks would
        # otherwise resolve the same directory thousands of times (bench profile).
        self._dirs = collections.OrderedDict()
        if not self.live:
            try:
                self._root_fd = os.open(self.root, _O_WALK & ~_O_NOFOLLOW)
            except OSError as exc:
                raise RootRefused("snapshot root %s cannot be opened: %s" % (given, exc.strerror))

    # -- lifetime ----------------------------------------------------------
    def close(self):
        for fd, _depth in self._dirs.values():
            self._close(fd)
        self._dirs.clear()
        if self._root_fd is not None:
            self._close(self._root_fd)
            self._root_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    @staticmethod
    def _close(fd):
        try:
            os.close(fd)
        except OSError:  # pragma: no cover
            pass

    # -- the time budget -----------------------------------------------------
    def _expired(self, node_path):
        if self.deadline is None or self._clock() < self.deadline:
            return None
        if len(self.timed_out) < 20:
            self.timed_out.append(node_path)
        return Read(node_path, TIMEOUT, reason="%s: not read, the audit's time budget ran out" % node_path)

    # -- path resolution (snapshot mode) --------------------------------------
    def _walk(self, node_path, start_fd, depth, parts, follow_last):
        """Resolve ``parts`` from the directory ``start_fd`` (at ``depth`` below the root).

        Returns ``(_Loc, None)`` (release it with ``_release``) or ``(None, Read)``.
        Each step is one syscall relative to the current directory fd: the walk costs
        O(components), whatever the depth (the old walk lstat-ed the whole joined
        path per component: O(depth^2), 27 s for one read in a 2,000-deep maze).
        """
        cur, owned = start_fd, False
        parts = collections.deque(p for p in parts if p not in ("", "."))
        hops = 0
        walked = 0

        def move(new_fd, cur, owned):
            if owned:
                os.close(cur)
            return new_fd, True

        try:
            while parts:
                part = parts.popleft()
                walked += 1
                if walked > MAX_COMPONENTS:
                    return None, Read(node_path, LOOP, reason="%s: more than %d path components to resolve "
                                                              "(a symlink maze): not read" % (node_path, MAX_COMPONENTS))
                if part == "..":
                    if depth > 0:
                        cur, owned = move(os.open("..", _O_WALK, dir_fd=cur), cur, owned)
                        depth -= 1
                    continue
                is_last = not parts
                st, failure = _lstat(node_path, part, cur)
                if failure is not None:
                    return None, failure
                if stat.S_ISLNK(st.st_mode) and (follow_last or not is_last):
                    hops += 1
                    if hops > MAX_SYMLINK_HOPS:
                        return None, Read(node_path, LOOP,
                                          reason="%s: too many levels of symbolic links (loop)" % node_path)
                    target = os.readlink(part, dir_fd=cur)
                    if target.startswith("/"):
                        cur, owned = move(os.dup(self._root_fd), cur, owned)   # absolute links stay inside the root
                        depth = 0
                    parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
                    continue
                if is_last:
                    loc = _Loc(cur, part, depth, owned, st)
                    owned = False
                    return loc, None
                if not stat.S_ISDIR(st.st_mode):
                    return None, Read(node_path, MISSING, reason="%s does not exist" % node_path)
                cur, owned = move(os.open(part, _O_WALK, dir_fd=cur), cur, owned)
                depth += 1
            loc = _Loc(cur, None, depth, owned)
            owned = False
            return loc, None
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None, Read(node_path, MISSING, reason="%s does not exist" % node_path)
            return None, _failed(node_path, exc)
        finally:
            if owned:
                os.close(cur)

    @staticmethod
    def _release(loc):
        if loc.owned:
            os.close(loc.dir_fd)

    def _dir(self, node_dir):
        """The cached (fd, depth) of a node directory, or (None, Read)."""
        hit = self._dirs.get(node_dir)
        if hit is not None:
            self._dirs.move_to_end(node_dir)
            return hit, None
        # From the cached parent when there is one (one step: /proc/<pid>/fd after /proc/<pid>),
        # else from the root. Either way the same directory: the parent entry is itself resolved.
        parent, _, name = node_dir.rpartition("/")
        above = self._dirs.get(parent or "/") if name not in ("", ".", "..") else None
        if above is not None:
            # One syscall for the common case: O_DIRECTORY|O_NOFOLLOW opens only a real directory;
            # a symbolic link (ELOOP/ENOTDIR) or anything odd takes the walk, which says why.
            try:
                entry = (os.open(name, _O_WALK, dir_fd=above[0]), above[1] + 1)
            except OSError:
                entry = None
            if entry is not None:
                return self._remember(node_dir, entry), None
            loc, failure = self._walk(node_dir, above[0], above[1], [name], True)
        else:
            loc, failure = self._walk(node_dir, self._root_fd, 0, node_dir.split("/"), True)
        if failure is not None:
            return None, failure
        if loc.name is not None:
            try:
                fd = os.open(loc.name, _O_WALK, dir_fd=loc.dir_fd)
            except OSError as exc:
                return None, (Read(node_dir, MISSING, reason="%s does not exist" % node_dir)
                              if exc.errno in (errno.ENOENT, errno.ENOTDIR) else _failed(node_dir, exc))
            finally:
                self._release(loc)
            entry = (fd, loc.depth + 1)
        else:
            entry = (loc.dir_fd if loc.owned else os.dup(loc.dir_fd), loc.depth)
        return self._remember(node_dir, entry), None

    def _remember(self, node_dir, entry):
        """Cache a resolved directory (the least recently used one is closed past FD_CACHE)."""
        self._dirs[node_dir] = entry
        if len(self._dirs) > FD_CACHE:
            _old, (old_fd, _d) = self._dirs.popitem(last=False)
            os.close(old_fd)
        return entry

    def _locate(self, node_path, follow_last):
        """Snapshot mode: ``(_Loc, None)`` (caller ``_release``-s it), or ``(None, Read)``."""
        clean = "/" + "/".join(p for p in node_path.split("/") if p not in ("", "."))
        parent, _, name = clean.rpartition("/")
        if not name or name == "..":
            return self._walk(node_path, self._root_fd, 0, clean.split("/"), follow_last)
        entry, failure = self._dir(parent or "/")
        if failure is not None:
            return None, (failure if failure.path == node_path
                          else Read(node_path, failure.status,
                                    reason=(failure.reason or "").replace(failure.path, node_path, 1)
                                    if failure.status == MISSING else failure.reason))
        fd, depth = entry
        # The common case, inlined (what _walk does for one last component): one lstat in the
        # cached parent; only a symbolic link to follow takes the walk.
        st, failure = _lstat(node_path, name, fd)
        if failure is not None:
            return None, failure
        if follow_last and stat.S_ISLNK(st.st_mode):
            return self._walk(node_path, fd, depth, [name], follow_last)
        return _Loc(fd, name, depth, False, st), None

    def host_path(self, node_path):
        """Where a node path lives on this machine, resolved inside the root (for messages and tests).

        Returns ``(host_path, None)`` or ``(None, Read)`` explaining the failure.
        """
        if not self._confined:
            return os.path.normpath("/" + node_path.lstrip("/")), None
        loc, failure = self._locate(node_path, True)
        if failure is not None:
            return None, failure
        try:
            base = os.readlink("/proc/self/fd/%d" % loc.dir_fd)
        except OSError:  # pragma: no cover - no /proc
            base = self.root
        finally:
            self._release(loc)
        return (os.path.join(base, loc.name) if loc.name else base), None

    # -- reads -----------------------------------------------------------
    def _read_fd(self, node_path, fd, cap):
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, _not_regular(node_path, st.st_mode)
        # st_size is 0 for /proc files: trust only what read() returns.
        chunks = []
        total = 0
        while total <= cap:
            chunk = os.read(fd, min(65536, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks), None

    def _open_regular(self, node_path):
        """An fd on a regular file, after checking its type; ``(fd, None)`` or ``(None, Read)``."""
        expired = self._expired(node_path)
        if expired is not None:
            return None, expired
        if not self._confined:
            path = os.path.normpath("/" + node_path.lstrip("/"))
            try:
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode):
                    return None, _not_regular(node_path, st.st_mode)
                fd = os.open(path, _O_FLAGS)
            except OSError as exc:
                return None, _failed(node_path, exc)
        else:
            loc, failure = self._locate(node_path, True)
            if failure is not None:
                return None, failure
            try:
                if loc.name is None:
                    return None, Read(node_path, NOT_FILE, reason="%s is a directory, not a file" % node_path)
                st = loc.st
                if not stat.S_ISREG(st.st_mode):
                    return None, _not_regular(node_path, st.st_mode)
                fd = os.open(loc.name, _O_FLAGS | _O_NOFOLLOW, dir_fd=loc.dir_fd)
            except OSError as exc:
                return None, _failed(node_path, exc)
            finally:
                self._release(loc)
        try:
            now = os.fstat(fd)
        except OSError as exc:  # pragma: no cover
            os.close(fd)
            return None, _failed(node_path, exc)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            os.close(fd)
            return None, Read(node_path, ERROR, reason="%s changed while it was opened: not read" % node_path)
        return fd, None

    def read(self, node_path, binary=False, max_bytes=None):
        """Read a whole file, up to the cap. Over the cap: ``TOO_LARGE``, no data."""
        cap = self.max_bytes if max_bytes is None else int(max_bytes)
        fd, failure = self._open_regular(node_path)
        if failure is not None:
            return failure
        try:
            data, failure = self._read_fd(node_path, fd, cap)
        except OSError as exc:
            return _failed(node_path, exc)
        finally:
            os.close(fd)
        if failure is not None:
            return failure
        if len(data) > cap:
            return Read(node_path, TOO_LARGE, reason="%s is larger than the %d-byte cap: not read" % (node_path, cap))
        if not binary:
            data = data.decode("utf-8", "surrogateescape")
        return Read(node_path, OK, data)

    def read_tail(self, node_path, max_bytes):
        """The last ``max_bytes`` of a file (logs); ``truncated`` says whether the start was cut."""
        fd, failure = self._open_regular(node_path)
        if failure is not None:
            return failure
        try:
            size = os.fstat(fd).st_size
            truncated = size > max_bytes
            if truncated:
                os.lseek(fd, size - max_bytes, os.SEEK_SET)
            chunks = []
            total = 0
            while total < max_bytes:
                chunk = os.read(fd, min(65536, max_bytes - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            return _failed(node_path, exc)
        finally:
            os.close(fd)
        if truncated:
            # Start at a line boundary so no half line is parsed.
            cut = data.find(b"\n")
            data = data[cut + 1:] if cut >= 0 else b""
        return Read(node_path, OK, data.decode("utf-8", "replace"), truncated=truncated)

    def listdir(self, node_path):
        """Entry names of a directory, sorted; ``data`` is the list (non-UTF-8 names surrogate-escaped)."""
        expired = self._expired(node_path)
        if expired is not None:
            return expired
        try:
            if not self._confined:
                names = os.listdir(os.path.normpath("/" + node_path.lstrip("/")))
            else:
                loc, failure = self._locate(node_path, True)
                if failure is not None:
                    return failure
                try:
                    fd = os.open(loc.name, _O_DIR | _O_NOFOLLOW, dir_fd=loc.dir_fd) if loc.name else \
                        os.open(".", _O_DIR, dir_fd=loc.dir_fd)
                finally:
                    self._release(loc)
                try:
                    names = os.listdir(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            status = _status_for(exc)
            if exc.errno == errno.ENOTDIR:
                status = NOT_FILE
            return Read(node_path, status, reason="%s: %s" % (node_path, exc.strerror))
        return Read(node_path, OK, sorted(names))

    def readlink(self, node_path):
        """The raw target of a symlink (``/proc/<pid>/fd/N``); the last component is not followed."""
        expired = self._expired(node_path)
        if expired is not None:
            return expired
        try:
            if not self._confined:
                target = os.readlink(node_path)
            else:
                loc, failure = self._locate(node_path, False)
                if failure is not None:
                    return failure
                try:
                    if loc.name is None:
                        return Read(node_path, NOT_FILE, reason="%s: not a symbolic link" % node_path)
                    target = os.readlink(loc.name, dir_fd=loc.dir_fd)
                finally:
                    self._release(loc)
        except OSError as exc:
            status = _status_for(exc)
            if exc.errno == errno.EINVAL:
                status = NOT_FILE
            return Read(node_path, status, reason="%s: %s" % (node_path, exc.strerror))
        return Read(node_path, OK, target)

    def stat(self, node_path, follow=True):
        """``os.stat`` of a node path (inside the root); ``data`` is the stat result. Never opens the file."""
        expired = self._expired(node_path)
        if expired is not None:
            return expired
        try:
            if not self._confined:
                path = os.path.normpath("/" + node_path.lstrip("/"))
                st = os.stat(path) if follow else os.lstat(path)
            else:
                loc, failure = self._locate(node_path, follow)
                if failure is not None:
                    return failure
                try:
                    st = os.stat(loc.name, dir_fd=loc.dir_fd, follow_symlinks=False) if loc.name else \
                        os.fstat(loc.dir_fd)
                finally:
                    self._release(loc)
        except OSError as exc:
            return _failed(node_path, exc)
        return Read(node_path, OK, st)

    def exists(self, node_path):
        """Whether anything (even a dangling link) is at the path."""
        return self.stat(node_path, follow=False).ok
