"""A progress bar over the lines of a file, shown only when reading takes over a second."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TextIO

from tqdm import tqdm

_EVERY = 20_000
"""Lines between bar updates: per-line updates would cost more than the parsing."""


def numbered_lines(f: TextIO, start: int = 1) -> Iterator[tuple[int, str]]:
    """(line number, line) of an open text file, with a byte-count bar on stderr.

    tqdm's `delay` keeps the bar hidden for reads that finish within a second.
    """
    try:
        total = os.fstat(f.fileno()).st_size
    except (OSError, ValueError):
        total = None
    name = os.path.basename(getattr(f, "name", "")) or "reading"
    with tqdm(total=total, unit="B", unit_scale=True, desc=name, delay=1.0, leave=False) as bar:
        done = 0
        for lineno, line in enumerate(f, start=start):
            done += len(line)
            if lineno % _EVERY == 0:
                bar.update(done - bar.n)
            yield lineno, line
        bar.update(done - bar.n)
