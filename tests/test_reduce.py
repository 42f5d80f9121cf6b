"""UMAP stage: neighbours, layout start and epochs, and the 2-D map (raregal.method.reduce)."""

import importlib

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from raregal import RareClassFinder
from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.measure.synthetic import planted_representations, recovery
from raregal.method.reduce import (
    approximate_neighbours,
    exact_neighbours,
    layout_epochs,
    layout_init,
    map_start,
    nearest_neighbours,
    umap_embed,
    umap_map,
)

from .conftest import features_of


@pytest.fixture(scope="module")
def table():
    """6,000 rows, 6 planted groups in a bulk (at 3,000 the bulk pulls in half a group).

    Groups of 100 to 150, at least twice UMAP's 50 neighbours, so a member's
    neighbours are its own group's: with 60 to 120, the bulk pulled into a small
    group's class left its purity at 0.46 to 0.83 (worst group, 5 seeds, PCA start),
    and the test on a knife edge; with 100 to 150, 0.75 to 0.87."""
    return planted_representations(
        6000, dim=32, n_groups=6, group_size=(100, 150), tightness=0.02, fractions=False, seed=3
    )


def _member_purity(layout, planted, k=10):
    """Share of each planted member's k nearest layout neighbours in its own group."""
    members = np.flatnonzero(planted >= 0)
    neighbours = (
        NearestNeighbors(n_neighbors=k + 1)
        .fit(layout)
        .kneighbors(layout[members], return_distance=False)[:, 1:]
    )
    return float(np.mean(planted[neighbours] == planted[members][:, None]))


def test_layout_epochs_keep_umap_learns_below_10000():
    assert layout_epochs(632_000, 100) == 100 and layout_epochs(10_001, 50) == 50
    assert layout_epochs(10_000, 100) == 500 and layout_epochs(1_866, 50) == 500
    assert layout_epochs(10_000, 50, 200) == 200 and layout_epochs(10_001, 50, 200) == 50
    assert layout_init(10_000, "auto") == "spectral" and layout_init(10_001, "auto") == "pca"
    assert layout_init(500, "pca") == "pca"


def _exact_reference(X, k):
    """The k nearest by the full distance matrix (scipy), ties by row: nearest first."""
    from scipy.spatial.distance import cdist

    full = cdist(X, X)
    order = np.argsort(full, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(full, order, 1)


def test_exact_neighbours_match_the_full_distance_matrix(table):
    X = features_of(table)[:2000].copy()
    X[7] = X[3]  # a duplicate: at distance exactly 0, as umap-learn's local scale needs
    indices, distances = exact_neighbours(X, 50)
    assert indices.shape == distances.shape == (2000, 50) and distances.dtype == np.float32
    ref_i, ref_d = _exact_reference(X.astype(np.float64), 50)
    np.testing.assert_allclose(distances, ref_d, rtol=1e-5, atol=1e-5)
    # Equal up to ties within float rounding at the 50th place.
    same = np.mean([len(np.intersect1d(a, b)) == 50 for a, b in zip(indices, ref_i)])
    assert same > 0.99
    assert np.all(distances[:, 0] == 0) and np.all(np.diff(distances, axis=1) >= 0)
    assert set(indices[3, :2]) == set(indices[7, :2]) == {3, 7}
    assert all(i in row for i, row in enumerate(indices))


@pytest.mark.slow  # NN-descent's numba compilation: 45-50 s idle in a new process
def test_nn_descent_agrees_with_exact(table):
    X = features_of(table)
    indices, distances = approximate_neighbours(X, 50, seed=0)
    assert indices.shape == distances.shape == (6000, 50)
    exact_i, exact_d = exact_neighbours(X, 50)
    recall = np.mean([len(np.intersect1d(a, b)) / 50 for a, b in zip(indices, exact_i)])
    assert recall > 0.99
    assert np.allclose(np.sort(distances, axis=1)[:, -1], exact_d[:, -1], rtol=1e-3, atol=1e-4)


def test_small_tables_get_umap_learns_own_graph_from_raregals_neighbours(table):
    """Below 4,096 points umap-learn builds its graph from all pairwise distances;
    raregal hands it the exact neighbours instead (the pairs cost seconds in Python):
    the same graph, weights equal to float rounding."""
    import umap

    X = features_of(table)[:300]
    _, model = umap_embed(X, n_epochs=1, seed=0)
    reference = umap.UMAP(n_neighbors=50, n_epochs=1, random_state=0).fit(X)
    assert reference._small_data and not model._small_data  # the two paths, as claimed
    ours, theirs = model.graph_.toarray(), reference.graph_.toarray()
    np.testing.assert_array_equal(ours > 0, theirs > 0)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_exact_up_to_the_threshold_then_nn_descent(table, monkeypatch):
    """The switch, and umap-learn's graph built on raregal's exact neighbours."""
    X = features_of(table)
    assert len(X) <= defaults.EXACT_NEIGHBOURS_MAX
    called = []
    monkeypatch.setattr(
        "raregal.method.reduce.approximate_neighbours", lambda *args: called.append(len(args[0]))
    )
    indices, _ = nearest_neighbours(X, 50, seed=0)
    _, model = umap_embed(X, n_epochs=1, seed=0)
    np.testing.assert_array_equal(model._knn_indices, indices)
    assert called == []
    monkeypatch.setattr(defaults, "EXACT_NEIGHBOURS_MAX", len(X) - 1)
    nearest_neighbours(X, 50, seed=0)
    assert called == [len(X)]


def test_map_start_is_the_first_two_principal_components(table):
    embedding = features_of(table)[:, :5]
    start = map_start(embedding)
    reference = PCA(n_components=2).fit_transform(embedding)
    assert start.shape == (6000, 2) and start.dtype == np.float32
    for j in range(2):  # equal up to the sign of each component
        assert abs(np.corrcoef(start[:, j], reference[:, j])[0, 1]) > 0.9999


@pytest.mark.slow  # three layouts of 6,000 rows: ~10 s
def test_map_keeps_planted_groups_together_and_is_repeatable(table):
    X, planted = features_of(table), table["planted"].to_numpy()
    embedding, model = umap_embed(X, n_epochs=100, seed=0)
    assert embedding.shape == (6000, 5) and embedding.dtype == np.float32
    first = umap_map(X, embedding, model, n_epochs=50, seed=0)
    again = umap_map(X, embedding, model, n_epochs=50, seed=0)
    assert first.shape == (6000, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    # Chance is ~2% (6 groups of ~125 among 6,000); the 5-D embedding is the yardstick.
    assert _member_purity(first, planted) > 0.9 * _member_purity(embedding, planted)


@pytest.mark.slow
@pytest.mark.parametrize(
    "init, n_epochs, start", [("auto", "auto", "spectral"), ("pca", 200, "pca")]
)
def test_both_starts_recover_the_planted_groups(table, init, n_epochs, start):
    X, planted = features_of(table), table["planted"].to_numpy()
    # the map and the reruns are tested in test_search and test_credibility
    finder = RareClassFinder(
        init=init, n_epochs=n_epochs, min_samples=30, seed=0, make_map=False, stability_seeds=0
    ).fit(X)
    assert finder.init_ == start  # 6,000 rows: "auto" keeps umap-learn's spectral start
    assert finder.n_epochs_ == (500 if n_epochs == "auto" else 200)
    assert recovery(planted, finder.labels_)["recovered"] == 6


@pytest.mark.parametrize(
    "setting, message",
    [
        (
            {"init": "random"},
            "init .RareClassFinder.: must be one of 'auto', 'pca', 'spectral', not 'random'",
        ),
        (
            {"n_epochs": 0},
            r"n_epochs .RareClassFinder.: must be an integer in \[1, 10000\] or "
            "'auto', not 0",
        ),
    ],
)
def test_bad_layout_settings_are_refused(table, setting, message):
    with pytest.raises(InputError, match=message):
        RareClassFinder(min_samples=30, **setting).fit(features_of(table))


def test_only_the_serial_layout_is_cached_never_its_parallel_twin():
    import umap.layouts
    from numba.core.caching import NullCache

    from raregal.method.reduce import cache_numba_compilation

    cache_numba_compilation()
    serial = umap.layouts._nb_optimize_layout_euclidean_single_epoch
    twin = umap.layouts._nb_optimize_layout_euclidean_single_epoch_parallel
    assert serial.py_func is twin.py_func  # why: one cache file would serve both
    assert not isinstance(serial._cache, NullCache)
    assert isinstance(twin._cache, NullCache)


def test_nn_descent_caches_only_what_takes_no_distance_function():
    import inspect

    from numba.core.caching import NullCache

    from raregal.method.reduce import _UNCACHED_FUNCTIONS, cache_numba_compilation

    cache_numba_compilation()
    import pynndescent.pynndescent_

    named = [
        getattr(importlib.import_module(module), name)
        for module, names in _UNCACHED_FUNCTIONS.items()
        if module.startswith("pynndescent")
        for name in names
    ]
    assert len(named) == 6 and all(not isinstance(f._cache, NullCache) for f in named)
    # why: a function given `dist` misses the cache in every process and adds a copy
    assert all("dist" not in inspect.signature(f.py_func).parameters for f in named)
    assert isinstance(pynndescent.pynndescent_.process_candidates._cache, NullCache)


#: A small seeded layout in a new process; prints the layout's numba cache counts and
#: a checksum of the embedding.
_NEW_PROCESS = """
import numpy as np, umap.layouts
from raregal.method.reduce import umap_embed
X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
embedding, _ = umap_embed(X, n_epochs=20, seed=0)
stats = umap.layouts._nb_optimize_layout_euclidean_single_epoch.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()), embedding.sum())
"""


@pytest.mark.slow  # two new processes: ~10 s each with a warm cache
def test_a_second_process_loads_umaps_layout_from_the_disk_cache():
    import subprocess
    import sys

    runs = [
        subprocess.run(
            [sys.executable, "-c", _NEW_PROCESS], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    hits, misses, checksum = runs[1]
    assert int(hits) >= 1 and int(misses) == 0  # loaded, not compiled
    assert checksum == runs[0][2]  # the cached machine code gives the same layout
