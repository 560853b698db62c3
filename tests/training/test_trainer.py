from pathlib import Path

import numpy as np
import pytest
import torch
from structlog.testing import capture_logs

from attune.data.splits import leave_one_out
from attune.evaluation import evaluate, leave_one_out_task
from attune.model import EncoderScorer, resolve_device
from attune.training import TrainConfig, Trainer, apply_overrides, load_checkpoint, train
from attune.training.config import derived_batch_size
from attune.training.data import TrainingWindows, UserSequences
from attune.training.validation import rank_targets
from tests.training.synthetic import markov_dataset

FAST = [
    "model.dim=32",
    "model.dropout=0.1",
    "model.attn_dropout=0.1",
    "train.lr=5e-3",
    "train.warmup_steps=10",
    "train.batch_size=64",
    "train.progress=false",
    "train.device=cpu",
    "model.members=1",  # one model: tests/training/test_members.py covers ensembles
]


def _config(*extra: str) -> TrainConfig:
    return apply_overrides(TrainConfig(), [*FAST, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    dataset = markov_dataset()
    out = tmp_path_factory.mktemp("markov")
    with capture_logs() as logs:
        result = train(dataset, _config("train.max_epochs=40", "train.patience=4"), out)
    return out, (dataset, result, logs)


def test_learns_a_planted_sequence_that_popularity_cannot(trained: tuple[Path, object]) -> None:
    out, (dataset, result, _) = trained  # type: ignore[misc]
    split = leave_one_out(dataset.interactions)
    task = leave_one_out_task(split, dataset.n_users, "test")
    loaded = load_checkpoint(out)
    model = evaluate(
        EncoderScorer(loaded.encoder), task.users, task.histories, task.targets, dataset.n_items
    )
    # Most popular, computed inline: training counts, same user for every row.
    counts = np.bincount(split.train.items, minlength=dataset.n_items).astype(np.float32)

    class Popular:
        def score(self, users: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
            return np.tile(counts, (len(users), 1))

    popular = evaluate(Popular(), task.users, task.histories, task.targets, dataset.n_items)
    assert model.hr >= 0.9, model.metrics
    assert popular.hr < 0.35, popular.metrics  # chance is about 10 / (50 - ~9 seen) = 0.24
    assert result.best_metrics["valid_hr@10"] >= 0.9


def test_one_structured_log_event_and_tensorboard_scalars_per_epoch(
    trained: tuple[Path, object],
) -> None:
    out, (_, result, logs) = trained  # type: ignore[misc]
    epochs = [e for e in logs if e["event"] == "finished epoch"]
    assert len(epochs) == result.epochs == len(result.history)
    assert [e["epoch"] for e in epochs] == list(range(1, result.epochs + 1))
    assert all("valid_ndcg@10" in e and "loss" in e for e in epochs)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert result.epochs - result.best_epoch == 4  # early stopping after `patience` epochs
    assert result.best_metrics["valid_ndcg@10"] == max(h["valid_ndcg@10"] for h in result.history)


def test_checkpoint_files_load_without_pickle(trained: tuple[Path, object]) -> None:
    out, _ = trained
    for name in ("model.pt", "trainer_state.pt"):
        state = torch.load(out / name, weights_only=True)
        assert isinstance(state, dict)
    loaded = load_checkpoint(out)
    assert not loaded.encoder.training
    assert loaded.metrics["valid_hr@10"] >= 0.9


def test_same_seed_gives_identical_weights_on_cpu() -> None:
    dataset = markov_dataset(n_users=60)
    states = []
    for _ in range(2):
        trainer = Trainer(dataset, _config("train.max_epochs=2"))
        trainer.fit()
        states.append(trainer.model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    other = Trainer(dataset, _config("train.max_epochs=2", "train.seed=7"))
    other.fit()
    assert not torch.equal(
        states[0]["item_emb.weight"], other.model.state_dict()["item_emb.weight"]
    )


@pytest.mark.parametrize(
    "extra", [[], ["train.lr_decay=0.5", "train.lr_patience=1", "train.average_last=3"]]
)
def test_resume_continues_exactly_where_training_stopped(tmp_path: Path, extra: list[str]) -> None:
    dataset = markov_dataset(n_users=60)
    straight = tmp_path / "straight"
    resumed = tmp_path / "resumed"
    config = _config("train.patience=50", "train.tensorboard=false", *extra)
    full = train(dataset, apply_overrides(config, ["train.max_epochs=3"]), straight)
    train(dataset, apply_overrides(config, ["train.max_epochs=2"]), resumed)
    rest = train(dataset, apply_overrides(config, ["train.max_epochs=3"]), resumed, resume=True)
    assert rest.epochs == 3
    assert [h["loss"] for h in rest.history] == [h["loss"] for h in full.history]
    a = torch.load(straight / "trainer_state.pt", weights_only=True)
    b = torch.load(resumed / "trainer_state.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["step"] == b["step"]
    assert len(a["recent_states"]) == len(b["recent_states"])
    for x, y in zip(a["recent_states"], b["recent_states"], strict=True):
        for key in x:
            assert torch.equal(x[key], y[key]), key
    assert full.averaged == rest.averaged


def test_learning_rate_decays_after_each_plateau_of_lr_patience_epochs() -> None:
    dataset = markov_dataset(n_users=60)
    fit = ["train.warmup_steps=0", "train.lr_decay=0.5", "train.lr_patience=2"]
    config = _config(*fit, "train.patience=50", "train.max_epochs=14")
    history = Trainer(dataset, config).fit().history
    # Reference: replay the rule on the validation curve; epoch e trains at the lr the
    # epochs before it left.
    best, bad, scale, expected = -1.0, 0, 1.0, []
    for epoch in history:
        expected.append(5e-3 * scale)
        if epoch["valid_ndcg@10"] > best:
            best, bad = epoch["valid_ndcg@10"], 0
        else:
            bad += 1
            if bad % 2 == 0:
                scale *= 0.5
    assert [h["lr"] for h in history] == pytest.approx(expected)
    assert min(expected) < 5e-3  # the curve plateaued at least once, so the rule was exercised


def test_average_of_the_last_epochs_is_kept_only_when_it_validates_better(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = markov_dataset(n_users=60)
    trainer = Trainer(dataset, _config("train.average_last=3", "train.max_epochs=5"))
    trainer.fit()
    assert len(trainer.recent_states) == 3
    a, b, c = trainer.recent_states
    mean = {k: (a[k] + b[k] + c[k]) / 3 for k in a if a[k].is_floating_point()}
    for better, expected in ((True, mean), (False, trainer.best_state)):
        score = trainer.best_score + (0.1 if better else -0.1)
        monkeypatch.setattr(trainer, "validate", lambda s=score: {"valid_ndcg@10": s})
        kept = trainer._try_average()
        assert (kept is not None) == better
        state = trainer.model.state_dict()
        for key in mean:
            torch.testing.assert_close(state[key], expected[key])


def test_resume_refuses_a_different_model(tmp_path: Path) -> None:
    dataset = markov_dataset(n_users=40)
    train(dataset, _config("train.max_epochs=1", "train.tensorboard=false"), tmp_path)
    with pytest.raises(Exception, match="different model config"):
        train(dataset, _config("train.max_epochs=2", "model.dim=16"), tmp_path, resume=True)


def test_sampled_softmax_also_learns_the_pattern() -> None:
    dataset = markov_dataset(n_users=150)
    config = _config("train.loss=sampled_softmax", "train.n_negatives=20", "train.lr=1e-2")
    result = Trainer(dataset, apply_overrides(config, ["train.max_epochs=20"])).fit()
    assert result.best_metrics["valid_hr@10"] >= 0.9


def test_event_types_and_attributes_are_used_when_present() -> None:
    dataset = markov_dataset(n_users=40, attributes=True, event_types=True)
    config = _config("model.item_attributes=true", "model.user_attributes=true")
    trainer = Trainer(dataset, apply_overrides(config, ["train.max_epochs=1"]))
    cfg = trainer.encoder_config
    assert cfg.n_event_types == len(dataset.event_types.names)
    assert cfg.n_item_tokens == len(dataset.item_attributes.tokens)
    assert cfg.n_user_tokens == len(dataset.user_attributes.tokens)
    trainer.fit()
    off = Trainer(dataset, apply_overrides(config, ["model.item_attributes=false"]))
    assert off.encoder_config.n_item_tokens == 0
    plain = Trainer(markov_dataset(n_users=40), config)
    assert plain.encoder_config.n_event_types == 0  # a single event type carries nothing


def test_max_len_is_derived_from_the_data_unless_set() -> None:
    dataset = markov_dataset(n_users=100, min_len=20, max_len=30)
    derived = Trainer(dataset, _config()).encoder_config.max_len
    assert 18 <= derived <= 28  # 99th percentile of training lengths (sequences minus 2)
    assert Trainer(dataset, _config("model.max_len=8")).encoder_config.max_len == 8
    assert Trainer(dataset, _config("model.max_len_cap=12")).encoder_config.max_len == 12


def test_windows_cover_every_target_once_and_batches_stay_narrow() -> None:
    dataset = markov_dataset(n_users=50, min_len=3, max_len=25)
    seqs = UserSequences.from_interactions(dataset.interactions, dataset.n_users)
    windows = TrainingWindows.build(seqs, max_len=8, windows="all")
    n_targets = sum(len(s) - 1 for s in seqs.items)
    assert int((windows.targets > 0).sum()) == n_targets
    last = TrainingWindows.build(seqs, max_len=8, windows="last")
    assert len(last) == dataset.n_users
    assert int((last.targets > 0).sum()) == sum(min(len(s) - 1, 8) for s in seqs.items)
    # Inputs shifted by one are the targets: the next event at every position.
    row = int(np.argmax(windows.lengths))
    n = windows.lengths[row]
    assert np.array_equal(windows.items[row, 1:n], windows.targets[row, : n - 1])
    batches = windows.epoch_batches(16, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(windows)))
    widths = [windows.batch(b, torch.device("cpu")).items.shape[1] for b in batches]
    assert min(widths) < 8 and max(widths) == 8


def test_validation_ranking_agrees_with_the_evaluation_package() -> None:
    dataset = markov_dataset(n_users=80)
    trainer = Trainer(dataset, _config("train.max_epochs=1"))
    trainer.fit()
    ranks = rank_targets(trainer.model, trainer.validation, batch_size=32)
    v = trainer.validation
    reference = evaluate(
        EncoderScorer(trainer.model), v.users, v.histories, v.targets, dataset.n_items
    )
    assert np.array_equal(ranks, reference.per_user.ranks)


def test_device_option() -> None:
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            resolve_device("cuda")


def test_a_derived_batch_size_is_used_and_saved(tmp_path: Path) -> None:
    dataset = markov_dataset()
    config = apply_overrides(TrainConfig(), [*FAST[:5], *FAST[6:], "train.max_epochs=1"])
    assert config.train.batch_size is None
    trainer = Trainer(dataset, config, tmp_path)
    assert trainer.batch_size == derived_batch_size(len(trainer.windows))
    trainer.fit()
    assert load_checkpoint(tmp_path).train_config.train.batch_size == trainer.batch_size
