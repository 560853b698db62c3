"""A simulated population in an online A/B test: every shown item is clicked with a
probability set by the user's arm. `attune models compare` finds the better arm, with the
counts the simulation made and intervals computed by hand; equal arms are not significant;
the promotion gate follows the comparison, and an erasure promotion bypasses it."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.events import Interaction
from attune.engine.config import EngineConfig
from attune.engine.engine import Engine, load_model
from attune.feedback import compare
from attune.learning.experiments import (
    OnlineGateError,
    promote_version,
    start_experiment,
)
from attune.learning.registry import ModelRegistry
from attune.schemas.experiments import Experiment
from attune.stores import open_storage

USERS = [f"u{i}" for i in range(480)]
Z = 1.959963984540054


def _simulate(
    engine: Engine,
    registry: ModelRegistry,
    experiment: Experiment,
    ctr: dict[str, float],
    seed: int,
) -> dict[str, tuple[int, int]]:
    """Serve every user one list of 10 and click each shown item with the arm's rate; the
    (items shown, clicks) made per arm."""
    engine.start_experiment(experiment, load_model(registry.path(2), 2))
    rng = np.random.default_rng(seed)
    now = time.time()
    made = {"control": [0, 0], "challenger": [0, 0]}
    clicks: list[Interaction] = []
    for user in USERS:
        recs = engine.recommend(user, 10, now=now)
        assert recs.experiment == experiment.id and recs.arm is not None
        for item in recs.items:
            made[recs.arm][0] += 1
            if rng.random() < ctr[recs.arm]:
                made[recs.arm][1] += 1
                clicks.append(
                    Interaction(
                        user_id=user,
                        item_id=item.item_id,
                        event_type="click",
                        recommendation_id=recs.recommendation_id,
                    )
                )
    result = engine.ingest(clicks)
    assert result.accepted == len(clicks)
    engine.feedback.flush()
    return {arm: (n, x) for arm, (n, x) in made.items()}


def _fixed_id(registry: ModelRegistry, experiment: Experiment, exp_id: str) -> Experiment:
    """`experiment` under a fixed id: the arms, and so the outcome, are the same every run
    (equal arms differ significantly in 5% of random draws)."""
    fixed = experiment.model_copy(update={"id": exp_id})
    registry.pointer.set_experiment(fixed)
    return fixed


def _wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    p = x / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def _compare(registry: ModelRegistry, db: Path) -> dict:  # type: ignore[type-arg]
    out = CliRunner().invoke(
        cli, ["models", "compare", "--registry", str(registry.root), "--store", str(db), "--json"]
    )
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def _promote(registry: ModelRegistry, db: Path, *extra: str) -> tuple[int, str]:
    out = CliRunner().invoke(
        cli,
        ["models", "promote", "2", "--registry", str(registry.root), "--store", str(db), *extra],
    )
    return out.exit_code, out.output


def test_a_simulated_population(ab_files: tuple[Path, ModelRegistry]) -> None:
    db, registry = ab_files
    engine = Engine(open_storage(db), load_model(registry.path(1), 1), EngineConfig())
    try:
        # Equal arms: no winner, and the gate refuses the promotion.
        equal = _fixed_id(registry, start_experiment(registry, 2, 0.5), "e0e0e0")
        _simulate(engine, registry, equal, {"control": 0.08, "challenger": 0.08}, seed=1)
        report = _compare(registry, db)
        assert report["experiment"]["id"] == equal.id
        assert report["winner"] is None and not report["ctr"]["significant"]
        code, output = _promote(registry, db, "--require-online-win")
        assert code == 2 and "no significant online win" in output
        assert registry.current() == 1
        # An erasure promotion bypasses the gate; back to v1 for the next experiment.
        promote_version(registry, 2, reason="erasure", require_online_win=True)
        assert registry.current() == 2 and not registry.pointer.experiment().running  # type: ignore[union-attr]
        registry.rollback()

        # The challenger's users click more: it wins, with the simulation's own counts.
        better = start_experiment(registry, 2, 0.5)
        assert better.id != equal.id
        better = _fixed_id(registry, better, "b1b1b1")
        made = _simulate(engine, registry, better, {"control": 0.05, "challenger": 0.12}, seed=2)
        report = _compare(registry, db)
        arms = {a["arm"]: a for a in report["arms"]}
        for arm, (items, clicks) in made.items():
            assert (arms[arm]["items"], arms[arm]["clicks"]) == (items, clicks)
            low, high = _wilson_by_hand(clicks, items)
            assert arms[arm]["ctr"]["low"] == pytest_approx(low)
            assert arms[arm]["ctr"]["high"] == pytest_approx(high)
        assert arms["control"]["model_version"] == 1
        assert arms["challenger"]["model_version"] == 2
        assert report["winner"] == "challenger" and report["ctr"]["low"] > 0
        assert report["ctr"]["value"] == pytest_approx(
            made["challenger"][1] / made["challenger"][0] - made["control"][1] / made["control"][0]
        )
        # The server's online counts agree with the report read from the database.
        assert compare(better, engine.feedback.tally().arms).model_dump(mode="json") == report
        code, output = _promote(registry, db, "--require-online-win")
        assert code == 0 and "version 2 is current" in output, output
    finally:
        engine.close()


def test_the_gate_needs_an_experiment_of_that_version(
    ab_files: tuple[Path, ModelRegistry],
) -> None:
    db, registry = ab_files
    with open_storage(db) as store:
        try:
            promote_version(registry, 2, require_online_win=True, store=store)
        except OnlineGateError as err:
            assert "attune models ab start 2" in str(err)
        else:
            raise AssertionError("promoted without an online test")
    assert registry.current() == 1
    promote_version(registry, 2)  # off by default
    assert registry.current() == 2


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, rel=1e-9, abs=1e-12)
