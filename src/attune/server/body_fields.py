"""The fields of a route's body model at a location, so that a 422 for an unknown field can
list the known ones (pydantic's own message, "Extra inputs are not permitted", names none)."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel


def known_list(names: Iterable[str]) -> str:
    """`known: a, b, c` (sorted), or `known: none`."""
    return "known: " + (", ".join(sorted(names)) or "none")


def known_body_fields(route: object, path: Sequence[Any]) -> list[str] | None:
    """The field names of the model at `path` inside `route`'s body (the location pydantic
    gives an unknown field, without `body` and the field itself), or None when no one model
    is found there."""
    body = getattr(route, "body_field", None)
    if body is None:
        return None
    current: list[Any] = [body.field_info.annotation]
    for part in path:
        current = [inner for a in current for inner in _step(a, part)]
    models = {t for a in current for t in _options(a) if _is_model(t)}
    if len(models) != 1:
        return None
    model = models.pop()
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _options(annotation: Any) -> list[Any]:
    """The types a value of `annotation` may be: unions and `Annotated` unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _options(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [t for arg in typing.get_args(annotation) for t in _options(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _step(annotation: Any, part: Any) -> list[Any]:
    """The annotations of what `part` (a field name, or an index) names inside `annotation`."""
    found: list[Any] = []
    for option in _options(annotation):
        if _is_model(option):
            for name, field in option.model_fields.items():
                if part in (name, field.alias):
                    found.append(field.annotation)
        elif isinstance(part, int) and typing.get_origin(option) in (list, tuple):
            found.extend(typing.get_args(option)[:1])
    return found
