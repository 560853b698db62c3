"""`make demo DATA=...` demonstrates any dataset `attune data import` reads; the default stays
the built-in MovieLens 100K. Checked with the script's --dry-run (prints the commands, runs
none) and `make -n`: the demo itself imports, trains and serves, far too slow for a test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "demo.sh"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the script in a folder of its own, beside a `shared/datasets/ml-100k`: it
    works there as in the repository, writes there, and finds no `.venv` to run anything
    with should it ever ignore --dry-run."""
    (tmp_path / "repo" / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, tmp_path / "repo" / "scripts" / "demo.sh")
    return tmp_path / "repo"


def _demo(repo: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = repo / "scripts" / "demo.sh"
    return subprocess.run(
        ["bash", str(script), *args], cwd=cwd or repo, capture_output=True, text=True, timeout=30
    )


def test_the_script_parses() -> None:
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_another_dataset_folder_runs_through_every_step(repo: Path, tmp_path: Path) -> None:
    data = tmp_path / "my-shop"
    data.mkdir()
    (data / "events.csv").write_text("user,item,timestamp\n1,a,1\n")
    # A path relative to where the demo is started, as `make demo DATA=...` gives it.
    done = _demo(repo, "--data", "my-shop/", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"attune data import {data} --db demo-data/my-shop.db" in out
    assert "attune train --data demo-data/my-shop.db --out demo-data/model" in out
    assert "attune recommend --model demo-data/model --data demo-data/my-shop.db" in out
    assert "attune serve --db demo-data/my-shop.db --model demo-data/registry" in out
    assert "ml-100k" not in out
    assert sorted(p.name for p in repo.iterdir()) == ["scripts"]  # a dry run writes nothing


def test_the_default_is_the_built_in_dataset(repo: Path) -> None:
    missing = _demo(repo, "--dry-run")  # not downloaded: the message says how to get it
    assert missing.returncode == 2
    assert "../shared/datasets/ml-100k not found" in missing.stderr
    assert "attune data fetch movielens-100k" in missing.stderr
    (repo.parent / "shared" / "datasets" / "ml-100k").mkdir(parents=True)
    done = _demo(repo, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "attune data import ../shared/datasets/ml-100k --db demo-data/ml-100k.db" in (
        done.stdout
    )


def test_bad_arguments_are_refused_before_anything_runs(repo: Path, tmp_path: Path) -> None:
    missing = _demo(repo, "--data", str(tmp_path / "nope"), "--dry-run")
    assert missing.returncode == 2 and f"{tmp_path / 'nope'} not found" in missing.stderr
    unknown = _demo(repo, "--dataset", "x")
    assert unknown.returncode == 2 and "unknown argument --dataset" in unknown.stderr
    assert "usage: scripts/demo.sh [--data PATH] [--dry-run]" in unknown.stderr
    assert _demo(repo, "--data").returncode == 2
    assert not unknown.stdout  # nothing ran


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_passes_data_on() -> None:
    def recipe(*args: str) -> str:
        # Under `make test` the parent's MAKEFLAGS/MAKELEVEL would make this one print
        # "Entering directory" lines: run it as a top-level make.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        done = subprocess.run(
            ["make", "--no-print-directory", "-n", "demo", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    assert recipe("DATA=/data/my shop") == "bash scripts/demo.sh --data '/data/my shop'"
    assert recipe().strip() == "bash scripts/demo.sh"
