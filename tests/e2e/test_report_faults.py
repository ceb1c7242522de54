"""The reports on a full file system: a clear error, and never a partial report left as if whole."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAP = os.path.join(REPO, "tests", "snapshots")
pytestmark = [pytest.mark.e2e]


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % proc.stdout)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_full_file_system_is_a_clear_error_and_keeps_the_previous_report(tiny_fs):
    old = '{"previous": "report"}\n'
    (tiny_fs / "audit.json").write_text(old)
    # Fill what is left so the new report cannot fit.
    try:
        with open(str(tiny_fs / "filler"), "wb") as handle:
            handle.write(b"x" * (64 * 1024))
    except OSError:
        pass            # ENOSPC: the file system is now full
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "audit.yml",
           "-i", os.path.join(SNAP, "inventory.yml"), "--limit", "trusty-2014.fail,web-1,compliant-json-mq.pass",
           "-e", "audit_report_dir=%s" % tiny_fs]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert proc.returncode != 0
    assert "cannot write the reports in %s: the file system is full" % tiny_fs in proc.stdout
    assert "no partial report was left" in proc.stdout
    assert (tiny_fs / "audit.json").read_text() == old
    leftovers = [n for n in os.listdir(str(tiny_fs)) if n.startswith(".audit")]
    assert leftovers == []
