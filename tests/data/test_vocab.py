from hypothesis import given
from hypothesis import strategies as st

from attune.data.vocab import Vocabulary

ids = st.lists(st.text(min_size=1, max_size=12), max_size=60)


@given(ids)
def test_round_trip_external_internal(external: list[str]) -> None:
    vocab = Vocabulary(external)
    assert vocab.decode(vocab.encode(external, grow=False)) == external
    assert len(vocab) == len(set(external))
    assert sorted(set(vocab.encode(external, grow=False).tolist())) == list(range(len(vocab)))


@given(ids, ids)
def test_growing_never_renumbers(first: list[str], second: list[str]) -> None:
    vocab = Vocabulary(first)
    before = {x: vocab.index(x) for x in first}
    vocab.extend(second)
    assert all(vocab.index(x) == i for x, i in before.items())
    assert set(vocab.ids) == set(first) | set(second)


@given(ids)
def test_json_round_trip(external: list[str]) -> None:
    vocab = Vocabulary(external)
    assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_unknown_id_named_and_not_added_without_grow(tmp_path) -> None:
    vocab = Vocabulary(["a"])
    assert vocab.encode(["a", "zz"], grow=False).tolist() == [0, -1]
    assert "zz" not in vocab
    try:
        vocab.index("zz")
    except KeyError as exc:
        assert "zz" in str(exc)
    else:
        raise AssertionError("index of an unknown id must raise")
    path = tmp_path / "v.json"
    vocab.save(path)
    assert Vocabulary.load(path).ids == ("a",)
