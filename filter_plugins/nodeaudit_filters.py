"""Jinja filters over the pure code in module_utils/nodeaudit: the policy and the fleet aggregation.

The reports themselves are written by action_plugins/audit_report.py, which
aggregates with the same report.fleet().

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
from nodeaudit.controller import report as _report  # noqa: E402
from nodeaudit.errors import PolicyError  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402


def audit_policy(base, overrides=None, where="policy"):
    """Merge a host's overrides over the base policy and validate; a bad key fails the run here."""
    try:
        merged = _policy.merge(_plain(base or {}), _plain(overrides or {}))
        return _policy.validate(merged)
    except PolicyError as exc:
        raise AnsibleFilterError("invalid policy (%s): %s" % (where, exc))


def audit_policies(overrides_by_host, base):
    """``{host: overrides} | audit_policies(base)`` -> ``{host: validated policy}``; errors name the host."""
    return dict((str(host), audit_policy(base, overrides, "host %s" % host))
                for host, overrides in (overrides_by_host or {}).items())


def audit_policy_digest(policy):
    return _policy.digest(_plain(policy))


def audit_fleet(results, policy_name, policy_digest, generated_at, host_order=None):
    """``{inventory_name: registered compute_audit result} | audit_fleet(...)`` -> the fleet report."""
    return _report.fleet(_plain(results or {}), policy_name, policy_digest, generated_at,
                         host_order=_plain(host_order) if host_order else None)


class FilterModule(object):
    def filters(self):
        return {
            "audit_policy": audit_policy,
            "audit_policies": audit_policies,
            "audit_policy_digest": audit_policy_digest,
            "audit_fleet": audit_fleet,
        }
