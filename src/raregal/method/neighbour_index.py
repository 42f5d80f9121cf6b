"""The search's neighbour index, kept in the run folder: ``neighbour_index/``.

The search finds every galaxy's nearest neighbours once, to build its UMAP
(:func:`raregal.method.reduce.neighbour_graph`: exact up to
:data:`~raregal.core.defaults.EXACT_NEIGHBOURS_MAX` galaxies, pynndescent's NN-descent
above). That graph *is* the index "more like this" needs for a galaxy of the run:
kept as arrays, a galaxy's neighbours are one row read from disk, whatever the
size of the run, with no build at all when the explorer opens the run. Beside it
lie the features the neighbours were found in: ``raregal rank`` and the explorer's
"suggest next" read a run's features from there, and a point that is not a galaxy
of the run can be searched too (:meth:`NeighbourIndex.query`: exact, in blocks).
bench/neighbour_index.py measured the alternatives at 1M galaxies
(docs/benchmarks.md): a pynndescent index prepared for queries (1,032 s beyond the
search) or FAISS's HNSW (503 s) answer a galaxy's neighbours no better than its
row (recall 0.997 and 0.9996 against 1.000), and pynndescent's would have to be
pickled.

Files (``.npy``, read memory-mapped and never with pickle; row order that of
classes.parquet):

``features.npy``
    float32, (n, d): the space the neighbours are in: the searched
    representations, or their first principal components with ``--pca``.
``neighbours.npy``, ``distances.npy``
    int32 rows and float32 Euclidean distances, (n, k): each galaxy's k nearest
    other galaxies, nearest first (:func:`raregal.io.export.without_self`).
``index.json``
    ``format``, ``n``, ``d``, ``k`` and ``space`` ("representation" or
    "pca-N").

:meth:`NeighbourIndex.read` checks the shapes and types against index.json and
the run's galaxies; a folder that fails is one line (:class:`InputError`) rather
than a rebuild, which at millions of galaxies would cost the search's neighbour
time on every open. A run written before the index has none (``read`` gives
None), and its readers fall back to what they used before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raregal.core.errors import InputError, first_line

FOLDER = "neighbour_index"
FORMAT = 1
#: Distances held at once by :meth:`NeighbourIndex.query` (queries x rows of a block).
QUERY_BLOCK_ROWS = 2**20


@dataclass
class NeighbourIndex:
    """A run's neighbour graph and the features it was found in (module docstring)."""

    features: np.ndarray
    rows: np.ndarray
    distances: np.ndarray
    space: str = "representation"

    @classmethod
    def from_graph(cls, features, indices, distances, space="representation"):
        """From the search's graph (:func:`raregal.method.reduce.neighbour_graph`, each galaxy
        itself among its neighbours)."""
        from raregal.io.export import without_self

        rows, dist = without_self(np.asarray(indices), np.asarray(distances))
        return cls(np.ascontiguousarray(features, dtype=np.float32), rows, dist, space)

    @property
    def k(self) -> int:
        return self.rows.shape[1]

    def write(self, folder: Path) -> None:
        """Write ``folder/neighbour_index/`` (``folder``: the run's temporary folder)."""
        target = Path(folder) / FOLDER
        target.mkdir()
        np.save(target / "features.npy", self.features)
        np.save(target / "neighbours.npy", self.rows)
        np.save(target / "distances.npy", self.distances)
        n, d = self.features.shape
        (target / "index.json").write_text(
            json.dumps({"format": FORMAT, "n": n, "d": d, "k": self.k, "space": self.space}) + "\n"
        )

    @classmethod
    def read(cls, run_dir: Path, n: int) -> NeighbourIndex | None:
        """The index of a run of ``n`` galaxies, memory-mapped; None when the run has
        none; one :class:`InputError` line when it is not this run's index."""
        folder = Path(run_dir) / FOLDER
        if not folder.exists():
            return None
        record = _record(folder / "index.json")
        d, k = record["d"], record["k"]
        if record["n"] != n:
            raise InputError(
                f"{folder / 'index.json'}: an index of {record['n']} galaxies for the run's {n}"
            )
        arrays = [
            _array(folder / name, shape, dtype)
            for name, shape, dtype in (
                ("features.npy", (n, d), np.float32),
                ("neighbours.npy", (n, k), np.int32),
                ("distances.npy", (n, k), np.float32),
            )
        ]
        return cls(*arrays, space=record["space"])

    def of_row(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """A galaxy's k nearest other galaxies (rows, distances), nearest first."""
        rows = np.asarray(self.rows[row, :k], dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.rows)):
            raise InputError(
                f"{FOLDER}/neighbours.npy: row {row} names galaxies outside "
                f"the run's {len(self.rows)}"
            )
        return rows, np.asarray(self.distances[row, :k], dtype=np.float32)

    def query(self, points, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest galaxies (rows, Euclidean distances), shape (m, k), of m points
        of the index's space: exact, by brute force over the features in blocks (a
        point of the run finds itself first)."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float32))
        n = len(self.features)
        k = min(k, n)
        best_d = np.full((len(points), k), np.inf, dtype=np.float32)
        best_r = np.zeros((len(points), k), dtype=np.int64)
        step = max(1, QUERY_BLOCK_ROWS // max(len(points), 1))
        norms = (points * points).sum(axis=1)[:, None]
        for start in range(0, n, step):
            block = np.asarray(self.features[start : start + step])
            squared = norms - 2 * points @ block.T + (block * block).sum(axis=1)[None, :]
            both_d = np.concatenate([best_d, squared], axis=1)
            both_r = np.concatenate(
                [best_r, np.broadcast_to(np.arange(start, start + len(block)), squared.shape)],
                axis=1,
            )
            keep = np.argpartition(both_d, k - 1, axis=1)[:, :k]
            best_d = np.take_along_axis(both_d, keep, 1)
            best_r = np.take_along_axis(both_r, keep, 1)
        # distances from differences: the expansion above leaves a point ~1e-7 from itself
        diff = (
            np.asarray(self.features[best_r.ravel()]).reshape(*best_r.shape, -1)
            - points[:, None, :]
        )
        exact = np.sqrt(np.einsum("mkd,mkd->mk", diff, diff)).astype(np.float32)
        order = np.lexsort((best_r, exact), axis=1)  # nearest first, ties by row
        return np.take_along_axis(best_r, order, 1), np.take_along_axis(exact, order, 1)


def index_space(pca_components: int | None) -> str:
    """The ``space`` of a search's index: its representations, or their first principal
    components with ``--pca``."""
    return "representation" if pca_components is None else f"pca-{pca_components}"


def _record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(
            f"{path}: missing; the run's neighbour index is incomplete "
            f"(delete {path.parent.name}/ to open the run without it)"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: not a raregal neighbour index record ({first_line(exc)})"
        ) from None
    ok = (
        isinstance(record, dict)
        and record.get("format") == FORMAT
        and all(
            isinstance(record.get(key), int)
            and not isinstance(record.get(key), bool)
            and record[key] >= 0
            for key in ("n", "d", "k")
        )
        and isinstance(record.get("space"), str)
    )
    if not ok:
        raise InputError(
            f"{path}: not a raregal neighbour index record (format {FORMAT} with n, d, k and space)"
        )
    return record


def _array(path: Path, shape: tuple, dtype) -> np.ndarray:
    """A ``.npy`` file memory-mapped (copy-on-write: numpy and numba take it as any
    array), checked for shape and type; no pickle."""
    try:
        array = np.load(path, mmap_mode="c", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(
            f"{path}: missing; the run's neighbour index is incomplete "
            f"(delete {path.parent.name}/ to open the run without it)"
        ) from None
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({first_line(exc)})") from None
    if array.shape != shape or array.dtype != dtype:
        raise InputError(
            f"{path}: {array.dtype} {array.shape}, not the {np.dtype(dtype)} "
            f"{shape} its index.json and the run call for"
        )
    return array
