"""`GET /v1/users` and `GET /v1/items`: find users by id prefix and look items up by id.

Recommendation and history answers carry ids only (they are the hot path); a screen that shows
people and titles, like the web console, asks for these facts here in one request per list.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from attune.data.events import MAX_ID_LENGTH
from attune.engine.engine import Engine, UnknownUserError
from attune.schemas.directory import ItemList, ItemSummary, UserList, UserSummary
from attune.schemas.records import RESERVED_ID_PREFIX
from attune.server.deps import CanRecommend, EngineDep
from attune.server.known_input import KnownQuery
from attune.server.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["directory"])

MAX_LOOKUP = 100
"""Most users or items one directory request returns."""

QueryItemId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]


@router.get(
    "/users",
    dependencies=[CanRecommend, KnownQuery],
    responses=problem_responses(401, 403, 422),
    summary="Find users by id prefix",
)
async def list_users(
    access: EngineDep,
    prefix: Annotated[
        str, Query(max_length=MAX_ID_LENGTH, description="Id prefix; empty = any user.")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LOOKUP, description="Most users returned.")] = 20,
) -> UserList:
    """Users whose id starts with `prefix`, an exact match first, each with the length of
    their history window and their attributes. With keyed pseudonyms (docs/privacy.md) only
    the user whose whole id is `prefix` is found."""
    users, more = await access.run(_find_users, access.engine, prefix, limit)
    return UserList(users=users, more=more)


def _find_users(engine: Engine, prefix: str, limit: int) -> tuple[list[UserSummary], bool]:
    if engine.pseudonymous:
        return _find_exact(engine, prefix), False
    known = engine.store.users
    exact = prefix and prefix in known and not prefix.startswith(RESERVED_ID_PREFIX)
    chosen = [prefix] if exact else []
    more = False
    for user_id in known.ids:  # a scan: ids are kept in arrival order, not sorted
        if user_id.startswith(RESERVED_ID_PREFIX):
            continue  # an erased user's tombstone: no user, and not an id a caller may name
        if user_id.startswith(prefix) and user_id != prefix:
            if len(chosen) == limit:
                more = True
                break
            chosen.append(user_id)
    found = []
    for user_id in chosen:
        try:
            history = len(engine.history(user_id))
        except UnknownUserError:  # erased while we looked
            continue
        attributes = engine.store.profiles.user_attributes(user_id) or {}
        found.append(UserSummary(user_id=user_id, history=history, attributes=attributes))
    return found, more


def _find_exact(engine: Engine, user_id: str) -> list[UserSummary]:
    """With keyed pseudonyms the store holds no raw id to match a prefix against: only the
    user the whole id names is found, under the id the caller gave."""
    if not user_id or user_id.startswith(RESERVED_ID_PREFIX):
        return []
    try:
        history = len(engine.history(user_id))
    except UnknownUserError:
        return []
    attributes = engine.store.profiles.user_attributes(engine.stored_user_id(user_id)) or {}
    return [UserSummary(user_id=user_id, history=history, attributes=attributes)]


@router.get(
    "/items",
    dependencies=[CanRecommend, KnownQuery],
    responses=problem_responses(401, 403, 422),
    summary="Look items up by id",
)
async def lookup_items(
    access: EngineDep,
    item_id: Annotated[
        list[QueryItemId],
        Query(
            alias="id",
            min_length=1,
            max_length=MAX_LOOKUP,
            description="An item id (repeat the parameter for more, up to 100).",
        ),
    ],
) -> ItemList:
    """Title and attributes of each item, in the order asked; unknown ids are marked
    `known: false` rather than refused, so one stale id does not hide the others."""
    return ItemList(items=await access.run(_describe_items, access.engine, item_id))


def _describe_items(engine: Engine, item_ids: list[str]) -> list[ItemSummary]:
    out = []
    for item_id in item_ids:
        known = item_id in engine.store.items
        attributes: dict[str, Any] = (
            (engine.store.catalogue.item_attributes(item_id) or {}) if known else {}
        )
        title = attributes.get("title")
        out.append(
            ItemSummary(
                item_id=item_id,
                known=known,
                title=title if isinstance(title, str) else None,
                attributes=attributes,
            )
        )
    return out
