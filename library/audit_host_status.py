#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Documentation of the audit_host_status action (action_plugins/audit_host_status.py runs on the controller)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: audit_host_status
short_description: Give a host the Ansible status that tells the truth about its audit
description:
  - An action plugin that runs on the controller for every host, after the reports are written, without
    connecting to the host. It fails a host that drifts by the gate (or, after C(--tags fix), one where drift
    is left that the fix could have fixed), marks a host that did not answer the audit C(unreachable), and
    leaves a clean host C(ok) with a plain statement of what is left.
version_added: "0.1.0"
author:
  - compute-audit maintainers
options:
  result:
    description: The host's registered compute_audit result.
    type: raw
  fail_on:
    description: The states that are drift for the gate.
    type: list
    elements: str
    default: [fail, error, unknown, unreachable]
  gate:
    description: Whether drift fails the host (C(audit_fail_on_drift)).
    type: bool
    default: true
  mode:
    description: C(audit), or C(fix) after C(--tags fix).
    type: str
    choices: [audit, fix]
    default: audit
  policy:
    description: The host's effective policy (the fix mode asks what the fix would still change).
    type: dict
  kernel_cannot_provide:
    description: The fix found that the kernel has no vhost_net module.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: In check mode after C(--tags fix) it says what the fix would change instead of failing.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Host status
  audit_host_status:
    result: "{{ audit_result | default(None) }}"
"""

RETURN = r"""
msg:
  description: The host's verdict in one line.
  returned: always
  type: str
unreachable:
  description: Set when the host did not answer the audit.
  returned: when unreachable
  type: bool
audit_gate:
  description: For an unreachable host, whether the gate counts it (the audit_exit callback exits 0 when not).
  returned: when unreachable
  type: bool
"""
