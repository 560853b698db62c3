"""Item catalogue files (CSV, TSV, JSONL, Parquet): one row per item, read into the
`ItemUpdate`s that `PUT /v1/items` takes, each problem named by file and line."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from attune.data.events import AttributeValue, ItemUpdate
from attune.data.importers.builder import check_id, parse_timestamp
from attune.data.importers.errors import DataFormatError, ImportReport, OnError
from attune.data.importers.tabular import TABULAR_SUFFIXES, records

AVAILABILITY_COLUMNS = ("available_from", "available_until", "created", "blocked")
"""Columns that set an item's availability (as in `PUT /v1/items`), not attributes."""

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


class ItemColumns(BaseModel):
    """How an item file's columns become item records. Every column other than the id and
    the availability columns is an attribute of the same name; `title`, `text`,
    `description` and `name` are free text, the others categories the model learns from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str = Field("item_id", description="Column with the item id.")
    multi: tuple[str, ...] = Field(
        (), description="Columns holding several values (tags, genres), split on `separator`."
    )
    separator: str = Field("|", min_length=1, description="Separator of multi-valued cells.")
    numeric: tuple[str, ...] = Field((), description="Columns holding numbers.")


@dataclass
class ItemFileReport(ImportReport):
    """What an item import read, accepted and rejected; `items` are the distinct ids
    accepted (a later row for the same id replaces an earlier one, as a second PUT would)."""

    items: int = 0


def read_items(
    path: str | Path, columns: ItemColumns | None = None, on_error: OnError | str = OnError.FAIL
) -> tuple[list[ItemUpdate], ItemFileReport]:
    """The item updates of a catalogue file, one per distinct id (the last row wins), and
    the report. Under `fail` the first bad row raises `DataFormatError` (file:line: why);
    under `skip` bad rows are listed in the report and the good ones kept."""
    src, cols, mode = Path(path), columns or ItemColumns(), OnError(on_error)
    if src.suffix.lower() not in TABULAR_SUFFIXES:
        known = ", ".join(TABULAR_SUFFIXES)
        raise DataFormatError(src, None, f"an item file must be one of {known}")
    if not src.is_file():
        raise DataFormatError(src, None, "no such file")
    report = ItemFileReport()
    found: dict[str, ItemUpdate] = {}
    checked_header = False
    for lineno, record in records(src):
        report.rows_read += 1
        if isinstance(record, str):
            report.reject(DataFormatError(src, lineno, record), mode)
            continue
        if not checked_header and src.suffix.lower() not in (".jsonl", ".ndjson"):
            _check_header(src, record, cols)  # every row of a table has the header's columns
        checked_header = True
        try:
            update = item_update(record, cols)
        except ValueError as exc:
            report.reject(DataFormatError(src, lineno, str(exc)), mode)
            continue
        found.pop(update.item_id, None)  # keep the order of the last occurrence
        found[update.item_id] = update
        report.rows_accepted += 1
    report.items = len(found)
    return list(found.values()), report


def _check_header(path: Path, record: dict[str, Any], cols: ItemColumns) -> None:
    """A file-level error when a column the options name is not in the file."""
    named = {"--item-id": (cols.item,), "--multi": cols.multi, "--numeric": cols.numeric}
    for option, wanted in named.items():
        for column in wanted:
            if column not in record:
                have = ", ".join(record) or "none"
                raise DataFormatError(
                    path, None, f"no column {column!r} ({option}); the columns are: {have}"
                )


def item_update(record: dict[str, Any], cols: ItemColumns) -> ItemUpdate:
    """One row as an `ItemUpdate`, held to the API's rules; `ValueError` names the column."""
    raw_id = record.get(cols.item)
    if raw_id is None:
        raise ValueError(f"missing column {cols.item!r}")
    fields: dict[str, Any] = {"item_id": check_id(str(raw_id), cols.item)}
    attributes: dict[str, AttributeValue] = {}
    for column, cell in record.items():
        if column == cols.item or _empty(cell):
            continue
        if column in AVAILABILITY_COLUMNS:
            fields[column] = _flag(cell, column) if column == "blocked" else _time(cell, column)
        elif column in cols.numeric:
            attributes[column] = _number(cell, column)
        elif column in cols.multi:
            attributes[column] = _values(cell, column, cols.separator)
        else:
            attributes[column] = _attribute(cell, column)
    try:
        return ItemUpdate(attributes=attributes, **fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None


def _empty(cell: Any) -> bool:
    """An absent value: null, an empty or blank cell, or an empty list."""
    if cell is None:
        return True
    if isinstance(cell, str):
        return not cell.strip()
    return isinstance(cell, list) and not cell


def _time(cell: Any, column: str) -> datetime:
    if isinstance(cell, datetime):  # Parquet timestamps; naive ones are UTC, as in the API
        return cell if cell.tzinfo is not None else cell.replace(tzinfo=UTC)
    if isinstance(cell, bool):
        raise ValueError(f"{column}: want seconds or ISO 8601, not {cell!r}")
    try:
        seconds = parse_timestamp(str(cell))
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"{column}: {exc}") from None


def _flag(cell: Any, column: str) -> bool:
    if isinstance(cell, bool):
        return cell
    text = str(cell).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{column}: want true or false, not {cell!r}")


def _number(cell: Any, column: str) -> float:
    if isinstance(cell, bool):
        raise ValueError(f"{column}: want a number, not {cell!r}")
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise ValueError(f"{column}: want a number, not {cell!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{column}: {cell!r} is not a finite number")
    return value


def _values(cell: Any, column: str, separator: str) -> list[str]:
    """A multi-valued cell: a list (JSONL, Parquet) or text split on `separator`."""
    parts = cell.split(separator) if isinstance(cell, str) else cell
    if not isinstance(parts, list) or not all(
        isinstance(p, str | int) and not isinstance(p, bool) for p in parts
    ):
        raise ValueError(f"{column}: want a list of strings")
    return list(dict.fromkeys(s for p in parts if (s := str(p).strip())))


def _attribute(cell: Any, column: str) -> AttributeValue:
    """A cell as it came: text, a flag, a finite number or a list of strings."""
    if isinstance(cell, str):
        return cell.strip()
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float):
        return _number(cell, column)
    if isinstance(cell, list) and all(isinstance(p, str) for p in cell):
        return [p.strip() for p in cell if p.strip()]
    raise ValueError(f"{column}: want text, a number, a flag or a list of strings")
