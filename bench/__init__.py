"""Benchmarks of the hot paths; run with ``make bench`` (``bench/run.py``)."""
