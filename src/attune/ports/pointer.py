"""The model-version pointer port: which registered model version every server serves, and
the online A/B experiment they run, if any (polled together, so both reach every server)."""

from __future__ import annotations

from typing import Protocol

from attune.schemas.experiments import Experiment


class ModelPointer(Protocol):
    """The current model version and the promotion history, shared by a deployment."""

    def current(self) -> int | None:
        """The version to serve; None before the first promotion."""
        ...

    def history(self) -> list[int]:
        """Every version made current, oldest first (rollback walks it backwards)."""
        ...

    def set_current(self, version: int) -> None:
        """Make `version` current and append it to the history (nothing when it is already
        current), atomically."""
        ...

    def set_history(self, history: list[int]) -> None:
        """Replace the history (rollback, pruning); its last entry becomes current."""
        ...

    def experiment(self) -> Experiment | None:
        """The latest experiment, running or stopped; None when there has been none."""
        ...

    def set_experiment(self, experiment: Experiment | None) -> None:
        """Store `experiment` in place of the latest one (None: forget it)."""
        ...
