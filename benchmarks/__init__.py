"""Reproducible benchmarks with same-run baselines (``python -m benchmarks``; see README.md)."""
