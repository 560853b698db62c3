import numpy as np
import pytest
from pydantic import ValidationError

from attune.data.dataset import AttributeTable
from attune.data.events import EventTypes
from attune.data.vocab import Vocabulary
from attune.ranking import FilterCache, FilterSpec, ItemCatalogue, UserItems, compile_filter

from .conftest import ids

NOW = 1_000_000.0


def mask(
    shop: ItemCatalogue, spec: FilterSpec, user: UserItems | None = None, now: float = NOW
) -> list[int]:
    return ids(compile_filter(spec, shop).mask(now, user))


def user(
    seen: dict[int, str] | None = None, hidden: tuple[int, ...] = (), negative: tuple[int, ...] = ()
) -> UserItems:
    types = EventTypes()
    pairs = list((seen or {}).items())
    return UserItems(
        seen_items=np.array([i for i, _ in pairs], np.int64),
        seen_event_types=np.array([types.code(t) for _, t in pairs], np.int16),
        hidden=np.array(hidden, np.int64),
        negative=np.array(negative, np.int64),
    )


def test_default_spec_allows_everything(shop: ItemCatalogue) -> None:
    assert mask(shop, FilterSpec()) == [0, 1, 2, 3, 4, 5]


def test_include_is_or_within_a_field_and_across_fields(shop: ItemCatalogue) -> None:
    assert mask(shop, FilterSpec(include={"genre": ["drama", "horror"]})) == [0, 2, 3]
    spec = FilterSpec(include={"genre": ["drama", "comedy"], "brand": ["acme"]})
    assert mask(shop, spec) == [0, 1]


def test_exclude_drops_any_match(shop: ItemCatalogue) -> None:
    assert mask(shop, FilterSpec(exclude={"tag": ["new"], "brand": ["zenith"]})) == [0, 4, 5]


def test_unknown_values_match_nothing(shop: ItemCatalogue) -> None:
    assert mask(shop, FilterSpec(include={"genre": ["western"]})) == []
    assert mask(shop, FilterSpec(exclude={"genre": ["western"]})) == [0, 1, 2, 3, 4, 5]


def test_items_added_later_have_no_attributes(shop: ItemCatalogue) -> None:
    shop.ensure_size(8)
    assert mask(shop, FilterSpec(include={"brand": ["acme"]})) == [0, 1, 4]
    assert mask(shop, FilterSpec(exclude={"brand": ["acme"]})) == [2, 3, 5, 6, 7]


def test_availability_window_with_open_ends(shop: ItemCatalogue) -> None:
    shop.available_from[1] = NOW + 10  # not yet
    shop.available_until[2] = NOW  # ended exactly now: until is exclusive
    shop.available_from[3] = NOW  # starts exactly now: from is inclusive
    shop.available_until[4] = NOW + 5
    shop.touch()
    spec = FilterSpec()
    assert mask(shop, spec) == [0, 3, 4, 5]
    assert mask(shop, spec, now=NOW + 7) == [0, 3, 5]  # item 4 expired
    assert mask(shop, spec, now=NOW + 10) == [0, 1, 3, 5]  # item 1 opened
    assert mask(shop, spec, now=NOW - 1) == [0, 2, 4, 5]
    assert mask(shop, FilterSpec(respect_availability=False), now=NOW + 7) == list(range(6))


def test_availability_cache_follows_catalogue_changes(shop: ItemCatalogue) -> None:
    assert shop.available(NOW).all()
    shop.available_until[0] = NOW - 1
    shop.touch()
    assert not shop.available(NOW)[0]


def test_global_blocklist(shop: ItemCatalogue) -> None:
    shop.blocked[[1, 5]] = True
    shop.touch()
    assert mask(shop, FilterSpec()) == [0, 2, 3, 4]


def test_hidden_items_are_always_removed(shop: ItemCatalogue) -> None:
    spec = FilterSpec(exclude_seen=False, exclude_negative=False)
    assert mask(shop, spec, user(hidden=(2,))) == [0, 1, 3, 4, 5]


def test_seen_items_respect_reconsumable_event_types(shop: ItemCatalogue) -> None:
    u = user(seen={0: "view", 1: "purchase", 3: "purchase"})
    assert mask(shop, FilterSpec(), u) == [2, 4, 5]
    spec = FilterSpec(reconsumable_event_types=frozenset({"purchase"}))
    assert mask(shop, spec, u) == [1, 2, 3, 4, 5]
    assert mask(shop, FilterSpec(exclude_seen=False), u) == list(range(6))


def test_any_other_event_type_keeps_an_item_seen(shop: ItemCatalogue) -> None:
    both = UserItems(
        seen_items=np.array([1, 1]),
        seen_event_types=np.array([EventTypes().code("purchase"), EventTypes().code("view")]),
        hidden=np.empty(0, np.int64),
        negative=np.empty(0, np.int64),
    )
    spec = FilterSpec(reconsumable_event_types=frozenset({"purchase"}))
    assert 1 not in mask(shop, spec, both)


def test_negative_items(shop: ItemCatalogue) -> None:
    u = user(negative=(4,))
    assert mask(shop, FilterSpec(), u) == [0, 1, 2, 3, 5]
    assert mask(shop, FilterSpec(exclude_negative=False), u) == list(range(6))


def test_exclude_items_by_external_id(shop: ItemCatalogue) -> None:
    spec = FilterSpec(exclude_items=["item2", "item5", "gone-item"])
    assert mask(shop, spec) == [0, 1, 3, 4]
    shop.items = None
    with pytest.raises(ValueError, match="vocabulary"):
        compile_filter(spec, shop)


def test_unknown_event_type_is_rejected_at_compile(shop: ItemCatalogue) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        compile_filter(FilterSpec(reconsumable_event_types=frozenset({"teleport"})), shop)


def test_rules_combine(shop: ItemCatalogue) -> None:
    shop.blocked[0] = True
    shop.touch()
    spec = FilterSpec(include={"brand": ["acme", "zenith"]}, exclude={"tag": ["new"]})
    assert mask(shop, spec, user(seen={2: "view"})) == [4]


@pytest.mark.parametrize(
    "body",
    [
        {"include": {"genre": []}},
        {"include": {"genre=x": ["a"]}},
        {"exclude": {"": ["a"]}},
        {"colour": "red"},
        {"include": {"genre": ["x"] * 1001}},
    ],
)
def test_spec_rejects_malformed_json(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FilterSpec.model_validate(body)


def test_spec_round_trips_as_json() -> None:
    spec = FilterSpec(include={"genre": ["drama"]}, reconsumable_event_types={"purchase"})
    assert FilterSpec.model_validate_json(spec.model_dump_json()) == spec


def test_stale_filter_refuses_and_cache_recompiles(shop: ItemCatalogue) -> None:
    cache = FilterCache(shop)
    spec = FilterSpec(include={"brand": ["acme"]})
    first = cache.get(spec)
    assert cache.get(FilterSpec(include={"brand": ["acme"]})) is first
    shop.blocked[0] = True
    shop.touch()
    with pytest.raises(RuntimeError):
        first.mask(NOW)
    assert ids(cache.get(spec).mask(NOW)) == [1, 4]


def test_mask_scales_to_a_large_catalogue() -> None:
    n = 200_000
    tokens = Vocabulary(f"genre=g{g}" for g in range(7))
    table = AttributeTable(tokens, np.arange(n + 1), np.arange(n) % 7)
    cat = ItemCatalogue.open(n, table)
    f = compile_filter(FilterSpec(include={"genre": ["g3"]}), cat)
    got = f.mask(NOW, user(seen={3: "view"}))
    assert got.sum() == len(range(3, n, 7)) - 1 and not got[3] and got[10]


def test_shared_mask_is_reused_until_availability_changes(shop: ItemCatalogue) -> None:
    shop.available_from[2] = NOW + 100
    shop.touch()
    f = compile_filter(FilterSpec(exclude={"brand": ["acme"]}), shop)
    first = f.shared_mask(NOW)
    assert f.shared_mask(NOW + 50) is first  # no boundary crossed: no new pass over items
    assert ids(first) == [3, 5]
    assert ids(f.shared_mask(NOW + 100)) == [2, 3, 5]
    with pytest.raises(ValueError):
        first[0] = True  # shared between requests: read-only


def test_user_exclusions_are_a_short_unique_list(shop: ItemCatalogue) -> None:
    u = user(seen={0: "view", 1: "purchase"}, hidden=(0, 4), negative=(5,))
    f = compile_filter(FilterSpec(reconsumable_event_types=frozenset({"purchase"})), shop)
    assert f.user_excluded(u).tolist() == [0, 4, 5]
    assert f.user_excluded(None).tolist() == []
