"""Evaluation = serving (issue 19, point 4): offline `attune recommend` and offline evaluation
score a user exactly as the running server does, for one model and for an ensemble.

The data carries what the server reads and the old offline path dropped: several event
types (which the model embeds) and user attributes (which it reads too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.data.importers.builder import DatasetBuilder
from attune.evaluation import evaluate
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from attune.training.checkpoint import load_members
from attune.training.config import FitConfig, ModelConfig, TrainConfig
from attune.training.recommend import recommend_offline, served_scorer, user_history
from attune.training.trainer import train
from tests.engine.conftest import N_CLUSTERS, PER_CLUSTER, T0
from tests.server.conftest import make_db
from tests.server.test_ids_and_auth import _serve

USERS = ["u1", "u6", "u31", "u58"]
TYPES = ("view", "click", "purchase", "skip")
"""A skip is negative: the server keeps it out of the window, but the item counts as seen."""


def typed_dataset(n_users: int = 96, length: int = 10) -> Dataset:
    """Clustered sessions (as in tests/engine) with mixed event types, skips among them, and
    user attributes."""
    rng = np.random.default_rng(1)
    b = DatasetBuilder("typed")
    for c in range(N_CLUSTERS):
        for j in range(PER_CLUSTER):
            b.item_attrs[b.items.add(f"c{c}-{j}")] = [f"genre=g{c}"]
    for u in range(n_users):
        uid = f"u{u}"
        b.user_attrs[b.users.add(uid)] = [f"segment=s{u % N_CLUSTERS}", f"age=a{u % 3}"]
        for session, c in enumerate(((u // N_CLUSTERS) % N_CLUSTERS, u % N_CLUSTERS)):
            for t, j in enumerate(rng.choice(PER_CLUSTER, size=length // 2, replace=False)):
                kind = TYPES[int(rng.choice(len(TYPES), p=[0.4, 0.2, 0.2, 0.2]))]
                b.add(uid, f"c{c}-{j}", T0 + u * 100 + session * 50 + t, kind)
    return b.build()


def _config(members: int) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(
            dim=16, max_len=8, item_attributes=True, user_attributes=True, members=members
        ),
        train=FitConfig(
            max_epochs=2, batch_size=32, device="cpu", progress=False, tensorboard=False
        ),
    )


@dataclass(frozen=True)
class Trained:
    data: Dataset
    model: Path


@pytest.fixture(scope="module", params=[1, 2], ids=["one-model", "pair"])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    data = typed_dataset()
    out = tmp_path_factory.mktemp(f"members{request.param}")
    train(data, _config(request.param), out)
    members = load_members(out)
    assert len(members) == request.param
    config = members[0].encoder_config
    assert config.n_event_types > 1 and config.n_user_tokens > 0
    return Trained(data, out)


def _served_lists(trained: Trained, folder: Path) -> tuple[Path, dict[str, Any]]:
    """Each of `USERS`' top 10 from the in-process server (its default ranking: filters,
    diversity and exploration off), and the model directory it served."""
    db, model = make_db((trained.data, trained.model), folder)

    async def body(client: httpx.AsyncClient) -> dict[str, Any]:
        out = {}
        for user in USERS:
            response = await client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
            assert response.status_code == 200, response.text
            out[user] = response.json()
        return out

    return model, _serve(create_app(ServerSettings(db=db, model=model)), body)


def test_offline_recommend_gives_the_served_items_and_scores(
    trained: Trained, tmp_path: Path
) -> None:
    model, served = _served_lists(trained, tmp_path)
    members = load_members(model)
    data = trained.data
    for user in USERS:
        listed = served[user]
        assert listed["source"] == "model" and len(listed["items"]) == 10
        history = user_history(data, data.users.get(user), members[0])
        items, scores = recommend_offline(
            members,
            history.items,
            10,
            event_types=history.event_types,
            user_tokens=history.tokens,
            seen=history.seen,
        )
        ids = [members[0].items.external(i) for i in items.tolist()]
        assert ids == [r["item_id"] for r in listed["items"]], user
        np.testing.assert_allclose(scores, [r["score"] for r in listed["items"]], atol=1e-5)
    # The command prints the same list (scores to 4 decimals).
    result = CliRunner().invoke(
        cli, ["recommend", "--model", str(model), "--data", str(tmp_path / "attune.db"),
              "--user", USERS[0]],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = re.findall(r"^\s*\d+\. (\S+)\s+(-?\d\.\d{4})", result.output, re.M)
    assert [p[0] for p in printed] == [r["item_id"] for r in served[USERS[0]]["items"]]
    want = [r["score"] for r in served[USERS[0]]["items"]]
    np.testing.assert_allclose([float(p[1]) for p in printed], want, atol=6e-5)


def test_offline_evaluation_ranks_a_target_where_the_server_lists_it(
    trained: Trained, tmp_path: Path
) -> None:
    """Each item of a served list, taken as the held-out target of that user's whole history,
    gets the rank the list shows it at."""
    model, served = _served_lists(trained, tmp_path)
    data = trained.data
    sequences = data.sequences()
    users, histories, targets, positions = [], [], [], []
    for user in USERS:
        u = data.users.get(user)
        for position, r in enumerate(served[user]["items"], 1):
            users.append(u)
            histories.append(sequences[u])
            targets.append(data.items.get(r["item_id"]))
            positions.append(position)
    result = evaluate(
        served_scorer(load_members(model), data),
        np.array(users),
        histories,
        np.array(targets),
        data.n_items,
        n_bootstrap=10,
    )
    assert result.per_user.ranks.tolist() == positions
