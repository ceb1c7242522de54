"""Policy: what the operators expect, as data. Pure: no I/O.

One policy object. Its defaults live in one place: the check registry
(``checks.CHECKS[id]["default_level"]`` and ``["params"]``) gives every
check's entry, ``RESTART_DEFAULTS`` / ``REMEDIATION_DEFAULTS`` below the rest,
and ``DEFAULT_POLICY`` is built from them. ``policies/default.yml`` is
generated from ``DEFAULT_POLICY`` (``default_policy_yaml``; a test keeps the
shipped file equal to it), and the planner takes its restart defaults from
here.

``validate`` is strict and iterates the registry: an unknown key, a wrong
type, a value out of range or an unknown check id is an error naming the key.
The controller validates every host's merged policy before any host is
touched; the node validates again (the same function: cheap, and idempotent,
so both sides compute the same ``digest``).

Levels set a finding's severity both ways (see ``apply_level`` for the table);
exemptions may carry an ``expires`` date, after which they are ignored and the
audit says so (``annotate``).
"""
import copy
import datetime
import fnmatch
import hashlib
import json

from .checks import CHECKS, LEVELS
from .errors import PolicyError

RESTART_METHODS = ("libvirt", "nova", "live_migrate")
RESTART_DEFAULTS = {
    "method": "libvirt",
    "max_per_host": 1,
    "max_per_wave": 10,
    "window": None,
    "wave_minutes": 15,
}
REMEDIATION_DEFAULTS = {"remove_blacklist": False}

# Ranges: anything outside is refused by validate (no OverflowError later).
LIMITS = {
    "max_per_host": (1, 10000),
    "max_per_wave": (1, 100000),
    "wave_minutes": (1, 7 * 24 * 60),        # one wave at most a week
    "verify_timeout": (1, 24 * 3600),
}
WINDOW_YEARS = (1970, 9000)                   # far from datetime's edges (1 and 9999)
WINDOW_MAX_DAYS = 366


def _check_defaults():
    """Every check's policy entry from the registry: its default level and its parameters' defaults."""
    checks = {}
    for check_id, entry in CHECKS.items():
        spec = {"level": entry["default_level"]}
        for name, param in (entry.get("params") or {}).items():
            spec[name] = copy.deepcopy(param.get("default"))
        checks[check_id] = spec
    return checks


DEFAULT_POLICY = {
    "name": "default",
    "description": "vhost-net configured, available and used by every running KVM VM.",
    "checks": _check_defaults(),
    "ha_groups": [],
    "restart": dict(RESTART_DEFAULTS),
    "remediation": dict(REMEDIATION_DEFAULTS),
}

_EXEMPT_KEYS = ("hosts", "domains", "reason", "expires")
_HA_KEYS = ("name", "domains", "server_group", "metadata")
_RESTART_KEYS = ("method", "max_per_host", "max_per_wave", "window", "wave_minutes", "verify_timeout")
_WINDOW_KEYS = ("start", "end")
_TOP_KEYS = ("name", "description", "checks", "ha_groups", "restart", "remediation")


# -- merge ---------------------------------------------------------------------

def merge(base, override):
    """Deep merge: mappings merge key by key, lists replace, except ``ha_groups``.

    ``ha_groups`` at the top level is a union by name: an override may add HA
    groups but never drops or redefines one of the base's (a host whose
    override dropped a group would restart a pair's members together). A group
    of the same name with a different definition is refused.

    >>> merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]})
    {'a': {'b': 1, 'c': 3}, 'l': [2]}
    >>> [g["name"] for g in merge({"ha_groups": [{"name": "lb", "domains": ["lb*"]}]},
    ...                           {"ha_groups": [{"name": "db", "domains": ["db*"]}]})["ha_groups"]]
    ['lb', 'db']
    >>> merge({"ha_groups": [{"name": "lb", "domains": ["lb*"]}]}, {"ha_groups": []})["ha_groups"]
    [{'name': 'lb', 'domains': ['lb*']}]
    """
    return _merge(base, override, top=True)


def _merge(base, override, top=False):
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    result = copy.deepcopy(base)
    for key, value in override.items():
        if top and key == "ha_groups":
            result[key] = _union_groups(result.get(key), value)
        elif key in result and isinstance(result[key], dict) and isinstance(value, dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _union_groups(base, extra):
    if not isinstance(base, list) or not isinstance(extra, list):
        # not lists: let validate name the bad key
        return copy.deepcopy(extra if base in (None, []) else base if extra in (None, []) else extra)
    out = copy.deepcopy(base)
    by_name = dict((g.get("name"), g) for g in base if isinstance(g, dict))
    for i, group in enumerate(extra):
        name = group.get("name") if isinstance(group, dict) else None
        if name in by_name:
            if by_name[name] != group:
                raise PolicyError("policy key 'ha_groups[%d]': an override redefines HA group %r of the base policy "
                                  "(overrides may add HA groups, never drop or change one: change it in the base "
                                  "policy file)" % (i, name), key="ha_groups[%d]" % i)
            continue
        out.append(copy.deepcopy(group))
    return out


# -- validation helpers -------------------------------------------------------

def _type_error(key, want, value):
    return PolicyError("policy key %r must be %s, not %s (%r)" % (key, want, type(value).__name__, value), key=key)


def _string_list(key, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(key, "a list of strings", value)
    return list(value)


def _join(where, key):
    return "%s.%s" % (where, key) if where else key


def _unknown(keys, allowed, where):
    extra = sorted(set(keys) - set(allowed), key=str)
    if extra:
        key = _join(where, extra[0])
        raise PolicyError("unknown policy key %r in %s (allowed: %s)"
                          % (key, where or "the policy", ", ".join(sorted(allowed))), key=key)


def _mapping(key, value):
    if not isinstance(value, dict):
        raise _type_error(key, "a mapping", value)
    return value


def _int_in_range(key, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _type_error(key, "a positive integer" if low == 1 else "an integer >= %d" % low, value)
    if value > high:
        raise PolicyError("policy key %r is %d: at most %d" % (key, value, high), key=key)
    return value


def level_value(key, value):
    """A level as the user meant it: YAML reads a bare ``off`` as False, which is taken as ``off``.

    >>> level_value("x", False), level_value("x", "warn")
    ('off', 'warn')
    >>> level_value("x", True)
    Traceback (most recent call last):
    ...
    nodeaudit.errors.PolicyError: policy key 'x' is true (YAML reads a bare on/yes/true so): write fail, warn or "off"
    """
    if value is False:
        return "off"
    if value is True:
        raise PolicyError('policy key %r is true (YAML reads a bare on/yes/true so): write fail, warn or "off"' % key,
                          key=key)
    if value not in LEVELS:
        raise PolicyError("policy key %r must be one of %s, not %r" % (key, ", ".join(LEVELS), value), key=key)
    return value


def parse_time(text):
    """ISO 8601 date-time (``Z`` accepted; a YAML datetime too) -> aware datetime (naive input is taken as UTC).

    >>> parse_time("2026-11-28T01:00:00Z").isoformat()
    '2026-11-28T01:00:00+00:00'
    """
    if isinstance(text, datetime.datetime):
        value = text
    else:
        text = str(text).strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def _time_value(key, value):
    """A window edge, range-checked; returned as the ISO text it was (a YAML datetime becomes ``...Z`` text)."""
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        value = aware.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(value, str):
        raise _type_error(key, "a string (ISO 8601 time)", value)
    try:
        parsed = parse_time(value)
        year = parsed.astimezone(datetime.timezone.utc).year
    except (ValueError, OverflowError) as exc:
        raise PolicyError("policy key %r is not an ISO 8601 time (%r): %s" % (key, value, exc), key=key)
    if not WINDOW_YEARS[0] <= year <= WINDOW_YEARS[1]:
        raise PolicyError("policy key %r is %r: the year must be between %d and %d"
                          % (key, value, WINDOW_YEARS[0], WINDOW_YEARS[1]), key=key)
    return value


def _date_value(key, value):
    """An exemption's ``expires``: a date (``2026-12-31``; a YAML date too), kept as ISO text."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.date.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and WINDOW_YEARS[0] <= parsed.year <= WINDOW_YEARS[1]:
            return parsed.isoformat()
    raise PolicyError("policy key %r must be a date YYYY-MM-DD between %d and %d, not %r"
                      % (key, WINDOW_YEARS[0], WINDOW_YEARS[1], value), key=key)


# -- validation by section ------------------------------------------------------

_PARAM_VALUES = {
    "string_or_int": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "a string or an integer", str),
    "string": (lambda v: isinstance(v, str), "a string", str),
}


def _param(where, name, schema, value):
    """One check parameter against its registry schema (``type``, ``values``, ``forbidden_keys``)."""
    key = _join(where, name)
    kind = schema.get("type")
    if kind == "mapping":
        if not isinstance(value, dict):
            raise _type_error(key, "a mapping of KEY: value", value)
        test, want, norm = _PARAM_VALUES[schema.get("values", "string")]
        out = {}
        for item, item_value in value.items():
            item_key = "%s.%s" % (key, item)
            if not test(item_value):
                raise _type_error(item_key, want, item_value)
            if item in (schema.get("forbidden_keys") or ()):
                raise PolicyError("policy key %r: %s is not allowed here (%s)" % (item_key, item, schema.get("doc")),
                                  key=item_key)
            out[str(item)] = norm(item_value)
        return out
    if kind == "string_list":
        return _string_list(key, value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(key, "true or false", value)
        return value
    if kind == "integer":
        low, high = schema.get("range", (1, 10 ** 9))
        return _int_in_range(key, value, low, high)
    raise PolicyError("check parameter %r has an unknown schema type %r in the registry" % (key, kind), key=key)


def _exempt(where, exempt):
    _mapping(where, exempt)
    _unknown(exempt, _EXEMPT_KEYS, where)
    out = {}
    for key in ("hosts", "domains"):
        if key in exempt:
            out[key] = _string_list(_join(where, key), exempt[key])
    if "reason" in exempt:
        if not isinstance(exempt["reason"], str):
            raise _type_error(_join(where, "reason"), "a string", exempt["reason"])
        out["reason"] = exempt["reason"]
    if exempt.get("expires") is not None:
        out["expires"] = _date_value(_join(where, "expires"), exempt["expires"])
    return out


def _check(check_id, spec):
    where = "checks.%s" % check_id
    _mapping(where, spec)
    params = CHECKS[check_id].get("params") or {}
    _unknown(spec, ("level", "exempt") + tuple(params), where)
    out = {"level": level_value(where + ".level", spec.get("level", CHECKS[check_id]["default_level"]))}
    for name, schema in params.items():
        value = spec.get(name, schema.get("default"))
        out[name] = copy.deepcopy(value) if value is None else _param(where, name, schema, value)
    if "exempt" in spec and spec["exempt"] is not None:
        out["exempt"] = _exempt(where + ".exempt", spec["exempt"])
    return out


def _checks(checks):
    _mapping("checks", checks)
    out = {}
    for check_id in checks:
        if check_id not in CHECKS:
            raise PolicyError("unknown check id %r in policy key 'checks' (known: %s)"
                              % (check_id, ", ".join(sorted(CHECKS))), key="checks.%s" % check_id)
    for check_id in CHECKS:
        out[check_id] = _check(check_id, checks.get(check_id, {}))
    return out


def _ha_group(where, group):
    _mapping(where, group)
    _unknown(group, _HA_KEYS, where)
    if not isinstance(group.get("name"), str) or not group["name"]:
        raise _type_error(where + ".name", "a non-empty string", group.get("name"))
    if "domains" in group:
        _string_list(where + ".domains", group["domains"])
    if "server_group" in group and not isinstance(group["server_group"], str):
        raise _type_error(where + ".server_group", "a string", group["server_group"])
    if "metadata" in group:
        metadata = _mapping(where + ".metadata", group["metadata"])
        for key, value in metadata.items():
            if isinstance(value, (dict, list)):
                raise _type_error("%s.metadata.%s" % (where, key), "a string", value)
    if not any(k in group for k in ("domains", "server_group", "metadata")):
        raise PolicyError("policy key %r needs domains, server_group or metadata" % where, key=where)
    return group


def _ha_groups(groups):
    if not isinstance(groups, list):
        raise _type_error("ha_groups", "a list", groups)
    seen = {}
    for i, group in enumerate(groups):
        where = "ha_groups[%d]" % i
        _ha_group(where, group)
        if group["name"] in seen:
            raise PolicyError("policy key %r: HA group %r is defined twice (also ha_groups[%d])"
                              % (where + ".name", group["name"], seen[group["name"]]), key=where + ".name")
        seen[group["name"]] = i
    return groups


def _window(window):
    if window is None:
        return None
    if not isinstance(window, dict):
        raise _type_error("restart.window", "a mapping with start and end", window)
    _unknown(window, _WINDOW_KEYS, "restart.window")
    for key in _WINDOW_KEYS:
        if not isinstance(window.get(key), (str, datetime.datetime)):
            raise _type_error("restart.window." + key, "a string (ISO 8601 time)", window.get(key))
    out = dict((key, _time_value("restart.window." + key, window[key])) for key in _WINDOW_KEYS)
    start, end = parse_time(out["start"]), parse_time(out["end"])
    if end <= start:
        raise PolicyError("policy key 'restart.window' ends (%s) before it starts (%s)" % (out["end"], out["start"]),
                          key="restart.window.end")
    if end - start > datetime.timedelta(days=WINDOW_MAX_DAYS):
        raise PolicyError("policy key 'restart.window' is longer than %d days" % WINDOW_MAX_DAYS,
                          key="restart.window.end")
    return out


def _restart(restart):
    _mapping("restart", restart)
    _unknown(restart, _RESTART_KEYS, "restart")
    out = dict(restart)
    if restart.get("method") not in RESTART_METHODS:
        raise PolicyError("policy key 'restart.method' must be one of %s, not %r"
                          % (", ".join(RESTART_METHODS), restart.get("method")), key="restart.method")
    for key, (low, high) in LIMITS.items():
        if restart.get(key) is not None:
            out[key] = _int_in_range("restart." + key, restart[key], low, high)
        elif key in RESTART_DEFAULTS:
            out[key] = RESTART_DEFAULTS[key]
    out["window"] = _window(restart.get("window"))
    return out


def _remediation(remediation):
    _mapping("remediation", remediation)
    _unknown(remediation, tuple(REMEDIATION_DEFAULTS), "remediation")
    if not isinstance(remediation.get("remove_blacklist"), bool):
        raise _type_error("remediation.remove_blacklist", "true or false", remediation.get("remove_blacklist"))
    return dict(remediation)


def validate(policy):
    """Check a (merged) policy; returns it with defaults filled in, or raises PolicyError.

    Idempotent: ``validate(validate(p)) == validate(p)``, so the node's re-check
    and the controller's digest agree.

    >>> validate({"checks": {"domains.vhost": {"level": "warn"}}})["checks"]["domains.vhost"]["level"]
    'warn'
    >>> validate({"checks": {"domains.vhost": {"level": False}}})["checks"]["domains.vhost"]["level"]
    'off'
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
    full["checks"] = _checks(full["checks"])
    full["ha_groups"] = _ha_groups(full["ha_groups"])
    full["restart"] = _restart(full["restart"])
    full["remediation"] = _remediation(full["remediation"])
    return full


def digest(policy):
    """A stable short digest of a policy document (sha256 of canonical JSON)."""
    blob = json.dumps(policy, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]


# -- applying the policy to a node's result --------------------------------------

def matches(name, patterns):
    """``fnmatch`` of a host or domain name against any pattern.

    >>> matches("keepalived-lb01", ["keepalived-*"])
    True
    """
    return any(fnmatch.fnmatchcase(name or "", p) for p in patterns or ())


def _today(today=None):
    return today or datetime.datetime.now(datetime.timezone.utc).date()


def expired(exempt, today=None):
    """True when the exemption carries an ``expires`` date that is past (the date itself still counts).

    >>> expired({"expires": "2020-01-01"}, datetime.date(2020, 1, 1)), expired({"expires": "2020-01-01"},
    ...                                                                          datetime.date(2020, 1, 2))
    (False, True)
    """
    when = (exempt or {}).get("expires")
    if not when:
        return False
    return datetime.date.fromisoformat(str(when)[:10]) < _today(today)


def _exemption(policy, check_id):
    return ((policy.get("checks") or {}).get(check_id) or {}).get("exempt") or {}


def host_exempt(policy, check_id, host_names, today=None):
    """The exemption reason when one of ``host_names`` is exempt from the check, else None (also when expired)."""
    exempt = _exemption(policy, check_id)
    if expired(exempt, today):
        return None
    for name in host_names:
        if name and matches(name, exempt.get("hosts")):
            return exempt.get("reason") or "host %s is exempt in the policy" % name
    return None


def domain_exempt(policy, check_id, domain_name, today=None):
    """The exemption reason when the domain is exempt from the check, else None (also when expired)."""
    exempt = _exemption(policy, check_id)
    if expired(exempt, today):
        return None
    if matches(domain_name, exempt.get("domains")):
        return exempt.get("reason") or "domain %s is exempt in the policy" % domain_name
    return None


FINDINGS = ("fail", "warn")


def apply_level(policy, check_id, state, reason):
    """Map a judged state through the policy's level for the check.

    ====================  =========  ===============================  =====================
    level                 judged     judged ``warn``                  pass, unknown, error,
                          ``fail``                                    not_applicable
    ====================  =========  ===============================  =====================
    ``fail``              fail       fail (promoted), except an       unchanged
                                     advisory of a check whose
                                     default level is fail
    ``warn``              warn       warn                             unchanged
    ``off``               not_applicable (the finding kept in the reason)
    ====================  =========  ===============================  =====================

    "Could not tell" (unknown, error) is never demoted or hidden by a level,
    only by ``off``. An advisory is a ``warn`` a check whose registry default
    level is ``fail`` gives for something that is not drift (``kernel.vhost_net``:
    a static ``/dev/vhost-net`` node that loads the module on first open); it
    stays ``warn`` at level ``fail``, so the shipped policy means what the
    registry says.

    >>> apply_level({"checks": {"kernel.vhost_net_boot": {"level": "fail"}}}, "kernel.vhost_net_boot", "warn", "r")
    ('fail', 'r')
    >>> apply_level({"checks": {"kernel.vhost_net": {"level": "fail"}}}, "kernel.vhost_net", "warn", "r")
    ('warn', 'r')
    >>> apply_level({"checks": {"x": {"level": "warn"}}}, "x", "fail", "r")
    ('warn', 'r')
    >>> apply_level({"checks": {"x": {"level": "off"}}}, "x", "fail", "r")
    ('not_applicable', 'check is off in the policy (it found: fail: r)')
    """
    level = ((policy.get("checks") or {}).get(check_id) or {}).get("level")
    if level is False:
        level = "off"
    if level is None:
        level = (CHECKS.get(check_id) or {}).get("default_level", "fail")
    if level == "off":
        return "not_applicable", "check is off in the policy (it found: %s%s)" % (state, ": " + reason if reason else "")
    if state not in FINDINGS:
        return state, reason
    if level == "warn":
        return "warn", reason
    if state == "warn" and (CHECKS.get(check_id) or {}).get("default_level", "fail") == "fail":
        return "warn", reason      # an advisory of a fail-by-default check
    return "fail", reason


def expired_exemptions(policy, host_names=(), domain_names=(), today=None):
    """The exemptions that would apply to this node but are past their ``expires`` date.

    ``[{"check", "expires", "reason", "hosts": [matched], "domains": [matched], "note"}]``.
    """
    out = []
    for check_id in CHECKS:
        exempt = _exemption(policy, check_id)
        if not exempt or not expired(exempt, today):
            continue
        hosts = sorted(set(n for n in host_names if n and matches(n, exempt.get("hosts"))))
        domains = sorted(set(d for d in domain_names if d and matches(d, exempt.get("domains"))))
        if not hosts and not domains:
            continue
        what = ", ".join(["host %s" % h for h in hosts] + ["domain %s" % d for d in domains])
        out.append({"check": check_id, "expires": exempt["expires"], "reason": exempt.get("reason"),
                    "hosts": hosts, "domains": domains,
                    "note": "policy exemption for %s (%s) expired on %s: not applied"
                            % (what, exempt.get("reason") or "no reason given", exempt["expires"])})
    return out


def annotate(audit, policy, host_names=(), today=None):
    """Record the effective policy in a node's audit result (pure; returns ``audit``).

    ``audit["policy"] = {"name", "digest", "expired_exemptions"}``: the digest of
    the merged, validated policy this node was judged against, and the
    exemptions that were ignored because they expired; each of those is also
    the first evidence line of its check, so every report shows it.
    """
    names = [n for n in list(host_names) + [audit.get("host")] if n]
    notes = expired_exemptions(policy, names, [d.get("name") for d in audit.get("domains") or ()], today)
    by_check = dict((c.get("id"), c) for c in audit.get("checks") or ())
    for note in notes:
        check = by_check.get(note["check"])
        if check is not None:
            check.setdefault("evidence", []).insert(0, note["note"])
    audit["policy"] = {"name": policy.get("name"), "digest": digest(policy), "expired_exemptions": notes}
    return audit


# -- the shipped file ---------------------------------------------------------------

_HEADER = """\
# The shipped policy. Copy it, or override parts of it per inventory group
# with `audit_policy_overrides` (mappings merge, lists replace; ha_groups add up).
# Generated from the check registry (module_utils/nodeaudit/checks/catalogue.py)
# by module_utils/nodeaudit/policy.py:default_policy_yaml; a test keeps it equal.
"""


def _scalar(value):
    """A YAML scalar written so that YAML reads back exactly this value (strings always quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    return json.dumps(value, sort_keys=True)


def default_policy_yaml():
    """``policies/default.yml``, generated from ``DEFAULT_POLICY`` and the registry's parameter docs."""
    p = dict(DEFAULT_POLICY, checks=_check_defaults())
    out = [_HEADER.rstrip("\n"), "name: %s" % _scalar(p["name"]), "description: %s" % _scalar(p["description"]), "",
           "checks:",
           '  # level: "fail" (breaks the CI gate), "warn" (reported, passes the gate) or "off" (not_applicable).',
           '  # Quote "off": a bare off is YAML\'s false (accepted as "off", but say what you mean).',
           '  # exempt: {hosts: [patterns], domains: [patterns], reason: "...", expires: "YYYY-MM-DD"}']
    for check_id, entry in CHECKS.items():
        out.append("  %s:   # %s" % (check_id, entry["title"]))
        spec = p["checks"][check_id]
        out.append("    level: %s" % _scalar(spec["level"]))
        for name, schema in (entry.get("params") or {}).items():
            if schema.get("doc"):
                out.append("    # %s" % schema["doc"])
            out.append("    %s: %s" % (name, _scalar(spec[name])))
    out += ["",
            "# Domains that must never restart together (keepalived pairs, quorum members).",
            "# Each: {name, domains: [name patterns] | server_group: nova group | metadata: {key: value}}",
            "# (server_group and metadata need -e restart_instances=...: see docs/FIX.md).",
            "ha_groups: %s" % _scalar(p["ha_groups"]), "",
            "restart:"]
    comments = {"method": "|".join(RESTART_METHODS),
                "max_per_host": "domains restarted at once on one host",
                "max_per_wave": "domains restarted at once in the fleet",
                "window": '{start: "2026-11-28T01:00:00Z", end: "2026-11-28T05:00:00Z"}',
                "wave_minutes": "minutes of the window each wave gets"}
    for key, value in p["restart"].items():
        out.append("  %s: %s   # %s" % (key, _scalar(value), comments.get(key, "")))
    out += ["", "remediation:",
            "  remove_blacklist: %s   # a vhost_net blacklist may be someone's security baseline"
            % _scalar(p["remediation"]["remove_blacklist"]), ""]
    return "\n".join(out)
