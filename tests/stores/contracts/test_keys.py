"""The `KeyStore` contract."""

from __future__ import annotations

from attune.ports import KeyRecord, KeyStore


def record(key_id: str, *scopes: str) -> KeyRecord:
    return KeyRecord(
        id=key_id,
        name=f"key {key_id}",
        scopes=scopes or ("read",),
        sha256=key_id * 8,
        created="2026-01-01T00:00:00+00:00",
    )


def test_add_load_remove(keys: KeyStore) -> None:
    assert list(keys.load()) == []
    keys.add(record("a", "read", "write"))
    keys.add(record("b"))
    assert list(keys.load()) == [record("a", "read", "write"), record("b")]
    assert keys.remove("a") and not keys.remove("a") and not keys.remove("never")
    assert list(keys.load()) == [record("b")]


def test_version_changes_on_every_change_and_only_then(keys: KeyStore) -> None:
    seen = [keys.version()]
    for change in (
        lambda: keys.add(record("a")),
        lambda: keys.add(record("b")),
        lambda: keys.remove("a"),
        lambda: keys.add(record("c")),
        lambda: keys.remove("b"),
        lambda: keys.remove("c"),
        lambda: keys.add(record("d")),
    ):
        change()
        assert keys.version() not in seen
        seen.append(keys.version())
    assert not keys.remove("a")
    assert keys.version() == seen[-1]
