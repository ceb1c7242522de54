"""Plain data from what Ansible hands controller-side plugins.

ansible-core 2.19 wraps values in its own (tagged, lazy) container and string
types; the pure code here wants plain dict / list / str / int / float / bool.
Used by filter_plugins/ and action_plugins/ (controller only).
"""


def plain(value):
    """
    >>> plain({"a": ("x", 1, None, True, 1.5)})
    {'a': ['x', 1, None, True, 1.5]}
    """
    if isinstance(value, dict):
        return dict((str(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
