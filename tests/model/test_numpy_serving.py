import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.model.encoder import EncoderConfig, InterestEncoder, pad_histories
from attune.model.numpy_serving import NumpyServingEncoder
from attune.model.serving import last_position


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 3),
    st.lists(st.tuples(st.integers(1, 40), st.integers(0, 2)), min_size=1, max_size=12),
)
def test_numpy_path_equals_the_torch_path(
    seed: int, n_layers: int, events: list[tuple[int, int]]
) -> None:
    torch.manual_seed(seed)
    enc = InterestEncoder(
        EncoderConfig(n_items=40, max_len=12, dim=16, n_heads=2, n_layers=n_layers, n_event_types=3)
    ).eval()
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    items = np.array([i for i, _ in events])
    types = np.array([t for _, t in events])
    fast = NumpyServingEncoder(enc, enc._item_table())
    vec, att = fast(items, types)
    ref_vec, ref_att = last_position(
        enc, pad_histories([items], 12, offset=0), pad_histories([types], 12, offset=0)
    )
    assert np.allclose(vec, ref_vec[0].numpy(), atol=1e-5)
    assert np.allclose(att, ref_att[0, : len(items)].numpy(), atol=1e-5)
