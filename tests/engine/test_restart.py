"""Restart cost: the snapshot holds everything derived from the log (states and popularity),
so a restart reads only the events logged after it, and gets the same counts as a recount."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine
from attune.stores import open_storage


def _open(files: tuple[Path, Path]) -> Engine:
    return Engine.open(files[0], files[1], EngineConfig(snapshot_every=0))


def _popularity(engine: Engine) -> np.ndarray:
    return engine.items.popularity.scores(now=2e9)


def _reads(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """The `after` of every event-log read that engines opened from now on make."""
    seen: list[int] = []
    real = open_storage

    def spying(*args, **kwargs):  # type: ignore[no-untyped-def]
        storage = real(*args, **kwargs)
        read = storage.events.read_events

        def counted(after: int = 0, **kw):  # type: ignore[no-untyped-def]
            seen.append(after)
            return read(after, **kw)

        storage.events.read_events = counted  # type: ignore[method-assign]
        return storage

    monkeypatch.setattr("attune.engine.engine.open_storage", spying)
    return seen


def test_restart_reads_only_the_tail_and_counts_popularity_as_a_recount(
    engine_files, monkeypatch
) -> None:
    engine = _open(engine_files)
    engine.ingest([Interaction(user_id="u1", item_id="c2-2", event_type="purchase")])
    engine.close()  # snapshots states and popularity at the last event
    snapshot_seq = open_storage(engine_files[0]).events.last_seq()
    with open_storage(engine_files[0]) as store:  # logged while no server ran: the tail
        store.events.append_events([Interaction(user_id="u2", item_id="c3-1", event_type="click")])

    reads = _reads(monkeypatch)
    restored = _open(engine_files)
    assert reads == [snapshot_seq]  # not the whole log
    from_snapshot = _popularity(restored)
    restored.close()

    Path(str(engine_files[0]) + ".popularity").unlink()
    Path(str(engine_files[0]) + ".state").unlink()
    recounted = _open(engine_files)
    assert reads[-1] == 0
    np.testing.assert_allclose(from_snapshot, _popularity(recounted), rtol=1e-12)
    recounted.close()


def test_an_erasure_drops_the_popularity_snapshot_and_the_next_restart_recounts(
    engine_files,
) -> None:
    engine = _open(engine_files)
    popular = engine.items.popularity.top(1, 2e9)[0][0]
    item_id = engine.store.items.external(int(popular))
    fans = [f"fan{i}" for i in range(30)]
    engine.ingest([Interaction(user_id=u, item_id=item_id, event_type="purchase") for u in fans])
    engine.close()
    assert Path(str(engine_files[0]) + ".popularity").exists()
    engine = _open(engine_files)
    with_fans = _popularity(engine)[popular]
    for fan in fans:
        engine.forget_user(fan)
    engine.close()
    assert not Path(str(engine_files[0]) + ".popularity").exists()
    again = _open(engine_files)
    assert _popularity(again)[popular] < with_fans  # the erased events count no more
    again.close()


def test_a_snapshot_of_another_half_life_is_not_used(engine_files) -> None:
    engine = _open(engine_files)
    engine.close()
    path = Path(str(engine_files[0]) + ".popularity")
    assert path.exists()
    other = Engine.open(
        engine_files[0],
        engine_files[1],
        EngineConfig(snapshot_every=0, popularity={"half_life_seconds": 3600.0}),  # type: ignore[arg-type]
    )
    fresh = other.items.popularity.scores(now=2e9)
    other.close()
    path.unlink()
    Path(str(engine_files[0]) + ".state").unlink()
    recount = Engine.open(
        engine_files[0],
        engine_files[1],
        EngineConfig(snapshot_every=0, popularity={"half_life_seconds": 3600.0}),  # type: ignore[arg-type]
    )
    np.testing.assert_allclose(fresh, recount.items.popularity.scores(now=2e9), rtol=1e-12)
    recount.close()
