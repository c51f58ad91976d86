"""Fixtures shared across suites live in tests/stacks.py."""

from tests.stacks import runtime, runtime_factory

__all__ = ["runtime", "runtime_factory"]
