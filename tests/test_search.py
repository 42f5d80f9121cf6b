"""`raregal search` end to end: outputs, planted recovery, repeatability, bad input."""

import hashlib
import importlib
import json

import numpy as np
import pandas as pd
import pytest

import raregal
from raregal.cli import main
from raregal.io.catalogue import join_predictions, load_representations
from raregal.measure.synthetic import planted_representations, recovery
from raregal.method.select import apply_cuts, paper_cuts

from .conftest import features_of

SMOOTH, EDGE, ARTIFACT = (
    "smooth-or-featured_smooth_fraction",
    "disk-edge-on_yes_fraction",
    "smooth-or-featured_artifact_fraction",
)
FEATURES = [f"feat_{i}" for i in range(16)]


@pytest.fixture(scope="module")
def run(planted, tmp_path_factory):
    """One seeded CLI search of the planted table, predictions in a separate file."""
    folder = tmp_path_factory.mktemp("search")
    planted[["id_str"] + FEATURES].to_parquet(folder / "reps.parquet")
    planted.drop(columns=FEATURES).to_csv(folder / "predictions.csv", index=False)
    code = main(
        [
            "search",
            str(folder / "reps.parquet"),
            "--predictions",
            str(folder / "predictions.csv"),
            "--out",
            str(folder / "run"),
            "--min-samples",
            "20",
            "--seed",
            "0",
            "--stability-seeds",
            "0",
            "--quiet",
        ]
    )
    assert code == 0  # --stability-seeds 0: the reruns are tested in test_credibility.py
    return folder


def _expected_kept(planted):
    """The paper's cuts, computed independently; NaN edge-on never cuts."""
    edge = planted[EDGE]
    return (
        (planted[SMOOTH] < 0.5) & (edge.isna() | (edge < 0.3)) & (planted[ARTIFACT] < 0.3)
    ).to_numpy()


def test_run_folder_contents(run, planted):
    out = run / "run"
    assert sorted(p.name for p in out.iterdir()) == [
        ".raregal-output.json",
        "class_members.vot",
        "classes.csv",
        "classes.fits",
        "classes.parquet",
        "condensed_tree.parquet",
        "neighbour_index",
        "neighbours.parquet",
        "run.json",
    ]
    kept = _expected_kept(planted)
    classes = pd.read_parquet(out / "classes.parquet")
    assert classes["id_str"].tolist() == planted["id_str"][kept].tolist()
    assert [c for c in classes.columns if c.startswith(("umap_", "map_"))] == [
        "umap_0",
        "umap_1",
        "umap_2",
        "umap_3",
        "umap_4",
        "map_x",
        "map_y",
    ]
    assert {SMOOTH, EDGE, ARTIFACT} <= set(classes.columns)
    n_classes = classes["class"].max() + 1
    assert n_classes >= 8
    assert set(classes["class"].unique()) == set(range(-1, n_classes))
    assert np.all(classes.loc[classes["class"] < 0, "probability"] == 0)

    summary = pd.read_csv(out / "classes.csv")
    assert summary["class"].tolist() == list(range(n_classes))
    assert summary["size"].tolist() == classes["class"].value_counts().sort_index()[1:].tolist()
    # 0 is possible: a leaf whose galaxies all leave it at its birth density (all
    # its core distances reach outside it) is still a leaf, so still a class.
    assert (summary["persistence"] >= 0).all() and (summary["persistence"] <= 1).all()
    assert (summary["persistence"] > 0).mean() > 0.5
    member = classes[classes["class"] == 0]
    assert summary.loc[0, SMOOTH] == pytest.approx(member[SMOOTH].mean())
    assert summary.loc[0, f"{SMOOTH}_diff"] == pytest.approx(
        member[SMOOTH].mean() - classes[SMOOTH].mean()
    )

    tree = pd.read_parquet(out / "condensed_tree.parquet")
    assert list(tree.columns) == ["parent", "child", "lambda_val", "child_size"]
    points = tree[tree["child"] < len(classes)]
    assert sorted(points["child"]) == list(range(len(classes)))
    assert set(summary["tree_node"]) <= set(tree["parent"])


def test_run_json_records_everything(run, planted):
    record = json.loads((run / "run" / "run.json").read_text())
    kept = int(_expected_kept(planted).sum())
    assert record["selection"]["rows_read"] == 1500
    assert record["selection"]["rows_searched"] == kept
    assert [s["name"] for s in record["selection"]["steps"]] == [
        "featureless",
        "edge-on",
        "artifact",
    ]
    assert 1500 - sum(s["removed"] for s in record["selection"]["steps"]) == kept
    params = record["parameters"]
    assert (params["n_neighbors"], params["n_components"]) == (50, 5)
    assert (params["min_samples_used"], params["min_cluster_size"]) == (20, 10)
    assert params["cluster_selection_method"] == "leaf" and params["backend_used"] == "cpu"
    # under 10,000 galaxies: umap-learn's spectral start and 500 epochs; the map 200
    assert (params["init_used"], params["n_epochs_used"], params["map_n_epochs"]) == (
        "spectral",
        500,
        200,
    )
    assert record["seed"] == 0
    digest = hashlib.sha256((run / "reps.parquet").read_bytes()).hexdigest()
    assert record["inputs"]["representations"]["sha256"] == digest
    assert record["inputs"]["representations"]["rows"] == 1500
    assert "sha256" in record["inputs"]["predictions"]
    assert {"umap-learn", "fast_hdbscan", "numpy", "python"} <= set(record["versions"])
    assert {"read", "select", "redundancy", "umap", "map", "hdbscan"} <= set(record["stages"])
    assert all(v["seconds"] >= 0 and v["peak_rss_mib"] > 0 for v in record["stages"].values())
    assert record["redundancy"]["dims"] == 16
    assert record["redundancy"]["components_for"]["0.99"] <= 16
    assert record["command"][:2] == ["raregal", "search"]


def test_rarity_is_the_10th_neighbour_distance_everywhere(run):
    out = run / "run"
    classes = pd.read_parquet(out / "classes.parquet")
    graph = pd.read_parquet(out / "neighbours.parquet")  # itself left out
    tenth = np.stack(graph["neighbour_distances"].to_numpy())[:, 9]
    np.testing.assert_allclose(classes["rarity"], tenth, rtol=1e-6)
    record = json.loads((out / "run.json").read_text())
    assert record["rarity"] == {
        "k": 10,
        "definition": "distance to the galaxy's 10th "
        "nearest neighbour in the searched representation (higher = "
        "rarer)",
    }
    from astropy.table import Table

    np.testing.assert_allclose(Table.read(out / "classes.fits")["rarity"], classes["rarity"])


def test_planted_groups_recovered(run, planted):
    classes = pd.read_parquet(run / "run" / "classes.parquet")
    truth = planted.set_index("id_str").loc[classes["id_str"], "planted"].to_numpy()
    result = recovery(truth, classes["class"].to_numpy())
    assert result["groups"] == 8
    assert result["recovered"] >= 7


def test_api_matches_cli_and_seed_repeats(run, planted):
    """The Python API on the same rows with the same seed gives the CLI's classes."""
    kept = _expected_kept(planted)
    # no map: it is laid out after the classes, which cannot depend on it
    finder = raregal.RareClassFinder(
        min_samples=20, seed=0, backend="cpu", stability_seeds=0, make_map=False
    )
    labels = finder.fit_predict(features_of(planted)[kept])
    classes = pd.read_parquet(run / "run" / "classes.parquet")
    np.testing.assert_array_equal(labels, classes["class"].to_numpy())
    np.testing.assert_array_equal(finder.embedding_, classes.filter(like="umap_").to_numpy())
    assert finder.get_params()["min_samples"] == 20


def test_existing_output_is_refused_and_untouched(run, capsys):
    before = (run / "run" / "run.json").read_bytes()
    code = main(["search", str(run / "reps.parquet"), "--out", str(run / "run"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists" in err and "--overwrite" in err
    assert (run / "run" / "run.json").read_bytes() == before


def test_overwrite_replaces_and_failure_writes_nothing(planted, tmp_path, monkeypatch):
    table = planted.iloc[:400]
    table.to_parquet(tmp_path / "reps.parquet")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".raregal-output.json").write_text('{"kind": "search"}')  # an earlier search
    (out / "stale.txt").write_text("from an older run")
    args = [
        "search",
        str(tmp_path / "reps.parquet"),
        "--out",
        str(out),
        "--overwrite",
        "--min-samples",
        "15",
        "--min-cluster-size",
        "300",
        "--seed",
        "1",
        "--quiet",
        "--stability-seeds",
        "0",
    ]

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importlib.import_module("raregal.method.search"), "class_summary", broken)
    with pytest.raises(RuntimeError):
        main(args)
    assert (out / "stale.txt").exists()  # the old run survives a failed one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reps.parquet", "run"]
    monkeypatch.undo()

    assert main(args) == 0
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reps.parquet", "run"]


def test_no_classes_is_a_normal_result(planted, tmp_path, capsys):
    """Two leaves of >= 300 cannot fit in 400 galaxies: no classes, exit 0."""
    table = planted.iloc[:400]
    table = table.drop(columns=[c for c in table.columns if c.endswith("_fraction")])
    table.to_parquet(tmp_path / "reps.parquet")
    code = main(
        [
            "search",
            str(tmp_path / "reps.parquet"),
            "--out",
            str(tmp_path / "run"),
            "--min-samples",
            "15",
            "--min-cluster-size",
            "300",
            "--seed",
            "1",
            "--stability-seeds",
            "0",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "no classes found among 400 galaxies" in err
    assert "morphology cuts skipped" in err
    classes = pd.read_parquet(tmp_path / "run" / "classes.parquet")
    assert len(classes) == 400 and (classes["class"] == -1).all()
    assert len(pd.read_csv(tmp_path / "run" / "classes.csv")) == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["result"]["classes"] == 0


def test_a_finder_without_a_map_writes_a_run_without_map_columns(planted, tmp_path):
    planted.iloc[:600].to_parquet(tmp_path / "reps.parquet")
    finder = raregal.RareClassFinder(min_samples=15, seed=0, make_map=False, stability_seeds=0)
    result = raregal.search(
        tmp_path / "reps.parquet", tmp_path / "run", finder=finder, verbose=False
    )
    assert "map_x" not in result.classes.columns
    assert len(raregal.SearchResult.read(tmp_path / "run").classes) == len(result.classes)


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", "bad.parquet: 2 rows have NaN or infinite features"),
        ("duplicate", "bad.parquet: 2 rows share an id"),
        ("no_id", "bad.parquet: no id column"),
        ("few_rows", "120 galaxies to search, not more than min_samples=300"),
        ("all_cut", "nothing left after the cuts: all 400 galaxies removed"),
        ("predictions", "preds.csv: 5 of 400 representation ids have no prediction row"),
        ("unreadable", "bad.parquet: cannot read as parquet"),
        ("pca", "--pca: must be between 1 and the 16 features, not 40"),
    ],
)
def test_bad_input_one_line_nonzero_nothing_written(planted, tmp_path, capsys, case, message):
    table = planted.iloc[:400].copy()
    extra = []
    if case == "nan":
        table.loc[[10, 20], "feat_3"] = np.nan
    elif case == "duplicate":
        table.loc[[7, 8], "id_str"] = "twin"
    elif case == "no_id":
        table = table.rename(columns={"id_str": "name"})
    elif case == "few_rows":
        table = table.iloc[:120].filter(regex="^(id_str|feat_.*)$")
        extra = ["--min-samples", "300"]  # the paper's, forced (the default scales to n)
    elif case == "all_cut":
        extra = ["--featureless-cut", "0"]
    elif case == "predictions":
        table.drop(columns=FEATURES).iloc[5:].to_csv(tmp_path / "preds.csv", index=False)
        extra = ["--predictions", str(tmp_path / "preds.csv")]
    elif case == "pca":
        extra = ["--pca", "40", "--min-samples", "20"]
    table.to_parquet(tmp_path / "bad.parquet")
    if case == "unreadable":
        (tmp_path / "bad.parquet").write_bytes(b"PAR1 truncated")
    code = main(
        ["search", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "run"), "--quiet", *extra]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("raregal: error: ") and "\n" not in err
    assert message in err
    assert not (tmp_path / "run").exists()
    assert not any(p.name.startswith(".rg-") for p in tmp_path.iterdir())  # nor a lock


def test_real_catalogue_as_predictions(data_dir, tmp_path):
    """GZ DECaLS vote table (real, with index-column quirks) joined to representations:
    it has no edge-on column, so that cut must be switched off, and the counts then
    match the same cuts done by hand."""
    votes = pd.read_csv(data_dir / "decals-fits-cutouts" / "panoptes.csv")
    rng = np.random.default_rng(0)
    reps = pd.DataFrame(
        rng.normal(size=(len(votes), 8)).astype(np.float32), columns=[f"feat_{i}" for i in range(8)]
    )
    reps.insert(0, "id_str", votes["id_str"].astype(str).to_numpy()[::-1])
    reps.to_parquet(tmp_path / "reps.parquet")
    loaded = load_representations(tmp_path / "reps.parquet")
    join_predictions(loaded, data_dir / "decals-fits-cutouts" / "panoptes.csv")
    with pytest.raises(raregal.InputError, match="--edge-on-cut off"):
        apply_cuts(loaded.columns, paper_cuts())
    selection = apply_cuts(loaded.columns, paper_cuts(edge_on=None))
    by_hand = votes[(votes[SMOOTH] < 0.5) & (votes[ARTIFACT] < 0.3)]
    assert 0 < len(by_hand) < len(votes)  # the cut keeps some rows and drops some
    assert selection.mask.sum() == len(by_hand)
    assert set(loaded.ids[selection.mask]) == set(by_hand["id_str"].astype(str))


@pytest.mark.slow
def test_real_galaxy_zoo_2_table_searched_as_is(data_dir, tmp_path):
    """The GZ2 labels file (unnamed index column, integer GalaxyID, dotted column
    names) searched on its vote fractions with a catalogue cut, straight from disk
    (100 layout epochs: the layout is tested elsewhere)."""
    labels = data_dir / "gz-kaggle-5000" / "labels.csv.gz"
    code = main(
        [
            "search",
            str(labels),
            "--features",
            "Class[2678].*",
            "--where",
            "`Class1.2` > 0.6",
            "--min-samples",
            "scaled",
            "--seed",
            "0",
            "--out",
            str(tmp_path / "run"),
            "--stability-seeds",
            "0",
            "--n-epochs",
            "100",
            "--quiet",
        ]
    )
    assert code == 0
    table = pd.read_csv(labels)
    expected = table.loc[table["Class1.2"] > 0.6, "GalaxyID"].astype(str).tolist()
    classes = pd.read_parquet(tmp_path / "run" / "classes.parquet")
    assert classes["GalaxyID"].tolist() == expected
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["parameters"]["min_samples_used"] == round(300 * np.sqrt(len(expected) / 632_000))
    assert record["selection"]["steps"][0]["rule"] == "`Class1.2` > 0.6"
    assert record["redundancy"]["dims"] == 14


@pytest.mark.slow
def test_seeded_search_is_identical_under_load(cpu_load, monkeypatch):
    """The seeded stages rerun bit for bit on a loaded machine: pynndescent's
    neighbours (made to run here from 4,096 rows, as above EXACT_NEIGHBOURS_MAX), the
    layout from a PCA start and HDBSCAN. (The map is umap-learn's serial seeded
    layout; the demo's rerun covers it.)"""
    monkeypatch.setattr(raregal.core.defaults, "EXACT_NEIGHBOURS_MAX", 4096)
    table = planted_representations(
        4500, dim=16, n_groups=6, group_size=(60, 90), tightness=0.03, seed=2
    )
    X = table.filter(like="feat_").to_numpy(np.float32)
    runs = [
        raregal.RareClassFinder(
            min_samples=20, init="pca", n_epochs=30, seed=0, backend="cpu", make_map=False
        ).fit(X)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].embedding_, runs[1].embedding_)
    np.testing.assert_array_equal(runs[0].labels_, runs[1].labels_)
    np.testing.assert_array_equal(
        runs[0].clustering_.condensed_tree, runs[1].clustering_.condensed_tree
    )
    assert runs[0].clustering_.n_classes >= 6
