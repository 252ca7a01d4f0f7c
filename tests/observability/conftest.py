"""The log stream of a test: JSON lines at INFO, and the process's logging as it was afterwards."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import TextIO

import pytest

from gateway.logs import LogFormat, configure_logging, flush, forward_to_stdlib


@contextlib.contextmanager
def logging_to(stream: TextIO, fmt: LogFormat = "json") -> Iterator[TextIO]:
    """The process's logs go to `stream` (at INFO) for the block; then as the process had them:
    other tests' logs go to pytest again."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("INFO", fmt, stream)
    try:
        yield stream
    finally:
        flush()  # this block's access lines still waiting go to its stream, not the next one's
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        forward_to_stdlib()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    with logging_to(io.StringIO()) as stream:
        assert isinstance(stream, io.StringIO)
        yield stream
