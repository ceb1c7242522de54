"""Writing the reports of one run to disk as one set (controller only; issue 14, point 8).

Used by action_plugins/audit_report.py and scripts/merge_reports.py. The files
of a run (``<basename>.json``, ``.xml``, ``.md`` and ``<basename>.manifest.json``,
which names the run and each file's sha256) are replaced together:

1. the destination directory is locked (``flock`` on the directory itself:
   no lock file), so two writers in one directory take turns and each
   leaves a whole set;
2. what a killed writer left is dealt with first (``recover``): a staging
   directory is removed, a commit directory is completed;
3. every file is written into a new hidden directory
   ``.<basename>.new-XXXX`` in the destination and fsynced; a failure here
   (a full disk after two of three files) removes that directory and leaves
   the previous set exactly as it was;
4. the staging directory is renamed to ``.<basename>.commit`` (one atomic
   rename: the commit point), then each file is renamed into place (renames
   only, nothing is written any more), the manifest last, and the commit
   directory removed.

A writer killed before the commit point leaves the previous set whole (its
staging directory is removed by the next writer); one killed inside step 4
leaves the commit directory, and the next writer or ``recover()`` completes
the new set from it, so no mixed set survives a writer. The manifest lets a
reader check that the files it holds are one run's (``check_set``).

The report a run replaces is kept as ``<basename>.previous.json`` (history:
the next report says what changed since it); it is part of the new set, so
a failed run keeps the previous pair as it was too.
"""
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile

from . import report

RENDERERS = (("json", report.to_json), ("xml", report.junit), ("md", report.markdown))
MANIFEST = "manifest.json"


class ReportWriteError(OSError):
    """The reports could not be written; the message says why in an operator's words."""


def write_atomic(path, text, mode=0o644):
    """Write text (or bytes) to path through a temporary file in the same directory, fsynced, and a rename:
    the file is whole or absent."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        binary = isinstance(text, (bytes, bytearray))
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_report(path):
    """A fleet report read back, or None when there is none or it is not one (history starts again)."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("hosts"), dict) else None


def _why(exc):
    return "the file system is full" if exc.errno == errno.ENOSPC else exc.strerror


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit_dir(dest, basename):
    return os.path.join(dest, ".%s.commit" % basename)


def _install(dest, basename):
    """Rename every file of the commit directory into place, the manifest last; remove the directory."""
    commit = _commit_dir(dest, basename)
    names = sorted(os.listdir(commit), key=lambda n: (n.endswith(MANIFEST), n))
    for name in names:
        os.rename(os.path.join(commit, name), os.path.join(dest, name))
    _fsync_dir(dest)
    os.rmdir(commit)


def recover(dest, basename="audit"):
    """Finish what a killed writer left in ``dest`` (call with the directory locked): completes a commit,
    removes staging directories. Returns what it did, in words (empty when there was nothing)."""
    done = []
    prefix = ".%s.new-" % basename
    for name in os.listdir(dest):
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(dest, name), ignore_errors=True)
            done.append("removed %s (a writer stopped before its commit; the previous set was kept)" % name)
    if os.path.isdir(_commit_dir(dest, basename)):
        _install(dest, basename)
        done.append("completed the set a writer committed and did not finish installing")
    return done


def check_set(dest, basename="audit"):
    """``None`` when the files in ``dest`` are the set the manifest names, else why not (in words)."""
    try:
        with open(os.path.join(dest, "%s.%s" % (basename, MANIFEST)), encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:
        return "no readable manifest: %s" % exc
    for name, digest in sorted(manifest.get("files", {}).items()):
        try:
            with open(os.path.join(dest, name), "rb") as handle:
                got = "sha256:" + hashlib.sha256(handle.read()).hexdigest()
        except OSError as exc:
            return "%s: %s" % (name, exc)
        if got != digest:
            return "%s is not the file of run %s" % (name, manifest.get("run"))
    return None


class _Locked(object):
    def __init__(self, dest):
        self.fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def write_reports(doc, dest, basename="audit", keep_previous=True, markdown_budget=report.MARKDOWN_BUDGET):
    """<dest>/<basename>.json, .xml, .md and .manifest.json from the fleet document, as one set; the paths.

    With ``keep_previous`` the JSON being replaced goes into the same set as
    ``<basename>.previous.json``.
    """
    staging = None
    committed = False
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest, 0o755)
        with _Locked(dest):
            recover(dest, basename)
            staging = tempfile.mkdtemp(prefix=".%s.new-" % basename, dir=dest)
            files, digests = [], {}
            outputs = []
            current = os.path.join(dest, "%s.json" % basename)
            if keep_previous and load_report(current) is not None:
                with open(current, "rb") as handle:
                    outputs.append(("%s.previous.json" % basename, handle.read(), False))
            for suffix, render in RENDERERS:
                if render is report.markdown:
                    text = render(doc, budget=markdown_budget, json_name="%s.json" % basename)
                else:
                    text = render(doc)
                outputs.append(("%s.%s" % (basename, suffix), text.encode("utf-8"), True))
            for name, data, listed in outputs:
                with open(os.path.join(staging, name), "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(os.path.join(staging, name), 0o644)
                digests[name] = "sha256:" + hashlib.sha256(data).hexdigest()
                if listed:
                    files.append(os.path.join(dest, name))
            manifest = {"run": "%s %s" % (doc.get("generated_at"), os.path.basename(staging)[-8:]),
                        "generated_at": doc.get("generated_at"), "files": digests}
            name = "%s.%s" % (basename, MANIFEST)
            with open(os.path.join(staging, name), "w", encoding="utf-8") as handle:
                json.dump(manifest, handle, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(os.path.join(staging, name), 0o644)
            os.chmod(staging, 0o755)
            _fsync_dir(staging)
            os.rename(staging, _commit_dir(dest, basename))      # the commit point
            staging, committed = None, True
            _install(dest, basename)
            return files
    except OSError as exc:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
        why = _why(exc)
        if committed:
            raise ReportWriteError(exc.errno, "cannot finish replacing the reports in %s: %s (%s); the new set is "
                                   "whole in %s and the next run completes it"
                                   % (dest, why, exc, _commit_dir(dest, basename)))
        raise ReportWriteError(exc.errno, "cannot write the reports in %s: %s (%s); the previous reports are as "
                               "they were, no partial report was left" % (dest, why, exc))
