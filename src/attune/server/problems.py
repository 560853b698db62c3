"""Every error is an RFC 9457 problem (`application/problem+json`) naming the fields at fault."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from attune.engine.engine import UnknownItemError, UnknownUserError
from attune.log import REDACTED, REPORTED, erasing, exception_fields, get_logger
from attune.schemas.problems import FieldError, Problem
from attune.server.body_fields import known_body_fields, known_list
from attune.server.unavailable import unavailable_response

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
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """A problem document; `extensions` are extra members (RFC 9457 section 3.2)."""
    found = list(errors) or ([FieldError(field=field, message=detail)] if field else [])
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=found)
    return Response(
        orjson.dumps({**body.model_dump(), **(extensions or {})}),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_problem(status: int, field: str, message: str) -> Response:
    """A problem naming one field: `invalid request: <field>: <message>`."""
    errors = [FieldError(field=field, message=message)]
    return problem_response(status, f"invalid request: {field}: {message}", errors=errors)


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
            field="body" if e["type"] == "json_invalid" else field_name(e["loc"]),
            message=_message(request, e),
        )
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:3])
    return problem_response(422, f"invalid request: {summary}", errors=errors)


def _message(request: Request, error: Mapping[str, Any]) -> str:
    """pydantic's message; for a body field the model lacks, with the fields it has."""
    loc = error["loc"]
    if error["type"] != "extra_forbidden" or not loc or loc[0] != "body":
        return str(error["msg"])
    known = known_body_fields(request.scope.get("route"), loc[1:-1])
    return "unknown field" if known is None else f"unknown field; {known_list(known)}"


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # 400 is FastAPI's "could not parse the body" (bytes that are not text, for one).
    field = "body" if exc.status_code in (400, 413) else None
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(exc.status_code, str(exc.detail), field=field, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (Starlette's own 405 names only those of
    the first route whose path matched, and `/v1/items` has two)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return sorted(methods)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInputError)
    return problem_response(exc.status, f"invalid request: {exc}", errors=exc.errors)


async def _unknown_user(request: Request, exc: Exception) -> Response:
    return problem_response(404, f"unknown user {exc.args[0]!r}", field="user_id")


async def _unknown_item(request: Request, exc: Exception) -> Response:
    return problem_response(404, f"unknown item {exc.args[0]!r}", field="item_id")


async def _crash(request: Request, exc: Exception) -> Response:
    """The last resort (an exception raised outside `CrashGuard`); Starlette then re-raises
    it to the server, whose own report `attune.log` drops as already logged."""
    return crash_response(request.scope, exc)


def crash_response(scope: Scope, exc: BaseException) -> Response:
    """Log `exc` as one line with a new error id and answer a 500 problem naming that id
    (a store that cannot be reached for now: a 503, see `unavailable`)."""
    unavailable = unavailable_response(scope, exc)
    if unavailable is not None:
        return unavailable
    error_id = secrets.token_hex(8)
    _log.error(
        "request failed",
        error_id=error_id,
        method=scope.get("method", ""),
        path=loggable_path(scope),
        **exception_fields(exc),
    )
    with contextlib.suppress(AttributeError):  # __slots__ exceptions: reported twice, no harm
        setattr(exc, REPORTED, error_id)
    return problem_response(
        500,
        f"internal error {error_id}; the server log has the details",
        extensions={"error_id": error_id},
    )


def erased_id(scope: Scope) -> str | None:
    """The user id an erasure request (`DELETE /v1/users/{id}`) names, else None."""
    path: str = scope.get("path", "")
    if scope.get("method") != "DELETE" or not path.startswith("/v1/users/"):
        return None
    return path[len("/v1/users/") :]


def loggable_path(scope: Scope) -> str:
    """The request path, with an erasure request's user id redacted."""
    return "/v1/users/" + REDACTED if erased_id(scope) is not None else scope.get("path", "")


class CrashGuard:
    """ASGI middleware: an exception from the app becomes one logged line with an error id
    and a 500 problem naming it (not re-raised, so the server logs nothing more); the ids an
    erasure request names are redacted from every log line written while it runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        erased = erased_id(scope)
        raw = (scope.get("raw_path") or b"").decode("latin-1")[len("/v1/users/") :]
        with erasing(erased, raw) if erased else contextlib.nullcontext():
            try:
                await self.app(scope, receive, watched)
            except Exception as exc:
                if started:  # too late for a problem document: log it, let the server close
                    crash_response(scope, exc)
                    raise
                await crash_response(scope, exc)(scope, receive, send)


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
