"""The test lab: real servers on loopback and in network namespaces, the fakes and simulators
beside them, and the helpers that start and stop them by their own pid.

The tests (tests/conftest.py imports the pytest fixtures defined here) and the benchmarks in
bench/ import it; it is not part of the installed package (pyproject.toml lists the packages
the wheel ships). The recordings and captures it serves are in tests/fixtures/.
"""
