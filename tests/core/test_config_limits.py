import pytest

from balance_core.config import BalanceConfig
from balance_core.errors import InvalidParameterError


@pytest.mark.parametrize("seed", [-1, 2**32, -(2**31)])
def test_a_seed_outside_numpy_and_sklearn_range_is_refused_by_name(seed):
    with pytest.raises(InvalidParameterError, match=f"random seed must be a whole number from 0 to 4294967295, got {seed}"):
        BalanceConfig(seed=seed).validate()


@pytest.mark.parametrize("seed", [0, 42, 2**32 - 1])
def test_seeds_in_range_pass(seed):
    assert BalanceConfig(seed=seed).validate().seed == seed
