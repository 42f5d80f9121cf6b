"""UMAP: a 5-D embedding to cluster in, and a 2-D map to look at.

Both embeddings come from the same neighbour graph. On the CPU the k-nearest
neighbours found for the 5-D embedding are handed to the 2-D one
(umap-learn's ``precomputed_knn``), so the costliest shared step runs once and
both embeddings describe exactly the same graph.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import numpy as np

from . import defaults


def _umap_cpu(features, n_components, n_neighbors, min_dist, seed, knn, verbose):
    import umap

    kwargs = {}
    if knn is not None:
        kwargs["precomputed_knn"] = knn
    model = umap.UMAP(n_neighbors=n_neighbors, n_components=n_components, min_dist=min_dist,
                      random_state=seed, verbose=verbose, tqdm_kwds={"file": sys.stderr},
                      **kwargs)
    # umap-learn prints its progress; keep stdout clean for the user's pipes.
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        # Without a search index umap-learn warns that transform() is unavailable;
        # raregal never transforms, and a seed's loss of parallelism is documented.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*n_jobs value.*", category=UserWarning)
        embedding = model.fit_transform(features)
    # Small samples (< 4096) take umap-learn's exact path, which keeps no kNN graph.
    indices = getattr(model, "_knn_indices", None)
    shared = None if indices is None else (indices, model._knn_dists)
    return embedding.astype(np.float32), shared


def _umap_gpu(features, n_components, n_neighbors, min_dist, seed, verbose):
    from cuml.manifold import UMAP

    model = UMAP(n_neighbors=n_neighbors, n_components=n_components, min_dist=min_dist,
                 random_state=seed, verbose=verbose, output_type="numpy")
    return np.asarray(model.fit_transform(features), dtype=np.float32)


def umap_embed(features: np.ndarray, *, n_components: int = defaults.UMAP_N_COMPONENTS,
               n_neighbors: int = defaults.UMAP_N_NEIGHBORS,
               min_dist: float = defaults.UMAP_MIN_DIST, seed: int | None = None,
               backend: str = "cpu", knn=None, verbose: bool = False):
    """Embed ``features`` (n, d) with UMAP.

    Parameters
    ----------
    n_components, n_neighbors, min_dist : UMAP parameters (paper: 5, 50, default).
    seed : int, optional
        Makes the result repeatable. On the CPU, umap-learn then runs on a
        single thread, so a seeded run is slower on a machine with several cores.
    backend : {"cpu", "gpu"}
    knn : tuple of (indices, distances), optional
        Neighbours from an earlier call on the same features (CPU only).
    verbose : bool
        The library's own progress (epochs) on stderr.

    Returns
    -------
    embedding : ndarray of float32, shape (n, n_components)
    knn : tuple or None
        The neighbours, to pass to the next call on the same features.
    """
    if backend == "gpu":
        return _umap_gpu(features, n_components, n_neighbors, min_dist, seed, verbose), None
    return _umap_cpu(features, n_components, n_neighbors, min_dist, seed, knn, verbose)
