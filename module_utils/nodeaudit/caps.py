"""Per-node caps: how much of a node the audit reads and returns (issue 14, point 2).

A hostile or broken node must not be able to blow up the node's memory, the
controller's memory or ``audit.json`` (one 4 MiB cmdline of
``-netdev tap,id=hN,fd=3`` once gave a 45 MB result; four gave 940 MB RSS on
the node and 1.55 GB on the controller). Each cap is a constant here, used
where the data is gathered, and every cut says what it left out ("N more not
shown"); where the cut could change a verdict, that verdict is ``unknown``.

=================  =======  ===================================================
cap                value    where, and what a cut does
=================  =======  ===================================================
MAX_FILE_BYTES     4 MiB    one file read on the node (a bigger one is not read: too_large)
MAX_PIDS           65536    /proc entries examined for qemu processes; the rest named in errors
MAX_QEMU           4096     qemu processes judged; the rest named in errors
MAX_DOMAINS        4096     domains judged; the rest not shown, domains.vhost unknown
MAX_FDS            65536    fds of one qemu read (numeric order; the argv's vhostfds always);
                            a cut that could hide a /dev/vhost-net fd makes the NIC unknown
MAX_NETDEVS        256      -netdev/-nic/-net (and NIC -device) per argv; the rest not parsed,
                            the domain unknown unless a shown NIC already fails
MAX_ARGV_ERRORS    32       malformed-argv errors kept per argv
MAX_NICS           256      NICs shown per domain (the verdict is over all)
MAX_EVIDENCE       40       evidence items per check / domain / NIC
MAX_RESULT_BYTES   16 MiB   the module's whole result (``limit_result``)
=================  =======  ===================================================

Pure, standard library only (runs on the nodes).
"""
import json

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_PIDS = 65536
MAX_QEMU = 4096
MAX_DOMAINS = 4096
MAX_FDS = 65536
MAX_NETDEVS = 256
MAX_ARGV_ERRORS = 32
MAX_NICS = 256
MAX_EVIDENCE = 40
MAX_RESULT_BYTES = 16 * 1024 * 1024


def more(count, what):
    """The "N more not shown" line: ``more(3, "NIC(s)")`` -> ``'...and 3 more NIC(s) not shown'``."""
    return "...and %d more %s not shown" % (count, what)


def cut_list(items, limit, what):
    """``items`` cut to ``limit``, with the "N more not shown" line appended (for lists of strings)."""
    if len(items) <= limit:
        return items
    return items[:limit] + [more(len(items) - limit, what)]


def result_size(obj, at_most=None):
    """Bytes of ``obj`` as compact UTF-8 JSON; with ``at_most``, any number <= at_most once it surely fits.

    A character is at most 4 UTF-8 bytes, so a text of n characters with 4n <= at_most fits
    without encoding it (no second copy of a result that may be megabytes).
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if at_most is not None and 4 * len(text) <= at_most:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def limit_result(audit, max_bytes=None):
    """The audit result made to fit in ``max_bytes`` of JSON, saying what was left out.

    Shrinks in steps, each keeping every check, every domain's name, state,
    verdict, reason and ``needs_restart`` (what the gate and the planner use):
    first the NICs' and domains' evidence, then the NIC lists, then domains
    beyond what fits (``domains.vhost`` becomes unknown if a cut domain could
    change it). ``audit["truncated"]`` says what each step removed.

    >>> a = {"checks": [{"id": "domains.vhost", "state": "pass", "reason": None, "evidence": []}],
    ...      "domains": [{"name": "d%d" % i, "verdict": "pass", "needs_restart": False, "evidence": ["x" * 50],
    ...                   "nics": [{"mac": "m", "evidence": ["y" * 50]}]} for i in range(50)], "errors": []}
    >>> out = limit_result(a, 3000)
    >>> result_size(out) <= 3000, out["truncated"][0][:40]
    (True, 'result over 3000 bytes: evidence of NICs')
    """
    if max_bytes is None:
        max_bytes = MAX_RESULT_BYTES
    if result_size(audit, max_bytes) <= max_bytes:
        return audit
    notes = []
    domains = audit.get("domains") or []
    # 1. Evidence of NICs and domains (the checks keep theirs).
    for dom in domains:
        dom["evidence"] = (dom.get("evidence") or [])[:2]
        for nic in dom.get("nics") or []:
            nic["evidence"] = (nic.get("evidence") or [])[:1]
    notes.append("result over %d bytes: evidence of NICs and domains cut to 1-2 items" % max_bytes)
    if result_size(audit) > max_bytes:
        # 2. The NIC lists (verdict, reason and needs_restart stay on each domain).
        for dom in domains:
            nics = dom.get("nics") or []
            if nics:
                dom["nics_not_shown"] = len(nics) + int(dom.get("nics_not_shown") or 0)
                dom["nics"] = []
        notes.append("NIC lists not shown (each domain keeps its verdict and reason)")
    if result_size(audit) > max_bytes:
        # 3. Domains beyond what fits, failing and undecided ones kept first.
        order = sorted(range(len(domains)), key=lambda i: (domains[i].get("verdict") not in ("fail", "error",
                                                                                           "unknown"), i))
        keep = []
        budget = max_bytes - result_size(dict(audit, domains=[])) - 1024
        for i in order:
            cost = result_size(domains[i]) + 1
            if cost > budget:
                break
            keep.append(i)
            budget -= cost
        dropped = len(domains) - len(keep)
        audit["domains"] = [domains[i] for i in sorted(keep)]
        notes.append(more(dropped, "domain(s)") + " (result size cap)")
        for check in audit.get("checks") or []:
            if check.get("id") == "domains.vhost" and check.get("state") in ("pass", "not_applicable"):
                check["state"] = "unknown"
                check["reason"] = "%d domain(s) not shown (result size cap of %d bytes): cannot tell for them" % (
                    dropped, max_bytes)
    audit["truncated"] = notes
    audit.setdefault("errors", []).append("; ".join(notes))
    return audit
