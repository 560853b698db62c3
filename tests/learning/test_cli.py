"""`attune models` (init, list, promote, rollback, prune) and `attune learn`, with their errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.learning.registry import DataWindow, ModelRegistry
from tests.learning.test_finetune import _log_new_events

runner = CliRunner()


def test_init_learn_list_promote_rollback(engine_files: tuple[Path, Path], tmp_path: Path) -> None:
    db, model = engine_files
    reg = tmp_path / "reg"
    out = runner.invoke(cli, ["models", "init", "--registry", str(reg), "--from", str(model),
                              "--db", str(db)])  # fmt: skip
    assert out.exit_code == 0, out.output
    learn = ["learn", "--db", str(db), "--registry", str(reg), "--min-events", "50"]
    out = runner.invoke(cli, learn)
    assert out.exit_code == 0 and out.output.startswith("skipped: 0 new events"), out.output
    _log_new_events(db)
    out = runner.invoke(cli, [*learn, "--tolerance", "1"])
    assert out.exit_code == 0 and "v2 published (parent v1)" in out.output, out.output
    assert ModelRegistry(reg).current() == 2
    listing = runner.invoke(cli, ["models", "list", "--registry", str(reg)]).output
    lines = listing.splitlines()
    assert lines[0].startswith("  v1") and lines[1].startswith("* v2") and "ndcg@10=" in lines[1]
    out = runner.invoke(cli, ["models", "rollback", "--registry", str(reg)])
    assert out.exit_code == 0 and "version 1 is current" in out.output
    out = runner.invoke(cli, ["models", "promote", "2", "--registry", str(reg)])
    assert out.exit_code == 0 and ModelRegistry(reg).current() == 2
    _log_new_events(db)
    out = runner.invoke(cli, [*learn, "--tolerance", "1", "--keep-versions", "1"])
    assert out.exit_code == 0 and "v3 published" in out.output, out.output
    assert "pruned v1, v2" in out.output and ModelRegistry(reg).history() == [3]
    out = runner.invoke(cli, ["models", "prune", "--registry", str(reg), "--keep", "1"])
    assert out.exit_code == 0 and out.output.strip() == "deleted nothing", out.output
    out = runner.invoke(cli, ["models", "prune", "--registry", str(reg), "--keep", "0"])
    assert out.exit_code == 2 and "--keep" in out.output


def test_errors_name_what_is_wrong(engine_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, model = engine_files
    missing = tmp_path / "nowhere"
    out = runner.invoke(cli, ["models", "list", "--registry", str(missing)])
    assert out.exit_code == 2 and "is not a model registry" in out.output
    reg = tmp_path / "reg"
    runner.invoke(cli, ["models", "init", "--registry", str(reg), "--from", str(model)])
    out = runner.invoke(cli, ["models", "promote", "7", "--registry", str(reg)])
    assert out.exit_code == 2 and "version 7 does not exist" in out.output
    out = runner.invoke(cli, ["learn", "--db", str(tmp_path / "no.db"), "--registry", str(reg)])
    assert out.exit_code == 2 and "no.db does not exist" in out.output
    out = runner.invoke(cli, ["models", "init", "--registry", str(tmp_path / "r2"),
                              "--from", str(tmp_path / "not-a-model")])  # fmt: skip
    assert out.exit_code == 2 and "no checkpoint directory" in out.output


def _add_rejected(reg: ModelRegistry, note: str) -> int:
    metrics = {"ndcg@10": 0.04, "parent_ndcg@10": 0.05}
    return reg.add(reg.path(1), parent=1, status="rejected", data_window=DataWindow(),
                   metrics=metrics, note=note, copy=True).version  # fmt: skip


def test_learn_keeps_only_the_newest_rejected_versions(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    db, reg = registry_files
    for _ in range(3):
        _add_rejected(reg, "worse")  # 2, 3, 4
    learn = ["learn", "--db", str(db), "--registry", str(reg.root), "--min-events", "50"]
    out = runner.invoke(cli, learn)  # the default keeps three
    assert out.exit_code == 0 and "pruned" not in out.output, out.output
    out = runner.invoke(cli, [*learn, "--keep-rejected", "1"])
    assert out.exit_code == 0 and out.output.startswith("skipped: 0 new events"), out.output
    assert "pruned v2, v3" in out.output
    assert [v.version for v in reg.versions()] == [1, 4] and reg.current() == 1
    out = runner.invoke(cli, [*learn, "--keep-rejected", "0"])
    assert out.exit_code == 2 and "--keep-rejected" in out.output


def test_promoting_a_rejected_version_needs_force_and_says_why(
    registry_files: tuple[Path, ModelRegistry],
) -> None:
    _, reg = registry_files
    note = "NDCG@10 on the 36 newest events: candidate 0.0400, parent v1 0.0500 (worse by more "
    note += "than tolerance 0.0)"
    version = _add_rejected(reg, note)
    promote = ["models", "promote", str(version), "--registry", str(reg.root)]
    out = runner.invoke(cli, promote)
    assert out.exit_code == 2 and reg.current() == 1
    assert out.output.strip() == (
        f"error: version {version} was rejected: {note}; promote it with --force"
    )
    out = runner.invoke(cli, [*promote, "--force"])
    assert out.exit_code == 0 and reg.current() == version, out.output
    assert f"warning: promoting rejected version {version} ({note})" in out.output
    published = reg.add(reg.path(1), parent=1, status="published", data_window=DataWindow(),
                        metrics={}, note="", copy=True).version  # fmt: skip
    out = runner.invoke(cli, ["models", "promote", str(published), "--registry", str(reg.root)])
    assert out.exit_code == 0 and out.output.strip() == f"version {published} is current"
