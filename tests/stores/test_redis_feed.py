"""The Redis log's partitioned feed and its consumer group, the repair of a crash between the
acknowledging per-user write and the feed, and the user states' compare-and-set fold, against
a real redis-server (one server and a 3-node cluster)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from attune.data.events import Interaction
from attune.ports import StorageError
from attune.stores import open_storage
from attune.stores.redis import RedisStorage
from attune.stores.redis.records import payload
from tests.stores.redis_server import (  # noqa: F401 (fixtures)
    redis_cluster_service,
    redis_service,
    redis_url,
)


def _event(user: str, item: str, t: float) -> Interaction:
    return Interaction(user_id=user, item_id=item, timestamp=datetime.fromtimestamp(t, UTC))


def _with(url: str, option: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{option}"


def test_partitioned_feed_reads_like_one_log(redis_url: str) -> None:  # noqa: F811
    store = RedisStorage(_with(redis_url, "partitions=3"))
    events = [_event(f"u{k % 5}", f"i{k % 4}", float(k)) for k in range(20)]
    logged = store.events.append_events(events[:10]) + store.events.append_events(events[10:])
    seqs = [e.seq for e in logged]
    assert len(set(seqs)) == 20
    assert all(e.seq % 3 == e.user % 3 for e in logged)  # seq = counter * P + partition
    for user in range(5):  # one partition is in order: a user's events keep theirs
        mine = [e.seq for e in logged if e.user == user]
        assert mine == sorted(mine)
        assert [e.seq for e in store.events.read_events(user=user)] == mine
    assert list(store.events.read_events()) == sorted(logged, key=lambda e: e.seq)
    middle = sorted(seqs)[9]
    assert [e.seq for e in store.events.read_events(after=middle)] == sorted(seqs)[10:]
    assert store.events.last_seq() == max(seqs) and store.events.count() == 20
    assert RedisStorage(redis_url).events.partitions == 3  # kept by the deployment
    with pytest.raises(StorageError, match="3 partitions"):
        open_storage(_with(redis_url, "partitions=2"))
    assert store.erase_user("u1")["events"] == 4 and store.events.count() == 16


def test_consumer_group_delivers_every_event_once(redis_url: str) -> None:  # noqa: F811
    store = RedisStorage(_with(redis_url, "partitions=2"))
    feed = store.events.feed("learn", "worker-1")
    logged = store.events.append_events([_event(f"u{k}", "i", float(k)) for k in range(6)])
    got = feed.read()
    assert sorted(e.event for e in got) == sorted(logged)
    assert feed.read() == []  # delivered: not handed out again
    other = store.events.feed("learn", "worker-2")
    assert [e.event for e in other.claim_stale(idle_ms=0)] == [e.event for e in got]
    assert other.ack(got) == 6 and other.claim_stale(idle_ms=0) == []


def test_a_crash_after_the_acknowledging_write_reaches_the_feed_once(
    redis_url: str,  # noqa: F811
) -> None:
    """A writer stopped after the per-user script: the event is acknowledged (in the user's
    record, de-dup set and state tail) but not in the feed. Opening a storage repairs it; the
    consumer group then delivers it exactly once, and a second repair adds nothing."""
    store = RedisStorage(_with(redis_url, "partitions=2"))
    feed = store.events.feed("learn", "w")
    first = store.events.append_events([_event("u0", "i0", 1.0), _event("u1", "i1", 2.0)])
    assert len(feed.read()) == 2
    parked = [(1, "crashed-key", payload(1, 0, 0, 3.0, float("nan"), None, {}))]
    assert store.events.write_pending(parked, ["evt-9"]) == parked  # the writer dies here
    assert feed.read() == [] and store.events.count() == 2
    tail = store.states.read([1])[1].tail
    assert [(e.item, e.timestamp, e.seq) for e in tail] == [(1, 2.0, first[1].seq), (0, 3.0, 0)]
    # (the state has it already; nothing folded the tail, no seq yet)
    retry = [(1, "retry-key", parked[0][2])]
    assert store.events.write_pending(retry, ["evt-9"]) == []  # its id is taken

    reopened = RedisStorage(redis_url)  # repairs on open
    delivered = feed.read()
    assert [(e.event.user, e.event.timestamp) for e in delivered] == [(1, 3.0)]
    assert [e.seq for e in reopened.events.read_events(user=1)][-1] == delivered[0].event.seq
    assert store.states.read([1])[1].tail[-1].seq == delivered[0].event.seq  # written in
    assert reopened.events.repair() == 0 and feed.read() == []

    # Stopped after the feed script, before the commit: the repair keeps the seq it got.
    more = [(0, "half-key", payload(0, 1, 0, 4.0, float("nan"), None, {}))]
    store.events.write_pending(more, [""])
    seq = store.events.feed_append(more)["half-key"]
    assert [e.event.seq for e in feed.read()] == [seq]
    assert RedisStorage(redis_url).events.count() == 4 and feed.read() == []
    assert [e.seq for e in store.events.read_events(user=0)][-1] == seq
    intents = [store.client.zcard(f"attune:{{log:{p}}}:intents") for p in range(2)]
    assert intents == [0, 0]  # nothing left for the next repair


def test_the_state_fold_is_a_compare_and_set(redis_url: str) -> None:  # noqa: F811
    """A fold written back after another server folded fails and changes nothing; a fold of
    what was read drops exactly the tail entries it read."""
    store = RedisStorage(redis_url)
    store.events.append_events([_event("u", "a", 1.0), _event("u", "b", 2.0)])
    first = store.states.read([0])[0]
    assert first.packed is None and len(first.tail) == 2
    second = store.states.read([0])[0]
    assert store.states.write([(0, second, b"folded-two")]) == [True]
    assert store.states.write([(0, first, b"stale")]) == [False]  # another server was first
    store.events.append_events([_event("u", "c", 3.0)])
    now = store.states.read([0])[0]
    assert now.packed == b"folded-two" and [e.timestamp for e in now.tail] == [3.0]
    store.events.append_events([_event("u", "d", 4.0)])  # arrives after the read
    assert store.states.write([(0, now, b"folded-three")]) == [True]
    last = store.states.read([0])[0]
    assert last.packed == b"folded-three" and [e.timestamp for e in last.tail] == [4.0]
    assert list(store.states.unfolded_users()) == [0]
    assert store.states.delete(0) and store.states.read([0])[0] == (None, [], b"")
