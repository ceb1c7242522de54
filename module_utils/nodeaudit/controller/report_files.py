"""Writing the reports to disk, atomically (controller only).

Used by action_plugins/audit_report.py and scripts/merge_reports.py. Each file
goes to a temporary file in the destination directory, is flushed and
fsynced, then renamed over the old one: a report is whole or absent, never
partial, and a failed write leaves the previous report as it was.

The report a run replaces is kept as ``<basename>.previous.json`` (history:
the next report says what changed since it).
"""
import errno
import json
import os
import tempfile

from . import report

RENDERERS = (("json", report.to_json), ("xml", report.junit), ("md", report.markdown))


class ReportWriteError(OSError):
    """The reports could not be written; the message says why in an operator's words."""


def write_atomic(path, text, mode=0o644):
    """Write text to path through a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
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


def write_reports(doc, dest, basename="audit", keep_previous=True, markdown_budget=report.MARKDOWN_BUDGET):
    """<dest>/<basename>.json, .xml and .md from the fleet document; the paths written.

    With ``keep_previous`` the JSON being replaced is kept as
    ``<basename>.previous.json`` first (copied atomically).
    """
    try:
        if not os.path.isdir(dest):
            os.makedirs(dest, 0o755)
        files = []
        current = os.path.join(dest, "%s.json" % basename)
        if keep_previous and load_report(current) is not None:
            with open(current, encoding="utf-8") as handle:
                write_atomic(os.path.join(dest, "%s.previous.json" % basename), handle.read())
        for suffix, render in RENDERERS:
            path = os.path.join(dest, "%s.%s" % (basename, suffix))
            if suffix == "md":
                text = report.markdown(doc, budget=markdown_budget, json_name="%s.json" % basename)
            else:
                text = render(doc)
            write_atomic(path, text)
            files.append(path)
        return files
    except OSError as exc:
        raise ReportWriteError(exc.errno, "cannot write the reports in %s: %s (%s); no partial report was left"
                               % (dest, _why(exc), exc))


