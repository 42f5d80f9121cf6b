"""Outputs that astronomers' tools open: FITS and VOTable classes, the neighbour graph.

A search run folder gets, besides ``classes.parquet``:

``classes.fits``
    The same per-galaxy table as a FITS binary table (TOPCAT, Aladin, astropy), with
    units: ``ra``/``dec`` in degrees, everything else dimensionless. FITS text is
    ASCII; a text column holding other characters (an id such as ``NGC 4414²``) is
    written as its UTF-8 bytes, which astropy reads back as the same text and other
    readers show unchanged wherever it is ASCII (:func:`fits_text`).
``class_members.vot``
    The galaxies in a class (``class`` >= 0), same columns and units, as a VOTable
    (BINARY2). Only the members: astropy's VOTable writer converts row by row
    (about 40 s for 12,000 rows of 50 columns on a loaded 2-core machine, the
    paper's < 2% of 632k), far too slow for every searched galaxy, which
    classes.fits holds.
``neighbours.parquet``
    The UMAP's k-nearest-neighbour graph in representation space, which the search
    computes anyway (k = n_neighbors, 50 by default): one row per searched galaxy,
    in classes.parquet's order, with its id, ``neighbour_ids`` (list of str),
    ``neighbour_rows`` (list of int32, rows of classes.parquet) and
    ``neighbour_distances`` (list of float32, Euclidean, in the space UMAP was given:
    the representations, or their principal components with ``--pca``), nearest
    first, the galaxy itself left out. For "more like this" tools.

And the Legacy Surveys viewer layer that suits a galaxy's sky region
(:func:`viewer_layer`), and CSV cells a spreadsheet shows as text, never runs as a
formula (:func:`spreadsheet_safe`).
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from raregal.core import defaults
from raregal.core.errors import InputError, first_line

#: Units of the classes table's columns for FITS and VOTable (others dimensionless).
UNITS = {"ra": "deg", "dec": "deg"}


def without_self(indices: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The graph of :func:`raregal.method.reduce.neighbour_graph` without each galaxy
    itself: rows (int32) and distances (float32), shape (n, k - 1), nearest first. A
    row's own index is dropped wherever it is (ties at distance 0 may put a twin
    first), else its farthest."""
    n, k = indices.shape
    own = indices == np.arange(n)[:, None]
    drop = np.where(own.any(axis=1), np.argmax(own, axis=1), k - 1)
    keep = np.ones((n, k), dtype=bool)
    keep[np.arange(n), drop] = False
    return (
        indices[keep].reshape(n, k - 1).astype(np.int32),
        distances[keep].reshape(n, k - 1).astype(np.float32),
    )


def neighbours_table(
    ids: np.ndarray, id_column: str, rows: np.ndarray, dist: np.ndarray
) -> pa.Table:
    """One row per galaxy: its neighbours' ids, rows and distances.

    Parameters
    ----------
    ids : ndarray of str, shape (n,)
    rows, dist : ndarray, shape (n, k - 1)
        The search's graph without each galaxy itself (:func:`without_self`), as the
        run's neighbour index keeps it (one copy for both).
    """
    n, k = rows.shape[0], rows.shape[1] + 1
    offsets = pa.array(np.arange(0, n * (k - 1) + 1, k - 1, dtype=np.int32))
    ids = pa.array(np.asarray(ids).astype(str))
    return pa.table(
        {
            id_column: ids,
            # an Arrow take: at 632k × 49 a NumPy array of str would need ~1.6 GB
            "neighbour_ids": pa.ListArray.from_arrays(offsets, ids.take(pa.array(rows.ravel()))),
            "neighbour_rows": pa.ListArray.from_arrays(offsets, pa.array(rows.ravel())),
            "neighbour_distances": pa.ListArray.from_arrays(offsets, pa.array(dist.ravel())),
        }
    )


def read_neighbours(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph :func:`neighbours_table` wrote: rows of classes.parquet and
    distances, each of shape (n, k - 1), nearest first."""
    try:
        table = pq.read_table(path, columns=["neighbour_rows", "neighbour_distances"])
    except (OSError, KeyError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: not a raregal neighbour table ({first_line(exc)})") from None
    if table.num_rows != n:
        raise InputError(f"{path}: {table.num_rows} rows for the run's {n} galaxies")
    rows, dists = (table[name].combine_chunks() for name in table.column_names)
    rows = np.asarray(rows.flatten(), dtype=np.int64)
    dists = np.asarray(dists.flatten(), dtype=np.float32)
    if n and (len(rows) % n or len(dists) != len(rows) or rows.min() < 0 or rows.max() >= n):
        raise InputError(f"{path}: neighbour rows are not rows of the run's {n} galaxies")
    return rows.reshape(n, -1), dists.reshape(n, -1)


#: How a cell starts that a spreadsheet reads as a formula (OWASP, "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """``value``, with a single quote in front if it is text a spreadsheet would run as a
    formula (``=HYPERLINK(…)`` in a tag's note, an id ``@SUM(…)``): OWASP's rule. Plain
    numbers written as text (an id ``-5``) are left alone: a spreadsheet reads them as
    numbers, and the id stays the id."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        if math.isfinite(float(value)):
            return value
    except ValueError:
        pass
    return "'" + value


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` for a CSV that people open in spreadsheets: every text cell,
    and every column name, through :func:`spreadsheet_cell`. The run's own files keep
    the real text."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(spreadsheet_cell)
    out.columns = [spreadsheet_cell(c) for c in out.columns]
    return out


def astropy_table(classes: pd.DataFrame):
    """The classes table as an astropy Table with units (:data:`UNITS`)."""
    from astropy.table import Table

    table = Table.from_pandas(classes)
    for name in table.colnames:
        if table[name].dtype.kind == "O":  # ids: FITS and VOTable hold fixed-width text
            table[name] = np.asarray(table[name]).astype(str)
        if name in UNITS:
            table[name].unit = UNITS[name]
    table.meta["ORIGIN"] = "raregal"
    return table


def fits_text(table):
    """``table`` (astropy) with each text column that is not all ASCII encoded as
    UTF-8 bytes, in place: FITS cannot hold such text as text, and refusing a whole
    search for one exported id would lose the work (astropy decodes it back)."""
    for name in table.colnames:
        values = np.asarray(table[name])
        if values.dtype.kind == "U" and not all(value.isascii() for value in values):
            table[name] = np.char.encode(values, "utf-8")
    return table


def write_exports(
    folder: Path,
    classes: pd.DataFrame,
    id_column: str,
    neighbours: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    """Write classes.fits, class_members.vot and (given the graph without each galaxy
    itself: :func:`without_self`) neighbours.parquet."""
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    table = astropy_table(classes)
    with warnings.catch_warnings():
        # GZ column names hold '-', which FITS only recommends against; TOPCAT and
        # astropy read them back unchanged.
        warnings.simplefilter("ignore", VerifyWarning)
        fits = folder / "classes.fits"
        try:
            fits_text(table.copy(copy_data=False)).write(fits, format="fits")
        except OSError as exc:
            # astropy reports a full disk in words alone ("Not enough space on disk:
            # requested ..."), errno lost: give it back, so that it is the one line
            if exc.errno is None and "not enough space" in str(exc).lower():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fits)) from exc
            raise
    members = table[np.asarray(table["class"]) >= 0]
    members.write(folder / "class_members.vot", format="votable", tabledata_format="binary2")
    if neighbours is not None:
        pq.write_table(
            neighbours_table(classes[id_column].to_numpy(), id_column, *neighbours),
            folder / "neighbours.parquet",
        )


def viewer_layer(ra, dec) -> np.ndarray:
    """The Legacy Surveys viewer layer for each galaxy's sky region.

    DR10 reprocessed only the southern (DECam) footprint; the northern BASS/MzLS
    area, Dec > 32.375° north of the Galactic plane (the Legacy Surveys' own rule
    for joining DR9 North and South), is DR9 (:data:`raregal.core.defaults.VIEWER_LAYERS`).

    Parameters
    ----------
    ra, dec : float or array-like, degrees

    Returns
    -------
    ndarray of str, the shape of ``ra``
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
    b = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic.b.deg
    north = (dec > defaults.VIEWER_NORTH_DEC) & (b > 0)
    return np.where(north, defaults.VIEWER_LAYERS["north"], defaults.VIEWER_LAYERS["south"])
