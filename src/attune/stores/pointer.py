"""The model registry's current-version pointer in `<registry>/registry.json`.

    {"format": 1, "current": 3, "history": [1, 2, 3], "experiment": null}

`experiment` is the latest online A/B test (`attune.schemas.experiments.Experiment`), absent
in files written before there were any.

Readers never lock: the file is replaced atomically, so they see the old or the new one.
Writers serialise through the registry's lock (`attune.learning.registry`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attune.ports import StorageError
from attune.schemas.experiments import Experiment

FORMAT = 1
POINTER_FILE = "registry.json"


class _Index(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT
    current: int | None = None
    history: list[int] = Field(default_factory=list)
    experiment: Experiment | None = None


class FileModelPointer:
    """`ModelPointer` in the registry directory's `registry.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / POINTER_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def create(self) -> None:
        """An empty pointer (no current version)."""
        self._write(_Index())

    def current(self) -> int | None:
        return self._read().current

    def history(self) -> list[int]:
        return list(self._read().history)

    def set_current(self, version: int) -> None:
        index = self._read()
        if index.current == version:
            return
        index.current = version
        index.history.append(version)
        self._write(index)

    def set_history(self, history: list[int]) -> None:
        """Replace the history (rollback and pruning); the current version is its last entry."""
        index = self._read()
        index.history = list(history)
        index.current = history[-1] if history else None
        self._write(index)

    def experiment(self) -> Experiment | None:
        return self._read().experiment

    def set_experiment(self, experiment: Experiment | None) -> None:
        index = self._read()
        index.experiment = experiment
        self._write(index)

    def _read(self) -> _Index:
        try:
            return _Index.model_validate_json(self.path.read_text("utf-8"))
        except (OSError, ValidationError, ValueError) as err:
            raise StorageError(f"{self.path} is unreadable: {err}") from err

    def _write(self, index: _Index) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(index.model_dump(mode="json"), indent=2), encoding="utf-8")
        os.replace(tmp, self.path)


def version_dir(root: Path, version: int) -> Path:
    """Where a registry keeps a version's checkpoint (`<root>/versions/<n>`)."""
    return root / "versions" / str(version)


def resolve_model(path: str | Path) -> tuple[Path, int | None]:
    """(checkpoint directory, version) for a model path: a registry's current version, or a
    plain checkpoint directory, which has no version of its own (None)."""
    path = Path(path)
    pointer = FileModelPointer(path)
    if not pointer.exists():
        return path, None
    current = pointer.current()
    if current is None:
        raise StorageError(f"registry {path} has no current version")
    return version_dir(path, current), current
