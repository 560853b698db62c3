"""The engine over the Redis backend (one server process, every port in Redis, a real
redis-server started for the session): one of `test_engine.py`'s tests run again as it is,
and the restart test in its Redis form (the state snapshot is a position in Redis, not a file).
The rest of `test_engine.py` passes on Redis too (checked by hand), except its two tests that
delete SQLite files; they are left out to keep the Redis tests short: each engine opened on a
fresh Redis counts the whole log into popularity at one round trip per event."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import redis

from attune.data.dataset import Dataset
from attune.data.events import Interaction
from attune.stores import open_storage
from tests.engine.test_engine import (
    _clusters,
    _open,
    test_recommendations_follow_history_then_shift_with_new_events,  # noqa: F401 (run here)
)
from tests.stores.redis_server import fresh_redis_url, redis_service  # noqa: F401 (fixture)


@pytest.fixture
def engine_files(
    trained: tuple[Dataset, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[str, Path]:
    """An emptied Redis holding the dataset, and a copy of the model directory."""
    url = fresh_redis_url(request, "redis")
    data, model_dir = trained
    with open_storage(url) as store:
        store.import_dataset(replace(data), progress=False)
    local_model = tmp_path / "model"
    shutil.copytree(model_dir, local_model)
    return url, local_model


def test_restart_on_redis_gives_identical_vectors(engine_files: tuple[str, Path]) -> None:
    engine = _open(engine_files)  # type: ignore[arg-type]
    engine.ingest(
        [
            Interaction(user_id="u5", item_id="c0-3", event_type="click"),
            Interaction(user_id="brand-new", item_id="c1-4"),
        ]
    )
    before = {u: engine.user_vector(u) for u in ("u5", "u6", "brand-new")}
    top = engine.recommend("u5", k=5).items
    engine.close()
    again = _open(engine_files)  # type: ignore[arg-type]
    for user, vec in before.items():
        assert vec is not None and np.array_equal(again.user_vector(user), vec), user
    assert again.recommend("u5", k=5).items == top
    again.close()
    # Without the reported positions, states and counts are rebuilt from the log: the same.
    with redis.Redis.from_url(engine_files[0]) as client:
        assert client.delete("attune:{log}:applied", "attune:{popularity}:counted") == 2
    rebuilt = _open(engine_files)  # type: ignore[arg-type]
    for user, vec in before.items():
        assert np.array_equal(rebuilt.user_vector(user), vec), user
    assert rebuilt.recommend("u5", k=5).items == top
    rebuilt.close()


def test_an_event_sent_to_one_server_changes_the_next_list_of_another(
    engine_files: tuple[str, Path],
) -> None:
    """Two engines over one Redis (two server processes' worth of state): events ingested by A
    shift the list B serves next, and B's popularity was not counted a second time."""
    a = _open(engine_files)  # type: ignore[arg-type]
    b = _open(engine_files)  # type: ignore[arg-type]
    before = b.recommend("u1", k=8)
    assert _clusters(before).most_common(1)[0][0] == 1
    now = time.time()
    events = [
        Interaction(user_id="u1", item_id=f"c3-{j}", event_type="purchase", timestamp=now - 60 + j)
        for j in range(5)
    ]
    assert a.ingest(events).accepted == 5
    after = b.recommend("u1", k=8)
    assert _clusters(after).most_common(1)[0][0] == 3
    assert np.array_equal(b.user_vector("u1"), a.user_vector("u1"))
    assert a.store.events.count() == b.store.events.count()
    a.close()
    b.close()
