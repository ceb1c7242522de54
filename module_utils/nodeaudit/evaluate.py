"""Evaluation: facts + policy -> the audit result. Pure: no I/O.

Three steps, each a layer of its own:

1. the combiners turn the raw facts into one view per layer
   (``combiners/config.py``, ``kernel.py``, ``domain.py``);
2. every registered judge (``checks/``) reads the views and returns its
   result (what was expected, what was found, why, on what evidence);
3. the policy is applied in one pass: host exemptions, then the level of
   each check (``policy.apply_level``).

"Could not tell" is ``unknown`` (or ``error`` when the input itself was
broken), never a pass and never a silent fail.
"""
from . import policy as _policy
from .checks import CHECKS, JUDGES, worst
from .checks import evidence as _evidence
from .checks.domains import judge_domain, judge_orphan  # noqa: F401  (judge_domain: public for tests)
from .combiners.config import config_view
from .combiners.domain import RUNNING_STATES  # noqa: F401  (re-exported: filter_plugins use it)
from .combiners.kernel import kernel_view
from .sources import deployment
from .textsafe import excerpt, safe_text

SCHEMA_VERSION = 1


def combine(facts):
    """The views every judge reads: ``{"facts", "layout", "config", "kernel"}`` (``domains`` is added by evaluate)."""
    layout = (facts.get("deployment") or {}).get("layout") or deployment.layout(deployment.DEFAULT_SHAPE)
    return {"facts": facts, "layout": layout, "config": config_view(facts.get("qemu_kvm"), layout),
            "kernel": kernel_view(facts.get("kernel"))}


def judge_domains(facts, policy):
    """Every domain and every qemu no domain claims, judged; domain exemptions of the policy marked."""
    domains = []
    for dom in facts.get("domains") or []:
        judged = _evidence.annotate_domain(judge_domain(dom, facts.get("mode")), dom, facts.get("mode"))
        reason = _policy.domain_exempt(policy, "domains.vhost", judged["name"])
        if reason:
            judged["exempt"] = True
            judged["reason"] = "exempt in the policy: %s" % reason
        domains.append(judged)
    # qemu processes no domain claims (started by hand, by another libvirtd) are judged too.
    domains.extend(_evidence.annotate_domain(judge_orphan(proc), {"process": proc}, "live")
                   for proc in facts.get("orphan_qemu") or [])
    return domains


def apply_policy(checks, policy, host_names):
    """Host exemptions and levels, in one pass over the judges' results."""
    for check in checks:
        exempt = _policy.host_exempt(policy, check["id"], host_names)
        if exempt:
            check["evidence"].insert(0, "found: %s: %s" % (check["state"], check["reason"] or check["actual"]))
            check["state"], check["reason"] = "not_applicable", "host exempt in the policy: %s" % exempt
        else:
            check["state"], check["reason"] = _policy.apply_level(policy, check["id"], check["state"], check["reason"])
        check["level"] = policy["checks"].get(check["id"], {}).get("level", CHECKS[check["id"]]["default_level"])
    return checks


def _kernel_summary(k):
    return {
        "release": k["release"],
        "vhost_net_loaded": k["loaded"],
        "vhost_net_builtin": k["builtin"],
        "dev_vhost_net": k["dev"].get("present"),
        "blacklisted": bool(k["blacklisted"]),
        "install_blocked": k["install_blocked"],
        "modprobe_files": k["modprobe_files"],
        "boot_load": k["boot_load"],
        # Structured fields for the fix and the planner (nothing parses a reason).
        "module_support": k["module_support"],
        "can_provide": k["can_provide"],
        "can_provide_reason": k["can_provide_reason"],
        "blocks": k["blocks"],
    }


def _config_summary(cfg):
    return {
        "path": cfg["path"],
        "status": "ok" if cfg["status"] == "parse_error" else cfg["status"],
        "vhost_net_enabled": safe_text(cfg["key"]["value"]),
        "sourceable": cfg["sourceable"],
        "syntax_error": cfg["syntax_error"],
        "key_line": cfg["key"]["line"],
        "read_by": cfg["read_by"],
        "owner": cfg["owner"],
    }


def evaluate(facts, policy, host_name=None):
    """The audit result for one node (see docs/DESIGN.md for its shape)."""
    views = combine(facts)
    views["domains"] = domains = judge_domains(facts, policy)
    checks = [JUDGES[cid](views, policy["checks"].get(cid) or {}) for cid in CHECKS]
    checks = _evidence.adjust_checks(checks, facts)   # what a sosreport cannot show is unknown (issue 13)
    names = [n for n in (host_name, facts.get("hostname")) if n]
    checks = apply_policy(checks, policy, names)
    return {
        "schema_version": SCHEMA_VERSION,
        "host": facts.get("hostname"),
        "mode": facts.get("mode"),
        "root": facts.get("root"),
        "sources": facts.get("sources"),
        "versions": facts.get("versions"),
        "state": worst(c["state"] for c in checks),
        "checks": checks,
        "domains": domains,
        "needs_restart": sorted(d["name"] for d in domains if d["needs_restart"] and not d["exempt"]),
        "confidence": _evidence.host_confidence(domains, facts),
        "kernel": _kernel_summary(views["kernel"]),
        "config": _config_summary(views["config"]),
        "errors": [excerpt(e) for e in (facts.get("errors") or []) + views["kernel"]["errors"]],
    }
