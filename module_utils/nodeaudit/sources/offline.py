"""Audit evidence that is not a live node: a collected snapshot archive, a sosreport, or their directories.

``collect_offline(path)`` opens the path (sources/archive.py extracts an
archive safely into a private temporary directory), recognises what it is,
and returns the same facts ``collect.collect`` returns for a node:

- a sosreport (``sos_commands/`` plus ``sos_logs/`` / ``sos_reports/`` /
  ``version.txt``): sources/sosreport.py reads what sos keeps;
- anything else: a copy of a node (a snapshot written by ``collect.yml``
  carries ``MANIFEST.json``, whose host, time and versions are reported).
"""
import os

from . import archive, snapshot
from . import collect as collect_mod


def is_offline(path):
    """Does ``path`` need this module (an archive, or a sosreport directory)?"""
    if os.path.isdir(path):
        return archive.looks_like_sosreport(path)
    return archive.is_archive(path)


def collect_offline(path, max_bytes=None, log_tail_bytes=collect_mod.LOG_TAIL_BYTES, tmp_dir=None, budget=None):
    """Facts from an archive or a directory; raises ``archive.ArchiveError`` when an archive is refused."""
    from . import sosreport
    with archive.opened_root(path, tmp_dir=tmp_dir, select=sosreport.selection) as (root, info):
        if archive.looks_like_sosreport(root):
            facts = sosreport.collect(root, max_bytes=max_bytes, log_tail_bytes=log_tail_bytes, budget=budget)
            kind = "sosreport"
        else:
            facts = collect_mod.collect(root=root, use_libvirt=False, max_bytes=max_bytes,
                                        log_tail_bytes=log_tail_bytes, budget=budget)
            kind = "snapshot"
        manifest = snapshot.read_manifest(root)
        _relabel(facts, root, path)
    sources = facts.setdefault("sources", {})
    sources["offline"] = {"kind": kind, "path": path, "archive": bool(info.get("archive")),
                          "skipped": info.get("skipped") or []}
    for skipped in info.get("skipped") or []:
        facts.setdefault("errors", []).append("%s in %s: %s" % (skipped["name"], path, skipped["reason"]))
    if manifest is not None:
        sources["offline"].update(collected_at=manifest.get("collected_at"), collected_host=manifest.get("host"))
        versions = facts.setdefault("versions", {})
        for key, value in (manifest.get("versions") or {}).items():
            if value and not versions.get(key):
                versions[key] = value
        sources["domains_reason"] = ("snapshot collected from %s at %s (domains then came from %s): no libvirt "
                                     "connection now" % (manifest.get("host"), manifest.get("collected_at"),
                                                         (manifest.get("sources") or {}).get("domains")))
    return facts


def _relabel(obj, temp_root, path):
    """Say the archive's path where the temporary directory would show."""
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = _relabel(obj[key], temp_root, path)
        return obj
    if isinstance(obj, list):
        return [_relabel(v, temp_root, path) for v in obj]
    if isinstance(obj, str) and temp_root in obj:
        return obj.replace(temp_root, path)
    return obj
