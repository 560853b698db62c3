"""Request body limits, enforced before the body reaches a route: its size (`BodyLimit`, 413)
and, for JSON bodies, its shape (`JsonLimits`, 422; see `input_limits`)."""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.log import get_logger
from attune.server.input_limits import PARSED_BODY, InputLimits, parse_checked
from attune.server.problems import field_problem, loggable_path, problem_response

_log = get_logger(__name__)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimit:
    """ASGI middleware: 413 for bodies over `limit` bytes, announced or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    detail = f"request body larger than {self.limit} bytes"
                    response = problem_response(413, detail, field="body")
                    await response(scope, receive, send)
                    return
                break
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json(scope: Scope) -> bool:
    """Whether the body is declared JSON (`application/json` or `application/*+json`), the
    types the routes parse as JSON."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return False


class JsonLimits:
    """ASGI middleware (inside `BodyLimit`): reads a JSON body whole, refuses it with a 422
    naming the field if it breaks one of `limits`, else hands the same bytes on."""

    def __init__(self, app: ASGIApp, limits: InputLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not is_json(scope):
            await self.app(scope, receive, send)
            return
        try:
            raw = await _read_body(receive)
        except HTTPException as exc:  # BodyLimit's 413
            await problem_response(exc.status_code, exc.detail, field="body")(scope, receive, send)
            return
        if raw is None:
            return  # the client left before sending its body: nobody to answer
        start = time.perf_counter()
        refused, parsed = parse_checked(raw, self.limits)
        if refused is not None:
            field, message = refused
            _log.warning(
                "request refused",
                reason="input limit",
                field=field,
                message=message,
                method=scope["method"],
                path=loggable_path(scope),
                bytes=len(raw),
                check_ms=round((time.perf_counter() - start) * 1e3, 3),
            )
            await field_problem(422, field, message)(scope, receive, send)
            return
        if parsed is not None:
            scope.setdefault("state", {})[PARSED_BODY] = parsed
        await self.app(scope, _replay(raw, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A `receive` giving `raw` as one message, then what the client sends next (its
    disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replayed
