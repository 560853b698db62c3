"""The engine's item side: catalogue facts, popularity, exposures and the vector index, kept in
step with the store's item vocabulary as items arrive."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attune.data.dataset import AttributeTable, Dataset
from attune.data.events import EventTypes, ItemUpdate, attribute_tokens
from attune.engine.config import EngineConfig
from attune.engine.interest import InterestModel
from attune.ports import Storage
from attune.ranking import FilterCache, ItemCatalogue
from attune.retrieval import ExactIndex, FaissIndex, ItemIndex


class ItemSide:
    """Everything per item the engine ranks with, indexed by the store's item index."""

    def __init__(
        self,
        store: Storage,
        data: Dataset,
        model: InterestModel,
        config: EngineConfig,
        event_types: EventTypes,
    ) -> None:
        self.store = store
        self.model = model
        n = len(store.items)
        self.tokens: list[list[str]] = [data.item_attributes.tokens_of(i) for i in range(n)]
        self.titles = dict(data.item_titles)
        self.catalogue = ItemCatalogue.open(n, AttributeTable.from_rows(self.tokens), store.items)
        for idx, av_from, av_until, created, blocked in store.catalogue.item_windows():
            self.catalogue.available_from[idx] = np.nan if av_from is None else av_from
            self.catalogue.available_until[idx] = np.nan if av_until is None else av_until
            self.catalogue.created[idx] = np.nan if created is None else created
            self.catalogue.blocked[idx] = blocked
        self.catalogue.touch()
        self.filters = FilterCache(self.catalogue, event_types)
        self.popularity = store.popularity(
            n, config.popularity.half_life_seconds, config.popularity.head_size
        )
        self.exposures = np.zeros(n, np.int64)
        self.config = config
        self.model = model
        self.index: ItemIndex = self.prepare(model)
        self.challenger: tuple[InterestModel, ItemIndex] | None = None
        """The challenger model of a running A/B test and its own index, kept in step with
        the catalogue as the served one is (`attune.engine.experiment`)."""

    def prepare(self, model: InterestModel) -> ItemIndex:
        """A new index of `model`'s vectors for the items known now (the slow part of a model
        swap, done while the old index keeps serving)."""
        index: ItemIndex = (
            FaissIndex(model.dim, self.config.faiss)
            if self.config.index == "faiss"
            else ExactIndex(model.dim)
        )
        model.bind_items(self.store.items)
        all_items = np.arange(len(self.store.items))
        index.build(model.item_vectors(all_items, self.catalogue.attributes))
        return index

    def install(self, model: InterestModel, index: ItemIndex, n_indexed: int) -> None:
        """Serve `model` and its prepared index (call under the engine lock); items that
        arrived after `prepare` are indexed now."""
        self.model, self.index = model, index
        model.bind_items(self.store.items)
        self.reindex(np.arange(n_indexed, len(self.store.items)))

    def install_challenger(
        self, model: InterestModel | None, index: ItemIndex | None, n_indexed: int
    ) -> None:
        """Rank a challenger with `model` and its prepared `index` (None: no challenger);
        call under the engine lock."""
        if model is None or index is None:
            self.challenger = None
            return
        self.challenger = (model, index)
        model.bind_items(self.store.items)
        self._reindex_one(model, index, np.arange(n_indexed, len(self.store.items)))

    def title(self, item: int) -> str:
        return self.titles.get(item, self.store.items.external(item))

    @property
    def size(self) -> int:
        """Items this side has room for (the store's vocabulary when `grow` last ran)."""
        return len(self.tokens)

    def grow(self) -> np.ndarray:
        """Make room for items the store added since the last call; returns their indices."""
        start, n = len(self.tokens), len(self.store.items)
        if n > start:
            self.tokens.extend([] for _ in range(start, n))
            self.catalogue.ensure_size(n)
            self.popularity.ensure_size(n)
            self.exposures = np.concatenate([self.exposures, np.zeros(n - start, np.int64)])
            self.model.bind_items(self.store.items)
            if self.challenger is not None:
                self.challenger[0].bind_items(self.store.items)
        return np.arange(start, n)

    def upsert(self, updates: Sequence[ItemUpdate]) -> None:
        """Apply attribute and availability changes (the store already holds them)."""
        self.grow()
        idx = np.array([self.store.items.index(u.item_id) for u in updates], np.int64)
        for i, u in zip(idx.tolist(), updates, strict=True):
            self.tokens[i] = attribute_tokens(u.attributes)
            title = u.attributes.get("title")
            if isinstance(title, str):
                self.titles[i] = title
            self.catalogue.available_from[i] = _ts(u.available_from)
            self.catalogue.available_until[i] = _ts(u.available_until)
            self.catalogue.created[i] = u.created.timestamp()
            self.catalogue.blocked[i] = u.blocked
        self.reindex(idx)

    def reindex(self, items: np.ndarray) -> None:
        """Refresh attributes and vectors of `items`; cold items get attribute vectors."""
        if not len(items):
            return
        self.catalogue.attributes = AttributeTable.from_rows(
            self.tokens, self.catalogue.attributes.tokens
        )
        self.catalogue.touch()
        self._reindex_one(self.model, self.index, items)
        if self.challenger is not None:
            self._reindex_one(*self.challenger, items)

    def _reindex_one(self, model: InterestModel, index: ItemIndex, items: np.ndarray) -> None:
        """`model`'s vectors of `items` into `index`."""
        if not len(items):
            return
        known = model.model_index(items) > 0
        vecs = model.item_vectors(items, self.catalogue.attributes)
        # A zero vector (no attribute the model knows) would tie with everything: such an
        # item stays out of similarity search until it has one (exploration can still show it).
        has_vec = known | (np.abs(vecs).sum(axis=1) > 0)
        if has_vec.any():
            index.upsert(items[has_vec], vecs[has_vec])


def _ts(dt: object) -> float:
    from datetime import datetime

    return float(dt.timestamp()) if isinstance(dt, datetime) else float("nan")
