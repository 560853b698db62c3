import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.model.encoder import EncoderConfig, InterestEncoder
from attune.model.incremental import encode_with_cache, extend


def _encoder(seed: int, **kw: int) -> InterestEncoder:
    torch.manual_seed(seed)
    cfg = EncoderConfig(n_items=30, max_len=8, dim=16, n_heads=2, n_event_types=4, **kw)
    enc = InterestEncoder(cfg).eval()
    # Non-trivial weights: the default init is small enough to hide mistakes.
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return enc


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 1000),
    st.lists(st.tuples(st.integers(1, 30), st.integers(0, 3)), min_size=1, max_size=8),
)
def test_incremental_equals_full_recompute(seed: int, events: list[tuple[int, int]]) -> None:
    enc = _encoder(seed)
    items = [i for i, _ in events]
    types = [t for _, t in events]
    cached, cache = encode_with_cache(enc, items, types)
    with torch.inference_mode():
        full = enc.user_vectors(torch.tensor([items]), torch.tensor([types]))[0]
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()
    assert cache.length == len(items)


def test_extend_refuses_a_full_window() -> None:
    enc = _encoder(0)
    _, cache = encode_with_cache(enc, [1, 2, 3, 4, 5, 6, 7, 8])
    assert extend(enc, cache, 9) is None


def test_incremental_with_user_attributes() -> None:
    enc = _encoder(1, n_user_tokens=5)
    tokens = torch.tensor([1, 3])
    cached, _ = encode_with_cache(enc, [4, 9, 2], [0, 1, 2], tokens)
    with torch.inference_mode():
        full = enc.user_vectors(torch.tensor([[4, 9, 2]]), torch.tensor([[0, 1, 2]]), [tokens])[0]
    assert torch.allclose(cached, full, atol=1e-5)
    plain, _ = encode_with_cache(enc, [4, 9, 2], [0, 1, 2])
    assert not torch.allclose(plain, full, atol=1e-3)  # the attributes do change V_u
