"""Errors and reports of importers: every problem names the file and the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class OnError(StrEnum):
    """What an importer does with a malformed row."""

    FAIL = "fail"
    """Stop at the first bad row and import nothing (all-or-nothing)."""
    SKIP = "skip"
    """Import the good rows and report each bad one."""


class DataFormatError(ValueError):
    """A malformed row or file; `str()` reads `file:line: message`."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


@dataclass
class ImportReport:
    """What an import read and what it rejected."""

    rows_read: int = 0
    rows_accepted: int = 0
    rejected: list[DataFormatError] = field(default_factory=list)

    def reject(self, error: DataFormatError, on_error: OnError) -> None:
        if on_error is OnError.FAIL:
            raise error
        self.rejected.append(error)
