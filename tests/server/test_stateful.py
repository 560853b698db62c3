"""Stateful fuzzing of the real app (issue 18, item 10): hypothesis drives ingest, batch
ingest with and without event ids, attributes, recommendations, erasure, key creation and
revocation and restarts over one SQLite database, and after every step holds the answers
against a plain model of what must be true:

- counts: each user's events as the server reports them (history, erasure counts, totals);
- erasure: an erased user has nothing left: no events, no history, a list that owes nothing
  to them, no entry in the user directory or the exported dataset, no byte in the files;
- idempotency: an event id a user already has is acknowledged as a duplicate, never applied
  twice (within a batch, across calls and across restarts);
- auth: a revoked key gets 401, a key without the route's scope 403, and authentication stays
  on when the last key is revoked.

The app runs in process (with its lifespan, on an event loop of its own); a restart closes it, as a
SIGTERM does, and opens a new one over the same files.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from attune.data.dataset import Dataset
from attune.engine.config import EngineConfig
from attune.server.app import create_app
from attune.server.security import ApiScope, KeyRing, open_key_ring
from attune.server.settings import ServerSettings
from tests.server.conftest import make_db

USERS = ("stateful-alpha", "stateful-beta", "stateful/gamma", "stateful delta")
"""The users the machine plays with (none in the dataset; one with `/`, one with a space)."""
ITEMS = ("c0-1", "c0-2", "c1-3", "c2-4", "c3-5")
EVENT_IDS = ("e1", "e2", "e3")
"""Few ids, so that repeats are common."""
HISTORY_WINDOW = 16
"""The served model's `max_len`: a history shows at most this many events."""

LOOPBACK = "http://127.0.0.1"

PRISTINE: dict[str, Path] = {}
CHECKS: list[int] = []
"""One entry per invariant check the machine made (the test asserts its runs checked)."""
"""The database and model each run copies (set by the test before the machine runs)."""


@dataclass
class Key:
    key: str
    key_id: str
    scope: ApiScope
    live: bool = True

    def allows(self, scope: ApiScope) -> bool:
        return self.scope in (scope, ApiScope.ADMIN)


class InProcess:
    """The app with its lifespan on an event loop of its own thread, called synchronously."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._client: httpx.AsyncClient | None = None
        self._served = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self._ready.wait(60)
        if self._client is None:
            self._served.result(0)  # raises what stopped the start
            raise RuntimeError("the app did not start")

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with self.app.router.lifespan_context(self.app):
                transport = httpx.ASGITransport(app=self.app)
                async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
                    self._client = client
                    self._ready.set()
                    await self._stop.wait()
        finally:
            self._ready.set()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        assert self._client is not None
        call = self._client.request(method, url, **kwargs)
        return asyncio.run_coroutine_threadsafe(call, self._loop).result(60)

    def close(self) -> None:
        """Shut the app down as SIGTERM does (the engine writes its snapshot)."""
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._served.result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _path(user: str) -> str:
    return "/v1/users/" + quote(user, safe="")


event_ids = st.one_of(st.none(), st.sampled_from(EVENT_IDS))
events = st.tuples(st.sampled_from(USERS), st.sampled_from(ITEMS), event_ids)


class ServedApp(RuleBasedStateMachine):
    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="attune-stateful-"))
        for source in PRISTINE.values():
            copy = shutil.copytree if source.is_dir() else shutil.copy
            copy(source, self.folder / source.name)
        self.db, self.model = self.folder / PRISTINE["db"].name, self.folder / "model"
        self.ring: KeyRing = open_key_ring(self.db)  # as `attune keys` does, beside the server
        self.counts: Counter[str] = Counter()  # events applied per user
        self.ids: dict[str, set[str]] = {u: set() for u in USERS}
        self.attributes: set[str] = set()
        self.erased: set[str] = set()
        self.all_keys: list[Key] = []
        self.client: InProcess | None = None
        self._open()
        self.base_events = self._admin_stats()["events"]

    # -- the app ---------------------------------------------------------------------------

    def _open(self) -> None:
        # Erasures rebuild the database inside the request, so their answers can say the
        # files are clear (the server's default defers that by seconds).
        engine = EngineConfig(erasure_rebuild_s=0.0)
        app = create_app(ServerSettings(db=self.db, model=self.model, engine=engine))
        app.state.keys.recheck_s = 0.0  # follow the keys file at once (not within 1 s)
        self.client = InProcess(app)

    def _close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def teardown(self) -> None:
        self._close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _call(self, method: str, path: str, key: Key | None, **kwargs: Any) -> Any:
        assert self.client is not None
        headers = {"x-api-key": key.key} if key is not None else {}
        return self.client.request(method, path, headers=headers, **kwargs)

    def _expect(self, key: Key, scope: ApiScope) -> int:
        """The status a call with `key` to a route of `scope` must get, short of its outcome."""
        if not key.live:
            return 401
        return 200 if key.allows(scope) else 403

    def _admin(self) -> Key | None:
        return next((k for k in self.all_keys if k.live and k.scope == ApiScope.ADMIN), None)

    def _admin_stats(self) -> dict[str, Any]:
        key = self._admin() or self._new_key(ApiScope.ADMIN)
        r = self._call("GET", "/v1/stats", key)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def _new_key(self, scope: ApiScope) -> Key:
        key, record = self.ring.create({scope}, name=f"stateful {scope}")
        made = Key(key, record.id, scope)
        self.all_keys.append(made)
        return made

    # -- keys ------------------------------------------------------------------------------

    @initialize(target=keys)
    def make_keys(self) -> Any:
        return multiple(*(self._new_key(scope) for scope in ApiScope))

    @rule(target=keys, scope=st.sampled_from(list(ApiScope)))
    def create_key(self, scope: ApiScope) -> Key:
        return self._new_key(scope)

    @rule(key=keys)
    def revoke_key(self, key: Key) -> None:
        assert self.ring.revoke(key.key_id) == key.live
        key.live = False

    @invariant()
    def auth_stays_on(self) -> None:
        r = self._call("GET", _path(USERS[0]) + "/history", None)
        assert r.status_code == 401, r.text
        CHECKS.append(1)

    # -- writes ----------------------------------------------------------------------------

    def _apply(self, batch: list[tuple[str, str, str | None]]) -> tuple[int, int]:
        """Fold a batch into the model; (accepted, duplicates) it must be answered with."""
        accepted = duplicates = 0
        for user, _, event_id in batch:
            if event_id is not None and event_id in self.ids[user]:
                duplicates += 1
                continue
            accepted += 1
            self.counts[user] += 1
            self.erased.discard(user)
            if event_id is not None:
                self.ids[user].add(event_id)
        return accepted, duplicates

    def _send(self, key: Key, batch: list[tuple[str, str, str | None]], single: bool) -> None:
        bodies = [
            {"user_id": u, "item_id": i, "event_type": "click"}
            | ({"event_id": e} if e is not None else {})
            for u, i, e in batch
        ]
        r = self._call("POST", "/v1/events", key, json=bodies[0] if single else bodies)
        expected = self._expect(key, ApiScope.INGEST)
        assert r.status_code == expected, r.text
        if expected == 200:
            accepted, duplicates = self._apply(batch)
            answer = r.json()
            assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (
                accepted,
                duplicates,
                [],
            ), (batch, answer)

    @rule(key=keys, event=events)
    def ingest(self, key: Key, event: tuple[str, str, str | None]) -> None:
        self._send(key, [event], single=True)

    @rule(key=keys, batch=st.lists(events, min_size=1, max_size=6))
    def batch_ingest(self, key: Key, batch: list[tuple[str, str, str | None]]) -> None:
        self._send(key, batch, single=False)

    @rule(key=keys, user=st.sampled_from(USERS))
    def put_attributes(self, key: Key, user: str) -> None:
        body = {"attributes": {"segment": "s1", "home": f"home of {user}"}}
        r = self._call("PUT", _path(user), key, json=body)
        assert r.status_code == self._expect(key, ApiScope.INGEST), r.text
        if r.status_code == 200:
            self.attributes.add(user)
            self.erased.discard(user)

    # -- reads -----------------------------------------------------------------------------

    @rule(key=keys, user=st.sampled_from(USERS))
    def recommend(self, key: Key, user: str) -> None:
        r = self._call("GET", _path(user) + "/recommendations?k=5", key)
        assert r.status_code == self._expect(key, ApiScope.RECOMMEND), r.text
        if r.status_code != 200:
            return
        answer = r.json()
        if self.counts[user]:
            assert answer["source"] == "model", answer
        else:  # nothing of an erased user's history is left to recommend from
            assert answer["source"] == ("attributes" if user in self.attributes else "popularity")
            assert all(not i["reason"]["influences"] for i in answer["items"]), answer

    @rule(key=keys, user=st.sampled_from(USERS))
    def history(self, key: Key, user: str) -> None:
        r = self._call("GET", _path(user) + "/history", key)
        expected = self._expect(key, ApiScope.RECOMMEND)
        known = self.counts[user] > 0 or user in self.attributes
        if expected == 200 and not known:
            expected = 404
        assert r.status_code == expected, r.text
        if expected == 200:
            assert len(r.json()["events"]) == min(self.counts[user], HISTORY_WINDOW)

    # -- erasure and restarts --------------------------------------------------------------

    @rule(key=keys, user=st.sampled_from(USERS))
    def delete_user(self, key: Key, user: str) -> None:
        r = self._call("DELETE", _path(user), key)
        expected = self._expect(key, ApiScope.ADMIN)
        known = self.counts[user] > 0 or user in self.attributes
        if expected == 200 and not known:
            expected = 404
        assert r.status_code == expected, r.text
        if expected != 200:
            return
        answer = r.json()
        assert answer["events"] == self.counts[user], answer
        assert answer["attributes"] == int(user in self.attributes), answer
        assert answer["files_cleared"] is True, answer  # no other reader holds the files
        self.counts[user] = 0
        self.ids[user].clear()
        self.attributes.discard(user)
        self.erased.add(user)
        for f in self.folder.iterdir():
            if f.is_file():
                assert user.encode() not in f.read_bytes(), f.name

    @rule()
    def restart(self) -> None:
        self._close()
        self._open()

    @precondition(lambda self: self.client is not None)
    @rule()
    def audit(self) -> None:
        """The totals, the directory and the exported dataset agree with the model."""
        stats = self._admin_stats()
        assert stats["events"] == self.base_events + sum(self.counts.values()), stats
        key = self._admin()
        assert key is not None
        for user in USERS:
            listed = self._call("GET", "/v1/users", key, params={"prefix": user})
            assert listed.status_code == 200, listed.text
            found = {u["user_id"]: u["history"] for u in listed.json()["users"]}
            known = self.counts[user] > 0 or user in self.attributes
            assert (user in found) == known, (user, found)
        assert self.client is not None
        store = self.client.app.state.engine_access.engine.store
        exported = store.to_dataset()
        exported_users = set(exported.users.ids)
        per_user = Counter(exported.users.external(int(u)) for u in exported.interactions.users)
        for user in USERS:
            assert per_user[user] == self.counts[user], (user, per_user[user])
            if user in self.erased:
                assert user not in exported_users


@pytest.fixture(scope="module")
def pristine(
    trained: tuple[Dataset, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    db, model = make_db(trained, tmp_path_factory.mktemp("stateful"))
    return {"db": db, "model": model}


def test_the_app_agrees_with_a_model_of_counts_erasure_idempotency_and_auth(
    pristine: dict[str, Path],
) -> None:
    PRISTINE.clear()
    PRISTINE.update(pristine)
    CHECKS.clear()
    run_state_machine_as_test(
        ServedApp,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            # No shrinking: each replay restarts the app (about a second), so shrinking a long
            # run would take minutes; a failure prints its whole run of steps instead.
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert len(CHECKS) >= 12  # every example ran the machine and checked it at least once
