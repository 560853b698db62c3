"""The Redis backend against a real redis-server: every port, the write protocol's repair and
de-duplication, and two "servers" (two storages) writing at once.

Written port by port so that each block can move into the per-port contract suites.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from attune.data.events import EventTypes, Interaction, ItemUpdate, UserUpdate
from attune.feedback import FeedbackConfig, Outcomes
from attune.ports import Impression, KeyRecord, StorageError
from attune.ranking.popularity import DecayedPopularity, PopularityConfig
from attune.stores import open_storage
from attune.stores.memory import MemoryStorage
from attune.stores.redis import RedisStorage
from attune.stores.redis.connection import run_script
from tests.stores.redis_server import (  # noqa: F401 (fixture)
    redis_server,
    redis_url,
)


def _event(user: str, item: str, t: float, kind: str = "view", **kw: object) -> Interaction:
    return Interaction(
        user_id=user,
        item_id=item,
        event_type=kind,
        timestamp=datetime.fromtimestamp(t, UTC),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(redis_url: str) -> RedisStorage:  # noqa: F811
    storage = open_storage(redis_url)
    assert isinstance(storage, RedisStorage)
    return storage


def test_factory_selects_redis_by_url(store: RedisStorage) -> None:
    assert store.single_process is False
    with pytest.raises(StorageError, match="cannot reach Redis"):
        open_storage("redis://127.0.0.1:1/0")
    with pytest.raises(StorageError, match="redis://"):
        open_storage("nosuch://x")


def test_event_log_appends_and_reads_in_order(store: RedisStorage) -> None:
    logged = store.events.append_events(
        [
            _event("u1", "i1", 100.0),
            _event("u2", "i2", 101.0, "rating", value=4.0, recommendation_id="r1"),
            _event("u1", "i2", 102.0, "click", context={"page": "home"}),
        ]
    )
    assert [e.seq for e in logged] == [1, 2, 3]
    assert [(e.user, e.item) for e in logged] == [(0, 0), (1, 1), (0, 1)]
    assert list(store.events.read_events()) == logged
    assert list(store.events.read_events(after=1)) == logged[1:]
    assert [e.seq for e in store.events.read_events(user=0)] == [1, 3]
    assert [e.seq for e in store.events.read_events(after=1, user=0)] == [3]
    assert logged[1].value == 4.0 and logged[1].recommendation_id == "r1"
    assert math.isnan(logged[0].value)
    assert store.events.last_seq() == 3 and store.events.count() == 3
    columns = store.events.event_columns()
    assert columns.shape == (3, 6) and columns[:, 0].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="unknown event type"):
        store.events.append_events([_event("u3", "i3", 1.0, "nope")])
    assert "u3" not in store.users  # a rejected batch adds nothing
    other = EventTypes(rating_threshold=1.0)
    with pytest.raises(StorageError, match="event types differ"):
        store.events.append_events([_event("u3", "i3", 1.0)], other)


def test_vocabulary_is_shared_between_servers(store: RedisStorage, redis_url: str) -> None:  # noqa: F811
    other = RedisStorage(redis_url)
    store.events.append_events([_event("u1", "i1", 1.0)])
    assert other.items.get("i1") == 0 and len(other.items) == 1
    other.catalogue.upsert_items([ItemUpdate(item_id="i2", attributes={"title": "Two"})])
    assert store.items.external(1) == "i2" and store.items.index("i2") == 1
    assert store.items.decode([1, 0]) == ["i2", "i1"]
    assert store.items.encode(["i2", "zz"], grow=False).tolist() == [1, -1]
    with pytest.raises(KeyError):
        store.items.index("zz")


def test_same_user_from_two_servers_at_once_loses_nothing(redis_url: str) -> None:  # noqa: F811
    """Two storages (two servers) ingest for one user at the same moment, each with items the
    other also names: every event is logged and indexed once, and no two items share an
    index."""
    servers = [RedisStorage(redis_url), RedisStorage(redis_url)]
    barrier, n = threading.Barrier(2), 60
    failures: list[BaseException] = []

    def ingest(server: int) -> None:
        try:
            barrier.wait()
            for k in range(n):
                item = f"item{k}" if k % 2 else f"s{server}-item{k}"
                servers[server].events.append_events([_event("same", item, 1000.0 + k)])
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=ingest, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    check = RedisStorage(redis_url)
    events = list(check.events.read_events(user=check.users.index("same")))
    assert len(events) == 2 * n == check.events.count()
    assert len({e.seq for e in events}) == 2 * n
    ids = check.items.ids
    assert len(ids) == len(set(ids)) == n // 2 + 2 * (n // 2)
    for server in servers:
        assert [server.items.index(x) for x in ids] == list(range(len(ids)))


def test_a_crash_between_the_user_write_and_the_log_is_repaired(
    store: RedisStorage,
    redis_url: str,  # noqa: F811
) -> None:
    """Events parked in the user's record by a writer that died before the log append reach
    the log when a storage opens; repairing twice never logs an event twice."""
    store.events.append_events([_event("u1", "i1", 1.0)])
    parked = [
        (0, "key-a", "[0,0,0,2.0,null,null,null]"),
        (0, "key-b", "[0,0,1,3.0,null,null,null]"),
    ]
    assert store.events.write_pending(parked, ["", ""]) == parked
    assert store.events.count() == 1  # the writer "died" here
    reopened = RedisStorage(redis_url)
    assert [(e.seq, e.event_type) for e in reopened.events.read_events()] == [
        (1, 0),
        (2, 0),
        (3, 1),
    ]
    assert [e.seq for e in reopened.events.read_events(user=0)] == [1, 2, 3]
    # Died after the log append, before the commit: the same seqs come back, no copies.
    store.events.write_pending(parked, ["", ""])
    assert store.events.repair() == 2
    assert reopened.events.count() == 3
    assert [e.seq for e in reopened.events.read_events(user=0)] == [1, 2, 3]
    assert store.events.repair() == 0


def test_event_ids_are_de_duplicated_per_user(store: RedisStorage) -> None:
    first = [(0, "k1", "[0,0,0,1.0,null,null,null]"), (0, "k2", "[0,1,0,1.0,null,null,null]")]
    assert store.events.write_pending(first, ["e1", "e2"]) == first
    again = [(0, "k3", "[0,0,0,1.0,null,null,null]"), (0, "k4", "[0,2,0,1.0,null,null,null]")]
    assert store.events.write_pending(again, ["e1", "e3"]) == again[1:]
    # The repeated e1 looks like a retry: user 0's parked events (k1, k2) go to the log now;
    # its own new event (k4) is left to its caller's publish.
    assert [e.item for e in store.events.read_events(user=0)] == [0, 1]
    assert store.events.write_pending([(1, "k5", "[1,0,0,1.0,null,null,null]")], ["e1"])
    assert store.events.repair() == 2  # k4 and k5 (ids are per user: e1 is new for user 1)
    assert sorted(e.item for e in store.events.read_events()) == [0, 0, 1, 2]


def test_user_states_and_snapshot_position(store: RedisStorage) -> None:
    assert store.states.get(3) is None and len(store.states) == 0
    store.states.put(3, b"three")
    store.states.put(1, b"one")
    assert store.states.get(3) == b"three" and len(store.states) == 2
    assert list(store.states.users()) == [1, 3] and store.states.nbytes() > 0
    assert store.states.delete(3) and not store.states.delete(3)
    store.events.append_events([_event("u1", "i1", 1.0), _event("u1", "i2", 2.0)])
    assert store.states.load_snapshot() == 0  # nothing reported: replay the whole log
    store.states.save_snapshot(1)
    assert store.states.load_snapshot() == 1
    store.states.save_snapshot(5)
    store.states.save_snapshot(4)  # positions never move back
    assert store.states.load_snapshot() == 5
    assert store.states.get(1) == b"one"  # loading keeps the states


def test_catalogue_and_profiles(store: RedisStorage) -> None:
    june = datetime(2026, 6, 1, tzinfo=UTC)
    updates = [
        ItemUpdate(item_id="a", attributes={"title": "A", "genre": ["x", "y"]}, created=june),
        ItemUpdate(item_id="b", attributes={}, available_from=june, blocked=True, created=june),
    ]
    memory = MemoryStorage()
    for backend in (store, memory):
        backend.catalogue.upsert_items(updates)
    assert store.catalogue.item_attributes("a") == {"title": "A", "genre": ["x", "y"]}
    assert store.catalogue.item_attributes("zz") is None
    windows = list(store.catalogue.item_windows())
    assert windows == list(memory.catalogue.item_windows())
    assert [(w.item, w.available_from, w.blocked) for w in windows] == [
        (0, None, False),
        (1, june.timestamp(), True),
    ]
    store.catalogue.upsert_items([ItemUpdate(item_id="b", attributes={"n": 1}, created=june)])
    assert list(store.catalogue.item_windows())[1] == (1, None, None, june.timestamp(), False)
    assert list(store.catalogue.all_item_attributes()) == [
        (0, {"title": "A", "genre": ["x", "y"]}),
        (1, {"n": 1}),
    ]
    store.profiles.upsert_users([UserUpdate(user_id="u", attributes={"age": "30"})])
    assert store.profiles.user_attributes("u") == {"age": "30"}
    assert list(store.profiles.all_user_attributes()) == [(0, {"age": "30"})]
    assert store.profiles.erase_user_attributes(0) == 1
    assert store.profiles.erase_user_attributes(0) == 0


def test_popularity_is_shared_and_ranks_as_in_process(store: RedisStorage, redis_url: str) -> None:  # noqa: F811
    half_life = 100.0
    a = store.popularity(5, half_life, 10)
    b = RedisStorage(redis_url).popularity(5, half_life, 10)
    local = DecayedPopularity(5, PopularityConfig(half_life_seconds=half_life, head_size=10))
    adds = [(2, 0.0, 1.0), (3, 50.0, 1.0), (2, 100.0, 2.0), (4, 300.0, 1.0), (0, 310.0, 0.5)]
    for n, (item, t, w) in enumerate(adds):
        (a if n % 2 else b).add(item, t, w)
        local.add(item, t, w)
    now = 400.0
    np.testing.assert_allclose(a.scores(now), local.scores(now), rtol=1e-9)
    np.testing.assert_allclose(b.scores(now, np.array([2, 1])), local.scores(now, np.array([2, 1])))
    ids, scores = a.top(3, now)
    assert ids.tolist() == local.top(3, now)[0].tolist() == [4, 2, 0]
    np.testing.assert_allclose(scores, local.scores(now, ids))
    allowed = np.array([True, True, True, False, True])
    ids, _ = a.top(4, now, allowed=allowed, exclude=np.array([2]))
    assert ids.tolist() == [4, 0, 1]  # item 1 never counted: it scores 0 and still qualifies
    with pytest.raises(ValueError):
        a.add(1, now, -1.0)


def test_popularity_snapshot_follows_the_shared_counts(store: RedisStorage) -> None:
    pop = store.popularity(3, 100.0, 10)
    store.events.append_events([_event("u", "i0", 1.0), _event("u", "i1", 2.0)])
    pop.add(0, 1.0)
    assert pop.load_snapshot() == 0  # never counted: empty, and this server counts the log
    assert pop.scores(2.0).tolist() == [0.0, 0.0, 0.0]
    assert pop.load_snapshot() == 2  # another server meanwhile: counted up to the log's end
    pop.add(0, 1.0)
    pop.add(1, 2.0)
    pop.save_snapshot(2)
    store.events.append_events([_event("u", "i1", 3.0)])
    pop.add(1, 3.0)  # counted as logged, by whichever server logged it
    assert pop.load_snapshot() == 3 and pop.scores(3.0)[1] > pop.scores(3.0)[0] > 0
    pop.discard_snapshot()
    assert pop.load_snapshot() == 0 and pop.top(1, 3.0)[1].tolist() == [0.0]


def test_popularity_rescales_far_in_the_future(store: RedisStorage) -> None:
    pop = store.popularity(3, 1.0, 10)
    pop.add(0, 0.0, 1.0)
    pop.add(1, 1_000.0, 1.0)  # 1000 half-lives later: the reference time moves
    scores = pop.scores(1_000.0)
    assert np.isfinite(scores).all()
    np.testing.assert_allclose(scores, [2.0**-1000, 1.0, 0.0])


def _rules() -> Outcomes:
    return Outcomes.resolve(FeedbackConfig(), EventTypes())


def test_impressions_and_report_match_the_memory_backend(store: RedisStorage) -> None:
    memory = MemoryStorage()
    shown = [
        Impression("r1", 0, 100.0, 1, "model", (0, 1), ("similar", "popular")),
        Impression("r2", None, 100.0, 2, "model", (1, 2), ("similar", "similar")),
    ]
    events = [
        _event("u1", "i0", 90.0),
        _event("u1", "i1", 105.0, "click", recommendation_id="r1"),
        _event("u2", "i2", 106.0, "purchase", recommendation_id="r2"),
        _event("u2", "i0", 107.0, "click", recommendation_id="r2"),
        _event("u1", "i1", 108.0, "purchase", recommendation_id="r1"),
    ]
    for backend in (store, memory):
        backend.events.append_events(events)
        backend.impressions.write(shown, {})
        backend.impressions.write([], {"r2": 1, "r1": 5})  # r1 keeps its user
    assert store.impressions.get("r2") == memory.impressions.get("r2")
    assert store.impressions.get("r2") == Impression(
        "r2", 1, 100.0, 2, "model", (1, 2), ("similar", "similar")
    )
    assert store.impressions.report(_rules()) == memory.impressions.report(_rules())
    assert [e.seq for e in store.impressions.events_before("r1", 5)] == [2]
    assert store.impressions.count() == 2 and store.impressions.count(user=0) == 1
    store.impressions.save_definition({"clicks": ["click"]})
    assert store.impressions.definition() == {"clicks": ["click"]}
    assert store.impressions.erase_user(0) == 1 and store.impressions.get("r1") is None
    assert store.impressions.delete_before(100.5) == 1 and store.impressions.count() == 0


def test_keys_and_model_pointer(store: RedisStorage, tmp_path: Path) -> None:
    before = store.keys.version()
    record = KeyRecord(id="k1", name="ci", scopes=("ingest",), sha256="ab" * 32, created="2026")
    store.keys.add(record)
    assert store.keys.load() == [record] and store.keys.version() != before
    assert store.keys.remove("k1") and not store.keys.remove("k1")
    pointer = store.model_pointer(tmp_path / "registry")
    assert pointer.current() is None and pointer.history() == []
    pointer.set_current(1)
    pointer.set_current(2)
    pointer.set_current(2)
    assert pointer.history() == [1, 2] and pointer.current() == 2
    pointer.set_history([1])
    assert store.model_pointer(tmp_path / "registry").current() == 1
    assert store.model_pointer(tmp_path / "other").current() is None


def test_import_export_and_erase(store: RedisStorage) -> None:
    memory = MemoryStorage()
    memory.events.append_events([_event("u1", "i1", 1.0), _event("u2", "i2", 2.0, "click")])
    memory.catalogue.upsert_items([ItemUpdate(item_id="i1", attributes={"title": "One"})])
    data = memory.to_dataset()
    assert store.import_dataset(data, progress=False) == 2
    back = store.to_dataset()
    assert back.users.ids == data.users.ids and back.items.ids == data.items.ids
    assert back.item_titles == data.item_titles
    np.testing.assert_array_equal(back.interactions.items, data.interactions.items)
    assert store.counts().events == 2 and store.counts().users == 2
    assert store.erase_user("u1") == {"events": 1, "attributes": 0, "impressions": 0}
    assert "u1" not in store.users and store.events.count() == 1
    assert store.erase_user("u1") == {"events": 0, "attributes": 0, "impressions": 0}


def test_redis_killed_and_restarted_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    """With the append-only file on (and no RDB snapshots), what `append_events` returned
    survives a SIGKILL of Redis. (A killed process keeps what it wrote to the page cache, so
    this does not tell `always` from `everysec`: only a power cut would.)"""
    with redis_server(tmp_path, kill=True) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        store = RedisStorage(url)
        logged = store.events.append_events([_event(f"u{k}", "i", float(k)) for k in range(20)])
        store.states.put(3, b"state")
        store.close()
    with redis_server(tmp_path, port) as url:
        again = RedisStorage(url)
        assert list(again.events.read_events()) == logged
        assert again.states.get(3) == b"state" and len(again.users) == 20


def test_pipelined_scripts_survive_a_flushed_script_cache_and_run_once(
    store: RedisStorage,
) -> None:
    """A Redis that lost its scripts (restart, SCRIPT FLUSH) gets them again; the batch is
    one transaction, so none of its calls had run and each runs once."""
    client = store.client
    if not hasattr(client, "script_flush") or type(client).__name__ == "RedisCluster":
        pytest.skip("one Redis: a cluster runs scripts one by one")
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    calls: list[tuple[list[str], list[object]]] = [(["{t}:a"], []), (["{t}:a"], [])]
    assert run_script(client, script, calls) == [1, 2]
    client.script_flush()
    marks: list[str] = []

    def before(to: object) -> None:
        marks.append("intent")
        to.set("{t}:intent", "1")  # type: ignore[attr-defined]

    assert run_script(client, script, calls, before=before) == [3, 4]
    assert client.get("{t}:a") == b"4" and client.get("{t}:intent") == b"1"
