#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Documentation of the probe_report action (action_plugins/probe_report.py runs on the controller)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: probe_report
short_description: Join every node's VRRP capture into one timeline per instance, with the audit's verdicts
description:
  - An action plugin that runs once on the controller after C(vrrp_probe) ran on every node. It groups the
    members of each VRRP instance across hosts, builds one master timeline per instance, joins each member's
    NIC with its audit verdict, and writes C(probe.json), C(probe.md) and a Prometheus C(.prom) file.
version_added: "0.1.0"
author:
  - compute-audit maintainers
options:
  hosts:
    description: The hosts whose C(vrrp_probe) results (and audit results, when present) are joined.
    type: list
    elements: str
    required: true
  dest:
    description: The report directory.
    type: path
    required: true
  basename:
    description: The reports' base name.
    type: str
    default: probe
  policy:
    description: The policy (HA groups name the instances' members).
    type: dict
  fail_on:
    description: What makes the run exit nonzero (an instance that flapped or went late).
    type: list
    elements: str
  late_factor:
    description: An advert is late when its gap exceeds this many advertised intervals.
    type: float
    default: 1.5
  generated_at:
    description: The run's UTC time, written into the reports.
    type: str
  prometheus:
    description: Where to write the Prometheus text file (default C(<dest>/<basename>.prom)).
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Join the captures
  probe_report:
    hosts: "{{ ansible_play_hosts_all }}"
    dest: reports
"""

RETURN = r"""
files:
  description: The reports written.
  returned: always
  type: list
  elements: str
"""
