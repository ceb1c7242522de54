#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: restart ONE libvirt domain's qemu process (destroy + start) and prove it.

Why not community.libvirt.virt: its C(state: destroyed) then C(state: running)
starts every domain running (it has no start-paused, so a paused domain would
come back running), and it reports neither the old nor the new qemu pid, so a
playbook cannot prove a new process started (which is the whole point: vhost-net
is opened only by a new qemu process). This module does destroy + start with
C(VIR_DOMAIN_START_PAUSED) for a paused domain and returns both pids from
libvirt's live status file.

This is the only code of the project that opens a read-write libvirt connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: domain_restart
short_description: Restart one libvirt domain's qemu process (destroy + start), keeping a paused domain paused
description:
  - Stops the domain's qemu process (C(virDomainDestroy)) and starts the domain again, so it runs in a B(new)
    qemu process. A running VM gets vhost-net only in a new process; C(virsh reboot) keeps the same process.
  - A domain that was paused is started paused (C(VIR_DOMAIN_START_PAUSED)); a running one is started running.
    A transient domain (not persistent) is re-created from its live XML, saved before the destroy.
  - Reads the qemu pid before and after from libvirt's live status file (C(/run/libvirt/qemu/<name>.xml),
    C(<domstatus pid=...>)) and fails when the pid did not change, the new process is not there, or the
    domain is not back in its previous state.
  - Refuses to destroy a domain whose current pid it cannot read (the restart could not be proven).
  - "Why not C(community.libvirt.virt): it cannot start a domain paused and does not report the qemu pid."
  - Check mode reports what would be done (old pid, state, the steps) without touching the domain.
version_added: "1.0.0"
author:
  - compute-audit maintainers
options:
  name:
    description:
      - The libvirt domain name.
    type: str
    required: true
  uri:
    description:
      - libvirt URI of the read-write connection.
    type: str
    default: qemu:///system
  timeout:
    description:
      - Seconds to wait, after the start, for the new pid and the previous state.
    type: int
    default: 30
  graceful_timeout:
    description:
      - When over 0, a running domain is first shut down gracefully (C(virDomainShutdown), the ACPI power
        button, so a keepalived master in it sends its priority-0 advert and hands over), and destroyed only
        if it is not off after this many seconds. 0 destroys at once. A paused domain is always destroyed.
    type: int
    default: 0
  status_dir:
    description:
      - Directory of libvirt's live status files.
    type: path
    default: /run/libvirt/qemu
requirements:
  - libvirt-python (C(python3-libvirt)) on the node
  - root (or a libvirt account allowed to manage domains) on the node
attributes:
  check_mode:
    support: full
    details: Reports the domain's state and pid now, restarts nothing.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - The guest is stopped hard, as a power cut (the same as a nova hard reboot). Plan restarts with the
    playbook's restart plan (HA groups, waves), not one by one by hand.
  - Supports check mode.
seealso:
  - module: community.libvirt.virt
"""

EXAMPLES = r"""
- name: Restart keepalived-lb01's qemu process
  domain_restart:
    name: keepalived-lb01
  become: true
  register: restarted

- name: Show the new pid
  ansible.builtin.debug:
    msg: "{{ restarted.old_pid }} -> {{ restarted.new_pid }} ({{ restarted.state }})"
"""

RETURN = r"""
name:
  description: The domain name.
  returned: always
  type: str
  sample: keepalived-lb01
uuid:
  description: The domain UUID.
  returned: when the domain was found
  type: str
persistent:
  description: Whether the domain is defined (persistent) or transient.
  returned: when the domain was found
  type: bool
previous_state:
  description: The domain state before (running, paused, blocked, shutoff, ...).
  returned: when the domain was found
  type: str
  sample: paused
state:
  description: The domain state after the restart (in check mode, the state now).
  returned: when the domain was found
  type: str
  sample: paused
old_pid:
  description: The qemu pid before, from the live status file.
  returned: when the domain was found
  type: int
  sample: 2948
new_pid:
  description: The qemu pid after, from the live status file (null in check mode).
  returned: always
  type: int
  sample: 3410
started_at:
  description: UTC time (ISO 8601) when the module began.
  returned: always
  type: str
finished_at:
  description: UTC time (ISO 8601) when the module ended.
  returned: always
  type: str
seconds:
  description: Duration of the restart in seconds.
  returned: always
  type: float
stop:
  description: How the old process ended, C(destroy), C(graceful) (the guest powered off by itself) or
    C(graceful_timeout) (it did not within O(graceful_timeout) and was destroyed).
  returned: always
  type: str
actions:
  description: What was done (or, in check mode, would be done), in order, with times.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.nodeaudit.actions.restart import RestartError, restart_domain

try:
    import libvirt
except ImportError:  # reported by the module, not at import time
    libvirt = None


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            uri=dict(type="str", default="qemu:///system"),
            timeout=dict(type="int", default=30),
            status_dir=dict(type="path", default="/run/libvirt/qemu"),
            graceful_timeout=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if libvirt is None:
        module.fail_json(msg="libvirt-python is not installed on the node (apt install python3-libvirt)",
                         name=params["name"])
    if params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second", name=params["name"])
    libvirt.registerErrorHandler(lambda *args: None, None)
    try:
        conn = libvirt.open(params["uri"])
    except libvirt.libvirtError as exc:
        module.fail_json(msg="cannot open a read-write libvirt connection to %s: %s" % (params["uri"], exc),
                         name=params["name"])
    try:
        result = restart_domain(conn, libvirt, params["name"], status_dir=params["status_dir"],
                                timeout=float(params["timeout"]), check_mode=module.check_mode,
                                graceful_timeout=max(0, params["graceful_timeout"]))
    except RestartError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    finally:
        try:
            conn.close()
        except Exception:  # closing is best effort; the result is already known
            pass
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
