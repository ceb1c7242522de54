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
@pytest.fixture(autouse=True)
def no_warnings_yet(monkeypatch):
    """A module run starts with no warning: Ansible keeps them in process-wide dicts (other tests warn)."""
    from ansible.module_utils.common import warnings
    monkeypatch.setattr(warnings, "_global_warnings", {})
    monkeypatch.setattr(warnings, "_global_deprecations", {})


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
    assert raw.lstrip().startswith('{"changed":false')   # compact: written by exit_audit, not exit_json
    for out in (fast, ref):
        out.pop("duration_s")            # the only field that differs from one run to the next
    assert fast == ref
    assert fast["invocation"]["module_args"]["root"] == args["root"]


@pytest.mark.parametrize("pending", ["warnings", "deprecations", "no_log_values"])
def test_what_only_exit_json_can_write_goes_through_exit_json(capsys, pending):
    calls = []

    def arrange(module):
        # What Ansible would hold at exit (warn()/deprecate() calls, no_log parameter values); in this
        # process the controller's display may take warn() calls itself, so they are set directly.
        if pending == "warnings":
            module.get_warnings = lambda: ["w"]
        elif pending == "deprecations":
            module.get_deprecations = lambda: ["d"]
        real = module.AnsibleModule.exit_json

        def exit_json(self, **result):
            calls.append(sorted(result))
            if pending == "no_log_values":
                assert self.no_log_values
            real(self, **result)
        module.AnsibleModule.exit_json = exit_json
        if pending == "no_log_values":
            init = module.AnsibleModule.__init__

            def with_secret(self, *a, **kw):
                init(self, *a, **kw)
                self.no_log_values.add("s3cret")
            module.AnsibleModule.__init__ = with_secret
    root = os.path.join(SNAP, ROOTS[0])
    from ansible.module_utils import basic
    saved = (basic.AnsibleModule.exit_json, basic.AnsibleModule.__init__)
    try:
        code, raw, out = _run(capsys, {"root": root, "use_libvirt": False}, before=arrange)
    finally:
        basic.AnsibleModule.exit_json, basic.AnsibleModule.__init__ = saved
    assert code == 0
    assert calls and "audit" in calls[0]
    assert not raw.lstrip().startswith('{"changed":false')     # exit_json's own encoder wrote it
    assert out["audit"]["host"]
