"""Training speed: wall time for Attune to reach RecBole 1.2.1 SASRec's validation NDCG@10.

Both train on ml-100k with the same architecture and optimisation settings (2 layers, 64 dims,
2 heads, at most 50 events, dropout 0.5, full-softmax cross-entropy, batch 256, lr 1e-3, seed
2020), on the same machine with the same number of threads (2), and both validate after every
epoch on the same leave-one-out split (per user the last event is the test target, the second
last the validation target; full ranking with the user's seen items removed). RecBole trains N
epochs (15); its best validation NDCG@10 within them is the target, and the wall time of the
first epoch that reached it is RecBole's time to target. Attune then trains with its usual early
stopping; its time to target is the clock at its first validation at or above the target. Both
clocks count training plus validation of each epoch; loading the data and building the model
are reported apart (`setup_seconds`). Test metrics: each system's best-validation epoch.

    python bench/training_speed.py                     # RecBole 15 epochs (about an hour), Attune
    python bench/training_speed.py --skip-recbole-run bench/results/training_speed_recbole.json
    python bench/training_speed.py --recbole-epochs 1  # smoke: proves the peer, times an epoch
    python bench/training_speed.py --target 0.0705     # smoke: Attune alone, target given

Writes bench/results/training_speed.{json,md} (metrics `attune/seconds_to_target`,
`recbole/seconds_to_target`, `speedup`, both systems' test NDCG@10 and Recall@10, ...),
training_speed_curve.png, and RecBole's raw result, training_speed_recbole.json, for reuse with
--skip-recbole-run. Smoke runs never replace those: fewer than 15 RecBole epochs write
training_speed_smoke.* (RecBole's raw result goes to bench/.cache/), and --target writes
training_speed_attune_only.*.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attune  # noqa: F401  (sets the OpenMP wait policy before torch loads)
from _report import RESULTS, SHARED, commit, machine, markdown_table, write_results
from attune.data import Dataset, load
from attune.data.splits import LeaveOneOut, leave_one_out
from attune.evaluation import EvaluationResult, evaluate, leave_one_out_task
from attune.log import configure
from attune.model import EncoderScorer
from attune.model.encoder import EncoderConfig
from attune.training import TrainConfig, TrainResult, apply_overrides, config_to_dict
from attune.training.trainer import Trainer
from peers.recbole_runner import load_result, run_recbole

DEFAULT_EPOCHS = 15
SEED = 2020
THREADS = 2
DATASET = "ml-100k"
CACHE = Path(__file__).resolve().parent / ".cache"
RAW_RECBOLE = "training_speed_recbole.json"
PROTOCOL_MD = (
    "ml-100k, leave-one-out by time, full ranking with seen items removed. Both systems: 2 "
    "layers, 64 dims, 2 heads, at most 50 events, dropout 0.5, full-softmax cross-entropy, "
    "batch 256, lr 1e-3, seed 2020, 2 threads, CPU, validation after every epoch. Seconds are "
    "cumulative training plus validation time per epoch; loading data and building the model "
    "are the `setup s` column. Test metrics are those of each system's best validation epoch."
)


@dataclass(frozen=True)
class Curve:
    """Validation NDCG@10 after each epoch and the cumulative wall seconds at that point."""

    seconds: tuple[float, ...]
    ndcg: tuple[float, ...]

    @classmethod
    def from_history(cls, history: Sequence[Mapping[str, float]]) -> Curve:
        """From per-epoch rows with `seconds` and `valid_ndcg@10` (RecBole peer and Attune)."""
        return cls(
            tuple(float(row["seconds"]) for row in history),
            tuple(float(row["valid_ndcg@10"]) for row in history),
        )

    def best(self) -> tuple[int, float]:
        """(1-based epoch, NDCG@10) of the first epoch with the highest validation NDCG@10."""
        if not self.ndcg:
            raise ValueError("empty curve")
        epoch = max(range(len(self.ndcg)), key=lambda i: (self.ndcg[i], -i))
        return epoch + 1, self.ndcg[epoch]

    def first_reaching(self, target: float) -> tuple[int, float] | None:
        """(1-based epoch, seconds) of the first validation at or above `target`, or None."""
        for epoch, (seconds, ndcg) in enumerate(zip(self.seconds, self.ndcg, strict=True)):
            if ndcg >= target:
                return epoch + 1, seconds
        return None


def held_out_items(dataset: Dataset, split: LeaveOneOut) -> dict[str, dict[str, str]]:
    """Per part ("valid", "test"): external user id -> external id of its held-out item."""
    return {
        part: dict(
            zip(dataset.users.decode(held.users), dataset.items.decode(held.items), strict=True)
        )
        for part, held in (("valid", split.valid), ("test", split.test))
    }


def split_mismatches(
    ours: Mapping[str, Mapping[str, str]], theirs: Mapping[str, Mapping[str, str]]
) -> dict[str, list[str]]:
    """Per part, the users whose held-out item differs (a user held out on one side only too)."""
    out: dict[str, list[str]] = {}
    for part in ("valid", "test"):
        a, b = ours[part], theirs[part]
        out[part] = sorted(u for u in a.keys() | b.keys() if a.get(u) != b.get(u))
    return out


def attune_config(seed: int, threads: int, overrides: Sequence[str] = ()) -> TrainConfig:
    """Attune's default config with RecBole SASRec's architecture and optimiser settings."""
    base = TrainConfig()
    model = base.model.model_copy(
        update={
            "dim": 64,
            "n_layers": 2,
            "n_heads": 2,
            "dropout": 0.5,
            "attn_dropout": 0.5,  # RecBole's attn_dropout_prob
            "max_len": 50,
            "members": 1,  # one SASRec-shaped model against RecBole's one
        }
    )
    fit = base.train.model_copy(
        update={
            "loss": "softmax",
            "batch_size": 256,
            "lr": 1e-3,
            "seed": seed,
            "threads": threads,
            "device": "cpu",  # RecBole's side runs on the CPU; so does this one, even with a GPU
            "progress": False,
            "tensorboard": False,
        }
    )
    return apply_overrides(TrainConfig(model=model, train=fit), list(overrides))


@dataclass(frozen=True)
class AttuneRun:
    dataset: Dataset
    split: LeaveOneOut
    train: TrainResult
    test: EvaluationResult
    setup_seconds: float
    encoder: EncoderConfig
    """The model as resolved for the data (whether attributes and event types are used)."""


def run_attune(data_dir: Path, config: TrainConfig) -> AttuneRun:
    """Loads the data, trains with early stopping and evaluates the best epoch on test."""
    start = time.perf_counter()
    dataset = load(data_dir)
    split = leave_one_out(dataset.interactions)
    trainer = Trainer(dataset, config, None)  # withholds the test events itself
    setup_seconds = time.perf_counter() - start
    result = trainer.fit()  # leaves the best validation epoch's weights in trainer.model
    task = leave_one_out_task(split, dataset.n_users, "test")
    test = evaluate(
        EncoderScorer(trainer.model),
        task.users,
        task.histories,
        task.targets,
        dataset.n_items,
        k=10,
        seed=config.train.seed,
    )
    return AttuneRun(dataset, split, result, test, setup_seconds, trainer.encoder_config)


def recbole_metrics(peer: Mapping[str, Any], target: float) -> dict[str, float]:
    curve = Curve.from_history(peer["history"])
    reached = curve.first_reaching(target)
    assert reached is not None, "RecBole's own best epoch reaches its target"
    return {
        "recbole/seconds_to_target": reached[1],
        "recbole/epoch_to_target": reached[0],
        "recbole/epochs": len(curve.ndcg),
        "recbole/seconds_per_epoch": curve.seconds[-1] / len(curve.seconds),
        "recbole/setup_seconds": peer["setup_seconds"],
        "recbole/best_epoch": peer["best_epoch"],
        "recbole/best_valid_ndcg@10": peer["best_valid"]["ndcg@10"],
        "recbole/best_valid_recall@10": peer["best_valid"]["recall@10"],
        "recbole/test_ndcg@10": peer["test"]["ndcg@10"],
        "recbole/test_recall@10": peer["test"]["recall@10"],
    }


def attune_metrics(run: AttuneRun, target: float) -> dict[str, float]:
    curve = Curve.from_history(run.train.history)
    best = run.train.history[run.train.best_epoch - 1]
    out = {
        "attune/reached_target": 0.0,
        "attune/epochs": run.train.epochs,
        "attune/seconds_per_epoch": run.train.seconds / run.train.epochs,
        "attune/train_seconds": run.train.seconds,
        "attune/setup_seconds": run.setup_seconds,
        "attune/best_epoch": run.train.best_epoch,
        "attune/best_valid_ndcg@10": best["valid_ndcg@10"],
        "attune/best_valid_recall@10": best["valid_hr@10"],  # one target: HR@10 = Recall@10
        "attune/test_ndcg@10": run.test.ndcg,
        "attune/test_recall@10": run.test.hr,
    }
    reached = curve.first_reaching(target)
    if reached is not None:
        out["attune/reached_target"] = 1.0
        out["attune/epoch_to_target"] = reached[0]
        out["attune/seconds_to_target"] = reached[1]
    return out


def differences_note(run: AttuneRun, config: TrainConfig) -> str:
    """What Attune does beyond the shared settings, read from the config it actually ran."""
    enc, fit = run.encoder, config.train
    extras = []
    if enc.n_item_tokens:
        extras.append(
            f"item attribute embeddings ({enc.n_item_tokens} tokens; "
            "`--set model.item_attributes=false` turns them off)"
        )
    if enc.n_event_types:
        extras.append(f"event-type embeddings ({enc.n_event_types} types)")
    if enc.n_user_tokens:
        extras.append(f"user attribute embeddings ({enc.n_user_tokens} tokens)")
    cosine = f"cosine scores divided by a temperature of {enc.temperature}"
    extras.append(cosine if enc.scoring == "cosine" else "dot-product scores")
    extras.append(
        f"AdamW with {fit.warmup_steps} warm-up steps"
        + (f" and gradient clipping at {fit.grad_clip}" if fit.grad_clip > 0 else "")
    )
    windows = "every window" if fit.windows == "all" else "the last window"
    extras.append(f"a target at every position of {windows} of each history")
    return (
        "Attune beyond the shared settings: " + "; ".join(extras) + ". RecBole's SASRec: Adam, "
        "dot-product scores, one target per history prefix (its data augmentation)."
    )


def files_identical(a: Path, b: Path) -> bool:
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    return digest[0] == digest[1]


def report_md(
    metrics: Mapping[str, float], source: str, notes: Sequence[str], *, recbole_reused: bool
) -> str:
    def cell(key: str, fmt: str = "{:.4f}") -> str:
        return fmt.format(metrics[key]) if key in metrics else "—"

    rows = []
    for system in ("recbole", "attune"):
        p = f"{system}/"
        if p + "epochs" not in metrics:
            continue
        reached = p + "seconds_to_target" in metrics
        rows.append(
            [
                "Attune"
                if system == "attune"
                else "RecBole 1.2.1 SASRec" + (" (loaded: NOT this run)" if recbole_reused else ""),
                cell(p + "epochs", "{:.0f}"),
                cell(p + "seconds_per_epoch", "{:.1f}"),
                cell(p + "epoch_to_target", "{:.0f}") if reached else "not reached",
                cell(p + "seconds_to_target", "{:.1f}") if reached else "—",
                f"{cell(p + 'best_valid_ndcg@10')} (epoch {cell(p + 'best_epoch', '{:.0f}')})",
                cell(p + "test_ndcg@10"),
                cell(p + "test_recall@10"),
                cell(p + "setup_seconds", "{:.1f}"),
            ]
        )
    header = ["system", "epochs", "s/epoch", "target at epoch", "s to target"]
    header += ["best valid NDCG@10", "test NDCG@10", "test Recall@10", "setup s"]
    target = f"Target: validation NDCG@10 >= {metrics['target/valid_ndcg@10']:.4f} ({source})."
    lines = [PROTOCOL_MD, "", target, "", markdown_table(header, rows)]
    if "speedup" in metrics:
        lines += ["", f"**Speed-up to target: {metrics['speedup']:.1f}x** (RecBole s / Attune s)."]
    lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines)


def plot_curves(curves: Mapping[str, Curve], target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, curve in curves.items():
        ax.plot(curve.seconds, curve.ndcg, marker=".", label=label)
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds (training + validation, 2 threads)")
    ax.set_ylabel("validation NDCG@10")
    ax.set_title("ml-100k: validation NDCG@10 against training time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def obtain_recbole(args: argparse.Namespace, raw_path: Path) -> tuple[dict[str, Any], str]:
    """RecBole's result and where it came from, running the peer unless told to reuse a file."""
    if args.skip_recbole_run is not None:
        peer = load_result(args.skip_recbole_run)
        when = peer.get("saved_by", {}).get("date", "at an unknown date")
        return peer, f"RecBole NOT run now: loaded from {args.skip_recbole_run}, measured {when}"
    epochs = args.recbole_epochs
    print(f"RecBole SASRec: {epochs} epochs on {THREADS} threads ...", file=sys.stderr, flush=True)
    timeout = args.recbole_timeout or epochs * 600.0 + 600.0
    peer = run_recbole(epochs, timeout, threads=THREADS, seed=SEED, progress=True)
    peer["saved_by"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit(),
    }
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps(peer) + "\n")
    return peer, f"RecBole measured in this run; its raw result is {raw_path}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--skip-recbole-run", type=Path, metavar="FILE", help="reuse a saved RecBole result"
    )
    source.add_argument(
        "--target",
        type=float,
        help="smoke mode: no RecBole at all; Attune alone against this validation NDCG@10",
    )
    parser.add_argument("--recbole-epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--recbole-timeout", type=float, help="seconds (default: 600 per epoch)")
    parser.add_argument("--data", type=Path, default=SHARED / DATASET, help="Attune's data folder")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    args = parser.parse_args(argv)
    if args.recbole_epochs <= 0:
        parser.error("--recbole-epochs must be positive")
    configure(level="info")

    peer: dict[str, Any] | None = None
    if args.target is None:
        smoke = args.recbole_epochs < DEFAULT_EPOCHS
        raw = CACHE / "training_speed_smoke_recbole.json" if smoke else RESULTS / RAW_RECBOLE
        peer, source_note = obtain_recbole(args, raw)
        smoke = smoke or peer["epochs"] < DEFAULT_EPOCHS
        name = "training_speed_smoke" if smoke else "training_speed"
        target = float(max(row["valid_ndcg@10"] for row in peer["history"]))
        epochs = peer["epochs"]
        target_source = f"RecBole's best within {epochs} epoch{'s' if epochs > 1 else ''}"
    else:
        smoke, name, target = True, "training_speed_attune_only", args.target
        source_note = "RecBole NOT run: target given on the command line (--target)"
        target_source = "given with --target, not measured in this run"

    config = attune_config(SEED, THREADS, args.overrides)
    print(f"Attune: training on {args.data} ...", file=sys.stderr, flush=True)
    run = run_attune(args.data, config)

    metrics: dict[str, float] = {"target/valid_ndcg@10": target}
    metrics |= attune_metrics(run, target)
    notes = [source_note + ".", differences_note(run, config)]
    curves = {"Attune": Curve.from_history(run.train.history)}
    extra: dict[str, Any] = {"attune_config": config_to_dict(config), "smoke": smoke}
    extra["attune_encoder"] = dataclasses.asdict(run.encoder)
    extra["attune_curve"] = [[h["seconds"], h["valid_ndcg@10"]] for h in run.train.history]
    if peer is not None:
        compare_with_recbole(peer, run, args.data, metrics, notes, extra)
        curves["RecBole SASRec"] = Curve.from_history(peer["history"])
    extra["recbole_source"] = source_note
    if smoke:
        notes.append("SMOKE RUN: not the comparison the issue asks for (see the docstring).")
    reused = args.skip_recbole_run is not None
    body = report_md(metrics, target_source, notes, recbole_reused=reused)
    write_results(name, metrics, body, extra=extra)
    plot_curves(curves, target, RESULTS / f"{name}_curve.png")


def compare_with_recbole(
    peer: Mapping[str, Any],
    run: AttuneRun,
    data: Path,
    metrics: dict[str, float],
    notes: list[str],
    extra: dict[str, Any],
) -> None:
    """Adds RecBole's numbers, the speed-up and the checks that both saw the same data."""
    metrics |= recbole_metrics(peer, metrics["target/valid_ndcg@10"])
    if "attune/seconds_to_target" in metrics:
        metrics["speedup"] = (
            metrics["recbole/seconds_to_target"] / metrics["attune/seconds_to_target"]
        )
    mismatched = split_mismatches(held_out_items(run.dataset, run.split), peer["split"])
    metrics["split/users"] = run.dataset.n_users
    metrics["split/valid_mismatched_users"] = len(mismatched["valid"])
    metrics["split/test_mismatched_users"] = len(mismatched["test"])
    notes.append(_split_note(mismatched, run.dataset.n_users))
    bundled = Path(peer["data_path"]).resolve() / f"{DATASET}.inter"
    ours = data / f"{DATASET}.inter"
    if bundled.is_file() and ours.is_file():
        same = files_identical(bundled, ours)
        metrics["data/identical_inter_files"] = float(same)
        verdict = "byte-identical." if same else "THE FILES DIFFER."
        notes.append(f"Data: RecBole read {bundled}, Attune {ours}: {verdict}")
    extra |= {
        "recbole_config": peer.get("config"),
        "recbole_curve": [[h["seconds"], h["valid_ndcg@10"]] for h in peer["history"]],
        "split_mismatched_users": mismatched,
    }


def _split_note(mismatched: Mapping[str, list[str]], n_users: int) -> str:
    if not mismatched["valid"] and not mismatched["test"]:
        return f"Split check: both systems hold out the same items for all {n_users} users."
    return (
        f"Split check: the held-out item differs for {len(mismatched['valid'])} validation and "
        f"{len(mismatched['test'])} test users of {n_users}. RecBole stores timestamps as "
        "float32 (min-max normalised), which merges events a second or two apart; they then "
        "keep file order, while Attune orders by the exact timestamp."
    )


if __name__ == "__main__":
    main()
