"""Fixtures of the storage contract suites (`tests/stores/contracts/`).

Every contract test runs once per backend in `BACKENDS`. A new backend joins the suites by
adding one entry there: how to open a fresh storage of it, and what a model registry directory
needs before its pointer can be used. The Redis backend runs on one Redis and on a 3-node Redis
Cluster, each started once per session (`tests/conftest.py`) and emptied for every storage a
test opens.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attune.ports import (
    EventLog,
    ImpressionLog,
    ItemCatalogue,
    KeyStore,
    ModelPointer,
    PopularityCounts,
    Storage,
    UserProfiles,
    UserStateStore,
)
from attune.stores import FileModelPointer, open_storage
from tests.stores.redis_server import REDIS_KINDS, fresh_redis_url


@dataclass(frozen=True)
class Backend:
    """How the suites open one backend."""

    name: str
    open: Callable[[], Storage]
    """A fresh, empty storage on every call."""
    prepare_registry: Callable[[Path], None]
    """Make `path` a registry directory whose `model_pointer` can be read and written."""


def _sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    paths = (tmp_path / f"s{n}.db" for n in itertools.count())

    def registry(root: Path) -> None:  # what `ModelRegistry.create` does for its pointer
        root.mkdir(parents=True, exist_ok=True)
        FileModelPointer(root).create()

    return Backend("sqlite", lambda: open_storage(next(paths)), registry)


def _memory(tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    return Backend("memory", lambda: open_storage("memory://"), lambda root: None)


def _redis(kind: str) -> Callable[[Path, pytest.FixtureRequest], Backend]:
    """`kind` is one of `REDIS_KINDS`: every open empties the session's Redis of that kind, so
    a storage opened earlier in the same test is emptied too (no suite reads one after)."""

    def make(tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
        return Backend(kind, lambda: open_storage(fresh_redis_url(request, kind)), lambda _: None)

    return make


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Backend]] = {
    "sqlite": _sqlite,
    "memory": _memory,
    **{kind: _redis(kind) for kind in REDIS_KINDS},
}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """One backend per parameter; every storage it opened is closed after the test."""
    base = BACKENDS[request.param](tmp_path, request)
    opened: list[Storage] = []

    def open_fresh() -> Storage:
        opened.append(base.open())
        return opened[-1]

    yield Backend(base.name, open_fresh, base.prepare_registry)
    for storage in opened:
        storage.close()


@pytest.fixture
def storage(backend: Backend) -> Storage:
    return backend.open()


@pytest.fixture
def log(storage: Storage) -> EventLog:
    return storage.events


@pytest.fixture
def states(storage: Storage) -> UserStateStore:
    return storage.states


@pytest.fixture
def catalogue(storage: Storage) -> ItemCatalogue:
    return storage.catalogue


@pytest.fixture
def profiles(storage: Storage) -> UserProfiles:
    return storage.profiles


@pytest.fixture
def impressions(storage: Storage) -> ImpressionLog:
    return storage.impressions


@pytest.fixture
def keys(storage: Storage) -> KeyStore:
    return storage.keys


@pytest.fixture
def pointer(backend: Backend, storage: Storage, tmp_path: Path) -> ModelPointer:
    root = tmp_path / "registry"
    backend.prepare_registry(root)
    return storage.model_pointer(root)


@pytest.fixture
def popularity(storage: Storage) -> PopularityCounts:
    return storage.popularity(n_items=4, half_life_seconds=100.0, head_size=2)
