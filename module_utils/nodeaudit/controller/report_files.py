"""Writing the three reports to disk, atomically (controller only).

Used by action_plugins/audit_report.py and scripts/merge_reports.py. Each file
goes to a temporary file in the destination directory, is flushed and
fsynced, then renamed over the old one: a report is whole or absent, never
partial, and a failed write leaves the previous report as it was.
"""
import errno
import os
import tempfile

from . import report

RENDERERS = (("json", report.to_json), ("xml", report.junit), ("md", report.markdown))


class ReportWriteError(OSError):
    """The reports could not be written; the message says why in an operator's words."""


def write_atomic(path, text):
    """Write text to path through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_reports(doc, dest, basename="audit"):
    """<dest>/<basename>.json, .xml and .md from the fleet document; the paths written."""
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest, 0o755)
        files = []
        for suffix, render in RENDERERS:
            path = os.path.join(dest, "%s.%s" % (basename, suffix))
            write_atomic(path, render(doc))
            files.append(path)
        return files
    except OSError as exc:
        why = "the file system is full" if exc.errno == errno.ENOSPC else exc.strerror
        raise ReportWriteError(exc.errno, "cannot write the reports in %s: %s (%s); no partial report was left"
                               % (dest, why, exc))
