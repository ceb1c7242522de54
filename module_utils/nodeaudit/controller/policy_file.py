"""The policy on the controller: the file loaded with limits, every host's effective policy, errors that say where.

``load_policy_file`` reads the base file (a relative path from where the user
stands), refuses anything but a mapping, and names the file, line and column
of bad YAML. ``effective_policies`` merges each host's
``audit_policy_overrides`` over it and validates: the base alone first (its
errors name the file), then each distinct override once (its errors name the
key and the group or hosts that carry it, never a host that does not).
"""
import json
import os

from .. import policy as _policy
from .. import safeyaml
from ..errors import PolicyError

MAX_POLICY_BYTES = safeyaml.MAX_BYTES
_NOT_GROUPS = ("all", "ungrouped")


def resolve(path, cwd=None):
    """An absolute path: ``~`` expanded, a relative one taken from ``cwd`` (default: where the user stands).

    >>> resolve("p.yml", "/home/op")
    '/home/op/p.yml'
    """
    path = os.path.expanduser(str(path))
    if not os.path.isabs(path):
        path = os.path.join(cwd or os.getcwd(), path)
    return os.path.normpath(path)


def _kind(doc):
    if doc is None:
        return "an empty document"
    if isinstance(doc, list):
        return "a list"
    return "a %s" % type(doc).__name__


def parse_policy_text(text, name):
    """The policy document in ``text`` (named ``name`` in errors): a mapping, or PolicyError.

    >>> parse_policy_text("- checks: {}", "p.yml")
    Traceback (most recent call last):
    ...
    nodeaudit.errors.PolicyError: policy file p.yml must be a YAML mapping (name:, checks:, restart: ...), not a list: refusing it rather than auditing with the default policy
    """
    try:
        doc = safeyaml.load(text, name="policy file %s" % name, max_bytes=MAX_POLICY_BYTES)
    except safeyaml.YAMLLoadError as exc:
        raise PolicyError(str(exc))
    if not isinstance(doc, dict):
        raise PolicyError("policy file %s must be a YAML mapping (name:, checks:, restart: ...), not %s: refusing it "
                          "rather than auditing with the default policy" % (name, _kind(doc)))
    return doc


def load_policy_file(path, cwd=None):
    """Read and parse the base policy file (size-capped; see ``parse_policy_text``)."""
    full = resolve(path, cwd)
    try:
        with open(full, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError("policy file %s (from %r) cannot be read: %s" % (full, str(path), exc.strerror or exc))
    return parse_policy_text(data, full)


def _names(hosts, limit=5):
    hosts = sorted(hosts)
    shown = ", ".join(hosts[:limit])
    return shown + (" and %d more" % (len(hosts) - limit) if len(hosts) > limit else "")


def override_source(hosts, all_hosts, groups):
    """Who carries an override: ``group 'lb' (hosts a, b)`` when a group's hosts in the play are exactly
    those that carry it, else ``host a`` / ``hosts a, b``.

    >>> override_source({"a", "b"}, {"a", "b", "c"}, {"all": ["a", "b", "c"], "lb": ["a", "b"]})
    "group 'lb' (hosts a, b)"
    >>> override_source({"c"}, {"a", "b", "c"}, {"lb": ["a", "b"]})
    'host c'
    """
    hosts = set(hosts)
    exact = sorted(g for g, members in (groups or {}).items()
                   if g not in _NOT_GROUPS and set(members or ()) & set(all_hosts) == hosts)
    if exact:
        return "group %s (%s %s)" % (", ".join(repr(g) for g in exact), "host" if len(hosts) == 1 else "hosts",
                                     _names(hosts))
    return "%s %s" % ("host" if len(hosts) == 1 else "hosts", _names(hosts))


def effective_policy(base, overrides=None, where="policy"):
    """One merged, validated policy; an error says ``where``."""
    if not isinstance(base, dict):
        raise PolicyError("the base policy must be a mapping, not %s" % _kind(base))
    try:
        return _policy.validate(_policy.merge(base, overrides or {}))
    except PolicyError as exc:
        raise PolicyError("%s: %s" % (where, exc), key=exc.key)


def effective_policies(overrides_by_host, base, groups=None, source=None):
    """``{host: overrides}`` -> ``{host: validated policy}``: each distinct override validated once."""
    base_where = "base policy file %s" % resolve(source) if source else "base policy"
    if not isinstance(base, dict):
        raise PolicyError("%s must be a YAML mapping, not %s" % (base_where, _kind(base)))
    effective_policy(base, {}, base_where)
    by_value = {}
    for host, overrides in (overrides_by_host or {}).items():
        if overrides is None:
            overrides = {}
        key = json.dumps(overrides, sort_keys=True, default=str)
        by_value.setdefault(key, (overrides, []))[1].append(str(host))
    out = {}
    all_hosts = set(str(h) for h in overrides_by_host or {})
    for overrides, hosts in by_value.values():
        if not isinstance(overrides, dict):
            raise PolicyError("audit_policy_overrides of %s must be a mapping, not %s"
                              % (override_source(hosts, all_hosts, groups), _kind(overrides)))
        where = "audit_policy_overrides of %s" % override_source(hosts, all_hosts, groups) if overrides else base_where
        full = effective_policy(base, overrides, where)
        for host in hosts:
            out[host] = full
    return out
