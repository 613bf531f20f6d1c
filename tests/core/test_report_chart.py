"""The report's class chart: a log axis when the shares span more than 20× (as the dock's chart)."""
import re

import numpy as np

from balance_core.report import render_report
from balance_core.table import PatchTable


def _table(counts, weights):
    n = len(counts)
    return PatchTable({"patch_id": np.arange(n), "excluded": np.zeros(n, bool), "sampler_weight": np.asarray(weights, float)},
                      np.arange(len(counts[0])), np.asarray(counts))


def _bars(report: str) -> list:
    """Widths of the chart's bars, in drawing order (raw, weighted per class)."""
    svg = re.search(r'<svg[^>]*aria-label="Class shares[^"]*".*?</svg>', report, re.S).group(0)
    return [float(w) for w in re.findall(r'<rect x="150" y="[\d.]+" width="([\d.]+)"', svg)], svg


def test_a_rare_class_gets_a_readable_bar_on_a_log_axis():
    # 99 % background, 0.1 % pond: the demo's spread (shares span ~1000×)
    counts = [[9990, 10]] + [[10000, 0]] * 9
    bars, svg = _bars(render_report(_table(counts, [1.0] * 10), {}, "t", {}))
    assert "log scale" in svg and "linear scale" not in svg
    raw_background, _, raw_rare, _ = bars
    # linear: 0.01 % of the background bar; log: at least a tenth of it
    assert raw_rare > 0.1 * raw_background
    assert re.search(r">0\.01 %<|>0\.1 %<", svg), "decade gridlines are labelled"


def test_close_shares_keep_a_linear_axis():
    counts = [[600, 400]] * 3
    bars, svg = _bars(render_report(_table(counts, [1.0] * 3), {}, "t", {}))
    assert "linear scale" in svg
    assert abs(bars[2] / bars[0] - 400 / 600) < 0.01  # bar lengths in proportion to the shares
