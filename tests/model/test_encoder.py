import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.model import EncoderConfig, InterestEncoder, pad_histories

N_ITEMS = 40
ATTRS = [[i % 4, 4 + i % 3] for i in range(N_ITEMS)]  # two attribute tokens per item


def _attr_csr() -> tuple[np.ndarray, np.ndarray]:
    indptr = np.cumsum([0] + [len(r) for r in ATTRS])
    return indptr, np.concatenate(ATTRS)


def _encoder(seed: int = 0, **kw: object) -> InterestEncoder:
    torch.manual_seed(seed)
    cfg = EncoderConfig(n_items=N_ITEMS, max_len=12, dim=16, n_heads=2, **kw)  # type: ignore[arg-type]
    attrs = _attr_csr() if cfg.n_item_tokens else None
    enc = InterestEncoder(cfg, attrs).eval()
    with torch.no_grad():  # larger than the init scale, so mistakes are not hidden by tiny weights
        for p in enc.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.3)
    return enc


histories = st.lists(st.integers(1, N_ITEMS), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None)
@given(histories, st.integers(0, 11), st.integers(0, 1000))
def test_output_at_t_ignores_later_events(seq: list[int], t: int, seed: int) -> None:
    enc = _encoder(seed % 5, n_event_types=3, n_item_tokens=7)
    t = min(t, len(seq) - 1)
    rng = np.random.default_rng(seed)
    changed = seq[: t + 1] + rng.integers(1, N_ITEMS + 1, size=len(seq) - t - 1).tolist()
    types = torch.from_numpy(rng.integers(0, 3, size=(1, len(seq))))
    changed_types = types.clone()
    changed_types[0, t + 1 :] = torch.from_numpy(rng.integers(0, 3, size=len(seq) - t - 1))
    with torch.no_grad():
        a = enc(torch.tensor([seq]), types)
        b = enc(torch.tensor([changed]), changed_types)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=1e-5)


@settings(max_examples=15, deadline=None)
@given(histories, st.integers(0, 10), st.lists(histories, max_size=3))
def test_padding_and_batch_mates_do_not_change_user_vector(
    seq: list[int], extra_pad: int, others: list[list[int]]
) -> None:
    enc = _encoder(n_item_tokens=7)
    alone = torch.tensor([seq])
    padded = torch.tensor([seq + [0] * min(extra_pad, 12 - len(seq))])
    batch = pad_histories([[i - 1 for i in seq]] + [[i - 1 for i in o] for o in others], 12)
    with torch.no_grad():
        v1 = enc.user_vectors(alone)
        v2 = enc.user_vectors(padded)
        v3 = enc.user_vectors(batch)[:1]
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-5)
    torch.testing.assert_close(v1, v3, rtol=0, atol=1e-5)


def test_user_vector_is_the_last_real_position_and_depends_on_history() -> None:
    enc = _encoder()
    items = torch.tensor([[3, 4, 5, 0, 0]])
    with torch.no_grad():
        hidden = enc(items)
        v = enc.user_vectors(items)
        other = enc.user_vectors(torch.tensor([[3, 4, 6]]))
    torch.testing.assert_close(v[0], hidden[0, 2])
    assert not torch.allclose(v, other)


def test_left_padded_or_empty_histories_are_rejected() -> None:
    enc = _encoder()
    with pytest.raises(ValueError, match="right-padded"):
        enc.user_vectors(torch.tensor([[0, 0, 3, 4]]))
    with pytest.raises(ValueError, match="at least one event"):
        enc.user_vectors(torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.ones(1, 13, dtype=torch.long))


@settings(max_examples=10, deadline=None)
@given(histories, st.integers(0, 100))
def test_reference_attention_path_agrees_with_fused_kernel(seq: list[int], seed: int) -> None:
    enc = _encoder(seed % 3)
    items = torch.tensor([seq])
    with torch.no_grad():
        fused, _ = enc._encode(items, None, None, enc._item_table(), need_weights=False)
        reference, _ = enc._encode(items, None, None, enc._item_table(), need_weights=True)
    torch.testing.assert_close(fused, reference, rtol=1e-4, atol=1e-5)


def test_last_attention_is_a_distribution_over_real_events() -> None:
    enc = _encoder()
    items = torch.tensor([[3, 4, 5, 6, 0, 0], [7, 8, 0, 0, 0, 0]])
    with torch.no_grad():
        att = enc.last_attention(items)
    assert att.shape == (2, 6)
    torch.testing.assert_close(att.sum(dim=1), torch.ones(2))
    assert torch.all(att[0, 4:] == 0) and torch.all(att[1, 2:] == 0)
    assert torch.all(att[0, :4] > 0)


def test_item_vectors_include_attributes_and_cold_items_use_attributes_alone() -> None:
    enc = _encoder(n_item_tokens=7)
    with torch.no_grad():
        vecs = enc.item_vectors()
        cold = enc.item_vectors_from_attributes([torch.tensor(r) for r in ATTRS[:3]])
        unknown = enc.item_vectors_from_attributes([torch.tensor([3, 99]), torch.tensor([99])])
        known_only = enc.item_vectors_from_attributes([torch.tensor([3])])
    assert vecs.shape == (N_ITEMS, 16)
    torch.testing.assert_close(vecs[:3], enc.item_emb.weight[1:4] + cold)
    torch.testing.assert_close(unknown[0], known_only[0])  # an unseen token is ignored
    assert torch.all(unknown[1] == 0)


def test_attribute_free_model_gives_zero_cold_vectors() -> None:
    enc = _encoder()
    with torch.no_grad():
        cold = enc.item_vectors_from_attributes([torch.tensor([1, 2])])
    assert cold.shape == (1, 16) and torch.all(cold == 0)


def test_user_attributes_change_the_user_vector() -> None:
    enc = _encoder(n_user_tokens=5)
    items = torch.tensor([[3, 4, 5], [3, 4, 5]])
    with torch.no_grad():
        v = enc.user_vectors(items, user_tokens=[torch.tensor([0, 1]), torch.tensor([2])])
        same = enc.user_vectors(items, user_tokens=[torch.tensor([0, 1]), torch.tensor([1, 0])])
    assert not torch.allclose(v[0], v[1])
    torch.testing.assert_close(same[0], same[1])


def test_event_types_matter_and_are_checked() -> None:
    enc = _encoder(n_event_types=3)
    items = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        a = enc.user_vectors(items, torch.tensor([[0, 0, 0]]))
        b = enc.user_vectors(items, torch.tensor([[0, 0, 2]]))
        default = enc.user_vectors(items)
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, default)
    with pytest.raises(ValueError, match="event type"):
        enc.user_vectors(items, torch.tensor([[0, 0, 3]]))


def test_cosine_scores_are_bounded_by_the_temperature_and_dot_is_a_product() -> None:
    enc = _encoder(temperature=0.05)
    users = torch.randn(4, 16) * 10
    items = torch.randn(9, 16) * 10
    with torch.no_grad():
        scores = enc.score(users, items)
        pairs = enc.score_pairs(users[:3], items[:3])
    assert scores.shape == (4, 9)
    assert scores.abs().max() <= 1 / 0.05 + 1e-4
    torch.testing.assert_close(pairs, scores[:3, :3].diagonal())
    dot = _encoder(scoring="dot")
    with torch.no_grad():
        torch.testing.assert_close(dot.score(users, items), users @ items.T)


def test_learned_temperature_is_a_trainable_parameter() -> None:
    fixed = _encoder(temperature=0.1)
    learned = _encoder(temperature=0.1, learn_temperature=True)
    assert not fixed.log_inv_temperature.requires_grad
    assert learned.log_inv_temperature.requires_grad
    assert math.isclose(float(fixed.log_inv_temperature.exp()), 10.0, rel_tol=1e-5)


def test_pad_histories_keeps_the_most_recent_events() -> None:
    out = pad_histories([[0, 1, 2, 3, 4], [7]], max_len=3)
    assert out.tolist() == [[3, 4, 5], [8, 0, 0]]
    codes = pad_histories([[2, 1]], max_len=3, offset=0)
    assert codes.tolist() == [[2, 1]]


@pytest.mark.parametrize(
    "bad", [{"dim": 15}, {"dropout": 1.0}, {"temperature": 0.0}, {"scoring": "l2"}]
)
def test_invalid_encoder_config_names_the_field(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        EncoderConfig(n_items=5, **bad)  # type: ignore[arg-type]
