"""The training loop: whole sequences with a target at every position, early stopping on
validation NDCG@10, checkpoints after each epoch, resumable.

Leave-one-out: the model trains on each user's events but the last two; the second last is the
validation target (history = the training part). The trainer is given a selection view
(`attune.data.holdout`): the last event, the test target, never reaches it.

Under `torchrun` (or `attune.training.launch`) every process runs the same loop on its share
of each batch (`attune.training.distributed`); rank 0 validates, decides and writes.
"""

from __future__ import annotations

import collections
import copy
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from attune.data.dataset import Dataset
from attune.data.holdout import SelectionView, selection_view
from attune.log import get_logger
from attune.model.device import resolve_device
from attune.model.encoder import EncoderConfig, InterestEncoder
from attune.training import run_files
from attune.training.checkpoint import MEMBERS_FILE, TRAINER_STATE, member_dir
from attune.training.config import TrainConfig, derived_batch_size
from attune.training.data import TrainingWindows, UserSequences
from attune.training.distributed import current_ranks, default_threads, process_group
from attune.training.loop import (
    EpochLoop,
    dataset_user_bags,
    next_item_loss,
    param_groups,
)
from attune.training.members import member_config, validate_members
from attune.training.precision import MixedPrecision
from attune.training.progress import progress_label
from attune.training.result import TrainResult
from attune.training.validation import ValidationSet, rank_targets, ranking_metrics

_log = get_logger(__name__)

VALID_METRIC = "valid_ndcg@10"
"""The metric early stopping and the best checkpoint follow."""

EpochHook = Callable[[int, Mapping[str, float]], None]
"""(epoch, its metrics) after each epoch of `fit`; what it raises stops training (a pruned
hyper-parameter trial, `attune.tuning`)."""


class Trainer:
    """Owns the model, optimizer, data and loop state of one training run."""

    def __init__(
        self,
        data: Dataset | SelectionView,
        config: TrainConfig,
        out_dir: Path | None = None,
        *,
        member: tuple[int, int] | None = None,
    ) -> None:
        """`data`: a selection view, or a dataset (whose test events are then withheld)."""
        fit = config.train
        split = selection_view(data)
        dataset = split.dataset
        self.dataset, self.config, self.out_dir = dataset, config, out_dir
        self.member = member
        """(index, count) when this model is one member of an ensemble (progress bars)."""
        self.ranks = current_ranks()
        self.writes_to = out_dir if self.ranks.is_main else None
        """Where this process writes checkpoints and scalars: rank 0 only."""
        torch.set_num_threads(fit.threads or default_threads())
        self.device = self.ranks.device(resolve_device(fit.device))
        torch.manual_seed(fit.seed)
        self.sequences = UserSequences.from_interactions(split.train, dataset.n_users)
        self.encoder_config = self._encoder_config(dataset, split, self.sequences)
        attrs = dataset.item_attributes
        item_attrs = (attrs.indptr, attrs.indices) if self.encoder_config.n_item_tokens else None
        self.model = InterestEncoder(self.encoder_config, item_attrs).to(self.device)
        self.windows = TrainingWindows.build(
            self.sequences, self.encoder_config.max_len, fit.windows
        )
        self.batch_size = fit.batch_size or derived_batch_size(len(self.windows))
        self.validation = ValidationSet.build(split.valid, self.sequences)
        self.user_bags = (
            dataset_user_bags(dataset, self.device) if self.encoder_config.n_user_tokens else None
        )
        self.optimizer = torch.optim.AdamW(param_groups(self.model, fit.weight_decay), lr=fit.lr)
        self.loop = self._epoch_loop(split.train.items)
        self.epoch = self.best_epoch = self.bad_epochs = 0
        self.best_score = -math.inf
        self.elapsed = self.elapsed_to_best = 0.0
        self.history: list[dict[str, float]] = []
        self.best_state = copy.deepcopy(self.model.state_dict())
        self.recent_states: collections.deque[dict[str, Tensor]] = collections.deque(
            maxlen=max(1, fit.average_last)
        )
        self.scalars = run_files.ScalarWriter(self.writes_to if fit.tensorboard else None)

    def _epoch_loop(self, train_items: np.ndarray) -> EpochLoop:
        fit, bags = self.config.train, self.user_bags
        return EpochLoop(
            self.model,
            self.optimizer,
            next_item_loss(
                fit.loss,
                lambda: np.bincount(train_items, minlength=self.dataset.n_items),
                fit.n_negatives,
                self.device,
            ),
            lr=fit.lr,
            grad_clip=fit.grad_clip,
            device=self.device,
            warmup_steps=fit.warmup_steps,
            user_bags=None if bags is None else (lambda users: [bags[u] for u in users]),
            precision=MixedPrecision(fit.precision, self.device),
            ranks=self.ranks,
        )

    def _encoder_config(
        self, dataset: Dataset, split: SelectionView, sequences: UserSequences
    ) -> EncoderConfig:
        lengths = sequences.lengths()
        n_codes = len(np.unique(split.train.event_types))
        return self.config.model.resolve(
            n_items=dataset.n_items,
            sequence_lengths=lengths[lengths > 0],
            n_event_types=len(dataset.event_types.names) if n_codes > 1 else 0,
            n_item_tokens=len(dataset.item_attributes.tokens)
            if len(dataset.item_attributes.indices)
            else 0,
            n_user_tokens=len(dataset.user_attributes.tokens)
            if len(dataset.user_attributes.indices)
            else 0,
        )

    # ---- one epoch -------------------------------------------------------------------------

    def train_epoch(self) -> dict[str, float]:
        """One pass over every training window; returns the mean loss per target and the lr."""
        fit = self.config.train
        # Seeding per epoch makes a resumed run replay exactly what an uninterrupted one does.
        # Every rank draws the same batches; each its own dropout.
        torch.manual_seed(fit.seed * 100_003 + self.epoch + 1_000_003 * self.ranks.rank)
        rng = np.random.default_rng([fit.seed, self.epoch])
        metrics = self.loop.run_epoch(
            self.windows,
            self.batch_size,
            rng,
            desc=self.progress_label(),
            progress=fit.progress and self.ranks.is_main,
        )
        self.epoch += 1
        return metrics

    def progress_label(self) -> str:
        """What the next epoch's progress bar says: the member, the epoch, and the last
        validation NDCG@10 beside the best so far ("member 1/2 · epoch 7 · valid NDCG@10
        0.0610 (best 0.0620 @5)")."""
        last = self.history[-1].get(VALID_METRIC) if self.history else None
        return progress_label(self.epoch + 1, self.member, last, self.best_score, self.best_epoch)

    def validate(self) -> dict[str, float]:
        ranks = rank_targets(
            self.model,
            self.validation,
            batch_size=self.config.train.eval_batch_size,
            user_bags=self.user_bags,
        )
        return ranking_metrics(ranks, 10, prefix="valid_")

    # ---- the loop --------------------------------------------------------------------------

    def fit(self, on_epoch: EpochHook | None = None) -> TrainResult:
        """Train until `patience` epochs pass without a better validation NDCG@10."""
        fit = self.config.train
        if len(self.validation) == 0:
            _log.warning("no validation users; keeping the last epoch", dataset=self.dataset.name)
        while self.epoch < fit.max_epochs and self.bad_epochs < fit.patience:
            start = time.perf_counter()
            metrics = self.train_epoch()
            # Rank 0 validates; the others take its metrics, so every rank decides alike.
            metrics.update(self.ranks.broadcast(self.validate() if self.ranks.is_main else {}))
            self.elapsed += time.perf_counter() - start
            score = metrics[VALID_METRIC]
            if math.isnan(score) or score > self.best_score:
                self.best_score = -math.inf if math.isnan(score) else score
                self.best_epoch, self.bad_epochs = self.epoch, 0
                self.elapsed_to_best = self.elapsed
                self.best_state = copy.deepcopy(self.model.state_dict())
                run_files.save_best(self, metrics)
            else:
                self.bad_epochs += 1
                if fit.lr_decay < 1.0 and self.bad_epochs % fit.lr_patience == 0:
                    # A plateau at this step size: smaller steps settle into the basin the
                    # large ones keep jumping across.
                    self.loop.lr_scale *= fit.lr_decay
            if fit.average_last > 1:
                self.recent_states.append(copy.deepcopy(self.model.state_dict()))
            metrics["seconds"] = self.elapsed
            self.history.append(metrics)
            if self.ranks.is_main:
                _log.info("finished epoch", epoch=self.epoch, best_epoch=self.best_epoch, **metrics)
            self.scalars.write(metrics, self.epoch)
            run_files.save_state(self)
            if on_epoch is not None:
                on_epoch(self.epoch, metrics)
        self.model.load_state_dict(self.best_state)
        best = self.history[self.best_epoch - 1] if self.best_epoch else {}
        averaged = self._try_average() if self.ranks.is_main else None
        if averaged is not None:
            best = averaged
        self.scalars.close()
        return TrainResult(
            checkpoint=self.out_dir,
            best_epoch=self.best_epoch,
            best_metrics={k: v for k, v in best.items() if k.startswith("valid_")},
            epochs=self.epoch,
            seconds=self.elapsed,
            seconds_to_best=self.elapsed_to_best,
            history=list(self.history),
            averaged=averaged is not None,
        )

    def _try_average(self) -> dict[str, float] | None:
        """Load the mean of the recent epochs' weights if it validates better than the best
        epoch; returns its metrics, or None (the best epoch's weights stay loaded).

        Late epochs wander around a plateau; their mean often sits nearer its centre than
        any one of them does.
        """
        if len(self.recent_states) < 2 or not self.best_epoch:
            return None
        mean = {
            key: torch.stack([s[key].float() for s in self.recent_states]).mean(0).to(value.dtype)
            if value.is_floating_point()
            else value
            for key, value in self.recent_states[-1].items()
        }
        self.model.load_state_dict(mean)
        metrics = self.validate()
        _log.info(
            "averaged recent epochs",
            epochs=len(self.recent_states),
            best_epoch_score=self.best_score,
            **metrics,
        )
        if metrics[VALID_METRIC] <= self.best_score:
            self.model.load_state_dict(self.best_state)
            return None
        run_files.save_best(self, metrics)
        return metrics

    def resume(self) -> None:
        """Continue from `out_dir`'s trainer state: weights, optimizer, counters, best model."""
        run_files.resume(self)


def train(
    data: Dataset | SelectionView,
    config: TrainConfig,
    out_dir: Path | str,
    *,
    resume: bool = False,
    member: tuple[int, int] | None = None,
) -> TrainResult:
    """Train the interest model and leave its best checkpoint in `out_dir`.

    `data`: a selection view (`attune.data.holdout`), or a dataset, whose last event per user
    is then withheld as the test target. With `resume`, continue the run whose trainer state
    is in `out_dir` (same config and data). Started by `torchrun` (WORLD_SIZE > 1), every
    process trains on its share of each batch and rank 0 writes the checkpoint.
    """
    with process_group(config.train.device) as ranks:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        selection = selection_view(data)
        if config.model.members > 1:
            return _train_members(selection, config, out, resume=resume)
        if ranks.is_main:
            # A single model written where an ensemble was must not be shadowed by its
            # members file.
            (out / MEMBERS_FILE).unlink(missing_ok=True)
        trainer = Trainer(selection, config, out, member=member)
        if resume:
            trainer.resume()
        if ranks.is_main:
            _log.info(
                "training",
                dataset=selection.dataset.name,
                device=str(trainer.device),
                processes=ranks.world,
                windows=len(trainer.windows),
                batch_size=trainer.batch_size,
                validation_users=len(trainer.validation),
                **{f"model.{k}": v for k, v in vars(trainer.encoder_config).items()},
            )
        return trainer.fit()


def _train_members(
    selection: SelectionView, config: TrainConfig, out: Path, *, resume: bool
) -> TrainResult:
    """Train each member as an independent single model (`attune.training.members`), then
    validate their summed scores (rank 0)."""
    results: list[TrainResult] = []
    main = current_ranks().is_main
    for k in range(config.model.members):
        path = member_dir(out, k)
        again = resume and (path / TRAINER_STATE).is_file()
        if main:
            _log.info("training ensemble member", member=k, of=config.model.members)
        results.append(
            train(
                selection,
                member_config(config, k),
                path,
                resume=again,
                member=(k, config.model.members),
            )
        )
    if not main:
        return TrainResult.of_members(out, results, {})
    metrics = validate_members(selection, config, out)
    _log.info("trained ensemble", members=len(results), **metrics)
    return TrainResult.of_members(out, results, metrics)


__all__ = ["EpochHook", "TrainResult", "Trainer", "train"]
