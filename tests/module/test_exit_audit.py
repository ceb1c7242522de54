"""compute_audit writes its result itself when exit_json's no_log walk has nothing to remove.

The promise: what Ansible reads back is exactly what ``module.exit_json`` would have written
(the same decoded JSON, ``invocation`` included), and whenever exit_json could write something
else (a no_log value, a warning, a deprecation) exit_json writes it.
"""
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from library_loader import load_module

SNAP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "snapshots")
ROOTS = sorted(d for d in os.listdir(SNAP) if os.path.isdir(os.path.join(SNAP, d)) and "." in d)


def _run(capsys, args, through_exit_json=False, before=None):
    module = load_module("compute_audit")
    if through_exit_json:
        module.exit_audit = lambda mod, **result: mod.exit_json(**result)
    if before:
        before(module)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    raw = capsys.readouterr().out
    return exc.value.code, raw, json.loads(raw)


@pytest.mark.parametrize("root", ROOTS)
def test_the_result_is_what_exit_json_writes(capsys, root):
    args = {"root": os.path.join(SNAP, root), "host_name": "h1", "use_libvirt": False}
    code, raw, fast = _run(capsys, args)
    code_ref, _, ref = _run(capsys, args, through_exit_json=True)
    assert code == code_ref == 0
    assert raw.startswith("\n")          # as exit_json prints it: Ansible looks for the JSON after noise
    for out in (fast, ref):
        out.pop("duration_s")            # the only field that differs from one run to the next
    assert fast == ref
    assert fast["invocation"]["module_args"]["root"] == args["root"]


def test_a_warning_goes_through_exit_json(capsys):
    def warn_first(module):
        real = module.collect

        def collect(*a, **kw):
            from ansible.module_utils.common.warnings import warn
            warn("a warning only exit_json knows how to encode")
            return real(*a, **kw)
        module.collect = collect
    root = os.path.join(SNAP, ROOTS[0])
    code, _, out = _run(capsys, {"root": root, "use_libvirt": False}, before=warn_first)
    assert code == 0
    # Ansible's own encoding of a warning (a WarningSummary the controller decodes): only exit_json writes it.
    (warning,) = out["warnings"]
    assert warning["__ansible_type"] == "WarningSummary"
    assert warning["event"]["msg"] == "a warning only exit_json knows how to encode"
    assert "audit" in out
