"""`/v1/items`: similar items, and catalogue updates one by one or in bulk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from attune.data.events import ItemUpdate
from attune.schemas.catalogue import ItemBody, ItemsBody, Upserted
from attune.schemas.recommendations import SimilarItem, SimilarItems
from attune.schemas.request import MAX_K
from attune.server.deps import CanIngest, CanRecommend, EngineDep, ItemId
from attune.server.known_input import KnownQuery
from attune.server.paths import IdRoute
from attune.server.problems import InvalidInputError, problem_responses, validated

router = APIRouter(prefix="/v1/items", tags=["items"], route_class=IdRoute)

_WRITE_ERRORS = problem_responses(400, 401, 403, 413, 422)


@router.get(
    "/{item_id:id}/similar",
    dependencies=[CanRecommend, KnownQuery],
    responses=problem_responses(401, 403, 404, 422),
    summary="Items similar to an item",
)
async def get_similar(
    item_id: ItemId,
    access: EngineDep,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many items.")] = 10,
) -> SimilarItems:
    """The items whose vectors are closest to this one's ("more like this"). 404 if the item
    is unknown; an empty list if the model has no vector for it yet."""
    max_k = access.engine.config.max_k
    if k > max_k:
        raise InvalidInputError.one("k", f"must be at most {max_k} on this server")
    found = await access.run(access.engine.similar_items, item_id, k)
    return SimilarItems(item_id=item_id, items=[SimilarItem(item_id=i, score=s) for i, s in found])


@router.put(
    "/{item_id:id}",
    dependencies=[CanIngest],
    responses=_WRITE_ERRORS,
    summary="Create or update an item",
)
async def put_item(
    item_id: ItemId, body: Annotated[ItemBody, Body()], access: EngineDep
) -> Upserted:
    """Set the item's attributes and availability window. A new item is recommendable at
    once, with a vector from its attributes."""
    update = validated(ItemUpdate, item_id=item_id, **body.model_dump(exclude_none=True))
    await access.run(access.engine.upsert_items, [update])
    return Upserted(upserted=1)


@router.put(
    "",
    dependencies=[CanIngest],
    responses=_WRITE_ERRORS,
    summary="Create or update many items",
)
async def put_items(
    body: Annotated[ItemsBody, Body(description="1 to 1,000 item updates.")], access: EngineDep
) -> Upserted:
    """Bulk form of `PUT /v1/items/{item_id}`, applied in one transaction."""
    await access.run(access.engine.upsert_items, body)
    return Upserted(upserted=len(body))
