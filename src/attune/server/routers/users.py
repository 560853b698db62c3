"""`/v1/users/{id}`: recommendations, explanations, history, attributes and erasure.

User ids are matched with the `id` convertor (see `routers/__init__`): any id is addressable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool

from attune.data.events import UserUpdate
from attune.engine.engine import Engine
from attune.learning.forgetting import versions_that_saw
from attune.ranking import UNKNOWN_FIELD, FilterSpec, unknown_rule_fields
from attune.schemas.catalogue import Erasure, Upserted, UserBody
from attune.schemas.problems import FieldError
from attune.schemas.recommendations import Explanation, History, Recommendations, RecommendRequest
from attune.schemas.records import ExternalId, is_valid_id
from attune.schemas.request import MAX_K
from attune.server import responses
from attune.server.body_fields import known_list
from attune.server.deps import (
    CanIngest,
    CanRecommend,
    EngineAccess,
    EngineDep,
    IsAdmin,
    MetricsDep,
    UserId,
)
from attune.server.fastpath import FastRoute, authorized, fast_path
from attune.server.known_input import KnownQuery
from attune.server.metrics import Metrics
from attune.server.problems import InvalidInputError, problem_responses, validated
from attune.server.responses import FastJSON
from attune.server.security import ApiScope

router = APIRouter(prefix="/v1/users", tags=["users"], route_class=FastRoute)

# `[\s\S]`, not `.`: a value may hold any character, a line break included.
FilterPair = Annotated[str, StringConstraints(pattern=r"^[^:=]+:[\s\S]+$", max_length=256)]
QueryItemId = ExternalId

_READ_ERRORS = problem_responses(401, 403, 404, 422)


async def _recommend(
    access: EngineAccess,
    metrics: Metrics,
    user_id: str,
    k: int,
    filters: FilterSpec | None,
    exclude_items: Sequence[str],
    diversity: float | None,
    explore: float | None,
) -> FastJSON:
    engine = access.engine
    if k > engine.config.max_k:
        raise InvalidInputError.one("k", f"must be at most {engine.config.max_k} on this server")
    if filters is not None:
        unknown = set(filters.reconsumable_event_types) - set(engine.event_types.names)
        if unknown:
            known = ", ".join(engine.event_types.names)
            raise InvalidInputError.one(
                "filters.reconsumable_event_types",
                f"unknown event types {sorted(unknown)}; known: {known}",
            )
    recs = await access.run(
        engine.recommend,
        user_id,
        k,
        filters=filters,
        exclude=exclude_items,
        diversity=diversity,
        explore=explore,
    )
    metrics.served(recs)
    return FastJSON(responses.recommendations(recs))


def _check_rule_fields(engine: Engine, filters: FilterSpec, query: bool) -> None:
    """422 for include/exclude rules on a field no item has (they would keep nothing, or drop
    nothing, without a word), naming the known fields. `query`: the rules came as GET
    parameters (`include=field:value`), else as the body's `filters`."""
    unknown = unknown_rule_fields(filters, engine.items.catalogue)
    if not unknown:
        return
    known = known_list(engine.items.catalogue.attribute_fields())
    raise InvalidInputError(
        [
            FieldError(field=rule, message=f"{name!r}: {UNKNOWN_FIELD}; {known}")
            if query
            else FieldError(field=f"filters.{rule}.{name}", message=f"{UNKNOWN_FIELD}; {known}")
            for rule, name in unknown
        ]
    )


def _rules(pairs: list[str] | None) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {}
    for pair in pairs or []:
        field, _, value = pair.partition(":")
        rules.setdefault(field, []).append(value)
    return rules


_PLAIN_K = re.compile(rb"k=([1-9][0-9]{0,3})")
"""The one query the GET fast path takes: `k`, in digits, no leading zero."""


async def _fast_recommendations(route: APIRoute, request: Request) -> Response | None:
    """GET recommendations with at most `k` in the query (the usual call): answered without
    FastAPI's dependency solving; anything else goes the declared way (see `fastpath`)."""
    access: EngineAccess | None = request.app.state.engine_access
    if access is None or not authorized(request, ApiScope.RECOMMEND):
        return None
    user_id = request.scope["path_params"].get("user_id")
    if not isinstance(user_id, str) or not is_valid_id(user_id):
        return None
    k, query = 10, request.scope["query_string"]
    if query:
        plain = _PLAIN_K.fullmatch(query)
        if plain is None or int(plain[1]) > MAX_K:
            return None
        k = int(plain[1])
    return await _recommend(access, request.app.state.metrics, user_id, k, None, [], None, None)


@router.get(
    "/{user_id:id}/recommendations",
    response_model=Recommendations,
    response_class=FastJSON,
    dependencies=[CanRecommend, KnownQuery],
    responses=problem_responses(401, 403, 422),
    summary="Recommend items, with simple filters",
)
@fast_path(_fast_recommendations)
async def get_recommendations(
    user_id: UserId,
    access: EngineDep,
    metrics: MetricsDep,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="Length of the list.")] = 10,
    include: Annotated[
        list[FilterPair] | None,
        Query(
            max_length=100,
            description="Keep only items with this attribute, as `field:value` (repeat the "
            "parameter: values of one field are or-ed, fields and-ed), e.g. `genre:Drama`. A "
            "field no item has is refused (422, listing the known fields).",
        ),
    ] = None,
    exclude: Annotated[
        list[FilterPair] | None,
        Query(
            max_length=100,
            description="Drop items with this attribute, as `field:value` (a field no item "
            "has: 422).",
        ),
    ] = None,
    exclude_items: Annotated[
        list[QueryItemId] | None,
        Query(
            max_length=100,
            description="Item ids not to return (e.g. already shown); more go in the POST form.",
        ),
    ] = None,
    diversity: Annotated[
        float | None, Query(ge=0.0, le=1.0, description="MMR weight of variety: 0 = off.")
    ] = None,
    explore: Annotated[
        float | None,
        Query(ge=0.0, le=1.0, description="Share of the list given to new or rarely shown items."),
    ] = None,
) -> FastJSON:
    """The user's top-k, each with its reason. Users without history get the cold-start chain
    (attribute profile, then popularity); unknown users are not an error. Use the POST form for
    the full filter language."""
    filters = None
    if include or exclude:
        base = access.engine.config.default_filter.model_dump()
        filters = validated(
            FilterSpec, **{**base, "include": _rules(include), "exclude": _rules(exclude)}
        )
        _check_rule_fields(access.engine, filters, query=True)
    return await _recommend(
        access, metrics, user_id, k, filters, exclude_items or [], diversity, explore
    )


@router.post(
    "/{user_id:id}/recommendations",
    response_model=Recommendations,
    response_class=FastJSON,
    dependencies=[CanRecommend, KnownQuery],
    responses=problem_responses(400, 401, 403, 413, 422),
    summary="Recommend items, with full filters",
)
async def post_recommendations(
    user_id: UserId,
    access: EngineDep,
    metrics: MetricsDep,
    body: Annotated[RecommendRequest, Body()],
) -> FastJSON:
    """As the GET form, with filters as a JSON `FilterSpec` (attribute rules, item exclusions,
    availability, seen and negative items, re-consumable event types)."""
    if body.filters is not None:
        _check_rule_fields(access.engine, body.filters, query=False)
    return await _recommend(
        access,
        metrics,
        user_id,
        body.k,
        body.filters,
        (),
        body.diversity,
        body.explore,
    )


@router.get(
    "/{user_id:id}/explanations",
    response_model=Explanation,
    response_class=FastJSON,
    dependencies=[CanRecommend, KnownQuery],
    responses=_READ_ERRORS,
    summary="Explain an item's score for a user",
)
async def get_explanation(
    user_id: UserId,
    item: Annotated[QueryItemId, Query(description="The item to explain.")],
    access: EngineDep,
) -> FastJSON:
    """The user's past events that pull their interest toward the item, strongest first.
    404 for an unknown user or item."""
    reason = await access.run(access.engine.explain, user_id, item)
    return FastJSON({"user_id": user_id, "item_id": item, "reason": responses.reason(reason)})


@router.get(
    "/{user_id:id}/history",
    response_model=History,
    response_class=FastJSON,
    dependencies=[CanRecommend],
    responses=_READ_ERRORS,
    summary="A user's recent events",
)
async def get_history(user_id: UserId, access: EngineDep) -> FastJSON:
    """The positive events the model reads for this user, oldest first. 404 if unknown."""
    events = await access.run(access.engine.history, user_id)
    return FastJSON(
        {
            "user_id": user_id,
            "events": [{"item_id": i, "event_type": t, "timestamp": ts} for i, t, ts in events],
        }
    )


@router.put(
    "/{user_id:id}",
    dependencies=[CanIngest],
    responses=problem_responses(400, 401, 403, 413, 422),
    summary="Create or update a user's attributes",
)
async def put_user(
    user_id: UserId, body: Annotated[UserBody, Body()], access: EngineDep
) -> Upserted:
    """Attributes drive the cold-start profile of users without history."""
    update = validated(UserUpdate, user_id=user_id, attributes=body.attributes)
    await access.run(access.engine.upsert_users, [update])
    return Upserted(upserted=1)


@router.delete(
    "/{user_id:id}",
    dependencies=[IsAdmin],
    responses=_READ_ERRORS,
    summary="Erase a user",
)
async def delete_user(user_id: UserId, access: EngineDep, request: Request) -> Erasure:
    """Erase the user's events, logged lists, interest state and attributes, and say what was
    removed and which model versions learned from the user. Afterwards the id is unknown: its
    history is 404 and it gets cold-start lists."""
    removed = await access.run(access.engine.forget_user, user_id)
    registry = request.app.state.registry
    versions = None
    if registry is not None:
        saw = np.array([removed["user_index"]], np.int64)
        versions = await run_in_threadpool(versions_that_saw, registry, saw)
    return Erasure(
        user_id=user_id,
        events=removed.get("events", 0),
        attributes=removed.get("attributes", 0),
        state=removed.get("state", 0),
        impressions=removed.get("impressions", 0),
        files_cleared=None if "files_cleared" not in removed else bool(removed["files_cleared"]),
        model_versions=versions,
    )
