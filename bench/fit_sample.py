"""A fit on a sample against a full fit, side by side (issue 36 item 1).

One table of ``--rows`` x 40 representations (bench/survey.py's bulk: a smooth
12-D bulk with a falling spectrum, planted groups of 0.001 % to 0.05 % of the rows,
at least ``--min-group`` members, log-spaced), searched twice, each in a fresh
process (imports, numba compilation and peak memory counted honestly), seeded,
with the defaults but the fit sample:

- ``full``: the layout fitted on every galaxy (``fit_sample=None``);
- ``sample``: fitted on ``--fit-sample`` galaxies drawn at random, the others
  placed from their nearest sample galaxies (:mod:`raregal.method.sample_fit`).

Printed for each: wall time per stage and in all, peak resident memory, planted
groups recovered (raregal.measure.synthetic.recovery) by group size, and classes that
recover none. The target (issue 36): the sample fit recovers at least the groups
the full fit does, in at most half its time.

``--placement`` compares instead two ways to place the galaxies outside the sample,
on one umap-learn model of the sample (its own search index, seeded): umap-learn's
``transform`` (the weighted mean, then a third of the fit's epochs of layout against
the fixed sample) and raregal's weighted mean alone (:func:`raregal.method.sample_fit.place`);
each placed table is clustered as the search does (leaf HDBSCAN, scaled min_samples).

    python bench/fit_sample.py                          # 300k, sample 60k
    python bench/fit_sample.py --rows 100000 --fit-sample 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from read_scale import Peak  # noqa: E402
from survey import DIM, Bulk, group_sizes  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "fit_sample"


def make_table(rows: int, n_groups: int, least: int, seed: int = 0) -> Path:
    """Features and truth as .npz (made once per size)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"table_{rows}_{n_groups}_{least}_{seed}.npz"
    if not path.exists():
        rng = np.random.default_rng(seed)
        sizes = group_sizes(rows, n_groups, least)
        planted = np.full(rows, -1, dtype=np.int64)
        members = rng.choice(rows, size=int(sizes.sum()), replace=False)
        planted[members] = np.repeat(np.arange(len(sizes)), sizes)
        features = Bulk(DIM, len(sizes), rng).features(planted, rng)
        np.savez(path, features=features, planted=planted)
    return path


def worker(table: Path, fit_sample, seed: int) -> dict:
    import resource

    from raregal import RareClassFinder
    from raregal.measure.synthetic import recovery

    data = np.load(table)
    features, planted = data["features"], data["planted"]
    with Peak() as total:
        finder = RareClassFinder(seed=seed, fit_sample=fit_sample).fit(features)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    found = recovery(planted, finder.labels_)
    sizes = np.bincount(planted[planted >= 0])
    credible = finder.credibility_.table["credible"].to_numpy()
    found_credible = recovery(
        planted,
        np.where(
            finder.labels_ >= 0,
            np.where(credible[np.maximum(finder.labels_, 0)], finder.labels_, -1),
            -1,
        ),
    )
    return {
        "fit_sample": finder.fit_sample_,
        "wall_s": round(total.seconds, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_gib": round(total.peak / 2**30, 2),
        "stages": {name: stage["seconds"] for name, stage in finder.stages_.items()},
        "recovered": found["recovered"],
        "groups": found["groups"],
        "recovered_credible": found_credible["recovered"],
        "by_size": sorted(
            [int(s), bool(c >= 0.5 and p >= 0.5)]
            for s, c, p in zip(sizes, found["completeness"], found["purity"])
        ),
        "classes": found["classes"],
        "spurious": found["spurious"],
        "credible": int(credible.sum()),
        "min_samples": finder.min_samples_,
    }


def placement(table: Path, fit_sample: int, seed: int) -> None:
    """umap-learn's transform against the weighted mean alone (module docstring)."""
    import umap

    from raregal.measure.synthetic import recovery
    from raregal.method.cluster import leaf_clusters, resolve_min_samples
    from raregal.method.sample_fit import SampleIndex, draw_sample, graph_rows, place

    data = np.load(table)
    features, planted = data["features"], data["planted"]
    n = len(features)
    rows = draw_sample(n, fit_sample, seed)
    rest = np.setdiff1d(np.arange(n), rows)
    model = umap.UMAP(
        n_neighbors=50, n_components=5, init="pca", n_epochs=100, random_state=seed
    ).fit(features[rows])
    min_samples = resolve_min_samples("scaled", n, 10)
    for name in ("umap-learn transform", "weighted mean"):
        started = time.time()
        embedding = np.zeros((n, 5), dtype=np.float32)
        embedding[rows] = model.embedding_
        if name == "weighted mean":
            index = SampleIndex(features[rows], 50, seed)
            found = index.query(features[rest], 50)
            graph = graph_rows(rest, rows, *found)
            embedding[rest] = place(*graph, np.zeros(len(rest), bool), embedding)
        else:
            embedding[rest] = model.transform(features[rest])
        seconds = time.time() - started
        labels = leaf_clusters(embedding, min_samples=min_samples, min_cluster_size=10).labels
        found = recovery(planted, labels)
        print(
            f"{name:<22} placing {seconds:6.1f} s: recovered {found['recovered']}/"
            f"{found['groups']}, {found['classes']} classes, {found['spurious']} "
            f"recovering none",
            flush=True,
        )


def show(name: str, r: dict) -> None:
    stages = ", ".join(f"{k} {v:.0f}" for k, v in r["stages"].items())
    hits = " ".join(f"{s}{'+' if h else '-'}" for s, h in r["by_size"])
    print(
        f"{name:<7} fit on {r['fit_sample'] or 'all'}: {r['wall_s']:.0f} s "
        f"(process {r['process_s']:.0f} s, CPU {r.get('cpu_s', 0):.0f} s; {stages}), "
        f"peak {r['peak_gib']} GiB; "
        f"recovered {r['recovered']}/{r['groups']} ({r['recovered_credible']} by credible "
        f"classes), {r['classes']} classes ({r['credible']} credible), {r['spurious']} "
        f"recovering none; by size {hits}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--fit-sample", type=int, default=60_000)
    parser.add_argument("--groups", type=int, default=12)
    parser.add_argument("--min-group", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("full", "sample"))
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--placement",
        action="store_true",
        help="compare umap-learn's transform with the weighted mean alone",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    table = make_table(args.rows, args.groups, args.min_group)
    if args.placement:
        placement(table, args.fit_sample, args.seed)
        return
    if args.worker:
        fit = None if args.worker == "full" else args.fit_sample
        print(json.dumps(worker(table, fit, args.seed)))
        return
    results = {}
    for name in ("full", "sample") if args.only is None else (args.only,):
        started = time.time()
        done = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--worker", name],
            check=True,
            capture_output=True,
            text=True,
        )
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        results[name]["process_s"] = round(time.time() - started, 1)
        show(name, results[name])
    if len(results) == 2:
        print(
            f"sample / full wall time: "
            f"{results['sample']['process_s'] / results['full']['process_s']:.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
