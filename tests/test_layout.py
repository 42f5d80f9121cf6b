"""The deterministic parallel layout (raregal.method.layout): the same embedding for a seed on
one thread, on two and under a CPU load, and the planted groups umap-learn's layout
recovers on the same graph."""

import numba
import numpy as np
import pytest

from raregal.measure.synthetic import recovery
from raregal.method.cluster import leaf_clusters
from raregal.method.layout import deterministic_layout
from raregal.method.reduce import umap_embed
from raregal.method.search import RareClassFinder


def embed(features, seed, threads=None, layout=True):
    before = numba.get_num_threads()
    try:
        if threads is not None:
            numba.set_num_threads(threads)
        with deterministic_layout(layout):
            return umap_embed(features, n_neighbors=15, init="pca", n_epochs=100, seed=seed)[0]
    finally:
        numba.set_num_threads(before)


@pytest.fixture(scope="module")
def features(planted):
    return planted.filter(like="feat_").to_numpy(np.float32)


def test_same_embedding_on_one_and_two_threads(features):
    one = embed(features, seed=3, threads=1)
    two = embed(features, seed=3, threads=2)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, embed(features, seed=4))  # the seed matters


@pytest.mark.slow
def test_same_embedding_under_load(features, cpu_load):
    """Two threads competing with two busy processes give what one thread gives."""
    np.testing.assert_array_equal(
        embed(features, seed=5, threads=2), embed(features, seed=5, threads=1)
    )


def test_recovers_what_umap_learn_recovers(planted, features):
    """The planted fixture's 8 tight groups of 40-80 (conftest.py): both layouts of the
    same graph give classes that recover all of them."""
    found = {}
    for name, layout in (("umap-learn", False), ("deterministic", True)):
        labels = leaf_clusters(embed(features, seed=0, layout=layout), min_samples=15).labels
        found[name] = recovery(planted["planted"].to_numpy(), labels)["recovered"]
    assert found == {"umap-learn": 8, "deterministic": 8}


def test_umap_learns_layout_is_restored_after_the_block(features):
    import umap.umap_

    original = umap.umap_.optimize_layout_euclidean
    with deterministic_layout():
        assert umap.umap_.optimize_layout_euclidean is not original
    assert umap.umap_.optimize_layout_euclidean is original


def test_a_seeded_search_with_it_reruns_identically(features):
    runs = [
        RareClassFinder(
            n_neighbors=15,
            min_samples=15,
            seed=2,
            layout="deterministic",
            stability_seeds=1,
            n_epochs=100,
        ).fit(features)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].embedding_, runs[1].embedding_)
    np.testing.assert_array_equal(runs[0].map_, runs[1].map_)
    np.testing.assert_array_equal(runs[0].labels_, runs[1].labels_)


def test_edges_are_split_by_row_and_the_tails_group():
    """Each point's edges to each group lie in its own segment, every edge once, so a
    group's tails pass pulls each point towards exactly that group's heads."""
    from raregal.method.layout import _edges_by_group

    rng = np.random.default_rng(0)
    head, tail = rng.integers(0, 30, 400), rng.integers(0, 30, 400)
    order, tails, segments = _edges_by_group(head, tail, 30, 4)
    assert sorted(order.tolist()) == list(range(400))
    np.testing.assert_array_equal(tails, tail[order])
    for j in range(30):
        for g in range(4):
            got = tails[segments[j, g] : segments[j, g + 1]]
            want = tail[(head == j) & (tail % 4 == g)]
            np.testing.assert_array_equal(got, want)  # in the edges' own order
    assert segments[0, 0] == 0 and segments[-1, -1] == 400


@pytest.mark.parametrize("given, used", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_threads_wait_passively_unless_the_user_says(given, used):
    """Spinning OpenMP threads took the busy cores the layout needed (2.1-2.9x slower at
    50k); importing raregal.method.layout makes them wait passively, unless the user chose."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, raregal.method.layout; print(os.environ['OMP_WAIT_POLICY'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == used
