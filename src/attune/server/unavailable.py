"""A shared store that cannot be reached for now (Redis down or timing out) makes a request a
503 problem with `Retry-After`, not a 500: the request was fine and may be sent again.

Every exception that ends a request passes through `problems.crash_response`, which asks
`unavailable_response` first; a store error is logged as one warning line without an error id.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from attune.log import get_logger
from attune.stores import unavailable_errors

_log = get_logger(__name__)

RETRY_AFTER_S = 1
"""What `Retry-After` says: the store is usually back (failover, restart) within seconds."""

_UNAVAILABLE = unavailable_errors()


def unavailable_response(scope: Scope, exc: BaseException) -> Response | None:
    """A 503 problem when `exc` says the store is unreachable; None for any other error."""
    if not isinstance(exc, _UNAVAILABLE):
        return None
    from attune.server.problems import loggable_path, problem_response

    _log.warning(
        "store unreachable; answered 503",
        method=scope.get("method", ""),
        path=loggable_path(scope),
        error=type(exc).__name__,
    )
    return problem_response(
        503,
        "the store is unreachable for now; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )
