"""The search's messages name the real cause (issue 39): a sample too small for its
settings, a search that finds no class, and what --credible-only writes."""

import pandas as pd
import pytest

from raregal.cli import main
from raregal.measure.synthetic import planted_representations
from raregal.method.search import _no_classes, _too_few

NO_CUTS = ["--featureless-cut", "off", "--edge-on-cut", "off", "--artifact-cut", "off"]
FAST = ["--seed", "0", "--init", "pca", "--n-epochs", "50", "--stability-seeds", "0", *NO_CUTS]


def test_too_few_galaxies_names_every_setting_at_fault_and_a_remedy_that_works():
    assert "too few, a search needs at least 3" in _too_few(1, 1, 50, 1)
    assert "too few" in _too_few(2, 1, 2, 1)
    assert _too_few(8, 10, 50, "scaled") == (
        "8 galaxies to search, not more than min_samples=10 (the scaled rule's floor, "
        "min_cluster_size) and n_neighbors=50: give --min-samples and --n-neighbors below 8"
    )
    assert _too_few(8, 5, 50, 5) == (
        "8 galaxies to search, not more than n_neighbors=50: give --n-neighbors below 8"
    )
    assert _too_few(8, 5, 7, 5) is None


def test_one_galaxy_with_min_samples_1_is_not_told_to_lower_it(tmp_path, capsys):
    planted_representations(50, dim=4, n_groups=0).head(1).to_parquet(tmp_path / "one.parquet")
    assert (
        main(
            [
                "search",
                str(tmp_path / "one.parquet"),
                "--out",
                str(tmp_path / "run"),
                "--min-samples",
                "1",
                "--quiet",
                *NO_CUTS,
            ]
        )
        == 2
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [
        "raregal: error: one.parquet: 1 galaxies to "
        "search: too few, a search needs at least 3 (UMAP's n_neighbors is at "
        "least 2 and must be below the galaxies)"
    ]


def test_no_classes_blames_min_cluster_size_only_when_it_is_the_cause():
    assert _no_classes(1500, 10, 800) == (
        "no classes found among 1500 galaxies: min_cluster_size=800 leaves no room for two "
        "classes (HDBSCAN splits off parts of at least that many); give --min-cluster-size "
        "of at most 750"
    )
    either = _no_classes(1500, 300, 10)
    assert "min_samples (used: 300) or min_cluster_size (used: 10)" in either


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("messages") / "reps.parquet"
    planted_representations(
        400, dim=8, n_groups=3, group_size=(40, 50), tightness=0.02, seed=2
    ).to_parquet(path, index=False)
    return path


def test_zero_class_search_names_min_cluster_size(small, tmp_path, capsys):
    assert (
        main(
            [
                "search",
                str(small),
                "--out",
                str(tmp_path / "run"),
                "--min-samples",
                "10",
                "--min-cluster-size",
                "250",
                *FAST,
            ]
        )
        == 0
    )
    log = capsys.readouterr().err
    assert (
        "no classes found among 400 galaxies: min_cluster_size=250 leaves no room for two classes"
    ) in log
    assert "min_samples=10 may be too large" not in log


def test_credible_only_says_what_it_writes(small, tmp_path, capsys):
    assert (
        main(
            [
                "search",
                str(small),
                "--out",
                str(tmp_path / "run"),
                "--min-samples",
                "10",
                "--credible-only",
                *FAST,
            ]
        )
        == 0
    )
    log = capsys.readouterr().err
    summary = pd.read_csv(tmp_path / "run" / "classes.csv")
    classes = pd.read_parquet(tmp_path / "run" / "classes.parquet")
    found = int(log.split("credible: ")[1].split(" of ")[1].split(" classes")[0])
    assert 0 < len(summary) < found  # credible classes and dropped ones to tell apart
    assert (
        f"--credible-only: writing the {len(summary)} credible of {found} classes, "
        f"holding {int((classes['class'] >= 0).sum())} of 400 galaxies; the other "
        f"classes' galaxies are written as class -1"
    ) in log


def test_pca_start_with_fewer_features_than_components_is_one_line(tmp_path, capsys):
    """The PCA start projects on n_components axes: 3 features cannot give 5 (a
    traceback from scikit-learn before)."""
    table = planted_representations(200, dim=3, n_groups=0, latent_dim=3)
    table.to_parquet(tmp_path / "d3.parquet")
    assert (
        main(
            [
                "search",
                str(tmp_path / "d3.parquet"),
                "--out",
                str(tmp_path / "run"),
                "--init",
                "pca",
                "--quiet",
                *NO_CUTS,
            ]
        )
        == 2
    )
    assert capsys.readouterr().err.strip().splitlines() == [
        "raregal: error: d3.parquet: 3 features, fewer than n_components=5, which the PCA "
        "start needs: give --n-components of at most 3 or --init spectral"
    ]
