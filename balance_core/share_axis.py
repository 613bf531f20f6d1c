"""Where a class share falls along a bar: linear from 0, or logarithmic over whole decades.

Under 97 % background a linear axis draws the rare classes as slivers, which hides exactly the
change the weights make to them; past LOG_SCALE_RATIO the axis turns logarithmic. The dock's
chart and the HTML report's chart use the same axis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

LOG_SCALE_RATIO = 20.0  # largest / smallest share shown above which the bars use a log scale


@dataclass(frozen=True)
class ShareAxis:
    low: float
    high: float
    log: bool

    def position(self, share: float) -> float:
        """0..1 along the bar area; 0 for an absent class."""
        if share <= 0:
            return 0.0
        if self.log:
            span = math.log10(self.high) - math.log10(self.low)
            return min(max((math.log10(share) - math.log10(self.low)) / span, 0.0), 1.0)
        return min(share / self.high, 1.0)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = round(math.log10(self.low)), round(math.log10(self.high))
            return [10.0**k for k in range(first, last + 1)]
        return [0.0, self.high / 2, self.high]


def share_axis(shares) -> ShareAxis:
    positive = [float(s) for s in shares if s > 0]
    if not positive:
        return ShareAxis(0.0, 1.0, False)
    low, high = min(positive), max(positive)
    if high / low > LOG_SCALE_RATIO:
        # at least a factor 2 below the smallest share, so its bar is never empty
        return ShareAxis(10.0 ** math.floor(math.log10(low / 2)), min(10.0 ** math.ceil(math.log10(high)), 1.0), True)
    return ShareAxis(0.0, high, False)


def tick_label(share: float) -> str:
    return f"{share * 100:.3g} %"
