"""Storage backends behind the ports of `attune.ports`, chosen by URL (`open_storage`).

The embedded SQLite backend is the default (`attune.stores.sqlite`); `memory://` keeps
everything in the process (`attune.stores.memory`).
"""

from attune.ports import Durability, StorageError, StoreCounts
from attune.stores.factory import (
    open_key_store,
    open_model_pointer,
    open_storage,
    redacted,
    shared_storage,
    storage_path,
    unavailable_errors,
)
from attune.stores.pointer import FileModelPointer, resolve_model, version_dir

__all__ = [
    "Durability",
    "FileModelPointer",
    "StorageError",
    "StoreCounts",
    "open_key_store",
    "open_model_pointer",
    "open_storage",
    "redacted",
    "resolve_model",
    "shared_storage",
    "storage_path",
    "unavailable_errors",
    "version_dir",
]
