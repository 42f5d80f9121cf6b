"""raregal.method.nn_descent: pynndescent's NN-descent, reached without the arguments
that kept numba from caching it, gives pynndescent's own graph."""

import numba
import numpy as np
import pytest
from pynndescent import NNDescent

import raregal.method.nn_descent as nn_descent
from raregal.method.reduce import approximate_index


def planted(n: int, dim: int = 96) -> np.ndarray:
    """n rows around 40 overlapping centres: a graph with real neighbourhoods that
    NN-descent does not find exactly (recall 0.976 of the 50 exact neighbours at 17,000
    rows), so that a step taken differently shows (another leaf-update threshold, or no
    forest start, did; the block size and the order of updates do not change a graph)."""
    rng = np.random.default_rng(5)
    centres = rng.normal(0, 0.5, (40, dim))
    return (centres[rng.integers(0, 40, n)] + rng.normal(0, 1, (n, dim))).astype(np.float32)


def manhattan(X: np.ndarray) -> np.ndarray:
    """NN-descent's neighbours in another metric (seed 3)."""
    return NNDescent(X, n_neighbors=15, metric="manhattan", random_state=3).neighbor_graph[0]


def spy_on_descent(monkeypatch) -> list[int]:
    """Rows of each graph the copied steps descended on."""
    calls: list[int] = []
    descend = nn_descent._descend

    def spy(graph, data, *args):
        calls.append(len(data))
        return descend(graph, data, *args)

    monkeypatch.setattr(nn_descent, "_descend", spy)
    return calls


@pytest.mark.slow  # pynndescent's own NN-descent compiles for the comparison: 15-50 s
@pytest.mark.parametrize("threads", [1, 2])
def test_graph_is_pynndescents_own_bit_for_bit(monkeypatch, threads):
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("numba has one thread here")
    # 17,000 rows: the descent's second block of 16,384 rows is reached too
    X = planted(17_000)
    calls = spy_on_descent(monkeypatch)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        ours = approximate_index(X, 50, seed=3).neighbor_graph
        assert calls == [17_000]
        # the same call with the copies switched off: pynndescent's own code
        monkeypatch.setattr(nn_descent, "_follows_installed", lambda: False)
        theirs = approximate_index(X, 50, seed=3).neighbor_graph
    finally:
        numba.set_num_threads(before)
    assert calls == [17_000]  # the second build was pynndescent's own
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.slow  # pynndescent's own NN-descent compiles: 15-50 s
def test_another_metric_runs_pynndescents_own_code(monkeypatch):
    X = planted(3_000)
    calls = spy_on_descent(monkeypatch)
    with nn_descent.cached_nn_descent():
        ours = manhattan(X)
    assert calls == []
    np.testing.assert_array_equal(ours, manhattan(X))


def test_copied_kernels_can_be_kept_on_disk(monkeypatch):
    """What kept pynndescent's kernels from numba's cache was an address in their
    machine code ("dynamic globals"); the copies have none, and are cached."""
    calls = spy_on_descent(monkeypatch)
    indices, distances = approximate_index(planted(2_000), 15, seed=3).neighbor_graph
    assert calls == [2_000] and indices.shape == distances.shape == (2_000, 15)
    assert np.all(indices[:, 0] == np.arange(2_000)) and np.all(np.diff(distances, axis=1) >= 0)
    for kernel in (nn_descent._leaf_updates, nn_descent._init_random):
        assert kernel.overloads, kernel
        for compiled in kernel.overloads.values():
            assert not compiled.library.has_dynamic_globals, kernel


def test_another_pynndescent_is_left_alone(monkeypatch):
    import pynndescent.pynndescent_ as nnd

    original = nnd.nn_descent
    with nn_descent.cached_nn_descent():
        assert nnd.nn_descent is not original
    assert nnd.nn_descent is original
    monkeypatch.setattr(nn_descent.importlib.metadata, "version", lambda name: "0.5.13")
    with nn_descent.cached_nn_descent():
        assert nnd.nn_descent is original
