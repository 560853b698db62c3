"""What one server process serves: the storage named by its settings (under the single-server
lock when the storage is owned by one process), the model registry it follows and the engine.

On a shared store (Redis) no lock is taken: any number of servers open the same deployment,
and the registry's current version is the deployment's pointer in the store (seeded from
`registry.json` the first time), so a promotion reaches every server.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attune.engine.engine import Engine, load_model
from attune.engine.interest import InterestModel
from attune.learning.registry import ModelRegistry
from attune.log import get_logger, redact_user_ids
from attune.ports import Storage
from attune.server.lock import DatabaseLock
from attune.server.settings import ServerSettings
from attune.stores import open_storage, redacted, storage_path

_log = get_logger(__name__)

MIN_KNOWN_SHARE = 0.5
"""Least share of the store's items the served model must know (else `ModelMismatchError`,
unless `allow_mismatch`)."""


class ModelMismatchError(ValueError):
    """The model knows too few of the store's items: it was trained on other data."""


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
    store = _open_store(settings)
    lock = _lock(store)
    try:
        registry, model = _model(settings, store)
        check_fit(settings, store, model)
        pseudonyms = settings.pseudonyms()
        redact_user_ids(pseudonyms is not None)
        engine = Engine(store, model, settings.engine, pseudonyms)
    except BaseException:
        store.close()
        if lock is not None:
            lock.release()
        raise
    return Serving(engine, registry, lock)


def check_model_fit(settings: ServerSettings) -> None:
    """`check_fit` on its own (the storage opened and closed again, no engine): what
    `attune serve --workers N` runs before its workers each open the storage."""
    store = _open_store(settings)
    try:
        check_fit(settings, store, _model(settings, store)[1])
    finally:
        store.close()


def _open_store(settings: ServerSettings) -> Storage:
    return open_storage(
        settings.storage_url,
        durability=settings.engine.durability,
        keys=settings.keys_file,
        erasure_rebuild_s=settings.engine.erasure_rebuild_s,
    )


def _model(settings: ServerSettings, store: Storage) -> tuple[ModelRegistry | None, InterestModel]:
    """The registry followed (None for a checkpoint directory) and the model to serve: the
    registry's current version, or the checkpoint as version 1."""
    registry = _registry(settings, store)
    if registry is None:
        return None, load_model(settings.model, 1, settings.engine.device)
    version = registry.current()
    if version is None:
        raise ValueError(f"model registry {settings.model} has no current version")
    return registry, load_model(registry.path(version), version, settings.engine.device)


def check_fit(settings: ServerSettings, store: Storage, model: InterestModel) -> float | None:
    """Log the share of the store's items `model` knows (None for a store without items) and
    raise `ModelMismatchError` when it is under `MIN_KNOWN_SHARE`, unless the settings allow
    a mismatch. A model trained on other data has no vector for the items it never saw:
    they rank by their attributes at best, and users' histories of them count for nothing."""
    n_items = len(store.items)
    model.bind_items(store.items)  # the engine's own binding then has nothing left to do
    known = int(np.count_nonzero(model.model_index(np.arange(n_items)) > 0))
    share = known / n_items if n_items else None
    low = share is not None and share < MIN_KNOWN_SHARE
    (_log.warning if low else _log.info)(
        "model catalogue fit",
        store=redacted(settings.storage_url),
        model=str(settings.model),
        model_version=model.version,
        items=n_items,
        known_items=known,
        known_share=None if share is None else round(share, 4),
    )
    if low and not settings.allow_mismatch:
        raise ModelMismatchError(
            f"the model {settings.model} knows {known} of the store's {n_items} items "
            f"({share:.0%}, under {MIN_KNOWN_SHARE:.0%}): it was trained on other data, and "
            "most lists would come from attributes or popularity. Serve a model trained on "
            "this store, or start with --allow-mismatch (ATTUNE_ALLOW_MISMATCH=1)."
        )
    return share


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
