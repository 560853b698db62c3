"""Each listed item gets its own reason: the past events whose items are closest to it, not
the one event the user's vector attends to most."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from attune.engine.config import EngineConfig
from attune.engine.engine import Engine
from attune.engine.interest import Explanation
from tests.engine.conftest import cluster_of


def test_each_item_names_the_past_event_closest_to_it(engine_files: tuple[Path, Path]) -> None:
    engine = Engine.open(*engine_files, EngineConfig())
    user = engine.store.users.index("u2")
    state = engine._state(user)
    window = state.items.astype(np.int64).tolist()
    old, recent = window[0], window[-1]
    assert old != recent
    near_old, near_recent = [i for i in range(len(engine.store.items)) if i not in window][:2]
    # Controlled vectors: near_old is old's twin; near_recent is mostly recent, a little old.
    e1, e2 = np.eye(engine.model.dim, dtype=np.float32)[:2]
    mixed = 0.3 * e1 + 0.95 * e2
    vectors = np.stack([e1, e2, e1, mixed / np.linalg.norm(mixed)])
    engine.items.index.upsert(np.array([old, recent, near_old, near_recent]), vectors)
    # The attention gathered on the oldest event (as a trained encoder's often does), and old
    # is in the window twice.
    last = len(window) - 1
    expl = Explanation(
        items=np.array([old, old, recent]),
        positions=np.array([0, 0, last]),
        weights=np.array([0.6, 0.3, 0.1]),
    )
    candidates = np.array([near_old, near_recent])
    reasons = engine.reasons.similar_many(candidates, state, expl, time.time())
    external = engine.store.items.external
    assert [r.influences[0].item_id for r in reasons] == [external(old), external(recent)]
    for reason in reasons:  # one influence per past item, shares summing to 1
        ids = [i.item_id for i in reason.influences]
        assert sorted(ids) == sorted({external(old), external(recent)})
        assert abs(sum(i.weight for i in reason.influences) - 1.0) < 1e-6
    engine.close()


def test_a_list_names_the_past_events_of_each_item(engine_files: tuple[Path, Path]) -> None:
    engine = Engine.open(*engine_files, EngineConfig())
    history = {cluster_of(item) for item, _, _ in engine.history("u1")}
    assert len(history) == 2  # u1 browsed two clusters
    listed = engine.recommend("u1", k=20).items
    similar = [r for r in listed if r.reason.kind == "similar" and cluster_of(r.item_id) in history]
    assert {cluster_of(r.item_id) for r in similar} == history
    for r in similar:
        assert cluster_of(r.reason.influences[0].item_id) == cluster_of(r.item_id), r
    # A list's reasons name several past events, not one for every item.
    for user in ("u13", "u40", "u77"):
        listed = engine.recommend(user, k=10).items
        assert len({r.reason.influences[0].item_id for r in listed}) >= 3, listed
    engine.close()
