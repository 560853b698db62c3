"""The model registry: versions, promotion, rollback, and refusal of broken versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.learning.registry import DataWindow, ModelRegistry, RegistryError, resolve_model


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
