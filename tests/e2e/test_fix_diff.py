"""The fix's honesty with the real roles and Ansible: --check --diff shows every change
(the modules-load.d file included) and makes none; a real run makes them; a second
run changes nothing; a failure that is not "the kernel has no such module" fails."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.e2e]

# What the audit returns for a live node whose kernel has vhost_net loaded but
# not persisted, with VHOST_NET_ENABLED=0 (the module is loaded: modprobe is not run).
PLAY = """---
- name: The fix on one node, from a given audit
  hosts: localhost
  gather_facts: false
  vars:
    fix_become: false
    vhost_fix_modules_load_dir: {mld}
    audit_result:
      audit:
        mode: live
        config: {{path: {cfg}, status: ok, vhost_net_enabled: "0", sourceable: true, syntax_error: null,
                  key_line: 2, read_by: "the qemu-kvm boot job"}}
        kernel: {{vhost_net_loaded: true, vhost_net_builtin: false, dev_vhost_net: true, blacklisted: false,
                  install_blocked: false, module_support: true, can_provide: true, blocks: []}}
        checks:
          - {{id: qemu_kvm.vhost_net_enabled, state: fail}}
          - {{id: kernel.vhost_net, state: pass}}
          - {{id: kernel.vhost_net_boot, state: warn}}
  roles:
    - role: vhost_fix
"""


@pytest.fixture
def node(tmp_path):
    cfg = tmp_path / "qemu-kvm"
    cfg.write_text("# Set to 1 to enable vhost_net\nVHOST_NET_ENABLED=0\nKSM_ENABLED=1\n")
    mld = tmp_path / "modules-load.d"
    mld.mkdir()
    book = tmp_path / "fix.yml"
    book.write_text(PLAY.format(cfg=cfg, mld=mld))

    def run(*extra):
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_ROLES_PATH=os.path.join(REPO, "roles"))
        return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(book)]
                              + list(extra), cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    return run, cfg, mld


def test_check_diff_shows_every_change_and_makes_none(node):
    run, cfg, mld = node
    proc = run("--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "-VHOST_NET_ENABLED=0\n+VHOST_NET_ENABLED=1" in proc.stdout
    assert "%s/vhost_net.conf" % mld in proc.stdout and "+vhost_net" in proc.stdout
    assert "VHOST_NET_ENABLED=0" in cfg.read_text() and os.listdir(str(mld)) == []


def test_real_run_then_second_run_changes_nothing(node):
    run, cfg, mld = node
    first = run("--diff")
    assert first.returncode == 0, first.stdout[-3000:]
    assert "VHOST_NET_ENABLED=1" in cfg.read_text() and "KSM_ENABLED=1" in cfg.read_text()
    assert (mld / "vhost_net.conf").read_text() == "vhost_net\n"
    assert "changed=2" in first.stdout
    second = run("--diff")
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]
