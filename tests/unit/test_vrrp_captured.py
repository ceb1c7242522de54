"""Frames captured on the lab's taps from the real keepalived 2.2.7 in the lab guests (tests/lab/guests.py).

Read off g1-lb01 (what keepalived-lb01 sent) and g2-lb02 (the same advert as the host delivered
it to keepalived-lb02) with sources/capture.py inside the guests' netns, then frozen here as
literals: the real keepalived decides what its VRRPv2 advert looks like; the parser must agree.
"""
from nodeaudit.parsers import vrrp

# keepalived-lb01 (192.0.2.11, MASTER, priority 150), vrid 51, advert_int 1, VIP 192.0.2.100
CAPTURED_LB01 = bytes.fromhex(
    "01005e000012525400990011080045c0002800020000ff701886c000020be00000122133960100018665c00002640000000000000000")
# the same advert, as delivered to keepalived-lb02's tap (outgoing on the host's side)
CAPTURED_HEARD_ON_LB02 = bytes.fromhex(
    "01005e000012525400990011080045c0002800020000ff701886c000020be00000122133960100018665c00002640000000000000000")


def test_captured_keepalived_advert():
    f = vrrp.parse_frame(CAPTURED_LB01)
    v = f["vrrp"]
    assert (f["src"], f["dst"], f["ttl"], f["src_mac"]) == ("192.0.2.11", "224.0.0.18", 255, "52:54:00:99:00:11")
    assert (v["version"], v["vrid"], v["priority"], v["advert_int_s"], v["addresses"]) == (
        2, 51, 150, 1.0, ["192.0.2.100"])
    assert v["checksum_ok"] is True and v["checksum_kind"] == "vrrp" and v["auth_type"] == 0


def test_captured_heard_copy_is_the_same_advert():
    assert CAPTURED_HEARD_ON_LB02 == CAPTURED_LB01  # the bridge forwards it unchanged
    assert vrrp.flow_of(vrrp.parse_frame(CAPTURED_HEARD_ON_LB02)) == ("vrrp", 51)
