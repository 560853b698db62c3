"""Streaming (prequential) evaluation: what real-time state and continuous learning are worth.

Events are sorted by time; the model trains on the first `train_fraction` of them; the rest are
replayed in order. For each replayed event the variant first recommends (seen items excluded)
and scores a hit if the event's item is in the top k, then learns the event. Variants:

- static: the top `static_depth` per user computed once at the cut with the frozen model
  (popularity for users unknown then), items the user has seen since removed at serving time,
  never recomputed: what a batch engine that recomputes on a schedule serves between runs;
- realtime: the real engine (SQLite log, user state, V_u refreshed per event), frozen model;
- finetune: the same engine plus a fine-tuning round (`fine_tune`) every `finetune_every`
  events, the new version hot-swapped in when published.

Every variant sees the same events and the same scoring; the engine variants run the code that
serves requests, not a simulation of it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attune.data.dataset import Dataset
from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine, load_model
from attune.learning.finetune import FineTuneConfig, FineTuneOutcome, fine_tune, warm_up_optimizer
from attune.learning.registry import DataWindow, ModelRegistry
from attune.log import get_logger
from attune.ports import Durability
from attune.stores import open_storage
from attune.training.config import TrainConfig
from attune.training.trainer import train

_log = get_logger(__name__)

Variant = Literal["static", "realtime", "finetune"]
VARIANTS: tuple[Variant, ...] = ("static", "realtime", "finetune")


class StreamConfig(BaseModel):
    """The protocol's knobs, each with its default."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    train_fraction: float = Field(0.8, gt=0.0, lt=1.0)
    """Share of the events (by time) the model trains on before the replay."""
    k: int = Field(10, ge=1)
    """List length scored."""
    static_depth: int = Field(200, ge=1)
    """Items per user in the static lists."""
    finetune_every: int = Field(2000, ge=1)
    """Fine-tuning round after this many replayed events (finetune variant)."""
    window: Literal["positive", "all"] = "all"
    """Engine window: `all` because the trainer learns from every rating, low ones included,
    and the protocol scores every event."""
    max_events: int | None = Field(None, ge=1)
    """Replay only this many events (quick runs); None = all of them."""
    bucket: int = Field(1000, ge=1)
    """Events per point of the over-time curves."""
    finetune: FineTuneConfig = FineTuneConfig(min_events=200, holdout_fraction=0.1)
    """Fine-tuning settings of the finetune variant."""


@dataclass
class VariantResult:
    name: str
    hits: np.ndarray
    ndcg: np.ndarray
    seconds: float
    """Wall time of the replay (recommend + learn for every event, fine-tuning included)."""

    @property
    def hr(self) -> float:
        return float(self.hits.mean()) if len(self.hits) else float("nan")

    @property
    def mean_ndcg(self) -> float:
        return float(self.ndcg.mean()) if len(self.ndcg) else float("nan")

    def curve(self, bucket: int) -> list[tuple[int, float, float]]:
        """(events so far, HR, NDCG) per consecutive bucket of events."""
        out = []
        for lo in range(0, len(self.hits), bucket):
            hi = min(lo + bucket, len(self.hits))
            out.append((hi, float(self.hits[lo:hi].mean()), float(self.ndcg[lo:hi].mean())))
        return out


@dataclass
class StreamReport:
    dataset: str
    train_events: int
    test_events: int
    train_seconds: float
    results: dict[str, VariantResult] = field(default_factory=dict)
    rounds: list[FineTuneOutcome] = field(default_factory=list)
    round_at: list[int] = field(default_factory=list)
    """Replayed events when each fine-tuning round ran."""

    def metrics(self, k: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, r in self.results.items():
            out[f"{name}/hr@{k}"] = r.hr
            out[f"{name}/ndcg@{k}"] = r.mean_ndcg
            out[f"{name}/replay_events_per_s"] = len(r.hits) / r.seconds if r.seconds else 0.0
        if self.rounds:
            # Keeping up: replayed events per second spent fine-tuning (a rejected round's
            # events are trained again in the next round, and that cost counts too).
            spent = sum(o.seconds for o in self.rounds)
            replayed = len(self.results["finetune"].hits) if "finetune" in self.results else 0
            out["finetune/events_per_s"] = replayed / spent if spent else 0.0
            out["finetune/seconds"] = spent
            out["finetune/rounds"] = float(len(self.rounds))
            out["finetune/published"] = float(sum(o.status == "published" for o in self.rounds))
        return out


def _gain(items: list[str], target: str) -> tuple[float, float]:
    for rank, item in enumerate(items):
        if item == target:
            return 1.0, 1.0 / float(np.log2(rank + 2))
    return 0.0, 0.0


def stream_evaluate(
    dataset: Dataset,
    workdir: Path,
    config: StreamConfig | None = None,
    train_config: TrainConfig | None = None,
    variants: tuple[Variant, ...] = VARIANTS,
    progress: Callable[[str], None] | None = None,
    model: Path | None = None,
) -> StreamReport:
    """Run the protocol on `dataset`; files (model, databases, registry) go under `workdir`.

    `model`: a checkpoint already trained on this dataset's first `train_fraction` of events
    (by an earlier run), to skip training.
    """
    cfg = config or StreamConfig()
    say = progress or (lambda _: None)
    workdir.mkdir(parents=True, exist_ok=True)
    inter = dataset.interactions  # time-sorted, ties in source order
    cut = int(len(inter) * cfg.train_fraction)
    end = len(inter) if cfg.max_events is None else min(len(inter), cut + cfg.max_events)
    head = _head(dataset, cut)
    model_dir, train_seconds = _model_at_cut(head, workdir, model, train_config, say)
    base_db = workdir / "cut.db"
    for suffix in ("", "-wal", "-shm", ".state"):
        Path(str(base_db) + suffix).unlink(missing_ok=True)
    with open_storage(base_db, durability=Durability.NORMAL) as store:
        store.import_dataset(head, progress=False)
    stream = [_interaction(dataset, inter, i) for i in range(cut, end)]
    report = StreamReport(dataset.name, cut, len(stream), train_seconds)
    engine_cfg = EngineConfig(window=cfg.window, snapshot_every=0, durability=Durability.NORMAL)

    if "static" in variants or "realtime" in variants:
        engine = Engine.open(_copy_db(base_db, workdir / "realtime.db"), model_dir, engine_cfg)
        try:
            report.results.update(_replay_frozen(engine, head, stream, cfg, variants, say))
        finally:
            engine.close()
    if "finetune" in variants:
        say("realtime + fine-tuning")
        db = _copy_db(base_db, workdir / "finetune.db")
        registry_dir = workdir / "registry"
        shutil.rmtree(registry_dir, ignore_errors=True)
        with open_storage(db) as store:
            last = store.events.last_seq()
        registry = ModelRegistry.create(
            registry_dir, model_dir, DataWindow(last_seq=last, events=cut), note="trained at cut"
        )
        engine = Engine.open(db, registry_dir, engine_cfg)
        warm_up_optimizer()
        try:
            report.results["finetune"] = _replay_fine_tuning(
                engine, registry, stream, cfg, report, say
            )
        finally:
            engine.close()
    return report


def _model_at_cut(
    head: Dataset,
    workdir: Path,
    model: Path | None,
    train_config: TrainConfig | None,
    say: Callable[[str], None],
) -> tuple[Path, float]:
    """The model trained on `head` (into `workdir/model`, unless `model` is one already) and
    the seconds training took."""
    t0 = time.perf_counter()
    model_dir = workdir / "model" if model is None else model
    if model is None:
        say(f"training on the first {len(head.interactions)} events")
        train(head, train_config or TrainConfig(), model_dir)
    return model_dir, time.perf_counter() - t0


def _head(dataset: Dataset, cut: int) -> Dataset:
    """The dataset cut to its first `cut` events (the model trains on these)."""
    return Dataset(
        name=dataset.name,
        interactions=dataset.interactions.take(np.arange(cut)),
        users=dataset.users,
        items=dataset.items,
        event_types=dataset.event_types,
        item_attributes=dataset.item_attributes,
        user_attributes=dataset.user_attributes,
        item_titles=dataset.item_titles,
        has_timestamps=dataset.has_timestamps,
    )


def _replay_frozen(
    engine: Engine,
    head: Dataset,
    stream: list[Interaction],
    cfg: StreamConfig,
    variants: tuple[Variant, ...],
    say: Callable[[str], None],
) -> dict[str, VariantResult]:
    """The variants the frozen model serves: static lists, then real-time state."""
    results: dict[str, VariantResult] = {}
    if "static" in variants:
        say("static lists")
        results["static"] = _static(engine, head, stream, cfg)
    if "realtime" in variants:
        say("realtime")
        results["realtime"] = _replay("realtime", engine, stream, cfg)
    return results


def _replay_fine_tuning(
    engine: Engine,
    registry: ModelRegistry,
    stream: list[Interaction],
    cfg: StreamConfig,
    report: StreamReport,
    say: Callable[[str], None],
) -> VariantResult:
    """Real-time state plus a fine-tuning round every `cfg.finetune_every` replayed events;
    a published version is swapped in before the next event. Rounds go into `report`."""
    tune = cfg.finetune.model_copy(
        update={"window": cfg.window, "threads": cfg.finetune.threads or os.cpu_count()}
    )

    def learn(n: int) -> None:
        if n % cfg.finetune_every:
            return
        outcome = fine_tune(engine.store, registry, tune)
        report.rounds.append(outcome)
        report.round_at.append(n)
        say(f"fine-tune after {n} events: {outcome.status} ({outcome.reason})")
        if outcome.status == "published" and outcome.version is not None:
            model = load_model(registry.path(outcome.version), outcome.version)
            engine.swap_model(model, background=False)

    return _replay("finetune", engine, stream, cfg, after=learn)


def _interaction(dataset: Dataset, inter: object, i: int) -> Interaction:
    from attune.data.dataset import Interactions

    assert isinstance(inter, Interactions)
    value = float(inter.values[i])
    return Interaction(
        user_id=dataset.users.external(int(inter.users[i])),
        item_id=dataset.items.external(int(inter.items[i])),
        event_type=dataset.event_types.names[int(inter.event_types[i])],
        timestamp=datetime.fromtimestamp(float(inter.timestamps[i]), UTC),
        value=None if np.isnan(value) else value,
    )


def _copy_db(src: Path, dst: Path) -> Path:
    for suffix in ("", "-wal", "-shm", ".state", ".lock"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _replay(
    name: str,
    engine: Engine,
    stream: list[Interaction],
    cfg: StreamConfig,
    after: Callable[[int], None] | None = None,
) -> VariantResult:
    hits = np.zeros(len(stream))
    ndcg = np.zeros(len(stream))
    t0 = time.perf_counter()
    for n, event in enumerate(stream):
        now = event.timestamp.timestamp()
        recs = engine.recommend(event.user_id, cfg.k, now=now, explore=0.0, diversity=0.0)
        hits[n], ndcg[n] = _gain([r.item_id for r in recs.items], event.item_id)
        result = engine.ingest([event])
        if result.rejected:
            raise RuntimeError(f"replayed event {n} was rejected: {result.rejected[0]}")
        if after is not None:
            after(n + 1)
    return VariantResult(name, hits, ndcg, time.perf_counter() - t0)


def _static(
    engine: Engine, head: Dataset, stream: list[Interaction], cfg: StreamConfig
) -> VariantResult:
    """Lists frozen at the cut; seen items (before and since) removed when serving."""
    t0 = time.perf_counter()
    depth = cfg.static_depth
    counts = np.bincount(head.interactions.items, minlength=head.n_items)
    popular = [head.items.external(int(i)) for i in np.argsort(-counts, kind="stable")[:depth]]
    known = {head.users.external(int(u)) for u in np.unique(head.interactions.users)}
    lists: dict[str, list[str]] = {}
    for user in sorted(known):
        recs = engine.recommend(user, depth, explore=0.0, diversity=0.0)
        lists[user] = [r.item_id for r in recs.items]
    seen: dict[str, set[str]] = {}
    for u, i in zip(
        head.interactions.users.tolist(), head.interactions.items.tolist(), strict=True
    ):
        seen.setdefault(head.users.external(u), set()).add(head.items.external(i))
    hits = np.zeros(len(stream))
    ndcg = np.zeros(len(stream))
    for n, event in enumerate(stream):
        user_seen = seen.setdefault(event.user_id, set())
        served = [x for x in lists.get(event.user_id, popular) if x not in user_seen][: cfg.k]
        hits[n], ndcg[n] = _gain(served, event.item_id)
        user_seen.add(event.item_id)
    return VariantResult("static", hits, ndcg, time.perf_counter() - t0)
