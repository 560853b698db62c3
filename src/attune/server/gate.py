"""Authentication before the body: on a route that needs an API key, a request without a
valid key (401) or with one lacking the route's scope (403) is answered before anything reads
its body, so it never learns the body's size (413), shape (422) or syntax (400, 422) first.

`requires` (the routes' dependency) and `AuthFirst` (the ASGI middleware, outside the body
limits) share one decision, `refusal`. The middleware looks only at requests with a body
(POST, PUT, PATCH): on the others FastAPI runs the key check before it validates anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import ASGIApp, Receive, Scope, Send

from attune.server.problems import problem_response
from attune.server.security import ApiKey, ApiScope, KeyRing
from attune.server.settings import is_loopback

_UNSET: Any = object()
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class Refused(HTTPException):
    """A request the key check turns away (401 with a challenge, or 403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail, headers=_CHALLENGE if status == 401 else None)


def admit(
    keys: KeyRing, scope: ApiScope | None, presented: str | None, server: Any
) -> ApiKey | None:
    """The key admitting a request to a route needing `scope` (None: any valid key), None
    when authentication is off (then only a loopback `server` socket is served); raises
    `Refused` otherwise."""
    if not keys.enabled:
        if server is None or server[1] is None or is_loopback(str(server[0])):
            return None
        raise Refused(403, "authentication is off: only loopback is served")
    if not presented:
        raise Refused(401, "an API key is required (X-API-Key or Authorization: Bearer)")
    key = keys.authenticate(presented)
    if key is None:
        raise Refused(401, "unknown API key")
    if scope is not None and not key.allows(scope):
        raise Refused(403, f"this key lacks the {scope.value!r} scope")
    return key


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key in `X-API-Key`, else in `Authorization: Bearer`, as FastAPI's security
    schemes read them."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-key" and value:
            return value.decode("latin-1")
        if name == b"authorization" and bearer is None:
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials:
                bearer = credentials
    return bearer


@dataclass(frozen=True)
class _Guarded:
    regex: re.Pattern[str]
    methods: frozenset[str]
    scope: ApiScope | None


def _guarded_routes(routes: Iterable[Any]) -> list[_Guarded]:
    """Each route taking a body whose dependencies include a key check, with its scope."""
    found = []
    for context in iter_route_contexts(list(routes)):
        route = context.original_route
        methods = frozenset(context.methods or ()) & _BODY_METHODS
        if not isinstance(route, APIRoute) or not methods:
            continue
        for dependency in route.dependencies:
            scope = getattr(dependency.dependency, "api_scope", _UNSET)
            if scope is not _UNSET:
                found.append(_Guarded(context.path_regex, methods, scope))
                break
    return found


class AuthFirst:
    """ASGI middleware (outside the body limits): runs the key check of a guarded route
    taking a body before the body is read, answering 401 or 403 as the route would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[_Guarded] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            guarded = self._route(scope)
            if guarded is not None:
                try:
                    keys: KeyRing = scope["app"].state.keys
                    admit(keys, guarded.scope, presented_key(scope["headers"]), scope.get("server"))
                except Refused as exc:
                    answer = problem_response(exc.status_code, exc.detail, headers=exc.headers)
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _route(self, scope: Scope) -> _Guarded | None:
        if self._routes is None:  # the routes are all included once a request arrives
            self._routes = _guarded_routes(scope["app"].routes)
        path, method = scope["path"], scope["method"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for guarded in self._routes:
            if method in guarded.methods and guarded.regex.match(path):
                return guarded
        return None
