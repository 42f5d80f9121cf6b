"""The rarity score (raregal.method.rarity): planted outliers rank first, and the GLOSH
candidate is HDBSCAN's own outlier score."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from raregal.method.rarity import glosh, isolation, rarity


@pytest.fixture(scope="module")
def bulk_with_outliers():
    """600 galaxies in a 16-d Gaussian bulk, the last 6 planted far outside it."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((600, 16)).astype(np.float32)
    x[-6:] = rng.standard_normal((6, 16)) * 0.3 + 5 * rng.choice([-1, 1], (6, 16))
    return x


def test_planted_outliers_rank_first(bulk_with_outliers):
    x = bulk_with_outliers
    distances, _ = NearestNeighbors(n_neighbors=50).fit(x).kneighbors(x)
    score = rarity(distances)
    assert score.shape == (600,) and score.dtype == np.float32
    np.testing.assert_array_equal(score, distances[:, 10].astype(np.float32))
    assert set(np.argsort(-score)[:6]) == set(range(594, 600))


def test_a_graph_narrower_than_k_uses_its_last_neighbour():
    distances = np.array([[0, 1, 2], [0, 3, 4]], dtype=np.float32)
    np.testing.assert_array_equal(rarity(distances, k=10), [2, 4])


def test_isolation_forest_also_ranks_them_first_and_repeats(bulk_with_outliers):
    score = isolation(bulk_with_outliers, seed=0)
    assert set(np.argsort(-score)[:6]) == set(range(594, 600))
    np.testing.assert_array_equal(score, isolation(bulk_with_outliers, seed=0))


def test_glosh_is_hdbscans_outlier_score(bulk_with_outliers):
    hdbscan = pytest.importorskip("hdbscan")
    model = hdbscan.HDBSCAN(min_cluster_size=10, min_samples=5).fit(bulk_with_outliers)
    tree = model.condensed_tree_.to_numpy()
    np.testing.assert_allclose(
        glosh(tree, len(bulk_with_outliers)), model.outlier_scores_, atol=1e-9
    )
