"""Per-item facts that filters, diversity and exploration read: attributes, availability, age.

The engine owns one `ItemCatalogue`, changes it on item updates, and hands it to the pure
ranking functions. Arrays are indexed by internal item id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from attune.data.dataset import AttributeTable
from attune.ports import IdVocabulary


@dataclass
class ItemCatalogue:
    """Item metadata as parallel numpy arrays over internal item ids 0..n_items-1."""

    attributes: AttributeTable
    """Categorical `field=value` tokens per item (rows past its end have none)."""
    available_from: np.ndarray
    """float64 seconds since the epoch; NaN = available since forever."""
    available_until: np.ndarray
    """float64 seconds since the epoch, exclusive; NaN = available forever."""
    created: np.ndarray
    """float64 creation time in seconds since the epoch; NaN = unknown (never counts as new)."""
    blocked: np.ndarray
    """Global blocklist: True = never recommend (legal, stock, moderation)."""
    items: IdVocabulary | None = None
    """External ids, needed only to resolve external ids in a `FilterSpec`."""
    version: int = 0
    """Bumped by every change, so compiled filters and caches can tell they are stale."""
    _token_items: sp.csc_matrix | None = field(default=None, init=False, repr=False)
    _field_tokens: dict[str, tuple[int, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False
    )
    """Field name -> (token count when read, the field's token ids)."""
    _availability_cache: tuple[float, float, np.ndarray] | None = field(
        default=None, init=False, repr=False
    )
    _fields: tuple[object, int, frozenset[str]] = field(
        default=(None, 0, frozenset()), init=False, repr=False
    )

    def __post_init__(self) -> None:
        n = len(self.available_from)
        for name in ("available_until", "created", "blocked"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"catalogue column {name!r} has a different length")

    @property
    def n_items(self) -> int:
        return len(self.available_from)

    @staticmethod
    def open(
        n_items: int, attributes: AttributeTable | None = None, items: IdVocabulary | None = None
    ) -> ItemCatalogue:
        """A catalogue where every item is always available, unblocked and of unknown age."""
        return ItemCatalogue(
            attributes=attributes if attributes is not None else AttributeTable.empty(),
            available_from=np.full(n_items, np.nan),
            available_until=np.full(n_items, np.nan),
            created=np.full(n_items, np.nan),
            blocked=np.zeros(n_items, dtype=bool),
            items=items,
        )

    def ensure_size(self, n_items: int) -> None:
        """Grow the columns to `n_items` for items added at runtime (open, unblocked, no age)."""
        extra = n_items - self.n_items
        if extra <= 0:
            return
        nan = np.full(extra, np.nan)
        self.available_from = np.concatenate([self.available_from, nan])
        self.available_until = np.concatenate([self.available_until, nan])
        self.created = np.concatenate([self.created, nan])
        self.blocked = np.concatenate([self.blocked, np.zeros(extra, dtype=bool)])
        self.touch()

    def touch(self) -> None:
        """Call after changing any array in place: invalidates caches and compiled filters."""
        self.version += 1
        self._token_items = None
        self._field_tokens = {}
        self._availability_cache = None

    def token_ids(self, tokens: list[str]) -> np.ndarray:
        """Indices of the known tokens among `field=value` strings (unknown ones are dropped)."""
        ids = [self.attributes.tokens.get(t) for t in tokens]
        return np.asarray([i for i in ids if i >= 0], dtype=np.int64)

    def field_token_ids(self, field_name: str) -> np.ndarray:
        """All token indices of one attribute field (tokens spelled `field=...`), read-only;
        cached until the next `touch`."""
        n_tokens = len(self.attributes.tokens)
        cached = self._field_tokens.get(field_name)
        if cached is not None and cached[0] == n_tokens:
            return cached[1]
        prefix = f"{field_name}="
        found = np.asarray(
            [i for i, t in enumerate(self.attributes.tokens.ids) if t.startswith(prefix)],
            dtype=np.int64,
        )
        found.setflags(write=False)
        self._field_tokens[field_name] = (n_tokens, found)
        return found

    def value_counts(self, token_ids: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, int]:
        """How many `allowed` items (a mask over items) hold each token, and how many allowed
        items hold none of them."""
        mask = np.zeros(self.n_items, dtype=bool)
        n = min(len(allowed), self.n_items)
        mask[:n] = allowed[:n]
        if len(token_ids) == 0:
            return np.zeros(0, np.int64), int(mask.sum())
        holders = self._inverted()[:, token_ids]
        per_token = np.asarray(holders.T @ mask.astype(np.int64)).ravel()
        holds_any = np.diff(holders.tocsr().indptr) > 0
        return per_token, int((mask & ~holds_any).sum())

    def attribute_fields(self) -> frozenset[str]:
        """Names of the attribute fields some item has a `field=value` token of: the fields
        an include or exclude rule can match. Tokens are only ever added, so each call reads
        only those added since the last (and none when the count is unchanged)."""
        tokens = self.attributes.tokens
        seen, count, fields = self._fields
        if seen is not tokens:
            count, fields = 0, frozenset()
        if len(tokens) > count:
            new = tokens.decode(range(count, len(tokens)))
            fields = fields | {token.partition("=")[0] for token in new}
            self._fields = (tokens, count + len(new), fields)
        return fields

    def items_with_any(self, token_ids: np.ndarray) -> np.ndarray:
        """Boolean mask over items: has at least one of the tokens."""
        mask = np.zeros(self.n_items, dtype=bool)
        if len(token_ids) == 0:
            return mask
        csc = self._inverted()
        for t in token_ids:
            mask[csc.indices[csc.indptr[t] : csc.indptr[t + 1]]] = True
        return mask

    def _inverted(self) -> sp.csc_matrix:
        """Token -> items (CSC), built once per version: a token lookup is then one slice."""
        if self._token_items is None:
            table = self.attributes
            rows = min(table.n_rows, self.n_items)
            nnz = int(table.indptr[rows])
            # Items past the table's last row (added at runtime) get empty rows.
            indptr = np.full(self.n_items + 1, nnz, np.int64)
            indptr[: rows + 1] = table.indptr[: rows + 1]
            csr = sp.csr_matrix(
                (np.ones(nnz, np.int8), table.indices[:nnz], indptr),
                shape=(self.n_items, max(len(table.tokens), 1)),
            )
            self._token_items = csr.tocsc()
        return self._token_items

    def available(self, now: float) -> np.ndarray:
        """Boolean mask over items available at `now` (read-only, cached).

        The mask only changes when `now` crosses some item's from/until time, so it is
        cached with the validity interval [start, next boundary) and reused until then.
        """
        cache = self._availability_cache
        if cache is not None and cache[0] <= now < cache[1]:
            return cache[2]
        start, until = self.available_from, self.available_until
        with np.errstate(invalid="ignore"):
            mask = ~(start > now) & ~(until <= now)  # NaN compares False: open ends pass
            later_start = start[start > now]
            later_end = until[until > now]
            past_start = start[start <= now]
            past_end = until[until <= now]
        next_change = min(later_start.min(initial=np.inf), later_end.min(initial=np.inf))
        last_change = max(past_start.max(initial=-np.inf), past_end.max(initial=-np.inf))
        mask.setflags(write=False)
        self._availability_cache = (last_change, next_change, mask)
        return mask
