"""The `UserProfiles` contract."""

from __future__ import annotations

from attune.data.events import UserUpdate
from attune.ports import Storage, UserProfiles
from tests.stores.contracts.records import event


def test_upsert_replaces_the_attributes(storage: Storage, profiles: UserProfiles) -> None:
    profiles.upsert_users([UserUpdate(user_id="u", attributes={"country": "NL", "tags": ["a"]})])
    assert profiles.user_attributes("u") == {"country": "NL", "tags": ["a"]}
    profiles.upsert_users([UserUpdate(user_id="u", attributes={"age": "30-39"})])
    assert profiles.user_attributes("u") == {"age": "30-39"}
    assert list(storage.users.ids) == ["u"]
    assert profiles.user_attributes("nobody") is None


def test_all_user_attributes_by_index(storage: Storage, profiles: UserProfiles) -> None:
    storage.events.append_events([event("a", "x"), event("plain", "x")])
    profiles.upsert_users(
        [UserUpdate(user_id="c", attributes={"k": "3"}), UserUpdate(user_id="a", attributes={})]
    )
    assert profiles.user_attributes("plain") is None
    assert list(profiles.all_user_attributes()) == [(0, {}), (2, {"k": "3"})]


def test_erase_user_attributes(storage: Storage, profiles: UserProfiles) -> None:
    profiles.upsert_users(
        [
            UserUpdate(user_id="a", attributes={"k": "1"}),
            UserUpdate(user_id="b", attributes={"k": "2"}),
        ]
    )
    assert profiles.erase_user_attributes(storage.users.index("a")) == 1
    assert profiles.erase_user_attributes(storage.users.index("a")) == 0
    assert profiles.user_attributes("a") is None and profiles.user_attributes("b") == {"k": "2"}
    assert list(profiles.all_user_attributes()) == [(1, {"k": "2"})]
    assert profiles.erase_user_attributes(99) == 0
