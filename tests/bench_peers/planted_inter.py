"""A small RecBole atomic dataset with planted structure, written to a temporary folder."""

from __future__ import annotations

import random
from pathlib import Path


def write_planted(folder: Path, users: int = 40, group_size: int = 8) -> dict[str, list[str]]:
    """Users each watch one group's items in a shuffled order; returns each user's sequence."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    sequences = {}
    for user in range(users):
        items = [f"g{user % 4}i{k}" for k in range(group_size)]
        rng.shuffle(items)
        sequences[f"u{user}"] = items
        # Whole minutes apart: RecBole's float32 timestamps keep this order exactly.
        lines += [
            f"u{user}\t{item}\t4\t{1_000_000 + 60 * (step * users + user)}\n"
            for step, item in enumerate(items)
        ]
    rng.shuffle(lines)  # file order must not matter, only time
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    (folder / f"{folder.name}.inter").write_text(header + "".join(lines))
    return sequences
