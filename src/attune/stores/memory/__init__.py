"""The in-memory backend (`memory://`): every port in plain Python structures, for tests and
for trying Attune without files. Nothing survives the process."""

from attune.stores.memory.storage import MemoryStorage

__all__ = ["MemoryStorage"]
