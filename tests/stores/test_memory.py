import pytest

from attune.stores.memory import MemoryUserStateStore
from tests.stores.contract import UserStateStoreContract


class TestMemoryUserStateStore(UserStateStoreContract):
    @pytest.fixture
    def store(self) -> MemoryUserStateStore:
        return MemoryUserStateStore()
