#!/usr/bin/env python3
"""`make crime`: the 2014 incident, live, and the probe's finding.

    python3 tests/lab/crime.py [--seconds 40] [--starve 5]

1. The lab's two real keepalived guests boot (tests/lab/guests.py; lb01
   MASTER with priority 150 on guest-1, lb02 BACKUP with 100 on guest-2).
2. `ansible-playbook probe.yml` captures on both guest nodes at once.
3. While it captures, lb01's qemu is starved as the 2014 host starved it:
   SIGSTOP for --starve seconds, then SIGCONT (LAB-NOTES: a cgroup-v2 CPU
   quota does not exist here and a v1 quota cannot push gaps past ~2 s; under
   TCG the guest's timers run in qemu's main loop, so this stalls the guest
   as a userspace datapath stalled behind a busy qemu did).
4. The probe's finding is printed (reports/probe.md), then what the guests'
   own consoles logged since the starvation: lb02 timing out and becoming
   MASTER, then lb01's higher priority sending it back to BACKUP. The whole
   consoles are kept in reports/crime-consoles/.

Exit status: probe.yml's. 2 when the probe found the instance flapped or its
adverts late (the incident: what this target must show), 0 when it did not
(the incident was not reproduced), 1 when something else failed. The guests are
destroyed at the end; the lab stays up (make lab-down).
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import guests  # noqa: E402
import lab  # noqa: E402

REPORTS = os.path.join(lab.REPO, "reports")


def probing():
    """True once a vrrp_probe module process runs (in either guest node)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            cmd = lab.read("/proc/%s/cmdline" % pid) or ""
            if "AnsiballZ_vrrp_probe" in cmd:
                return True
    return False


def run_crime(seconds=40, starve=5.0, report_dir=REPORTS, log=print):
    """Boot, probe, starve; returns {"rc", "doc", "starved_at", "consoles", "playbook_output"}."""
    guests.reset()
    guests.boot()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(lab.REPO, "ansible.cfg"))
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "probe.yml",
            "-i", lab.INVENTORY, "-e", "probe_hosts=guests", "-e", "probe_seconds=%d" % seconds,
            "-e", '{"probe_domains": ["keepalived-*"]}', "-e", "probe_report_dir=%s" % report_dir]
    log("crime: probing both guest nodes for %d s (ansible-playbook probe.yml)" % seconds)
    proc = subprocess.Popen(argv, cwd=lab.REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    out = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout))
    reader.start()
    deadline = time.time() + 120
    while not probing() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(4)  # a few adverts before the crime
    starved_at = time.time()
    log("crime: SIGSTOP keepalived-lb01's qemu for %g s (the 2014 host starving its userspace datapath)" % starve)
    node, pid = guests.starve("keepalived-lb01", starve)
    log("crime: SIGCONT (qemu pid %d on %s); the probe goes on" % (pid, node))
    proc.wait()
    reader.join()
    doc = None
    path = os.path.join(report_dir, "probe.json")
    if os.path.exists(path):
        with open(path) as handle:
            doc = json.load(handle)
    consoles = {dom: [l for l in guests.consoles_since(dom, starved_at - 1)
                      if "gratuitous" not in l and l.startswith(("Keepalived_vrrp", "Keepalived")) is False]
                for dom in guests.GUESTS}
    guests.stop()
    # The guests' own consoles, kept next to the probe's report as evidence.
    kept = os.path.join(report_dir, "crime-consoles")
    os.makedirs(kept, exist_ok=True)
    for dom in guests.GUESTS:
        with open(os.path.join(kept, dom + ".log"), "w") as handle:
            handle.write(guests.console(dom))
    return {"rc": proc.returncode, "doc": doc, "starved_at": starved_at, "starved_s": starve,
            "consoles": consoles, "playbook_output": "".join(out)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--starve", type=float, default=5.0)
    args = parser.parse_args(argv)
    res = run_crime(args.seconds, args.starve)
    print(res["playbook_output"][-4000:])
    print("=" * 72)
    if res["doc"] is None:
        print("crime: no reports/probe.json: the probe did not run (see above)")
        return 1
    md = os.path.join(REPORTS, "probe.md")
    print(open(md).read() if os.path.exists(md) else "")
    print("What the guests' consoles logged from the starvation on (tests/lab/.state/guest-*/console-*.log):")
    for dom, lines in sorted(res["consoles"].items()):
        keep = [l for l in lines if any(w in l for w in ("MASTER", "BACKUP", "timeout", "priority", "advert"))]
        print("  %s:" % dom)
        for line in keep[:12]:
            print("    " + line)
    print("crime: probe.yml exited %d (2 = the probe found the flap / late adverts; docs: README, make crime)"
          % res["rc"])
    return res["rc"] if res["rc"] in (0, 2) else 1


if __name__ == "__main__":
    sys.exit(main())
