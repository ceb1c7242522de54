"""Restart planner: which domains restart, in which wave, and when. Pure: no I/O.

Input is what the audit already knows (the fleet report's ``hosts``), the
merged policy of each host and a few options; output is plain JSON-ready data.

Rules:

- only domains with ``needs_restart`` true and not ``exempt`` are planned;
- a host whose kernel cannot provide vhost-net (no ``/dev/vhost-net``, an
  ``install vhost_net /bin/true`` block, a blacklist with the module not
  loaded) gets no restart: a new qemu there would run in userspace again.
  ``restart_without_vhost`` overrides that (the lab uses it: its kernel has no
  vhost-net at all);
- with the ``libvirt`` method a host whose libvirtd did not answer the audit
  (domains read from status files) gets no restart either;
- no two members of one HA group in the same wave; a group's members go in a
  stable order (inventory name, domain name), each in a later wave than the
  one before, so the next member starts only after the previous one is
  verified;
- at most ``max_per_host`` domains of one host and ``max_per_wave`` in the
  fleet per wave;
- deterministic: the same input gives the same plan, byte for byte.

Placement is "earliest wave that fits" with next-free-wave pointers (union-find
with path compression), so planning is O(n) in practice: big HA groups first
(they need the most waves), then the other domains, busiest hosts first.

>>> hosts = {"c1": {"reachable": True, "sources": {"domains": "libvirt"},
...                 "kernel": {"dev_vhost_net": True, "vhost_net_loaded": True},
...                 "domains": [{"name": "lb1", "uuid": "u1", "needs_restart": True},
...                             {"name": "web", "uuid": "u2", "needs_restart": True}]},
...          "c2": {"reachable": True, "sources": {"domains": "libvirt"},
...                 "kernel": {"dev_vhost_net": True, "vhost_net_loaded": True},
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
import re

from ..policy import RESTART_DEFAULTS as DEFAULT_RESTART, parse_time  # noqa: F401 (parse_time: public here too)

PLAN_SCHEMA_VERSION = 1


# -- small helpers -----------------------------------------------------------

def _restart_settings(policy):
    merged = dict(DEFAULT_RESTART)
    for key, value in ((policy or {}).get("restart") or {}).items():
        if value is not None or key == "window":
            merged[key] = value
    if not merged.get("wave_minutes"):
        merged["wave_minutes"] = DEFAULT_RESTART["wave_minutes"]
    return merged


def kernel_can_provide(entry):
    """``(True, None)`` when a qemu started now on this host can get vhost-net, else ``(False, reason)``.

    Read from the audit's ``kernel`` summary (``dev_vhost_net``, loaded / built
    in, blacklist, install block) and the ``kernel.vhost_net`` check's reason.

    >>> kernel_can_provide({"kernel": {"dev_vhost_net": True, "vhost_net_loaded": True}})
    (True, None)
    >>> kernel_can_provide({"kernel": {"dev_vhost_net": False}})[1]
    'the kernel cannot provide vhost-net (/dev/vhost-net is absent): a restarted qemu would run in userspace again'
    >>> kernel_can_provide({"kernel": {"dev_vhost_net": True, "install_blocked": True}})[0]
    False
    """
    kernel = entry.get("kernel") or {}
    check_reason = None
    for check in entry.get("checks") or []:
        if check.get("id") == "kernel.vhost_net" and check.get("state") != "pass":
            check_reason = check.get("reason") or check.get("actual")
    why = None
    if kernel.get("install_blocked"):
        why = "an `install vhost_net ...` line blocks every load"
    elif kernel.get("dev_vhost_net") is None:
        why = "whether /dev/vhost-net exists could not be read"
    elif not kernel.get("dev_vhost_net"):
        why = "/dev/vhost-net is absent"
    elif not (kernel.get("vhost_net_loaded") or kernel.get("vhost_net_builtin")) and kernel.get("blacklisted"):
        why = "vhost_net is not loaded and blacklisted (on-demand loading through /dev/vhost-net is blocked)"
    if why is None:
        return True, None
    if check_reason and why not in check_reason:
        why = check_reason if why in ("/dev/vhost-net is absent",) else "%s; %s" % (why, check_reason)
    elif check_reason:
        why = check_reason
    return False, "the kernel cannot provide vhost-net (%s): a restarted qemu would run in userspace again" % why


_WILD = re.compile(r"[*?\[]")


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
                hit = _WILD.search(pattern)
                prefix = pattern[:hit.start()] if hit else pattern
                self.by_prefix.setdefault(len(prefix), {}).setdefault(prefix, []).append((pattern, name))
            if group.get("server_group"):
                self.by_server_group.setdefault(group["server_group"], []).append(name)
            if group.get("metadata"):
                self.by_metadata.append((dict(group["metadata"]), name))
        self.lengths = sorted(self.by_prefix)

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


# -- the planner ---------------------------------------------------------------

def plan(hosts, policies, options=None):
    """Plan the restarts of the fleet.

    ``hosts``: inventory name -> audit entry (as in ``audit.json`` ``hosts``).
    ``policies``: inventory name -> merged policy (``restart``, ``ha_groups``);
    a host without one takes the defaults.
    ``options``: ``restart_without_vhost`` (bool), ``instances`` (uuid ->
    ``{"server_groups": [...], "metadata": {...}}`` from the cloud API, for HA
    groups by nova server group or metadata), ``restart`` (fleet-wide overrides
    of ``max_per_wave``, ``window``, ``wave_minutes``).

    Returns ``{"schema_version", "waves": [[item]], "skipped": [{"host","domain","reason"}],
    "windows": [{"wave","start","end"}] | None, "limits", "groups", "errors", "summary"}``;
    an item is ``{"host","domain","uuid","method","wave","group"?,"groups"?,"state","pid"}``.
    """
    options = options or {}
    policies = policies or {}
    without_vhost = bool(options.get("restart_without_vhost"))
    instances = options.get("instances") or {}
    matchers = _MatcherCache()
    errors = []
    skipped = []
    items = []
    host_names = sorted(hosts or {})
    per_host_limit = {}
    methods = {}
    fleet_max = None
    windows_seen = []
    wave_minutes = []
    for host in host_names:
        entry = hosts[host] or {}
        policy = policies.get(host) or {}
        settings = _restart_settings(policy)
        per_host_limit[host] = int(settings["max_per_host"])
        methods[host] = settings["method"]
        wanted = sorted((d for d in entry.get("domains") or () if d.get("needs_restart")),
                        key=lambda d: (d.get("name") or "", d.get("uuid") or ""))
        if not entry.get("reachable", True):
            skipped.append({"host": host, "domain": None,
                            "reason": entry.get("reason") or "host unreachable: its domains are unknown"})
            continue
        if entry.get("state") == "error" and not entry.get("domains") and entry.get("reason"):
            skipped.append({"host": host, "domain": None, "reason": entry["reason"]})
            continue
        if not wanted:
            continue
        fleet_max = int(settings["max_per_wave"]) if fleet_max is None else min(fleet_max, int(settings["max_per_wave"]))
        if settings.get("window") is not None:
            windows_seen.append((host, settings["window"]))
        wave_minutes.append(int(settings["wave_minutes"]))
        host_block = None
        ok, why = kernel_can_provide(entry)
        if not ok:
            if without_vhost:
                host_block = None
            else:
                host_block = why + " (-e restart_without_vhost=true restarts anyway)"
        if host_block is None and settings["method"] == "libvirt":
            source = (entry.get("sources") or {}).get("domains")
            if source and source not in ("libvirt",):
                host_block = ("libvirt did not answer the audit (domains read from %s: %s): the libvirt method "
                              "cannot restart here" % (source, (entry.get("sources") or {}).get("domains_reason")
                                                       or "no reason given"))
        matcher = matchers.get(policy.get("ha_groups")) if wanted else None
        for dom in wanted:
            name = dom.get("name")
            if dom.get("exempt"):
                skipped.append({"host": host, "domain": name, "reason": dom.get("reason") or "exempt in the policy"})
                continue
            if dom.get("managed") is False:
                skipped.append({"host": host, "domain": name,
                                "reason": "a qemu process no libvirt domain claims: restart it through whoever "
                                          "started it"})
                continue
            if host_block:
                skipped.append({"host": host, "domain": name, "reason": host_block})
                continue
            items.append({"host": host, "domain": name, "uuid": dom.get("uuid"), "method": settings["method"],
                          "state": dom.get("state"), "pid": dom.get("pid"),
                          "groups": matcher.names(dom, instances)})
    overrides = options.get("restart") or {}
    if overrides.get("max_per_wave"):
        fleet_max = int(overrides["max_per_wave"])
    if fleet_max is None:
        fleet_max = DEFAULT_RESTART["max_per_wave"]
    for item in items:
        per_host_limit[item["host"]] = max(1, min(per_host_limit[item["host"]], fleet_max))

    # -- placement -----------------------------------------------------------
    by_group = {}
    for idx, item in enumerate(items):
        for g in item["groups"]:
            by_group.setdefault(g, []).append(idx)
    group_order = sorted(by_group, key=lambda g: (-len(by_group[g]), g))
    host_load = {}
    for item in items:
        host_load[item["host"]] = host_load.get(item["host"], 0) + 1
    order = []
    seen = set()
    for g in group_order:
        for idx in by_group[g]:  # already (host, domain) ordered
            if idx not in seen:
                seen.add(idx)
                order.append(idx)
    rest = [i for i in range(len(items)) if i not in seen]
    rest.sort(key=lambda i: (-(host_load[items[i]["host"]] + per_host_limit[items[i]["host"]] - 1)
                             // per_host_limit[items[i]["host"]], items[i]["host"], items[i]["domain"] or ""))
    order.extend(rest)

    fleet_free = _NextFree()
    fleet_count = {}
    host_free = {}
    host_count = {}
    group_last = {}
    wave_of = [0] * len(items)
    for idx in order:
        item = items[idx]
        host = item["host"]
        lb = 0
        for g in item["groups"]:
            last = group_last.get(g)
            if last is not None and last + 1 > lb:
                lb = last + 1
        hfree = host_free.get(host)
        if hfree is None:
            hfree = host_free[host] = _NextFree()
            host_count[host] = {}
        w = fleet_free.find(lb)
        while True:
            w2 = hfree.find(w)
            if w2 == w:
                break
            w = fleet_free.find(w2)
        wave_of[idx] = w
        fleet_count[w] = fleet_count.get(w, 0) + 1
        if fleet_count[w] >= fleet_max:
            fleet_free.mark_full(w)
        hc = host_count[host]
        hc[w] = hc.get(w, 0) + 1
        if hc[w] >= per_host_limit[host]:
            hfree.mark_full(w)
        for g in item["groups"]:
            if group_last.get(g, -1) < w:
                group_last[g] = w
    # Group members must be in strictly increasing waves in their stable order;
    # members of several groups are placed with all their groups' bounds, so
    # this holds by construction. Compact empty waves (none can occur, but be safe).
    used = sorted(set(wave_of))
    renumber = dict((w, i) for i, w in enumerate(used))
    waves = [[] for _ in used]
    for idx, item in enumerate(items):
        out = {"host": item["host"], "domain": item["domain"], "uuid": item["uuid"], "method": item["method"],
               "state": item["state"], "pid": item["pid"], "wave": renumber[wave_of[idx]] + 1}
        if item["groups"]:
            out["group"] = item["groups"][0]
            if len(item["groups"]) > 1:
                out["groups"] = list(item["groups"])
        waves[renumber[wave_of[idx]]].append(out)
    for wave in waves:
        wave.sort(key=lambda i: (i["host"], i["domain"] or ""))

    # -- window ----------------------------------------------------------------
    window = overrides.get("window") if "window" in overrides else None
    if window is None and windows_seen:
        distinct = sorted(set((w.get("start"), w.get("end")) for _, w in windows_seen))
        if len(distinct) > 1:
            errors.append({"error": "window_conflict",
                           "message": "hosts' policies give different maintenance windows (%s): set one fleet-wide"
                                      % "; ".join("%s..%s" % d for d in distinct)})
        window = {"start": distinct[0][0], "end": distinct[0][1]}
    minutes = int(overrides.get("wave_minutes") or (min(wave_minutes) if wave_minutes else
                                                    DEFAULT_RESTART["wave_minutes"]))
    windows = None
    window_info = None
    if window is not None:
        windows = []
        try:
            start, end = parse_time(window["start"]), parse_time(window["end"])
        except (KeyError, TypeError, ValueError) as exc:
            errors.append({"error": "window_invalid", "message": "maintenance window %r is not valid: %s"
                                                                 % (window, exc)})
            start = end = None
        if start is not None:
            step = datetime.timedelta(minutes=minutes)
            slots = int((end - start).total_seconds() // step.total_seconds()) if end > start else 0
            window_info = {"start": _iso(start), "end": _iso(end), "wave_minutes": minutes, "slots": slots}
            if end <= start:
                errors.append({"error": "window_invalid",
                               "message": "maintenance window ends (%s) before it starts (%s)" % (_iso(end),
                                                                                                  _iso(start))})
            for i in range(min(len(waves), slots)):
                windows.append({"wave": i + 1, "start": _iso(start + step * i), "end": _iso(start + step * (i + 1))})
            if len(waves) > slots:
                need = step * len(waves)
                errors.append({"error": "window_too_short",
                               "message": "the plan needs %d wave(s) of %d min (%s) but the window %s .. %s holds "
                                          "only %d: waves %d..%d do not fit; widen the window, raise max_per_wave "
                                          "/ max_per_host, or shorten wave_minutes"
                                          % (len(waves), minutes, _duration(need), _iso(start), _iso(end), slots,
                                             slots + 1, len(waves)),
                               "waves_needed": len(waves), "waves_available": slots})
    limits = {"max_per_wave": fleet_max,
              "max_per_host": dict((h, per_host_limit[h]) for h in sorted(set(i["host"] for i in items))),
              "wave_minutes": minutes, "window": window_info,
              "restart_without_vhost": without_vhost}
    # Each group's members in the order they go (one per wave, each after the previous one).
    groups = dict((g, sorted(({"host": items[i]["host"], "domain": items[i]["domain"],
                               "wave": renumber[wave_of[i]] + 1} for i in by_group[g]),
                             key=lambda m: (m["wave"], m["host"], m["domain"] or ""))) for g in sorted(by_group))
    summary = {"planned": len(items), "waves": len(waves), "skipped": len(skipped),
               "hosts": len(set(i["host"] for i in items)), "fits_window": not any(
                   e["error"] == "window_too_short" for e in errors) if window is not None else None,
               "lower_bound_waves": _lower_bound(items, by_group, per_host_limit, fleet_max)}
    return {"schema_version": PLAN_SCHEMA_VERSION, "waves": waves, "skipped": skipped, "windows": windows,
            "limits": limits, "groups": groups, "errors": errors, "summary": summary}


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


def _duration(delta):
    minutes = int(delta.total_seconds() // 60)
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


# -- node remediation: what the fix may change on one node ----------------------

_BLACKLIST_EVIDENCE = re.compile(r"^(?P<path>/[^:]+):(?P<line>\d+):\s*blacklist\s+vhost[_-]net\b")


def remediation_steps(entry, policy=None):
    """What ``--tags fix`` may change on one node, decided from its audit (pure).

    Returns ``{"fix_config", "config_path", "load_module", "remove_blacklist": [paths],
    "kernel_ok_after", "notes": [str]}``: ``fix_config`` only when the audit found
    ``VHOST_NET_ENABLED`` present and not ``1`` (a missing key is not added: the
    releases without it never read it; ``vhost_net`` is then persisted through
    ``modules-load.d``); ``load_module`` only where the kernel check did not pass
    and the kernel can load modules, nothing blocks it, and a blacklist is either
    absent or to be removed (``remediation.remove_blacklist``).

    >>> audit = {"reachable": True, "mode": "live", "config": {"path": "/etc/default/qemu-kvm", "status": "ok",
    ...          "vhost_net_enabled": "0"}, "kernel": {"vhost_net_loaded": None, "dev_vhost_net": False},
    ...          "checks": [{"id": "qemu_kvm.vhost_net_enabled", "state": "fail"},
    ...                     {"id": "kernel.vhost_net", "state": "fail",
    ...                      "reason": "/proc/modules does not exist (kernel without loadable module support)"}]}
    >>> s = remediation_steps(audit)
    >>> s["fix_config"], s["load_module"], s["kernel_ok_after"]
    (True, False, False)
    >>> s["notes"][0]
    'kernel cannot provide vhost-net: it has no loadable module support (no /proc/modules) and vhost_net is not built in; not loaded, no VM restart planned here'
    """
    policy = policy or {}
    out = {"fix_config": False, "config_path": None, "config_value": None, "load_module": False,
           "persist_module": False, "remove_blacklist": [], "kernel_ok_after": None, "notes": []}
    notes = out["notes"]
    if not entry or not entry.get("reachable", True) or not entry.get("checks"):
        notes.append("not audited (%s): nothing changed" % ((entry or {}).get("reason") or "no audit result"))
        return out
    if entry.get("mode") not in (None, "live"):
        notes.append("audited from a snapshot (%s): nothing to fix on a copy" % entry.get("root"))
        return out
    checks = dict((c.get("id"), c) for c in entry.get("checks") or ())
    config = entry.get("config") or {}
    kernel = entry.get("kernel") or {}
    cfg_check = checks.get("qemu_kvm.vhost_net_enabled") or {}
    out["config_path"] = config.get("path")
    out["config_value"] = config.get("vhost_net_enabled")
    if cfg_check.get("state") in ("fail", "warn"):
        if config.get("status") != "ok":
            notes.append("%s could not be read (%s): not changed" % (config.get("path"), config.get("status")))
        elif "cannot source" in (cfg_check.get("reason") or "") or "cannot source" in (cfg_check.get("actual") or ""):
            notes.append("%s: /bin/sh cannot source it (%s): not rewritten, fix it by hand"
                         % (config.get("path"), cfg_check.get("reason")))
        elif config.get("vhost_net_enabled") is None:
            notes.append("%s has no VHOST_NET_ENABLED: the key is not added (nothing reads it on this release)"
                         % config.get("path"))
        elif config.get("owner"):
            # Issue 10: a file a deployment tool renders (Juju's nova-compute charm) is not edited: the tool
            # reverts it. vhost_net is persisted through modules-load.d instead (below).
            notes.append("%s is owned by %s: not edited (a local edit would be reverted); vhost_net is persisted "
                         "in /etc/modules-load.d instead; change the deployment tool's configuration to change "
                         "the file" % (config.get("path"), config.get("owner")))
            out["config_owned"] = True
        else:
            out["fix_config"] = True
    elif cfg_check.get("state") == "unknown":
        notes.append("%s: VHOST_NET_ENABLED is decided at run time (%s): not rewritten"
                     % (config.get("path"), cfg_check.get("reason")))
    elif cfg_check.get("state") == "not_applicable" and cfg_check.get("reason"):
        notes.append("qemu_kvm.vhost_net_enabled does not apply: %s" % cfg_check.get("reason"))
    k_check = checks.get("kernel.vhost_net") or {}
    boot_check = checks.get("kernel.vhost_net_boot") or {}
    blacklist_files = []
    for item in k_check.get("evidence") or ():
        match = _BLACKLIST_EVIDENCE.match(item or "")
        if match and match.group("path") not in blacklist_files:
            blacklist_files.append(match.group("path"))
    remove = bool((policy.get("remediation") or {}).get("remove_blacklist"))
    module_support = kernel.get("vhost_net_loaded") is not None
    builtin = bool(kernel.get("vhost_net_builtin"))
    kernel_failed = k_check.get("state") in ("fail", "warn", "unknown", "error")
    boot_failed = boot_check.get("state") in ("fail", "warn")
    ok_now = kernel_can_provide(entry)[0]
    out["kernel_ok_after"] = ok_now
    if kernel.get("blacklisted") or blacklist_files:
        where = ", ".join(blacklist_files) or "modprobe.d"
        if remove:
            out["remove_blacklist"] = blacklist_files
            notes.append("vhost_net is blacklisted in %s: removed (policy remediation.remove_blacklist: true; "
                         "a backup is kept)" % where)
        else:
            notes.append("vhost_net is blacklisted in %s: left as is (it may be a security baseline; set "
                         "remediation.remove_blacklist: true in the policy to remove it)" % where)
    if out.get("config_owned") and not builtin:
        boot_failed = True          # the owned file's key cannot be the boot loader: modules-load.d must be
    if not (kernel_failed or boot_failed) or builtin:
        return out
    if kernel.get("install_blocked"):
        notes.append("an `install vhost_net ...` line blocks every load: not changed (remove it by hand if it is "
                     "not intended); kernel cannot provide vhost-net, no VM restart planned here")
        return out
    if not module_support:
        notes.append("kernel cannot provide vhost-net: it has no loadable module support (no /proc/modules) and "
                     "vhost_net is not built in; not loaded, no VM restart planned here")
        return out
    if (kernel.get("blacklisted") or blacklist_files) and not remove:
        return out
    out["load_module"] = kernel_failed
    out["persist_module"] = True
    if ok_now is False and not kernel_failed:
        out["kernel_ok_after"] = None
    if kernel_failed:
        out["kernel_ok_after"] = None  # known after the re-audit
    return out
