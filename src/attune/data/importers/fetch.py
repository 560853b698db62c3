"""Download public datasets for users who are online (`attune data fetch`)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import httpx
from tqdm import tqdm

KNOWN_DATASETS: dict[str, tuple[str, str]] = {
    # name -> (official URL, file that must be in the archive)
    "movielens-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "u.data"),
    "movielens-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip", "ratings.dat"),
}


class FetchError(RuntimeError):
    """A download failed or did not hold the expected dataset."""


def fetch_dataset(name: str, dest: Path, *, url: str | None = None, timeout: float = 60.0) -> Path:
    """Download and unpack `name` under `dest`; returns the folder holding its files."""
    if name not in KNOWN_DATASETS:
        raise FetchError(f"unknown dataset {name!r} (known: {', '.join(KNOWN_DATASETS)})")
    default_url, marker = KNOWN_DATASETS[name]
    source = url or default_url
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".zip", dir=dest, delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            with httpx.stream("GET", source, timeout=timeout, follow_redirects=True) as resp:
                if resp.status_code != 200:
                    raise FetchError(f"GET {source} answered HTTP {resp.status_code}")
                total = int(resp.headers.get("content-length", 0)) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=name) as bar:
                    for chunk in resp.iter_bytes():
                        tmp.write(chunk)
                        bar.update(len(chunk))
        except httpx.HTTPError as exc:
            tmp_path.unlink(missing_ok=True)
            raise FetchError(f"cannot download {source}: {exc}") from None
        except FetchError:
            tmp_path.unlink(missing_ok=True)
            raise
    try:
        return _unpack(tmp_path, dest, marker, source)
    finally:
        tmp_path.unlink(missing_ok=True)


def _unpack(archive: Path, dest: Path, marker: str, source: str) -> Path:
    if not zipfile.is_zipfile(archive):
        raise FetchError(f"{source} did not return a zip archive")
    with zipfile.ZipFile(archive) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise FetchError(f"{source}: corrupt member {bad}")
        members = [m for m in zf.namelist() if m.rsplit("/", 1)[-1] == marker]
        if not members:
            raise FetchError(f"{source}: archive has no {marker}")
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            # Refuse paths that would escape `dest` (zip-slip).
            if not target.is_relative_to(dest.resolve()):
                raise FetchError(f"{source}: unsafe path {member.filename!r} in archive")
        zf.extractall(dest)
    folder = (dest / members[0]).parent
    return folder
