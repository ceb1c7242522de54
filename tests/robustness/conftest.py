"""Fixtures of the robustness suite (defined in robust_tools.py, which the tests also import by name)."""
from robust_tools import node, run_module  # noqa: F401  (pytest fixtures)
