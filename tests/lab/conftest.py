"""Fixtures for the tests that run against the staging lab (tests/lab/lab.py).

`lab_inventory` gives the path of tests/lab/inventory.yml when every node of
the lab is up. When it is not: with LAB_REQUIRED=1 (`make test` sets it) the
test fails with a clear message, otherwise it is skipped, so a plain `pytest`
on a laptop without root still runs everything else.
"""
import os

import pytest
from lab_tools import NODES, SCENARIOS, lab, lab_problems  # noqa: F401  (re-exported for the tests)


@pytest.fixture(scope="session")
def lab_inventory():
    problems = lab_problems()
    if not problems:
        return lab.INVENTORY
    msg = ("the staging lab is not up (%s); start it with `make lab-up` "
           "(python3 tests/lab/lab.py up, as root)" % "; ".join(problems))
    if os.environ.get("LAB_REQUIRED") == "1":
        pytest.fail("LAB_REQUIRED=1: " + msg, pytrace=False)
    pytest.skip(msg)


def pytest_generate_tests(metafunc):
    """`lab_node`: one test per node of the lab (compute-1 ... compute-4)."""
    if "lab_node" in metafunc.fixturenames:
        metafunc.parametrize("lab_node", NODES)


@pytest.fixture(scope="session")
def scenarios():
    """{inventory name: scenario} of every scenario file, the unreachable host included."""
    return SCENARIOS


@pytest.fixture(scope="session")
def lab_nodes():
    """Names of the hosts the lab runs (every scenario with a set-up)."""
    return list(NODES)


@pytest.fixture(scope="session")
def lab_module():
    """tests/lab/lab.py as a module."""
    return lab
