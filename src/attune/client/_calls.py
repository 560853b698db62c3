"""Each API operation as a plain request description, shared by the sync and async clients."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import orjson
from pydantic import BaseModel

from attune.schemas.catalogue import Erasure, Upserted
from attune.schemas.directory import ItemList, UserList
from attune.schemas.events import IngestResponse
from attune.schemas.feedback import FeedbackSummary
from attune.schemas.filters import FilterSpec
from attune.schemas.operations import Health, Readiness, Report, Stats
from attune.schemas.problems import Problem
from attune.schemas.recommendations import Explanation, History, Recommendations, SimilarItems
from attune.schemas.records import AttributeValue, Interaction, ItemUpdate

T = TypeVar("T", bound=BaseModel)

EventLike = Interaction | Mapping[str, Any]
"""An event: the typed record, or a dict with the same fields."""


class APIError(Exception):
    """The server answered with an error; `problem` holds its RFC 9457 document."""

    def __init__(self, status: int, problem: Problem | None, body: str = "") -> None:
        self.status = status
        self.problem = problem
        detail = problem.detail if problem else body[:200]
        super().__init__(f"HTTP {status}: {detail}")

    @property
    def fields(self) -> list[str]:
        """The fields the server named as wrong."""
        return [e.field for e in self.problem.errors] if self.problem else []


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    result: type[T]
    params: list[tuple[str, str | int | float | bool | None]] = field(default_factory=list)
    body: Any = None

    def content(self) -> bytes | None:
        return None if self.body is None else orjson.dumps(self.body)


def parse(call: Call[T], status: int, content: bytes) -> T:
    if status >= 400:
        try:
            problem: Problem | None = Problem.model_validate_json(content)
        except ValueError:
            problem = None
        raise APIError(status, problem, content.decode(errors="replace"))
    return call.result.model_validate_json(content)


def _id(value: str) -> str:
    return quote(value, safe="")


def _event(e: EventLike) -> Any:
    """The event's JSON body, with a fresh event id if it has none: the id makes resending
    it harmless (the server applies an id once per user)."""
    body = e.model_dump(mode="json") if isinstance(e, BaseModel) else dict(e)
    if body.get("event_id") is None:
        body["event_id"] = uuid.uuid4().hex
    return body


def _rules(name: str, rules: Mapping[str, str | Sequence[str]] | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for attr, values in (rules or {}).items():
        for v in [values] if isinstance(values, str) else values:
            out.append((name, f"{attr}:{v}"))
    return out


def ingest(events: EventLike | Sequence[EventLike]) -> Call[IngestResponse]:
    if isinstance(events, Interaction | Mapping):
        body: Any = _event(events)
    else:
        body = [_event(e) for e in events]
    return Call("POST", "/v1/events", IngestResponse, body=body)


def recommend(
    user_id: str,
    k: int,
    *,
    include: Mapping[str, str | Sequence[str]] | None,
    exclude: Mapping[str, str | Sequence[str]] | None,
    exclude_items: Sequence[str],
    diversity: float | None,
    explore: float | None,
    filters: FilterSpec | None,
) -> Call[Recommendations]:
    path = f"/v1/users/{_id(user_id)}/recommendations"
    if filters is not None:
        if include or exclude:
            raise ValueError("give attribute rules inside `filters`, or as include/exclude")
        if exclude_items:
            both = [*filters.exclude_items, *exclude_items]
            filters = filters.model_copy(update={"exclude_items": both})
        body = {"k": k, "filters": filters.model_dump(mode="json")}
        body |= {n: v for n, v in (("diversity", diversity), ("explore", explore)) if v is not None}
        return Call("POST", path, Recommendations, body=body)
    params: list[tuple[str, str | int | float | bool | None]] = [("k", k)]
    params += _rules("include", include) + _rules("exclude", exclude)
    params += [("exclude_items", i) for i in exclude_items]
    params += [(n, v) for n, v in (("diversity", diversity), ("explore", explore)) if v is not None]
    return Call("GET", path, Recommendations, params=params)


def explain(user_id: str, item_id: str) -> Call[Explanation]:
    path = f"/v1/users/{_id(user_id)}/explanations"
    return Call("GET", path, Explanation, params=[("item", item_id)])


def history(user_id: str) -> Call[History]:
    return Call("GET", f"/v1/users/{_id(user_id)}/history", History)


def similar_items(item_id: str, k: int) -> Call[SimilarItems]:
    return Call("GET", f"/v1/items/{_id(item_id)}/similar", SimilarItems, params=[("k", k)])


def upsert_item(
    item_id: str,
    attributes: Mapping[str, AttributeValue] | None,
    available_from: datetime | None,
    available_until: datetime | None,
    blocked: bool,
) -> Call[Upserted]:
    body: dict[str, Any] = {"attributes": dict(attributes or {}), "blocked": blocked}
    for name, when in (("available_from", available_from), ("available_until", available_until)):
        if when is not None:
            body[name] = when.isoformat()
    return Call("PUT", f"/v1/items/{_id(item_id)}", Upserted, body=body)


def upsert_items(items: Sequence[ItemUpdate]) -> Call[Upserted]:
    return Call("PUT", "/v1/items", Upserted, body=[i.model_dump(mode="json") for i in items])


def upsert_user(user_id: str, attributes: Mapping[str, AttributeValue]) -> Call[Upserted]:
    body = {"attributes": dict(attributes)}
    return Call("PUT", f"/v1/users/{_id(user_id)}", Upserted, body=body)


def forget_user(user_id: str) -> Call[Erasure]:
    return Call("DELETE", f"/v1/users/{_id(user_id)}", Erasure)


def feedback() -> Call[FeedbackSummary]:
    return Call("GET", "/v1/feedback", FeedbackSummary)


def stats(window: int) -> Call[Stats]:
    return Call("GET", "/v1/stats", Stats, params=[("window", window)])


def users(prefix: str, limit: int) -> Call[UserList]:
    return Call("GET", "/v1/users", UserList, params=[("prefix", prefix), ("limit", limit)])


def items(item_ids: Sequence[str]) -> Call[ItemList]:
    return Call("GET", "/v1/items", ItemList, params=[("id", i) for i in item_ids])


def latest_report() -> Call[Report]:
    return Call("GET", "/v1/reports/latest", Report)


def health() -> Call[Health]:
    return Call("GET", "/healthz", Health)


def ready() -> Call[Readiness]:
    return Call("GET", "/readyz", Readiness)
