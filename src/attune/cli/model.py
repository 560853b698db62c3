"""`attune train`, `attune evaluate` and `attune recommend` (offline, from stored history)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attune.cli.errors import user_errors
from attune.cli.users import PSEUDONYM_KEY, pseudonyms_of

if TYPE_CHECKING:
    from attune.data.dataset import Dataset
    from attune.data.events import WindowRule
    from attune.data.pseudonyms import Pseudonyms
    from attune.evaluation import EvaluationResult
    from attune.training.config import TrainConfig
    from attune.training.result import TrainResult


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("recommend")(recommend)


def _dataset(src: Path, pseudonyms: Pseudonyms | None = None) -> Dataset:
    """A dataset folder/file, or an Attune database (`.db`). `pseudonyms`: the key chain a
    file's user ids are mapped by (a database stores them mapped already)."""
    from attune.data.importers import load
    from attune.stores import open_storage

    if src.suffix == ".db":
        if not src.exists():
            raise FileNotFoundError(f"{src}: no such database")
        with open_storage(src) as store:
            return store.to_dataset()
    dataset = load(src)
    return dataset if pseudonyms is None else pseudonyms.dataset(dataset)


def train(
    ctx: typer.Context,
    data: Path = typer.Option(
        ..., "--data", metavar="SOURCE", help="Dataset folder/file or Attune database."
    ),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Directory for the checkpoint."),
    config: Path | None = typer.Option(None, "--config", metavar="FILE", help="TOML config file."),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override a key, e.g. train.lr=1e-3."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out."),
    pseudonym_key_file: Path | None = PSEUDONYM_KEY,
    nproc: int = typer.Option(
        1,
        "--nproc",
        metavar="N",
        min=1,
        help="Train data-parallel in N local processes (DDP; each takes 1/N of every batch). "
        "Across machines, start `python -m attune.cli train` with torchrun instead.",
    ),
) -> None:
    """Train the interest model with leave-one-out validation and early stopping.

    With a pseudonym key, a dataset file's user ids are replaced by their pseudonyms before
    training (the checkpoint's users.json holds no raw id); a database holds them already."""
    import os

    from attune.training.checkpoint import CheckpointError
    from attune.training.config import ConfigError, load_config
    from attune.training.trainer import train as train_model

    if nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise typer.BadParameter("cannot be used under torchrun", param_hint="--nproc")
    with user_errors(ConfigError, CheckpointError):
        cfg = load_config(config, set_)
        dataset = _dataset(data, pseudonyms_of(pseudonym_key_file))
        if nproc > 1:
            result = _train_processes(ctx, dataset, cfg, out, nproc, resume)
        else:
            result = train_model(dataset, cfg, out, resume=resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 reports
    best = ", ".join(f"{k} {v:.4f}" for k, v in result.best_metrics.items())
    if result.members:
        epochs = ", ".join(f"{m.best_epoch} of {m.epochs}" for m in result.members)
        typer.echo(
            f"ensemble of {len(result.members)} ({best}); best epochs {epochs}; "
            f"{result.seconds:.0f} s; checkpoint in {out}"
        )
        return
    typer.echo(
        f"best epoch {result.best_epoch} of {result.epochs} ({best}); "
        f"{result.seconds:.0f} s; checkpoint in {out}"
    )


def _train_processes(
    ctx: typer.Context, dataset: Dataset, cfg: TrainConfig, out: Path, nproc: int, resume: bool
) -> TrainResult:
    """`attune train --nproc N`: the workers log as the command line asked."""
    from attune.training.launch import train_processes

    root = ctx.find_root().params
    return train_processes(
        dataset,
        cfg,
        out,
        nproc,
        resume=resume,
        log_level=root.get("log_level", "warning"),
        log_format="json" if root.get("log_json") else "console",
    )


# The options of `attune evaluate --protocol stream` alone.
PROTOCOL = typer.Option(
    "loo",
    "--protocol",
    metavar="loo|stream",
    help="loo: leave-one-out test metrics; stream: prequential replay of the newest events "
    "(static lists vs real-time state vs real-time state + fine-tuning).",
)
STREAM_OUT = typer.Option(
    None,
    "--out",
    metavar="DIR",
    help="stream: working directory; stream.json, stream.md, stream.png.",
)
TRAIN_FRACTION = typer.Option(0.8, "--train-fraction", metavar="FRACTION", help="stream: time cut.")
FINETUNE_EVERY = typer.Option(
    2000, "--finetune-every", metavar="EVENTS", min=1, help="stream: events."
)
MAX_EVENTS = typer.Option(None, "--max-events", metavar="EVENTS", min=1, help="stream: limit.")
STREAM_CONFIG = typer.Option(None, "--config", metavar="FILE", help="stream: training TOML config.")
STREAM_SET = typer.Option(
    [], "--set", metavar="KEY=VALUE", help="stream: training override key=value."
)


def evaluate(
    model: Path | None = typer.Option(
        None,
        "--model",
        metavar="DIR",
        help="Checkpoint directory (stream: one trained on the first part).",
    ),
    data: Path = typer.Option(
        ..., "--data", metavar="SOURCE", help="Dataset folder/file or Attune database."
    ),
    k: int = typer.Option(10, "-k", metavar="N", min=1, help="Cut-off of the ranking metrics."),
    keep_seen: bool = typer.Option(False, "--keep-seen", help="Do not exclude seen items."),
    window: str = typer.Option(
        "positive",
        "--window",
        metavar="positive|all",
        help="Events in a user's window, as the server's `window` setting: positive ones "
        "(the default) or every event but hide.",
    ),
    per_user: Path | None = typer.Option(
        None, "--per-user", metavar="FILE", help="Save per-user rows (CSV)."
    ),
    protocol: str = PROTOCOL,
    out: Path | None = STREAM_OUT,
    train_fraction: float = TRAIN_FRACTION,
    finetune_every: int = FINETUNE_EVERY,
    max_events: int | None = MAX_EVENTS,
    config: Path | None = STREAM_CONFIG,
    set_: list[str] = STREAM_SET,
) -> None:
    """Test metrics over ALL items (full ranking, seen items excluded): leave-one-out with 95%
    bootstrap CIs, or the streaming protocol."""
    if protocol == "stream":
        _evaluate_stream(
            model, data, k, out, train_fraction, finetune_every, max_events, config, set_
        )
        return
    if protocol != "loo":
        raise typer.BadParameter("must be loo or stream", param_hint="--protocol")
    if model is None:
        raise typer.BadParameter("is required with --protocol loo", param_hint="--model")
    if window not in ("positive", "all"):
        raise typer.BadParameter("must be positive or all", param_hint="--window")
    result = _evaluate_leave_one_out(
        model, data, k, exclude_seen=not keep_seen, window="all" if window == "all" else "positive"
    )
    for name, value in result.metrics.items():
        low, high = result.ci95.get(name, (float("nan"), float("nan")))
        ci = f"  (95% CI {low:.4f} .. {high:.4f})" if not math.isnan(low) else ""
        typer.echo(f"{name:<22} {value:.4f}{ci}")
    typer.echo(f"{'users':<22} {result.n_users}")
    if per_user is not None:
        result.per_user.save(per_user)
        typer.echo(f"per-user results in {per_user}")
    typer.echo(json.dumps({"metrics": result.metrics}), err=True)


def _evaluate_leave_one_out(
    model: Path, data: Path, k: int, *, exclude_seen: bool, window: WindowRule
) -> EvaluationResult:
    """The checkpoint's test metrics on `data`'s leave-one-out split (its newest events)."""
    from attune.data.splits import leave_one_out
    from attune.evaluation import evaluate as evaluate_ranking
    from attune.evaluation import item_counts, leave_one_out_task
    from attune.training.checkpoint import CheckpointError, load_members
    from attune.training.recommend import served_scorer

    with user_errors(CheckpointError):
        members = load_members(model)
        loaded = members[0]
        dataset = _dataset(data)
        if dataset.items.ids != loaded.items.ids[: dataset.n_items]:
            raise CheckpointError(f"{model} was trained on other item ids than {data}")
        split = leave_one_out(dataset.interactions)
        task = leave_one_out_task(split, dataset.n_users, "test")
        # Scored as the server scores: event types, user attributes, the ensemble's join.
        return evaluate_ranking(
            served_scorer(members, dataset, window),
            task.users,
            task.histories,
            task.targets,
            loaded.encoder_config.n_items,
            k=k,
            exclude_seen=exclude_seen,
            item_popularity=item_counts(split.train.items, loaded.encoder_config.n_items),
        )


def _evaluate_stream(
    model: Path | None,
    data: Path,
    k: int,
    out: Path | None,
    train_fraction: float,
    finetune_every: int,
    max_events: int | None,
    config: Path | None,
    overrides: list[str],
) -> None:
    import tempfile

    from attune.learning.stream import StreamConfig, stream_evaluate
    from attune.learning.stream_report import plot, table
    from attune.training.checkpoint import CheckpointError
    from attune.training.config import ConfigError, load_config

    with user_errors(ConfigError, CheckpointError, ValueError):
        train_config = load_config(config, overrides)
        stream_config = StreamConfig(
            train_fraction=train_fraction,
            k=k,
            finetune_every=finetune_every,
            max_events=max_events,
        )
        dataset = _dataset(data)
        workdir = out or Path(tempfile.mkdtemp(prefix="attune-stream-"))
        report = stream_evaluate(
            dataset,
            workdir,
            stream_config,
            train_config,
            progress=lambda line: typer.echo(line, err=True),
            model=model,
        )
    metrics = report.metrics(k)
    text = table(report, k)
    typer.echo(text)
    (workdir / "stream.md").write_text(text + "\n", encoding="utf-8")
    (workdir / "stream.json").write_text(json.dumps({"metrics": metrics}, indent=2), "utf-8")
    plot(report, workdir / "stream.png", stream_config.bucket, k)
    typer.echo(f"report: {workdir}/stream.json, stream.md, stream.png")


def recommend(
    model: Path = typer.Option(..., "--model", metavar="DIR", help="Checkpoint directory."),
    user: str = typer.Option(..., "--user", metavar="USER_ID", help="External user id."),
    k: int = typer.Option(10, "-k", metavar="N", min=1, help="How many items."),
    data: Path | None = typer.Option(
        None,
        "--data",
        metavar="SOURCE",
        help="History source (default: the "
        "model's training data is not stored; give the dataset "
        "or database).",
    ),
    pseudonym_key_file: Path | None = PSEUDONYM_KEY,
) -> None:
    """Top-k for a user from their stored history (offline; `attune serve` is real-time)."""
    from attune.training.checkpoint import CheckpointError, load_members
    from attune.training.recommend import recommend_offline, user_history

    with user_errors(CheckpointError, KeyError, ValueError):
        members = load_members(model)
        loaded = members[0]
        if data is None:
            raise ValueError("--data is needed: the user's history is read from it")
        chain = pseudonyms_of(pseudonym_key_file)
        dataset = _dataset(data, chain)
        uidx = dataset.users.get(user if chain is None else chain(user))
        if uidx < 0:
            raise KeyError(f"user {user!r} is not in {data}")
        history_ext = dataset.items.decode(dataset.sequences()[uidx])
        history = user_history(dataset, uidx, loaded)
        # The server's list and scores (cosine), business filters and diversity off.
        items, scores = recommend_offline(
            members,
            history.items,
            k,
            event_types=history.event_types,
            user_tokens=history.tokens,
            seen=history.seen,
        )
    titles = dataset.item_titles
    typer.echo(
        f"user {user}: {len(history_ext)} events; last: "
        + ", ".join(_name(dataset, dataset.items.index(i)) for i in history_ext[-3:])
    )
    for rank, (item, score) in enumerate(zip(items.tolist(), scores.tolist(), strict=True), 1):
        ext = loaded.items.external(item)
        didx = dataset.items.get(ext)
        title = titles.get(didx, "") if didx >= 0 else ""
        typer.echo(f"{rank:>3}. {ext:<10} {score:7.4f}  {title}")


def _name(dataset: Dataset, idx: int) -> str:
    return dataset.item_titles.get(idx, dataset.items.external(idx))
