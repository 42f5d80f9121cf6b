"""`raregal inject`: planting geometry, recovery above and below the detection limit,
same seed same table, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.measure.inject import (
    group_grid,
    plant_groups,
    score_groups,
    sensitivity_lines,
)
from raregal.measure.synthetic import planted_representations

from .conftest import features_of


@pytest.fixture(scope="module")
def bulk():
    """A smooth 800 x 16 bulk with no groups."""
    return planted_representations(800, dim=16, n_groups=0, fractions=False, seed=4)


def test_planting_geometry(bulk):
    features = features_of(bulk)
    grid = group_grid([30, 200], [0.1, 1.0])
    injection = plant_groups(features, grid, k=50, seed=2)
    groups = injection.groups
    assert groups[["size", "tightness"]].values.tolist() == [
        [30, 0.1],
        [200, 0.1],
        [30, 1.0],
        [200, 1.0],
    ]
    assert np.bincount(injection.planted[injection.planted >= 0]).tolist() == [30, 200, 30, 200]
    # centres are untouched bulk galaxies; only planted rows changed
    assert np.all(injection.planted[groups["centre_row"]] == -1)
    changed = np.any(injection.features != features, axis=1)
    assert np.array_equal(changed, injection.planted >= 0)
    for g in (1, 3):  # the 200-member groups: their RMS radius is the expected spread
        members = injection.features[injection.planted == g]
        centre = features[groups.loc[g, "centre_row"]]
        rms = np.sqrt(np.mean(np.sum((members - centre) ** 2, axis=1)))
        assert rms == pytest.approx(groups.loc[g, "spread"], rel=0.15)
    # tightness 1 spreads a group about as widely as the centre's neighbourhood
    assert groups.loc[3, "spread"] == pytest.approx(groups.loc[3, "radius"], rel=0.5)
    assert groups.loc[1, "spread"] < 0.2 * groups.loc[1, "radius"]
    again = plant_groups(features, grid, k=50, seed=2)
    assert np.array_equal(again.features, injection.features)
    other = plant_groups(features, grid, k=50, seed=3)
    assert not np.array_equal(other.planted, injection.planted)


def test_scores_by_hand():
    groups = pd.DataFrame({"group": [0, 1, 2], "size": [4, 2, 2], "tightness": 1.0})
    planted = np.array([0, 0, 0, 0, 1, 1, 2, 2, -1, -1])
    labels = np.array([5, 5, 5, -1, 5, 6, -1, -1, 6, 7])
    scored, counts = score_groups(groups, planted, labels)
    # group 0: 3 of 4 in class 5, which has 4 members -> 0.75 and 0.75
    assert scored["class"].tolist() == [5, 5, -1]
    assert scored["completeness"].tolist() == pytest.approx([0.75, 0.5, 0.0])
    assert scored["purity"].tolist() == pytest.approx([0.75, 0.25, 0.0])
    assert scored["recovered"].tolist() == [True, False, False]
    assert scored["class_size"].tolist() == [4, 4, 0]
    # classes 6 and 7 recover no group; class 7 is made of no group (6 is half group 1)
    assert counts == {"classes": 3, "spurious": 2, "recovered": 1, "unplanted": 1}
    assert scored["pieces"].tolist() == [1, 1, 0]
    assert scored["completeness_in_pieces"].tolist() == pytest.approx([0.75, 0.5, 0.0])


def test_a_split_group_is_counted_in_pieces():
    groups = pd.DataFrame({"group": [0], "size": [6], "tightness": 0.1})
    planted = np.array([0] * 6 + [-1] * 4)
    labels = np.array([0, 0, 0, 1, 1, -1, 2, 2, 2, 0])  # 3 in class 0 (of 4), 2 in class 1
    scored, counts = score_groups(groups, planted, labels)
    assert scored.loc[0, "completeness"] == pytest.approx(0.5)
    assert scored.loc[0, "pieces"] == 2
    assert scored.loc[0, "completeness_in_pieces"] == pytest.approx(5 / 6)
    assert counts == {"classes": 3, "spurious": 2, "recovered": 1, "unplanted": 1}


def test_sensitivity_line_reads_the_smallest_reliable_size():
    table = pd.DataFrame(
        {
            "min_samples": 10,
            "tightness": 0.3,
            "size": [10, 20, 50, 100],
            "groups": 2,
            "recovered": [2, 0, 2, 2],
            "completeness": [0.9, 0.1, 0.8, 1.0],
            "purity": 1.0,
        }
    )
    assert sensitivity_lines(table) == [
        "min_samples=10, tightness 0.3: groups of >= 50 members found with 90% "
        "completeness (4 of 4 recovered)"
    ]
    table["recovered"] = 0
    assert "no planted size was always recovered" in sensitivity_lines(table)[0]


@pytest.fixture(scope="module")
def injected(bulk, tmp_path_factory):
    """One seeded CLI injection run into the bulk, and its rerun."""
    folder = tmp_path_factory.mktemp("inject")
    bulk.to_parquet(folder / "bulk.parquet")
    args = [
        "inject",
        str(folder / "bulk.parquet"),
        "--sizes",
        "10",
        "40",
        "--tightness",
        "0.1",
        "1.0",
        "--min-samples",
        "10",
        "20",
        "--n-neighbors",
        "30",
        "--seed",
        "7",
        "--quiet",
    ]
    assert main(args + ["--out", str(folder / "a")]) == 0
    assert main(args + ["--out", str(folder / "b")]) == 0
    return folder


@pytest.mark.slow
def test_recovered_above_and_not_below_the_limit(injected):
    table = pd.read_csv(injected / "a" / "injection.csv")
    by = table.set_index(["min_samples", "size", "tightness"])
    for min_samples in (10, 20):
        # 40 galaxies packed 10x tighter than the bulk around them: found. Over 5 seeds
        # x 2 settings, always whole in one class of purity 0.74 to 0.93; but leaf
        # selection may split such a group (seen once in a larger grid, and the 80-member
        # group once planted here split in 4 of 10), so the claim is on the documented
        # pieces: classes at least half made of the group hold at least half of it.
        above = by.loc[(min_samples, 40, 0.1)]
        assert above["completeness_in_pieces"] >= 0.5
        # 10 galaxies as spread as the bulk: a 20% bump in density, not a class
        # (never recovered over 5 seeds x 2 settings)
        assert not by.loc[(min_samples, 10, 1.0)]["recovered"]
    assert table["centre_id"].str.startswith("synth_").all()
    record = json.loads((injected / "a" / "injection.json").read_text())
    assert record["parameters"]["min_samples"] == [10, 20]
    assert record["planting"]["rows_replaced"] == 100
    assert set(record["result"]["by_min_samples"]) == {"10", "20"}
    sensitivity = pd.read_csv(injected / "a" / "sensitivity.csv")
    assert len(sensitivity) == 8 and sensitivity["groups"].eq(1).all()
    assert (
        sensitivity["completeness_in_pieces"]
        >= sensitivity["completeness"] * (sensitivity["purity"] >= 0.5)
    ).all()


def test_the_figure_draws_each_tightness_in_each_panel(injected):
    """injection.png: a row of panels (completeness, purity) per min_samples setting,
    one line per tightness in each, in matplotlib's first two cycle colours."""
    from PIL import Image

    image = np.asarray(Image.open(injected / "a" / "injection.png").convert("RGB"), float)
    assert image.shape == (int(3.2 * 2 * 120), 9 * 120, 3)  # figsize x dpi, 2 settings
    height, width = image.shape[0] // 2, image.shape[1] // 2
    for colour in ((31, 119, 180), (255, 127, 14)):  # C0, C1: tightness 0.1 and 1.0
        near = np.abs(image - colour).sum(axis=2) < 60
        for row in (0, 1):
            for column in (0, 1):
                panel = near[
                    row * height : (row + 1) * height, column * width : (column + 1) * width
                ]
                assert panel.sum() > 50, (colour, row, column)


def test_the_callers_finder_is_left_as_it_was(bulk, tmp_path):
    from raregal.measure.inject import inject
    from raregal.method.search import RareClassFinder

    finder = RareClassFinder(n_neighbors=15, min_samples=10)
    before = finder.get_params()
    result = inject(
        features_of(bulk),
        tmp_path / "out",
        sizes=[40],
        tightness=[0.1],
        finder=finder,
        seed=3,
        verbose=False,
    )
    assert finder.get_params() == before  # not set_params(seed=…, make_map=False)
    assert not hasattr(finder, "labels_")  # a clone was fitted
    assert result.record["parameters"]["seed"] == 3
    assert result.record["parameters"]["make_map"] is False
    assert result.record["raregal"] and result.record["versions"]["python"]


def test_read_bulk_from_a_table_or_synthetic(bulk, tmp_path):
    from raregal.measure.inject import read_bulk

    made = read_bulk(synthetic=120, dim=8, seed=5)
    assert made.features.shape == (120, 8) and made.ids is None
    assert made.source == "synthetic bulk (seed 5)"
    bulk.to_parquet(tmp_path / "bulk.parquet")
    read = read_bulk(tmp_path / "bulk.parquet")
    np.testing.assert_array_equal(read.features, features_of(bulk))
    assert read.ids.tolist() == bulk["id_str"].tolist()


@pytest.mark.slow
def test_same_seed_same_table(injected):
    first = (injected / "a" / "injection.csv").read_bytes()
    assert first == (injected / "b" / "injection.csv").read_bytes()
    assert (injected / "a" / "sensitivity.csv").read_bytes() == (
        injected / "b" / "sensitivity.csv"
    ).read_bytes()


def test_bad_input(bulk, tmp_path, capsys):
    with pytest.raises(InputError, match="need 1300 rows plus 1 centres, more than the 800"):
        plant_groups(features_of(bulk), group_grid([1300], [0.1]))
    with pytest.raises(
        InputError,
        match=r"tightness \(inject\): must be a list, each a "
        r"number > 0, not 0",
    ):
        group_grid([10], [0.0])
    code = main(["inject", "--synthetic", "500", "--sizes", "1", "--out", str(tmp_path / "x")])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "raregal: error: --sizes: must be a list, each an integer in [2, 10000000], not 1"
    )
