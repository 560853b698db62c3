import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from attune.model.encoder import EncoderConfig
from attune.training import (
    ConfigError,
    FitConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
)
from attune.training.config import derived_batch_size


def test_defaults_are_valid_and_documented_values() -> None:
    config = TrainConfig()
    assert config.model.max_len is None  # derived from the data
    assert config.model.members == 2  # a pair: bench/results/quality.md
    assert config.train.loss == "softmax"
    assert config_from_dict(config_to_dict(config)) == config


def test_overrides_set_typed_values() -> None:
    config = apply_overrides(
        TrainConfig(),
        [
            "model.dim=32",
            "model.members=1",
            "train.lr=1e-3",
            "model.scoring=dot",
            "train.progress=false",
            "model.max_len=30",
            "train.loss=sampled_softmax",
            "train.weight_decay=0",
        ],
    )
    assert config.model.dim == 32
    assert config.train.lr == 0.001
    assert config.model.scoring == "dot"
    assert config.train.progress is False
    assert config.model.max_len == 30
    assert config.train.loss == "sampled_softmax"
    assert config.train.weight_decay == 0.0 and isinstance(config.train.weight_decay, float)
    assert apply_overrides(config, ["model.max_len=none"]).model.max_len is None
    assert apply_overrides(config, ['model.scoring="cosine"']).model.scoring == "cosine"


def test_overrides_do_not_modify_the_original() -> None:
    base = TrainConfig()
    apply_overrides(base, ["model.dim=32"])
    assert base.model.dim == TrainConfig().model.dim


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.lrr=1", "train.lrr"),
        ("optim.lr=1", "optim.lr"),
        ("train.lr=fast", "train.lr"),
        ("model.dim=1.5", "model.dim"),
        ("model.dim=0", "model.dim"),
        ("model.dropout=1.5", "model.dropout"),
        ("train.progress=3", "train.progress"),
        ("model.scoring=l2", "model.scoring"),
        ("train.device=tpu", "train.device"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.batch_size=many", "train.batch_size"),
        ("train.lr_decay=0", "train.lr_decay"),
        ("train.lr_decay=1.5", "train.lr_decay"),
        ("train.lr_patience=0", "train.lr_patience"),
        ("train.precision=fp8", "train.precision"),
        ("train.precision=16", "train.precision"),
    ],
)
def test_bad_override_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        apply_overrides(TrainConfig(), [override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=-1", "train.lr: must be > 0 (got -1)"),
        ("model.dropout=1.5", "model.dropout: must be >= 0 and < 1 (got 1.5)"),
        ("train.lr_decay=0", "train.lr_decay: must be > 0 and <= 1 (got 0)"),
        ("model.members=0", "model.members: must be >= 1 (got 0)"),
        ("model.dim=1.5", "model.dim: expected an integer (got 1.5)"),
        ("train.lr=fast", "train.lr: expected a number (got 'fast')"),
        ("train.progress=3", "train.progress: expected true or false (got 3)"),
        ("model.scoring=l2", "model.scoring: must be one of 'cosine' or 'dot' (got 'l2')"),
        (
            "train.precision=half",
            "train.precision: must be one of 'fp32', 'bf16' or 'fp16' (got 'half')",
        ),
        ("optim.lr=1", "unknown config key optim.lr (known: model, train)"),
        ("train.lr.x=1", "unknown config key train.lr.x (train.lr is not a table)"),
    ],
)
def test_a_bad_value_names_the_key_and_the_allowed_values(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(TrainConfig(), [override])
    assert str(err.value) == message


def test_an_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(TrainConfig(), ["train.lrr=1"])
    assert str(err.value).startswith("unknown config key train.lrr (known in [train]: loss, ")
    assert ", lr, " in str(err.value)


def test_every_bad_key_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[model]\ndim = 0\n\n[train]\nlr = 0\n")
    with pytest.raises(ConfigError, match=r"model\.dim: .*; train\.lr: "):
        load_config(path)


def test_load_config_applies_overrides_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "attune.toml"
    path.write_text("[model]\ndim = 32\n\n[train]\nlr = 5e-4\n")
    config = load_config(path, ["train.lr=1e-3", "model.members=1"])
    assert (config.model.dim, config.train.lr, config.model.members) == (32, 1e-3, 1)
    assert load_config(None, ["model.dim=128"]) == apply_overrides(TrainConfig(), ["model.dim=128"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_configs_are_frozen_and_every_field_is_documented() -> None:
    config = TrainConfig()
    with pytest.raises(ValidationError):
        config.train.lr = 1.0  # type: ignore[misc]
    for cls in (TrainConfig, ModelConfig, FitConfig):
        assert issubclass(cls, BaseModel)
        undocumented = [n for n, f in cls.model_fields.items() if not f.description]
        assert not undocumented, f"{cls.__name__}: {undocumented}"


def test_the_encoder_and_the_model_section_share_their_defaults() -> None:
    """One source of each architecture default: a bare EncoderConfig is the encoder that
    `attune train`'s defaults resolve to (attn_dropout 0.2 and temperature 0.05 once
    differed between the two)."""
    resolved = ModelConfig(max_len=50).resolve(100, np.array([5, 8]))
    assert resolved == EncoderConfig(n_items=100)
    shared = {f.name for f in dataclasses.fields(EncoderConfig)} & set(ModelConfig.model_fields)
    assert {"dim", "dropout", "attn_dropout", "temperature", "scoring"} <= shared
    for name in shared - {"max_len"}:
        assert getattr(ModelConfig(), name) == getattr(EncoderConfig(n_items=1), name), name


def test_malformed_override_is_explained() -> None:
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        apply_overrides(TrainConfig(), ["lr"])


def test_heads_must_divide_dim() -> None:
    with pytest.raises(ConfigError, match="n_heads"):
        apply_overrides(TrainConfig(), ["model.dim=30", "model.n_heads=4"])


def test_an_ensemble_needs_cosine_scores() -> None:
    with pytest.raises(ConfigError, match=r"model\.members"):
        apply_overrides(TrainConfig(), ["model.members=2", "model.scoring=dot"])
    with pytest.raises(ConfigError, match=r"model\.members"):
        apply_overrides(TrainConfig(), ["model.members=0"])


def test_toml_file_sets_values_and_keeps_defaults(tmp_path: Path) -> None:
    path = tmp_path / "attune.toml"
    path.write_text(
        '[model]\ndim = 32\nscoring = "dot"\nmembers = 1\n\n[train]\nlr = 5e-4\nmax_epochs = 3\n'
    )
    config = load_config(path)
    assert (config.model.dim, config.model.scoring) == (32, "dot")
    assert (config.train.lr, config.train.max_epochs) == (5e-4, 3)
    assert config.train.batch_size == TrainConfig().train.batch_size


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[model]\nwidth = 3\n", "model.width"),
        ("[training]\nlr = 1\n", "training"),
        ('[train]\nlr = "x"\n', "train.lr"),
        ("[train]\nlr = [", "TOML"),
    ],
)
def test_bad_toml_names_the_problem(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)


@settings(max_examples=25, deadline=None)
@given(
    dim=st.sampled_from([8, 16, 64]),
    lr=st.floats(1e-5, 1.0),
    dropout=st.floats(0.0, 0.99),
    max_len=st.none() | st.integers(1, 500),
    loss=st.sampled_from(["softmax", "sampled_softmax"]),
)
def test_any_valid_override_round_trips(
    dim: int, lr: float, dropout: float, max_len: int | None, loss: str
) -> None:
    overrides = [
        f"model.dim={dim}",
        f"train.lr={lr!r}",
        f"model.dropout={dropout!r}",
        f"model.max_len={max_len}",
        f"train.loss={loss}",
    ]
    config = apply_overrides(TrainConfig(), overrides)
    assert (config.model.dim, config.train.lr, config.model.dropout) == (dim, lr, dropout)
    assert config.model.max_len == max_len and config.train.loss == loss
    assert config_from_dict(config_to_dict(config)) == config


@pytest.mark.parametrize(
    ("windows", "batch"),
    [(0, 32), (1_723, 32), (2_412, 32), (4_096, 64), (8_000, 64), (16_384, 256), (35_678, 256)],
)
def test_derived_batch_size(windows: int, batch: int) -> None:
    assert derived_batch_size(windows) == batch


def test_batch_size_is_derived_only_when_unset() -> None:
    assert TrainConfig().train.batch_size is None
    assert apply_overrides(TrainConfig(), ["train.batch_size=100"]).train.batch_size == 100


def test_environment_variables_sit_between_the_file_and_set(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlr = 0.5\nbatch_size = 16\n[model]\ndim = 32\n")
    env = {"ATTUNE_TRAIN__LR": "0.25", "ATTUNE_MODEL__N_HEADS": "4", "ATTUNE_PORT": "1"}
    config = load_config(path, ["train.batch_size=8"], environ=env)
    assert config.train.lr == 0.25  # the variable beats the file
    assert config.model.n_heads == 4 and config.model.dim == 32
    assert config.train.batch_size == 8  # --set beats both
    assert load_config(path, ["train.lr=0.125"], environ=env).train.lr == 0.125
    with pytest.raises(ConfigError, match=r"train\.lrr"):
        load_config(None, environ={"ATTUNE_TRAIN__LRR": "1"})
