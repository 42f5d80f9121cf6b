"""Which classes are real: stability, density contrast, the credible rule, and the
min_samples default."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

import raregal
from raregal.cli import main
from raregal.core import defaults
from raregal.measure.synthetic import recovery
from raregal.method.cluster import (
    leaf_clusters_at_scales,
    min_samples_reason,
    resolve_min_samples,
    scaled_min_samples,
)
from raregal.method.credibility import (
    assess,
    assess_scales,
    credible_rule,
    density_contrast,
    keep_credible,
    rerun_epochs,
    resolve_stability_seeds,
    rule_text,
)

from .conftest import features_of


def graph(points, k=30):
    distances, indices = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
    return indices, distances


def test_dense_group_has_contrast_and_bulk_halves_do_not():
    """A tight blob in a uniform cube stands out; two halves of the cube do not."""
    rng = np.random.default_rng(0)
    bulk = rng.uniform(size=(3000, 3))
    blob = 0.5 + 0.02 * rng.standard_normal((60, 3))
    points = np.vstack([bulk, blob])
    labels = np.full(len(points), -1)
    labels[3000:] = 0  # the blob
    labels[:3000][bulk[:, 0] < 0.3] = 1  # a slab of the bulk
    labels[:3000][(bulk[:, 0] > 0.7)] = 2  # another
    contrast = density_contrast(labels, *graph(points))
    assert contrast[0] > 1.5  # the shell, next to the blob, is denser than the bulk
    assert contrast[1:] == pytest.approx([1, 1], abs=0.1)


def test_isolated_class_measured_against_its_nearest_outsiders():
    rng = np.random.default_rng(1)
    bulk = rng.uniform(size=(500, 2))
    points = np.vstack([bulk, 3 + 0.01 * rng.standard_normal((40, 2))])
    labels = np.r_[np.full(500, -1), np.zeros(40, int)]
    indices, distances = graph(points, k=20)  # the 40 members' 20 neighbours: all members
    assert (labels[indices[500:]] == 0).all()
    outsiders = np.argsort(np.linalg.norm(bulk - points[500:].mean(axis=0), axis=1))[:20]
    expected = np.median(distances[outsiders, 19]) / np.median(distances[500:, 19])
    assert density_contrast(labels, indices, distances, points)[0] == pytest.approx(expected)
    assert density_contrast(labels, indices, distances)[0] == np.inf


def test_rule_and_keep_credible():
    """Dense, or stable and significant (>= Z): stable alone is not enough; without
    reruns, dense or significant."""
    z = defaults.CREDIBLE_SIGNIFICANCE
    stability = np.array([0.9, 0.2, 0.9, 0.9, 0.2, np.nan, np.nan, 0.79, 0.8, 0.95, np.nan])
    contrast = np.array([2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.49, np.nan, 1.0])
    significance = np.array([0.1, 0.1, z - 0.01, 2 * z, 5 * z, 0.0, 5 * z, 5 * z, z, np.nan, 0.1])
    assert credible_rule(stability, contrast, significance).tolist() == [
        True,  # dense, though neither stable nor significant
        True,  # dense
        False,  # stable, significance just under Z: a stable bulk leaf
        True,  # stable and significant
        False,  # significant but unstable
        True,  # no reruns, dense
        True,  # no reruns, significant
        False,  # significant, stability just under 0.8
        True,  # stability 0.8 and significance Z, on the thresholds
        False,  # stable, significance and contrast not measured
        False,
    ]  # no reruns, neither dense nor significant
    assert (
        credible_rule(
            stability, contrast, significance, min_contrast=2.5, min_significance=3 * z
        ).tolist()
        == [False] * 6 + [True] + [False] * 4
    )
    assert credible_rule(
        stability, contrast, significance, min_stability=0.1, min_contrast=9, min_significance=4 * z
    ).tolist() == [False, False, False, False, True, False, True, True, False, False, False]
    labels, kept = keep_credible(
        np.array([-1, 0, 1, 2, 3, 3]), np.array([True, False, False, True])
    )
    assert labels.tolist() == [-1, 0, -1, -1, 1, 1] and kept.tolist() == [0, 3]


def test_rule_text_names_every_threshold():
    assert rule_text(0) == (
        "density_contrast >= 1.5, or significance >= 2 (stability "
        "not measured: 0 reruns); never a class 50% or more duplicate "
        "representations"
    )
    assert rule_text(3) == (
        "density_contrast >= 1.5, or stability >= 0.8 over 3 layout "
        "reruns and significance >= 2; never a class 50% or more "
        "duplicate representations"
    )


def test_min_samples_resolved_once_and_explained():
    assert resolve_min_samples("scaled", 632_000) == 300
    assert resolve_min_samples("scaled", 50_000) == scaled_min_samples(50_000) == 84
    assert resolve_min_samples(300, 5_000) == 300
    reason, warning = min_samples_reason("scaled", 5_000)
    assert "= 27" in reason and warning is None
    reason, warning = min_samples_reason(300, 4_341)
    assert reason == "given: 300"
    assert "fewer than about 300 members will not be found" in warning
    assert "is 25" in warning
    assert min_samples_reason(300, 632_000)[1] is None


#: A search with bulk splits to tell apart: min_samples 10 on 1,500 galaxies, a PCA
#: start (recovers the 8 planted groups, with about 10 bulk splits beside them).
SMALL = dict(init="pca", n_epochs=200, min_samples=10, seed=0, stability_seeds=3, make_map=False)


@pytest.fixture(scope="module")
def small(planted):
    return planted


@pytest.fixture(scope="module")
def fitted(small):
    return raregal.RareClassFinder(**SMALL).fit(features_of(small))


def _recovers(planted, labels):
    """For each class: does it recover a planted group (raregal.measure.synthetic.recovery)?"""
    truth = planted["planted"].to_numpy()
    out = np.zeros(labels.max() + 1, dtype=bool)
    for g in np.unique(truth[truth >= 0]):
        members = truth == g
        best = np.bincount(labels[members & (labels >= 0)], minlength=len(out)).argmax()
        share = np.sum(members & (labels == best))
        if share >= 0.5 * members.sum() and share >= 0.5 * np.sum(labels == best):
            out[best] = True
    return out


@pytest.mark.slow  # searches 1,500 galaxies: 20-60 s on 2 loaded cores
def test_planted_groups_stable_and_credible_bulk_splits_not(fitted, small):
    table = fitted.credibility_.table
    real = _recovers(small, fitted.labels_)
    # all 8, or 7 where a seed's layout merges two (float rounding decides which)
    recovered = recovery(small["planted"], fitted.labels_)["recovered"]
    assert recovered >= 7
    assert real.sum() == recovered and (~real).sum() >= 5  # bulk splits to judge
    assert table["stability"][real].min() >= 0.6
    assert table["stability"][real].mean() > table["stability"][~real].mean()
    assert table["density_contrast"][real].min() > 2 > table["density_contrast"][~real].max()
    assert table["credible"][real].all()
    assert table["credible"][~real].mean() <= 0.2
    # significance alone: 1.98-13.2 for the groups, at most 1.25 for the splits (seed 0)
    significance = fitted.clustering_.significance
    assert (significance[~real] < defaults.CREDIBLE_SIGNIFICANCE).all()
    assert np.mean(significance[real] >= defaults.CREDIBLE_SIGNIFICANCE) >= 0.75
    expected = credible_rule(
        table["stability"], table["density_contrast"], fitted.clustering_.significance
    )
    assert table["credible"].tolist() == expected.tolist()
    assert fitted.credibility_.seeds == [1, 2, 3]


@pytest.mark.slow  # searches 1,500 galaxies: 20-60 s on 2 loaded cores
def test_seeded_credibility_repeats(fitted, small):
    again = raregal.RareClassFinder(**SMALL).fit(features_of(small))
    pd.testing.assert_frame_equal(again.credibility_.table, fitted.credibility_.table)


@pytest.mark.slow  # searches 1,500 galaxies: 20-60 s on 2 loaded cores
def test_search_writes_credibility_and_credible_only(small, tmp_path):
    small.to_parquet(tmp_path / "reps.parquet", index=False)
    base = [
        "search",
        str(tmp_path / "reps.parquet"),
        "--quiet",
        "--seed",
        "0",
        "--min-samples",
        "10",
        "--stability-seeds",
        "2",
        "--init",
        "pca",
        "--n-epochs",
        "200",
    ]
    assert main([*base, "--out", str(tmp_path / "all")]) == 0
    assert main([*base, "--out", str(tmp_path / "credible"), "--credible-only"]) == 0
    full = raregal.SearchResult.read(tmp_path / "all")
    kept = raregal.SearchResult.read(tmp_path / "credible")
    assert {"stability", "density_contrast", "credible"} <= set(full.summary.columns)
    record = full.run.credibility
    assert record["stability_seeds"] == 2 and len(record["seconds_per_rerun"]) == 2
    assert record["rule"] == rule_text(2)
    assert record["min_significance"] == defaults.CREDIBLE_SIGNIFICANCE
    assert (
        full.summary["credible"].tolist()
        == credible_rule(
            full.summary["stability"],
            full.summary["density_contrast"],
            full.summary["significance"],
        ).tolist()
    )
    assert full.run.parameters["min_samples_reason"] == "given: 10"
    credible = full.summary[full.summary["credible"]]
    assert len(kept.summary) == len(credible) < len(full.summary)
    assert kept.summary["search_class"].tolist() == credible["class"].tolist()
    for new, old in zip(kept.summary["class"], kept.summary["search_class"]):
        assert (kept.classes["class"] == new).sum() == (full.classes["class"] == old).sum()
    assert (
        json.loads((tmp_path / "credible" / "run.json").read_text())["credibility"]["credible_only"]
        is True
    )


def test_stability_reruns_by_default_at_every_size():
    assert raregal.RareClassFinder().stability_seeds == "auto"
    assert resolve_stability_seeds("auto") == defaults.STABILITY_SEEDS == 3
    assert resolve_stability_seeds(2) == 2 and resolve_stability_seeds(0) == 0


def test_reruns_above_large_data_run_fewer_epochs():
    large = defaults.UMAP_LARGE_DATA + 1
    assert rerun_epochs(500, defaults.UMAP_LARGE_DATA) == 500  # small: the search's own
    assert rerun_epochs(None, 1_500) is None
    assert rerun_epochs(defaults.UMAP_N_EPOCHS, large) == defaults.STABILITY_N_EPOCHS == 50
    assert rerun_epochs(20, large) == 20
    assert rerun_epochs(None, large) == defaults.STABILITY_N_EPOCHS


def test_reruns_lay_out_in_rerun_epochs_and_say_so(monkeypatch):
    """assess hands the reruns rerun_epochs of what was laid out -- all the galaxies, or
    the fit sample (then placed, as the search placed them) -- and records it."""
    import raregal.method.reduce as reduce

    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 1, (11_800, 2)), rng.normal(8, 0.1, (200, 2))])
    labels = np.r_[np.full(11_800, -1), np.zeros(200, int)]
    asked = []

    def layout(features, model, *, n_epochs, **_):
        asked.append((len(features), n_epochs))
        return points[: len(features)].astype(np.float32)

    monkeypatch.setattr(reduce, "graph_layout", layout)
    model = type("Model", (), {"n_components": 2})()
    # a cluster of at least 150 galaxies: the 200 cannot split into two leaves
    common = dict(k=2, seed=0, init="pca", n_epochs=100, min_samples=20, min_cluster_size=150)
    found = assess(points, model, labels, graph(points), np.array([5.0]), **common)
    assert asked == [(12_000, 50), (12_000, 50)]
    assert found.table["stability"][0] == pytest.approx(1.0)  # found again in each rerun
    assert found.record()["rerun_epochs"] == 50 and len(found.record()["seconds_per_rerun"]) == 2
    asked.clear()
    sample = (points[:5_000], lambda layout: points)  # a fit sample, then every galaxy
    found = assess(points, model, labels, graph(points), np.array([5.0]), refit=sample, **common)
    assert asked == [(5_000, 100), (5_000, 100)] and found.record()["rerun_epochs"] == 100
    assert (
        assess(
            points, model, labels, graph(points), np.array([5.0]), **{**common, "k": 0}
        ).record()["rerun_epochs"]
        is None
    )


def test_each_rerun_is_laid_out_once_for_every_scale(monkeypatch):
    """assess_scales lays each rerun out once and clusters it at every scale: a class
    of each scale is matched with that scale's clustering of the rerun (here the same
    layout, so every class is found again)."""
    import raregal.method.reduce as reduce

    rng = np.random.default_rng(1)
    pair = [rng.normal(0, 0.1, (150, 2)), rng.normal(0, 0.1, (150, 2)) + [0.3, 0]]
    points = np.concatenate([rng.uniform(-20, 20, (3_000, 2)), *pair])
    coarse, fine = leaf_clusters_at_scales(points, [60, 15], min_cluster_size=100)
    assert (coarse.n_classes, fine.n_classes) == (4, 8)
    laid_out = []

    def layout(features, model, *, seed, **_):
        laid_out.append(seed)
        return points.astype(np.float32)

    monkeypatch.setattr(reduce, "graph_layout", layout)
    model = type("Model", (), {"n_components": 2})()
    found = assess_scales(
        points,
        model,
        [coarse.labels, fine.labels],
        graph(points),
        [coarse.significance, fine.significance],
        k=2,
        seed=0,
        init="pca",
        n_epochs=100,
        min_samples=[60, 15],
        min_cluster_size=100,
    )
    assert laid_out == [1, 2]  # once per rerun, not once per rerun and scale
    assert [len(scale.table) for scale in found] == [4, 8]
    assert found[0].seeds == found[1].seeds == [1, 2] and len(found[1].seconds) == 2
    for scale in found:
        assert scale.table["stability"].to_numpy() == pytest.approx(1.0)


@pytest.mark.slow  # searches 1,500 galaxies: 20-60 s on 2 loaded cores
def test_defaults_scale_min_samples_and_reruns_and_are_recorded(small):
    default = raregal.RareClassFinder()
    finder = raregal.RareClassFinder(**SMALL)
    finder.set_params(min_samples=default.min_samples, stability_seeds=default.stability_seeds)
    assert finder.min_samples == "scaled" and finder.stability_seeds == "auto"
    finder.fit(features_of(small))
    assert finder.min_samples_ == scaled_min_samples(len(small)) == 15
    assert finder.stability_seeds_ == 3 and len(finder.credibility_.seeds) == 3
    assert finder.credibility_.table["stability"].notna().all()
    assert finder.credibility_.record()["rule"] == rule_text(3)


def test_bad_input_one_line(planted, tmp_path, capsys):
    planted.to_parquet(tmp_path / "reps.parquet", index=False)
    command = [
        "search",
        str(tmp_path / "reps.parquet"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--stability-seeds",
    ]
    assert main([*command, "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "raregal: error: --stability-seeds: must be an integer in [0, 100] or 'auto', not -1"
    ]
    with pytest.raises(SystemExit) as exit_:
        main([*command, "two"])
    assert exit_.value.code == 2
    assert "--stability-seeds: expected an integer or 'auto', not 'two'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
