"""Differential test: what the boot job does when it sources /etc/default/qemu-kvm, against the real dash.

Generated defaults files (hypothesis; with a second file sourced by ``.``) are
sourced by the real ``/bin/sh`` (dash) the way the Ubuntu jobs do
(``[ -r FILE ] && . FILE``, then ``if [ "$VHOST_NET_ENABLED" = "1" ]; then
modprobe -b vhost_net || true; fi``), with ``sh -e`` as trusty's upstart
job and plain ``sh`` as xenial's qemu-kvm-init; a stub ``modprobe`` on PATH
records the call. ``shellvars.boot_job_outcome`` must say the same on every
case where it decides; on the cases built only of what it claims to read it
must decide. A failure names the files and the mode that differed.
"""
import os
import shutil
import stat
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nodeaudit.parsers import shellvars

DASH = shutil.which("dash") or "/bin/sh"
pytestmark = pytest.mark.skipif(not os.path.exists(DASH), reason="needs dash")

JOB = """\
[ -r "$1" ] && . "$1"
if [ "$VHOST_NET_ENABLED" = "1" ]; then
    modprobe -b vhost_net || true
fi
echo END
"""

# (line, decidable: the reader claims to know what dash does with it)
LINES = [
    ("VHOST_NET_ENABLED=1", True), ("VHOST_NET_ENABLED=0", True), ("export VHOST_NET_ENABLED=1", True),
    ("VHOST_NET_ENABLED='1'", True), ("VHOST_NET_ENABLED=\"1 \"", True), ("unset VHOST_NET_ENABLED", True),
    ("KSM_ENABLED=AUTO", True), ("# To load the vhost_net module, set VHOST_NET_ENABLED to 1.", True), ("", True),
    ("false", True), ("true", True), (":", True), ("echo hello", True), ("exit 0", True), ("exit 1", True),
    ("return", True), ("return 0", True), (". {INC}", True), (". /nonexistent/qemu-kvm.extra", True),
    ("set -e", True), ("set +e", True), ("false || true", True), ("true && false", True),
    ("VHOST_NET_ENABLED=1 :", True), ("VHOST_NET_ENABLED=1; false", True), ("readonly VHOST_NET_ENABLED", True),
    ("X='unterminated", True),
    ("if true; then VHOST_NET_ENABLED=1; fi", False), ("logger -t qemu-kvm hi", False), ("A=$(false)", False),
    ("VHOST_NET_ENABLED=$(echo 1)", False), ("eval VHOST_NET_ENABLED=1", False),
]


@st.composite
def files(draw):
    main = draw(st.lists(st.sampled_from(LINES), max_size=6))
    inc = draw(st.lists(st.sampled_from([l for l in LINES if "{INC}" not in l[0]]), max_size=4))
    return main, inc


def _real(main_text, inc_text, errexit, workdir):
    stub = os.path.join(workdir, "bin")
    os.makedirs(stub, exist_ok=True)
    with open(os.path.join(stub, "modprobe"), "w") as handle:
        handle.write("#!/bin/sh\necho \"MODPROBE $*\"\n")
    os.chmod(os.path.join(stub, "modprobe"), stat.S_IRWXU)
    main = os.path.join(workdir, "qemu-kvm")
    inc = os.path.join(workdir, "qemu-kvm.inc")
    with open(main, "w") as handle:
        handle.write(main_text)
    with open(inc, "w") as handle:
        handle.write(inc_text)
    job = os.path.join(workdir, "job.sh")
    with open(job, "w") as handle:
        handle.write(JOB)
    argv = [DASH] + (["-e"] if errexit else []) + [job, main]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20, cwd=workdir,
                          env={"PATH": stub + ":/usr/bin:/bin", "HOME": workdir})
    return "MODPROBE -b vhost_net" in proc.stdout.decode("utf-8", "replace"), main, inc


@settings(max_examples=int(os.environ.get("SHELL_DIFF_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=files(), errexit=st.booleans())
def test_boot_job_outcome_agrees_with_dash(case, errexit):
    main_lines, inc_lines = case
    workdir = tempfile.mkdtemp(prefix="shell-diff-")
    try:
        inc_path = os.path.join(workdir, "qemu-kvm.inc")
        main_text = "".join(l.replace("{INC}", inc_path) + "\n" for l, _ in main_lines)
        inc_text = "".join(l + "\n" for l, _ in inc_lines)
        real, _main, _inc = _real(main_text, inc_text, errexit, workdir)
        got = shellvars.boot_job_outcome(main_text, errexit=errexit,
                                         includes={inc_path: inc_text, "/nonexistent/qemu-kvm.extra": None})
        what = "mode=%s main=%r included=%r" % ("sh -e (trusty upstart)" if errexit else "sh (xenial qemu-kvm-init)",
                                                main_text, inc_text)
        if got["runs_modprobe"] is not None:
            assert got["runs_modprobe"] == real, "differs from dash (%s): static %r (%s), dash %r" % (
                what, got["runs_modprobe"], got["why"], real)
        elif all(d for _, d in main_lines) and all(d for _, d in inc_lines):
            pytest.fail("undecided on a case it claims to read (%s): %s" % (what, got["why"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("text,errexit,runs", [
    ("VHOST_NET_ENABLED=1\n", True, True),
    ("false\nVHOST_NET_ENABLED=1\n", True, False),       # trusty: sh -e stops at `false`
    ("false\nVHOST_NET_ENABLED=1\n", False, True),       # xenial: no -e
    ("VHOST_NET_ENABLED=1\nexit 0\n", False, False),     # exit ends the job, not just the file
    ("VHOST_NET_ENABLED=1\nreturn\nVHOST_NET_ENABLED=0\n", True, True),
    ("VHOST_NET_ENABLED=1\n. /nonexistent/qemu-kvm.extra\n", False, False),
    # A ')' inside ${...} inside $(...) belongs to the parameter (once taken for the end of $(...)).
    ("X=$(echo ${y:-)})\nVHOST_NET_ENABLED=1\n", False, True),
])
def test_named_cases_against_dash(text, errexit, runs):
    workdir = tempfile.mkdtemp(prefix="shell-diff-")
    try:
        real, _m, _i = _real(text, "", errexit, workdir)
        assert real is runs
        assert shellvars.boot_job_outcome(text, errexit=errexit,
                                          includes={"/nonexistent/qemu-kvm.extra": None})["runs_modprobe"] is runs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
