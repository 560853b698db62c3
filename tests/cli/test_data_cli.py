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
