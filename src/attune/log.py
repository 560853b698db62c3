"""Structured logging: `_log = get_logger(__name__)`, the event name as message, data as fields."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure(level: str = "info", json: bool = False) -> None:
    """Set up structlog once for the process (CLI and server call this at start-up)."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    # Library use without `configure()` still logs to stderr, never into a program's stdout.
    if not structlog.is_configured():
        configure()
    return structlog.get_logger(name)
