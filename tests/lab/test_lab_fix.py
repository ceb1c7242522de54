"""End to end: `--tags fix` over the staging lab (remediation, plan, rollout).

This machine's kernel has no vhost-net at all, so on the lab:
- the fix flips VHOST_NET_ENABLED 0 -> 1 on compute-1 and compute-4 (with a
  backup), reports that the kernel cannot provide vhost-net (no module
  support), and plans no restart anywhere;
- check mode changes nothing; a second run changes nothing;
- with restart_execute + restart_without_vhost real domains restart in waves
  with new pids, keepalived-lb01 and keepalived-lb02 never in one wave (the
  journal proves it), and a domain made to fail its start (its emulator
  pointed at a missing binary) stops the rollout there.

The lab is left as it was found: the file restored from the backup, the broken
domain redefined and started paused again (restarted domains come back paused).
"""
import json
import os
import re
import subprocess
import time

import pytest

from report_validation import validate_audit_json, validate_plan_json

from lab_tools import SCENARIOS, lab, ssh

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.slow]

REPO = lab.REPO
BROKEN = ("compute-1", "two-nic-1")   # wave 3 on the lab: wave 4 must not run




def vhost_value(node):
    for line in ssh(node, "cat /etc/default/qemu-kvm").splitlines():
        if line.startswith("VHOST_NET_ENABLED="):
            value = line.split("=", 1)[1]
    return value


def playbook(tmp_path):
    """The command users type: audit.yml --tags fix."""
    return os.path.join(REPO, "audit.yml")


def recap(out):
    """{host: {ok, changed, unreachable, failed, ...}} from the PLAY RECAP."""
    rows = {}
    for line in out.split("PLAY RECAP", 1)[-1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line)
        if m:
            rows[m.group(1)] = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)))
    return rows


def assert_only_compute5_unreachable(r):
    """The fix left nothing it could have fixed: every node ok, compute-5 (a closed port) unreachable: exit 4."""
    rows = recap(r.out)
    assert r.proc.returncode == 4, r.describe()
    assert rows["compute-5"]["unreachable"] == 1, rows
    for host, row in rows.items():
        if host != "compute-5":
            assert row["failed"] == 0 and row["unreachable"] == 0, (host, row, r.describe())


class Run(object):
    def __init__(self, proc, report_dir):
        self.proc, self.dir = proc, report_dir
        self.out = proc.stdout

    def describe(self):
        return "exit %s\n%s\n%s" % (self.proc.returncode, "\n".join(self.out.splitlines()[-60:]),
                                    self.proc.stderr[-3000:])

    def json(self, name):
        with open(os.path.join(self.dir, name)) as handle:
            return json.load(handle)

    def task_output(self, title):
        match = re.search(r"TASK \[[^\]]*%s[^\]]*\][^\n]*\n(.*?)(?=\nTASK \[|\nPLAY RECAP)" % re.escape(title),
                          self.out, re.S)
        return match.group(1) if match else ""

    def journal(self):
        path = os.path.join(self.dir, "restart-journal.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as handle:
            return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def fix(lab_inventory, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab-fix")
    book = playbook(tmp)
    before = dict((n, vhost_value(n)) for n in ("compute-1", "compute-4"))
    assert before == {"compute-1": "0", "compute-4": "0"}, "the lab is not as its scenarios say: %s" % before
    state = {"broken_xml": None}

    def run(*extra, report_dir=None):
        report_dir = report_dir or str(tmp_path_factory.mktemp("reports"))
        argv = ["ansible-playbook", book, "-i", lab_inventory, "--tags", "fix",
                "-e", "audit_report_dir=" + report_dir,
                "-e", "audit_policy_file=" + os.path.join(REPO, "policies", "default.yml")] + list(extra)
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
        proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=1200)
        return Run(proc, report_dir)

    def break_domain():
        node, dom = BROKEN
        state["broken_xml"] = ssh(node, "virsh dumpxml --inactive %s" % dom)
        # A disk whose file does not exist: libvirt accepts the definition, the next start fails.
        ssh(node, "virsh dumpxml --inactive {d} | sed 's#<devices>#<devices><disk type=\"file\" device=\"disk\">"
                  "<driver name=\"qemu\" type=\"raw\"/><source file=\"/nonexistent/broken.img\"/>"
                  "<target dev=\"vdz\" bus=\"virtio\"/></disk>#' > /tmp/{d}-broken.xml"
                  " && virsh define /tmp/{d}-broken.xml".format(d=dom))

    # The operator's reports directory, kept from one fix run to the next.
    yield {"run": run, "break_domain": break_domain, "tmp": tmp, "reports": str(tmp_path_factory.mktemp("ops"))}

    # -- leave the lab as it was found ------------------------------------------------
    node, dom = BROKEN
    if state["broken_xml"]:
        ssh(node, "cat > /tmp/%s-good.xml <<'EOF'\n%sEOF\nvirsh define /tmp/%s-good.xml" % (
            dom, state["broken_xml"], dom))
        if "paused" not in ssh(node, "virsh domstate %s" % dom, check=False):
            ssh(node, "virsh start --paused %s" % dom)
    for n in ("compute-1", "compute-4"):
        ssh(n, "b=$(ls -t /etc/default/qemu-kvm.*~ 2>/dev/null | tail -1); "
               "if [ -n \"$b\" ]; then cp -p \"$b\" /etc/default/qemu-kvm; fi; rm -f /etc/default/qemu-kvm.*~")
        assert vhost_value(n) == before[n]
    deadline = time.time() + 30
    while time.time() < deadline:
        if all(lab.node_health(n, SCENARIOS[n], with_ssh=False)[0] for n in SCENARIOS if lab.is_node(SCENARIOS[n])):
            break
        time.sleep(1)


def test_check_mode_shows_the_change_and_makes_none(fix):
    r = fix["run"]("--check", "--diff")
    assert_only_compute5_unreachable(r)
    assert "-VHOST_NET_ENABLED=0\n+VHOST_NET_ENABLED=1" in r.out
    assert vhost_value("compute-1") == "0" and vhost_value("compute-4") == "0"


def test_fix_flips_the_file_reports_the_kernel_and_plans_nothing(fix):
    r = fix["run"](report_dir=fix["reports"])
    assert_only_compute5_unreachable(r)
    assert "fixed what the fix may fix; left:" in r.out
    assert vhost_value("compute-1") == "1" and vhost_value("compute-4") == "1"
    assert vhost_value("compute-2") == "1"  # untouched: it was already 1
    after = r.json("audit.json")["hosts"]
    before = r.json("audit-before.json")["hosts"] if os.path.exists(os.path.join(r.dir, "audit-before.json")) \
        else None
    state = lambda doc, host, cid: [c["state"] for c in doc[host]["checks"] if c["id"] == cid][0]
    for host in ("compute-1", "compute-4"):
        assert state(after, host, "qemu_kvm.vhost_net_enabled") == "pass"
        if before is not None:
            assert state(before, host, "qemu_kvm.vhost_net_enabled") == "fail"
    report = r.task_output("Report what was fixed")
    assert "no loadable module support" in report and "0 -> 1" in report
    assert "blacklisted in /etc/modprobe.d/blacklist-vhost.conf: left as is" in report
    plan = r.json("restart-plan.json")
    assert plan["waves"] == []
    skipped = dict(((s["host"], s["domain"]), s["reason"]) for s in plan["skipped"])
    assert "cannot provide vhost-net" in skipped[("compute-1", "keepalived-lb01")]
    assert ("compute-1", "userspace-1") not in skipped  # a restart would not help it: never planned
    with open(os.path.join(r.dir, "restart-plan.md")) as handle:
        assert "Not restarted" in handle.read()
    assert r.journal() == []


def test_second_run_changes_nothing(fix):
    r = fix["run"](report_dir=fix["reports"])
    assert_only_compute5_unreachable(r)
    validate_plan_json(r.json("restart-plan.json"))
    validate_audit_json(r.json("audit.json"))
    assert all(row["changed"] == 0 for row in recap(r.out).values()), recap(r.out)
    for title in ("Set VHOST_NET_ENABLED=1", "Remove the vhost_net blacklist", "Load vhost_net now"):
        assert "changed:" not in r.task_output(title), title


def test_rollout_restarts_in_waves_and_stops_at_the_broken_domain(fix):
    fix["break_domain"]()
    r = fix["run"]("-e", "restart_execute=true", "-e", "restart_without_vhost=true")
    assert r.proc.returncode != 0, r.describe()
    assert "Rollout stopped at wave 3, host compute-1, domain two-nic-1" in r.out, r.describe()
    plan = r.json("restart-plan.json")
    waves = [[(i["host"], i["domain"]) for i in wave] for wave in plan["waves"]]
    assert len(waves) == 4
    for wave in waves:
        names = [d for _, d in wave]
        assert not ("keepalived-lb01" in names and "keepalived-lb02" in names)
    journal = r.journal()
    verified = [e for e in journal if e["event"] == "restart_verified"]
    failed = [e for e in journal if e["event"] == "restart_failed"]
    assert [(e["host"], e["domain"]) for e in failed] == [BROKEN]
    assert "/nonexistent/broken.img" in failed[0]["error"] or "storage" in failed[0]["error"]
    done = dict((e["domain"], e) for e in verified)
    for name, e in done.items():
        assert e["new_pid"] and e["new_pid"] != e["old_pid"], e
        assert e["state"] == e["previous_state"] == "paused", e
    # HA pair: restarted in different waves, lb02 only after lb01 was verified
    assert done["keepalived-lb01"]["wave"] != done["keepalived-lb02"]["wave"]
    assert done["keepalived-lb01"]["time"] < [e for e in journal if e["event"] == "restart_start"
                                              and e["domain"] == "keepalived-lb02"][0]["time"]
    # nothing after the failure
    assert "two-nic-1" not in done and "web-1" not in done and "mq-1" in done
    assert journal[-1]["event"] == "restart_failed"
    times = [e["time"] for e in journal]
    assert times == sorted(times)
