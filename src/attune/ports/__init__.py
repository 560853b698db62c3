"""Storage ports: the narrow interfaces the engine, learning loop, server and CLI depend on.

Each port is a `typing.Protocol` in a module of its own; every backend (`attune.stores`:
the embedded SQLite default and an in-memory one for tests) implements all of them and passes
one contract suite per port (`tests/stores/contracts/`). Code above the stores never names a
backend: it receives a `Storage` from `attune.stores.open_storage(url)`.
"""

from attune.ports.catalogue import ItemCatalogue, ItemWindow, UserProfiles
from attune.ports.events import EventLog, LoggedEvent
from attune.ports.feed import LEARN_GROUP, LearningFeed, LogRetention, PartitionTrim
from attune.ports.impressions import (
    ArmCounts,
    FeedbackCounts,
    Impression,
    ImpressionLog,
    OutcomeRules,
)
from attune.ports.keys import KeyRecord, KeyStore
from attune.ports.pointer import ModelPointer
from attune.ports.popularity import PopularityCounts
from attune.ports.state import SharedUserStates, StateRead, UserStateStore
from attune.ports.storage import Durability, Storage, StorageError, StoreCounts
from attune.ports.vocab import IdVocabulary

__all__ = [
    "LEARN_GROUP",
    "ArmCounts",
    "Durability",
    "EventLog",
    "FeedbackCounts",
    "IdVocabulary",
    "Impression",
    "ImpressionLog",
    "ItemCatalogue",
    "ItemWindow",
    "KeyRecord",
    "KeyStore",
    "LearningFeed",
    "LogRetention",
    "LoggedEvent",
    "ModelPointer",
    "OutcomeRules",
    "PartitionTrim",
    "PopularityCounts",
    "SharedUserStates",
    "StateRead",
    "Storage",
    "StorageError",
    "StoreCounts",
    "UserProfiles",
    "UserStateStore",
]
