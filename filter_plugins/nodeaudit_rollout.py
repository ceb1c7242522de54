"""Jinja filters for the HA-aware rollout (module_utils/nodeaudit/controller/rollout.py, probe_report.py).

Imported from this repository's module_utils/ the same way as nodeaudit_plan.py.
"""
import fnmatch
import os
import sys

_MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if _MODULE_UTILS not in sys.path:
    sys.path.insert(0, _MODULE_UTILS)

from nodeaudit.controller import probe_report as _probe  # noqa: E402
from nodeaudit.controller import rollout as _rollout  # noqa: E402
from nodeaudit.controller.plain import plain as _plain  # noqa: E402


def restart_force(hosts, patterns=None):
    """``audit_doc.hosts | restart_force(restart_domains)``: also plan the running domains matching a pattern.

    For restarts the audit does not ask for (a new qemu for another reason, or the
    lab's TCG guests, which vhost-net never applies to). Every other rule of the
    planner (HA groups, limits, kernel) still holds. The input is not changed.
    """
    hosts = _plain(hosts or {})
    patterns = [str(p) for p in _plain(patterns or [])]
    if not patterns:
        return hosts
    def force(doms):
        out_doms = []
        for dom in doms or []:
            dom = dict(dom)
            if not dom.get("needs_restart") and dom.get("state") in ("running", "paused", "blocked") \
                    and any(fnmatch.fnmatchcase(dom.get("name") or "", p) for p in patterns):
                dom["needs_restart"] = True
                dom["reason"] = "restart requested (restart_domains)"
            out_doms.append(dom)
        return out_doms

    out = {}
    for name, entry in hosts.items():  # a report host entry: the audit's fields at the top (and/or under audit)
        entry = dict(entry)
        if "domains" in entry:
            entry["domains"] = force(entry["domains"])
        if isinstance(entry.get("audit"), dict) and "domains" in entry["audit"]:
            entry["audit"] = dict(entry["audit"], domains=force(entry["audit"]["domains"]))
        out[name] = entry
    return out


def restart_master_last(steps, probe_doc):
    steps, notes = _rollout.order_master_last(_plain(steps or []), _plain(probe_doc or {}))
    return {"steps": steps, "notes": notes}


def restart_group_hosts(steps, group):
    return _rollout.group_hosts(_plain(steps or []), group)


def probe_fleet_doc(async_results, policy=None, late_factor=1.5):
    """The probe report from a loop of async_status results (each ``item.item`` the host)."""
    probes = {}
    for res in _plain(async_results or []):
        host = (res.get("item") or {}).get("item") or res.get("item")
        probes[str(host)] = res.get("probe")
    return _probe.build(probes, {}, _plain(policy or {}), late_factor=float(late_factor))


def restart_probe_verify(probe_doc, step, restarted_at, rejoin=True):
    return _rollout.verify_step(_plain(probe_doc or {}), _plain(step or {}), float(restarted_at),
                                rejoin=str(rejoin).lower() in ("1", "true", "yes", "on"))


class FilterModule(object):
    def filters(self):
        return {
            "restart_force": restart_force,
            "restart_master_last": restart_master_last,
            "restart_group_hosts": restart_group_hosts,
            "probe_fleet_doc": probe_fleet_doc,
            "restart_probe_verify": restart_probe_verify,
        }
