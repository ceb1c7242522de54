#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: audit one KVM compute node for vhost-net, in one round trip."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: compute_audit
short_description: Audit a KVM compute node for vhost-net (configured, available, used by every VM)
description:
  - Reads, in one invocation, what the node's VMs run with (the qemu argv in C(/proc/<pid>/cmdline), fds to
    C(/dev/vhost-net), vhost worker threads, the QEMU log), what the kernel offers (module loaded or built in,
    blacklist, C(install) blocks, the device node) and what the next boot will do (C(/etc/default/qemu-kvm),
    C(modules-load.d)), and reports each separately against a policy.
  - Read-only. It never changes the node; check mode returns the same audit.
  - "Live mode (I(root=/)): domains come from a read-only libvirt connection; when libvirt is unreachable the
    module falls back to libvirt's status files (C(/run/libvirt/qemu/*.xml)) and says so."
  - "Snapshot mode (any other I(root)): an extracted copy of a node is read with every path resolved inside
    I(root) and a size cap on every file; no libvirt connection is made."
version_added: "1.0.0"
author:
  - compute-audit maintainers
options:
  root:
    description:
      - The node's file system root. C(/) audits the live node; another directory audits a snapshot.
      - A snapshot archive written by C(collect.yml) (C(.tar.gz)) or a sosreport (C(.tar.xz), C(.tar.gz)) is
        checked (no path traversal, no links out, no device files, size caps) and extracted into a private
        temporary directory, audited, and removed.
    type: path
    default: /
  policy:
    description:
      - The policy (see C(policies/default.yml)); omitted keys take the shipped defaults.
      - The playbook validates and merges it on the controller before any host is touched; the module checks
        it again (the same validation) and records its digest.
    type: dict
  deployment:
    description:
      - The node's deployment shape (C(debian), C(charmed), C(sunbeam), C(kolla), C(tripleo), C(rhel),
        C(openstack-ansible)); unset detects it from what is on the node (reported in C(sources.deployment)).
    type: str
  libvirt_uri:
    description:
      - libvirt URI for the read-only connection (live mode only).
    type: str
    default: qemu:///system
  use_libvirt:
    description:
      - Set to C(false) to read libvirt's status files even when libvirt answers.
    type: bool
    default: true
  host_name:
    description:
      - The inventory name of the host, matched against the policy's host exemptions (the node's own
        hostname is matched too).
    type: str
  max_file_size:
    description:
      - Cap, in bytes, on every file read; a larger file is reported, not read.
    type: int
    default: 4194304
  log_tail_bytes:
    description:
      - How much of the end of each QEMU log is read.
    type: int
    default: 524288
  time_budget:
    description:
      - Seconds the node's reads may take; reads after that are not done and the checks they feed say
        C(error) or C(unknown), naming the budget. O(timeout) bounds the whole audit above this.
    type: float
    default: 240
  timeout:
    description:
      - Seconds the whole audit may take on the node (0, the default, sets no bound). The audit runs in a
        child process that is killed after that long, and the module fails saying the audit did not finish
        (a hung node, such as a blocked read or a stuck libvirtd). The role sets it to C(audit_timeout).
    type: float
    default: 0
attributes:
  check_mode:
    support: full
    details: Read-only; check mode returns the same audit.
  diff_mode:
    support: none
    details: It changes nothing, so there is no difference to show.
  platform:
    platforms: linux
notes:
  - Needs root (or read access to C(/proc/<pid>/fd) of the qemu processes) to see vhost fds.
  - Secrets in the qemu argv (VNC/SPICE passwords, C(-object secret) data) are redacted from all output.
"""

EXAMPLES = r"""
- name: Audit the node
  compute_audit:
    policy: "{{ audit_policy }}"
    host_name: "{{ inventory_hostname }}"
  register: result

- name: Audit an extracted snapshot of a node
  compute_audit:
    root: /srv/snapshots/compute-17
  delegate_to: localhost
"""

RETURN = r"""
duration_s:
  description: Seconds the audit took on the node.
  returned: success
  type: float
  sample: 0.042
audit:
  description: The audit of the node.
  returned: always
  type: dict
  contains:
    state:
      description: The worst check state (not_applicable < pass < warn < unknown < error < fail).
      type: str
      sample: fail
    checks:
      description: One entry per check with id, title, state, severity, expected, actual, reason, evidence.
      type: list
      elements: dict
    domains:
      description: Every domain with name, uuid, state, pid, needs_restart and its NICs
        (mac, model, backend, netdev, queues, vhost true/false/null, reason, evidence).
      type: list
      elements: dict
    sources:
      description: Where domains and processes were read from (libvirt, status_files or snapshot) and why.
      type: dict
    versions:
      description: Kernel, QEMU and libvirt versions where known.
      type: dict
    needs_restart:
      description: Names of the domains whose qemu must be started again to get vhost-net.
      type: list
      elements: str
    schema_version:
      description: Version of this result's shape.
      type: int
      sample: 1
    host:
      description: The hostname read on the node.
      type: str
    mode:
      description: C(live) or C(snapshot).
      type: str
    root:
      description: The root every path was read under.
      type: str
    kernel:
      description: What the kernel layer showed (vhost_net loaded, built in, /dev/vhost-net, blacklists,
        install blocks, boot loading, whether a qemu started now can get vhost-net and why not).
        Every field is in C(schemas/audit.schema.json).
      type: dict
    config:
      description: What C(/etc/default/qemu-kvm) showed (path, status, the value /bin/sh ends with, the line,
        whether /bin/sh can source it). Every field is in C(schemas/audit.schema.json).
      type: dict
    errors:
      description: Things that could not be read, said plainly.
      type: list
      elements: str
    policy:
      description: The effective (merged, validated) policy this node was judged against.
      type: dict
      contains:
        name:
          description: The policy's name.
          type: str
        digest:
          description: sha256 digest (16 hex digits) of the effective policy; equal to the controller's.
          type: str
          sample: "sha256:0123456789abcdef"
        expired_exemptions:
          description: Exemptions that would apply here but are past their expires date (not applied).
          type: list
          elements: dict
"""

import io
import json
import os
import select
import signal
import sys
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.warnings import get_deprecations, get_warnings
from ansible.module_utils.nodeaudit.sources.collect import collect
from ansible.module_utils.nodeaudit.sources.reader import RootRefused
from ansible.module_utils.nodeaudit.sources import archive, offline
from ansible.module_utils.nodeaudit.errors import PolicyError
from ansible.module_utils.nodeaudit.evaluate import evaluate
from ansible.module_utils.nodeaudit.policy import DEFAULT_POLICY, annotate, validate
from ansible.module_utils.nodeaudit.caps import limit_result
from ansible.module_utils.nodeaudit.module_args import limits_error, read_args
from ansible.module_utils.nodeaudit.redact import scrub


def exit_audit(module, **result):
    """``module.exit_json(**result)``, without the copy that cannot change anything here.

    exit_json runs ``remove_values`` over the whole result to strip the values of ``no_log``
    parameters, then its profile encoder. On a 1,000-domain node (a 3 MB result) that walk and
    copy cost about a quarter of the module's time (bench/README.md, ``module_vs_floor``), and this
    module has no ``no_log`` parameter. So when ``module.no_log_values`` is empty and nothing was
    warned or deprecated (those need Ansible's own encoder), the result is written as exit_json
    would write it: ``invocation`` added, a newline, the JSON, exit 0. Otherwise exit_json does it.
    tests/module/test_exit_audit.py compares both on the same result.
    """
    if module.no_log_values or get_warnings() or get_deprecations():
        module.exit_json(**result)
    result.setdefault("invocation", {"module_args": module.params})
    module.do_cleanup_files()
    text = json.dumps(result, separators=(",", ":"))
    for part in ("\n", text, "\n"):        # not "\n%s\n" % text: no second copy of a result of megabytes
        sys.stdout.write(part)
    sys.stdout.flush()
    sys.exit(0)


def watched(module, timeout, work):
    """Run ``work()`` (which ends the module: it prints the result and exits) in a forked child,
    and stop it after ``timeout`` seconds: a hung node ends as this module's own failure, saying so.

    Why not Ansible's ``async``: it bounds the task the same way (async_wrapper kills the job), but an
    async task is never pipelined, so every host pays extra round trips (bench/README.md: at 50 hosts
    43 s against 18.5 s). Here the bound costs one fork. The child's output goes through a pipe and is
    passed on whole once the child exits; on a timeout nothing of it is passed on.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: the audit itself, its stdout into the pipe
        code = 1
        try:
            os.close(read_fd)
            os.dup2(write_fd, 1)
            os.close(write_fd)
            # Whatever sys.stdout was (a capture, a wrapper), the child's output is fd 1: the pipe.
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="surrogateescape")
            work()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:                      # a crash: what Ansible prints as MODULE FAILURE
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
            finally:
                os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + timeout
    chunks, ended = [], False
    while not ended:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([read_fd], [], [], min(left, 1.0))
        if ready:
            data = os.read(read_fd, 1 << 20)
            if data:
                chunks.append(data)
            else:
                ended = True
    if not ended:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        module.fail_json(msg="the audit did not finish within audit_timeout=%gs and was stopped (a hung node: a "
                             "blocked read, a stuck file system, libvirtd or process)" % timeout, timed_out=True)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        out.write(b"".join(chunks))
        out.flush()
    else:  # pragma: no cover - a text-only stdout (tests capture it so)
        sys.stdout.write(b"".join(chunks).decode("utf-8", "replace"))
        sys.stdout.flush()
    sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)


def run_module():
    started = time.monotonic()
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            policy=dict(type="dict"),
            deployment=dict(type="str"),
            host_name=dict(type="str"),
            timeout=dict(type="float", default=0),
            **read_args()
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0:
        module.fail_json(msg="timeout must be 0 (no bound) or more seconds")
    if params["timeout"] > 0:
        watched(module, params["timeout"], lambda: audit(module, params, started))
    audit(module, params, started)


def audit(module, params, started):
    """The audit of one node, ended by exit_audit or fail_json (in the watched child when there is a timeout)."""
    if not os.path.isdir(params["root"]) and not archive.is_archive(params["root"]):
        module.fail_json(msg="root %s is not a directory, nor a snapshot or sosreport archive" % params["root"])
    try:
        policy = validate(params["policy"] if params["policy"] is not None else DEFAULT_POLICY)
    except PolicyError as exc:
        module.fail_json(msg="invalid policy: %s" % exc, key=exc.key)
    if limits_error(params):
        module.fail_json(msg=limits_error(params))
    try:
        if params["root"] != "/" and offline.is_offline(params["root"]):
            facts = offline.collect_offline(params["root"], max_bytes=params["max_file_size"],
                                            log_tail_bytes=params["log_tail_bytes"], budget=params["time_budget"])
        else:
            facts = collect(root=params["root"], libvirt_uri=params["libvirt_uri"], use_libvirt=params["use_libvirt"],
                            max_bytes=params["max_file_size"], log_tail_bytes=params["log_tail_bytes"],
                            budget=params["time_budget"], deployment_override=params["deployment"] or None)
    except RootRefused as exc:
        module.fail_json(msg=scrub(str(exc)))
    except archive.ArchiveError as exc:
        module.fail_json(msg=scrub("cannot audit %s: %s" % (params["root"], exc.message)))
    found = evaluate(facts, policy, host_name=params["host_name"])
    del facts       # the raw facts (the larger part of the module's memory) are not returned
    # The effective policy's digest and the expired exemptions it ignored.
    annotate(found, policy, [params["host_name"]] if params["host_name"] else [])
    # Everything that leaves the node goes through the one redactor and the one
    # text-safety function (nodeaudit.redact.scrub): evidence, reasons, names, errors.
    # And within the result size cap (caps.limit_result says what it left out).
    # duration_s: how long the audit took on the node (the JUnit testsuite's time).
    exit_audit(module, changed=False, audit=limit_result(scrub(found)), duration_s=round(time.monotonic() - started, 3))


def main():
    run_module()


if __name__ == "__main__":
    main()
