"""Robustness suite set-up: hypothesis profiles and a snapshot-node builder.

Profiles: "ci" (bounded, the default inside `make test`) and "fuzz" (long, `make fuzz`),
chosen with HYPOTHESIS_PROFILE=fuzz.

The `node` fixture writes a healthy compute node (tests/snapshots/snapgen.write_node)
under tmp_path; a test breaks one thing in it, audits it with the real collector and
evaluation, and checks that the rest of the node is still judged as in the healthy one.
"""
import copy
import json
import os
import shutil
import sys

import pytest
from hypothesis import HealthCheck, settings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
for _path in (os.path.join(REPO, "module_utils"), os.path.join(REPO, "tests", "snapshots")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import snapgen  # noqa: E402
from nodeaudit.sources.collect import collect  # noqa: E402
from nodeaudit.evaluate import evaluate  # noqa: E402
from nodeaudit.policy import DEFAULT_POLICY, validate  # noqa: E402
from library_loader import load_module  # noqa: E402

settings.register_profile("ci", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=20000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

QEMU_DEFAULT = "/etc/default/qemu-kvm"
MAC_A = "52:54:00:00:01:01"
MAC_B = "52:54:00:00:02:01"
PID_A = 1101
PID_B = 1102

# A healthy node: config says 1, module loaded, /dev/vhost-net there, listed in
# modules-load.d, and two running KVM domains (JSON and keyval argv) with vhost-net.
BASE = {
    "hostname": "compute-robust",
    "qemu_kvm": snapgen.TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1"),
    "proc_modules": snapgen.MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
    "modules_load_d": {"vhost.conf": "vhost_net\n"},
    "domains": [snapgen._dom("vm-a", 1, PID_A, [snapgen._nic(MAC_A, vhost=True)]),
                snapgen._dom("vm-b", 2, PID_B, [snapgen._nic(MAC_B, syntax="keyval", vhost=True)])],
}
HEALTHY = {"qemu_kvm.vhost_net_enabled": "pass", "qemu_kvm.settings": "not_applicable",
           "kernel.vhost_net": "pass", "kernel.vhost_net_boot": "pass", "domains.vhost": "pass"}


class Node(object):
    """One snapshot root under tmp_path, built from BASE (plus changes), with helpers to break it."""

    def __init__(self, root, spec):
        self.root = str(root)
        self.spec = spec
        snapgen.write_node(self.root, copy.deepcopy(spec))

    def path(self, node_path):
        return os.path.join(self.root, node_path.lstrip("/"))

    def _clear(self, node_path):
        path = self.path(node_path)
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def write(self, node_path, data):
        path = self._clear(node_path)
        with open(path, "wb") as handle:
            handle.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path

    def symlink(self, node_path, target):
        os.symlink(target, self._clear(node_path))

    def mkdir(self, node_path):
        os.makedirs(self._clear(node_path))

    def remove(self, node_path):
        self._clear(node_path)

    def argv(self, name):
        dom = [d for d in self.spec["domains"] if d["name"] == name][0]
        return snapgen.qemu_argv(copy.deepcopy(dom))

    def write_argv(self, pid, argv):
        self.write("/proc/%d/cmdline" % pid, ("\0".join(argv) + "\0").encode("utf-8", "surrogateescape")
                   if argv else b"")

    def facts(self, **kw):
        return collect(root=self.root, **kw)

    def audit(self, policy=None, **kw):
        return evaluate(self.facts(**kw), validate(policy or DEFAULT_POLICY), host_name="robust")


def checks_of(result):
    return dict((c["id"], c) for c in result["checks"])


def domains_of(result):
    return dict((d["name"], d) for d in result["domains"])


def assert_rest_audited(result, broken, also=None):
    """Every check but those in ``broken`` has its healthy state; the result is JSON-serialisable."""
    json.dumps(result)
    want = dict(HEALTHY)
    want.update(also or {})
    checks = checks_of(result)
    for check_id, state in want.items():
        if check_id in broken:
            continue
        assert checks[check_id]["state"] == state, (check_id, checks[check_id])
    for check in result["checks"]:
        if check["state"] != "pass":
            assert check["reason"], check


@pytest.fixture
def node(tmp_path):
    """A builder: ``node()`` is the healthy node; ``node(sys_module=False)`` changes BASE keys first."""
    count = [0]

    def make(**changes):
        spec = copy.deepcopy(BASE)
        spec.update(copy.deepcopy(changes))
        count[0] += 1
        return Node(tmp_path / ("node%d" % count[0]), spec)

    return make


@pytest.fixture
def run_module(capsys):
    """Run library/compute_audit.py in-process; returns (exit code, parsed JSON output, raw output)."""
    from ansible.module_utils.testing import patch_module_args

    def run(args):
        module = load_module("compute_audit")
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        raw = capsys.readouterr().out
        return exc.value.code, json.loads(raw), raw

    return run
