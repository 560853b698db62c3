"""The interest model: a causal Transformer that turns a user's recent events into V_u."""

from attune.model.device import resolve_device
from attune.model.encoder import EncoderConfig, InterestEncoder, pack_bags, pad_histories
from attune.model.scorer import EncoderScorer

__all__ = [
    "EncoderConfig",
    "EncoderScorer",
    "InterestEncoder",
    "pack_bags",
    "pad_histories",
    "resolve_device",
]
