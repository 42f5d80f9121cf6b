"""A deterministic parallel UMAP layout: the same result for a seed on any number of
threads, whatever the machine's load.

umap-learn's layout is stochastic gradient descent over the fuzzy graph's edges with
negative sampling. Its parallel epochs race (threads move the same points, and the
edges of one point share one random state), so umap-learn runs a seeded layout on
one thread. Here the work of an epoch is split by *point* instead of by edge:

- each point moves only itself: for each of its edges due this epoch it is pulled
  towards the edge's other end and pushed from its negative samples, in the order
  of its edges, as umap-learn moves the head of an edge;
- every other point is read as it was at the start of the epoch (a copy), so what a
  point does never depends on when another thread moved its neighbours;
- a point's negative samples come from a counter-based random stream of (seed,
  epoch, point) alone (splitmix64), not from a state shared by threads.

Each point's update is then one fixed sequence of arithmetic, so the layout depends
on the seed alone, not on the thread count or the scheduling. umap-learn moves both
ends of an edge (``move_other``) and its graph is symmetric, so a point is pulled
once as the head and once as the tail of each pair; here it is pulled twice as the
head. The rest -- the graph, its pruning, the start, the edge sampling rates, the
learning rate's decay, the gradient and its clipping -- is umap-learn's, reached
through its own ``simplicial_set_embedding`` with this function in place of
``optimize_layout_euclidean`` (:func:`deterministic_layout`).
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np

#: Pulls per edge and epoch on its head: umap-learn's own pull plus the one it gives
#: the tail of the reverse edge (module docstring).
PULLS = 2.0


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


@numba.njit(parallel=True, fastmath=True, cache=True)
def _epoch(embedding, start, indptr, tail, epochs_per_sample, next_sample,
           epochs_per_negative, next_negative, a, b, gamma, alpha, epoch, seed):
    # Arrays are indexed element by element, never sliced into row views: a view made
    # in a parallel loop takes and drops a reference on its array from the threads.
    n, dim = embedding.shape
    for j in numba.prange(n):
        state = np.uint64(seed) ^ (np.uint64(epoch) * np.uint64(0xD1B54A32D192ED03)) \
            ^ (np.uint64(j) * np.uint64(0x8CB92BA72F3D8DD7))
        for i in range(indptr[j], indptr[j + 1]):
            if next_sample[i] > epoch:
                continue
            k = tail[i]
            dist = 0.0
            for d in range(dim):
                dist += (embedding[j, d] - start[k, d]) ** 2
            coeff = 0.0
            if dist > 0.0:
                coeff = -2.0 * a * b * dist ** (b - 1.0) / (a * dist ** b + 1.0)
            for d in range(dim):
                embedding[j, d] += PULLS * _clip(coeff * (embedding[j, d] - start[k, d])) * alpha
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
                coeff = 2.0 * gamma * b / ((0.001 + dist) * (a * dist ** b + 1.0))
                for d in range(dim):
                    embedding[j, d] += _clip(coeff * (embedding[j, d] - start[k, d])) * alpha
            next_negative[i] += negatives * epochs_per_negative[i]


def optimize_layout(head_embedding, tail_embedding, head, tail, n_epochs, n_vertices,
                    epochs_per_sample, a, b, rng_state, gamma=1.0, initial_alpha=1.0,
                    negative_sample_rate=5.0, parallel=False, verbose=False, densmap=False,
                    densmap_kwds=None, tqdm_kwds=None, move_other=False):
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
        raise ValueError("the deterministic layout lays out one embedding for a number of "
                         "epochs, without densMAP")
    order = np.argsort(head, kind="stable")
    tail = np.ascontiguousarray(tail[order])
    indptr = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum(np.bincount(head, minlength=n_vertices), out=indptr[1:])
    epochs_per_sample = np.ascontiguousarray(epochs_per_sample[order], dtype=np.float64)
    epochs_per_negative = epochs_per_sample / negative_sample_rate
    next_sample, next_negative = epochs_per_sample.copy(), epochs_per_negative.copy()
    seed = int(np.asarray(rng_state, dtype=np.int64).view(np.uint64).sum()
               & np.uint64(0x7FFFFFFFFFFFFFFF))
    before = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # a seeded UMAP set it to 1
    try:
        for epoch in tqdm(range(n_epochs), **{"disable": not verbose, **(tqdm_kwds or {})}):
            # umap-learn's decay: epoch e > 0 runs at initial * (1 - (e - 1) / n_epochs)
            alpha = initial_alpha * (1.0 - max(epoch - 1, 0) / n_epochs)
            _epoch(head_embedding, head_embedding.copy(), indptr, tail, epochs_per_sample,
                   next_sample, epochs_per_negative, next_negative, float(a), float(b),
                   float(gamma), alpha, epoch, seed)
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
