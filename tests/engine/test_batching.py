import threading
import time
from pathlib import Path

import numpy as np
import pytest

from attune.data.events import Interaction
from attune.engine.batching import MicroBatcher
from attune.engine.engine import Engine
from attune.model.encoder import pad_histories


def test_concurrent_requests_share_batches() -> None:
    calls: list[list[int]] = []
    gate = threading.Event()

    def compute(keys: list[int]) -> dict[int, int]:
        calls.append(keys)
        gate.wait(1.0)  # the first batch blocks until the others are queued
        return {k: k * k for k in keys}

    batcher: MicroBatcher[int, int] = MicroBatcher(compute)
    results: dict[int, dict[int, int]] = {}

    def worker(k: int) -> None:
        results[k] = batcher.run([k, 100 + k])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    threads[0].start()
    time.sleep(0.05)
    for t in threads[1:]:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join()
    assert all(results[k] == {k: k * k, 100 + k: (100 + k) ** 2} for k in range(8))
    assert batcher.batches == len(calls) < 8  # requests that waited were combined
    assert max(len(c) for c in calls) >= 4


def test_errors_reach_every_caller() -> None:
    def compute(keys: list[int]) -> dict[int, int]:
        raise RuntimeError("model failed")

    batcher: MicroBatcher[int, int] = MicroBatcher(compute)
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.run([1])
    with pytest.raises(RuntimeError, match="model failed"):  # and the batcher still works
        batcher.run([2])


def test_concurrent_ingest_gives_the_same_vectors_as_a_full_recompute(
    engine_files: tuple[Path, Path],
) -> None:
    engine = Engine.open(*engine_files)

    def worker(u: int) -> None:
        for j in range(6):
            engine.ingest([Interaction(user_id=f"t{u}", item_id=f"c{u % 4}-{j}")])

    threads = [threading.Thread(target=worker, args=(u,)) for u in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    enc = engine.model.encoder
    for u in range(6):
        state = engine._state(engine.store.users.index(f"t{u}"))
        model_items = engine.model.model_index(state.items.astype(np.int64))
        full = enc.user_vectors(pad_histories([model_items], enc.config.max_len, offset=0))
        vec = engine.user_vector(f"t{u}")
        assert vec is not None
        assert np.allclose(vec, full[0].detach().numpy(), atol=2e-3)  # float16 storage
    engine.close()
