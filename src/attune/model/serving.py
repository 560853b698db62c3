"""Serving forward pass: V_u and its attention at each row's last event, nothing more.

`InterestEncoder.forward` computes every position through every block, as training needs.
Serving needs one output per user: in the last block only the last real position's query,
attention, projection and MLP matter (keys and values still come from every position). This
path skips the rest, about a third of the arithmetic with two blocks, and returns the last
position's attention weights (mean over heads) for explanations in the same pass.
The reference is `InterestEncoder.user_vectors` / `last_attention`; a property test
(tests/model/test_serving.py) holds the two within 1e-5.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

from attune.model.encoder import Block, InterestEncoder, pack_bags


@torch.inference_mode()
def last_position(
    enc: InterestEncoder,
    items: Tensor,
    event_types: Tensor | None = None,
    user_tokens: list[Tensor] | None = None,
    table: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(V_u [B, D], attention [B, L]) for right-padded model indices `items` [B, L]."""
    cfg = enc.config
    B, L = items.shape
    if cfg.max_len < L:
        raise ValueError(f"sequence length {L} exceeds max_len {cfg.max_len}")
    lengths = (items != 0).sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError("every history needs at least one event")
    table = enc._item_table() if table is None else table
    x = table[items] + enc.pos_emb.weight[:L]  # [B, L, D]
    if enc.event_emb is not None:
        x = x + enc.event_emb(torch.zeros_like(items) if event_types is None else event_types)
    if enc.user_token_emb is not None and user_tokens is not None:
        known = [t[(t >= 0) & (t < cfg.n_user_tokens)] for t in user_tokens]
        x = x + enc.user_token_emb(*pack_bags(known, items.device))[:, None, :]
    blocks = cast(list[Block], list(enc.blocks))
    for block in blocks[:-1]:
        x = block(x)[0]
    last = blocks[-1]
    D, H = cfg.dim, cfg.n_heads
    Dh = D // H
    rows = torch.arange(B, device=items.device)
    h = last.ln_1(x)
    w, b = last.attn.qkv.weight, last.attn.qkv.bias
    x_last = x[rows, lengths - 1]  # [B, D]
    q = F.linear(h[rows, lengths - 1], w[:D], b[:D]).view(B, H, 1, Dh)
    kv = F.linear(h, w[D:], b[D:])  # [B, L, 2D]
    k, v = (t.view(B, L, H, Dh).transpose(1, 2) for t in kv.split(D, dim=2))  # [B, H, L, Dh]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(Dh)  # [B, H, 1, L]
    # Right padding: positions at or after the row's length are padding or later events.
    mask = torch.arange(L, device=items.device)[None, :] >= lengths[:, None]  # [B, L]
    att = att.masked_fill(mask[:, None, None, :], float("-inf")).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, D)
    x_last = x_last + last.attn.proj(y)
    x_last = x_last + last.mlp(last.ln_2(x_last))
    return enc.ln_f(x_last), att.mean(dim=1)[:, 0, :]
