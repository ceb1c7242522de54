"""library/domain_restart.py through patch_module_args, with a fake libvirt injected.

The fake keeps a domain's state and writes libvirt's live status file
(<domstatus pid=...>) into a temporary status_dir, as libvirtd does, so the
module's proof (the pid changed, the state is back) is exercised for real.
"""
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from library_loader import load_module

RUNNING, PAUSED, SHUTOFF = 1, 3, 5


class FakeLibvirtError(Exception):
    pass


class FakeDomain(object):
    def __init__(self, lv, name, state, pid, persistent=True):
        self.lv, self.name, self._state, self.pid, self.persistent = lv, name, state, pid, persistent
        self.calls = []
        self.write_status()

    def write_status(self):
        path = os.path.join(self.lv.status_dir, self.name + ".xml")
        if self._state == SHUTOFF:
            if os.path.exists(path):
                os.unlink(path)
            return
        word = {RUNNING: "running", PAUSED: "paused"}[self._state]
        pid = self.pid if not self.lv.freeze_pid else self.lv.freeze_pid
        with open(path, "w") as handle:
            handle.write("<domstatus state='%s' reason='user' pid='%d'><domain type='kvm'><name>%s</name>"
                         "<uuid>uuid-%s</uuid></domain></domstatus>" % (word, pid, self.name, self.name))

    def UUIDString(self):
        return "uuid-" + self.name

    def state(self):
        return [self._state, 1]

    def isPersistent(self):
        return self.persistent

    def XMLDesc(self, flags):
        return "<domain><name>%s</name></domain>" % self.name

    def destroy(self):
        self.calls.append("destroy")
        self._state = SHUTOFF
        self.write_status()

    def createWithFlags(self, flags):
        self.calls.append(("createWithFlags", flags))
        if self.lv.start_fails:
            raise FakeLibvirtError("Cannot find emulator '/nonexistent/qemu'")
        self.pid = self.lv.next_pid()
        self._state = PAUSED if flags & self.lv.VIR_DOMAIN_START_PAUSED else RUNNING
        if self.lv.come_back_running:
            self._state = RUNNING
        self.write_status()


class FakeConn(object):
    def __init__(self, lv):
        self.lv = lv
        self.closed = False

    def lookupByName(self, name):
        if name not in self.lv.domains:
            raise FakeLibvirtError("Domain not found: no domain with matching name '%s'" % name)
        return self.lv.domains[name]

    def createXML(self, xml, flags):
        old = self.lv.domains[self.lv.transient_name]
        dom = FakeDomain(self.lv, old.name, SHUTOFF, old.pid, persistent=False)
        dom.createWithFlags(flags)
        self.lv.domains[old.name] = dom
        self.lv.created_xml.append(xml)
        return dom

    def close(self):
        self.closed = True


class FakeLibvirt(object):
    """Just what the module uses of the libvirt binding."""
    libvirtError = FakeLibvirtError
    VIR_DOMAIN_START_PAUSED = 1
    VIR_DOMAIN_XML_SECURE = 1

    def __init__(self, status_dir):
        self.status_dir = status_dir
        self.domains = {}
        self.opened = []
        self.start_fails = False
        self.come_back_running = False
        self.freeze_pid = None
        self.open_fails = False
        self.transient_name = None
        self.created_xml = []
        self._pid = 5000

    def next_pid(self):
        self._pid += 1
        return self._pid

    def add(self, name, state, pid, persistent=True):
        self.domains[name] = FakeDomain(self, name, state, pid, persistent)
        if not persistent:
            self.transient_name = name
        return self.domains[name]

    def registerErrorHandler(self, *args):
        pass

    def open(self, uri):
        self.opened.append(uri)
        if self.open_fails:
            raise FakeLibvirtError("Failed to connect socket to '/run/libvirt/libvirt-sock'")
        return FakeConn(self)

    def openReadOnly(self, uri):  # pragma: no cover - the module must never use it for a restart
        raise AssertionError("a restart needs a read-write connection")


@pytest.fixture
def fake(tmp_path):
    lv = FakeLibvirt(str(tmp_path))
    # every pid the fake hands out is "alive"
    proc = tmp_path / "proc"
    proc.mkdir()
    for pid in range(4000, 5100):
        (proc / str(pid)).mkdir()
    lv.proc = str(proc)
    return lv


def run(capsys, lv, args, monkeypatch):
    module = load_module("domain_restart")
    module.libvirt = lv
    from ansible.module_utils.nodeaudit.actions import restart as restart_mod
    real = restart_mod.restart_domain

    def patched(*a, **kw):
        kw.setdefault("proc", lv.proc)
        kw.setdefault("sleep", lambda s: None)
        return real(*a, **kw)
    monkeypatch.setattr(module, "restart_domain", patched)
    args = dict({"status_dir": lv.status_dir}, **args)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_paused_domain_comes_back_paused_with_a_new_pid(capsys, fake, monkeypatch):
    dom = fake.add("keepalived-lb01", PAUSED, 4242)
    code, out = run(capsys, fake, {"name": "keepalived-lb01"}, monkeypatch)
    assert code == 0, out
    assert out["changed"] is True
    assert (out["previous_state"], out["state"]) == ("paused", "paused")
    assert out["old_pid"] == 4242 and out["new_pid"] == 5001
    assert dom.calls == ["destroy", ("createWithFlags", FakeLibvirt.VIR_DOMAIN_START_PAUSED)]
    assert fake.opened == ["qemu:///system"]
    assert out["started_at"].endswith("Z") and out["finished_at"] >= out["started_at"]
    assert [a.split(" at ")[0] for a in out["actions"]] == ["destroyed", "started paused"]


def test_running_domain_is_started_running(capsys, fake, monkeypatch):
    dom = fake.add("web-1", RUNNING, 4300)
    code, out = run(capsys, fake, {"name": "web-1"}, monkeypatch)
    assert code == 0 and out["state"] == "running" and out["new_pid"] != 4300
    assert dom.calls[1] == ("createWithFlags", 0)


def test_check_mode_changes_nothing_and_says_what_it_would_do(capsys, fake, monkeypatch):
    dom = fake.add("web-1", PAUSED, 4300)
    code, out = run(capsys, fake, {"name": "web-1", "_ansible_check_mode": True}, monkeypatch)
    assert code == 0 and out["changed"] is True
    assert dom.calls == [] and out["new_pid"] is None and out["old_pid"] == 4300
    assert out["actions"] == ["would destroy (qemu pid 4300 ends)", "would start paused (a new qemu process)"]


def test_start_failure_fails_and_says_the_domain_is_now_off(capsys, fake, monkeypatch):
    fake.add("broken", PAUSED, 4400)
    fake.start_fails = True
    code, out = run(capsys, fake, {"name": "broken"}, monkeypatch)
    assert code == 1 and out["failed"] is True and out["changed"] is True
    assert "start of broken failed after it was destroyed: the domain is now shutoff" in out["msg"]
    assert "Cannot find emulator" in out["msg"]
    assert out["old_pid"] == 4400 and out["new_pid"] is None


def test_same_pid_is_a_failure(capsys, fake, monkeypatch):
    fake.add("stuck", PAUSED, 4500)
    fake.freeze_pid = 4500
    code, out = run(capsys, fake, {"name": "stuck", "timeout": 1}, monkeypatch)
    assert code == 1 and "the qemu pid did not change" in out["msg"]


def test_state_not_back_is_a_failure(capsys, fake, monkeypatch):
    fake.add("woke", PAUSED, 4600)
    fake.come_back_running = True
    code, out = run(capsys, fake, {"name": "woke", "timeout": 1}, monkeypatch)
    assert code == 1 and "is running, not paused as before" in out["msg"]


def test_shut_off_domain_is_not_restarted(capsys, fake, monkeypatch):
    dom = fake.add("spare-3", SHUTOFF, 0)
    code, out = run(capsys, fake, {"name": "spare-3"}, monkeypatch)
    assert code == 1 and "no qemu process to restart" in out["msg"] and dom.calls == []
    assert out["changed"] is False


def test_unreadable_pid_refuses_to_destroy(capsys, fake, monkeypatch):
    dom = fake.add("nostatus", RUNNING, 4700)
    os.unlink(os.path.join(fake.status_dir, "nostatus.xml"))
    code, out = run(capsys, fake, {"name": "nostatus"}, monkeypatch)
    assert code == 1 and "cannot read the current qemu pid" in out["msg"] and dom.calls == []


def test_transient_domain_is_recreated_from_its_xml(capsys, fake, monkeypatch):
    fake.add("tmp", PAUSED, 4800, persistent=False)
    code, out = run(capsys, fake, {"name": "tmp"}, monkeypatch)
    assert code == 0 and out["persistent"] is False and out["state"] == "paused"
    assert fake.created_xml == ["<domain><name>tmp</name></domain>"]


def test_unknown_domain_and_connection_failure(capsys, fake, monkeypatch):
    code, out = run(capsys, fake, {"name": "ghost"}, monkeypatch)
    assert code == 1 and "cannot look up domain ghost" in out["msg"]
    fake.open_fails = True
    code, out = run(capsys, fake, {"name": "ghost"}, monkeypatch)
    assert code == 1 and "read-write libvirt connection" in out["msg"]


def test_without_libvirt_python(capsys, fake, monkeypatch):
    module = load_module("domain_restart")
    module.libvirt = None
    with patch_module_args({"name": "x"}):
        with pytest.raises(SystemExit):
            module.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "libvirt-python is not installed" in out["msg"]
