"""--fit-sample (raregal.method.sample_fit): the layout fitted on a sample, every galaxy placed
from its nearest sample galaxies, in chunks, resumable and on Dask with the same numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.measure.synthetic import planted_representations, recovery
from raregal.method.run import SearchResult
from raregal.method.sample_fit import (
    SampleIndex,
    chunks,
    discard_parts,
    place_all,
    resolve_fit_sample,
)
from raregal.method.search import RareClassFinder

ROWS, SAMPLE = 3000, 1000


@pytest.fixture(scope="module")
def table():
    """3,000 galaxies, 16-d, six tight planted groups of 120-200."""
    return planted_representations(
        ROWS, dim=16, n_groups=6, group_size=(120, 200), tightness=0.02, fractions=False, seed=2
    )


def features_of(table):
    return table.filter(like="feat_").to_numpy(np.float32)


def fit(table, **settings):
    # seed 1: at seeds 0-59 the first test's assertions held at 57, with the layout's
    # arithmetic in single precision and in double alike; seed 0 is one of the three where
    # the layout splits one of the first five groups (issue 37's notes, sample_fit_seeds.py)
    settings = {"fit_sample": SAMPLE, "seed": 1, "stability_seeds": 1, "scales": 1, **settings}
    return RareClassFinder(**settings).fit(features_of(table))


@pytest.fixture(scope="module")
def finder(table):
    return fit(table)


def test_a_sample_fit_recovers_the_planted_groups(table, finder):
    # the full fit of the same table recovers 5 of the 6, in 32 s against 12 s (measured);
    # the sample's 15-neighbour UMAP splits one group of 40-67 sample members here, as
    # defaults.FIT_SAMPLE_N_NEIGHBORS, chosen at 300k for groups of 4-30 in the sample, says
    found = recovery(table["planted"].to_numpy(), finder.labels_)
    assert found["recovered"] >= 4, found
    assert min(found["completeness"][:5]) == 1.0
    assert finder.fit_sample_ == SAMPLE and len(finder.sample_rows_) == SAMPLE
    assert finder.embedding_.shape == (ROWS, defaults.UMAP_N_COMPONENTS)
    assert finder.map_.shape == (ROWS, 2) and np.isfinite(finder.map_).all()
    # the planted groups' classes are credible, measured at the sample's density
    credible = finder.credibility_.table["credible"].to_numpy()
    assert credible.sum() >= 4
    assert not np.isnan(finder.credibility_.table["stability"]).any()  # reruns ran


def test_the_graph_is_each_galaxy_then_its_nearest_sample_galaxies(table, finder):
    indices, distances = finder.neighbours_
    assert indices.shape == (ROWS, defaults.UMAP_N_NEIGHBORS)
    assert (indices[:, 0] == np.arange(ROWS)).all() and (distances[:, 0] == 0).all()
    assert np.isin(indices[:, 1:], finder.sample_rows_).all()
    assert (indices[:, 1:] != np.arange(ROWS)[:, None]).all()
    assert (np.diff(distances, axis=1) >= 0).all()
    X = features_of(table)
    exact = np.linalg.norm(X[indices[5, 1:]] - X[5], axis=1)
    np.testing.assert_allclose(distances[5, 1:], exact, rtol=1e-5)
    np.testing.assert_array_equal(finder.rarity_, distances[:, defaults.RARITY_K])
    # a sample galaxy keeps its fitted place; the others lie among their neighbours'
    inside = ~np.isin(np.arange(ROWS), finder.sample_rows_)
    near = finder.embedding_[indices[inside, 1:]]
    placed = finder.embedding_[inside]
    assert ((placed >= near.min(axis=1) - 1e-5) & (placed <= near.max(axis=1) + 1e-5)).all()


def test_a_seeded_sample_fit_is_identical_across_runs(table, finder):
    again = fit(table)
    np.testing.assert_array_equal(again.sample_rows_, finder.sample_rows_)
    np.testing.assert_array_equal(again.labels_, finder.labels_)
    np.testing.assert_array_equal(again.embedding_, finder.embedding_)
    np.testing.assert_array_equal(again.map_, finder.map_)
    for ours, theirs in zip(again.neighbours_, finder.neighbours_):
        np.testing.assert_array_equal(ours, theirs)
    pd.testing.assert_frame_equal(again.credibility_.table, finder.credibility_.table)


@pytest.mark.parametrize(
    "exact",
    [True, pytest.param(False, marks=pytest.mark.slow)],
    ids=["exact-index", "nndescent-index"],
)
def test_dask_places_exactly_as_one_process(table, finder, exact, monkeypatch):
    from dask.distributed import Client, LocalCluster

    monkeypatch.setattr(defaults, "FIT_SAMPLE_CHUNK", 700)  # five chunks
    if not exact:
        monkeypatch.setattr(defaults, "EXACT_NEIGHBOURS_MAX", 100)
    X, rows = features_of(table), finder.sample_rows_
    index = SampleIndex(X[rows], defaults.UMAP_N_NEIGHBORS, seed=0)
    assert (index.index is None) == exact
    layouts = [finder.embedding_[rows], finder.map_[rows]]
    alone = place_all(X, rows, index, layouts)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        spread = place_all(X, rows, index, layouts, client=client)
    for ours, theirs in zip((*alone[0], *alone[1]), (*spread[0], *spread[1])):
        np.testing.assert_array_equal(ours, theirs)
    if exact:  # the search's own placing, whose index was exact at this size
        np.testing.assert_array_equal(alone[1][0], finder.embedding_)


def test_placing_resumes_from_the_chunks_written(table, finder, tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "FIT_SAMPLE_CHUNK", 700)
    X, rows = features_of(table), finder.sample_rows_
    index = SampleIndex(X[rows], defaults.UMAP_N_NEIGHBORS, seed=0)
    layouts = [finder.embedding_[rows]]
    first = place_all(X, rows, index, layouts, parts=tmp_path / "run.parts")
    folder = first[2]
    parts = sorted(folder.glob("part-*.npz"))
    assert len(parts) == len(chunks(ROWS)) == 5 and first[3] == 0
    parts[1].unlink()  # never written: the run stopped before it
    parts[3].write_bytes(b"cut short")  # unreadable: done again
    again = place_all(X, rows, index, layouts, parts=tmp_path / "run.parts")
    assert again[3] == 3
    for ours, theirs in zip((*first[0], *first[1]), (*again[0], *again[1])):
        np.testing.assert_array_equal(ours, theirs)
    (tmp_path / "run.parts" / "mine.txt").write_text("not raregal's")
    discard_parts(folder)
    assert not folder.exists() and (tmp_path / "run.parts" / "mine.txt").exists()


def test_auto_turns_the_sample_on_above_its_size_and_bad_sizes_get_one_line():
    assert resolve_fit_sample("auto", defaults.FIT_SAMPLE_AUTO_MIN - 1, 50) is None
    assert resolve_fit_sample("auto", defaults.FIT_SAMPLE_AUTO_MIN, 50) == defaults.FIT_SAMPLE_SIZE
    assert resolve_fit_sample(None, 10**7, 50) is None
    assert resolve_fit_sample(1000, 1000, 50) is None  # the whole table: a full fit
    with pytest.raises(InputError, match="--fit-sample 1001: more than the 1000 galaxies"):
        resolve_fit_sample(1001, 1000, 50)
    with pytest.raises(InputError, match="--fit-sample 50: not more than n_neighbors=50"):
        resolve_fit_sample(50, 1000, 50)


@pytest.fixture(scope="module")
def survey_files(tmp_path_factory):
    """The published GZ DESI layout, small: feat_pca_* representations and a separate
    friendly catalogue (bench/survey.py's path at 4,000 rows)."""
    root = tmp_path_factory.mktemp("survey")
    table = planted_representations(
        4000, dim=40, n_groups=5, group_size=(100, 150), tightness=0.02, seed=3
    )
    features = table.filter(like="feat_")
    reps = pd.concat(
        [table[["id_str"]], features.rename(columns=lambda c: c.replace("feat_", "feat_pca_"))],
        axis=1,
    )
    friendly = (
        table.drop(columns=[*features.columns, "planted"])
        .rename(columns={"id_str": "dr8_id"})
        .sample(frac=1, random_state=0)
    )
    reps.to_parquet(root / "representations.parquet", index=False)
    friendly.to_parquet(root / "friendly.parquet", index=False)
    return root, table


def test_the_survey_path_reads_cuts_searches_on_a_sample_and_writes(survey_files):
    root, table = survey_files
    out = root / "run"
    assert (
        main(
            [
                "search",
                str(root / "representations.parquet"),
                "--predictions",
                str(root / "friendly.parquet"),
                "--fit-sample",
                "800",
                "--seed",
                "0",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    result = SearchResult.read(out)
    run = result.run
    searched = run.selection["rows_searched"]
    assert 800 < searched < 4000  # the cuts removed part of the bulk
    assert run.parameters["fit_sample_used"] == 800
    assert run.fit_sample["size"] == 800 and run.fit_sample["placed"] == searched - 800
    assert "among the 800 galaxies of the fit sample" in run.rarity["definition"]
    assert (out / "neighbours.parquet").is_file()
    assert not (root / "run.parts").exists()  # the chunks go once the run is written
    truth = table.set_index("id_str")["planted"].loc[result.classes["id_str"]].to_numpy()
    assert recovery(truth, result.classes["class"].to_numpy())["recovered"] >= 4


def test_the_run_reader_checks_the_fit_sample_recorded(survey_files, tmp_path):
    import shutil

    root, _ = survey_files
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    record = json.loads((run / "run.json").read_text())
    record["parameters"]["fit_sample_used"] = 1
    (run / "run.json").write_text(json.dumps(record))
    with pytest.raises(InputError, match="'parameters.fit_sample_used' must be"):
        SearchResult.read(run)


@pytest.mark.slow
def test_a_search_on_dask_workers_equals_one_process(survey_files, tmp_path):
    from raregal.method.search import search

    root, _ = survey_files
    runs = []
    for name, workers in (("alone", None), ("dask", 2)):
        runs.append(
            search(
                root / "representations.parquet",
                tmp_path / name,
                predictions=root / "friendly.parquet",
                verbose=False,
                finder=RareClassFinder(fit_sample=800, seed=0, scales=1),
                dask_workers=workers,
            )
        )
    columns = [c for c in runs[0].classes.columns]
    pd.testing.assert_frame_equal(runs[0].classes[columns], runs[1].classes[columns])
    assert runs[1].run.fit_sample["dask"] and not runs[0].run.fit_sample["dask"]
