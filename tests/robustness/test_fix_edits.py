"""Promise: a fix that edits only what it reports (issue 14, point 7).

library/vhost_net_config.py (roles/vhost_fix) changes only the
``VHOST_NET_ENABLED`` assignment /bin/sh keeps, every other word of its line
and every other line kept; the real ``/bin/sh`` decides (every variable it
reads from the file before and after is compared); the message says what
really changed; a failed edit leaves no stray backup; a symbolic link is
followed, its target edited and the link kept (as the module documents).
"""
import glob
import json
import os
import shutil
import subprocess

import pytest

from robust_tools import snapgen
from library_loader import load_module

SH = shutil.which("sh") or "/bin/sh"


def sh_vars(path):
    """Every variable the real /bin/sh has after sourcing ``path`` (minus the shell's own)."""
    script = '. "$1" >/dev/null 2>&1; set'
    out = subprocess.run([SH, "-c", script, "sh", path], stdout=subprocess.PIPE, check=True,
                         env={"PATH": "/usr/bin:/bin"}).stdout.decode("utf-8", "surrogateescape")
    base = subprocess.run([SH, "-c", "set", "sh"], stdout=subprocess.PIPE, check=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout.decode("utf-8", "surrogateescape")
    skip = set(("_", "PPID", "OPTIND", "PWD", "IFS", "PS1", "PS2", "PS4", "LINENO"))

    def parse(text):
        found = {}
        for line in text.split("\n"):
            name, eq, value = line.partition("=")
            if eq and name.isidentifier() and name not in skip:
                found[name] = value
        return found
    before = parse(base)
    return dict((k, v) for k, v in parse(out).items() if before.get(k) != v)


@pytest.fixture
def run_fix(capsys):
    from ansible.module_utils.testing import patch_module_args

    def run(args, check=False, diff=False):
        module = load_module("vhost_net_config")
        full = dict(args)
        if check:
            full["_ansible_check_mode"] = True
        if diff:
            full["_ansible_diff"] = True
        with patch_module_args(full):
            with pytest.raises(SystemExit) as exc:
                module.main()
        return exc.value.code, json.loads(capsys.readouterr().out)

    return run


CASES = {
    "trusty": snapgen.TRUSTY_DEFAULT,
    "same line, ; and others after": "VHOST_NET_ENABLED=0; KSM_ENABLED=0 KVM_HUGEPAGES=1\n",
    "same line, another before": "KSM_ENABLED=1 VHOST_NET_ENABLED=0\n",
    "export and a comment": "export VHOST_NET_ENABLED=0 # keep this comment\nKSM_ENABLED=1\n",
    "quoted, twice (last wins)": "VHOST_NET_ENABLED='0'  # first\nKSM_ENABLED=1\nVHOST_NET_ENABLED=\"0\" ;SLEEP_MILLISECS=5\n",
    "tabs and no spaces": "\tVHOST_NET_ENABLED=0\tKSM_ENABLED=1;SLEEP_MILLISECS=200\n",
    "CRLF file": "KSM_ENABLED=1\r\nVHOST_NET_ENABLED=0\r\nKVM_HUGEPAGES=0\r\n",
    "value with spaces, quoted": "VHOST_NET_ENABLED='no way' KSM_ENABLED='a b'\n",
    "readonly": "readonly VHOST_NET_ENABLED=0 OTHER=x\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_only_the_assignment_changes_as_the_real_sh_reads_it(tmp_path, run_fix, name):
    path = tmp_path / "qemu-kvm"
    path.write_bytes(CASES[name].encode())
    before = sh_vars(str(path))
    assert before.get("VHOST_NET_ENABLED") not in ("1", "'1'")
    code, out = run_fix({"path": str(path)})
    assert code == 0 and out["changed"], out
    after = sh_vars(str(path))
    assert after["VHOST_NET_ENABLED"] in ("1", "'1'")         # dash quotes what `set` prints
    del before["VHOST_NET_ENABLED"], after["VHOST_NET_ENABLED"]
    assert after == before                                   # every other variable as /bin/sh read it
    # Every other line byte for byte, and every other word of the edited line.
    old_lines, new_lines = CASES[name].split("\n"), path.read_bytes().decode().split("\n")
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(old_lines) == len(new_lines) and len(changed) == 1
    assert out["line"] == changed[0] + 1
    assert "VHOST_NET_ENABLED=1" in new_lines[changed[0]]
    # The message says what really changed.
    assert ("-> 1 at line %d" % out["line"]) in out["msg"] and "the line now reads" in out["msg"]
    assert new_lines[changed[0]].strip() in out["msg"] or repr(new_lines[changed[0]].strip()) in out["msg"]
    assert out["before"] != "1"
    backups = glob.glob(str(path) + ".*~")
    assert backups == [out["backup_file"]]
    assert open(backups[0], "rb").read() == CASES[name].encode()


def test_second_run_changes_nothing_and_says_so(tmp_path, run_fix):
    path = tmp_path / "qemu-kvm"
    path.write_text(CASES["same line, another before"])
    run_fix({"path": str(path)})
    code, out = run_fix({"path": str(path)})
    assert code == 0 and not out["changed"] and "nothing changed" in out["msg"]
    assert len(glob.glob(str(path) + ".*~")) == 1


def test_check_mode_changes_nothing(tmp_path, run_fix):
    path = tmp_path / "qemu-kvm"
    path.write_text(CASES["trusty"])
    code, out = run_fix({"path": str(path)}, check=True, diff=True)
    assert code == 0 and out["changed"] and out["msg"].startswith("would set")
    assert path.read_text() == CASES["trusty"] and glob.glob(str(path) + ".*~") == []
    assert "VHOST_NET_ENABLED=1" in out["diff"]["after"]


@pytest.mark.parametrize("text,words", [
    ("if true; then VHOST_NET_ENABLED=0; fi\n", "compound"),
    ("VHOST_NET_ENABLED=\"0\n", "cannot source"),
    ("VHOST_NET_ENABLED=$(cat /x)\n", "run time"),
    ("KSM_ENABLED=1\n", "does not assign"),
])
def test_refusals_change_nothing_and_leave_nothing(tmp_path, run_fix, text, words):
    path = tmp_path / "qemu-kvm"
    path.write_text(text)
    code, out = run_fix({"path": str(path)})
    assert code == 1 and out["failed"] and words in out["msg"], out
    assert path.read_text() == text
    assert sorted(os.listdir(str(tmp_path))) == ["qemu-kvm"]


def test_symlinked_file_edits_the_target_and_keeps_the_link(tmp_path, run_fix):
    target = tmp_path / "conf" / "qemu-kvm.real"
    target.parent.mkdir()
    target.write_text(CASES["same line, ; and others after"])
    link = tmp_path / "qemu-kvm"
    os.symlink(str(target), str(link))
    code, out = run_fix({"path": str(link)})
    assert code == 0 and out["changed"]
    assert os.path.islink(str(link)) and os.readlink(str(link)) == str(target)
    assert target.read_text() == "VHOST_NET_ENABLED=1; KSM_ENABLED=0 KVM_HUGEPAGES=1\n"
    assert out["edited"] == str(target) and "the target of" in out["msg"]
    assert os.path.dirname(out["backup_file"]) == str(target.parent)


def test_dangling_symlink_is_refused(tmp_path, run_fix):
    link = tmp_path / "qemu-kvm"
    os.symlink(str(tmp_path / "nowhere"), str(link))
    code, out = run_fix({"path": str(link)})
    assert code == 1 and "dangling" in out["msg"]
    assert sorted(os.listdir(str(tmp_path))) == ["qemu-kvm"]


def _chattr(flag, path):
    return subprocess.run(["chattr", flag, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def test_immutable_file_fails_honestly_and_leaves_no_stray_backup(tmp_path, run_fix):
    """Finding: an immutable file left a stray backup (lineinfile backup: true, then the write failed)."""
    work = tmp_path / "etc"
    work.mkdir()
    path = work / "qemu-kvm"
    path.write_text(CASES["trusty"])
    if not shutil.which("chattr") or not _chattr("+i", str(path)):
        pytest.skip("chattr +i is not supported here")
    try:
        code, out = run_fix({"path": str(path)})
    finally:
        _chattr("-i", str(path))
    assert code == 1 and out["failed"] and not out["changed"]
    assert "not changed" in out["msg"] and "no backup left" in out["msg"]
    assert path.read_text() == CASES["trusty"]
    assert sorted(os.listdir(str(work))) == ["qemu-kvm"]          # no backup, no temporary file


def test_unwritable_directory_fails_honestly_and_leaves_nothing(tmp_path, run_fix, monkeypatch):
    """The same promise where chattr is not available: the rename fails after the backup was written."""
    path = tmp_path / "qemu-kvm"
    path.write_text(CASES["trusty"])
    real_rename = os.rename

    def refuse(src, dst):
        if str(dst) == str(path):
            raise PermissionError(1, "Operation not permitted")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", refuse)
    code, out = run_fix({"path": str(path)})
    monkeypatch.undo()
    assert code == 1 and "no backup left" in out["msg"]
    assert sorted(os.listdir(str(tmp_path))) == ["qemu-kvm"]
    assert path.read_text() == CASES["trusty"]
