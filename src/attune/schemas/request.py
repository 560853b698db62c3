"""Conventions every request body follows: strict JSON types, lenient times, size limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, WithJsonSchema

MAX_BATCH = 1000
"""Most events (or item updates) in one request."""
MAX_K = 1000
"""Largest list a request may ask for (the engine's `max_k` may lower it)."""

# Request bodies are strict: JSON types as the schema documents them (no "1" for 1, no 1 for
# true). Times are the exception, read leniently: ISO 8601 strings (date or date-time) and Unix
# seconds (number or digits); their schema says so rather than promise `format: date-time`.
STRICT = ConfigDict(strict=True)
"""Model config of request bodies (fields that are times opt out with `strict=False`)."""

Instant = Annotated[datetime, WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}]})]
"""A point in time: ISO 8601 (UTC if no zone) or seconds since the epoch."""

WHEN = " ISO 8601 (UTC if no zone) or seconds since the epoch."
"""End of the description of every `Instant` field."""
