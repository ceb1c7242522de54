#!/usr/bin/env python3
"""The performance benchmark (issue 5): `make bench`, `make bench-smoke`.

    python3 bench/run.py                 # full: about 10 minutes on 2 cores
    python3 bench/run.py --smoke         # N = 3 hosts, tiny sizes: the harness still works
    python3 bench/run.py --only module,controller

Writes reports/bench.json (reports/bench-smoke.json with --smoke), a profile
of the module at the largest size (reports/bench-profile.txt) and prints a
table. Every comparison is a ratio of two wall times measured in the same
run, on the same inventory, with the same forks. Nothing here asserts a
timing: the targets are reported as met or not, and the exit status is 0
whenever the benchmark itself ran (--strict makes a missed target exit 3).

Sections (bench/README.md says what each measures and why that way):
  fleet       ansible-playbook audit.yml vs `ansible -m ping` vs bench/naive.yml
              over N local hosts, each auditing its own generated snapshot root
  module      the real AnsiballZ payload of compute_audit, run as Ansible runs it
              (a python subprocess), on roots of 10 / 100 / 1000 domains: wall
              time and peak RSS; growth exponent of the work (collect + evaluate)
  controller  report.build + junit + markdown + to_json + table over 10,000
              host records; the restart planner (plan.py) over 10,000 domains
  lab         audit.yml vs ping over the staging lab's reachable nodes (SSH)
"""
import argparse
import copy
import cProfile
import glob
import io
import json
import math
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "module_utils"))
sys.path.insert(0, os.path.join(REPO, "tests", "snapshots"))

import snapgen  # noqa: E402
import yaml  # noqa: E402

SCHEMA_VERSION = 1
FAKEBIN = os.path.join(HERE, "fakebin")
NAIVE = os.path.join(HERE, "naive.yml")

FULL = {
    "mode": "full",
    "fleet_sizes": [50, 200],        # audit vs ping at each
    "naive_sizes": [50],              # naive vs audit at each (3 + 2 x 20 round trips per host: slow by design)
    "fleet_domains": 20,
    "fleet_repeats": {50: 1, 200: 2},  # interleaved ping/audit pairs per size; the median is reported
    "module_sizes": [10, 100, 1000],
    "module_nics": 4,
    "module_repeats": 3,
    "floor_pairs": 7,                 # module / floor runs alternated for module_vs_floor
    "report_hosts": 10000,
    "plan_domains": 10000,
    "plan_groups": 2000,
    "lab_repeats": 3,
}
SMOKE = {
    "mode": "smoke",
    "fleet_sizes": [3],
    "naive_sizes": [3],
    "fleet_domains": 3,
    "fleet_repeats": {3: 1},
    "module_sizes": [3, 10],
    "module_nics": 4,
    "module_repeats": 1,
    "floor_pairs": 1,
    "report_hosts": 100,
    "plan_domains": 100,
    "plan_groups": 20,
    "lab_repeats": 0,                 # the lab is not measured in the smoke run
}

# What the issue asks for; "max" is an upper bound, "min" a lower bound.
TARGETS = {
    "audit_vs_ping": ("max", 1.5),
    "naive_vs_audit": ("min", 3.0),
    "module_1000_s": ("max", 1.0),
    "module_1000_rss_mb": ("max", 60.0),
    "module_exponent": ("max", 1.05),
    "module_vs_floor": ("max", 1.5),
    "report_10000_s": ("max", 5.0),
    "plan_10000_s": ("max", 2.0),
    "lab_audit_vs_ping": ("max", 1.5),
}
KEYS = ["audit_vs_ping", "audit_vs_ping_n50", "naive_vs_audit", "module_1000_s", "module_1000_rss_mb",
        "module_exponent", "module_vs_floor", "report_10000_s", "plan_10000_s", "lab_audit_vs_ping"]


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# -- snapshot roots ---------------------------------------------------------

_SYNTAXES = ("json", "keyval", "json", "legacy")


def node_spec(hostname, domains, nics, seed=0):
    """A compute node of `domains` running KVM domains with `nics` virtio NICs each.

    A realistic mix: JSON (QEMU >= 6), keyval and legacy `-net` syntax,
    multiqueue NICs, about two thirds of the NICs with vhost-net, a third
    without (so the audit has findings and restarts to report).
    """
    doms = []
    for d in range(domains):
        nic_list = []
        for k in range(nics):
            i = d * nics + k + seed
            syntax = _SYNTAXES[i % len(_SYNTAXES)]
            vhost = syntax != "legacy" and i % 3 != 0
            queues = 2 if (syntax != "legacy" and i % 5 == 0) else None
            mac = "52:%02x:%02x:%02x:%02x:%02x" % ((seed >> 8) & 0xff, seed & 0xff, (d >> 8) & 0xff, d & 0xff, k)
            nic = {"mac": mac, "syntax": syntax, "vhost": vhost}
            if queues:
                nic["queues"] = queues
            nic_list.append(nic)
        doms.append({"name": "instance-%08x" % (d + 1), "uuid": "6a1b7c2e-0000-4000-8000-%012d" % (seed * 100000 + d),
                     "pid": 10000 + d * 20, "nics": nic_list, "id": d + 1})
    return {
        "hostname": hostname,
        "qemu_kvm": snapgen.TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1"),
        "proc_modules": snapgen.MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "modules_load_d": {"vhost_net.conf": "vhost_net\n"},
        "domains": doms,
    }


def make_root(path, hostname, domains, nics, seed=0):
    snapgen.write_node(path, node_spec(hostname, domains, nics, seed))
    return path


def write_inventory(path, roots, python=None):
    """A YAML inventory of local snapshot hosts, one per root, in group `compute`."""
    hosts = dict((name, {"audit_root": root}) for name, root in roots)
    inv = {"all": {"children": {"compute": {
        "hosts": hosts,
        "vars": {"ansible_connection": "local", "audit_use_libvirt": False,
                 "ansible_python_interpreter": python or "{{ ansible_playbook_python }}"}}}}}
    with open(path, "w") as handle:
        yaml.safe_dump(inv, handle, sort_keys=True)
    return path


# -- running Ansible --------------------------------------------------------

def ansible_env(extra=None):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = os.path.join(REPO, "ansible.cfg")
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    env.update(extra or {})
    return env


def timed(cmd, logfile, env=None, ok=(0,)):
    """Wall time of one command (stdout and stderr to logfile); raises if it failed."""
    start = time.perf_counter()
    with open(logfile, "w") as out:
        rc = subprocess.call(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env or ansible_env())
    elapsed = time.perf_counter() - start
    if rc not in ok:
        with open(logfile) as handle:
            tail = handle.read()[-3000:]
        raise RuntimeError("%s exited %d after %.1fs; end of %s:\n%s" % (" ".join(cmd), rc, elapsed, logfile, tail))
    return elapsed


def ping_cmd(inventory, forks, limit=None):
    cmd = ["ansible", "compute", "-i", inventory, "-m", "ansible.builtin.ping", "-f", str(forks), "-o"]
    return cmd + (["--limit", limit] if limit else [])


def audit_env():
    """audit.yml runs with ansible.posix.profile_tasks: a per-task recap at the end (a few ms per task)."""
    return ansible_env({"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})


def audit_cmd(inventory, forks, report_dir, limit=None):
    cmd = ["ansible-playbook", "audit.yml", "-i", inventory, "-f", str(forks),
           "-e", "audit_report_dir=%s" % report_dir, "-e", "audit_fail_on_drift=false"]
    return cmd + (["--limit", limit] if limit else [])


def naive_cmd(inventory, forks):
    return ["ansible-playbook", NAIVE, "-i", inventory, "-f", str(forks), "-e", "naive_fakebin=%s" % FAKEBIN]


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def task_profile(logfile):
    """Where the play's time went, per task: the profile_tasks recap of a timed audit.yml run."""
    tasks = []
    with open(logfile) as handle:
        text = handle.read()
    # The recap lists "<task name> ---- 12.34s" after the PLAY RECAP block.
    recap = text.split("PLAY RECAP", 1)[-1]
    for line in recap.splitlines():
        m = re.match(r"^(.*?)\s-{3,}\s+([0-9.]+)s\s*$", line.strip())
        if m:
            tasks.append({"task": m.group(1).strip(), "s": float(m.group(2))})
    return tasks


# -- 1. fleet ---------------------------------------------------------------

def bench_fleet(cfg, work, forks, results):
    sizes = sorted(set(cfg["fleet_sizes"]) | set(cfg["naive_sizes"]))
    top = max(sizes)
    log("generating %d snapshot roots of %d domains" % (top, cfg["fleet_domains"]))
    start = time.perf_counter()
    roots = []
    for i in range(top):
        name = "bench-%04d" % (i + 1)
        roots.append((name, make_root(os.path.join(work, "roots", name), name, cfg["fleet_domains"], 2, seed=i + 1)))
    gen_s = time.perf_counter() - start
    fleet = {"forks": forks, "domains_per_host": cfg["fleet_domains"], "nics_per_domain": 2,
             "roots_generated_s": round(gen_s, 2), "sizes": {}}
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    # Warm-up (plugin loading, page cache), discarded.
    log("warm-up ping over %d hosts" % sizes[0])
    timed(ping_cmd(write_inventory(os.path.join(work, "inventory-warmup.yml"), roots[:sizes[0]]), forks),
          os.path.join(logs, "warmup.log"))
    for n in sizes:
        inv = write_inventory(os.path.join(work, "inventory-%d.yml" % n), roots[:n])
        reports = os.path.join(work, "reports-%d" % n)
        repeats = cfg["fleet_repeats"].get(n, 1)
        entry = {"hosts": n, "repeats": repeats}
        pings, audits = [], []
        if n in cfg["fleet_sizes"]:
            for r in range(repeats):
                log("N=%d: ping (%d/%d)" % (n, r + 1, repeats))
                pings.append(timed(ping_cmd(inv, forks), os.path.join(logs, "ping-%d-%d.log" % (n, r))))
                log("N=%d: audit.yml (%d/%d)" % (n, r + 1, repeats))
                audits.append(timed(audit_cmd(inv, forks, reports), os.path.join(logs, "audit-%d-%d.log" % (n, r)),
                                    env=audit_env()))
            entry["audit_task_profile"] = task_profile(os.path.join(logs, "audit-%d-%d.log" % (n, repeats - 1)))
            with open(os.path.join(reports, "audit.json")) as handle:
                doc = json.load(handle)
            entry["audited_hosts"] = doc["summary"]["hosts"]
            entry["audited_domains"] = sum(len(h.get("domains") or []) for h in doc["hosts"].values())
            if entry["audited_hosts"] != n or entry["audited_domains"] != n * cfg["fleet_domains"]:
                raise RuntimeError("audit of N=%d saw %d hosts / %d domains" % (
                    n, entry["audited_hosts"], entry["audited_domains"]))
            entry["ping_s"] = [round(t, 2) for t in pings]
            entry["audit_s"] = [round(t, 2) for t in audits]
            entry["audit_vs_ping"] = ratio(statistics.median(audits), statistics.median(pings))
        if n in cfg["naive_sizes"]:
            if not audits:
                audits.append(timed(audit_cmd(inv, forks, reports), os.path.join(logs, "audit-%d-n.log" % n),
                                    env=audit_env()))
                entry["audit_s"] = [round(t, 2) for t in audits]
            log("N=%d: naive playbook (%d round trips per host)" % (n, 3 + 2 * cfg["fleet_domains"]))
            naive = timed(naive_cmd(inv, forks), os.path.join(logs, "naive-%d.log" % n))
            with open(os.path.join(logs, "naive-%d.log" % n)) as handle:
                text = handle.read()
            seen = len(re.findall(r"domains: %d;" % cfg["fleet_domains"], text))
            if seen != n:
                raise RuntimeError("naive playbook summarised %d of %d hosts" % (seen, n))
            entry["naive_s"] = round(naive, 2)
            entry["naive_round_trips_per_host"] = 3 + 2 * cfg["fleet_domains"]
            entry["naive_vs_audit"] = ratio(naive, statistics.median(audits))
        fleet["sizes"][str(n)] = entry
    big = str(max(cfg["fleet_sizes"]))
    results["audit_vs_ping"] = fleet["sizes"][big].get("audit_vs_ping")
    results["audit_vs_ping_n50"] = fleet["sizes"].get("50", fleet["sizes"][str(min(cfg["fleet_sizes"]))]).get(
        "audit_vs_ping")
    naive_n = str(max(cfg["naive_sizes"]))
    results["naive_vs_audit"] = fleet["sizes"][naive_n].get("naive_vs_audit")
    results["naive_vs_audit_hosts"] = int(naive_n)
    return fleet


# -- 2. one node: the module ------------------------------------------------

def build_payload(root, work, size):
    """The AnsiballZ file Ansible sends to a node for this module call (kept with ANSIBLE_KEEP_REMOTE_FILES)."""
    remote_tmp = os.path.join(work, "remote-tmp-%d" % size)
    shutil.rmtree(remote_tmp, ignore_errors=True)
    env = ansible_env({"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": remote_tmp,
                       "ANSIBLE_PIPELINING": "0"})
    cmd = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", "compute_audit",
           "-a", "root=%s use_libvirt=false host_name=bench-node" % root,
           "-e", "ansible_python_interpreter=%s" % sys.executable, "-o"]
    timed(cmd, os.path.join(work, "logs", "payload-%d.log" % size), env=env)
    found = glob.glob(os.path.join(remote_tmp, "*", "AnsiballZ_compute_audit.py"))
    if len(found) != 1:
        raise RuntimeError("expected one AnsiballZ_compute_audit.py under %s, found %r" % (remote_tmp, found))
    return found[0]


def run_payload(payload):
    """Run the payload as Ansible's local connection does: `python AnsiballZ_x.py`. (seconds, peak RSS MiB, result)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, payload], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.path.dirname(payload))
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError("module exited %d: %s %s" % (proc.returncode, out[-2000:], err[-2000:]))
    return elapsed, usage.ru_maxrss / 1024.0, json.loads(out)


def fit_exponent(sizes, times):
    """Least-squares slope of log(time) against log(size)."""
    if len(sizes) < 2 or any(t <= 0 for t in times):
        return None
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den, 3) if den else None


def in_process(root, repeats):
    """Median seconds of collect() and evaluate() in this process (the part that grows with domains)."""
    from nodeaudit.sources.collect import collect
    from nodeaudit.evaluate import evaluate
    from nodeaudit.policy import DEFAULT_POLICY, validate
    policy = validate(copy.deepcopy(DEFAULT_POLICY))
    col, ev = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        facts = collect(root=root, use_libvirt=False)
        t1 = time.perf_counter()
        evaluate(facts, policy, host_name="bench-node")
        t2 = time.perf_counter()
        col.append(t1 - t0)
        ev.append(t2 - t1)
    return statistics.median(col), statistics.median(ev)


def profile_module(root, out_path, top=25):
    """cProfile of collect + evaluate on one root; the text goes to out_path, a summary is returned."""
    from nodeaudit.sources.collect import collect
    from nodeaudit.evaluate import evaluate
    from nodeaudit.policy import DEFAULT_POLICY, validate
    policy = validate(copy.deepcopy(DEFAULT_POLICY))
    prof = cProfile.Profile()
    prof.enable()
    facts = collect(root=root, use_libvirt=False)
    evaluate(facts, policy, host_name="bench-node")
    prof.disable()
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    with open(out_path, "w") as handle:
        handle.write("cProfile of collect() + evaluate() on %s\n\n" % root)
        handle.write(text.getvalue())
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():
        rows.append({"function": "%s:%d(%s)" % (os.path.basename(filename), line, func), "calls": nc,
                     "tottime_s": round(tt, 4), "cumtime_s": round(ct, 4)})
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:12]


def run_floor(root):
    """Wall seconds of bench/floor.py over ``root`` (a fresh Python process, like the module's)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(HERE, "floor.py"), root], check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_module(cfg, work, results):
    nics = cfg["module_nics"]
    module = {"nics_per_domain": nics, "repeats": cfg["module_repeats"], "python": sys.executable,
              "how": "the AnsiballZ_compute_audit.py payload Ansible built for this call (ANSIBLE_KEEP_REMOTE_FILES), "
                     "run as `python AnsiballZ_compute_audit.py`; RSS from wait4() on that process",
              "sizes": {}}
    sizes = cfg["module_sizes"]
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    for size in sizes:
        log("module: %d domains x %d NICs" % (size, nics))
        root = make_root(os.path.join(work, "module-roots", "node-%d" % size), "bench-node-%d" % size, size, nics)
        payload = build_payload(root, work, size)
        runs = [run_payload(payload) for _ in range(cfg["module_repeats"])]
        audit = runs[-1][2]["audit"]
        if len(audit["domains"]) != size or sum(len(d["nics"]) for d in audit["domains"]) != size * nics:
            raise RuntimeError("module saw %d domains at size %d" % (len(audit["domains"]), size))
        col, ev = in_process(root, cfg["module_repeats"])
        module["sizes"][str(size)] = {
            "wall_s": round(statistics.median(r[0] for r in runs), 4),
            "peak_rss_mb": round(max(r[1] for r in runs), 1),
            "result_kb": round(len(json.dumps(runs[-1][2])) / 1024.0, 1),
            "collect_s": round(col, 4), "evaluate_s": round(ev, 4),
            "per_domain_ms": round(1000 * (col + ev) / size, 3),
        }
    # Empty node: the fixed cost of starting Python, unpacking AnsiballZ and importing the module.
    root = make_root(os.path.join(work, "module-roots", "node-0"), "bench-node-0", 0, nics)
    payload = build_payload(root, work, 0)
    module["empty_node_wall_s"] = round(statistics.median(run_payload(payload)[0] for _ in range(cfg["module_repeats"])), 4)
    work_s = [module["sizes"][str(s)]["collect_s"] + module["sizes"][str(s)]["evaluate_s"] for s in sizes]
    wall_s = [module["sizes"][str(s)]["wall_s"] for s in sizes]
    module["exponent_work"] = fit_exponent(sizes, work_s)
    module["exponent_wall"] = fit_exponent(sizes, wall_s)
    module["exponent_wall_minus_empty"] = fit_exponent(
        sizes, [max(w - module["empty_node_wall_s"], 1e-6) for w in wall_s])
    big = str(max(sizes))
    log("module: cProfile at %s domains" % big)
    module["profile_file"] = cfg["profile_out"]
    module["profile_top_tottime"] = profile_module(os.path.join(work, "module-roots", "node-%s" % big),
                                                   cfg["profile_out"])
    # The module and the floor alternate on the same root, so a load that comes and goes on a shared
    # machine weighs on both alike; the ratio is of the two medians.
    big_root = os.path.join(work, "module-roots", "node-%s" % big)
    big_payload = build_payload(big_root, work, int(big))
    pairs = [(run_payload(big_payload)[0], run_floor(big_root)) for _ in range(cfg["floor_pairs"])]
    module["floor_wall_s"] = round(statistics.median(f for _m, f in pairs), 4)
    module["module_alternating_wall_s"] = round(statistics.median(m for m, _f in pairs), 4)
    module["floor_how"] = ("bench/floor.py: a plain Python process that reads every file of the same root once "
                           "(readlink for links) and parses every XML with ElementTree, run alternately with "
                           "the module")
    results["module_vs_floor"] = round(module["module_alternating_wall_s"] / module["floor_wall_s"], 3)
    results["module_1000_s"] = module["sizes"][big]["wall_s"]
    results["module_1000_rss_mb"] = module["sizes"][big]["peak_rss_mb"]
    results["module_exponent"] = module["exponent_work"]
    return module


# -- 3. controller ----------------------------------------------------------

def host_templates(work):
    """Two real audits of 20-domain nodes (one compliant, one drifting), as the module returns them."""
    from nodeaudit.sources.collect import collect
    from nodeaudit.evaluate import evaluate
    from nodeaudit.policy import DEFAULT_POLICY, validate
    policy = validate(copy.deepcopy(DEFAULT_POLICY))
    good = node_spec("tmpl-good", 20, 2, seed=7)
    for dom in good["domains"]:
        for nic in dom["nics"]:
            if nic["syntax"] == "legacy":
                nic["syntax"] = "json"
            nic["vhost"] = True
    bad = node_spec("tmpl-bad", 20, 2, seed=9)
    out = []
    for name, spec in (("good", good), ("bad", bad)):
        root = os.path.join(work, "tmpl-" + name)
        snapgen.write_node(root, spec)
        out.append(evaluate(collect(root=root, use_libvirt=False), policy, host_name=name))
    return out


def bench_reports(cfg, work):
    from nodeaudit.controller import report
    templates = host_templates(work)
    n = cfg["report_hosts"]
    results = {}
    for i in range(n - 1):
        audit = dict(templates[i % 3 == 0])      # a third drifting
        audit["host"] = "compute-%05d" % i
        results["compute-%05d" % i] = {"changed": False, "audit": audit}
    results["compute-%05d" % (n - 1)] = {"unreachable": True, "msg": "Failed to connect to the host via ssh"}
    steps = {}
    t0 = time.perf_counter()
    hosts = dict((name, report.host_entry(r)) for name, r in results.items())
    doc = report.build(hosts, "default", "sha256:bench", "2026-01-01T00:00:00Z")
    steps["build_s"] = time.perf_counter() - t0
    sizes = {}
    for name, func in (("junit", report.junit), ("markdown", report.markdown), ("to_json", report.to_json),
                       ("table", report.table)):
        t = time.perf_counter()
        text = func(doc)
        steps[name + "_s"] = time.perf_counter() - t
        sizes[name + "_mb"] = round(len(text) / 1e6, 1)
        del text
    total = sum(steps.values())
    return {"hosts": n, "unreachable_hosts": 1, "domains_per_host": 20, "steps_s": dict((k, round(v, 3)) for k, v in steps.items()),
            "output_sizes": sizes, "total_s": round(total, 3)}


def plan_input(domains, groups, per_host=20):
    """The planner's input: `domains` needing a restart, `per_host` per host, in `groups` HA groups.

    Domain d is member m = d // groups of group g = d % groups, so a group's
    members sit on different hosts (the case that makes waves). Every host gets
    its own copy of the merged policy, as the playbook passes them.
    """
    from nodeaudit.policy import DEFAULT_POLICY, merge, validate
    ha_groups = [{"name": "ha%04d" % g, "domains": ["ha%04d-*" % g]} for g in range(groups)]
    policy = validate(merge(copy.deepcopy(DEFAULT_POLICY), {"ha_groups": ha_groups}))
    hosts = {}
    for d in range(domains):
        host = "compute-%05d" % (d // per_host)
        entry = hosts.setdefault(host, {
            "reachable": True, "state": "fail", "sources": {"domains": "libvirt"},
            # The structured field the planner reads (combiners/kernel.py: can_provide), as the audit writes it.
            "kernel": {"can_provide": True, "can_provide_reason": None, "dev_vhost_net": True,
                       "vhost_net_loaded": True}, "checks": [], "domains": []})
        g, m = d % groups, d // groups
        entry["domains"].append({"name": "ha%04d-m%03d" % (g, m), "uuid": "00000000-0000-4000-8000-%012d" % d,
                                 "state": "running", "pid": 10000 + d, "needs_restart": True, "exempt": False})
    policies = dict((h, copy.deepcopy(policy)) for h in hosts)
    return hosts, policies


def bench_plan(cfg, work, results, notes):
    from nodeaudit.controller import plan
    try:
        elapsed, detail = _plan_adapter(plan, cfg["plan_domains"], cfg["plan_groups"])
    except Exception as exc:  # the planner is someone else's moving target: report, do not crash
        results["plan_10000_s"] = None
        notes["plan_10000_s"] = "plan.py is there but the harness could not call it: %s: %s" % (
            type(exc).__name__, exc)
        return {"status": "error", "reason": notes["plan_10000_s"]}
    results["plan_10000_s"] = round(elapsed, 6)
    detail.update(status="ok", domains=cfg["plan_domains"], ha_groups=cfg["plan_groups"])
    return detail


def _plan_adapter(plan, domains, groups):
    """plan.plan(hosts, policies, options) -> plan doc (its docstring); returns (seconds, detail)."""
    hosts, policies = plan_input(domains, groups)
    t0 = time.perf_counter()
    doc = plan.plan(hosts, policies, {})
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    plan.plan_markdown(doc)
    md = time.perf_counter() - t1
    summary = doc.get("summary") or {}
    if summary.get("planned") != domains or doc.get("errors"):
        raise RuntimeError("planned %r of %d domains, errors %r" % (summary.get("planned"), domains,
                                                                     (doc.get("errors") or [])[:3]))
    return elapsed, {"entry": "plan.plan(hosts, policies, options)", "hosts": len(hosts),
                     "plan_s": round(elapsed, 3), "markdown_s": round(md, 3), "waves": summary.get("waves"),
                     "lower_bound_waves": summary.get("lower_bound_waves"),
                     "max_per_wave": (doc.get("limits") or {}).get("max_per_wave")}


# -- 4. lab -----------------------------------------------------------------

LAB_INVENTORY = os.path.join(REPO, "tests", "lab", "inventory.yml")
LAB_PY = os.path.join(REPO, "tests", "lab", "lab.py")
LAB_NODES = ["compute-1", "compute-2", "compute-3", "compute-4"]


def lab_state():
    """(nodes that are up among compute-1..4, None) or (None, why the lab cannot be measured)."""
    if not os.path.exists(LAB_PY):
        return None, "tests/lab/lab.py does not exist"
    if not os.path.exists(LAB_INVENTORY):
        return None, "tests/lab/inventory.yml does not exist (lab never brought up)"
    try:
        proc = subprocess.run([sys.executable, LAB_PY, "status"], cwd=REPO, capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, "lab.py status failed: %s" % exc
    state = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in LAB_NODES:
            state[parts[0]] = parts[2]
    down = [n for n in LAB_NODES if state.get(n) != "up"]
    if down:
        return None, "lab not up: %s (lab.py status exit %d)" % (
            ", ".join("%s %s" % (n, state.get(n, "absent")) for n in down), proc.returncode)
    return LAB_NODES, None


def bench_lab(cfg, work, forks, results, notes):
    if not cfg["lab_repeats"]:
        results["lab_audit_vs_ping"] = None
        notes["lab_audit_vs_ping"] = "not measured in the smoke run"
        return {"status": "skipped", "reason": notes["lab_audit_vs_ping"]}
    nodes, why = lab_state()
    if nodes is None:
        results["lab_audit_vs_ping"] = None
        notes["lab_audit_vs_ping"] = why
        return {"status": "not_measured", "reason": why}
    limit = ",".join(nodes)
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    reports = os.path.join(work, "reports-lab")
    timed(ping_cmd(LAB_INVENTORY, forks, limit), os.path.join(logs, "lab-warmup.log"))
    pings, audits = [], []
    for r in range(cfg["lab_repeats"]):
        log("lab: ping and audit.yml over %s (%d/%d)" % (limit, r + 1, cfg["lab_repeats"]))
        pings.append(timed(ping_cmd(LAB_INVENTORY, forks, limit), os.path.join(logs, "lab-ping-%d.log" % r)))
        audits.append(timed(audit_cmd(LAB_INVENTORY, forks, reports, limit), os.path.join(logs, "lab-audit-%d.log" % r),
                            env=audit_env()))
    results["lab_audit_vs_ping"] = ratio(statistics.median(audits), statistics.median(pings))
    return {"status": "ok", "hosts": nodes, "ping_s": [round(t, 2) for t in pings],
            "audit_s": [round(t, 2) for t in audits], "audit_vs_ping": results["lab_audit_vs_ping"]}


# -- the whole thing --------------------------------------------------------

def judge(results):
    out = {}
    for key, (kind, bound) in TARGETS.items():
        value = results.get(key)
        met = None if value is None else (value <= bound if kind == "max" else value >= bound)
        out[key] = {"target": "%s %s" % ("<=" if kind == "max" else ">=", bound), "value": value, "met": met}
    return out


def table(doc):
    lines = ["", "compute-audit benchmark (%s run, forks %d, %s)" % (doc["mode"], doc["forks"], doc["machine"]["cpus_desc"]),
             "", "%-22s %12s  %-9s %s" % ("key", "value", "target", "met"), "-" * 56]
    for key in KEYS:
        value = doc.get(key)
        t = doc["targets"].get(key)
        met = "-" if t is None else {True: "yes", False: "NO", None: "n/a"}[t["met"]]
        lines.append("%-22s %12s  %-9s %s" % (key, "null" if value is None else value,
                                              t["target"] if t else "", met))
    for key, why in sorted(doc["notes"].items()):
        lines.append("  %s: %s" % (key, why))
    fleet = doc.get("fleet") or {}
    if fleet.get("sizes"):
        lines += ["", "fleet (wall s, median)        ping     audit    naive"]
        for n, e in sorted(fleet["sizes"].items(), key=lambda kv: int(kv[0])):
            med = lambda v: "%.1f" % statistics.median(v) if v else "-"  # noqa: E731
            lines.append("  N=%-4s %21s %8s %8s" % (n, med(e.get("ping_s")), med(e.get("audit_s")),
                                                   "%.1f" % e["naive_s"] if e.get("naive_s") else "-"))
    module = doc.get("module") or {}
    if module.get("sizes"):
        lines += ["", "module (%d NICs/domain)  wall s   RSS MiB  collect s  evaluate s" % module["nics_per_domain"]]
        for n, e in sorted(module["sizes"].items(), key=lambda kv: int(kv[0])):
            lines.append("  %5s domains  %8.3f %8.1f %10.3f %11.3f" % (n, e["wall_s"], e["peak_rss_mb"], e["collect_s"],
                                                                      e["evaluate_s"]))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, measures nothing useful")
    parser.add_argument("--out", help="JSON output (default reports/bench.json, reports/bench-smoke.json with --smoke)")
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--only", default="fleet,module,controller,lab",
                        help="comma-separated sections (default: all)")
    parser.add_argument("--workdir", help="keep roots and logs here (default: a temporary directory, removed)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a measured target is missed")
    args = parser.parse_args(argv)
    cfg = dict(SMOKE if args.smoke else FULL)
    sections = set(s.strip() for s in args.only.split(",") if s.strip())
    out = args.out or os.path.join(REPO, "reports", "bench-smoke.json" if args.smoke else "bench.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    os.makedirs(os.path.join(REPO, "reports"), exist_ok=True)
    cfg["profile_out"] = os.path.splitext(os.path.abspath(out))[0] + "-profile.txt"
    work = args.workdir or tempfile.mkdtemp(prefix="compute-audit-bench-")
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    started = time.time()
    results = dict((k, None) for k in KEYS)
    notes = {}
    doc = {"schema_version": SCHEMA_VERSION, "mode": cfg["mode"], "forks": args.forks,
           "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": machine(), "config": cfg}
    try:
        if "fleet" in sections:
            doc["fleet"] = bench_fleet(cfg, work, args.forks, results)
        else:
            notes.update(dict((k, "fleet section not run (--only)") for k in ("audit_vs_ping", "audit_vs_ping_n50",
                                                                               "naive_vs_audit")))
        if "module" in sections:
            doc["module"] = bench_module(cfg, work, results)
        else:
            notes.update(dict((k, "module section not run (--only)") for k in ("module_1000_s", "module_1000_rss_mb",
                                                                                "module_vs_floor",
                                                                                "module_exponent")))
        if "controller" in sections:
            log("controller: reports over %d host records" % cfg["report_hosts"])
            doc["reports"] = bench_reports(cfg, work)
            results["report_10000_s"] = doc["reports"]["total_s"]
            log("controller: restart plan over %d domains" % cfg["plan_domains"])
            doc["plan"] = bench_plan(cfg, work, results, notes)
        else:
            notes.update(dict((k, "controller section not run (--only)") for k in ("report_10000_s", "plan_10000_s")))
        if "lab" in sections:
            try:
                doc["lab"] = bench_lab(cfg, work, args.forks, results, notes)
            except RuntimeError as exc:       # the lab is shared: it may go down under us
                results["lab_audit_vs_ping"] = None
                notes["lab_audit_vs_ping"] = "lab run failed: %s" % str(exc).splitlines()[0]
                doc["lab"] = {"status": "error", "reason": str(exc)[-2000:]}
        else:
            notes["lab_audit_vs_ping"] = "lab section not run (--only)"
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    for key in KEYS:
        if results.get(key) is None and key not in notes:
            notes[key] = "not measured"
    doc.update(results)
    doc["notes"] = notes
    doc["targets"] = judge(results)
    doc["elapsed_s"] = round(time.time() - started, 1)
    tmp = out + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(doc, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(tmp, out)
    print(table(doc))
    print("\nwritten: %s (%.0f s)" % (os.path.relpath(out, REPO) if out.startswith(REPO) else out, doc["elapsed_s"]))
    missed = [k for k, t in doc["targets"].items() if t["met"] is False]
    return 3 if (args.strict and missed) else 0


def machine():
    try:
        import ansible.release
        core = ansible.release.__version__
    except ImportError:
        core = None
    cpus = os.cpu_count()
    return {"cpus": cpus, "cpus_desc": "%s CPUs" % cpus, "python": platform.python_version(),
            "ansible_core": core, "platform": platform.platform()}


if __name__ == "__main__":
    sys.exit(main())
