"""Load a module from library/ in-process, for tests through patch_module_args.

The repository's module_utils becomes importable as ansible.module_utils.nodeaudit,
the way Ansible packages it with the module on a node. Every suite that runs a
module in-process (tests/module, tests/unit, tests/robustness) uses this one
loader; tests/conftest.py puts tests/ on sys.path.
"""
import importlib.util
import os

import ansible.module_utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MU = os.path.join(REPO, "module_utils")
if _MU not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MU)


def load_module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "library", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
