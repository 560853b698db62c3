from collections.abc import Iterator
from pathlib import Path

import pytest

from attune.data.dataset import Dataset
from attune.training.config import FitConfig, ModelConfig, TrainConfig
from attune.training.trainer import train
from tests.stores.redis_server import (  # noqa: F401 (session fixtures, shared by every module)
    redis_cluster_service,
    redis_service,
)


@pytest.fixture
def recbole_dir(tmp_path: Path) -> Path:
    """A tiny dataset in RecBole atomic format, shaped like ../shared/datasets/ml-100k."""
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "mini.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t4\t300\n1\t11\t2\t100\n2\t10\t5\t200\n2\t12\t3\t250\n"
    )
    (folder / "mini.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAnimation Comedy\n11\tHeat\t1995\tAction\n"
        "12\tAlien\t1979\tHorror Sci-Fi\n13\tUnwatched\t2001\tDrama\n"
    )
    (folder / "mini.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n"
    )
    return folder


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts from the library's default logging (a CLI test sets the level to
    warning for the whole process, which would hide the info events other tests check).
    Reset after the test too: a module-scoped fixture of the next module runs before this
    fixture does."""
    from attune.log import configure

    configure()
    yield
    configure()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    """The clustered catalogue of tests/engine and a tiny model trained on it, once per
    session (seconds); engine and server tests share it."""
    from tests.engine.conftest import clustered_dataset

    data = clustered_dataset()
    out = tmp_path_factory.mktemp("model")
    train(data, engine_model_config(), out)
    return data, out


@pytest.fixture(scope="session")
def trained_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Path]:
    """The same catalogue and an ensemble of two tiny models (`model.members=2`)."""
    from tests.engine.conftest import clustered_dataset

    data = clustered_dataset()
    out = tmp_path_factory.mktemp("pair")
    train(data, engine_model_config(members=2, epochs=6), out)
    return data, out


def engine_model_config(members: int = 1, epochs: int = 8) -> TrainConfig:
    """The tiny model the engine and server tests serve (seconds to train)."""
    return TrainConfig(
        model=ModelConfig(
            dim=32, max_len=16, dropout=0.1, attn_dropout=0.1, item_attributes=True, members=members
        ),
        train=FitConfig(
            max_epochs=epochs,
            patience=epochs,
            batch_size=64,
            lr=5e-3,
            warmup_steps=10,
            device="cpu",
            progress=False,
            tensorboard=False,
        ),
    )
