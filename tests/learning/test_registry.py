"""The model registry: versions, promotion, rollback, and refusal of broken versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.learning.registry import DataWindow, ModelRegistry, RegistryError
from attune.stores import resolve_model


def test_create_add_promote_rollback(registry_files: tuple[Path, ModelRegistry]) -> None:
    _, reg = registry_files
    assert reg.current() == 1
    v1 = reg.info(1)
    assert v1.status == "published" and v1.parent is None and v1.data_window.last_seq > 0
    info = reg.add(
        reg.path(1),
        parent=1,
        status="published",
        data_window=DataWindow(first_seq=5, last_seq=9, events=5),
        metrics={"ndcg@10": 0.5},
        note="copy",
        copy=True,
    )
    assert info.version == 2 and reg.current() == 1
    assert [v.version for v in reg.versions()] == [1, 2]
    reg.promote(2)
    assert reg.current() == 2 and resolve_model(reg.root) == (reg.path(2), 2)
    assert reg.rollback() == 1
    assert reg.current() == 1 and reg.history() == [1]
    with pytest.raises(RegistryError, match="no earlier version"):
        reg.rollback()


def test_corrupt_version_is_refused(registry_files: tuple[Path, ModelRegistry]) -> None:
    _, reg = registry_files
    info = reg.add(
        reg.path(1),
        parent=1,
        status="published",
        data_window=DataWindow(),
        metrics={},
        note="to be damaged",
        copy=True,
    )
    (reg.path(info.version) / "model.pt").write_bytes(b"not a tensor file")
    with pytest.raises(RegistryError, match=r"model\.pt is corrupt"):
        reg.promote(info.version)
    assert reg.current() == 1
    with pytest.raises(RegistryError, match="does not exist"):
        reg.promote(99)


def test_not_a_registry(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not a model registry"):
        ModelRegistry(tmp_path)
    assert resolve_model(tmp_path) == (tmp_path, None)  # a plain checkpoint directory


def test_create_refuses_an_existing_registry(registry_files: tuple[Path, ModelRegistry]) -> None:
    _, reg = registry_files
    with pytest.raises(RegistryError, match="already"):
        ModelRegistry.create(reg.root, reg.path(1), DataWindow())


def _add(reg: ModelRegistry, status: str = "published") -> int:
    info = reg.add(
        reg.path(reg.current() or 1),
        parent=1,
        status=status,  # type: ignore[arg-type]
        data_window=DataWindow(),
        metrics={},
        note=status,
        copy=True,
    )
    return info.version


def test_prune_keeps_current_newest_and_recent_history(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    _, reg = registry_files
    for _ in range(6):
        _add(reg)  # versions 2..7
    for version in (2, 3, 4):
        reg.promote(version)  # history 1, 2, 3, 4
    _add(reg, "rejected")  # version 8
    assert reg.history() == [1, 2, 3, 4] and reg.current() == 4
    deleted = reg.prune(keep=2)
    # Kept: the newest two (7, 8), the last two of the history (4 current, 3).
    assert deleted == [1, 2, 5, 6]
    assert [v.version for v in reg.versions()] == [3, 4, 7, 8]
    assert sorted(p.name for p in (reg.root / "versions").iterdir()) == ["3", "4", "7", "8"]
    assert reg.history() == [3, 4] and reg.current() == 4
    assert reg.rollback() == 3  # keep - 1 steps back still work
    with pytest.raises(RegistryError, match="no earlier version"):
        reg.rollback()
    # 4 was rolled back from: no longer in the history nor among the newest two.
    assert reg.prune(keep=2) == [4]
    assert reg.prune(keep=2) == []
    reg.load(3)


def test_prune_never_deletes_the_current_version_and_refuses_keep_zero(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    _, reg = registry_files
    for _ in range(3):
        _add(reg)  # 2, 3, 4; version 1 stays current
    assert reg.prune(keep=1) == [2, 3]
    assert reg.current() == 1 and [v.version for v in reg.versions()] == [1, 4]
    assert resolve_model(reg.root) == (reg.path(1), 1)
    with pytest.raises(RegistryError, match="at least 1"):
        reg.prune(keep=0)


def test_prune_collapses_history_and_cleans_a_killed_prune(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    _, reg = registry_files
    _add(reg)
    _add(reg)
    for version in (2, 3, 2):
        reg.promote(version)  # history 1, 2, 3, 2
    leftover = reg.root / "versions" / ".deleting-9"
    leftover.mkdir()
    (leftover / "model.pt").write_bytes(b"half deleted")
    assert reg.prune(keep=1) == [1]  # 3 is the newest, 2 current
    assert reg.history() == [2, 3, 2] and not leftover.exists()
    _add(reg)  # 4
    assert reg.prune(keep=1) == [3]
    assert reg.history() == [2]  # [2, 2] after dropping 3: one entry, so no fake rollback


def test_prune_rejected_keeps_the_newest_and_every_promoted_or_published_one(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    _, reg = registry_files
    for status in ("rejected",) * 5 + ("published",):
        _add(reg, status)  # 2..6 rejected, 7 published
    reg.promote(3)  # a rejected version promoted by hand (`--force`), then left
    reg.promote(1)
    assert reg.prune_rejected(keep=2) == [2, 4]
    assert [v.version for v in reg.versions()] == [1, 3, 5, 6, 7]
    assert reg.prune_rejected(keep=2) == []
    _add(reg, "rejected")  # 8
    assert reg.prune_rejected() == []  # the default keeps three: 5, 6, 8
    assert reg.prune_rejected(keep=1) == [5, 6]
    assert reg.history() == [1, 3, 1] and reg.current() == 1
    with pytest.raises(RegistryError, match="at least 1"):
        reg.prune_rejected(keep=0)


def test_last_candidate_is_the_newest_version_from_a_parent(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    _, reg = registry_files
    assert reg.last_candidate(1) is None
    _add(reg, "rejected")
    _add(reg, "published")
    candidate = reg.last_candidate(1)
    assert candidate is not None and candidate.version == 3 and reg.last_candidate(3) is None
