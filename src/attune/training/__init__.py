"""Training the interest model: typed config, the epoch loop, checkpoints and offline top-k."""

from attune.training.checkpoint import (
    CheckpointError,
    LoadedModel,
    load_checkpoint,
    save_checkpoint,
)
from attune.training.config import (
    ConfigError,
    FitConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
)
from attune.training.recommend import recommend_offline
from attune.training.result import TrainResult
from attune.training.trainer import Trainer, train

__all__ = [
    "CheckpointError",
    "ConfigError",
    "FitConfig",
    "LoadedModel",
    "ModelConfig",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_checkpoint",
    "load_config",
    "recommend_offline",
    "save_checkpoint",
    "train",
]
