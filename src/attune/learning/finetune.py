"""Continuous fine-tuning: learn from the events logged since the current version, check the
candidate on the newest events, and publish it only if it is not worse.

One round:
1. read the log; the events after the current version's data window are new;
2. hold out the newest `holdout_fraction` of them (the check set) and train on the rest:
   every window of the users who have new events, plus `replay` times as many windows of
   other users, so the model does not forget what it knew (catastrophic forgetting);
3. items the parent never saw get an embedding row, and their vector starts from their
   attributes (the new row is near zero, so the attribute part dominates); new attribute
   tokens get rows as well;
4. rank every held-out event with the parent and the candidate the way the engine serves it
   (the user's state replayed up to that event, seen items excluded, users the model cannot
   read falling back to popularity) and compare NDCG@k;
5. store the candidate as a new version, `published` (and current) when it is at least as good
   as the parent minus `tolerance`, else `rejected` with the reason.

The next round starts after the held-out events, so every event is trained on exactly once.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from attune.data.dataset import AttributeTable, Interactions
from attune.data.vocab import Vocabulary
from attune.engine.config import EngineConfig
from attune.engine.interest import InterestModel, serving_model
from attune.learning.heldout import EventArrays, evaluate_cases, heldout_cases
from attune.learning.registry import DataWindow, ModelRegistry, VersionInfo
from attune.log import get_logger
from attune.model.encoder import InterestEncoder
from attune.stores.sqlite import SQLiteStore
from attune.training.checkpoint import LoadedModel, member_dir, save_checkpoint, save_members
from attune.training.config import MEMBER_SEED_STRIDE
from attune.training.data import TrainingWindows, UserSequences
from attune.training.losses import SampledSoftmaxLoss, full_softmax_loss

_log = get_logger(__name__)


class FineTuneConfig(BaseModel):
    """How `attune learn` fine-tunes; every field documented with its default."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    min_events: int = Field(500, ge=1)
    """Fine-tune only once at least this many new events are logged."""
    holdout_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    """Share of the new events (the newest) held out to check the candidate."""
    max_holdout: int = Field(2000, ge=1)
    """At most this many held-out events (the check costs one forward per event)."""
    max_train_events: int = Field(4000, ge=1)
    """Train on at most this many of the newest new events per round (the rest of a backlog
    left by rejected rounds is context and replay), which bounds a round's cost."""
    replay: float = Field(2.0, ge=0.0)
    """Windows of users without new events replayed per window of a user with new events
    (on the ml-100k stream, 2 replayed windows per new one with one pass beat 1 with two
    passes, at half the time)."""
    epochs: int = Field(1, ge=1)
    """Passes over the recent and replayed windows."""
    lr: float = Field(5e-4, gt=0.0)
    """AdamW learning rate (lower than training from scratch: the model is already good)."""
    batch_size: int = Field(256, ge=1)
    """Windows per batch."""
    grad_clip: float = Field(1.0, ge=0.0)
    """Global gradient norm clip; 0 turns it off."""
    tolerance: float = Field(0.0, ge=0.0)
    """Publish when candidate NDCG@k >= parent NDCG@k - tolerance."""
    k: int = Field(10, ge=1)
    """Cut-off of the check metrics."""
    window: Literal["positive", "all"] = EngineConfig.model_fields["window"].default
    """Which events enter a user's window in the check (as the serving engine's `window`,
    whose default it takes)."""
    seed: int = 0
    """Seed of sampling, initialisation and dropout."""
    device: str = "cpu"
    """Torch device: cpu, cuda or auto."""
    threads: int | None = Field(None, ge=1)
    """Torch threads while fine-tuning (None: leave the process setting alone)."""


@dataclass(frozen=True)
class FineTuneOutcome:
    """What one round did."""

    status: Literal["published", "rejected", "skipped"]
    parent: int
    version: int | None
    """The new version (None when skipped)."""
    new_events: int
    """Events after the parent's window (training + held out)."""
    trained_events: int
    holdout_events: int
    metrics: dict[str, float]
    seconds: float
    """Wall time of the round (reading, training, checking, saving)."""
    train_seconds: float
    reason: str

    @property
    def events_per_s(self) -> float:
        """New events absorbed per second of the whole round."""
        return self.new_events / self.seconds if self.seconds > 0 else 0.0


def fine_tune(
    store: SQLiteStore,
    registry: ModelRegistry,
    config: FineTuneConfig | None = None,
    *,
    promote: bool = True,
) -> FineTuneOutcome:
    """One fine-tuning round on `store`'s log from the registry's current version."""
    cfg = config or FineTuneConfig()
    t0 = time.perf_counter()
    parent_version = registry.current()
    if parent_version is None:
        raise ValueError(f"registry {registry.root} has no current version")
    parent_info = registry.info(parent_version)
    events = EventArrays.read(store)
    start = int(np.searchsorted(events.seq, parent_info.data_window.last_seq, side="right"))
    n_new = len(events) - start

    def skipped(reason: str) -> FineTuneOutcome:
        return FineTuneOutcome(
            "skipped", parent_version, None, n_new, 0, 0, {}, time.perf_counter() - t0, 0.0, reason
        )

    if n_new < cfg.min_events:
        return skipped(f"{n_new} new events, fewer than min_events={cfg.min_events}")
    n_hold = min(cfg.max_holdout, max(1, round(n_new * cfg.holdout_fraction)))
    boundary = len(events) - n_hold  # events[:boundary] train, events[boundary:] check
    # After rejected rounds the new events pile up; a round trains on the newest of them only
    # (older ones still come back as context and in replayed windows), so its cost stays flat.
    first = max(start, boundary - cfg.max_train_events)

    device = _device(cfg.device)
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        # An ensemble's members are tuned one by one, each as the single model it is.
        parents = registry.load_members(parent_version, device=str(device))
        data = store.to_dataset(events=False)
        candidates = [_grow(p, data.items, data.item_attributes) for p in parents]
        served = serving_model(parents, parent_version, str(device))
        tokens = data.user_attributes.token_rows() if _reads_user_tokens(parents[0]) else None
        bags = None
        if tokens is not None:
            bags = {u: served.user_tokens(t).to(device) for u, t in tokens.items()}
        t_train = time.perf_counter()
        trained = 0  # every member trains on the same new events: one count
        for k, candidate in enumerate(candidates):
            seed = parent_version + k * MEMBER_SEED_STRIDE
            trained = _train(
                candidate, events, first, boundary, cfg, device, seed=seed, user_bags=bags
            )
        train_seconds = time.perf_counter() - t_train

        cases = heldout_cases(
            events, boundary, data.event_types, parents[0].encoder_config.max_len, cfg.window
        )

        def check(model: InterestModel) -> dict[str, float]:
            model.bind_items(data.items)
            return evaluate_cases(
                model,
                cases,
                events=events,
                boundary=boundary,
                n_items=len(data.items),
                item_attributes=data.item_attributes,
                k=cfg.k,
                user_tokens=tokens,
            )

        before = check(served)
        after = check(serving_model(candidates, 0, str(device)))
    finally:
        torch.set_num_threads(threads)

    k = cfg.k
    metrics = {f"hr@{k}": after[f"hr@{k}"], f"ndcg@{k}": after[f"ndcg@{k}"]} | {
        f"parent_hr@{k}": before[f"hr@{k}"],
        f"parent_ndcg@{k}": before[f"ndcg@{k}"],
        "holdout_events": float(n_hold),
        "trained_events": float(trained),
    }
    better = after[f"ndcg@{k}"] >= before[f"ndcg@{k}"] - cfg.tolerance
    reason = (
        f"NDCG@{k} on the {n_hold} newest events: candidate {after[f'ndcg@{k}']:.4f}, "
        f"parent v{parent_version} {before[f'ndcg@{k}']:.4f}"
        + (
            f" (worse by more than tolerance {cfg.tolerance})"
            if not better
            else f" (worse, but within tolerance {cfg.tolerance})"
            if after[f"ndcg@{k}"] < before[f"ndcg@{k}"]
            else ""
        )
    )
    window = DataWindow(
        first_seq=int(events.seq[first]),
        last_seq=int(events.seq[boundary - 1]),
        events=trained,
        first_time=float(events.time[first]),
        last_time=float(events.time[boundary - 1]),
    )
    info = _publish(registry, candidates, parent_version, better, window, metrics, reason, promote)
    outcome = FineTuneOutcome(
        "published" if better else "rejected",
        parent_version,
        info.version,
        n_new,
        trained,
        n_hold,
        metrics,
        time.perf_counter() - t0,
        train_seconds,
        reason,
    )
    _log.info(
        "fine-tune round",
        status=outcome.status,
        parent=parent_version,
        version=info.version,
        new_events=n_new,
        seconds=round(outcome.seconds, 2),
        events_per_s=round(outcome.events_per_s),
        reason=reason,
    )
    return outcome


def warm_up_optimizer() -> None:
    """Pay torch's one-time import of its compiler stack (over a second, on the first optimizer
    a process creates) now, so that it is not charged to the first fine-tuning round; a
    long-running learner pays it once at start."""
    torch.optim.AdamW([nn.Parameter(torch.zeros(1))])


def _reads_user_tokens(model: LoadedModel) -> bool:
    """Whether the model reads user attribute tokens."""
    return model.encoder_config.n_user_tokens > 0


def _device(name: str) -> torch.device:
    from attune.training.trainer import resolve_device

    return resolve_device(name)


# -- growing the vocabulary ------------------------------------------------------------------


def _grow(
    parent: LoadedModel,
    items: Vocabulary,
    item_attributes: AttributeTable,
) -> LoadedModel:
    """The parent's weights in a model whose items are the store's (a superset), with rows for
    new items and new attribute tokens."""
    pcfg = parent.encoder_config
    items = Vocabulary(items.ids)
    tokens = Vocabulary(parent.item_attributes.tokens.ids)
    rows = [item_attributes.tokens_of(i) for i in range(len(items))]
    table = AttributeTable.from_rows(rows, tokens=tokens, fields=item_attributes.fields)
    cfg = dataclasses.replace(
        pcfg,
        n_items=len(items),
        n_item_tokens=len(tokens) if pcfg.n_item_tokens else 0,
    )
    encoder = InterestEncoder(cfg, (table.indptr, table.indices) if cfg.n_item_tokens else None)
    state = parent.encoder.state_dict()
    new_state = encoder.state_dict()
    old_rows = np.array([items.index(x) + 1 for x in parent.items.ids], np.int64)
    with torch.no_grad():
        for name, value in state.items():
            if name == "item_emb.weight":
                grown = new_state[name].clone() * 0.1  # new items: attributes dominate
                grown[0] = 0.0
                grown[torch.from_numpy(old_rows)] = value[1:].to(grown.device)
                new_state[name] = grown
            elif name == "item_token_emb.weight" and cfg.n_item_tokens:
                grown = new_state[name].clone()
                grown[: len(value)] = value.to(grown.device)
                new_state[name] = grown
            else:
                new_state[name] = value
    encoder.load_state_dict(new_state)
    encoder.to(parent.encoder.item_emb.weight.device)
    return LoadedModel(
        encoder,
        cfg,
        parent.train_config,
        items,
        Vocabulary(),  # a fine-tuned version keeps no list of user ids (nothing reads it)
        table,
        parent.user_attributes,
        parent.event_types,
        {},
    )


# -- training --------------------------------------------------------------------------------


def _train(
    model: LoadedModel,
    events: EventArrays,
    start: int,
    boundary: int,
    cfg: FineTuneConfig,
    device: torch.device,
    seed: int,
    user_bags: dict[int, torch.Tensor] | None = None,
) -> int:
    """Fine-tune `model.encoder` in place on the windows described in the module docstring;
    returns the number of new events trained on."""
    torch.manual_seed(cfg.seed * 1_000_003 + seed)
    rng = np.random.default_rng([cfg.seed, seed])
    head = events.head(boundary)
    n_users = int(head.user.max()) + 1 if len(head) else 0
    interactions = Interactions(
        users=head.user,
        items=head.item,
        timestamps=head.time,
        event_types=head.event_type.astype(np.int16),
        values=head.value.astype(np.float32),
    )
    sequences = UserSequences.from_interactions(interactions, n_users)
    lengths = sequences.lengths()
    touched = np.unique(head.user[start:])
    # Position of each touched user's first new event in their sequence: their windows from
    # there on are trained (with the older events before them as context).
    new_per_user = np.bincount(head.user[start:], minlength=n_users)
    min_target = np.full(n_users, np.iinfo(np.int64).max)
    min_target[touched] = lengths[touched] - new_per_user[touched]
    others = np.setdiff1d(np.flatnonzero(lengths >= 2), touched)
    max_len = model.encoder.config.max_len
    recent = TrainingWindows.build(sequences, max_len, "all", min_target)
    n_replay = min(len(others), round(cfg.replay * len(recent)))
    replayed = np.sort(rng.choice(others, n_replay, replace=False)) if n_replay else others[:0]
    only = np.full(n_users, np.iinfo(np.int64).max)
    only[replayed] = 0
    old = TrainingWindows.build(sequences, max_len, "last", only)
    windows = _concat(recent, old)
    encoder = model.encoder
    if not len(windows):
        return 0
    if not encoder.config.n_event_types:
        windows = dataclasses.replace(windows, event_types=np.zeros_like(windows.event_types))
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sampled = None
    if model.train_config.train.loss == "sampled_softmax":
        counts = np.bincount(head.item, minlength=encoder.config.n_items)
        sampled = SampledSoftmaxLoss(counts, model.train_config.train.n_negatives, device)
    encoder.train()
    for _ in range(cfg.epochs):
        for index in windows.epoch_batches(cfg.batch_size, rng):
            batch = windows.batch(index, device)
            bags = None
            if user_bags is not None:  # the model reads user tokens: train it as it serves
                none = torch.empty(0, dtype=torch.long, device=device)
                bags = [user_bags.get(int(u), none) for u in batch.users]
            hidden, item_vecs = encoder.forward_with_items(batch.items, batch.event_types, bags)
            mask = batch.targets > 0
            target = batch.targets[mask] - 1
            if sampled is None:
                loss = full_softmax_loss(encoder, hidden[mask], target, item_vecs)
            else:
                loss = sampled(encoder, hidden[mask], target, item_vecs)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
    encoder.eval()
    return boundary - start


def _concat(a: TrainingWindows, b: TrainingWindows) -> TrainingWindows:
    return TrainingWindows(
        *(np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in dataclasses.fields(a))
    )


# -- publishing ------------------------------------------------------------------------------


def _publish(
    registry: ModelRegistry,
    models: list[LoadedModel],
    parent: int,
    better: bool,
    window: DataWindow,
    metrics: dict[str, float],
    reason: str,
    promote: bool,
) -> VersionInfo:
    registry.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".candidate-", dir=registry.root))
    try:
        dirs = (
            [staging] if len(models) == 1 else [member_dir(staging, k) for k in range(len(models))]
        )
        for model, directory in zip(models, dirs, strict=True):
            save_checkpoint(
                directory,
                model.encoder,
                model.train_config,
                items=model.items,
                users=model.users,
                item_attributes=model.item_attributes,
                user_attributes=model.user_attributes,
                event_types=model.event_types,
                metrics=metrics,
            )
        if len(models) > 1:
            save_members(staging, len(models), metrics)
        info = registry.add(
            staging,
            parent=parent,
            status="published" if better else "rejected",
            data_window=window,
            metrics=metrics,
            note=reason,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when `add` moved it
    if better and promote:
        registry.promote(info.version)
    return info
