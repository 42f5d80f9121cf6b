"""UMAP: a 5-D embedding to cluster in, and a 2-D map to look at.

On the CPU the work is umap-learn's, with three changes of setting that, with
HDBSCAN's cache order (:mod:`raregal.method.cluster`), bring the paper's 632k search to
about half of the paper's stack's time on 2 cores (0.39-0.51 on three kinds of
table), finding the same planted groups (``bench/search.py``; numbers in
:mod:`raregal.core.defaults`):

- the nearest neighbours are exact (scikit-learn, brute force) from umap-learn's
  own exact-neighbour size up to ``defaults.EXACT_NEIGHBOURS_MAX`` points, where
  they cost less than NN-descent's numba compilation alone; above, they come from
  pynndescent with its own default forest (12 trees at 632k) instead of
  umap-learn's provisional 45, the same NN-descent with a cheaper start;
- above 10,000 points the layout starts from the principal components
  instead of a spectral embedding of the graph, and runs half of umap-learn's
  epochs;
- the 2-D map is laid out on the 5-D embedding's own fuzzy graph, starting
  from the 5-D embedding's first two principal components, so it needs
  neither a neighbour search, nor a graph, nor a spectral start of its own.

``init="spectral"`` with ``n_epochs=None`` gives umap-learn's own layout.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
import warnings

import numpy as np

from raregal.core import defaults

#: Up to this many points umap-learn's own layout costs seconds and is kept.
LARGE_DATA = defaults.UMAP_LARGE_DATA


def layout_epochs(n: int, large: int, small: int = defaults.UMAP_SMALL_EPOCHS) -> int:
    """Layout epochs for n points: ``small`` up to ``LARGE_DATA`` points (by default
    umap-learn's own, which cost seconds there), ``large`` above (where umap-learn
    runs 200)."""
    return small if n <= LARGE_DATA else large


def layout_init(n: int, init: str) -> str:
    """The layout start for n points: "auto" is umap-learn's spectral start up to
    ``LARGE_DATA`` points and the principal components above."""
    if init == "auto":
        return "spectral" if n <= LARGE_DATA else "pca"
    return init


def exact_neighbours(features: np.ndarray, n_neighbors: int):
    """Exact k-nearest neighbours by brute force (scikit-learn), nearest first.

    No numba compilation and no randomness: the same graph on any machine, whatever
    the seed. Costs O(n^2 d) arithmetic, in blocks of bounded memory.

    Returns
    -------
    indices : ndarray of int64, shape (n, n_neighbors)
    distances : ndarray of float32, shape (n, n_neighbors)
    """
    from sklearn.neighbors import NearestNeighbors

    search = NearestNeighbors(n_neighbors=min(n_neighbors, len(features)), algorithm="brute")
    # Querying the fitted points themselves keeps each point among its own neighbours,
    # as in umap-learn's and pynndescent's graphs.
    _, indices = search.fit(features).kneighbors(features)
    distances = _pair_distances(features, indices)
    order = np.argsort(distances, axis=1, kind="stable")
    return np.take_along_axis(indices, order, 1), np.take_along_axis(distances, order, 1)


def _pair_distances(features: np.ndarray, indices: np.ndarray, block: int = 2**24):
    """Distances from each row to its listed neighbours, by differences (float32).

    scikit-learn's brute force expands |x - y|^2 = |x|^2 + |y|^2 - 2 x.y, which leaves
    a point ~1e-7 from itself; umap-learn takes the first non-zero distance as a
    point's local scale, so a point and its duplicates must be at exactly 0."""
    n, k = indices.shape
    distances = np.empty((n, k), dtype=np.float32)
    rows = max(1, block // (k * features.shape[1]))
    for start in range(0, n, rows):
        part = slice(start, start + rows)
        diff = features[indices[part]] - features[part, None, :]
        distances[part] = np.sqrt(np.einsum("rkd,rkd->rk", diff, diff))
    return distances


def nearest_neighbours(features: np.ndarray, n_neighbors: int, seed: int | None = None):
    """k-nearest neighbours: exact up to ``defaults.EXACT_NEIGHBOURS_MAX`` points
    (:func:`exact_neighbours`), NN-descent above (:func:`approximate_neighbours`).

    Returns
    -------
    indices : ndarray of int, shape (n, n_neighbors)
    distances : ndarray of float32, shape (n, n_neighbors)
    """
    if len(features) <= defaults.EXACT_NEIGHBOURS_MAX:
        return exact_neighbours(features, n_neighbors)
    return approximate_neighbours(features, n_neighbors, seed)


def approximate_neighbours(features: np.ndarray, n_neighbors: int, seed: int | None = None):
    """Approximate k-nearest neighbours by NN-descent (pynndescent).

    umap-learn builds its NN-descent start from ``5 + sqrt(n) / 20`` random
    projection trees, capped at 64 (45 at 632k; "hacked values for now" in its
    source), and spends most of its neighbour time on them. pynndescent's own
    default is ``2 log10(n)`` trees, capped at 12; NN-descent then refines the
    graph to the same stopping criterion. On the benchmark's tables the recall
    of the 50 exact neighbours is 1.000 with either forest at 200k (docs/benchmarks.md).

    Returns
    -------
    indices : ndarray of int, shape (n, n_neighbors)
    distances : ndarray of float32, shape (n, n_neighbors)
    """
    return approximate_index(features, n_neighbors, seed).neighbor_graph


def approximate_index(features: np.ndarray, n_neighbors: int, seed: int | None = None):
    """The NN-descent index of :func:`approximate_neighbours` (pynndescent's NNDescent),
    whose ``neighbor_graph`` is the graph and whose ``query`` finds other points'
    neighbours among ``features`` (:mod:`raregal.method.sample_fit`)."""
    from pynndescent import NNDescent

    from raregal.method.nn_descent import cached_nn_descent

    cache_numba_compilation()
    with cached_nn_descent():
        return NNDescent(
            features,
            n_neighbors=n_neighbors,
            metric="euclidean",
            random_state=seed,
            max_candidates=60,
            low_memory=True,
            compressed=False,
        )


@contextlib.contextmanager
def _quiet_umap():
    # umap-learn print()s its steps (the model, timestamped "Construct fuzzy simplicial
    # set", "completed 150 / 500 epochs") beside its tqdm bar on stderr: drop the
    # prints, so that the bar is the one progress shown and stdout stays clean.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # Without a search index umap-learn warns that transform() is unavailable;
        # raregal never transforms, and a seed's loss of parallelism is documented.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
        yield


#: umap-learn's and pynndescent's numba functions on raregal's path that they compile
#: again in every process (they do not ask numba to cache them): ~26 s of each search's
#: start on 2 cores for umap-learn, measured at 600 rows (umap-learn 0.5.12), and about
#: half of NN-descent's compilation (pynndescent 0.7.0, 6,000 rows, cores shared with a
#: benchmark: 45.5 s to 26.6 s a process; absent names are skipped). Left out on purpose:
#: - umap-learn's parallel layout epoch: umap-learn makes it from the same Python function
#:   as the serial one, and numba's cache keys a function's file by that function and its
#:   signature, not by ``parallel`` -- cached too, the two could load each other's
#:   machine code, and a seeded run the parallel one;
#: - every pynndescent function that takes the distance function (``dist``): numba types
#:   that argument with its address, so each process misses the cache and writes one more
#:   copy to disk (pynndescent's own reason for not caching them, its pull request 226).
#:   :mod:`raregal.method.nn_descent` reaches the kernels above without them.
_UNCACHED_FUNCTIONS = {
    "umap.layouts": ("_nb_optimize_layout_euclidean_single_epoch",),
    "umap.umap_": ("smooth_knn_dist", "compute_membership_strengths", "fast_knn_indices"),
    "umap.utils": ("fast_knn_indices",),
    "pynndescent.utils": (
        "build_candidates_owner",
        "apply_graph_update_array",
        "sort_updates_by_block",
        "apply_sorted_graph_update_array",
        "deheap_sort",
    ),
    "pynndescent.kernels": ("generate_graph_update_array_batched",),
}


def cache_numba_compilation() -> int:
    """Let numba keep umap-learn's compiled layout and graph functions, and the part of
    pynndescent's NN-descent that can be, on disk (beside their modules, or in numba's
    user cache where that is read-only), so only the first process on a machine
    compiles them. The machine code is the same, so seeded results are too. Returns how
    many functions now cache."""
    import importlib

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    cached = 0
    for module, names in _UNCACHED_FUNCTIONS.items():
        for name in names:
            function = getattr(importlib.import_module(module), name, None)
            if not isinstance(function, Dispatcher) or not isinstance(function._cache, NullCache):
                continue
            try:
                function.enable_caching()
            except RuntimeError:  # no writable cache folder: compile each time, as before
                continue
            cached += 1
    return cached


@functools.cache
def _umap_class():
    import umap

    cache_numba_compilation()

    class UMAP(umap.UMAP):
        def __repr__(self, N_CHAR_MAX=700):
            # A verbose fit prints the model, which would print the neighbour arrays.
            return (
                f"UMAP(n_neighbors={self.n_neighbors}, n_components={self.n_components}, "
                f"min_dist={self.min_dist}, init={self.init!r}, n_epochs={self.n_epochs})"
            )

    return UMAP


def _umap_cpu(
    features, n_components, n_neighbors, min_dist, init, n_epochs, seed, verbose, neighbours=None
):
    # The neighbours at every size: below 4,096 points umap-learn would otherwise
    # compute all pairwise distances through its numba metric, which scikit-learn calls
    # once per pair from Python (9.1 s at 2,000 points, against 0.3 s for the same
    # graph from these neighbours: umap-learn 0.5.12, weights equal to 5e-6).
    model = _umap_class()(
        n_neighbors=n_neighbors,
        n_components=n_components,
        min_dist=min_dist,
        init=init,
        n_epochs=n_epochs,
        random_state=seed,
        verbose=verbose,
        tqdm_kwds={"file": sys.stderr},
        precomputed_knn=(
            nearest_neighbours(features, n_neighbors, seed) if neighbours is None else neighbours
        ),
    )
    with _quiet_umap():
        embedding = model.fit_transform(features)
    return embedding.astype(np.float32), model


def _umap_gpu(features, n_components, n_neighbors, min_dist, n_epochs, seed, verbose):
    from cuml.manifold import UMAP

    # cuML has no PCA start; its spectral start costs little on a GPU.
    model = UMAP(
        n_neighbors=n_neighbors,
        n_components=n_components,
        min_dist=min_dist,
        n_epochs=n_epochs,
        random_state=seed,
        verbose=verbose,
        output_type="numpy",
    )
    return np.asarray(model.fit_transform(features), dtype=np.float32), None


def umap_embed(
    features: np.ndarray,
    *,
    n_components: int = defaults.UMAP_N_COMPONENTS,
    n_neighbors: int = defaults.UMAP_N_NEIGHBORS,
    min_dist: float = defaults.UMAP_MIN_DIST,
    init: str = "pca",
    n_epochs: int | None = None,
    seed: int | None = None,
    backend: str = "cpu",
    verbose: bool = False,
    neighbours=None,
):
    """Embed ``features`` (n, d) with UMAP.

    Parameters
    ----------
    n_components, n_neighbors, min_dist : UMAP parameters (paper: 5, 50, default).
    init : {"pca", "spectral"}
        Where the layout starts (CPU only): the first principal components, or
        umap-learn's spectral embedding of the neighbour graph.
    n_epochs : int, optional
        Layout epochs; umap-learn's default (200 above 10,000 points) if None.
    seed : int, optional
        Makes the result repeatable. On the CPU, umap-learn then runs on a
        single thread, so a seeded run is slower on a machine with several cores.
    backend : {"cpu", "gpu"}
    verbose : bool
        The library's own progress (epochs) on stderr.
    neighbours : (indices, distances), optional
        The k-nearest-neighbour graph of ``features`` when already found (CPU only;
        default: :func:`nearest_neighbours`).

    Returns
    -------
    embedding : ndarray of float32, shape (n, n_components)
    model : umap.UMAP or None
        The fitted CPU model, whose graph :func:`umap_map` reuses; None on the GPU.
    """
    if backend == "gpu":
        return _umap_gpu(features, n_components, n_neighbors, min_dist, n_epochs, seed, verbose)
    return _umap_cpu(
        features, n_components, n_neighbors, min_dist, init, n_epochs, seed, verbose, neighbours
    )


def map_start(embedding: np.ndarray) -> np.ndarray:
    """The first two principal components of an (n, D) embedding, shape (n, 2)."""
    from sklearn.decomposition import PCA

    return PCA(n_components=2).fit_transform(embedding).astype(np.float32)


def umap_map(
    features: np.ndarray, embedding: np.ndarray, model, *, n_epochs: int, seed: int | None = None
) -> np.ndarray:
    """The 2-D map: UMAP's layout of the 5-D model's own fuzzy graph.

    Parameters
    ----------
    features : ndarray, shape (n, d)
        The features the model was fitted on.
    embedding : ndarray, shape (n, D)
        The model's embedding; its first two principal components are the start.
    model : umap.UMAP
        The fitted model of :func:`umap_embed` (its ``graph_``, ``_a``, ``_b``).
    n_epochs : int
        Layout epochs; the start already separates what the 5-D layout did.
    seed : int, optional
        Repeatable (the deterministic layout is on every thread either way; umap-learn's,
        ``--layout umap-learn``, then runs on one).

    Returns
    -------
    ndarray of float32, shape (n, 2)
    """
    cache_numba_compilation()
    return graph_layout(
        features,
        model,
        n_components=defaults.MAP_N_COMPONENTS,
        init=map_start(embedding),
        n_epochs=n_epochs,
        seed=seed,
        parallel=seed is None,
    )


def graph_layout(
    features, model, *, n_components: int, init, n_epochs, seed, parallel: bool
) -> np.ndarray:
    """umap-learn's layout of ``model``'s fuzzy graph in ``n_components`` dimensions, from
    ``init`` (a name or an (n, n_components) start) and ``seed``: the map and the
    stability reruns lay out the same graph with the model's own settings.

    Returns
    -------
    ndarray of float32, shape (n, n_components)
    """
    from umap.umap_ import simplicial_set_embedding

    with _quiet_umap():
        layout, _ = simplicial_set_embedding(
            # a copy: umap-learn prunes the graph it is given in place, by n_epochs
            data=features,
            graph=model.graph_.copy(),
            n_components=n_components,
            initial_alpha=model.learning_rate,
            a=model._a,
            b=model._b,
            gamma=model.repulsion_strength,
            negative_sample_rate=model.negative_sample_rate,
            n_epochs=n_epochs,
            init=init,
            random_state=np.random.RandomState(seed),
            metric="euclidean",
            metric_kwds={},
            densmap=False,
            densmap_kwds={},
            output_dens=False,
            parallel=parallel,
        )
    return np.asarray(layout, dtype=np.float32)


def neighbour_graph(features: np.ndarray, model, n_neighbors: int):
    """The k-nearest-neighbour graph the UMAP was built on.

    umap-learn keeps the neighbours raregal hands it as ``model._knn_indices`` and
    ``_knn_dists``; cuML keeps none (``model`` None), so they are then searched as
    the CPU path does (:func:`raregal.method.reduce.nearest_neighbours`: exact up to
    ``defaults.EXACT_NEIGHBOURS_MAX`` galaxies, NN-descent above).

    Returns
    -------
    indices : ndarray of int, shape (n, n_neighbors)
        Row indices, the galaxy itself first.
    distances : ndarray of float32, shape (n, n_neighbors)
    """
    indices = getattr(model, "_knn_indices", None)
    distances = getattr(model, "_knn_dists", None)
    if indices is not None and distances is not None and len(indices) == len(features):
        return np.asarray(indices), np.asarray(distances, dtype=np.float32)
    from raregal.method.reduce import nearest_neighbours

    return nearest_neighbours(features, n_neighbors)
