"""Majority-rule block spins: exact small cases, ties broken by a fair coin, b must divide L."""
import numpy as np
import pytest
from seeding import seed

from physml.inference.spins.block_spin import majority_rule, neighbour_field


def test_majority_b3_no_ties():
    s = -np.ones((6, 6), dtype=np.int8)
    s[:3, :3] = 1
    s[3:, 3:5] = 1  # 6 of 9 up in the lower-right block
    out = majority_rule(s, 3, np.random.default_rng(seed(0)))
    assert out.tolist() == [[1, -1], [-1, 1]]


def test_majority_b2_ties_are_fair_coins():
    s = np.tile(np.array([[1, -1], [1, -1]], dtype=np.int8), (2, 20, 20))  # every 2×2 block is a tie
    out = majority_rule(s, 2, np.random.default_rng(seed(1)))
    assert out.shape == (2, 20, 20) and set(np.unique(out)) <= {-1, 1}
    # 800 fair coins: mean within 5 sd (sd = 1/sqrt(800))
    assert abs(out.mean()) < 5 / np.sqrt(out.size)
    clear = np.ones((4, 4), dtype=np.int8)
    assert np.all(majority_rule(clear, 2, np.random.default_rng(seed(2))) == 1)


def test_neighbour_field_periodic():
    s = np.zeros((3, 3), dtype=np.int8)
    s[0, 0] = 1
    h = neighbour_field(s)
    assert h[0, 1] == 1 and h[1, 0] == 1 and h[0, 2] == 1 and h[2, 0] == 1 and h.sum() == 4


@pytest.mark.parametrize("b,shape", [(2, (5, 5)), (3, (8, 8)), (1, (4, 4)), (2, (4, 6))])
def test_bad_input(b, shape):
    with pytest.raises(ValueError):
        majority_rule(np.ones(shape, dtype=np.int8), b, np.random.default_rng(0))
