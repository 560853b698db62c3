import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.model.encoder import EncoderConfig, InterestEncoder, pad_histories
from attune.model.serving import last_position


def _encoder(seed: int, n_layers: int, **kw: int) -> InterestEncoder:
    torch.manual_seed(seed)
    cfg = EncoderConfig(
        n_items=40, max_len=12, dim=16, n_heads=2, n_layers=n_layers, n_event_types=3, **kw
    )
    enc = InterestEncoder(cfg).eval()
    with torch.no_grad():  # weights far from the small init, so mistakes show
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return enc


histories = st.lists(st.lists(st.integers(0, 39), min_size=1, max_size=12), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), histories)
def test_serving_path_equals_the_reference(seed: int, n_layers: int, hist: list[list[int]]) -> None:
    enc = _encoder(seed, n_layers)
    items = pad_histories(hist, 12)
    types = pad_histories([[i % 3 for i in h] for h in hist], 12, offset=0)
    vecs, att = last_position(enc, items, types)
    with torch.inference_mode():
        ref_vecs = enc.user_vectors(items, types)
        ref_att = enc.last_attention(items, types)
    assert torch.allclose(vecs, ref_vecs, atol=1e-5)
    assert torch.allclose(att, ref_att, atol=1e-5)


def test_serving_path_with_user_attributes() -> None:
    enc = _encoder(3, 2, n_user_tokens=4)
    items = pad_histories([[1, 2, 3], [7]], 12)
    tokens = [torch.tensor([0, 2]), torch.tensor([3])]
    vecs, _ = last_position(enc, items, None, tokens)
    with torch.inference_mode():
        assert torch.allclose(vecs, enc.user_vectors(items, None, tokens), atol=1e-5)
