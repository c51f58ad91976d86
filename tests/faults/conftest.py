"""Fixtures shared with the fault tests live in tests/stacks.py."""

from tests.stacks import stack, stack_factory

__all__ = ["stack", "stack_factory"]
