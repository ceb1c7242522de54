"""compute_audit's own bound on a hung audit (library/compute_audit.py: watched).

The audit runs in a forked child; the module passes its output on whole when it ends, and kills it
after the timeout, failing with a message that says the audit did not finish. Real processes: the
child really forks, really sleeps, is really killed.
"""
import json
import os
import sys
import time

import pytest

from library_loader import load_module


class Module(object):
    """What watched() uses of AnsibleModule: fail_json prints the failure and exits 1."""

    def fail_json(self, **result):
        result["failed"] = True
        sys.stdout.write(json.dumps(result))
        sys.stdout.flush()
        sys.exit(1)


def _run(capfd, work, timeout):
    mod = load_module("compute_audit")
    with pytest.raises(SystemExit) as exc:
        mod.watched(Module(), timeout, work)
    out, err = capfd.readouterr()
    return exc.value.code, out, err


def test_a_finished_audit_is_passed_on_whole(capfd):
    def work():
        sys.stdout.write("\n" + json.dumps({"changed": False, "audit": {"x": "y" * 300000}}) + "\n")
        sys.exit(0)
    code, out, _ = _run(capfd, work, 30)
    assert code == 0
    assert json.loads(out)["audit"]["x"] == "y" * 300000      # larger than a pipe's buffer, whole


def test_a_hung_audit_is_killed_and_says_so(capfd, tmp_path):
    pidfile = tmp_path / "child.pid"

    def work():
        pidfile.write_text(str(os.getpid()))
        sys.stdout.write("partial")
        sys.stdout.flush()
        time.sleep(60)
    t0 = time.monotonic()
    code, out, _ = _run(capfd, work, 1.5)
    assert time.monotonic() - t0 < 20
    doc = json.loads(out)                                       # the partial output is not passed on
    assert code == 1 and doc["failed"] and doc["timed_out"] is True
    assert "did not finish within audit_timeout=1.5s" in doc["msg"]
    child = int(pidfile.read_text())
    assert not os.path.exists("/proc/%d" % child) or open("/proc/%d/stat" % child).read().split()[2] == "Z"


def test_a_failed_audit_keeps_its_status_and_output(capfd):
    def work():
        sys.stdout.write(json.dumps({"failed": True, "msg": "invalid policy"}))
        sys.exit(1)
    code, out, _ = _run(capfd, work, 30)
    assert code == 1 and json.loads(out)["msg"] == "invalid policy"


def test_a_crash_is_a_module_failure_with_its_traceback(capfd):
    def work():
        raise RuntimeError("boom in the audit")
    code, out, err = _run(capfd, work, 30)
    assert code == 1 and out == "" and "RuntimeError: boom in the audit" in err
