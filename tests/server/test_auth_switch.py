"""The first API key turns authentication on under a running server: `attune keys create`
says so, and the server logs the switch once when its key ring notices it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from structlog.testing import capture_logs
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from tests.server.conftest import make_db
from tests.server.test_hardening import _serve

NOW_ON = "authentication is now on: requests without a key get 401"


def test_the_first_key_says_auth_is_on_and_the_server_logs_it(
    trained: tuple[Dataset, Path], tmp_path: Path
) -> None:
    db, model = make_db(trained, tmp_path)
    app = create_app(ServerSettings(db=db, model=model))
    app.state.keys.recheck_s = 0.0  # follow the keys file at once (not within 1 s)
    runner = CliRunner()
    create = ["keys", "create", "--db", str(db), "--scope", "ingest"]

    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        url = "/v1/users/u1/recommendations"
        before = (await client.get(url)).status_code
        first = runner.invoke(cli, create)
        with capture_logs() as logs:
            after = [(await client.get(url)).status_code for _ in range(2)]
        second = runner.invoke(cli, create)
        return {"before": before, "after": after, "first": first, "second": second, "logs": logs}

    seen = _serve(app, scenario, base_url="http://127.0.0.1")  # a loopback caller
    assert seen["before"] == 200 and seen["after"] == [401, 401]
    first, second = seen["first"], seen["second"]
    assert first.exit_code == 0 and NOW_ON in first.stderr, first.output
    assert first.stdout.strip().startswith("attune_")  # stdout holds the key alone
    assert second.exit_code == 0 and "authentication is now on" not in second.output
    switched = [e for e in seen["logs"] if e["event"] == "authentication turned on"]
    assert len(switched) == 1, seen["logs"]
    assert switched[0]["log_level"] == "warning" and switched[0]["key_count"] == 1
    assert switched[0]["effect"] == "requests without an API key now get 401"
