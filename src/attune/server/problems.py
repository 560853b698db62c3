"""Every error is an RFC 9457 problem (`application/problem+json`) naming the fields at fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from attune.engine.engine import UnknownItemError, UnknownUserError
from attune.log import get_logger
from attune.schemas.problems import FieldError, Problem

_log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class InvalidInputError(Exception):
    """Request values the schema admits but the server cannot take (k over the engine's max_k,
    a rejected event, a path id that is blank once trimmed)."""

    def __init__(self, errors: Sequence[FieldError], status: int = 422) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = list(errors)
        self.status = status

    @classmethod
    def one(cls, field: str, message: str, status: int = 422) -> InvalidInputError:
        return cls([FieldError(field=field, message=message)], status)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], prefix: str = "", **values: Any) -> M:
    """`model(**values)`, its validation errors turned into a 422 naming the fields."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise InvalidInputError(
            [
                FieldError(field=prefix + field_name(("body", *e["loc"])), message=e["msg"])
                for e in exc.errors()
            ]
        ) from None


def problem_response(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    found = list(errors) or ([FieldError(field=field, message=detail)] if field else [])
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=found)
    return Response(
        orjson.dumps(body.model_dump()),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_name(loc: Sequence[Any]) -> str:
    """`("body", "batch", 3, "user_id")` -> `[3].user_id`; `("query", "k")` -> `k`."""
    parts = list(loc[1:])
    if loc[0] == "body" and parts and parts[0] in ("event", "batch"):
        parts = parts[1:]  # the tag of the one-event-or-batch body, not a field
    name = ""
    for p in parts:
        name += f"[{p}]" if isinstance(p, int) else (f".{p}" if name else str(p))
    return name or str(loc[0])


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            field="body" if e["type"] == "json_invalid" else field_name(e["loc"]), message=e["msg"]
        )
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:3])
    return problem_response(422, f"invalid request: {summary}", errors=errors)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # 400 is FastAPI's "could not parse the body" (bytes that are not text, for one).
    field = "body" if exc.status_code in (400, 413) else None
    return problem_response(exc.status_code, str(exc.detail), field=field, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInputError)
    return problem_response(exc.status, f"invalid request: {exc}", errors=exc.errors)


async def _unknown_user(request: Request, exc: Exception) -> Response:
    return problem_response(404, f"unknown user {exc.args[0]!r}", field="user_id")


async def _unknown_item(request: Request, exc: Exception) -> Response:
    return problem_response(404, f"unknown item {exc.args[0]!r}", field="item_id")


async def _crash(request: Request, exc: Exception) -> Response:
    _log.error(
        "request failed",
        method=request.method,
        path=request.url.path,
        error=repr(exc),
        exc_info=exc,
    )
    return problem_response(500, "internal error; the server log has the details")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(InvalidInputError, _invalid)
    app.add_exception_handler(UnknownUserError, _unknown_user)
    app.add_exception_handler(UnknownItemError, _unknown_item)
    app.add_exception_handler(Exception, _crash)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error statuses, all problem documents."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        s: {"description": HTTPStatus(s).phrase, "content": {PROBLEM_JSON: {"schema": schema}}}
        for s in statuses
    }
