"""A registry over the engine tests' trained model and database."""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.learning.registry import DataWindow, ModelRegistry
from attune.stores import open_storage
from tests.engine.conftest import engine_files

__all__ = ["engine_files", "registry_files"]


@pytest.fixture
def registry_files(engine_files: tuple[Path, Path], tmp_path: Path) -> tuple[Path, ModelRegistry]:
    """(database, registry whose version 1 is the trained model, window = the whole log)."""
    db, model = engine_files
    with open_storage(db) as store:
        window = DataWindow(last_seq=store.events.last_seq(), events=store.counts().events)
    return db, ModelRegistry.create(tmp_path / "registry", model, window)
