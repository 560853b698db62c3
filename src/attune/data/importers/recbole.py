"""RecBole atomic files: `NAME.inter`, `NAME.item`, `NAME.user`, tab separated, typed header.

The header names each column `field:type` with type token, token_seq, float or float_seq.
"""

from __future__ import annotations

import math
from pathlib import Path

from attune.data.importers.builder import DatasetBuilder, check_id, parse_timestamp
from attune.data.importers.errors import DataFormatError
from attune.data.importers.progress import numbered_lines

_TYPES = {"token", "token_seq", "float", "float_seq"}

# RecBole calls these columns by several names across its example datasets.
_USER = ("user_id",)
_ITEM = ("item_id",)
_TIME = ("timestamp",)
_VALUE = ("rating", "score", "value")
_TITLE = ("movie_title", "title", "name")


def _header(path: Path, line: str) -> list[tuple[str, str]]:
    columns = []
    for raw in line.rstrip("\n").split("\t"):
        name, sep, typ = raw.strip().partition(":")
        if not sep or typ not in _TYPES:
            raise DataFormatError(
                path, 1, f"header column {raw!r} is not 'name:type' with a type in {sorted(_TYPES)}"
            )
        columns.append((name, typ))
    return columns


def _find(columns: list[tuple[str, str]], names: tuple[str, ...]) -> int | None:
    for k, (name, _) in enumerate(columns):
        if name in names:
            return k
    return None


def read_recbole(folder: Path, builder: DatasetBuilder) -> None:
    """Read `*.inter` (required), `*.item` and `*.user` (optional) from `folder`."""
    inters = sorted(folder.glob("*.inter"))
    if not inters:
        raise DataFormatError(folder, None, "no .inter file")
    inter = inters[0]
    _read_inter(inter, builder)
    item_file = inter.with_suffix(".item")
    if item_file.exists():
        _read_entities(item_file, builder, is_item=True)
    user_file = inter.with_suffix(".user")
    if user_file.exists():
        _read_entities(user_file, builder, is_item=False)


def _read_inter(path: Path, b: DatasetBuilder) -> None:
    with path.open(encoding="utf-8") as f:
        columns = _header(path, f.readline())
        ui, ii = _find(columns, _USER), _find(columns, _ITEM)
        ti, vi = _find(columns, _TIME), _find(columns, _VALUE)
        if ui is None or ii is None:
            raise DataFormatError(path, 1, "header needs user_id and item_id columns")
        b.has_timestamps = ti is not None
        event_type = "rating" if vi is not None else "view"
        n_cols = len(columns)
        for lineno, line in numbered_lines(f, start=2):
            if not line.strip():
                continue
            b.report.rows_read += 1
            parts = line.rstrip("\n").split("\t")
            if len(parts) != n_cols:
                b.fail(path, lineno, f"expected {n_cols} columns, found {len(parts)}")
                continue
            try:
                user = check_id(parts[ui], "user_id")
                item = check_id(parts[ii], "item_id")
                ts = b.checked_time(parse_timestamp(parts[ti])) if ti is not None else float(lineno)
                value = float(parts[vi]) if vi is not None else math.nan
                if vi is not None and not math.isfinite(value):
                    raise ValueError(f"bad {columns[vi][0]} {parts[vi]!r}")
            except ValueError as exc:
                b.fail(path, lineno, str(exc))
                continue
            b.add(user, item, ts, event_type, value)


def _age_band(raw: str) -> str:
    try:
        age = float(raw)
    except ValueError:
        return raw
    for upper, band in (
        (18, "<18"),
        (25, "18-24"),
        (35, "25-34"),
        (45, "35-44"),
        (50, "45-49"),
        (56, "50-55"),
    ):
        if age < upper:
            return band
    return "56+"


def _read_entities(path: Path, b: DatasetBuilder, *, is_item: bool) -> None:
    vocab = b.items if is_item else b.users
    attrs = b.item_attrs if is_item else b.user_attrs
    with path.open(encoding="utf-8") as f:
        columns = _header(path, f.readline())
        key = _find(columns, _ITEM if is_item else _USER)
        if key is None:
            raise DataFormatError(path, 1, f"header needs an {'item' if is_item else 'user'}_id")
        title = _find(columns, _TITLE) if is_item else None
        for lineno, line in numbered_lines(f, start=2):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(columns):
                b.fail(path, lineno, f"expected {len(columns)} columns, found {len(parts)}")
                continue
            try:
                ext = check_id(parts[key], columns[key][0])
            except ValueError as exc:
                b.fail(path, lineno, str(exc))
                continue
            # Catalogue rows with no interactions are still items: they can be recommended cold.
            idx = vocab.add(ext)
            if title is not None and parts[title].strip():
                b.item_titles[idx] = parts[title].strip()
            tokens: list[str] = []
            for k, (name, typ) in enumerate(columns):
                if k in (key, title) or not parts[k].strip():
                    continue
                if typ == "token_seq":
                    tokens.extend(f"{name}={v}" for v in parts[k].split())
                elif typ == "token":
                    # Ages are too fine-grained to embed one by one; bands generalise.
                    value = _age_band(parts[k]) if name == "age" else parts[k].strip()
                    field = "age_band" if name == "age" else name
                    if name not in ("zip_code", "zip"):  # one zip code per few users: noise
                        tokens.append(f"{field}={value}")
            attrs[idx] = tokens
