"""Faults on the lab (issue 6): libvirtd killed during an audit, a node's sshd
killed during an audit and during a fix, a fix interrupted half way and run
again. The fleet audit always finishes and reports; the fix converges; every
file it edited has its backup.

The faults are real (signals to real processes inside the nodes). Where a
fault races with the run, the assertions accept both honest outcomes (the node
was audited before the fault, or it is reported as unreachable / from status
files), never a crash, a missing report or a false pass.
Each test leaves the lab as its scenarios say (the module fixture restarts
what it killed: `lab.py up` restarts a dead node from its scenario).
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from report_validation import validate_audit_json
from lab_tools import SCENARIOS, lab, ssh

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODES = ("compute-1", "compute-2", "compute-3", "compute-4")




def start_playbook(inventory, report_dir, *extra):
    # A node that stops answering mid-audit is waited for until audit_timeout (the module's own bound, and
    # the task's timeout 30 s later; 300 s by default): a shorter one keeps each fault inside finish()'s limit.
    argv = ["ansible-playbook", os.path.join(REPO, "audit.yml"), "-i", inventory,
            "-e", "audit_report_dir=%s" % report_dir, "-e", "audit_timeout=60"] + list(extra)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    return subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, start_new_session=True)


def kill_playbook(pid):
    """SIGKILL an ansible-playbook and every process under it, as a dying controller loses them all.

    Killing its process group is not enough: ansible-core 2.19 starts each worker in a session of
    its own (setsid), so the workers outlive the group, blocked on a pipe no one reads (seen: four
    of them still there minutes later, through the rest of the suite). The tree is taken from
    /proc (parent pids) before anything is killed, then all of it is killed at once.
    """
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        cur = todo.pop()
        tree.append(cur)
        todo.extend(children.get(cur, []))
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return tree


def _alive(pid, timeout=10):
    """Whether ``pid`` still runs (a zombie or a reaped pid does not) after up to ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def wait_for_output(proc, needle, timeout=60):
    """Read the playbook's output until `needle` appears; returns what was read."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen), True
    return "".join(seen), False


def finish(proc, seen, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    return seen + (out or "")


def report(report_dir):
    # A --limit run is partial: written as audit-partial.json (the full report is left alone).
    partial = os.path.join(str(report_dir), "audit-partial.json")
    path = partial if os.path.exists(partial) else os.path.join(str(report_dir), "audit.json")
    with open(path) as handle:
        return validate_audit_json(json.load(handle))


def node_pid1(node):
    pid, _record = lab.node_pid1(node)
    assert pid, "%s has no live PID 1" % node
    return pid


def lab_cmd(*args):
    subprocess.run([sys.executable, os.path.join(lab.HERE, "lab.py")] + list(args), check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def restore_lab():
    """Bring every node back exactly as its scenario says (restarts killed nodes from scratch)."""
    lab_cmd("down")
    lab_cmd("up")


@pytest.fixture(scope="module")
def faults(lab_inventory):
    yield lab_inventory
    restore_lab()


def test_libvirtd_killed_during_an_audit(faults, tmp_path):
    proc = start_playbook(faults, tmp_path, "--limit", "compute-1,compute-2")
    seen, started = wait_for_output(proc, "TASK [compute_audit")
    assert started, seen
    ssh("compute-2", "pkill -KILL -x libvirtd || true")
    out = finish(proc, seen)
    assert proc.returncode == 2, out[-3000:]                 # drift, not a crash
    doc = report(tmp_path)
    for node in ("compute-1", "compute-2"):
        host = doc["hosts"][node]
        assert host["reachable"] is True and host["state"] == "fail", host.get("reason")
        assert [c["state"] for c in host["checks"] if c["id"] == "domains.vhost"] == ["fail"]
    sources = doc["hosts"]["compute-2"]["sources"]
    assert sources["domains"] in ("libvirt", "status_files")
    if sources["domains"] == "status_files":
        assert "fell back to libvirt's status files" in sources["domains_reason"]
    # Either way every running domain of compute-2 was judged by its qemu process.
    judged = dict((d["name"], d) for d in doc["hosts"]["compute-2"]["domains"])
    for dom in lab.running_domains(SCENARIOS["compute-2"]):
        assert judged[dom["name"]]["pid"], judged[dom["name"]]
    # The audit after that: libvirtd is gone, the node is read from its status files.
    again = tmp_path / "again"
    proc = start_playbook(faults, again, "--limit", "compute-2")
    out = finish(proc, "")
    host = report(again)["hosts"]["compute-2"]
    assert host["sources"]["domains"] == "status_files", out[-2000:]
    assert host["state"] == "fail"
    ssh("compute-2", "libvirtd -d")


def test_sshd_killed_during_an_audit(faults, tmp_path):
    proc = start_playbook(faults, tmp_path)
    seen, started = wait_for_output(proc, "TASK [compute_audit")
    assert started, seen
    os.kill(node_pid1("compute-3"), signal.SIGKILL)         # the node's sshd is its PID 1: the node dies
    out = finish(proc, seen)
    assert proc.returncode == 4, out[-3000:]                 # unreachable hosts (compute-5, maybe compute-3)
    doc = report(tmp_path)
    c3 = doc["hosts"]["compute-3"]
    # Raced: audited just before the kill, or reported unreachable. Never a pass, never missing.
    assert (c3["reachable"] is False and "unreachable" in c3["reason"]) or c3["state"] == "fail", c3
    for node in ("compute-1", "compute-2", "compute-4"):
        assert doc["hosts"][node]["reachable"] is True and doc["hosts"][node]["state"] == "fail"
    assert doc["hosts"]["compute-5"]["reachable"] is False
    restore_lab()


def _vhost_line(node):
    return [line for line in ssh(node, "cat /etc/default/qemu-kvm").splitlines()
            if line.startswith("VHOST_NET_ENABLED=")]


def _backups(node):
    out = ssh(node, "ls -1 /etc/default/ | grep '^qemu-kvm\\..*~$' || true")
    return [line for line in out.splitlines() if line.strip()]


def test_sshd_killed_during_a_fix_then_the_fix_converges(faults, tmp_path):
    proc = start_playbook(faults, tmp_path / "one", "--tags", "fix", "--limit", "compute-1,compute-4")
    seen, started = wait_for_output(proc, "TASK [vhost_fix")
    assert started, seen
    os.kill(node_pid1("compute-4"), signal.SIGKILL)
    out = finish(proc, seen)
    # compute-1 was fixed whatever happened to compute-4.
    assert _vhost_line("compute-1") == ["VHOST_NET_ENABLED=1"], out[-3000:]
    assert _backups("compute-1"), "the edited file has no backup"
    # compute-4 comes back (from its scenario: VHOST_NET_ENABLED=0) and the next fix run converges.
    lab_cmd("up")
    proc = start_playbook(faults, tmp_path / "two", "--tags", "fix", "--limit", "compute-1,compute-4")
    out = finish(proc, "")
    assert proc.returncode == 0, out[-3000:]
    for node in ("compute-1", "compute-4"):
        assert _vhost_line(node) == ["VHOST_NET_ENABLED=1"]
        assert _backups(node), node
    doc = report(tmp_path / "two")
    for node in ("compute-1", "compute-4"):
        assert [c["state"] for c in doc["hosts"][node]["checks"]
                if c["id"] == "qemu_kvm.vhost_net_enabled"] == ["pass"]
    restore_lab()


def test_fix_interrupted_half_way_then_run_again_converges(faults, tmp_path):
    proc = start_playbook(faults, tmp_path / "one", "--tags", "fix")
    seen, started = wait_for_output(proc, "TASK [vhost_fix")
    assert started, seen
    time.sleep(1.0)
    killed = kill_playbook(proc.pid)                         # the controller dying, workers and all
    proc.communicate(timeout=60)
    assert len(killed) > 1, "the playbook had no worker to kill: the fix was not under way"
    for member in killed:
        assert not _alive(member), "process %d of the killed playbook lives on" % member
    proc = start_playbook(faults, tmp_path / "two", "--tags", "fix")
    out = finish(proc, "")
    # Nothing left that the fix could fix; compute-5 (a closed port) is unreachable: exit 4.
    assert proc.returncode == 4 and "DRIFT" not in out and "fatal: [compute-5]: UNREACHABLE!" in out, out[-3000:]
    for node in ("compute-1", "compute-4"):
        assert _vhost_line(node) == ["VHOST_NET_ENABLED=1"]
        assert _backups(node), "%s: the edited file has no backup" % node
    assert _vhost_line("compute-2") == ["VHOST_NET_ENABLED=1"] and _backups("compute-2") == []
    # A third run changes nothing.
    proc = start_playbook(faults, tmp_path / "three", "--tags", "fix")
    out = finish(proc, "")
    assert proc.returncode == 4 and "DRIFT" not in out, out[-3000:]
    fix_tasks = out.split("TASK [vhost_fix", 1)[1].split("TASK [compute_audit", 1)[0]
    assert "changed: [compute-" not in fix_tasks, fix_tasks[-3000:]
    restore_lab()
