import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from attune.data import DataFormatError, OnError, load, load_with_report
from attune.data.importers import ColumnMapping
from attune.data.stats import describe


def test_recbole_atomic_files(recbole_dir: Path) -> None:
    d = load(recbole_dir)
    assert (d.n_users, d.n_items, len(d.interactions)) == (2, 4, 4)  # item 13: catalogue only
    assert d.interactions.timestamps.tolist() == [100, 200, 250, 300]  # time sorted
    assert d.items.decode(d.interactions.items) == ["11", "10", "12", "10"]
    assert d.item_titles[d.items.index("12")] == "Alien"
    tokens = d.item_attributes.tokens
    assert sorted(tokens.decode(d.item_attributes.row(d.items.index("12")))) == [
        "class=Horror",
        "class=Sci-Fi",
        "release_year=1979",
    ]
    user_tokens = d.user_attributes.tokens.decode(d.user_attributes.row(d.users.index("2")))
    assert user_tokens == ["age_band=50-55", "gender=F", "occupation=other"]
    assert math.isclose(float(d.interactions.values[0]), 2.0)
    stats = describe(d)
    assert stats.item_attribute_fields == ("release_year", "class")
    assert stats.user_attribute_fields == ("age_band", "gender", "occupation")
    assert stats.event_counts == {"rating": 4}


def test_sequence_files_with_attributes(tmp_path: Path) -> None:
    (tmp_path / "Shop.txt").write_text("1 5 6 7\n2 6 8\n")
    (tmp_path / "Shop_item2attributes.json").write_text(json.dumps({"5": [1, 2], "8": [2]}))
    d = load(tmp_path)
    assert (d.n_users, d.n_items, len(d.interactions)) == (2, 4, 5)
    assert not d.has_timestamps
    seqs = d.sequences()
    assert d.items.decode(seqs[d.users.index("1")]) == ["5", "6", "7"]
    assert d.item_attributes.tokens.decode(d.item_attributes.row(d.items.index("8"))) == [
        "attribute=2"
    ]


def test_movielens_100k_original(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t2\t881250950\n")
    flags = "|".join(["0", "1"] + ["0"] * 17)
    (tmp_path / "u.item").write_bytes(
        f"10|Caf\xe9 Society (1995)|01-Jan-1995||http://x|{flags}\n".encode("latin-1")
    )
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n2|33|F|writer|1\n")
    d = load(tmp_path)
    assert (d.n_users, d.n_items, len(d.interactions)) == (2, 1, 2)
    assert d.item_titles[0] == "Café Society"
    assert d.item_attributes.tokens.decode(d.item_attributes.row(0)) == [
        "genre=Action",
        "year=1995",
    ]


def test_movielens_1m_original(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    (tmp_path / "movies.dat").write_text(
        "1193::Cuckoo's Nest (1975)::Drama\n661::Peach (1996)::Animation|Musical\n"
    )
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n")
    d = load(tmp_path)
    assert d.items.decode(d.interactions.items) == ["1193", "661"]
    assert d.item_titles[d.items.index("661")] == "Peach"
    assert d.user_attributes.tokens.decode(d.user_attributes.row(0))[:2] == [
        "gender=F",
        "age_band=<18",
    ]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_generic_tables_with_mapping(tmp_path: Path, suffix: str) -> None:
    rows = [
        {"uid": "u1", "sku": "a", "when": "2024-01-02T00:00:00Z", "kind": "purchase"},
        {"uid": "u1", "sku": "b", "when": "2024-01-01T00:00:00Z", "kind": "view"},
    ]
    path = tmp_path / f"events{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows))
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        path.write_text("\n".join([sep.join(rows[0])] + [sep.join(r.values()) for r in rows]))
    mapping = ColumnMapping(user="uid", item="sku", timestamp="when", event_type="kind")
    d = load(path, mapping=mapping)
    assert d.items.decode(d.interactions.items) == ["b", "a"]
    names = d.event_types.names
    assert [names[c] for c in d.interactions.event_types] == ["view", "purchase"]
    assert d.interactions.timestamps[0] == 1704067200.0


BAD_ROWS = [
    ("1\t10\t4\n", "expected 4 columns, found 3"),
    ("1\t10\t4\tyesterday\n", "bad timestamp"),
    ("\t10\t4\t5\n", "empty user_id"),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS)
def test_malformed_row_names_file_and_line(recbole_dir: Path, row: str, message: str) -> None:
    inter = recbole_dir / "mini.inter"
    inter.write_text(inter.read_text() + row + "3\t12\t1\t400\n")
    with pytest.raises(DataFormatError) as info:
        load(recbole_dir)
    assert str(info.value).startswith(f"{inter}:6: ")
    assert message in str(info.value)
    dataset, report = load_with_report(recbole_dir, on_error=OnError.SKIP)
    assert [e.line for e in report.rejected] == [6]
    assert len(dataset.interactions) == 5  # the good row after the bad one is kept
    assert report.rows_read == 6


def test_csv_errors_name_line_and_unknown_event_type(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,timestamp,kind\nu,i,1,view\nu,i,2,teleport\nu,i,3\n")
    mapping = ColumnMapping(event_type="kind")
    _, report = load_with_report(path, on_error="skip", mapping=mapping)
    assert [(e.line, e.message.split(" (")[0]) for e in report.rejected] == [
        (3, "unknown event type 'teleport'"),
        (4, "expected 4 columns, found 3"),
    ]


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no known dataset files"):
        load(tmp_path)


def test_sequence_file_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("1 5 6\n2\n")
    with pytest.raises(DataFormatError, match=r"s\.txt:2: expected a user id"):
        load(path)
    d, report = load_with_report(path, on_error="skip")
    assert len(d.interactions) == 2 and len(report.rejected) == 1


def test_fetch_downloads_and_unpacks_offline(tmp_path: Path) -> None:
    import http.server
    import threading

    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t10\t4\t881250949\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from attune.data.importers.fetch import FetchError, fetch_dataset

        url = f"http://127.0.0.1:{server.server_port}/ml-100k.zip"
        folder = fetch_dataset("movielens-100k", tmp_path / "out", url=url)
        assert folder == tmp_path / "out" / "ml-100k"
        assert np.array_equal(load(folder).interactions.values, [4.0])
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch_dataset("movielens-100k", tmp_path / "o2", url=url + ".missing")
    finally:
        server.shutdown()
