"""Which neighbour index to persist in a run folder: pynndescent, FAISS, or the
search's own graph (bench note for issue 36, item 3).

On a planted table of N galaxies (``raregal.synthetic.planted_representations``,
40 features, the published GZ DESI width), each candidate is timed for what a run
folder would need: its build beyond what the search already does, its size on
disk, one query's latency (a galaxy of the run, as "more like this" asks) and its
recall of the 12 exact nearest neighbours (scikit-learn brute force) of 200
galaxies:

- ``graph``: the search's k-nearest-neighbour graph (NN-descent, 50 wide, as
  :func:`raregal.method.reduce.nearest_neighbours` builds above 20,000 galaxies) kept as
  arrays; a galaxy's neighbours are its row. Build: nothing beyond the search.
- ``pynndescent``: the same NNDescent, ``prepare()``-d for queries of new points
  (its search tree and pruned search graph).
- ``faiss-hnsw``: FAISS's HNSW (32 links) over the same features, when the
  ``faiss`` module imports (``--faiss-path`` adds a folder to ``sys.path``).

    python bench/neighbour_index.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=40)
    parser.add_argument("--faiss-path", help="a folder holding the faiss package")
    args = parser.parse_args()
    if args.faiss_path:
        sys.path.insert(0, args.faiss_path)
    from sklearn.neighbors import NearestNeighbors

    from raregal.measure.synthetic import planted_representations
    from raregal.method.reduce import approximate_neighbours

    table = planted_representations(args.n, dim=args.dim, n_groups=40, seed=0, fractions=False)
    x = table.filter(like="feat_").to_numpy(np.float32)
    del table
    probe = np.random.default_rng(1).choice(args.n, 200, replace=False)
    k = 12
    exact = (
        NearestNeighbors(n_neighbors=k + 1, algorithm="brute")
        .fit(x)
        .kneighbors(x[probe], return_distance=False)[:, 1:]
    )
    results = {"n": args.n, "dim": args.dim}

    started = time.perf_counter()
    graph, distances = approximate_neighbours(x, 50, seed=0)
    results["search_graph_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    rows = np.stack([graph[r, 1 : k + 1] for r in probe])
    results["graph"] = {
        "extra_build_s": 0.0,
        "disk_mib": round((graph.size * 4 + distances.size * 4) / 2**20),
        "query_ms": round((time.perf_counter() - started) / len(probe) * 1e3, 3),
        "recall": round(recall(rows, exact), 4),
    }
    print(json.dumps(results), flush=True)

    from pynndescent import NNDescent

    started = time.perf_counter()
    index = NNDescent(
        x,
        n_neighbors=50,
        metric="euclidean",
        random_state=0,
        max_candidates=60,
        low_memory=True,
        compressed=False,
    )
    built = time.perf_counter() - started
    started = time.perf_counter()
    index.prepare()
    prepared = time.perf_counter() - started
    index.query(x[probe[:1]], k=k + 1)  # first call: any compilation
    started = time.perf_counter()
    found = np.concatenate([index.query(x[[r]], k=k + 1)[0][:, 1:] for r in probe])
    query = (time.perf_counter() - started) / len(probe)
    import pickle

    with tempfile.TemporaryFile() as handle:
        pickle.dump(index, handle)
        size = handle.tell()
    results["pynndescent"] = {
        "build_s": round(built, 1),
        "prepare_s": round(prepared, 1),
        "disk_mib": round(size / 2**20),
        "query_ms": round(query * 1e3, 3),
        "recall": round(recall(found, exact), 4),
    }
    del index
    print(json.dumps(results), flush=True)
    try:
        import faiss
    except ImportError:
        results["faiss-hnsw"] = "faiss not installed"
    else:
        faiss.omp_set_num_threads(2)
        started = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(args.dim, 32)
        hnsw.add(x)
        built = time.perf_counter() - started
        hnsw.hnsw.efSearch = 64
        started = time.perf_counter()
        found = np.concatenate([hnsw.search(x[[r]], k + 1)[1][:, 1:] for r in probe])
        query = (time.perf_counter() - started) / len(probe)
        with tempfile.TemporaryDirectory() as folder:
            faiss.write_index(hnsw, str(Path(folder) / "hnsw.faiss"))
            size = (Path(folder) / "hnsw.faiss").stat().st_size
        results["faiss-hnsw"] = {
            "build_s": round(built, 1),
            "disk_mib": round(size / 2**20),
            "query_ms": round(query * 1e3, 3),
            "recall": round(recall(found, exact), 4),
            "version": faiss.__version__,
        }
    results["peak_mib"] = round(peak_mib())
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
