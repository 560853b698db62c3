"""The id rule against what the stores make themselves, and the key stores' authentication
flag, on every backend (issue 18, defects 3 and 4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attune.client._calls import forget_user, history
from attune.ports import KeyRecord, KeyStore, Storage
from attune.schemas.keys import ApiScope
from attune.schemas.records import RESERVED_ID_PREFIX, check_id, is_valid_id
from attune.server.security import KeyRing
from attune.stores import open_storage
from attune.stores.keyfile import FileKeyStore
from attune.stores.memory.storage import MemoryKeyStore
from tests.engine.conftest import clustered_dataset


@pytest.fixture(params=["sqlite", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    url = str(tmp_path / "x.db") if request.param == "sqlite" else "memory://"
    with open_storage(url) as store:
        store.import_dataset(clustered_dataset(), progress=False)
        yield store


def test_no_accepted_id_can_equal_a_tombstone(storage: Storage) -> None:
    victims = storage.users.ids[:3]
    for user_id in victims:
        storage.erase_user(user_id)
    tombstones = [u for u in storage.users.ids if u.startswith(RESERVED_ID_PREFIX)]
    assert len(tombstones) == 3
    for tombstone in tombstones:
        with pytest.raises(ValueError, match="reserved"):
            check_id(tombstone)
        with pytest.raises(ValueError, match="reserved"):
            check_id("  " + tombstone)  # white space around does not hide it


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("u1", "u1"),
        ("  padded  ", "padded"),
        ("a/b", "a/b"),
        ("a b", "a b"),
        ("日本語", "日本語"),
        ("%2F", "%2F"),
        ("x" * 256, "x" * 256),
        ("x" * 257, None),
        ("", None),
        ("   ", None),
        ("\x00erased:3", None),
        ("a\nb", None),
        ("a\tb", None),
        ("a\x7fb", None),
        ("a\u200bb", None),  # zero-width space: a format character
        ("a\u202eb", None),  # right-to-left override
        ("a\ud800b", None),  # a lone surrogate
        (".", None),
        ("..", None),
        ("...", "..."),
    ],
)
def test_the_id_rule(raw: str, accepted: str | None) -> None:
    if accepted is None:
        with pytest.raises(ValueError):
            check_id(raw)
        assert not is_valid_id(raw)
    else:
        assert check_id(raw) == accepted
        assert is_valid_id(raw) == (raw == accepted)


def test_the_client_refuses_a_bad_id_before_sending_and_encodes_slashes() -> None:
    assert forget_user("a/b").path == "/v1/users/a%2Fb"
    assert history(" x ").path == "/v1/users/x/history"
    for bad in ("\x00erased:1", "a\nb", ".."):
        with pytest.raises(ValueError):
            forget_user(bad)


def _record(key_id: str) -> KeyRecord:
    return KeyRecord(id=key_id, name="", scopes=("admin",), sha256="0" * 64, created="2026-01-01")


@pytest.fixture(params=["file", "memory"])
def key_store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    return FileKeyStore(tmp_path / "k.json") if request.param == "file" else MemoryKeyStore()


def test_auth_is_on_from_the_first_key_until_turned_off(key_store: KeyStore) -> None:
    assert not key_store.auth_required()  # a store that never held a key
    before = key_store.version()
    key_store.add(_record("a"))
    assert key_store.auth_required() and key_store.version() != before
    key_store.add(_record("b"))
    assert key_store.remove("a") and key_store.remove("b")
    assert key_store.auth_required()  # the last key gone: still on
    before = key_store.version()
    key_store.set_auth_required(False)
    assert not key_store.auth_required() and key_store.version() != before
    key_store.add(_record("c"))
    assert key_store.auth_required()


def test_a_keys_file_without_the_flag_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text('{"keys": []}')
    assert not FileKeyStore(path).auth_required()
    record = _record("a").model_dump_json()
    path.write_text(f'{{"keys": [{record}]}}')
    assert FileKeyStore(path).auth_required()


def test_the_key_ring_follows_the_flag_and_refuses_to_drop_live_keys(tmp_path: Path) -> None:
    ring = KeyRing(FileKeyStore(tmp_path / "k.json"), recheck_s=0.0)
    assert not ring.enabled
    key, record = ring.create({ApiScope.ADMIN}, "ops")
    assert ring.enabled and ring.authenticate(key) is not None
    with pytest.raises(ValueError, match="revoke them first"):
        ring.disable()
    assert ring.revoke(record.id)
    assert ring.enabled and ring.authenticate(key) is None
    ring.disable()
    assert not ring.enabled
    # Another process (the CLI) turning it off is seen by a running server's ring.
    other = KeyRing(FileKeyStore(tmp_path / "k.json"), recheck_s=0.0)
    other.create({ApiScope.INGEST})
    assert ring.enabled
