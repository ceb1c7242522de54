"""The whole auditor on a node it has never seen: a snapshot assembled at test
time from the real files of one focal OpenStack compute node in ../shared/corpus
(canonical/hotsos fake_data_root). Nothing is copied into the repository.

That node is the project's lesson in one place: /etc/default/qemu-kvm says
VHOST_NET_ENABLED=0, yet its VM runs with vhost=on. The config check must fail
while the runtime check passes: configuration is not evidence.
"""
import os

from nodeaudit.sources.collect import collect
from nodeaudit.evaluate import evaluate
from nodeaudit.policy import validate


def _put(root, rel, text):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def test_focal_hotsos_node(corpus, tmp_path):
    _put(tmp_path, "etc/default/qemu-kvm", corpus("nodes/etc_default_qemu-kvm.focal-juju.hotsos.txt"))
    _put(tmp_path, "run/libvirt/qemu/instance-00000001.xml",
         corpus("nodes/domstatus.run-libvirt-qemu.instance-00000001.hotsos.xml"))
    _put(tmp_path, "etc/libvirt/qemu/instance-00000001.xml",
         corpus("nodes/domain.etc-libvirt-qemu.instance-00000001.hotsos.xml"))
    _put(tmp_path, "var/log/libvirt/qemu/instance-00000001.log",
         corpus("nodes/libvirt-qemu-log.instance-00000001.hotsos.log"))
    result = evaluate(collect(root=str(tmp_path)), validate({}), host_name="focal")
    checks = dict((c["id"], c) for c in result["checks"])
    assert checks["qemu_kvm.vhost_net_enabled"]["state"] == "fail"
    assert "VHOST_NET_ENABLED is '0'" in checks["qemu_kvm.vhost_net_enabled"]["reason"]
    assert checks["domains.vhost"]["state"] == "pass"
    dom = result["domains"][0]
    assert dom["name"] == "instance-00000001" and dom["pid"] == 1791722
    nic = dom["nics"][0]
    assert nic["mac"] == "fa:16:3e:a7:45:cb" and nic["vhost"] is True
    assert "judged by the argv alone" in nic["reason"]
    assert any("instance-00000001.log (argv of the last start)" in e for e in nic["evidence"])
    assert result["versions"]["qemu"].startswith("4.2.1") and result["versions"]["libvirt"] == "6.0.0"
    assert "XAPibndN" not in repr(result)          # the -object secret data in that log
