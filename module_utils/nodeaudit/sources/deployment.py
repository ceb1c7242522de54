"""Deployment shapes: where a node's libvirt, QEMU and boot configuration live.

ONE place for every path that depends on how OpenStack was deployed on the
node (distribution packages, containers, snaps). The source specs
(``specs.py``) name these paths as ``{run_dir}``, ``{log_dir}``, ... and the
collector fills them in from the layout of the node's shape, so adding a
shape is adding one entry here (and, if it needs one, a detection rule).

A layout is plain data:

- ``run_dir``, ``config_dir``, ``log_dir``: libvirt's run, configuration and
  log directories as the audit sees them from the host (the QEMU driver's
  files are in ``<dir>/qemu``);
- ``daemon_logs``: libvirtd's own log files;
- ``defaults_file``: the qemu-kvm defaults file, or ``None``;
- ``qemu_comm``: a regular expression for the ``comm`` of the shape's qemu
  processes;
- ``vhost_key_reader``: what on the node reads ``VHOST_NET_ENABLED`` (``None``
  when nothing does: the key is then inert);
- ``defaults_owner``: who writes the defaults file (``None``: the operator);
- ``vhost_key_reason``: why (or why nothing) reads the key, for people;
- ``fix``: what the fix does on this shape; ``uri``: the libvirt socket's URI;
- ``qemu_run_dir`` / ``qemu_config_dir`` / ``qemu_log_dir``: derived, ``<dir>/qemu``
  unless the shape keeps them elsewhere.

``refine`` decides on the node what reads ``VHOST_NET_ENABLED`` (trusty's
upstart job, xenial/bionic's ``qemu-kvm-init``, nothing from Ubuntu 18.10 on or
with the job masked).

Pure data and pure functions; ``detect`` takes a reader (``sources/reader.py``)
and only looks.
"""
import copy
import re

DEFAULT_SHAPE = "debian"

_QEMU_COMM = r"^(qemu-system-|qemu-kvm$|qemu$|kvm$)"
_DEBIAN = {
    "run_dir": "/run/libvirt", "config_dir": "/etc/libvirt", "log_dir": "/var/log/libvirt",
    "daemon_logs": ["/var/log/libvirt/libvirtd.log", "/var/log/libvirt/virtqemud.log"],
    "defaults_file": "/etc/default/qemu-kvm", "qemu_comm": _QEMU_COMM,
    "uri": "qemu:///system",
}
_NO_DEFAULTS = "nothing: no job on this shape reads /etc/default/qemu-kvm"
_PERSIST = "load vhost_net now and persist it in /etc/modules-load.d/vhost_net.conf"


def _shape(base, **kw):
    out = copy.deepcopy(base)
    out.update(kw)
    return out


SHAPES = {
    # Ubuntu / Debian packages: trusty's upstart job, xenial/bionic's qemu-kvm.service
    # (/usr/share/qemu/init/qemu-kvm-init); from Ubuntu 18.10 on no job reads the key
    # (refine() decides on the node: which job exists, which release it is).
    "debian": _shape(_DEBIAN, title="Ubuntu/Debian packages (libvirtd on the host)",
                     vhost_key_reader="the qemu-kvm boot job (`[ \"$VHOST_NET_ENABLED\" = 1 ] && modprobe -b vhost_net`)",
                     vhost_key_reason="the qemu-kvm boot job sources the file and runs `modprobe -b vhost_net` "
                                      "when VHOST_NET_ENABLED is exactly 1",
                     defaults_owner=None,
                     fix="set VHOST_NET_ENABLED=1 (with a backup) where a job reads it; " + _PERSIST),
    # charm-nova-compute renders /etc/default/qemu-kvm from templates/qemu-kvm ("maintained by Juju").
    "charmed": _shape(_DEBIAN, title="Charmed OpenStack (Juju nova-compute charm)",
                      vhost_key_reader="the qemu-kvm boot job (`[ \"$VHOST_NET_ENABLED\" = 1 ] && modprobe -b vhost_net`)",
                      vhost_key_reason="the qemu-kvm boot job sources the file the nova-compute charm renders",
                      defaults_owner="Juju: the nova-compute charm renders /etc/default/qemu-kvm from its template "
                                     "and reverts local edits at its next config-changed hook",
                      fix="do not edit /etc/default/qemu-kvm (Juju reverts it): " + _PERSIST +
                          " (a file the charm does not own); to change the rendered file, change the charm's "
                          "configuration or template"),
    # snap-openstack-hypervisor: libvirt built with its local state under the snap's common dir.
    "sunbeam": {"title": "Sunbeam (the openstack-hypervisor snap)",
                "run_dir": "/var/snap/openstack-hypervisor/common/run/libvirt",
                "config_dir": "/var/snap/openstack-hypervisor/common/etc/libvirt",
                "log_dir": "/var/snap/openstack-hypervisor/common/log/libvirt",
                "daemon_logs": ["/var/snap/openstack-hypervisor/common/log/libvirt/libvirtd.log",
                                "/var/snap/openstack-hypervisor/common/log/libvirt/virtqemud.log"],
                "defaults_file": "/etc/default/qemu-kvm", "qemu_comm": _QEMU_COMM,
                "uri": "qemu:///system?socket=/var/snap/openstack-hypervisor/common/run/libvirt/libvirt-sock",
                "vhost_key_reader": None,
                "vhost_key_reason": "Sunbeam: the openstack-hypervisor snap's libvirt never reads "
                                    "/etc/default/qemu-kvm",
                "defaults_owner": None,
                "fix": "the snap cannot load kernel modules: " + _PERSIST + " on the host"},
    # kolla-ansible nova_libvirt: pid_mode host, /run/:/run/ (status files on the host),
    # kolla_logs:/var/log/kolla/ (libvirt/libvirtd.log, libvirt/qemu/*.log),
    # nova_libvirt_qemu:/etc/libvirt/qemu (the persistent XML); qemu-kvm.service masked on Ubuntu.
    "kolla": {"title": "kolla-ansible (nova_libvirt container: host pid namespace, /run shared)",
              "run_dir": "/run/libvirt",
              "config_dir": "/etc/libvirt", "qemu_config_dir": "/var/lib/docker/volumes/nova_libvirt_qemu/_data",
              "log_dir": "/var/lib/docker/volumes/kolla_logs/_data/libvirt",
              "daemon_logs": ["/var/lib/docker/volumes/kolla_logs/_data/libvirt/libvirtd.log",
                              "/var/log/kolla/libvirt/libvirtd.log"],
              "defaults_file": "/etc/default/qemu-kvm", "qemu_comm": _QEMU_COMM, "uri": "qemu:///system",
              "vhost_key_reader": None,
              "vhost_key_reason": "kolla-ansible: libvirt runs in the nova_libvirt container and kolla masks "
                                  "qemu-kvm.service on Ubuntu: nothing reads VHOST_NET_ENABLED",
              "defaults_owner": None,
              "fix": _PERSIST + " (what kolla's module-load role writes)"},
    # TripleO / RHOSP: podman nova_libvirt / nova_virtqemud, logs in /var/log/containers/libvirt.
    "tripleo": {"title": "TripleO / RHOSP (podman nova_libvirt / nova_virtqemud)",
                "run_dir": "/run/libvirt", "config_dir": "/etc/libvirt",
                "log_dir": "/var/log/containers/libvirt",
                "daemon_logs": ["/var/log/containers/libvirt/libvirtd.log",
                                "/var/log/containers/libvirt/virtqemud.log"],
                "defaults_file": None, "qemu_comm": _QEMU_COMM, "uri": "qemu:///system",
                "vhost_key_reader": None, "vhost_key_reason": "TripleO / RHOSP: no defaults-file job on RHEL",
                "defaults_owner": None,
                "fix": _PERSIST + " (or TripleO's KernelModules parameter, so the next deploy keeps it)"},
    # RHEL / CentOS / Fedora: /usr/libexec/qemu-kvm (comm qemu-kvm); old releases ran
    # `modprobe -b vhost-net` from /etc/sysconfig/modules/kvm.modules, later ones rely on the
    # static /dev/vhost-net node (kmod static-nodes, modules.devname).
    "rhel": _shape(_DEBIAN, title="RHEL / CentOS / Fedora packages", defaults_file=None,
                   vhost_key_reader=None, vhost_key_reason="RHEL family: no job reads /etc/default/qemu-kvm",
                   defaults_owner=None,
                   fix=_PERSIST + "; the static /dev/vhost-net node loads it on first open unless blacklisted"),
    # openstack-ansible on metal: vhost_net is in openstack_host_kernel_modules (modules-load.d).
    "openstack-ansible": _shape(_DEBIAN, title="openstack-ansible on metal",
                                vhost_key_reader="the qemu-kvm boot job (`[ \"$VHOST_NET_ENABLED\" = 1 ] && modprobe -b "
                                                 "vhost_net`)",
                                vhost_key_reason="the distribution's qemu-kvm boot job, where there is one",
                                defaults_owner=None,
                                fix=_PERSIST + " (openstack_host_kernel_modules lists vhost_net: re-running "
                                               "openstack-hosts-setup does the same)"),
}

# Every key a layout must carry (a test checks each shape against it).
LAYOUT_KEYS = ("title", "run_dir", "config_dir", "log_dir", "daemon_logs", "defaults_file", "qemu_comm",
               "vhost_key_reader", "defaults_owner", "vhost_key_reason", "fix", "uri", "qemu_run_dir",
               "qemu_config_dir", "qemu_log_dir")


def layout(shape):
    """The layout of ``shape`` (a copy), or ``KeyError`` naming the known shapes.

    ``qemu_run_dir`` / ``qemu_config_dir`` / ``qemu_log_dir`` (the QEMU driver's
    status files, persistent XML and domain logs) are ``<dir>/qemu`` unless the
    shape says otherwise (kolla keeps the XML in a docker volume).
    """
    if shape not in SHAPES:
        raise KeyError("unknown deployment shape %r (known: %s)" % (shape, ", ".join(sorted(SHAPES))))
    out = copy.deepcopy(SHAPES[shape])
    out["shape"] = shape
    for kind in ("run", "config", "log"):
        out.setdefault("qemu_%s_dir" % kind, out["%s_dir" % kind] + "/qemu")
    out["qemu_comm_re"] = re.compile(out["qemu_comm"])
    return out


def detect(reader, override=None):
    """The node's shape with the evidence: ``{"shape", "evidence": [str], "overridden": bool}``.

    ``override`` (the ``audit_deployment`` inventory variable) wins when it
    names a known shape; detection rules are tried in order and the first
    whose marker is on the node decides; then the defaults file's Juju header
    and the RHEL family (``/etc/os-release``).
    """
    if override:
        if override not in SHAPES:
            return {"shape": DEFAULT_SHAPE, "overridden": False,
                    "evidence": ["audit_deployment=%r is not a known shape (known: %s): detected instead"
                                 % (override, ", ".join(sorted(SHAPES)))],
                    "error": "unknown deployment shape %r" % override}
        return {"shape": override, "overridden": True, "evidence": ["audit_deployment=%s (inventory)" % override]}
    for shape, markers in DETECTION:
        found = [m for m in markers if reader.exists(m)]
        if found:
            return {"shape": shape, "overridden": False, "evidence": ["%s exists" % m for m in found]}
    read = reader.read("/etc/default/qemu-kvm", max_bytes=65536)
    if read.ok and _JUJU_MARK.search(read.text()):
        return {"shape": "charmed", "overridden": False,
                "evidence": ["/etc/default/qemu-kvm: its header says it is maintained by Juju"]}
    osr = os_release(reader)
    if osr.get("ID") in _RHEL_IDS or "rhel" in (osr.get("ID_LIKE") or "").split() or reader.exists("/usr/libexec/qemu-kvm"):
        return {"shape": "rhel", "overridden": False,
                "evidence": ["RHEL family: %s" % ("/etc/os-release ID=%s" % osr["ID"] if osr.get("ID")
                                                  else "/usr/libexec/qemu-kvm exists")]}
    return {"shape": DEFAULT_SHAPE, "overridden": False,
            "evidence": ["no marker of another shape found: %s" % SHAPES[DEFAULT_SHAPE]["title"]]}


# (shape, [paths whose presence marks it]) in order; the default shape has none.
DETECTION = [
    ("sunbeam", ["/var/snap/openstack-hypervisor/common", "/snap/openstack-hypervisor"]),
    ("kolla", ["/etc/kolla", "/var/lib/docker/volumes/kolla_logs/_data", "/var/log/kolla/libvirt",
               "/var/lib/docker/volumes/nova_libvirt_qemu/_data"]),
    ("tripleo", ["/var/log/containers/libvirt", "/var/lib/config-data/puppet-generated/nova_libvirt",
                 "/var/lib/tripleo-config"]),
    ("openstack-ansible", ["/etc/openstack_deploy", "/etc/ansible/facts.d/openstack_ansible.fact",
                           "/openstack/venvs"]),
]
_JUJU_MARK = re.compile(r"maintained by Juju", re.I)
_RHEL_IDS = ("rhel", "centos", "fedora", "rocky", "almalinux", "ol")


def os_release(reader):
    """``/etc/os-release`` as a dict (empty when absent)."""
    read = reader.read("/etc/os-release", max_bytes=65536)
    out = {}
    if read.ok:
        for line in read.text().split("\n"):
            key, sep, value = line.partition("=")
            if sep:
                out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def _version(text):
    parts = re.findall(r"\d+", text or "")
    return tuple(int(p) for p in parts[:2]) if parts else None


def refine(lay, reader):
    """The layout with what reads VHOST_NET_ENABLED decided on this node (``vhost_key_reader`` None: inert).

    * trusty: the upstart job ``/etc/init/qemu-kvm.conf`` (``sh -e``);
    * xenial / bionic: ``/usr/share/qemu/init/qemu-kvm-init`` (``/bin/sh``), run by
      ``qemu-kvm.service`` or the sysv/upstart wrappers;
    * a masked ``qemu-kvm.service`` (``/etc/systemd/system/qemu-kvm.service`` -> ``/dev/null``): nothing;
    * Ubuntu 18.10 and later without either: nothing, even when the file sets the key;
    * shapes whose layout already says nothing reads it keep that.
    """
    out = dict(lay)
    out["vhost_key_job"] = None
    if out.get("vhost_key_reader") is None or out["shape"] not in ("debian", "charmed", "openstack-ansible"):
        return out
    masked = reader.readlink("/etc/systemd/system/qemu-kvm.service")
    if masked.ok and masked.data == "/dev/null":
        out.update(vhost_key_reader=None, vhost_key_reason="qemu-kvm.service is masked (/etc/systemd/system/"
                   "qemu-kvm.service -> /dev/null): nothing reads VHOST_NET_ENABLED")
        return out
    if reader.exists("/usr/share/qemu/init/qemu-kvm-init"):
        unit = any(reader.exists(p) for p in ("/lib/systemd/system/qemu-kvm.service",
                                              "/usr/lib/systemd/system/qemu-kvm.service"))
        out.update(vhost_key_reader="/usr/share/qemu/init/qemu-kvm-init (%s, /bin/sh)" % (
            "qemu-kvm.service" if unit else "sysv/upstart"), vhost_key_job="qemu-kvm-init")
        return out
    if reader.exists("/etc/init/qemu-kvm.conf"):
        out.update(vhost_key_reader="/etc/init/qemu-kvm.conf (upstart pre-start, sh -e)", vhost_key_job="upstart")
        return out
    osr = os_release(reader)
    version = _version(osr.get("VERSION_ID"))
    if osr.get("ID") == "ubuntu" and version and version >= (18, 10):
        out.update(vhost_key_reader=None, vhost_key_reason="Ubuntu %s: the qemu-kvm job that read "
                   "VHOST_NET_ENABLED was dropped in 18.10; the key is inert even when the file sets it"
                   % osr.get("VERSION_ID"))
    return out


_QEMU_NAME = re.compile(r"^(qemu-system-[a-z0-9_]+|qemu-kvm|qemu|kvm)$")


def is_qemu_comm(comm):
    """True for the ``comm`` of a qemu process: never a kernel thread (``kvm-pit/1234``,
    ``kvm-nx-lpage-re``, ``kvm-irqfd-clean``) nor another program whose name starts the same way
    (``qemu-ga``, ``qemu-nbd``, ``kvmchand``). ``comm`` is cut at 15 characters (``qemu-system-x86``).

    >>> [is_qemu_comm(c) for c in ("qemu-system-x86", "qemu-kvm", "kvm", "qemu-system-aar")]
    [True, True, True, True]
    >>> [is_qemu_comm(c) for c in ("kvm-pit/1234", "kvm-nx-lpage-re", "qemu-ga", "qemu-nbd", "kvm-irqfd-clean")]
    [False, False, False, False, False]
    """
    return bool(_QEMU_NAME.match((comm or "").strip()))
