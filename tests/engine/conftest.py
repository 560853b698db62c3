"""A synthetic catalogue with planted clusters, a small model trained on it, and a store."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from attune.data.dataset import Dataset
from attune.data.importers.builder import DatasetBuilder
from attune.stores import open_storage

N_CLUSTERS = 4
PER_CLUSTER = 15
T0 = time.time() - 30 * 86400


def cluster_of(item_id: str) -> int:
    return int(item_id.split("-")[0][1:])


def clustered_dataset(n_users: int = 480, length: int = 12, seed: int = 0) -> Dataset:
    """Each user browses two sessions, each inside one cluster (genre) in random order:
    first cluster (u // 4) % 4, then cluster u % 4, which is also their segment attribute.
    Interest shifts in the data teach the model to follow the most recent session."""
    rng = np.random.default_rng(seed)
    b = DatasetBuilder("clusters")
    for c in range(N_CLUSTERS):
        for j in range(PER_CLUSTER):
            idx = b.items.add(f"c{c}-{j}")
            b.item_attrs[idx] = [f"genre=g{c}"]
            b.item_titles[idx] = f"Item {j} of genre g{c}"
    for u in range(n_users):
        uid = f"u{u}"
        b.user_attrs[b.users.add(uid)] = [f"segment=s{u % N_CLUSTERS}"]
        for session, c in enumerate(((u // N_CLUSTERS) % N_CLUSTERS, u % N_CLUSTERS)):
            for t, j in enumerate(rng.choice(PER_CLUSTER, size=length // 2, replace=False)):
                b.add(uid, f"c{c}-{j}", T0 + u * 100 + session * 50 + t, "view")
    return b.build()


@pytest.fixture
def engine_files(trained: tuple[Dataset, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A fresh database holding the dataset, and the model directory."""
    return make_engine_files(*trained, tmp_path)


def make_engine_files(data: Dataset, model_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh database under `tmp_path` holding `data`, and a copy of `model_dir` beside it."""
    db = tmp_path / "engine.db"
    with open_storage(db) as store:
        store.import_dataset(replace(data), progress=False)
    local_model = tmp_path / "model"
    shutil.copytree(model_dir, local_model)
    return db, local_model
