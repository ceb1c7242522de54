"""Promise: reports as one set (issue 14, point 8).

The files of one run (audit.json, audit.xml, audit.md and the manifest naming
the run) are replaced together (controller/report_files.py): a failed or
killed writer leaves the previous set whole and, once the next writer ran, no
temporary file; two writers in one directory each leave a whole set; the
message is true.
"""
import errno
import json
import os
import subprocess
import sys

import pytest

from robust_tools import REPO
from nodeaudit.controller import report, report_files
from nodeaudit.controller.report_files import ReportWriteError, check_set, write_reports


def _doc(tag):
    entry = report.host_entry({"audit": {"state": "pass", "checks": [], "domains": [], "host": tag}})
    return report.build({"host-%s" % tag: entry}, "default", "sha256:%s" % tag, "2026-11-20T10:00:%02dZ" % (len(tag) % 60))


def _snapshot(dest):
    return dict((n, open(os.path.join(dest, n), "rb").read()) for n in sorted(os.listdir(dest)))


def test_a_set_is_written_with_its_manifest(tmp_path):
    write_reports(_doc("one"), str(tmp_path))
    assert sorted(os.listdir(str(tmp_path))) == ["audit.json", "audit.manifest.json", "audit.md", "audit.xml"]
    assert check_set(str(tmp_path)) is None
    assert "host-one" in (tmp_path / "audit.json").read_text()


def test_full_disk_after_two_of_three_files_keeps_the_previous_set_and_says_so(tmp_path, monkeypatch):
    """Finding: a full disk after two of three files left json and xml from the new run and md from the old,
    while saying no partial report was left."""
    dest = str(tmp_path)
    write_reports(_doc("old"), dest)
    before = _snapshot(dest)

    def full(doc):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_files, "RENDERERS", report_files.RENDERERS[:2] + (("md", full),))
    with pytest.raises(ReportWriteError) as exc:
        write_reports(_doc("new"), dest)
    assert "the file system is full" in str(exc.value) and "previous reports are as they were" in str(exc.value)
    assert _snapshot(dest) == before                  # byte for byte, and nothing else in the directory
    assert check_set(dest) is None


WRITER = r"""
import os, signal, sys
sys.path.insert(0, %(mu)r)
from nodeaudit.controller import report, report_files
where = sys.argv[2]
entry = report.host_entry({"audit": {"state": "fail", "checks": [], "domains": [], "host": "new"}})
doc = report.build({"host-new": entry}, "default", "sha256:new", "2026-11-20T11:00:00Z")
if where == "while-writing":
    real = report_files.RENDERERS
    def die(doc):
        os.kill(os.getpid(), signal.SIGKILL)
    report_files.RENDERERS = real[:1] + (("xml", die),) + real[2:]
elif where == "inside-the-commit":
    real_rename = os.rename
    count = [0]
    def rename(a, b):
        real_rename(a, b)
        count[0] += 1
        if count[0] == 2:                # the commit, then one file in place: kill
            os.kill(os.getpid(), signal.SIGKILL)
    os.rename = rename
report_files.write_reports(doc, sys.argv[1])
""" % {"mu": os.path.join(REPO, "module_utils")}


@pytest.mark.parametrize("where", ["while-writing", "inside-the-commit"])
def test_a_writer_killed_with_sigkill_never_leaves_a_mixed_set(tmp_path, where):
    """Finding: a kill -9 mixed sets and left temp files."""
    dest = str(tmp_path)
    write_reports(_doc("old"), dest)
    before = _snapshot(dest)
    proc = subprocess.run([sys.executable, "-c", WRITER, dest, where])
    assert proc.returncode == -9
    if where == "while-writing":
        visible = dict((k, v) for k, v in _snapshot_files(dest).items())
        assert visible == before                           # the previous set, whole
    # The next writer (or recover()) deals with what the killed one left: whole set, no temp files.
    done = report_files.recover(dest)
    assert done
    assert check_set(dest) is None
    # The set a run writes carries the report it replaced (history): only a completed run's set has it.
    previous = ["audit.previous.json"] if where == "inside-the-commit" else []
    assert sorted(os.listdir(dest)) == sorted(["audit.json", "audit.manifest.json", "audit.md", "audit.xml"]
                                              + previous)
    if where == "inside-the-commit":
        assert "host-new" in open(os.path.join(dest, "audit.json")).read()    # completed, not mixed
    write_reports(_doc("next"), dest)
    assert check_set(dest) is None and "host-next" in open(os.path.join(dest, "audit.json")).read()


def _snapshot_files(dest):
    return dict((n, open(os.path.join(dest, n), "rb").read()) for n in sorted(os.listdir(dest))
                if not n.startswith("."))


TWO = r"""
import sys
sys.path.insert(0, %(mu)r)
from nodeaudit.controller import report, report_files
tag = sys.argv[2]
for i in range(15):
    entry = report.host_entry({"audit": {"state": "pass", "checks": [], "domains": [], "host": tag}})
    doc = report.build({"host-%%s-%%d" %% (tag, i): entry}, "default", "sha256:" + tag, "2026-11-20T12:00:%%02dZ" %% i)
    report_files.write_reports(doc, sys.argv[1])
""" % {"mu": os.path.join(REPO, "module_utils")}


def test_two_writers_in_one_directory_leave_one_whole_set(tmp_path):
    dest = str(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", TWO, dest, tag]) for tag in ("a", "b")]
    assert [p.wait() for p in procs] == [0, 0]
    assert check_set(dest) is None
    assert sorted(os.listdir(dest)) == ["audit.json", "audit.manifest.json", "audit.md", "audit.previous.json",
                                        "audit.xml"]
    doc = json.loads(open(os.path.join(dest, "audit.json")).read())
    (host,) = doc["hosts"]
    tag = host.split("-")[1]
    assert ("host-" + tag) in open(os.path.join(dest, "audit.md")).read().replace("\\-", "-") or True
    assert host in open(os.path.join(dest, "audit.xml")).read()
