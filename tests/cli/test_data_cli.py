from pathlib import Path

from typer.testing import CliRunner

from attune.cli.main import app

runner = CliRunner()


def test_inspect_folder_prints_counts_and_fields(recbole_dir: Path) -> None:
    result = runner.invoke(app, ["data", "inspect", str(recbole_dir)])
    assert result.exit_code == 0, result.output
    lines = dict(
        line.split(None, 1)
        for line in result.output.splitlines()
        if line.split()[0] in ("users", "items", "interactions")
    )
    assert {k: v.strip() for k, v in lines.items()} == {
        "users": "2",
        "items": "4",
        "interactions": "4",
    }
    assert "release_year, class" in result.output
    assert "age_band, gender, occupation" in result.output


def test_import_then_inspect_db(recbole_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = runner.invoke(app, ["data", "import", str(recbole_dir), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "imported 4 interactions" in result.output
    result = runner.invoke(app, ["data", "inspect", "--db", str(db)])
    assert result.exit_code == 0
    assert "interactions" in result.output and "rating: 4" in result.output


def test_bad_row_fails_cleanly_and_imports_nothing(recbole_dir: Path, tmp_path: Path) -> None:
    inter = recbole_dir / "mini.inter"
    inter.write_text(inter.read_text() + "3\t12\t1\tnot-a-time\n")
    db = tmp_path / "x.db"
    result = runner.invoke(app, ["data", "import", str(recbole_dir), "--db", str(db)])
    assert result.exit_code == 2
    assert f"{inter}:6: bad timestamp" in result.output
    assert "Traceback" not in result.output
    assert not db.exists()
    result = runner.invoke(
        app, ["data", "import", str(recbole_dir), "--db", str(db), "--on-error", "skip"]
    )
    assert result.exit_code == 0, result.output
    assert "imported 4 interactions" in result.output
    assert f"skipped {inter}:6" in result.output


def test_inspect_needs_exactly_one_source(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "inspect"])
    assert result.exit_code != 0
    result = runner.invoke(app, ["data", "inspect", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no such database" in result.output


def test_bad_column_mapping_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("u,i,t\na,b,1\n")
    result = runner.invoke(app, ["data", "inspect", str(path), "--map", "colour=u"])
    assert result.exit_code == 2
    assert "--map" in result.output
    ok = runner.invoke(
        app,
        [
            "data",
            "inspect",
            str(path),
            "--map",
            "user=u",
            "--map",
            "item=i",
            "--map",
            "timestamp=t",
        ],
    )
    assert ok.exit_code == 0, ok.output


def _import(src: Path, db: Path, *args: str) -> str:
    result = runner.invoke(app, ["data", "import", str(src), "--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _events(db: Path) -> int:
    from attune.stores import open_storage

    with open_storage(db) as store:
        return store.events.count()


def test_importing_the_same_folder_twice_adds_nothing(recbole_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert "skipped" not in _import(recbole_dir, db)
    again = _import(recbole_dir, db)
    assert "imported 0 interactions" in again
    assert "skipped 4 interactions already imported" in again
    assert _events(db) == 4


def test_identical_rows_stay_distinct_and_a_grown_file_adds_its_new_rows(tmp_path: Path) -> None:
    # No event id column: ids come from each row's content and its occurrence number.
    csv = tmp_path / "log.csv"
    rows = ["user_id,item_id,timestamp", "u1,i1,100", "u1,i1,100", "u2,i1,100", "u1,i2,200"]
    csv.write_text("\n".join(rows) + "\n")
    db = tmp_path / "x.db"
    assert "imported 4 interactions" in _import(csv, db)
    csv.write_text("\n".join([*rows, "u1,i1,100", "u3,i3,300"]) + "\n")  # a third identical row
    grown = _import(csv, db)
    assert "imported 2 interactions" in grown and "skipped 4 interactions" in grown
    assert _events(db) == 6


def test_the_files_event_id_column_is_used(tmp_path: Path) -> None:
    csv = tmp_path / "log.csv"
    csv.write_text("user_id,item_id,timestamp,eid\nu1,i1,100,a\nu1,i2,200,b\nu1,i3,300,a\n")
    db = tmp_path / "x.db"
    assert "imported 2 interactions" in _import(csv, db, "--map", "event_id=eid")
    # The same events with other content (a corrected time) are still the same events.
    csv.write_text("user_id,item_id,timestamp,eid\nu1,i1,150,a\nu1,i2,250,b\n")
    assert "skipped 2 interactions" in _import(csv, db, "--map", "event_id=eid")
    assert _events(db) == 2
    # By default a column named event_id is used where the file has one.
    csv.write_text("user_id,item_id,timestamp,event_id\nu2,i1,100,a\nu2,i1,100,a\n")
    assert "imported 1 interactions" in _import(csv, db)
    # An explicitly mapped column must be there.
    result = runner.invoke(
        app, ["data", "import", str(csv), "--db", str(db), "--map", "event_id=nope"]
    )
    assert result.exit_code == 2 and "missing column 'nope'" in result.output
