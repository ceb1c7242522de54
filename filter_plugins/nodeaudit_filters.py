"""Jinja filters over the pure code in module_utils/nodeaudit: loading, merging and validating the policy.

The reports are aggregated and written by action_plugins/audit_report.py
(report.fleet()).

The package is shared with the module that runs on the nodes; on the
controller it is imported from this repository's module_utils/ directly
(Ansible puts custom module_utils on the path only for modules).
"""
import os
import sys

from ansible.errors import AnsibleFilterError

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit import policy as _policy  # noqa: E402
from nodeaudit.controller import policy_file as _policy_file  # noqa: E402
from nodeaudit.errors import PolicyError  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402


def audit_policy_load(path):
    """``audit_policy_file | audit_policy_load`` -> the policy file as data, loaded with limits.

    A relative path is taken from where the user stands (the controller's
    working directory), as for any other command-line path. The file must be a
    YAML mapping: an empty file or a list is refused, never taken as the
    default policy. Bad YAML names the file, line and column.
    """
    try:
        return _policy_file.load_policy_file(str(path))
    except PolicyError as exc:
        raise AnsibleFilterError("invalid policy: %s" % exc)


def audit_policy(base, overrides=None, where="policy"):
    """Merge one set of overrides over the base policy and validate; a bad key fails the run here."""
    try:
        return _policy_file.effective_policy(_plain(base), _plain(overrides or {}), where)
    except PolicyError as exc:
        raise AnsibleFilterError("invalid policy: %s" % exc)


def audit_policies(overrides_by_host, base, groups=None, source=None):
    """``{host: overrides} | audit_policies(base, groups, policy_file)`` -> ``{host: validated policy}``.

    The base is validated alone first (an error there names the file, not a
    host); each distinct override is validated once, and an error names the
    key and where it came from: the group whose hosts all carry it, or the
    hosts that do (never a host that does not).
    """
    try:
        return _policy_file.effective_policies(_plain(overrides_by_host or {}), _plain(base),
                                               _plain(groups or {}), source)
    except PolicyError as exc:
        raise AnsibleFilterError("invalid policy: %s" % exc)


def audit_policy_digest(policy):
    return _policy.digest(_plain(policy))


class FilterModule(object):
    def filters(self):
        return {
            "audit_policy": audit_policy,
            "audit_policies": audit_policies,
            "audit_policy_digest": audit_policy_digest,
            "audit_policy_load": audit_policy_load,
        }
