"""What the lab tests share: the lab module, its scenarios and a health probe.

Imported by name (`from lab_tools import ...`): a bare `from conftest import`
would pick up whichever conftest.py pytest imported last.
"""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_lab():
    spec = importlib.util.spec_from_file_location("nodeaudit_lab", os.path.join(HERE, "lab.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab = _load_lab()
SCENARIOS = lab.load_scenarios()
NODES = [name for name, sc in SCENARIOS.items() if lab.is_node(sc)]


def lab_problems():
    """Why the lab is not usable, [] when it is (no SSH: the tests do that)."""
    if os.geteuid() != 0:
        return ["not root"]
    problems = []
    for name in NODES:
        ok, why, _ = lab.node_health(name, SCENARIOS[name], with_ssh=False)
        if not ok:
            problems.append("%s: %s" % (name, why))
    if not problems and not os.path.exists(lab.INVENTORY):
        problems.append("%s missing" % lab.INVENTORY)
    return problems




def ssh(node, command, check=True):
    """Run a command on a lab node over its SSH port; its output (AssertionError when it fails and check)."""
    import subprocess
    proc = subprocess.run(lab.ssh_base(SCENARIOS[node]["port"]) + [command], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError("%s: %s exited %d: %s" % (node, command, proc.returncode, proc.stdout))
    return proc.stdout
