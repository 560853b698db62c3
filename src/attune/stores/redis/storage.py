"""Every port of the Redis backend over one redis-py client (`redis://`, `rediss://`, and
`redis+cluster://` for Redis Cluster; see `connection`).

Several processes open the same Redis as one deployment (`single_process` is False); the key
layout and the write protocol are in docs/scaling.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import redis
from redis.exceptions import RedisClusterException

from attune.data.dataset import Dataset
from attune.data.events import EventTypes
from attune.ports import LEARN_GROUP, PartitionTrim, StorageError, StoreCounts
from attune.stores.assemble import assemble_dataset, attribute_table, tokens_to_attributes
from attune.stores.redis.catalogue import USER_CHANGES, RedisCatalogue, RedisProfiles
from attune.stores.redis.connection import connect, log_partitions
from attune.stores.redis.events import RedisEventLog
from attune.stores.redis.impressions import RedisImpressions
from attune.stores.redis.layout import META
from attune.stores.redis.learning import GroupLearningFeed
from attune.stores.redis.popularity import RedisPopularity
from attune.stores.redis.registry import RedisKeyStore, RedisModelPointer
from attune.stores.redis.retention import trim_partition
from attune.stores.redis.state import RedisUserStateStore
from attune.stores.redis.vocab import RedisVocabulary


class RedisStorage:
    """The Redis backend; many of these (one per server process) share one deployment."""

    single_process = False

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            plain, partitions = log_partitions(url)
            self.client = connect(plain)
            self.client.ping()
        except (redis.RedisError, RedisClusterException, ValueError) as err:
            raise StorageError(f"{_safe(url)}: cannot reach Redis ({err})") from err
        r = self.client
        self.users, self.items = RedisVocabulary(r, "users"), RedisVocabulary(r, "items")
        self.events = RedisEventLog(r, self.users, self.items, partitions=partitions)
        self.catalogue = RedisCatalogue(r, self.items)
        self.profiles = RedisProfiles(r, self.users)
        self.impressions = RedisImpressions(r, self.events)
        self.states = RedisUserStateStore(r)
        self.keys = RedisKeyStore(r)
        self.events.repair()  # finish what a process killed mid-append started

    def event_types(self) -> EventTypes:
        return self.events.event_types()

    def import_dataset(self, dataset: Dataset, *, progress: bool = True) -> int:
        """Ids, attributes and events in bulk (not one atomic unit: a failed import is
        resumed by importing again into an empty deployment)."""
        self.events.ensure_event_types(dataset.event_types)
        fields = [list(dataset.item_attributes.fields), list(dataset.user_attributes.fields)]
        for name, value in (
            ("name", dataset.name),
            ("has_timestamps", dataset.has_timestamps),
            ("fields", fields),
        ):
            self.client.hsetnx(META, name, json.dumps(value))
        users = self.users.encode(dataset.users.ids)
        items = self.items.encode(dataset.items.ids)
        self._copy_attributes(dataset, users, items)
        inter = dataset.interactions
        rows = zip(
            users[inter.users].tolist(),
            items[inter.items].tolist(),
            inter.event_types.tolist(),
            inter.timestamps.tolist(),
            inter.values.astype(np.float64).tolist(),
            strict=True,
        )
        ids = None if inter.event_ids is None else inter.event_ids.tolist()
        return self.events.append_rows(list(rows), ids)

    def _copy_attributes(self, dataset: Dataset, users: np.ndarray, items: np.ndarray) -> None:
        """Every row of the attribute tables, `{}` for a row without any (as SQLite keeps
        them), titles in the item rows."""
        item_rows: dict[int, dict[str, Any]] = {}
        ids = dataset.item_attributes.tokens.ids
        for r in range(dataset.item_attributes.n_rows):
            attrs = dict(tokens_to_attributes([ids[t] for t in dataset.item_attributes.row(r)]))
            if r in dataset.item_titles:
                attrs["title"] = dataset.item_titles[r]
            item_rows[int(items[r])] = attrs
        for r, title in dataset.item_titles.items():
            item_rows.setdefault(int(items[r]), {"title": title})
        self.catalogue.set_attributes(item_rows)
        ids = dataset.user_attributes.tokens.ids
        self.profiles.set_attributes(
            {
                int(users[r]): dict(
                    tokens_to_attributes([ids[t] for t in dataset.user_attributes.row(r)])
                )
                for r in range(dataset.user_attributes.n_rows)
            }
        )

    def _meta(self, name: str, default: Any) -> Any:
        raw = self.client.hget(META, name)
        return default if raw is None else json.loads(raw)

    def to_dataset(self, *, events: bool = True) -> Dataset:
        columns = self.events.event_columns() if events else np.empty((0, 6))
        item_fields, user_fields = self._meta("fields", [[], []])
        n_items, n_users = len(self.items), len(self.users)
        return assemble_dataset(
            str(self._meta("name", "redis")),
            columns,
            self.users.as_vocabulary(),
            self.items.as_vocabulary(),
            self.event_types(),
            attribute_table(n_items, self.catalogue.all_item_attributes(), tuple(item_fields)),
            attribute_table(n_users, self.profiles.all_user_attributes(), tuple(user_fields)),
            bool(self._meta("has_timestamps", True)),
        )

    def counts(self) -> StoreCounts:
        return StoreCounts(len(self.users), len(self.items), self.events.count())

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Events, impressions and attributes, then the tombstone: one slot at a time, so not
        one atomic unit; erasing again finishes an interrupted erasure."""
        idx = self.users.get(user_id)
        if idx < 0:
            return {"events": 0, "attributes": 0, "impressions": 0}
        removed = {
            "events": self.events.erase_user(idx),
            "attributes": self.profiles.erase_user_attributes(idx),
            "impressions": self.impressions.erase_user(idx),
        }
        self.users.rename(idx, f"\x00erased:{idx}")
        return removed

    def rekey_users(self, rotation: str, rekey: Callable[[str], str]) -> int:
        """`Storage.rekey_users`, resumable batch by batch; the user-attribute change feed,
        which carries ids, is emptied (servers reading it are stopped for a rotation)."""
        renamed = self.users.rekey(rotation, rekey)
        self.client.xtrim(USER_CHANGES, maxlen=0, approximate=False)
        return renamed

    def popularity(self, n_items: int, half_life_seconds: float, head_size: int) -> RedisPopularity:
        """Counts shared by every server (`head_size` is not needed: Redis keeps them sorted)."""
        return RedisPopularity(self.client, n_items, half_life_seconds, self.events)

    def model_pointer(self, registry: Path) -> RedisModelPointer:
        return RedisModelPointer(self.client, Path(registry).resolve())

    def learning_feed(
        self, group: str = LEARN_GROUP, consumer: str = "learner", claim_idle_s: float = 60.0
    ) -> GroupLearningFeed:
        """The consumer group `group` of every log partition, as `consumer`."""
        return GroupLearningFeed(self.events, group, consumer, claim_idle_s)

    def trim_log(self, older_than: float, group: str = LEARN_GROUP) -> list[PartitionTrim]:
        """Each partition trimmed within its bounds (`retention`), one slot per command."""
        applied = self.states.applied()
        parts = range(self.events.partitions)
        return [trim_partition(self.client, p, older_than, group, applied) for p in parts]

    def start_maintenance(self) -> None:
        """Nothing to maintain from a server: Redis rewrites its own append-only file."""

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RedisStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"
