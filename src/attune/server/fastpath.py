"""Fast paths of the hot routes: the common, well-formed request without FastAPI's per-request
dependency solving.

A route declared with `@fast_path(handler)` (on a router whose `route_class` is `FastRoute`)
first offers each request to `handler(route, request)`. The handler answers only requests it
can take exactly as the declared route would (a valid key in `X-API-Key`, the plain parameters,
a JSON body the route's own body field accepts) by calling the same code the route calls, and
returns None for anything else, before doing any work with effects. The route as declared is
the reference path: it then runs from the start and gives every error, so status codes,
problem documents and the OpenAPI schema come from one place. Exceptions a fast handler lets
through (an engine error, say) meet the same exception handlers as the route's.

Solving the dependencies, parameters and body of a recommendation request through FastAPI
costs about as much CPU as ranking the list; the fast path costs a small fraction of that.
`app.state.fast_paths = False` turns every fast path off (the equivalence tests compare both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute

from attune.server.paths import IdRoute
from attune.server.security import ApiScope, KeyRing

FastHandler = Callable[[APIRoute, Request], Awaitable[Response | None]]
E = TypeVar("E", bound=Callable[..., Any])

_HANDLERS: dict[Callable[..., Any], FastHandler] = {}


def fast_path(handler: FastHandler) -> Callable[[E], E]:
    """Register `handler` as the fast path of the decorated endpoint (put this decorator
    below the route decorator, so that it runs first)."""

    def register(endpoint: E) -> E:
        _HANDLERS[endpoint] = handler
        return endpoint

    return register


class FastRoute(IdRoute):
    """An `IdRoute` that offers requests to its endpoint's fast path first, if it has one."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        reference = super().get_route_handler()
        fast = _HANDLERS.get(self.endpoint)
        if fast is None:
            return reference

        async def handler(request: Request) -> Response:
            if getattr(request.app.state, "fast_paths", False):
                response = await fast(self, request)
                if response is not None:
                    return response
            return await reference(request)

        return handler


def header(request: Request, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case), as Starlette's `Headers.get` finds it."""
    for key, value in request.scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def authorized(request: Request, scope: ApiScope) -> bool:
    """Whether `deps.requires(scope)` admits the request by its `X-API-Key` header.

    False means "ask the reference path": no keys configured, the key in `Authorization`, or a
    key that is unknown or lacks the scope (the reference then answers 401 or 403).
    """
    presented = header(request, b"x-api-key")
    if not presented:
        return False
    keys: KeyRing = request.app.state.keys
    if not keys.enabled:
        return False
    key = keys.authenticate(presented.decode("latin-1"))
    return key is not None and key.allows(scope)


def json_content(request: Request) -> bool:
    """Whether the body is declared `application/json`, the type FastAPI reads as JSON here
    (other types are left to the reference path)."""
    value = header(request, b"content-type")
    if value is None:
        return False
    media, _, params = value.lower().partition(b";")
    return media.strip() == b"application/json" and params.strip() in (b"", b"charset=utf-8")
