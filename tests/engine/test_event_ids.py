"""Idempotent ingest: an event whose id its user already has is acknowledged, not applied."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine

NOW = time.time()
"""One instant for every popularity read (scores decay with time)."""


def _open(files: tuple[Path, Path]) -> Engine:
    db, model = files
    return Engine.open(db, model, EngineConfig())


def _observed(engine: Engine, user: str) -> tuple[Any, ...]:
    """What an event changes: the log, the user's state, popularity and feedback."""
    vector = engine.user_vector(user)
    return (
        engine.store.events.count(),
        engine.history(user),
        None if vector is None else vector.tolist(),
        engine.items.popularity.scores(NOW).tolist(),
        engine.feedback.summary().model_dump_json(),
    )


def test_a_repeated_event_is_acknowledged_and_not_applied(engine_files) -> None:
    engine = _open(engine_files)
    served = engine.recommend("u3", k=3)
    click = Interaction(
        user_id="u3",
        item_id=served.items[0].item_id,
        event_type="click",
        recommendation_id=served.recommendation_id,
        event_id="click-1",
    )
    first = engine.ingest([click])
    assert (first.accepted, first.duplicates) == (1, 0) and first.last_seq > 0
    after_first = _observed(engine, "u3")
    again = engine.ingest([click])
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, [])
    assert _observed(engine, "u3") == after_first
    engine.close()


def test_a_batch_with_repeats_applies_each_event_once(engine_files) -> None:
    engine = _open(engine_files)
    before = engine.store.events.count()
    batch = [
        Interaction(user_id="u4", item_id="c0-1", event_id="a"),
        Interaction(user_id="u4", item_id="c0-2", event_id="b"),
        Interaction(user_id="u4", item_id="c0-1", event_id="a"),
        Interaction(user_id="u5", item_id="c0-1", event_id="a"),  # another user's "a"
        {"user_id": "u4", "item_id": "c0-3", "event_type": "nope", "event_id": "c"},
    ]
    result = engine.ingest(batch)
    assert (result.accepted, result.duplicates) == (3, 1)
    assert [r.index for r in result.rejected] == [4]
    assert engine.store.events.count() == before + 3
    assert [h[0] for h in engine.history("u4")][-2:] == ["c0-1", "c0-2"]
    engine.close()


def test_the_dedup_survives_a_restart(engine_files) -> None:
    engine = _open(engine_files)
    event = Interaction(user_id="u6", item_id="c2-2", event_type="click", event_id="once")
    assert engine.ingest([event]).accepted == 1
    vector = engine.user_vector("u6")
    engine.close()
    again = _open(engine_files)
    before = _observed(again, "u6")
    result = again.ingest([event])
    assert (result.accepted, result.duplicates) == (0, 1)
    assert _observed(again, "u6") == before
    assert vector is not None and np.array_equal(again.user_vector("u6"), vector)
    again.close()
