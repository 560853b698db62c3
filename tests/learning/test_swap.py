"""Hot swap in the engine: no request fails while versions change, rollback is exact."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine, load_model
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.registry import ModelRegistry
from attune.stores import SQLiteStore
from tests.learning.test_finetune import _log_new_events


def _answers(engine: Engine, users: list[str]) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for u in users:
        recs = engine.recommend(u, 10, explore=0.0, now=1e9)
        out[u] = [(r.item_id, r.score) for r in recs.items]
    return out


def test_hot_swap_under_load_and_exact_rollback(registry_files: tuple[Path, ModelRegistry]) -> None:
    db, reg = registry_files
    _log_new_events(db)
    with SQLiteStore(db) as store:  # a different v2, published but not current
        v2 = fine_tune(store, reg, FineTuneConfig(min_events=50, tolerance=1.0), promote=False)
    assert v2.version == 2 and reg.current() == 1
    engine = Engine.open(db, reg.root, EngineConfig(snapshot_every=0))
    assert engine.model.version == 1
    users = [f"u{i}" for i in range(0, 480, 7)]
    before = _answers(engine, users)

    errors: list[BaseException] = []
    served: set[int] = set()
    stop = threading.Event()

    def client(n: int) -> None:
        rng = np.random.default_rng(n)
        while not stop.is_set():
            try:
                user = f"u{int(rng.integers(480))}"
                served.add(engine.recommend(user, 10, explore=0.0).model_version)
                engine.ingest(
                    [Interaction(user_id=f"load{n}", item_id=f"c{n % 4}-{int(rng.integers(15))}")]
                )
            except BaseException as err:
                errors.append(err)
                return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for version in (2, 1, 2, 1):
            time.sleep(0.1)
            engine.swap_model(load_model(reg.path(version), version))
        engine.wait_refreshed(30)
        time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert {1, 2} <= served
    assert engine.model.version == 1
    # Back on version 1: every untouched user gets exactly the answers it had before.
    assert _answers(engine, users) == before
    engine.swap_model(load_model(reg.path(2), 2), background=False)
    assert _answers(engine, users) != before
    engine.close()


def test_engine_follows_the_registry_on_open(registry_files: tuple[Path, ModelRegistry]) -> None:
    db, reg = registry_files
    _log_new_events(db)
    with SQLiteStore(db) as store:
        outcome = fine_tune(store, reg, FineTuneConfig(min_events=50, tolerance=1.0))
    engine = Engine.open(db, reg.root)
    try:
        assert engine.model.version == outcome.version == reg.current()
        assert engine.recommend("u1", 5).model_version == outcome.version
    finally:
        engine.close()
