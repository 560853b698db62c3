"""The single-row top-k by block maxima against the reference `top_k_rows`."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attune.retrieval._store import _BLOCK, top_k_row, top_k_rows


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 40 * _BLOCK + 37),
    st.integers(1, 60),
    st.sampled_from(["distinct", "ties", "filtered"]),
)
def test_block_maxima_find_the_reference_scores(seed: int, n: int, k: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "ties":  # few distinct values: many equal scores across blocks
        scores = rng.integers(0, 5, n).astype(np.float32)
    else:
        scores = rng.standard_normal(n).astype(np.float32)
    if kind == "filtered":  # most items masked out, as a narrow filter leaves them
        scores[rng.random(n) < 0.97] = -np.inf
    ref_cols, ref_values = top_k_rows(scores[None], k)
    cols, values = top_k_row(scores, k)
    np.testing.assert_array_equal(values, ref_values[0])
    np.testing.assert_array_equal(scores[cols], values)  # the columns hold those scores
    assert len(set(cols.tolist())) == len(cols)
    if kind == "distinct":
        np.testing.assert_array_equal(cols, ref_cols[0])
