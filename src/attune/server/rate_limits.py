"""Rate limits: a token bucket per caller and route class, checked before a request's body is
read or its route is solved; an empty bucket gets a 429 problem with `Retry-After`.

The caller is the key id of a valid API key (in `X-API-Key` or `Authorization: Bearer`), else
the client address (IPv6 clients by their /64, the block one host usually holds). A refused
request is counted (`attune_rate_limited_total{route_class}`), never logged: a flood would
otherwise become a flood of log lines.

The route class comes from the method and path alone, so the fast paths of the hot routes
(server/fastpath.py) are limited like every other route. Buckets live in this process
(`TokenBuckets`, exact and cheap) or, given another storage URI, in a store several servers
share (`SharedWindows`, through the `limits` library).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from attune.log import get_logger
from attune.server.metrics import Metrics
from attune.server.problems import problem_response
from attune.server.security import KeyRing
from attune.server.settings import RateLimits, RouteRate

_log = get_logger(__name__)

INGEST, RECOMMEND, ADMIN = "ingest", "recommend", "admin"
_READS = frozenset({"GET", "HEAD"})
_RECOMMEND_SUFFIXES = ("/recommendations", "/explanations", "/history")


def route_class(method: str, path: str) -> str | None:
    """The route class of a request (`ingest`, `recommend`, `admin`), or None for the routes
    never limited (health, metrics, docs, the console). Ids may hold `/`: only a path's
    start and end are read, as the routes' `id` convertor matches them."""
    if not path.startswith("/v1/"):
        return None
    if path.startswith("/v1/users/"):
        if method == "PUT":
            return INGEST
        if (method in _READS or method == "POST") and path.endswith(_RECOMMEND_SUFFIXES):
            return RECOMMEND
        return ADMIN
    if path == "/v1/events":
        return INGEST if method == "POST" else ADMIN
    if path == "/v1/items" or path.startswith("/v1/items/"):
        if method == "PUT":
            return INGEST
        if method in _READS and path.endswith("/similar") and len(path) > len("/v1/items/"):
            return RECOMMEND
    return ADMIN


def _presented_key(scope: Scope) -> str | None:
    """The API key a request presents, where `deps.requires` reads it."""
    bearer = None
    for name, value in scope["headers"]:
        if name == b"x-api-key" and value:
            return value.decode("latin-1")
        if name == b"authorization" and bearer is None:
            kind, _, credentials = value.decode("latin-1").partition(" ")
            bearer = credentials.strip() if kind.lower() == "bearer" else None
    return bearer or None


def caller(scope: Scope, keys: KeyRing) -> str:
    """Whom a request's bucket belongs to: `key:<id>` of a valid key, else `addr:<address>`
    (an unknown key is no identity: anyone could send one)."""
    presented = _presented_key(scope)
    if presented is not None:
        key = keys.authenticate(presented)  # None when no key is configured
        if key is not None:
            return "key:" + key.id
    client = scope.get("client")
    host = str(client[0]) if client else "local"  # a Unix socket
    if ":" in host:
        try:
            return "addr:" + ipaddress.IPv6Address(host).packed[:8].hex() + "::/64"
        except ValueError:
            pass
    return "addr:" + host


class Buckets(Protocol):
    """Where the buckets live."""

    async def take(self, route: str, who: str) -> float:
        """Take one token from `who`'s bucket of `route`: 0 if there was one, else the seconds
        until there will be (> 0)."""
        ...


class TokenBuckets:
    """Token buckets in this process's memory: exact, about a microsecond a request.

    A bucket that has filled up again is the same as none, so those are dropped whenever the
    table has doubled since the last sweep: memory stays proportional to the callers active
    within a bucket's refill time, whatever number of addresses a flood comes from.
    """

    def __init__(
        self, rates: Mapping[str, RouteRate], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rates = {route: (rate.rate, float(rate.capacity)) for route, rate in rates.items()}
        self._clock = clock
        self._buckets: dict[tuple[str, str], list[float]] = {}  # [tokens, when counted]
        self._sweep_at = 4096

    async def take(self, route: str, who: str) -> float:
        return self.take_now(route, who)

    def take_now(self, route: str, who: str) -> float:
        """`take`, without the event loop (one bucket's arithmetic; no await point)."""
        rate, capacity = self._rates[route]
        now = self._clock()
        bucket = self._buckets.get((route, who))
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            self._buckets[(route, who)] = [capacity - 1.0, now]
            return 0.0
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate

    def _sweep(self, now: float) -> None:
        full = [
            key
            for key, (tokens, when) in self._buckets.items()
            if tokens + (now - when) * self._rates[key[0]][0] >= self._rates[key[0]][1]
        ]
        for key in full:
            del self._buckets[key]
        self._sweep_at = max(4096, 2 * len(self._buckets))

    def __len__(self) -> int:
        return len(self._buckets)


class SharedWindows:
    """Buckets in a storage several servers share (Redis, Memcached, MongoDB), through the
    `limits` library's asynchronous API.

    `limits` has no token bucket; its sliding window counter comes closest: `burst` requests
    per `burst / rate` seconds, the window rounded to whole seconds (at least one), so the
    long-run rate and the burst match the bucket's and only the refill is stepwise. A
    storage that fails admits the request (logged at most once a minute): the limit is a
    protection, not a dependency of serving.
    """

    def __init__(self, uri: str, rates: Mapping[str, RouteRate]) -> None:
        from limits import RateLimitItemPerSecond
        from limits.aio.strategies import SlidingWindowCounterRateLimiter
        from limits.storage import storage_from_string

        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(_async_uri(uri)))
        self._items = {}
        for route, rate in rates.items():
            window = max(1, round(rate.capacity / rate.rate))
            self._items[route] = RateLimitItemPerSecond(max(1, round(rate.rate * window)), window)
        self._failed_at = -math.inf

    async def take(self, route: str, who: str) -> float:
        item = self._items[route]
        try:
            if await self._limiter.hit(item, "attune", route, who):
                return 0.0
            stats = await self._limiter.get_window_stats(item, "attune", route, who)
        except Exception as exc:  # the storage is down or unreachable
            if time.monotonic() - self._failed_at > 60.0:
                self._failed_at = time.monotonic()
                _log.warning("rate limit storage failed; admitting", error=type(exc).__name__)
            return 0.0
        return max(stats.reset_time - time.time(), 1e-3)


def _async_uri(uri: str) -> str:
    """`limits`' asynchronous storages are named `async+<scheme>`."""
    return uri if uri.startswith("async+") else "async+" + uri


def open_buckets(limits: RateLimits) -> Buckets:
    """The buckets of `limits.classes` in `limits.storage`."""
    if limits.storage == "memory://":
        return TokenBuckets(limits.classes)
    return SharedWindows(limits.storage, limits.classes)


class RateLimit:
    """ASGI middleware: each request of a limited route class takes a token from its caller's
    bucket; without one it gets a 429 problem with `Retry-After` (whole seconds, >= 1)."""

    def __init__(self, app: ASGIApp, buckets: Buckets, limited: set[str], metrics: Metrics):
        self.app = app
        self.buckets = buckets
        self.limited = frozenset(limited)
        self.refusals = {route: metrics.rate_limited.labels(route) for route in self.limited}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = route_class(scope["method"], scope["path"])
            if route in self.limited:
                assert route is not None
                wait = await self.buckets.take(route, caller(scope, scope["app"].state.keys))
                if wait > 0.0:
                    self.refusals[route].inc()
                    retry = max(1, math.ceil(wait))
                    await problem_response(
                        429,
                        f"rate limit of the {route} routes reached; retry in {retry} s",
                        headers={"Retry-After": str(retry)},
                    )(scope, receive, send)
                    return
        await self.app(scope, receive, send)
