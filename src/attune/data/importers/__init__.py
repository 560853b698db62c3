"""Importers: read a dataset folder or file into a `Dataset`, naming file and line on errors."""

from __future__ import annotations

from pathlib import Path

from attune.data.dataset import Dataset
from attune.data.events import EventTypes
from attune.data.importers.builder import DatasetBuilder
from attune.data.importers.errors import DataFormatError, ImportReport, OnError
from attune.data.importers.items import ItemColumns, ItemFileReport, read_items
from attune.data.importers.movielens import read_movielens_1m, read_movielens_100k
from attune.data.importers.recbole import read_recbole
from attune.data.importers.sequences import find_sequence_files, read_sequences
from attune.data.importers.tabular import TABULAR_SUFFIXES, ColumnMapping, read_table

__all__ = [
    "ColumnMapping",
    "DataFormatError",
    "ImportReport",
    "ItemColumns",
    "ItemFileReport",
    "OnError",
    "detect_format",
    "load",
    "load_with_report",
    "read_items",
]


def detect_format(path: Path) -> str:
    """Name of the reader for `path`: recbole, movielens-100k, movielens-1m, sequences, table."""
    if path.is_file():
        if path.suffix.lower() in TABULAR_SUFFIXES:
            return "table"
        if path.suffix == ".inter":
            return "recbole"
        if path.suffix == ".txt":
            return "sequences"
        raise DataFormatError(path, None, f"cannot tell the format of {path.name}")
    if not path.is_dir():
        raise DataFormatError(path, None, "no such file or folder")
    if any(path.glob("*.inter")):
        return "recbole"
    if (path / "u.data").exists():
        return "movielens-100k"
    if (path / "ratings.dat").exists():
        return "movielens-1m"
    if find_sequence_files(path) is not None:
        return "sequences"
    raise DataFormatError(
        path,
        None,
        "no known dataset files (.inter, u.data, ratings.dat, "
        "*.txt sequences, or a CSV/TSV/Parquet/JSONL file)",
    )


def load_with_report(
    path: str | Path,
    *,
    on_error: OnError | str = OnError.FAIL,
    mapping: ColumnMapping | None = None,
    event_types: EventTypes | None = None,
    max_future_seconds: float | None = None,
) -> tuple[Dataset, ImportReport]:
    """Read any supported source; returns the dataset and what was read and rejected.

    `max_future_seconds`, when given, rejects rows stamped further than that in the future
    (as the API does); sources without times (sequences, row order) have nothing to check.
    """
    src = Path(path)
    fmt = detect_format(src)
    name = src.stem if src.is_file() else src.name
    b = DatasetBuilder(name, OnError(on_error), event_types, max_future_seconds)
    if fmt == "table":
        read_table(src, b, mapping or ColumnMapping())
    elif fmt == "recbole":
        read_recbole(src if src.is_dir() else src.parent, b)
    elif fmt == "movielens-100k":
        read_movielens_100k(src, b)
    elif fmt == "movielens-1m":
        read_movielens_1m(src, b)
    else:
        if src.is_file():
            read_sequences(src, b)
        else:
            found = find_sequence_files(src)
            assert found is not None
            read_sequences(found[0], b, found[1])
    return b.build(), b.report


def load(path: str | Path, **kwargs: object) -> Dataset:
    """Read a dataset folder or file; see `load_with_report` for the options."""
    dataset, _ = load_with_report(path, **kwargs)  # type: ignore[arg-type]
    return dataset
