"""The buffer between splits: no pixel in two splits, and a gap of at least BUFFER map units.

Blocks keep neighbours together, but patches on either side of a block border still touch, and
with a stride smaller than the patch size they overlap: the same pixels would be in training and
in validation (NRCan/geo-deep-learning #148). After the blocks are assigned, every pair of drawable
patches of different splits that shares a pixel, or whose rectangles lie closer than `buffer`, is
a conflict; one patch of each such pair is excluded (flag `excl_split_buffer`).

Who gives way: the split with the larger requested fraction (on equal fractions, the one listed
first). With train,val,test = 0.7,0.15,0.15, test keeps all its patches, val gives way to test, and
train gives way to both: the large training split loses the smallest share of itself, and the
small evaluation splits keep the patches their class balance was chosen with. The splits are
settled in that order (the one keeping all first), so no patch is excluded for a neighbour that
is itself excluded.

Candidate pairs come from a k-d tree on the patch centres (`scipy.spatial.cKDTree`); each is then
checked on its exact rectangles: sharing a pixel means the rectangles overlap with positive
width *and* height (patches that only touch along an edge share no pixel); the gap is the
Euclidean distance between the rectangles.
"""
from __future__ import annotations

import numpy as np

from .dependencies import require
from .progress import Progress, check_cancelled


def rectangle_gaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of rectangles (xmin, ymin, xmax, ymax): (gap distance, share a pixel?).

    The gap is 0 for rectangles that touch or overlap. `tol` (a millionth of the larger side)
    absorbs float noise, so patches on one pixel grid that merely touch never count as overlapping.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dx = np.maximum(a[:, 0] - b[:, 2], b[:, 0] - a[:, 2])  # < 0: the x ranges overlap by −dx
    dy = np.maximum(a[:, 1] - b[:, 3], b[:, 1] - a[:, 3])
    side = np.maximum.reduce([a[:, 2] - a[:, 0], a[:, 3] - a[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])
    tol = 1e-6 * side
    overlap = (dx < -tol) & (dy < -tol)
    gap = np.hypot(np.maximum(dx, 0.0), np.maximum(dy, 0.0))
    gap[np.abs(gap) <= tol] = 0.0
    return gap, overlap


def conflict_pairs(bounds: np.ndarray, split: np.ndarray, drawable: np.ndarray, buffer: float) -> np.ndarray:
    """(m, 2) row pairs of drawable patches of different splits that share a pixel or lie closer than `buffer`."""
    bounds = np.asarray(bounds, dtype=np.float64)
    rows = np.flatnonzero(np.asarray(drawable, dtype=bool))
    if len(rows) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    sub = bounds[rows]
    centres = np.column_stack([(sub[:, 0] + sub[:, 2]) / 2.0, (sub[:, 1] + sub[:, 3]) / 2.0])
    diagonal = float(np.hypot(sub[:, 2] - sub[:, 0], sub[:, 3] - sub[:, 1]).max())
    # two rectangles closer than `buffer` have centres closer than half of each diagonal plus the buffer
    radius = diagonal + max(float(buffer), 0.0)
    spatial = require("scipy.spatial", "the buffer between splits")
    pairs = spatial.cKDTree(centres).query_pairs(radius * (1 + 1e-9), output_type="ndarray")
    if not len(pairs):
        return np.zeros((0, 2), dtype=np.int64)
    pairs = rows[pairs]
    pairs = pairs[split[pairs[:, 0]] != split[pairs[:, 1]]]
    gap, overlap = rectangle_gaps(bounds[pairs[:, 0]], bounds[pairs[:, 1]])
    conflict = overlap | (gap < buffer) if buffer > 0 else overlap
    return pairs[conflict]


def give_way_order(fractions) -> list[int]:
    """Split indices from the one that keeps all its patches to the one that gives way first.

    Smaller requested fraction keeps; on equal fractions the split listed later keeps.
    """
    fractions = list(fractions)
    return sorted(range(len(fractions)), key=lambda s: (fractions[s], -s))


def buffer_exclusions(bounds: np.ndarray, split: np.ndarray, drawable: np.ndarray, buffer: float, fractions,
                      progress: Progress | None = None) -> np.ndarray:
    """Patches to exclude so that no two drawable patches of different splits share a pixel or lie within `buffer`."""
    split = np.asarray(split, dtype=np.int64)
    excluded = np.zeros(len(split), dtype=bool)
    pairs = conflict_pairs(bounds, split, drawable, buffer)
    if progress is not None:
        check_cancelled(progress)
    if not len(pairs):
        return excluded
    kept = np.zeros(len(split), dtype=bool)
    for s in give_way_order(fractions):
        mine = split == s
        # a patch of split s loses when its partner, of a split settled before, was kept
        for a, b in ((0, 1), (1, 0)):
            hit = mine[pairs[:, a]] & kept[pairs[:, b]]
            excluded[pairs[hit, a]] = True
        kept |= mine & np.asarray(drawable, dtype=bool) & ~excluded
    return excluded
