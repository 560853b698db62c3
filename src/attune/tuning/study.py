"""A hyper-parameter study of the interest model with Optuna: TPE draws each trial's config
from the search space, the median pruner stops trials whose per-epoch validation NDCG@10
falls behind the others' at the same epoch, and the study lives in SQLite (`study.db` in the
study folder), so running the same command again continues it.

Every choice reads validation targets only: trials train on the selection view of
`attune.data.holdout`, which holds no test event (the test targets are never opened here).
Each trial logs its epochs and its parameters (TensorBoard hparams) to `tensorboard/trial-NNNN`
under the study folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, Trial, TrialState

from attune.data.dataset import Dataset
from attune.data.holdout import SelectionView, holdout
from attune.log import get_logger
from attune.model.ensemble import Ensemble
from attune.training.config import ConfigError, TrainConfig
from attune.training.members import member_config
from attune.training.trainer import VALID_METRIC, Trainer
from attune.training.validation import rank_targets, ranking_metrics
from attune.tuning.space import ParamSpec, with_params

_log = get_logger(__name__)

STUDY_NAME = "attune"
STUDY_DB = "study.db"
TENSORBOARD = "tensorboard"


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that count against a budget: completed, pruned or failed, except those
    failed by an interruption (their parameters run again)."""
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=states)
    return [t for t in trials if "interrupted" not in t.user_attrs]


@dataclass(frozen=True)
class TuneOptions:
    """The budget and the search's settings."""

    trials: int | None = 30
    """Trials the study should have finished (completed, pruned or failed) in all, counting
    those of earlier runs; None: no limit (then `timeout` bounds the run)."""
    timeout: float | None = None
    """Seconds this run may start new trials for; None: no limit."""
    members: int = 1
    """Models each trial trains (`model.members`); pruning follows the first one's epochs."""
    seed: int = 0
    """Seed of the TPE sampler (each run offsets it by the trials already done, so a resumed
    study does not redraw the first run's random start)."""
    pruner_startup_trials: int = 5
    """Trials that finish before the median pruner stops any."""
    pruner_warmup_epochs: int = 2
    """Epochs of a trial before the pruner judges it."""
    on_trial: Callable[[str], None] = field(default=lambda line: None)
    """Receives one line per finished trial (the command prints it)."""


EpochReport = Callable[[int, Mapping[str, float]], None]


def validation_score(
    view: SelectionView, config: TrainConfig, on_epoch: EpochReport | None = None
) -> float:
    """Validation NDCG@10 of `config` trained on the selection `view`: of its one model, or of
    the summed scores of its `model.members` models (`on_epoch` follows the first member)."""
    members = config.model.members
    trainers = []
    for k in range(members):
        member = (k, members) if members > 1 else None
        trainer = Trainer(view, member_config(config, k), None, member=member)
        result = trainer.fit(on_epoch if k == 0 else None)
        trainers.append(trainer)
    if members == 1:
        return result.best_metrics.get(VALID_METRIC, math.nan)
    first = trainers[0]
    ranks = rank_targets(
        Ensemble(t.model for t in trainers),
        first.validation,
        batch_size=config.train.eval_batch_size,
        user_bags=first.user_bags,
    )
    return ranking_metrics(ranks, 10, prefix="valid_")[VALID_METRIC]


def _suggest(trial: Trial, spec: ParamSpec) -> Any:
    if spec.kind == "categorical":
        return trial.suggest_categorical(spec.key, list(spec.choices))
    if spec.kind == "int":
        step = int(spec.step or 1)
        return trial.suggest_int(spec.key, int(spec.low), int(spec.high), step=step, log=spec.log)
    return trial.suggest_float(spec.key, spec.low, spec.high, step=spec.step, log=spec.log)


class _TrialLog:
    """The per-epoch hook of one trial: writes the epoch's metrics to TensorBoard, reports its
    validation NDCG@10 to the trial and raises `TrialPruned` when the pruner says so."""

    def __init__(self, trial: Trial, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # slow import, only when tuning

        self.trial, self.writer = trial, SummaryWriter(str(log_dir))
        self.epochs, self.best = 0, -math.inf

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, epoch)
        score = metrics[VALID_METRIC]
        self.epochs, self.best = epoch, max(self.best, score)
        self.trial.report(score, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}")

    def close(self, params: dict[str, Any], state: str) -> None:
        """Write the trial's parameters and best score as TensorBoard hparams."""
        hparams = {**params, "state": state}
        best = self.best if math.isfinite(self.best) else 0.0
        self.writer.add_hparams(hparams, {f"hparam/{VALID_METRIC}": best}, run_name=".")
        self.writer.close()


def _objective(
    view: SelectionView, base: dict[str, Any], space: list[ParamSpec], out: Path, members: int
) -> Callable[[Trial], float]:
    def objective(trial: Trial) -> float:
        params = {spec.key: _suggest(trial, spec) for spec in space}
        try:
            config = with_params(base, {**params, "model.members": members})
        except ConfigError as err:
            trial.set_user_attr("error", str(err))
            raise
        log = _TrialLog(trial, out / TENSORBOARD / f"trial-{trial.number:04d}")
        state = "pruned"
        try:
            score = validation_score(view, config, log)
            state = "complete"
            return score
        except KeyboardInterrupt:  # stopped by the user: the next run trains these again
            trial.set_user_attr("interrupted", True)
            trial.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            raise
        finally:
            trial.set_user_attr("epochs", log.epochs)
            log.close(params, state)

    return objective


def _check_same_study(study: optuna.Study, identity: dict[str, Any], out: Path) -> None:
    """A resumed study must search the same space on the same data with as many members."""
    attrs = study.user_attrs
    if not attrs:
        for key, value in identity.items():
            study.set_user_attr(key, value)
        return
    for key, value in identity.items():
        if attrs.get(key) != value:
            raise ConfigError(
                f"{out / STUDY_DB}: the study there has another {key.replace('_', ' ')} "
                f"({attrs.get(key)!r}, now {value!r}); give the same settings to continue it, "
                "or a new --out"
            )


def _retry_interrupted(study: optuna.Study, storage: RDBStorage) -> None:
    """Trials left running by a run that was killed: marked failed, their parameters queued
    to run first. One run works on a study folder at a time, so none is really running."""
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "interrupted", True)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        _log.info("retrying an interrupted trial", trial=trial.number)


def open_study(out: Path, options: TuneOptions, identity: dict[str, Any]) -> optuna.Study:
    """The study in `out/study.db`, created or continued, with the sampler and pruner."""
    out.mkdir(parents=True, exist_ok=True)
    storage = RDBStorage(f"sqlite:///{(out / STUDY_DB).resolve()}")
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=options.pruner_startup_trials,
        n_warmup_steps=options.pruner_warmup_epochs,
    )
    study = optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="maximize",
        pruner=pruner,
        load_if_exists=True,
    )
    _check_same_study(study, identity, out)
    _retry_interrupted(study, storage)
    study.sampler = optuna.samplers.TPESampler(seed=options.seed + len(study.trials))
    return study


def trial_line(study: optuna.Study, trial: FrozenTrial, budget: int | None) -> str:
    """`trial 7 (8/30 done): valid NDCG@10 0.0612 · 12 epochs · 41 s · best 0.0650 (trial 3)`
    (trials are numbered from 0, as in the report and the TensorBoard runs)."""
    of = f"/{budget}" if budget else ""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    epochs = trial.user_attrs.get("epochs", 0)
    if trial.state == TrialState.COMPLETE:
        what = f"valid NDCG@10 {trial.value:.4f} · {epochs} epochs"
    elif trial.state == TrialState.PRUNED:
        last = trial.intermediate_values.get(epochs, math.nan)
        what = f"pruned after epoch {epochs} (valid NDCG@10 {last:.4f})"
    else:
        what = f"failed: {trial.user_attrs.get('error', 'see the log')}"
    done = len(finished_trials(study))
    line = f"trial {trial.number} ({done}{of} done): {what} · {seconds:.0f} s"
    completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if completed:
        best = max(completed, key=lambda t: t.value or -math.inf)
        line += f" · best {best.value:.4f} (trial {best.number})"
    return line


def run_study(
    dataset: Dataset,
    base: dict[str, Any],
    space: list[ParamSpec],
    out: Path,
    options: TuneOptions,
) -> optuna.Study:
    """Run (or continue) the study in `out` until its budget: `options.trials` finished
    trials in all, or `options.timeout` seconds of this run. `base` is the config's tables
    (`--config` and `--set`) the drawn parameters are set on."""
    view = holdout(dataset).selection
    if len(view.valid) == 0:
        raise ConfigError(f"{dataset.name}: no user has a validation event to tune on")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    identity = {
        "search_space": {spec.key: spec.describe() for spec in space},
        "base_config": base,
        "members": options.members,
        "dataset": f"{dataset.name}: {dataset.n_users} users, {dataset.n_items} items, "
        f"{len(dataset.interactions)} events",
    }
    study = open_study(out, options, identity)
    done = len(finished_trials(study))
    remaining = None if options.trials is None else options.trials - done
    if remaining is not None and remaining <= 0:
        _log.info("study budget already spent", trials=done, out=str(out))
        return study
    start = time.perf_counter()
    study.optimize(
        _objective(view, base, space, out, options.members),
        n_trials=remaining,
        timeout=options.timeout,
        catch=(ConfigError,),
        callbacks=[lambda s, t: options.on_trial(trial_line(s, t, options.trials))],
    )
    _log.info("study run finished", trials=len(study.trials), seconds=time.perf_counter() - start)
    return study


__all__ = [
    "STUDY_DB",
    "TENSORBOARD",
    "TuneOptions",
    "finished_trials",
    "open_study",
    "run_study",
    "trial_line",
    "validation_score",
]
