"""Which torch device a configured name means: `auto` picks CUDA when there is one."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """The device `name` ("cpu", "cuda", "auto", ...) stands for; RuntimeError when "cuda" is
    asked for and no CUDA device is available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is available")
    return torch.device(name)
