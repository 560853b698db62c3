"""Bulk ingests: V_u refreshed off the acknowledgement path, never missing from an answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine
from attune.model.encoder import pad_histories


def _full_recompute(engine: Engine, user_id: str) -> np.ndarray:
    state = engine._state(engine.store.users.index(user_id))
    enc = engine.model.encoder
    items = engine.model.model_index(state.items.astype(np.int64))
    padded = pad_histories([items], enc.config.max_len, offset=0)
    return enc.user_vectors(padded)[0].detach().numpy()


def _bulk(n_users: int, item: str = "c2-3") -> list[Interaction]:
    return [Interaction(user_id=f"u{u}", item_id=item) for u in range(n_users)]


def test_a_bulk_ingest_is_acknowledged_before_its_vectors_and_reads_never_miss_it(
    engine_files: tuple[Path, Path],
) -> None:
    engine = Engine.open(*engine_files, EngineConfig(sync_refresh_users=4))
    before = {f"u{u}": engine.user_vector(f"u{u}") for u in range(40)}
    engine._closed = True  # park the backlog worker: the reads below must refresh by themselves
    result = engine.ingest(_bulk(40))
    assert result.accepted == 40
    assert engine.refresh_backlog == 40  # logged and folded, V_u not computed yet
    # A read of a user still in the backlog refreshes that user on the spot.
    rec = engine.recommend("u7", k=5)
    assert rec.source == "model"
    assert engine.refresh_backlog == 39
    vec = engine.user_vector("u8")
    assert vec is not None and not np.allclose(vec, before["u8"], atol=1e-3)
    assert np.allclose(vec, _full_recompute(engine, "u8"), atol=2e-3)  # float16 storage
    engine._closed = False
    engine._defer_refresh()  # wakes the (restarted) worker
    assert engine.wait_backlog(timeout=30)
    assert engine.refresh_backlog == 0
    for u in range(40):
        got = engine.user_vector(f"u{u}")
        assert got is not None
        assert np.allclose(got, _full_recompute(engine, f"u{u}"), atol=2e-3)
    engine.close()


def test_small_ingests_refresh_before_returning(engine_files: tuple[Path, Path]) -> None:
    engine = Engine.open(*engine_files, EngineConfig(sync_refresh_users=4))
    engine.ingest(_bulk(4))
    assert engine.refresh_backlog == 0
    assert engine._backlog_worker is None
    engine.close()


def test_backlog_is_bounded(engine_files: tuple[Path, Path]) -> None:
    engine = Engine.open(*engine_files, EngineConfig(sync_refresh_users=1, max_refresh_backlog=10))
    engine._closed = True  # no worker progress: only the back-pressure bounds it
    engine.ingest(_bulk(100))
    assert engine.refresh_backlog <= 10
    engine._closed = False
    engine.close()


def test_restart_with_a_backlog_keeps_every_event_and_vector(
    engine_files: tuple[Path, Path],
) -> None:
    cfg = EngineConfig(sync_refresh_users=1)
    engine = Engine.open(*engine_files, cfg)
    engine._closed = True
    engine.ingest(_bulk(30, "c1-1"))
    pending = engine.refresh_backlog
    assert pending > 0
    engine._closed = False
    engine.snapshot()  # stores the folded states, V_u still pending
    assert engine.refresh_backlog == pending
    engine.close()
    again = Engine.open(*engine_files, cfg)
    assert again.refresh_backlog == 0
    for u in range(30):
        state = again._state(again.store.users.index(f"u{u}"))
        assert int(state.items[-1]) == again.store.items.index("c1-1")
        got = again.user_vector(f"u{u}")
        assert got is not None
        assert np.allclose(got, _full_recompute(again, f"u{u}"), atol=2e-3)
    again.close()
