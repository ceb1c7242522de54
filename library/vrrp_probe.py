#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: watch the VRRP adverts (or other periodic traffic) of a node's VMs from the host.

Read-only: it opens AF_PACKET sockets on the taps of the selected domains for
a bounded time, and reads libvirt's live status files to know which tap is
whose. It changes nothing, so check mode runs the same capture.

Why not tcpdump (the 2014 team's `tcpdump -ttt`): it is not on every compute
node, one process per tap would have to be started, stopped and its text
parsed back, and its absence would make the probe fail on exactly the nodes
nobody looked at. The standard library's AF_PACKET socket with a kernel BPF
filter and kernel timestamps gives the same gaps (to about 1 ms on this
project's lab) at a few hundredths of a percent of one core
(module_utils/nodeaudit/sources/capture.py says how).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vrrp_probe
short_description: Capture VRRP adverts (or BFD / a UDP port) on the taps of a node's VMs and measure their timing
description:
  - For O(seconds), captures at once on the tap of every NIC of every selected running domain (or on the
    named O(interfaces)), with an C(AF_PACKET) socket, a kernel BPF filter (only the probed traffic reaches
    the module, so a busy NIC cannot make it drop adverts) and kernel receive timestamps.
  - VRRP v2 and v3 over IPv4 and IPv6, multicast or unicast peers. Per domain, NIC and VRRP instance
    (VRID) it returns the adverts seen, the advertised interval, the priorities, the gaps (max,
    p50/p90/p99, the late ones with their times), master changes with times (from the advertising source
    and priority; priority 0 is a graceful handover) and the adverts themselves, so the controller can
    join the members of one instance across nodes.
  - O(traffic=bfd) or O(traffic=udp) with O(udp_ports) follow other periodic traffic (gaps only).
  - Standard library only on the node; no tcpdump. The module's own CPU use during the capture is returned.
  - Read-only and check-mode safe; never changes a domain, an interface or a file.
version_added: "1.0.0"
author:
  - compute-audit maintainers
options:
  seconds:
    description:
      - How long to capture, in seconds (1 to 3600).
    type: float
    default: 10
  domains:
    description:
      - fnmatch patterns on domain names; the NICs of matching running domains are captured.
    type: list
    elements: str
    default: ["*"]
  interfaces:
    description:
      - Capture on these interfaces as well (e.g. a bridge), with no domain attached.
    type: list
    elements: str
    default: []
  traffic:
    description:
      - What to capture. C(vrrp) (IP protocol 112), C(bfd) (UDP 3784/4784) or C(udp) (O(udp_ports)).
    type: str
    choices: [vrrp, bfd, udp]
    default: vrrp
  udp_ports:
    description:
      - UDP ports for O(traffic=udp).
    type: list
    elements: int
    default: []
  late_factor:
    description:
      - An advert is late when it comes more than this many advertised intervals after the previous one.
    type: float
    default: 1.5
  max_adverts:
    description:
      - At most this many adverts per NIC and instance are returned (the counts and gaps cover all).
    type: int
    default: 20000
  until_back:
    description:
      - End the capture early, O(settle) seconds after this domain's NIC shows it is back in VRRP (it sent
        an advert or joined 224.0.0.18 by IGMP); O(seconds) is then the longest wait. For a rollout
        that waits for a restarted member.
    type: str
  settle:
    description:
      - Seconds to keep capturing after O(until_back) was seen back.
    type: float
    default: 6
  stop_file:
    description:
      - End the capture early once this file exists with a modification time after the capture began (an
        older file is ignored). For a rollout, the controller touches it on the other hosts of an HA
        group once the restarted member's own host saw it back; only the member's host can see that.
        The module only looks at the file; it never creates or removes it.
    type: path
  status_dir:
    description:
      - libvirt's live status files (which tap and MAC belong to which domain).
    type: path
    default: /run/libvirt/qemu
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - "Needs root (C(CAP_NET_RAW)) to open packet sockets. Timestamps are the node's clock: the controller
    joins the nodes' captures by time, so the nodes' clocks must be synchronised (NTP/chrony) for a
    cross-node master timeline."
  - A tap that is deleted and re-created during the capture (a domain restarted with a libvirt-managed
    tap) is not followed onto the new device; probe again after the restart.
"""

EXAMPLES = r"""
- name: Watch the keepalived VMs for a minute
  vrrp_probe:
    seconds: 60
    domains: ["keepalived-*"]
  register: probe

- name: BFD on every VM's NICs
  vrrp_probe:
    seconds: 30
    traffic: bfd
"""

RETURN = r"""
probe:
  description: What was captured on this node.
  returned: always
  type: dict
  contains:
    nics:
      description: One entry per captured interface with domain, mac, tap, error, kernel counters
        (packets, drops), frames, malformed (frames that claimed VRRP and were not well formed) and
        instances (one per VRID or flow with senders, gaps, late adverts, master_changes, handovers,
        max_no_master_s and the adverts as [t, dir, src, priority, advert_int_s]), bad_checksums, vrrp_joins and
        vrrp_leaves (times the guest joined / left 224.0.0.18 by IGMP, how a silent backup shows it is back).
      type: list
      elements: dict
    cpu:
      description: The module's CPU time during the capture (user_s, system_s, pct of one core).
      type: dict
    started:
      description: Capture start, seconds since the epoch (node clock).
      type: float
    back_seen:
      description: Whether O(until_back)'s NIC showed it is back (an advert or an IGMP join) during the capture.
      type: bool
    stopped_by_file:
      description: Whether the capture ended early because O(stop_file) was touched.
      type: bool
    errors:
      description: What could not be captured or read, said plainly.
      type: list
      elements: str
"""

import fnmatch
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.nodeaudit import caps
from ansible.module_utils.nodeaudit.combiners.adverts import summarise_nic
from ansible.module_utils.nodeaudit.errors import ParseError
from ansible.module_utils.nodeaudit.parsers import domxml, vrrp
from ansible.module_utils.nodeaudit.sources import capture
from ansible.module_utils.nodeaudit.textsafe import safe_text

MAX_MALFORMED = 20


def domain_nics(status_dir, patterns):
    """(nics [{domain, mac, tap}], errors) of the running domains whose name matches a pattern."""
    nics, errors = [], []
    try:
        names = sorted(n for n in os.listdir(status_dir) if n.endswith(".xml"))
    except OSError as exc:
        return [], ["cannot list running domains in %s: %s" % (status_dir, exc.strerror)]
    for fname in names:
        path = os.path.join(status_dir, fname)
        try:
            with open(path, "rb") as handle:
                parsed = domxml.parse_domain_xml(handle.read(caps.MAX_FILE_BYTES).decode("utf-8", "replace"))
        except (OSError, ParseError) as exc:
            errors.append("%s: %s" % (path, safe_text(str(exc))))
            continue
        name = parsed.get("name") or fname[:-4]
        if not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        for nic in parsed.get("interfaces") or []:
            if not nic.get("target_dev"):
                errors.append("%s: a NIC (mac %s) has no tap device" % (safe_text(name), nic.get("mac")))
                continue
            # node text: made safe before it is returned (textsafe, the project's one rule)
            nics.append({"domain": safe_text(name), "mac": safe_text((nic.get("mac") or "").lower()) or None,
                         "tap": nic["target_dev"], "model": safe_text(nic.get("model")) if nic.get("model") else None})
    return nics, errors


def stop_requested(stop_file, since):
    """Whether ``stop_file`` exists and was touched at or after ``since`` (epoch seconds): a stale one is ignored."""
    try:
        return os.stat(stop_file).st_mtime >= since - 1.0
    except OSError:
        return False


def probe(nics, seconds, traffic="vrrp", udp_ports=(), late_factor=1.5, max_adverts=20000, capture_fn=None,
          until_back=None, settle=6.0, stop_file=None):
    """Capture on every NIC at once and summarise each (the module's logic, testable without Ansible)."""
    capture_fn = capture_fn or capture.capture
    back = {}
    program = capture.bpf_program(traffic, tuple(udp_ports))
    by_tap = {n["tap"]: dict(n, frames=0, events=[], malformed=[], malformed_count=0, vrrp_joins=[],
                             vrrp_leaves=[], bad_checksums=0) for n in nics}

    def on_frame(tap, t, outgoing, data):
        nic = by_tap[tap]
        nic["frames"] += 1
        try:
            info = vrrp.parse_frame(data)
        except vrrp.VRRPError as exc:
            nic["malformed_count"] += 1
            if len(nic["malformed"]) < MAX_MALFORMED:
                nic["malformed"].append({"t": round(t, 6), "error": str(exc), "bytes": data[:64].hex()})
            return
        igmp = info.get("igmp")
        if igmp and not outgoing:  # the guest joining or leaving the VRRP group
            for group in igmp["joins"]:
                if group == vrrp.VRRP_MCAST[4]:
                    nic["vrrp_joins"].append(round(t, 6))
                    if until_back and nic.get("domain") == until_back:
                        back.setdefault("t", time.time())
            for group in igmp["leaves"]:
                if group == vrrp.VRRP_MCAST[4]:
                    nic["vrrp_leaves"].append(round(t, 6))
            return
        flow = vrrp.flow_of(info, traffic, udp_ports[0] if traffic == "udp" and len(udp_ports) == 1 else None)
        if flow is None and traffic == "udp":
            for port in udp_ports:
                flow = vrrp.flow_of(info, "udp", port) or flow
        if flow is None:
            return
        v = info.get("vrrp") or {}
        if v and not outgoing and until_back and nic.get("domain") == until_back and v.get("priority"):
            back.setdefault("t", time.time())
        if v and v.get("checksum_ok") is False:
            nic["bad_checksums"] += 1  # kept (the timing still counts), and said
        # On a tap, a frame the host sends goes TO the guest; one it receives came FROM the guest.
        nic["events"].append({"t": t, "dir": "heard" if outgoing else "sent", "flow": flow, "src": info["src"],
                              "src_mac": info["src_mac"], "priority": v.get("priority"),
                              "advert_int_s": v.get("advert_int_s"), "version": v.get("version"),
                              "family": info["family"]})

    began = time.time()

    def stop():
        if until_back and "t" in back and time.time() >= back["t"] + settle:
            return True
        return bool(stop_file) and stop_requested(stop_file, began)
    cap = capture_fn(list(by_tap), seconds, program, on_frame,
                     should_stop=stop if (until_back or stop_file) else None)
    out = []
    for tap, nic in by_tap.items():
        events = nic.pop("events")
        foreign = sorted(set(e["src_mac"] for e in events if e["dir"] == "sent" and nic.get("mac")
                             and e["src_mac"] != nic["mac"]))
        nic.update(error=cap["errors"].get(tap), kernel=cap["interfaces"].get(tap),
                   instances=summarise_nic(events, late_factor, max_adverts, start=cap["started"], end=cap["ended"]),
                   foreign_source_macs=foreign)
        out.append(nic)
    return {"started": round(cap["started"], 6), "ended": round(cap["ended"], 6), "seconds": seconds,
            "until_back": until_back, "back_seen": "t" in back,
            "stopped_by_file": bool(stop_file) and stop_requested(stop_file, began),
            "traffic": traffic, "cpu": cap["cpu"], "nics": out,
            "errors": [cap["errors"][t] for t in sorted(cap["errors"])]}


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            seconds=dict(type="float", default=10),
            domains=dict(type="list", elements="str", default=["*"]),
            interfaces=dict(type="list", elements="str", default=[]),
            traffic=dict(type="str", choices=["vrrp", "bfd", "udp"], default="vrrp"),
            udp_ports=dict(type="list", elements="int", default=[]),
            late_factor=dict(type="float", default=1.5),
            max_adverts=dict(type="int", default=20000),
            status_dir=dict(type="path", default="/run/libvirt/qemu"),
            until_back=dict(type="str"),
            settle=dict(type="float", default=6),
            stop_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not 0 < p["seconds"] <= 3600:
        module.fail_json(msg="seconds must be between 0 and 3600, got %s" % p["seconds"])
    if p["traffic"] == "udp" and not p["udp_ports"]:
        module.fail_json(msg="traffic=udp needs udp_ports")
    if any(not 0 < port < 65536 for port in p["udp_ports"]):
        module.fail_json(msg="udp_ports must be 1-65535")
    if p["late_factor"] <= 1:
        module.fail_json(msg="late_factor must be over 1")
    nics, errors = domain_nics(p["status_dir"], p["domains"])
    for ifname in p["interfaces"]:
        nics.append({"domain": None, "mac": None, "tap": ifname, "model": None})
    result = probe(nics, p["seconds"], p["traffic"], p["udp_ports"], p["late_factor"], p["max_adverts"],
                   until_back=p["until_back"], settle=p["settle"], stop_file=p["stop_file"])
    result["errors"] = errors + result["errors"]
    result["host"] = socket.gethostname()
    if not nics:
        result["errors"].append("no running domain matches %s and no interface was named" % p["domains"])
    module.exit_json(changed=False, probe=result)


def main():
    run_module()


if __name__ == "__main__":
    main()
