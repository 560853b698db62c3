"""A registry of two versions over one database: v1 (current) the tiny model, v2 an ensemble
of two trained on the same catalogue (another model, another vector width)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.data.dataset import Dataset
from attune.learning.registry import DataWindow, ModelRegistry
from tests.engine.conftest import make_engine_files


@pytest.fixture
def ab_files(
    trained: tuple[Dataset, Path], trained_pair: tuple[Dataset, Path], tmp_path: Path
) -> tuple[Path, ModelRegistry]:
    """(database, registry with v1 current and v2 published)."""
    data, one = trained
    db, _ = make_engine_files(data, one, tmp_path)
    registry = ModelRegistry.create(tmp_path / "registry", one, DataWindow())
    registry.add(
        trained_pair[1],
        parent=1,
        status="published",
        data_window=DataWindow(),
        metrics={},
        note="an ensemble of two",
        copy=True,
    )
    return db, registry
