"""Fit the layout on a sample, place the rest: ``raregal search --fit-sample N``.

At survey scale (millions of galaxies) the UMAP fit would hold an n x n_neighbors
graph, its fuzzy set and a layout of every galaxy. With a fit sample the 5-D
embedding and the 2-D map are fitted on a seeded random sample of N galaxies
(:func:`draw_sample`), and every galaxy is then *placed* from its nearest sample
galaxies in the searched representation (:func:`place_all`):

- the sample's UMAP is built on each sample galaxy's
  ``defaults.FIT_SAMPLE_N_NEIGHBORS`` nearest sample galaxies (15, not the paper's 50:
  k sample neighbours stand for about k n/N galaxies of the whole, and 50 drew a
  neighbourhood too wide for the smallest groups: :mod:`raregal.core.defaults`);
- each galaxy's neighbours: the ``n_neighbors - 1`` nearest sample galaxies other than
  itself, from an index of the sample (:class:`SampleIndex`: exact by brute force up to
  ``defaults.EXACT_NEIGHBOURS_MAX`` sample galaxies, pynndescent's NN-descent index
  above);
- its position (5-D and map): a sample galaxy keeps its fitted one; any other galaxy
  goes to the mean of its ``defaults.FIT_SAMPLE_PLACE_NEIGHBOURS`` (10) nearest sample
  galaxies' positions weighted by UMAP's fuzzy membership (``exp(-d / sigma)``, sigma
  from umap-learn's ``smooth_knn_dist`` as its ``transform`` computes it). That is
  where umap-learn's ``transform`` starts its extra epochs; without them the placement
  is a pure function of each row, so it runs chunk by chunk, on a Dask cluster or in
  one process, with the same numbers. It also recovered more planted groups than
  ``transform`` on the same sample model, in less time (bench/fit_sample.py
  ``--placement``, 60k rows, 12k fitted: 11 of 12 in 12 s against 6 of 12 in 30 s).

The search then runs HDBSCAN on every galaxy's position. The neighbour graph made
here (each galaxy itself first, then its sample neighbours) is the search's graph:
the rarity score (distance to the k-th nearest *sample* galaxy: the same ranking
estimator at the sample's density), the density contrast of the credible rule (k
scaled to the members expected in the sample) and neighbours.parquet read it.
Stability reruns lay the sample out again from another seed and place the rest with
the same graph (:func:`place_layout`).

Chunks are fixed (``defaults.FIT_SAMPLE_CHUNK`` rows) whatever runs them, and each
is written to a parts folder as it is done, keyed by a digest of the fit and the
features, so an interrupted seeded run resumes from the chunks already there.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from raregal.core import defaults
from raregal.core.errors import InputError


def resolve_fit_sample(setting, n: int, n_neighbors: int) -> int | None:
    """The number of galaxies to fit the layout on, or None for all of them.

    ``setting``: None (all), "auto" (``defaults.FIT_SAMPLE_SIZE`` from
    ``defaults.FIT_SAMPLE_AUTO_MIN`` galaxies, else all) or an integer, which must
    be above ``n_neighbors`` and at most n (one line otherwise)."""
    if setting is None:
        return None
    if setting == "auto":
        return defaults.FIT_SAMPLE_SIZE if n >= defaults.FIT_SAMPLE_AUTO_MIN else None
    size = int(setting)
    if size > n:
        raise InputError(
            f"--fit-sample {size}: more than the {n} galaxies to search; give "
            f"at most {n}, or leave it out to fit on all of them"
        )
    if size <= n_neighbors:
        raise InputError(
            f"--fit-sample {size}: not more than n_neighbors={n_neighbors}; "
            f"the sample's UMAP needs more galaxies than neighbours"
        )
    return None if size == n else size


def draw_sample(n: int, size: int, seed: int | None) -> np.ndarray:
    """``size`` distinct rows of n, sorted, drawn with ``seed`` (fresh when None)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


class SampleIndex:
    """The sample's nearest-neighbour index: exact up to
    ``defaults.EXACT_NEIGHBOURS_MAX`` galaxies (its queries are blocks of brute force),
    pynndescent's above. :attr:`graph` is the sample's own k-nearest-neighbour graph,
    each galaxy first, which the sample's UMAP is built on."""

    def __init__(self, features: np.ndarray, n_neighbors: int, seed: int | None):
        from raregal.method.reduce import approximate_index, exact_neighbours

        self.features = features
        self.n_neighbors = n_neighbors
        self._lock = threading.Lock()
        if len(features) <= defaults.EXACT_NEIGHBOURS_MAX:
            self.index = None
            self.graph = exact_neighbours(features, n_neighbors)
        else:
            self.index = approximate_index(features, n_neighbors, seed)
            self.graph = self.index.neighbor_graph
            self.index.prepare()  # the search graph, built once before any query

    def query(self, queries: np.ndarray, k: int):
        """The k nearest sample galaxies of each query row, nearest first: sample
        row numbers (int64) and distances (float32), shapes (m, k)."""
        if self.index is None:
            from sklearn.neighbors import NearestNeighbors

            search = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(self.features)
            _, indices = search.kneighbors(queries)
            distances = _pair_distances_to(self.features, queries, indices)
        else:
            # pynndescent queries through buffers the index keeps (its visited set and
            # result heap): two threads of one process (a Dask worker's) would share them
            with self._lock:
                indices, distances = self.index.query(queries, k=k)
        order = np.argsort(distances, axis=1, kind="stable")
        return (
            np.take_along_axis(np.asarray(indices, dtype=np.int64), order, 1),
            np.take_along_axis(np.asarray(distances, dtype=np.float32), order, 1),
        )

    def __getstate__(self):  # to Dask workers: a lock does not travel
        return {name: value for name, value in self.__dict__.items() if name != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _pair_distances_to(features, queries, indices) -> np.ndarray:
    """Distances from each query row to its listed sample rows, by differences (float32),
    so that a query equal to a sample galaxy is at exactly 0."""
    diff = features[indices] - queries[:, None, :]
    return np.sqrt(np.einsum("rkd,rkd->rk", diff, diff)).astype(np.float32)


def graph_rows(rows: np.ndarray, sample: np.ndarray, indices: np.ndarray, distances: np.ndarray):
    """Each galaxy's row of the search's graph: itself at distance 0, then its
    nearest sample galaxies other than itself (one fewer than queried).

    rows : (m,) the galaxies' row numbers; sample : (N,) the sample's rows;
    indices, distances : (m, k) the query's sample row numbers and distances."""
    m, k = indices.shape
    neighbours = sample[indices]
    own = neighbours == rows[:, None]
    # drop the galaxy itself where the query found it, else the farthest
    drop = np.where(own.any(axis=1), np.argmax(own, axis=1), k - 1)
    keep = np.ones((m, k), dtype=bool)
    keep[np.arange(m), drop] = False
    out_i = np.empty((m, k), dtype=np.int64)
    out_d = np.zeros((m, k), dtype=np.float32)
    out_i[:, 0] = rows
    out_i[:, 1:] = neighbours[keep].reshape(m, k - 1)
    out_d[:, 1:] = distances[keep].reshape(m, k - 1)
    return out_i, out_d


def place(
    indices: np.ndarray, distances: np.ndarray, in_sample: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """Positions for graph rows: a sample galaxy's own, any other galaxy's the
    membership-weighted mean of its sample neighbours' (module docstring).

    indices, distances : (m, k) graph rows (:func:`graph_rows`), global row numbers;
    in_sample : (m,) bool; positions : (n, D) with the sample's rows filled."""
    from umap.umap_ import smooth_knn_dist

    out = np.array(positions[indices[:, 0]], dtype=np.float32)
    rest = ~in_sample
    if rest.any():
        width = 1 + min(defaults.FIT_SAMPLE_PLACE_NEIGHBOURS, indices.shape[1] - 1)
        near, dist = indices[rest, 1:width], distances[rest, 1:width].astype(np.float64)
        # umap-learn's transform: local connectivity 1 - 1 = 0, so rho is 0
        sigmas, _ = smooth_knn_dist(dist, float(near.shape[1]), local_connectivity=0.0)
        weights = np.exp(-dist / sigmas[:, None])
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
        out[rest] = np.einsum("mk,mkd->md", weights, positions[near]).astype(np.float32)
    return out


def place_layout(graph, sample: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """Every galaxy's position from a layout of the sample (N, D), through the search's
    graph (n, k) (:func:`graph_rows`): what a stability rerun clusters."""
    indices, distances = graph
    positions = np.zeros((len(indices), layout.shape[1]), dtype=np.float32)
    positions[sample] = layout
    in_sample = np.zeros(len(indices), dtype=bool)
    in_sample[sample] = True
    return place(indices, distances, in_sample, positions)


def place_chunk(
    index: SampleIndex, sample: np.ndarray, layouts: list, features: np.ndarray, start: int
) -> dict:
    """Graph rows and positions in every layout for the galaxies ``start …`` whose
    features are given: one chunk, the same wherever it runs."""
    rows = np.arange(start, start + len(features), dtype=np.int64)
    found_i, found_d = index.query(features, index.n_neighbors)
    indices, distances = graph_rows(rows, sample, found_i, found_d)
    in_sample = np.isin(rows, sample, assume_unique=True)
    out = {"indices": indices, "distances": distances}
    for j, positions in enumerate(layouts):
        out[f"layout_{j}"] = place(indices, distances, in_sample, positions)
    return out


def chunks(n: int) -> list[tuple[int, int, int]]:
    """The fixed chunks of n rows: (number, start, stop)."""
    size = defaults.FIT_SAMPLE_CHUNK
    return [(number, start, min(start + size, n)) for number, start in enumerate(range(0, n, size))]


def digest(features: np.ndarray, sample: np.ndarray, layouts: list, n_neighbors: int) -> str:
    """What the placed chunks depend on: the features, the sample, its fitted layouts."""
    h = hashlib.sha256()
    for array in (features, sample, *layouts):
        h.update(np.ascontiguousarray(array).view(np.uint8).data)
    h.update(f"{n_neighbors} {defaults.FIT_SAMPLE_CHUNK}".encode())
    return h.hexdigest()[:16]


def _write_part(folder: Path, number: int, part: dict) -> None:
    tmp = folder / f".part-{number:05d}.tmp.npz"
    np.savez(tmp, **part)
    tmp.replace(folder / f"part-{number:05d}.npz")


def _read_part(folder: Path, number: int, rows: int, width: int) -> dict | None:
    """A chunk written by an earlier, interrupted run, or None (absent or unreadable)."""
    path = folder / f"part-{number:05d}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path) as part:
            loaded = {name: part[name] for name in part.files}
    except (OSError, ValueError, EOFError):
        return None
    return loaded if loaded.get("indices", np.zeros((0, 0))).shape == (rows, width) else None


def _remote_chunk(index, sample, layouts, features, start):
    """Run on a Dask worker: one chunk (:func:`place_chunk`)."""
    return place_chunk(index, sample, layouts, features, start)


def place_all(
    features: np.ndarray,
    sample: np.ndarray,
    index: SampleIndex,
    layouts: list,
    *,
    parts: Path | None = None,
    client=None,
    say=None,
):
    """Place every galaxy: the search's graph and each layout for all n rows.

    Parameters
    ----------
    features : (n, d) every galaxy's representation.
    sample : (N,) the sample's rows, sorted; ``index`` is built on ``features[sample]``.
    layouts : list of (N, D) the sample's fitted layouts (5-D embedding, map).
    parts : folder for the chunks written as they are done; an interrupted run with
        the same fit resumes from them (its subfolder is named by :func:`digest`).
    client : dask.distributed.Client, optional; the chunks then run on its workers.

    Returns
    -------
    (indices, distances) : (n, n_neighbors) the graph; list of (n, D) placed layouts;
    the parts folder (None without ``parts``); the number of chunks read back from an
    earlier run.
    """
    n = len(features)
    full = []
    for layout in layouts:
        positions = np.zeros((n, layout.shape[1]), dtype=np.float32)
        positions[sample] = layout
        full.append(positions)
    folder = None
    if parts is not None:
        folder = Path(parts) / digest(features, sample, layouts, index.n_neighbors)
        folder.mkdir(parents=True, exist_ok=True)
    width = index.n_neighbors
    indices = np.empty((n, width), dtype=np.int64)
    distances = np.empty((n, width), dtype=np.float32)
    placed = [np.empty_like(positions) for positions in full]
    resumed = 0

    def keep(number, start, part, write=True):
        stop = start + len(part["indices"])
        indices[start:stop], distances[start:stop] = part["indices"], part["distances"]
        for j in range(len(placed)):
            placed[j][start:stop] = part[f"layout_{j}"]
        if write and folder is not None:
            _write_part(folder, number, part)

    pending = []
    for number, start, stop in chunks(n):
        done = None if folder is None else _read_part(folder, number, stop - start, width)
        if done is not None:
            resumed += 1
            keep(number, start, done, write=False)
            continue
        pending.append((number, start, stop))
    if say is not None and resumed:
        say(f"fit sample: {resumed} placed chunks read back from {folder}")
    if client is None:
        for number, start, stop in pending:
            keep(number, start, place_chunk(index, sample, full, features[start:stop], start))
    else:
        from dask.distributed import as_completed

        shared = client.scatter([index, sample, full], broadcast=True)
        futures = {
            client.submit(_remote_chunk, *shared, features[start:stop], start, pure=False): (
                number,
                start,
            )
            for number, start, stop in pending
        }
        for future in as_completed(futures):
            number, start = futures[future]
            keep(number, start, future.result())
    return (indices, distances), placed, folder, resumed


def discard_parts(folder: Path | None) -> None:
    """Remove the chunks :func:`place_all` wrote into ``folder``, once the run they
    belong to is written, and the folders they leave empty (nothing else)."""
    if folder is None or not folder.is_dir():
        return
    for path in folder.glob("part-*.npz"):
        path.unlink()
    for empty in (folder, folder.parent):
        try:
            empty.rmdir()
        except OSError:  # something else is there: not ours to remove
            return
