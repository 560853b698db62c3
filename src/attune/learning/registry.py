"""Model registry on disk: numbered versions, each a checkpoint plus what it was trained on.

    <root>/registry.json          {"format": 1, "current": 3, "history": [1, 2, 3]}
    <root>/registry.lock          flock held by writers (learn, promote, rollback)
    <root>/versions/<n>/          a checkpoint (see attune.training.checkpoint) + version.json
                                  + users.npy (the users it learned from, `trained_users`)

`history` is the order in which versions were made current; rollback steps back along it.
Continuous fine-tuning adds a version per round, so `prune` deletes old ones: it keeps the
current version, the newest `keep` versions and the last `keep` steps of `history`; and
`prune_rejected` keeps only the newest few rejected candidates (`attune learn` runs it after
every round, so a learner whose candidates keep failing the check fills no disk).
Readers (a serving process polling for promotions) never take the lock: `registry.json` is
replaced atomically, so they see the old or the new file, never half of one.

A version is checked (its checkpoint loaded) before it becomes current, so a corrupt or
incompatible directory is refused at promotion; a serving process that finds one anyway
(edited on disk after promotion) keeps the model it has.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from attune.learning.trained_users import load_users, save_users
from attune.learning.versions import DataWindow, VersionInfo, VersionStatus
from attune.log import get_logger
from attune.ports import ModelPointer, StorageError
from attune.schemas.experiments import Experiment
from attune.stores import FileModelPointer, version_dir
from attune.training.checkpoint import (
    TRAINER_STATE,
    CheckpointError,
    LoadedModel,
    ensemble_metrics,
    load_members,
)

_log = get_logger(__name__)

VERSION_FILE = "version.json"
KEEP_REJECTED = 3
"""Rejected versions `attune learn` keeps by default (the newest; older ones are pruned)."""


class RegistryError(Exception):
    """The registry or one of its versions is missing, corrupt or cannot do what was asked."""


class ModelRegistry:
    """Versions of the interest model in one directory."""

    def __init__(self, root: str | Path, pointer: ModelPointer | None = None) -> None:
        self.root = Path(root)
        if not self.is_registry(self.root):
            raise RegistryError(f"{self.root} is not a model registry (no registry.json)")
        self.pointer: ModelPointer = pointer or FileModelPointer(self.root)
        """Which version is current: `registry.json` here, or a deployment's shared pointer."""

    @classmethod
    def shared(cls, root: str | Path, pointer: ModelPointer) -> ModelRegistry:
        """The registry at `root` whose current version is kept by a deployment's `pointer`
        (a Redis key that every server polls). A pointer that has never been set starts from
        the history in `registry.json`, so a registry made with `attune models init` serves
        its version 1 on Redis without a promotion."""
        registry = cls(root, pointer)
        with _pointer_errors():
            if not pointer.history():
                history = FileModelPointer(registry.root).history()
                if history:
                    pointer.set_history(history)
        return registry

    # -- creation ----------------------------------------------------------------------------

    @staticmethod
    def is_registry(path: str | Path) -> bool:
        return FileModelPointer(Path(path)).exists()

    @classmethod
    def create(
        cls,
        root: str | Path,
        checkpoint: str | Path,
        data_window: DataWindow,
        note: str = "initial model",
        users: np.ndarray | None = None,
    ) -> ModelRegistry:
        """A new registry whose version 1 (current) is a copy of `checkpoint`; `users`: the
        store indices of the users it trained on (None: unknown)."""
        root = Path(root)
        if cls.is_registry(root):
            raise RegistryError(f"{root} is already a model registry")
        members = _load(Path(checkpoint))
        metrics = ensemble_metrics(checkpoint) if len(members) > 1 else members[0].metrics
        root.mkdir(parents=True, exist_ok=True)
        (root / "versions").mkdir(exist_ok=True)
        FileModelPointer(root).create()
        registry = cls(root)
        info = registry.add(
            Path(checkpoint),
            parent=None,
            status="published",
            data_window=data_window,
            metrics=metrics,
            note=note,
            copy=True,
            users=users,
        )
        registry.promote(info.version)
        return registry

    # -- reads (no lock) ---------------------------------------------------------------------

    def current(self) -> int | None:
        with _pointer_errors():
            return self.pointer.current()

    def history(self) -> list[int]:
        with _pointer_errors():
            return self.pointer.history()

    def path(self, version: int) -> Path:
        return version_dir(self.root, version)

    def info(self, version: int) -> VersionInfo:
        path = self.path(version) / VERSION_FILE
        try:
            return VersionInfo.model_validate_json(path.read_text("utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"version {version} does not exist in {self.root}") from None
        except (OSError, ValidationError, ValueError) as err:
            raise RegistryError(f"version {version}: {path} is corrupt: {err}") from err

    def users(self, version: int) -> np.ndarray | None:
        """The version's user set (`trained_users`); None: not recorded."""
        return load_users(self.path(version))

    def versions(self) -> list[VersionInfo]:
        """Every readable version, oldest first (unreadable ones are logged and skipped)."""
        out = []
        for v in self._numbers():
            try:
                out.append(self.info(v))
            except RegistryError as err:
                _log.warning("skipping unreadable version", error=str(err))
        return out

    def _numbers(self) -> list[int]:
        base = self.root / "versions"
        return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and p.is_dir())

    def last_candidate(self, parent: int) -> VersionInfo | None:
        """The newest version fine-tuned from `parent`, published or rejected (None: none)."""
        for info in reversed(self.versions()):
            if info.parent == parent:
                return info
        return None

    def load(self, version: int, device: str = "cpu") -> LoadedModel:
        """The version's model; `RegistryError` when its files are missing or corrupt, or
        when it is an ensemble (read those with `load_members`)."""
        models = self.load_members(version, device)
        if len(models) > 1:
            raise RegistryError(
                f"version {version} is an ensemble of {len(models)} models: use load_members"
            )
        return models[0]

    def load_members(self, version: int, device: str = "cpu") -> list[LoadedModel]:
        """The version's models: one, or an ensemble's members (`model.members` > 1)."""
        self.info(version)
        return _load(self.path(version), device)

    # -- writes (under the lock) -------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.root / "registry.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def add(
        self,
        checkpoint: Path,
        *,
        parent: int | None,
        status: VersionStatus,
        data_window: DataWindow,
        metrics: dict[str, float],
        note: str,
        copy: bool = False,
        users: np.ndarray | None = None,
    ) -> VersionInfo:
        """Store a finished checkpoint directory as the next version (moved, or copied), with
        `users` as its user set (None: not recorded)."""
        with self._locked():
            numbers = self._numbers()
            version = (numbers[-1] if numbers else 0) + 1
            target = self.path(version)
            staging = self.root / "versions" / f".incoming-{version}"
            shutil.rmtree(staging, ignore_errors=True)
            if copy:
                shutil.copytree(checkpoint, staging, ignore=shutil.ignore_patterns("tensorboard"))
            else:
                shutil.move(str(checkpoint), staging)
            for state in staging.rglob(TRAINER_STATE):  # resume state (of every member)
                state.unlink()
            if users is not None:
                save_users(staging, users)
            info = VersionInfo(
                version=version,
                parent=parent,
                created=datetime.now(UTC),
                status=status,
                data_window=data_window,
                metrics=metrics,
                note=note,
                users=None if users is None else len(np.unique(users)),
            )
            _write_json(staging / VERSION_FILE, info.model_dump(mode="json"))
            os.replace(staging, target)  # a version directory appears complete or not at all
        _log.info("added model version", version=version, status=status, note=note)
        return info

    def promote(self, version: int) -> None:
        """Make `version` current, after checking that it loads."""
        self.load_members(version)
        with self._locked(), _pointer_errors():
            if self.pointer.current() == version:
                return
            self.pointer.set_current(version)
            stop_experiment(self.pointer)  # its control is no longer served
        _log.info("promoted model version", version=version)

    def rollback(self) -> int:
        """Make the previously current version current again; returns it."""
        with self._locked(), _pointer_errors():
            history = self.pointer.history()
            if len(history) < 2:
                raise RegistryError("no earlier version to roll back to")
            history.pop()
            previous = history[-1]
            self.load_members(previous)
            self.pointer.set_history(history)
            stop_experiment(self.pointer)
        _log.info("rolled back model version", version=previous)
        return previous

    def prune(self, keep: int) -> list[int]:
        """Delete every version but the current one, the newest `keep` and the last `keep`
        entries of the promotion history; returns the deleted version numbers.

        Rollback stays possible `keep - 1` steps back. History entries of deleted versions are
        dropped. A serving process never notices: it loaded its model into memory, and the
        current version is never deleted.
        """
        if keep < 1:
            raise RegistryError(f"keep must be at least 1, got {keep}")
        with self._locked():
            for leftover in (self.root / "versions").glob(".deleting-*"):
                shutil.rmtree(leftover, ignore_errors=True)  # from a prune that was killed
            history, current = self.history(), self.current()
            numbers = self._numbers()
            kept = set(numbers[-keep:]) | set(_last_distinct(history, keep))
            if current is not None:
                kept.add(current)
            doomed = [v for v in numbers if v not in kept]
            for version in doomed:
                self._delete(version)
            if doomed:
                history = [v for v in history if v not in doomed]
                history = [v for i, v in enumerate(history) if i == 0 or history[i - 1] != v]
                with _pointer_errors():
                    self.pointer.set_history(history)
        if doomed:
            _log.info("pruned model versions", deleted=doomed, kept=sorted(kept))
        return doomed

    def prune_rejected(self, keep: int = KEEP_REJECTED) -> list[int]:
        """Delete rejected versions but the newest `keep`; returns the deleted numbers.

        A rejected version that is current or in the promotion history (promoted by hand) is
        never deleted, nor is any published one. At least one is kept: the newest candidate
        tells the next round which events it already saw (`last_candidate`).
        """
        if keep < 1:
            raise RegistryError(f"keep must be at least 1, got {keep}")
        with self._locked():
            promoted = set(self.history())
            rejected = [
                v.version
                for v in self.versions()
                if v.status == "rejected" and v.version not in promoted
            ]
            doomed = rejected[:-keep]
            for version in doomed:
                self._delete(version)
        if doomed:
            _log.info("pruned rejected model versions", deleted=doomed, kept=rejected[-keep:])
        return doomed

    def _delete(self, version: int) -> None:
        """Delete a version's directory (under the lock)."""
        # Renamed first: a directory that is half deleted must not look like a version.
        trash = self.root / "versions" / f".deleting-{version}"
        os.replace(self.path(version), trash)
        shutil.rmtree(trash)


def stop_experiment(pointer: ModelPointer) -> Experiment | None:
    """Mark the running online experiment stopped now (under the registry's lock); the
    stopped experiment, or None when none was running."""
    experiment = pointer.experiment()
    if experiment is None or not experiment.running:
        return None
    stopped = experiment.model_copy(update={"stopped": datetime.now(UTC)})
    pointer.set_experiment(stopped)
    return stopped


def _last_distinct(history: list[int], n: int) -> list[int]:
    """The last `n` different versions of `history`, newest first."""
    out: list[int] = []
    for version in reversed(history):
        if version not in out:
            out.append(version)
            if len(out) == n:
                break
    return out


def _load(directory: Path, device: str = "cpu") -> list[LoadedModel]:
    try:
        return load_members(directory, device=device)
    except CheckpointError as err:
        raise RegistryError(str(err)) from err


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _pointer_errors() -> Iterator[None]:
    """The pointer's storage errors as registry errors (what the CLI and server report)."""
    try:
        yield
    except StorageError as err:
        raise RegistryError(str(err)) from err


__all__ = [
    "KEEP_REJECTED",
    "VERSION_FILE",
    "DataWindow",
    "ModelRegistry",
    "RegistryError",
    "VersionInfo",
    "VersionStatus",
    "stop_experiment",
]
