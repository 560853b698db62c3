"""The RecBole peer harness: its config, the runner's contract, and one real run.

The end-to-end tests run RecBole itself and need bench/peers/.venv-recbole (built by
bench/peers/setup_recbole.sh); they skip when it is absent rather than installing it here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from peers import recbole_peer, recbole_runner

from .planted_inter import write_planted

needs_recbole_venv = pytest.mark.skipif(
    not recbole_runner.venv_is_current(), reason="bench/peers/setup_recbole.sh has not been run"
)


def peer_result(ndcg: list[float], seconds: list[float] | None = None) -> dict[str, Any]:
    """A well-formed peer object with the given validation curve."""
    seconds = seconds if seconds is not None else [100.0 * (i + 1) for i in range(len(ndcg))]
    best = recbole_peer.best_epoch(ndcg)
    return {
        "recbole_version": "1.2.1",
        "epochs": len(ndcg),
        "threads": 2,
        "setup_seconds": 3.0,
        "history": [
            {"epoch": i + 1, "seconds": s, "valid_ndcg@10": v, "valid_recall@10": 2 * v}
            for i, (s, v) in enumerate(zip(seconds, ndcg, strict=True))
        ],
        "best_epoch": best,
        "best_valid": {"ndcg@10": ndcg[best - 1], "recall@10": 2 * ndcg[best - 1]},
        "test": {"ndcg@10": 0.06, "recall@10": 0.13},
        "split": {"valid": {"1": "10"}, "test": {"1": "11"}},
    }


def test_config_is_the_benchmark_architecture_without_early_stopping(tmp_path: Path) -> None:
    config = recbole_peer.sasrec_config(15, 2020, tmp_path)
    assert (config["n_layers"], config["n_heads"], config["hidden_size"]) == (2, 2, 64)
    assert config["MAX_ITEM_LIST_LENGTH"] == 50
    assert config["hidden_dropout_prob"] == config["attn_dropout_prob"] == 0.5
    assert config["loss_type"] == "CE" and config["train_neg_sample_args"] is None
    assert (config["train_batch_size"], config["learning_rate"]) == (256, 1e-3)
    assert config["eval_args"]["split"] == {"LS": "valid_and_test"}
    assert (config["eval_args"]["order"], config["eval_args"]["mode"]) == ("TO", "full")
    assert config["valid_metric"] == "NDCG@10" and config["seed"] == 2020
    # Early stopping could cut the curve short of the epochs the benchmark asked for.
    assert config["stopping_step"] >= config["epochs"] == 15
    with pytest.raises(ValueError):
        recbole_peer.sasrec_config(0, 2020, tmp_path)


def test_dataset_location_defaults_to_the_bundled_ml100k(tmp_path: Path) -> None:
    assert recbole_peer.dataset_location(None) == ("ml-100k", None)
    folder = tmp_path / "tiny"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=r"tiny\.inter"):
        recbole_peer.dataset_location(folder)
    (folder / "tiny.inter").write_text("user_id:token\n")
    assert recbole_peer.dataset_location(folder) == ("tiny", str(tmp_path.resolve()))
    # RecBole would silently read its bundled copy instead of a folder named ml-100k.
    with pytest.raises(ValueError, match="bundled"):
        recbole_peer.dataset_location(tmp_path / "ml-100k")


def test_best_epoch_is_the_last_one_reaching_the_maximum_like_recbole() -> None:
    assert recbole_peer.best_epoch([0.01, 0.03, 0.02]) == 2
    assert recbole_peer.best_epoch([0.01, 0.03, 0.03, 0.02]) == 3
    with pytest.raises(ValueError):
        recbole_peer.best_epoch([])


def test_parse_peer_output_takes_the_last_json_line() -> None:
    result = peer_result([0.02, 0.05, 0.04])
    parsed = recbole_runner.parse_peer_output("log line\n" + json.dumps(result) + "\n\n")
    assert parsed == result


def _broken(change: str) -> dict[str, Any]:
    result = peer_result([0.02, 0.05, 0.04])
    if change == "missing key":
        del result["split"]
    elif change == "epochs":
        result["epochs"] = 15
    elif change == "clock":
        result["history"][2]["seconds"] = 10.0
    elif change == "nan":
        result["history"][1]["valid_ndcg@10"] = math.nan
    elif change == "best epoch":
        result["best_epoch"] = 4
    elif change == "test":
        del result["test"]["recall@10"]
    return result


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing key", "lacks"),
        ("epochs", "ran 3 epochs"),
        ("clock", "backwards"),
        ("nan", "finite"),
        ("best epoch", "best epoch"),
        ("test", "test recall"),
    ],
)
def test_validate_result_rejects_an_unusable_curve(change: str, message: str) -> None:
    with pytest.raises(recbole_runner.RecBolePeerError, match=message):
        recbole_runner.validate_result(_broken(change))


@pytest.mark.parametrize(
    ("stdout", "message"), [("", "nothing"), ("Epoch 1 done\n", "not JSON"), ("[1]\n", "list")]
)
def test_parse_peer_output_rejects_bad_output(stdout: str, message: str) -> None:
    with pytest.raises(recbole_runner.RecBolePeerError, match=message):
        recbole_runner.parse_peer_output(stdout)


def test_load_result_reads_a_saved_run_and_rejects_a_broken_one(tmp_path: Path) -> None:
    good = peer_result([0.03, 0.07])
    path = tmp_path / "recbole.json"
    path.write_text(json.dumps(good))
    assert recbole_runner.load_result(path) == good
    bad = copy.deepcopy(good)
    bad["history"].pop()
    path.write_text(json.dumps(bad))
    with pytest.raises(recbole_runner.RecBolePeerError):
        recbole_runner.load_result(path)


def test_venv_counts_as_current_only_with_the_requirements_stamp(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert not recbole_runner.venv_is_current(venv)
    (venv / recbole_runner.STAMP_NAME).write_text("stale\n")
    assert not recbole_runner.venv_is_current(venv)
    digest = hashlib.sha256(recbole_runner.REQUIREMENTS.read_bytes()).hexdigest()
    (venv / recbole_runner.STAMP_NAME).write_text(digest + "\n")
    assert recbole_runner.venv_is_current(venv)


def test_requirements_pin_a_cpu_installable_torch_and_recbole() -> None:
    pins = dict(
        line.split("==", 1)
        for line in recbole_runner.REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert pins["recbole"] == "1.2.1"
    assert pins["torch"] == "2.13.0"  # an unpinned torch resolves to a multi-GB CUDA build
    assert pins["numpy"].startswith("1.")


def test_run_recbole_rejects_a_non_positive_epoch_count() -> None:
    with pytest.raises(ValueError):
        recbole_runner.run_recbole(0, timeout_s=1)


@needs_recbole_venv
def test_run_recbole_reports_a_curve_and_the_leave_one_out_split(tmp_path: Path) -> None:
    sequences = write_planted(tmp_path / "planted")
    result = recbole_runner.run_recbole(2, timeout_s=180, data=tmp_path / "planted", threads=1)
    assert result["recbole_version"] == "1.2.1" and result["threads"] == 1
    assert [row["epoch"] for row in result["history"]] == [1, 2]
    assert 0 < result["history"][0]["seconds"] <= result["history"][1]["seconds"]
    assert all(0.0 <= row["valid_ndcg@10"] <= 1.0 for row in result["history"])
    assert result["split"]["valid"] == {u: s[-2] for u, s in sequences.items()}
    assert result["split"]["test"] == {u: s[-1] for u, s in sequences.items()}
    assert 0.0 <= result["test"]["ndcg@10"] <= result["test"]["recall@10"] <= 1.0


@needs_recbole_venv
def test_run_recbole_reports_why_the_peer_failed(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(recbole_runner.RecBolePeerError, match=r"empty\.inter"):
        recbole_runner.run_recbole(1, timeout_s=120, data=tmp_path / "empty")
