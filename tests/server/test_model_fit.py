"""A model trained on other data is refused at start-up (it would serve popularity to nearly
everyone), unless allowed; the share of the store's items the model knows is always logged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.data.importers.builder import DatasetBuilder
from attune.server.serving import ModelMismatchError, open_serving
from attune.server.settings import ServerSettings
from attune.stores import open_storage
from tests.server.conftest import STOPPED, Server, make_db

OTHER_ITEMS = 30


def _other_store(trained: tuple[Dataset, Path], folder: Path) -> tuple[Path, Path]:
    """A database of mostly other items (1 in 3 the model saw), and a copy of the model."""
    b = DatasetBuilder("other")
    for j in range(OTHER_ITEMS):
        idx = b.items.add(f"c0-{j // 3}" if j % 3 == 0 else f"other-{j}")
        b.item_attrs[idx] = [f"genre=g{j % 4}"]
    for u in range(20):
        for t in range(4):
            b.add(f"o{u}", b.items.ids[(u + 7 * t) % OTHER_ITEMS], 1_700_000_000 + t, "view")
    folder.mkdir()
    db = folder / "other.db"
    with open_storage(db) as store:
        store.import_dataset(b.build(), progress=False)
    shutil.copytree(trained[1], folder / "model")
    return db, folder / "model"


def _fit(logs: list[dict[str, object]]) -> dict[str, object]:
    [line] = [e for e in logs if e["event"] == "model catalogue fit"]
    return line


def test_a_model_of_other_data_is_refused_unless_allowed(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = _other_store(trained, tmp_path / "other")
    refused = CliRunner().invoke(cli, ["serve", "--db", str(db), "--model", str(model)])
    assert refused.exit_code == 2, refused.output
    assert f"knows 10 of the store's {OTHER_ITEMS} items (33%" in refused.output
    assert "--allow-mismatch" in refused.output and "Traceback" not in refused.output
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1

    with capture_logs() as logs, pytest.raises(ModelMismatchError):
        open_serving(ServerSettings(db=db, model=model))
    assert _fit(logs)["known_share"] == round(10 / OTHER_ITEMS, 4)

    # Allowed (the CLI option): the server starts and logs the share it knows.
    server = Server(db, model, args=["--allow-mismatch"]).start()
    try:
        [line] = [json.loads(s) for s in server.log if '"model catalogue fit"' in s]
        assert (line["items"], line["known_items"], line["level"]) == (OTHER_ITEMS, 10, "warning")
    finally:
        assert server.stop() in STOPPED, server.output


def test_a_fitting_model_and_an_empty_store_start(
    trained: tuple[Dataset, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, model = make_db(trained, tmp_path / "same")
    empty = tmp_path / "empty.db"
    with open_storage(empty):
        pass
    with capture_logs() as logs:
        open_serving(ServerSettings(db=db, model=model)).close()
    assert _fit(logs)["known_share"] == 1.0 and _fit(logs)["log_level"] == "info"
    with capture_logs() as logs:
        open_serving(ServerSettings(db=empty, model=model)).close()
    assert (_fit(logs)["items"], _fit(logs)["known_share"]) == (0, None)

    other, other_model = _other_store(trained, tmp_path / "other")
    monkeypatch.setenv("ATTUNE_ALLOW_MISMATCH", "1")  # the variable, as the CLI passes it on
    settings = ServerSettings(db=other, model=other_model)
    assert settings.allow_mismatch
    open_serving(settings).close()
