"""Classes at several scales (raregal.method.scales): the ladder, the combination rule on
hand-made scales, and a search whose finer scales find small planted groups that its
first scale misses, one class per group."""

import numpy as np
import pandas as pd
import pytest

from raregal.core.params import ParameterError
from raregal.measure.synthetic import plant_blobs, recovery
from raregal.method.credibility import credible_rule
from raregal.method.reduce import neighbour_graph
from raregal.method.scales import Scale, combine, scale_ladder
from raregal.method.search import RareClassFinder


def test_ladder_halves_down_to_the_floor():
    assert scale_ladder(300, 5, 15) == [300, 150, 75, 38, 19]
    assert scale_ladder(300, 8, 15) == [300, 150, 75, 38, 19, 15]
    assert scale_ladder(21, 4, 15) == [21, 15]
    assert scale_ladder(84, 1, 15) == [84]


def scale(min_samples, labels, credible, significance):
    k = len(credible)
    classes = pd.DataFrame(
        {
            "persistence": np.linspace(0.1, 0.2, k),
            "significance": significance,
            "tree_node": np.arange(k) + 1000,
            "stability": np.nan,
            "density_contrast": 1.0,
            "credible": credible,
        }
    )
    return Scale(min_samples, np.asarray(labels), np.linspace(0.5, 1, len(labels)), classes)


def test_combine_adds_new_credible_classes_once():
    n = 300
    rng = np.random.default_rng(0)
    features = rng.standard_normal((n, 4)).astype(np.float32)
    neighbours = neighbour_graph(features, None, 10)
    coarse = np.full(n, -1)
    coarse[0:50] = 0  # credible
    coarse[50:150] = 1  # not credible: a bulk leaf that swallowed a small group
    fine = np.full(n, -1)
    fine[0:45] = 0  # class 0 again (Jaccard 0.9): dropped, noted on class 0
    fine[60:80] = 1  # a new group inside class 1: kept, taken from class 1
    fine[200:212] = 2  # credible and new, outside every class: kept
    fine[250:290] = 3  # new but not credible: never added
    scales = [
        scale(40, coarse, [True, False], [5.0, 0.5]),
        scale(20, fine, [True, True, True, False], [6.0, 4.0, 3.0, 0.1]),
    ]
    labels, probabilities, table = combine(scales, 10, neighbours, features)

    assert table["min_samples"].tolist() == [40, 40, 20, 20]
    assert table["scale_class"].tolist() == [0, 1, 1, 2]
    assert table["also_at"].tolist() == ["20", "", "", ""]
    assert table["tree_node"].tolist() == [1000, 1001, -1, -1]
    assert np.bincount(labels[labels >= 0]).tolist() == [50, 80, 20, 12]
    assert (labels[60:80] == 2).all() and (labels[250:290] == -1).all()
    np.testing.assert_array_equal(probabilities[60:80], scales[1].probabilities[60:80])
    np.testing.assert_array_equal(
        table["credible"],
        credible_rule(table["stability"], table["density_contrast"], table["significance"]),
    )


def test_combine_drops_a_class_left_too_small():
    coarse = np.full(100, -1)
    coarse[0:30] = 0  # not credible
    fine = np.full(100, -1)
    fine[0:25] = 0  # credible: takes 25 of class 0's 30
    features = np.random.default_rng(1).standard_normal((100, 3)).astype(np.float32)
    labels, _, table = combine(
        [scale(30, coarse, [False], [0.5]), scale(15, fine, [True], [4.0])],
        10,
        neighbour_graph(features, None, 8),
        features,
    )
    assert table["min_samples"].tolist() == [15]  # class 0 kept 5 < 10 members
    assert (labels[0:25] == 0).all() and (labels[25:] == -1).all()


@pytest.fixture(scope="module")
def mixed_sizes():
    """2,500 galaxies: a 16-d Gaussian bulk with 2 groups of 250 and 5 tight groups of
    18-24: a min_samples of 60 finds the large groups only."""
    rng = np.random.default_rng(7)
    latent = rng.standard_normal((2500, 16))
    planted = plant_blobs(latent, [250, 250, 18, 20, 21, 22, 24], rng, lambda c: 0.05)
    return latent.astype(np.float32), planted


@pytest.mark.slow
def test_finer_scales_find_small_groups_once(mixed_sizes):
    features, planted = mixed_sizes
    finder = RareClassFinder(
        min_samples=60, scales=3, seed=0, stability_seeds=0, make_map=False, n_epochs=200
    ).fit(features)
    assert finder.scales_ == [60, 30, 15]
    first = finder.scale_results_[0]
    credible = finder.credibility_.table["credible"].to_numpy()
    alone = recovery(
        planted,
        np.where(
            first.classes["credible"].to_numpy()[first.labels] & (first.labels >= 0),
            first.labels,
            -1,
        ),
    )
    together = recovery(
        planted, np.where(credible[finder.labels_] & (finder.labels_ >= 0), finder.labels_, -1)
    )
    # the first scale finds at most the two large groups; the finer ones add most of
    # the five small ones (one that landed in a large credible class stays inside it)
    assert alone["recovered"] <= 2
    assert together["recovered"] >= alone["recovered"] + 3
    # one class per group across scales: no group is the majority of two classes
    for g in range(7):
        holders = [
            c
            for c in np.unique(finder.labels_[finder.labels_ >= 0])
            if np.mean(planted[finder.labels_ == c] == g) > 0.5
        ]
        assert len(holders) <= 1, g
    assert len(finder.class_table_) == len(finder.credibility_.table)
    assert set(finder.class_table_["min_samples"]) <= {60, 30, 15}


def test_scales_are_bounded():
    with pytest.raises(ParameterError, match="scales"):
        RareClassFinder(scales=0)._validate_params()
    with pytest.raises(ParameterError, match="scales"):
        RareClassFinder(scales=99)._validate_params()
