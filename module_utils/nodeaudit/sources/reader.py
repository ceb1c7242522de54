"""Confined, size-capped reads under a root directory.

Live mode reads the node itself (root ``/``). Snapshot mode reads an extracted
copy of a node: every path is resolved *inside* the root (an absolute symlink
``/dev/vhost-net`` means ``<root>/dev/vhost-net``, ``..`` never climbs above
it), symlink loops are detected, and every read is capped, so a hostile or
broken snapshot can neither make the auditor read the controller's files nor
exhaust its memory.

Nothing here raises for a host's bad state: every call returns a ``Read`` that
says what was found and, when nothing usable was, why not.
"""
import errno
import os
import stat

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_SYMLINK_HOPS = 40

# The vocabulary of "why not".
OK = "ok"
MISSING = "missing"          # no such file: a fact, often a meaningful one
NOT_FILE = "not_file"        # a directory, socket, ... where a file was expected
TOO_LARGE = "too_large"      # over the size cap: not read
LOOP = "loop"                # symlink loop
DENIED = "denied"            # permission denied
ERROR = "error"              # any other OS error (vanished process, I/O error)


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


class RootReader(object):
    """Reads node paths (always written as absolute node paths, e.g. ``/proc/modules``)."""

    def __init__(self, root="/", max_bytes=DEFAULT_MAX_BYTES):
        self.root = os.path.abspath(root or "/")
        self.live = self.root == "/"
        self.max_bytes = int(max_bytes)
        # Snapshot mode: parent directory -> its resolution. A snapshot does not
        # change during one collect(), and /proc/<pid>/fd/<n> readlinks would
        # otherwise resolve the same directory thousands of times (bench profile).
        self._parents = {}

    # -- path resolution -------------------------------------------------
    def host_path(self, node_path):
        """Where a node path lives on this machine, resolved inside the root.

        Returns ``(host_path, None)`` or ``(None, Read)`` explaining the failure.
        The last component is resolved too (follow=True semantics).
        """
        return self._resolve(node_path, follow_last=True)

    def _resolve(self, node_path, follow_last):
        if self.live:
            return os.path.normpath("/" + node_path.lstrip("/")), None
        parts = [p for p in node_path.split("/") if p not in ("", ".")]
        resolved = []          # components below root, all real directories/files
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *(resolved + [part]))
            is_last = not parts
            try:
                st = os.lstat(candidate)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    # Not there: the rest cannot exist either.
                    return None, Read(node_path, MISSING, reason="%s does not exist" % node_path)
                return None, Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror))
            if stat.S_ISLNK(st.st_mode) and (follow_last or not is_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    return None, Read(node_path, LOOP, reason="%s: too many levels of symbolic links (loop)" % node_path)
                try:
                    target = os.readlink(candidate)
                except OSError as exc:
                    return None, Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror))
                target_parts = [p for p in target.split("/") if p not in ("", ".")]
                if target.startswith("/"):
                    resolved = []       # absolute links stay inside the root
                parts = target_parts + parts
                continue
            resolved.append(part)
        return os.path.join(self.root, *resolved) if resolved else self.root, None

    # -- reads -----------------------------------------------------------
    def read(self, node_path, binary=False, max_bytes=None):
        """Read a whole file, up to the cap. Over the cap: ``TOO_LARGE``, no data."""
        cap = self.max_bytes if max_bytes is None else int(max_bytes)
        path, failure = self.host_path(node_path)
        if failure is not None:
            return failure
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            return Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror))
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                return Read(node_path, NOT_FILE, reason="%s is a directory, not a file" % node_path)
            if not stat.S_ISREG(st.st_mode):
                return Read(node_path, NOT_FILE, reason="%s is not a regular file" % node_path)
            # st_size is 0 for /proc files: trust only what read() returns.
            chunks = []
            total = 0
            while total <= cap:
                chunk = os.read(fd, min(65536, cap + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
        except OSError as exc:
            return Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror))
        finally:
            os.close(fd)
        if len(data) > cap:
            return Read(node_path, TOO_LARGE, reason="%s is larger than the %d-byte cap: not read" % (node_path, cap))
        if not binary:
            data = data.decode("utf-8", "surrogateescape")
        return Read(node_path, OK, data)

    def read_tail(self, node_path, max_bytes):
        """The last ``max_bytes`` of a file (logs); ``truncated`` says whether the start was cut."""
        path, failure = self.host_path(node_path)
        if failure is not None:
            return failure
        try:
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return Read(node_path, NOT_FILE, reason="%s is not a regular file" % node_path)
                truncated = st.st_size > max_bytes
                if truncated:
                    handle.seek(st.st_size - max_bytes)
                data = handle.read(max_bytes)
        except OSError as exc:
            return Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror))
        if truncated:
            # Start at a line boundary so no half line is parsed.
            cut = data.find(b"\n")
            data = data[cut + 1:] if cut >= 0 else b""
        return Read(node_path, OK, data.decode("utf-8", "replace"), truncated=truncated)

    def listdir(self, node_path):
        """Entry names of a directory, sorted; ``data`` is the list."""
        path, failure = self.host_path(node_path)
        if failure is not None:
            return failure
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            status = _status_for(exc)
            if exc.errno == errno.ENOTDIR:
                status = NOT_FILE
            return Read(node_path, status, reason="%s: %s" % (node_path, exc.strerror))
        return Read(node_path, OK, names)

    def readlink(self, node_path):
        """The raw target of a symlink (``/proc/<pid>/fd/N``); the last component is not followed."""
        parent, _, name = node_path.rstrip("/").rpartition("/")
        if self.live:
            path = node_path
        else:
            key = parent or "/"
            if key not in self._parents:
                self._parents[key] = self._resolve(key, follow_last=True)
            parent_path, failure = self._parents[key]
            if failure is not None:
                return failure
            path = os.path.join(parent_path, name)
        try:
            return Read(node_path, OK, os.readlink(path))
        except OSError as exc:
            status = _status_for(exc)
            if exc.errno == errno.EINVAL:
                status = NOT_FILE
            return Read(node_path, status, reason="%s: %s" % (node_path, exc.strerror))

    def stat(self, node_path, follow=True):
        """``os.stat`` of a node path (inside the root); ``data`` is the stat result."""
        path, failure = self._resolve(node_path, follow_last=follow)
        if failure is not None:
            return failure
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except OSError as exc:
            return Read(node_path, _status_for(exc), reason="%s: %s" % (node_path, exc.strerror))
        return Read(node_path, OK, st)

    def exists(self, node_path):
        """Whether anything (even a dangling link) is at the path."""
        return self.stat(node_path, follow=False).ok
