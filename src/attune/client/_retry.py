"""When to send a request again: after a connection error or a 503, a bounded number of times.

Resending is safe for every operation of the API: events carry event ids (the server
acknowledges a repeat without applying it), the other writes set state (upserts, erasure), and
the rest are reads. A request that got no answer may still have been carried out, which is
exactly the case the event ids make harmless.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time

import httpx

RETRY_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)
"""No answer: the connection failed, timed out, or closed before the response."""
RETRY_STATUSES = frozenset({503})
"""The server is unavailable for now (overloaded, shutting down, timed out)."""


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` more tries after the first; waits grow from `backoff` seconds, doubling."""

    retries: int = 3
    backoff: float = 0.2
    max_wait: float = 10.0
    """No wait is longer, whatever the server's `Retry-After` says."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_wait < 0:
            raise ValueError("retries, backoff and max_wait must not be negative")

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before trying again after try `attempt` (0: the first) ended with
        `response` (None: no answer); None when it is not to be retried."""
        if attempt >= self.retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            after = retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_wait)
        # Exponential backoff with jitter, so that clients cut off together do not return
        # together.
        return min(self.backoff * 2**attempt * random.uniform(0.5, 1.0), self.max_wait)


def retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (seconds, or an HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None
