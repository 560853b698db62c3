"""Recommendation quality: Attune's interest model against four baselines, full ranking.

Protocol (the one the published numbers in ../shared/datasets/README.md use): leave-one-out,
every model fits on each user's events but the last two; the second last is the validation
target (Attune's early stopping), the last is the test target, ranked against every item with
the user's earlier items (train + validation) removed from the candidates; ties count against
the target. Reported: HR@10, NDCG@10, MRR and catalogue coverage@10, mean +- std over seeds.
Popular and item-kNN are deterministic and run once; their std is 0 by construction.

    python bench/quality.py                           # everything (long: the lead runs it)
    python bench/quality.py --datasets lastfm,ml-100k --models popular,itemknn,ials,bpr --quick
    python bench/quality.py --resume ...               # after a stop: same arguments again

Writes bench/results/quality.json (keys `{dataset}/{model}/{metric}`, plus `_std`,
`fit_seconds`, `eval_seconds`, `{dataset}/attune/train_seconds`), quality.md and, when Attune
runs, quality_curve_{dataset}.png (validation NDCG@10 per epoch, one line per seed). `--quick`
trains Attune for 2 epochs and writes quality_quick.* instead, so a smoke run never replaces
the real results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import RESULTS, SHARED, command_line, commit, markdown_table, now, write_results
from attune.baselines import BPR, IALS, BPRConfig, IALSConfig, ItemKNN, MostPopular
from attune.data import Dataset, load
from attune.data.splits import LeaveOneOut, leave_one_out
from attune.evaluation import RankingTask, Scorer, evaluate, item_counts, leave_one_out_task
from attune.log import configure

DATASETS = ("beauty", "sports", "lastfm", "ml-100k")
MODELS = ("attune", "popular", "itemknn", "ials", "bpr")
DETERMINISTIC = frozenset({"popular", "itemknn"})
METRICS = ("hr@10", "ndcg@10", "mrr", "coverage@10", "popularity_ratio@10")
QUICK_EPOCHS = 2

# Full-ranking numbers on exactly these files, from ../shared/datasets/README.md:
# (model, HR@10, NDCG@10, source).
PUBLISHED: dict[str, list[tuple[str, float, float, str]]] = {
    "beauty": [
        ("popularity", 0.0152, 0.0068, "S3-Rec paper"),
        ("SASRec (BCE, 1 negative)", 0.0605, 0.0318, "S3-Rec paper"),
        ("DuoRec", 0.0845, 0.0443, "cited in eSASRec"),
        ("SASRec + sampled softmax", 0.0921, 0.0531, "eSASRec"),
        ("BSARec", 0.1008, 0.0611, "BSARec log, one seed"),
    ],
    "sports": [
        ("popularity", 0.0094, 0.0053, "S3-Rec paper"),
        ("SASRec (BCE)", 0.0350, 0.0192, "S3-Rec paper"),
        ("SASRec + sampled softmax", 0.0569, 0.0314, "eSASRec"),
        ("eSASRec", 0.0560, 0.0323, "eSASRec"),
    ],
    "lastfm": [
        ("SASRec (BCE)", 0.0688, 0.0390, "S3-Rec paper"),
        ("BSARec", 0.0807, 0.0435, "BSARec log, one seed"),
    ],
    "ml-100k": [],
}


@dataclass
class Run:
    """One model fitted with one seed on one dataset and evaluated on the test targets."""

    dataset: str
    model: str
    seed: int
    metrics: dict[str, float]
    fit_seconds: float
    eval_seconds: float
    curve: list[float] = field(default_factory=list)
    """Attune only: validation NDCG@10 after each epoch."""
    best_epoch: int = 0
    seconds_to_best: float = 0.0
    """Attune only: training wall time until the kept model's best validation score (an
    ensemble: every member before the last in full, then the last one to its best)."""


@dataclass(frozen=True)
class Prepared:
    dataset: Dataset
    split: LeaveOneOut
    test: RankingTask
    popularity: np.ndarray


def prepare(name: str, root: Path) -> Prepared:
    dataset = load(root / name)
    split = leave_one_out(dataset.interactions)
    test = leave_one_out_task(split, dataset.n_users, "test")
    return Prepared(dataset, split, test, item_counts(split.train.items, dataset.n_items))


BASELINES: dict[str, Callable[[int], Any]] = {
    "popular": lambda seed: MostPopular(),
    "itemknn": lambda seed: ItemKNN(),
    "ials": lambda seed: IALS(IALSConfig(seed=seed)),
    "bpr": lambda seed: BPR(BPRConfig(seed=seed)),
}


def evaluate_test(scorer: Scorer, data: Prepared, seed: int) -> tuple[dict[str, float], float]:
    t = data.test
    result = evaluate(
        scorer,
        t.users,
        t.histories,
        t.targets,
        data.dataset.n_items,
        k=10,
        item_popularity=data.popularity,
        seed=seed,
    )
    return result.metrics, result.seconds


def run_baseline(name: str, data: Prepared, seed: int) -> Run:
    ds = data.dataset
    start = time.perf_counter()
    model = BASELINES[name](seed).fit(data.split.train, ds.n_users, ds.n_items)
    fit_seconds = time.perf_counter() - start
    metrics, eval_seconds = evaluate_test(model, data, seed)
    return Run(ds.name, name, seed, metrics, fit_seconds, eval_seconds)


def run_attune(
    data: Prepared, seed: int, device: str, quick: bool, runs_dir: Path, resume: bool = False
) -> Run:
    # Imported here so that a baselines-only run works while the model code is in flux.
    from attune.training import TrainConfig, train
    from attune.training.checkpoint import TRAINER_STATE, load_members, member_dir
    from attune.training.recommend import served_scorer

    ds = data.dataset
    config = TrainConfig()
    fit = {"seed": seed, "device": device, "progress": False, "tensorboard": False}
    if quick:
        fit["max_epochs"] = QUICK_EPOCHS
    config = config.model_copy(update={"train": config.train.model_copy(update=fit)})
    out_dir = runs_dir / ds.name / (f"seed{seed}" + ("-quick" if quick else ""))
    # --resume continues a run a killed benchmark left behind (an ensemble: member by member).
    started = any((d / TRAINER_STATE).is_file() for d in (out_dir, member_dir(out_dir, 0)))
    result = train(ds, config, out_dir, split=data.split, resume=resume and started)
    members = load_members(out_dir, device=_torch_device(device))
    # As the server scores (event types, user attributes, the ensemble's join), reading every
    # event of a history as training does (the server's `window = "all"`).
    scorer = served_scorer(members, ds, window="all")
    metrics, eval_seconds = evaluate_test(scorer, data, seed)
    # An ensemble has no curve of its own: its first member's stands in.
    history = result.members[0].history if result.members else result.history
    curve = [float(h["valid_ndcg@10"]) for h in history]
    return Run(
        ds.name,
        "attune",
        seed,
        metrics,
        result.seconds,
        eval_seconds,
        curve,
        result.best_epoch,
        result.seconds_to_best,
    )


def _torch_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def summarize(runs: list[Run]) -> dict[str, float]:
    """Mean and std over seeds of every metric, keyed `{dataset}/{model}/{metric}`."""
    out: dict[str, float] = {}
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.model), []).append(r)
    for (dataset, model), group in groups.items():
        prefix = f"{dataset}/{model}"
        for metric in group[0].metrics:
            values = np.array([r.metrics[metric] for r in group])
            out[f"{prefix}/{metric}"] = float(values.mean())
            out[f"{prefix}/{metric}_std"] = float(values.std())
        out[f"{prefix}/fit_seconds"] = float(np.mean([r.fit_seconds for r in group]))
        out[f"{prefix}/eval_seconds"] = float(np.mean([r.eval_seconds for r in group]))
        out[f"{prefix}/seeds"] = float(len(group))
        if model == "attune":
            out[f"{prefix}/train_seconds"] = out[f"{prefix}/fit_seconds"]
            out[f"{prefix}/best_epoch"] = float(np.mean([r.best_epoch for r in group]))
            to_best = [r.seconds_to_best for r in group]
            out[f"{prefix}/seconds_to_best"] = float(np.mean(to_best))
            out[f"{prefix}/seconds_to_best_max"] = float(np.max(to_best))
    return out


def report_md(metrics: dict[str, float], datasets: list[str], models: list[str]) -> str:
    header = ["model", "HR@10", "NDCG@10", "MRR", "coverage@10", "pop. ratio", "fit s", "eval s"]
    parts = [
        "Test targets, full ranking over all items, seen items excluded, ties pessimistic; "
        "mean ± std over seeds (popular and item-kNN are deterministic: one run, no ±). "
        "`pop. ratio` is the "
        "mean training count of recommended items over that of a catalogue item. Published "
        "rows are from ../shared/datasets/README.md (same files, same protocol)."
    ]
    for dataset in datasets:
        rows: list[list[Any]] = []
        for model in models:
            key = f"{dataset}/{model}"
            if f"{key}/hr@10" not in metrics:
                continue
            spread = metrics[f"{key}/seeds"] > 1
            cells = [
                f"{metrics[f'{key}/{m}']:.2f}"
                if m == "popularity_ratio@10"
                else f"{metrics[f'{key}/{m}']:.4f}"
                + (f" ± {metrics[f'{key}/{m}_std']:.4f}" if spread else "")
                for m in METRICS
            ]
            seconds = [f"{metrics[f'{key}/{s}_seconds']:.1f}" for s in ("fit", "eval")]
            rows.append([model, *cells, *seconds])
        for name, hr, ndcg, source in PUBLISHED.get(dataset, []):
            rows.append([f"*{name}* ({source})", f"{hr:.4f}", f"{ndcg:.4f}", "", "", "", "", ""])
        if rows:
            parts.append(f"## {dataset}\n\n" + markdown_table(header, rows))
    return "\n\n".join(parts)


def plot_curves(runs: list[Run], dataset: str, path: Path) -> Path | None:
    curves = [r for r in runs if r.dataset == dataset and r.curve]
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in curves:
        epochs = np.arange(1, len(r.curve) + 1)
        ax.plot(epochs, r.curve, marker=".", label=f"seed {r.seed} (best epoch {r.best_epoch})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation NDCG@10")
    ax.set_title(f"Attune on {dataset}: validation NDCG@10 per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _names(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what} {unknown[0]!r}; choose from {', '.join(allowed)}")
    return names


_PREPARED: dict[str, Prepared] = {}


def _job(
    dataset: str,
    model: str,
    seed: int,
    device: str,
    quick: bool,
    runs_dir: Path,
    data_root: Path,
    threads: int | None,
    resume: bool = False,
) -> Run:
    """One (dataset, model, seed) run; data is prepared once per process."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if dataset not in _PREPARED:
        _PREPARED[dataset] = prepare(dataset, data_root)
    data = _PREPARED[dataset]
    if model == "attune":
        return run_attune(data, seed, device, quick, runs_dir, resume)
    return run_baseline(model, data, seed)


def _record(run: Run, runs: list[Run], progress: Path) -> None:
    runs.append(run)
    with progress.open("a") as f:
        f.write(json.dumps(run.__dict__) + "\n")
    print(
        f"  {run.dataset} {run.model:8s} seed {run.seed}: hr@10 {run.metrics['hr@10']:.4f} "
        f"ndcg@10 {run.metrics['ndcg@10']:.4f} fit {run.fit_seconds:.1f}s "
        f"eval {run.eval_seconds:.1f}s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated integer seeds")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help=f"Attune: {QUICK_EPOCHS} epochs")
    parser.add_argument("--data-root", type=Path, default=SHARED)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-quality"))
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the results of datasets not run now from the existing results file "
        "(each dataset's command, commit and date stay listed)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run (dataset, model, seed) combinations in this many processes "
        "(for a machine with many cores or a GPU)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a benchmark that was stopped: keep the runs it finished (its progress "
        "file) and resume Attune's unfinished training from --runs-dir",
    )
    args = parser.parse_args()
    configure("warning")
    datasets = _names(args.datasets, DATASETS, "dataset")
    models = _names(args.models, MODELS, "model")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    name = "quality_quick" if args.quick else "quality"
    progress = RESULTS / f"{name}.runs.tmp"  # one JSON line per finished run, for long runs
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[Run] = []
    # Resume only what this benchmark left: without its progress file, start afresh.
    resume = args.resume and progress.exists()
    if resume:
        for line in progress.read_text().splitlines():
            try:
                runs.append(Run(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a line cut short by the stop: that run is done again
        print(f"resuming: {len(runs)} runs already finished", flush=True)
    else:
        progress.write_text("")
    done = {(r.dataset, r.model, r.seed) for r in runs}

    combos = [
        (d, m, seed)
        for d in datasets
        for m in models
        for seed in (seeds[:1] if m in DETERMINISTIC else seeds)
        if (d, m, seed) not in done
    ]
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(
                    _job,
                    d,
                    m,
                    seed,
                    args.device,
                    args.quick,
                    args.runs_dir,
                    args.data_root,
                    threads,
                    resume,
                )
                for d, m, seed in combos
            ]
            for future in futures:
                _record(future.result(), runs, progress)
    else:
        for d, m, seed in combos:
            _record(
                _job(
                    d,
                    m,
                    seed,
                    args.device,
                    args.quick,
                    args.runs_dir,
                    args.data_root,
                    None,
                    resume,
                ),
                runs,
                progress,
            )
    for dataset in datasets:
        plot_curves(runs, dataset, RESULTS / f"{name}_curve_{dataset}.png")

    metrics = summarize(runs)
    this_run = {"command": command_line(), "commit": commit(), "date": now()}
    provenance = {f"{d}/{m}": this_run for d in datasets for m in models}
    shown, shown_models = datasets, models
    if args.merge and (RESULTS / f"{name}.json").exists():
        metrics, provenance = merged(
            json.loads((RESULTS / f"{name}.json").read_text()), metrics, provenance
        )
        present = {key.split("/")[0] for key in provenance}
        shown = [d for d in DATASETS if d in present] + [d for d in datasets if d not in DATASETS]
        shown_models = [m for m in MODELS if any(k.endswith(f"/{m}") for k in provenance)]
    body = report_md(metrics, shown, shown_models)
    sources: dict[str, list[str]] = {}
    for key, source in provenance.items():
        line = f"`{source['command']}`, commit {source['commit']}, {source['date']}"
        sources.setdefault(line, []).append(key)
    if len(sources) > 1:
        body += "\n\nResults come from these runs (`--merge`):\n\n" + "\n".join(
            f"- {', '.join(keys)}: {line}" for line, keys in sources.items()
        )
    write_results(name, metrics, body, extra={"provenance": provenance})
    progress.unlink()


def merged(
    previous: dict[str, Any], metrics: dict[str, float], provenance: dict[str, dict[str, str]]
) -> tuple[dict[str, float], dict[str, dict[str, str]]]:
    """`metrics` plus a previous results file's results of every `{dataset}/{model}` not run
    now. `provenance` is keyed by `{dataset}/{model}`; older files key theirs by dataset."""
    old_source = {k: previous[k] for k in ("command", "commit", "date")}
    old_provenance = previous.get("provenance", {})

    def group(key: str) -> str:
        return "/".join(key.split("/")[:2])

    out = {k: v for k, v in previous["metrics"].items() if group(k) not in provenance}
    sources = {
        g: old_provenance.get(g) or old_provenance.get(g.split("/")[0], old_source)
        for g in sorted({group(k) for k in out})
    }
    return out | metrics, sources | provenance


if __name__ == "__main__":
    main()
