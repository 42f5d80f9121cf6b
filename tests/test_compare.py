"""raregal compare: matching two partitions of the same galaxies."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.core.params import ParameterError
from raregal.measure.compare import compare_labels, compare_runs, shared_labels
from raregal.method.matching import best_match_jaccard, contingency


def test_contingency_counts_every_pair():
    a = np.array([-1, 0, 0, 1, 1, 1])
    b = np.array([0, 0, -1, 1, 1, -1])
    table = contingency(a, b)
    assert table.shape == (3, 3)
    assert table.sum() == 6
    assert table[1, 1] == 1 and table[1, 0] == 1 and table[2, 2] == 2 and table[2, 0] == 1
    assert table[0, 1] == 1


def test_best_match_jaccard_on_known_partitions():
    # A's class 0 = rows 0-9, class 1 = rows 10-19; B keeps 0-7 together, splits 10-19
    a = np.repeat([0, 1, -1], 10)
    b = np.concatenate([np.zeros(8), -np.ones(2), np.ones(5), np.full(5, 2), -np.ones(10)])
    jaccard, match = best_match_jaccard(a, b.astype(int))
    assert match.tolist() == [0, 1]
    assert jaccard == pytest.approx([8 / 10, 5 / 10])


def test_ari_is_sklearns_and_identical_partitions_match_fully():
    rng = np.random.default_rng(0)
    a = rng.integers(-1, 5, size=500)
    b = np.where(rng.random(500) < 0.8, a, rng.integers(-1, 5, size=500))
    result = compare_labels(a, b)
    assert result.record["ari"] == pytest.approx(adjusted_rand_score(a, b))
    both = (a >= 0) & (b >= 0)
    assert result.record["ari_in_classes"] == pytest.approx(adjusted_rand_score(a[both], b[both]))
    assert result.contingency["galaxies"].sum() == 500
    same = compare_labels(a, a)
    assert same.record["ari"] == 1.0
    assert same.matches["jaccard"].tolist() == [1.0] * 5
    assert same.record["found_by_both"] == 5
    # relabelling B's classes changes nothing but the class numbers
    permuted = np.where(a >= 0, (a + 2) % 5, -1)
    moved = compare_labels(a, permuted)
    assert moved.matches["match_class"].tolist() == [2, 3, 4, 0, 1]
    assert moved.record["ari"] == pytest.approx(1.0)


def test_shared_labels_aligns_on_ids():
    a, b = shared_labels(["x", "y", "z"], [0, 1, -1], ["z", "w", "x"], [5, 6, 7])
    assert a.tolist() == [0, -1] and b.tolist() == [7, 5]
    with pytest.raises(InputError, match="share no galaxy ids"):
        shared_labels(["x"], [0], ["q"], [0])
    with pytest.raises(InputError, match="B: 1 galaxy ids appear twice"):
        shared_labels(["x", "y"], [0, 0], ["x", "x"], [0, 0])


@pytest.fixture
def two_runs(tmp_path):
    from tests.run_folders import small_run

    ids = [f"g{i:03d}" for i in range(60)]
    labels_a = [0] * 20 + [1] * 20 + [-1] * 20
    labels_b = [1] * 20 + [0] * 10 + [-1] * 30  # B has A's class 0 as its class 1
    small_run(tmp_path / "a", ids, labels_a)
    # B's rows in the opposite order: matching goes by id
    small_run(tmp_path / "b", ids[::-1], labels_b[::-1])
    return tmp_path / "a", tmp_path / "b"


def test_cli_writes_tables_and_summary(two_runs, tmp_path, capsys):
    run_a, run_b = two_runs
    assert main(["compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "60 shared galaxies" in printed
    matches = pd.read_csv(tmp_path / "cmp" / "matches.csv")
    assert matches["match_class"].tolist() == [1, 0]
    assert matches["jaccard"].tolist() == pytest.approx([1.0, 0.5])
    assert matches["also_found"].tolist() == [True, True]
    record = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert record["found_by_both"] == 2 and record["shared_galaxies"] == 60
    assert (tmp_path / "cmp" / "contingency.csv").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "{a}", "{missing}"], "no such run folder"),
        (["compare", "{a}", "{notrun}"], "not a raregal run folder"),
        (
            ["compare", "{a}", "{b}", "--also-found-at", "0"],
            "--also-found-at: must be a number in (0, 1], not 0",
        ),
        (["compare", "{a}", "{b}", "--also-found-at", "nan"], "--also-found-at: must be a number"),
        (["compare", "{a}", "{b}", "--out", "{a}"], "raregal never writes over its inputs"),
    ],
)
def test_bad_input_one_line(two_runs, tmp_path, capsys, argv, message):
    run_a, run_b = two_runs
    (tmp_path / "notrun").mkdir()
    paths = {"a": run_a, "b": run_b, "missing": tmp_path / "absent", "notrun": tmp_path / "notrun"}
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([arg.format(**paths) for arg in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_api_checks_also_found_at_before_reading(two_runs):
    run_a, run_b = two_runs
    for bad in (0, 1.5, float("inf"), True):
        with pytest.raises(ParameterError, match="also_found_at") as caught:
            compare_runs(run_a, run_b, also_found_at=bad)
        assert caught.value.parameter == "also_found_at"
    # 1 is allowed: only identical classes count
    assert compare_runs(run_a, run_b, also_found_at=1).record["found_by_both"] == 1
