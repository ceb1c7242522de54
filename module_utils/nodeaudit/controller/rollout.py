"""A rollout that keeps an HA pair's VIP up: order and verification from the VRRP probe. Pure.

The planner (plan.py) already keeps the members of one HA group in different
waves, one after the other. This module adds what only the wire can tell:

- **Who is master.** A short probe before the rollout (probe_report.build over
  the group's hosts) names each VRRP instance's current master.
  `order_master_last` moves the master to the group's last turn (it swaps
  turns with the member that had it) and marks it `stop: graceful`: it is
  shut down through the ACPI power button with a timeout (keepalived sends
  its priority-0 advert: a handover in about the skew time instead of a
  3 x advert_int timeout), destroyed only if it does not stop.
- **Before the next member goes.** `verify_step` reads the probe that ran
  during a member's restart: the group has exactly one master at the end,
  its adverts flow (the last ones on time), and the restarted member is back
  (it advertised, or it joined the VRRP multicast group again by IGMP: the
  only thing a silent backup shows the host). A live-migrated member never
  left: it need not rejoin. Otherwise the rollout stops before the next one.

Nova: the same order maps to nova's actions: the backups first with a hard
reboot (`reboot_hard`) or a live migration, the master last with a soft
reboot (`openstack server reboot --soft`: ACPI, the guest's keepalived hands
over) or a live migration; the probe between them is the same (docs/FIX.md).
"""
from ..combiners.adverts import TOLERANCE


FLOW_ADVERTS = 2  # the master must have held the instance for this many advert intervals at the end


def _member_by_src(inst):
    return {m["src"]: m for m in inst.get("members") or [] if m.get("src")}


def current_masters(doc):
    """[{vrid, family, host, domain, src}] : who holds each instance at the end of the probe."""
    out = []
    for inst in doc.get("instances") or []:
        segs = inst.get("timeline") or []
        if not segs or segs[-1].get("master") is None:
            continue
        src = segs[-1]["master"]
        m = _member_by_src(inst).get(src) or {}
        out.append({"vrid": inst["vrid"], "family": inst.get("family"), "host": m.get("host"),
                    "domain": m.get("domain"), "src": src})
    return out


def order_master_last(steps, doc):
    """(steps, notes): within each HA group the current master restarts last, gracefully.

    `steps`: the plan's restart steps ({wave, host, domain, group, method, ...}).
    Each step of a group gains `ha_role` ("master" | "backup"; None when no
    member's NIC saw any VRRP), `stop` ("graceful" for the master, "destroy"
    otherwise) and `probe` (true when the group's VRRP was seen: only then can
    the probe verify it after each member; a group of paused domains, or one
    that does not run VRRP, is restarted in plan order without it). Steps
    outside any group are left as they are.

    >>> steps = [{"wave": 1, "host": "c1", "domain": "lb01", "group": "lb"},
    ...          {"wave": 2, "host": "c2", "domain": "lb02", "group": "lb"}]
    >>> doc = {"instances": [{"vrid": 51, "members": [{"host": "c1", "domain": "lb01", "src": "a"}],
    ...                       "timeline": [{"start": 0, "end": 9, "master": "a"}]}]}
    >>> out, notes = order_master_last(steps, doc)
    >>> [(s["wave"], s["domain"], s["ha_role"], s["stop"]) for s in out]
    [(1, 'lb02', 'backup', 'destroy'), (2, 'lb01', 'master', 'graceful')]
    """
    steps = [dict(s) for s in steps]
    masters = set((m["host"], m["domain"]) for m in current_masters(doc) if m["domain"])
    seen = set()
    for inst in doc.get("instances") or []:
        for m in (inst.get("members") or []) + (inst.get("listeners") or []):
            seen.add((m.get("host"), m.get("domain")))
    notes = []
    groups = {}
    for s in steps:
        if s.get("group"):
            groups.setdefault(s["group"], []).append(s)
    for group, members in sorted(groups.items()):
        found = [s for s in members if (s["host"], s["domain"]) in masters]
        last = max(members, key=lambda s: (s["wave"], s["host"], s["domain"]))
        vrrp = any((s["host"], s["domain"]) in seen for s in members)
        for s in members:
            s["ha_role"], s["stop"], s["probe"] = ("backup" if vrrp else None), "destroy", vrrp
        if not vrrp:
            notes.append("HA group %s: no VRRP seen on its members' NICs (probe): plan order kept, "
                         "not verified on the wire" % group)
            continue
        if not found:
            notes.append("HA group %s: no member of the plan is a VRRP master now (probe): plan order kept"
                         % group)
            continue
        master = found[0]
        master["ha_role"], master["stop"] = "master", "graceful"
        if master is not last:
            master["wave"], last["wave"] = last["wave"], master["wave"]
            notes.append("HA group %s: %s on %s is the VRRP master: moved to the last turn (wave %d), "
                         "%s on %s goes first" % (group, master["domain"], master["host"], master["wave"],
                                                  last["domain"], last["host"]))
        else:
            notes.append("HA group %s: %s on %s is the VRRP master and already last" % (
                group, master["domain"], master["host"]))
    steps.sort(key=lambda s: (s["wave"], s["host"], s["domain"]))
    return steps, notes


MASTER_DOWN_ADVERTS = 3  # a VRRP backup takes over after 3 advert intervals (+ skew) without an advert


def _without_a_late_tail(inst, segs):
    """The timeline without a master-less tail that only says the probe ended inside a late advert's wait.

    The timeline is strict (a master holds one interval + 5 % past its advert), so a probe that
    ends just after a late advert was due shows "no master" for its last fraction of a second
    (seen: 0.2 s on the lab's TCG guests under load) though no backup would take over before
    MASTER_DOWN_ADVERTS intervals. Such a tail (the master's hold ran out, it did not hand over
    with priority 0, and the tail is shorter than the master-down interval) is dropped; the
    outage figures (max_no_master_s) still count it.
    """
    if len(segs) < 2 or segs[-1].get("master") is not None or segs[-2].get("master") is None:
        return segs
    tail, prev = segs[-1], segs[-2]["master"]
    m = _member_by_src(inst).get(prev) or {}
    interval = m.get("advert_int_s") or 1.0
    last = (inst.get("last_advert") or {}).get(prev)
    # The tail starts where the hold ran out (last advert + interval + tolerance), not earlier at a
    # priority-0 advert (a handover: the master is gone at once).
    expired = last is not None and tail["start"] >= last + interval * (1 + TOLERANCE) - 1e-3
    if expired and tail["end"] - last < MASTER_DOWN_ADVERTS * interval:
        return segs[:-1]
    return segs


def verify_step(doc, step, restarted_at, rejoin=True):
    """Is the group whole again after `step` (restarted at `restarted_at`, epoch seconds)?

    Returns {"ok", "reason", "vrid", "master": {host, domain, src} | None,
    "max_no_master_s", "master_changes"}. `rejoin`: the restarted member must
    show it is back (an advert or an IGMP join after the restart); false for a
    live migration (the guest never stopped).
    """
    out = {"ok": False, "reason": None, "vrid": None, "master": None, "max_no_master_s": None,
           "master_changes": None}
    inst = None
    for candidate in doc.get("instances") or []:
        names = [(m["host"], m["domain"]) for m in candidate.get("members") or []]
        names += [(m["host"], m["domain"]) for m in candidate.get("listeners") or []]
        if any(d == step["domain"] for _, d in names):
            inst = candidate
            break
    if inst is None:
        out["reason"] = "no VRRP instance with %s was seen during the probe" % step["domain"]
        return out
    out.update(vrid=inst["vrid"], max_no_master_s=inst.get("max_no_master_s"),
               master_changes=inst.get("master_changes_count"))
    segs = _without_a_late_tail(inst, inst.get("timeline") or [])
    if not segs or segs[-1].get("master") is None:
        out["reason"] = "VRID %d has no master at the end of the probe" % inst["vrid"]
        return out
    src = segs[-1]["master"]
    m = _member_by_src(inst).get(src) or {}
    out["master"] = {"host": m.get("host"), "domain": m.get("domain"), "src": src}
    end = doc.get("ended") or segs[-1]["end"]
    interval = m.get("advert_int_s") or 1.0
    recent = [c for c in segs if c.get("master") == src and c["end"] >= segs[-1]["end"] - 1e-6]
    if not recent or end - recent[-1]["start"] < interval * (FLOW_ADVERTS - 1):
        out["reason"] = "VRID %d: master %s took over only %.1f s before the probe ended: not yet flowing" % (
            inst["vrid"], m.get("domain") or src, end - (recent[-1]["start"] if recent else end))
        return out
    since = recent[-1]["start"] + interval
    others = sorted(x for x, t in (inst.get("last_advert") or {}).items() if x != src and t > since)
    if others:
        out["reason"] = "VRID %d: two routers advertise at the end of the probe (%s and %s): split brain" % (
            inst["vrid"], src, ", ".join(others))
        return out
    if rejoin:
        back = False
        for mem in inst.get("members") or []:
            if mem["domain"] != step["domain"]:
                continue
            if any(t >= restarted_at for t in mem.get("vrrp_joins") or []):
                back = True
            if mem.get("src") == src and out["master"]["domain"] == step["domain"]:
                back = True
        for lis in inst.get("listeners") or []:
            if lis["domain"] == step["domain"] and any(t >= restarted_at for t in lis.get("vrrp_joins") or []):
                back = True
        if not back:
            out["reason"] = ("VRID %d: %s not seen back since its restart (no advert and no IGMP join of "
                             "224.0.0.18 on its NIC)" % (inst["vrid"], step["domain"]))
            return out
    out["ok"] = True
    out["reason"] = "VRID %d: one master (%s), adverts flowing%s" % (
        inst["vrid"], m.get("domain") or src, ", %s back" % step["domain"] if rejoin else "")
    return out


def group_hosts(steps, group):
    """The hosts to probe for an HA group: every host with a step of that group.

    >>> group_hosts([{"host": "c2", "group": "lb"}, {"host": "c1", "group": "lb"}, {"host": "c3"}], "lb")
    ['c1', 'c2']
    """
    return sorted(set(s["host"] for s in steps if s.get("group") == group))
