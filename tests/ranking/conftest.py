import numpy as np
import pytest

from attune.data.dataset import AttributeTable
from attune.data.vocab import Vocabulary
from attune.ranking import ItemCatalogue


def make_catalogue(rows: list[list[str]], n_items: int | None = None) -> ItemCatalogue:
    n = len(rows) if n_items is None else n_items
    vocab = Vocabulary(f"item{i}" for i in range(n))
    return ItemCatalogue.open(n, AttributeTable.from_rows(rows), vocab)


@pytest.fixture
def shop() -> ItemCatalogue:
    """Six items: genre, brand and tag tokens as importers write them (`field=value`)."""
    return make_catalogue(
        [
            ["genre=drama", "brand=acme"],
            ["genre=comedy", "brand=acme", "tag=new"],
            ["genre=drama", "genre=comedy", "brand=zenith"],
            ["genre=horror", "brand=zenith", "tag=new"],
            ["brand=acme"],
            [],
        ]
    )


def ids(mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()
