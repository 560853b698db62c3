"""The interest model: a causal Transformer from a user's recent events to an interest vector.

Shapes: B = batch, L = sequence length (<= max_len), D = dim, H = heads, N = items.

Item index convention: the model's item index is the internal item index + 1; model index 0
is padding. Sequences are RIGHT-padded (real events first, zeros after), so with a causal mask
no real position ever attends to padding, and the output at the last real position (V_u) is
exactly the same however much padding follows it.

Positions count from the first event of the window (0, 1, 2, ...), never from its end, so the
output at position t depends on events 0..t only: the state of a user after t events is the
same in training (where later events exist) and in serving (where they do not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import ConfigDict
from torch import Tensor, nn


@dataclass
class EncoderConfig:
    """Architecture of one `InterestEncoder`; sizes of the vocabularies come from the data.

    Its defaults are those of `attune train` (`training.config.ModelConfig` reads them from
    here). Validated by pydantic where it is read back from a checkpoint: unknown keys fail."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    n_items: int
    """Items the model knows (internal indices 0..n_items-1); the table has one padding row more."""
    max_len: int = 50
    """Longest event window the model reads; longer histories keep their most recent events."""
    dim: int = 64
    """Width D of embeddings, attention and the interest vector."""
    n_layers: int = 2
    """Transformer blocks."""
    n_heads: int = 2
    """Attention heads per block; must divide `dim`."""
    dropout: float = 0.5
    """Dropout on the input embeddings and on every residual branch (training only)."""
    attn_dropout: float = 0.2
    """Dropout on the attention weights (training only)."""
    n_event_types: int = 0
    """Event-type codes to embed and add to each position; 0 turns event types off."""
    n_item_tokens: int = 0
    """Item attribute tokens (brand, category, ...) to embed; 0 turns item attributes off."""
    n_user_tokens: int = 0
    """User attribute tokens (age band, country, ...) to embed; 0 turns user attributes off."""
    scoring: Literal["cosine", "dot"] = "cosine"
    """Score of a user/item pair: cosine divided by the temperature, or a plain dot product."""
    temperature: float = 0.05
    """Cosine temperature (initial value when learned); smaller makes the softmax sharper."""
    learn_temperature: bool = False
    """Learn the temperature instead of keeping it fixed."""

    def __post_init__(self) -> None:
        checks = {
            "n_items": self.n_items >= 1,
            "max_len": self.max_len >= 1,
            "dim": self.dim >= 1 and self.dim % max(self.n_heads, 1) == 0,
            "n_layers": self.n_layers >= 1,
            "n_heads": self.n_heads >= 1,
            "dropout": 0.0 <= self.dropout < 1.0,
            "attn_dropout": 0.0 <= self.attn_dropout < 1.0,
            "n_event_types": self.n_event_types >= 0,
            "n_item_tokens": self.n_item_tokens >= 0,
            "n_user_tokens": self.n_user_tokens >= 0,
            "scoring": self.scoring in ("cosine", "dot"),
            "temperature": self.temperature > 0.0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid encoder config value for {', '.join(bad)}")


class CausalSelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.attn_dropout = config.attn_dropout
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.proj = nn.Linear(config.dim, config.dim)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        B, L, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        # [B, H, L, D/H]
        q, k, v = (t.view(B, L, self.n_heads, D // self.n_heads).transpose(1, 2) for t in (q, k, v))
        p = self.attn_dropout if self.training else 0.0
        weights = None
        if need_weights:
            # Reference path that also returns the weights; the fused kernel cannot.
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # [B, H, L, L]
            causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
            weights = att.mean(dim=1)  # [B, L, L]
            y = F.dropout(att, p, self.training) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, L, D)
        return self.resid_dropout(self.proj(y)), weights


class MLP(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.dim, 4 * config.dim)
        self.proj = nn.Linear(4 * config.dim, config.dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.dim)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.dim)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        a, weights = self.attn(self.ln_1(x), need_weights)
        x = x + a
        return x + self.mlp(self.ln_2(x)), weights


def pack_bags(bags: Sequence[Tensor], device: torch.device) -> tuple[Tensor, Tensor]:
    """A list of token-id tensors as the (flat ids, offsets) pair `nn.EmbeddingBag` reads."""
    lengths = torch.tensor([len(b) for b in bags], dtype=torch.long)
    offsets = torch.zeros(len(bags), dtype=torch.long)
    offsets[1:] = lengths.cumsum(0)[:-1]
    flat = torch.cat([b.long().reshape(-1) for b in bags]) if bags else torch.empty(0)
    return flat.long().to(device), offsets.to(device)


def pad_histories(
    histories: Sequence[Sequence[int] | np.ndarray], max_len: int, offset: int = 1
) -> Tensor:
    """Right-padded LongTensor [B, L] of the last `max_len` entries of each history, plus `offset`.

    With the default offset this turns internal item indices into model indices (0 = padding);
    pass offset=0 for event-type codes. L is the longest kept history in the batch.
    """
    kept = [np.asarray(h, dtype=np.int64)[-max_len:] for h in histories]
    width = max((len(h) for h in kept), default=0)
    out = np.zeros((len(kept), max(width, 1)), dtype=np.int64)
    for row, h in enumerate(kept):
        out[row, : len(h)] = h + offset
    return torch.from_numpy(out)


class InterestEncoder(nn.Module):
    """Causal Transformer over a user's last events; its output is the user's interest vector.

    `item_attributes` is the CSR (indptr, indices) of attribute token ids per internal item,
    as in `AttributeTable`; it is required when `config.n_item_tokens > 0`.
    """

    def __init__(
        self, config: EncoderConfig, item_attributes: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        super().__init__()
        self.config = config
        D = config.dim
        self.item_emb = nn.Embedding(config.n_items + 1, D, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, D)
        self.event_emb = nn.Embedding(config.n_event_types, D) if config.n_event_types else None
        self.item_token_emb = (
            nn.EmbeddingBag(config.n_item_tokens, D, mode="mean") if config.n_item_tokens else None
        )
        self.user_token_emb = (
            nn.EmbeddingBag(config.n_user_tokens, D, mode="mean") if config.n_user_tokens else None
        )
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layers)])
        self.ln_f = nn.LayerNorm(D)
        self.log_inv_temperature = nn.Parameter(
            torch.tensor(-math.log(config.temperature)), requires_grad=config.learn_temperature
        )
        # Item attributes as EmbeddingBag input over model indices; not part of the state
        # dict, because the checkpoint stores the attribute table itself.
        self.register_buffer("item_token_ids", torch.empty(0, dtype=torch.long), persistent=False)
        self.register_buffer(
            "item_token_offsets",
            torch.zeros(config.n_items + 1, dtype=torch.long),
            persistent=False,
        )
        self.apply(self._init_weights)
        if self.item_token_emb is not None:
            if item_attributes is None:
                raise ValueError("config.n_item_tokens > 0 needs item_attributes")
            self.set_item_attributes(*item_attributes)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding | nn.EmbeddingBag):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                nn.init.zeros_(module.weight[module.padding_idx])

    def set_item_attributes(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        """Install the items' attribute tokens (CSR over internal items; short tables pad)."""
        n = self.config.n_items
        indptr = np.asarray(indptr, dtype=np.int64)[: n + 1]
        indices = np.asarray(indices, dtype=np.int64)[: indptr[-1] if len(indptr) else 0]
        if len(indices) and (indices.min() < 0 or indices.max() >= self.config.n_item_tokens):
            raise ValueError("item attribute token id out of range for n_item_tokens")
        # Model row 0 is padding (no tokens); rows past the table's end have none either.
        starts = np.zeros(n + 1, dtype=np.int64)
        starts[1 : len(indptr)] = indptr[:-1]
        starts[len(indptr) :] = len(indices)
        device = self.item_emb.weight.device
        self.item_token_ids = torch.from_numpy(indices.copy()).to(device)
        self.item_token_offsets = torch.from_numpy(starts).to(device)

    # ---- item side -------------------------------------------------------------------------

    def _item_table(self) -> Tensor:
        """Input/output vector of every model index, [N + 1, D]; row 0 is padding."""
        table = self.item_emb.weight
        if self.item_token_emb is not None:
            table = table + self.item_token_emb(self.item_token_ids, self.item_token_offsets)
        return table

    def item_vectors(self) -> Tensor:
        """[n_items, D] vectors of internal items 0..n-1 (attributes included)."""
        return self._item_table()[1:]

    def item_vectors_from_attributes(self, token_ids: list[Tensor]) -> Tensor:
        """[N, D] vectors of items known only by their attribute tokens (cold-start items).

        Token ids the model never saw (>= n_item_tokens) carry no information and are ignored;
        an item with no known token gets a zero vector, which scores 0 under either scoring.
        """
        device = self.item_emb.weight.device
        if self.item_token_emb is None:
            return torch.zeros(len(token_ids), self.config.dim, device=device)
        n_tokens = self.config.n_item_tokens
        known = [t[(t >= 0) & (t < n_tokens)] for t in token_ids]
        flat, offsets = pack_bags(known, device)
        return self.item_token_emb(flat, offsets)

    # ---- user side -------------------------------------------------------------------------

    def _encode(
        self,
        items: Tensor,
        event_types: Tensor | None,
        user_tokens: list[Tensor] | None,
        table: Tensor,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        L = items.shape[1]
        if self.config.max_len < L:
            raise ValueError(f"sequence length {L} exceeds max_len {self.config.max_len}")
        pos = torch.arange(L, device=items.device)
        x = table[items] + self.pos_emb(pos)  # [B, L, D]
        if self.event_emb is not None:
            # Without event types every event counts as code 0 (the first configured type).
            if event_types is None:
                event_types = torch.zeros_like(items)
            elif bool(((event_types < 0) | (event_types >= self.config.n_event_types)).any()):
                raise ValueError(f"event type code out of range [0, {self.config.n_event_types})")
            x = x + self.event_emb(event_types)
        if self.user_token_emb is not None and user_tokens is not None:
            known = [t[(t >= 0) & (t < self.config.n_user_tokens)] for t in user_tokens]
            x = x + self.user_token_emb(*pack_bags(known, items.device))[:, None, :]
        x = self.dropout(x)
        weights = None
        for i, block in enumerate(self.blocks):
            x, weights = block(x, need_weights and i == len(self.blocks) - 1)
        return self.ln_f(x), weights

    def forward(
        self,
        items: Tensor,
        event_types: Tensor | None = None,
        user_tokens: list[Tensor] | None = None,
    ) -> Tensor:
        """Interest vector after every prefix: hidden [B, L, D] for right-padded model indices."""
        return self._encode(items, event_types, user_tokens, self._item_table())[0]

    def forward_with_items(
        self,
        items: Tensor,
        event_types: Tensor | None = None,
        user_tokens: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(hidden [B, L, D], item vectors [n_items, D]) sharing one item-table computation."""
        table = self._item_table()
        return self._encode(items, event_types, user_tokens, table)[0], table[1:]

    @staticmethod
    def _lengths(items: Tensor) -> Tensor:
        real = items != 0
        lengths = real.sum(dim=1)
        if bool((lengths == 0).any()):
            raise ValueError("every history needs at least one event")
        if bool((real[:, 1:] & ~real[:, :-1]).any()):
            raise ValueError("histories must be right-padded (events first, zeros after)")
        return lengths

    def user_vectors(
        self,
        items: Tensor,
        event_types: Tensor | None = None,
        user_tokens: list[Tensor] | None = None,
    ) -> Tensor:
        """V_u [B, D]: the output at each row's last real event."""
        lengths = self._lengths(items)
        hidden = self.forward(items, event_types, user_tokens)
        return hidden[torch.arange(len(items), device=items.device), lengths - 1]

    def last_attention(
        self,
        items: Tensor,
        event_types: Tensor | None = None,
        user_tokens: list[Tensor] | None = None,
    ) -> Tensor:
        """[B, L] attention of the last real event over the history (last layer, head mean).

        Rows sum to 1 over the real events; padding positions get 0.
        """
        lengths = self._lengths(items)
        _, weights = self._encode(items, event_types, user_tokens, self._item_table(), True)
        assert weights is not None
        return weights[torch.arange(len(items), device=items.device), lengths - 1]

    # ---- scoring ---------------------------------------------------------------------------

    def score(self, user_vecs: Tensor, item_vecs: Tensor) -> Tensor:
        """[B, N] scores (logits of the training softmax); higher is better."""
        if self.config.scoring == "dot":
            return user_vecs @ item_vecs.T
        # Scaling the [B, D] side instead of the [B, N] result saves two passes over the logits.
        users = F.normalize(user_vecs, dim=-1) * self.log_inv_temperature.exp()
        return users @ F.normalize(item_vecs, dim=-1).T

    def score_pairs(self, user_vecs: Tensor, item_vecs: Tensor) -> Tensor:
        """[M] scores of row-aligned pairs: `score` on the diagonal, without the full matrix."""
        if self.config.scoring == "dot":
            return (user_vecs * item_vecs).sum(-1)
        scale = self.log_inv_temperature.exp()
        pairs = F.normalize(user_vecs, dim=-1) * F.normalize(item_vecs, dim=-1)
        return pairs.sum(-1) * scale
