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
Events of erased users are left out wherever they come from (`trained_users`); the version
records its user set, its parent's and the users of its windows; a candidate that trained on
a user erased while the round ran is rejected.
A round from a parent whose last candidate was not made current waits for `min_events` events
newer than those that candidate saw (held-out ones included): the same events would only train
the same candidate again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from attune.engine.interest import InterestModel, serving_model
from attune.learning import trained_users
from attune.learning.finetune_config import FineTuneConfig
from attune.learning.grow import grow_vocabulary
from attune.learning.heldout import EventArrays, evaluate_cases, heldout_cases
from attune.learning.progress import (
    advance,
    arrange,
    beyond,
    consumer_name,
    covered,
    read_to,
    window_cursors,
)
from attune.learning.publish import publish_candidate
from attune.learning.registry import DataWindow, ModelRegistry
from attune.learning.tuning_windows import tuning_windows
from attune.log import get_logger
from attune.model.device import resolve_device
from attune.model.ensemble import Ensemble
from attune.ports import LEARN_GROUP, LearningFeed, Storage
from attune.training.checkpoint import LoadedModel
from attune.training.loop import EpochLoop, next_item_loss

_log = get_logger(__name__)


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


@dataclass(frozen=True)
class _Round:
    """Where one round's events lie (`progress.arrange`: what the parent accounts for, then
    the new events): `events[start:]` are new, `events[first:boundary]` are trained on (the
    newest of the new ones before the check set), `events[boundary:]` held out."""

    parent: int
    events: EventArrays
    start: int
    first: int
    boundary: int
    cursor: list[int]
    """The parent's cursor (per log partition)."""
    erased: np.ndarray
    """Store indices of the users erased when the round read the log: never trained on."""

    @property
    def holdout_events(self) -> int:
        return len(self.events) - self.boundary

    def trained_window(self, trained_events: int) -> DataWindow:
        """The data window of a candidate trained on this round's events: it accounts for
        every new event before the check set (a backlog older than `first` is passed over)."""
        first, last = self.first, self.boundary - 1
        seq = self.events.seq
        trained = seq[first : self.boundary]
        cursors = window_cursors(self.cursor, self.events, self.start, self.boundary)
        return DataWindow(
            first_seq=int(trained.min()) if len(trained) else int(seq[first]),
            last_seq=max(advance(self.cursor, seq[self.start : self.boundary])),
            events=trained_events,
            first_time=float(self.events.time[first]),
            last_time=float(self.events.time[last]),
            checked_last_seq=max(advance(self.cursor, seq[self.start :])),
            **cursors,
        )


@dataclass(frozen=True)
class _Tuned:
    """The candidate models of a round and how they compare with the parent's."""

    candidates: Ensemble[LoadedModel]
    trained_events: int
    train_seconds: float
    parent_check: dict[str, float]
    candidate_check: dict[str, float]
    users: np.ndarray
    """Store indices of the users whose windows the candidates trained on."""


def fine_tune(
    store: Storage,
    registry: ModelRegistry,
    config: FineTuneConfig | None = None,
    *,
    promote: bool = True,
    feed: LearningFeed | None = None,
    parent: int | None = None,
    gate: bool = True,
) -> FineTuneOutcome:
    """One fine-tuning round on `store`'s log from `parent` (default: the registry's current
    version), on the new events `feed` gives (default: the store's, this process a consumer
    of the learning group; acknowledged once a version that accounts for them is current).
    Without `gate` (a version that must exist: `attune models forget`) the candidate is
    published whatever its check says, and a round runs on any two new events."""
    cfg = config or FineTuneConfig()
    t0 = time.perf_counter()
    parent = registry.current() if parent is None else parent
    if parent is None:
        raise ValueError(f"registry {registry.root} has no current version")
    feed = feed or store.learning_feed(LEARN_GROUP, consumer_name())
    cursor = covered(registry.info(parent).data_window, feed.partitions)
    events, start, erased = _read(store, feed, cursor)
    n_new = len(events) - start
    min_events = cfg.min_events if gate else 2
    skip = _nothing_to_learn(registry, parent, events, start, feed.partitions, min_events, gate)
    if skip is not None:
        _log.info("fine-tune round skipped", parent=parent, new_events=n_new, reason=skip)
        seconds = time.perf_counter() - t0
        return FineTuneOutcome("skipped", parent, None, n_new, 0, 0, {}, seconds, 0.0, skip)
    n_hold = min(cfg.max_holdout, max(1, round(n_new * cfg.holdout_fraction)))
    boundary = len(events) - n_hold
    # After rejected rounds the new events pile up; a round trains on the newest of them only
    # (older ones still come back as context and in replayed windows), so its cost stays flat.
    first = max(start, boundary - cfg.max_train_events)
    rnd = _Round(parent, events, start, first, boundary, cursor, erased)
    tuned = _tune_and_check(store, registry, rnd, cfg)
    better, reason = _verdict(tuned, rnd, cfg, gate, trained_users.erased_users(store.users))
    users = _user_set(registry, parent, tuned.users)
    metrics = _round_metrics(tuned, rnd, cfg.k)
    window = rnd.trained_window(tuned.trained_events)
    info = publish_candidate(
        registry, tuned.candidates, parent, better, window, metrics, reason, promote, users
    )
    if better and promote:  # current now: the events it accounts for leave the feed
        feed.acknowledge(covered(window, feed.partitions))
    status: Literal["published", "rejected"] = "published" if better else "rejected"
    seconds, trained = time.perf_counter() - t0, tuned.trained_events
    outcome = FineTuneOutcome(
        status, parent, info.version, n_new, trained, n_hold, metrics, seconds,
        tuned.train_seconds, reason,
    )  # fmt: skip
    _log.info(
        "fine-tune round", status=outcome.status, parent=parent, version=info.version,
        new_events=n_new, seconds=round(outcome.seconds, 2),
        events_per_s=round(outcome.events_per_s), reason=reason,
    )  # fmt: skip
    return outcome


def _read(
    store: Storage, feed: LearningFeed, cursor: list[int]
) -> tuple[EventArrays, int, np.ndarray]:
    """The round's events (`progress.arrange`), where the new ones start, and the erased users,
    whose events are left out whatever path they came by."""
    erased = trained_users.erased_users(store.users)
    log = trained_users.without_erased_events(EventArrays.read(store.events), erased)
    feed.take(cursor)  # the group: claim a dead learner's entries, acknowledge covered ones
    events, start = arrange(log, cursor)
    return events, start, erased


def _nothing_to_learn(
    registry: ModelRegistry,
    parent: int,
    events: EventArrays,
    start: int,
    partitions: int,
    min_events: int,
    gate: bool,
) -> str | None:
    """Why a round from `parent` would learn nothing new (None: it would). Too few events
    since the parent's window; or, with the `gate`, too few since the last candidate from the
    same parent (rejected, or published but not promoted): a round on the same events would
    train that candidate again and store a copy of it every time."""
    n_new = len(events) - start
    if n_new < min_events:
        return f"{n_new} new events, fewer than min_events={min_events}"
    last = registry.last_candidate(parent) if gate else None
    if last is None:
        return None
    seen = read_to(last.data_window, partitions)
    unseen = int(beyond(events.seq[start:], seen).sum())
    if unseen >= min_events:
        return None
    return (
        f"{unseen} new events since v{last.version} ({last.status}, the last candidate from "
        f"v{parent}), fewer than min_events={min_events}"
    )


def warm_up_optimizer() -> None:
    """Pay torch's one-time import of its compiler stack (over a second, on the first optimizer
    a process creates) now, so that it is not charged to the first fine-tuning round; a
    long-running learner pays it once at start."""
    torch.optim.AdamW([nn.Parameter(torch.zeros(1))])


def _tune_and_check(
    store: Storage, registry: ModelRegistry, rnd: _Round, cfg: FineTuneConfig
) -> _Tuned:
    """Grow and train a candidate from each of the parent's models (an ensemble's members are
    tuned one by one, each as the single model it is), then rank the held-out events with the
    parent and with the candidates."""
    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        parents = Ensemble(registry.load_members(rnd.parent, device=str(device)))
        data = store.to_dataset(events=False)
        candidates = parents.map(lambda p: grow_vocabulary(p, data.items, data.item_attributes))
        served = serving_model(parents.members, rnd.parent, str(device))
        reads_users = parents.first.encoder_config.n_user_tokens > 0
        tokens = data.user_attributes.token_rows() if reads_users else None
        bags = None
        if tokens is not None:
            bags = {u: served.user_tokens(t).to(device) for u, t in tokens.items()}
        t_train = time.perf_counter()
        trained, users = 0, np.empty(0, np.int64)  # every member: the same new events
        for candidate, seed in zip(candidates, candidates.seeds(rnd.parent), strict=True):
            trained, seen = _train(
                candidate, rnd, cfg, device, seed=seed, user_bags=bags,
            )  # fmt: skip
            users = np.union1d(users, seen)
        train_seconds = time.perf_counter() - t_train
        max_len = parents.first.encoder_config.max_len
        cases = heldout_cases(rnd.events, rnd.boundary, data.event_types, max_len, cfg.window)

        def check(model: InterestModel) -> dict[str, float]:
            model.bind_items(data.items)
            return evaluate_cases(
                model,
                cases,
                events=rnd.events,
                boundary=rnd.boundary,
                n_items=len(data.items),
                item_attributes=data.item_attributes,
                k=cfg.k,
                user_tokens=tokens,
            )

        before = check(served)
        after = check(serving_model(candidates.members, 0, str(device)))
    finally:
        torch.set_num_threads(threads)
    return _Tuned(candidates, trained, train_seconds, before, after, users)


def _verdict(
    tuned: _Tuned, rnd: _Round, cfg: FineTuneConfig, gate: bool, erased_now: np.ndarray
) -> tuple[bool, str]:
    """Whether the candidate is published (not worse than the parent beyond `tolerance`, or
    whatever its check says without the `gate`; never when it trained on a user erased while
    the round ran: in `erased_now`), and why."""
    if np.isin(tuned.users, erased_now).any():
        return False, "a user it trained on was erased while the round ran"
    key = f"ndcg@{cfg.k}"
    after, before = tuned.candidate_check[key], tuned.parent_check[key]
    better = after >= before - cfg.tolerance
    if not better:
        note = f" (worse by more than tolerance {cfg.tolerance})"
    elif after < before:
        note = f" (worse, but within tolerance {cfg.tolerance})"
    else:
        note = ""
    reason = (
        f"NDCG@{cfg.k} on the {rnd.holdout_events} newest events: candidate {after:.4f}, "
        f"parent v{rnd.parent} {before:.4f}{note}"
    )
    if not gate:
        return True, f"erasure: published without its check ({reason})"
    return better, reason


def _user_set(registry: ModelRegistry, parent: int, trained: np.ndarray) -> np.ndarray | None:
    """A candidate's user set: its parent's and those it trained on (None: the parent's is not
    recorded, so neither is the candidate's)."""
    inherited = registry.users(parent)
    return None if inherited is None else np.union1d(inherited, trained)


def _round_metrics(tuned: _Tuned, rnd: _Round, k: int) -> dict[str, float]:
    after, before = tuned.candidate_check, tuned.parent_check
    return {f"hr@{k}": after[f"hr@{k}"], f"ndcg@{k}": after[f"ndcg@{k}"]} | {
        f"parent_hr@{k}": before[f"hr@{k}"],
        f"parent_ndcg@{k}": before[f"ndcg@{k}"],
        "holdout_events": float(rnd.holdout_events),
        "trained_events": float(tuned.trained_events),
    }


# -- training --------------------------------------------------------------------------------


def _train(
    model: LoadedModel,
    rnd: _Round,
    cfg: FineTuneConfig,
    device: torch.device,
    seed: int,
    user_bags: dict[int, torch.Tensor] | None = None,
) -> tuple[int, np.ndarray]:
    """Fine-tune `model.encoder` in place on the round's windows (`tuning_windows`, erased
    users' left out) with the training loop, `cfg.epochs` passes at a constant learning rate;
    returns the number of new events trained on and the users whose windows it trained on."""
    torch.manual_seed(cfg.seed * 1_000_003 + seed)
    rng = np.random.default_rng([cfg.seed, seed])
    start, boundary = rnd.first, rnd.boundary
    head = rnd.events.head(boundary)
    encoder = model.encoder
    windows = tuning_windows(head, start, encoder.config.max_len, cfg.replay, rng)
    windows = trained_users.without_erased_windows(windows, rnd.erased)
    if not len(windows):
        return 0, np.empty(0, np.int64)
    if not encoder.config.n_event_types:
        windows = dataclasses.replace(windows, event_types=np.zeros_like(windows.event_types))
    fit = model.train_config.train
    params = [p for p in encoder.parameters() if p.requires_grad]
    loop = EpochLoop(
        encoder,
        torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0),
        next_item_loss(
            fit.loss,
            lambda: np.bincount(head.item, minlength=encoder.config.n_items),
            fit.n_negatives,
            device,
        ),
        lr=cfg.lr,
        grad_clip=cfg.grad_clip,
        device=device,
        user_bags=None if user_bags is None else _bags_lookup(user_bags, device),
    )
    for _ in range(cfg.epochs):
        loop.run_epoch(windows, cfg.batch_size, rng)
    encoder.eval()
    return boundary - start, np.unique(windows.users)


def _bags_lookup(
    bags: dict[int, torch.Tensor], device: torch.device
) -> Callable[[np.ndarray], list[torch.Tensor]]:
    """Users' attribute tokens as the model reads them when serving (none: an empty bag)."""
    none = torch.empty(0, dtype=torch.long, device=device)
    return lambda users: [bags.get(int(u), none) for u in users]


__all__ = ["FineTuneConfig", "FineTuneOutcome", "fine_tune", "warm_up_optimizer"]
