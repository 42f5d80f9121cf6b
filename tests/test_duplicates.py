"""Duplicate representations (issue 39): found and reported when the features are read,
counted once by the density contrast, and never a credible class."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from raregal.cli import main
from raregal.core import defaults
from raregal.measure.synthetic import planted_representations
from raregal.method.credibility import credible_rule, density_contrast
from raregal.method.duplicates import find_duplicates


def graph(points, k=30):
    distances, indices = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
    return indices, distances


def test_duplicates_found_grouped_and_described():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((20, 4)).astype(np.float32)
    features[10:15] = features[3]
    features[16] = features[2]
    features[17], features[18] = 0.0, -0.0  # the same point, in other bytes
    found = find_duplicates(features)
    assert found.n_copies == 7 and found.n_distinct == 13
    assert [g.tolist() for g in found.groups()] == [[3, 10, 11, 12, 13, 14], [2, 16], [17, 18]]
    ids = [f"g{i}" for i in range(20)]
    assert found.record(ids) == {
        "rows": 7,
        "distinct": 13,
        "groups": 3,
        "largest_group": 6,
        "examples": [["g3", "g10", "g11"], ["g2", "g16"], ["g17", "g18"]],
    }
    line = found.describe(ids)
    assert "7 of 20 galaxies" in line and "g3 = g10 = g11 = ...; g2 = g16; g17 = g18" in line
    labels = np.array([0] * 8 + [1] * 8 + [-1] * 4)  # class 1: rows 10-14 copy row 3
    assert found.per_class(labels, 2).tolist() == [0, 4]
    assert find_duplicates(np.eye(3)).describe(["a", "b", "c"]) is None


def test_contrast_counts_copies_once():
    """40 copies of one bulk galaxy: without counting them once their k-th neighbour
    distance is 0 and the contrast infinite; counted once, it is a bulk split's (~1)."""
    rng = np.random.default_rng(2)
    bulk = rng.uniform(size=(3000, 3))
    points = np.vstack([bulk, np.repeat(bulk[:1], 40, axis=0)])
    labels = np.full(len(points), -1)
    near = np.argsort(np.linalg.norm(bulk - bulk[0], axis=1))[:15]
    labels[near] = 0
    labels[3000:] = 0
    indices, distances = graph(points, k=60)
    # not told of the copies: zero distances, not measured (before issue 39: infinite)
    assert np.isnan(density_contrast(labels, indices, distances, points)[0])
    first = find_duplicates(points).first
    contrast = density_contrast(labels, indices, distances, points, first=first)[0]
    assert contrast == pytest.approx(1, abs=0.35) and contrast < defaults.CREDIBLE_CONTRAST
    # nothing but copies in the graph: not measurable, never infinite
    alone = np.vstack([np.zeros((100, 3)), bulk[:200] + 5])
    labels = np.r_[np.zeros(100, int), np.full(200, -1)]
    indices, distances = graph(alone, k=30)
    contrast = density_contrast(
        labels, indices, distances, alone, first=find_duplicates(alone).first
    )
    assert np.isnan(contrast[0])


def test_rule_never_credits_a_class_mostly_duplicates():
    contrast = np.array([np.inf, 3.0, 3.0, 1.0])
    significance = np.array([20.0, 5.0, 5.0, 5.0])
    stability = np.full(4, 0.95)
    share = np.array([0.9, 0.5, 0.49, 0.0])
    assert credible_rule(stability, contrast, significance).all()
    assert credible_rule(stability, contrast, significance, share).tolist() == [
        False,
        False,
        True,
        True,
    ]


def _with_copies(tmp_path, bulk: int, copies: int):
    """A synthetic bulk and ``copies`` more rows repeating its row 5's features."""
    table = planted_representations(bulk, dim=16, n_groups=0, seed=3)
    extra = pd.concat([table.iloc[[5]]] * copies, ignore_index=True)
    extra["id_str"] = [f"copy{i}" for i in range(copies)]
    path = tmp_path / "reps.parquet"
    pd.concat([table, extra], ignore_index=True).to_parquet(path, index=False)
    return path


SEARCH = [
    "--seed",
    "0",
    "--init",
    "pca",
    "--n-epochs",
    "100",
    "--stability-seeds",
    "0",
    "--featureless-cut",
    "off",
    "--edge-on-cut",
    "off",
    "--artifact-cut",
    "off",
]


def _search(tmp_path, path, capsys):
    assert main(["search", str(path), "--out", str(tmp_path / "run"), *SEARCH]) == 0
    log = capsys.readouterr().err
    summary = pd.read_csv(tmp_path / "run" / "classes.csv")
    classes = pd.read_parquet(tmp_path / "run" / "classes.parquet")
    return log, summary, classes, json.loads((tmp_path / "run" / "run.json").read_text())


@pytest.mark.slow  # two searches of 1,000-1,200 galaxies: 20-60 s on 2 loaded cores
@pytest.mark.parametrize("bulk,copies", [(1000, 40), (200, 1000)])
def test_copies_reported_and_never_a_credible_class(tmp_path, capsys, bulk, copies):
    """40 copies of one row in a bulk (a duplicated catalogue), and a table mostly
    copies of one row (a collapsed encoder): the copies are reported with their ids,
    no contrast is infinite and no class of copies is credible."""
    log, summary, classes, run = _search(tmp_path, _with_copies(tmp_path, bulk, copies), capsys)
    assert f"duplicate representations: {copies} of {bulk + copies} galaxies" in log
    assert "synth_0000005 = copy0 = copy1 = ..." in log
    assert run["duplicates"] == {
        "rows": copies,
        "distinct": bulk,
        "groups": 1,
        "largest_group": copies + 1,
        "examples": [["synth_0000005", "copy0", "copy1"]],
    }
    assert not np.isinf(summary["density_contrast"]).any()
    holding = classes.loc[classes["id_str"].str.startswith("copy"), "class"]
    assert (holding >= 0).any()  # HDBSCAN does make classes of them
    of_copies = summary[summary["class"].isin(holding)]
    assert (of_copies["duplicates"] > 0).all() and not of_copies["credible"].any()
    assert run["credibility"]["max_duplicates"] == defaults.CREDIBLE_MAX_DUPLICATES


def test_nearly_all_copies_refused_in_one_line(tmp_path, capsys):
    table = planted_representations(60, dim=8, n_groups=0, seed=3)
    table.iloc[1:, table.columns.str.startswith("feat_")] = table.filter(like="feat_").iloc[0]
    table.iloc[-1, table.columns.get_loc("feat_0")] += 1
    table.to_parquet(tmp_path / "reps.parquet", index=False)
    assert (
        main(
            [
                "search",
                str(tmp_path / "reps.parquet"),
                "--out",
                str(tmp_path / "run"),
                "--n-neighbors",
                "10",
                "--min-samples",
                "5",
                *SEARCH,
            ]
        )
        != 0
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.endswith(
        "60 galaxies to search hold only 2 distinct representations "
        "(58 duplicates), not more than n_neighbors=10"
    )
    assert not (tmp_path / "run").exists()
