"""The parser's NICs with the one NIC judgement (checks/nic.py) merged in, judged by the argv alone.

The argv parser returns structure and pairing only; tests that read a NIC's
``vhost``/``reason``/``state`` from an argv ask the judge, through this.
"""
from nodeaudit.checks import nic as _nic


def verdicts(result, source="argv"):
    out = []
    for n in result["nics"]:
        rec = _nic.judge_argv_nic(n, None, None, source, [])
        out.append(dict(n, vhost=rec["vhost"], reason=rec["reason"], state=rec["state"]))
    return out
