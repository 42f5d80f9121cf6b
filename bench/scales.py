"""Classes at several scales (raregal.method.scales): planted groups recovered by
credible classes with one min_samples and with several, from the same embedding.

The table: a smooth curved 12-D bulk in 128-d (bench/tables.py's ``curved``) with
20 tight planted groups whose sizes are log-spaced from 10 to 1,300 members, at any N.
One seeded search with ``scales=K`` clusters the embedding at its own min_samples and
the finer ones; the single-scale result is its first scale, assessed by the same
credible rule (the same work as a search with ``scales=1``, without a second layout).

    python bench/scales.py --rows 200000 --seeds 0 1 --scales 4

prints per seed and number of scales (the first 1, 2, ... K of the same search): the
finest min_samples, the classes and credible classes,
planted groups recovered by a credible class (raregal.measure.synthetic.recovery: one class
holds half a group and is half that group), the share of credible classes that recover
a group, and the seconds of HDBSCAN at every scale with its credibility (reruns included).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tables  # noqa: E402  (bench/tables.py)


def planted_table(
    n: int,
    seed: int,
    dim: int = 128,
    n_groups: int = 20,
    sizes=(10, 1300),
    tightness: float = 0.25,
    noise: float = 0.05,
):
    """(features (n, dim) float32, planted (n,) int64): ``curved`` with 20 groups."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, tables.LATENT))
    group_sizes = rng.permutation(np.geomspace(*sizes, n_groups).round().astype(np.int64))
    planted = tables.plant(latent, group_sizes, tightness, rng)
    features = tables.smooth_map(latent, dim, rng)
    features += rng.standard_normal(features.shape).astype(np.float32) * noise
    return features, planted


def credible_recovery(planted, labels, credible) -> dict:
    from raregal.measure.synthetic import recovery
    from raregal.method.credibility import keep_credible

    kept_labels, kept = keep_credible(labels, np.asarray(credible, bool))
    found = recovery(planted, kept_labels)
    return {
        "classes": int(labels.max(initial=-1)) + 1,
        "credible": len(kept),
        "recovered": found["recovered"],
        "groups": found["groups"],
        "real": len(kept) - found["spurious"],
    }


def settings(finder, features):
    """(name, min_samples used, labels, credible) with the first 1, 2, ... scales."""
    from raregal.method.scales import combine

    results = finder.scale_results_
    first = results[0]
    yield "1 scale", first.min_samples, first.labels, first.classes["credible"].to_numpy()
    for j in range(2, len(results) + 1):
        labels, _, table = combine(
            results[:j], finder.min_cluster_size, finder.neighbours_, features
        )
        yield f"{j} scales", results[j - 1].min_samples, labels, table["credible"].to_numpy()


def clustering_seconds(finder) -> float:
    """HDBSCAN at every scale, its credibility (reruns included) and the combining: the
    scales are no longer a stage of their own, as each layout's neighbours are searched
    once for all of them."""
    stages = finder.stages_  # "scales" only when there are several
    return sum(
        stages[name]["seconds"] for name in ("hdbscan", "credibility", "scales") if name in stages
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scales", type=int, default=4)
    args = parser.parse_args()
    from raregal.method.search import RareClassFinder

    print(
        "seed  setting    finest min_samples  classes credible recovered  real  cluster_s  search_s"
    )
    for seed in args.seeds:
        features, planted = planted_table(args.rows, seed)
        started = time.time()
        finder = RareClassFinder(seed=seed, scales=args.scales, make_map=False).fit(features)
        wall = time.time() - started
        for name, finest, labels, credible in settings(finder, features):
            r = credible_recovery(planted, labels, credible)
            print(
                f"{seed:4d}  {name:9s}  {finest:18d}  {r['classes']:7d} {r['credible']:8d} "
                f"{r['recovered']:6d}/{r['groups']:<2d} {r['real']:4d}  "
                f"{clustering_seconds(finder):9.1f}  {wall:8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
