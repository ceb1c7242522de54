"""VRRP v2 / v3 adverts (and other periodic traffic) in captured Ethernet frames.

Pure: bytes in, data out, no I/O. The capture (sources/capture.py) hands each
frame it read from a tap here; nothing in this file opens a socket.

What is read (RFC 3768 for v2, RFC 5798 for v3):

    Ethernet [802.1Q/802.1ad tags] -> IPv4 (protocol 112) | IPv6 (next header 112,
    after hop-by-hop / routing / destination options) -> VRRP

    v2:  ver|type  vrid  priority  count  auth_type  adver_int(s)  checksum  addrs(4*count)  auth(8)
    v3:  ver|type  vrid  priority  count  rsvd|max_adver_int(12 bit, centiseconds)  checksum  addrs

Multicast (224.0.0.18, ff02::12) and unicast peers alike: the destination is
reported, never required. Priority 0 is the master giving up (a handover), 255
the address owner.

A frame that is not VRRP (ARP, another IP protocol) is not an error: its
`vrrp` is None and `l4` says what it was (so a named filter can follow BFD or a
UDP port). A frame that claims to be VRRP and is not well formed raises
`VRRPError` with the byte offset where it went wrong (`.index`).

Sample input (a VRRPv2 advert from keepalived, vrid 51, priority 150, 1 s, VIP 10.99.0.100)::

    >>> frame = bytes.fromhex(
    ...     "01005e000012" "525400000101" "0800"
    ...     "45c00028" "0000" "0000" "ff70" "d02f" "0a630001" "e0000012"
    ...     "2133960100013e03" "0a630064" "0000000000000000")
    >>> f = parse_frame(frame)
    >>> v = f["vrrp"]
    >>> (f["src"], f["dst"], v["version"], v["vrid"], v["priority"], v["advert_int_s"], v["addresses"])
    ('10.99.0.1', '224.0.0.18', 2, 51, 150, 1.0, ['10.99.0.100'])
    >>> (v["checksum_ok"], v["auth_type"], f["ttl"])
    (True, 0, 255)
"""
import ipaddress
import struct

from ..errors import ParseError

PROTO_VRRP = 112
PROTO_UDP = 17
PROTO_IGMP = 2
ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)
IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options (skipped)
IPV6_FRAGMENT = 44
VRRP_MCAST = {4: "224.0.0.18", 6: "ff02::12"}
BFD_PORTS = (3784, 4784)  # single-hop and multi-hop control


class VRRPError(ParseError):
    """A frame that claims to carry VRRP (or IP) and is not well formed (`.index`: the byte offset)."""

    def __str__(self):
        return self.message  # the message names the byte already


def mac_text(raw):
    """6 bytes -> 'aa:bb:cc:dd:ee:ff'.

    >>> mac_text(bytes.fromhex("525400000101"))
    '52:54:00:00:01:01'
    """
    return ":".join("%02x" % b for b in raw)


def internet_checksum(data):
    """RFC 1071 one's-complement sum of 16-bit words (0 when `data` carries a correct checksum).

    >>> internet_checksum(bytes.fromhex("0001f203f4f5f6f7"))
    8717
    """
    if len(data) % 2:
        data = data + b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def _pseudo_header(family, src_raw, dst_raw, length):
    if family == 4:
        return src_raw + dst_raw + struct.pack("!BBH", 0, PROTO_VRRP, length)
    return src_raw + dst_raw + struct.pack("!IxxxB", length, PROTO_VRRP)


def parse_vrrp(payload, family=4, src_raw=None, dst_raw=None, offset=0):
    """The VRRP message itself (what follows the IP header).

    `src_raw` / `dst_raw` (the IP addresses as bytes) are needed only to check a
    v3 checksum, which covers a pseudo-header. `offset` is where `payload`
    starts in the frame, for error positions.

    Returns {"version", "type", "vrid", "priority", "count", "addresses",
    "advert_int_s", "auth_type" (v2; None for v3), "checksum",
    "checksum_ok" (True/False; None when it could not be checked),
    "checksum_kind" ("vrrp" = over the message only, as v2 and keepalived's
    v3 compatibility mode do; "pseudo" = v3 with the pseudo-header), "length"}.

    >>> v3 = bytes.fromhex("3133960100640000" "0a630064")
    >>> r = parse_vrrp(v3)
    >>> (r["version"], r["advert_int_s"], r["checksum_ok"])
    (3, 1.0, None)
    >>> try:
    ...     parse_vrrp(bytes.fromhex("4133"))
    ... except VRRPError as exc:
    ...     print(exc, exc.index)
    VRRP message too short: 2 bytes, need at least 8 (byte 0) 0
    """
    if len(payload) < 8:
        raise VRRPError("VRRP message too short: %d bytes, need at least 8 (byte %d)" % (len(payload), offset),
                        index=offset)
    version, vtype = payload[0] >> 4, payload[0] & 0x0F
    if version not in (2, 3):
        raise VRRPError("VRRP version %d (only 2 and 3 exist) (byte %d)" % (version, offset), index=offset)
    if vtype != 1:
        raise VRRPError("VRRP type %d (only 1, advertisement, exists) (byte %d)" % (vtype, offset), index=offset)
    if version == 2 and family != 4:
        raise VRRPError("VRRPv2 over IPv6 does not exist (byte %d)" % offset, index=offset)
    vrid, priority, count = payload[1], payload[2], payload[3]
    if vrid == 0:
        raise VRRPError("VRID 0 is not valid (1-255) (byte %d)" % (offset + 1), index=offset + 1)
    alen = 4 if family == 4 else 16
    need = 8 + count * alen + (8 if version == 2 else 0)
    if len(payload) < need:
        raise VRRPError("VRRPv%d with %d addresses needs %d bytes, frame has %d (byte %d)"
                        % (version, count, need, len(payload), offset + 3), index=offset + 3)
    if version == 2:
        auth_type = payload[4]
        advert_int = float(payload[5])
        if payload[5] == 0:
            raise VRRPError("VRRPv2 advertisement interval 0 (byte %d)" % (offset + 5), index=offset + 5)
    else:
        auth_type = None
        centis = struct.unpack("!H", payload[4:6])[0] & 0x0FFF
        if centis == 0:
            raise VRRPError("VRRPv3 max advertisement interval 0 (byte %d)" % (offset + 4), index=offset + 4)
        advert_int = centis / 100.0
    checksum = struct.unpack("!H", payload[6:8])[0]
    addrs = []
    for i in range(count):
        raw = payload[8 + i * alen: 8 + (i + 1) * alen]
        addrs.append(str(ipaddress.ip_address(raw)))
    message = payload[:need]
    ok, kind = None, None
    if internet_checksum(message) == 0:
        ok, kind = True, "vrrp"
    if version == 3 and src_raw is not None and dst_raw is not None:
        if internet_checksum(_pseudo_header(family, src_raw, dst_raw, len(message)) + message) == 0:
            ok, kind = True, "pseudo"
        elif ok is None:
            ok = False
    elif version == 2 and ok is None:
        ok = False
    return {"version": version, "type": vtype, "vrid": vrid, "priority": priority, "count": count,
            "addresses": addrs, "advert_int_s": advert_int, "auth_type": auth_type,
            "checksum": checksum, "checksum_ok": ok, "checksum_kind": kind, "length": need}


def parse_frame(frame):
    """One captured Ethernet frame -> what the probe needs of it.

    Returns {"src_mac", "dst_mac", "vlans": [ids], "ethertype", "family": 4|6|None,
    "src", "dst", "ttl" (hop limit for IPv6), "proto", "l4": {"sport","dport"}|None,
    "vrrp": parse_vrrp(...)|None, "fragment": bool}.

    >>> arp = bytes.fromhex("ffffffffffff525400000101" "0806") + bytes(28)
    >>> r = parse_frame(arp)
    >>> (r["ethertype"], r["family"], r["vrrp"])
    (2054, None, None)
    """
    if len(frame) < 14:
        raise VRRPError("Ethernet frame too short: %d bytes (byte 0)" % len(frame), index=0)
    result = {"dst_mac": mac_text(frame[0:6]), "src_mac": mac_text(frame[6:12]), "vlans": [],
              "ethertype": None, "family": None, "src": None, "dst": None, "ttl": None,
              "proto": None, "l4": None, "vrrp": None, "igmp": None, "fragment": False}
    pos = 12
    ethertype = struct.unpack("!H", frame[pos:pos + 2])[0]
    while ethertype in ETH_VLAN:
        if len(frame) < pos + 6:
            raise VRRPError("truncated VLAN tag (byte %d)" % pos, index=pos)
        result["vlans"].append(struct.unpack("!H", frame[pos + 2:pos + 4])[0] & 0x0FFF)
        pos += 4
        ethertype = struct.unpack("!H", frame[pos:pos + 2])[0]
    pos += 2
    result["ethertype"] = ethertype
    if ethertype == ETH_IPV4:
        return _ipv4(frame, pos, result)
    if ethertype == ETH_IPV6:
        return _ipv6(frame, pos, result)
    return result


def _ipv4(frame, pos, result):
    if len(frame) < pos + 20:
        raise VRRPError("truncated IPv4 header (byte %d)" % pos, index=pos)
    vihl = frame[pos]
    if vihl >> 4 != 4:
        raise VRRPError("ethertype IPv4 but IP version %d (byte %d)" % (vihl >> 4, pos), index=pos)
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or len(frame) < pos + ihl:
        raise VRRPError("bad IPv4 header length %d (byte %d)" % (ihl, pos), index=pos)
    total = struct.unpack("!H", frame[pos + 2:pos + 4])[0]
    if total < ihl or len(frame) < pos + total:
        raise VRRPError("IPv4 total length %d but %d bytes captured (byte %d)"
                        % (total, len(frame) - pos, pos + 2), index=pos + 2)
    flags_frag = struct.unpack("!H", frame[pos + 6:pos + 8])[0]
    src_raw, dst_raw = frame[pos + 12:pos + 16], frame[pos + 16:pos + 20]
    result.update(family=4, ttl=frame[pos + 8], proto=frame[pos + 9],
                  src=str(ipaddress.ip_address(src_raw)), dst=str(ipaddress.ip_address(dst_raw)),
                  fragment=bool(flags_frag & 0x3FFF))
    return _l4(frame[pos + ihl:pos + total], pos + ihl, result, src_raw, dst_raw)


def _ipv6(frame, pos, result):
    if len(frame) < pos + 40:
        raise VRRPError("truncated IPv6 header (byte %d)" % pos, index=pos)
    if frame[pos] >> 4 != 6:
        raise VRRPError("ethertype IPv6 but IP version %d (byte %d)" % (frame[pos] >> 4, pos), index=pos)
    plen = struct.unpack("!H", frame[pos + 4:pos + 6])[0]
    nxt = frame[pos + 6]
    src_raw, dst_raw = frame[pos + 8:pos + 24], frame[pos + 24:pos + 40]
    result.update(family=6, ttl=frame[pos + 7], src=str(ipaddress.ip_address(src_raw)),
                  dst=str(ipaddress.ip_address(dst_raw)))
    start = pos + 40
    if len(frame) < start + plen:
        raise VRRPError("IPv6 payload length %d but %d bytes captured (byte %d)"
                        % (plen, len(frame) - start, pos + 4), index=pos + 4)
    end = start + plen
    while nxt in IPV6_EXT or nxt == IPV6_FRAGMENT:
        if end < start + 8:
            raise VRRPError("truncated IPv6 extension header (byte %d)" % start, index=start)
        if nxt == IPV6_FRAGMENT:
            result["fragment"] = True
            hlen = 8
        else:
            hlen = (frame[start + 1] + 1) * 8
        nxt = frame[start]
        start += hlen
        if start > end:
            raise VRRPError("IPv6 extension header runs past the payload (byte %d)" % start, index=start)
    result["proto"] = nxt
    return _l4(frame[start:end], start, result, src_raw, dst_raw)


def _l4(payload, offset, result, src_raw, dst_raw):
    if result["fragment"]:
        return result  # a fragment cannot be read alone; VRRP is never fragmented
    if result["proto"] == PROTO_VRRP:
        result["vrrp"] = parse_vrrp(payload, result["family"], src_raw, dst_raw, offset)
    elif result["proto"] == PROTO_IGMP and result["family"] == 4:
        result["igmp"] = parse_igmp(payload)
    elif result["proto"] == PROTO_UDP and len(payload) >= 8:
        sport, dport = struct.unpack("!HH", payload[0:4])
        result["l4"] = {"sport": sport, "dport": dport}
    return result


def parse_igmp(payload):
    """An IGMP message -> {"kind", "joins": [groups], "leaves": [groups], "error"}.

    A VRRP router joins 224.0.0.18 when its VRRP instance starts (IGMPv2
    membership report 0x16, or an IGMPv3 report 0x22 with a CHANGE_TO_EXCLUDE /
    MODE_IS_EXCLUDE record): the host sees a silent backup come back. Leaves:
    IGMPv2 0x17, IGMPv3 CHANGE_TO_INCLUDE with no source. Lenient: a truncated
    message gives "error", never an exception (it is not what the probe is for).

    >>> parse_igmp(bytes.fromhex("16000000e0000012"))["joins"]
    ['224.0.0.18']
    >>> r = parse_igmp(bytes.fromhex("2200000000000002" "04000000e0000012" "03000000e00000fb"))
    >>> (r["kind"], r["joins"], r["leaves"])
    ('v3_report', ['224.0.0.18'], ['224.0.0.251'])
    """
    out = {"kind": None, "joins": [], "leaves": [], "error": None}
    if len(payload) < 8:
        out["error"] = "IGMP message too short (%d bytes)" % len(payload)
        return out
    kind = payload[0]
    if kind in (0x12, 0x16):
        out["kind"] = "v2_report" if kind == 0x16 else "v1_report"
        out["joins"].append(str(ipaddress.ip_address(payload[4:8])))
    elif kind == 0x17:
        out["kind"] = "v2_leave"
        out["leaves"].append(str(ipaddress.ip_address(payload[4:8])))
    elif kind == 0x11:
        out["kind"] = "query"
    elif kind == 0x22:
        out["kind"] = "v3_report"
        count = struct.unpack("!H", payload[6:8])[0]
        pos = 8
        for _ in range(count):
            if len(payload) < pos + 8:
                out["error"] = "IGMPv3 report truncated at byte %d" % pos
                break
            rtype, aux, nsrc = payload[pos], payload[pos + 1], struct.unpack("!H", payload[pos + 2:pos + 4])[0]
            group = str(ipaddress.ip_address(payload[pos + 4:pos + 8]))
            if rtype in (2, 4) or (rtype in (1, 5) and nsrc):
                out["joins"].append(group)
            elif rtype == 3 and nsrc == 0:
                out["leaves"].append(group)
            pos += 8 + 4 * nsrc + 4 * aux
    else:
        out["kind"] = "type-0x%02x" % kind
    return out


def flow_of(frame_info, traffic="vrrp", port=None):
    """The periodic flow a parsed frame belongs to, for `traffic`, or None.

    vrrp: ("vrrp", vrid); bfd: ("bfd", "src>dst"); udp: ("udp", "src>dst:port").

    >>> flow_of({"vrrp": {"vrid": 51}, "l4": None})
    ('vrrp', 51)
    >>> flow_of({"vrrp": None, "l4": {"sport": 49152, "dport": 3784}, "src": "a", "dst": "b"}, "bfd")
    ('bfd', 'a>b')
    >>> flow_of({"vrrp": None, "l4": {"sport": 1, "dport": 9}, "src": "a", "dst": "b"}, "udp", 9)
    ('udp', 'a>b:9')
    """
    if traffic == "vrrp":
        return ("vrrp", frame_info["vrrp"]["vrid"]) if frame_info.get("vrrp") else None
    l4 = frame_info.get("l4")
    if not l4:
        return None
    if traffic == "bfd" and l4["dport"] in BFD_PORTS:
        return ("bfd", "%s>%s" % (frame_info["src"], frame_info["dst"]))
    if traffic == "udp" and port is not None and port in (l4["dport"], l4["sport"]):
        return ("udp", "%s>%s:%d" % (frame_info["src"], frame_info["dst"], port))
    return None
