"""The API as a client sees it, against a real server (see conftest.keyed_server)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from attune.client import APIError, AsyncClient, Client, FilterSpec, Interaction, ItemUpdate
from attune.schemas.catalogue import ItemBody
from attune.schemas.recommendations import Recommendations
from tests.engine.conftest import PER_CLUSTER, cluster_of
from tests.server.conftest import Keys, Server

Served = tuple[Server, Keys]


@pytest.fixture
def admin(keyed_server: Served) -> Client:
    server, keys = keyed_server
    return Client(server.url, api_key=keys.admin)


def _clusters(recs: Recommendations) -> Counter[int]:
    return Counter(cluster_of(r.item_id) for r in recs.items if r.item_id[0] == "c")


def test_an_event_changes_the_next_recommendation(admin: Client) -> None:
    before = admin.recommend("u1", k=8)  # u1's latest session is in cluster 1
    assert before.source == "model" and len(before.items) == 8
    assert _clusters(before).most_common(1)[0][0] == 1
    now = time.time()
    events = [
        Interaction(user_id="u1", item_id=f"c3-{j}", event_type="purchase", timestamp=now - 60 + j)
        for j in range(5)
    ]
    result = admin.ingest(events)
    assert (result.accepted, result.rejected) == (5, [])
    after = admin.recommend("u1", k=8)
    assert _clusters(after).most_common(1)[0][0] == 3
    assert after.recommendation_id != before.recommendation_id
    top = after.items[0].reason
    assert top.kind == "similar" and "bought Item" in top.text
    assert top.influences[0].item_id.startswith("c3-") and "genre=g3" in top.matched_attributes
    assert [e.item_id for e in admin.history("u1").events][-5:] == [f"c3-{j}" for j in range(5)]


def test_scopes_are_enforced(keyed_server: Served) -> None:
    server, keys = keyed_server
    event = {"user_id": "u40", "item_id": "c0-1"}
    anonymous = Client(server.url)
    reader = Client(server.url, api_key=keys.recommend)
    writer = Client(server.url, api_key=keys.ingest)
    for call in (lambda: anonymous.recommend("u40"), lambda: anonymous.ingest(event)):
        with pytest.raises(APIError) as err:
            call()
        assert err.value.status == 401
    with pytest.raises(APIError) as err:
        Client(server.url, api_key=keys.admin[:-2] + "xx").recommend("u40")
    assert err.value.status == 401
    assert reader.recommend("u40").items
    assert writer.ingest(event).accepted == 1
    for call in (
        lambda: reader.ingest(event),
        lambda: reader.upsert_item("c0-1", {"genre": "g0"}),
        lambda: writer.recommend("u40"),
        lambda: writer.history("u40"),
        lambda: writer.forget_user("u40"),
        lambda: reader.forget_user("u40"),
    ):
        with pytest.raises(APIError) as err:
            call()
        assert err.value.status == 403 and err.value.problem is not None
    # Bearer works like X-API-Key; health and metrics need no key.
    bearer = httpx.get(
        f"{server.url}/v1/users/u40/history", headers={"Authorization": f"Bearer {keys.recommend}"}
    )
    assert bearer.status_code == 200
    assert anonymous.health().status == "ok" and "attune_model_version" in anonymous.metrics()


def test_filters_as_query_parameters_and_as_json(admin: Client) -> None:
    recs = admin.recommend("u2", k=5, include={"genre": "g2"}, exclude_items=["c2-0", "c2-1"])
    assert len(recs.items) == 5 and set(_clusters(recs)) == {2}
    assert not {"c2-0", "c2-1"} & {r.item_id for r in recs.items}
    spec = FilterSpec(exclude={"genre": ["g0", "g1", "g2"]}, exclude_items=["c3-0"])
    posted = admin.recommend("u2", k=PER_CLUSTER, filters=spec)
    assert set(_clusters(posted)) == {3} and "c3-0" not in {r.item_id for r in posted.items}
    explored = admin.recommend("u2", k=10, explore=0.3)
    assert [r.reason.kind for r in explored.items].count("exploration") == 3


def test_bad_input_is_a_problem_naming_the_field(keyed_server: Served, admin: Client) -> None:
    server, keys = keyed_server
    future = time.time() + 86400
    result = admin.ingest(
        [
            {"user_id": "u41", "item_id": "c0-1", "event_type": "teleport"},
            {"user_id": "u41", "item_id": "c0-2", "timestamp": future},
            {"user_id": "u41", "item_id": "c0-3", "event_type": "click"},
        ]
    )
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [(0, "event_type"), (1, "timestamp")]
    cases = [
        (
            lambda: admin.ingest([{"user_id": "u41", "item_id": "c0-1"}, {"user_id": "u41"}]),
            422,
            ["[1].item_id"],
        ),
        (
            lambda: admin.ingest({"user_id": "u41", "item_id": "c0-1", "event_type": "teleport"}),
            422,
            ["event_type"],
        ),
        (lambda: admin.ingest([{"user_id": "u41", "item_id": "c0-1"}] * 1001), 422, ["body"]),
        (lambda: admin.ingest({"user_id": "x" * 300, "item_id": "c0-1"}), 422, ["user_id"]),
        (lambda: admin.recommend("u41", k=0), 422, ["k"]),
        (lambda: admin.recommend("u41", include={"genre=x": "y"}), 422, ["include[0]"]),
        (lambda: admin.explain("u41", "no-such-item"), 404, ["item_id"]),
        (lambda: admin.history("nobody-at-all"), 404, ["user_id"]),
        (lambda: admin.similar_items("c0-1", k=5000), 422, ["k"]),
    ]
    for call, status, fields in cases:
        with pytest.raises(APIError) as err:
            call()
        assert (err.value.status, err.value.fields) == (status, fields), err.value
    big = httpx.post(
        f"{server.url}/v1/events",
        content=b"[" + b" " * (5 * 2**20) + b"]",
        headers={"x-api-key": keys.ingest, "content-type": "application/json"},
    )
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"
    assert big.json()["errors"] == [{"field": "body", "message": big.json()["detail"]}]


def test_catalogue_and_user_updates(admin: Client) -> None:
    admin.upsert_item("fresh-1", {"genre": "g1", "title": "Fresh"})
    similar = admin.similar_items("fresh-1", k=5)
    assert len(similar.items) == 5 and all(cluster_of(i.item_id) == 1 for i in similar.items)
    admin.upsert_items(
        [ItemUpdate(item_id=f"bulk-{j}", attributes={"genre": "g2"}) for j in range(3)]
    )
    assert {i.item_id for i in admin.similar_items("bulk-0", k=2).items} <= {
        f"c2-{j}" for j in range(PER_CLUSTER)
    } | {"bulk-1", "bulk-2"}
    admin.upsert_item("c0-4", {"genre": "g0"}, blocked=True)
    assert "c0-4" not in {r.item_id for r in admin.recommend("u0", k=PER_CLUSTER * 4).items}
    admin.upsert_user("newcomer", {"segment": "s2"})
    cold = admin.recommend("newcomer", k=6)
    assert cold.source == "attributes" and _clusters(cold).most_common(1)[0][0] == 2
    assert admin.recommend("never-seen", k=4).source == "popularity"


def test_bulk_item_updates_reach_the_lists_at_once(admin: Client) -> None:
    """The batch `PUT /v1/items` (attributes, text, availability) changes the served index
    without a restart: new items are ranked by vectors from their attributes, and an item
    made unavailable, trained or new, leaves the next list."""
    user = "u47"  # latest session in cluster 3
    now = datetime.now(UTC)
    text = "A third-genre thing, described at length"
    admin.upsert_items(
        [
            ItemUpdate(item_id="live-0", attributes={"genre": "g3", "title": "Live", "text": text}),
            ItemUpdate(item_id="live-1", attributes={"genre": "g3", "text": text}),
            ItemUpdate(item_id="live-later", attributes={"genre": "g3"}, available_from=now + _DAY),
        ]
    )
    assert admin.items(["live-0"]).items[0].attributes["text"] == text
    similar = [i.item_id for i in admin.similar_items("live-1", k=8).items]
    assert len(similar) == 8 and all(i[:3] in ("c3-", "liv") for i in similar), similar
    listed = _ids(admin.recommend(user, k=PER_CLUSTER))
    assert {"live-0", "live-1"} <= listed and "live-later" not in listed
    trained = next(i for i in listed if i.startswith("c3-"))
    before = admin.items([trained]).items[0].attributes
    gone = now - _DAY
    try:
        admin.upsert_items(
            [
                ItemUpdate(item_id=trained, attributes=before, available_until=gone),
                ItemUpdate(item_id="live-0", attributes={"genre": "g3"}, available_until=gone),
            ]
        )
        after = _ids(admin.recommend(user, k=PER_CLUSTER))
        assert not {trained, "live-0", "live-later"} & after and "live-1" in after
    finally:
        admin.upsert_items([ItemUpdate(item_id=trained, attributes=before)])
    assert trained in _ids(admin.recommend(user, k=PER_CLUSTER))


_DAY = timedelta(days=1)


def _ids(recs: Recommendations) -> set[str]:
    return {r.item_id for r in recs.items}


def test_item_body_mirrors_item_update() -> None:
    """The PUT body must follow the data layer's ItemUpdate (minus the id in the path)."""
    assert set(ItemBody.model_fields) == set(ItemUpdate.model_fields) - {"item_id"}


def test_erasure_leaves_no_trace(keyed_server: Served, admin: Client) -> None:
    server, _ = keyed_server
    admin.upsert_user("erase/me", {"segment": "s1"})
    admin.ingest([Interaction(user_id="erase/me", item_id=f"c1-{j}") for j in range(4)])
    assert len(admin.history("erase/me").events) == 4
    db = sqlite3.connect(f"file:{server.db}?mode=ro", uri=True)
    (idx,) = db.execute("SELECT idx FROM users WHERE ext_id = 'erase/me'").fetchone()
    admin.recommend("erase/me", k=3)
    time.sleep(1.1)  # buffered lists are written by the first call a second later
    admin.recommend("erase/me", k=3)
    shown = "SELECT COUNT(*) FROM impressions WHERE user_idx = ?"
    assert db.execute(shown, (idx,)).fetchone() == (2,)

    erased = admin.forget_user("erase/me")
    assert (erased.events, erased.attributes, erased.state, erased.impressions) == (4, 1, 1, 2)
    assert db.execute("SELECT COUNT(*) FROM events WHERE user_idx = ?", (idx,)).fetchone() == (0,)
    assert db.execute(shown, (idx,)).fetchone() == (0,)
    assert (
        db.execute("SELECT ext_id, attributes FROM users WHERE idx = ?", (idx,)).fetchone()[1]
        is None
    )
    assert db.execute("SELECT COUNT(*) FROM users WHERE ext_id = 'erase/me'").fetchone() == (0,)
    for call in (
        lambda: admin.history("erase/me"),
        lambda: admin.forget_user("erase/me"),
        lambda: admin.explain("erase/me", "c1-0"),
    ):
        with pytest.raises(APIError) as err:
            call()
        assert err.value.status == 404
    assert admin.recommend("erase/me").source == "popularity"
    # The state snapshot was rewritten without the user.
    from attune.stores.state import MemoryUserStateStore

    states = MemoryUserStateStore(Path(str(server.db) + ".state"))
    states.load_snapshot()
    assert states.get(idx) is None and len(states) > 400


def test_async_client_and_metrics(keyed_server: Served) -> None:
    server, keys = keyed_server

    async def scenario() -> None:
        async with AsyncClient(server.url, api_key=keys.admin) as client:
            got = await asyncio.gather(*(client.recommend(f"u{u}", k=3) for u in range(50, 58)))
            assert all(len(r.items) == 3 for r in got)
            assert (await client.ingest({"user_id": "u50", "item_id": "c2-2"})).accepted == 1
            assert (await client.explain("u50", "c2-3")).reason.influences
            assert (await client.ready()).users >= 480
            text = await client.metrics()
        assert 'route="/v1/users/{user_id:id}/recommendations"' in text
        assert 'attune_recommendations_served_total{source="model"}' in text
        assert "attune_events_ingested_total" in text and "attune_users_known" in text

    asyncio.run(scenario())
