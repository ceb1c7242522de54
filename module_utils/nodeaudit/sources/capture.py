"""Packet capture on network interfaces: AF_PACKET + a kernel BPF filter + kernel timestamps.

Standard library only (no tcpdump, no libpcap, no scapy on the node). Why not
a well-kept library: the capture runs inside an Ansible module on every
compute node, where only Python's standard library can be assumed; libpcap
bindings (pcapy, pypcap) and scapy are not packaged there, and tcpdump's
`-ttt` text would have to be parsed back. The socket API needed is small:

- one `AF_PACKET/SOCK_RAW` socket per interface, created with protocol 0 (it
  receives nothing yet), the classic BPF program attached with
  `SO_ATTACH_FILTER`, only then bound to the interface with `ETH_P_ALL`: no
  frame the filter would drop ever reaches the socket. Without the filter a
  busy NIC (LAB-NOTES: a 246 k pps UDP flood) costs 39 % CPU in Python and
  drops adverts, which shows as false gaps; with it the cost is ~0.03 %.
- `SO_TIMESTAMPNS`: the kernel's receive time of each frame (not the time
  Python got round to reading it), in `SCM_TIMESTAMPNS` ancillary data.
- `PACKET_STATISTICS`: how many frames the kernel dropped for this socket, so
  a report can say whether a gap could be the capture's own loss.
- `sll_pkttype` from `recvfrom`: on a tap, what the guest SENT arrives as a
  received frame (HOST/BROADCAST/MULTICAST/OTHERHOST), what is sent TO the
  guest is OUTGOING.

Never raises for the host's state: an interface that is missing or cannot be
opened is reported in `errors`.
"""
import ctypes
import errno
import os
import select
import socket
import struct
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
PACKET_OUTGOING = 4
SNAPLEN = 2048

# Classic BPF opcodes (linux/filter.h).
LD_H_ABS, LD_B_ABS, LD_H_IND = 0x28, 0x30, 0x48
LDX_B_MSH = 0xB1
JEQ_K, JSET_K = 0x15, 0x45
RET_K = 0x06


def assemble(program):
    """[(op, k, jt_label, jf_label) | ("label", name)] -> [(code, jt, jf, k)] with relative jumps.

    Labels are resolved to the skip counts the kernel wants (jumps go forward only).

    >>> assemble([(LD_H_ABS, 12, None, None), (JEQ_K, 0x800, "yes", "no"),
    ...           ("label", "yes"), (RET_K, 1, None, None), ("label", "no"), (RET_K, 0, None, None)])
    [(40, 0, 0, 12), (21, 0, 1, 2048), (6, 0, 0, 1), (6, 0, 0, 0)]
    """
    labels, insns = {}, []
    for item in program:
        if item[0] == "label":
            labels[item[1]] = len(insns)
        else:
            insns.append(item)
    out = []
    for i, (code, k, jt, jf) in enumerate(insns):
        def rel(label):
            if label is None:
                return 0
            off = labels[label] - i - 1
            if not 0 <= off <= 255:
                raise ValueError("BPF jump to %s out of range" % label)
            return off
        out.append((code, rel(jt), rel(jf), k))
    return out


def bpf_program(traffic="vrrp", ports=()):
    """The classic BPF filter for `traffic`: "vrrp" (IPv4 protocol / IPv6 next header 112, and
    IGMP, IPv4 protocol 2, so a silent backup is seen joining 224.0.0.18),
    "udp" (UDP to or from one of `ports`, IPv4 unfragmented or IPv6), "bfd" (UDP 3784/4784).

    Same accept/drop decisions as tcpdump's `ip proto 112 or ip6 proto 112`
    (and `udp port N`) on untagged frames; 802.1Q tags are stripped by the
    kernel before AF_PACKET filters see the frame.

    >>> bpf_program("vrrp")[:3]
    [(40, 0, 0, 12), (21, 0, 3, 2048), (48, 0, 0, 23)]
    """
    accept, drop = (RET_K, 0x40000, None, None), (RET_K, 0, None, None)
    if traffic == "vrrp":
        prog = [(LD_H_ABS, 12, None, None), (JEQ_K, 0x0800, None, "v6"),
                (LD_B_ABS, 23, None, None), (JEQ_K, 112, "yes", None), (JEQ_K, 2, "yes", "no"),
                ("label", "v6"), (JEQ_K, 0x86DD, None, "no"),
                (LD_B_ABS, 20, None, None), (JEQ_K, 112, "yes", "no"),
                ("label", "yes"), accept, ("label", "no"), drop]
        return assemble(prog)
    if traffic == "bfd":
        ports = (3784, 4784)
    if traffic not in ("udp", "bfd") or not ports:
        raise ValueError("traffic must be vrrp, bfd or udp with ports")
    prog = [(LD_H_ABS, 12, None, None), (JEQ_K, 0x0800, None, "v6"),
            (LD_B_ABS, 23, None, None), (JEQ_K, 17, None, "no"),
            (LD_H_ABS, 20, None, None), (JSET_K, 0x1FFF, "no", None),
            (LDX_B_MSH, 14, None, None)]
    for n, port in enumerate(ports):
        prog += [(LD_H_IND, 14, None, None), (JEQ_K, port, "yes", None),
                 (LD_H_IND, 16, None, None), (JEQ_K, port, "yes", "no" if n == len(ports) - 1 else None)]
    prog += [("label", "v6"), (JEQ_K, 0x86DD, None, "no"), (LD_B_ABS, 20, None, None), (JEQ_K, 17, None, "no")]
    for n, port in enumerate(ports):
        prog += [(LD_H_ABS, 54, None, None), (JEQ_K, port, "yes", None),
                 (LD_H_ABS, 56, None, None), (JEQ_K, port, "yes", "no" if n == len(ports) - 1 else None)]
    prog += [("label", "yes"), accept, ("label", "no"), drop]
    return assemble(prog)


def _attach(sock, program):
    blob = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(blob)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    # The kernel copies the program during setsockopt; buf only has to live until then.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def open_capture(ifname, program):
    """A bound, filtered AF_PACKET socket on `ifname`, or raise OSError."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        _attach(sock, program)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        except OSError:
            pass
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _stats(sock):
    try:
        packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        return {"packets": packets, "drops": drops}
    except OSError:
        return {"packets": None, "drops": None}


def capture(ifnames, seconds, program, on_frame, clock=time.time, should_stop=None):
    """Capture on every interface of `ifnames` at once for `seconds`.

    Calls `on_frame(ifname, t, outgoing, data)` for each frame (t: kernel
    receive time, seconds since the epoch; outgoing: sent by this host on that
    interface, i.e. towards the guest on a tap). Returns {"interfaces": {ifname:
    {"packets", "drops"} (kernel counters, read at the end)}, "errors":
    `should_stop()`, when given, is asked about every 0.2 s: true ends the capture early.
    {ifname: reason}, "started", "ended", "cpu": {"user_s", "system_s",
    "pct"} (this process, during the capture)}.
    """
    socks, errors = {}, {}
    for name in ifnames:
        if name in socks:
            continue
        try:
            socks[name] = open_capture(name, program)
        except OSError as exc:
            errors[name] = "cannot capture on %s: %s" % (name, os.strerror(exc.errno) if exc.errno else exc)
    cpu0, started = os.times(), clock()
    deadline = started + seconds
    by_fd = {s.fileno(): (n, s) for n, s in socks.items()}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    cmsg_space = socket.CMSG_SPACE(16)
    while by_fd:
        left = deadline - clock()
        if left <= 0 or (should_stop is not None and should_stop()):
            break
        wait = min(left, 0.2) if should_stop is not None else left
        for fd, _ in poller.poll(max(1, int(wait * 1000))):
            name, sock = by_fd[fd]
            for _ in range(256):  # drain what is queued, bounded
                try:
                    data, ancdata, _, addr = sock.recvmsg(SNAPLEN, cmsg_space)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENETDOWN:
                        break  # the interface went down (a guest restarting); it may come back
                    errors[name] = "capture on %s stopped: %s" % (name, exc)
                    poller.unregister(fd)
                    del by_fd[fd]
                    break
                t = None
                for level, ctype, cdata in ancdata:
                    if level == socket.SOL_SOCKET and ctype == SCM_TIMESTAMPNS and len(cdata) >= 16:
                        sec, nsec = struct.unpack("qq", cdata[:16])
                        t = sec + nsec / 1e9
                on_frame(name, t if t is not None else clock(), addr[2] == PACKET_OUTGOING, data)
    ended = clock()
    cpu1 = os.times()
    stats = {n: _stats(s) for n, s in socks.items()}
    for sock in socks.values():
        sock.close()
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    wall = max(ended - started, 1e-9)
    return {"interfaces": stats, "errors": errors, "started": started, "ended": ended,
            "cpu": {"user_s": round(user, 3), "system_s": round(system, 3),
                    "pct": round(100.0 * (user + system) / wall, 3)}}
