"""Re-derive the training defaults on validation only (issue 19, point 2).

Three defaults were once chosen while reading test figures: the pair of models
(`model.members = 2`), the batch size derived from the data (`train.batch_size` unset) and a
constant learning rate (`train.lr_decay = 1`). Here each is decided again on the validation
targets of the four datasets with published rows, together: a candidate's score is the
geometric mean, over those datasets, of its validation NDCG@10 divided by the reference's.
The test targets are never opened (the training data comes from the selection view of
`attune.data.holdout`, whose test part counts every read; `selection_reads_test` records it).

Candidates are factors compared one at a time against one model with today's settings
(`one`, member 0 of the default pair: member 0 keeps `train.seed`, so it is exactly the
one-model run):

- `pair`: today's default, two members whose scores are summed;
- `batch256`: a fixed 256 windows a batch instead of the derived size (on data where the
  derived size is 256 already, the run is the reference's and is not repeated);
- `lr_decay`: learning rate x0.3 after 2 epochs without a better validation NDCG@10.

Each run is recorded in `bench/results/defaults_runs/` as it finishes, so the benchmark
resumes where a stop left it (and a half-trained run resumes from its trainer state).

    python bench/defaults.py                       # everything still missing
    python bench/defaults.py --datasets ml-100k,lastfm --max-hours 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import RESULTS, SHARED, commit, markdown_table, now, write_results
from attune.data import load
from attune.data.holdout import Holdout, holdout
from attune.log import configure
from attune.training import TrainConfig, apply_overrides, train
from attune.training.trainer import Trainer

DATASETS = ("ml-100k", "lastfm", "beauty", "sports")
SEEDS = (0,)
REFERENCE = "one"
CANDIDATES: dict[str, list[str]] = {
    "pair": ["model.members=2"],
    "batch256": ["model.members=1", "train.batch_size=256"],
    "lr_decay": ["model.members=1", "train.lr_decay=0.3"],
}
"""Each candidate as `--set` overrides of the shipped defaults; `one` is `pair`'s member 0."""
RUNS = RESULTS / "defaults_runs"


def _config(name: str, seed: int) -> TrainConfig:
    base = CANDIDATES["pair" if name == REFERENCE else name]
    quiet = ["train.progress=false", "train.tensorboard=false", f"train.seed={seed}"]
    return apply_overrides(TrainConfig(), [*base, *quiet])


def _record_path(name: str, dataset: str, seed: int) -> Path:
    return RUNS / f"{name}__{dataset}__seed{seed}.json"


def _same_as_reference(name: str, data: Holdout, seed: int) -> bool:
    """Whether candidate `name` resolves to the reference's training on this data (its
    only override is a batch size equal to the derived one)."""
    if name != "batch256":
        return False
    derived = Trainer(data.selection, _config(REFERENCE, seed), None).batch_size
    return derived == 256


def _run(name: str, data: Holdout, seed: int, runs_dir: Path) -> dict[str, Any]:
    """Train candidate `name` (for `pair`, which also gives `one`) and return its record."""
    config = _config(name, seed)
    dataset = data.selection.dataset
    out = runs_dir / dataset.name / f"{name}-seed{seed}"
    start = time.perf_counter()
    result = train(data.selection, config, out, resume=out.exists())
    valid = {k: float(v) for k, v in result.best_metrics.items() if k.startswith("valid_")}
    record: dict[str, Any] = {
        "candidate": name,
        "dataset": dataset.name,
        "seed": seed,
        "valid": valid,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "seconds": time.perf_counter() - start,
        "overrides": CANDIDATES[name],
        "commit": commit(),
        "date": now(),
    }
    if result.members:
        first = result.members[0]
        record["member0_valid"] = {
            k: float(v) for k, v in first.best_metrics.items() if k.startswith("valid_")
        }
    return record


def _records() -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every recorded run, `one` unpacked from each `pair` record."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for path in sorted(RUNS.glob("*.json")):
        rec = json.loads(path.read_text())
        key = (rec["candidate"], rec["dataset"], rec["seed"])
        out[key] = rec
        if rec["candidate"] == "pair":
            one = dict(rec, candidate=REFERENCE, valid=rec["member0_valid"], seconds=None)
            out[(REFERENCE, rec["dataset"], rec["seed"])] = one
    return out


def summarize(records: dict[tuple[str, str, int], dict[str, Any]]) -> dict[str, float]:
    """Per (dataset, candidate) mean validation NDCG@10 over seeds, and per candidate the
    geometric mean of its ratio to `one` and to today's default (`pair`) over the datasets
    that have both (`_datasets` says how many)."""
    metrics: dict[str, float] = {}
    names = [REFERENCE, *CANDIDATES]
    for d in DATASETS:
        for c in names:
            vals = [
                r["valid"]["valid_ndcg@10"]
                for (n, ds, _), r in records.items()
                if (n, ds) == (c, d)
            ]
            if vals:
                metrics[f"{d}/{c}/valid_ndcg@10"] = sum(vals) / len(vals)
    for ref in (REFERENCE, "pair"):
        for c in names:
            logs = [
                math.log(metrics[f"{d}/{c}/valid_ndcg@10"] / metrics[f"{d}/{ref}/valid_ndcg@10"])
                for d in DATASETS
                if f"{d}/{c}/valid_ndcg@10" in metrics and f"{d}/{ref}/valid_ndcg@10" in metrics
            ]
            if logs:
                metrics[f"{c}/geomean_over_{ref}"] = math.exp(sum(logs) / len(logs))
                metrics[f"{c}/geomean_over_{ref}_datasets"] = float(len(logs))
    metrics["selection_reads_test"] = float(
        sum(r.get("selection_reads_test", 0) for r in records.values())
    )
    return metrics


def report_md(metrics: dict[str, float]) -> str:
    names = [REFERENCE, *CANDIDATES]
    rows = []
    for d in DATASETS:
        rows.append([d, *(metrics.get(f"{d}/{c}/valid_ndcg@10", "not run") for c in names)])
    rows.append(
        ["geometric mean / one", *(metrics.get(f"{c}/geomean_over_one", "-") for c in names)]
    )
    rows.append(
        ["geometric mean / pair", *(metrics.get(f"{c}/geomean_over_pair", "-") for c in names)]
    )
    table = markdown_table(["validation NDCG@10", *names], rows)
    return (
        f"{table}\n\nValidation targets only (leave-one-out, second-last event; full ranking, "
        f"seen items excluded); test reads during selection: "
        f"{int(metrics['selection_reads_test'])}. Candidates: "
        + "; ".join(f"`{c}` = {' '.join(CANDIDATES[c]) or 'defaults'}" for c in CANDIDATES)
        + "; `one` = member 0 of `pair`."
    )


def _prepare(name: str, root: Path) -> Holdout:
    """One dataset's protocol: selection reads `.selection`; nothing here opens `.test`."""
    return holdout(load(root / name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--max-hours", type=float, default=None, help="start no run after this")
    parser.add_argument("--data-root", type=Path, default=SHARED)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench-defaults"))
    args = parser.parse_args()
    configure(level="WARNING")
    datasets = [d for d in args.datasets.split(",") if d]
    wanted = [c for c in args.candidates.split(",") if c]
    unknown = sorted(set(datasets) - set(DATASETS)) + sorted(set(wanted) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown dataset or candidate: {', '.join(unknown)}")
    deadline = time.monotonic() + 3600 * args.max_hours if args.max_hours else math.inf
    RUNS.mkdir(parents=True, exist_ok=True)
    for d in datasets:
        data = None
        for seed in (int(s) for s in args.seeds.split(",")):
            # `pair` first: `one`, and a run equal to it, are read from its record.
            for c in ["pair", *[c for c in wanted if c != "pair"]]:
                path = _record_path(c, d, seed)
                if path.exists():
                    continue
                if time.monotonic() > deadline:
                    print(f"stopping at the time budget before {c} on {d}", flush=True)
                    return _write()
                data = data if data is not None else _prepare(d, args.data_root)
                if _same_as_reference(c, data, seed):
                    pair = json.loads(_record_path("pair", d, seed).read_text())
                    rec = dict(pair, candidate=c, valid=pair["member0_valid"], same_as=REFERENCE)
                    rec.pop("member0_valid")
                else:
                    rec = _run(c, data, seed, args.runs_dir)
                rec["selection_reads_test"] = data.selection_reads_test
                path.write_text(json.dumps(rec, indent=2) + "\n")
                print(f"{d} {c} seed {seed}: {rec['valid']}", flush=True)
    _write()


def _write() -> None:
    metrics = summarize(_records())
    write_results("defaults", metrics, report_md(metrics))


if __name__ == "__main__":
    main()
