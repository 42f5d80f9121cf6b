"""The run folder's neighbour index (raregal.method.neighbour_index): what the search keeps,
read back through the run reader, used by the explorer and rank, refused in one line
when damaged."""

import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import NearestNeighbors

from raregal.core.errors import InputError
from raregal.measure.synthetic import planted_representations
from raregal.method.neighbour_index import FOLDER, NeighbourIndex
from raregal.method.run import SearchResult
from raregal.method.search import RareClassFinder, search

from .run_folders import small_run


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """(run folder, representation table) of a small seeded search."""
    folder = tmp_path_factory.mktemp("index")
    table = planted_representations(400, dim=8, n_groups=3, group_size=(30, 40), seed=2)
    table.to_parquet(folder / "reps.parquet")
    search(
        folder / "reps.parquet",
        folder / "run",
        verbose=False,
        finder=RareClassFinder(
            n_neighbors=12,
            init="pca",
            n_epochs=30,
            min_samples=10,
            seed=0,
            stability_seeds=0,
            scales=1,
        ),
    )
    return folder / "run", table


def features_in_run_order(run, table):
    classes = pd.read_parquet(run / "classes.parquet")
    return (
        table.set_index("id_str").loc[classes["id_str"]].filter(like="feat_").to_numpy(np.float32)
    )


def test_index_queries_equal_a_fresh_exact_search(searched):
    """Every galaxy's neighbours read from the run folder are scikit-learn's brute-force
    ones (same rows, same distances), and a query of new points equals a fresh exact
    search over the same features."""
    run, table = searched
    index = SearchResult.read(run).index
    features = features_in_run_order(run, table)
    assert index.space == "representation" and index.k == 11
    np.testing.assert_array_equal(index.features, features)
    exact = NearestNeighbors(n_neighbors=12, algorithm="brute").fit(features)
    distances, rows = exact.kneighbors(features)
    for row in range(len(features)):
        found, found_distances = index.of_row(row, 11)
        assert found.tolist() == [r for r in rows[row] if r != row][:11]
        np.testing.assert_allclose(found_distances, distances[row][1:], rtol=1e-4, atol=1e-5)
    points = np.random.default_rng(0).normal(size=(7, features.shape[1])).astype(np.float32)
    expected_distances, expected = exact.kneighbors(points, n_neighbors=5)
    found, found_distances = index.query(points, 5)
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_allclose(found_distances, expected_distances, rtol=1e-4)


def test_a_query_over_blocks_equals_one_pass(monkeypatch):
    """query() keeps the k best across blocks of features (here 10 rows a block)."""
    features = np.random.default_rng(3).normal(size=(95, 4)).astype(np.float32)
    index = NeighbourIndex(features, np.zeros((95, 1), np.int32), np.zeros((95, 1), np.float32))
    whole = index.query(features[:6] + 0.05, 8)
    monkeypatch.setattr("raregal.method.neighbour_index.QUERY_BLOCK_ROWS", 60)
    blocks = index.query(features[:6] + 0.05, 8)
    np.testing.assert_array_equal(blocks[0], whole[0])
    expected = (
        NearestNeighbors(n_neighbors=8, algorithm="brute")
        .fit(features)
        .kneighbors(features[:6] + 0.05, return_distance=False)
    )
    np.testing.assert_array_equal(blocks[0], expected)


def test_the_explorer_answers_more_like_this_from_the_index(searched, tmp_path):
    """No neighbours.parquet read, no k-d tree built: the card's neighbours are the
    index's rows, and the page says where they come from."""
    from raregal.explore.data import RunData

    run = tmp_path / "run"
    shutil.copytree(searched[0], run)
    (run / "neighbours.parquet").unlink()
    data = RunData(run)
    data.warm()
    assert data.neighbour_source.startswith("the run's neighbour index")
    rows, distances = data.index.of_row(5, 8)
    assert data.neighbours(5, k=8) == [
        (int(r), pytest.approx(float(d))) for r, d in zip(rows, distances)
    ]
    assert data._index is None and data._neighbours is None


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda f: (f / "neighbours.npy").write_bytes(b"\x93NUMPY garbage"),
            "neighbours.npy: not a readable .npy array",
        ),
        (
            lambda f: np.save(f / "distances.npy", np.zeros((3, 2), np.float32)),
            r"distances.npy: float32 \(3, 2\), not the float32 \(\d+, 11\)",
        ),
        (
            lambda f: np.save(f / "features.npy", np.array([{"a": 1}] * 400), allow_pickle=True),
            "features.npy: not a readable .npy array",
        ),
        (lambda f: (f / "features.npy").unlink(), "features.npy: missing"),
        (lambda f: (f / "index.json").write_text("{"), "index.json: not a raregal neighbour"),
        (
            lambda f: (f / "index.json").write_text(
                json.dumps({"format": 1, "n": 10, "d": 8, "k": 11, "space": "representation"})
            ),
            "index.json: an index of 10 galaxies for the run.s \\d+",
        ),
    ],
)
def test_a_damaged_index_is_one_line(searched, tmp_path, damage, message):
    """Decided: a damaged index stops the reader with one line naming the file (a rebuild
    would cost the search's neighbour time on every open at millions of galaxies); the
    line says how to open the run without it."""
    from raregal.explore import build

    run = tmp_path / "run"
    shutil.copytree(searched[0], run)
    damage(run / FOLDER)
    for read in (SearchResult.read, build):
        with pytest.raises(InputError, match=message) as refused:
            read(run)
        assert "\n" not in str(refused.value) and str(run / FOLDER) in str(refused.value)


def test_rows_outside_the_run_are_refused_per_request(searched, tmp_path):
    from raregal.explore.data import RunData

    run = tmp_path / "run"
    shutil.copytree(searched[0], run)
    graph = np.load(run / FOLDER / "neighbours.npy")
    graph[7, 0] = 10_000
    np.save(run / FOLDER / "neighbours.npy", graph)
    data = RunData(run)
    assert len(data.neighbours(6, k=3)) == 3
    with pytest.raises(InputError, match="row 7 names galaxies outside the run.s \\d+"):
        data.neighbours(7, k=3)


def test_rank_reads_a_run_s_features_from_its_index(searched, tmp_path, monkeypatch):
    """rank on a run folder needs the representation table no more: the index holds its
    features, and the ranking equals the one from the table itself."""
    from raregal.method.rank import rank

    run = searched[0]
    classes = pd.read_parquet(run / "classes.parquet")
    like = classes["id_str"][classes["class"] == 0].tolist()[:4]
    before = tmp_path / "before"
    shutil.copytree(run.parent, before)
    shutil.rmtree(before / "run" / FOLDER)  # a run from before the index: the table is read
    from_table = rank(before / "run", like, top=20)

    def no_table(*args, **kwargs):
        raise AssertionError("read the representation table")

    monkeypatch.setattr(sys.modules["raregal.method.rank"], "load_representations", no_table)
    from_run = rank(run, like, top=20)
    assert from_run["id_str"].tolist() == from_table["id_str"].tolist()
    np.testing.assert_allclose(from_run["score"], from_table["score"], rtol=1e-5)


def test_a_run_without_an_index_reads_as_before(tmp_path):
    small_run(tmp_path / "run")
    assert not (tmp_path / "run" / FOLDER).exists()
    assert SearchResult.read(tmp_path / "run").index is None


def test_suggest_next_takes_the_features_from_the_index(searched, tmp_path, monkeypatch):
    """The explorer's rounds rank on the index's features, in the run's order, without
    reading the run or its table again."""
    from raregal.explore.data import RunData
    from raregal.explore.suggest import Suggester
    from raregal.explore.tags import TagStore
    from raregal.method.rank import standardise

    run = tmp_path / "run"
    shutil.copytree(searched[0], run)
    data = RunData(run)

    def no_read(*args, **kwargs):
        raise AssertionError("read the run's source again")

    monkeypatch.setattr(sys.modules["raregal.explore.suggest"], "read_source", no_read)
    features = Suggester(data, TagStore(run)).features()
    expected = standardise(features_in_run_order(run, searched[1]))
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
