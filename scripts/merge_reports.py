#!/usr/bin/env python3
"""Merge the audit.json of several runs (AWX/AAP job slices, regions) into one
fleet report: audit.json, audit.xml and audit.md, the summary recomputed.

    python3 scripts/merge_reports.py slice-1/audit.json slice-2/audit.json -o reports/merged

Refuses reports of different schema versions or base policies (name and
digest), and slices whose effective policies differ: every audited host's
entry carries the digest of the merged policy it was judged against
(``policy.digest``); a host in two slices under two effective policies is
refused even with --last-wins, and so is a mix of slices with and without
those digests (nothing to compare). A fleet judged against two policies is two
reports, not one. A host present in more than one input is an error unless
--last-wins.
Exit status: 0 merged, 2 drift in the merged fleet (the same gate as the
playbook's default), 1 bad input.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "module_utils"))

from nodeaudit.controller import report  # noqa: E402
from nodeaudit.controller.report_files import ReportWriteError, write_reports  # noqa: E402


def _effective_digest(entry):
    """The digest of the effective policy a host was judged against (None: not audited, or an older report)."""
    return ((entry or {}).get("policy") or {}).get("digest") if isinstance((entry or {}).get("policy"), dict) \
        else None


def _check_effective_policies(docs):
    seen = {}
    carries = []
    for number, doc in enumerate(docs, 1):
        digests = [_effective_digest(e) for e in doc["hosts"].values() if (e or {}).get("checks")]
        carries.append(any(d is not None for d in digests) if digests else None)
        for name, entry in doc["hosts"].items():
            digest = _effective_digest(entry)
            if digest is None:
                continue
            if name in seen and seen[name][0] != digest:
                raise ValueError("host %s was judged under two effective policies (%s in report %d, %s in report %d)"
                                 % (name, seen[name][0], seen[name][1], digest, number))
            seen[name] = (digest, number)
    known = set(c for c in carries if c is not None)
    if len(known) > 1:
        raise ValueError("some reports record each host's effective policy digest and others do not: cannot tell "
                         "that the slices were judged under the same policies")


def merge(docs, last_wins=False):
    """The merged fleet document, or ValueError saying why the inputs do not merge."""
    if not docs:
        raise ValueError("nothing to merge")
    first = docs[0]
    hosts = {}
    order = []
    _check_effective_policies(docs)
    for doc in docs:
        if doc.get("schema_version") != first.get("schema_version"):
            raise ValueError("schema_version %r differs from %r" % (doc.get("schema_version"),
                                                                    first.get("schema_version")))
        if doc.get("policy") != first.get("policy"):
            raise ValueError("policy %r differs from %r" % (doc.get("policy"), first.get("policy")))
        for name, entry in doc["hosts"].items():
            if name in hosts and not last_wins:
                raise ValueError("host %s is in more than one report (use --last-wins)" % name)
            if name not in hosts:
                order.append(name)
            hosts[name] = entry
    generated = max(d.get("generated_at") or "" for d in docs)
    return report.build(hosts, first["policy"]["name"], first["policy"]["digest"], generated, host_order=order)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", help="audit.json files")
    parser.add_argument("-o", "--output", required=True, help="directory for the merged audit.json/.xml/.md")
    parser.add_argument("--last-wins", action="store_true", help="a host in several reports takes the last one")
    args = parser.parse_args(argv)
    try:
        docs = []
        for path in args.reports:
            with open(path) as handle:
                docs.append(json.load(handle))
        merged = merge(docs, last_wins=args.last_wins)
    except (OSError, ValueError, KeyError) as exc:
        print("merge_reports: %s" % exc, file=sys.stderr)
        return 1
    try:
        write_reports(merged, args.output)
    except ReportWriteError as exc:
        print("merge_reports: %s" % exc.strerror, file=sys.stderr)
        return 1
    print(report.table(merged))
    gate = report.gate(merged)
    return 2 if gate["drift"] else 0


if __name__ == "__main__":
    sys.exit(main())
