"""The streaming protocol on planted data: real-time state beats lists frozen at the cut."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.learning.finetune import FineTuneConfig
from attune.learning.stream import StreamConfig, stream_evaluate
from attune.stores import open_storage
from attune.training.config import FitConfig, ModelConfig, TrainConfig
from tests.engine.conftest import clustered_dataset

TINY = TrainConfig(
    model=ModelConfig(dim=32, max_len=16, dropout=0.1, attn_dropout=0.1),
    train=FitConfig(max_epochs=6, patience=6, batch_size=64, lr=5e-3, warmup_steps=10,
                    device="cpu", progress=False, tensorboard=False),
)  # fmt: skip


def test_realtime_beats_static_and_finetuning_runs(tmp_path: Path) -> None:
    data: Dataset = clustered_dataset(n_users=320)
    config = StreamConfig(
        finetune_every=200, max_events=600, bucket=200,
        finetune=FineTuneConfig(min_events=100, tolerance=1.0),
    )  # fmt: skip
    report = stream_evaluate(data, tmp_path, config, TINY)
    assert report.test_events == 600 and report.train_events == int(len(data.interactions) * 0.8)
    static, realtime = report.results["static"], report.results["realtime"]
    finetune = report.results["finetune"]
    assert len(static.hits) == len(realtime.hits) == len(finetune.hits) == 600
    # Users arrive over time (most are unknown at the cut) and browse one genre per session:
    # frozen lists can only serve popularity to them, the live state follows the session.
    assert realtime.hr > static.hr + 0.1
    assert [o.status for o in report.rounds] == ["published"] * 3
    metrics = report.metrics(10)
    assert metrics["finetune/rounds"] == 3 and metrics["finetune/events_per_s"] > 0
    assert [p[0] for p in realtime.curve(200)] == [200, 400, 600]


def test_cli_stream_protocol_writes_its_report(tmp_path: Path) -> None:
    data = clustered_dataset(n_users=200)
    db = tmp_path / "clusters.db"
    with open_storage(db) as store:
        store.import_dataset(data, progress=False)
    out = tmp_path / "report"
    args = ["evaluate", "--protocol", "stream", "--data", str(db), "--out", str(out),
            "--max-events", "200", "--finetune-every", "100",
            "--set", "train.max_epochs=2", "--set", "train.progress=false",
            "--set", "model.dim=16", "--set", "train.tensorboard=false"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "| realtime |" in result.output and "| static |" in result.output
    metrics = json.loads((out / "stream.json").read_text())["metrics"]
    assert {"static/hr@10", "realtime/ndcg@10", "finetune/hr@10"} <= set(metrics)
    assert (out / "stream.png").stat().st_size > 1000


def test_cli_stream_protocol_rejects_a_bad_protocol(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--protocol", "bogus", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "must be loo or stream" in result.output
