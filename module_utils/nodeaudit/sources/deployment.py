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
- ``defaults_owner``: who writes the defaults file (``None``: the operator).

Pure data and pure functions; ``detect`` takes a reader (``sources/reader.py``)
and only looks.
"""
import copy
import re

DEFAULT_SHAPE = "debian"

SHAPES = {
    "debian": {
        "title": "Ubuntu/Debian packages (libvirtd on the host)",
        "run_dir": "/run/libvirt",
        "config_dir": "/etc/libvirt",
        "log_dir": "/var/log/libvirt",
        "daemon_logs": ["/var/log/libvirt/libvirtd.log"],
        "defaults_file": "/etc/default/qemu-kvm",
        "qemu_comm": r"^(qemu-system-|qemu-kvm$|qemu$|kvm$)",
        "vhost_key_reader": "the qemu-kvm boot job (`[ \"$VHOST_NET_ENABLED\" = 1 ] && modprobe -b vhost_net`)",
        "defaults_owner": None,
    },
}

# Every key a layout must carry (a test checks each shape against it).
LAYOUT_KEYS = ("title", "run_dir", "config_dir", "log_dir", "daemon_logs", "defaults_file", "qemu_comm",
               "vhost_key_reader", "defaults_owner")


def layout(shape):
    """The layout of ``shape`` (a copy), or ``KeyError`` naming the known shapes."""
    if shape not in SHAPES:
        raise KeyError("unknown deployment shape %r (known: %s)" % (shape, ", ".join(sorted(SHAPES))))
    out = copy.deepcopy(SHAPES[shape])
    out["shape"] = shape
    out["qemu_comm_re"] = re.compile(out["qemu_comm"])
    return out


def detect(reader, override=None):
    """The node's shape with the evidence: ``{"shape", "evidence": [str], "overridden": bool}``.

    ``override`` (the ``audit_deployment`` inventory variable) wins when it
    names a known shape; detection rules are tried in order and the first
    whose marker is on the node decides.
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
    return {"shape": DEFAULT_SHAPE, "overridden": False,
            "evidence": ["no marker of another shape found: %s" % SHAPES[DEFAULT_SHAPE]["title"]]}


# (shape, [paths whose presence marks it]) in order; the default shape has none.
DETECTION = []
