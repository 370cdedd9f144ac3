"""inference/special.py and inference/enumeration.py: exact checks against direct formulas (no randomness)."""
import itertools
import math

import numpy as np
import pytest

from physml.inference.enumeration import binary_state_blocks, binary_states, spin_states, spins_from_bits
from physml.inference.special import log_2cosh, log_abs_2sinh


def test_log_2cosh_and_log_abs_2sinh_match_direct_formulas_and_do_not_overflow():
    x = np.linspace(-30.0, 30.0, 601)
    np.testing.assert_allclose(log_2cosh(x), np.log(2 * np.cosh(x)), rtol=1e-14, atol=1e-14)
    nz = x[x != 0]
    np.testing.assert_allclose(log_abs_2sinh(nz), np.log(np.abs(2 * np.sinh(nz))), rtol=1e-13, atol=1e-13)
    assert log_2cosh(1000.0) == 1000.0 and log_2cosh(-1000.0) == 1000.0
    assert log_2cosh(0.0) == pytest.approx(math.log(2), abs=1e-16)
    assert log_abs_2sinh(0.0) == -np.inf and log_abs_2sinh(-800.0) == 800.0


@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_states_are_every_configuration_once_in_the_documented_order(n):
    lsb, msb = binary_states(n), binary_states(n, msb_first=True)
    assert lsb.shape == msb.shape == (2 ** n, n) and lsb.dtype == np.int64
    k = np.arange(2 ** n)
    np.testing.assert_array_equal(lsb @ (1 << np.arange(n)), k)               # unit 0 least significant
    np.testing.assert_array_equal(msb @ (1 << np.arange(n - 1, -1, -1)), k)   # unit 0 most significant
    np.testing.assert_array_equal(msb, lsb[:, ::-1])
    assert sorted(map(tuple, lsb.tolist())) == sorted(itertools.product((0, 1), repeat=n))
    np.testing.assert_array_equal(spin_states(n), 1 - 2 * lsb)
    if n:
        np.testing.assert_array_equal(spin_states(n)[0], np.ones(n))          # k = 0: all spins up


@pytest.mark.parametrize("block", [1, 5, 8, 64, 1 << 16])
def test_blocks_concatenate_to_the_full_enumeration(block):
    for msb in (False, True):
        blocks = list(binary_state_blocks(6, block, msb_first=msb))
        assert all(len(b) <= block for b in blocks)
        np.testing.assert_array_equal(np.concatenate(blocks), binary_states(6, msb_first=msb))
    np.testing.assert_array_equal(spins_from_bits(binary_states(4, 3, 9)), spin_states(4)[3:9])


@pytest.mark.parametrize("call", [lambda: binary_states(-1), lambda: binary_states(2.5), lambda: spin_states(True),
                                  lambda: list(binary_state_blocks(3, 0)), lambda: list(binary_state_blocks(-2))])
def test_bad_arguments_raise_value_error_naming_them(call):
    with pytest.raises(ValueError, match="n_units|block_size"):
        call()
