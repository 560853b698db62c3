"""Incremental encoding: extend a user's encoded history by one event using cached keys/values.

The plain path (`InterestEncoder.user_vectors`) re-reads the whole window on every event. This
path keeps, per layer, the keys and values of the events already read, and runs the blocks on
the new event only: the same arithmetic as the causal full pass restricted to the last row.
It is valid while the window has not filled up (positions count from the window's first
event, so once old events fall out every position shifts and a full pass is needed);
`extend` returns None then and the caller falls back to the full recompute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from attune.model.encoder import Block, InterestEncoder, pack_bags


@dataclass
class KVCache:
    """Keys and values of one user's window, per layer: [H, T, D/H] each."""

    keys: list[Tensor]
    values: list[Tensor]
    user_bias: Tensor | None
    """The user-attribute embedding added at every position, computed once."""

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[1]) if self.keys else 0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


def _user_bias(enc: InterestEncoder, user_tokens: Tensor | None) -> Tensor | None:
    if enc.user_token_emb is None or user_tokens is None:
        return None
    known = user_tokens[(user_tokens >= 0) & (user_tokens < enc.config.n_user_tokens)]
    device = enc.item_emb.weight.device
    return enc.user_token_emb(*pack_bags([known], device))[0]


@torch.inference_mode()
def extend(
    enc: InterestEncoder,
    cache: KVCache | None,
    item: int,
    event_type: int = 0,
    user_tokens: Tensor | None = None,
    item_table: Tensor | None = None,
) -> tuple[Tensor, KVCache] | None:
    """V_u [D] after appending model item index `item` (internal + 1), and the grown cache.

    `cache=None` starts an empty history. Returns None when the window is full.
    """
    cfg = enc.config
    t = 0 if cache is None else cache.length
    if t >= cfg.max_len:
        return None
    table = enc._item_table() if item_table is None else item_table
    bias = _user_bias(enc, user_tokens) if cache is None else cache.user_bias
    x = table[item] + enc.pos_emb.weight[t]  # [D]
    if enc.event_emb is not None:
        x = x + enc.event_emb.weight[event_type]
    if bias is not None:
        x = x + bias
    x = x[None, :]  # [1, D]
    H = cfg.n_heads
    Dh = cfg.dim // H
    keys: list[Tensor] = []
    values: list[Tensor] = []
    blocks = cast(list[Block], list(enc.blocks))
    for i, block in enumerate(blocks):
        h = block.ln_1(x)
        q, k, v = block.attn.qkv(h).split(cfg.dim, dim=1)  # [1, D] each
        q, k, v = (z.view(H, 1, Dh) for z in (q, k, v))
        if cache is not None:
            k = torch.cat([cache.keys[i], k], dim=1)  # [H, t+1, Dh]
            v = torch.cat([cache.values[i], v], dim=1)
        keys.append(k)
        values.append(v)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(Dh)  # [H, 1, t+1]
        y = F.softmax(att, dim=-1) @ v  # [H, 1, Dh]
        x = x + block.attn.proj(y.transpose(0, 1).reshape(1, cfg.dim))
        x = x + block.mlp(block.ln_2(x))
    return enc.ln_f(x)[0], KVCache(keys, values, bias)


@torch.inference_mode()
def encode_with_cache(
    enc: InterestEncoder,
    items: list[int],
    event_types: list[int] | None = None,
    user_tokens: Tensor | None = None,
) -> tuple[Tensor, KVCache]:
    """Build the cache for a whole (non-empty, <= max_len) history, one event at a time."""
    if not items:
        raise ValueError("every history needs at least one event")
    table = enc._item_table()
    types = event_types or [0] * len(items)
    cache: KVCache | None = None
    out = None
    for item, etype in zip(items, types, strict=True):
        step = extend(enc, cache, item, etype, user_tokens, table)
        if step is None:
            raise ValueError(f"history longer than max_len {enc.config.max_len}")
        out, cache = step
    assert out is not None and cache is not None
    return out, cache
