"""The checks: the registry (catalogue entries and their judges).

``catalogue.py`` holds each check's data, ``registry.py`` the mechanism, and
one module per layer its judges (``config.py``, ``kernel.py``, ``domains.py``;
``nic.py`` is the one NIC judgement). Importing this package registers them.
"""
from .catalogue import CHECK_IDS, CHECKS, GATE_DEFAULT, LEVELS, STATES, worst  # noqa: F401
from .registry import JUDGES, register, result, unregister  # noqa: F401
from . import config, kernel, domains  # noqa: F401,E402  (registers the judges)
