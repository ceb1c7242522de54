"""Security properties of the audit (issue 6, part 3).

(a) No secret from the node reaches the result, the module output or any report,
    and evidence excerpts are capped.
(b) In snapshot mode nothing outside ``root`` is read, whatever the symlinks say.
(c) Static checks over the repository: no shell, read-only libvirt, `become`
    only where something changes.
"""
import ast
import builtins
import glob
import json
import os
import re

import pytest
import yaml

from robust_tools import MAC_A, PID_A, PID_B, QEMU_DEFAULT, REPO, checks_of, domains_of, snapgen
from nodeaudit.controller import report
from nodeaudit.textsafe import EXCERPT

# ------------------------------------------------------------------ (a) secrets

SPICE_PW = "S3cr3tSp1ce"
VNC_PW = "Vnc-Gr4phics-Pw"
OBJ_DATA = "T2JqZWN0U2VjcmV0RGF0YQ"
OBJ_IV = "SXZTZWNyZXRWYWx1ZQ"
JSON_DATA = "SnNvblNlY3JldERhdGE"
DRIVE_PW = "Dr1veP4ssw0rd"
NETDEV_PW = "N3tdevP4ss"
TRUNC_PW = "Trunc4tedJs0nPw"
XML_SECRET = "WG1sU2VjcmV0VmFsdWU"
LOG_PW = "L0gF1lePassw0rd"
LOG_DATA = "TG9nT2JqZWN0RGF0YQ"
SECRETS = (SPICE_PW, VNC_PW, OBJ_DATA, OBJ_IV, JSON_DATA, DRIVE_PW, NETDEV_PW, TRUNC_PW, XML_SECRET, LOG_PW,
           LOG_DATA)
# An evidence string is at most EXCERPT characters plus the "...[N more chars]" marker.
EVIDENCE_MAX = EXCERPT + len("...[1000000 more chars]")


def _secret_argv(argv, netdev_extra=None):
    out = list(argv)
    out += ["-spice", "port=5900,addr=127.0.0.1,password=%s,seamless-migration=on" % SPICE_PW,
            "-object", "secret,id=sec1,data=%s,keyid=masterKey0,iv=%s,format=base64" % (OBJ_DATA, OBJ_IV),
            "-object", json.dumps({"qom-type": "secret", "id": "sec2", "data": JSON_DATA, "format": "base64"}),
            "-drive", "file=iscsi://10.0.0.1/iqn.2026-01.x:t/1,if=none,id=drive0,user=admin,password=%s" % DRIVE_PW,
            # A second -netdev, cut short (truncated read): its excerpt lands in the evidence.
            "-netdev", '{"type":"tap","id":"hostnet7","password":"%s' % TRUNC_PW]
    if netdev_extra:
        out = [a + netdev_extra if a.startswith("tap,") and "id=hostnet0" in a else a for a in out]
    return out


def _secret_xml(xml):
    xml = xml.replace("passwd='vnc-secret-", "passwd='%s-" % VNC_PW)
    xml = xml.replace("<devices>", "<devices>\n    <graphics type='spice' autoport='yes' passwd='%s'/>\n"
                                   "    <disk type='network'><auth username='admin'><secret type='iscsi' "
                                   "usage='%s'/></auth></disk>" % (VNC_PW, XML_SECRET))
    return xml.replace("</domain>", "  <secret ephemeral='no' private='yes'><value>%s</value></secret>\n</domain>"
                       % XML_SECRET)


LOG = """\
2026-11-20 10:00:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0, kernel: 5.4.0-97-generic, hostname: compute-robust
LC_ALL=C \\
LIBVIRT_PASSWORD=%(pw)s \\
/usr/bin/qemu-system-x86_64 \\
-name guest=vm-log,debug-threads=on \\
-accel kvm \\
-uuid 6a1b7c2e-0000-4000-8000-000000000003 \\
-object secret,id=s9,data=%(data)s,format=base64 \\
-spice port=5901,password=%(pw)s \\
-netdev tap,fd=30,id=hostnet0,vhost=on,vhostfd=31 \\
-device virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:03:01
2026-11-20T10:00:01.000000Z qemu-system-x86_64: -netdev tap,fd=30,id=hostnet0,vhost=on,vhostfd=31,password=%(pw)s: vhost-net requested but could not be initialized
""" % {"pw": LOG_PW, "data": LOG_DATA}


@pytest.fixture
def secret_node(node):
    """A node whose argv, domain XML and QEMU log all carry secrets (and a few very long values)."""
    vm_log = snapgen._dom("vm-log", 3, 1103, [snapgen._nic("52:54:00:00:03:01", syntax="keyval", vhost=True)],
                          proc=False, log=LOG)
    n = node(domains=BASE_DOMAINS() + [vm_log],
             qemu_kvm="VHOST_NET_ENABLED=0 # %s\n" % ("x" * 3000))
    for dom in n.spec["domains"]:
        for status, where in ((False, "/etc/libvirt/qemu/%s.xml"), (True, "/run/libvirt/qemu/%s.xml")):
            n.write(where % dom["name"], _secret_xml(snapgen.domain_xml(dom, status=status)))
    n.write_argv(PID_A, _secret_argv(n.argv("vm-a")) + ["-netdev", "tap,id=long,ifname=%s" % ("t" * 4000)])
    n.write_argv(PID_B, _secret_argv(n.argv("vm-b"), netdev_extra=",passwd=%s" % NETDEV_PW))
    return n


def BASE_DOMAINS():
    from robust_tools import BASE
    return [dict(d) for d in BASE["domains"]]


def _all_strings(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _all_strings(key)
            yield from _all_strings(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _all_strings(value)
    elif isinstance(obj, str):
        yield obj


def _reports(result):
    doc = report.build({"compute-robust": report.host_entry({"audit": result, "changed": False})},
                       "default", "sha256:0000", "2026-11-20T10:00:00Z")
    return {"json": report.to_json(doc), "junit": report.junit(doc), "markdown": report.markdown(doc),
            "table": report.table(doc)}


def test_the_secret_node_is_really_audited(secret_node):
    """The secrets sit where the audit looks: the argv it judges, the XML it parses, the log it reads."""
    result = secret_node.audit()
    doms = domains_of(result)
    assert set(doms) == {"vm-a", "vm-b", "vm-log"}
    assert [n["vhost"] for n in doms["vm-a"]["nics"] if n["mac"] == MAC_A] == [True]
    assert doms["vm-log"]["nics"][0]["vhost"] is False            # judged by the log's argv and message
    assert doms["vm-log"]["nics"][0]["reason"].startswith("vhost requested on the command line, but QEMU logged")
    assert any("password=<redacted>" in e for e in doms["vm-log"]["nics"][0]["evidence"])
    assert any("malformed JSON in -netdev" in e for e in doms["vm-a"]["evidence"])
    assert checks_of(result)["qemu_kvm.vhost_net_enabled"]["state"] == "fail"


def test_no_secret_in_the_result_or_any_report(secret_node):
    result = secret_node.audit()
    blobs = dict(_reports(result))
    blobs["result"] = json.dumps(result)
    for name, blob in blobs.items():
        for secret in SECRETS:
            assert secret not in blob, (name, secret)
    assert "<redacted>" in blobs["result"]


def test_no_secret_in_the_module_output(secret_node, run_module):
    code, out, raw = run_module({"root": secret_node.root, "host_name": "compute-robust"})
    assert code == 0 and out["audit"]["domains"]
    for secret in SECRETS:
        assert secret not in raw, secret


def test_evidence_excerpts_are_capped(secret_node):
    result = secret_node.audit()
    evidence = [e for c in result["checks"] for e in c["evidence"]]
    for dom in result["domains"]:
        evidence += dom["evidence"]
        for nic in dom["nics"]:
            evidence += nic["evidence"]
    assert evidence
    longest = max(len(e) for e in evidence)
    assert longest <= EVIDENCE_MAX, longest
    assert any("more chars]" in e or e.endswith("...") for e in evidence)     # the long values were cut
    for check in result["checks"]:
        assert len(check["evidence"]) <= 41
    for error in result["errors"]:
        assert len(error) <= EVIDENCE_MAX


# ------------------------------------------------ (b) nothing outside the root

CANARY = "CANARY-4b1d-do-not-read"


@pytest.fixture
def canary_node(node, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    files = {
        "qemu-kvm": "VHOST_NET_ENABLED=%s\n" % CANARY,
        "modules": "%s 16384 0 - Live 0x0\n" % CANARY.replace("-", "_"),
        "hostname": CANARY + "\n",
        "cmdline": "/usr/bin/qemu-system-x86_64\0-name\0guest=%s\0" % CANARY,
        "log": "2026-01-01 00:00:00.000+0000: starting up libvirt version: 9, hostname: %s\n%s falling back on "
               "userspace virtio\n" % (CANARY, CANARY),
        "domain.xml": "<domain type='kvm'><name>%s</name><uuid>%s</uuid></domain>" % (CANARY, CANARY),
    }
    for name, text in files.items():
        (outside / name).write_text(text)
    confd = outside / "modprobe.d"
    confd.mkdir()
    (confd / "canary.conf").write_text("blacklist vhost_net %s\n" % CANARY)
    n = node()
    out = str(outside)
    depth = len([p for p in n.root.split("/") if p])
    climb = "/".join([".."] * (depth + 3))
    # absolute link: resolved inside the root, so <root>/tmp/.../outside/qemu-kvm, which is not there
    n.symlink(QEMU_DEFAULT, os.path.join(out, "qemu-kvm"))
    # relative link climbing with .. far above the root
    n.symlink("/proc/modules", climb + out + "/modules")
    n.symlink("/etc/hostname", "../" * 8 + out.lstrip("/") + "/hostname")
    # a symlinked intermediate directory
    n.symlink("/etc/modprobe.d", os.path.join(out, "modprobe.d"))
    n.symlink("/run/modprobe.d", climb + out + "/modprobe.d")
    # /proc/<pid>/... links out of the root
    n.symlink("/proc/%d/cmdline" % PID_B, os.path.join(out, "cmdline"))
    n.symlink("/proc/%d/fd/77" % PID_A, os.path.join(out, "qemu-kvm"))
    n.symlink("/proc/%d/task" % PID_A, out)
    n.symlink("/var/log/libvirt/qemu/vm-a.log", climb + out + "/log")
    n.symlink("/etc/libvirt/qemu/vm-c.xml", os.path.join(out, "domain.xml"))
    n.symlink("/sys/module/vhost_net", out)
    return n, out


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def test_symlinks_never_lead_outside_the_root(canary_node, monkeypatch):
    n, outside = canary_node
    root = os.path.realpath(n.root)
    opened = []
    real = {"open": builtins.open, "os_open": os.open, "listdir": os.listdir, "stat": os.stat,
            "readlink": os.readlink, "scandir": os.scandir}

    def fd_path(fd):
        return real["readlink"]("/proc/self/fd/%d" % fd)

    def path_of(arg, dir_fd=None):
        if isinstance(arg, int):
            return fd_path(arg)          # os.listdir(fd), os.stat(fd): where that fd is
        if not isinstance(arg, (str, bytes, os.PathLike)):
            return None
        path = os.fsdecode(arg)
        if dir_fd is not None and not path.startswith("/"):
            path = os.path.join(fd_path(dir_fd), path)      # *at() calls: relative to the directory fd
        return path

    def record(kind, arg, follow=True, dir_fd=None):
        path = path_of(arg, dir_fd)
        if path is None:
            return
        path = os.path.abspath(path)
        # Where the call really lands: the link itself for readlink, its target otherwise.
        landed = (os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
                  if not follow else os.path.realpath(path))
        opened.append((kind, path, landed))

    def fake_open(file, *args, **kw):
        record("open", file)
        return real["open"](file, *args, **kw)

    def fake_os_open(path, flags, *args, **kw):
        # O_NOFOLLOW / O_PATH|O_NOFOLLOW opens land on the link itself, never on its target.
        nofollow = bool(flags & getattr(os, "O_NOFOLLOW", 0))
        record("os.open", path, follow=not nofollow, dir_fd=kw.get("dir_fd"))
        return real["os_open"](path, flags, *args, **kw)

    def fake_listdir(path="."):
        record("listdir", path)
        return real["listdir"](path)

    def fake_scandir(path="."):
        record("scandir", path)
        return real["scandir"](path)

    def fake_stat(path, *args, **kw):
        record("stat", path, follow=kw.get("follow_symlinks", True), dir_fd=kw.get("dir_fd"))
        return real["stat"](path, *args, **kw)

    def fake_readlink(path, *args, **kw):
        record("readlink", path, follow=False, dir_fd=kw.get("dir_fd"))
        return real["readlink"](path, *args, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "listdir", fake_listdir)
    monkeypatch.setattr(os, "scandir", fake_scandir)
    monkeypatch.setattr(os, "stat", fake_stat)
    monkeypatch.setattr(os, "readlink", fake_readlink)
    try:
        facts = n.facts()
    finally:
        monkeypatch.undo()
    assert opened
    assert any(kind == "os.open" for kind, _p, _l in opened)
    escaped = [(kind, path, landed) for kind, path, landed in opened
               if not (_under(path, root) and _under(landed, root))]
    assert escaped == []
    from robust_tools import DEFAULT_POLICY, evaluate, validate
    result = evaluate(facts, validate(DEFAULT_POLICY), host_name="robust")
    blob = json.dumps(facts) + json.dumps(result) + "".join(_reports(result).values())
    assert CANARY not in blob and CANARY.replace("-", "_") not in blob
    assert result["kernel"]["modprobe_files"] == []
    # The node is still audited: the links resolve inside the root, where there is nothing.
    checks = checks_of(result)
    # The link is there, its target (inside the root) is not: a dangling link is an error, not "absent".
    assert checks["qemu_kvm.vhost_net_enabled"]["state"] == "error"
    assert "symbolic link" in checks["qemu_kvm.vhost_net_enabled"]["reason"]
    assert checks["domains.vhost"]["state"] == "error"       # vm-c.xml links outside: not there, said so
    doms = domains_of(result)
    assert doms["vm-c"]["verdict"] == "error"
    assert doms["vm-c"]["reason"] == "/etc/libvirt/qemu/vm-c.xml does not exist"
    assert doms["vm-a"]["verdict"] == "pass"


def test_an_absolute_link_means_the_same_path_inside_the_root(node):
    """``/dev/vhost-net -> /dev/misc/vhost-net`` is followed inside the root, never on the controller."""
    n = node()
    n.symlink(QEMU_DEFAULT, "/srv/config/qemu-kvm")
    n.write("/srv/config/qemu-kvm", "VHOST_NET_ENABLED=1\n")
    assert checks_of(n.audit())["qemu_kvm.vhost_net_enabled"]["state"] == "pass"


# --------------------------------------------------------- (c) static checks

PY_SOURCES = sorted(glob.glob(os.path.join(REPO, "module_utils", "**", "*.py"), recursive=True)) + \
    [os.path.join(REPO, "library", "compute_audit.py")]
FORBIDDEN_CALLS = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "execve"),
                   ("os", "spawnv"), ("os", "spawnvp"), ("os", "posix_spawn"), ("os", "posix_spawnp")}


def _tree(path):
    with open(path) as handle:
        return ast.parse(handle.read(), filename=path)


@pytest.mark.parametrize("path", PY_SOURCES, ids=lambda p: os.path.relpath(p, REPO))
def test_no_shell_no_subprocess_in_code_that_runs_on_nodes(path):
    problems = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            problems += ["import %s" % a.name for a in node.names if a.name.split(".")[0] in ("subprocess", "pty")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("subprocess", "pty"):
            problems.append("from %s import" % node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and (func.value.id, func.attr) in FORBIDDEN_CALLS:
                problems.append("%s.%s()" % (func.value.id, func.attr))
            if isinstance(func, ast.Attribute) and func.attr == "run_command":
                problems.append("module.run_command()")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append("shell=%s" % ast.unparse(kw.value))
    assert problems == [], path


def test_libvirt_connection_is_read_only():
    # Everything the audit runs (all of module_utils/nodeaudit but actions/, which
    # restarts domains for the fix) opens libvirt read-only, and only that way.
    audit_code = [p for p in PY_SOURCES if os.sep + "actions" + os.sep not in p]
    names = set()
    for path in audit_code:
        calls = [n.func for n in ast.walk(_tree(path)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Name) and n.func.value.id == "libvirt"]
        names.update(f.attr for f in calls)
    assert "openReadOnly" in names
    assert not names & {"open", "openAuth"}
    for path in audit_code:
        with open(path) as handle:
            text = handle.read()
        assert not re.search(r"libvirt\.open(Auth)?\s*\(", text), path


class _AnsibleLoader(yaml.SafeLoader):
    pass


_AnsibleLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node)
                                     if isinstance(node, yaml.ScalarNode) else None)

ANSIBLE_YAML = sorted(set(
    glob.glob(os.path.join(REPO, "playbooks", "**", "*.y*ml"), recursive=True)
    + glob.glob(os.path.join(REPO, "roles", "**", "*.y*ml"), recursive=True)
    + glob.glob(os.path.join(REPO, "*.yml"))))
SHELL_MODULES = {"shell", "ansible.builtin.shell", "ansible.legacy.shell", "raw", "ansible.builtin.raw",
                 "ansible.legacy.raw", "script", "ansible.builtin.script"}
READ_ONLY_MODULES = {"compute_audit", "debug", "ansible.builtin.debug", "assert", "ansible.builtin.assert",
                     "set_fact", "ansible.builtin.set_fact", "stat", "ansible.builtin.stat", "slurp",
                     "ansible.builtin.slurp", "fail", "ansible.builtin.fail", "setup", "ansible.builtin.setup",
                     "include_vars", "ansible.builtin.include_vars", "ansible.builtin.service_facts",
                     "ansible.builtin.package_facts", "meta", "ansible.builtin.meta"}
TASK_KEYWORDS = {"name", "become", "become_user", "when", "register", "tags", "vars", "loop", "with_items",
                 "notify", "check_mode", "changed_when", "failed_when", "ignore_errors", "ignore_unreachable",
                 "delegate_to", "run_once", "no_log", "environment", "args", "until", "retries", "delay",
                 "loop_control", "block", "rescue", "always", "diff", "throttle", "any_errors_fatal",
                 "become_method", "become_flags", "listen", "module_defaults", "timeout", "delegate_facts",
                 "local_action", "action", "collections", "connection", "debugger", "port", "remote_user",
                 "async", "poll"}


def _tasks(obj):
    """Every mapping that looks like a task or a play, anywhere in a YAML document."""
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from _tasks(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _tasks(value)


def _load(path):
    with open(path) as handle:
        return list(yaml.load_all(handle, Loader=_AnsibleLoader))


def _module_of(task):
    keys = [k for k in task if isinstance(k, str) and k not in TASK_KEYWORDS and not k.startswith("with_")]
    return keys[0] if len(keys) == 1 else None


def _literal_true(value):
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"))


def test_ansible_yaml_files_were_found():
    assert any(p.endswith(os.path.join("compute_audit", "tasks", "main.yml")) for p in ANSIBLE_YAML)


@pytest.mark.parametrize("path", ANSIBLE_YAML, ids=lambda p: os.path.relpath(p, REPO))
def test_no_shell_task_interpolates_names(path):
    problems = []
    for task in _tasks(_load(path)):
        for key, value in task.items():
            if key not in SHELL_MODULES:
                continue
            text = json.dumps(value)
            if "{{" in text or "{%" in text:
                problems.append("%s: %s" % (key, text[:120]))
        action = task.get("action") or task.get("local_action")
        if isinstance(action, str) and action.split()[0] in SHELL_MODULES and "{{" in action:
            problems.append("action: %s" % action[:120])
    assert problems == [], path


@pytest.mark.parametrize("path", ANSIBLE_YAML, ids=lambda p: os.path.relpath(p, REPO))
def test_become_only_on_tasks_that_change_something(path):
    problems = []
    for task in _tasks(_load(path)):
        if not _literal_true(task.get("become")):
            continue
        if "hosts" in task or "import_playbook" in task:
            problems.append("play-level become: true (%s): scope become per task" % task.get("name"))
            continue
        module = _module_of(task)
        if module in READ_ONLY_MODULES or (module or "").endswith(("_info", "_facts")):
            problems.append("become: true on read-only task %r (%s)" % (task.get("name"), module))
    assert problems == [], path


def test_audit_role_never_becomes_unless_asked():
    role = os.path.join(REPO, "roles", "compute_audit")
    for path in glob.glob(os.path.join(role, "**", "*.y*ml"), recursive=True):
        for task in _tasks(_load(path)):
            assert not _literal_true(task.get("become")), (path, task.get("name"))
    tasks = _load(os.path.join(role, "tasks", "main.yml"))[0]
    calls = [t for t in tasks if "compute_audit" in t]
    assert len(calls) == 1
    assert calls[0].get("become", False) in (False, "{{ audit_become }}")
    defaults = _load(os.path.join(role, "defaults", "main.yml"))[0]
    assert defaults["audit_become"] is False
    for play in _load(os.path.join(REPO, "playbooks", "audit.yml"))[0]:
        assert not _literal_true(play.get("become")), play.get("name")
