"""A deterministic parallel UMAP layout: the same result for a seed on any number of
threads, whatever the machine's load.

umap-learn's layout is stochastic gradient descent over the fuzzy graph's edges with
negative sampling. Its parallel epochs race (threads move the same points, and the
edges of one point share one random state), so umap-learn runs a seeded layout on
one thread. Here the points are split into :data:`GROUPS` fixed groups (point index
modulo GROUPS, whatever the thread count), and an epoch takes the groups in turn.
For each group, two parallel passes, each point moving only itself:

- heads: each point of the group, for each of its edges due this epoch, is pulled
  towards the edge's other end and pushed from its negative samples, in the order of
  its edges, as umap-learn moves the head of an edge;
- tails: every point with an edge due this epoch to a point of the group is pulled
  towards that point, as umap-learn moves the tail of an edge (``move_other``; the
  graph is symmetric, so the edge's reverse is due in the same epoch).

In each pass every other point is read as it was at the start of the pass (a copy),
so what a point does never depends on when another thread moved its neighbours, and a
point's negative samples come from a counter-based random stream of (seed, epoch,
point) alone (splitmix64), not from a state shared by threads. Each point's update is
then one fixed sequence of arithmetic, so the layout depends on the seed alone.

Why groups: umap-learn moves the points one edge at a time, each move seeing the
moves before it. At 50k (`current` table, seeds 1 and 2 of each, HDBSCAN at min_samples
84), the classes of umap-learn's seeded layout and of this one agreed at an ARI of
0.56-0.58 when every point moved against the epoch's start and pulled itself twice
instead of moving the edge's tail, 0.69 with the tails pass and one group, 0.76-0.79
with 8 groups (one graph; issue-37 notes), and 0.74-0.75 with 8 groups on another
graph (bench/layout_quality.py), where two umap-learn seeds agreed at 0.81 and
umap-learn seeded and parallel at 0.79-0.88. Trustworthiness (0.978), neighbours kept
(0.233 against 0.228-0.230) and planted groups (9-10 of 20) matched. The price is two
parallel passes per group, 16 synchronisations an epoch, which cost most on busy
cores: at 50k on 2 cores at load 7-9, with threads spinning at each, 163-222 s with 8
groups, 62-64 s with one, 52 s for umap-learn's layout on one thread; waiting
passively (below), 76 s with 8 groups against 69 s for umap-learn's (load 6).

The rest -- the graph, its pruning, the start, the edge sampling rates, the learning
rate's decay, the gradient and its clipping -- is umap-learn's, reached through its
own ``simplicial_set_embedding`` with this function in place of
``optimize_layout_euclidean`` (:func:`deterministic_layout`).
"""

from __future__ import annotations

import contextlib
import os

import numba
import numpy as np

# numba's OpenMP threads spin at each synchronisation by default, taking the cores the
# other thread and other processes need: at 50k on 2 cores at load 6, one layout took
# 76 s with passive waiting against 163-222 s spinning (load 7-9). A user's own setting
# wins; it must be set before numba first starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Fixed groups of points an epoch takes in turn (module docstring); part of the
#: result, so never tied to the thread count.
GROUPS = 8


@numba.njit(inline="always")
def _splitmix(state):
    state = (state + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = state
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return state, z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _clip(value):
    return min(4.0, max(-4.0, value))


@numba.njit(inline="always")
def _pull(embedding, j, start, k, a, b, alpha):
    """Move point j towards start[k] by umap-learn's attractive gradient."""
    dim = embedding.shape[1]
    dist = 0.0
    for d in range(dim):
        dist += (embedding[j, d] - start[k, d]) ** 2
    coeff = 0.0
    if dist > 0.0:
        coeff = -2.0 * a * b * dist ** (b - 1.0) / (a * dist**b + 1.0)
    for d in range(dim):
        embedding[j, d] += _clip(coeff * (embedding[j, d] - start[k, d])) * alpha


@numba.njit(parallel=True, fastmath=True, cache=True)
def _heads(
    embedding,
    start,
    group,
    groups,
    indptr,
    tail,
    epochs_per_sample,
    next_sample,
    epochs_per_negative,
    next_negative,
    a,
    b,
    gamma,
    alpha,
    epoch,
    seed,
):
    # Arrays are indexed element by element, never sliced into row views: a view made
    # in a parallel loop takes and drops a reference on its array from the threads.
    n, dim = embedding.shape
    for r in numba.prange((n - group + groups - 1) // groups):
        j = group + r * groups
        state = (
            np.uint64(seed)
            ^ (np.uint64(epoch) * np.uint64(0xD1B54A32D192ED03))
            ^ (np.uint64(j) * np.uint64(0x8CB92BA72F3D8DD7))
        )
        for i in range(indptr[j], indptr[j + 1]):
            if next_sample[i] > epoch:
                continue
            _pull(embedding, j, start, tail[i], a, b, alpha)
            next_sample[i] += epochs_per_sample[i]
            negatives = int((epoch - next_negative[i]) / epochs_per_negative[i])
            for _ in range(negatives):
                state, draw = _splitmix(state)
                k = np.int64(draw % np.uint64(n))
                if k == j:
                    continue
                dist = 0.0
                for d in range(dim):
                    dist += (embedding[j, d] - start[k, d]) ** 2
                if dist <= 0.0:
                    continue
                coeff = 2.0 * gamma * b / ((0.001 + dist) * (a * dist**b + 1.0))
                for d in range(dim):
                    embedding[j, d] += _clip(coeff * (embedding[j, d] - start[k, d])) * alpha
            next_negative[i] += negatives * epochs_per_negative[i]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _tails(embedding, start, segments, group, tail, due, a, b, alpha):
    for k in numba.prange(embedding.shape[0]):
        for i in range(segments[k, group], segments[k, group + 1]):
            if due[i]:
                _pull(embedding, k, start, tail[i], a, b, alpha)


def _edges_by_group(head, tail, n_vertices, groups):
    """The edges ordered by head, then by the tail's group (stable within), and each
    row's start of each group's edges: ``segments[j, g]`` (n, groups + 1)."""
    order = np.lexsort((tail % groups, head))
    head, tail = head[order], tail[order]
    counts = np.zeros((n_vertices, groups), dtype=np.int64)
    np.add.at(counts, (head, tail % groups), 1)
    segments = np.zeros((n_vertices, groups + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=segments[:, 1:])
    row_start = np.zeros(n_vertices, dtype=np.int64)
    np.cumsum(counts.sum(axis=1)[:-1], out=row_start[1:])
    segments += row_start[:, None]
    return order, np.ascontiguousarray(tail), segments


def optimize_layout(
    head_embedding,
    tail_embedding,
    head,
    tail,
    n_epochs,
    n_vertices,
    epochs_per_sample,
    a,
    b,
    rng_state,
    gamma=1.0,
    initial_alpha=1.0,
    negative_sample_rate=5.0,
    parallel=False,
    verbose=False,
    densmap=False,
    densmap_kwds=None,
    tqdm_kwds=None,
    move_other=False,
):
    """umap-learn's ``optimize_layout_euclidean``, deterministic and parallel.

    Takes umap-learn's arguments (``head_embedding`` (n, dim) float32 is moved in
    place and returned; ``head``/``tail`` (m,) the graph's edges; ``rng_state`` (3,)
    int64, umap-learn's seeded state, is the seed), ignoring ``parallel``: it always
    runs on every thread numba has, deterministically. A layout onto another
    embedding (``tail_embedding`` not the head's: umap-learn's ``transform``) and
    densMAP are umap-learn's alone.
    """
    from tqdm.auto import tqdm

    if densmap or tail_embedding is not head_embedding or not isinstance(n_epochs, int):
        raise ValueError(
            "the deterministic layout lays out one embedding for a number of "
            "epochs, without densMAP"
        )
    order, tail, segments = _edges_by_group(np.asarray(head), np.asarray(tail), n_vertices, GROUPS)
    indptr = np.append(segments[:, 0], segments[-1, -1])
    epochs_per_sample = np.ascontiguousarray(epochs_per_sample[order], dtype=np.float64)
    epochs_per_negative = epochs_per_sample / negative_sample_rate
    next_sample, next_negative = epochs_per_sample.copy(), epochs_per_negative.copy()
    seed = int(
        np.asarray(rng_state, dtype=np.int64).view(np.uint64).sum() & np.uint64(0x7FFFFFFFFFFFFFFF)
    )
    a, b, gamma = float(a), float(b), float(gamma)
    before = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # a seeded UMAP set it to 1
    try:
        for epoch in tqdm(range(n_epochs), **{"disable": not verbose, **(tqdm_kwds or {})}):
            # umap-learn's decay: epoch e > 0 runs at initial * (1 - (e - 1) / n_epochs)
            alpha = initial_alpha * (1.0 - max(epoch - 1, 0) / n_epochs)
            # an edge and its reverse share their schedule: due for heads and tails alike
            due = next_sample <= epoch
            for group in range(GROUPS):
                _heads(
                    head_embedding,
                    head_embedding.copy(),
                    group,
                    GROUPS,
                    indptr,
                    tail,
                    epochs_per_sample,
                    next_sample,
                    epochs_per_negative,
                    next_negative,
                    a,
                    b,
                    gamma,
                    alpha,
                    epoch,
                    seed,
                )
                _tails(
                    head_embedding, head_embedding.copy(), segments, group, tail, due, a, b, alpha
                )
    finally:
        numba.set_num_threads(before)
    return head_embedding


@contextlib.contextmanager
def deterministic_layout(enabled: bool = True):
    """Inside the block, umap-learn's ``simplicial_set_embedding`` (a fit, the map,
    the stability reruns) lays out with :func:`optimize_layout`."""
    import umap.umap_

    if not enabled:
        yield
        return
    original = umap.umap_.optimize_layout_euclidean
    umap.umap_.optimize_layout_euclidean = optimize_layout
    try:
        yield
    finally:
        umap.umap_.optimize_layout_euclidean = original
