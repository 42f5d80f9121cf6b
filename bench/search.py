"""Benchmark `raregal search` against the paper's reference stack, side by side.

For each table kind (bench/tables.py: ``current``, ``curved``, ``multiscale``) and
each N: a synthetic 128-d representation table with planted groups (the truth
saved beside it), then, each in a fresh process so that imports, numba compilation
and peak memory are counted honestly, ``--runs`` runs of each stack:

- raregal: `raregal.search` on the CPU with its defaults, end to end from the
  Parquet file to the run folder (PCA report; 5-D UMAP from pynndescent's
  neighbours, a PCA start and half of umap-learn's epochs; the 2-D map laid
  out on the same graph; fast_hdbscan leaf clusters; all outputs), without the
  credibility reruns (the paper's stack has none; bench/credibility.py times them);
- reference: the same file read with pandas, umap-learn (5-D) + the hdbscan
  library, leaf selection, same parameters, labels written; no map.

raregal runs in each of the ``--variants`` (VARIANTS): unseeded or seeded (run k
uses seed k), without or with 3 credibility reruns; the reference always unseeded.
Each run of a stack is a different UMAP run, so two runs measure how much recovery,
spurious classes and the ARI move from run to run with no change of method: the
spread any speed-up's change must be read against.

Both stacks first run once, untimed, on a small table so that numba's on-disk
caches are warm for both.

Printed per (table, N): wall time and peak memory per stage, process wall time and
raregal's share of the reference's (mean of the runs), planted groups recovered and
spurious classes for each run (on the ``multiscale`` table also the bulk's own leaf
sub-clusters recovered by the same rule: there, most "spurious" classes are real
structure of the bulk), the adjusted Rand index between the stacks and between runs
of each, and -- on raregal's first embedding -- between fast_hdbscan and hdbscan;
the 1-minute load average before and after each process (other work on the machine
slows both stacks: compare ratios within one run).
min_samples is the paper's 300 at 632k and raregal's sqrt(N) scaling below.

    python bench/search.py                       # 3 tables x 50k, 200k, 632k x 2 runs: hours
    python bench/search.py --sizes 50000 --tables curved --json bench/out/search.json
    python bench/search.py --sizes 50000 --set n_epochs=50   # a RareClassFinder setting
    python bench/search.py --sizes 100000 --tables current --runs 1 \
        --variants unseeded seeded seeded-reruns             # issue 37's speed table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tables import TABLES, make_table  # noqa: E402


def make_data(kind: str, n: int, dim: int, seed: int, folder: Path) -> Path:
    """Write the table (features and ids) as Parquet, its planted truth beside it (and
    the bulk's leaf sub-clusters, where the table kind has them)."""
    import pandas as pd

    features, planted, bulk = make_table(kind, n, dim, seed)
    path = folder / f"{kind}_{n}.parquet"
    table = pd.DataFrame(features, columns=[f"feat_{j}" for j in range(dim)])
    table.insert(0, "id_str", [f"synth_{i:07d}" for i in range(n)])
    table.to_parquet(path)
    np.save(path.with_suffix(".planted.npy"), planted)
    if bulk is not None:
        np.save(path.with_suffix(".bulk.npy"), bulk)
    return path


def worker_raregal(data: Path, min_samples: int, result: Path, params: dict) -> None:
    """End to end: the representation file to the run folder, as `raregal search`."""
    import pandas as pd

    import raregal

    out = result.with_suffix(".run")
    # params hold the variant's reruns (VARIANTS): the paper's stack has none
    settings = {"min_samples": min_samples, "backend": "cpu", **params}
    raregal.search(data, out, finder=raregal.RareClassFinder(**settings), overwrite=True)
    classes = pd.read_parquet(out / "classes.parquet")
    np.savez(
        result,
        labels=classes["class"].to_numpy(),
        embedding=classes.filter(like="umap_").to_numpy(),
    )
    stages = json.loads((out / "run.json").read_text())["stages"]
    result.with_suffix(".json").write_text(json.dumps(stages))


def worker_reference(data: Path, min_samples: int, result: Path, params: dict) -> None:
    """The paper's stack: read the same file, umap-learn 5-D, hdbscan, write labels."""
    import hdbscan
    import pandas as pd
    import umap

    from raregal.core.monitor import StageLog

    log = StageLog()
    with log.stage("read"):
        table = pd.read_parquet(data)
        X = table.filter(like="feat_").to_numpy(np.float32)
    with log.stage("umap", "reference umap-learn 5-D"):
        embedding = umap.UMAP(n_neighbors=50, n_components=5).fit_transform(X)
    with log.stage("hdbscan", "reference hdbscan library, leaf"):
        labels = (
            hdbscan.HDBSCAN(
                min_samples=min_samples, min_cluster_size=10, cluster_selection_method="leaf"
            )
            .fit(embedding)
            .labels_
        )
    with log.stage("write"):
        pd.DataFrame({"id_str": table["id_str"], "class": labels}).to_parquet(
            result.with_suffix(".parquet")
        )
    np.savez(result, labels=labels, embedding=embedding)
    result.with_suffix(".json").write_text(json.dumps(log.stages))


def worker_agreement(data: Path, min_samples: int, result: Path, params: dict) -> None:
    """hdbscan on raregal's own embedding: same input, two clustering libraries."""
    import hdbscan

    embedding = np.load(data)["embedding"]
    labels = (
        hdbscan.HDBSCAN(
            min_samples=min_samples, min_cluster_size=10, cluster_selection_method="leaf"
        )
        .fit(embedding)
        .labels_
    )
    np.savez(result, labels=labels)


STACKS = ("raregal", "reference")
#: raregal's settings per variant; "seed" True: run k is seeded with k.
VARIANTS = {
    "unseeded": {"stability_seeds": 0},
    "seeded": {"stability_seeds": 0, "seed": True},
    "seeded-reruns": {"stability_seeds": 3, "seed": True},
    "unseeded-reruns": {"stability_seeds": 3},
}
WORKERS = {"raregal": worker_raregal, "reference": worker_reference, "agreement": worker_agreement}


def load() -> float:
    """The 1-minute load average: how busy the shared cores were."""
    return (
        float(Path("/proc/loadavg").read_text().split()[0])
        if Path("/proc/loadavg").exists()
        else float("nan")
    )


def run_worker(
    name: str, data: Path, min_samples: int, result: Path, params: dict | None = None
) -> dict:
    """Run one worker in a fresh process; its wall time and the load around it."""
    before, start = load(), time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--data",
            str(data),
            "--min-samples",
            str(min_samples),
            "--result",
            str(result),
            "--params",
            json.dumps(params or {}),
        ],
        check=True,
    )
    return {"process_s": round(time.perf_counter() - start, 1), "load": [before, load()]}


def run_stack(
    stack: str,
    run: int,
    data: Path,
    planted: np.ndarray,
    bulk: np.ndarray | None,
    min_samples: int,
    folder: Path,
    params: dict,
    variant: str | None,
) -> dict:
    """One run of one stack (raregal in ``variant``): times, stages, recovery; labels
    and embedding in the npz."""
    from raregal.measure.synthetic import recovery

    result = folder / f"{data.stem}_{stack}{variant or ''}_{run}.npz"
    if stack == "raregal":
        params = {**VARIANTS[variant], **params}
        if params.get("seed") is True:
            params["seed"] = run
    out = run_worker(stack, data, min_samples, result, params if stack == "raregal" else {})
    out["stages"] = json.loads(result.with_suffix(".json").read_text())
    labels = np.load(result)["labels"]
    rec = recovery(planted, labels)
    out.update(
        recovered=rec["recovered"],
        classes=rec["classes"],
        spurious=rec["spurious"],
        in_classes=round(float(np.mean(labels >= 0)), 4),
        npz=str(result),
    )
    if bulk is not None:
        leaves = recovery(bulk, labels)
        out.update(bulk_leaves=leaves["groups"], bulk_recovered=leaves["recovered"])
    return out


def benchmark(
    kind: str,
    n: int,
    dim: int,
    seed: int,
    folder: Path,
    runs: int,
    stacks: list[str],
    agreement: bool,
    params: dict,
    variants: list[str],
) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from raregal.method.cluster import scaled_min_samples

    data = make_data(kind, n, dim, seed, folder)
    planted = np.load(data.with_suffix(".planted.npy"))
    bulk_path = data.with_suffix(".bulk.npy")
    bulk = np.load(bulk_path) if bulk_path.exists() else None
    min_samples = scaled_min_samples(n)
    row = {
        "table": kind,
        "n": n,
        "dim": dim,
        "min_samples": min_samples,
        "seed": seed,
        "planted_groups": int(planted.max() + 1),
        "raregal_params": params,
        "runs": {},
    }
    names = [
        (stack, variant)
        for stack in stacks
        for variant in (variants if stack == "raregal" else [None])
    ]
    for run in range(1, runs + 1):  # alternate the stacks: a load change hits both
        for stack, variant in names:
            row["runs"][f"{stack}{'-' + variant if variant else ''}_{run}"] = run_stack(
                stack, run, data, planted, bulk, min_samples, folder, params, variant
            )
    labels = {name: np.load(r["npz"])["labels"] for name, r in row["runs"].items()}
    kinds = list(dict.fromkeys(name.rsplit("_", 1)[0] for name in row["runs"]))
    pairs = [(f"{kind}_1", "reference_1") for kind in kinds if kind != "reference"] * (
        "reference" in stacks
    ) + [(f"{kind}_1", f"{kind}_{run}") for kind in kinds for run in range(2, runs + 1)]
    row["ari"] = {
        f"{a} vs {b}": round(adjusted_rand_score(labels[a], labels[b]), 3) for a, b in pairs
    }
    if agreement and "raregal" in stacks:
        first = f"raregal-{variants[0]}_1"
        result = folder / f"{data.stem}_agreement.npz"
        run_worker("agreement", Path(row["runs"][first]["npz"]), min_samples, result)
        row["ari"][f"fast_hdbscan vs hdbscan on {first}'s embedding"] = round(
            adjusted_rand_score(labels[first], np.load(result)["labels"]), 3
        )
    return row


def print_row(row: dict) -> None:
    def stages(s):
        return ", ".join(f"{k} {v['seconds']:.1f}s" for k, v in s.items())

    def bulk(r):  # the bulk's leaf sub-clusters recovered, where the table has them
        return f"{r['bulk_recovered']}/{r['bulk_leaves']}" if "bulk_leaves" in r else "-"

    print(
        f"\n{row['table']} table  N={row['n']:,}  d={row['dim']}  "
        f"min_samples={row['min_samples']}  planted={row['planted_groups']}  "
        f"raregal settings {row['raregal_params'] or 'default'}"
    )
    print(
        f"  {'run':26s} {'wall s':>7s} {'peak GiB':>8s} {'load':>9s} {'rec':>5s} "
        f"{'spur':>5s} {'in cl':>6s} {'bulk':>7s}  stages"
    )
    for name, r in row["runs"].items():
        peak = max(v["peak_rss_mib"] for v in r["stages"].values()) / 1024
        print(
            f"  {name:26s} {r['process_s']:7.1f} {peak:8.2f} "
            f"{r['load'][0]:4.1f}-{r['load'][1]:<4.1f} "
            f"{r['recovered']:>2d}/{row['planted_groups']:<2d} {r['spurious']:5d} "
            f"{r['in_classes']:6.1%} {bulk(r):>7s}  {stages(r['stages'])}"
        )
    walls: dict[str, list[float]] = {}
    for name, r in row["runs"].items():
        walls.setdefault(name.rsplit("_", 1)[0], []).append(r["process_s"])
    for kind, wall in walls.items():
        if kind != "reference" and "reference" in walls:
            print(
                f"  {kind} / reference wall time (means): "
                f"{np.mean(wall) / np.mean(walls['reference']):.2f}"
            )
    for pair, ari in row["ari"].items():
        print(f"  ARI {pair}: {ari}")
    sys.stdout.flush()


def warm_up(folder: Path, stacks: list[str]) -> None:
    """Run both stacks once on a small table, untimed, so that numba's on-disk
    caches are filled and neither side pays a compilation the other skipped."""
    data = make_data("current", 5000, 16, 0, folder)
    for name in stacks:
        run_worker(name, data, 20, folder / f"warm_{name}.npz")


def setting(text: str) -> tuple[str, object]:
    """``key=value`` with a JSON value (a bare word is a string): a RareClassFinder setting."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 632_000])
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=TABLES,
        default=list(TABLES),
        help="table kinds (bench/tables.py); default all",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=2,
        help="runs of each stack per table, for the run-to-run spread",
    )
    parser.add_argument(
        "--stacks",
        nargs="+",
        choices=STACKS,
        default=list(STACKS),
        help="which stacks to run (raregal alone: a setting's recovery)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=["unseeded"],
        help="raregal's variants, each run side by side with the reference (VARIANTS)",
    )
    parser.add_argument(
        "--seeded", action="store_true", help="the same as --variants seeded (run k: seed k)"
    )
    parser.add_argument(
        "--set",
        type=setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a RareClassFinder setting for raregal, e.g. n_epochs=50",
    )
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="the tables' seed")
    parser.add_argument(
        "--no-agreement", action="store_true", help="skip hdbscan on raregal's embedding"
    )
    parser.add_argument(
        "--no-warm-up",
        action="store_true",
        help="skip the untimed small run (numba's caches already warm)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="write tables, truth and results here instead of a temporary folder",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--min-samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--params", type=json.loads, default={}, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        WORKERS[args.worker](args.data, args.min_samples, args.result, args.params)
        return
    print(
        f"bench/search.py on {os.cpu_count()} cores; tables {args.tables}; sizes "
        f"{args.sizes}; {args.runs} runs; load {Path('/proc/loadavg').read_text().strip()}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not args.no_warm_up:
            warm_up(folder, args.stacks)
        for n in args.sizes:
            for kind in args.tables:
                rows.append(
                    benchmark(
                        kind,
                        n,
                        args.dim,
                        args.seed,
                        folder,
                        args.runs,
                        args.stacks,
                        not args.no_agreement,
                        dict(args.set),
                        ["seeded"] if args.seeded else args.variants,
                    )
                )
                print_row(rows[-1])
                if args.json:
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
