"""Leaf clusters agree with the hdbscan library, and planted structure is found."""

import hdbscan
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from raregal.measure.synthetic import recovery
from raregal.method.cluster import (
    TREE_DTYPE,
    leaf_clusters,
    leaf_clusters_at_scales,
    leaf_significance,
    scaled_min_samples,
    spatial_order,
)


@pytest.fixture(scope="module")
def blobs():
    """A 5-D embedding: a broad bulk with 12 small dense groups of 45-90."""
    rng = np.random.default_rng(3)
    bulk = rng.normal(size=(6000, 5))
    sizes = rng.integers(45, 91, size=12)
    groups = [rng.normal(size=5) * 1.2 + rng.normal(size=(s, 5)) * 0.04 for s in sizes]
    points = np.vstack([bulk, *groups])
    truth = np.concatenate([np.full(len(bulk), -1)] + [np.full(s, g) for g, s in enumerate(sizes)])
    return points, truth


def test_leaf_classes_agree_with_hdbscan_library(blobs):
    points, _ = blobs
    ours = leaf_clusters(points, min_samples=40, min_cluster_size=10)
    reference = hdbscan.HDBSCAN(
        min_samples=40, min_cluster_size=10, cluster_selection_method="leaf"
    ).fit(points)
    assert ours.n_classes == reference.labels_.max() + 1
    assert adjusted_rand_score(reference.labels_, ours.labels) >= 0.9
    # persistence as the library's cluster_persistence_, class for class
    members = [ours.labels[reference.labels_ == k] for k in range(reference.labels_.max() + 1)]
    matched = [np.bincount(ours_k[ours_k >= 0]).argmax() for ours_k in members]
    np.testing.assert_allclose(ours.persistence[matched], reference.cluster_persistence_, atol=0.05)


def test_significance_of_a_known_tree():
    """Six galaxies under root 6: leaf 7 born at lambda 1 (galaxies leave at 2, 4 and
    inf, which counts as the largest finite lambda, 4), leaf 8 born at 2 (all leave at
    2): mean log rise 5 ln 2 / 3 and 0, times sqrt(min_samples); in any node order."""
    tree = np.array(
        [
            (6, 7, 1.0, 3),
            (6, 8, 2.0, 3),
            (7, 0, 2.0, 1),
            (7, 1, 4.0, 1),
            (7, 2, np.inf, 1),
            (8, 3, 2.0, 1),
            (8, 4, 2.0, 1),
            (8, 5, 2.0, 1),
        ],
        dtype=TREE_DTYPE,
    )
    expected = [5 * np.log(2) / 3 * 3, 0.0]
    np.testing.assert_allclose(leaf_significance(tree, np.array([7, 8]), 9), expected)
    np.testing.assert_allclose(leaf_significance(tree, np.array([8, 7]), 9), expected[::-1])
    assert leaf_significance(tree, np.array([6]), 4)[0] == np.inf  # the root: born at 0
    assert leaf_significance(tree, np.zeros(0, int), 4).shape == (0,)


def test_planted_groups_are_more_significant_than_bulk_splits(blobs):
    points, truth = blobs
    ours = leaf_clusters(points, min_samples=10, min_cluster_size=10)  # splits the bulk
    groups = [np.bincount(ours.labels[truth == g]).argmax() for g in range(12)]
    splits = np.setdiff1d(np.arange(ours.n_classes), groups)
    assert ours.significance.shape == (ours.n_classes,) and len(splits) >= 1
    assert ours.significance[groups].min() > 10 * ours.significance[splits].max()


def test_significance_ignores_a_denser_group_elsewhere(blobs):
    """Persistence divides by the tree's largest lambda, so a very tight group added
    far away shrinks every other class's; their significance barely moves."""
    points, _ = blobs
    before = leaf_clusters(points, min_samples=10, min_cluster_size=10)
    tight = 6.0 + np.random.default_rng(0).normal(size=(60, 5)) * 5e-4
    after = leaf_clusters(np.vstack([points, tight]), min_samples=10, min_cluster_size=10)
    assert after.n_classes == before.n_classes + 1
    labels = after.labels[: len(points)]
    same = [
        np.bincount(labels[(before.labels == k) & (labels >= 0)]).argmax()
        for k in range(before.n_classes)
    ]
    np.testing.assert_allclose(after.significance[same], before.significance, atol=0.15)
    assert np.all(after.persistence[same] < before.persistence / 10)


def test_planted_groups_are_recovered(blobs):
    """Every group larger than min_samples is one class holding all of it; a class
    may also take in bulk galaxies around a group that sits in the dense centre."""
    points, truth = blobs
    ours = leaf_clusters(points, min_samples=40, min_cluster_size=10)
    result = recovery(truth, ours.labels)
    assert result["recovered"] == 12
    assert min(result["completeness"]) >= 0.95 and min(result["purity"]) >= 0.5
    assert result["spurious"] <= 2


def test_classes_are_leaves_numbered_by_tree_node(blobs):
    points, _ = blobs
    ours = leaf_clusters(points, min_samples=40, min_cluster_size=10)
    tree = ours.condensed_tree
    n = len(points)
    assert np.all(np.diff(ours.nodes) > 0)
    cluster_parents = set(tree["parent"][tree["child"] >= n].tolist())
    for k, node in enumerate(ours.nodes):
        assert node not in cluster_parents  # a leaf: no child clusters
        members = np.flatnonzero(ours.labels == k)
        rows = tree[np.isin(tree["child"], members)]
        assert np.all(rows["parent"] == node)
    assert np.all(ours.probabilities[ours.labels < 0] == 0)
    assert np.all((ours.probabilities >= 0) & (ours.probabilities <= 1))


def test_no_classes_in_structureless_data():
    points = np.random.default_rng(0).uniform(size=(800, 5))
    ours = leaf_clusters(points, min_samples=300, min_cluster_size=10)
    assert ours.n_classes == 0 and np.all(ours.labels == -1)
    assert len(ours.persistence) == 0 and len(ours.significance) == 0


def test_one_galaxy_is_noise():
    clustering = leaf_clusters(np.zeros((1, 5)), min_samples=2, min_cluster_size=2)
    assert clustering.labels.tolist() == [-1] and clustering.probabilities.tolist() == [0.0]
    assert clustering.n_classes == 0 and len(clustering.condensed_tree) == 0


def test_scaled_min_samples():
    assert scaled_min_samples(632_000) == 300  # the paper's sample
    assert scaled_min_samples(8_700_000) == 300  # capped
    assert scaled_min_samples(50_000) == round(300 * np.sqrt(50_000 / 632_000))
    assert scaled_min_samples(500) == 10  # floored at min_cluster_size
    assert scaled_min_samples(500, min_cluster_size=15) == 15


def test_tree_order_changes_nothing_but_ties(blobs):
    """leaf_clusters hands fast_hdbscan the points in KD-tree leaf order and maps the
    result back. Mutual-reachability distances tie often (a core distance is shared by
    many edges), and the order decides ties, so a handful of points may differ."""
    import fast_hdbscan

    points, _ = blobs
    order = spatial_order(points)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(points)))
    assert not np.array_equal(order, np.arange(len(points)))
    ours = leaf_clusters(points, min_samples=40, min_cluster_size=10)
    labels, probabilities = fast_hdbscan.fast_hdbscan(
        points,
        min_samples=40,
        min_cluster_size=10,
        cluster_selection_method="leaf",
        reproducible=True,
    )
    assert ours.n_classes == labels.max() + 1 == 12
    assert adjusted_rand_score(labels, ours.labels) > 0.99
    assert np.sum((ours.labels >= 0) != (labels >= 0)) <= 0.001 * len(points)
    assert np.mean(np.isclose(ours.probabilities, probabilities, atol=1e-6)) > 0.99


def test_scales_searched_once_are_each_scales_own_clustering(blobs, monkeypatch):
    """HDBSCAN at a ladder of min_samples searches the neighbours once, at the largest,
    and each scale gives what leaf_clusters gives at it alone (no exactly equal
    distances here to order otherwise)."""
    import raregal.method.boruvka as boruvka

    points, _ = blobs
    ladder = [40, 20, 10]
    searches = []
    nearest = boruvka.nearest
    monkeypatch.setattr(boruvka, "nearest", lambda p, k: searches.append(k) or nearest(p, k))
    together = leaf_clusters_at_scales(points, ladder, min_cluster_size=10)
    assert searches == [40]
    for min_samples, clustering in zip(ladder, together):
        alone = leaf_clusters(points, min_samples=min_samples, min_cluster_size=10)
        np.testing.assert_array_equal(clustering.condensed_tree, alone.condensed_tree)
        np.testing.assert_array_equal(clustering.labels, alone.labels)
        np.testing.assert_array_equal(clustering.significance, alone.significance)
    assert searches == [40, 40, 20, 10]
    assert together[0].n_classes < together[-1].n_classes  # the scales differ


@pytest.mark.slow
def test_seeded_clustering_is_identical_under_load(cpu_load):
    """A seeded search must give the same classes on every rerun, also when other
    processes compete for the cores. fast_hdbscan's reproducible Boruvka did not,
    on several threads: its spanning tree changed on ties, which rounded
    coordinates make frequent (as UMAP's clumps do), on about a third of reruns
    (tests/test_boruvka.py checks raregal's tree on data where every distance ties)."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(8000, 5)).astype(np.float32)
    points[:800] = rng.normal(size=(800, 5)).astype(np.float32) * 0.05 + 3
    points = np.round(points, 2)
    runs = [leaf_clusters(points, min_samples=16) for _ in range(6)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.condensed_tree, runs[0].condensed_tree)
        np.testing.assert_array_equal(run.labels, runs[0].labels)
        np.testing.assert_array_equal(run.probabilities, runs[0].probabilities)
