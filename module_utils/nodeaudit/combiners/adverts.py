"""Periodic adverts over time: gaps, late ones, the master timeline. Pure.

Used on the node (library/vrrp_probe.py summarises each NIC's capture) and on
the controller (controller/probe_report.py merges the members of one VRRP
instance across hosts): the same definitions on both sides.

An advert is {"t": seconds since the epoch (kernel timestamp), "src": sender IP,
"priority": int, "advert_int_s": float, ...}.

Definitions (docs/PROBE.md says the same for operators):
- gap: time between two consecutive adverts of ONE sender.
- late: a gap over `late_factor` x the advertised interval (default 1.5).
- master: the sender holding the instance. A sender holds it from an advert
  with priority > 0 until one advertised interval (+ `tolerance`, default 5 %)
  later, unless it advertises again; priority 0 gives it up at once (a
  graceful handover). With two senders holding at once (each believes it is
  master), the higher priority wins, then the higher address, as in VRRP.
- no master: time in which nobody holds the instance; the VIP is unanswered
  (or answered by a master whose adverts stopped: for a backup, the same).
- master change: the master becomes a different sender (A -> B, or A -> none
  -> B); A -> none -> A is an outage, not a change.

Sample input::

    >>> ads = [{"t": float(t), "src": "10.0.0.1", "priority": 150, "advert_int_s": 1.0} for t in (0, 1, 2)]
    >>> ads += [{"t": 5.6, "src": "10.0.0.2", "priority": 100, "advert_int_s": 1.0},
    ...         {"t": 6.6, "src": "10.0.0.2", "priority": 100, "advert_int_s": 1.0},
    ...         {"t": 7.0, "src": "10.0.0.1", "priority": 150, "advert_int_s": 1.0}]
    >>> tl = master_timeline(ads)
    >>> [(c["from"], c["to"], c["reason"]) for c in tl["master_changes"]]
    [('10.0.0.1', '10.0.0.2', 'timeout'), ('10.0.0.2', '10.0.0.1', 'preempt')]
    >>> round(tl["max_no_master_s"], 2)
    2.55
    >>> s = sender_stats([a["t"] for a in ads if a["src"] == "10.0.0.1"], 1.0)
    >>> (s["count"], s["max_gap_s"], [x["gap_s"] for x in s["late"]])
    (4, 5.0, [5.0])
"""

LATE_FACTOR = 1.5
TOLERANCE = 0.05
MAX_LATE = 50


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an ascending list (None for an empty one).

    >>> percentile([1.0, 1.0, 1.1, 5.0], 50), percentile([1.0, 1.0, 1.1, 5.0], 99), percentile([], 50)
    (1.0, 5.0, None)
    """
    if not sorted_values:
        return None
    rank = max(1, int(-(-pct * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def sender_stats(times, advert_int_s, late_factor=LATE_FACTOR, max_late=MAX_LATE):
    """Gaps of one sender's adverts (`times` in seconds, any order).

    Returns {"count", "first_t", "last_t", "max_gap_s", "p50_gap_s", "p90_gap_s",
    "p99_gap_s", "late": [{"t" (the late advert), "gap_s", "late_by_s"}] (the
    worst `max_late`, in time order), "late_count"}.
    """
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    ordered = sorted(gaps)
    limit = late_factor * advert_int_s if advert_int_s else None
    late = []
    if limit:
        late = [{"t": round(times[i + 1], 6), "gap_s": round(g, 6), "late_by_s": round(g - advert_int_s, 6)}
                for i, g in enumerate(gaps) if g > limit]
    shown = sorted(sorted(late, key=lambda x: -x["gap_s"])[:max_late], key=lambda x: x["t"])
    return {"count": len(times), "first_t": times[0] if times else None, "last_t": times[-1] if times else None,
            "max_gap_s": round(ordered[-1], 6) if ordered else None,
            "p50_gap_s": _r(percentile(ordered, 50)), "p90_gap_s": _r(percentile(ordered, 90)),
            "p99_gap_s": _r(percentile(ordered, 99)), "late": shown, "late_count": len(late)}


def _r(value):
    return None if value is None else round(value, 6)


def _rank(src, prio):
    """VRRP's tie-break: higher priority, then the higher primary address."""
    try:
        import ipaddress
        key = int(ipaddress.ip_address(src))
    except ValueError:
        key = 0
    return (prio, key)


def master_timeline(adverts, tolerance=TOLERANCE, start=None, end=None):
    """Who held the instance when, from its adverts (any order; several senders).

    `start` / `end` bound the observation (default: first and last advert);
    time before the first advert is not counted as "no master".

    Returns {"segments": [{"start","end","master","priority"}] (master None =
    no master), "master_changes": [{"t","from","to","priority","reason"}]
    (reason: "handover" after a priority-0 advert, "timeout" when the old
    master's adverts stopped, "preempt" when a higher priority took over),
    "handovers": [{"t","src"}] (priority-0 adverts), "max_no_master_s",
    "no_master_s" (total), "masters": [distinct senders that held it]}.
    """
    ads = sorted(adverts, key=lambda a: (a["t"], a["src"]))
    result = {"segments": [], "master_changes": [], "handovers": [], "max_no_master_s": 0.0,
              "no_master_s": 0.0, "masters": []}
    if not ads:
        return result
    t_first = ads[0]["t"] if start is None else start
    t_end = ads[-1]["t"] if end is None else max(end, ads[-1]["t"])
    holders = {}  # src -> (expiry, priority)
    state = {"master": None, "prio": None, "since": t_first, "last_master": None, "last_reason": None}

    def current(t):
        alive = [(src, p) for src, (exp, p) in holders.items() if exp >= t]
        return max(alive, key=lambda x: _rank(*x)) if alive else (None, None)

    def switch(t, master, prio, reason):
        if master == state["master"]:
            return
        if t > state["since"] or state["master"] is not None:
            result["segments"].append({"start": round(state["since"], 6), "end": round(t, 6),
                                       "master": state["master"], "priority": state["prio"]})
        if master is not None:
            prev = state["last_master"]
            if prev is not None and prev != master:
                why = reason if state["master"] is None else "preempt"
                result["master_changes"].append({"t": round(t, 6), "from": prev, "to": master,
                                                 "priority": prio, "reason": why})
            state["last_master"] = master
            if master not in result["masters"]:
                result["masters"].append(master)
        state.update(master=master, prio=prio, since=t)

    def expire_until(t):
        # Masters whose hold ran out before t, in expiry order.
        while state["master"] is not None:
            exp = holders[state["master"]][0]
            if exp >= t:
                return
            del holders[state["master"]]
            nxt, prio = current(exp)
            state["last_reason"] = "timeout"
            switch(exp, nxt, prio, "timeout")

    for ad in ads:
        t = ad["t"]
        expire_until(t)
        if ad["priority"] == 0:
            result["handovers"].append({"t": round(t, 6), "src": ad["src"]})
            holders.pop(ad["src"], None)
            nxt, prio = current(t)
            switch(t, nxt, prio, "handover")
            state["last_reason"] = "handover"
            continue
        holders[ad["src"]] = (t + ad["advert_int_s"] * (1 + tolerance), ad["priority"])
        nxt, prio = current(t)
        reason = state["last_reason"] or "timeout"
        switch(t, nxt, prio, reason)
        if state["master"] is not None:
            state["last_reason"] = None
    expire_until(t_end)
    if t_end > state["since"] or state["master"] is not None:
        result["segments"].append({"start": round(state["since"], 6), "end": round(t_end, 6),
                                   "master": state["master"], "priority": state["prio"]})
    outages = [s["end"] - s["start"] for s in result["segments"] if s["master"] is None]
    result["max_no_master_s"] = round(max(outages), 6) if outages else 0.0
    result["no_master_s"] = round(sum(outages), 6)
    return result


def summarise_nic(events, late_factor=LATE_FACTOR, max_adverts=20000, start=None, end=None):
    """One NIC's capture -> one entry per periodic flow seen on it.

    `events`: [{"t", "dir": "sent" (left the guest) | "heard" (sent to the guest),
    "flow": ("vrrp", vrid) | ("bfd"|"udp", key), "src", "priority" (VRRP; None
    otherwise), "advert_int_s" (VRRP; None otherwise), "version", "family"}].

    Returns [{"kind", "vrid" (VRRP) | "flow", "version", "family", "senders":
    [{"src", "dir", "priorities", "advert_int_s", sender_stats...}],
    "master_changes", "handovers", "max_no_master_s" (VRRP only; None
    otherwise), "adverts": [[t, dir, src, priority, advert_int_s]] (at most
    `max_adverts`, the first ones), "adverts_truncated"}].

    >>> ev = [{"t": float(i), "dir": "sent", "flow": ("vrrp", 51), "src": "10.0.0.1", "priority": 150,
    ...        "advert_int_s": 1.0, "version": 2, "family": 4} for i in (0, 1, 2, 6)]
    >>> out = summarise_nic(ev)
    >>> (out[0]["vrid"], out[0]["senders"][0]["max_gap_s"], out[0]["senders"][0]["late_count"])
    (51, 4.0, 1)
    """
    flows = {}
    for ev in sorted(events, key=lambda e: e["t"]):
        flows.setdefault(ev["flow"], []).append(ev)
    out = []
    for flow in sorted(flows, key=lambda f: (f[0], str(f[1]))):
        evs = flows[flow]
        kind = flow[0]
        senders = {}
        for ev in evs:
            senders.setdefault((ev["src"], ev["dir"]), []).append(ev)
        sender_out = []
        for (src, direction), sev in sorted(senders.items()):
            ints = sorted(set(e["advert_int_s"] for e in sev if e["advert_int_s"]))
            times = [e["t"] for e in sev]
            if ints:
                interval = ints[0]
            else:  # not VRRP: the median gap stands for the interval
                gaps = sorted(b - a for a, b in zip(times, times[1:]))
                interval = percentile(gaps, 50) if gaps else None
            stats = sender_stats(times, interval, late_factor)
            stats.update(src=src, dir=direction, advert_int_s=interval,
                         priorities=sorted(set(e["priority"] for e in sev if e["priority"] is not None)))
            sender_out.append(stats)
        entry = {"kind": kind, "vrid": flow[1] if kind == "vrrp" else None,
                 "flow": None if kind == "vrrp" else flow[1],
                 "version": evs[0].get("version"), "family": evs[0].get("family"),
                 "senders": sender_out, "master_changes": [], "handovers": [], "max_no_master_s": None,
                 "adverts": [[round(e["t"], 6), e["dir"], e["src"], e["priority"], e["advert_int_s"]]
                             for e in evs[:max_adverts]],
                 "adverts_truncated": len(evs) > max_adverts}
        if kind == "vrrp":
            tl = master_timeline([e for e in evs if e["priority"] is not None], start=start, end=end)
            entry.update(master_changes=tl["master_changes"], handovers=tl["handovers"],
                         max_no_master_s=tl["max_no_master_s"])
        out.append(entry)
    return out


def attributed_gaps(adverts, src, late_factor=LATE_FACTOR, max_late=MAX_LATE):
    """Gaps of `src` while it held the instance, from the adverts of ALL senders of one instance.

    A sender stops advertising legitimately when it hands over (priority 0) or
    when a sender of higher rank (priority, then address) advertises before its
    next advert was due (it was preempted and became backup). Those gaps are not
    its lateness. Every other gap is: a master that stopped advertising without
    either, whether or not a backup took over meanwhile (the 2014 crime: lb01's
    adverts 5 s late while lb02 took the VIP).

    Returns sender_stats over the attributed gaps only (count = adverts of `src`).

    >>> a = [{"t": 0.0, "src": "b", "priority": 100, "advert_int_s": 1.0},
    ...      {"t": 0.5, "src": "a", "priority": 150, "advert_int_s": 1.0},
    ...      {"t": 30.0, "src": "b", "priority": 100, "advert_int_s": 1.0}]
    >>> attributed_gaps(a, "b")["late_count"]     # b was preempted by a: its 30 s silence is not lateness
    0
    """
    ads = sorted(adverts, key=lambda x: x["t"])
    own = [x for x in ads if x["src"] == src]
    if not own:
        return sender_stats([], None, late_factor, max_late)
    interval = min(x["advert_int_s"] for x in own if x["advert_int_s"])
    import bisect
    times = [x["t"] for x in ads]
    gaps, late = [], []
    for a1, a2 in zip(own, own[1:]):
        if a1["priority"] == 0:
            continue
        due = a1["t"] + interval * late_factor
        rank = _rank(src, a1["priority"])
        lo, hi = bisect.bisect_right(times, a1["t"]), bisect.bisect_right(times, min(due, a2["t"]))
        displaced = any(x["src"] != src and x["priority"] > 0 and _rank(x["src"], x["priority"]) > rank
                        for x in ads[lo:hi])
        if displaced:
            continue
        g = a2["t"] - a1["t"]
        gaps.append(g)
        if g > interval * late_factor:
            late.append({"t": round(a2["t"], 6), "gap_s": round(g, 6), "late_by_s": round(g - interval, 6)})
    ordered = sorted(gaps)
    shown = sorted(sorted(late, key=lambda x: -x["gap_s"])[:max_late], key=lambda x: x["t"])
    return {"count": len(own), "first_t": own[0]["t"], "last_t": own[-1]["t"],
            "max_gap_s": round(ordered[-1], 6) if ordered else None,
            "p50_gap_s": _r(percentile(ordered, 50)), "p90_gap_s": _r(percentile(ordered, 90)),
            "p99_gap_s": _r(percentile(ordered, 99)), "late": shown, "late_count": len(late),
            "advert_int_s": interval}
