"""`attune learn`'s rounds on a partitioned Redis log, through the learning consumer group
(real redis-server): an event logged late with a seq below one already learned is still
learned, and a learner killed after publishing but before acknowledging leaves its events to
the next learner, which learns none of them twice."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from attune.data.dataset import Dataset
from attune.data.events import Interaction
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.registry import DataWindow, ModelRegistry
from attune.ports import LEARN_GROUP, LearningFeed, LoggedEvent, Storage
from attune.stores import open_storage
from tests.engine.conftest import T0
from tests.stores.redis_server import fresh_redis_url, redis_service  # noqa: F401 (fixture)

PUBLISH = FineTuneConfig(min_events=1, tolerance=1.0)
"""A round that publishes whatever it trains (these tests are about which events it takes)."""


@pytest.fixture
def redis_registry(
    trained: tuple[Dataset, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[str, ModelRegistry]:
    """A Redis log of 2 partitions holding the dataset, and a registry whose version 1 accounts
    for all of it (as `attune models init --store` makes one)."""
    url = fresh_redis_url(request, "redis") + "?partitions=2"
    data, model_dir = trained
    with open_storage(url) as store:
        store.import_dataset(replace(data), progress=False)
        heads = store.learning_feed(LEARN_GROUP, "init").heads()
    shutil.copytree(model_dir, tmp_path / "model")
    window = DataWindow(last_seq=max(heads), cursor=tuple(heads))
    return url, ModelRegistry.create(tmp_path / "registry", tmp_path / "model", window)


def _events(store: Storage, partition: int, n: int, start: int = 0) -> list[Interaction]:
    """`n` events of the dataset's users in log partition `partition` (user index mod 2)."""
    users = [u for idx, u in enumerate(store.users.ids) if idx % 2 == partition][:20]
    items = list(store.items.ids)
    return [
        Interaction(
            user_id=users[k % len(users)],
            item_id=items[(k * 7) % len(items)],
            event_type="view",
            timestamp=T0 + 10**6 + start + k,
        )
        for k in range(n)
    ]


def test_an_event_committed_after_a_higher_seq_was_learned_is_learned(
    redis_registry: tuple[str, ModelRegistry],
) -> None:
    url, reg = redis_registry
    with open_storage(url) as a, open_storage(url) as b:
        a.events.append_events(_events(a, 1, 60))  # partition 1 runs ahead
        first = fine_tune(a, reg, PUBLISH)
        assert first.status == "published" and reg.current() == 2, first.reason
        # Another server (its partition counters not yet raised) logs into partition 0 now:
        # seqs below what version 2 learned, which a log position would never count as new.
        late = b.events.append_events(_events(b, 0, 5))
        assert max(e.seq for e in late) < reg.info(2).data_window.last_seq
        second = fine_tune(a, reg, PUBLISH)
    assert second.status == "published", second.reason
    assert second.new_events == first.holdout_events + len(late)
    assert first.trained_events + second.trained_events + second.holdout_events == 65


class _KilledBeforeAck:
    """A learner's feed whose process dies right after publishing, before acknowledging."""

    def __init__(self, feed: LearningFeed) -> None:
        self._feed = feed
        self.partitions = feed.partitions

    def heads(self) -> list[int]:
        return self._feed.heads()

    def take(self, cursor: Sequence[int]) -> list[LoggedEvent]:
        return self._feed.take(cursor)

    def acknowledge(self, cursor: Sequence[int]) -> int:
        raise _KilledError


class _KilledError(Exception):
    pass


def test_a_learner_killed_before_acknowledging_leaves_each_event_to_be_learned_once(
    redis_registry: tuple[str, ModelRegistry],
) -> None:
    url, reg = redis_registry
    with open_storage(url) as store:
        store.events.append_events(_events(store, 0, 30) + _events(store, 1, 30, start=30))
        dying = _KilledBeforeAck(store.learning_feed(LEARN_GROUP, "first"))
        with pytest.raises(_KilledError):
            fine_tune(store, reg, PUBLISH, feed=dying)
        assert reg.current() == 2  # published, then killed before its acknowledgement
        held_out = int(reg.info(2).metrics["holdout_events"])
        trained_first = reg.info(2).data_window.events
        nxt = store.learning_feed(LEARN_GROUP, "second", claim_idle_s=0.0)
        second = fine_tune(store, reg, PUBLISH, feed=nxt)
        assert second.status == "published", second.reason
        assert second.new_events == held_out  # the first learner's trained events: not again
        assert trained_first + second.trained_events + second.holdout_events == 60
        cursor = list(reg.info(3).data_window.cursor or ())
        assert len(nxt.take(cursor)) == second.holdout_events  # all else acknowledged


def test_events_another_learner_holds_are_learned_not_skipped(
    redis_registry: tuple[str, ModelRegistry],
) -> None:
    """A learner that died holding entries not yet idle long enough to claim: the next round
    still learns them (the log says what is new), so the group never acknowledges an event
    no version learned."""
    url, reg = redis_registry
    with open_storage(url) as store:
        store.events.append_events(_events(store, 0, 20))
        dead = store.learning_feed(LEARN_GROUP, "dead")
        held = dead.take(list(reg.info(1).data_window.cursor or ()))
        assert len(held) == 20  # delivered to a learner that never comes back
        store.events.append_events(_events(store, 0, 10, start=20))
        nxt = store.learning_feed(LEARN_GROUP, "next", claim_idle_s=3600.0)
        round_ = fine_tune(store, reg, PUBLISH, feed=nxt)
        assert round_.status == "published", round_.reason
        assert round_.new_events == 30
        assert round_.trained_events + round_.holdout_events == 30
