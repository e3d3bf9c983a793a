"""Benchmarks: run one with `python -m bench.<name>`; they are not part of the test run."""
