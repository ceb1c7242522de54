#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: capture what the vhost-net audit reads on one node, as a snapshot archive."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: node_collect
short_description: Capture a node's vhost-net evidence (what compute_audit reads) into a snapshot archive
description:
  - Runs the audit's own collector on the node through a recording reader and packs exactly what it read
    (files, the C(/proc) entries of the qemu processes with their fd link targets and thread names,
    libvirt's status and definition files, the tails of the QEMU logs) into a C(.tar.gz) with a
    C(MANIFEST.json) (what was read, what was missing and why, the node's versions).
  - Same confinement and size caps as M(compute_audit). Secrets are redacted at capture with the reports' rules.
  - Read-only. Nothing is written on the node; the archive is returned base64-encoded and the
    C(node_collect) action plugin writes it on the controller as I(dest)/<host>-<UTC time>.tar.gz.
    Check mode collects the same way.
version_added: "1.0.0"
author:
  - compute-audit maintainers
options:
  dest:
    description:
      - Directory on the controller for the archive (used by the action plugin).
    type: path
    default: snapshots
  libvirt_uri:
    description:
      - libvirt URI for the read-only connection.
    type: str
    default: qemu:///system
  use_libvirt:
    description:
      - Set to C(false) to read libvirt's status files even when libvirt answers.
    type: bool
    default: true
  max_file_size:
    description:
      - Cap, in bytes, on every file read; a larger file is recorded as not read.
    type: int
    default: 4194304
  log_tail_bytes:
    description:
      - How much of the end of each QEMU log is read.
    type: int
    default: 524288
  time_budget:
    description:
      - Seconds the node's reads may take (as for M(compute_audit)); reads after that are not done and the
        manifest names them.
    type: float
    default: 240
  max_archive:
    description:
      - Cap, in bytes, on the archive's content; files past it are left out and named in the manifest.
    type: int
    default: 67108864
notes:
  - Needs root (or read access to C(/proc/<pid>/fd) of the qemu processes), like M(compute_audit).
"""

EXAMPLES = r"""
- name: Capture the node's evidence into snapshots/ on the controller
  node_collect:
    dest: "{{ playbook_dir }}/../snapshots"
"""

RETURN = r"""
path:
  description: Where the action plugin wrote the archive on the controller.
  returned: always
  type: str
manifest:
  description: The archive's manifest (host, collected_at, versions, read, missing, notes).
  returned: always
  type: dict
archive_b64:
  description: The archive, base64 (removed by the action plugin once written).
  returned: when the module runs without its action plugin
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.nodeaudit.module_args import limits_error, read_args
from ansible.module_utils.nodeaudit.sources import snapshot


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", default="snapshots"),
            max_archive=dict(type="int", default=snapshot.DEFAULT_MAX_ARCHIVE),
            **read_args()
        ),
        supports_check_mode=True,
    )
    params = module.params
    if limits_error(params) or params["max_archive"] < 65536:
        module.fail_json(msg=limits_error(params) or "max_archive must be at least 65536 bytes")
    data, manifest = snapshot.capture(libvirt_uri=params["libvirt_uri"], use_libvirt=params["use_libvirt"],
                                     max_bytes=params["max_file_size"], log_tail_bytes=params["log_tail_bytes"],
                                     max_archive=params["max_archive"], budget=params["time_budget"])
    module.exit_json(changed=False, manifest=manifest, archive_b64=snapshot.encode(data), archive_bytes=len(data))


def main():
    run_module()


if __name__ == "__main__":
    main()
