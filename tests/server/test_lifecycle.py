"""Starting, stopping and crashing servers: durability, the one-process rule, safe binding."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.client import Client, Interaction
from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.lock import DatabaseInUseError, DatabaseLock
from attune.server.settings import ServerSettings
from tests.server.conftest import STOPPED, Server, make_db


def test_restart_after_a_crash_keeps_every_acknowledged_event(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained, tmp_path)
    server = Server(db, model).start()
    acked: list[tuple[str, str]] = []
    try:
        with Client(server.url) as client:
            for n in range(30):
                batch = [
                    Interaction(user_id=f"dur{n % 3}", item_id=f"c{n % 4}-{j}", event_type="click")
                    for j in range(n % 3 + 1)
                ]
                sent = batch if n % 2 else batch[:1]
                last_seq = client.ingest(sent if n % 2 else sent[0]).last_seq
                acked += [(e.user_id, e.item_id) for e in sent]
        # A second server on the same database is refused while the first one runs.
        second = CliRunner().invoke(cli, ["serve", "--db", str(db), "--model", str(model)])
        assert second.exit_code == 2
        assert "already served by another Attune process" in second.output
    finally:
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL  # a crash: no snapshot, no close

    again = Server(db, model).start()
    try:
        with Client(again.url) as client:
            assert client.ready().last_seq == last_seq
            for user in ("dur0", "dur1", "dur2"):
                mine = [item for u, item in acked if u == user]
                history = [e.item_id for e in client.history(user).events]
                assert history == mine[-len(history) :] and len(history) == min(len(mine), 16)
            assert client.recommend("dur1", k=5).source == "model"
    finally:
        assert again.stop() in STOPPED, again.output


def test_the_lifespan_refuses_a_locked_database(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    """Servers started without the CLI (e.g. `uvicorn --factory`) are refused as well."""
    db, model = make_db(trained, tmp_path)
    app = create_app(ServerSettings(db=db, model=model))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pytest.fail("the lifespan started on a locked database")

    with DatabaseLock(db), pytest.raises(DatabaseInUseError, match="already served"):
        asyncio.run(start())


def test_no_keys_means_loopback_only(trained: tuple[Dataset, Path], tmp_path: Path) -> None:
    db, model = make_db(trained, tmp_path)
    result = CliRunner().invoke(
        cli, ["serve", "--db", str(db), "--model", str(model), "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2
    assert "refusing to bind 0.0.0.0: authentication is off" in result.output


def test_keys_cli_prints_a_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--db",
            str(db),
            "--scope",
            "ingest",
            "--scope",
            "recommend",
            "--name",
            "shop",
        ],
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    stored = Path(str(db) + ".keys.json").read_text()
    assert key.startswith("attune_") and key not in stored and key.split("_")[1] in stored
    listed = runner.invoke(cli, ["keys", "list", "--db", str(db)])
    assert "ingest,recommend\tshop" in listed.stdout and key not in listed.stdout
    key_id = key.split("_")[1]
    assert runner.invoke(cli, ["keys", "revoke", key_id, "--db", str(db)]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", key_id, "--db", str(db)]).exit_code == 2


def test_settings_precedence_arguments_env_then_toml(
    trained: tuple[Dataset, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, model = make_db(trained, tmp_path)
    toml = tmp_path / "attune.toml"
    toml.write_text(
        f'db = "{db}"\nmodel = "{model}"\nport = 9001\nhost = "127.0.0.2"\n'
        '[engine]\nunknown_items = "reject"\nmax_k = 50\n'
    )
    monkeypatch.setenv("ATTUNE_CONFIG", str(toml))
    monkeypatch.setenv("ATTUNE_PORT", "9002")
    monkeypatch.setenv("ATTUNE_ENGINE__MAX_K", "60")
    settings = ServerSettings(host="127.0.0.3")  # type: ignore[call-arg]
    assert (settings.db, settings.port, settings.host) == (db, 9002, "127.0.0.3")
    assert (settings.engine.unknown_items, settings.engine.max_k) == ("reject", 60)
    toml.write_text(toml.read_text() + "colour = 'blue'\n")
    with pytest.raises(ValueError, match="colour"):
        ServerSettings()  # type: ignore[call-arg]
