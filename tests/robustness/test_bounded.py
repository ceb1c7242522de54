"""Promise: bounded by construction (issue 14, point 2).

A hostile or broken node can neither hang the audit nor blow it up: every read
is type-checked before it is opened, confinement costs O(path length), reads
are time-bounded, and what the audit touches is said as error/unknown while the
rest of the node is still audited. No test here asserts on elapsed time: costs
are counted in system calls, hangs are caught by a watchdog that fails the test.
"""
import json
import os
import signal
import stat

import pytest

from robust_tools import PID_A, QEMU_DEFAULT, assert_rest_audited, checks_of, domains_of
from nodeaudit.sources import reader as reader_mod
from nodeaudit.sources.reader import LOOP, NOT_FILE, OK, TIMEOUT, RootReader, RootRefused


class Hang(Exception):
    pass


@pytest.fixture
def watchdog():
    """Fail (instead of hanging the suite) when the body blocks for more than 60 s."""
    def alarm(signum, frame):
        raise Hang("blocked: the audit hung on this input")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# ------------------------------------------- type-checked before it is opened

def test_fifo_at_a_domains_qemu_log_path_does_not_hang_the_audit(node, watchdog):
    """Finding: a FIFO at /var/log/libvirt/qemu/<dom>.log hung the audit forever (read_tail opened first)."""
    n = node()
    path = n.path("/var/log/libvirt/qemu/vm-a.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mkfifo(path)
    result = n.audit()
    doms = domains_of(result)
    assert doms["vm-a"]["verdict"] == "pass"            # judged by what runs; the log was not needed
    assert doms["vm-b"]["verdict"] == "pass"
    assert_rest_audited(result, ())


def test_fifo_is_never_opened_by_any_read(node, watchdog, monkeypatch):
    n = node()
    os.mkfifo(n.path("/etc/fifo"))
    opened = []
    real_open = os.open

    def spy(path, flags, *a, **kw):
        opened.append(path)
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", spy)
    rd = RootReader(n.root)
    for call in (lambda: rd.read("/etc/fifo"), lambda: rd.read_tail("/etc/fifo", 4096)):
        got = call()
        assert got.status == NOT_FILE and "FIFO" in got.reason and "not opened" in got.reason
    assert "fifo" not in [os.path.basename(str(p)) for p in opened]


def test_fifo_as_the_defaults_file_is_an_error_and_the_rest_is_audited(node, watchdog):
    n = node()
    n.remove(QEMU_DEFAULT)
    os.mkfifo(n.path(QEMU_DEFAULT))
    result = n.audit()
    check = checks_of(result)["qemu_kvm.vhost_net_enabled"]
    assert check["state"] == "error" and "FIFO" in check["reason"]
    assert_rest_audited(result, ("qemu_kvm.vhost_net_enabled", "kernel.vhost_net_boot"))


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_device_node_in_a_snapshot_is_never_opened(node, monkeypatch):
    """Finding: a device node in a snapshot was opened before its type was checked."""
    n = node()
    n.remove(QEMU_DEFAULT)
    os.mknod(n.path(QEMU_DEFAULT), 0o600 | stat.S_IFCHR, os.makedev(1, 3))     # /dev/null's numbers
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, f, *a, **kw: opened.append(p) or real_open(p, f, *a, **kw))
    got = RootReader(n.root).read(QEMU_DEFAULT)
    monkeypatch.undo()
    assert got.status == NOT_FILE and "character device" in got.reason
    assert "qemu-kvm" not in [os.path.basename(str(p)) for p in opened]
    result = n.audit()
    check = checks_of(result)["qemu_kvm.vhost_net_enabled"]
    assert check["state"] == "error" and "character device" in check["reason"]
    assert_rest_audited(result, ("qemu_kvm.vhost_net_enabled", "kernel.vhost_net_boot"))


def test_a_file_swapped_for_a_fifo_after_the_check_is_not_read(node, watchdog, monkeypatch):
    """The fstat after the open must be the file that was checked (O_NONBLOCK keeps the open from blocking)."""
    n = node()
    rd = RootReader(n.root)
    real_stat = os.stat
    path = n.path("/etc/hostname")

    def swap(p, *a, **kw):
        st = real_stat(p, *a, **kw)
        if p == "hostname":
            os.unlink(path)
            os.mkfifo(path)
        return st

    monkeypatch.setattr(os, "stat", swap)
    got = rd.read("/etc/hostname")
    assert got.status != OK and got.data is None


# ------------------------------------------------ confinement O(path length)

def _maze(base, depth, hops):
    """``depth`` nested directories, and a chain of ``hops`` links each through the whole depth."""
    rel = "/".join(["d"] * depth)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    for name in ["maze"] + ["d"] * depth:          # deeper than PATH_MAX allows a path to name: walk with fds
        os.mkdir(name, dir_fd=fd)
        nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    for k in range(hops):
        target = "/maze/%s/l%d" % (rel, k + 1) if k + 1 < hops else "/etc/hostname"
        os.symlink(target, "l%d" % k, dir_fd=fd)
    os.close(fd)
    return "/maze/%s/l0" % rel


def remove_maze(base):
    """Remove a maze bottom-up without recursion (shutil.rmtree recurses once per level: 2,000 is too deep)."""
    if not os.path.isdir(os.path.join(base, "maze")):
        return
    fds = [os.open(base, os.O_RDONLY | os.O_DIRECTORY)]
    names = ["maze"]                       # the directory to descend into, per level
    while fds:
        here = fds[-1]
        subdirs = [n for n in os.listdir(here)
                   if stat.S_ISDIR(os.stat(n, dir_fd=here, follow_symlinks=False).st_mode)] if len(fds) > 1 else \
            [n for n in names if os.path.lexists(os.path.join(base, n))]
        if subdirs:
            fds.append(os.open(subdirs[0], os.O_RDONLY | os.O_DIRECTORY, dir_fd=here))
            continue
        for n in os.listdir(here):
            os.unlink(n, dir_fd=here)
        os.close(fds.pop())
        if len(fds) > 1:
            for n in os.listdir(fds[-1]):
                if stat.S_ISDIR(os.stat(n, dir_fd=fds[-1], follow_symlinks=False).st_mode):
                    os.rmdir(n, dir_fd=fds[-1])
        elif fds:
            os.rmdir("maze", dir_fd=fds[-1])
            os.close(fds.pop())


@pytest.fixture
def maze_node(node):
    made = []

    def make():
        n = node()
        made.append(n)
        return n

    yield make
    for n in made:
        remove_maze(n.root)


class Syscalls(object):
    def __init__(self, monkeypatch):
        self.count = 0
        self.path_chars = 0
        for name in ("stat", "lstat", "open", "readlink", "listdir"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(real))

    def _wrap(self, real):
        def call(path, *a, **kw):
            self.count += 1
            if isinstance(path, str):
                self.path_chars += len(path)     # what the kernel walks for this call
            return real(path, *a, **kw)
        return call


def test_deep_path_through_links_costs_linear_work_not_quadratic(maze_node, watchdog, monkeypatch):
    """Finding: a read through 2,000 nested directories took O(depth^2) (lstat of the whole joined path per
    component). The walk is relative to directory fds: syscalls and the path bytes handed to the kernel grow
    with the components, not with their square."""
    n = maze_node()
    entry = _maze(n.root, 2000, 3)
    counter = Syscalls(monkeypatch)
    got = RootReader(n.root).read(entry)
    monkeypatch.undo()
    components = 2000 * 3 + 3
    assert got.ok and got.text() == "compute-robust\n"
    assert counter.count <= 3 * components
    # Each call names one component (plus the root once), never the joined path.
    assert counter.path_chars <= 8 * components + 4 * len(n.root)


def test_symlink_maze_is_refused_after_bounded_work(maze_node, watchdog, monkeypatch):
    """Finding: 2,000 nested directories and 40 hops made one read take 27 s and the audit not finish in
    14 minutes. Now one read walks at most MAX_COMPONENTS components and says "symlink maze"."""
    n = maze_node()
    entry = _maze(n.root, 2000, 40)
    counter = Syscalls(monkeypatch)
    got = RootReader(n.root).read(entry)
    monkeypatch.undo()
    assert got.status == LOOP and "maze" in got.reason
    assert counter.count <= 3 * reader_mod.MAX_COMPONENTS


def test_symlink_maze_deeper_than_the_hop_limit_is_a_loop(maze_node, watchdog):
    n = maze_node()
    entry = _maze(n.root, 50, 45)
    got = RootReader(n.root).read(entry)
    assert got.status == LOOP and "symbolic links" in got.reason


def test_maze_as_the_defaults_file_leaves_the_rest_audited(maze_node, watchdog):
    n = maze_node()
    n.remove(QEMU_DEFAULT)
    os.symlink(_maze(n.root, 2000, 41), n.path(QEMU_DEFAULT))
    result = n.audit()
    assert checks_of(result)["qemu_kvm.vhost_net_enabled"]["state"] == "error"
    assert_rest_audited(result, ("qemu_kvm.vhost_net_enabled", "kernel.vhost_net_boot"))


def test_the_reader_leaks_no_fd(node):
    n = node()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        n.audit()
    rd = RootReader(n.root)
    for k in range(reader_mod.FD_CACHE * 3):
        rd.readlink("/proc/%d/fd/%d" % (PID_A, k))
        rd.read("/proc/%d/task/%d/comm" % (PID_A, k))
    assert len(os.listdir("/proc/self/fd")) <= before + reader_mod.FD_CACHE + 2
    rd.close()
    assert len(os.listdir("/proc/self/fd")) == before


# ---------------------------------------------------- the snapshot root itself

def test_snapshot_root_that_is_a_symlink_to_slash_is_refused(tmp_path):
    """Finding: a snapshot root that is a symlink to / audited the controller itself as "snapshot"."""
    link = tmp_path / "snap"
    os.symlink("/", str(link))
    with pytest.raises(RootRefused) as exc:
        RootReader(str(link))
    assert "resolves to /" in str(exc.value)
    os.symlink(str(link), str(tmp_path / "snap2"))              # and through a chain of links
    with pytest.raises(RootRefused):
        RootReader(str(tmp_path / "snap2"))


def test_snapshot_root_symlink_to_slash_is_the_modules_error(tmp_path, run_module):
    link = tmp_path / "snap"
    os.symlink("/", str(link))
    code, out, raw = run_module({"root": str(link), "host_name": "evil"})
    assert code == 1 and out["failed"]
    assert "resolves to /" in out["msg"]
    assert "audit" not in out


def test_snapshot_root_symlink_elsewhere_is_still_a_snapshot(node, tmp_path):
    n = node()
    link = tmp_path / "via-link"
    os.symlink(n.root, str(link))
    from robust_tools import DEFAULT_POLICY, collect, evaluate, validate
    facts = collect(root=str(link))
    assert facts["mode"] == "snapshot"
    assert checks_of(evaluate(facts, validate(DEFAULT_POLICY)))["domains.vhost"]["state"] == "pass"


# ------------------------------------------------------------ time-bounded

class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_reader_budget_turns_every_later_read_into_timeout(node):
    n = node()
    clock = Clock()
    rd = RootReader(n.root, budget=5, clock=clock)
    assert rd.read("/etc/hostname").ok
    clock.now += 6
    for got in (rd.read("/etc/hostname"), rd.listdir("/proc"), rd.readlink("/proc/1/fd/0"), rd.stat("/etc"),
                rd.read_tail("/etc/hostname", 100)):
        assert got.status == TIMEOUT and "time budget" in got.reason
    assert rd.timed_out[0] == "/etc/hostname"


def test_collect_out_of_time_says_so_and_never_passes(node, monkeypatch):
    """A node whose reads outlast the budget is judged unknown/error where it could not be read, said plainly."""
    n = node()
    ticks = Clock()

    def slow_clock():
        ticks.now += 0.01          # every check of the clock is 10 ms later: the budget runs out mid-collection
        return ticks.now

    monkeypatch.setattr(reader_mod.time, "monotonic", slow_clock)
    from robust_tools import DEFAULT_POLICY, collect, evaluate, validate
    facts = collect(root=n.root, budget=0.1)
    result = evaluate(facts, validate(DEFAULT_POLICY), host_name="robust")
    assert any("time budget" in e for e in result["errors"]), result["errors"]
    states = dict((c["id"], c["state"]) for c in result["checks"])
    assert states["domains.vhost"] in ("unknown", "error"), states


# ------------------------------------------------------------ per-node caps

def test_a_4_mib_cmdline_of_netdevs_gives_a_small_result_and_an_unknown(node, run_module):
    """Finding: one 4 MiB cmdline of `-netdev tap,id=hN,fd=3` gave a 45 MB result (four: 940 MB RSS on the
    node, 1.55 GB on the controller, a 169 MB audit.json). The parser counts NIC options past its cap."""
    from nodeaudit import caps
    n = node()
    argv = n.argv("vm-a")
    flood = []
    size = 0
    while size < 4 * 1024 * 1024 - 4096:
        flood += ["-netdev", "tap,id=h%d,fd=3" % len(flood)]
        size += len(flood[-1]) + 9
    n.write_argv(PID_A, argv + flood)
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0
    assert len(raw) < 2 * 1024 * 1024, len(raw)
    vm = domains_of(out["audit"])["vm-a"]
    assert vm["verdict"] == "unknown"
    assert any("more -netdev option(s) not shown" in e for e in vm["evidence"]), vm["evidence"]
    assert len(vm["nics"]) <= caps.MAX_NICS
    assert checks_of(out["audit"])["domains.vhost"]["state"] == "unknown"
    assert domains_of(out["audit"])["vm-b"]["verdict"] == "pass"


def test_domains_over_the_cap_are_said_and_never_pass(node, monkeypatch):
    from nodeaudit import caps
    monkeypatch.setattr(caps, "MAX_DOMAINS", 1)
    result = node().audit()
    assert [d["name"] for d in result["domains"] if d["managed"]] == ["vm-a"]   # vm-b's qemu: judged as an orphan
    check = checks_of(result)["domains.vhost"]
    assert check["state"] == "unknown" and "1 more domain(s) not shown" in check["reason"]
    assert any("1 more domain(s) not shown" in e for e in result["errors"])


def test_qemu_processes_over_the_cap_are_said(node, monkeypatch):
    from nodeaudit import caps
    monkeypatch.setattr(caps, "MAX_QEMU", 1)
    n = node()
    n.write("/proc/4242/comm", "qemu-system-x86\n")
    n.write("/proc/4242/cmdline", b"/usr/bin/qemu-system-x86_64\0-name\0guest=stray\0")
    facts = n.facts()
    assert any("more qemu process(es) not shown" in e for e in facts["errors"]), facts["errors"]


def test_nics_over_the_cap_are_counted_and_the_verdict_is_over_all(node, monkeypatch):
    from nodeaudit import caps
    monkeypatch.setattr(caps, "MAX_NICS", 1)
    n = node()
    # No mac: a NIC whose mac the live XML lacks would be one detached at run time (issue 10), not judged.
    argv = n.argv("vm-a") + ["-netdev", "tap,id=hostnet5,fd=40", "-device", "virtio-net-pci,netdev=hostnet5"]
    n.write_argv(PID_A, argv)
    vm = domains_of(n.audit())["vm-a"]
    assert len(vm["nics"]) == 1 and vm["nics_not_shown"] == 1
    assert vm["verdict"] == "fail"                     # the hidden NIC (no vhost) still decides
    assert any("1 more NIC(s) not shown" in e for e in vm["evidence"])


def test_result_over_the_size_cap_keeps_every_verdict_and_says_what_it_cut(node, run_module, monkeypatch):
    from nodeaudit import caps
    n = node()
    full = n.audit()
    import importlib
    for mod in (caps, importlib.import_module("ansible.module_utils.nodeaudit.caps")):   # the module's own copy
        monkeypatch.setattr(mod, "MAX_RESULT_BYTES", 4000)
    code, out, raw = run_module({"root": n.root, "host_name": "compute-robust"})
    assert code == 0 and out["audit"]["truncated"]
    assert len(json.dumps(out["audit"])) < len(json.dumps(full))
    assert [c["state"] for c in out["audit"]["checks"]] == [c["state"] for c in full["checks"]] or \
        checks_of(out["audit"])["domains.vhost"]["state"] == "unknown"
    assert any("result over 4000 bytes" in e for e in out["audit"]["errors"])


# ------------------------------------------- policy YAML loaded with limits

BOMB = """\
name: bomb
ha_groups:
  - name: lb
    metadata:
      a: &a ["x","x","x","x","x","x","x","x","x"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_a_yaml_alias_bomb_in_ha_groups_metadata_is_refused(watchdog):
    """Finding: a 430-byte alias bomb in ha_groups[].metadata passed validation and took minutes and GBs.
    The policy file loader (controller/policy_file.py over nodeaudit/safeyaml.py, the policy agent's) refuses
    it before anything is built, naming the limit."""
    from nodeaudit.controller import policy_file
    from nodeaudit.errors import PolicyError
    assert len(BOMB) < 600
    with pytest.raises(PolicyError) as exc:
        policy_file.parse_policy_text(BOMB, "bomb.yml")
    assert "alias" in str(exc.value) or "expan" in str(exc.value)


@pytest.mark.parametrize("text", ["", "- checks: {}\n", "null\n", "just a string\n"])
def test_a_policy_file_that_is_not_a_mapping_is_refused(text):
    """Finding: a policy written as a YAML list (or empty) silently became the default policy."""
    from nodeaudit.controller import policy_file
    from nodeaudit.errors import PolicyError
    with pytest.raises(PolicyError) as exc:
        policy_file.parse_policy_text(text, "p.yml")
    assert "p.yml" in str(exc.value)
