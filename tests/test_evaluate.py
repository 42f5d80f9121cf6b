"""`raregal evaluate`: enrichment, its permutation null and the hypergeometric test
against values computed by hand; types, presets, the id join and bad input."""

from math import comb

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.measure.evaluate import (
    PRESETS,
    benjamini_hochberg,
    class_letters,
    evaluate_labels,
    parse_types,
    read_labels,
    type_flags,
    with_letters,
)

from .run_folders import small_run

# 20 galaxies: class 0 and 1 have 5 members, class 2 has 4 (below the minimum size
# of 5), 6 are in no class. Type "a": 3 in class 0, 2 in class 2, 1 outside (K=6).
# Type "b": all of class 1 (K=5).
CLASSES = np.array([0] * 5 + [1] * 5 + [2] * 4 + [-1] * 6)
A = np.array([1, 1, 1, 0, 0] + [0] * 5 + [1, 1, 0, 0] + [1, 0, 0, 0, 0, 0], dtype=bool)
B = np.array([0] * 5 + [1] * 5 + [0] * 4 + [0] * 6, dtype=bool)


def upper_tail(k, n, K, N=20):
    """P(X >= k), X ~ Hypergeom(N, K, n), by counting."""
    return sum(comb(K, j) * comb(N - K, n - j) for j in range(k, min(n, K) + 1)) / comb(N, n)


@pytest.fixture(scope="module")
def hand():
    flags = pd.DataFrame({"a": A, "b": B})
    return evaluate_labels(CLASSES, flags, min_class_size=5, permutations=20000, seed=3)


def test_best_class_enrichment_by_hand(hand):
    a = hand.types.set_index("type").loc["a"]
    assert a["positives"] == 6 and a["galaxies"] == 20
    assert a["base_rate"] == pytest.approx(0.3)
    # class 2 (purity 0.5) is too small; class 0 (3 of 5) is the best eligible one
    assert a["best_class"] == 0 and a["best_size"] == 5 and a["best_hits"] == 3
    assert a["best_purity"] == pytest.approx(0.6)
    assert a["best_completeness"] == pytest.approx(0.5)
    assert a["enrichment"] == pytest.approx(2.0)
    assert a["eligible_classes"] == 2 and a["dominated_classes"] == 1
    b = hand.types.set_index("type").loc["b"]
    assert (b["best_class"], b["best_purity"], b["best_completeness"]) == (1, 1.0, 1.0)
    assert b["enrichment"] == pytest.approx(4.0)


def test_permutation_null_matches_exact_distribution(hand):
    # Under shuffling, (k0, k1, rest) is multivariate hypergeometric: the best purity
    # max(k0, k1)/5 has CDF 0.21 at 1/5, 0.74 at 2/5, 0.972 at 3/5, 0.9992 at 4/5, so
    # its median, 95th and 99th percentiles are 0.4, 0.6 and 0.8 (/ base rate 0.3).
    a = hand.types.set_index("type").loc["a"]
    assert a["null_median"] == pytest.approx(0.4 / 0.3)
    assert a["null_p95"] == pytest.approx(0.6 / 0.3)
    assert a["null_p99"] == pytest.approx(0.8 / 0.3)
    # P(max >= 3) = 2 P(k0 >= 3) - P(k0 = k1 = 3)
    exact = 2 * upper_tail(3, 5, 6) - comb(5, 3) ** 2 / comb(20, 6)
    assert exact == pytest.approx(0.26006, abs=1e-5)
    assert a["p_value"] == pytest.approx(exact, abs=0.012)  # 4 sigma of 20,000 draws


def test_hypergeometric_and_benjamini_hochberg_by_hand(hand):
    table = hand.classes.set_index(["type", "class"])
    p = {
        ("a", 0): upper_tail(3, 5, 6),
        ("a", 1): 1.0,
        ("a", 2): upper_tail(2, 4, 6),
        ("b", 0): 1.0,
        ("b", 1): 1 / comb(20, 5),
        ("b", 2): 1.0,
    }
    assert p[("a", 0)] == pytest.approx(2036 / 15504)
    assert p[("a", 2)] == pytest.approx(1660 / 4845)
    for key, value in p.items():
        assert table.loc[key, "p"] == pytest.approx(value)
    # six tests sorted: 1/15504, 0.1313, 0.3426, 1, 1, 1 -> q = p * 6 / rank
    assert table.loc[("b", 1), "q"] == pytest.approx(6 / 15504)
    assert table.loc[("a", 0), "q"] == pytest.approx(p[("a", 0)] * 6 / 2)
    assert table.loc[("a", 2), "q"] == pytest.approx(p[("a", 2)] * 6 / 3)
    assert table["significant"].tolist().count(True) == 1
    types = hand.types.set_index("type")
    assert types.loc["b", "in_significant"] == 5 and types.loc["b", "in_significant_share"] == 1
    assert types.loc["a", "in_significant"] == 0
    assert hand.dominated == 2  # class 0 by a (60%), class 1 by b (100%)
    assert hand.in_classes == pytest.approx(14 / 20)


def test_credible_against_dropped_by_hand():
    """Class 0 credible: a has 3 of its 5 (0.6 / 0.3 = 2.0x) against 2 of the other 9
    members (0.741x); b has none of its 5 against 5 of 9 (0 and 2.222x). A credible
    class past the last labelled one counts as a class but adds no members."""
    flags = pd.DataFrame({"a": A, "b": B})
    for credible in ([True, False, False], [True, False, False, True]):
        result = evaluate_labels(
            CLASSES, flags, min_class_size=5, permutations=10, credible=np.array(credible)
        )
        types = result.types.set_index("type")
        assert types["credible_classes"].tolist() == [sum(credible)] * 2
        assert types["in_credible"].tolist() == [3, 0]
        assert types["credible_enrichment"].tolist() == pytest.approx([2.0, 0.0])
        assert types["dropped_enrichment"].tolist() == pytest.approx([2 / 9 / 0.3, 5 / 9 / 0.25])
        assert result.classes.set_index(["type", "class"])["credible"].to_dict() == {
            (t, c): c == 0 for t in "ab" for c in range(3)
        }
    # none credible: nothing to pool on that side; without the rule, no columns at all
    none = evaluate_labels(CLASSES, flags, permutations=10, credible=np.zeros(3, bool))
    assert none.types["credible_enrichment"].isna().all()
    assert none.types["dropped_enrichment"].tolist() == pytest.approx([5 / 14 / 0.3, 5 / 14 / 0.25])
    plain = evaluate_labels(CLASSES, flags, permutations=10)
    assert "credible_enrichment" not in plain.types and "credible" not in plain.classes


def test_benjamini_hochberg_keeps_monotone_order():
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.20]))
    # sorted 0.01, 0.03, 0.04, 0.20 -> p*4/rank = 0.04, 0.06, 0.0533, 0.20; the 0.06 is
    # lowered to the 0.0533 above it
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])


def test_shuffled_labels_show_the_trap():
    """Many small classes: the best class is several-fold enriched by chance, and
    the null says so (p is not small)."""
    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(300), 10)  # 3,000 galaxies in 300 classes of 10
    flag = rng.random(3000) < 0.02
    result = evaluate_labels(classes, pd.DataFrame({"rare": flag}), permutations=300, seed=1)
    row = result.types.iloc[0]
    assert row["enrichment"] >= 5  # 2 or 3 hits in a class of 10 against a 2% rate
    assert row["null_median"] >= 5
    assert row["p_value"] > 0.05


def test_types_thresholds_expressions_and_presets(data_dir):
    labels = pd.read_csv(data_dir / "gz-kaggle-5000" / "labels.csv.gz")
    flags = type_flags(
        labels, parse_types(["Class6.1>0.5", "spiky=`Class1.3` >= 0.3"], ["gz2-odd"])
    )
    counts = flags.sum()
    # the counts of tests/data/README.md (all 5,000 galaxies)
    assert counts[["merger", "ring", "irregular", "other", "disturbed", "artifact"]].tolist() == [
        159,
        97,
        82,
        78,
        13,
        9,
    ]
    assert counts["Class6.1"] == int((labels["Class6.1"] > 0.5).sum())
    assert counts["spiky"] == int((labels["Class1.3"] >= 0.3).sum()) == counts["artifact"]
    assert set(PRESETS["gz2-odd"]) <= set(flags.columns)
    with pytest.raises(InputError, match="presets: 'gz3' is not one of"):
        parse_types([], ["gz3"])
    with pytest.raises(InputError, match="cannot evaluate type 'bad'"):
        type_flags(labels, {"bad": "`Class9.9` > 1"})
    with pytest.raises(InputError, match="type .sum. .*does not give one True/False per row"):
        type_flags(labels, {"sum": "`Class1.1` + 1"})


def test_labels_join_on_string_ids(tmp_path):
    pd.DataFrame({"GalaxyID": [100008, 100023, 100053], "x": [1, 2, 3]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    notes = []
    matched, rows = read_labels(
        tmp_path / "labels.csv", ["100023", "999", "100008"], say=notes.append
    )
    assert matched.tolist() == [True, False, True] and rows["x"].tolist() == [2, 1]
    assert notes == ["labels.csv: 1 of 3 searched galaxies have no label row and are left out"]
    with pytest.raises(InputError, match="none of the run's 2 ids"):
        read_labels(tmp_path / "labels.csv", ["a", "b"])


def _run_folder(path, classes, ids):
    small_run(path, ids, classes)
    return path


def test_cli_side_by_side(tmp_path, capsys):
    ids = [str(100000 + i) for i in range(20)]
    model = _run_folder(tmp_path / "model", CLASSES, ids)
    pixels = _run_folder(tmp_path / "pixels", np.where(CLASSES == 1, -1, CLASSES), ids)
    pd.DataFrame(
        {"GalaxyID": [int(i) for i in ids], "fa": A.astype(float), "fb": B.astype(float)}
    ).to_csv(tmp_path / "labels.csv")
    code = main(
        [
            "evaluate",
            str(model),
            str(pixels),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--type",
            "a=fa > 0.5",
            "--type",
            "fb>0.5",
            "--permutations",
            "200",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "eval" / "evaluation.csv")
    assert table[["run", "type"]].values.tolist() == [
        ["model", "a"],
        ["model", "fb"],
        ["pixels", "a"],
        ["pixels", "fb"],
    ]
    assert table["enrichment"].tolist() == pytest.approx([2.0, 4.0, 2.0, 0.0])
    assert table["in_classes"].tolist() == pytest.approx([0.7, 0.7, 0.45, 0.45])
    # classes are named by the report's letters (persistence order: 0, 1, 2 = A, B, C)
    assert table["best_letter"].tolist() == ["A", "B", "A", "A"]
    per_class = pd.read_csv(tmp_path / "eval" / "class_enrichment.csv", keep_default_na=False)
    assert list(per_class.columns[:4]) == ["run", "type", "class", "letter"]
    assert dict(zip(per_class["class"], per_class["letter"])) == {0: "A", 1: "B", 2: "C"}
    printed = capsys.readouterr().out
    assert "A (5)" in printed and "B (5)" in printed and "0 (5)" not in printed
    assert printed == (tmp_path / "eval" / "summary.txt").read_text()
    assert "model" in printed and "pixels" in printed and "2.0x" in printed
    assert {p.name for p in (tmp_path / "eval").iterdir()} == {
        "evaluation.csv",
        "class_enrichment.csv",
        "summary.txt",
        "evaluation.json",
        ".raregal-output.json",
    }


def test_cli_reads_the_runs_credible_classes(tmp_path, capsys):
    ids = [str(100000 + i) for i in range(20)]
    run = small_run(tmp_path / "plain", ids, CLASSES)
    run.summary["credible"] = [False, True, False]
    run.write(tmp_path / "ruled")
    pd.DataFrame({"GalaxyID": [int(i) for i in ids], "fb": B.astype(float)}).to_csv(
        tmp_path / "labels.csv"
    )
    code = main(
        [
            "evaluate",
            str(tmp_path / "ruled"),
            str(tmp_path / "plain"),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--type",
            "b=fb > 0.5",
            "--permutations",
            "10",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "eval" / "evaluation.csv").set_index("run")
    # class 1 (all of b) is the credible one: 5/5 / 0.25 against 0/9
    assert table.loc["ruled", ["credible_classes", "in_credible"]].tolist() == [1, 5]
    assert table.loc[
        "ruled", ["credible_enrichment", "dropped_enrichment"]
    ].tolist() == pytest.approx([4.0, 0.0])
    assert table.loc["plain", ["credible_classes", "credible_enrichment"]].isna().all()
    assert "credible/dropped" in capsys.readouterr().out


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    model = _run_folder(tmp_path / "model", CLASSES, [f"g{i}" for i in range(20)])
    pd.DataFrame({"id_str": ["x", "y"], "fa": [1, 0]}).to_csv(tmp_path / "labels.csv")
    code = main(
        ["evaluate", str(model), "--labels", str(tmp_path / "labels.csv"), "--type", "fa>0"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("raregal: error: labels.csv: none of the run's 20 ids")
    code = main(
        ["evaluate", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), "--type", "fa>0"]
    )
    assert (
        code == 2 and "not a raregal run folder, missing classes.parquet" in capsys.readouterr().err
    )


def test_letters_follow_the_reports_order():
    summary = pd.DataFrame(
        {
            "class": [0, 1, 2],
            "size": [5, 5, 4],
            "persistence": [0.1, 0.5, 0.3],
            "tree_node": [21, 22, 23],
        }
    )
    letters = class_letters(summary)
    assert letters == {1: "A", 2: "B", 0: "C"}
    named = with_letters(
        evaluate_labels(CLASSES, pd.DataFrame({"a": A}), min_class_size=5, permutations=10), letters
    )
    assert named.types.loc[0, ["best_class", "best_letter"]].tolist() == [0, "C"]
    assert named.classes["letter"].tolist() == ["C", "A", "B"]


def test_no_classes_and_absent_types_give_no_best_class():
    flags = pd.DataFrame({"some": [True, False, True, False], "none": False})
    result = evaluate_labels(np.full(4, -1), flags, permutations=10)
    table = result.types.set_index("type")
    assert table["best_class"].tolist() == [-1, -1]
    assert table["enrichment"].isna().all() and table["p_value"].isna().all()
    assert table["in_significant"].tolist() == [0, 0]
    assert result.dominated == 0 and result.in_classes == 0
    # a type with no members in a run that has classes: nothing to find, no null
    result = evaluate_labels(
        np.array([0, 0, 0, 0, 0, -1]), pd.DataFrame({"none": [False] * 6}), permutations=10
    )
    row = result.types.iloc[0]
    assert row["best_class"] == -1 and np.isnan(row["null_median"]) and row["base_rate"] == 0


# --- missing and mistyped labels (issue 39) ------------------------------------------


def test_a_missing_label_leaves_the_galaxy_out_of_that_type_only():
    unknown = np.zeros(20, bool)
    unknown[[0, 5, 14]] = True  # type a's hits in class 0 and outside, a class-1 row
    flags = pd.DataFrame({"a": pd.array(np.where(unknown, None, A), dtype="boolean"), "b": B})
    result = evaluate_labels(CLASSES, flags, min_class_size=4, permutations=200, seed=3)
    kept = evaluate_labels(
        CLASSES[~unknown],
        pd.DataFrame({"a": A[~unknown]}),
        min_class_size=4,
        permutations=200,
        seed=3,
    )
    a = result.types.set_index("type").loc["a"]
    assert (a["galaxies"], a["unlabelled"], a["positives"]) == (17, 3, 4)
    # class 0 now holds 2 hits of 4 labelled members, as class 2: the lower number wins
    assert a["base_rate"] == pytest.approx(4 / 17)
    assert (a["best_class"], a["best_size"], a["best_purity"]) == (0, 4, 0.5)
    columns = [c for c in kept.types.columns if c not in ("type", "unlabelled")]
    assert a[columns].astype(float).to_dict() == pytest.approx(
        kept.types.iloc[0][columns].astype(float).to_dict(), nan_ok=True
    )  # same as removed
    b = result.types.set_index("type").loc["b"]
    assert (b["galaxies"], b["unlabelled"], b["positives"]) == (20, 0, 5)


def test_types_mark_missing_values_and_refuse_text_among_numbers():
    labels = pd.DataFrame(
        {
            "x": [0.9, np.nan, 0.2, 0.7],
            "y": [1.0, 1.0, np.nan, 0.0],
            "morph": ["ring", None, "spiral", "ring"],
        },
        index=["g0", "g1", "g2", "g3"],
    )
    flags = type_flags(
        labels,
        {"x>0.5": "x>0.5", "both": "x > 0.5 and y > 0.5", "ring": "morph == 'ring'", "y": "y>=0"},
    )
    assert flags["x>0.5"].tolist() == [True, pd.NA, False, True]
    assert flags["both"].tolist() == [True, pd.NA, pd.NA, False]
    assert flags["ring"].tolist() == [True, pd.NA, False, True]
    assert flags["y"].tolist() == [True, True, pd.NA, True]
    typo = labels.assign(x=["0.9", "n/a", "0.2", "0.7"])
    for spec in ("x>0.5", "x > 0.5 and y > 0.5"):
        with pytest.raises(
            InputError,
            match=r"labels: cannot evaluate type 't' .*: column "
            r"'x' holds text for 1 of 4 labelled galaxies "
            r"\(first: id 'g1', 'n/a'\), not numbers",
        ):
            type_flags(typo, {"t": spec})
    with pytest.raises(InputError, match="column 'morph' holds text for 3 of 4"):
        type_flags(labels, {"t": "morph>0"})


def test_cli_counts_the_galaxies_a_type_leaves_out(tmp_path, capsys):
    ids = [str(100000 + i) for i in range(20)]
    model = _run_folder(tmp_path / "model", CLASSES, ids)
    fa = np.where(np.arange(20) < 3, np.nan, A.astype(float))  # rows 0-2 unlabelled
    pd.DataFrame({"GalaxyID": [int(i) for i in ids], "fa": fa, "fb": B.astype(float)}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    code = main(
        [
            "evaluate",
            str(model),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--type",
            "a=fa > 0.5",
            "--type",
            "fb>0.5",
            "--permutations",
            "20",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "eval" / "evaluation.csv").set_index("type")
    assert table.loc["a", ["galaxies", "unlabelled", "positives"]].tolist() == [17, 3, 3]
    assert table.loc["fb", ["galaxies", "unlabelled", "positives"]].tolist() == [20, 0, 5]
    assert (
        "model: type 'a': 3 of 20 labelled galaxies have no value in a column it names "
        "and are left out of its statistics" in capsys.readouterr().err
    )
    pd.DataFrame({"GalaxyID": [int(i) for i in ids], "fa": ["yes"] + ["0"] * 19}).to_csv(
        tmp_path / "text.csv", index=False
    )
    code = main(
        [
            "evaluate",
            str(model),
            "--labels",
            str(tmp_path / "text.csv"),
            "--type",
            "fa>0.5",
            "--out",
            str(tmp_path / "eval2"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and not (tmp_path / "eval2").exists()
    assert err.endswith(
        "text.csv: cannot evaluate type 'fa' (fa>0.5): column 'fa' holds "
        "text for 1 of 20 labelled galaxies (first: id '100000', 'yes'), "
        "not numbers"
    )
