import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from attune.data.events import Interaction, ItemUpdate, UserUpdate
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine, UnknownUserError
from attune.ranking import FilterSpec
from tests.engine.conftest import PER_CLUSTER, cluster_of


def _open(files: tuple[Path, Path], **cfg: object) -> Engine:
    db, model = files
    return Engine.open(db, model, EngineConfig(**cfg))  # type: ignore[arg-type]


def _clusters(recs) -> Counter[int]:  # type: ignore[no-untyped-def]
    return Counter(cluster_of(r.item_id) for r in recs.items)


def test_recommendations_follow_history_then_shift_with_new_events(engine_files) -> None:
    engine = _open(engine_files)
    before = engine.recommend("u1", k=8)  # u1 browses cluster 1
    assert len(before.items) == 8
    assert _clusters(before).most_common(1)[0][0] == 1
    assert {r.reason.kind for r in before.items} == {"similar"}
    now = time.time()
    events = [
        Interaction(user_id="u1", item_id=f"c3-{j}", event_type="purchase", timestamp=now - 120 + j)
        for j in range(5)
    ]
    result = engine.ingest(events)
    assert result.accepted == 5 and not result.rejected
    after = engine.recommend("u1", k=8)
    assert _clusters(after)[3] > _clusters(before)[3]
    assert _clusters(after).most_common(1)[0][0] == 3
    # Reasons name the new events: "because you bought Item j of genre g3 2 minutes ago".
    texts = [r.reason.text for r in after.items if cluster_of(r.item_id) == 3]
    assert texts and all("bought Item" in t and "g3" in t and "minute" in t for t in texts)
    top = after.items[0].reason
    assert top.influences[0].item_id.startswith("c3-")
    assert "genre=g3" in top.matched_attributes
    assert after.recommendation_id != before.recommendation_id
    engine.close()


def test_seen_and_negative_items_are_filtered(engine_files) -> None:
    engine = _open(engine_files)
    seen = {i for i, _, _ in engine.history("u2")}
    recs = engine.recommend("u2", k=20)
    assert not seen & {r.item_id for r in recs.items}
    target = recs.items[0].item_id
    engine.ingest([Interaction(user_id="u2", item_id=target, event_type="dislike")])
    assert target not in {r.item_id for r in engine.recommend("u2", k=20).items}
    keep_seen = engine.recommend(
        "u2", k=PER_CLUSTER * 4, filters=FilterSpec(exclude_seen=False, exclude_negative=False)
    )
    assert target in {r.item_id for r in keep_seen.items}
    engine.close()


def test_attribute_filter_and_exclude(engine_files) -> None:
    engine = _open(engine_files)
    recs = engine.recommend(
        "u1", k=5, filters=FilterSpec(include={"genre": ["g2"]}), exclude=["c2-0", "c2-1"]
    )
    assert len(recs.items) == 5
    assert all(cluster_of(r.item_id) == 2 for r in recs.items)
    assert not {"c2-0", "c2-1"} & {r.item_id for r in recs.items}
    engine.close()


def test_ingest_rejects_bad_events_and_keeps_the_rest(engine_files) -> None:
    engine = _open(engine_files)
    future = time.time() + 86400
    result = engine.ingest(
        [
            {"user_id": "u1", "item_id": "c0-1", "event_type": "teleport"},
            {"user_id": "u1", "item_id": "c0-1", "timestamp": future},
            {"user_id": "u1", "item_id": "c0-1", "value": float("nan")},
            {"user_id": "x" * 300, "item_id": "c0-1"},
            {"user_id": "u1", "item_id": "c0-2", "event_type": "click"},
        ]
    )
    assert result.accepted == 1
    assert [(r.index, r.field) for r in result.rejected] == [
        (0, "event_type"),
        (1, "timestamp"),
        (2, "value"),
        (3, "user_id"),
    ]
    assert engine.history("u1")[-1][:2] == ("c0-2", "click")
    engine.close()


def test_cold_user_gets_attribute_profile_then_popularity(engine_files) -> None:
    engine = _open(engine_files)
    engine.upsert_users([UserUpdate(user_id="new", attributes={"segment": "s2"})])
    recs = engine.recommend("new", k=6)
    assert recs.source == "attributes"
    assert _clusters(recs).most_common(1)[0][0] == 2
    anon = engine.recommend("nobody-knows-me", k=6)
    assert anon.source == "popularity" and len(anon.items) == 6
    assert {r.reason.kind for r in anon.items} == {"popular"}
    engine.close()


def test_new_item_is_recommendable_at_once_from_attributes(engine_files) -> None:
    engine = _open(engine_files)
    engine.upsert_items([ItemUpdate(item_id="fresh", attributes={"genre": "g0", "title": "Fresh"})])
    similar = dict(engine.similar_items("fresh", k=5))
    assert len(similar) == 5 and all(cluster_of(i) == 0 for i in similar)
    recs = engine.recommend("u0", k=PER_CLUSTER)
    assert "fresh" in {r.item_id for r in recs.items}
    engine.close()


def test_diversity_and_exploration(engine_files) -> None:
    engine = _open(engine_files)
    plain = engine.recommend("u1", k=8)
    diverse = engine.recommend("u1", k=8, diversity=0.9)
    assert len(_clusters(diverse)) > len(_clusters(plain))
    explored = engine.recommend("u1", k=10, explore=0.3)
    kinds = [r.reason.kind for r in explored.items]
    assert kinds.count("exploration") == 3
    engine.close()


def test_explain_names_history_items(engine_files) -> None:
    engine = _open(engine_files)
    reason = engine.explain("u3", "c3-5")
    assert reason.kind == "similar" and reason.influences
    assert all(i.item_id.startswith("c3-") for i in reason.influences)
    # Shares of the whole window (one per past item), strongest first: the top 3 carry at
    # least their even part of it.
    weights = [i.weight for i in reason.influences]
    distinct = len(set(e[0] for e in engine.history("u3")))
    assert weights == sorted(weights, reverse=True)
    assert 3 / distinct - 1e-6 <= sum(weights) <= 1 + 1e-6
    with pytest.raises(UnknownUserError):
        engine.explain("nobody", "c3-5")
    engine.close()


def test_restart_gives_identical_vectors(engine_files) -> None:
    engine = _open(engine_files)
    engine.ingest(
        [
            Interaction(user_id="u5", item_id="c0-3", event_type="click"),
            Interaction(user_id="brand-new", item_id="c1-4"),
        ]
    )
    before = {u: engine.user_vector(u) for u in ("u5", "u6", "brand-new")}
    engine.close()
    again = _open(engine_files)
    for user, vec in before.items():
        assert vec is not None and np.array_equal(again.user_vector(user), vec), user
    again.close()
    # Without the snapshot, state is rebuilt from the log alone: same vectors.
    Path(str(engine_files[0]) + ".state").unlink()
    rebuilt = _open(engine_files)
    for user, vec in before.items():
        assert np.array_equal(rebuilt.user_vector(user), vec), user
    rebuilt.close()


def test_forget_user_removes_everything(engine_files) -> None:
    engine = _open(engine_files)
    removed = engine.forget_user("u7")
    assert removed["events"] == 12 and removed["state"] == 1 and removed["attributes"] == 1
    assert engine.user_vector("u7") is None
    assert engine.recommend("u7", k=3).source == "popularity"
    with pytest.raises(UnknownUserError):
        engine.history("u7")
    engine.close()
    again = _open(engine_files)
    assert again.user_vector("u7") is None
    again.close()


def test_incremental_path_matches_full_recompute(engine_files) -> None:
    full = _open(engine_files)
    db, _model = engine_files
    events = [Interaction(user_id="inc", item_id=f"c2-{j}") for j in range(6)]
    for e in events:
        full.ingest([e])
    vec_full = full.user_vector("inc")
    full.close()
    for suffix in ("", "-wal", "-shm", ".state"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    from attune.stores import open_storage
    from tests.engine.conftest import clustered_dataset

    with open_storage(db) as store:
        store.import_dataset(clustered_dataset(), progress=False)
    inc = _open(engine_files, incremental=True)
    for e in events:
        inc.ingest([e])
    assert len(inc._kv) >= 1
    assert np.allclose(inc.user_vector("inc"), vec_full, atol=2e-3)  # float16 storage
    inc.close()


def test_faiss_index_agrees_with_exact(engine_files) -> None:
    exact = _open(engine_files)
    lists_exact = [[r.item_id for r in exact.recommend(f"u{u}", k=10).items] for u in range(40)]
    exact.close()
    ann = _open(engine_files, index="faiss")
    report = ann.items.index.build_report
    assert report is not None and report.recall_at_k >= 0.95
    lists_ann = [[r.item_id for r in ann.recommend(f"u{u}", k=10).items] for u in range(40)]
    overlap = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(lists_exact, lists_ann, strict=True)]
    )
    assert overlap >= 0.95
    ann.close()


def test_hidden_blocked_and_unavailable_items_are_never_returned(engine_files) -> None:
    engine = _open(engine_files)
    everything = FilterSpec(exclude_seen=False, exclude_negative=False)
    all_items = {r.item_id for r in engine.recommend("u1", k=60, filters=everything).items}
    assert {"c1-0", "c1-1", "c1-2"} <= all_items
    engine.ingest([Interaction(user_id="u1", item_id="c1-0", event_type="hide")])
    past = time.time() - 3600
    from datetime import UTC, datetime

    engine.upsert_items(
        [
            ItemUpdate(item_id="c1-1", attributes={"genre": "g1"}, blocked=True),
            ItemUpdate(
                item_id="c1-2",
                attributes={"genre": "g1"},
                available_until=datetime.fromtimestamp(past, UTC),
            ),
        ]
    )
    listed = {r.item_id for r in engine.recommend("u1", k=57, filters=everything).items}
    assert not {"c1-0", "c1-1", "c1-2"} & listed
    assert len(listed) == 57  # the other 57 items still fill the list
    # Hidden stays hidden for this user only; blocked and expired for everyone.
    other = {r.item_id for r in engine.recommend("u5", k=60, filters=everything).items}
    assert "c1-0" in other and not {"c1-1", "c1-2"} & other
    engine.close()
    again = _open(engine_files)  # all of it survives a restart
    listed = {r.item_id for r in again.recommend("u1", k=57, filters=everything).items}
    assert not {"c1-0", "c1-1", "c1-2"} & listed
    again.close()


def test_reconsumable_event_types_allow_rebuying(engine_files) -> None:
    engine = _open(engine_files)
    engine.ingest([Interaction(user_id="buyer", item_id="c2-3", event_type="purchase")])
    default = {r.item_id for r in engine.recommend("buyer", k=59).items}
    assert "c2-3" not in default
    rebuy = FilterSpec(reconsumable_event_types=frozenset({"purchase"}))
    assert "c2-3" in {r.item_id for r in engine.recommend("buyer", k=60, filters=rebuy).items}
    engine.close()


def test_batched_reasons_match_the_reference_per_item_computation(engine_files) -> None:
    from attune.engine.explain import influences, latest_per_item

    engine = _open(engine_files)
    idx = engine.store.users.index("u2")
    state = engine._state(idx)
    expl = engine._explanation(idx, state)
    assert expl is not None
    items = np.array([engine.store.items.index(f"c{c}-{j}") for c in range(4) for j in (0, 7)])
    reasons = engine.reasons.similar_many(items, state, expl, time.time())
    history, _, attention = latest_per_item(expl)
    hist = engine.items.index.vectors(history)
    for item, reason in zip(items, reasons, strict=True):
        ref = influences(attention, hist, engine.items.index.vectors(np.array([item]))[0])
        top = np.argsort(-ref, kind="stable")[:3]
        assert [i.item_id for i in reason.influences] == [
            engine.store.items.external(int(history[j])) for j in top
        ]
        assert np.allclose([i.weight for i in reason.influences], ref[top], atol=1e-5)
    engine.close()
