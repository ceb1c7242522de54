#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: set VHOST_NET_ENABLED=1 in /etc/default/qemu-kvm, editing that assignment and nothing else.

Why not ansible.builtin.lineinfile (issue 14, point 7): lineinfile replaces
whole lines matched by a regular expression, and a shell file is not lines:
- ``VHOST_NET_ENABLED=0; KSM_ENABLED=0 KVM_HUGEPAGES=1`` became
  ``VHOST_NET_ENABLED=1``: two settings deleted;
- ``KSM_ENABLED=1 VHOST_NET_ENABLED=0`` did not match ``^VHOST_NET_ENABLED=``:
  nothing changed, and the role still said "0 -> 1";
- with ``backup: true`` an edit that failed (an immutable file) left a stray
  backup next to the file.
This module finds the assignment ``/bin/sh`` keeps (the last one, through the
project's shell-exact parser, nodeaudit.parsers.shellvars, which gives the
word's span), replaces that one word with ``VHOST_NET_ENABLED=1`` and keeps
every other byte of the file; it re-parses the result and refuses unless the
only variable that changed is VHOST_NET_ENABLED, now ``1``. The new file is
written next to the old one and renamed over it (atomic); the backup is
written first and removed again when the rename fails, so a failed edit
leaves the file and its directory exactly as they were. (Not
AnsibleModule.atomic_move: on failure it ends the module itself, before the
backup could be removed.)

A symbolic link (``/etc/default/qemu-kvm -> /etc/qemu/qemu-kvm.conf``, as
configuration management makes them): the link's target is edited, the link
is kept, and the backup sits next to the target; a dangling link is refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vhost_net_config
short_description: Set VHOST_NET_ENABLED=1 in a shell defaults file, changing only that assignment
description:
  - Edits the assignment of C(VHOST_NET_ENABLED) that C(/bin/sh) keeps when it sources the file (the last one)
    and nothing else on its line or in the file (C(KSM_ENABLED=1 VHOST_NET_ENABLED=0) becomes
    C(KSM_ENABLED=1 VHOST_NET_ENABLED=1); C(VHOST_NET_ENABLED=0; KSM_ENABLED=0) keeps C(KSM_ENABLED=0)).
  - Refuses (changes nothing) when the file cannot be sourced by C(/bin/sh), holds NUL bytes, sets the key only at
    run time or inside a compound command, or when the edit would change any other variable.
  - "A symbolic link is followed: its target is edited and the link kept; a dangling link is refused."
  - The backup (C(backup=true)) is written before the file is replaced and removed again when replacing fails,
    so a failed edit leaves nothing behind.
  - Check mode and diff mode show the change without making it.
version_added: "1.0.0"
author:
  - compute-audit maintainers
options:
  path:
    description: The file (normally C(/etc/default/qemu-kvm)).
    type: path
    required: true
  backup:
    description: Keep the previous file next to the edited one (C(<file>.<pid>.<timestamp>~)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Set VHOST_NET_ENABLED=1
  vhost_net_config:
    path: /etc/default/qemu-kvm
  become: true
"""

RETURN = r"""
before:
  description: The value /bin/sh read before (null when the key was not set).
  returned: always
  type: str
after:
  description: The value /bin/sh reads after the edit (C(1) when changed or already right).
  returned: always
  type: str
line:
  description: The line of the edited assignment.
  returned: when an assignment was found
  type: int
edited:
  description: The file really written (the target of a symbolic link).
  returned: always
  type: str
backup_file:
  description: The backup of the previous file.
  returned: when changed and backup is true
  type: str
msg:
  description: What really changed, in words.
  returned: always
  type: str
"""

import datetime
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.nodeaudit.errors import ParseError
from ansible.module_utils.nodeaudit.parsers import shellvars

KEY = "VHOST_NET_ENABLED"
WANT = "1"


def plan_edit(text):
    """The new text, or raise ValueError saying why the file is not edited. Pure.

    >>> plan_edit("A=1 VHOST_NET_ENABLED=0 # c\\n")[0]
    'A=1 VHOST_NET_ENABLED=1 # c\\n'
    """
    if "\x00" in text:
        raise ValueError("the file holds NUL bytes: not a shell defaults file, not edited")
    try:
        before = shellvars.parse_shell_assignments(text)
    except ParseError as exc:
        raise ValueError("/bin/sh cannot source the file (%s): not edited" % exc)
    last = None
    for item in before["assignments"]:
        if item["name"] == KEY:
            last = item
    if KEY in (before.get("uncertain") or {}):
        raise ValueError("%s is decided at run time or inside a compound command (%s): not edited, set it by hand"
                         % (KEY, before["uncertain"][KEY]))
    if last is None or not last.get("span"):
        raise ValueError("the file does not assign %s: nothing to edit" % KEY)
    if before["vars"].get(KEY) == WANT:
        return text, before, last
    start, end = last["span"]
    new = text[:start] + "%s=%s" % (KEY, WANT) + text[end:]
    after = shellvars.parse_shell_assignments(new)
    changed = sorted(k for k in set(before["vars"]) | set(after["vars"])
                     if before["vars"].get(k) != after["vars"].get(k))
    if after["vars"].get(KEY) != WANT or changed != [KEY] or \
            set(after.get("uncertain") or {}) != set(before.get("uncertain") or {}):
        raise ValueError("the edit would change more than %s (%s): not edited" % (KEY, ", ".join(changed) or "-"))
    return new, before, last


def _shown(value, quote=True):
    """A value for the message: as it is when plain, else in Python quoting (CR, spaces, empty)."""
    if value is None:
        return "unset"
    plain = value and all(c.isalnum() or c in "_-.:/=;# " for c in value) and (not quote or " " not in value)
    return value if plain else repr(value)


def _backup_name(path):
    stamp = datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")
    return "%s.%d.%s~" % (path, os.getpid(), stamp)


def _write_like(path, data, like):
    """A temporary file next to ``path`` holding ``data`` with the mode and owner of ``like``."""
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, like.st_mode & 0o7777)
        try:
            os.chown(tmp, like.st_uid, like.st_gid)
        except OSError:
            pass
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def run_module():
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True),
                                              backup=dict(type="bool", default=True)),
                           supports_check_mode=True)
    path = module.params["path"]
    result = dict(changed=False, before=None, after=None, edited=path)
    if os.path.islink(path) and not os.path.exists(path):
        module.fail_json(msg="%s is a dangling symbolic link (-> %s): not edited" % (path, os.readlink(path)),
                         **result)
    real = os.path.realpath(path)
    result["edited"] = real
    try:
        st = os.stat(real)
        if not os.path.isfile(real):
            module.fail_json(msg="%s is not a regular file: not edited" % real, **result)
        with open(real, "rb") as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (real, exc), **result)
    text = raw.decode("utf-8", "surrogateescape")
    try:
        new, parsed, item = plan_edit(text)
    except ValueError as exc:
        module.fail_json(msg="%s: %s" % (real, exc), **result)
    result.update(before=parsed["vars"].get(KEY), line=item.get("line"))
    where = real if real == path else "%s (the target of %s)" % (real, path)
    if new == text:
        result.update(after=WANT, msg="%s=%s already at line %s of %s: nothing changed"
                      % (KEY, WANT, item.get("line"), where))
        module.exit_json(**result)
    result.update(changed=True, after=WANT)
    old_line = text.split("\n")[item["line"] - 1] if item.get("line") else ""
    new_line = new.split("\n")[item["line"] - 1] if item.get("line") else ""
    if module._diff:
        result["diff"] = dict(before=text, after=new, before_header=real, after_header=real)
    msg = "%s: %s -> 1 at line %s of %s (the line now reads: %s)" % (
        KEY, _shown(parsed["vars"].get(KEY)), item.get("line"), where, _shown(new_line.strip(), quote=False))
    if module.check_mode:
        result["msg"] = "would set " + msg
        module.exit_json(**result)
    backup = None
    tmp = None
    try:
        tmp = _write_like(real, new.encode("utf-8", "surrogateescape"), st)
        if module.params["backup"]:
            backup = _backup_name(real)
            with open(backup, "wb") as handle:
                handle.write(raw)
            os.chmod(backup, st.st_mode & 0o7777)
        os.rename(tmp, real)
        tmp = None
    except (IOError, OSError) as exc:
        if tmp:
            _unlink(tmp)
        if backup:
            _unlink(backup)
        result.update(changed=False, after=parsed["vars"].get(KEY))
        module.fail_json(msg="%s not changed (%s is still %r, no backup left): %s"
                         % (where, KEY, parsed["vars"].get(KEY), exc), **result)
    if backup:
        result["backup_file"] = backup
        msg += " (backup %s)" % backup
    result["msg"] = msg
    result["line_before"] = old_line
    result["line_after"] = new_line
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
