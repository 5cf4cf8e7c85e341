# SPDX-License-Identifier: GPL-3.0-or-later
"""Dynamic time warping between two frame sequences (banded, one vectorised pass a row)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from companion.speech.align.features import F64, I64


def dtw_path(a: F64, b: F64) -> tuple[I64, I64]:
    """Cheapest monotone path between frame sequences ``a`` and ``b`` (Euclidean cost).

    Steps (1,0), (0,1), (1,1); a Sakoe-Chiba band around the straight line keeps it
    O(n·w). Each row is one vectorised pass: along a row the horizontal recurrence
    ``D[j] = min(T[j], D[j-1] + c[j])`` is a running minimum of ``T - S`` plus ``S``
    with ``S`` the prefix sum of the row's costs.
    """
    n, m = len(a), len(b)
    width = max(60, int(0.3 * max(n, m)))
    centre = (np.arange(n) * (m - 1) / max(1, n - 1)).astype(np.int64)
    lo = np.clip(centre - width, 0, m - 1)
    hi = np.clip(centre + width + 1, 1, m)
    lo[0], hi[-1] = 0, m
    hi = np.maximum.accumulate(hi)
    for i in range(1, n):  # each row starts inside the one before: the path never breaks
        lo[i] = min(lo[i], hi[i - 1] - 1)
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    b2 = np.sum(b * b, axis=1)
    moves: list[npt.NDArray[np.int8]] = []  # per cell: 0 diagonal, 1 up, 2 left
    prev = np.empty(0)
    for i in range(n):
        row_lo, row_hi = int(lo[i]), int(hi[i])
        cost = np.sqrt(
            np.maximum(
                0.0, np.sum(a[i] * a[i]) + b2[row_lo:row_hi] - 2.0 * (b[row_lo:row_hi] @ a[i])
            )
        )
        s = np.cumsum(cost)
        if i == 0:
            row = s
            move = np.full(len(cost), 2, dtype=np.int8)
        else:
            p_lo, p_hi = int(lo[i - 1]), int(hi[i - 1])
            up = np.full(len(cost), np.inf)
            diag = np.full(len(cost), np.inf)
            u0, u1 = max(row_lo, p_lo), min(row_hi, p_hi)
            up[u0 - row_lo : u1 - row_lo] = prev[u0 - p_lo : u1 - p_lo]
            d0, d1 = max(row_lo, p_lo + 1), min(row_hi, p_hi + 1)
            diag[d0 - row_lo : d1 - row_lo] = prev[d0 - 1 - p_lo : d1 - 1 - p_lo]
            t = np.minimum(up, diag) + cost
            run = np.minimum.accumulate(t - s)
            row = s + run
            move = np.where(diag <= up, 0, 1).astype(np.int8)
            move[(t - s) > run] = 2
        moves.append(move)
        prev = row
    # Backtrack from the end, following the recorded moves.
    i, j = n - 1, m - 1
    path_i, path_j = [i], [j]
    while i > 0 or j > 0:
        step = int(moves[i][j - int(lo[i])]) if i > 0 else 2
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
        path_i.append(i)
        path_j.append(j)
    return np.array(path_i[::-1], dtype=np.int64), np.array(path_j[::-1], dtype=np.int64)

