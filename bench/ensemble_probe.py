"""What summing the scores of independently trained interest models would buy, full ranking.

The measurement behind the default `model.members = 2`. This reads the single models a
`bench/quality.py` run left in its `--runs-dir`, one per seed: `{dataset}/seed{s}/` for a
one-model config, or its `member-0/` for an ensemble (member 0 keeps the seed, so it is the
model one-model training with that seed gives), and scores the test users of the same
leave-one-out split with each checkpoint alone, with every pair and with all of them together
(scores summed; seen items excluded; ties count against the target, as in quality.py).

Why a sum is servable: every member scores cos(u_k, i_k) / T with the same T, so the sum ranks
items exactly as the cosine of the concatenated unit vectors [u_1, u_2] and [i_1, i_2] does:
one V_u and one V_i per item, twice as wide.

    python bench/ensemble_probe.py --runs-dir /tmp/lead/qruns --datasets sports,beauty

Writes bench/results/ensemble_probe.json and .md (or `ensemble_probe_<label>.*`), keys
`{dataset}/{single,pairs,all}/{hr@10,ndcg@10,mrr}`: single = mean over the checkpoints
alone, pairs = mean over every pair, all = every checkpoint summed; plus
`{dataset}/checkpoints`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import SHARED, markdown_table, write_results
from attune.data import load
from attune.data.splits import leave_one_out
from attune.evaluation import evaluate, leave_one_out_task
from attune.log import configure
from attune.model.scorer import EncoderScorer, SummedScorer
from attune.training import load_checkpoint
from attune.training.checkpoint import is_ensemble, member_dir

METRICS = ("hr@10", "ndcg@10", "mrr")


def seed_dirs(folder: Path) -> list[Path]:
    """The single model of each finished quality.py run `seed<N>/` (not `--quick` ones)."""
    found = []
    for run in sorted(p for p in folder.glob("seed*") if p.name[4:].isdigit()):
        single = member_dir(run, 0) if is_ensemble(run) else run
        if (single / "model.pt").exists():
            found.append(single)
    return found


def probe(name: str, runs: Path, data_root: Path) -> tuple[dict[str, float], list[list[object]]]:
    ds = load(data_root / name)
    task = leave_one_out_task(leave_one_out(ds.interactions), ds.n_users, "test")
    dirs = seed_dirs(runs / name)
    if len(dirs) < 2:
        raise SystemExit(f"{runs / name}: need at least two seed*/ checkpoints, found {len(dirs)}")
    members = {str(d.relative_to(runs)): EncoderScorer(load_checkpoint(d).encoder) for d in dirs}

    def score(keys: tuple[str, ...]) -> dict[str, float]:
        scorer = SummedScorer([members[k] for k in keys])
        result = evaluate(scorer, task.users, task.histories, task.targets, ds.n_items)
        return {m: result.metrics[m] for m in METRICS}

    groups = {
        "single": [score((k,)) for k in members],
        "pairs": [score(p) for p in itertools.combinations(members, 2)],
        "all": [score(tuple(members))],
    }
    metrics: dict[str, float] = {f"{name}/checkpoints": float(len(members))}
    rows: list[list[object]] = []
    for group, results in groups.items():
        for m in METRICS:
            metrics[f"{name}/{group}/{m}"] = float(np.mean([r[m] for r in results]))
        rows.append([name, group, len(results)] + [metrics[f"{name}/{group}/{m}"] for m in METRICS])
    return metrics, rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, required=True, help="quality.py's --runs-dir")
    parser.add_argument("--datasets", default="sports,beauty,lastfm,ml-100k")
    parser.add_argument("--data-root", type=Path, default=SHARED)
    parser.add_argument("--label", default="", help="suffix of the result file names")
    args = parser.parse_args(argv)
    configure(level="warning")
    metrics: dict[str, float] = {}
    rows: list[list[object]] = []
    provenance: dict[str, object] = {}
    for name in args.datasets.split(","):
        got, got_rows = probe(name, args.runs_dir, args.data_root)
        metrics.update(got)
        rows += got_rows
        configs = [
            json.loads((d / "config.json").read_text()) for d in seed_dirs(args.runs_dir / name)
        ]
        provenance[name] = {
            "seeds": [c["train"]["train"]["seed"] for c in configs],
            "encoder": {k: v for k, v in configs[0]["encoder"].items() if k != "n_items"},
        }
    header = ["dataset", "models summed", "combinations", *METRICS]
    body = (
        "Test split, full ranking, seen items excluded. single = each checkpoint alone "
        "(mean), pairs = every pair of checkpoints with summed scores (mean), all = every "
        "checkpoint summed.\n\n" + markdown_table(header, rows)
    )
    name = "ensemble_probe" + (f"_{args.label}" if args.label else "")
    write_results(name, metrics, body, extra={"provenance": provenance})


if __name__ == "__main__":
    main(sys.argv[1:])
