"""Conventions every request body follows: strict JSON types, times in one declared grammar,
size limits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from attune.schemas.patterns import compiled, white_space

MAX_BATCH = 1000
"""Most events (or item updates) in one request."""
MAX_K = 1000
"""Largest list a request may ask for (the engine's `max_k` may lower it)."""

# Request bodies are strict: JSON types as the schema documents them (no "1" for 1, no 1 for
# true). Times are the exception: ISO 8601 strings (date or date-time) and Unix seconds
# (number or digits), in the one grammar `INSTANT_*` declares and `parse_instant` reads.
STRICT = ConfigDict(strict=True)
"""Model config of request bodies (fields that are times opt out with `strict=False`)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_SECONDS = -62_135_596_800
"""Unix seconds of 0001-01-01T00:00:00Z, the earliest time a request may name."""
MAX_SECONDS = 253_402_300_799
"""Unix seconds of 9999-12-31T23:59:59Z, the latest."""

_D = "[0-9]"
_DAY_28 = f"(?:0[1-9]|1{_D}|2[0-8])"
_DATE = (
    "(?!0000)(?:"
    f"{_D}{{4}}-(?:(?:0[13578]|1[02])-(?:{_DAY_28}|29|3[01])"
    f"|(?:0[469]|11)-(?:{_DAY_28}|29|30)|02-{_DAY_28})"
    f"|(?:{_D}{{2}}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29"
    ")"
)
"""A calendar date `YYYY-MM-DD`, years 0001 to 9999, February 29 in leap years only."""
_TIME = f"(?:[01]{_D}|2[0-3]):[0-5]{_D}(?::[0-5]{_D}(?:\\.{_D}{{1,9}})?)?"
_ZONE = f"(?:Z|[+-](?:[01]{_D}|2[0-3])(?::?[0-5]{_D})?)"
_SECONDS_TEXT = f"{_D}{{1,11}}(?:\\.{_D}{{1,9}})?"


@cache
def instant_pattern() -> str:
    """The strings a time may be: `YYYY-MM-DD`, optionally followed by `T` (or a space) and
    `HH:MM`, `:SS` and up to 9 digits of fraction, and a zone (`Z`, `+HH`, `+HHMM`, `+HH:MM`;
    UTC if none); or Unix seconds as digits. Surrounding white space is ignored."""
    space = white_space()
    when = f"{_DATE}(?:[T ]{_TIME}{_ZONE}?)?|{_SECONDS_TEXT}"
    return f"^{space}*(?:{when}){space}*$"


def _seconds(value: float) -> datetime:
    if not (math.isfinite(value) and MIN_SECONDS <= value <= MAX_SECONDS):
        raise ValueError(f"Unix seconds must lie between {MIN_SECONDS} and {MAX_SECONDS}")
    return _EPOCH + timedelta(seconds=value)


def parse_instant(value: Any) -> Any:
    """A time as the API declares it (see `instant_pattern`), as an aware datetime; a datetime
    passes unchanged (Python callers), anything else raises `ValueError`."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _seconds(float(value))
    if isinstance(value, str):
        if _instant_regex().fullmatch(value) is None:
            raise ValueError(
                "a time is an ISO 8601 date or date-time (YYYY-MM-DD[THH:MM[:SS[.f]]][zone]) "
                "or Unix seconds"
            )
        text = value.strip()
        if "-" not in text:  # the grammar's digits: every date holds a `-`
            return _seconds(float(text))
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise ValueError("a time is an ISO 8601 string or a number of Unix seconds")


@cache
def _instant_regex() -> Any:
    return compiled(instant_pattern())


@dataclass(frozen=True)
class _InstantSchema:
    """The JSON Schema of `Instant`, built when a schema is asked for (not at import)."""

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "anyOf": [
                {"type": "string", "pattern": instant_pattern()},
                {"type": "number", "minimum": MIN_SECONDS, "maximum": MAX_SECONDS},
            ]
        }


Instant = Annotated[datetime, BeforeValidator(parse_instant), _InstantSchema()]
"""A point in time: ISO 8601 (UTC if no zone) or seconds since the epoch."""

WHEN = (
    " ISO 8601 (`YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with an optional zone "
    "`Z`/`+HH:MM`, UTC if none) or Unix seconds (a number, or digits), years 0001 to 9999."
)
"""End of the description of every `Instant` field."""


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (`10.0`) as the int JSON Schema says it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_integral)]
"""An integer body field: JSON Schema's `integer`, which `10.0` also is."""
