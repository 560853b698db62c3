"""One-user-per-line sequence files (`user item item ...`, time ordered) as published with
S3-Rec, plus an optional `*_item2attributes.json` mapping item -> attribute ids."""

from __future__ import annotations

import json
from pathlib import Path

from attune.data.importers.builder import DatasetBuilder, check_id, loads_json
from attune.data.importers.errors import DataFormatError
from attune.data.importers.progress import numbered_lines


def read_sequences(path: Path, builder: DatasetBuilder, attributes: Path | None = None) -> None:
    builder.has_timestamps = False
    with path.open(encoding="utf-8") as f:
        for lineno, line in numbered_lines(f, start=1):
            if not line.strip():
                continue
            builder.report.rows_read += 1
            parts = line.split()
            if len(parts) < 2:
                builder.fail(path, lineno, "expected a user id followed by at least one item")
                continue
            try:
                user = check_id(parts[0], "user id")
                items = [check_id(p, "item id") for p in parts[1:]]
            except ValueError as exc:
                builder.fail(path, lineno, str(exc))
                continue
            if user in builder.users:
                builder.fail(path, lineno, f"user {user!r} appears on more than one line")
                continue
            builder.add_sequence(user, items)
    if attributes is not None:
        _read_attributes(attributes, builder)


def _read_attributes(path: Path, b: DatasetBuilder) -> None:
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    except ValueError as exc:  # NaN, Infinity, 1e999
        raise DataFormatError(path, None, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DataFormatError(path, 1, "expected an object mapping item id -> attribute ids")
    for raw, values in data.items():
        try:
            item = check_id(raw, "item id")
        except ValueError as exc:
            raise DataFormatError(path, None, str(exc)) from None
        if not isinstance(values, list):
            raise DataFormatError(path, None, f"item {item!r}: attributes must be a list")
        # Attribute ids mix brand and categories without saying which; keep them as one field.
        b.item_attrs[b.items.add(str(item))] = [f"attribute={v}" for v in values]


def find_sequence_files(folder: Path) -> tuple[Path, Path | None] | None:
    """The sequence file and its attribute file in a dataset folder, if it has them."""
    attrs = sorted(folder.glob("*_item2attributes.json"))
    txts = sorted(folder.glob("*.txt"))
    if not txts:
        return None
    if attrs:
        stem = attrs[0].name.removesuffix("_item2attributes.json")
        match = [t for t in txts if t.stem == stem]
        return (match[0] if match else txts[0]), attrs[0]
    return txts[0], None
