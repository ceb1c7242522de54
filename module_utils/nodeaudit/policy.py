"""Policy: what the operators expect, as data.

``policies/default.yml`` is the shipped policy; ``DEFAULT_POLICY`` below is the
same document (a test keeps them equal) so the module has a default without
PyYAML on the node. Inventory groups override parts of it with
``audit_policy_overrides`` (deep merge: mappings merge, lists replace).

``validate`` is strict: an unknown key, a wrong type or an unknown check id is
an error naming the key, raised on the controller before any host is touched.
"""
import copy
import fnmatch
import hashlib
import json

from .checks import CHECK_IDS, LEVELS
from .errors import PolicyError

DEFAULT_POLICY = {
    "name": "default",
    "description": "vhost-net configured, available and used by every running KVM VM.",
    "checks": {
        "qemu_kvm.vhost_net_enabled": {"level": "fail"},
        "qemu_kvm.settings": {"level": "warn", "expected": {}},
        "kernel.vhost_net": {"level": "fail"},
        "kernel.vhost_net_boot": {"level": "warn"},
        "domains.vhost": {"level": "fail"},
    },
    "ha_groups": [],
    "restart": {
        "method": "libvirt",
        "max_per_host": 1,
        "max_per_wave": 10,
        "window": None,
    },
    "remediation": {
        "remove_blacklist": False,
    },
}

_CHECK_KEYS = {"level", "expected", "exempt"}
_EXEMPT_KEYS = {"hosts", "domains", "reason"}
_HA_KEYS = {"name", "domains", "server_group", "metadata"}
_RESTART_KEYS = {"method", "max_per_host", "max_per_wave", "window", "wave_minutes", "verify_timeout"}
_RESTART_METHODS = ("libvirt", "nova", "live_migrate")
_WINDOW_KEYS = {"start", "end"}
_TOP_KEYS = {"name", "description", "checks", "ha_groups", "restart", "remediation"}


def merge(base, override):
    """Deep merge: mappings merge key by key, anything else replaces.

    >>> merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]})
    {'a': {'b': 1, 'c': 3}, 'l': [2]}
    """
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    result = copy.deepcopy(base)
    for key, value in override.items():
        if key in result and isinstance(result[key], dict) and isinstance(value, dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _type_error(key, want, value):
    return PolicyError("policy key %r must be %s, not %s (%r)" % (key, want, type(value).__name__, value), key=key)


def _string_list(key, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(key, "a list of strings", value)


def _unknown(keys, allowed, where):
    extra = sorted(set(keys) - set(allowed))
    if extra:
        raise PolicyError("unknown policy key %r in %s (allowed: %s)"
                          % ("%s.%s" % (where, extra[0]) if where else extra[0], where or "the policy",
                             ", ".join(sorted(allowed))), key="%s.%s" % (where, extra[0]) if where else extra[0])


def validate(policy):
    """Check a (merged) policy; returns it with defaults filled in, or raises PolicyError.

    >>> validate({"checks": {"domains.vhost": {"level": "warn"}}})["checks"]["domains.vhost"]["level"]
    'warn'
    >>> validate({"checks": {"domains.vhots": {}}})
    Traceback (most recent call last):
    ...
    nodeaudit.errors.PolicyError: unknown check id 'domains.vhots' in policy key 'checks' (known: domains.vhost, kernel.vhost_net, kernel.vhost_net_boot, qemu_kvm.settings, qemu_kvm.vhost_net_enabled)
    """
    if not isinstance(policy, dict):
        raise _type_error("<policy>", "a mapping", policy)
    _unknown(policy, _TOP_KEYS, "")
    full = merge(DEFAULT_POLICY, policy)
    for key in ("name", "description"):
        if not isinstance(full.get(key), str):
            raise _type_error(key, "a string", full.get(key))
    checks = full["checks"]
    if not isinstance(checks, dict):
        raise _type_error("checks", "a mapping", checks)
    for check_id, spec in checks.items():
        if check_id not in CHECK_IDS:
            raise PolicyError("unknown check id %r in policy key 'checks' (known: %s)"
                              % (check_id, ", ".join(sorted(CHECK_IDS))), key="checks.%s" % check_id)
        where = "checks.%s" % check_id
        if not isinstance(spec, dict):
            raise _type_error(where, "a mapping", spec)
        _unknown(spec, _CHECK_KEYS, where)
        if spec.get("level", "fail") not in LEVELS:
            raise PolicyError("policy key %r must be one of %s, not %r"
                              % (where + ".level", ", ".join(LEVELS), spec.get("level")), key=where + ".level")
        spec.setdefault("level", "fail")
        if "expected" in spec:
            if check_id != "qemu_kvm.settings":
                raise PolicyError("policy key %r: only qemu_kvm.settings takes expected values" % (where + ".expected"),
                                  key=where + ".expected")
            expected = spec["expected"]
            if not isinstance(expected, dict):
                raise _type_error(where + ".expected", "a mapping of KEY: value", expected)
            for name, value in expected.items():
                if not isinstance(value, (str, int)) or isinstance(value, bool):
                    raise _type_error("%s.expected.%s" % (where, name), "a string or an integer", value)
                if name == "VHOST_NET_ENABLED":
                    raise PolicyError("policy key %r: VHOST_NET_ENABLED has its own check (qemu_kvm.vhost_net_enabled)"
                                      % ("%s.expected.%s" % (where, name)), key="%s.expected.%s" % (where, name))
            spec["expected"] = dict((k, str(v)) for k, v in expected.items())
        if "exempt" in spec:
            exempt = spec["exempt"]
            if not isinstance(exempt, dict):
                raise _type_error(where + ".exempt", "a mapping", exempt)
            _unknown(exempt, _EXEMPT_KEYS, where + ".exempt")
            for key in ("hosts", "domains"):
                if key in exempt:
                    _string_list("%s.exempt.%s" % (where, key), exempt[key])
            if not isinstance(exempt.get("reason", ""), str):
                raise _type_error(where + ".exempt.reason", "a string", exempt.get("reason"))
    groups = full["ha_groups"]
    if not isinstance(groups, list):
        raise _type_error("ha_groups", "a list", groups)
    for i, group in enumerate(groups):
        where = "ha_groups[%d]" % i
        if not isinstance(group, dict):
            raise _type_error(where, "a mapping", group)
        _unknown(group, _HA_KEYS, where)
        if not isinstance(group.get("name"), str):
            raise _type_error(where + ".name", "a string", group.get("name"))
        if "domains" in group:
            _string_list(where + ".domains", group["domains"])
        if "server_group" in group and not isinstance(group["server_group"], str):
            raise _type_error(where + ".server_group", "a string", group["server_group"])
        if "metadata" in group and not isinstance(group["metadata"], dict):
            raise _type_error(where + ".metadata", "a mapping", group["metadata"])
        if not any(k in group for k in ("domains", "server_group", "metadata")):
            raise PolicyError("policy key %r needs domains, server_group or metadata" % where, key=where)
    restart = full["restart"]
    if not isinstance(restart, dict):
        raise _type_error("restart", "a mapping", restart)
    _unknown(restart, _RESTART_KEYS, "restart")
    if restart.get("method") not in _RESTART_METHODS:
        raise PolicyError("policy key 'restart.method' must be one of %s, not %r"
                          % (", ".join(_RESTART_METHODS), restart.get("method")), key="restart.method")
    for key in ("max_per_host", "max_per_wave", "wave_minutes", "verify_timeout"):
        if key in restart and restart[key] is not None:
            value = restart[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _type_error("restart." + key, "a positive integer", value)
    window = restart.get("window")
    if window is not None:
        if not isinstance(window, dict):
            raise _type_error("restart.window", "a mapping with start and end", window)
        _unknown(window, _WINDOW_KEYS, "restart.window")
        for key in ("start", "end"):
            if not isinstance(window.get(key), str):
                raise _type_error("restart.window." + key, "a string (ISO 8601 time)", window.get(key))
    remediation = full["remediation"]
    if not isinstance(remediation, dict):
        raise _type_error("remediation", "a mapping", remediation)
    _unknown(remediation, {"remove_blacklist"}, "remediation")
    if not isinstance(remediation.get("remove_blacklist"), bool):
        raise _type_error("remediation.remove_blacklist", "true or false", remediation.get("remove_blacklist"))
    return full


def digest(policy):
    """A stable short digest of a policy document (sha256 of canonical JSON)."""
    blob = json.dumps(policy, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


def matches(name, patterns):
    """``fnmatch`` of a host or domain name against any pattern.

    >>> matches("keepalived-lb01", ["keepalived-*"])
    True
    """
    return any(fnmatch.fnmatchcase(name or "", p) for p in patterns or ())


def host_exempt(policy, check_id, host_names):
    """The exemption reason when one of ``host_names`` is exempt from the check, else None."""
    exempt = policy["checks"].get(check_id, {}).get("exempt") or {}
    for name in host_names:
        if name and matches(name, exempt.get("hosts")):
            return exempt.get("reason") or "host %s is exempt in the policy" % name
    return None


def domain_exempt(policy, check_id, domain_name):
    exempt = policy["checks"].get(check_id, {}).get("exempt") or {}
    if matches(domain_name, exempt.get("domains")):
        return exempt.get("reason") or "domain %s is exempt in the policy" % domain_name
    return None


def apply_level(policy, check_id, state, reason):
    """Map an evaluated state through the policy's level for the check.

    >>> apply_level({"checks": {"x": {"level": "warn"}}}, "x", "fail", "r")
    ('warn', 'r')
    >>> apply_level({"checks": {"x": {"level": "off"}}}, "x", "fail", "r")
    ('not_applicable', 'check is off in the policy (it found: fail: r)')
    """
    level = policy["checks"].get(check_id, {}).get("level", "fail")
    if level == "off":
        return "not_applicable", "check is off in the policy (it found: %s%s)" % (state, ": " + reason if reason else "")
    if level == "warn" and state == "fail":
        return "warn", reason
    return state, reason
