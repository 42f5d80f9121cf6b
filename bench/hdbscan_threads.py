"""Seeded HDBSCAN before and after raregal.method.boruvka (issue 37, item 2), side by side.

On planted 5-D tables (raregal.measure.synthetic; min_samples scaled to n), in KD-tree
order as leaf_clusters hands them over, each run times in turn:
  old seeded   fast_hdbscan, reproducible Boruvka, on one numba thread (the seeded
               path until raregal.method.boruvka)
  new          raregal.method.cluster's CPU path: raregal.method.boruvka's tree on
               all threads (now the seeded and the unseeded path)
  old unseeded fast_hdbscan's parallel Boruvka on all threads (the unseeded path until
               raregal.method.boruvka; not reproducible)
and says whether the new labels and probabilities are the old seeded ones. The
machine's load average is printed with each run: on a shared machine the figures
are only comparable within a run. --split prints, per size, how much of the new
path's one-thread CPU time its parallel loops take (what more cores can speed up).

    python bench/hdbscan_threads.py [--sizes 50000 200000] [--runs 1] [--split]
"""

import argparse
import os
import time

import fast_hdbscan
import numba
import numpy as np

import raregal.method.boruvka as boruvka
from raregal.core import defaults
from raregal.measure.synthetic import planted_representations
from raregal.method.cluster import _hdbscan_cpu, scaled_min_samples, spatial_order


def points(n, dim):
    table = planted_representations(n, dim=dim, latent_dim=dim, n_groups=20, seed=0)
    features = table.filter(like="feat_").to_numpy(np.float32)
    return features[spatial_order(features)]


def fast_hdbscan_labels(x, min_samples, threads, reproducible):
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return fast_hdbscan.fast_hdbscan(
            x,
            min_samples=min_samples,
            min_cluster_size=defaults.HDBSCAN_MIN_CLUSTER_SIZE,
            cluster_selection_method=defaults.HDBSCAN_SELECTION,
            reproducible=reproducible,
        )
    finally:
        numba.set_num_threads(before)


def timed(run, *args):
    """Wall seconds, the cores the process got on average (CPU / wall), the result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = run(*args)
    wall = time.perf_counter() - started
    return wall, (time.process_time() - cpu) / wall, result


#: raregal.method.boruvka's parallel loops: neighbour queries (core distances), each
#: Boruvka round's queries, component updates, the first round.
PARALLEL = (
    "parallel_tree_query",
    "_candidates",
    "update_component_vectors",
    "initialize_boruvka_from_knn",
)


def parallel_split(x, min_samples):
    """CPU seconds of the new path on one thread: in all, and in its parallel loops."""
    spent = []
    originals = {name: getattr(boruvka, name) for name in PARALLEL}

    def counted(loop):
        def run(*args, **kwargs):
            started = time.process_time()
            result = loop(*args, **kwargs)
            spent.append(time.process_time() - started)
            return result

        return run

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for name, loop in originals.items():
            setattr(boruvka, name, counted(loop))
        started = time.process_time()
        _hdbscan_cpu(x, min_samples, defaults.HDBSCAN_MIN_CLUSTER_SIZE)
        return time.process_time() - started, sum(spent)
    finally:
        for name, loop in originals.items():
            setattr(boruvka, name, loop)
        numba.set_num_threads(before)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50000, 200000])
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--split", action="store_true", help="the one-thread CPU time in parallel loops, per size"
    )
    args = parser.parse_args()
    threads = numba.get_num_threads()
    warm = points(5000, args.dim)  # compile everything before timing
    _hdbscan_cpu(warm, 10, 10)
    fast_hdbscan_labels(warm, 10, 1, True)
    fast_hdbscan_labels(warm, 10, threads, False)
    print(f"{os.cpu_count()} cores, {threads} numba threads")
    print("seconds (cores the process got: CPU / wall time)")
    print(
        "n        min_samples  old seeded (1 thread)  new (all)         old unseeded (all)"
        "  new = old seeded  load avg 1 min (before, after)"
    )
    for n in args.sizes:
        x = points(n, args.dim)
        min_samples = scaled_min_samples(n)
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            old, old_cores, (old_labels, old_prob) = timed(
                fast_hdbscan_labels, x, min_samples, 1, True
            )
            new, new_cores, (new_labels, new_prob, _) = timed(
                _hdbscan_cpu, x, min_samples, defaults.HDBSCAN_MIN_CLUSTER_SIZE
            )
            unseeded, unseeded_cores, _ = timed(fast_hdbscan_labels, x, min_samples, threads, False)
            same = np.array_equal(old_labels, new_labels) and np.array_equal(old_prob, new_prob)
            print(
                f"{n:<8} {min_samples:<12} {old:>11.1f} s ({old_cores:.2f})  "
                f"{new:>7.1f} s ({new_cores:.2f})  {unseeded:>10.1f} s ({unseeded_cores:.2f})"
                f"  {same!s:>16}  {load:.1f}, {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        if args.split:
            total, parallel = parallel_split(x, min_samples)
            print(
                f"{n:<8} one thread: {total:.1f} s CPU, {parallel:.1f} s "
                f"({parallel / total:.1%}) in parallel loops; Amdahl on 2 / 16 cores: "
                + " / ".join(
                    f"{1 / (1 - parallel / total + parallel / total / c):.2f}x" for c in (2, 16)
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
