"""pynndescent's NN-descent on Euclidean features, compiled once per machine, not once
per process.

pynndescent compiles its NN-descent again in every process, for two reasons numba
gives: its functions take the distance function as an argument, which numba passes
as the function's address, and ``nn_descent_internal`` asks for the thread count
inside compiled code (a pointer into numba's threading layer). Machine code holding
either address cannot be kept on disk. On 2 cores that compilation was 14-15 s of the
neighbour search of every ``raregal search``: 24.5 s against 9.7 s for the same
search again in the same process, at 100,000 galaxies. Reached as below, a new
process's search took 8.9-11.2 s there, and 2.9-3.2 s against 14.8 s at 30,000.

Inside :func:`cached_nn_descent`, ``NNDescent`` runs pynndescent's own steps,
reached differently where the distance is pynndescent's ``squared_euclidean`` (its
distance for ``metric="euclidean"``) on float32 rows:

- the steps that only loop over blocks and call pynndescent's kernels run here in
  Python (:func:`_nn_descent`, :func:`_descend`, :func:`_process_candidates`,
  :func:`_init_rp_tree`), with the thread count read in Python; the kernels they call
  take no distance function and are cached (:func:`raregal.method.reduce.cache_numba_compilation`);
- the two kernels that call the distance (pynndescent's ``generate_leaf_updates`` and
  ``init_random``) are copied here with the distance named instead of passed, and cached.

The steps, the arithmetic and the random draws are pynndescent's, so the graph is
too, bit for bit (tests/test_nn_descent.py). The copies follow pynndescent 0.7
(BSD-2-Clause, Leland McInnes); with any other version, another metric or other data,
pynndescent runs its own code.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect

import numba
import numpy as np

try:  # the names the copied kernels call; another pynndescent runs its own code
    from pynndescent.distances import squared_euclidean
    from pynndescent.utils import checked_flagged_heap_push, int32_bits_as_float32, tau_rand_int
except ImportError:  # pragma: no cover - only with a pynndescent other than 0.7
    squared_euclidean = checked_flagged_heap_push = int32_bits_as_float32 = tau_rand_int = None

#: The version whose internals this module follows, and ``nn_descent``'s parameters
#: there: anything else runs pynndescent's own code.
_FOLLOWS = "0.7."
_PARAMETERS = (
    "data",
    "n_neighbors",
    "rng_state",
    "max_candidates",
    "dist",
    "n_iters",
    "delta",
    "init_graph",
    "rp_tree_init",
    "leaf_array",
    "low_memory",
    "verbose",
    "kernel",
)


def _follows_installed() -> bool:
    """Whether the installed pynndescent is the one these steps copy."""
    import pynndescent.pynndescent_ as nnd

    try:
        version = importlib.metadata.version("pynndescent")
    except importlib.metadata.PackageNotFoundError:
        return False
    original = getattr(nnd.nn_descent, "py_func", None)
    return (
        version.startswith(_FOLLOWS)
        and squared_euclidean is not None
        and original is not None
        and tuple(inspect.signature(original).parameters) == _PARAMETERS
    )


@contextlib.contextmanager
def cached_nn_descent():
    """Inside the block, pynndescent's ``NNDescent`` builds a Euclidean graph of float32
    rows without compiling (after a machine's first), and any other as before."""
    import pynndescent.pynndescent_ as nnd

    if not _follows_installed():
        yield
        return
    original = nnd.nn_descent

    def nn_descent(data, n_neighbors, rng_state, *args, **kwargs):
        bound = inspect.signature(original.py_func).bind(
            data, n_neighbors, rng_state, *args, **kwargs
        )
        bound.apply_defaults()
        settings = bound.arguments
        if _squared_euclidean_on_float32(settings):
            return _nn_descent(**settings)
        return original(*bound.args)

    nnd.nn_descent = nn_descent
    try:
        yield
    finally:
        nnd.nn_descent = original


def _squared_euclidean_on_float32(settings: dict) -> bool:
    from pynndescent.kernels import KERNEL_SQEUCLIDEAN

    # pynndescent picks its squared-Euclidean kernel for C-contiguous float32 rows
    # (select_kernel); its generic path (kernel 0) calls the distance function again
    return (
        settings["dist"] is squared_euclidean
        and settings["kernel"] == KERNEL_SQEUCLIDEAN
        and not settings["verbose"]
        and settings["leaf_array"] is not None
    )


def _nn_descent(
    data,
    n_neighbors,
    rng_state,
    max_candidates,
    dist,
    n_iters,
    delta,
    init_graph,
    rp_tree_init,
    leaf_array,
    low_memory,
    verbose,
    kernel,
):
    """pynndescent's ``nn_descent``, for the squared-Euclidean kernel."""
    from pynndescent.utils import deheap_sort, make_heap

    n_threads = numba.get_num_threads()
    if init_graph[0].shape[0] == 1:  # pynndescent's EMPTY_GRAPH
        graph = make_heap(data.shape[0], n_neighbors)
        if rp_tree_init:
            _init_rp_tree(data, graph, leaf_array, n_threads)
        _init_random(n_neighbors, data, graph, rng_state)
    elif init_graph[0].shape[0] == data.shape[0] and init_graph[0].shape[1] == n_neighbors:
        graph = init_graph
    else:
        raise ValueError("Invalid initial graph specified!")  # pynndescent's own message
    _descend(graph, data, n_neighbors, rng_state, max_candidates, n_iters, delta, kernel, n_threads)
    return deheap_sort(graph[0], graph[1])


def _init_rp_tree(data, graph, leaf_array, n_threads):
    """pynndescent's ``init_rp_tree``: the forest's leaves as first neighbours."""
    from pynndescent.utils import apply_sorted_graph_update_array, sort_updates_by_block

    n_leaves, max_leaf_size = leaf_array.shape
    block_size = n_threads * 64
    per_thread = int(block_size * max_leaf_size * (max_leaf_size - 1) / (2 * n_threads)) + 1
    updates = np.zeros((n_threads, per_thread, 3), dtype=np.float32)
    n_updates = np.zeros(n_threads, dtype=np.int32)
    sorted_updates = np.empty((n_threads, 2 * per_thread, 3), dtype=np.float32)
    block_offsets = np.zeros((n_threads, n_threads + 1), dtype=np.int64)
    n_vertices = graph[0].shape[0]
    for start in range(0, n_leaves + 1, block_size):
        block = leaf_array[start : min(n_leaves, start + block_size)]
        _leaf_updates(updates, n_updates, block, graph, data, n_threads)
        sort_updates_by_block(
            updates, n_updates, sorted_updates, block_offsets, n_vertices, n_threads
        )
        apply_sorted_graph_update_array(graph, sorted_updates, block_offsets, n_threads)


def _descend(
    graph, data, n_neighbors, rng_state, max_candidates, n_iters, delta, kernel, n_threads
):
    """pynndescent's ``nn_descent_internal``: the descent's iterations, in place."""
    from pynndescent.utils import build_candidates_owner

    n_vertices = data.shape[0]
    block_size = 16384
    pairs = max_candidates**2 + max_candidates * (max_candidates - 1) / 2
    per_thread = int(pairs * block_size / n_threads) + 1024
    work = {
        "update_array": np.empty((n_threads, per_thread, 3), dtype=np.float32),
        "n_updates_per_thread": np.zeros(n_threads, dtype=np.int32),
        "sorted_updates": np.empty(
            (n_threads, 2 * per_thread, 3) if n_threads > 1 else (1, 1, 3), dtype=np.float32
        ),
        "block_offsets": np.zeros((n_threads, n_threads + 1), dtype=np.int64),
    }
    candidates = (
        np.full((n_vertices, max_candidates), -1, dtype=np.int32),
        np.full((n_vertices, max_candidates), np.inf, dtype=np.float32),
        np.full((n_vertices, max_candidates), -1, dtype=np.int32),
        np.full((n_vertices, max_candidates), np.inf, dtype=np.float32),
        np.ones(n_vertices, dtype=np.uint8),
        np.empty(n_vertices * n_neighbors, dtype=np.int32),
        np.empty(n_vertices * n_neighbors, dtype=np.int32),
        np.zeros((n_threads, n_threads + 1), dtype=np.int64),
    )
    for _ in range(n_iters):
        new, old = build_candidates_owner(graph, max_candidates, rng_state, n_threads, *candidates)
        changed = _process_candidates(data, graph, new, old, block_size, n_threads, kernel, **work)
        if changed <= delta * n_neighbors * n_vertices:
            return


def _process_candidates(
    data,
    graph,
    new,
    old,
    block_size,
    n_threads,
    kernel,
    update_array,
    n_updates_per_thread,
    sorted_updates,
    block_offsets,
):
    """pynndescent's ``process_candidates`` with its squared-Euclidean kernel: the
    number of neighbours changed."""
    from pynndescent.kernels import generate_graph_update_array_batched
    from pynndescent.utils import (
        apply_graph_update_array,
        apply_sorted_graph_update_array,
        sort_updates_by_block,
    )

    changed = 0
    n_vertices = new.shape[0]
    for start in range(0, n_vertices + 1, block_size):
        block = slice(start, min(n_vertices, start + block_size))
        generate_graph_update_array_batched(
            update_array,
            n_updates_per_thread,
            new[block],
            old[block],
            graph,
            data,
            kernel,
            n_threads,
        )
        if n_threads > 1:
            sort_updates_by_block(
                update_array,
                n_updates_per_thread,
                sorted_updates,
                block_offsets,
                n_vertices,
                n_threads,
            )
            changed += apply_sorted_graph_update_array(
                graph, sorted_updates, block_offsets, n_threads
            )
        else:
            changed += apply_graph_update_array(
                graph, update_array, n_updates_per_thread, n_threads
            )
    return changed


# The two kernels below are pynndescent 0.7's, with ``dist`` replaced by
# ``squared_euclidean``: the same decorators, locals and statements.


@numba.njit(
    fastmath=True,
    locals={"d": numba.float32, "idx": numba.int32, "i": numba.int32},
    cache=True,
)
def _init_random(n_neighbors, data, heap, rng_state):
    """pynndescent's ``init_random``: random neighbours for rows short of them."""
    for i in range(data.shape[0]):
        if heap[0][i, 0] < 0.0:
            for _ in range(n_neighbors - np.sum(heap[0][i] >= 0.0)):
                idx = np.abs(tau_rand_int(rng_state)) % data.shape[0]
                if data.shape[0] > 1:
                    while idx == i:
                        idx = np.abs(tau_rand_int(rng_state)) % data.shape[0]
                d = squared_euclidean(data[idx], data[i])
                checked_flagged_heap_push(heap[1][i], heap[0][i], heap[2][i], d, idx, np.uint8(1))

    return


@numba.njit(parallel=True, cache=True, fastmath=True)
def _leaf_updates(updates, n_updates_per_thread, leaf_block, current_graph, data, n_threads):
    """pynndescent's ``generate_leaf_updates``: each thread's candidate pairs from the
    leaves, into ``updates`` (n_threads, max, 3) float32."""
    n_leaves = leaf_block.shape[0]
    leaves_per_thread = (n_leaves // n_threads) + 1
    heap_distances = current_graph[1]

    for t in range(n_threads):
        n_updates_per_thread[t] = 0

    for t in numba.prange(n_threads):
        start_leaf = t * leaves_per_thread
        end_leaf = min(start_leaf + leaves_per_thread, n_leaves)
        max_updates = updates.shape[1]
        count = 0

        for leaf_idx in range(start_leaf, end_leaf):
            for i in range(leaf_block.shape[1]):
                p = leaf_block[leaf_idx, i]
                if p < 0:
                    break

                for j in range(i + 1, leaf_block.shape[1]):
                    q = leaf_block[leaf_idx, j]
                    if q < 0:
                        break

                    d = squared_euclidean(data[p], data[q])
                    max_threshold = max(heap_distances[p, 0], heap_distances[q, 0])
                    if d < max_threshold:
                        if count < max_updates:
                            updates[t, count, 0] = int32_bits_as_float32(p)
                            updates[t, count, 1] = int32_bits_as_float32(q)
                            updates[t, count, 2] = d
                            count += 1

        n_updates_per_thread[t] = count

    return updates
