"""Restart planner: which domains restart, in which wave, and when. Pure: no I/O.

Input is what the audit already knows (the fleet report's ``hosts``), the
merged policy of each host and a few options; output is plain JSON-ready data.

Rules:

- only domains with ``needs_restart`` true and not ``exempt`` are planned;
- a host whose kernel cannot provide vhost-net (the audit's
  ``kernel.can_provide`` is false, or null: could not tell) gets no restart: a
  new qemu there would run in userspace again (``remediation.kernel_can_provide``).
  ``restart_without_vhost`` overrides that (the lab uses it: its kernel has no
  vhost-net at all);
- a host audited from a snapshot gets no restart, whatever the method;
- HA groups by nova ``server_group`` / ``metadata`` without the cloud's
  instance data for a domain are an error, and nothing is planned;
- with the ``libvirt`` method a host whose libvirtd did not answer the audit
  (domains read from status files) gets no restart either;
- no two members of one HA group in the same wave; a group's members go in a
  stable order (inventory name, domain name), each in a later wave than the
  one before, so the next member starts only after the previous one is
  verified;
- at most ``max_per_host`` domains of one host and ``max_per_wave`` in the
  fleet per wave;
- deterministic: the same input gives the same plan, byte for byte;
- a maintenance window too short, invalid, or (given ``now``) already over is an error in the plan.

Placement is "earliest wave that fits" with next-free-wave pointers (union-find
with path compression), so planning is O(n) in practice: big HA groups first
(they need the most waves), then the other domains, busiest hosts first.

>>> hosts = {"c1": {"reachable": True, "sources": {"domains": "libvirt"},
...                 "kernel": {"can_provide": True},
...                 "domains": [{"name": "lb1", "uuid": "u1", "needs_restart": True},
...                             {"name": "web", "uuid": "u2", "needs_restart": True}]},
...          "c2": {"reachable": True, "sources": {"domains": "libvirt"},
...                 "kernel": {"can_provide": True},
...                 "domains": [{"name": "lb2", "uuid": "u3", "needs_restart": True}]}}
>>> pol = {"ha_groups": [{"name": "lb", "domains": ["lb*"]}],
...        "restart": {"method": "libvirt", "max_per_host": 1, "max_per_wave": 10, "window": None}}
>>> p = plan(hosts, {"c1": pol, "c2": pol})
>>> [[(i["host"], i["domain"]) for i in wave] for wave in p["waves"]]
[[('c1', 'lb1')], [('c1', 'web'), ('c2', 'lb2')]]
>>> p["summary"]["planned"], p["errors"]
(3, [])
"""
import datetime
import fnmatch

from ..policy import RESTART_DEFAULTS as DEFAULT_RESTART, parse_time  # noqa: F401 (parse_time: public here too)
from .remediation import kernel_can_provide

PLAN_SCHEMA_VERSION = 1


# -- small helpers -----------------------------------------------------------

def _literal_prefix(pattern):
    """The text of an fnmatch pattern before its first ``*``, ``?`` or ``[``.

    >>> _literal_prefix("keepalived-lb*"), _literal_prefix("db[12]"), _literal_prefix("plain")
    ('keepalived-lb', 'db', 'plain')
    """
    cut = [i for i in (pattern.find(c) for c in "*?[") if i >= 0]
    return pattern[:min(cut)] if cut else pattern


class _GroupMatcher(object):
    """HA group membership under one policy's ``ha_groups``, without a domains x patterns scan.

    Name patterns are indexed by their literal prefix (the text before the first
    ``*``, ``?`` or ``[``): a domain name is only matched against the patterns
    whose prefix it starts with.

    >>> m = _GroupMatcher([{"name": "lb", "domains": ["keepalived-lb*"]}, {"name": "db", "server_group": "galera"}])
    >>> m.names({"name": "keepalived-lb01"}, {}), m.names({"name": "x", "uuid": "u"}, {"u": {"server_groups": ["galera"]}})
    (['lb'], ['db'])
    """

    def __init__(self, groups):
        self.by_prefix = {}          # prefix length -> {prefix: [(pattern, group name)]}
        self.by_server_group = {}    # server group -> [group names]
        self.by_metadata = []        # [(wanted dict, group name)]
        for group in groups or ():
            name = group.get("name")
            for pattern in group.get("domains") or ():
                prefix = _literal_prefix(pattern)
                self.by_prefix.setdefault(len(prefix), {}).setdefault(prefix, []).append((pattern, name))
            if group.get("server_group"):
                self.by_server_group.setdefault(group["server_group"], []).append(name)
            if group.get("metadata"):
                self.by_metadata.append((dict(group["metadata"]), name))
        self.lengths = sorted(self.by_prefix)

    def cloud_group_names(self):
        """The groups that need the cloud's data (by server_group or metadata)."""
        return sorted(set(n for names in self.by_server_group.values() for n in names)
                      | set(n for _, n in self.by_metadata))

    def resolvable(self, domain, instances):
        """Whether this domain's server_group / metadata membership can be told: the cloud's instance data
        for its uuid, or (server groups only) nova's own metadata in its XML."""
        if (instances or {}).get(domain.get("uuid") or "") is not None:
            return True
        nova = domain.get("nova") or {}
        if self.by_metadata:
            return "metadata" in nova and (not self.by_server_group or "server_group" in nova)
        return "server_group" in nova

    def names(self, domain, instances):
        found = set()
        nova = domain.get("nova") or {}
        candidates = [domain.get("name") or ""]
        if nova.get("name") and nova["name"] != candidates[0]:
            candidates.append(nova["name"])
        for text in candidates:
            for length in self.lengths:
                if length > len(text):
                    break
                for pattern, name in self.by_prefix[length].get(text[:length], ()):
                    if name in found:
                        continue
                    # "literal*" and "literal" need no regular expression (the prefix already matched)
                    if pattern == text or (len(pattern) == length + 1 and pattern[-1] == "*") \
                            or fnmatch.fnmatchcase(text, pattern):
                        found.add(name)
        if self.by_server_group or self.by_metadata:
            extra = (instances or {}).get(domain.get("uuid") or "") or {}
            server_groups = set(extra.get("server_groups") or ())
            for src in (nova, extra):
                if src.get("server_group"):
                    server_groups.add(src["server_group"])
            for sg in server_groups:
                found.update(self.by_server_group.get(sg, ()))
            if self.by_metadata:
                metadata = dict(nova.get("metadata") or {})
                metadata.update(extra.get("metadata") or {})
                for want, name in self.by_metadata:
                    if all(k in metadata and str(metadata[k]) == str(v) for k, v in want.items()):
                        found.add(name)
        return sorted(found)


class _MatcherCache(object):
    """One matcher per distinct ``ha_groups`` list (hosts usually share one; equality is checked in C)."""

    def __init__(self):
        self.seen = []

    def get(self, groups):
        groups = groups or []
        for known, matcher in self.seen:
            if known is groups or known == groups:
                return matcher
        matcher = _GroupMatcher(groups)
        self.seen.append((groups, matcher))
        return matcher


def _iso(value):
    text = value.astimezone(datetime.timezone.utc).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class _NextFree(object):
    """Smallest index >= i that is not full, with path compression (union-find over indexes)."""

    __slots__ = ("parent",)

    def __init__(self):
        self.parent = {}

    def find(self, i):
        parent = self.parent
        root = i
        while root in parent:
            root = parent[root]
        while i in parent and parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def mark_full(self, i):
        self.parent[i] = i + 1


# -- the planner: small steps ----------------------------------------------------
#
# plan() = options -> candidates (per host: what is wanted, what is skipped and
# why) -> HA groups resolvable? -> limits -> placement (waves) -> schedule (the
# window) -> the document. Each step is a function below.

def plan(hosts, policies, options=None):
    """Plan the restarts of the fleet.

    ``hosts``: inventory name -> audit entry (as in ``audit.json`` ``hosts``).
    ``policies``: inventory name -> merged policy (``restart``, ``ha_groups``);
    a host without one takes the defaults.
    ``options``: ``restart_without_vhost`` (bool), ``instances`` (uuid ->
    ``{"server_groups": [...], "metadata": {...}}`` from the cloud API, for HA
    groups by nova server group or metadata), ``restart`` (fleet-wide overrides
    of ``max_per_wave``, ``window``, ``wave_minutes``), ``now`` (ISO time or
    datetime: a window whose slots are over by then is an error).

    Returns ``{"schema_version", "waves": [[item]], "skipped": [{"host","domain","reason"}],
    "windows": [{"wave","start","end"}] | None, "limits", "groups", "errors", "summary"}``;
    an item is ``{"host","domain","uuid","method","wave","group"?,"groups"?,"state","pid"}``.
    """
    opts = _options(options)
    cands = _candidates(hosts or {}, policies or {}, opts)
    errors = []
    unresolved = _unresolved_groups(cands)
    if unresolved:
        errors.append(unresolved)
        cands["skipped"].extend({"host": i["host"], "domain": i["domain"], "reason": unresolved["message"]}
                                for i in cands["items"])
        cands["items"] = []
    items = cands["items"]
    fleet_max, per_host_limit = _limits(cands, opts)
    by_group = _groups_of(items)
    wave_of = _place(items, by_group, per_host_limit, fleet_max)
    waves, wave_number = _waves(items, wave_of)
    window, window_errors = _fleet_window(cands, opts)
    errors.extend(window_errors)
    minutes = _wave_minutes(cands, opts)
    windows, window_info, schedule_errors = _schedule(window, minutes, len(waves), opts.get("now"))
    errors.extend(schedule_errors)
    limits = {"max_per_wave": fleet_max,
              "max_per_host": dict((h, per_host_limit[h]) for h in sorted(set(i["host"] for i in items))),
              "wave_minutes": minutes, "window": window_info,
              "restart_without_vhost": opts["restart_without_vhost"]}
    groups = dict((g, sorted(({"host": items[i]["host"], "domain": items[i]["domain"], "wave": wave_number[i]}
                              for i in by_group[g]), key=lambda m: (m["wave"], m["host"], m["domain"] or "")))
                  for g in sorted(by_group))
    summary = {"planned": len(items), "waves": len(waves), "skipped": len(cands["skipped"]),
               "hosts": len(set(i["host"] for i in items)),
               "fits_window": (not any(e["error"] == "window_too_short" for e in errors)) if window is not None
               else None,
               "lower_bound_waves": _lower_bound(items, by_group, per_host_limit, fleet_max)}
    return {"schema_version": PLAN_SCHEMA_VERSION, "waves": waves, "skipped": cands["skipped"], "windows": windows,
            "limits": limits, "groups": groups, "errors": errors, "summary": summary}


def _options(options):
    options = dict(options or {})
    return {"restart_without_vhost": bool(options.get("restart_without_vhost")),
            "instances": options.get("instances") or {},
            "restart": options.get("restart") or {},
            "now": options.get("now")}


# -- step 1: candidates, host by host --------------------------------------------

def _candidates(hosts, policies, opts):
    """Every host's wanted domains as items, or skipped with the reason; the hosts' restart settings."""
    out = {"items": [], "skipped": [], "settings": {}, "windows": [], "wave_minutes": [], "max_per_wave": [],
           "needs_instances": []}
    matchers = _MatcherCache()
    for host in sorted(hosts):
        entry = hosts[host] or {}
        policy = policies.get(host) or {}
        settings = _restart_settings(policy)
        out["settings"][host] = settings
        wanted = sorted((d for d in entry.get("domains") or () if d.get("needs_restart")),
                        key=lambda d: (d.get("name") or "", d.get("uuid") or ""))
        skip_host = _host_skip(entry)
        if skip_host:
            out["skipped"].append({"host": host, "domain": None, "reason": skip_host})
            continue
        if not wanted:
            continue
        out["max_per_wave"].append(int(settings["max_per_wave"]))
        if settings.get("window") is not None:
            out["windows"].append((host, settings["window"]))
        out["wave_minutes"].append(settings["wave_minutes"])
        block = _host_block(entry, settings, opts["restart_without_vhost"])
        matcher = matchers.get(policy.get("ha_groups"))
        for dom in wanted:
            why = _domain_skip(dom) or block
            if why:
                out["skipped"].append({"host": host, "domain": dom.get("name"), "reason": why})
                continue
            if matcher.by_server_group or matcher.by_metadata:
                if not matcher.resolvable(dom, opts["instances"]):
                    out["needs_instances"].append((host, dom.get("name"), matcher.cloud_group_names()))
            out["items"].append({"host": host, "domain": dom.get("name"), "uuid": dom.get("uuid"),
                                 "method": settings["method"], "state": dom.get("state"), "pid": dom.get("pid"),
                                 "groups": matcher.names(dom, opts["instances"])})
    return out


def _host_skip(entry):
    """Why a whole host gets no restart (unreachable, audit failed), or None."""
    if not entry.get("reachable", True):
        return entry.get("reason") or "host unreachable: its domains are unknown"
    if entry.get("state") == "error" and not entry.get("domains") and entry.get("reason"):
        return entry["reason"]
    return None


def _host_block(entry, settings, without_vhost):
    """Why no domain of this host may restart (snapshot, kernel, libvirt down), or None."""
    if entry.get("mode") == "snapshot" or (entry.get("sources") or {}).get("domains") == "snapshot":
        return ("audited from a snapshot (%s): a copy of a node is never restarted, whatever the method"
                % (entry.get("root") or "a snapshot root"))
    ok, why = kernel_can_provide(entry)
    if not ok and not without_vhost:
        return why + " (-e restart_without_vhost=true restarts anyway)"
    if settings["method"] == "libvirt":
        sources = entry.get("sources") or {}
        source = sources.get("domains")
        if source and source != "libvirt":
            return ("libvirt did not answer the audit (domains read from %s: %s): the libvirt method cannot "
                    "restart here" % (source, sources.get("domains_reason") or "no reason given"))
    return None


def _domain_skip(dom):
    if dom.get("exempt"):
        return dom.get("reason") or "exempt in the policy"
    if dom.get("managed") is False:
        return "a qemu process no libvirt domain claims: restart it through whoever started it"
    return None


def _restart_settings(policy):
    merged = dict(DEFAULT_RESTART)
    for key, value in ((policy or {}).get("restart") or {}).items():
        if value is not None or key == "window":
            merged[key] = value
    if not merged.get("wave_minutes"):
        merged["wave_minutes"] = DEFAULT_RESTART["wave_minutes"]
    return merged


# -- step 2: HA groups that need the cloud's data ------------------------------------

def _unresolved_groups(cands, shown=5):
    """An error when HA groups by server_group / metadata cannot be resolved for some domain, else None.

    Without the cloud's instance data such a group is silently empty and its
    members could restart together: refuse to plan instead.
    """
    missing = cands["needs_instances"]
    if not missing:
        return None
    names = sorted(set(g for _, _, groups in missing for g in groups))
    listed = ", ".join("%s/%s" % (h, d) for h, d, _ in missing[:shown])
    more = " and %d more" % (len(missing) - shown) if len(missing) > shown else ""
    return {"error": "ha_groups_unresolved", "groups": names, "domains": len(missing),
            "message": "HA group(s) %s are defined by nova server_group or metadata, but %d domain(s) have no "
                       "instance data to match them (%s%s): pass -e @instances.yml with restart_instances "
                       "(docs/FIX.md); nothing is planned until then" % (", ".join(names), len(missing), listed,
                                                                          more)}


# -- step 3: limits ------------------------------------------------------------------

def _limits(cands, opts):
    """The fleet's per-wave limit (the strictest policy, or the fleet-wide override) and each host's."""
    fleet_max = min(cands["max_per_wave"]) if cands["max_per_wave"] else None
    if opts["restart"].get("max_per_wave"):
        fleet_max = int(opts["restart"]["max_per_wave"])
    if fleet_max is None:
        fleet_max = DEFAULT_RESTART["max_per_wave"]
    per_host = {}
    for item in cands["items"]:
        host = item["host"]
        per_host[host] = max(1, min(int(cands["settings"][host]["max_per_host"]), fleet_max))
    return fleet_max, per_host


# -- step 4: placement ------------------------------------------------------------------

def _groups_of(items):
    by_group = {}
    for idx, item in enumerate(items):
        for g in item["groups"]:
            by_group.setdefault(g, []).append(idx)   # already (host, domain) ordered
    return by_group


def _placement_order(items, by_group, per_host_limit):
    """Big HA groups first (they need the most waves), each in its members' order; then the rest, busiest hosts first."""
    order, seen = [], set()
    for g in sorted(by_group, key=lambda g: (-len(by_group[g]), g)):
        for idx in by_group[g]:
            if idx not in seen:
                seen.add(idx)
                order.append(idx)
    load = {}
    for item in items:
        load[item["host"]] = load.get(item["host"], 0) + 1

    def busy(i):
        host = items[i]["host"]
        return (-(load[host] + per_host_limit[host] - 1) // per_host_limit[host], host, items[i]["domain"] or "")
    order.extend(sorted((i for i in range(len(items)) if i not in seen), key=busy))
    return order


def _place(items, by_group, per_host_limit, fleet_max):
    """Each item's wave index: the earliest wave after its groups' previous members with room on its host and in the fleet."""
    fleet_free, fleet_count = _NextFree(), {}
    host_free, host_count = {}, {}
    group_last = {}
    wave_of = [0] * len(items)
    for idx in _placement_order(items, by_group, per_host_limit):
        item = items[idx]
        host = item["host"]
        lower = max([group_last[g] + 1 for g in item["groups"] if g in group_last] or [0])
        if host not in host_free:
            host_free[host], host_count[host] = _NextFree(), {}
        w = _first_fit(fleet_free, host_free[host], lower)
        wave_of[idx] = w
        fleet_count[w] = fleet_count.get(w, 0) + 1
        if fleet_count[w] >= fleet_max:
            fleet_free.mark_full(w)
        host_count[host][w] = host_count[host].get(w, 0) + 1
        if host_count[host][w] >= per_host_limit[host]:
            host_free[host].mark_full(w)
        for g in item["groups"]:
            if group_last.get(g, -1) < w:
                group_last[g] = w
    return wave_of


def _first_fit(fleet_free, host_free, lower):
    w = fleet_free.find(lower)
    while True:
        w2 = host_free.find(w)
        if w2 == w:
            return w
        w = fleet_free.find(w2)


def _waves(items, wave_of):
    """The waves as lists of plan items (numbered from 1, no empty wave), and each item's wave number.

    Group members are in strictly increasing waves in their stable order by
    construction (members of several groups are placed with all their groups'
    bounds).
    """
    used = sorted(set(wave_of))
    renumber = dict((w, i) for i, w in enumerate(used))
    waves = [[] for _ in used]
    numbers = [renumber[w] + 1 for w in wave_of]
    for idx, item in enumerate(items):
        out = {"host": item["host"], "domain": item["domain"], "uuid": item["uuid"], "method": item["method"],
               "state": item["state"], "pid": item["pid"], "wave": numbers[idx]}
        if item["groups"]:
            out["group"] = item["groups"][0]
            if len(item["groups"]) > 1:
                out["groups"] = list(item["groups"])
        waves[numbers[idx] - 1].append(out)
    for wave in waves:
        wave.sort(key=lambda i: (i["host"], i["domain"] or ""))
    return waves, numbers


# -- step 5: the maintenance window ------------------------------------------------------

def _fleet_window(cands, opts):
    """The one window of the fleet (the fleet-wide override, or the hosts' policies'), and a conflict error."""
    if opts["restart"].get("window") is not None:
        return opts["restart"]["window"], []
    if not cands["windows"]:
        return None, []
    distinct = sorted(set((w.get("start"), w.get("end")) for _, w in cands["windows"]),
                      key=lambda d: tuple(str(x) for x in d))
    errors = []
    if len(distinct) > 1:
        errors.append({"error": "window_conflict",
                       "message": "hosts' policies give different maintenance windows (%s): set one fleet-wide"
                                  % "; ".join("%s..%s" % d for d in distinct)})
    return {"start": distinct[0][0], "end": distinct[0][1]}, errors


def _wave_minutes(cands, opts):
    value = opts["restart"].get("wave_minutes") or (min(cands["wave_minutes"]) if cands["wave_minutes"]
                                                    else DEFAULT_RESTART["wave_minutes"])
    return int(value)


def _schedule(window, minutes, n_waves, now=None):
    """``(windows, window_info, errors)``: wave N gets slot N of the window; errors when it is invalid,
    too short, or (given ``now``) over for some wave."""
    if window is None:
        return None, None, []
    try:
        start, end = parse_time(window["start"]), parse_time(window["end"])
        step = datetime.timedelta(minutes=minutes)
        _iso(start), _iso(end), _iso(end + step)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return [], None, [{"error": "window_invalid", "message": "maintenance window %r is not valid: %s"
                                                                 % (window, exc)}]
    errors = []
    slots = int((end - start).total_seconds() // step.total_seconds()) if end > start else 0
    info = {"start": _iso(start), "end": _iso(end), "wave_minutes": minutes, "slots": slots}
    if end <= start:
        errors.append({"error": "window_invalid",
                       "message": "maintenance window ends (%s) before it starts (%s)" % (_iso(end), _iso(start))})
    windows = [{"wave": i + 1, "start": _iso(start + step * i), "end": _iso(start + step * (i + 1))}
               for i in range(min(n_waves, slots))]
    if n_waves > slots:
        errors.append({"error": "window_too_short",
                       "message": "the plan needs %d wave(s) of %d min (%s) but the window %s .. %s holds only %d: "
                                  "waves %d..%d do not fit; widen the window, raise max_per_wave / max_per_host, "
                                  "or shorten wave_minutes"
                                  % (n_waves, minutes, _duration(minutes * n_waves), _iso(start), _iso(end), slots,
                                     slots + 1, n_waves),
                       "waves_needed": n_waves, "waves_available": slots})
    past = _past_error(windows, now)
    if past:
        errors.append(past)
    return windows, info, errors


def _past_error(windows, now):
    """An error when a wave's slot is already over at ``now``: a past window is never executed."""
    if now is None or not windows:
        return None
    now = parse_time(now)
    over = [w["wave"] for w in windows if parse_time(w["end"]) <= now]
    if not over:
        return None
    return {"error": "window_past",
            "message": "the maintenance window's slot for wave(s) %d..%d is already over (now %s, wave 1 ended %s): "
                       "a window in the past cannot be executed; set a new restart.window"
                       % (over[0], over[-1], _iso(now), windows[0]["end"]),
            "waves_past": len(over)}


def _lower_bound(items, by_group, per_host_limit, fleet_max):
    if not items:
        return 0
    bound = -(-len(items) // fleet_max)
    load = {}
    for item in items:
        load[item["host"]] = load.get(item["host"], 0) + 1
    for host, n in load.items():
        bound = max(bound, -(-n // per_host_limit[host]))
    for members in by_group.values():
        bound = max(bound, len(members))
    return bound


def _duration(minutes):
    minutes = int(minutes)
    return "%dh%02d" % (minutes // 60, minutes % 60)


def plan_waves(plan_doc):
    """The ``waves`` as plain lists of ``{host, domain}`` (the shape reports/restart-plan.json promises).

    >>> plan_waves({"waves": [[{"host": "a", "domain": "x", "uuid": "u"}]]})
    [[{'host': 'a', 'domain': 'x'}]]
    """
    return [[{"host": i["host"], "domain": i["domain"]} for i in wave] for wave in plan_doc.get("waves") or []]


def plan_markdown(plan_doc):
    """The plan for people.

    >>> print(plan_markdown({"waves": [[{"host": "c1", "domain": "lb1", "group": "lb", "method": "libvirt"}]],
    ...                      "skipped": [{"host": "c2", "domain": "x", "reason": "no vhost"}], "windows": None,
    ...                      "errors": [], "limits": {"max_per_wave": 10, "max_per_host": {"c1": 1}},
    ...                      "summary": {"planned": 1, "waves": 1, "skipped": 1}}))
    # Restart plan
    <BLANKLINE>
    1 domain(s) in 1 wave(s); 1 skipped. Limits: 10 per wave, per host: c1=1.
    <BLANKLINE>
    ## Wave 1
    <BLANKLINE>
    | host | domain | HA group | method |
    |---|---|---|---|
    | c1 | lb1 | lb | libvirt |
    <BLANKLINE>
    ## Not restarted
    <BLANKLINE>
    | host | domain | reason |
    |---|---|---|
    | c2 | x | no vhost |
    <BLANKLINE>
    """
    out = ["# Restart plan", ""]
    summary = plan_doc.get("summary") or {}
    limits = plan_doc.get("limits") or {}
    per_host = limits.get("max_per_host") or {}
    out.append("%d domain(s) in %d wave(s); %d skipped. Limits: %s per wave, per host: %s." % (
        summary.get("planned", 0), summary.get("waves", 0), summary.get("skipped", 0), limits.get("max_per_wave"),
        ", ".join("%s=%s" % kv for kv in sorted(per_host.items())) or "-"))
    window = limits.get("window")
    if window:
        out.append("")
        out.append("Maintenance window %s .. %s, %s min per wave (%s slot(s))." % (
            window.get("start"), window.get("end"), window.get("wave_minutes"), window.get("slots")))
    for err in plan_doc.get("errors") or []:
        out.append("")
        out.append("**Error (%s):** %s" % (err.get("error"), _md(err.get("message"))))
    slots = dict((w["wave"], w) for w in plan_doc.get("windows") or [])
    for number, wave in enumerate(plan_doc.get("waves") or [], 1):
        out.append("")
        when = slots.get(number)
        head = "## Wave %d" % number
        if when:
            head += " (%s .. %s)" % (when["start"], when["end"])
        elif plan_doc.get("windows") is not None:
            head += " (outside the window)"
        out += [head, "", "| host | domain | HA group | method |", "|---|---|---|---|"]
        for item in wave:
            group = ", ".join(item.get("groups") or ([item["group"]] if item.get("group") else [])) or "-"
            out.append("| %s | %s | %s | %s |" % (_md(item.get("host")), _md(item.get("domain")), _md(group),
                                                   _md(item.get("method") or "-")))
    if plan_doc.get("skipped"):
        out += ["", "## Not restarted", "", "| host | domain | reason |", "|---|---|---|"]
        for item in plan_doc["skipped"]:
            out.append("| %s | %s | %s |" % (_md(item.get("host")), _md(item.get("domain") or "(all)"),
                                             _md(item.get("reason"))))
    if not plan_doc.get("waves"):
        out += ["", "Nothing to restart."]
    out.append("")
    return "\n".join(out)


def _md(text):
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")
