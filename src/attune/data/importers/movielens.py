"""MovieLens original releases: 100K (`u.data`, `u.item`, `u.user`) and 1M (`*.dat`, `::`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from attune.data.importers.builder import DatasetBuilder, check_id, parse_timestamp
from attune.data.importers.progress import numbered_lines
from attune.data.importers.recbole import _age_band
from attune.data.vocab import Vocabulary

_GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def _rows(path: Path, sep: str, n_cols: int, b: DatasetBuilder) -> Iterator[tuple[int, list[str]]]:
    # MovieLens ships Latin-1 titles; decoding as UTF-8 would fail on accented names.
    with path.open(encoding="latin-1") as f:
        for lineno, line in numbered_lines(f, start=1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split(sep)
            if len(parts) < n_cols:
                b.fail(
                    path,
                    lineno,
                    f"expected {n_cols} fields separated by {sep!r}, found {len(parts)}",
                )
                continue
            yield lineno, parts


def _ratings(path: Path, sep: str, b: DatasetBuilder) -> None:
    for lineno, p in _rows(path, sep, 4, b):
        b.report.rows_read += 1
        try:
            user, item = check_id(p[0], "user id"), check_id(p[1], "item id")
            value, ts = float(p[2]), b.checked_time(parse_timestamp(p[3]))
            if not math.isfinite(value):
                raise ValueError(f"bad rating {p[2]!r}")
        except ValueError as exc:
            b.fail(path, lineno, str(exc))
            continue
        b.add(user, item, ts, "rating", value)


def read_movielens_100k(folder: Path, b: DatasetBuilder) -> None:
    _ratings(folder / "u.data", "\t", b)
    if (folder / "u.item").exists():
        for lineno, p in _rows(folder / "u.item", "|", 5 + len(_GENRES_100K), b):
            idx = _entity(b, b.items, folder / "u.item", lineno, p[0], "item id")
            if idx is None:
                continue
            title, year = _split_title(p[1])
            b.item_titles[idx] = title
            flags = p[5 : 5 + len(_GENRES_100K)]
            tokens = [
                f"genre={g}"
                for g, flag in zip(_GENRES_100K, flags, strict=True)
                if flag.strip() == "1"
            ]
            date = p[2].strip()
            if year or date:
                tokens.append(f"year={year or date[-4:]}")
            b.item_attrs[idx] = tokens
    if (folder / "u.user").exists():
        for lineno, p in _rows(folder / "u.user", "|", 5, b):
            idx = _entity(b, b.users, folder / "u.user", lineno, p[0], "user id")
            if idx is None:
                continue
            b.user_attrs[idx] = [
                f"age_band={_age_band(p[1])}",
                f"gender={p[2]}",
                f"occupation={p[3]}",
            ]


def read_movielens_1m(folder: Path, b: DatasetBuilder) -> None:
    _ratings(folder / "ratings.dat", "::", b)
    if (folder / "movies.dat").exists():
        for lineno, p in _rows(folder / "movies.dat", "::", 3, b):
            idx = _entity(b, b.items, folder / "movies.dat", lineno, p[0], "item id")
            if idx is None:
                continue
            title, year = _split_title(p[1])
            b.item_titles[idx] = title
            tokens = [f"genre={g}" for g in p[2].split("|") if g]
            if year:
                tokens.append(f"year={year}")
            b.item_attrs[idx] = tokens
    if (folder / "users.dat").exists():
        for lineno, p in _rows(folder / "users.dat", "::", 5, b):
            idx = _entity(b, b.users, folder / "users.dat", lineno, p[0], "user id")
            if idx is None:
                continue
            b.user_attrs[idx] = [
                f"gender={p[1]}",
                f"age_band={_age_band(p[2])}",
                f"occupation={p[3]}",
            ]


def _entity(
    b: DatasetBuilder, vocab: Vocabulary, path: Path, lineno: int, raw: str, what: str
) -> int | None:
    """The index of a catalogue row's id, or None (the row reported) if the id is bad."""
    try:
        return vocab.add(check_id(raw, what))
    except ValueError as exc:
        b.fail(path, lineno, str(exc))
        return None


def _split_title(raw: str) -> tuple[str, str]:
    """`Toy Story (1995)` -> (`Toy Story`, `1995`)."""
    text = raw.strip()
    if text.endswith(")") and "(" in text:
        head, _, tail = text.rpartition("(")
        year = tail[:-1]
        if year.isdigit() and len(year) == 4:
            return head.strip(), year
    return text, ""
