"""Limits on the shape of JSON request bodies, checked on the raw bytes before any model
parsing: nesting depth, keys per object, string length, array length, number of values, and
finite numbers only; stricter limits for the free-form maps (an event's `context`, an item's
or user's `attributes`).

`check_json` costs a C-speed count of commas, one orjson parse and a walk over the parsed
values that stops at the first violation, so a hostile body is refused in milliseconds
whatever its shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

MAP_FIELDS = ("context", "attributes")
"""Free-form maps of a record (an event, an item, a user), held to the `map_*` limits."""


class InputLimits(BaseModel):
    """What a JSON request body may hold. Bodies over a limit get a 422 naming the field."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    max_depth: int = Field(32, ge=4, le=512)
    """Deepest nesting of arrays and objects in a body (the body itself is level 1)."""
    max_keys: int = Field(256, ge=16)
    """Most keys in any one object."""
    max_items: int = Field(10_000, ge=1000)
    """Most elements in any one array (a batch holds at most 1,000 events anyway)."""
    max_string: int = Field(16_384, ge=256)
    """Longest string or object key, in characters."""
    max_values: int = Field(200_000, ge=1000)
    """Most values (numbers, strings, arrays, objects) in one body, counted as its commas
    plus one before it is parsed (commas inside strings count too)."""
    map_max_depth: int = Field(8, ge=1)
    """Deepest nesting inside `context` and `attributes` (the map itself is level 1)."""
    map_max_keys: int = Field(64, ge=1)
    """Most keys in `context` or `attributes`, and in any object inside them."""
    map_max_string: int = Field(1000, ge=1)
    """Longest string or key inside `context` or `attributes`, in characters."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    """The limits one walk applies (the body's, or the stricter ones inside a map)."""

    max_depth: int
    max_keys: int
    max_items: int
    max_string: int

    @classmethod
    def of(cls, limits: InputLimits) -> tuple[_Bounds, _Bounds]:
        """(the body's bounds, the maps' bounds)."""
        body = cls(limits.max_depth, limits.max_keys, limits.max_items, limits.max_string)
        maps = cls(
            limits.map_max_depth, limits.map_max_keys, limits.max_items, limits.map_max_string
        )
        return body, maps


class _LimitError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _FieldLimitError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


PARSED_BODY = "attune.parsed_body"
"""Key in the ASGI scope's `state` under which a body orjson parsed for the check is kept,
so that the route's fast path does not parse it again."""


def check_json(raw: bytes, limits: InputLimits) -> tuple[str, str] | None:
    """`(field, message)` of the first limit `raw` breaks, else None (also None for bytes that
    are not JSON at all: the route reports those as before)."""
    return parse_checked(raw, limits)[0]


def parse_checked(raw: bytes, limits: InputLimits) -> tuple[tuple[str, str] | None, Any]:
    """`check_json`'s answer, and the document when orjson parsed it (else `None`)."""
    if raw.count(b",") >= limits.max_values:
        return ("body", f"more than {limits.max_values} values"), None
    parsed = None
    try:
        doc = parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc).lower():
            return ("body", f"nested deeper than {limits.max_depth} levels"), None
        try:  # what the route's own parser (json.loads) would read: NaN, Infinity, 1e999
            doc = json.loads(raw)
        except RecursionError:
            return ("body", f"nested deeper than {limits.max_depth} levels"), None
        except ValueError:
            return None, None
    try:
        _check_document(doc, *_Bounds.of(limits))
    except _FieldLimitError as exc:
        return (exc.field, exc.message), None
    return None, parsed


def _check_document(doc: Any, limits: _Bounds, maps: _Bounds) -> None:
    """Records (the body object, or the objects of a body array) field by field, so that a
    violation names its field: `context`, `[3].context`, `attributes`."""
    if isinstance(doc, list):
        if len(doc) > limits.max_items:
            raise _FieldLimitError("body", f"more than {limits.max_items} array elements")
        for i, record in enumerate(doc):
            _check_record(record, f"[{i}]", 2, limits, maps)
    else:
        _check_record(doc, "", 1, limits, maps)


def _check_record(record: Any, prefix: str, depth: int, limits: _Bounds, maps: _Bounds) -> None:
    if not isinstance(record, dict):
        _checked(record, prefix or "body", depth, limits)
        return
    if len(record) > limits.max_keys:
        raise _FieldLimitError(prefix or "body", f"more than {limits.max_keys} keys")
    for key, value in record.items():
        kind = type(value)
        if kind is dict or kind is list:
            name = f"{prefix}.{key}" if prefix else key
            if kind is dict and key in MAP_FIELDS:
                _checked(value, name, 1, maps)
            else:
                _checked(value, name, depth + 1, limits)
        elif (kind is str and len(value) > limits.max_string) or (
            kind is float and value - value != 0.0
        ):
            _checked(value, f"{prefix}.{key}" if prefix else key, depth + 1, limits)  # raises
        if len(key) > limits.max_string:
            raise _FieldLimitError(prefix or "body", f"a key longer than {limits.max_string}")


def _checked(value: Any, field: str, depth: int, limits: _Bounds) -> None:
    try:
        _walk(value, depth, limits)
    except _LimitError as exc:
        raise _FieldLimitError(field, exc.message) from None


def _walk(root: Any, root_depth: int, limits: _Bounds) -> None:
    """Raise `_LimitError` at the first value over a limit; iterative, so no depth of input
    can exhaust the stack. Scalars are checked where they are met, only containers are
    stacked."""
    _scalar(root, limits.max_string)
    stack: list[tuple[Any, int]] = []
    if type(root) is dict or type(root) is list:
        stack.append((root, root_depth))
    while stack:
        value, depth = stack.pop()
        if depth > limits.max_depth:
            raise _LimitError(f"nested deeper than {limits.max_depth} levels")
        if type(value) is dict:
            if len(value) > limits.max_keys:
                raise _LimitError(f"more than {limits.max_keys} keys in an object")
            for key in value:
                _scalar(key, limits.max_string)
            children: Any = value.values()
        elif len(value) > limits.max_items:
            raise _LimitError(f"more than {limits.max_items} array elements")
        else:
            children = value
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is str or kind is float:
                _scalar(child, limits.max_string)


def _scalar(value: Any, max_string: int) -> None:
    kind = type(value)
    if kind is str:
        if len(value) > max_string:
            raise _LimitError(f"a string or key longer than {max_string} characters")
    elif kind is float and value - value != 0.0:  # NaN or an infinity
        raise _LimitError("numbers must be finite (no NaN or Infinity)")
