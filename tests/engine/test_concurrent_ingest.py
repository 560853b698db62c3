"""Two servers (two `Engine`s over one real Redis, one server and a 3-node cluster) ingesting
for one user at the same moment never lose either event (docs/scaling.md, "What acknowledged
means"): the log holds each event once (event ids de-duplicated across the servers), and the
user's state, as any server reads it, holds every logged event, folded once, and its V_u is
the full forward of that state (a server's cached forward is extended only when it belongs to
the stored state)."""

from __future__ import annotations

import itertools
import math
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attune.data.dataset import Dataset
from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine
from attune.engine.state import UserState, fold_event
from attune.stores import open_storage
from attune.stores.redis.records import payload
from tests.stores.redis_server import (  # noqa: F401 (fixtures)
    REDIS_KINDS,
    fresh_redis_url,
    redis_cluster_service,
    redis_service,
)

_ITEMS = [f"c{c}-{j}" for c in range(4) for j in range(3)]
_TYPES = ["view", "click", "purchase", "skip", "dislike", "hide"]
_users = itertools.count()

# One writer's events: (item, event type, event id or None); ids are few, so both writers
# often send the same id, which must be logged once.
_writes = st.lists(
    st.tuples(
        st.sampled_from(_ITEMS),
        st.sampled_from(_TYPES),
        st.one_of(st.none(), st.sampled_from(["e0", "e1", "e2"])),
    ),
    min_size=1,
    max_size=5,
)


@pytest.fixture(params=REDIS_KINDS)
def servers(
    trained: tuple[Dataset, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[Engine]]:
    """Two engines over one emptied Redis holding the catalogue (no events: opening stays
    quick)."""
    url = fresh_redis_url(request, request.param)
    data, model_dir = trained
    with open_storage(url) as store:
        no_events = data.interactions.take(np.arange(0))
        store.import_dataset(replace(data, interactions=no_events), progress=False)
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    # One refreshes V_u in the request, the other leaves it to its backlog thread: folds then
    # run while the other server's events arrive. Both extend cached forwards where they can.
    configs = [EngineConfig(incremental=True), EngineConfig(incremental=True, sync_refresh_users=0)]
    engines = [Engine.open(url, model, cfg) for cfg in configs]
    yield engines
    for e in engines:
        e.close()


def _ingest(engine: Engine, user: str, writes: list[tuple[str, str, str | None]]) -> None:
    for item, kind, event_id in writes:  # one call per event: the writers interleave
        event = Interaction(
            user_id=user,
            item_id=item,
            event_type=kind,
            event_id=None if event_id is None else f"{user}/{event_id}",
        )
        engine.ingest([event])


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(a=_writes, b=_writes)
def test_two_servers_ingesting_for_one_user_lose_no_event(
    servers: list[Engine],
    a: list[tuple[str, str, str | None]],
    b: list[tuple[str, str, str | None]],
) -> None:
    user = f"same-{next(_users)}"  # a fresh user per example: the Redis is shared
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(engine: Engine, writes: list[tuple[str, str, str | None]]) -> None:
        try:
            barrier.wait()
            _ingest(engine, user, writes)
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    pairs = zip(servers, (a, b), strict=True)
    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert servers[1].wait_backlog(timeout=30)

    one = servers[0]
    idx = one.store.users.index(user)
    logged = list(one.store.events.read_events(user=idx))
    sent_ids = {e for _, _, e in a + b if e is not None}
    without_id = sum(e is None for _, _, e in a + b)
    assert len(logged) == without_id + len(sent_ids)  # each event once, each id once
    assert len({e.seq for e in logged}) == len(logged)
    assert sum(1 for e in one.store.events.read_events() if e.user == idx) == len(logged)

    expected = UserState()
    for e in logged:
        fold_event(expected, e, one.event_types, max_len=one.model.max_len, max_seen=10_000)
    for server in servers:  # the state either server reads: stored fold + tail
        state = server._state(idx)
        assert sorted(state.items.tolist()) == sorted(expected.items.tolist())
        assert state.seen_items.tolist() == expected.seen_items.tolist()
        assert state.seen_types.tolist() == expected.seen_types.tolist()
        assert state.hidden.tolist() == expected.hidden.tolist()
        # An event folded before its commit gave it a seq leaves `last_seq` lower: it is no
        # state's identity on a shared store.
        assert state.last_seq <= max(e.seq for e in logged)
        full = server.model.user_vectors([state], [server.model.user_tokens([])])[0]
        vec = server.user_vector(user)
        if full is None:
            assert vec is None
        else:
            assert vec is not None and np.allclose(vec, full[0], atol=2e-3)  # float16 storage


def test_a_fold_of_an_event_not_logged_yet_is_a_new_state(servers: list[Engine]) -> None:
    """Another server folds a tail entry whose writer has not written its seq in yet (stopped
    between the acknowledging script and the commit): the state changes and its `last_seq`
    does not. What a server cached for the older state is not served for the new one."""
    one, two = servers
    one.ingest([Interaction(user_id="fold-0", item_id="c0-0", event_type="click")])
    idx = one.store.users.index("fold-0")
    state = one._state(idx)
    before = one._explanation(idx, state)
    assert before is not None and len(before.items) == 1

    item, code = one.store.items.index("c1-0"), one.event_types.code("click")
    parked = [(idx, "in-flight", payload(idx, item, code, time.time(), math.nan, None, {}))]
    assert one.store.events.write_pending(parked, [""]) == parked  # type: ignore[attr-defined]
    assert two.user_vector("fold-0") is not None  # folds the entry that has no seq yet
    after = one._state(idx)
    assert after.unfolded == 0 and len(after.items) == 2
    assert after.last_seq == state.last_seq  # unchanged: it identifies no state
    expl = one._explanation(idx, after)
    assert expl is not None and expl.items.tolist() == after.items.tolist()
