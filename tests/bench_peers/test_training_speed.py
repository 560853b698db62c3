"""bench/training_speed.py: time to target from learning curves, the split check, the report.

The last test runs RecBole and needs bench/peers/.venv-recbole; it skips without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import _report
import training_speed
from attune.data.dataset import AttributeTable, Dataset, Interactions
from attune.data.splits import leave_one_out
from attune.data.vocab import Vocabulary
from attune.training import ConfigError
from peers import recbole_peer, recbole_runner
from training_speed import Curve

from .planted_inter import write_planted
from .test_recbole_peer import needs_recbole_venv, peer_result


def test_time_to_target_is_the_clock_at_the_first_epoch_at_or_above_it() -> None:
    curve = Curve(seconds=(10.0, 20.0, 30.0, 40.0), ndcg=(0.02, 0.06, 0.0705, 0.08))
    assert curve.first_reaching(0.0705) == (3, 30.0)  # equal counts as reached
    assert curve.first_reaching(0.05) == (2, 20.0)
    assert curve.first_reaching(0.01) == (1, 10.0)
    assert curve.first_reaching(0.09) is None


def test_a_dip_after_reaching_the_target_does_not_move_the_time() -> None:
    curve = Curve(seconds=(5.0, 9.0, 14.0), ndcg=(0.08, 0.03, 0.09))
    assert curve.first_reaching(0.075) == (1, 5.0)


def test_best_is_the_first_epoch_with_the_highest_score() -> None:
    assert Curve((1.0, 2.0, 3.0, 4.0), (0.01, 0.05, 0.05, 0.04)).best() == (2, 0.05)
    with pytest.raises(ValueError):
        Curve((), ()).best()


def test_curves_read_the_rows_both_systems_report() -> None:
    attune_rows = [
        {"loss": 7.1, "seconds": 1.5, "valid_hr@10": 0.1, "valid_ndcg@10": 0.04},
        {"loss": 6.9, "seconds": 3.1, "valid_hr@10": 0.2, "valid_ndcg@10": 0.08},
    ]
    assert Curve.from_history(attune_rows) == Curve((1.5, 3.1), (0.04, 0.08))
    peer = peer_result([0.03, 0.07], seconds=[230.0, 461.0])
    assert Curve.from_history(peer["history"]) == Curve((230.0, 461.0), (0.03, 0.07))


def test_recbole_target_time_is_when_it_first_reached_its_own_best() -> None:
    peer = peer_result([0.03, 0.0705, 0.069, 0.0705], seconds=[230.0, 460.0, 690.0, 920.0])
    metrics = training_speed.recbole_metrics(peer, 0.0705)
    assert metrics["recbole/seconds_to_target"] == 460.0
    assert metrics["recbole/epoch_to_target"] == 2
    assert metrics["recbole/seconds_per_epoch"] == pytest.approx(230.0)
    # RecBole keeps the later of two equal epochs for its test metrics.
    assert metrics["recbole/best_epoch"] == 4


def _tiny_dataset() -> Dataset:
    # u0 watches a, b, c, d; u1 watches c, a, b (in time order, interleaved with u0's).
    users = np.array([0, 1, 0, 1, 0, 1, 0])
    items = np.array([0, 2, 1, 0, 2, 1, 3])
    times = np.arange(7, dtype=np.float64)
    return Dataset(
        name="tiny",
        interactions=Interactions.sorted_by_time(users, items, times),
        users=Vocabulary(["u0", "u1"]),
        items=Vocabulary(["a", "b", "c", "d"]),
        item_attributes=AttributeTable.empty(),
        user_attributes=AttributeTable.empty(),
    )


def test_held_out_items_use_external_ids() -> None:
    dataset = _tiny_dataset()
    held = training_speed.held_out_items(dataset, leave_one_out(dataset.interactions))
    assert held == {"valid": {"u0": "c", "u1": "a"}, "test": {"u0": "d", "u1": "b"}}


def test_split_mismatches_name_every_user_held_out_differently() -> None:
    ours = {"valid": {"1": "a", "2": "b", "3": "c"}, "test": {"1": "d", "2": "e", "3": "f"}}
    same = json.loads(json.dumps(ours))
    assert training_speed.split_mismatches(ours, same) == {"valid": [], "test": []}
    theirs = {"valid": {"1": "a", "2": "x", "3": "c"}, "test": {"1": "d", "2": "e", "4": "f"}}
    assert training_speed.split_mismatches(ours, theirs) == {"valid": ["2"], "test": ["3", "4"]}


def test_attune_is_configured_like_the_recbole_peer(tmp_path: Path) -> None:
    config = training_speed.attune_config(2020, 2)
    peer = recbole_peer.sasrec_config(15, 2020, tmp_path)
    model, fit = config.model, config.train
    assert (model.n_layers, model.n_heads, model.dim) == (
        peer["n_layers"],
        peer["n_heads"],
        peer["hidden_size"],
    )
    assert model.max_len == peer["MAX_ITEM_LIST_LENGTH"]
    assert model.dropout == peer["hidden_dropout_prob"]
    assert model.attn_dropout == peer["attn_dropout_prob"]
    assert fit.loss == "softmax" and peer["loss_type"] == "CE"
    assert (fit.batch_size, fit.lr, fit.seed) == (256, 1e-3, 2020)
    assert (fit.threads, fit.device) == (2, "cpu")
    assert training_speed.attune_config(1, 2, ["train.max_epochs=3"]).train.max_epochs == 3
    with pytest.raises(ConfigError):
        training_speed.attune_config(1, 2, ["train.nonsense=1"])


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Send the benchmark's output files to a temporary folder instead of bench/results."""
    out = tmp_path / "results"
    monkeypatch.setattr(_report, "RESULTS", out)
    monkeypatch.setattr(training_speed, "RESULTS", out)
    monkeypatch.setattr(training_speed, "CACHE", tmp_path / "cache")
    return out


def test_target_mode_reports_attune_alone_and_says_so(tmp_path: Path, results_dir: Path) -> None:
    write_planted(tmp_path / "planted")
    training_speed.main(
        ["--target", "0.01", "--data", str(tmp_path / "planted"), "--set", "train.max_epochs=2"]
    )
    saved = json.loads((results_dir / "training_speed_attune_only.json").read_text())
    metrics = saved["metrics"]
    assert metrics["target/valid_ndcg@10"] == 0.01
    assert metrics["attune/epochs"] == 2
    assert metrics["attune/reached_target"] == 1.0 and metrics["attune/seconds_to_target"] > 0
    assert 0.0 <= metrics["attune/test_ndcg@10"] <= metrics["attune/test_recall@10"] <= 1.0
    assert not any(key.startswith("recbole/") for key in metrics) and "speedup" not in metrics
    assert saved["smoke"] is True and "NOT run" in saved["recbole_source"]
    markdown = (results_dir / "training_speed_attune_only.md").read_text()
    assert "not measured in this run" in markdown and "SMOKE RUN" in markdown
    assert (results_dir / "training_speed_attune_only_curve.png").stat().st_size > 0
    assert not (results_dir / "training_speed.json").exists()  # the real result is untouched


def test_an_unreachable_target_leaves_out_the_time(tmp_path: Path, results_dir: Path) -> None:
    write_planted(tmp_path / "planted")
    training_speed.main(
        ["--target", "1.5", "--data", str(tmp_path / "planted"), "--set", "train.max_epochs=1"]
    )
    metrics = json.loads((results_dir / "training_speed_attune_only.json").read_text())["metrics"]
    assert metrics["attune/reached_target"] == 0.0
    assert "attune/seconds_to_target" not in metrics
    assert "not reached" in (results_dir / "training_speed_attune_only.md").read_text()


@needs_recbole_venv
def test_reused_recbole_run_gives_speedup_and_split_check(
    tmp_path: Path, results_dir: Path
) -> None:
    data = tmp_path / "planted"
    write_planted(data)
    peer = recbole_runner.run_recbole(2, timeout_s=180, data=data, threads=1)
    saved_peer = tmp_path / "recbole.json"
    saved_peer.write_text(json.dumps(peer))
    training_speed.main(
        ["--skip-recbole-run", str(saved_peer), "--data", str(data), "--set", "train.max_epochs=3"]
    )
    saved = json.loads((results_dir / "training_speed_smoke.json").read_text())
    metrics = saved["metrics"]
    target = max(row["valid_ndcg@10"] for row in peer["history"])
    assert metrics["target/valid_ndcg@10"] == pytest.approx(target)
    assert metrics["split/users"] == 40
    assert metrics["split/valid_mismatched_users"] == metrics["split/test_mismatched_users"] == 0
    assert metrics["recbole/test_ndcg@10"] == peer["test"]["ndcg@10"]
    # Planted groups are easy: Attune passes RecBole's two-epoch best within its three epochs.
    assert metrics["attune/reached_target"] == 1.0
    assert metrics["speedup"] == pytest.approx(
        metrics["recbole/seconds_to_target"] / metrics["attune/seconds_to_target"]
    )
    assert "NOT run now" in saved["recbole_source"]
    assert "(loaded: NOT this run)" in (results_dir / "training_speed_smoke.md").read_text()
