"""`attune data import --items FILE`: item catalogue files (CSV, JSONL, Parquet) beside events,
upserted into the store's catalogue as `PUT /v1/items` does, bad rows named by file and line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from attune.cli.item_import import upsert_items
from attune.cli.main import app
from attune.data.events import ItemUpdate
from attune.server.lock import DatabaseLock
from attune.stores import open_storage
from tests.stores.redis_server import REDIS_SERVER, SKIP_REASON, redis_server

runner = CliRunner()

EVENTS = (
    "user,item,time,action\nu1,a,1700000000,view\nu1,b,1700000060,purchase\nu2,b,1700000120,view\n"
)
ITEMS = (
    "item,title,category,tags,price,available_until\n"
    "a,Thing A,shelf-1,red|blue,3.5,\n"
    'b,"Thing B, boxed",shelf-2,green,4,2030-01-01T00:00:00Z\n'
    "c,Thing C,shelf-1,,2,\n"
)
EVENT_MAP = ["--map", "user=user", "--map", "item=item", "--map", "timestamp=time"]
EVENT_MAP += ["--map", "event_type=action"]
ITEM_COLUMNS = ["--item-id", "item", "--multi", "tags", "--numeric", "price"]


def _write(folder: Path, items: str = ITEMS) -> tuple[Path, Path]:
    (folder / "events.csv").write_text(EVENTS)
    (folder / "items.csv").write_text(items)
    return folder / "events.csv", folder / "items.csv"


def _import(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["data", "import", *map(str, args)])
    return result.exit_code, result.output


def test_events_and_items_in_one_command_reach_the_training_dataset(tmp_path: Path) -> None:
    events, items = _write(tmp_path)
    db = tmp_path / "shop.db"
    code, out = _import(events, "--items", items, "--db", db, *EVENT_MAP, *ITEM_COLUMNS)
    assert code == 0, out
    assert "imported 3 interactions" in out
    assert "upserted 3 items" in out and "3 items, 3 events" in out
    with open_storage(db) as store:
        assert store.catalogue.item_attributes("a") == {
            "title": "Thing A",
            "category": "shelf-1",
            "tags": ["red", "blue"],
            "price": 3.5,
        }
        windows = {w.item: w for w in store.catalogue.item_windows()}
        b = windows[store.items.index("b")]
        assert b.available_until == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
        data = store.to_dataset()
    # What `attune train --data` reads: categories and tags as tokens, titles, the fields.
    a = data.items.index("a")
    assert data.item_attributes.tokens_of(a) == ["category=shelf-1", "tags=red", "tags=blue"]
    assert data.item_titles[a] == "Thing A"
    assert data.item_attributes.fields == ("category", "tags")


def test_items_first_then_events_keep_the_attributes_and_a_second_import_replaces(
    tmp_path: Path,
) -> None:
    events, items = _write(tmp_path)
    db = tmp_path / "shop.db"
    assert _import("--items", items, "--db", db, *ITEM_COLUMNS)[0] == 0
    assert _import(events, "--db", db, *EVENT_MAP)[0] == 0
    with open_storage(db) as store:
        assert store.catalogue.item_attributes("c") == {
            "title": "Thing C",
            "category": "shelf-1",
            "price": 2.0,
        }
    items.write_text("item,category,blocked\nc,shelf-9,true\n")
    code, out = _import("--items", items, "--db", db, "--item-id", "item")
    assert code == 0 and "upserted 1 items" in out, out
    with open_storage(db) as store:
        assert store.catalogue.item_attributes("c") == {"category": "shelf-9"}
        assert [w.blocked for w in store.catalogue.item_windows() if w.item == 2] == [True]
        assert store.catalogue.item_attributes("a") is not None  # other items untouched


BAD = ITEMS + "d,Thing D,shelf-3,,cheap,\n,No id,shelf-3,,1,\ne,Thing E,shelf-3,,1,soon\n"


def test_a_bad_row_fails_naming_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    events, items = _write(tmp_path, BAD)
    db = tmp_path / "shop.db"
    code, out = _import(events, "--items", items, "--db", db, *EVENT_MAP, *ITEM_COLUMNS)
    assert code == 2
    assert f"{items}:5: price: want a number, not 'cheap'" in out
    assert "Traceback" not in out
    assert not db.exists()  # neither the events nor the good items went in


def test_skip_upserts_the_good_rows_and_lists_the_bad(tmp_path: Path) -> None:
    events, items = _write(tmp_path, BAD)
    db = tmp_path / "shop.db"
    code, out = _import(
        events, "--items", items, "--db", db, *EVENT_MAP, *ITEM_COLUMNS, "--on-error", "skip"
    )
    assert code == 0, out
    assert f"skipped {items}:5: price" in out
    assert f"skipped {items}:6: empty item" in out
    assert f"skipped {items}:7: available_until: bad timestamp 'soon'" in out
    assert "3 of 6 item rows skipped" in out
    assert "upserted 3 items from" in out and "(6 rows read, 3 skipped)" in out
    with open_storage(db) as store:
        assert store.catalogue.item_attributes("d") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--item-id", "sku"], "no column 'sku' (--item-id); the columns are: item, title"),
        (["--item-id", "item", "--multi", "genre"], "no column 'genre' (--multi)"),
    ],
)
def test_a_column_the_options_name_must_be_in_the_file(
    tmp_path: Path, args: list[str], message: str
) -> None:
    _, items = _write(tmp_path)
    code, out = _import("--items", items, "--db", tmp_path / "x.db", *args)
    assert code == 2 and f"{items}: {message}" in out and "Traceback" not in out


def test_jsonl_and_parquet_items_keep_lists_numbers_flags_and_times(tmp_path: Path) -> None:
    rows = [
        {"item_id": "j1", "text": "A long description", "genres": ["x", "y"], "year": 1999},
        {"item_id": "j2", "genres": "x|z", "blocked": False, "available_from": 1_800_000_000},
        {"item_id": "j3", "genres": {"not": "a list"}},
    ]
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    db = tmp_path / "x.db"
    code, out = _import("--items", jsonl, "--db", db, "--multi", "genres", "--on-error", "skip")
    assert code == 0, out
    assert f"{jsonl}:3: genres: want a list of strings" in out
    assert f"{jsonl}:4: invalid JSON" in out
    parquet = tmp_path / "items.parquet"
    when = datetime(2031, 5, 1, tzinfo=UTC)
    table = {"item_id": ["p1"], "tags": [["t1", "t2"]], "price": [9.5], "available_until": [when]}
    pq.write_table(pa.table(table), parquet)
    assert _import("--items", parquet, "--db", db)[0] == 0
    with open_storage(db) as store:
        assert store.catalogue.item_attributes("j1") == {
            "text": "A long description",
            "genres": ["x", "y"],
            "year": 1999,
        }
        assert store.catalogue.item_attributes("j2") == {"genres": ["x", "z"]}
        assert store.catalogue.item_attributes("p1") == {"tags": ["t1", "t2"], "price": 9.5}
        windows = {w.item: w for w in store.catalogue.item_windows()}
        assert windows[store.items.index("j2")].available_from == 1_800_000_000
        assert windows[store.items.index("p1")].available_until == when.timestamp()


class _FailsOnSecondBatch:
    """The store's own catalogue, refusing the second batch (a store that goes away)."""

    def __init__(self, catalogue: object) -> None:
        self.catalogue, self.calls = catalogue, 0

    def upsert_items(self, updates: list[ItemUpdate]) -> None:
        self.calls += 1
        if self.calls == 2:
            raise OSError("disk full")
        self.catalogue.upsert_items(updates)  # type: ignore[attr-defined]


def test_batches_written_before_a_failure_stay_written(tmp_path: Path) -> None:
    updates = [ItemUpdate(item_id=f"i{n}", attributes={"shelf": "s"}) for n in range(1500)]
    with open_storage(tmp_path / "x.db") as store:
        with pytest.raises(OSError, match="disk full"):
            upsert_items(_FailsOnSecondBatch(store.catalogue), updates)  # type: ignore[arg-type]
        assert store.catalogue.item_attributes("i999") == {"shelf": "s"}
        assert store.catalogue.item_attributes("i1000") is None
        assert upsert_items(store.catalogue, updates) == 1500
        assert store.catalogue.item_attributes("i1499") == {"shelf": "s"}


def test_a_served_database_is_refused_and_named(tmp_path: Path) -> None:
    """A server keeps the item ids in memory: items go to it through the API instead."""
    _, items = _write(tmp_path)
    db = tmp_path / "shop.db"
    with DatabaseLock(db):  # what `attune serve` holds
        code, out = _import("--items", items, "--db", db, "--item-id", "item")
    assert code == 2 and "already served" in out and "PUT /v1/items" in out, out
    assert not db.exists()
    assert _import("--items", items, "--db", db, "--item-id", "item")[0] == 0


@pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)
def test_items_imported_into_redis_reach_the_servers_change_feed(tmp_path: Path) -> None:
    events, items = _write(tmp_path)
    with redis_server(tmp_path / "redis") as url:
        with open_storage(url) as store:
            position, _ = store.catalogue.changes(None)  # where a running server stands
        code, out = _import(events, "--items", items, "--store", url, *EVENT_MAP, *ITEM_COLUMNS)
        assert code == 0 and "upserted 3 items" in out, out
        with open_storage(url) as store:
            _, changed = store.catalogue.changes(position)
            data = store.to_dataset()
    assert [u.item_id for u in changed] == ["a", "b", "c"]
    assert data.item_attributes.tokens_of(data.items.index("a")) == [
        "category=shelf-1",
        "tags=red",
        "tags=blue",
    ]
