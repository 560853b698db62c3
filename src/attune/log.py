"""Structured logging: `_log = get_logger(__name__)`, the event name as message, data as fields.

Two formats: `json` (one JSON object per line, what a server writes) and `console` (aligned
`key=value` text for people at a terminal). Both go through the same processors, so in both:

- an exception is logged as its type, its message (cut to `MAX_ERROR_CHARS`) and a plain
  traceback without local variables (cut to `MAX_TRACEBACK_CHARS`), never a pretty traceback
  that prints every frame's locals (a request body, an API key);
- secrets are redacted: API keys (`attune_<id>_<secret>` keeps its public id), bearer tokens,
  fields named like credentials, the id in an erasure request's path, the ids
  `erasing(...)` names while it is active, and, with keyed pseudonyms
  (`redact_user_ids`), every user id in a request path; and any string is cut to
  `MAX_VALUE_CHARS`.

`configure` also routes the standard library's `logging` (uvicorn's error and access logs,
third-party libraries) through the same processors and format.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "console"]

MAX_ERROR_CHARS = 500
"""Longest exception message kept in a log line."""
MAX_TRACEBACK_CHARS = 8000
"""Longest traceback kept in a log line (its start and, mostly, its end: the failing frame)."""
MAX_FRAMES = 40
"""Innermost frames of each exception kept in a traceback."""
MAX_VALUE_CHARS = 16000
"""Longest string of any other field kept in a log line."""
REDACTED = "[redacted]"

_HANDLER_NAME = "attune"


def configure(
    level: str = "info",
    json: bool = False,
    *,
    fmt: LogFormat | None = None,
    file: TextIO | None = None,
    stdlib: bool = True,
) -> None:
    """Set up logging once for the process (CLI and server call this at start-up).

    `fmt` names the format (`json` or `console`); without it, `json=True` picks JSON and the
    default is console. `file` is where lines go (standard error by default, never a
    program's standard output). `stdlib` routes the standard library's `logging` too.
    """
    stream = file or sys.stderr
    use_json = fmt == "json" if fmt is not None else json
    numeric = logging.getLevelName(level.upper())
    shared = _shared_processors()
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    if stdlib:
        _route_stdlib(numeric, stream, shared, renderer)


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        bounded_exception,
        redact_event,
    ]


def _route_stdlib(level: int, stream: TextIO, shared: list[Processor], renderer: Processor) -> None:
    """One handler on the root logger formatting `logging` records like structlog's events
    (replacing the handler a previous `configure` installed)."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *shared, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    handler.addFilter(_drop_reported_crashes)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def _add_logger_name(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if record is not None:
        event["logger"] = record.name
    return event


REPORTED = "__attune_error_id__"
"""Attribute set on an exception whose error line is already logged (with this error id)."""


def _drop_reported_crashes(record: logging.LogRecord) -> bool:
    """Drop a server's own report of an exception the application already logged with an
    error id (uvicorn logs "Exception in ASGI application" for what Starlette re-raises)."""
    exc = record.exc_info[1] if record.exc_info else None
    return exc is None or not hasattr(exc, REPORTED)


def bounded_exception(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Replace `exc_info` by `error_type`, `error` (the message, cut) and `exception` (a
    plain traceback without locals, cut), so no renderer formats the exception itself."""
    exc_info = event.pop("exc_info", None)
    if not exc_info:
        return event
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info if isinstance(exc_info, BaseException) else exc_info[1]
    if exc is None:
        return event
    event.update(exception_fields(exc))
    return event


def exception_fields(exc: BaseException) -> dict[str, str]:
    """`error_type`, `error` and `exception` (traceback) of `exc`, each bounded in size."""
    # capture_locals stays False; each chunk (a frame, the message) is cut on its own, so that
    # a huge message cannot push the frames out of the bounded text.
    frames = traceback.TracebackException.from_exception(exc, limit=-MAX_FRAMES)
    text = "".join(cut(chunk, MAX_ERROR_CHARS) for chunk in frames.format())
    return {
        "error_type": type(exc).__qualname__,
        "error": cut(str(exc), MAX_ERROR_CHARS),
        "exception": cut(text, MAX_TRACEBACK_CHARS, keep_end=True),
    }


def cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    """`text` if it fits in `limit` characters, else its start (and with `keep_end`, mostly
    its end) around a note of how much was cut."""
    if len(text) <= limit:
        return text
    note = f" ...[{len(text) - limit} characters cut]... "
    if not keep_end:
        return text[:limit] + note
    head = limit // 8
    return text[:head] + note + text[len(text) - (limit - head) :]


# -- redaction ----------------------------------------------------------------------------------

SECRET_FIELDS = frozenset(
    {"api_key", "x_api_key", "x-api-key", "authorization", "secret", "password", "token",
     "credentials", "cookie", "set-cookie"}
)  # fmt: skip
"""Fields whose whole value is redacted, whatever it holds."""
_API_KEY = re.compile(r"(attune_[A-Za-z0-9]*_)[A-Za-z0-9_\-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_ERASURE_PATH = re.compile(r"(?i)(DELETE\s+\S*?/v1/users/)[^\s\"?]+")
_MARKERS = ("attune_", "earer", "/v1/users")
_ERASING: ContextVar[tuple[str, ...]] = ContextVar("attune_erasing", default=())
_USER_PATH = re.compile(
    r"(/v1/users/)[^\s\"?]+?(/(?:recommendations|explanations|history))?(?=[\s\"?]|$)"
)
_USER_QUERY = re.compile(r"(/v1/users\?(?:[^\s\"]*&)?prefix=)[^\s\"&]*")
_user_ids_private = False


def redact_user_ids(on: bool) -> None:
    """With keyed pseudonyms (`on`), the user id of every `/v1/users/...` path and of the
    directory's `prefix` query is redacted from every log line (uvicorn's access log): the
    raw id a client sends must reach no log."""
    global _user_ids_private
    _user_ids_private = on


@contextmanager
def erasing(*ids: str) -> Iterator[None]:
    """While active (in this context: the request erasing them), `ids` and their
    percent-encoded forms are redacted from every log line."""
    quote = urllib.parse.quote
    forms = {form for i in ids if i for form in (i, quote(i), quote(i, safe=""))}
    token = _ERASING.set(tuple(sorted(forms, key=len, reverse=True)))
    try:
        yield
    finally:
        _ERASING.reset(token)


def redact(text: str) -> str:
    """`text` without API key secrets, bearer tokens, erasure path ids and erased ids, cut
    to `MAX_VALUE_CHARS`."""
    if any(marker in text for marker in _MARKERS):
        text = _API_KEY.sub(r"\1" + REDACTED, text)
        text = _BEARER.sub(r"\1" + REDACTED, text)
        text = _ERASURE_PATH.sub(r"\1" + REDACTED, text)
        if _user_ids_private:
            text = _USER_PATH.sub(r"\1" + REDACTED + r"\2", text)
            text = _USER_QUERY.sub(r"\1" + REDACTED, text)
    for erased in _ERASING.get():
        text = text.replace(erased, REDACTED)
    return cut(text, MAX_VALUE_CHARS)


def _redacted(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact(value)
    if depth >= 4:
        return value if isinstance(value, int | float | bool | None) else REDACTED
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SECRET_FIELDS else _redacted(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    return value


def redact_event(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """The structlog processor applying `redact` to every field (and every string inside
    lists and maps), and replacing fields named like credentials whole."""
    for name, value in event.items():
        if name == "_record":
            continue
        event[name] = REDACTED if name.lower() in SECRET_FIELDS else _redacted(value)
    return event


def get_logger(name: str) -> Any:
    # Library use without `configure()` still logs to stderr, never into a program's stdout,
    # and leaves the program's own `logging` set-up alone.
    if not structlog.is_configured():
        configure(stdlib=False)
    return structlog.get_logger(name)
