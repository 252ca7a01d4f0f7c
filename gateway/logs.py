"""Logs: one structlog pipeline, JSON lines in production, readable text in the demo.

`configure_logging(level, fmt)` is called once per process (serve, each of its workers, worker,
demo). The gateway's own lines go through structlog (`get_logger`); lines from the standard
library's loggers (uvicorn, redis, our older `logging.getLogger` users) go through the same
processors via `ProcessorFormatter`, so every line has the same shape:

    {"timestamp": "...Z", "level": "info", "logger": "gateway.access", "message": "request",
     "request_id": "...", "method": "POST", "route": "/v1/tenants/{tenant:str}/claims", ...}

Context: `request_id` (bound by the access middleware), `operation_id` and `claim_id` (bound by
the write service once it knows them, and by the worker for each delivery) are carried in
context variables and merged into every line written meanwhile.

What never appears: request and agency bodies, headers, keys, tokens, secrets. We log names and
ids we chose, not values clients send. Exception *messages* can carry a client's or an agency's
text, so an exception is logged as its type and stack frames only (`_exception_summary`).

Cost: the gateway's own JSON lines are built and encoded in one step and written with one
write(2) (`_JsonSink`); no DEBUG line is formatted on the request path (the filtering logger drops
it before any work). bench/README.md "What logs and metrics cost" has the numbers.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import datetime as dt
import logging
import os
import select
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any, Literal, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from adapters._upstream import tally
from adapters._upstream.tally import FlushTimer

__all__ = [
    "LOG_CONTEXT",
    "AccessLine",
    "AccessRow",
    "LogFormat",
    "Logger",
    "bind_contextvars",
    "bound_contextvars",
    "configure_logging",
    "flush",
    "forward_to_stdlib",
    "get_logger",
    "merge_context",
    "write_access_lines",
]

LogFormat = Literal["json", "text"]

_encode = msgspec.json.Encoder()
#: The HTTP client logs every request at INFO/DEBUG: it costs more than our mapping (performance.md).
_QUIET = ("httpx", "httpcore", "hpack", "aiohttp.access")


_generation = 0

# The log context (request_id, operation_id, claim_id): one context variable holding a dict that
# is replaced, never changed in place, so a task started meanwhile keeps the context it was
# started with. structlog's own contextvars helpers keep one variable per key and scan every
# context variable of the task on each line and each clear (~8 µs a request at 40 variables);
# this is one lookup.
# The access layer (gateway/middleware.py) sets it to the request's id and resets it afterwards.
LOG_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "cg_log_context", default=MappingProxyType({})
)


def bind_contextvars(**fields: Any) -> None:
    """Add `fields` to every line this task (and the tasks it starts from now on) writes."""
    LOG_CONTEXT.set({**LOG_CONTEXT.get(), **fields})


@contextlib.contextmanager
def bound_contextvars(**fields: Any) -> Iterator[None]:
    """`fields` bound for the `with` block only."""
    token = LOG_CONTEXT.set({**LOG_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        LOG_CONTEXT.reset(token)


def merge_context(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Processor: the bound fields, under the line's own (a line's own value wins)."""
    context = LOG_CONTEXT.get()
    if context:
        for key, value in context.items():
            event.setdefault(key, value)
    return event


class Logger:
    """A named structlog logger, rebuilt when `configure_logging` runs again (tests do).

    structlog's own first-use cache would keep the configuration of the first call forever;
    this keeps the bound logger until the configuration changes, so a call costs one check.
    """

    __slots__ = ("_bound", "_generation", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._generation = -1
        self._bound: Any = None

    def _logger(self) -> Any:
        if self._generation != _generation:
            self._bound = structlog.get_logger(self.name).bind()
            self._generation = _generation
        return self._bound

    def debug(self, event: str, **fields: Any) -> None:
        self._logger().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        if _json_sink is not None:
            _json_sink.write(logging.INFO, "info", self.name, event, fields)
        else:
            self._logger().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        if _json_sink is not None:
            _json_sink.write(logging.WARNING, "warning", self.name, event, fields)
        else:
            self._logger().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._logger().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._logger().exception(event, **fields)


#: Buffered INFO lines wait at most this long; WARNING and above are written at once.
LOG_FLUSH_SECONDS = 0.2
#: One write(2) carries at most this much: a pipe write up to PIPE_BUF is atomic, so the lines of
#: `serve --workers N`, whose processes share one stderr pipe, never interleave mid-line.
_WRITE_BYTES = select.PIPE_BUF


class AccessLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An access line (gateway/middleware.py): the keys of any JSON line, in the same order —
    its fields, the bound ids, level, logger, timestamp, message — encoded straight from a Struct
    (a dict costs twice as much). `operation_id` and `claim_id` appear when the request bound them."""

    method: str
    route: str
    status: int
    duration_ms: float
    tenant: str | None
    key_id: str | None
    trace_id: str | None
    request_id: str | None
    operation_id: str | None = None
    claim_id: str | None = None
    level: str
    logger: str
    timestamp: str
    message: str


#: The context keys an AccessLine carries; a context with others is written through the dict path.
_ACCESS_CONTEXT = frozenset({"request_id", "operation_id", "claim_id"})

#: One request as the access log writes it (the HTTP tally's entry, gateway/middleware.py):
#: (method, route, status), seconds it took, when it ended (time.perf_counter), its log context,
#: tenant, key id, trace id.
AccessRow = tuple[
    tuple[str, str, int], float, float, Mapping[str, Any], "str | None", "str | None", "str | None"
]


def write_access_lines(rows: list[AccessRow], wall: float, logger: str = "gateway.access") -> None:
    """The access lines of a batch of requests, written together (one write(2) per PIPE_BUF);
    `wall` turns a row's perf_counter into wall-clock time."""
    sink = _json_sink
    if sink is None:  # text (make run) or not configured: one line at a time through structlog
        named = get_logger(logger)
        for (method, route, status), seconds, _ended, context, tenant, key_id, trace_id in rows:
            token = LOG_CONTEXT.set(context)
            try:
                named.info(
                    "request", method=method, route=route, status=status,
                    duration_ms=round(seconds * 1e6) / 1000, tenant=tenant, key_id=key_id,
                    trace_id=trace_id,
                )  # fmt: skip
            finally:
                LOG_CONTEXT.reset(token)
        return
    if sink.level > logging.INFO:
        return
    lines: list[Any] = []
    second, date_and_time = -1, ""
    for (method, route, status), seconds, ended, context, tenant, key_id, trace_id in rows:
        # Microseconds, then ms with three decimals: exact to the µs without round(x, 3)'s text detour.
        ms = round(seconds * 1e6) / 1000
        # `timestamp(now)`, inline: a batch's requests mostly ended within the same second.
        now = wall + ended
        if int(now) != second:
            second = int(now)
            date_and_time = _date_and_time(second)
        stamp = f"{date_and_time}{str(1_000_000 + int((now - second) * 1_000_000))[1:]}Z"
        if context.keys() <= _ACCESS_CONTEXT:
            lines.append(
                AccessLine(
                    method=method, route=route, status=status, duration_ms=ms, tenant=tenant,
                    key_id=key_id, trace_id=trace_id, request_id=context.get("request_id"),
                    operation_id=context.get("operation_id"), claim_id=context.get("claim_id"),
                    level="info", logger=logger, timestamp=stamp, message="request",
                )
            )  # fmt: skip
        else:
            line = {
                "method": method, "route": route, "status": status, "duration_ms": ms,
                "tenant": tenant, "key_id": key_id, "trace_id": trace_id,
            }  # fmt: skip
            for key, value in context.items():
                line.setdefault(key, value)
            line.update(level="info", logger=logger, timestamp=stamp, message="request")
            lines.append(line)
    sink.write_lines(_encode.encode_lines(lines))


class _JsonSink:
    """The hot path of a JSON line (the access line, the delivery attempt's): the same object the
    structlog pipeline renders — fields, context, level, logger, timestamp, message — built and
    encoded in one step, ~3 µs instead of ~9 through the bound logger and seven processors.
    Lines with an exception, and every standard-library record, still go through structlog.

    On a real file (stderr: a pipe in a container) INFO lines are gathered and written together,
    one write(2) per PIPE_BUF bytes (~12 access lines) instead of one per line: the system call
    was most of a line's cost (~15 µs in a running gateway, bench/README.md). They are written
    within LOG_FLUSH_SECONDS, before any WARNING-or-worse line or any line from another path
    (`_Ordered`), and at exit; a process killed outright loses at most that much of its INFO
    lines. A StringIO (tests) is written through."""

    __slots__ = ("_pending", "_size", "_timer", "fd", "level", "lock", "stream")

    def __init__(self, stream: TextIO, level: int) -> None:
        self.stream = stream
        self.level = level
        self.lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0
        self._timer = FlushTimer(self.flush, LOG_FLUSH_SECONDS)
        # A real file (stderr in a container): the encoded lines go to its descriptor, no text layer.
        try:
            stream.flush()
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # StringIO in tests
            self.fd = None

    def write(self, level: int, name: str, logger: str, event: str, fields: dict[str, Any]) -> None:
        """One line, with the current log context and time."""
        if level < self.level:
            return
        context = LOG_CONTEXT.get()
        if context:
            for key, value in context.items():
                fields.setdefault(key, value)
        fields["level"] = name
        fields["logger"] = logger
        fields["timestamp"] = timestamp(time.time())
        fields["message"] = event
        if self.fd is None:
            line = _encode.encode(fields).decode() + "\n"
            with self.lock:
                self.stream.write(line)
                self.stream.flush()
            return
        data = _encode.encode(fields) + b"\n"
        with self.lock:
            if self._size + len(data) > _WRITE_BYTES:
                self._write_pending()
            self._pending.append(data)
            self._size += len(data)
            if level < logging.WARNING and not self._timer.arm():
                return
            self._write_pending()

    def flush(self) -> None:
        """Write the gathered lines now."""
        with self.lock:
            self._write_pending()

    def write_lines(self, data: bytes | bytearray) -> None:
        """Encoded whole lines, after any gathered ones: written now, at most PIPE_BUF at a time,
        each piece cut at a line's end."""
        if self.fd is None:
            with self.lock:
                self.stream.write(data.decode())
                self.stream.flush()
            return
        with self.lock:
            self._write_pending()
            view = memoryview(data)
            start = 0
            while start < len(data):
                end = len(data)
                if end - start > _WRITE_BYTES:
                    cut = data.rfind(b"\n", start, start + _WRITE_BYTES)
                    end = cut + 1 if cut >= start else data.find(b"\n", start) + 1 or len(data)
                self._write(view[start:end])
                start = end

    def _write_pending(self) -> None:  # under self.lock
        self._timer.disarm()
        if not self._pending or self.fd is None:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        self._write(data)

    def _write(self, data: bytes | memoryview) -> None:  # under self.lock
        assert self.fd is not None
        try:
            written = os.write(self.fd, data)
            while written < len(data):  # a signal or a full non-blocking pipe cut it short
                data = data[written:]
                written = os.write(self.fd, data)
        except OSError:  # stderr closed or broken: a lost line must not fail a request
            return


class _Ordered:
    """The stream as structlog's own writer and the standard library's handler see it: the sink's
    gathered lines go out before theirs, so a file's lines stay in the order they were made."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _json_sink is not None:
            _json_sink.flush()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _flush_sink() -> None:
    if _json_sink is not None:
        _json_sink.flush()


def flush() -> None:
    """Write every line still waiting: the access lines of requests not yet counted (they wait in
    the HTTP tally, adapters/_upstream/tally.py), then the sink's gathered lines. At exit too."""
    tally.flush()
    _flush_sink()


atexit.register(flush)


_json_sink: _JsonSink | None = None


def get_logger(name: str) -> Logger:
    """A logger named `name` (the `logger` field of its lines)."""
    return Logger(name)


def _exception_summary(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Replace exc_info by the exception's type and frames, without its message (may hold PII)."""
    exc_info = event.pop("exc_info", None)
    if not exc_info:
        return event
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    kind, value, tb = exc_info
    if kind is None:
        return event
    event["exception"] = _describe(kind, value, tb)
    return event


def _describe(
    kind: type[BaseException], value: BaseException | None, tb: TracebackType | None
) -> dict[str, Any]:
    frames = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb, limit=30)]
    described: dict[str, Any] = {"type": f"{kind.__module__}.{kind.__qualname__}", "frames": frames}
    code = getattr(value, "code", None)  # our GatewayError codes are stable names, never data
    if isinstance(code, str):
        described["code"] = code
    cause = value.__cause__ if value is not None else None
    if cause is not None:
        described["cause"] = _describe(type(cause), cause, cause.__traceback__)
    return described


def _exception_text(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Text mode: the exception summary as lines a developer reads (still without its message)."""
    described = event.get("exception")
    parts = []
    while isinstance(described, dict):
        parts.append(f"{described['type']}\n  " + "\n  ".join(described["frames"]))
        described = described.get("cause")
    if parts:
        event["exception"] = "\ncaused by ".join(parts)
    return event


_second = -1
_second_text = ""


def _timestamp(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    event["timestamp"] = timestamp(time.time())
    return event


def timestamp(now: float) -> str:
    """`now` as the lines' `timestamp`: ISO 8601 UTC with microseconds; the date part is formatted
    once a second (structlog's TimeStamper formats a datetime per line: ~4 µs, most of a line's cost)."""
    second = int(now)
    # Six digits without a format spec to parse: 1_000_123 -> "000123".
    return f"{_date_and_time(second)}{str(1_000_000 + int((now - second) * 1_000_000))[1:]}Z"


def _date_and_time(second: int) -> str:
    """The timestamp up to the seconds' dot, formatted once per second."""
    global _second, _second_text
    if second != _second:
        _second_text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second = second
    return _second_text


def _logger_name(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if record is not None:
        event["logger"] = record.name
    elif "logger" not in event:
        name = getattr(logger, "name", None)
        if name:
            event["logger"] = name
    return event


def _json(event: EventDict, **_: Any) -> str:
    return _encode.encode(event).decode()


def configure_logging(level: str = "INFO", fmt: LogFormat = "json", stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's logging to `stream` (stderr) as `fmt` lines."""
    global _json_sink
    stream = stream if stream is not None else sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    flush()  # what waits goes where it was going
    _json_sink = _JsonSink(stream, numeric) if fmt == "json" else None
    ordered: Any = _Ordered(stream)
    shared: list[Processor] = [
        merge_context,
        structlog.processors.add_log_level,
        _logger_name,
        _timestamp,
        _exception_summary,
    ]
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json)
        shared.append(structlog.processors.EventRenamer("message"))
    else:
        shared.append(_exception_text)
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )

    handler = logging.StreamHandler(ordered)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)

    # structlog's own lines skip the standard library: rendered here, written once to the stream.
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_NamedWriteLoggerFactory(ordered),
        cache_logger_on_first_use=False,
    )
    global _generation
    _generation += 1


class _NamedWriteLogger(structlog.WriteLogger):
    def __init__(self, stream: TextIO, name: str | None) -> None:
        super().__init__(stream)
        self.name = name


class _NamedWriteLoggerFactory:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._stream, args[0] if args else None)


#: LogRecord's own attributes: a structlog key of the same name (stamina logs `args` and
#: `kwargs`) cannot be passed as `extra` — the standard library raises KeyError.
_RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_PASSED = frozenset({"event", "exc_info", "stack_info", "stacklevel"})


def _unclash(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    return {(f"{k}_" if k in _RECORD_KEYS and k not in _PASSED else k): v for k, v in event.items()}


def forward_to_stdlib() -> None:
    """structlog hands its lines to the standard library's loggers, formatted by whatever the host
    set up. The state until a process configures its logs (tests, embedding): nothing printed."""
    global _generation, _json_sink
    flush()  # what waits goes where it was going
    _json_sink = None
    structlog.configure(
        processors=[merge_context, _unclash, structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _generation += 1


forward_to_stdlib()
