"""The serving forward of one user in numpy: the per-event fast path of the engine.

For a single short sequence the torch forward is dominated by per-operator dispatch (tens of
operators, each with fixed overhead), not arithmetic. The same computation on numpy arrays
costs a fraction of that. It mirrors `attune.model.serving.last_position` (the torch path, used for
batches) operation by operation; tests/model/test_numpy_serving.py holds the two within 1e-5.
Weights are copied out of the encoder once per model version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from scipy.special import erf

from attune.model.encoder import Block, InterestEncoder


@dataclass(frozen=True)
class _Block:
    ln1: tuple[np.ndarray, np.ndarray]
    qkv: tuple[np.ndarray, np.ndarray]
    proj: tuple[np.ndarray, np.ndarray]
    ln2: tuple[np.ndarray, np.ndarray]
    fc: tuple[np.ndarray, np.ndarray]
    out: tuple[np.ndarray, np.ndarray]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().copy()


def _layer_norm(x: np.ndarray, p: tuple[np.ndarray, np.ndarray], eps: float = 1e-5) -> np.ndarray:
    # ufunc reductions: `mean` and `var` wrap the same sums in Python-level argument handling.
    n = x.shape[-1]
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) / n
    var = np.add.reduce(centred * centred, axis=-1, keepdims=True) / n
    return centred / np.sqrt(var + eps) * p[0] + p[1]


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class NumpyServingEncoder:
    """V_u and last-position attention of one history, from the encoder's weights."""

    def __init__(self, enc: InterestEncoder, item_table: torch.Tensor) -> None:
        if enc.user_token_emb is not None:
            raise ValueError("user attributes are served by the torch path")
        cfg = enc.config
        self.dim, self.heads = cfg.dim, cfg.n_heads
        self.table = _np(item_table)
        self.pos = _np(enc.pos_emb.weight)
        self.events = None if enc.event_emb is None else _np(enc.event_emb.weight)
        self.blocks = []
        for b in cast(list[Block], list(enc.blocks)):

            def lin(m: torch.nn.Linear) -> tuple[np.ndarray, np.ndarray]:
                assert m.bias is not None
                return _np(m.weight).T.copy(), _np(m.bias)

            self.blocks.append(
                _Block(
                    (_np(b.ln_1.weight), _np(b.ln_1.bias)),
                    lin(b.attn.qkv),
                    lin(b.attn.proj),
                    (_np(b.ln_2.weight), _np(b.ln_2.bias)),
                    lin(b.mlp.fc),
                    lin(b.mlp.proj),
                )
            )
        self.ln_f = (_np(enc.ln_f.weight), _np(enc.ln_f.bias))
        # The last block's query and key/value halves as contiguous matrices (slices of the
        # fused weight are strided, which numpy multiplies several times slower), and the
        # causal mask of the longest window, cut to each history's length.
        w, bias = self.blocks[-1].qkv
        D = self.dim
        self._last_q = (w[:, :D].copy(), bias[:D].copy())
        self._last_kv = (w[:, D:].copy(), bias[D:].copy())
        self._causal = np.triu(np.full((cfg.max_len, cfg.max_len), -np.inf, np.float32), k=1)

    def __call__(
        self, items: np.ndarray, event_types: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(V_u [D], attention [L]) for one history of model indices (no padding)."""
        L = len(items)
        D, H = self.dim, self.heads
        Dh = D // H
        x = self.table[items] + self.pos[:L]  # [L, D]
        if self.events is not None:
            x = x + self.events[np.zeros(L, np.int64) if event_types is None else event_types]
        causal = self._causal[:L, :L]
        for blk in self.blocks[:-1]:
            h = _layer_norm(x, blk.ln1)
            qkv = h @ blk.qkv[0] + blk.qkv[1]  # [L, 3D]
            q, k, v = (
                qkv[:, i * D : (i + 1) * D].reshape(L, H, Dh).transpose(1, 0, 2) for i in range(3)
            )  # [H, L, Dh]
            att = _softmax(q @ k.transpose(0, 2, 1) / math.sqrt(Dh) + causal)  # [H, L, L]
            y = (att @ v).transpose(1, 0, 2).reshape(L, D)
            x = x + (y @ blk.proj[0] + blk.proj[1])
            x = x + (
                _gelu(_layer_norm(x, blk.ln2) @ blk.fc[0] + blk.fc[1]) @ blk.out[0] + blk.out[1]
            )
        blk = self.blocks[-1]
        h = _layer_norm(x, blk.ln1)
        q = (h[-1] @ self._last_q[0] + self._last_q[1]).reshape(H, 1, Dh)
        kv = h @ self._last_kv[0] + self._last_kv[1]  # [L, 2D]
        k = kv[:, :D].reshape(L, H, Dh).transpose(1, 0, 2)
        v = kv[:, D:].reshape(L, H, Dh).transpose(1, 0, 2)
        att = _softmax(q @ k.transpose(0, 2, 1) / math.sqrt(Dh))  # [H, 1, L]
        y = (att @ v).reshape(D)
        last = x[-1] + (y @ blk.proj[0] + blk.proj[1])
        last = last + (
            _gelu(_layer_norm(last, blk.ln2) @ blk.fc[0] + blk.fc[1]) @ blk.out[0] + blk.out[1]
        )
        return _layer_norm(last, self.ln_f).astype(np.float32), att.mean(axis=0)[0]
