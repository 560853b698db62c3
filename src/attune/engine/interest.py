"""Model runtime of the engine: user states in, interest vectors V_u out, item vectors for the
index, all in the store's item index space.

The store and a model version each have their own item vocabulary (a model is trained on a
snapshot; items keep arriving). This class owns the mapping between the two: events on items
the model never saw still count as seen, but only known items enter the encoder, and unknown
items get a vector from their attributes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from attune.data.dataset import AttributeTable
from attune.engine.state import UserState
from attune.model.ensemble import Ensemble
from attune.model.incremental import KVCache, encode_with_cache, extend
from attune.model.served import MemberForward, join_members, user_token_ids
from attune.ports import IdVocabulary
from attune.training.checkpoint import LoadedModel


@dataclass(frozen=True)
class Explanation:
    """Attention of V_u over the user's window: which past events drove the vector."""

    items: np.ndarray
    """Store item indices of the window, oldest first."""
    positions: np.ndarray
    """Position of each in the state's window (events on items the model lacks are skipped)."""
    weights: np.ndarray
    """Attention weight of each (sums to 1)."""


class InterestModel(ABC):
    """A loaded model version bound to the store's item vocabulary, as the engine serves it:
    one model (`EncoderInterestModel`) or an ensemble's members (`EnsembleInterestModel`)."""

    def __init__(self, loaded: LoadedModel, version: int, device: torch.device, dim: int) -> None:
        self.loaded = loaded
        """The checkpoint (an ensemble: member 0's, whose vocabularies every member shares)."""
        self.version = version
        self.device = device
        self.dim = dim
        """Length of V_u and of every item vector."""
        self.max_len = loaded.encoder_config.max_len

    @abstractmethod
    def bind_items(self, store_items: IdVocabulary) -> None:
        """(Re)build the store -> model item mapping; call after the store's vocabulary grows."""

    @abstractmethod
    def model_index(self, store_items: np.ndarray) -> np.ndarray:
        """Model indices (internal + 1) of store items; 0 for items the model never saw."""

    @abstractmethod
    def item_vectors(self, store_items: np.ndarray, attributes: AttributeTable) -> np.ndarray:
        """[len(store_items), dim] float32 vectors; items the model never saw from attributes."""

    @abstractmethod
    def cold_item_vectors(self, store_items: np.ndarray, attributes: AttributeTable) -> np.ndarray:
        """Attribute-only vectors of store items, via the model's attribute vocabulary."""

    @abstractmethod
    def user_tokens(self, tokens: list[str]) -> torch.Tensor:
        """A user's attribute tokens as the model's token ids (unknown tokens dropped)."""

    @abstractmethod
    def user_vectors(
        self, states: Sequence[UserState], user_tokens: Sequence[torch.Tensor | None] | None = None
    ) -> list[tuple[np.ndarray, Explanation] | None]:
        """V_u and its attention for many users; None for a user whose window holds no item
        the model knows."""

    @abstractmethod
    def extend_cached(
        self, cache: KVCache | None, state: UserState
    ) -> tuple[np.ndarray, KVCache] | None:
        """Incremental V_u after the state's newest event, from the user's cached keys/values.

        None when the cache cannot be used (window full or cache missing), in which case the
        caller does a full recompute and may rebuild the cache with `build_cache`.
        """

    @abstractmethod
    def build_cache(self, state: UserState) -> KVCache | None:
        """The user's keys/values for `extend_cached` (None when the window is empty or full)."""

    def explain(
        self, state: UserState, user_tokens: torch.Tensor | None = None
    ) -> Explanation | None:
        """The attention of V_u over the user's window (one forward)."""
        result = self.user_vectors([state], [user_tokens])[0]
        return None if result is None else result[1]


class EncoderInterestModel(InterestModel):
    """One trained model (`model.members` = 1, or one member of an ensemble)."""

    def __init__(self, loaded: LoadedModel, version: int, device: str = "cpu") -> None:
        super().__init__(loaded, version, torch.device(device), loaded.encoder_config.dim)
        self.encoder = loaded.encoder.to(device).eval()
        self._store_to_model = np.zeros(0, np.int64)
        self._model_tokens = loaded.item_attributes.tokens
        self._user_tokens = loaded.user_attributes.tokens
        self.forward = MemberForward(self.encoder)
        """V_u of windows, as offline evaluation computes it too (`attune.model.served`)."""
        self._table = self.forward.table

    # -- item side ---------------------------------------------------------------------------

    def bind_items(self, store_items: IdVocabulary) -> None:
        known = self.loaded.items
        start = len(self._store_to_model)
        extra = np.fromiter(
            (known.get(x) + 1 if x in known else 0 for x in store_items.ids[start:]),
            dtype=np.int64,
            count=len(store_items) - start,
        )
        self._store_to_model = np.concatenate([self._store_to_model, extra])

    def model_index(self, store_items: np.ndarray) -> np.ndarray:
        return self._store_to_model[store_items]

    @torch.inference_mode()
    def item_vectors(self, store_items: np.ndarray, attributes: AttributeTable) -> np.ndarray:
        out = np.zeros((len(store_items), self.dim), np.float32)
        idx = self._store_to_model[store_items]
        known = idx > 0
        out[known] = self._table[torch.from_numpy(idx[known])].cpu().numpy()
        if not known.all():
            out[~known] = self.cold_item_vectors(store_items[~known], attributes)
        return out

    @torch.inference_mode()
    def cold_item_vectors(self, store_items: np.ndarray, attributes: AttributeTable) -> np.ndarray:
        bags = []
        for i in store_items.tolist():
            tokens = attributes.tokens_of(i)
            ids = [self._model_tokens.get(t) for t in tokens]
            bags.append(torch.tensor([t for t in ids if t >= 0], dtype=torch.long))
        vecs = self.encoder.item_vectors_from_attributes(bags)
        return vecs.float().cpu().numpy()

    # -- user side ---------------------------------------------------------------------------

    def _window(self, state: UserState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(store items, model items, event types) of the events the model can read."""
        model_items = self.model_index(state.items.astype(np.int64))
        keep = model_items > 0
        return state.items[keep], model_items[keep], state.types[keep].astype(np.int64)

    def _readable(self, state: UserState) -> np.ndarray:
        return np.flatnonzero(self.model_index(state.items.astype(np.int64)) > 0)

    def user_tokens(self, tokens: list[str]) -> torch.Tensor:
        return user_token_ids(self._user_tokens, tokens)

    def user_vectors(
        self, states: Sequence[UserState], user_tokens: Sequence[torch.Tensor | None] | None = None
    ) -> list[tuple[np.ndarray, Explanation] | None]:
        """V_u and its attention for many users in batched forwards (the micro-batch); None
        for a user whose window holds no item the model knows.

        The attention of the last position comes out of the same pass, so explaining a list
        later costs nothing.
        """
        windows = [self._window(s) for s in states]
        rows = [k for k, (_, m, _) in enumerate(windows) if len(m)]
        out: list[tuple[np.ndarray, Explanation] | None] = [None] * len(states)
        if not rows:
            return out
        vecs, atts = self.forward.vectors(
            [windows[k][1] for k in rows],
            [windows[k][2] for k in rows],
            None if user_tokens is None else [user_tokens[k] for k in rows],
        )
        for k, vec, att in zip(rows, vecs, atts, strict=True):
            store_items, model_items, _ = windows[k]
            n = min(len(model_items), self.max_len)
            positions = self._readable(states[k])[-n:]
            out[k] = (vec, Explanation(store_items[-n:], positions, att[:n]))
        return out

    @torch.inference_mode()
    def extend_cached(
        self, cache: KVCache | None, state: UserState
    ) -> tuple[np.ndarray, KVCache] | None:
        if cache is None or len(state.items) >= self.max_len:
            return None  # a full window may have dropped its oldest event: not an extension
        _, model_items, types = self._window(state)
        if len(model_items) != cache.length + 1:
            return None
        step = extend(
            self.encoder,
            cache,
            int(model_items[-1]),
            int(self.forward.event_codes(types)[-1]),
            None,
            self._table,
        )
        if step is None:
            return None
        return step[0].float().cpu().numpy(), step[1]

    def build_cache(self, state: UserState) -> KVCache | None:
        _, model_items, types = self._window(state)
        if not len(model_items) or len(model_items) >= self.max_len:
            return None
        _, cache = encode_with_cache(
            self.encoder, model_items.tolist(), self.forward.event_codes(types).tolist()
        )
        return cache


class EnsembleInterestModel(InterestModel):
    """Independently trained members (`model.members` > 1) served as one model.

    V_u and every V_i are the members' vectors joined by `CosineJoin`: the index's cosine of
    two joined vectors ranks items exactly as the members' summed scores do, which is what the
    ensemble was validated on. All members share the item vocabulary and window length (one
    training run over the same data), so they read the same window; explanations average
    their attention, and a user's key/value cache holds every member's layers one after the
    other.
    """

    def __init__(self, members: Sequence[EncoderInterestModel]) -> None:
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = Ensemble(members)
        first = self.members.first
        super().__init__(first.loaded, first.version, first.device, sum(m.dim for m in members))
        self._layers = [m.loaded.encoder_config.n_layers for m in self.members]
        self._join_vectors = join_members([m.encoder for m in self.members])

    # -- item side ---------------------------------------------------------------------------

    def bind_items(self, store_items: IdVocabulary) -> None:
        for member in self.members:
            member.bind_items(store_items)

    def model_index(self, store_items: np.ndarray) -> np.ndarray:
        return self.members[0].model_index(store_items)

    def item_vectors(self, store_items: np.ndarray, attributes: AttributeTable) -> np.ndarray:
        return self._join_vectors([m.item_vectors(store_items, attributes) for m in self.members])

    def cold_item_vectors(self, store_items: np.ndarray, attributes: AttributeTable) -> np.ndarray:
        parts = [m.cold_item_vectors(store_items, attributes) for m in self.members]
        return self._join_vectors(parts)

    # -- user side ---------------------------------------------------------------------------

    def user_tokens(self, tokens: list[str]) -> torch.Tensor:
        return self.members[0].user_tokens(tokens)

    def user_vectors(
        self, states: Sequence[UserState], user_tokens: Sequence[torch.Tensor | None] | None = None
    ) -> list[tuple[np.ndarray, Explanation] | None]:
        results = [m.user_vectors(states, user_tokens) for m in self.members]
        out: list[tuple[np.ndarray, Explanation] | None] = []
        for row in zip(*results, strict=True):
            if any(r is None for r in row):
                out.append(None)
                continue
            done = [r for r in row if r is not None]
            first = done[0][1]
            weights = np.mean([r[1].weights for r in done], axis=0)
            vec = self._join_vectors([r[0] for r in done])
            out.append((vec, Explanation(first.items, first.positions, weights)))
        return out

    def _split_cache(self, cache: KVCache) -> list[KVCache]:
        parts, start = [], 0
        for n in self._layers:
            parts.append(
                KVCache(cache.keys[start : start + n], cache.values[start : start + n], None)
            )
            start += n
        return parts

    @staticmethod
    def _join_caches(parts: Sequence[KVCache]) -> KVCache:
        return KVCache(
            [k for p in parts for k in p.keys], [v for p in parts for v in p.values], None
        )

    def extend_cached(
        self, cache: KVCache | None, state: UserState
    ) -> tuple[np.ndarray, KVCache] | None:
        if cache is None:
            return None
        steps = [
            m.extend_cached(part, state)
            for m, part in zip(self.members, self._split_cache(cache), strict=True)
        ]
        if any(s is None for s in steps):
            return None
        done = [s for s in steps if s is not None]
        vec = self._join_vectors([s[0] for s in done])
        return vec, self._join_caches([s[1] for s in done])

    def build_cache(self, state: UserState) -> KVCache | None:
        parts = [m.build_cache(state) for m in self.members]
        if any(p is None for p in parts):
            return None
        return self._join_caches([p for p in parts if p is not None])


def serving_model(
    members: Sequence[LoadedModel], version: int, device: str = "cpu"
) -> InterestModel:
    """The engine's model over a checkpoint's models: the one model, or an ensemble of them."""
    models = [EncoderInterestModel(m, version, device) for m in members]
    return models[0] if len(models) == 1 else EnsembleInterestModel(models)
