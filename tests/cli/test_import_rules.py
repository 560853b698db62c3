"""`attune data import` holds rows to the API's rules (issue 18, defect 3 and items 7/8): the
id rule, timestamps no further ahead than the engine's `max_future_seconds`, and finite
numbers only. Each bad row fails the import naming `file:line`, or is skipped and listed
under `--on-error skip`.

These tests drive the CLI only, so they also run, and fail, on the code before this work
(commit 8ad76a5), where every such row was imported.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attune.cli.main import app

runner = CliRunner()

NOW = int(time.time())
HEADER = "user_id,item_id,timestamp\n"
GOOD = f"u1,i1,{NOW - 100}\nu2,i2,{NOW - 50}\n"


def _import(src: Path, db: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["data", "import", str(src), "--db", str(db), *extra])
    return result.exit_code, result.output


# (file name, its text, the line at fault, what the message says)
BAD_FILES = [
    ("future.csv", HEADER + GOOD + f"u3,i3,{NOW + 3600}\n", 4, "in the future"),
    (
        "future_iso.csv",
        HEADER + GOOD + "u3,i3,2999-01-01T00:00:00Z\n",
        4,
        "in the future",
    ),
    ("tombstone.csv", HEADER + GOOD + f"\x00erased:3,i3,{NOW}\n", 4, "reserved"),
    ("control.csv", HEADER + GOOD + f"u\x07x,i3,{NOW}\n", 4, "printable"),
    ("item_control.csv", HEADER + GOOD + f"u3,i\x1bz,{NOW}\n", 4, "printable"),
    ("dot.csv", HEADER + GOOD + f"u3,..,{NOW}\n", 4, "not an id"),
    (
        "nan.jsonl",
        f'{{"user_id": "u1", "item_id": "i1", "timestamp": {NOW}}}\n'
        f'{{"user_id": "u2", "item_id": "i2", "timestamp": {NOW}}}\n'
        f'{{"user_id": NaN, "item_id": "i3", "timestamp": {NOW}}}\n',
        3,
        "NaN",
    ),
    (
        "inf.jsonl",
        f'{{"user_id": "u1", "item_id": "i1", "timestamp": {NOW}}}\n'
        f'{{"user_id": "u2", "item_id": "i2", "timestamp": {NOW}}}\n'
        f'{{"user_id": "u3", "item_id": "i3", "timestamp": {NOW}, "note": -Infinity}}\n',
        3,
        "Infinity",
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "line", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_a_bad_row_fails_the_import_naming_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    db = tmp_path / "x.db"
    code, output = _import(src, db)
    assert code == 2, output
    assert f"{src}:{line}:" in output and message in output, output
    assert not db.exists()

    code, output = _import(src, db, "--on-error", "skip")
    assert code == 0, output
    assert "imported 2 interactions" in output, output
    assert f"skipped {src}:{line}:" in output


def test_the_skew_is_configurable_like_the_servers(tmp_path: Path) -> None:
    src = tmp_path / "soon.csv"
    src.write_text(HEADER + GOOD + f"u3,i3,{NOW + 600}\n")
    db = tmp_path / "x.db"
    assert _import(src, db)[0] == 2  # 600 s ahead: over the default 300 s
    code, output = _import(src, db, "--max-future-seconds", "3600")
    assert code == 0 and "imported 3 interactions" in output, output
    result = runner.invoke(
        app,
        ["data", "import", str(src), "--db", str(tmp_path / "y.db")],
        env={"ATTUNE_ENGINE__MAX_FUTURE_SECONDS": "3600"},
    )
    assert result.exit_code == 0, result.output


def test_the_default_skew_is_the_engines() -> None:
    from attune.cli.data import MAX_FUTURE_SECONDS
    from attune.engine.config import EngineConfig

    assert EngineConfig().max_future_seconds == MAX_FUTURE_SECONDS


def test_movielens_ratings_and_catalogue_rows_follow_the_rules(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text(
        f"1\t10\t4\t{NOW}\n2\t10\tnan\t{NOW}\n3\t10\t3\t{NOW + 9999}\n"
    )
    flags = "|".join(["0", "1"] + ["0"] * 17)
    (tmp_path / "u.item").write_text(
        f"10|A (1995)|01-Jan-1995||x|{flags}\n\x00erased:1|B|||x|{flags}\n"
    )
    code, output = _import(tmp_path, tmp_path / "x.db", "--on-error", "skip")
    assert code == 0, output
    assert "imported 1 interactions" in output, output
    assert f"skipped {tmp_path / 'u.data'}:2: bad rating" in output
    assert f"skipped {tmp_path / 'u.data'}:3: " in output and "in the future" in output
    assert f"skipped {tmp_path / 'u.item'}:2: " in output and "reserved" in output


def test_sequence_attributes_must_be_finite_and_ids_valid(tmp_path: Path) -> None:
    (tmp_path / "shop.txt").write_text("1 5 6 7\n2 6 8\n")
    attributes = tmp_path / "shop_item2attributes.json"
    attributes.write_text('{"5": [1], "6": [NaN]}')
    code, output = _import(tmp_path, tmp_path / "x.db")
    assert code == 2 and f"{attributes}" in output and "NaN" in output, output
    attributes.write_text('{"5": [1], "\\u0000erased:2": [2]}')
    code, output = _import(tmp_path, tmp_path / "y.db")
    assert code == 2 and "reserved" in output, output
