"""Recommendation quality: Attune's interest model against four baselines, full ranking.

Protocol (the one the published numbers in ../shared/datasets/README.md use): leave-one-out,
every model fits on each user's events but the last two; the second last is the validation
target (Attune's early stopping), the last is the test target, ranked against every item with
the user's earlier items (train + validation) removed from the candidates; ties count against
the target. Reported: HR@10, NDCG@10, MRR and catalogue coverage@10, mean +- std over seeds.
Popular and item-kNN are deterministic and run once; their std is 0 by construction.

Test targets are read once per run. Each run gets an `attune.data.holdout` protocol: training,
early stopping and ensemble validation see its selection view only (no test event in it); the
config is fixed before training; after training the final evaluation opens the test targets
once. Every run records `selection_reads_test` (reads before that, 0 unless something chose by
the test), its config and commit in `bench/results/quality_runs/<dataset>__<variant>__<model>__
seed<k>.json` as soon as it finishes; those files are committed, so the table is built across
sessions: quality.json aggregates every record there.

    python bench/quality.py                           # everything (long: the lead runs it)
    python bench/quality.py --datasets lastfm,ml-100k --models popular,itemknn,ials,bpr --quick
    python bench/quality.py --datasets beauty-noattr --models attune --seeds 0,1,2
    python bench/quality.py --resume ...               # after a stop: same arguments again

Tables (`--datasets`): a dataset folder, or `<folder>-noattr` (Attune with
`model.item_attributes = false`; the baselines run on the plain folder only). `scientific` is
never used for any choice. Models: `attune` (the default config), the four baselines, and on
request `attune1` (the default with one model).

Writes bench/results/quality.json (keys `{table}/{model}/{metric}`, plus `_std`,
`fit_seconds`, `eval_seconds`, `seeds`, `{table}/attune/train_seconds`, and
`selection_reads_test` summed over the runs), quality.md (with the fair comparison: with and
without item attributes beside the published rows) and, when Attune runs,
quality_curve_{table}.png (validation NDCG@10 per epoch, one line per seed). `--quick` trains
Attune for 2 epochs and writes quality_quick.* and quality_quick_runs/ instead, so a smoke run
never replaces the real results. `python bench/readme_results.py` rewrites the README's results
table from quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import report_md
from _quality_runs import (
    DEFAULT_VARIANT,
    VARIANTS,
    Run,
    load_runs,
    mixed_configs,
    parse_table,
    provenance,
    run_path,
    save_run,
    summarize,
)
from _report import RESULTS, SHARED, command_line, commit, now, write_results
from attune.baselines import BPR, IALS, BPRConfig, IALSConfig, ItemKNN, MostPopular
from attune.data import Dataset, load
from attune.data.holdout import Holdout, holdout
from attune.evaluation import Scorer, evaluate, item_counts, leave_one_out_task
from attune.log import configure

DATASETS = (
    "beauty",
    "beauty-noattr",
    "sports",
    "sports-noattr",
    "lastfm",
    "lastfm-noattr",
    "ml-100k",
    "scientific",
)
"""Tables: a dataset folder, or one with a variant (`_quality_runs.VARIANTS`). `scientific` is
never used for any choice: it checks the default on data nothing was tuned on."""
MODELS = ("attune", "popular", "itemknn", "ials", "bpr")
OPTIONAL_MODELS = ("attune1",)
"""Run only when named: `attune1` is the default config with one model (`model.members = 1`)."""
ATTUNE_OVERRIDES: dict[str, dict[str, Any]] = {"attune": {}, "attune1": {"members": 1}}
DETERMINISTIC = frozenset({"popular", "itemknn"})
QUICK_EPOCHS = 2


def runs_folder(quick: bool) -> Path:
    """Where each finished run's record goes (committed for the real benchmark)."""
    return RESULTS / ("quality_quick_runs" if quick else "quality_runs")


BASELINES: dict[str, Callable[[int], Any]] = {
    "popular": lambda seed: MostPopular(),
    "itemknn": lambda seed: ItemKNN(),
    "ials": lambda seed: IALS(IALSConfig(seed=seed)),
    "bpr": lambda seed: BPR(BPRConfig(seed=seed)),
}


def evaluate_test(
    scorer: Scorer, dataset: Dataset, protocol: Holdout, seed: int
) -> tuple[dict[str, float], float]:
    """The final evaluation: opens the test targets (their one read in this run)."""
    split = protocol.final_split()
    t = leave_one_out_task(split, dataset.n_users, "test")
    result = evaluate(
        scorer,
        t.users,
        t.histories,
        t.targets,
        dataset.n_items,
        k=10,
        item_popularity=item_counts(split.train.items, dataset.n_items),
        seed=seed,
    )
    return result.metrics, result.seconds


def _stamped(run: Run, protocol: Holdout, config: dict[str, Any]) -> Run:
    run.selection_reads_test = protocol.selection_reads_test
    run.test_reads = protocol.test.reads
    run.config, run.commit, run.command, run.date = config, commit(), command_line(), now()
    return run


def run_baseline(name: str, dataset: Dataset, seed: int) -> Run:
    protocol = holdout(dataset)
    view = protocol.selection
    model = BASELINES[name](seed)
    settings = getattr(model, "config", None)
    config = {"model": name, **(asdict(settings) if is_dataclass(settings) else {})}  # type: ignore[arg-type]
    start = time.perf_counter()
    model.fit(view.train, dataset.n_users, dataset.n_items)
    fit_seconds = time.perf_counter() - start
    metrics, eval_seconds = evaluate_test(model, dataset, protocol, seed)
    run = Run(dataset.name, name, seed, metrics, fit_seconds, eval_seconds)
    return _stamped(run, protocol, config)


def attune_config(model: str, variant: str, seed: int, device: str, quick: bool) -> Any:
    """The config of one Attune run, fixed before it trains: the default, the variant's and
    the model's overrides, the seed and device."""
    from attune.training import TrainConfig

    config = TrainConfig()
    fit: dict[str, Any] = {"seed": seed, "device": device, "progress": False, "tensorboard": False}
    if quick:
        fit["max_epochs"] = QUICK_EPOCHS
    shape = VARIANTS[variant] | ATTUNE_OVERRIDES[model]
    return config.model_copy(
        update={
            "model": config.model.model_copy(update=shape),
            "train": config.train.model_copy(update=fit),
        }
    )


def run_attune(
    dataset: Dataset,
    model: str,
    variant: str,
    seed: int,
    device: str,
    quick: bool,
    runs_dir: Path,
    resume: bool = False,
) -> Run:
    # Imported here so that a baselines-only run works while the model code is in flux.
    from attune.training import config_to_dict, train
    from attune.training.checkpoint import TRAINER_STATE, load_members, member_dir
    from attune.training.recommend import served_scorer

    config = attune_config(model, variant, seed, device, quick)
    protocol = holdout(dataset)
    name = f"{model}-{variant}" if (model, variant) != ("attune", DEFAULT_VARIANT) else ""
    run_name = f"seed{seed}" + (f"-{name}" if name else "") + ("-quick" if quick else "")
    out_dir = runs_dir / dataset.name / run_name
    # --resume continues a run a killed benchmark left behind (an ensemble: member by member).
    started = any((d / TRAINER_STATE).is_file() for d in (out_dir, member_dir(out_dir, 0)))
    result = train(protocol.selection, config, out_dir, resume=resume and started)
    members = load_members(out_dir, device=_torch_device(device))
    # As the server scores (event types, user attributes, the ensemble's join), reading every
    # event of a history as training does (the server's `window = "all"`).
    scorer = served_scorer(members, dataset, window="all")
    metrics, eval_seconds = evaluate_test(scorer, dataset, protocol, seed)
    # An ensemble has no curve of its own: its first member's stands in.
    history = result.members[0].history if result.members else result.history
    curve = [float(h["valid_ndcg@10"]) for h in history]
    run = Run(
        dataset.name,
        model,
        seed,
        metrics,
        result.seconds,
        eval_seconds,
        curve,
        result.best_epoch,
        result.seconds_to_best,
        variant=variant,
        item_attributes=members[0].encoder_config.n_item_tokens > 0,
    )
    return _stamped(run, protocol, config_to_dict(config))


def _torch_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def plot_curves(runs: list[Run], table: str, path: Path) -> Path | None:
    curves = [r for r in runs if r.table == table and r.model == "attune" and r.curve]
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
    ax.set_title(f"Attune on {table}: validation NDCG@10 per epoch")
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


_LOADED: dict[str, Dataset] = {}


def _job(
    table: str,
    model: str,
    seed: int,
    device: str,
    quick: bool,
    runs_dir: Path,
    data_root: Path,
    threads: int | None,
    resume: bool = False,
) -> Run:
    """One (table, model, seed) run; each dataset is loaded once per process."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    name, variant = parse_table(table)
    if name not in _LOADED:
        _LOADED[name] = load(data_root / name)
    dataset = _LOADED[name]
    if model.startswith("attune"):
        return run_attune(dataset, model, variant, seed, device, quick, runs_dir, resume)
    return run_baseline(model, dataset, seed)


def _record(run: Run, folder: Path) -> None:
    save_run(run, folder)
    print(
        f"  {run.table} {run.model:8s} seed {run.seed}: hr@10 {run.metrics['hr@10']:.4f} "
        f"ndcg@10 {run.metrics['ndcg@10']:.4f} fit {run.fit_seconds:.1f}s "
        f"eval {run.eval_seconds:.1f}s selection_reads_test {run.selection_reads_test}",
        flush=True,
    )


def combinations(
    tables: list[str], models: list[str], seeds: list[int]
) -> list[tuple[str, str, int]]:
    """Every (table, model, seed) to run: a variant runs Attune's models alone (the baselines
    read no attributes), a deterministic baseline one seed."""
    return [
        (t, m, seed)
        for t in tables
        for m in models
        if m.startswith("attune") or parse_table(t)[1] == DEFAULT_VARIANT
        for seed in (seeds[:1] if m in DETERMINISTIC else seeds)
    ]


def _parser() -> argparse.ArgumentParser:
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
        help="also keep the results of the existing results file that no run record covers "
        "(each group's command, commit and date stay listed)",
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
        help="continue a benchmark that was stopped: keep the runs it recorded (their files) "
        "and resume Attune's unfinished training from --runs-dir",
    )
    return parser


def _run_all(args: argparse.Namespace, combos: list[tuple[str, str, int]], folder: Path) -> None:
    common = (args.device, args.quick, args.runs_dir, args.data_root)
    if args.jobs <= 1:
        for t, m, seed in combos:
            _record(_job(t, m, seed, *common, None, args.resume), folder)
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_job, t, m, seed, *common, threads, args.resume) for t, m, seed in combos
        ]
        for future in futures:
            _record(future.result(), folder)


def main() -> None:
    args = _parser().parse_args()
    configure("warning")
    tables = _names(args.datasets, DATASETS, "dataset")
    models = _names(args.models, MODELS + OPTIONAL_MODELS, "model")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    name = "quality_quick" if args.quick else "quality"
    folder = runs_folder(args.quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    combos = combinations(tables, models, seeds)
    if args.resume:  # the runs a stopped benchmark recorded are kept
        todo = [c for c in combos if not run_path(folder, *parse_table(c[0]), c[1], c[2]).exists()]
        print(f"resuming: {len(combos) - len(todo)} runs already recorded", flush=True)
        combos = todo
    _run_all(args, combos, folder)
    runs = load_runs(folder)  # this session's runs and those recorded before
    for table in tables:
        plot_curves(runs, table, RESULTS / f"{name}_curve_{table}.png")
    metrics, sources = summarize(runs), provenance(runs)
    if args.merge and (RESULTS / f"{name}.json").exists():
        metrics, sources = merged(
            json.loads((RESULTS / f"{name}.json").read_text()), metrics, sources
        )
    present = {key.split("/")[0] for key in sources}
    shown = [t for t in DATASETS if t in present]
    shown_models = [
        m for m in MODELS + OPTIONAL_MODELS if any(k.endswith(f"/{m}") for k in sources)
    ]
    write_results(
        name,
        metrics,
        _body(metrics, shown, shown_models, runs, sources, folder.name),
        extra={"provenance": sources},
    )


def _body(
    metrics: dict[str, float],
    tables: list[str],
    models: list[str],
    runs: list[Run],
    sources: dict[str, dict[str, str]],
    folder: str,
) -> str:
    body = report_md(metrics, tables, models)
    mixed = mixed_configs(runs)
    if mixed:
        body += "\n\nSeeds ran different configs (their mean is no one config's): " + ", ".join(
            mixed
        )
    lines: dict[str, list[str]] = {}
    for key, source in sources.items():
        line = f"`{source['command']}`, commit {source['commit']}, {source['date']}"
        lines.setdefault(line, []).append(key)
    body += f"\n\nResults come from these runs (a record per run in `bench/results/{folder}/`):\n\n"
    return body + "\n".join(f"- {', '.join(keys)}: {line}" for line, keys in lines.items())


def merged(
    previous: dict[str, Any], metrics: dict[str, float], provenance: dict[str, dict[str, str]]
) -> tuple[dict[str, float], dict[str, dict[str, str]]]:
    """`metrics` plus a previous results file's results of every `{dataset}/{model}` not run
    now. `provenance` is keyed by `{dataset}/{model}`; older files key theirs by dataset."""
    old_source = {k: previous[k] for k in ("command", "commit", "date")}
    old_provenance = previous.get("provenance", {})

    def group(key: str) -> str:
        return "/".join(key.split("/")[:2])

    out = {k: v for k, v in previous["metrics"].items() if "/" in k and group(k) not in provenance}
    sources = {
        g: old_provenance.get(g) or old_provenance.get(g.split("/")[0], old_source)
        for g in sorted({group(k) for k in out})
    }
    return out | metrics, sources | provenance


if __name__ == "__main__":
    main()
