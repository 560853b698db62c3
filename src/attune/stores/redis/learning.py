"""The learning job's feed on Redis: the consumer group of the log's partitions.

When an event is acknowledged (`XACK`): once the registry's current version accounts for it
(its data window's cursor covers the event's seq in its partition: trained on, held out and
passed to a later round, or passed over as backlog), never earlier. Until then it stays in the
group's pending list, so a learner killed at any point hands it on: the next learner (another
consumer name) claims it after `claim_idle_s` and either learns it or, if a version published
before the kill covers it already, acknowledges it without learning it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from attune.ports import LoggedEvent
from attune.stores.redis.events import RedisEventLog
from attune.stores.redis.feed import FeedEntry, RedisFeed


class GroupLearningFeed:
    """`LearningFeed` over `RedisFeed` (one consumer of the learning group)."""

    def __init__(self, log: RedisEventLog, group: str, consumer: str, claim_idle_s: float) -> None:
        self._log = log
        self._feed: RedisFeed = log.feed(group, consumer)
        self._idle_ms = max(0, int(claim_idle_s * 1000))
        self.partitions = log.partitions

    def heads(self) -> list[int]:
        return self._log.heads()

    def take(self, cursor: Sequence[int]) -> list[LoggedEvent]:
        self._check(cursor)
        self._feed.claim_stale(self._idle_ms)  # a dead learner's events become this one's
        self._feed.forget_idle_consumers(max(self._idle_ms, 3_600_000))
        entries = self._feed.own()
        while fresh := self._feed.read():
            entries += fresh
        covered = [e for e in entries if self._covered(e, cursor)]
        self._feed.ack(covered)
        taken = {e.event.seq: e.event for e in entries if not self._covered(e, cursor)}
        return [taken[s] for s in sorted(taken)]

    def acknowledge(self, cursor: Sequence[int]) -> int:
        self._check(cursor)
        return self._feed.ack([e for e in self._feed.own() if self._covered(e, cursor)])

    @staticmethod
    def _covered(entry: FeedEntry, cursor: Sequence[int]) -> bool:
        return entry.event.seq <= cursor[entry.partition]

    def _check(self, cursor: Sequence[int]) -> None:
        if len(cursor) != self.partitions:
            raise ValueError(f"a cursor of {len(cursor)} partitions for a log of {self.partitions}")
