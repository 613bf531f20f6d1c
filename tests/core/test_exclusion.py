import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.errors import AllExcludedError
from balance_core.exclusion import apply_exclusions, require_included
from balance_core.table import PatchTable


def measured(**columns):
    base = dict(border_nodata=[False] * 4, border_black=[False] * 4, class_entropy=[0.5] * 4, nodata_ratio=[0.0] * 4)
    base.update(columns)
    return PatchTable({k: np.asarray(v) for k, v in base.items()})


def test_defaults_exclude_border_nodata_and_black_border_only():
    table = apply_exclusions(
        measured(border_nodata=[True, False, False, False], border_black=[False, True, False, False],
                 class_entropy=[0.5, 0.5, 0.0, 0.5], nodata_ratio=[0.1, 0.0, 0.0, 0.9]),
        BalanceConfig())
    assert table["excl_border_nodata"].tolist() == [True, False, False, False]
    assert table["excl_black_border"].tolist() == [False, True, False, False]
    assert not table["excl_low_entropy"].any() and not table["excl_nodata_ratio"].any()
    assert table["excluded"].tolist() == [True, True, False, False]


def test_each_rule_can_be_switched():
    raw = measured(border_nodata=[True] * 4, border_black=[True] * 4,
                   class_entropy=[0.0, 0.2, 0.7, 1.0], nodata_ratio=[0.0, 0.3, 0.6, 0.2])
    table = apply_exclusions(raw, BalanceConfig(exclude_border_nodata=False, exclude_black_border=False,
                                                min_entropy=0.5, max_nodata_ratio=0.5))
    assert table["excl_low_entropy"].tolist() == [True, True, False, False]
    assert table["excl_nodata_ratio"].tolist() == [False, False, True, False]
    assert table["excluded"].tolist() == [True, True, True, False]


def test_patch_without_any_label_is_always_excluded():
    table = apply_exclusions(measured(nodata_ratio=[1.0, 0.0, 0.0, 0.0]),
                             BalanceConfig(exclude_border_nodata=False))
    assert table["excluded"].tolist() == [True, False, False, False]


def test_all_excluded_names_the_reasons():
    table = apply_exclusions(measured(border_nodata=[True] * 4), BalanceConfig())
    with pytest.raises(AllExcludedError, match=r"All 4 patches are excluded \(border_nodata: 4, black_border: 0"):
        require_included(table)
