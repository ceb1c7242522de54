"""End to end: audit.yml over the staging lab, verdicts compared with the scenarios.

Runs `ansible-playbook audit.yml -i tests/lab/inventory.yml -e audit_report_dir=DIR`
once from the repository root, then compares every node's checks, sources and
domains with the `expect:` block of its scenario (tests/lab/scenarios/), NIC
by NIC (matched by MAC). The expectations are the specification: when they
disagree with the audit, the audit is what has to change.

Report contract (DIR/audit.json):
  {"schema_version": 1, "generated_at", "policy": {"name", "digest"},
   "summary": {"hosts_by_state": {state: [hosts]}, "failing_hosts_by_check": {check: [hosts]},
               "unreachable": [hosts]},
   "hosts": {name: {"reachable", "state", "checks": [{"id", "state", "reason", ...}],
                    "domains": [{"name", "state", "needs_restart", "nics": [{"mac", "vhost", "reason", ...}]}],
                    "sources": {"domains": ...}}}}
plus DIR/audit.xml (JUnit) and DIR/audit.md; nonzero exit status on drift or unreachable hosts.
"""
import json
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from report_validation import undocumented_fields, validate_audit_json, validate_junit

pytestmark = [pytest.mark.lab, pytest.mark.e2e, pytest.mark.slow]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(REPO, "audit.yml")
UNSET = object()


class Run(object):
    def __init__(self, argv, proc, report_dir, seconds):
        self.argv, self.proc, self.dir, self.seconds = argv, proc, report_dir, seconds

    def describe(self):
        tail = lambda text: "\n".join((text or "").splitlines()[-40:])
        return "%s\nexit %s after %.0f s\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s" % (
            " ".join(self.argv), self.proc.returncode, self.seconds, tail(self.proc.stdout), tail(self.proc.stderr))


@pytest.fixture(scope="module")
def audit_run(lab_inventory, tmp_path_factory):
    if not os.path.exists(PLAYBOOK):
        pytest.fail("%s does not exist (yet): the end-to-end test needs the audit playbook" % PLAYBOOK,
                    pytrace=False)
    report_dir = str(tmp_path_factory.mktemp("lab-audit"))
    os.mkdir(os.path.join(report_dir, "textfile"))
    argv = ["ansible-playbook", "audit.yml", "-i", lab_inventory, "-e", "audit_report_dir=" + report_dir,
            "-e", "audit_prometheus=" + os.path.join(report_dir, "textfile")]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    t0 = time.time()
    proc = subprocess.run(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    return Run(argv, proc, report_dir, time.time() - t0)


@pytest.fixture(scope="module")
def report(audit_run):
    path = os.path.join(audit_run.dir, "audit.json")
    if not os.path.exists(path):
        pytest.fail("no audit.json written\n" + audit_run.describe(), pytrace=False)
    with open(path) as handle:
        return json.load(handle)


def host_result(report, name):
    hosts = report.get("hosts") or {}
    assert name in hosts, "host %s missing from audit.json (hosts: %s)" % (name, sorted(hosts))
    return hosts[name]


# ------------------------------------------------------------------ the run as a whole

def test_exit_status_says_drift(audit_run):
    """Every node drifts and compute-5 is unreachable: the playbook must exit nonzero."""
    assert audit_run.proc.returncode != 0, audit_run.describe()


def test_reports_written(audit_run, report):
    for fname in ("audit.json", "audit.xml", "audit.md"):
        assert os.path.getsize(os.path.join(audit_run.dir, fname)) > 0, fname
    validate_junit(os.path.join(audit_run.dir, "audit.xml"))
    validate_audit_json(report)
    assert undocumented_fields(report) == []
    root = ET.parse(os.path.join(audit_run.dir, "audit.xml")).getroot()
    assert root.tag in ("testsuites", "testsuite")
    cases = list(root.iter("testcase"))
    assert cases, "JUnit report without test cases"
    assert any(case.find("failure") is not None for case in cases), "drift, yet no JUnit <failure>"


def test_report_header(report):
    assert report["schema_version"] == 1
    assert report.get("generated_at")
    assert set(report["policy"]) >= {"name", "digest"}
    assert set(report["summary"]) >= {"hosts_by_state", "failing_hosts_by_check", "unreachable"}


def test_every_inventory_host_reported(report, scenarios):
    assert sorted(report["hosts"]) == sorted(scenarios)


def test_unreachable_host(report, scenarios, lab_nodes):
    """compute-5 answers nothing: reported unreachable, and it did not stop the others."""
    for name, sc in scenarios.items():
        want = sc["expect"].get("reachable", True)
        assert host_result(report, name)["reachable"] is want, name
    assert sorted(report["summary"]["unreachable"]) == sorted(
        n for n, sc in scenarios.items() if sc["expect"].get("reachable", True) is False)
    for name in lab_nodes:
        assert host_result(report, name).get("checks"), "%s was not audited" % name


def test_summary_agrees_with_hosts(report, lab_nodes):
    summary = report["summary"]
    for name in lab_nodes:
        state = host_result(report, name)["state"]
        assert name in summary["hosts_by_state"].get(state, []), (name, state)
        for check in host_result(report, name)["checks"]:
            if check["state"] == "fail":
                assert name in summary["failing_hosts_by_check"].get(check["id"], []), (name, check["id"])


# ------------------------------------------------------------------ node by node

def expected_check(spec):
    """A check expectation is a state string or {state, reason_contains}."""
    return (spec, None) if isinstance(spec, str) else (spec["state"], spec.get("reason_contains"))


def test_node_verdicts(report, scenarios, lab_node):
    """Checks, sources and domains of one node against its scenario; lists every mismatch."""
    name = lab_node
    expect = scenarios[name]["expect"]
    got = host_result(report, name)
    problems = []

    if "state" in expect and got.get("state") != expect["state"]:
        problems.append("host state: want %r, got %r" % (expect["state"], got.get("state")))

    checks = dict((c["id"], c) for c in got.get("checks") or [])
    for cid, spec in sorted(expect.get("checks", {}).items()):
        state, reason_contains = expected_check(spec)
        check = checks.get(cid)
        if check is None:
            problems.append("check %s: missing" % cid)
            continue
        if check["state"] != state:
            problems.append("check %s: want %s, got %s (reason: %s)" % (cid, state, check["state"], check.get("reason")))
        if check["state"] != "pass" and not check.get("reason"):
            problems.append("check %s: state %s without a reason" % (cid, check["state"]))
        if reason_contains and reason_contains.lower() not in (check.get("reason") or "").lower():
            problems.append("check %s: reason should mention %r, is %r" % (cid, reason_contains, check.get("reason")))

    for key, want in sorted((expect.get("sources") or {}).items()):
        have = (got.get("sources") or {}).get(key, UNSET)
        if key == "deployment" and isinstance(have, dict):
            have = have.get("shape")          # the scenario names the shape; the evidence is the audit's
        if have != want:
            problems.append("sources.%s: want %r, got %r" % (key, want, None if have is UNSET else have))

    domains = dict((d["name"], d) for d in got.get("domains") or [])
    want_domains = expect.get("domains") or {}
    extra = sorted(set(domains) - set(want_domains))
    if extra:
        problems.append("domains not in the scenario: %s" % extra)
    for dname, dwant in sorted(want_domains.items()):
        dom = domains.get(dname)
        if dom is None:
            problems.append("domain %s: missing" % dname)
            continue
        for key in ("state", "needs_restart"):
            if key in dwant and dom.get(key, UNSET) != dwant[key]:
                problems.append("domain %s: %s want %r, got %r (reason: %s)" % (
                    dname, key, dwant[key], dom.get(key), dom.get("reason")))
        if dwant.get("evidence_contains") and not any(dwant["evidence_contains"] in e for e in dom.get("evidence") or []):
            problems.append("domain %s: evidence should mention %r, is %r" % (
                dname, dwant["evidence_contains"], dom.get("evidence")))
        nics = dict(((n.get("mac") or "").lower(), n) for n in dom.get("nics") or [])
        want_macs = [n["mac"].lower() for n in dwant.get("nics") or []]
        if sorted(nics) != sorted(want_macs):
            problems.append("domain %s: NIC MACs want %s, got %s" % (dname, sorted(want_macs), sorted(nics)))
        for nwant in dwant.get("nics") or []:
            nic = nics.get(nwant["mac"].lower())
            if nic is None:
                continue
            have = nic.get("vhost", UNSET)
            # True / False / None are three different verdicts: compare by identity.
            if have is UNSET or have is not nwant["vhost"]:
                problems.append("domain %s NIC %s: vhost want %r, got %r (reason: %s)" % (
                    dname, nwant["mac"], nwant["vhost"], None if have is UNSET else have, nic.get("reason")))

    assert not problems, "%s differs from tests/lab/scenarios/%s.yml:\n  %s" % (name, name, "\n  ".join(problems))


# ------------------------------------------------------------------ Prometheus, scraped by a real node_exporter

def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_node_exporter_serves_the_audit(audit_run, report):
    import shutil
    import urllib.request
    exporter = shutil.which("prometheus-node-exporter")
    if exporter is None:
        pytest.fail("prometheus-node-exporter (Debian package) is not installed", pytrace=False)
    port = _free_port()
    proc = subprocess.Popen([exporter, "--web.listen-address=127.0.0.1:%d" % port, "--collector.disable-defaults",
                             "--collector.textfile", "--collector.textfile.directory=" +
                             os.path.join(audit_run.dir, "textfile")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = None
        deadline = time.time() + 30
        while time.time() < deadline and body is None:
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
            except OSError:
                time.sleep(0.3)
        assert body is not None, "node_exporter did not answer"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "node_textfile_scrape_error 0" in body, body[-2000:]
    for name, entry in report["hosts"].items():
        assert 'compute_audit_host_up{host="%s"} %d' % (name, 1 if entry["reachable"] else 0) in body
    userspace = [(n, d["name"]) for n, e in report["hosts"].items() for d in e.get("domains") or []
                 for nic in d.get("nics") or [] if nic.get("vhost") is False]
    assert userspace, "the lab runs every VM in userspace"
    for host, dom in userspace:
        assert any(l.startswith("compute_audit_nic_vhost{") and 'host="%s"' % host in l and 'domain="%s"' % dom in l
                   and l.endswith(" 0") for l in body.splitlines()), (host, dom)
