"""The check registry: a check is its catalogue entry plus one pure judge.

``evaluate``, the terminal table, JUnit, Markdown, policy validation and the
default policy all iterate ``CHECKS`` (the catalogue, in registration order)
and ``JUDGES``. Adding a check is one catalogue entry and one judge::

    @judge("kernel.something")
    def check_something(views, params):      # views: the combiners' output; params: the policy's entry
        return result("kernel.something", "pass", expected, actual, None, evidence)

or ``register(check_id, entry, judge_fn)`` at run time (a test does that with
a throwaway check). A judge is pure: it reads the combined views only.
"""
from ..textsafe import excerpt, safe_text
from .catalogue import CHECKS

JUDGES = {}
MAX_EVIDENCE = 40
REQUIRED_KEYS = ("title", "short", "severity", "layer", "rationale", "remediation", "default_level", "params")


def judge(check_id):
    """Decorator: the judge of a catalogue entry."""
    def wrap(func):
        if check_id not in CHECKS:
            raise KeyError("no catalogue entry for check %r" % check_id)
        JUDGES[check_id] = func
        return func
    return wrap


def register(check_id, entry, judge_fn):
    """Add a check at run time: its catalogue entry (every key of REQUIRED_KEYS) and its judge."""
    missing = [k for k in REQUIRED_KEYS if k not in entry]
    if missing:
        raise ValueError("catalogue entry for %r lacks %s" % (check_id, ", ".join(missing)))
    if check_id in CHECKS:
        raise ValueError("check %r is already registered" % check_id)
    CHECKS[check_id] = dict(entry)
    JUDGES[check_id] = judge_fn


def unregister(check_id):
    CHECKS.pop(check_id, None)
    JUDGES.pop(check_id, None)


def result(check_id, state, expected, actual, reason, evidence, **fields):
    """One check's result: what was expected, what was found, why, and on what evidence."""
    spec = CHECKS[check_id]
    if state != "pass" and not reason:
        reason = actual
    # Rationale and remediation stay in the catalogue: the reports join them by id,
    # so each host's result stays small.
    out = {"id": check_id, "title": spec["title"], "state": state, "severity": spec["severity"],
           "layer": spec["layer"], "expected": safe_text(expected), "actual": safe_text(actual),
           "reason": safe_text(reason) if state != "pass" else None,
           "evidence": [excerpt(e) for e in evidence[:MAX_EVIDENCE]]
           + (["...and %d more" % (len(evidence) - MAX_EVIDENCE)] if len(evidence) > MAX_EVIDENCE else [])}
    out.update(fields)
    return out
