"""Build snapshot roots of compute nodes: the layout the module reads under `root`.

A snapshot is an extracted copy of the parts of a node the audit reads
(docs/DESIGN.md, issue 2 "Snapshot mode"). This module writes such trees from
a compact spec; `python tests/snapshots/snapgen.py` regenerates the shipped
scenarios next to it (`<scenario>.<expected state>/`, each with its
`expect.yml`), and the benchmark uses it to build nodes of 10 to 1,000 domains.
"""
import json
import os
import shutil
import sys

import yaml

TRUSTY_DEFAULT = """\
# To disable qemu-kvm's page merging feature, set KSM_ENABLED=0 and
# sudo restart qemu-kvm
KSM_ENABLED=1
SLEEP_MILLISECS=200
# To load the vhost_net module, which in some cases can speed up
# network performance, set VHOST_NET_ENABLED to 1.
VHOST_NET_ENABLED=0

# Set this to 1 if you want hugepages to be available to kvm under
# /run/hugepages/kvm
KVM_HUGEPAGES=0
"""
LATER_DEFAULT = """\
# Set to 1 to enable KSM, 0 to disable KSM, and AUTO to use default settings.
# After changing this setting restart the qemu-kvm service.
KSM_ENABLED=AUTO
SLEEP_MILLISECS=200
# Set this to 1 if you want hugepages to be available to kvm under
# /run/hugepages/kvm
KVM_HUGEPAGES=0
"""
MODULES_BASE = """\
kvm_intel 282624 4 - Live 0x0000000000000000
kvm 663552 1 kvm_intel, Live 0x0000000000000000
tap 28672 1 vhost_net, Live 0x0000000000000000
bridge 176128 0 - Live 0x0000000000000000
"""
MODULES_VHOST = MODULES_BASE + """\
vhost_net 32768 2 - Live 0x0000000000000000
vhost 53248 1 vhost_net, Live 0x0000000000000000
vhost_iotlb 16384 1 vhost, Live 0x0000000000000000
"""
RELEASE = "5.4.0-97-generic"


def _write(root, rel, content, mode=0o644):
    path = os.path.join(root, rel.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(content, bytes):
        with open(path, "wb") as handle:
            handle.write(content)
    else:
        with open(path, "w", newline="") as handle:
            handle.write(content)
    os.chmod(path, mode)
    return path


def _link(root, rel, target):
    path = os.path.join(root, rel.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def domain_xml(dom, status=False):
    """Domain XML for a spec; wrapped in <domstatus> for the live status file."""
    nics = []
    for i, nic in enumerate(dom.get("nics", [])):
        kind = nic.get("type", "ethernet")
        parts = ["    <interface type='%s'>" % kind, "      <mac address='%s'/>" % nic["mac"]]
        if kind == "bridge":
            parts.append("      <source bridge='br-int'/>")
        if kind == "vhostuser":
            parts.append("      <source type='unix' path='/run/vhu%d.sock' mode='client'/>" % i)
        if kind in ("ethernet", "bridge"):
            parts.append("      <target dev='%s'/>" % nic.get("target", "tap%s%d" % (dom["name"][:6], i)))
        parts.append("      <model type='%s'/>" % nic.get("model", "virtio"))
        attrs = []
        if nic.get("driver_name"):
            attrs.append("name='%s'" % nic["driver_name"])
        if nic.get("queues"):
            attrs.append("queues='%d'" % nic["queues"])
        if attrs:
            parts.append("      <driver %s/>" % " ".join(attrs))
        if status:
            parts.append("      <alias name='net%d'/>" % i)
        parts.append("    </interface>")
        nics.append("\n".join(parts))
    body = """<domain type='%s'%s>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='KiB'>65536</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
%s
    <graphics type='vnc' port='-1' autoport='yes' passwd='vnc-secret-%s'/>
  </devices>
</domain>
""" % (dom.get("type", "kvm"), " id='%d'" % dom.get("id", 1) if status else "", dom["name"], dom["uuid"],
       "\n".join(nics), dom["name"])
    if not status:
        return body
    return "<domstatus state='%s' reason='%s' pid='%d'>\n  <monitor path='/var/lib/libvirt/qemu/domain-1-%s/monitor.sock' type='unix'/>\n%s</domstatus>\n" % (
        dom.get("state", "running"), "user" if dom.get("state") == "paused" else "booted", dom["pid"], dom["name"], body)


def qemu_argv(dom):
    """The argv libvirt would have started this domain with, in the NICs' chosen syntax."""
    accel = "kvm" if dom.get("type", "kvm") == "kvm" else "tcg"
    argv = ["/usr/bin/qemu-system-x86_64", "-name", "guest=%s,debug-threads=on" % dom["name"], "-S",
            "-object", '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-1/master-key.aes"}',
            "-object", "secret,id=libvirt-1-storage-secret0,data=c2VjcmV0LWNlcGgta2V5LWRvLW5vdC1sZWFr,keyid=masterKey0,iv=aXYtZG8tbm90LWxlYWs=,format=base64",
            "-machine", "pc-i440fx-7.2,usb=off,dump-guest-core=off",
            "-accel", accel, "-m", "64", "-uuid", dom["uuid"], "-no-user-config", "-nodefaults",
            "-vnc", "127.0.0.1:0,password=on"]
    fd = 30
    for i, nic in enumerate(dom.get("nics", [])):
        syntax = nic.get("syntax", "json")
        if syntax == "hotplug":
            continue
        kind = nic.get("type", "ethernet")
        model = {"virtio": "virtio-net-pci"}.get(nic.get("model", "virtio"), nic.get("model", "virtio"))
        queues = nic.get("queues") or 1
        vhost = nic.get("vhost", False)
        if kind == "vhostuser":
            argv += ["-chardev", "socket,id=charnet%d,path=/run/vhu%d.sock" % (i, i),
                     "-netdev", '{"type":"vhost-user","chardev":"charnet%d","id":"hostnet%d"}' % (i, i),
                     "-device", '{"driver":"%s","netdev":"hostnet%d","id":"net%d","mac":"%s"}' % (model, i, i, nic["mac"])]
            continue
        tapfds = [str(fd + k) for k in range(queues)]
        fd += queues
        vhostfds = [str(fd + k) for k in range(queues)] if vhost else []
        fd += len(vhostfds)
        nic["_tapfds"] = tapfds
        nic["_vhostfds"] = vhostfds
        if syntax == "legacy":
            argv += ["-net", "nic,macaddr=%s,vlan=%d,model=%s" % (nic["mac"], i, nic.get("model", "virtio")),
                     "-net", "tap,fd=%s,vlan=%d" % (tapfds[0], i)]
        elif syntax == "keyval":
            net = "tap,%s,id=hostnet%d" % ("fds=" + ":".join(tapfds) if queues > 1 else "fd=" + tapfds[0], i)
            if vhost:
                net += ",vhost=on,%s" % ("vhostfds=" + ":".join(vhostfds) if queues > 1 else "vhostfd=" + vhostfds[0])
            argv += ["-netdev", net, "-device", "%s,%snetdev=hostnet%d,id=net%d,mac=%s,bus=pci.0"
                     % (model, "mq=on," if queues > 1 else "", i, i, nic["mac"])]
        else:
            net = {"type": "tap"}
            if queues > 1:
                net["fds"] = ":".join(tapfds)
            else:
                net["fd"] = tapfds[0]
            if vhost:
                net["vhost"] = True
                if queues > 1:
                    net["vhostfds"] = ":".join(vhostfds)
                else:
                    net["vhostfd"] = vhostfds[0]
            net["id"] = "hostnet%d" % i
            dev = {"driver": model, "netdev": "hostnet%d" % i, "id": "net%d" % i, "mac": nic["mac"], "bus": "pci.0"}
            if queues > 1:
                dev["mq"] = True
            argv += ["-netdev", json.dumps(net, separators=(",", ":")), "-device", json.dumps(dev, separators=(",", ":"))]
    argv += ["-sandbox", "on,obsolete=deny", "-msg", "timestamp=on"]
    return argv


def write_node(root, spec):
    """Write one node's snapshot under `root` from `spec` (see SCENARIOS)."""
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    _write(root, "/etc/hostname", spec["hostname"] + "\n")
    release = spec.get("release", RELEASE)
    _write(root, "/proc/sys/kernel/osrelease", release + "\n")
    if spec.get("qemu_kvm") is not None:
        _write(root, "/etc/default/qemu-kvm", spec["qemu_kvm"])
    if spec.get("proc_modules") is not None:
        _write(root, "/proc/modules", spec["proc_modules"])
    if spec.get("builtin") is not None:
        _write(root, "/lib/modules/%s/modules.builtin" % release, spec["builtin"])
    if spec.get("dev_vhost_net"):
        _write(root, "/dev/vhost-net", "")           # any file type counts in a snapshot
        _write(root, "/sys/class/misc/vhost-net/dev", "10:238\n")
    _write(root, "/dev/net/tun", "")
    if spec.get("sys_module"):
        _write(root, "/sys/module/vhost_net/parameters/experimental_zcopytx", "0\n")
    for name, text in (spec.get("modprobe_d") or {}).items():
        _write(root, "/etc/modprobe.d/" + name, text)
    for name, text in (spec.get("modules_load_d") or {}).items():
        _write(root, "/etc/modules-load.d/" + name, text)
    if spec.get("etc_modules") is not None:
        _write(root, "/etc/modules", spec["etc_modules"])
    os.makedirs(os.path.join(root, "run/libvirt/qemu"), exist_ok=True)
    os.makedirs(os.path.join(root, "etc/libvirt/qemu"), exist_ok=True)
    for dom in spec.get("domains", []):
        _write(root, "/etc/libvirt/qemu/%s.xml" % dom["name"], domain_xml(dom))
        if dom.get("state", "running") == "shutoff":
            continue
        if dom.get("status_xml") is not None:
            _write(root, "/run/libvirt/qemu/%s.xml" % dom["name"], dom["status_xml"])
        else:
            _write(root, "/run/libvirt/qemu/%s.xml" % dom["name"], domain_xml(dom, status=True))
        argv = qemu_argv(dom)
        if dom.get("log") is not None:
            _write(root, "/var/log/libvirt/qemu/%s.log" % dom["name"], dom["log"])
        if not dom.get("proc", True):
            continue
        pid = dom["pid"]
        _write(root, "/proc/%d/cmdline" % pid, ("\0".join(argv) + "\0").encode())
        _write(root, "/proc/%d/comm" % pid, "qemu-system-x86\n")
        _write(root, "/proc/%d/task/%d/comm" % (pid, pid), "qemu-system-x86\n")
        _write(root, "/proc/%d/task/%d/comm" % (pid, pid + 1), "CPU 0/KVM\n")
        for k in range(2):
            _link(root, "/proc/%d/fd/%d" % (pid, k), "/dev/null")
        vhost_threads = 0
        for nic in dom.get("nics", []):
            for f in nic.get("_tapfds", []):
                _link(root, "/proc/%d/fd/%s" % (pid, f), "/dev/net/tun")
            for f in nic.get("_vhostfds", []):
                _link(root, "/proc/%d/fd/%s" % (pid, f), "/dev/vhost-net")
                vhost_threads += 1
        for extra, target in (dom.get("extra_fds") or {}).items():
            _link(root, "/proc/%d/fd/%d" % (pid, extra), target)
            if target == "/dev/vhost-net":
                vhost_threads += 1
        for k in range(vhost_threads):
            _write(root, "/proc/%d/task/%d/comm" % (pid, pid + 10 + k), "vhost-%d\n" % pid)


def _nic(mac, **kw):
    kw["mac"] = mac
    return kw


def _dom(name, uuid_n, pid, nics, **kw):
    kw.update(name=name, uuid="6a1b7c2e-0000-4000-8000-%012d" % uuid_n, pid=pid, nics=nics)
    return kw


FALLBACK_LOG = """\
2026-11-20 10:00:00.000+0000: starting up libvirt version: 9.0.0, package: 9.0.0-4 (Debian), qemu version: 7.2.0Debian 1:7.2+dfsg-7, kernel: 5.4.0-97-generic, hostname: compute-fb
LC_ALL=C \\
/usr/bin/qemu-system-x86_64 \\
-name guest=fallback-1,debug-threads=on \\
-S
2026-11-20T10:00:01.000000Z qemu-system-x86_64: unable to start vhost net: 95: falling back on userspace virtio
"""

SCENARIOS = {
    # The 2014 incident: default file with 0, module not loaded, VMs in userspace.
    "trusty-2014.fail": {
        "hostname": "compute-trusty",
        "qemu_kvm": TRUSTY_DEFAULT, "proc_modules": MODULES_BASE, "builtin": "kernel/drivers/net/tun.ko\n",
        "domains": [
            _dom("keepalived-lb01", 1, 2101, [_nic("52:54:00:00:01:01", syntax="keyval")]),
            _dom("web-1", 2, 2102, [_nic("52:54:00:00:02:01"), _nic("52:54:00:00:02:02", model="e1000")]),
        ],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "fail", "qemu_kvm.settings": "not_applicable",
                       "kernel.vhost_net": "fail", "kernel.vhost_net_boot": "warn", "domains.vhost": "fail"},
            "domains": {"keepalived-lb01": {"needs_restart": True, "nics": {"52:54:00:00:01:01": False}},
                        "web-1": {"needs_restart": True,
                                  "nics": {"52:54:00:00:02:01": False, "52:54:00:00:02:02": None}}},
        },
    },
    # Everything right, old keyval syntax with a vhostfd held by the process.
    "compliant-keyval.pass": {
        "hostname": "compute-ok1",
        "qemu_kvm": TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1"),
        "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "domains": [_dom("db-1", 3, 3101, [_nic("52:54:00:00:03:01", syntax="keyval", vhost=True)])],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "pass", "kernel.vhost_net": "pass",
                       "kernel.vhost_net_boot": "pass", "domains.vhost": "pass"},
            "domains": {"db-1": {"needs_restart": False, "nics": {"52:54:00:00:03:01": True}}},
        },
    },
    # Later Ubuntu (no key), modules-load.d, JSON multiqueue, hot-plugged NIC, other datapaths.
    "compliant-json-mq.pass": {
        "hostname": "compute-ok2",
        "qemu_kvm": LATER_DEFAULT, "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "modules_load_d": {"vhost_net.conf": "# load vhost-net at boot\nvhost_net\n"},
        "domains": [
            _dom("app-1", 4, 4101, [_nic("52:54:00:00:04:01", queues=2, vhost=True),
                                    _nic("52:54:00:00:04:02", syntax="hotplug"),
                                    _nic("52:54:00:00:04:03", model="e1000"),
                                    _nic("52:54:00:00:04:04", type="vhostuser")],
                 extra_fds={60: "/dev/vhost-net"}),
            _dom("tcg-1", 5, 4102, [_nic("52:54:00:00:05:01")], type="qemu"),
            _dom("stopped-1", 6, 0, [_nic("52:54:00:00:06:01")], state="shutoff"),
        ],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "not_applicable", "kernel.vhost_net": "pass",
                       "kernel.vhost_net_boot": "pass", "domains.vhost": "pass"},
            "domains": {"app-1": {"needs_restart": False,
                                  "nics": {"52:54:00:00:04:01": True, "52:54:00:00:04:02": True,
                                           "52:54:00:00:04:03": None, "52:54:00:00:04:04": None}},
                        "tcg-1": {"needs_restart": False, "nics": {"52:54:00:00:05:01": None}},
                        "stopped-1": {"needs_restart": False, "state": "shutoff",
                                      "nics": {"52:54:00:00:06:01": None}}},
        },
    },
    # The file was fixed and the module loaded, but the VMs still run the old qemu.
    "config-fixed-not-restarted.fail": {
        "hostname": "compute-fixed",
        "qemu_kvm": TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1"),
        "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "domains": [_dom("keepalived-lb02", 7, 5101, [_nic("52:54:00:00:07:01")]),
                    _dom("userspace-1", 8, 5102, [_nic("52:54:00:00:08:01", driver_name="qemu")])],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "pass", "kernel.vhost_net": "pass",
                       "kernel.vhost_net_boot": "pass", "domains.vhost": "fail"},
            "domains": {"keepalived-lb02": {"needs_restart": True, "nics": {"52:54:00:00:07:01": False}},
                        "userspace-1": {"needs_restart": False, "nics": {"52:54:00:00:08:01": False}}},
        },
    },
    # CRLF line endings: the shell reads "1\r", which is not "1".
    "crlf-config.fail": {
        "hostname": "compute-crlf",
        "qemu_kvm": TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1").replace("\n", "\r\n"),
        "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "domains": [_dom("db-2", 9, 6101, [_nic("52:54:00:00:09:01", vhost=True)])],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "fail", "kernel.vhost_net": "pass", "domains.vhost": "pass"},
            "domains": {"db-2": {"needs_restart": False, "nics": {"52:54:00:00:09:01": True}}},
        },
    },
    # `install vhost_net /bin/true`: every load is blocked.
    "install-blocked.fail": {
        "hostname": "compute-blocked",
        "qemu_kvm": TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1"),
        "proc_modules": MODULES_BASE,
        "modprobe_d": {"cis-hardening.conf": "install vhost_net /bin/true\noptions vhost max_mem_regions=509\n"},
        "domains": [_dom("web-3", 10, 7101, [_nic("52:54:00:00:10:01")])],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "pass", "kernel.vhost_net": "fail",
                       "kernel.vhost_net_boot": "warn", "domains.vhost": "fail"},
            "domains": {"web-3": {"needs_restart": True, "nics": {"52:54:00:00:10:01": False}}},
        },
    },
    # vhost requested on the command line, but QEMU fell back to userspace.
    "vhost-fallback-log.fail": {
        "hostname": "compute-fb",
        "qemu_kvm": LATER_DEFAULT, "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "domains": [_dom("fallback-1", 11, 8101, [_nic("52:54:00:00:11:01", syntax="keyval", vhost=True)],
                         log=FALLBACK_LOG)],
        "expect": {
            "checks": {"kernel.vhost_net": "pass", "domains.vhost": "fail"},
            "domains": {"fallback-1": {"needs_restart": True, "nics": {"52:54:00:00:11:01": False}}},
        },
    },
    # Ancient `-net nic -net tap`: never vhost.
    "legacy-net.fail": {
        "hostname": "compute-legacy",
        "qemu_kvm": TRUSTY_DEFAULT.replace("VHOST_NET_ENABLED=0", "VHOST_NET_ENABLED=1"),
        "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "domains": [_dom("old-1", 12, 9101, [_nic("52:54:00:00:12:01", syntax="legacy")])],
        "expect": {
            "checks": {"kernel.vhost_net": "pass", "domains.vhost": "fail"},
            "domains": {"old-1": {"needs_restart": True, "nics": {"52:54:00:00:12:01": False}}},
        },
    },
    # vhost_net built into the kernel: no /proc/modules line needed.
    "builtin.pass": {
        "hostname": "compute-builtin",
        "qemu_kvm": None, "proc_modules": MODULES_BASE,
        "builtin": "kernel/drivers/vhost/vhost.ko\nkernel/drivers/vhost/vhost_net.ko\n",
        "dev_vhost_net": True, "sys_module": True,
        "domains": [_dom("db-3", 13, 9201, [_nic("52:54:00:00:13:01", vhost=True)])],
        "expect": {
            "checks": {"qemu_kvm.vhost_net_enabled": "not_applicable", "kernel.vhost_net": "pass",
                       "kernel.vhost_net_boot": "pass", "domains.vhost": "pass"},
            "domains": {"db-3": {"needs_restart": False, "nics": {"52:54:00:00:13:01": True}}},
        },
    },
    # The status file names a pid that the snapshot has no /proc entry or log for.
    "process-missing.unknown": {
        "hostname": "compute-noproc",
        "qemu_kvm": LATER_DEFAULT, "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "modules_load_d": {"vhost.conf": "vhost_net\n"},
        "domains": [_dom("ghost-1", 14, 9301, [_nic("52:54:00:00:14:01")], proc=False)],
        "expect": {
            "checks": {"kernel.vhost_net": "pass", "domains.vhost": "unknown"},
            "domains": {"ghost-1": {"needs_restart": False, "nics": {"52:54:00:00:14:01": None}}},
        },
    },
    # A truncated status file: that domain is an error, the rest of the node is audited.
    "broken-status-xml.error": {
        "hostname": "compute-broken",
        "qemu_kvm": LATER_DEFAULT, "proc_modules": MODULES_VHOST, "dev_vhost_net": True, "sys_module": True,
        "modules_load_d": {"vhost.conf": "vhost_net\n"},
        "domains": [_dom("broken-1", 15, 9401, [_nic("52:54:00:00:15:01")], proc=False,
                         status_xml="<domstatus state='running' pid='9401'>\n  <domain type='kvm'>\n    <name>broken-1</na"),
                    _dom("fine-1", 16, 9402, [_nic("52:54:00:00:16:01", vhost=True)])],
        "expect": {
            "checks": {"kernel.vhost_net": "pass", "kernel.vhost_net_boot": "pass", "domains.vhost": "error"},
            "domains": {"fine-1": {"needs_restart": False, "nics": {"52:54:00:00:16:01": True}}},
        },
    },
}


def main(target=None):
    target = target or os.path.dirname(os.path.abspath(__file__))
    for name, spec in SCENARIOS.items():
        root = os.path.join(target, name)
        write_node(root, spec)
        with open(os.path.join(root, "expect.yml"), "w") as handle:
            handle.write("# What the audit must say about this snapshot (generated by snapgen.py).\n")
            yaml.safe_dump({"state": name.rsplit(".", 1)[1], **spec["expect"]}, handle, sort_keys=True)
    inventory = {"all": {"children": {"compute": {"hosts": dict(
        (name, {"audit_root": "{{ inventory_dir }}/%s" % name, "audit_use_libvirt": False,
                "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"})
        for name in SCENARIOS)}}}}
    with open(os.path.join(target, "inventory.yml"), "w") as handle:
        handle.write("# Snapshot hosts: each audits one shipped snapshot root (make demo-snapshots).\n")
        yaml.safe_dump(inventory, handle, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
