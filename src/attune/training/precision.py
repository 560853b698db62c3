"""Mixed-precision training steps (`train.precision`): the forward pass and the loss under
`torch.autocast`, the backward pass, gradient clipping and the optimizer step.

- `fp32`: no autocast; bitwise what training always did.
- `bf16`: matrix products in bfloat16 (CPU or CUDA). bfloat16 keeps float32's exponent range,
  so gradients need no scaling.
- `fp16`: float16 autocast on CUDA with a `GradScaler`: float16's narrow range underflows small
  gradients unless the loss is scaled up first (and the gradients down before clipping).

Only the training step runs in low precision: the weights, the optimizer state, validation and
the checkpoint stay float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import torch
from torch import Tensor, nn

from attune.training.config_loader import ConfigError

Precision = Literal["fp32", "bf16", "fp16"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class MixedPrecision:
    """Autocast and the backward/step of one precision on one device."""

    def __init__(self, precision: Precision, device: torch.device) -> None:
        if precision == "fp16" and device.type != "cuda":
            raise ConfigError(
                f"train.precision: fp16 needs a CUDA device (training runs on {device.type}); "
                "use bf16 on a CPU"
            )
        self.precision, self.device = precision, device
        self.scaler: Any = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """The forward pass and loss in this precision (nothing changes for fp32)."""
        if self.precision == "fp32":
            yield
            return
        with torch.autocast(self.device.type, dtype=_DTYPES[self.precision]):
            yield

    def step(
        self,
        loss: Tensor,
        optimizer: torch.optim.Optimizer,
        params: Iterable[nn.Parameter],
        grad_clip: float,
    ) -> None:
        """Backward, clip the gradient norm to `grad_clip` (0: no clipping), optimizer step."""
        if self.scaler is None:
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if grad_clip > 0:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(optimizer)  # skipped when a gradient overflowed
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        """The loss scale's state (fp16), for a resumed run to continue it."""
        return {} if self.scaler is None else dict(self.scaler.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


__all__ = ["MixedPrecision", "Precision"]
