"""`attune tune`: a study writes its best config, report, plots and TensorBoard runs; the
pruner reads every epoch and stops a clearly bad config; the same command continues a study
(and reruns a trial a killed run left behind); a bad search space names its file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from attune.cli.main import app
from attune.data.holdout import SelectionView
from attune.data.splits import leave_one_out
from attune.training.config import ConfigError, load_config
from attune.tuning import TuneOptions, load_search_space, run_study
from attune.tuning.space import parse_search_space
from attune.tuning.study import STUDY_DB, STUDY_NAME
from tests.training.synthetic import markov_dataset

runner = CliRunner()
BASE = {
    "model": {"dim": 16},
    "train": {
        "max_epochs": 2,
        "batch_size": 64,
        "warmup_steps": 0,
        "progress": False,
        "device": "cpu",
        "threads": 1,
    },
}
SPACE = """
[train]
lr = { type = "float", low = 1e-3, high = 2e-2, log = true }
[model]
dropout = { type = "float", low = 0.0, high = 0.5 }
n_layers = { type = "categorical", choices = [1, 2] }
"""


def _storage(out: Path) -> str:
    return f"sqlite:///{out / STUDY_DB}"


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted-sequence dataset as a CSV of events, as a user would give it."""
    dataset = markov_dataset(n_users=120, n_items=40)
    rows = zip(
        dataset.interactions.users,
        dataset.interactions.items,
        dataset.interactions.timestamps,
        strict=True,
    )
    path = tmp_path_factory.mktemp("data") / "events.csv"
    lines = [f"u{u},i{i},{1_700_000_000 + int(t)}" for u, i, t in rows]
    path.write_text("user_id,item_id,timestamp\n" + "\n".join(lines) + "\n")
    return path


BASE_TOML = """
[model]
dim = 16
[train]
max_epochs = 2
batch_size = 64
warmup_steps = 0
progress = false
device = "cpu"
threads = 1
"""


def _tune(data: Path, out: Path, space: Path, trials: int) -> str:
    base = out.parent / "base.toml"
    base.write_text(BASE_TOML)
    args = ["tune", "--data", str(data), "--out", str(out), "--space", str(space)]
    args += ["--config", str(base), "--trials", str(trials), "--seed", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_study_writes_its_results_and_the_same_command_continues_it(
    data_file: Path, tmp_path: Path
) -> None:
    space, out = tmp_path / "space.toml", tmp_path / "study"
    space.write_text(SPACE)
    output = _tune(data_file, out, space, 3)
    assert "trial 2 (3/3 done)" in output, output
    first = optuna.load_study(study_name=STUDY_NAME, storage=_storage(out)).trials
    assert len(first) == 3

    output = _tune(data_file, out, space, 4)  # the same study, one trial more
    study = optuna.load_study(study_name=STUDY_NAME, storage=_storage(out))
    assert len(study.trials) == 4, output
    assert [t.params for t in study.trials[:3]] == [t.params for t in first]

    best = max((t for t in study.trials if t.value is not None), key=lambda t: t.value or 0)
    config = load_config(out / "best.toml")  # loadable by `attune train --config`
    assert config.train.lr == best.params["train.lr"]
    assert config.model.dropout == best.params["model.dropout"]
    assert config.model.n_layers == best.params["model.n_layers"]
    assert config.model.dim == 16 and config.train.max_epochs == 2  # the base config kept
    assert tomllib.loads((out / "best.toml").read_text())["model"]["dim"] == 16
    report = (out / "report.md").read_text()
    assert f"**{best.value:.4f}**" in report and "train.lr" in report
    for plot in ("optimization_history.png", "param_importances.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG", plot
        assert f"({plot})" in report
    for trial in study.trials:  # one TensorBoard run per trial: its epochs and its hparams
        run = out / "tensorboard" / f"trial-{trial.number:04d}"
        assert len(list(run.glob("events.out.tfevents.*"))) == 2, run


def test_the_pruner_reads_every_epoch_and_stops_a_bad_config(tmp_path: Path) -> None:
    """A learning rate of 1e-7 leaves the model at its random start: after one epoch it is
    far below the first trial at the same epoch, and the median rule prunes it there."""
    out = tmp_path / "study"
    out.mkdir()
    study = optuna.create_study(study_name=STUDY_NAME, storage=_storage(out), direction="maximize")
    study.enqueue_trial({"train.lr": 1e-2})
    study.enqueue_trial({"train.lr": 1e-7})
    space = parse_search_space({"train": {"lr": {"type": "float", "low": 1e-7, "high": 0.1}}}, "t")
    options = TuneOptions(trials=2, pruner_startup_trials=1, pruner_warmup_epochs=0)
    study = run_study(markov_dataset(n_users=120, n_items=50), BASE, space, out, options)
    good, bad = study.trials
    assert good.state == optuna.trial.TrialState.COMPLETE
    assert sorted(good.intermediate_values) == [1, 2]  # one report per epoch
    assert good.value == max(good.intermediate_values.values())
    assert bad.state == optuna.trial.TrialState.PRUNED
    assert sorted(bad.intermediate_values) == [1]
    assert bad.intermediate_values[1] < good.intermediate_values[1]


def test_a_trial_left_running_by_a_killed_run_runs_again(tmp_path: Path) -> None:
    out = tmp_path / "study"
    out.mkdir()
    space = parse_search_space({"train": {"lr": {"type": "float", "low": 1e-3, "high": 0.1}}}, "t")
    study = optuna.create_study(study_name=STUDY_NAME, storage=_storage(out), direction="maximize")
    killed = study.ask({"train.lr": optuna.distributions.FloatDistribution(1e-3, 0.1)})
    options = TuneOptions(trials=1)
    study = run_study(markov_dataset(n_users=60, n_items=30), BASE, space, out, options)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]
    assert study.trials[1].params == killed.params  # budget: the rerun counts, not the kill


def test_a_trial_stopped_by_ctrl_c_runs_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attune.tuning import study as study_module

    out, dataset = tmp_path / "study", markov_dataset(n_users=60, n_items=30)
    space = parse_search_space({"train": {"lr": {"type": "float", "low": 1e-3, "high": 0.1}}}, "t")

    def interrupted(*args: object, **kwargs: object) -> float:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(study_module, "validation_score", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_study(dataset, BASE, space, out, TuneOptions(trials=1))
    study = run_study(dataset, BASE, space, out, TuneOptions(trials=1))
    stopped, rerun = study.trials
    assert stopped.user_attrs["interrupted"] is True
    assert rerun.state == optuna.trial.TrialState.COMPLETE
    assert rerun.params == stopped.params


def test_trials_train_on_the_selection_view_without_test_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attune.tuning import study as study_module

    dataset = markov_dataset(n_users=50, n_items=20)
    seen: list[SelectionView] = []

    def record(view: SelectionView, *args: object, **kwargs: object) -> float:
        seen.append(view)
        return 0.5

    monkeypatch.setattr(study_module, "validation_score", record)
    space = parse_search_space({"train": {"lr": {"type": "float", "low": 1e-3, "high": 0.1}}}, "t")
    run_study(dataset, BASE, space, tmp_path / "s", TuneOptions(trials=1))
    full = leave_one_out(dataset.interactions)
    (view,) = seen
    assert (
        len(view.dataset.interactions)
        == len(full.train) + len(full.valid)
        < len(dataset.interactions)
    )
    assert (view.train.items == full.train.items).all()
    assert (view.valid.items == full.valid.items).all()


BAD_SPACES = [
    ('[train]\nlrr = { type = "float", low = 0.1, high = 1.0 }', "unknown config key train.lrr"),
    ('[model]\ndropout = { type = "float", low = 0.1, high = 1.0 }', "model.dropout: must be"),
    ('[train]\nlr = { type = "float", low = 0.0, high = 1.0, log = true }', "train.lr: low must"),
    ('[train]\nlr = { type = "gauss", low = 0.1, high = 1.0 }', "train.lr: type must be"),
    ("[train]\nlr = 0.1", "train.lr: expected a table"),
    ('[model]\ndim = { type = "categorical", choices = [] }', "model.dim: choices must be"),
    ('[model]\nn_layers = { type = "int", low = 1, high = 2.5 }', "model.n_layers: high must"),
    ('[model]\nmembers = { type = "int", low = 1, high = 3 }', "model.members cannot be"),
    ('[train]\nlr = { type = "float", low = 0.1, high = 1.0, stepp = 2 }', "unknown field stepp"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPACES)
def test_a_bad_search_space_names_its_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_search_space(path)
    assert str(err.value).startswith(f"{path}: "), err.value
    assert message in str(err.value), err.value


def test_the_command_refuses_a_bad_search_space_before_loading_data(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(BAD_SPACES[1][0])
    result = runner.invoke(app, ["tune", "--data", str(tmp_path / "none.csv"), "--out",
                                 str(tmp_path / "s"), "--space", str(path)])  # fmt: skip
    assert result.exit_code == 2
    assert f"{path}: model.dropout: must be >= 0 and < 1 (got 1.0), as its high" in result.output


def test_the_shipped_search_space_is_valid() -> None:
    keys = [spec.key for spec in load_search_space()]
    assert "train.lr" in keys and "model.dropout" in keys
