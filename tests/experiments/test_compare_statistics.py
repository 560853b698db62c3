"""The interval arithmetic of `attune models compare`, against published values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attune.feedback import difference, wilson


def test_wilson_matches_newcombe_1998() -> None:
    """Newcombe (1998a), Statistics in Medicine 17:857, Table I: the score interval (method
    3) of 81/263 is 0.2553 .. 0.3662, of 15/148 0.0624 .. 0.1605, of 0/20 0 .. 0.1611."""
    for (x, n), (low, high) in {
        (81, 263): (0.2553, 0.3662),
        (15, 148): (0.0624, 0.1605),
        (0, 20): (0.0, 0.1611),
    }.items():
        r = wilson(x, n)
        assert r.value == x / n
        assert (round(r.low, 4), round(r.high, 4)) == (low, high)


def test_difference_matches_newcombe_1998() -> None:
    """Newcombe (1998b), Statistics in Medicine 17:873, Table II, method 10 (score interval
    from Wilson's): 56/70 - 48/80 is 0.0524 .. 0.3339; 9/10 - 3/10 is 0.1705 .. 0.8090."""
    d = difference(56, 70, 48, 80)
    assert d.value == pytest.approx(0.2)
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    assert d.significant
    d = difference(9, 10, 3, 10)
    assert (round(d.low, 4), round(d.high, 4)) == (0.1705, 0.8090)


def test_pooled_z_test_by_hand() -> None:
    """130/1000 against 100/1000: pooled p = 0.115, se = sqrt(0.115 * 0.885 * 2/1000),
    z = 0.03 / se = 2.1028, two-sided p = erfc(z / sqrt 2) = 0.0355."""
    d = difference(130, 1000, 100, 1000)
    se = math.sqrt(0.115 * 0.885 * 0.002)
    assert d.p_value == pytest.approx(math.erfc(0.03 / se / math.sqrt(2)))
    assert round(d.p_value, 4) == 0.0355
    assert d.significant and d.low > 0


def test_equal_or_empty_arms_are_not_significant() -> None:
    assert not difference(50, 1000, 50, 1000).significant
    empty = difference(0, 0, 5, 10)
    assert not empty.significant and empty.p_value == 1.0
    assert wilson(0, 0).model_dump() == {"value": 0.0, "low": 0.0, "high": 1.0}


@given(st.integers(1, 5000), st.data())
def test_intervals_hold_their_estimate(n: int, data: st.DataObject) -> None:
    x = data.draw(st.integers(0, n))
    r = wilson(x, n)
    assert 0.0 <= r.low <= r.value <= r.high <= 1.0
    n0 = data.draw(st.integers(1, 5000))
    d = difference(x, n, data.draw(st.integers(0, n0)), n0)
    assert -1.0 <= d.low <= d.value <= d.high <= 1.0
    assert 0.0 <= d.p_value <= 1.0
