"""The deterministic parallel layout (raregal.method.layout) against umap-learn's, on the same
graph (issue 37).

For each table kind (bench/tables.py) and N: one fuzzy neighbour graph (umap-learn's
5-D UMAP at raregal's settings: n_neighbors 50, a PCA start, 100 epochs), then the
layout of that graph from ``--seeds`` by each gradient descent (``--layouts``, LAYOUTS)
-- umap-learn's seeded (on one thread, as a seeded search runs it), the same with the
rows in a random order per seed, umap-learn's on all threads (its epochs race, so the
seed does not fix it: the reference stack's layout) and raregal.method.layout's (all
threads) -- through raregal.method.credibility.layout_rerun, the function the
stability reruns use. For each layout:

- its wall time;
- trustworthiness (sklearn.manifold.trustworthiness, 15 neighbours) on a random
  subsample of ``--subsample`` rows, and neighbour preservation: the share of each of
  ``--queries`` rows' 15 nearest neighbours in the 128-d table (exact, among all N) that
  are among its 15 nearest in the layout;
- HDBSCAN (leaf, raregal's scaled min_samples): classes,
  planted groups recovered and spurious classes (raregal.measure.synthetic.recovery);

and, between the seeds of each descent (the run-to-run spread) and across descents
(every pair of seeds), the adjusted Rand index of the HDBSCAN classes and the share of
the queries' 15 nearest neighbours the two layouts share (mean, min, max). The load
average before and after each table.

    python bench/layout_quality.py --sizes 50000 200000 --tables current curved
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tables import TABLES, make_table  # noqa: E402

#: umap-learn's descent seeded (one thread, as a seeded search runs it), the same on the
#: rows in a random order per seed (umap-learn takes the edges in the rows' order, which a
#: catalogue is free to change: part of its run-to-run spread), unseeded on all threads
#: (its parallel epochs race: the reference stack's), and raregal.method.layout's.
LAYOUTS = ("umap-learn", "umap-learn shuffled", "umap-learn parallel", "deterministic")
K = 15  # neighbours for trustworthiness and preservation


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def graph(features: np.ndarray):
    """The 5-D UMAP model whose fuzzy graph every layout lays out (unseeded: the graph's
    NN-descent and the model's own layout are not compared)."""
    from raregal.core import defaults
    from raregal.method.reduce import umap_embed

    return umap_embed(
        features,
        n_components=defaults.UMAP_N_COMPONENTS,
        n_neighbors=defaults.UMAP_N_NEIGHBORS,
        init="pca",
        n_epochs=defaults.UMAP_N_EPOCHS,
    )[1]


def lay_out(features, model, layout: str, seed: int) -> tuple[np.ndarray, float]:
    from raregal.core import defaults
    from raregal.method.credibility import layout_rerun
    from raregal.method.layout import deterministic_layout

    order = np.arange(len(features))
    if layout == "umap-learn shuffled":
        order = np.random.default_rng(1000 + seed).permutation(len(features))
        model = copy.copy(model)
        model.graph_ = model.graph_.tocsr()[order][:, order].tocsr()
    start = time.perf_counter()
    with deterministic_layout(layout == "deterministic"):
        embedding = np.empty((len(features), model.n_components), dtype=np.float32)
        embedding[order] = layout_rerun(
            features[order],
            model,
            init="pca",
            n_epochs=defaults.UMAP_N_EPOCHS,
            seed=seed,
            parallel=layout == "umap-learn parallel",
        )
    return embedding, time.perf_counter() - start


def neighbours(points, queries: np.ndarray) -> np.ndarray:
    """The queries' K nearest neighbours among all rows (exact), shape (len(queries), K)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=K + 1, algorithm="brute").fit(points)
    return index.kneighbors(points[queries], return_distance=False)[:, 1:]


def shared(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of each row's K neighbours in ``a`` also among its K in ``b``."""
    return float(np.mean([len(np.intersect1d(x, y)) / K for x, y in zip(a, b)]))


def measure(features, planted, embedding, min_samples, subsample, queries, truth) -> dict:
    """``truth``: the queries' neighbours in the table (:func:`neighbours`)."""
    from sklearn.manifold import trustworthiness

    from raregal.measure.synthetic import recovery
    from raregal.method.cluster import leaf_clusters

    labels = leaf_clusters(embedding, min_samples=min_samples).labels
    rec = recovery(planted, labels)
    near = neighbours(embedding, queries)
    return {
        "trust": trustworthiness(features[subsample], embedding[subsample], n_neighbors=K),
        "preserved": shared(truth, near),
        "neighbours": near,
        "recovered": rec["recovered"],
        "classes": rec["classes"],
        "spurious": rec["spurious"],
        "labels": labels,
    }


def benchmark(kind: str, n: int, dim: int, seed: int, seeds: list[int], args) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from raregal.method.cluster import scaled_min_samples

    features, planted, _ = make_table(kind, n, dim, seed)
    rng = np.random.default_rng(seed)
    subsample = rng.choice(n, min(args.subsample, n), replace=False)
    queries = rng.choice(n, min(args.queries, n), replace=False)
    min_samples = scaled_min_samples(n)
    row = {
        "table": kind,
        "n": n,
        "min_samples": min_samples,
        "planted": int(planted.max() + 1),
        "load": [load()],
        "layouts": {},
    }
    start = time.perf_counter()
    model = graph(features)
    row["graph_s"] = round(time.perf_counter() - start, 1)
    truth = neighbours(features, queries)  # the table's own: the same for every layout
    labels, near = {}, {}
    for s in seeds:  # alternate the descents: a load change hits both
        for layout in args.layouts:
            embedding, seconds = lay_out(features, model, layout, s)
            m = measure(features, planted, embedding, min_samples, subsample, queries, truth)
            labels[layout, s], near[layout, s] = m.pop("labels"), m.pop("neighbours")
            row["layouts"][f"{layout} seed {s}"] = {
                "seconds": round(seconds, 1),
                "load": load(),
                **m,
            }
    ari = {}
    pairs = [(one, one) for one in args.layouts] + list(itertools.combinations(args.layouts, 2))
    for one, other in pairs:
        seed_pairs = (
            list(itertools.combinations(seeds, 2))
            if one == other
            else [(a, b) for a in seeds for b in seeds]
        )
        measures = {
            "ARI": [adjusted_rand_score(labels[one, a], labels[other, b]) for a, b in seed_pairs],
            f"{K}-NN shared": [shared(near[one, a], near[other, b]) for a, b in seed_pairs],
        }
        for name, values in measures.items():
            ari[f"{name} {one} vs {other}: mean, min, max"] = (
                np.mean(values),
                np.min(values),
                np.max(values),
            )
    row["ari"] = {k: np.round(v, 3).tolist() for k, v in ari.items()}
    row["load"].append(load())
    return row


def print_row(row: dict) -> None:
    print(
        f"\n{row['table']} table  N={row['n']:,}  min_samples={row['min_samples']}  "
        f"planted={row['planted']}  graph {row['graph_s']} s  load {row['load'][0]}"
        f"-{row['load'][1]}"
    )
    print(
        f"  {'layout':22s} {'s':>6s} {'load':>5s} {'trust':>6s} {'kNN kept':>8s} "
        f"{'rec':>6s} {'classes':>7s} {'spur':>5s}"
    )
    for name, r in row["layouts"].items():
        print(
            f"  {name:22s} {r['seconds']:6.1f} {r['load']:>5s} {r['trust']:6.3f} "
            f"{r['preserved']:8.3f} {r['recovered']:>3d}/{row['planted']:<2d} "
            f"{r['classes']:7d} {r['spurious']:5d}"
        )
    for pair, value in row["ari"].items():
        print(f"  {pair}: {value}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=["current"])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[1, 2, 3],
        help="layout seeds, each run by every descent",
    )
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    parser.add_argument(
        "--subsample",
        type=int,
        default=5000,
        help="rows for trustworthiness (its cost is quadratic)",
    )
    parser.add_argument(
        "--queries",
        type=int,
        default=2000,
        help="rows whose neighbours are checked for preservation",
    )
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="the tables' seed")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    import numba

    print(
        f"bench/layout_quality.py on {os.cpu_count()} cores, {numba.get_num_threads()} "
        f"numba threads; tables {args.tables}; sizes {args.sizes}; seeds {args.seeds}; "
        f"load {Path('/proc/loadavg').read_text().strip()}"
    )
    rows = []
    for n in args.sizes:
        for kind in args.tables:
            rows.append(benchmark(kind, n, args.dim, args.seed, args.seeds, args))
            print_row(rows[-1])
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
