"""The checks: the registry (catalogue entries and their judges).

``from nodeaudit.checks import CHECKS, STATES, worst`` is the public face;
the catalogue is in ``catalogue.py``.
"""
from .catalogue import CHECK_IDS, CHECKS, GATE_DEFAULT, LEVELS, STATES, worst  # noqa: F401
