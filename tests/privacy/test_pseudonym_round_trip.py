"""Keyed pseudonyms end to end: raw ids go in through the CLI import, the HTTP API and a
training run, and come out only where the caller sent them. Every endpoint answers by raw
id, and no raw id is in the database files, the captured log, or a checkpoint."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from attune.cli.main import app as cli
from attune.data.dataset import Dataset
from attune.data.pseudonyms import load_key_file
from attune.log import configure, redact, redact_user_ids
from attune.server.app import create_app
from attune.server.settings import ServerSettings
from attune.stores import open_storage

runner = CliRunner()


def _persons(n: int) -> list[str]:
    return [f"person-{uuid.uuid4()}" for _ in range(n)]


def _files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def deployment(trained: tuple[Dataset, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A key file, a database holding the engine tests' data under it, and the model."""
    key_file = tmp_path / "keys" / "pseudonym.key"
    made = runner.invoke(cli, ["users", "new-key", "--key-file", str(key_file)])
    assert made.exit_code == 0, made.output
    assert key_file.stat().st_mode & 0o777 == 0o600
    data, model_dir = trained
    db = tmp_path / "store" / "attune.db"
    db.parent.mkdir()
    with open_storage(db) as store:
        store.import_dataset(load_key_file(key_file).dataset(replace(data)), progress=False)
    shutil.copytree(model_dir, tmp_path / "model")
    return key_file, db, tmp_path / "model"


def _serve(app: Any, calls: Any) -> Any:
    async def run() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                return await calls(c)

    return asyncio.run(run())


def test_raw_ids_work_on_every_endpoint_and_are_stored_nowhere(
    deployment: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    key_file, db, model = deployment
    imported, live, erased = _persons(1)[0], _persons(1)[0], _persons(1)[0]
    csv = tmp_path / "persons.csv"
    csv.write_text(f"user_id,item_id,timestamp\n{imported},c0-1,100\n{imported},c0-2,200\n")
    done = runner.invoke(
        cli, ["data", "import", str(csv), "--db", str(db), "--pseudonym-key-file", str(key_file)]
    )
    assert done.exit_code == 0, done.output
    log = io.StringIO()
    configure("debug", fmt="json", file=log)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the test's client, not the server
    app = create_app(ServerSettings(db=db, model=model, pseudonym_key_file=key_file))

    async def calls(c: httpx.AsyncClient) -> dict[str, httpx.Response]:
        events = [{"user_id": u, "item_id": "c1-3"} for u in (live, erased, live)]
        out = {"events": await c.post("/v1/events", json=events)}
        out["put"] = await c.put(f"/v1/users/{quote(live)}", json={"attributes": {"seg": "s1"}})
        for who in (imported, live):
            out[f"get {who}"] = await c.get(f"/v1/users/{quote(who)}/recommendations?k=3")
        out["post"] = await c.post(f"/v1/users/{quote(live)}/recommendations", json={"k": 2})
        out["history"] = await c.get(f"/v1/users/{quote(imported)}/history")
        item = out[f"get {imported}"].json()["items"][0]["item_id"]
        out["explain"] = await c.get(f"/v1/users/{quote(imported)}/explanations?item={item}")
        out["search"] = await c.get("/v1/users", params={"prefix": live})
        out["erase"] = await c.delete(f"/v1/users/{quote(erased)}")
        out["erased history"] = await c.get(f"/v1/users/{quote(erased)}/history")
        return out

    r = _serve(app, calls)
    configure()
    assert r["events"].json()["accepted"] == 3
    assert r["put"].status_code == 200
    assert r[f"get {imported}"].json()["user_id"] == imported
    assert r[f"get {imported}"].json()["source"] == "model"  # its imported history was found
    assert r["post"].json()["user_id"] == live
    history = r["history"].json()
    assert [e["item_id"] for e in history["events"]] == ["c0-1", "c0-2"]
    assert r["explain"].status_code == 200 and r["explain"].json()["user_id"] == imported
    [found] = r["search"].json()["users"]
    assert found["user_id"] == live and found["history"] == 2
    assert found["attributes"] == {"seg": "s1"}
    assert r["erase"].json()["events"] == 1
    assert r["erased history"].status_code == 404
    assert erased in r["erased history"].text  # the caller's own id, not its pseudonym

    chain = load_key_file(key_file)
    with open_storage(db) as store:
        assert store.users.get(chain(imported)) >= 0 and store.users.get(chain(live)) >= 0
    stored = _files_bytes(db.parent)
    assert chain(live).encode() in stored  # the search below is not blind
    for raw in (imported, live, erased):
        assert raw.encode() not in stored
        assert raw not in log.getvalue()


def test_a_checkpoint_trained_from_a_file_holds_pseudonyms(
    deployment: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    key_file = deployment[0]
    persons = _persons(24)
    rows = [f"{p},it{(n + k) % 9},{100 * n + k}" for n, p in enumerate(persons) for k in range(5)]
    csv = tmp_path / "train.csv"
    csv.write_text("user_id,item_id,timestamp\n" + "\n".join(rows) + "\n")
    out = tmp_path / "ckpt"
    tiny = ["model.members=1", "model.dim=8", "model.max_len=4", "train.max_epochs=1"]
    args = ["train", "--data", str(csv), "--out", str(out), "--pseudonym-key-file", str(key_file)]
    done = runner.invoke(cli, [*args, *(x for s in tiny for x in ("--set", s))])
    assert done.exit_code == 0, done.output
    chain = load_key_file(key_file)
    vocabularies = list(out.rglob("users.json"))  # one per ensemble member
    assert vocabularies
    for path in vocabularies:
        assert sorted(json.loads(path.read_text())) == sorted(chain(p) for p in persons)
    files = _files_bytes(out)
    assert not any(p.encode() in files for p in persons)


def test_access_log_lines_lose_user_ids_with_pseudonyms() -> None:
    line = '127.0.0.1:5 - "GET /v1/users/person-7/recommendations?k=3 HTTP/1.1" 200'
    redact_user_ids(True)
    try:
        assert "person-7" not in redact(line)
        assert "/recommendations?k=3" in redact(line)
        assert "person-7" not in redact('"GET /v1/users?limit=5&prefix=person-7 HTTP/1.1"')
    finally:
        redact_user_ids(False)
    assert "person-7" in redact(line)  # without pseudonyms, as before


def test_a_missing_or_malformed_key_file_is_named(
    deployment: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, db, model = deployment
    missing = tmp_path / "nowhere.key"
    key = ["--pseudonym-key-file", str(missing)]
    done = runner.invoke(cli, ["data", "import", str(tmp_path), "--db", str(db), *key])
    assert done.exit_code == 2 and str(missing) in done.output and "does not exist" in done.output
    bad = tmp_path / "bad.key"
    bad.write_text('{"keys": ["abc"]}')
    with pytest.raises(ValueError, match=str(bad)):
        ServerSettings(db=db, model=model, pseudonym_key_file=bad)
    done = runner.invoke(cli, ["users", "rotate-key", "--key-file", str(missing), "--db", str(db)])
    assert done.exit_code == 2 and str(missing) in done.output


def test_rotate_key_chains_the_store_and_checkpoints_and_raw_ids_still_work(
    deployment: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    key_file, db, model = deployment
    person = _persons(1)[0]
    csv = tmp_path / "one.csv"
    csv.write_text(f"user_id,item_id,timestamp\n{person},c2-1,100\n{person},c2-2,200\n")
    args = ["--pseudonym-key-file", str(key_file)]
    imported = runner.invoke(cli, ["data", "import", str(csv), "--db", str(db), *args])
    assert imported.exit_code == 0, imported.output
    before = load_key_file(key_file)
    with open_storage(db) as store:
        index = store.users.index(before(person))
    model_users = json.loads((model / "users.json").read_text())
    rotate = ["users", "rotate-key", "--key-file", str(key_file), "--db", str(db)]

    done = runner.invoke(cli, [*rotate, "--model", str(model)])

    assert done.exit_code == 0, done.output
    after = load_key_file(key_file)
    assert after.keys[:1] == before.keys and len(after.keys) == 2
    with open_storage(db) as store:
        assert store.users.get(after(person)) == index
        assert before(person) not in store.users
        assert store.users.get(after("u3")) >= 0  # the earlier import's users too
    assert before(person).encode() not in _files_bytes(db.parent)
    rekeyed = json.loads((model / "users.json").read_text())
    assert len(rekeyed) == len(model_users) and not set(rekeyed) & set(model_users)
    again = runner.invoke(cli, [*rotate, "--model", str(model), "--resume"])
    assert again.exit_code == 0 and "0 user ids re-keyed" in again.output, again.output
    assert "0 checkpoint vocabularies" in again.output
    assert json.loads((model / "users.json").read_text()) == rekeyed
    app = create_app(ServerSettings(db=db, model=model, pseudonym_key_file=key_file))

    async def history(c: httpx.AsyncClient) -> httpx.Response:
        return await c.get(f"/v1/users/{quote(person)}/history")

    events = _serve(app, history).json()["events"]
    assert [e["item_id"] for e in events] == ["c2-1", "c2-2"]
