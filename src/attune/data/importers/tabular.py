"""Generic interaction tables: CSV, TSV, Parquet or JSON Lines, with a column mapping."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from attune.data.importers.builder import (
    DatasetBuilder,
    check_event_id,
    check_id,
    loads_json,
    parse_timestamp,
)
from attune.data.importers.errors import DataFormatError
from attune.data.importers.progress import numbered_lines

TABULAR_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".ndjson")


class ColumnMapping(BaseModel):
    """Which source column holds each interaction field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field("user_id", description="Column with the user id.")
    item: str = Field("item_id", description="Column with the item id.")
    timestamp: str | None = Field(
        "timestamp", description="Column with the time (seconds or ISO 8601); None: row order."
    )
    event_type: str | None = Field(None, description="Column with the event type, if any.")
    value: str | None = Field(None, description="Column with a numeric value (e.g. rating).")
    default_event_type: str = Field("view", description="Event type when no column gives one.")
    event_id: str | None = Field(
        "event_id",
        description="Column with the event's id, used where the file has it (required when "
        "mapped explicitly); an import gives the other rows an id from their content.",
    )


def records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) pairs; a string record is a parse error message for that line."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            lines = (line for _, line in numbered_lines(f))  # the same lines, with a progress bar
            reader = csv.reader(lines, delimiter="\t" if suffix == ".tsv" else ",")
            header = next(reader, None)
            if header is None:
                return
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    yield reader.line_num, f"expected {len(header)} columns, found {len(row)}"
                    continue
                yield reader.line_num, dict(zip(header, row, strict=True))
    elif suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as f:
            for lineno, line in numbered_lines(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = loads_json(line)
                except json.JSONDecodeError as exc:
                    yield lineno, f"invalid JSON: {exc.msg}"
                    continue
                except ValueError as exc:  # NaN, Infinity, 1e999
                    yield lineno, f"invalid JSON: {exc}"
                    continue
                yield lineno, record if isinstance(record, dict) else "expected a JSON object"
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        # Parquet has no lines; the row number (1-based) stands in for the line.
        for offset, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield offset, row
    else:
        raise DataFormatError(path, None, f"unsupported file type {suffix!r}")


def read_table(path: Path, b: DatasetBuilder, mapping: ColumnMapping) -> None:
    b.has_timestamps = mapping.timestamp is not None
    for lineno, record in records(path):
        b.report.rows_read += 1
        if isinstance(record, str):
            b.fail(path, lineno, record)
            continue
        try:
            user = check_id(_field(record, mapping.user), mapping.user)
            item = check_id(_field(record, mapping.item), mapping.item)
            if mapping.timestamp is None:
                ts = float(lineno)
            else:
                ts = b.checked_time(parse_timestamp(_field(record, mapping.timestamp)))
            etype = mapping.default_event_type
            if mapping.event_type is not None:
                etype = _field(record, mapping.event_type).strip()
                b.event_types.code(etype)  # raises, naming the known types
            value = math.nan
            if mapping.value is not None and _field(record, mapping.value).strip():
                value = float(_field(record, mapping.value))
                if not math.isfinite(value):
                    raise ValueError(f"{mapping.value} is not a finite number")
            event_id = _event_id(record, mapping)
        except ValueError as exc:
            b.fail(path, lineno, str(exc))
            continue
        b.add(user, item, ts, etype, value, event_id)


def _field(record: dict[str, Any], column: str) -> str:
    if column not in record or record[column] is None:
        raise ValueError(f"missing column {column!r}")
    return str(record[column])


def _event_id(record: dict[str, Any], mapping: ColumnMapping) -> str | None:
    """The row's event id: None where the file has no such column (or the cell is empty),
    unless the column was mapped explicitly, which makes it required."""
    column = mapping.event_id
    if column is None:
        return None
    if "event_id" in mapping.model_fields_set:
        raw = _field(record, column)
    else:
        raw = "" if record.get(column) is None else str(record[column])
    return check_event_id(raw, column) if raw.strip() else None
