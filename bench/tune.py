"""`attune tune` for real: a hyper-parameter study on one benchmark dataset, against the
default config on the same validation split.

    nice python bench/tune.py                       # ml-100k, 30 trials (the lead runs it)
    nice python bench/tune.py                       # after a stop: the same command continues
    python bench/tune.py --trials 2 --set train.max_epochs=1 --study /tmp/s --results /tmp/r

Runs the `attune tune` command (default search space, one model per trial, the command's
default pruning) with its study in `--study` (SQLite: a stopped run resumes where it was;
default bench/.cache/tune-<dataset>), then trains the default config once on the same split
with as many members as a trial (cached in the study folder) and writes bench/results/tune.json
with `trials`, `pruned_trials`, `best_valid_ndcg@10`, `default_valid_ndcg@10`, tune.md and the
study's plots as tune_optimization_history.png and tune_param_importances.png. Every figure is
validation NDCG@10: the test targets are withheld from the trials and from the default's run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report
import attune  # noqa: F401  (sets the OpenMP wait policy before torch loads)
from _report import SHARED, markdown_table, write_results
from attune.data import load
from attune.data.holdout import holdout
from attune.training.config import with_overrides
from attune.tuning import best_value, validation_score
from attune.tuning.report import HISTORY_PLOT, IMPORTANCE_PLOT, trial_counts
from attune.tuning.space import with_params
from attune.tuning.study import STUDY_DB, STUDY_NAME

# The trials' base: the defaults, without progress bars (the command prints a line a trial).
BASE_SETS = ["train.progress=false"]


def _tune(args: argparse.Namespace, study: Path) -> float:
    """Run (or continue) the study with the `attune tune` command; returns its seconds."""
    command = [
        sys.executable, "-c", "from attune.cli.main import app; app()",
        "tune", "--data", str(SHARED / args.dataset), "--out", str(study),
        "--trials", str(args.trials), "--members", str(args.members), "--seed", str(args.seed),
        *(f"--set={s}" for s in [*BASE_SETS, *args.set]),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def _default_score(args: argparse.Namespace, study: Path) -> float:
    """Validation NDCG@10 of the default config (members as the trials), cached in the study
    folder so a resumed benchmark does not train it again."""
    cache = study / "default_score.json"
    key = {"dataset": args.dataset, "members": args.members, "set": args.set}
    if cache.is_file() and json.loads(cache.read_text())["key"] == key:
        return float(json.loads(cache.read_text())["valid_ndcg@10"])
    dataset = load(SHARED / args.dataset)
    base = with_overrides({}, [*BASE_SETS, *args.set])
    config = with_params(base, {"model.members": args.members})
    score = validation_score(holdout(dataset).selection, config)
    cache.write_text(json.dumps({"key": key, "valid_ndcg@10": score}) + "\n")
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--study", type=Path, default=None, help="study folder")
    parser.add_argument("--results", type=Path, default=None, help="instead of bench/results")
    args = parser.parse_args()
    study_dir = args.study or Path(__file__).resolve().parent / ".cache" / f"tune-{args.dataset}"
    if args.results is not None:
        _report.RESULTS = args.results
    seconds = _tune(args, study_dir)
    default = _default_score(args, study_dir)

    import optuna

    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{study_dir / STUDY_DB}")
    counts, best = trial_counts(study), best_value(study)
    metrics = {
        "trials": counts["trials"],
        "pruned_trials": counts["pruned"],
        "best_valid_ndcg@10": best,
        "default_valid_ndcg@10": default,
    }
    _report.RESULTS.mkdir(parents=True, exist_ok=True)
    for plot in (HISTORY_PLOT, IMPORTANCE_PLOT):
        if (study_dir / plot).is_file():
            shutil.copyfile(study_dir / plot, _report.RESULTS / f"tune_{plot}")
    best_toml = (study_dir / "best.toml").read_text() if (study_dir / "best.toml").exists() else ""
    row = [counts["trials"], counts["complete"], counts["pruned"], counts["failed"], best, default]
    body = (
        f"`attune tune` on {args.dataset}: TPE, median pruning, default search space "
        f"(src/attune/tuning/search_space.toml), model.members = {args.members} per trial; "
        "validation NDCG@10 (leave-one-out, full ranking, test targets withheld).\n\n"
        + markdown_table(
            ["trials", "completed", "pruned", "failed", "best valid NDCG@10", "default"],
            [row],
        )
        + f"\n\nThis run of the command: {seconds:,.0f} s.\n\n"
        f"![optimisation history](tune_{HISTORY_PLOT})\n\n"
        f"![parameter importances](tune_{IMPORTANCE_PLOT})\n\n"
        f"Best config:\n\n```toml\n{best_toml}```"
    )
    write_results(
        "tune",
        metrics,
        body,
        extra={"dataset": args.dataset, "members": args.members, "best_config": best_toml},
    )


if __name__ == "__main__":
    main()
