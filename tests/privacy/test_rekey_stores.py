"""Chained rotation of keyed pseudonyms in every backend (`Storage.rekey_users`): after a
rotation the raw id, through the longer chain, finds the same index; the old pseudonyms are
gone; tombstones stay; a rerun of the same rotation changes nothing."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from attune.data.events import Interaction, UserUpdate
from attune.data.pseudonyms import Pseudonyms, fingerprint, rekey
from attune.ports import Storage
from attune.stores import open_storage
from tests.stores.redis_server import fresh_redis_url

K1, K2 = b"k1" * 16, b"k2" * 16
RAW = ("person-a", "person-b", "person-c")


def _store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Storage:
    if kind == "sqlite":
        return open_storage(tmp_path / "a.db")
    if kind == "memory":
        return open_storage("memory://")
    return open_storage(fresh_redis_url(request, kind))


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis", "redis-cluster"])
def test_rotation_chains_every_stored_id(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    before, after = Pseudonyms((K1,)), Pseudonyms((K1, K2))
    with _store(kind, tmp_path, request) as store:
        store.events.append_events(
            [Interaction(user_id=before(u), item_id="i1", timestamp=1.0) for u in RAW],
            store.event_types(),
        )
        store.profiles.upsert_users([UserUpdate(user_id=before("person-c"), attributes={"a": "x"})])
        index = {u: store.users.index(before(u)) for u in RAW}
        store.erase_user(before("person-b"))
        tombstone = store.users.external(index["person-b"])

        renamed = store.rekey_users(fingerprint(K2), partial(rekey, K2))

        assert renamed == 2
        assert store.rekey_users(fingerprint(K2), partial(rekey, K2)) == 0  # applied once
        # A user who arrives under the new chain is not re-keyed by a rerun (a `--resume`).
        store.events.append_events(
            [Interaction(user_id=after("person-d"), item_id="i1", timestamp=2.0)],
            store.event_types(),
        )
        assert store.rekey_users(fingerprint(K2), partial(rekey, K2)) == 0
        assert store.users.get(after("person-d")) >= 0
        for raw in ("person-a", "person-c"):
            assert store.users.get(after(raw)) == index[raw]
            assert before(raw) not in store.users
        assert store.users.external(index["person-b"]) == tombstone
        assert store.profiles.user_attributes(after("person-c")) == {"a": "x"}
        assert store.to_dataset().users.ids.count(after("person-a")) == 1
    if kind == "sqlite":  # the same after a reopen, and nowhere in the files
        with open_storage(tmp_path / "a.db") as store:
            assert store.users.get(after("person-a")) == index["person-a"]
        files = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*") if p.is_file())
        assert before("person-a").encode() not in files
