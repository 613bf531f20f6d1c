import numpy as np
import pytest

from balance_core.errors import InvalidParameterError
from balance_core.oversampling import cap_oversampling


def test_cap_holds_mean_is_one_and_order_is_kept():
    w = np.array([10.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    out, met = cap_oversampling(w, 2.0)
    assert met
    assert out.mean() == pytest.approx(1.0) and out.max() == pytest.approx(2.0)
    assert out[5] == 0.0 and np.all(np.diff(out[1:5]) == 0)
    # hand computation: the top patch sits at 2, the four others share 6 - 2 = 4
    np.testing.assert_allclose(out[:5], [2.0, 1.0, 1.0, 1.0, 1.0])


def test_no_cap_needed_only_rescales():
    w = np.array([1.0, 2.0, 3.0])
    out, met = cap_oversampling(w, 5.0)
    assert met
    np.testing.assert_allclose(out, w / w.mean())


def test_cascading_cap():
    w = np.array([100.0, 50.0, 1.0, 1.0])
    out, _ = cap_oversampling(w, 1.5)
    assert out.max() <= 1.5 + 1e-12 and out.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(out, [1.5, 1.5, 0.5, 0.5])


def test_unreachable_cap_gives_equal_weights():
    w = np.array([5.0, 0.0, 0.0, 0.0])
    out, met = cap_oversampling(w, 2.0)
    assert not met and out.tolist() == [4.0, 0.0, 0.0, 0.0]


def test_cap_below_one_is_refused():
    with pytest.raises(InvalidParameterError, match="at least 1"):
        cap_oversampling(np.ones(3), 0.5)
