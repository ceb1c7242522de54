"""The check catalogue: each check is data with a stable id.

Ids are an interface (policies, reports and other tools name them): never
rename one; add new ones instead.
"""

# Result states, from least to most serious. `unknown` and `error` are
# "could not evaluate" and never count as a pass.
STATES = ("not_applicable", "pass", "warn", "unknown", "error", "fail")
_RANK = dict((s, i) for i, s in enumerate(STATES))

LEVELS = ("fail", "warn", "off")

# What fails the CI gate unless the caller says otherwise: one default for the
# role, the action plugin, report.gate and merge_reports. "Could not tell"
# (unknown, error) is never a pass.
GATE_DEFAULT = ("fail", "error", "unknown", "unreachable")


def worst(states, default="not_applicable"):
    """The most serious of ``states``.

    >>> worst(["pass", "unknown", "warn"])
    'unknown'
    >>> worst([])
    'not_applicable'
    """
    result = None
    for state in states:
        if result is None or _RANK[state] > _RANK[result]:
            result = state
    return result if result is not None else default


CHECKS = {
    "qemu_kvm.vhost_net_enabled": {
        "short": "config",
        "default_level": "fail",
        # Policy parameters beside level and exempt, with their schema and defaults.
        "params": {},
        "title": "/etc/default/qemu-kvm sets VHOST_NET_ENABLED=1",
        "severity": "medium",
        "layer": "next boot",
        "rationale": (
            "Ubuntu's qemu-kvm boot job runs `[ \"$VHOST_NET_ENABLED\" = \"1\" ] && modprobe -b vhost_net`. "
            "Any other value (0, yes, \"1\\r\" from CRLF line endings) means the module is not loaded at boot "
            "and qemu started afterwards runs virtio NICs in userspace."
        ),
        "remediation": {
            "text": "Set VHOST_NET_ENABLED=1 (ansible-playbook audit.yml --tags fix).",
            "disruption": "none",
            "reboot": False,
        },
    },
    "qemu_kvm.settings": {
        "short": "settings",
        "default_level": "warn",
        # Policy parameters beside level and exempt, with their schema and defaults.
        "params": {
            "expected": {"type": "mapping", "values": "string_or_int", "default": {},
                         "doc": "other keys of /etc/default/qemu-kvm and the values you expect "
                                "(VHOST_NET_ENABLED has its own check)",
                         "forbidden_keys": ["VHOST_NET_ENABLED"]},
        },
        "title": "/etc/default/qemu-kvm matches the policy's expected values",
        "severity": "low",
        "layer": "next boot",
        "rationale": "Operators pin KSM and hugepage settings of the qemu-kvm job per fleet.",
        "remediation": {
            "text": "Edit /etc/default/qemu-kvm to the values in the policy.",
            "disruption": "none until the qemu-kvm job runs again",
            "reboot": False,
        },
    },
    "kernel.vhost_net": {
        "short": "kernel",
        "default_level": "fail",
        # Policy parameters beside level and exempt, with their schema and defaults.
        "params": {},
        "title": "vhost-net is usable now (module loaded or built in, /dev/vhost-net present)",
        "severity": "high",
        "layer": "kernel",
        "rationale": (
            "libvirt gives a virtio NIC vhost-net only if it can open /dev/vhost-net when qemu starts; "
            "otherwise it silently falls back to the QEMU userspace datapath."
        ),
        "remediation": {
            "text": "modprobe vhost_net (and persist it); remove an `install vhost_net /bin/true` block; "
                    "a kernel without CONFIG_VHOST_NET needs another kernel.",
            "disruption": "none",
            "reboot": False,
        },
    },
    "kernel.vhost_net_boot": {
        "short": "boot",
        "default_level": "warn",
        # Policy parameters beside level and exempt, with their schema and defaults.
        "params": {},
        "title": "vhost-net will be loaded at the next boot",
        "severity": "medium",
        "layer": "next boot",
        "rationale": (
            "A module loaded by hand is gone after a reboot; VMs started after that reboot run without vhost-net "
            "unless the module is built in, listed in modules-load.d or /etc/modules, or loaded by the qemu-kvm job."
        ),
        "remediation": {
            "text": "List vhost_net in /etc/modules-load.d/vhost_net.conf (the fix does this).",
            "disruption": "none",
            "reboot": False,
        },
    },
    "domains.vhost": {
        "short": "VMs",
        "default_level": "fail",
        # Policy parameters beside level and exempt, with their schema and defaults.
        "params": {},
        "title": "every virtio NIC on a tap backend of every running KVM domain uses vhost-net",
        "severity": "high",
        "layer": "runtime",
        "rationale": (
            "Without vhost-net every packet of the VM crosses QEMU's main loop: latency spikes of seconds under "
            "load (the 2014 keepalived VIP flapping). A running qemu gets vhost-net only when it is started again."
        ),
        "remediation": {
            "text": "Fix the node first, then restart each listed domain's qemu process (destroy + start, or a nova "
                    "hard reboot / live migration); `virsh reboot` keeps the same process and changes nothing.",
            "disruption": "VM restart or live migration, one HA member at a time",
            "reboot": False,
        },
    },
}

# A live view: a check registered at run time (registry.register) is in it too.
CHECK_IDS = CHECKS.keys()
