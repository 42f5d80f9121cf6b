"""Benchmark `raregal search` against the paper's reference stack, side by side.

For each N: a synthetic 128-d representation table with planted small dense
groups (raregal.synthetic), then, each in a fresh process so that imports,
numba compilation and peak memory are counted honestly:

- raregal: `raregal.search` on the CPU with its defaults, end to end from the
  Parquet file to the run folder (PCA report; 5-D UMAP from pynndescent's
  neighbours, a PCA start and half of umap-learn's epochs; the 2-D map laid
  out on the same graph; fast_hdbscan leaf clusters; all outputs);
- reference: the same file read with pandas, umap-learn (5-D) + the hdbscan
  library, leaf selection, same parameters, labels written; no map.

With --rerun-reference the reference runs a second time (a different UMAP
run, as any unseeded rerun), which calibrates how much recovery, spurious classes
and the ARI move from run to run with no change of method.

Both stacks first run once, untimed, on a small table so that numba's on-disk
caches are warm for both.

Printed per N: wall time and peak memory per stage, process wall time and
raregal's share of the reference's, planted groups recovered and spurious
classes for each, the adjusted Rand index between the two, and -- on raregal's
own embedding -- between fast_hdbscan and hdbscan.
min_samples is the paper's 300 at 632k and raregal's sqrt(N) scaling below.

    python bench/search.py                       # 50k, 200k, 632k (about an hour on 2 cores)
    python bench/search.py --sizes 20000 --json bench/out/search.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_data(n: int, dim: int, seed: int, folder: Path) -> Path:
    from raregal.synthetic import planted_representations

    # Groups of 0.05-0.2% of N: rare, from below to above the detection limit.
    low, high = max(10, n // 2000), max(20, n // 500)
    table = planted_representations(n, dim=dim, n_groups=20, group_size=(low, high),
                                    fractions=False, seed=seed)
    path = folder / f"data_{n}.parquet"
    table.drop(columns="planted").to_parquet(path)
    np.save(path.with_suffix(".planted.npy"), table["planted"].to_numpy())
    return path


def worker_raregal(data: Path, min_samples: int, result: Path) -> None:
    """End to end: the representation file to the run folder, as `raregal search`."""
    import pandas as pd

    import raregal

    out = result.with_suffix(".run")
    # The paper's stack has no credibility step; its layout reruns (issue 14) are timed by
    # bench/credibility.py, so this compares the same work on both sides.
    finder = raregal.RareClassFinder(min_samples=min_samples, backend="cpu", stability_seeds=0)
    raregal.search(data, out, finder=finder, overwrite=True)
    classes = pd.read_parquet(out / "classes.parquet")
    np.savez(result, labels=classes["class"].to_numpy(),
             embedding=classes.filter(like="umap_").to_numpy())
    stages = json.loads((out / "run.json").read_text())["stages"]
    result.with_suffix(".json").write_text(json.dumps(stages))


def worker_reference(data: Path, min_samples: int, result: Path) -> None:
    """The paper's stack: read the same file, umap-learn 5-D, hdbscan, write labels."""
    import hdbscan
    import pandas as pd
    import umap

    from raregal.monitor import StageLog

    log = StageLog()
    with log.stage("read"):
        table = pd.read_parquet(data)
        X = table.filter(like="feat_").to_numpy(np.float32)
    with log.stage("umap", "reference umap-learn 5-D"):
        embedding = umap.UMAP(n_neighbors=50, n_components=5).fit_transform(X)
    with log.stage("hdbscan", "reference hdbscan library, leaf"):
        labels = hdbscan.HDBSCAN(min_samples=min_samples, min_cluster_size=10,
                                 cluster_selection_method="leaf").fit(embedding).labels_
    with log.stage("write"):
        pd.DataFrame({"id_str": table["id_str"], "class": labels}).to_parquet(
            result.with_suffix(".parquet"))
    np.savez(result, labels=labels, embedding=embedding)
    result.with_suffix(".json").write_text(json.dumps(log.stages))


def worker_agreement(data: Path, min_samples: int, result: Path) -> None:
    """hdbscan on raregal's own embedding: same input, two clustering libraries."""
    import hdbscan

    embedding = np.load(data)["embedding"]
    labels = hdbscan.HDBSCAN(min_samples=min_samples, min_cluster_size=10,
                             cluster_selection_method="leaf").fit(embedding).labels_
    np.savez(result, labels=labels)


WORKERS = {"raregal": worker_raregal, "reference": worker_reference,
           "agreement": worker_agreement}


def run_worker(name: str, data: Path, min_samples: int, result: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--worker", name, "--data", str(data),
                    "--min-samples", str(min_samples), "--result", str(result)], check=True)
    return time.perf_counter() - start


def benchmark(n: int, dim: int, seed: int, folder: Path, agreement: bool,
              rerun_reference: bool) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from raregal.cluster import scaled_min_samples
    from raregal.synthetic import recovery

    data = make_data(n, dim, seed, folder)
    planted = np.load(data.with_suffix(".planted.npy"))
    min_samples = scaled_min_samples(n)
    row = {"n": n, "dim": dim, "min_samples": min_samples,
           "planted_groups": int(planted.max() + 1)}
    labels = {}
    names = ("raregal", "reference") + (("reference_rerun",) if rerun_reference else ())
    for name in names:
        result = folder / f"{name}_{n}.npz"
        worker = "reference" if name == "reference_rerun" else name
        row[f"{name}_process_s"] = round(run_worker(worker, data, min_samples, result), 1)
        row[f"{name}_stages"] = json.loads(result.with_suffix(".json").read_text())
        labels[name] = np.load(result)["labels"]
        rec = recovery(planted, labels[name])
        row[f"{name}_recovered"], row[f"{name}_classes"] = rec["recovered"], rec["classes"]
        row[f"{name}_spurious"] = rec["spurious"]
        row[f"{name}_in_classes"] = round(float(np.mean(labels[name] >= 0)), 4)
    row["ari_raregal_vs_reference"] = round(adjusted_rand_score(labels["raregal"],
                                                                labels["reference"]), 3)
    if rerun_reference:
        row["ari_reference_vs_rerun"] = round(adjusted_rand_score(labels["reference"],
                                                                  labels["reference_rerun"]), 3)
    if agreement:
        result = folder / f"agreement_{n}.npz"
        run_worker("agreement", folder / f"raregal_{n}.npz", min_samples, result)
        row["ari_same_embedding"] = round(adjusted_rand_score(
            labels["raregal"], np.load(result)["labels"]), 3)
    return row


def print_row(row: dict) -> None:
    def stages(s):
        return ", ".join(f"{k} {v['seconds']:.1f}s/{v['peak_rss_mib'] / 1024:.2f}GiB"
                         for k, v in s.items())
    print(f"\nN={row['n']:,}  d={row['dim']}  min_samples={row['min_samples']}  "
          f"planted={row['planted_groups']}")
    for name in [k[:-len("_process_s")] for k in row if k.endswith("_process_s")]:
        peak = max(v["peak_rss_mib"] for v in row[f"{name}_stages"].values()) / 1024
        print(f"  {name:15s} process {row[f'{name}_process_s']:7.1f} s, peak {peak:.2f} GiB | "
              f"{stages(row[f'{name}_stages'])}")
        print(f"  {'':15s} recovered {row[f'{name}_recovered']}/{row['planted_groups']}, "
              f"classes {row[f'{name}_classes']}, spurious {row[f'{name}_spurious']}, "
              f"in classes {row[f'{name}_in_classes']:.1%}")
    share = row["raregal_process_s"] / row["reference_process_s"]
    print(f"  raregal / reference wall time: {share:.2f}")
    print(f"  ARI raregal vs reference (different UMAP runs): "
          f"{row['ari_raregal_vs_reference']}")
    if "ari_reference_vs_rerun" in row:
        print(f"  ARI reference vs its rerun (run-to-run variation): "
              f"{row['ari_reference_vs_rerun']}")
    if "ari_same_embedding" in row:
        print(f"  ARI fast_hdbscan vs hdbscan on the same embedding: "
              f"{row['ari_same_embedding']}")
    sys.stdout.flush()


def warm_up(folder: Path) -> None:
    """Run both stacks once on a small table, untimed, so that numba's on-disk
    caches are filled and neither side pays a compilation the other skipped."""
    data = make_data(5000, 16, 0, folder)
    for name in ("raregal", "reference"):
        run_worker(name, data, 20, folder / f"warm_{name}.npz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 632_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-agreement", action="store_true",
                        help="skip hdbscan on raregal's embedding")
    parser.add_argument("--rerun-reference", action="store_true",
                        help="run the reference twice, to show run-to-run variation")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--min-samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        WORKERS[args.worker](args.data, args.min_samples, args.result)
        return
    import os
    print(f"bench/search.py on {os.cpu_count()} cores; sizes {args.sizes}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp))
        for n in args.sizes:
            rows.append(benchmark(n, args.dim, args.seed, Path(tmp), not args.no_agreement,
                                  args.rerun_reference))
            print_row(rows[-1])
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
