"""`attune tune`: hyper-parameter search for the interest model (an Optuna study in a folder).

Optuna, torch and the training code load inside the command, so `attune --help` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from attune.cli.errors import user_errors

if TYPE_CHECKING:
    from attune.tuning import TuneOptions


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)


DATA = typer.Option(..., "--data", metavar="SOURCE", help="Dataset folder/file or Attune database.")
OUT = typer.Option(
    ...,
    "--out",
    metavar="DIR",
    help="Study folder: study.db (the study; run again to continue it), best.toml, "
    "report.md, plots, tensorboard/.",
)
SPACE = typer.Option(
    None,
    "--space",
    metavar="FILE",
    help="Search space TOML (default: the one shipped, src/attune/tuning/search_space.toml).",
)
CONFIG = typer.Option(
    None, "--config", metavar="FILE", help="Base TOML config the trials start from."
)
SET = typer.Option(
    [], "--set", metavar="KEY=VALUE", help="Override a base key, e.g. train.max_epochs=50."
)
TRIALS = typer.Option(
    30, "--trials", metavar="N", min=1, help="Trials the study should have, earlier runs too."
)
TIMEOUT = typer.Option(
    None, "--timeout", metavar="SECONDS", min=1, help="Start no trial after this long."
)
MEMBERS = typer.Option(
    1,
    "--members",
    metavar="N",
    min=1,
    help="Models per trial; 1 ranks configs at half an ensemble's cost.",
)
SEED = typer.Option(0, "--seed", metavar="N", help="Seed of the TPE sampler.")
PRUNE_AFTER = typer.Option(
    5, "--prune-after", metavar="TRIALS", min=0, help="Trials finished before pruning."
)
PRUNE_WARMUP = typer.Option(
    2, "--prune-warmup", metavar="EPOCHS", min=0, help="Epochs before a trial is judged."
)


def tune(
    data: Path = DATA,
    out: Path = OUT,
    space: Path | None = SPACE,
    config: Path | None = CONFIG,
    set_: list[str] = SET,
    trials: int | None = TRIALS,
    timeout: float | None = TIMEOUT,
    members: int = MEMBERS,
    seed: int = SEED,
    prune_after: int = PRUNE_AFTER,
    prune_warmup: int = PRUNE_WARMUP,
) -> None:
    """Search hyper-parameters on validation NDCG@10 (TPE sampler, median pruning per epoch).

    The test targets are withheld from every trial. Writes the best config as TOML for
    `attune train --config`, and a report with the optimisation history and parameter
    importances. Stopped, the same command continues the study.
    """
    from attune.tuning import TuneOptions

    options = TuneOptions(
        trials=trials,
        timeout=timeout,
        members=members,
        seed=seed,
        pruner_startup_trials=prune_after,
        pruner_warmup_epochs=prune_warmup,
        on_trial=typer.echo,
    )
    _run(data, out, space, config, set_, options)


def _run(
    data: Path,
    out: Path,
    space: Path | None,
    config: Path | None,
    set_: list[str],
    options: TuneOptions,
) -> None:
    import os

    from attune.cli.model import _dataset
    from attune.training.config import ConfigError, env_overrides, read_toml, with_overrides
    from attune.tuning import best_value, load_search_space, run_study, write_report
    from attune.tuning.report import BEST_CONFIG, trial_counts
    from attune.tuning.space import with_params

    with user_errors(ConfigError):
        search_space = load_search_space(space)
        # The file, ATTUNE_MODEL__*/ATTUNE_TRAIN__* variables, then --set: as `attune train`.
        env = env_overrides(("model", "train"), os.environ)
        base: dict[str, Any] = with_overrides(read_toml(config) if config else {}, [*env, *set_])
        with_params(base, {})  # a bad base key fails before any trial
        dataset = _dataset(data)
        try:
            study = run_study(dataset, base, search_space, out, options)
        except KeyboardInterrupt:
            typer.echo(f"stopped; the same command continues the study in {out}", err=True)
            raise typer.Exit(130) from None
        report = write_report(study, base, search_space, out)
    counts = trial_counts(study)
    typer.echo(
        f"study in {out}: {counts['trials']} trials ({counts['complete']} completed, "
        f"{counts['pruned']} pruned, {counts['failed']} failed); "
        f"best validation NDCG@10 {best_value(study):.4f}"
    )
    if (out / BEST_CONFIG).is_file():
        typer.echo(f"best config: {out / BEST_CONFIG}")
    typer.echo(f"report: {report}")
