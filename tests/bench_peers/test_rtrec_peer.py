"""The rtrec peer harness: data reading, scoring, the runner's contract, and one real run.

The end-to-end tests run rtrec itself and need bench/peers/.venv-rtrec (built by
bench/peers/setup_rtrec.sh); they skip when it is absent rather than installing it here.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from peers import rtrec_peer, rtrec_runner

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"

needs_rtrec_venv = pytest.mark.skipif(
    not rtrec_runner.venv_is_current(), reason="bench/peers/setup_rtrec.sh has not been run"
)


def test_read_inter_sorts_by_time_keeping_ties_and_string_ids(tmp_path: Path) -> None:
    path = tmp_path / "x.inter"
    path.write_text(HEADER + "1\t10\t4\t300\n2\t11\t2\t100\n3\t12\t5\t300\n1\t13\t1\t200\n")
    events = rtrec_peer.read_inter(path)
    assert [e.item for e in events] == ["11", "13", "10", "12"]
    assert events[0] == rtrec_peer.Event("2", "11", 100.0, 2.0)


def test_read_inter_rejects_a_file_without_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\titem_id:token\n1\t10\n")
    with pytest.raises(ValueError, match="timestamp"):
        rtrec_peer.read_inter(path)


def test_temporal_cut_trains_on_the_first_80_percent() -> None:
    events = [rtrec_peer.Event("u", str(i), float(i), 1.0) for i in range(10)]
    assert rtrec_peer.temporal_cut(events, 0.8) == 8
    with pytest.raises(ValueError):
        rtrec_peer.temporal_cut(events, 1.0)


def test_hit_and_ndcg_reward_the_target_by_rank() -> None:
    assert rtrec_peer.hit_and_ndcg(["a", "b", "c"], "a") == (1.0, 1.0)
    hit, gain = rtrec_peer.hit_and_ndcg(["a", "b", "c"], "c")
    assert hit == 1.0 and gain == pytest.approx(1 / math.log2(4))
    assert rtrec_peer.hit_and_ndcg(["a", "b"], "z") == (0.0, 0.0)


def test_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    durations = [int(x) for x in rng.integers(1_000, 50_000_000, size=257)]
    for q in (50, 90, 99):
        expected = np.percentile(np.array(durations, dtype=np.float64), q) / 1e6
        assert rtrec_peer.percentile_ms(durations, q) == pytest.approx(expected)


def test_parse_peer_output_takes_the_last_json_line() -> None:
    result = {key: 1 for key in rtrec_runner.REQUIRED_KEYS}
    parsed = rtrec_runner.parse_peer_output("noise\n" + json.dumps(result) + "\n\n")
    assert parsed == result


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("", "nothing"),
        ("Fit completed\n", "not JSON"),
        ("[1]\n", "list"),
        ('{"hr@10": 1}', "lacks"),
    ],
)
def test_parse_peer_output_rejects_bad_output(stdout: str, message: str) -> None:
    with pytest.raises(rtrec_runner.RtrecPeerError, match=message):
        rtrec_runner.parse_peer_output(stdout)


def test_venv_counts_as_current_only_with_the_requirements_stamp(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    assert not rtrec_runner.venv_is_current(venv)
    (venv / rtrec_runner.STAMP_NAME).write_text("stale\n")
    assert not rtrec_runner.venv_is_current(venv)
    digest = hashlib.sha256(rtrec_runner.REQUIREMENTS.read_bytes()).hexdigest()
    (venv / rtrec_runner.STAMP_NAME).write_text(digest + "\n")
    assert rtrec_runner.venv_is_current(venv)


def test_run_rtrec_rejects_a_non_positive_event_count() -> None:
    with pytest.raises(ValueError):
        rtrec_runner.run_rtrec(0, timeout_s=1)


def _planted_groups(path: Path, n_groups: int = 5, group_size: int = 10, users: int = 40) -> None:
    """Users each watch every item of one group in a shuffled order; the last 2 of 10 are test.

    Items of a group co-occur only with each other, so SLIM's two best unseen items are always
    the user's two remaining group items, while a blind top-10 of the other items rarely is.
    """
    rng = random.Random(0)
    lines = []
    for user in range(users):
        group = user % n_groups
        items = [f"g{group}i{k}" for k in range(group_size)]
        rng.shuffle(items)
        for step, item in enumerate(items):
            lines.append(f"u{user}\t{item}\t4\t{step * 1000 + user}\n")
    path.write_text(HEADER + "".join(lines))


@needs_rtrec_venv
def test_peer_finds_planted_co_occurrence_and_prints_only_json(tmp_path: Path) -> None:
    data = tmp_path / "planted.inter"
    _planted_groups(data)
    python = rtrec_runner.DEFAULT_VENV / "bin" / "python"
    done = subprocess.run(
        [str(python), str(rtrec_runner.PEER_SCRIPT), "--all", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)  # the whole stdout, not just its last line
    assert result["events"] == 80 and result["train_events"] == 320
    assert result["hr@10"] >= 0.9
    assert 0.0 < result["ndcg@10"] <= result["hr@10"]
    assert result["rtrec_version"] == "0.2.7"
    assert 0.0 < result["update_p50_ms"] <= result["update_p99_ms"]
    assert 0.0 < result["recommend_p50_ms"] <= result["recommend_p99_ms"]


@needs_rtrec_venv
def test_run_rtrec_streams_the_requested_events(tmp_path: Path) -> None:
    data = tmp_path / "planted.inter"
    _planted_groups(data)
    result = rtrec_runner.run_rtrec(25, timeout_s=120, data=data, threads=1)
    assert result["events"] == 25
    assert result["threads"] == 1


@needs_rtrec_venv
def test_run_rtrec_reports_why_the_peer_failed(tmp_path: Path) -> None:
    with pytest.raises(rtrec_runner.RtrecPeerError, match=r"missing\.inter"):
        rtrec_runner.run_rtrec(10, timeout_s=120, data=tmp_path / "missing.inter")
