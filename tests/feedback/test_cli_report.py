"""`attune report`: the feedback counts read from the database alone."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attune.cli.main import app
from attune.feedback import FeedbackConfig
from tests.feedback.scenario import EXPECTED, make_store, play

runner = CliRunner()


def _database(path: Path, config: FeedbackConfig | None = None) -> Path:
    with make_store(path) as store:
        play(store, config).flush()
    return path


def test_report_prints_versions_reasons_and_unattributed(tmp_path: Path) -> None:
    db = _database(tmp_path / "f.db")
    result = runner.invoke(app, ["report", "--db", str(db)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    header = ["version", "lists", "items", "clicks", "conversions", "ctr", "conversion", "rate"]
    assert header in rows
    assert ["1", "3", "6", "5", "2", "83.33%", "33.33%"] in rows
    assert ["2", "1", "2", "1", "1", "50.00%", "50.00%"] in rows
    assert ["1", "similar", "3", "2", "1", "66.67%"] in rows
    assert ["2", "exploration", "1", "0", "0", "0.00%"] in rows
    assert "events on a shown item without a recommendation id: 1\n" in result.output
    assert result.output.rstrip().endswith("unattributed events: 5")


def test_report_json_is_the_summary(tmp_path: Path) -> None:
    db = _database(tmp_path / "f.db")
    result = runner.invoke(app, ["report", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == EXPECTED


def test_report_uses_the_definition_the_engine_used(tmp_path: Path) -> None:
    db = _database(tmp_path / "f.db", FeedbackConfig(click_types=("click",)))
    result = runner.invoke(app, ["report", "--db", str(db), "--json"])
    clicks = {v["model_version"]: v["clicks"] for v in json.loads(result.output)["by_version"]}
    assert clicks == {1: 2, 2: 0}


def test_report_names_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = runner.invoke(app, ["report", "--db", str(missing)])
    assert result.exit_code == 2
    assert f"error: database {missing} does not exist" in result.output
    assert not missing.exists()


def test_report_on_a_database_without_lists(tmp_path: Path) -> None:
    make_store(tmp_path / "empty.db").close()
    result = runner.invoke(app, ["report", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 0, result.output
    assert "no impressions logged" in result.output


def test_impressions_prune_deletes_old_lists_and_their_events_become_unattributed(
    tmp_path: Path,
) -> None:
    db = _database(tmp_path / "f.db")  # every list was served on 2023-11-14
    prune = ["impressions", "prune", "--db", str(db), "--older-than-days"]
    result = runner.invoke(app, [*prune, "100000"])
    assert (
        result.exit_code == 0 and "deleted 0 lists" in result.output and "4 kept" in result.output
    )
    result = runner.invoke(app, [*prune, "30"])
    assert result.exit_code == 0 and "deleted 4 lists" in result.output, result.output
    summary = json.loads(runner.invoke(app, ["report", "--db", str(db), "--json"]).output)
    assert summary["by_version"] == [] and summary["by_reason"] == []
    # Every event that named a list is now unattributed (one of them names none).
    assert summary["unattributed"] == 15


def test_impressions_prune_refuses_to_cut_inside_the_attribution_window(tmp_path: Path) -> None:
    db = _database(tmp_path / "f.db")
    result = runner.invoke(app, ["impressions", "prune", "--db", str(db), "--older-than-days", "3"])
    assert result.exit_code == 2
    assert "--older-than-days 3 is shorter than the attribution window (7 days)" in result.output
    report = json.loads(runner.invoke(app, ["report", "--db", str(db), "--json"]).output)
    assert report == EXPECTED
    missing = tmp_path / "nowhere.db"
    result = runner.invoke(
        app, ["impressions", "prune", "--db", str(missing), "--older-than-days", "30"]
    )
    assert result.exit_code == 2 and f"database {missing} does not exist" in result.output
