"""Structured logs: :func:`configure_logging`.

One line per record, JSON (or a readable console format for development), for structlog's
loggers and the standard library's alike (fastagentic's own modules log with
``logging.getLogger("fastagentic....")``; so do uvicorn and most libraries).  Each record has
``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and ``event`` (the message), the fields
given with it, and the correlation fields known where it was logged:

* ``trace_id``, ``span_id``: the current OpenTelemetry span (when tracing is on);
* ``user_id``, ``tenant_id``: the caller (``current_user()``; left out for anonymous calls);
* ``run_id``: the run being executed (``core.context.bind_run``, set by the run engine).

Personal data and secrets are redacted (``fastagentic.telemetry.redact``) in every field,
the message and tracebacks included, except the frame (timestamp, level, logger) and the ids
fastagentic makes (trace, span, run); a user id that is an email address is redacted too.
High-volume records can be sampled: :class:`Sampling` keeps one in ``every`` of the records
it names; warnings and errors are always kept.

    configure_logging()                      # JSON when stderr is not a terminal
    configure_logging(json=False, level="DEBUG")
    configure_logging(sample=Sampling(every=100, events={"token streamed"}))

This module imports structlog (and OpenTelemetry's API) only when :func:`configure_logging`
runs: importing it costs nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..core.context import bind_run, current_run_id, current_user, unbind_run

if TYPE_CHECKING:
    from .redact import Redactor

#: Fields never redacted: the record's frame and the ids fastagentic makes.  (User and tenant
#: ids are: an id may be an email address.)
CORRELATION_FIELDS = frozenset({"timestamp", "level", "logger", "trace_id", "span_id",
                                "run_id", "sample_rate"})
#: The order of the first keys of a JSON line.
_FIRST = ("timestamp", "level", "logger", "event")
_MARK = "_fastagentic_logging"




@dataclass(frozen=True, slots=True)
class Sampling:
    """Keep one in ``every`` of the records whose event (the structlog event name, or a
    standard-library record's message template, e.g. ``"run %s: starting"``) is in
    ``events``, or whose logger is in ``loggers`` (or below one: ``"uvicorn.access"``).
    Warnings and errors are always kept; kept records say ``sample_rate``."""

    every: int
    events: Collection[str] = field(default_factory=frozenset)
    loggers: Collection[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.every < 1:
            from ..exceptions import ConfigurationError

            raise ConfigurationError(f"Sampling(every={self.every}): must be at least 1")


class _Sampler(logging.Filter):
    def __init__(self, sampling: Sampling) -> None:
        super().__init__()
        self.every = sampling.every
        self.events = frozenset(sampling.events)
        self.loggers = frozenset(sampling.loggers)
        self.prefixes = tuple(name + "." for name in self.loggers)
        self.counts: dict[Any, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        msg = record.msg
        event = msg.get("event") if isinstance(msg, dict) else msg
        if isinstance(event, str) and event in self.events:
            key: Any = event
        elif record.name in self.loggers or record.name.startswith(self.prefixes):
            key = (record.name,)
        else:
            return True
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        if n % self.every:
            return False
        if isinstance(msg, dict):
            msg["sample_rate"] = self.every
        else:
            record.sample_rate = self.every
        return True


def _correlation(get_current_span: Any) -> Any:
    def add_correlation(logger: Any, method: str, event_dict: dict[str, Any]
                        ) -> dict[str, Any]:
        context = get_current_span().get_span_context()
        if context.is_valid:
            event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
            event_dict.setdefault("span_id", format(context.span_id, "016x"))
        user = current_user()
        if user.user != "anonymous" or user.tenant is not None:
            event_dict.setdefault("user_id", user.user)
            if user.tenant is not None:
                event_dict.setdefault("tenant_id", user.tenant)
        run_id = current_run_id()
        if run_id is not None:
            event_dict.setdefault("run_id", run_id)
        return event_dict

    return add_correlation


def redaction_processor(redactor: Redactor) -> Any:
    """A structlog processor redacting every field but :data:`CORRELATION_FIELDS`."""
    from pydantic_core import to_jsonable_python

    replacement = redactor.replacement

    def redact(logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        for key, value in event_dict.items():
            if key in CORRELATION_FIELDS or value is None:
                continue
            if redactor.sensitive_field(key):
                event_dict[key] = replacement
            elif isinstance(value, str):
                event_dict[key] = redactor.redact_text(value)
            elif isinstance(value, dict | list | tuple | int) and not isinstance(value, bool):
                event_dict[key] = redactor.redact_value(value)
            elif not isinstance(value, float | bool):  # objects: as the JSON line has them
                event_dict[key] = redactor.redact_value(
                    to_jsonable_python(value, fallback=repr))
        return event_dict

    return redact


def _render_json(logger: Any, method: str, event_dict: dict[str, Any]) -> str:
    from pydantic_core import to_json

    ordered = {key: event_dict.pop(key) for key in _FIRST if key in event_dict}
    ordered.update(event_dict)
    return to_json(ordered, fallback=repr, inf_nan_mode="strings").decode()


def configure_logging(*, json: bool | None = None, level: int | str = "INFO",
                      redact: Redactor | bool = True, sample: Sampling | None = None,
                      stream: IO[str] | None = None, uvicorn: bool = True) -> logging.Handler:
    """Send every log record (structlog's and the standard library's) to ``stream`` (default
    stderr) as one JSON line each (``json=True``), in a readable console format
    (``json=False``), or JSON unless ``stream`` is a terminal (``None``).

    ``level``: the root logger's level.  ``redact``: a :class:`~.redact.Redactor`, True (the
    default one) or False (off).  ``sample``: see :class:`Sampling`.  ``uvicorn``: uvicorn's
    own loggers (server and access log) go through the same output instead of theirs.

    Calling it again replaces what the previous call installed.  Returns the handler added to
    the root logger."""
    import structlog
    from opentelemetry.trace import get_current_span

    stream = stream if stream is not None else sys.stderr
    if json is None:
        json = not (hasattr(stream, "isatty") and stream.isatty())
    redactor: Redactor | None
    if redact is True:
        from .redact import default_redactor

        redactor = default_redactor
    else:
        redactor = redact or None

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    correlate = _correlation(get_current_span)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        correlate,
    ]
    renderer: Any = _render_json if json else structlog.dev.ConsoleRenderer(
        colors=bool(hasattr(stream, "isatty") and stream.isatty()))
    # Tracebacks as text in both formats, so that they are redacted too.
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info]
    if redactor is not None:
        final.append(redaction_processor(redactor))
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=final,
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _MARK, True)
    if sample is not None:
        handler.addFilter(_Sampler(sample))

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if uvicorn:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers.clear()
            uvicorn_logger.propagate = True
    return handler


__all__ = ["CORRELATION_FIELDS", "Sampling", "bind_run", "configure_logging", "current_run_id",
           "redaction_processor", "unbind_run"]
