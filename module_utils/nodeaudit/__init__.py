"""Shared code of the compute-node auditor (runs on nodes and on the controller).

Python 3.8+, standard library only, relative imports inside the package.
"""
