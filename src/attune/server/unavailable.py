"""A shared store that cannot be reached for now (Redis down, restarting or not answering)
makes a request a 503 problem with `Retry-After`, not a 500 or a hang: the request was fine
and may be sent again, and the server answers again by itself once the store is back.

Every exception that ends a request passes through `problems.crash_response`, which asks
`unavailable_response` first; a store error is logged as one warning line (no traceback, no
error id) and counted in `attune_store_unavailable`. How long a request can wait on a store
that does not answer is bounded by the backend's timeouts (stores/redis/connection.py) and,
in any case, by `request_timeout_s` (server/timeouts.py).

`probe` is the readiness check's view of the store: its kind, whether it answers, and the
round trip of one read.
"""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Scope

from attune.log import get_logger
from attune.ports import Storage
from attune.schemas.operations import StoreHealth
from attune.stores import unavailable_errors

_log = get_logger(__name__)

RETRY_AFTER_S = 1
"""What `Retry-After` says: the store is usually back (failover, restart) within seconds."""

UNAVAILABLE = unavailable_errors()
"""The exceptions that mean "the store cannot be reached for now"."""

_KINDS = {
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis-cluster",
    "rediss+cluster": "redis-cluster",
    "memory": "memory",
    "sqlite": "sqlite",
}


def unavailable_response(scope: Scope, exc: BaseException) -> Response | None:
    """A 503 problem when `exc` says the store is unreachable; None for any other error."""
    if not isinstance(exc, UNAVAILABLE):
        return None
    from attune.server.problems import loggable_path, problem_response

    _log.warning(
        "store unreachable; answered 503",
        method=scope.get("method", ""),
        path=loggable_path(scope),
        error=type(exc).__name__,
        detail=str(exc),
        retry_after_s=RETRY_AFTER_S,
    )
    app = scope.get("app")
    metrics = getattr(getattr(app, "state", None), "metrics", None)
    if metrics is not None:
        metrics.store_unavailable.inc()
    return problem_response(
        503,
        "the store is unreachable for now; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def store_kind(url: str) -> str:
    """`redis`, `redis-cluster`, `sqlite` or `memory`, from a storage URL (a plain path is
    the embedded SQLite default)."""
    scheme, sep, _ = str(url).partition("://")
    return _KINDS.get(scheme, scheme) if sep else "sqlite"


def probe(store: Storage) -> tuple[StoreHealth, int | None]:
    """One read from `store` (the log's newest position), timed; the health found and the
    position read (None when the store did not answer)."""
    kind = store_kind(store.url)
    started = time.perf_counter()
    try:
        last_seq = store.events.last_seq()
    except UNAVAILABLE:
        return StoreHealth(kind=kind, reachable=False, latency_ms=None), None
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return StoreHealth(kind=kind, reachable=True, latency_ms=latency_ms), last_seq
