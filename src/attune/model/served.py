"""A model version scored the way the engine serves it: one implementation for the engine,
offline evaluation and offline top-k.

What a served score is made of, in order:

1. the user's window: model item indices with their event-type codes (codes beyond the
   model's range clipped), the last `max_len` events, and the user's attribute token ids;
2. V_u of each member (`MemberForward.vectors`: `last_position`, or its numpy twin for a few
   users at a time);
3. the members joined (`join_members`: `CosineJoin` for an ensemble, the vector itself for one
   model), both for V_u and for the item vectors;
4. V_u at the precision a user state stores it (`as_stored`: float16);
5. the cosine of V_u and each item vector (`cosine_scores`), the scale the index serves.

The engine (`attune.engine.interest`, `attune.engine.refresh`) runs 1-4 per user and 5 in its
vector index; `ServedModel` runs all five over the whole catalogue for offline evaluation
(`ServedScorer`) and offline `attune recommend`, so their ranks and scores are the served ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attune.data.vocab import Vocabulary
from attune.model.encoder import InterestEncoder, pad_histories
from attune.model.ensemble import CosineJoin, Ensemble
from attune.model.numpy_serving import NumpyServingEncoder
from attune.model.serving import last_position

BUCKET = 128
"""Users per padded forward when computing many at once (rows sorted by window length)."""
NUMPY_MAX_ROWS = 4
"""Up to this many users per call go through the numpy path, one by one."""
STORED_DTYPE = np.float16
"""The precision of V_u in a user state (`attune.engine.state.UserState.vector`)."""
_NO_TOKENS = torch.empty(0, dtype=torch.long)
"""The attribute tokens of a user without attributes (read only)."""


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """V_u as a user state holds it and the engine ranks with it: rounded to float16, back in
    float32."""
    return np.asarray(vectors).astype(STORED_DTYPE).astype(np.float32)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm as float32, as the vector index stores and queries them
    (zero rows stay zero)."""
    x = np.asarray(vectors, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cosine_scores(users: np.ndarray, unit_items: np.ndarray | torch.Tensor) -> torch.Tensor:
    """[B, N] cosine of each V_u (any length) with every unit item row: the served score."""
    items = torch.as_tensor(unit_items)
    return torch.from_numpy(unit_rows(users)).to(items.device) @ items.T


def user_token_ids(vocabulary: Vocabulary, tokens: Sequence[str]) -> torch.Tensor:
    """A user's attribute tokens as a model's token ids (tokens it never saw dropped)."""
    if not tokens:  # most users: one shared empty tensor instead of a new one per refresh
        return _NO_TOKENS
    ids = [vocabulary.get(t) for t in tokens]
    return torch.tensor([t for t in ids if t >= 0], dtype=torch.long)


def inverse_temperature(encoder: InterestEncoder) -> float:
    """1 / T of a cosine-scored model: its members' weight in an ensemble's join."""
    return float(encoder.log_inv_temperature.exp())


def join_members(encoders: Sequence[InterestEncoder]) -> CosineJoin:
    """How an ensemble's vectors (user and item alike) become one: `CosineJoin` weighted by
    each member's inverse temperature."""
    return CosineJoin([inverse_temperature(e) for e in encoders])


class MemberForward:
    """V_u and its last-position attention from one model (or one member of an ensemble),
    for windows of model item indices: the engine's forward of every user refresh."""

    def __init__(self, encoder: InterestEncoder) -> None:
        self.encoder = encoder.eval()
        self.max_len = encoder.config.max_len
        self.device = encoder.item_emb.weight.device
        with torch.inference_mode():
            self.table = encoder._item_table().detach()
        """Vector of every model index ([N + 1, D]; row 0 is padding)."""
        self._numpy = (
            NumpyServingEncoder(encoder, self.table) if encoder.user_token_emb is None else None
        )

    def event_codes(self, types: np.ndarray) -> np.ndarray:
        """Event-type codes as the model embeds them (codes it has no embedding for clipped)."""
        n = self.encoder.config.n_event_types
        return np.clip(np.asarray(types, np.int64), 0, max(n - 1, 0))

    @torch.inference_mode()
    def vectors(
        self,
        items: Sequence[np.ndarray],
        types: Sequence[np.ndarray],
        tokens: Sequence[torch.Tensor | None] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(V_u [D], attention [n]) of each window, in input order.

        `items[b]` are model indices (internal + 1), at least one, `types[b]` their event-type
        codes, `tokens[b]` the user's attribute token ids; a window longer than `max_len`
        keeps its last events, and its attention covers those.
        """
        rows = sorted(range(len(items)), key=lambda b: min(len(items[b]), self.max_len))
        windows = [np.asarray(w, np.int64)[-self.max_len :] for w in items]
        codes = [self.event_codes(t)[-self.max_len :] for t in types]
        vecs: list[np.ndarray] = [np.empty(0, np.float32)] * len(items)
        atts: list[np.ndarray] = [np.empty(0, np.float32)] * len(items)
        if self._numpy is not None and len(rows) <= NUMPY_MAX_ROWS:
            # A few users (the per-event case): numpy beats torch's per-operator overhead.
            for b in rows:
                vecs[b], atts[b] = self._numpy(windows[b], codes[b])
            return vecs, atts
        # Length buckets: most windows are far shorter than max_len, and one padded batch
        # would cost as much as if every user had the longest history in it.
        for start in range(0, len(rows), BUCKET):
            bucket = rows[start : start + BUCKET]
            v, a = self._forward(
                [windows[b] for b in bucket],
                [codes[b] for b in bucket],
                None if tokens is None else [tokens[b] for b in bucket],
            )
            for j, b in enumerate(bucket):
                vecs[b], atts[b] = v[j], a[j, : len(windows[b])]
        return vecs, atts

    def _forward(
        self,
        items: list[np.ndarray],
        codes: list[np.ndarray],
        tokens: Sequence[torch.Tensor | None] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One padded forward: (V_u [B, D], last-position attention [B, L])."""
        padded = pad_histories(items, self.max_len, offset=0).to(self.device)
        etypes = pad_histories(codes, self.max_len, offset=0).to(self.device)
        bags: list[torch.Tensor] | None = None
        if tokens is not None and self.encoder.user_token_emb is not None:
            bags = [(_NO_TOKENS if t is None else t).to(self.device) for t in tokens]
        vecs, att = last_position(self.encoder, padded, etypes, bags, self.table)
        return vecs.float().cpu().numpy(), att.float().cpu().numpy()


class ServedModel:
    """A model version's members (one model, or an ensemble) scored as the engine serves them,
    over the whole catalogue of the model."""

    def __init__(self, encoders: Sequence[InterestEncoder]) -> None:
        self.members = Ensemble(MemberForward(e) for e in encoders)
        self._join = join_members(encoders) if len(encoders) > 1 else None
        self.n_items = encoders[0].config.n_items
        self.max_len = encoders[0].config.max_len
        items = self.joined([m.table[1:].float().cpu().numpy() for m in self.members])
        self.unit_items = torch.from_numpy(unit_rows(items)).to(self.members.first.device)
        """[n_items, D] unit vector of each internal item, as the index holds it."""

    def joined(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        """The members' vectors (rows, member order) as the served vector."""
        return parts[0] if self._join is None else self._join(parts)

    def user_vectors(
        self,
        items: Sequence[np.ndarray],
        types: Sequence[np.ndarray],
        tokens: Sequence[torch.Tensor | None] | None = None,
    ) -> np.ndarray:
        """[B, D] V_u of each window (see `MemberForward.vectors`) as a user state stores it."""
        parts = [np.stack(m.vectors(items, types, tokens)[0]) for m in self.members]
        return as_stored(self.joined(parts))

    def scores(
        self,
        items: Sequence[np.ndarray],
        types: Sequence[np.ndarray],
        tokens: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """[B, n_items] served score (cosine) of every internal item for each window."""
        return cosine_scores(self.user_vectors(items, types, tokens), self.unit_items)


class ServedScorer:
    """Offline evaluation's `Scorer` of a model version: every item scored as it is served.

    It knows each user's events in time order (`items`: internal item indices, `event_types`:
    their codes, `in_window`: which of them the engine's window rule keeps, None: all) and
    attribute token ids (`user_tokens`, None: no attributes). A history given to `score` is
    the start of its user's events, as leave-one-out histories are; the event types of those
    events go with it. Users without a window get a zero row (every item ties).
    """

    def __init__(
        self,
        model: ServedModel,
        items: Sequence[np.ndarray],
        event_types: Sequence[np.ndarray],
        user_tokens: Sequence[torch.Tensor] | None = None,
        in_window: Sequence[np.ndarray] | None = None,
    ) -> None:
        if len(event_types) != len(items) or len(in_window or items) != len(items):
            raise ValueError("items, event_types and in_window need one row per user")
        self.model = model
        self.items = items
        self.event_types = event_types
        self.user_tokens = user_tokens
        self.in_window = in_window

    def score(self, users: np.ndarray, histories: Sequence[np.ndarray]) -> torch.Tensor:
        out = torch.zeros((len(users), self.model.n_items), device=self.model.unit_items.device)
        pairs = zip(users, histories, strict=True)
        windows = [self._window(int(u), np.asarray(h, np.int64)) for u, h in pairs]
        rows = [b for b, (items, _) in enumerate(windows) if len(items)]
        if not rows:
            return out
        tokens = None
        if self.user_tokens is not None:
            tokens = [self.user_tokens[int(users[b])] for b in rows]
        items = [windows[b][0] + 1 for b in rows]
        out[rows] = self.model.scores(items, [windows[b][1] for b in rows], tokens)
        return out

    def _window(self, user: int, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(items, event types) of the window of `history`, the first events of `user`."""
        n = len(history)
        if n > len(self.items[user]) or not np.array_equal(self.items[user][:n], history):
            raise ValueError(f"the history of user {user} is not the start of their events")
        types = self.event_types[user][:n]
        if self.in_window is None:
            return history, types
        keep = self.in_window[user][:n]
        return history[keep], types[keep]
