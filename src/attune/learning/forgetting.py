"""A model version that never learned from erased users (`attune models forget`).

Erasure deletes a user's events from the log, but the versions that trained on them still
carry what they learned. Forgetting makes a version whose user set holds no erased user the
current one, without the quality check or an online test (an erasure is an obligation, not an
improvement):

- from the newest published version that never saw an erased user, a fine-tuning round on
  every event logged since its data window (erased users' events are gone from the log and
  left out by the loader as well): that version itself when there are too few new events;
- with no such version, a retrain from scratch on the store, with the current version's
  training configuration;
- if training fails, the newest version that never saw an erased user is promoted as it is
  (and the outcome says so); with none, the failure is the error.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from attune.learning.experiments import promote_version
from attune.learning.finetune import FineTuneConfig, fine_tune
from attune.learning.heldout import EventArrays
from attune.learning.progress import beyond
from attune.learning.registry import DataWindow, ModelRegistry, RegistryError
from attune.learning.trained_users import erased_users, saw_any, without_erased_dataset
from attune.log import get_logger
from attune.ports import LoggedEvent, Storage
from attune.stores import open_storage
from attune.training.config import TrainConfig
from attune.training.trainer import train

_log = get_logger(__name__)

How = Literal["fine-tuned", "retrained", "unchanged", "fallback"]


@dataclass(frozen=True)
class ForgetOutcome:
    """What `forget_erased` made current, and how."""

    version: int
    """The version now current."""
    how: How
    """fine-tuned / retrained: a new version; unchanged: the clean version had nothing new to
    learn; fallback: training failed and the clean version was promoted."""
    clean: int | None
    """The newest version that never saw an erased user, before forgetting (None: none)."""
    erased: int
    """Erased users the version never saw."""
    note: str


class ForgetError(RegistryError):
    """No version free of erased users could be made or found."""


def clean_version(registry: ModelRegistry, erased: np.ndarray) -> int | None:
    """The newest published version whose recorded user set holds none of `erased`."""
    for info in reversed(registry.versions()):
        if info.status == "published" and not saw_any(registry.users(info.version), erased):
            return info.version
    return None


def versions_that_saw(registry: ModelRegistry, users: np.ndarray) -> list[int]:
    """Versions whose user set holds any of `users`, or is not recorded (it may)."""
    wanted = np.unique(np.asarray(users, np.int64))
    return [v.version for v in registry.versions() if saw_any(registry.users(v.version), wanted)]


def forget_erased(
    store: Storage,
    registry: ModelRegistry,
    config: FineTuneConfig | None = None,
    retrain_config: TrainConfig | None = None,
) -> ForgetOutcome:
    """Make current a version that never learned from any user `store` has erased (see the
    module's docstring). `retrain_config`: for a retrain, in place of the current version's."""
    erased = erased_users(store.users)
    clean = clean_version(registry, erased)
    try:
        version, how, note = _train_without(store, registry, erased, clean, config, retrain_config)
        # Read the erasures again: a user erased while this trained is in its user set.
        if saw_any(registry.users(version), _erased_now(store)):
            raise ForgetError(f"version {version} learned from a user erased since")
    except Exception as err:  # any failure of training falls back to the clean version
        clean = clean_version(registry, _erased_now(store))
        if clean is None:
            message = f"no version without the erased users, and training failed: {err}"
            raise ForgetError(message) from err
        _log.warning("forgetting fell back", version=clean, error=str(err))
        version, how = clean, "fallback"
        note = f"training failed ({err}); promoted v{clean}, which never saw an erased user"
    promote_version(registry, version, reason="erasure")
    _log.info("forgot erased users", version=version, how=how, erased=len(erased))
    return ForgetOutcome(version, how, clean, len(erased), note)


def _erased_now(store: Storage) -> np.ndarray:
    """The erased users as the store holds them now: another process (a server) may have
    erased someone since `store` read its vocabulary, so a shared store is read afresh."""
    if store.url.startswith("memory:"):  # one process: its vocabulary is the store
        return erased_users(store.users)
    with open_storage(store.url) as fresh:
        return erased_users(fresh.users)


def _train_without(
    store: Storage,
    registry: ModelRegistry,
    erased: np.ndarray,
    clean: int | None,
    config: FineTuneConfig | None,
    retrain_config: TrainConfig | None,
) -> tuple[int, How, str]:
    if clean is None:
        version = _retrain(store, registry, erased, retrain_config)
        return version, "retrained", f"no version without them: retrained as v{version}"
    feed = _LogFeed(store, store.learning_feed().partitions)
    outcome = fine_tune(store, registry, config, promote=False, feed=feed, parent=clean, gate=False)
    if outcome.version is None:
        return clean, "unchanged", f"v{clean} never saw them ({outcome.reason})"
    if outcome.status == "rejected":  # a user was erased while it trained
        raise ForgetError(f"v{outcome.version} was rejected: {outcome.reason}")
    return outcome.version, "fine-tuned", f"fine-tuned v{outcome.version} from v{clean}"


def _retrain(
    store: Storage, registry: ModelRegistry, erased: np.ndarray, config: TrainConfig | None
) -> int:
    """A version trained from scratch on the store's log, erased users' events left out."""
    if config is None:
        template = registry.current() or max(v.version for v in registry.versions())
        config = registry.load_members(template)[0].train_config
    heads = store.learning_feed().heads()  # before the read: no event claimed unread
    data = without_erased_dataset(store.to_dataset(), erased)
    out = Path(tempfile.mkdtemp(prefix=".retrain-", dir=registry.root))
    try:
        result = train(data, config, out)
        window = DataWindow(
            last_seq=max(heads),
            events=len(data.interactions),
            cursor=tuple(heads) if len(heads) > 1 else None,
        )
        info = registry.add(
            out,
            parent=None,
            status="published",
            data_window=window,
            metrics=result.best_metrics,
            note=f"retrained without {len(erased)} erased users",
            users=np.unique(data.interactions.users),
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)  # gone already when `add` moved it
    return info.version


class _LogFeed:
    """The events past a cursor, read from the log itself: a version older than the current
    one needs events the learning group has acknowledged already."""

    def __init__(self, store: Storage, partitions: int) -> None:
        self._store, self.partitions = store, partitions

    def heads(self) -> list[int]:
        return self._store.learning_feed().heads()

    def take(self, cursor: Sequence[int]) -> list[LoggedEvent]:
        log = EventArrays.read(self._store.events)
        return [log.event(int(i)) for i in np.flatnonzero(beyond(log.seq, cursor))]

    def acknowledge(self, cursor: Sequence[int]) -> int:
        return 0  # the learning group's next round acknowledges what the version covers


__all__ = ["ForgetError", "ForgetOutcome", "clean_version", "forget_erased", "versions_that_saw"]
