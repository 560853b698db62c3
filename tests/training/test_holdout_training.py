"""Training and ensemble validation see only the selection view: an honest run reads no test
target, a tuner that peeks is caught by the count."""

from pathlib import Path

import numpy as np

from attune.data.holdout import Holdout, holdout
from attune.data.splits import LeaveOneOut
from attune.evaluation import evaluate, leave_one_out_task
from attune.model import EncoderScorer
from attune.training import TrainConfig, Trainer, apply_overrides, load_checkpoint, train
from tests.training.synthetic import markov_dataset

TINY = [
    "model.dim=16",
    "train.batch_size=64",
    "train.progress=false",
    "train.device=cpu",
    "train.max_epochs=1",
]


def _config(*extra: str) -> TrainConfig:
    return apply_overrides(TrainConfig(), [*TINY, *extra])


def test_the_trainer_holds_no_test_event() -> None:
    dataset = markov_dataset(n_users=40)
    protocol = holdout(dataset)
    trainer = Trainer(dataset, _config("model.members=1"))
    lengths = np.bincount(dataset.interactions.users, minlength=dataset.n_users)
    # Training histories: every event but the last two per user; validation: the second last.
    assert [len(s) for s in trainer.sequences.items] == list(np.maximum(lengths - 2, 0))
    valid = protocol.selection.valid
    assert np.array_equal(np.sort(trainer.validation.targets), np.sort(valid.items))
    assert len(trainer.dataset.interactions) == len(dataset.interactions) - dataset.n_users


def test_training_an_ensemble_reads_no_test_target(tmp_path: Path) -> None:
    protocol = holdout(markov_dataset(n_users=40, attributes=True))
    result = train(protocol.selection, _config("model.members=2"), tmp_path)
    assert len(result.members) == 2 and "valid_ndcg@10" in result.best_metrics
    assert protocol.selection_reads_test == 0


def _peeking_tuner(protocol: Holdout, candidates: list[TrainConfig], out: Path) -> TrainConfig:
    """Chooses a config by its test NDCG@10: the selection a protocol must catch."""
    view, scores = protocol.selection, []
    for k, config in enumerate(candidates):
        train(view, config, out / str(k))
        peek = LeaveOneOut(view.train, view.valid, protocol.test.open())
        task = leave_one_out_task(peek, view.dataset.n_users, "test")
        scorer = EncoderScorer(load_checkpoint(out / str(k)).encoder)
        n_items = view.dataset.n_items
        scores.append(evaluate(scorer, task.users, task.histories, task.targets, n_items).ndcg)
    return candidates[int(np.argmax(scores))]


def test_a_peeking_tuner_is_counted(tmp_path: Path) -> None:
    protocol = holdout(markov_dataset(n_users=40))
    candidates = [_config("model.members=1", f"train.seed={s}") for s in (0, 1)]
    _peeking_tuner(protocol, candidates, tmp_path)
    protocol.final_split()
    assert protocol.selection_reads_test == 2
