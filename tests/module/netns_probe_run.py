"""Run inside a network namespace by test_vrrp_probe_module.py (argv: status_dir, out.json).

Sends VRRP adverts (and a UDP flood the BPF filter must keep out) on veth `pvb`
while the real vrrp_probe module captures on its peer `pva`, named as a
domain's tap by the status file in status_dir.
"""
import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "unit"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "module_utils"))
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from library_loader import load_module  # noqa: E402
from test_vrrp import IGMP_V3_JOIN, V2_KEEPALIVED, V2_UNICAST_PRIO0  # noqa: E402

UDP = bytes.fromhex("ffffffffffff525400000101" "0800" "4500001c00000000401100000a630001ffffffff"
                    "1234270f00080000")
MALFORMED = V2_KEEPALIVED[:37] + b"\x05" + V2_KEEPALIVED[38:]


def send():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind(("pvb", 0))
    time.sleep(0.3)
    # adverts every 0.2 s, one missing stretch of 0.8 s, a flood between adverts, then a handover.
    plan = [0.2] * 5 + [0.8] + [0.2] * 4
    for pause in plan:
        s.send(V2_KEEPALIVED)
        for _ in range(3000):
            s.send(UDP)
        time.sleep(pause)
    s.send(IGMP_V3_JOIN)
    s.send(MALFORMED)
    s.send(V2_UNICAST_PRIO0)


def main():
    status_dir, out = sys.argv[1], sys.argv[2]
    threading.Thread(target=send, daemon=True).start()
    module = load_module("vrrp_probe")
    import io
    import contextlib
    buf = io.StringIO()
    with patch_module_args({"seconds": 3.5, "domains": ["keepalived-*"], "status_dir": status_dir,
                            "_ansible_check_mode": True}):
        with contextlib.redirect_stdout(buf):
            try:
                module.main()
            except SystemExit:
                pass
    with open(out, "w") as handle:
        handle.write(buf.getvalue())


if __name__ == "__main__":
    main()
