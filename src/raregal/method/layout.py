"""A deterministic parallel UMAP layout: the same result for a seed on any number of
threads, whatever the machine's load.

umap-learn's layout is stochastic gradient descent over the fuzzy graph's edges with
negative sampling. Its parallel epochs race (threads move the same points, and the
edges of one point share one random state), so umap-learn runs a seeded layout on
one thread. Here the graph's points are coloured so that no two neighbours share a
colour (greedy, in index order: a fixed plan, whatever the thread count; about 50
colours for a 50-neighbour graph), and an epoch takes the colours in turn. For each
colour, two parallel passes, each point moving only itself:

- heads: each point of the colour, for each of its edges due this epoch, moves as
  umap-learn moves the head of an edge (pulled towards the other end, then pushed from
  its negative samples), in the order of its edges, and records each pull. Its
  neighbours have other colours and stand still in this pass, so it reads them as
  umap-learn's one thread would; a negative sample of the same colour is read as it
  was at the start of the pass (a copy of the colour's points);
- tails: every point at the other end of those edges takes the opposite of each
  recorded pull, as umap-learn moves an edge's tail (``move_other``).

A point's negative samples come from a counter-based random stream of (seed, epoch,
point) alone (splitmix64), not from a state shared by threads. Each point's update is
then one fixed sequence of arithmetic, so the layout depends on the seed alone.

What is left of umap-learn's descent is its order: it takes the edges in the rows'
order, each move seeing the moves before it; here the colours' order, and the tails
move after their colour's heads. The order is part of umap-learn's own run-to-run
spread, as the rows of a catalogue can come in any order (issue 37's notes, seeds and
row orders drawn anew for each run):

- the tests' 1,500 rows with 8 tight planted groups: umap-learn's layout missed one
  group in 0 of 32 seeds with the rows in their order and in 6 of 48 with the rows
  shuffled; this layout in 7 of 48. Tails that recomputed their own pull after their
  colour's heads had moved, instead of taking the recorded one, missed more (10 of 32);
- one 50k graph (``current`` table, HDBSCAN at min_samples 84): see
  docs/decisions/layout.md for the ARI and neighbour agreement with umap-learn.

The rest -- the graph, its pruning, the start, the edge sampling rates, the learning
rate's decay, the gradient and its clipping -- is umap-learn's, reached through its
own ``simplicial_set_embedding`` with this function in place of
``optimize_layout_euclidean`` (:func:`deterministic_layout`). Two numbers are kept in
single precision, the embedding's own, where umap-learn keeps double: the gradient's
power ``d**b`` and the recorded pulls. Each point's moves are one serial chain, of
which the power was the slowest step; the pair made a 100k layout 20 % faster, and a
layout from the same seed agreed with the double-precision one at ARI 0.994-0.999 from
50k to 632k (docs/decisions/layout.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from numbers import Integral

import numba
import numpy as np

# numba's OpenMP threads spin at each synchronisation by default, taking the cores the
# other thread and other processes need: at 50k on 2 cores at load 6, one layout took
# 76 s with passive waiting against 163-222 s spinning (load 7-9). A user's own setting
# wins; it must be set before numba first starts its threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(inline="always")
def _splitmix(state):
    state = (state + np.uint64(0x9E3779B97F4A7C15)) & _MASK
    z = state
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return state, z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _clip(value):
    return min(4.0, max(-4.0, value))


@numba.njit(inline="always")
def _pow(dist, b):
    """``dist**b`` (float64) computed in single precision (powf: the 100k heads pass
    took 15 % less time than with pow)."""
    return np.float64(np.float32(dist) ** np.float32(b))


@numba.njit(inline="always")
def _push(embedding, j, other, k, b_gamma, a, b, alpha):
    """Move point j away from other[k] by umap-learn's repulsive gradient."""
    dim = embedding.shape[1]
    dist = 0.0
    for d in range(dim):
        dist += (embedding[j, d] - other[k, d]) ** 2
    if dist > 0.0:
        coeff = 2.0 * b_gamma / ((0.001 + dist) * (a * _pow(dist, b) + 1.0))
        for d in range(dim):
            embedding[j, d] += _clip(coeff * (embedding[j, d] - other[k, d])) * alpha


@numba.njit(parallel=True, fastmath=True, cache=True)
def _heads(
    embedding,
    snapshot,
    moves,
    due,
    first,
    last,
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
    """Heads pass over the colour's points first..last-1: each edge due moves its head
    as umap-learn does and records the move (``moves``, one row per edge of the colour
    from ``indptr[first]``, and ``due`` 1; ``due`` 0 for an edge not due) for the tails
    pass. ``snapshot`` holds the colour's points as they were at the pass's start."""
    # Arrays are indexed element by element, never sliced into row views: a view made
    # in a parallel loop takes and drops a reference on its array from the threads.
    n, dim = embedding.shape
    base = indptr[first]
    for j in numba.prange(first, last):
        state = (
            np.uint64(seed)
            ^ (np.uint64(epoch) * np.uint64(0xD1B54A32D192ED03))
            ^ (np.uint64(j) * np.uint64(0x8CB92BA72F3D8DD7))
        )
        for i in range(indptr[j], indptr[j + 1]):
            if next_sample[i] > epoch:
                # a byte, not a zero move: most edges are not due in an epoch, and their
                # 0 moves were most of what the tails pass read
                due[i - base] = 0
                continue
            due[i - base] = 1
            k = tail[i]
            dist = 0.0
            for d in range(dim):
                dist += (embedding[j, d] - embedding[k, d]) ** 2
            coeff = 0.0
            if dist > 0.0:
                # umap-learn's -2ab d^(2(b-1)) / (1 + a d^2b), with one power, not two
                power = _pow(dist, b)
                coeff = -2.0 * a * b * power / (dist * (a * power + 1.0))
            for d in range(dim):
                # rounded once, so that the tail takes exactly the opposite move
                move = np.float32(_clip(coeff * (embedding[j, d] - embedding[k, d])) * alpha)
                embedding[j, d] += move
                moves[i - base, d] = move
            next_sample[i] += epochs_per_sample[i]
            negatives = int((epoch - next_negative[i]) / epochs_per_negative[i])
            for _ in range(negatives):
                state, draw = _splitmix(state)
                # the high 32 bits scaled to [0, n) (Lemire's range reduction): a 64-bit
                # modulo per sample made a 50k layout on one thread take 31.6-36.6 s, not 27-29 s
                k = np.int64(((draw >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))
                if k == j:
                    continue
                if first <= k < last:  # moving in this pass: as it was at the start
                    _push(embedding, j, snapshot, k - first, gamma * b, a, b, alpha)
                else:
                    _push(embedding, j, embedding, k, gamma * b, a, b, alpha)
            next_negative[i] += negatives * epochs_per_negative[i]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _tails(embedding, moves, due, base, rows, row_edges, edges):
    """Tails pass: each of ``rows`` (the tails of the colour's edges) takes the opposite
    of its edges' head moves (its edges: ``edges[row_edges[r]:row_edges[r + 1]]``,
    positions in the head-ordered edges; ``moves`` and ``due`` row = position - ``base``),
    as umap-learn moves an edge's tail (``move_other``), in the edges' order."""
    dim = embedding.shape[1]
    for r in numba.prange(rows.shape[0]):
        k = rows[r]
        for i in range(row_edges[r], row_edges[r + 1]):
            e = edges[i] - base
            if due[e]:
                for d in range(dim):
                    embedding[k, d] += -moves[e, d]


@numba.njit(cache=True)
def _counting_sort(keys, n_keys, order):
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for key in keys:
        start[key + 1] += 1
    for key in range(n_keys):
        start[key + 1] += start[key]
    for i in range(keys.shape[0]):
        order[start[keys[i]]] = i
        start[keys[i]] += 1


def _stable_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """The positions of ``keys`` (m,) in [0, n_keys) sorted by key, ties in their order
    (a counting sort: O(m), where lexsort took seconds at 3.4M edges); int32 where m
    allows, as every index array of the plan (half the memory: 64 bytes an edge at the
    plan's peak with int64)."""
    order = np.empty(len(keys), dtype=_index_type(len(keys)))
    _counting_sort(keys, n_keys, order)
    return order


def _index_type(size: int) -> type:
    return np.int32 if size < 2**31 else np.int64


@numba.njit(cache=True)
def greedy_colours(indptr, indices):
    """Each point the smallest colour none of its earlier-coloured neighbours has, in
    index order (CSR adjacency ``indptr`` (n + 1,), ``indices``); shape (n,) int64."""
    n = indptr.shape[0] - 1
    colour = np.full(n, -1, dtype=np.int64)
    seen = np.full(n + 1, -1, dtype=np.int64)
    for j in range(n):
        for i in range(indptr[j], indptr[j + 1]):
            if colour[indices[i]] >= 0:
                seen[colour[indices[i]]] = j
        c = 0
        while seen[c] == j:
            c += 1
        colour[j] = c
    return colour


def _starts(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Where each key's run starts in ``keys`` sorted, and the end: (n_keys + 1,)."""
    return np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n_keys))])


@dataclass(frozen=True)
class Plan:
    """How an epoch is run on a graph: points numbered anew so that each colour's points
    are contiguous (``order[new] = old``; colour c is new points
    ``bounds[c]..bounds[c + 1]-1``), their edges (new numbering) by head (``indptr``,
    ``tail``; ``edge_order`` maps them to the given edges), and for the tails passes
    the edges again by the head's colour, then tail: colour c's rows (tails) are
    ``rows[row_bounds[c]:row_bounds[c + 1]]``, row r's edges the positions in ``tail``
    ``tails_edge[row_edges[r]:row_edges[r + 1]]``."""

    order: np.ndarray
    bounds: np.ndarray
    edge_order: np.ndarray
    indptr: np.ndarray
    tail: np.ndarray
    rows: np.ndarray
    row_edges: np.ndarray
    row_bounds: np.ndarray
    tails_edge: np.ndarray


def plan(head: np.ndarray, tail: np.ndarray, n_vertices: int) -> Plan:
    """The colouring and edge orders for the graph's edges ``head``/``tail`` (m,)."""
    points = _index_type(n_vertices)
    head, tail = head.astype(points, copy=False), tail.astype(points, copy=False)
    # neighbours either way round never share a colour, even were the graph not symmetric
    both = np.concatenate([head, tail])
    adjacency = np.concatenate([tail, head])[_stable_order(both, n_vertices)]
    colour = greedy_colours(_starts(both, n_vertices), adjacency)
    del both, adjacency  # 4 m integers: let them go before the orders are made
    n_colours = int(colour.max()) + 1
    order = _stable_order(colour, n_colours)
    new = np.empty(n_vertices, dtype=points)
    new[order] = np.arange(n_vertices, dtype=points)
    colour = colour[order].astype(np.int32)
    head, tail = new[head], new[tail]
    edge_order = _stable_order(head, n_vertices)
    head, tail = head[edge_order], tail[edge_order]
    # tails: the edges by the head's colour, then tail (two stable passes); a run of one
    # tail within one colour is a row
    by_colour = _stable_order(tail, n_vertices)
    by_colour = by_colour[_stable_order(colour[head][by_colour], n_colours)]
    key_colour, key_tail = colour[head][by_colour], tail[by_colour]
    row_starts = np.flatnonzero(
        np.r_[True, (key_colour[1:] != key_colour[:-1]) | (key_tail[1:] != key_tail[:-1])]
    )
    return Plan(
        order=order,
        bounds=_starts(colour, n_colours),
        edge_order=edge_order,
        indptr=_starts(head, n_vertices),
        tail=tail,
        rows=key_tail[row_starts],
        row_edges=np.append(row_starts, len(by_colour)).astype(by_colour.dtype),
        row_bounds=_starts(key_colour[row_starts], n_colours),
        tails_edge=by_colour,
    )


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

    if densmap or tail_embedding is not head_embedding or not isinstance(n_epochs, Integral):
        raise ValueError(
            "the deterministic layout lays out one embedding for a number of "
            "epochs, without densMAP"
        )
    n_epochs = int(n_epochs)
    p = _cached_plan(np.asarray(head), np.asarray(tail), n_vertices)
    embedding = np.ascontiguousarray(head_embedding[p.order])
    epochs_per_sample = np.ascontiguousarray(epochs_per_sample[p.edge_order], dtype=np.float64)
    epochs_per_negative = epochs_per_sample / negative_sample_rate
    next_sample, next_negative = epochs_per_sample.copy(), epochs_per_negative.copy()
    snapshot = np.empty((int(np.diff(p.bounds).max()), embedding.shape[1]), embedding.dtype)
    # the pulls in single precision: half the bytes for the tails pass to read
    moves = np.empty((int(np.diff(p.indptr[p.bounds]).max()), embedding.shape[1]), np.float32)
    due = np.empty(len(moves), dtype=np.uint8)
    seed = int(np.asarray(rng_state, dtype=np.int64).view(np.uint64).sum() & np.uint64(2**63 - 1))
    a, b, gamma = float(a), float(b), float(gamma)
    before = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # a seeded UMAP set it to 1
    try:
        for epoch in tqdm(range(n_epochs), **{"disable": not verbose, **(tqdm_kwds or {})}):
            # umap-learn's decay: epoch e > 0 runs at initial * (1 - (e - 1) / n_epochs)
            alpha = initial_alpha * (1.0 - max(epoch - 1, 0) / n_epochs)
            for c in range(len(p.bounds) - 1):
                first, last = int(p.bounds[c]), int(p.bounds[c + 1])
                snapshot[: last - first] = embedding[first:last]
                _heads(
                    embedding,
                    snapshot,
                    moves,
                    due,
                    first,
                    last,
                    p.indptr,
                    p.tail,
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
                lo, hi = p.row_bounds[c], p.row_bounds[c + 1]
                _tails(
                    embedding,
                    moves,
                    due,
                    p.indptr[first],
                    p.rows[lo:hi],
                    p.row_edges[lo : hi + 1],
                    p.tails_edge,
                )
    finally:
        numba.set_num_threads(before)
    head_embedding[p.order] = embedding
    return head_embedding


#: Inside :func:`deterministic_layout`, the last graph's plan by its edges: the map and
#: the stability reruns lay out one graph pruned alike (50 epochs each above 10,000
#: galaxies), so one plan serves them all. None outside the block.
_plans: dict | None = None


def _cached_plan(head: np.ndarray, tail: np.ndarray, n_vertices: int) -> Plan:
    """:func:`plan`, or the block's last plan when its graph has the same edges (a plan is
    a function of the edges alone); only the last is kept, to hold one plan's memory."""
    if _plans is None:
        return plan(head, tail, n_vertices)
    digest = hashlib.blake2b(digest_size=16)
    for edges in (head, tail):
        digest.update(str(edges.dtype).encode())
        digest.update(memoryview(np.ascontiguousarray(edges)).cast("B"))
    key = (n_vertices, len(head), digest.digest())
    if key not in _plans:
        _plans.clear()
        _plans[key] = plan(head, tail, n_vertices)
    return _plans[key]


@contextlib.contextmanager
def deterministic_layout(enabled: bool = True):
    """Inside the block, umap-learn's ``simplicial_set_embedding`` (a fit, the map,
    the stability reruns) lays out with :func:`optimize_layout`, and a graph laid out
    again is planned once."""
    import umap.umap_

    global _plans
    if not enabled:
        yield
        return
    original, outer = umap.umap_.optimize_layout_euclidean, _plans
    umap.umap_.optimize_layout_euclidean = optimize_layout
    _plans = {}
    try:
        yield
    finally:
        umap.umap_.optimize_layout_euclidean = original
        _plans = outer
