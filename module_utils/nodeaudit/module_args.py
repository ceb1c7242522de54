"""The arguments every module that reads a node takes (compute_audit, node_collect): one definition.

How a node is read (libvirt, the size caps, the time budget) is the same whether the reading is
audited at once (compute_audit) or captured for later (node_collect): the same spec, the same
defaults (caps.MAX_FILE_BYTES, specs.LOG_TAIL_BYTES) and the same check of the limits.
"""
from .caps import MAX_FILE_BYTES
from .sources.specs import LOG_TAIL_BYTES

# The least a read may be capped at: under 1 KiB not even a status XML fits.
MIN_READ_BYTES = 1024

READ_ARGS = dict(
    libvirt_uri=dict(type="str", default="qemu:///system"),
    use_libvirt=dict(type="bool", default=True),
    max_file_size=dict(type="int", default=MAX_FILE_BYTES),
    log_tail_bytes=dict(type="int", default=LOG_TAIL_BYTES),
    time_budget=dict(type="float", default=240.0),
)


def read_args():
    """A fresh copy of READ_ARGS, for one module's argument_spec."""
    return dict((name, dict(spec)) for name, spec in READ_ARGS.items())


def limits_error(params):
    """Why the read limits in ``params`` are refused, or None.

    >>> limits_error({"max_file_size": 512, "log_tail_bytes": 4096})
    'max_file_size and log_tail_bytes must be at least 1024 bytes'
    >>> limits_error({"max_file_size": 4096, "log_tail_bytes": 4096}) is None
    True
    """
    if params["max_file_size"] < MIN_READ_BYTES or params["log_tail_bytes"] < MIN_READ_BYTES:
        return "max_file_size and log_tail_bytes must be at least %d bytes" % MIN_READ_BYTES
    return None
