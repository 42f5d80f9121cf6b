"""HDBSCAN's spanning tree on all threads (raregal.method.boruvka): edge for edge the tree
fast_hdbscan builds on one thread, on one thread or two and under a CPU load, on
data whose mutual-reachability distances tie everywhere (integer grid points) and on
data where they tie as they do in any HDBSCAN (core distances shared by edges)."""

from contextlib import contextmanager

import fast_hdbscan
import numba
import numpy as np
import pytest
from fast_hdbscan.hdbscan import compute_minimum_spanning_tree
from sklearn.metrics import adjusted_rand_score

from raregal.method.boruvka import spanning_tree
from raregal.method.cluster import leaf_clusters, spatial_order


@contextmanager
def threads(n):
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def grid(seed=0):
    """3,000 points on a 5-D integer grid: distances tie in whole shells."""
    return np.random.default_rng(seed).integers(0, 6, size=(3000, 5)).astype(np.float64)


def blobs(seed=1):
    """A 5-D bulk of 6,000 with 8 dense groups of 60 (no exact ties in coordinates)."""
    rng = np.random.default_rng(seed)
    groups = [rng.normal(size=5) * 1.5 + rng.normal(size=(60, 5)) * 0.05 for _ in range(8)]
    return np.vstack([rng.normal(size=(6000, 5)), *groups])


def one_thread_tree(points, min_samples):
    """fast_hdbscan's own tree on one thread (where its order is fixed)."""
    with threads(1):
        return compute_minimum_spanning_tree(points, min_samples=min_samples, reproducible=True)


@pytest.mark.parametrize("make", [grid, blobs])
def test_tree_is_fast_hdbscans_one_thread_tree_on_two_threads(make):
    points = make()
    edges, neighbors, core = one_thread_tree(points, 12)
    for n in (1, 2):
        with threads(n):
            ours = spanning_tree(points, 12)
        np.testing.assert_array_equal(ours[0], edges)
        np.testing.assert_array_equal(ours[1], neighbors)
        np.testing.assert_array_equal(ours[2], core)


@pytest.mark.slow
@pytest.mark.parametrize("make", [grid, blobs])
def test_tree_is_the_same_under_load(make, cpu_load):
    """Two threads competing with two busy processes build the one-thread tree."""
    points = make()
    edges = one_thread_tree(points, 12)[0]
    with threads(2):
        for _ in range(5):
            np.testing.assert_array_equal(spanning_tree(points, 12)[0], edges)


def test_classes_are_fast_hdbscans_on_one_thread():
    """leaf_clusters on two threads: fast_hdbscan's one-thread classes, probabilities
    and condensed tree, for the same (KD-tree ordered) points."""
    points = blobs()
    order = spatial_order(points)
    with threads(1):
        labels, probabilities, _, tree, *_ = fast_hdbscan.fast_hdbscan(
            points[order],
            min_samples=20,
            min_cluster_size=10,
            cluster_selection_method="leaf",
            return_trees=True,
            reproducible=True,
        )
    with threads(2):
        ours = leaf_clusters(points, min_samples=20, min_cluster_size=10)
    assert ours.n_classes == labels.max() + 1 >= 8
    assert adjusted_rand_score(labels, ours.labels[order]) == 1.0
    np.testing.assert_array_equal(ours.labels[order] < 0, labels < 0)
    np.testing.assert_array_equal(ours.probabilities[order], probabilities)
    child = np.asarray(tree.child)
    child[child < len(points)] = order[child[child < len(points)]]  # back to points' rows
    np.testing.assert_array_equal(ours.condensed_tree["child"], child)
    for column in ("parent", "lambda_val", "child_size"):
        np.testing.assert_array_equal(ours.condensed_tree[column], getattr(tree, column))


def test_classes_are_the_same_on_one_and_two_threads():
    points = grid(seed=2)
    with threads(1):
        one = leaf_clusters(points, min_samples=12)
    with threads(2):
        two = leaf_clusters(points, min_samples=12)
    assert one.n_classes > 1
    np.testing.assert_array_equal(one.condensed_tree, two.condensed_tree)
    np.testing.assert_array_equal(one.labels, two.labels)
    np.testing.assert_array_equal(one.probabilities, two.probabilities)
