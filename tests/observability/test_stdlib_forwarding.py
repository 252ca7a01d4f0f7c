"""Until a process configures its logs, structlog lines reach the standard library intact."""

from __future__ import annotations

import logging

import pytest
import structlog

from gateway.logs import forward_to_stdlib


def test_keys_named_like_log_record_attributes_do_not_break_logging(caplog: pytest.LogCaptureFixture) -> None:
    # stamina's structlog instrumentation logs `args` and `kwargs` on every retry it schedules.
    forward_to_stdlib()
    with caplog.at_level(logging.WARNING):
        structlog.get_logger("stamina").warning("stamina.retry_scheduled", args=(), kwargs={}, retry_num=1)
    [record] = [r for r in caplog.records if r.getMessage() == "stamina.retry_scheduled"]
    assert record.args_ == () and record.retry_num == 1  # type: ignore[attr-defined]
