"""The log stream of a test: JSON lines at INFO, and the process's logging as it was afterwards."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from gateway.logs import configure_logging, flush, forward_to_stdlib


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        yield stream
    finally:  # as the process had it: other tests' logs go to pytest again
        flush()  # this test's access lines still waiting go to its stream, not the next test's
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        forward_to_stdlib()
