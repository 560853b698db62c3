"""`Client`: the blocking Python client of the HTTP API."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from attune.client import _calls
from attune.client._calls import EventLike, T
from attune.client._retry import RETRY_ERRORS, RetryPolicy
from attune.schemas.catalogue import Erasure, Upserted
from attune.schemas.directory import ItemList, UserList
from attune.schemas.events import IngestResponse
from attune.schemas.feedback import FeedbackSummary
from attune.schemas.filters import FilterSpec
from attune.schemas.operations import Health, Readiness, Report, Stats
from attune.schemas.recommendations import Explanation, History, Recommendations, SimilarItems
from attune.schemas.records import AttributeValue, ItemUpdate


def headers(api_key: str | None) -> dict[str, str]:
    return {"content-type": "application/json"} | ({"x-api-key": api_key} if api_key else {})


class Client:
    """Every endpoint of an Attune server, with typed answers; errors raise `APIError`.

    `Client("http://127.0.0.1:8000", api_key=...)`; use as a context manager or `close()`.

    Every event sent gets an `event_id` (a random one, unless it has one), and a request that
    fails to connect, loses its answer or gets a 503 is sent again, up to `retries` more times
    after waits growing from `backoff` seconds: the server applies an event id once per user,
    so a resent batch does not count twice.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        **httpx_args: Any,
    ) -> None:
        self._retry = RetryPolicy(retries, backoff)
        self._http = httpx.Client(
            base_url=base_url, headers=headers(api_key), timeout=timeout, **httpx_args
        )

    def _send(self, call: _calls.Call[T]) -> T:
        """Send, and again (the same body) after a connection error or a 503, as the retry
        policy allows."""
        content = call.content()
        for attempt in itertools.count():
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, content=content
                )
            except RETRY_ERRORS:
                if (wait := self._retry.wait(attempt, None)) is None:
                    raise
            else:
                if (wait := self._retry.wait(attempt, response)) is None:
                    return _calls.parse(call, response.status_code, response.content)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def ingest(self, events: EventLike | Sequence[EventLike]) -> IngestResponse:
        """Send one event or a batch (up to 1,000); rejected events are listed."""
        return self._send(_calls.ingest(events))

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        include: Mapping[str, str | Sequence[str]] | None = None,
        exclude: Mapping[str, str | Sequence[str]] | None = None,
        exclude_items: Sequence[str] = (),
        diversity: float | None = None,
        explore: float | None = None,
        filters: FilterSpec | None = None,
    ) -> Recommendations:
        """Top-k for a user. `include={"genre": ["Drama"]}` style rules, or a full `filters`."""
        return self._send(
            _calls.recommend(
                user_id,
                k,
                include=include,
                exclude=exclude,
                exclude_items=exclude_items,
                diversity=diversity,
                explore=explore,
                filters=filters,
            )
        )

    def explain(self, user_id: str, item_id: str) -> Explanation:
        return self._send(_calls.explain(user_id, item_id))

    def history(self, user_id: str) -> History:
        return self._send(_calls.history(user_id))

    def similar_items(self, item_id: str, k: int = 10) -> SimilarItems:
        return self._send(_calls.similar_items(item_id, k))

    def upsert_item(
        self,
        item_id: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        *,
        available_from: datetime | None = None,
        available_until: datetime | None = None,
        blocked: bool = False,
    ) -> Upserted:
        return self._send(
            _calls.upsert_item(item_id, attributes, available_from, available_until, blocked)
        )

    def upsert_items(self, items: Sequence[ItemUpdate]) -> Upserted:
        return self._send(_calls.upsert_items(items))

    def upsert_user(self, user_id: str, attributes: Mapping[str, AttributeValue]) -> Upserted:
        return self._send(_calls.upsert_user(user_id, attributes))

    def forget_user(self, user_id: str) -> Erasure:
        """Erase the user's events, state and attributes (needs the admin scope)."""
        return self._send(_calls.forget_user(user_id))

    def feedback(self) -> FeedbackSummary:
        """Click-through and conversion of served lists per model version and reason."""
        return self._send(_calls.feedback())

    def stats(self, window: int = 300) -> Stats:
        """Store counts, and per-second events and recommendation latency of the last
        `window` seconds."""
        return self._send(_calls.stats(window))

    def users(self, prefix: str = "", limit: int = 20) -> UserList:
        """Users whose id starts with `prefix` (an exact match first), with a few facts."""
        return self._send(_calls.users(prefix, limit))

    def items(self, item_ids: Sequence[str]) -> ItemList:
        """Title and attributes of up to 100 items, in the order given."""
        return self._send(_calls.items(item_ids))

    def latest_report(self) -> Report:
        """The newest evaluation report in the server's `report_dir`."""
        return self._send(_calls.latest_report())

    def health(self) -> Health:
        return self._send(_calls.health())

    def ready(self) -> Readiness:
        return self._send(_calls.ready())

    def metrics(self) -> str:
        """The Prometheus text exposition."""
        r = self._http.get("/metrics")
        r.raise_for_status()
        return r.text

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
