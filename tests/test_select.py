"""The paper's morphology cuts and the NaN rule, on a table shaped like GZ DESI's."""

import numpy as np
import pandas as pd
import pytest

from raregal.core.errors import InputError
from raregal.method.select import Cut, Step, apply_cuts, paper_cuts

NAN = np.nan
# smooth, featured, artifact, edge-on (NaN where featured < 0.5, as the friendly table)
ROWS = [
    (0.60, 0.35, 0.05, NAN),  # 0 featureless
    (0.20, 0.75, 0.05, 0.40),  # 1 edge-on
    (0.20, 0.75, 0.05, 0.10),  # 2 kept
    (0.45, 0.20, 0.35, NAN),  # 3 artifact; edge-on masked
    (0.45, 0.45, 0.10, NAN),  # 4 kept unless NaN drops
    (0.10, 0.60, 0.30, 0.00),  # 5 artifact exactly at the threshold
    (0.50, 0.50, 0.00, NAN),  # 6 smooth exactly at the threshold
    (0.30, 0.70, 0.00, 0.30),  # 7 edge-on exactly at the threshold
]


@pytest.fixture
def friendly():
    table = pd.DataFrame(
        ROWS,
        columns=[
            "smooth-or-featured_smooth_fraction",
            "smooth-or-featured_featured-or-disk_fraction",
            "smooth-or-featured_artifact_fraction",
            "disk-edge-on_yes_fraction",
        ],
    )
    table.insert(0, "dr8_id", [f"1000_{i}" for i in range(len(table))])
    table["ra"] = np.arange(len(table)) * 50.0
    return table


def _removed(selection):
    return [step.removed for step in selection.steps]


def test_paper_cuts_with_nan_kept(friendly):
    selection = apply_cuts(friendly, paper_cuts())
    assert np.flatnonzero(selection.mask).tolist() == [2, 4]
    assert _removed(selection) == [2, 2, 2]
    # rows 3 and 4 reach the edge-on cut with a masked fraction
    assert [step.nan for step in selection.steps] == [0, 2, 0]
    assert [step.left for step in selection.steps] == [6, 4, 2]


def test_nan_drop_rule(friendly):
    selection = apply_cuts(friendly, paper_cuts(), nan_policy="drop")
    assert np.flatnonzero(selection.mask).tolist() == [2]
    assert _removed(selection) == [2, 4, 1]


def test_artifact_experiment_keeps_artifacts(friendly):
    selection = apply_cuts(friendly, paper_cuts(artifact=None))
    assert np.flatnonzero(selection.mask).tolist() == [2, 3, 4, 5]
    assert [step.name for step in selection.steps] == ["featureless", "edge-on"]


def test_thresholds_are_configurable(friendly):
    selection = apply_cuts(friendly, paper_cuts(smooth=0.4, edge_on=None, artifact=None))
    assert np.flatnonzero(selection.mask).tolist() == [1, 2, 5, 7]


def test_campaign_suffixed_columns(friendly):
    renamed = friendly.rename(
        columns=lambda c: c.replace("smooth-or-featured_", "smooth-or-featured-dr8_").replace(
            "disk-edge-on_", "disk-edge-on-dr8_"
        )
    )
    selection = apply_cuts(renamed, paper_cuts())
    assert np.flatnonzero(selection.mask).tolist() == [2, 4]
    assert selection.steps[0].column == "smooth-or-featured-dr8_smooth_fraction"
    both = renamed.assign(**{"smooth-or-featured-dr5_smooth_fraction": 0.1})
    with pytest.raises(InputError, match="ambiguous column for 'smooth-or-featured_smooth"):
        apply_cuts(both, paper_cuts())


def test_where_expressions_follow_the_cuts(friendly):
    selection = apply_cuts(friendly, paper_cuts(artifact=None), where=["ra >= 150"])
    assert np.flatnonzero(selection.mask).tolist() == [3, 4, 5]
    assert selection.steps[-1] == Step("where", "ra >= 150", None, removed=1, nan=0, left=3)
    with pytest.raises(
        InputError, match="--where 'mag_r < 17': names a column the catalogue does not have"
    ):
        apply_cuts(friendly, [], where=["mag_r < 17"])
    with pytest.raises(InputError, match="does not give one True/False per row"):
        apply_cuts(friendly, [], where=["ra * 2"])


def test_no_fractions_skips_morphology_cuts(friendly):
    selection = apply_cuts(friendly[["dr8_id", "ra"]], paper_cuts())
    assert selection.mask.all() and selection.steps == []
    assert "morphology cuts skipped" in selection.notes[0]


def test_bad_fraction_columns(friendly):
    with pytest.raises(
        InputError,
        match="no column 'disk-edge-on_yes_fraction' for the edge-on cut .*--edge-on-cut off",
    ):
        apply_cuts(friendly.drop(columns="disk-edge-on_yes_fraction"), paper_cuts())
    percent = friendly.assign(
        **{"smooth-or-featured_smooth_fraction": [60, 20, 20, 45, 45, 10, 50, 30]}
    )
    with pytest.raises(InputError, match="8 rows are outside \\[0, 1\\]"):
        apply_cuts(percent, paper_cuts())
    text = friendly.astype({"smooth-or-featured_artifact_fraction": object})
    text.loc[[1, 2], "smooth-or-featured_artifact_fraction"] = "n/a"
    with pytest.raises(
        InputError, match="'smooth-or-featured_artifact_fraction': 2 rows are not numbers"
    ):
        apply_cuts(text, paper_cuts())
    with pytest.raises(InputError, match="unknown NaN policy"):
        apply_cuts(friendly, paper_cuts(), nan_policy="ignore")


def test_custom_cut_on_any_column(friendly):
    cut = Cut("featured", "smooth-or-featured_featured-or-disk_fraction", 0.7)
    selection = apply_cuts(friendly, [cut])
    assert np.flatnonzero(selection.mask).tolist() == [0, 3, 4, 5, 6]
