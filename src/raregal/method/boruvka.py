"""HDBSCAN's minimum spanning tree on all cores, the same whatever the thread count
and the load.

Contract: :func:`spanning_tree` returns, for (n, D) points and min_samples, the
mutual-reachability spanning tree that fast_hdbscan's Boruvka builds on ONE thread
(``fast_hdbscan.hdbscan.compute_minimum_spanning_tree``: edges [i, j, distance],
neighbours, core distances), edge for edge, on any number of numba threads and
under any load. Tied distances are broken as that one thread breaks them: each
component takes the lowest-numbered point whose nearest other-component neighbour is
at the component's minimum, and that point takes its first neighbour at that
distance in its own KD-tree walk.

Why fast_hdbscan's parallel Boruvka is not reproducible, and why this copy is. Its
threads share each component's best distance so far (a bound, to prune the KD-tree
walk) and reject a candidate neighbour whose core distance is not *strictly* below
that bound. Mutual-reachability distances tie often (an edge's distance is usually a
core distance, shared by many edges), so when another thread has already found the
component's minimum d, a point whose best edge is also at d (to a neighbour of core
distance d) loses it, and which tied edge the component keeps depends on which
thread got there first. Here the rejection is ``core > bound`` instead: the bound
never drops below the component's true minimum d (it only ever holds distances of
real edges), every prune is strict, so every point whose best edge is at d finds
exactly the edge it finds alone, in the same walk order; points whose best is above
d may stop early, but they cannot win. The component's edge is then the first point
(by index) at d, as on one thread. Nothing else in fast_hdbscan's Boruvka shares
state between threads.

The walk is fast_hdbscan's (``boruvka.component_aware_query_recursion`` and
``boruvka_tree_query``, version 0.3.4) with that one comparison changed; the rest
(KD-tree, core distances, first round from the neighbours, merging) is called from
fast_hdbscan as it is.

fast_hdbscan's licence, under which the two functions are copied, is below the imports.
"""

from __future__ import annotations

import numba
import numpy as np
from fast_hdbscan.boruvka import (
    initialize_boruvka_from_knn,
    merge_components,
    update_component_vectors,
)
from fast_hdbscan.disjoint_set import ds_rank_create
from fast_hdbscan.numba_kdtree import (
    NumbaKDTreeType,
    build_kdtree,
    parallel_tree_query,
    point_to_node_lower_bound_rdist,
    rdist,
)

# _nearest_outside and _candidates are copied from fast_hdbscan 0.3.4 (changed as said
# above) under its licence:
#
# BSD 2-Clause License
#
# Copyright (c) 2023, Tutte Institute for Mathematics and Computing
#
# Redistribution and use in source and binary forms, with or without
# modification, are permitted provided that the following conditions are met:
#
# 1. Redistributions of source code must retain the above copyright notice, this
#    list of conditions and the following disclaimer.
#
# 2. Redistributions in binary form must reproduce the above copyright notice,
#    this list of conditions and the following disclaimer in the documentation
#    and/or other materials provided with the distribution.
#
# THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
# AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
# IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
# DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
# FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
# DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
# SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
# CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
# OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
# OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.


# fastmath as in fast_hdbscan, so that the distances and bounds compare bit for bit
# with its one-thread tree.
@numba.njit(
    numba.void(
        NumbaKDTreeType,
        numba.int32,
        numba.float32[::1],
        numba.float32[::1],
        numba.int32[::1],
        numba.float32,
        numba.types.Array(numba.float32, 1, "A"),
        numba.int64,
        numba.int64[::1],
        numba.int64[::1],
        numba.float32,
        numba.float32[::1],
    ),
    locals={
        "i": numba.types.int32,
        "idx": numba.types.int32,
        "left": numba.types.int32,
        "right": numba.types.int32,
        "d": numba.types.float32,
        "lower_left": numba.types.float32,
        "lower_right": numba.types.float32,
    },
    cache=True,
    fastmath=True,
)
def _nearest_outside(
    tree,
    node,
    point,
    heap_p,
    heap_i,
    core,
    core_distances,
    component,
    node_components,
    point_components,
    lower,
    bound,
):
    """The point's nearest neighbour outside its component, below ``node``: into
    heap_p/heap_i when nearer than what they hold (first found wins a tie).

    ``bound`` is the component's best distance so far, shared by the threads."""
    if lower > heap_p[0]:
        return
    # Strict: a node or a point whose distance ties the bound may hold this point's
    # best edge at the component's minimum.
    if lower > bound[0] or core > bound[0]:
        return
    if node_components[node] == component:
        return
    if tree.is_leaf[node]:
        for i in range(tree.idx_start[node], tree.idx_end[node]):
            idx = tree.idx_array[i]
            # fast_hdbscan rejects core == bound here: the race (module docstring).
            if point_components[idx] != component and core_distances[idx] <= bound[0]:
                d = max(rdist(point, tree.data[idx]), core, core_distances[idx])
                if d < heap_p[0]:
                    heap_p[0] = d
                    heap_i[0] = idx
                    # Written only when lower: other threads write the same bound.
                    if d < bound[0]:  # noqa: PLR1730
                        bound[0] = d
        return
    left = numba.int32(2 * node + 1)
    right = numba.int32(left + 1)
    lower_left = point_to_node_lower_bound_rdist(
        tree.node_bounds[0, left], tree.node_bounds[1, left], point
    )
    lower_right = point_to_node_lower_bound_rdist(
        tree.node_bounds[0, right], tree.node_bounds[1, right], point
    )
    # Nearer child first, as fast_hdbscan walks: the walk order decides ties.
    near, far, lower_near, lower_far = left, right, lower_left, lower_right
    if lower_left > lower_right:
        near, far, lower_near, lower_far = right, left, lower_right, lower_left
    for child, lower_child in ((near, lower_near), (far, lower_far)):
        _nearest_outside(
            tree,
            child,
            point,
            heap_p,
            heap_i,
            core,
            core_distances,
            component,
            node_components,
            point_components,
            lower_child,
            bound,
        )


@numba.njit(parallel=True, cache=True, fastmath=True)
def _candidates(tree, node_components, point_components, core_distances):
    """Each point's nearest neighbour outside its component (distance, index), all
    points in parallel; exact for every point whose best is its component's minimum."""
    n = tree.data.shape[0]
    distances = np.full(n, np.inf, dtype=np.float32)
    indices = np.full(n, -1, dtype=np.int32)
    bounds = np.full(n, np.inf, dtype=np.float32)  # per component, shared
    for i in numba.prange(n):
        lower = point_to_node_lower_bound_rdist(
            tree.node_bounds[0, 0], tree.node_bounds[1, 0], tree.data[i]
        )
        component = point_components[i]
        _nearest_outside(
            tree,
            numba.int32(0),
            tree.data[i],
            distances[i : i + 1],
            indices[i : i + 1],
            core_distances[i],
            core_distances,
            component,
            node_components,
            point_components,
            lower,
            bounds[component : component + 1],
        )
    return distances, indices


def nearest(points: np.ndarray, min_samples: int):
    """What :func:`spanning_tree` searches first: the KD-tree of (n, D) points and each
    point's ``min_samples + 1`` nearest points (itself first) with their squared
    distances, shape (n, min_samples + 1) each; a tree at a smaller min_samples takes
    the first columns (HDBSCAN at several scales searches once, at the largest)."""
    tree = build_kdtree(np.asarray(points))
    distances, neighbors = parallel_tree_query(
        tree, tree.data, k=max(min_samples, 1) + 1, output_rdist=True
    )
    return tree, distances, neighbors


def spanning_tree(points: np.ndarray, min_samples: int, searched=None):
    """The mutual-reachability minimum spanning tree of (n, D) points, n >= 2.

    ``searched``: :func:`nearest` of these points at this or a larger min_samples; a
    tree from it is the one searched here, but for the order of neighbours at exactly
    equal distances.

    Returns
    -------
    edges : ndarray of float, shape (n - 1, 3)
        [i, j, distance], as fast_hdbscan's ``compute_minimum_spanning_tree``.
    neighbors : ndarray of int, shape (n, min_samples)
    core_distances : ndarray of float, shape (n,)
    """
    tree, distances, neighbors = nearest(points, min_samples) if searched is None else searched
    width = max(min_samples, 1) + 1
    if distances.shape[1] < width:
        raise ValueError(f"neighbours searched to {distances.shape[1] - 1}, not {min_samples}")
    distances, neighbors = distances[:, :width], neighbors[:, :width]
    n = tree.data.shape[0]
    disjoint_set = ds_rank_create(n)
    point_components = np.arange(n)
    node_components = np.full(tree.idx_start.shape[0], -1)
    # fast_hdbscan's first round: each point joins its nearest neighbour of no larger
    # core distance (squared distances until the end, as there).
    core_distances = distances.T[-1] if min_samples > 1 else np.zeros(n, np.float32)
    rounds = [initialize_boruvka_from_knn(neighbors, distances, core_distances, disjoint_set)]
    update_component_vectors(tree, disjoint_set, node_components, point_components)
    n_components = len(np.unique(point_components))
    while n_components > 1:
        distances, indices = _candidates(tree, node_components, point_components, core_distances)
        # One component's edge: the first point (by index) at the least distance.
        new = merge_components(disjoint_set, indices, distances, point_components)
        n_components -= len(new)
        update_component_vectors(tree, disjoint_set, node_components, point_components)
        rounds.append(new)
    edges = np.vstack(rounds)
    edges[:, 2] = np.sqrt(edges[:, 2])
    return edges, neighbors[:, 1:], np.sqrt(core_distances)
