"""actions/restart: the graceful stop (ACPI shutdown with a timeout, then destroy) used for an HA master."""
import os

import pytest

from nodeaudit.actions import restart

RUNNING, PAUSED, SHUTOFF = 1, 3, 5


class Err(Exception):
    pass


class Lv(object):
    libvirtError = Err
    VIR_DOMAIN_START_PAUSED = 1
    VIR_DOMAIN_XML_SECURE = 1


class Dom(object):
    """A domain whose guest powers off `off_after` polls after shutdown() (None: never)."""

    def __init__(self, status_dir, state=RUNNING, off_after=3):
        self.status_dir, self._state, self.off_after, self.pid, self.calls = status_dir, state, off_after, 100, []
        self.polls = None
        self.write()

    def write(self):
        path = os.path.join(self.status_dir, "lb01.xml")
        if self._state == SHUTOFF:
            if os.path.exists(path):
                os.unlink(path)
            return
        with open(path, "w") as handle:
            handle.write("<domstatus state='running' pid='%d'><domain type='qemu'><name>lb01</name>"
                         "<uuid>u</uuid></domain></domstatus>" % self.pid)

    def UUIDString(self):
        return "u"

    def isPersistent(self):
        return True

    def state(self):
        if self.polls is not None and self._state == RUNNING:
            self.polls += 1
            if self.off_after is not None and self.polls >= self.off_after:
                self._state = SHUTOFF
                self.write()
        return [self._state, 1]

    def shutdown(self):
        self.calls.append("shutdown")
        self.polls = 0

    def destroy(self):
        self.calls.append("destroy")
        self._state = SHUTOFF
        self.write()

    def createWithFlags(self, flags):
        self.calls.append("create")
        self.polls = None
        self.pid += 1
        self._state = PAUSED if flags else RUNNING
        self.write()


class Conn(object):
    def __init__(self, dom):
        self.dom = dom

    def lookupByName(self, name):
        return self.dom


class Clock(object):
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


@pytest.fixture
def clock():
    return Clock()


def run(tmp_path, dom, clock, **kw):
    return restart.restart_domain(Conn(dom), Lv, "lb01", status_dir=str(tmp_path), proc=None,
                                  clock=clock, sleep=clock.sleep, **kw)


def test_graceful_stop_no_destroy(tmp_path, clock):
    dom = Dom(str(tmp_path), off_after=3)
    r = run(tmp_path, dom, clock, graceful_timeout=10)
    assert dom.calls == ["shutdown", "create"] and r["stop"] == "graceful"
    assert (r["old_pid"], r["new_pid"], r["state"]) == (100, 101, "running")


def test_graceful_timeout_then_destroy(tmp_path, clock):
    dom = Dom(str(tmp_path), off_after=None)
    r = run(tmp_path, dom, clock, graceful_timeout=5)
    assert dom.calls == ["shutdown", "destroy", "create"] and r["stop"] == "graceful_timeout"
    assert any("after 5 s without stopping" in a for a in r["actions"])
    assert clock.t >= 5


def test_paused_domain_is_destroyed_not_shut_down(tmp_path, clock):
    dom = Dom(str(tmp_path), state=PAUSED)
    r = run(tmp_path, dom, clock, graceful_timeout=10)
    assert dom.calls == ["destroy", "create"] and r["stop"] == "destroy"


def test_default_is_destroy(tmp_path, clock):
    dom = Dom(str(tmp_path))
    r = run(tmp_path, dom, clock)
    assert dom.calls == ["destroy", "create"] and r["stop"] == "destroy"


def test_check_mode_says_graceful(tmp_path, clock):
    dom = Dom(str(tmp_path))
    r = run(tmp_path, dom, clock, graceful_timeout=30, check_mode=True)
    assert dom.calls == [] and r["actions"][0].startswith("would shut down, destroy after 30 s")
