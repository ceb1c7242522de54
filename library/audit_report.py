#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Documentation of the audit_report action (action_plugins/audit_report.py runs on the controller)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: audit_report
short_description: Aggregate every host's compute_audit result and write the fleet reports
description:
  - An action plugin that runs once, on the controller. It builds the fleet report from every host's
    registered C(compute_audit) result and writes C(<basename>.json) (schemas/audit.schema.json),
    C(<basename>.xml) (JUnit, valid against the Jenkins xunit schema) and C(<basename>.md) atomically;
    optionally the Prometheus text exposition for node_exporter's textfile collector.
  - A partial (C(--limit)) run writes C(<basename>-partial.*) unless I(partial_overwrite).
  - The report it replaces is kept as C(<basename>.previous.json) and the new one says what changed (C(changes)).
version_added: "0.1.0"
author:
  - compute-audit maintainers
options:
  hosts:
    description: Inventory names of the hosts in the report, in order.
    type: list
    elements: str
    required: true
  results_var:
    description: The variable each host registered its compute_audit result in.
    type: str
    default: audit_result
  dest:
    description: The directory the reports go to.
    type: path
    required: true
  basename:
    description: File name of the reports without suffix.
    type: str
    default: audit
  policy_name:
    description: The base policy's name.
    type: str
  policy_digest:
    description: The base policy's digest.
    type: str
  generated_at:
    description: When the report is made (UTC, ISO 8601 with Z).
    type: str
  started_at:
    description: When the audit started (Unix time), for the run's duration.
    type: float
  fail_on:
    description: The states that are drift for the gate.
    type: list
    elements: str
    default: [fail, error, unknown, unreachable]
  limit:
    description: The C(--limit) of the run, if any.
    type: str
  hosts_group:
    description: The inventory group audited.
    type: str
  hosts_in_inventory:
    description: How many hosts that group has in the inventory.
    type: int
  summary:
    description: The terminal summary.
    type: str
    choices: [full, short, none]
    default: full
  partial_overwrite:
    description: Let a partial run replace C(<basename>.*) (and the Prometheus file).
    type: bool
    default: false
  markdown_budget:
    description: Bytes the Markdown may take before it keeps only the hosts with findings.
    type: int
    default: 921600
  prometheus:
    description: A directory (C(compute_audit.prom) in it) or a C(.prom) file for the Prometheus text exposition.
    type: path
  prometheus_per_host:
    description: Return each reachable host's own Prometheus text as C(host_prometheus).
    type: bool
    default: false
  expose_doc:
    description: Set the fleet document as the fact C(audit_doc) (the fix's planner reads it).
    type: bool
    default: false
attributes:
  check_mode:
    support: none
    details: The reports are written in check mode too (the task sets C(check_mode=false)); nothing on a node changes.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Aggregate the fleet and write the reports
  audit_report:
    hosts: "{{ ansible_play_hosts_all }}"
    dest: /var/lib/compute-audit/reports
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: The files written.
  returned: success
  type: list
  elements: str
table:
  description: The fleet table for the terminal (null with I(summary=none)).
  returned: success
  type: str
summary:
  description: The report's C(summary) (hosts, hosts_by_state, failing_hosts_by_check, ...).
  returned: success
  type: dict
gate:
  description: The gate's verdict, C({drift, reasons, hosts}).
  returned: success
  type: dict
partial:
  description: Whether the run was partial.
  returned: success
  type: bool
host_drift:
  description: Per host, why it is drift for the gate (empty list when it is not).
  returned: success
  type: dict
host_state:
  description: Per host, its state.
  returned: success
  type: dict
host_reason:
  description: Per host, the reason of an unreachable or failed host.
  returned: success
  type: dict
host_prometheus:
  description: Per reachable host, its own Prometheus text (with I(prometheus_per_host)).
  returned: when prometheus_per_host
  type: dict
changes:
  description: What changed since the previous report (see schemas/audit.schema.json).
  returned: success
  type: dict
audit_exit_status:
  description: On failure, the exit status the audit_exit callback ends the run with (5 options, 6 reports not written).
  returned: failure
  type: int
"""
