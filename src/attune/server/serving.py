"""What one server process serves: the storage named by its settings (under the single-server
lock when the storage is owned by one process), the model registry it follows and the engine.

On a shared store (Redis) no lock is taken: any number of servers open the same deployment,
and the registry's current version is the deployment's pointer in the store (seeded from
`registry.json` the first time), so a promotion reaches every server.
"""

from __future__ import annotations

from dataclasses import dataclass

from attune.engine.engine import Engine, load_model
from attune.learning.registry import ModelRegistry
from attune.ports import Storage
from attune.server.lock import DatabaseLock
from attune.server.settings import ServerSettings
from attune.stores import open_storage, storage_path


@dataclass
class Serving:
    """The opened engine, the registry it follows (None for a plain checkpoint directory) and
    the lock held (None on a shared store)."""

    engine: Engine
    registry: ModelRegistry | None
    lock: DatabaseLock | None

    def close(self) -> None:
        """Close the engine (it writes its state snapshot), then let the lock go."""
        try:
            self.engine.close()
        finally:
            if self.lock is not None:
                self.lock.release()


def open_serving(settings: ServerSettings) -> Serving:
    """Open the storage, take the lock when it is owned by one process, load the model (the
    registry's current version, or the checkpoint as version 1) and the engine over both."""
    store = open_storage(
        settings.storage_url,
        durability=settings.engine.durability,
        keys=settings.keys_file,
        erasure_rebuild_s=settings.engine.erasure_rebuild_s,
    )
    lock = _lock(store)
    try:
        registry = _registry(settings, store)
        if registry is None:
            model = load_model(settings.model, 1, settings.engine.device)
        else:
            version = registry.current()
            if version is None:
                raise ValueError(f"model registry {settings.model} has no current version")
            model = load_model(registry.path(version), version, settings.engine.device)
        engine = Engine(store, model, settings.engine)
    except BaseException:
        store.close()
        if lock is not None:
            lock.release()
        raise
    return Serving(engine, registry, lock)


def _lock(store: Storage) -> DatabaseLock | None:
    """The single-server lock of a storage owned by one process (a second server stops here,
    before anything reads the state); None for a shared one."""
    path = storage_path(store.url)
    if not store.single_process or path is None:
        return None
    lock = DatabaseLock(path)
    try:
        lock.acquire()
    except BaseException:
        store.close()
        raise
    return lock


def _registry(settings: ServerSettings, store: Storage) -> ModelRegistry | None:
    """The model registry at `settings.model` with the store's pointer; None for a plain
    checkpoint directory."""
    if not ModelRegistry.is_registry(settings.model):
        return None
    return ModelRegistry.shared(settings.model, store.model_pointer(settings.model))
