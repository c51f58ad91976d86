"""A background loop's unexpected error is logged with its cause in both log formats (text and
JSON lines): the traceback when the cause is new, one line naming it when the same failure repeats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from backend.background import _log_failure
from backend.chain.transactions import ContractReverted
from backend.logs import JsonFormatter, KeyValueFormatter, cause_of


def _failure() -> ContractReverted:
    try:
        try:
            raise RuntimeError("invalid opcode")
        except RuntimeError as low:
            raise ContractReverted("reverted with InvalidOpcode()", error="InvalidOpcode", args=()) from low
    except ContractReverted as exc:
        return exc


def _logged(formatter: logging.Formatter, cycles: int) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("backend.background")
    logger.addHandler(handler)
    try:
        last = None
        for _ in range(cycles):
            try:
                raise _failure()
            except ContractReverted as exc:
                last = _log_failure("workflow clock cycle failed; retrying", exc, last)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_cause_names_the_error_its_code_and_what_raised_it() -> None:
    assert cause_of(_failure()) == (
        "ContractReverted[CONTRACT_REVERTED]: reverted with InvalidOpcode() (from RuntimeError: invalid opcode)"
    )


def test_text_log_carries_the_cause_and_the_traceback_once() -> None:
    text = _logged(KeyValueFormatter(), cycles=2)
    first, _, rest = text.partition("\n")
    assert "workflow clock cycle failed; retrying" in first
    assert "cause=ContractReverted[CONTRACT_REVERTED]: reverted with InvalidOpcode()" in first
    assert "    Traceback (most recent call last):" in rest
    assert "RuntimeError: invalid opcode" in rest
    repeated = text.strip().splitlines()[-1]
    assert "repeated=True" in repeated
    assert "cause=ContractReverted" in repeated
    assert text.count("Traceback") == 2  # the chained exception's two tracebacks, logged once


@pytest.mark.parametrize("cycles", [1, 2])
def test_json_log_carries_the_cause_and_the_traceback_once(cycles: int) -> None:
    lines = [json.loads(line) for line in _logged(JsonFormatter(), cycles).splitlines()]
    assert len(lines) == cycles
    assert lines[0]["msg"] == "workflow clock cycle failed; retrying"
    assert lines[0]["cause"].startswith("ContractReverted[CONTRACT_REVERTED]: reverted with InvalidOpcode()")
    assert "RuntimeError: invalid opcode" in lines[0]["exc"]
    if cycles == 2:
        assert lines[1]["repeated"] is True
        assert lines[1]["cause"] == lines[0]["cause"]
        assert "exc" not in lines[1]
