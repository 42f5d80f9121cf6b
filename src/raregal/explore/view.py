"""The explorer's map at any size: the galaxies a view holds, or their density.

A view is a window ``[x0, x1] x [y0, y1]`` of the map (the coordinates of
:meth:`raregal.explore.data.RunData.map_xy`, about [-1, 1]). When it holds at
most :data:`~raregal.core.defaults.EXPLORE_POINTS_MAX` galaxies the page gets them as
points: rows, positions and colour values. Above, it gets the window cut into
cells, :data:`~raregal.core.defaults.EXPLORE_DENSITY_BINS` along its longer side
(square cells), and for each occupied cell its centre, its number, its galaxy
count (as an opacity: log count over the view's largest) and a colour value: for
the class colouring the class that most of the cell's class members are in (0
when it holds none, so that a rare class shows wherever it is), for a numeric
column its galaxies' mean (missing values left out; -1 when all are missing).
The page draws either with the same WebGL map, so a map of millions of galaxies
costs the browser tens of thousands of points.

Cells are numbered row-major (``iy * nx + ix``) from the window alone, so a lasso
over cells comes back as a window and numbers, and :func:`cell_rows` finds their
galaxies again: nothing of a view is kept on the server. numpy only (bincount):
one pass over the map's positions per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from raregal.core import defaults


@dataclass(frozen=True)
class Window:
    """A rectangle of the map; ``nx`` x ``ny`` cells cover it."""

    x0: float
    x1: float
    y0: float
    y1: float
    bins: int = defaults.EXPLORE_DENSITY_BINS

    @classmethod
    def parse(cls, values) -> Window:
        """From four numbers x0, x1, y0, y1 (ValueError unless finite and increasing)."""
        refused = ValueError("a window is four finite numbers x0 < x1, y0 < y1")
        try:
            x0, x1, y0, y1 = (float(v) for v in values)
        except (TypeError, ValueError):
            raise refused from None
        if not all(math.isfinite(v) for v in (x0, x1, y0, y1)) or x0 >= x1 or y0 >= y1:
            raise refused
        return cls(x0, x1, y0, y1)

    @property
    def cell(self) -> float:
        """The side of a (square) cell."""
        return max(self.x1 - self.x0, self.y1 - self.y0) / self.bins

    @property
    def shape(self) -> tuple[int, int]:
        """(nx, ny): cells across and down."""
        return (
            max(1, math.ceil((self.x1 - self.x0) / self.cell - 1e-9)),
            max(1, math.ceil((self.y1 - self.y0) / self.cell - 1e-9)),
        )

    def inside(self, xy: np.ndarray) -> np.ndarray:
        """Rows of ``xy`` in the window."""
        x, y = xy[:, 0], xy[:, 1]
        return np.flatnonzero((x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1))

    def cells(self, xy: np.ndarray) -> np.ndarray:
        """The cell number of each row of ``xy`` (all inside the window)."""
        nx, ny = self.shape
        ix = np.minimum(((xy[:, 0] - self.x0) / self.cell).astype(np.int64), nx - 1)
        iy = np.minimum(((xy[:, 1] - self.y0) / self.cell).astype(np.int64), ny - 1)
        return iy * nx + ix


def view(
    xy: np.ndarray, values: np.ndarray, categorical: bool, window: Window, points_max: int
) -> tuple[dict, list[np.ndarray]]:
    """What the page draws for ``window``: (meta, arrays), see the module docstring.

    Points: ``rows`` (int32), ``x``, ``y``, ``value`` (float32). Density: ``cell``
    (int32), ``x``, ``y``, ``value``, ``opacity`` (float32). ``values``: the colour
    of every galaxy (:meth:`RunData.colour_values`: class order 0 for none, or a
    column scaled to [0, 1] with -1 for missing).
    """
    rows = window.inside(xy)
    meta = {"galaxies": len(rows), "window": [window.x0, window.x1, window.y0, window.y1]}
    if len(rows) <= points_max:
        return (
            {**meta, "kind": "points", "count": len(rows)},
            [rows.astype(np.int32), xy[rows, 0], xy[rows, 1], values[rows]],
        )
    cell = window.cells(xy[rows])
    counts = np.bincount(cell, minlength=window.shape[0] * window.shape[1])
    occupied = np.flatnonzero(counts)
    value = (
        _majority(cell, values[rows], occupied)
        if categorical
        else _mean(cell, values[rows], occupied, len(counts))
    )
    nx, _ = window.shape
    x = window.x0 + (occupied % nx + 0.5) * window.cell
    y = window.y0 + (occupied // nx + 0.5) * window.cell
    opacity = np.log1p(counts[occupied]) / np.log1p(counts.max())
    return (
        {
            **meta,
            "kind": "density",
            "count": len(occupied),
            "cell": window.cell,
            "shape": list(window.shape),
        },
        [
            occupied.astype(np.int32),
            x.astype(np.float32),
            y.astype(np.float32),
            value.astype(np.float32),
            opacity.astype(np.float32),
        ],
    )


def _majority(cell: np.ndarray, classes: np.ndarray, occupied: np.ndarray) -> np.ndarray:
    """Per occupied cell, the class most of its class members are in (0: none; a tie
    goes to the class listed first, the lower number)."""
    member = classes > 0
    best = np.zeros(len(occupied), dtype=np.float32)
    if not member.any():  # a run without classes, or a view away from them
        return best
    key, count = np.unique(
        cell[member].astype(np.int64) * (int(classes.max()) + 1) + classes[member].astype(np.int64),
        return_counts=True,
    )
    which, klass = np.divmod(key, int(classes.max()) + 1)
    order = np.lexsort((klass, -count, which))  # per cell: most members, then lowest class
    first = np.r_[True, which[order][1:] != which[order][:-1]]
    best[np.searchsorted(occupied, which[order][first])] = klass[order][first]
    return best


def _mean(cell: np.ndarray, values: np.ndarray, occupied: np.ndarray, size: int) -> np.ndarray:
    """Per occupied cell, the mean of its values at or above 0 (-1 when none)."""
    known = values >= 0
    total = np.bincount(cell[known], weights=values[known], minlength=size)[occupied]
    number = np.bincount(cell[known], minlength=size)[occupied]
    return np.where(number > 0, total / np.maximum(number, 1), -1.0)


def cell_rows(xy: np.ndarray, window: Window, cells) -> np.ndarray:
    """The rows of the galaxies in some cells of ``window`` (in row order)."""
    rows = window.inside(xy)
    wanted = np.zeros(window.shape[0] * window.shape[1], dtype=bool)
    cells = np.asarray(cells, dtype=np.int64)
    wanted[cells[(cells >= 0) & (cells < len(wanted))]] = True
    return rows[wanted[window.cells(xy[rows])]]
