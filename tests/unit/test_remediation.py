"""controller/remediation.py: the fix's steps, the kernel verdict and the restart verification, from structured fields."""
import doctest
import os
import re

import pytest

from nodeaudit.combiners import kernel as kernel_combiner
from nodeaudit.controller import remediation
from nodeaudit.controller.remediation import kernel_can_provide, remediation_steps, verify_restart

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_doctests():
    result = doctest.testmod(remediation)
    assert result.failed == 0 and result.attempted >= 5


# -- the kernel verdict --------------------------------------------------------------

def _view(dev=True, loaded=True, builtin=False, blacklisted=False, install_blocked=False, module_support=True):
    return {"dev": {"path": "/dev/vhost-net", "present": dev, "reason": None if dev else "/dev/vhost-net is absent"},
            "loaded": loaded, "builtin": builtin, "blacklisted": ["x:1: blacklist vhost_net"] if blacklisted else [],
            "install_blocked": install_blocked, "module_support": module_support}


# (moved from test_plan.py: the decision is now the kernel combiner's, the planner reads its verdict)
@pytest.mark.parametrize("view, ok", [
    (_view(), True),
    (_view(loaded=False, builtin=True), True),
    (_view(loaded=False), True),                     # static node loads it on open
    (_view(loaded=False, blacklisted=True), False),  # ...unless blacklisted
    (_view(blacklisted=True), True),                 # loaded anyway: it is there
    (_view(install_blocked=True), False),
    (_view(dev=None), None),
    (_view(dev=False, loaded=None, builtin=None, module_support=False), False),
])
def test_kernel_can_provide(view, ok):
    verdict, reason = kernel_combiner._can_provide(view)
    assert verdict is ok
    entry = {"kernel": {"can_provide": verdict, "can_provide_reason": reason}}
    assert kernel_can_provide(entry)[0] is (ok is True)          # could not tell is not a yes


def test_kernel_reason_quotes_the_audit():
    reason = "/proc/modules does not exist (kernel without loadable module support)"
    got = kernel_can_provide({"kernel": {"can_provide": False, "can_provide_reason": reason}})[1]
    assert reason in got and "cannot provide vhost-net" in got
    assert kernel_can_provide({})[0] is False


# -- the fix's steps ------------------------------------------------------------------

def entry(config=None, kernel=None, checks=None, **extra):
    e = {"reachable": True, "mode": "live",
         "config": dict({"path": "/etc/default/qemu-kvm", "status": "ok", "vhost_net_enabled": "0", "sourceable": True,
                         "syntax_error": None, "key_line": 4, "read_by": "the qemu-kvm boot job"}, **(config or {})),
         "kernel": dict({"module_support": True, "can_provide": False, "can_provide_reason": "not loaded",
                         "vhost_net_builtin": False, "install_blocked": False, "blocks": []}, **(kernel or {})),
         "checks": [dict({"id": cid, "state": state, "reason": "r"}) for cid, state in
                    dict({"qemu_kvm.vhost_net_enabled": "fail", "kernel.vhost_net": "fail",
                          "kernel.vhost_net_boot": "warn"}, **(checks or {})).items()]}
    e.update(extra)
    return e


BLACKLIST = {"kind": "blacklist", "path": "/etc/modprobe.d/bl.conf", "line": 2, "raw": "blacklist vhost_net",
             "module": "vhost_net", "stops": ["alias", "modprobe -b"]}


def test_fixes_config_and_loads_the_module():
    s = remediation_steps(entry())
    assert s["fix_config"] and s["config_line"] == 4 and s["config_value"] == "0"
    assert s["load_module"] and s["persist_module"] and s["kernel_ok_after"] is None and s["notes"] == []


def test_reason_text_is_never_read():
    # A reason that says "cannot source" does not stop a fix of a sourceable file...
    e = entry()
    e["checks"][0]["reason"] = "cannot source /etc/default/qemu-kvm"
    assert remediation_steps(e)["fix_config"] is True
    # ...and a file /bin/sh cannot source is not rewritten whatever the reason says.
    s = remediation_steps(entry(config={"sourceable": False, "syntax_error": {"message": "unterminated quote",
                                                                               "line": 7}}))
    assert s["fix_config"] is False and "cannot source it (unterminated quote, line 7)" in s["notes"][0]
    # evidence naming a blacklist file is not a blacklist: only kernel.blocks is
    e = entry()
    e["checks"][1]["evidence"] = ["/etc/modprobe.d/x.conf:1: blacklist vhost_net"]
    assert remediation_steps(e, {"remediation": {"remove_blacklist": True}})["remove_blacklist"] == []


@pytest.mark.parametrize("config, note", [
    ({"status": "denied"}, "could not be read (denied)"),
    ({"sourceable": None}, "could not be told"),
    ({"vhost_net_enabled": None, "key_line": None}, "the key is not added"),
    ({"read_by": None}, "nothing on this node reads VHOST_NET_ENABLED"),
])
def test_config_not_rewritten(config, note):
    s = remediation_steps(entry(config=config))
    assert s["fix_config"] is False and any(note in n for n in s["notes"]), s["notes"]


def test_run_time_value_and_not_applicable_are_noted():
    s = remediation_steps(entry(checks={"qemu_kvm.vhost_net_enabled": "unknown"}))
    assert not s["fix_config"] and "decided at run time" in s["notes"][0]
    s = remediation_steps(entry(checks={"qemu_kvm.vhost_net_enabled": "not_applicable"}))
    assert "does not apply" in s["notes"][0]


def test_blacklist_reported_and_removed_only_by_policy():
    e = entry(kernel={"blocks": [BLACKLIST, dict(BLACKLIST, line=5), dict(BLACKLIST, module="vhost", raw="blacklist vhost")]})
    s = remediation_steps(e)
    assert s["remove_blacklist"] == [] and not s["load_module"]
    assert "blacklisted in /etc/modprobe.d/bl.conf: left as is" in s["notes"][0]
    s = remediation_steps(e, {"remediation": {"remove_blacklist": True}})
    assert s["remove_blacklist"] == ["/etc/modprobe.d/bl.conf"] and s["load_module"]
    assert [b["line"] for b in s["blacklist_lines"]] == [2, 5]


@pytest.mark.parametrize("kernel, note", [
    ({"install_blocked": True, "blocks": [{"kind": "install", "path": "/etc/modprobe.d/x.conf", "line": 1,
                                            "raw": "install vhost_net /bin/true", "module": "vhost_net",
                                            "stops": ["all"]}]}, "blocks every load"),
    ({"module_support": False}, "no loadable module support"),
    ({"module_support": None}, "could not be read"),
])
def test_kernel_that_cannot_load_is_said_not_forced(kernel, note):
    s = remediation_steps(entry(kernel=kernel))
    assert not s["load_module"] and not s["persist_module"] and note in s["notes"][-1]


def test_builtin_and_passing_kernel_need_nothing():
    s = remediation_steps(entry(kernel={"vhost_net_builtin": True, "can_provide": True}))
    assert not s["load_module"] and not s["persist_module"] and s["kernel_ok_after"] is True
    s = remediation_steps(entry(kernel={"can_provide": True}, checks={"kernel.vhost_net": "pass",
                                                                       "kernel.vhost_net_boot": "pass"}))
    assert not s["load_module"] and not s["persist_module"]
    s = remediation_steps(entry(kernel={"can_provide": True}, checks={"kernel.vhost_net": "pass"}))
    assert not s["load_module"] and s["persist_module"]           # boot only: persist


def test_snapshot_and_unreachable_change_nothing():
    s = remediation_steps(entry(mode="snapshot", root="/srv/snap"))
    assert not s["fix_config"] and "snapshot (/srv/snap)" in s["notes"][0]
    s = remediation_steps({"reachable": False, "reason": "unreachable: ssh"})
    assert "not audited (unreachable: ssh)" in s["notes"][0]


# -- after a restart (moved from filter_plugins/nodeaudit_plan.py:restart_verify) --------------

def _audit(pid=200, state="running", vhost=True, name="web-1"):
    return {"audit": {"domains": [{"name": name, "pid": pid, "state": state,
                                   "nics": [{"mac": "52:54:00:00:00:01", "vhost": vhost, "state": "pass" if vhost else "fail",
                                             "reason": None if vhost else "no vhost fd"}]}]}}


STEP = {"host": "c1", "domain": "web-1", "pid": 100, "state": "running", "method": "libvirt"}


def test_verified_restart():
    got = verify_restart(_audit(), STEP, {"new_pid": 200, "previous_state": "running"})
    assert got["ok"] and got["pid"] == 200 and got["vhost"] is True and got["reason"] is None


@pytest.mark.parametrize("audit, restarted, step, why", [
    (_audit(pid=100), {}, STEP, "qemu pid 100 did not change"),
    (_audit(pid=300), {"new_pid": 200}, STEP, "not the new pid 200"),
    (_audit(state="paused"), {"new_pid": 200}, STEP, "domain is paused, not running as before"),
    (_audit(state="shutoff"), {"new_pid": 200}, dict(STEP, method="nova"), "domain is shutoff after the hard reboot"),
    (_audit(vhost=False), {"new_pid": 200}, STEP, "still without vhost-net after the restart: 52:54:00:00:00:01: no vhost fd"),
    (_audit(name="other"), {"new_pid": 200}, STEP, "domain web-1 not found on c1"),
    ({"unreachable": True, "msg": "ssh down"}, {}, STEP, "re-audit of c1 failed: ssh down"),
])
def test_restart_not_verified(audit, restarted, step, why):
    got = verify_restart(audit, step, restarted)
    assert got["ok"] is False and why in got["reason"]


def test_blocked_counts_as_running_paused_stays_paused_and_migration_leaves():
    assert verify_restart(_audit(state="blocked"), STEP, {"new_pid": 200})["ok"]
    assert verify_restart(_audit(state="paused"), dict(STEP, state="paused"), {"new_pid": 200,
                                                                               "previous_state": "paused"})["ok"]
    gone = verify_restart(_audit(name="other"), dict(STEP, method="live_migrate"), {})
    assert gone["ok"] and "live-migrated away" in gone["reason"]


def test_kernel_that_cannot_provide_is_said_not_failed():
    got = verify_restart(_audit(vhost=False), STEP, {"new_pid": 200}, kernel_ok=False)
    assert got["ok"] and "the kernel cannot provide it" in got["reason"]


# -- issue 9's done-when: nothing parses a reason or an evidence string ----------------------

PARSES_TEXT = re.compile(r"""\bin\s+\(?[\w.\[\]"'()]*\b(reason|evidence|actual)\b|re\.(match|search|compile|findall)\([^)]*(reason|evidence)""")


@pytest.mark.parametrize("path", ["module_utils/nodeaudit/controller/plan.py",
                                  "module_utils/nodeaudit/controller/remediation.py",
                                  "filter_plugins/nodeaudit_plan.py",
                                  "roles/vhost_fix/tasks/main.yml", "roles/restart_rollout/tasks/main.yml",
                                  "roles/restart_rollout/tasks/domain.yml"])
def test_no_reason_or_evidence_text_is_parsed(path):
    with open(os.path.join(REPO, path)) as handle:
        text = handle.read()
    assert not PARSES_TEXT.search(text), PARSES_TEXT.search(text).group(0)
    assert "_EVIDENCE" not in text and "is search" not in re.sub(r".*(msg|stderr).*is search.*", "", text)
