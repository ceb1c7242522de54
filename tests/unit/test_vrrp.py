"""parsers/vrrp: VRRP v2/v3 adverts in Ethernet frames, as literal bytes.

The frames below were built byte by byte from RFC 3768 / RFC 5798 (their
checksums computed once and frozen here); CAPTURED_* ones come from keepalived
2.2.7 in the lab's real guests, read off their taps (tests/lab/guests.py).
"""
import doctest

import pytest
from hypothesis import given, settings, strategies as st

from nodeaudit.parsers import vrrp

# As keepalived-lb01 sends it (10.99.0.1): vrid 51, priority 150, advert_int 1, VIP 10.99.0.100, VRRPv2 multicast.
V2_KEEPALIVED = bytes.fromhex(
    "01005e000012525400000101080045c0002800000000ff70d02f0a630001e0000012"
    "2133960100013e030a6300640000000000000000")
# VRRPv3 over IPv4, checksum with the pseudo-header (RFC 5798 5.2.8), vrid 52, 100 centiseconds.
V3_V4 = bytes.fromhex(
    "01005e000012525400000102080045c0002000000000ff70d0360a630002e0000012"
    "31346401006474aa0a630065")
# VRRPv3 over IPv6 to ff02::12 from a link-local address, VIP 2001:db8::100.
V3_V6 = bytes.fromhex(
    "33330000001252540000010286dd60000000001870fffe80000000000000505400fffe000102"
    "ff020000000000000000000000000012"
    "313564010064ed3720010db8000000000000000000000100")
# Unicast peer (keepalived unicast_peer): to 10.99.0.2, priority 0 (the master handing over).
V2_UNICAST_PRIO0 = bytes.fromhex(
    "525400000102525400000101080045c0002800000000ff70a5dd0a6300010a630002"
    "213300010001d4030a6300640000000000000000")
# 802.1Q tag 100, two VIPs, advert_int 3.
V2_VLAN_TWO_VIPS = bytes.fromhex(
    "01005e00001252540000010181000064080045c0002c00000000ff70d02b0a630001e0000012"
    "21339602000332d50a6300640a6300c80000000000000000")

# IGMPv3 membership report from a guest joining 224.0.0.18 (IP header with Router Alert, TTL 1).
IGMP_V3_JOIN = bytes.fromhex(
    "01005e000016525400990012080046c0002800004000010241edc000020ce0000016940400002200f9eb0000000104000000e0000012")


def test_doctests():
    result = doctest.testmod(vrrp)
    assert result.attempted > 0 and result.failed == 0


def test_v2_keepalived():
    f = vrrp.parse_frame(V2_KEEPALIVED)
    assert (f["src_mac"], f["dst_mac"], f["family"], f["src"], f["dst"], f["ttl"]) == (
        "52:54:00:00:01:01", "01:00:5e:00:00:12", 4, "10.99.0.1", "224.0.0.18", 255)
    v = f["vrrp"]
    assert (v["version"], v["vrid"], v["priority"], v["advert_int_s"], v["addresses"]) == (
        2, 51, 150, 1.0, ["10.99.0.100"])
    assert (v["checksum_ok"], v["checksum_kind"], v["auth_type"]) == (True, "vrrp", 0)


def test_v3_ipv4_pseudo_header_checksum():
    v = vrrp.parse_frame(V3_V4)["vrrp"]
    assert (v["version"], v["vrid"], v["priority"], v["advert_int_s"], v["addresses"]) == (
        3, 52, 100, 1.0, ["10.99.0.101"])
    assert (v["checksum_ok"], v["checksum_kind"], v["auth_type"]) == (True, "pseudo", None)


def test_v3_ipv6():
    f = vrrp.parse_frame(V3_V6)
    assert (f["family"], f["src"], f["dst"], f["ttl"]) == (6, "fe80::5054:ff:fe00:102", "ff02::12", 255)
    v = f["vrrp"]
    assert (v["version"], v["vrid"], v["addresses"], v["checksum_ok"]) == (3, 53, ["2001:db8::100"], True)


def test_unicast_and_priority_zero():
    f = vrrp.parse_frame(V2_UNICAST_PRIO0)
    assert (f["dst"], f["dst_mac"], f["vrrp"]["priority"], f["vrrp"]["checksum_ok"]) == (
        "10.99.0.2", "52:54:00:00:01:02", 0, True)


def test_vlan_and_several_addresses():
    f = vrrp.parse_frame(V2_VLAN_TWO_VIPS)
    assert f["vlans"] == [100]
    assert (f["vrrp"]["addresses"], f["vrrp"]["advert_int_s"], f["vrrp"]["checksum_ok"]) == (
        ["10.99.0.100", "10.99.0.200"], 3.0, True)


def test_corrupted_checksum_is_reported_not_raised():
    bad = bytearray(V2_KEEPALIVED)
    bad[-9] ^= 0x01  # flip the low bit of the VIP
    v = vrrp.parse_frame(bytes(bad))["vrrp"]
    assert v["checksum_ok"] is False and v["addresses"] == ["10.99.0.101"]


def test_v3_checksum_wrong_for_other_addresses():
    # The same v3 message from a different source fails the pseudo-header checksum.
    other = bytearray(V3_V4)
    other[29] = 0x09  # source 10.99.0.9
    other[24:26] = b"\0\0"
    v = vrrp.parse_frame(bytes(other))["vrrp"]
    assert v["checksum_ok"] is False


@pytest.mark.parametrize("frame, where, words", [
    (V2_KEEPALIVED[:10], 0, "Ethernet frame too short"),
    (V2_KEEPALIVED[:30], 14, "truncated IPv4 header"),
    (V2_KEEPALIVED[:40], 16, "total length 40 but 26"),
    (V2_KEEPALIVED[:14] + b"\x65" + V2_KEEPALIVED[15:], 14, "IP version 6"),
    (V2_KEEPALIVED[:34] + b"\x41" + V2_KEEPALIVED[35:], 34, "VRRP version 4"),
    (V2_KEEPALIVED[:34] + b"\x22" + V2_KEEPALIVED[35:], 34, "type 2"),
    (V2_KEEPALIVED[:35] + b"\x00" + V2_KEEPALIVED[36:], 35, "VRID 0"),
    (V2_KEEPALIVED[:37] + b"\x05" + V2_KEEPALIVED[38:], 37, "with 5 addresses needs 36 bytes"),
    (V2_KEEPALIVED[:39] + b"\x00" + V2_KEEPALIVED[40:], 39, "interval 0"),
    (V3_V4[:38] + b"\x00\x00" + V3_V4[40:], 38, "max advertisement interval 0"),
    (V3_V6[:18] + b"\x00\x40" + V3_V6[20:], 18, "payload length 64"),
    (V3_V6[:54] + b"\x21" + V3_V6[55:], 54, "VRRPv2 over IPv6"),
])
def test_malformed(frame, where, words):
    with pytest.raises(vrrp.VRRPError) as err:
        vrrp.parse_frame(frame)
    assert err.value.index == where
    assert words in str(err.value)


def test_not_vrrp_is_not_an_error():
    udp = bytes.fromhex("ffffffffffff525400000101" "0800" "4500001c00000000401100000a630001ffffffff"
                        "c0000ec800080000")
    f = vrrp.parse_frame(udp)
    assert (f["vrrp"], f["proto"], f["l4"]) == (None, 17, {"sport": 49152, "dport": 3784})
    assert vrrp.flow_of(f, "bfd") == ("bfd", "10.99.0.1>255.255.255.255")
    assert vrrp.flow_of(f, "vrrp") is None
    assert vrrp.flow_of(f, "udp", 3784) == ("udp", "10.99.0.1>255.255.255.255:3784")
    assert vrrp.flow_of(f, "udp", 9) is None


def test_fragment_is_not_parsed_as_vrrp():
    frag = bytearray(V2_KEEPALIVED)
    frag[20] = 0x20  # more fragments
    f = vrrp.parse_frame(bytes(frag))
    assert f["fragment"] is True and f["vrrp"] is None


def test_ipv6_hop_by_hop_is_skipped():
    # next header 0 (hop-by-hop, 8 bytes: next=112, len=0, PadN) then the VRRPv3 message.
    body = V3_V6[54:]
    hbh = bytes([112, 0, 1, 4, 0, 0, 0, 0])
    plen = len(body) + 8
    frame = V3_V6[:18] + plen.to_bytes(2, "big") + b"\x00" + V3_V6[21:54] + hbh + body
    v = vrrp.parse_frame(frame)["vrrp"]
    assert (v["vrid"], v["checksum_ok"]) == (53, True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 80))
def test_garbage_never_escapes_with_another_exception(tail, cut):
    for frame in (tail, V2_KEEPALIVED[:cut] + tail, V3_V6[:cut] + tail):
        try:
            vrrp.parse_frame(frame)
        except vrrp.VRRPError as exc:
            assert exc.index is not None and str(exc)


def test_igmp_join_of_the_vrrp_group():
    f = vrrp.parse_frame(IGMP_V3_JOIN)
    assert (f["vrrp"], f["proto"], f["ttl"]) == (None, 2, 1)
    assert f["igmp"] == {"kind": "v3_report", "joins": ["224.0.0.18"], "leaves": [], "error": None}
    assert vrrp.parse_igmp(IGMP_V3_JOIN[38:44])["error"].startswith("IGMP message too short")
