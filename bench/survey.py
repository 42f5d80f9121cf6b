"""Search at survey scale, end to end (issue 36 item 5): read, cut, search, write.

Generates once (cached under bench/out/survey/, git-ignored) a table with the
published GZ DESI layout, as bench/read_scale.py builds it, at ``--rows``:

``representations.parquet``
    ``id_str`` + ``feat_pca_0 … feat_pca_39`` float32 (the published 40 principal
    components): a smooth bulk on a 12-D subspace with a falling spectrum, small
    isotropic noise, and ``--groups`` planted groups, tight Gaussian blobs at random
    bulk points, of 0.001 % to 0.05 % of the rows (log-spaced, at least
    ``--min-group`` members), all among the galaxies the paper's cuts keep;
``friendly.parquet``
    The friendly catalogue's columns (bench/read_scale.py: ids, ra/dec, the 34 vote
    fractions with GZ DESI's NaN mask, in another row order), the cuts keeping about
    7.3 % as the paper's 632k of 8.7M; the planted galaxies are featured, face-on,
    clean. The truth is saved beside them (``planted_{rows}.npy``, by row).

Then runs ``raregal.search`` in a fresh process (``--fit-sample``, default auto,
seeded; ``--stability-seeds``, default 0, as the issue-36 figures were made: a default
search now makes 3 reruns at every size) and prints wall time and the
process's peak resident memory per stage (read, cut, features, each search stage,
write: run.json's stages, psutil sampled every 50 ms for the whole), and the planted
groups recovered (a class holding at least half of a group, at least half of it
the group: raregal.measure.synthetic.recovery) by group size.

    python bench/survey.py --rows 1000000                 # ~73k searched
    python bench/survey.py --rows 8700000 --json bench/out/survey/8.7M.json
    python bench/survey.py --rows 1000000 --fit-sample off   # a full fit, to compare
    python bench/survey.py --rows 1000000 --stability-seeds 3  # as a default search
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from read_scale import ROW_GROUP, Peak, _fractions, _ids  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "survey"
DIM = 40
LATENT = 12
CHUNK = 500_000
GROUP_SHARE = (1e-5, 5e-4)  # 0.001 % to 0.05 % of the rows (issue 36)


def group_sizes(rows: int, n_groups: int, least: int) -> np.ndarray:
    """Log-spaced from 0.001 % to 0.05 % of the rows, none below ``least``."""
    low, high = (max(least, round(share * rows)) for share in GROUP_SHARE)
    return np.geomspace(low, max(low, high), n_groups).round().astype(np.int64)


class Bulk:
    """A smooth 12-D bulk with a falling spectrum mapped to ``dim`` features, with
    planted groups: ``features(rows, planted)`` draws any block of rows alike."""

    def __init__(
        self,
        dim: int,
        n_groups: int,
        rng: np.random.Generator,
        tightness: float = 0.05,
        noise: float = 0.02,
    ):
        self.scales = np.exp(-np.arange(LATENT) / 4.0)
        self.basis, _ = np.linalg.qr(rng.standard_normal((dim, LATENT)))
        self.centres = rng.standard_normal((n_groups, LATENT)) * self.scales
        self.tightness, self.noise, self.dim = tightness, noise, dim

    def features(self, planted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        latent = rng.standard_normal((len(planted), LATENT)) * self.scales
        grouped = planted >= 0
        latent[grouped] = (
            self.centres[planted[grouped]]
            + rng.standard_normal((grouped.sum(), LATENT)) * self.scales * self.tightness
        )
        features = (
            latent @ self.basis.T + rng.standard_normal((len(planted), self.dim)) * self.noise
        )
        return features.astype(np.float32)


def plant_rows(candidates: np.ndarray, sizes: np.ndarray, rng) -> np.ndarray:
    """Each row's planted group (-1: bulk), groups drawn among ``candidates``."""
    planted = np.full(int(candidates.max(initial=0)) + 1, -1, dtype=np.int64)
    chosen = rng.choice(candidates, size=int(sizes.sum()), replace=False)
    planted[chosen] = np.repeat(np.arange(len(sizes)), sizes)
    return planted


def generate(rows: int, n_groups: int, least: int, folder: Path = OUT):
    """The two tables and the truth (module docstring), made once per size."""
    from raregal.core import defaults

    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{rows}_{n_groups}_{least}"
    reps, friendly = folder / f"representations_{tag}.parquet", folder / f"friendly_{tag}.parquet"
    truth = folder / f"planted_{tag}.npy"
    if reps.exists() and friendly.exists() and truth.exists():
        return reps, friendly, truth
    rng = np.random.default_rng(0)
    brick, obj, ids = _ids(rows)
    fractions = _fractions(rng, rows)
    keeps = (
        (fractions[defaults.SMOOTH_COLUMN] < defaults.SMOOTH_THRESHOLD)
        & ~(fractions[defaults.EDGE_ON_COLUMN] >= defaults.EDGE_ON_THRESHOLD)
        & (fractions[defaults.ARTIFACT_COLUMN] < defaults.ARTIFACT_THRESHOLD)
    )
    sizes = group_sizes(rows, n_groups, least)
    planted = np.full(rows, -1, dtype=np.int64)
    part = plant_rows(np.flatnonzero(keeps), sizes, rng)
    planted[: len(part)] = part
    bulk = Bulk(DIM, len(sizes), rng)
    t0 = time.time()
    schema = pa.schema(
        [("id_str", pa.string())] + [(f"feat_pca_{i}", pa.float32()) for i in range(DIM)]
    )
    with pq.ParquetWriter(str(reps) + ".tmp", schema) as writer:
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            block = bulk.features(planted[start:stop], rng)
            arrays = [pa.array(ids[start:stop])] + [pa.array(block[:, i]) for i in range(DIM)]
            writer.write_table(
                pa.Table.from_arrays(arrays, schema=schema), row_group_size=ROW_GROUP
            )
    os.replace(str(reps) + ".tmp", reps)
    order = rng.permutation(rows)  # the friendly table is in its own order
    writer = None
    for start in range(0, rows, CHUNK):
        here = order[start : start + CHUNK]
        columns = {
            "dr8_id": pa.array(ids[here]),
            "ra": rng.uniform(0, 360, len(here)),
            "dec": rng.uniform(-20, 80, len(here)),
            "brickid": brick[here].astype(np.int32),
            "objid": obj[here].astype(np.int32),
        }
        columns.update({name: values[here] for name, values in fractions.items()})
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(str(friendly) + ".tmp", table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    writer.close()
    os.replace(str(friendly) + ".tmp", friendly)
    np.save(truth, planted)
    print(
        f"generated {rows:,} rows ({int(keeps.sum()):,} pass the cuts), groups of "
        f"{sizes.tolist()} in {time.time() - t0:.0f} s",
        flush=True,
    )
    return reps, friendly, truth


def run(
    reps: Path,
    friendly: Path,
    truth: Path,
    out: Path,
    fit_sample,
    seed: int,
    dask_workers: int | None = None,
    stability_seeds: int = 0,
) -> dict:
    """One search, end to end, in this process: stages, peak memory, recovery."""
    import resource

    import pandas as pd

    import raregal
    from raregal.measure.synthetic import recovery

    finder = raregal.RareClassFinder(
        seed=seed, fit_sample=fit_sample, stability_seeds=stability_seeds
    )
    with Peak() as total:
        raregal.search(
            reps,
            out,
            predictions=friendly,
            finder=finder,
            overwrite=True,
            verbose=False,
            dask_workers=dask_workers,
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = json.loads((out / "run.json").read_text())
    classes = pd.read_parquet(out / "classes.parquet", columns=["id_str", "class"])
    planted = np.load(truth)
    ids = _ids(len(planted))[2]
    rows = pd.Index(ids).get_indexer(classes["id_str"])
    truth_here = planted[rows]
    found = recovery(truth_here, classes["class"].to_numpy())
    sizes = np.bincount(truth_here[truth_here >= 0])
    return {
        "rows": len(planted),
        "searched": len(classes),
        "fit_sample": record["parameters"]["fit_sample_used"],
        "stages": record["stages"],
        "wall_s": round(total.seconds, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_gib": round(total.peak / 2**30, 2),
        "groups": sorted(
            [int(size), bool(c >= 0.5 and p >= 0.5)]
            for size, c, p in zip(sizes, found["completeness"], found["purity"])
        ),
        "recovered": found["recovered"],
        "n_groups": found["groups"],
        "classes": found["classes"],
        "spurious": found["spurious"],
    }


def show(result: dict) -> None:
    print(
        f"{result['rows']:,} rows, {result['searched']:,} searched, fit sample "
        f"{result['fit_sample']}: {result['wall_s']} s (CPU {result['cpu_s']} s), peak RSS "
        f"{result['peak_gib']} GiB"
    )
    for name, stage in result["stages"].items():
        print(
            f"  {name:<16} {stage.get('seconds', 0):8.1f} s  "
            f"peak {stage.get('peak_rss_mib', 0) / 1024:5.2f} GiB"
        )
    print(
        f"  planted groups recovered: {result['recovered']} of {result['n_groups']} "
        f"({result['classes']} classes, {result['spurious']} recovering none)"
    )
    print(
        "  by size: "
        + ", ".join(f"{size}:{'yes' if hit else 'no'}" for size, hit in result["groups"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8_700_000)
    parser.add_argument("--groups", type=int, default=12)
    parser.add_argument(
        "--min-group",
        type=int,
        default=20,
        help="fewest members of a group (below min_cluster_size none is found)",
    )
    parser.add_argument("--fit-sample", default="auto", help="N, auto or off")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stability-seeds", type=int, default=0)
    parser.add_argument("--dask-local", type=int)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    fit_sample = (
        {"off": None, "auto": "auto"}.get(args.fit_sample)
        if args.fit_sample in ("off", "auto")
        else int(args.fit_sample)
    )
    reps, friendly, truth = generate(args.rows, args.groups, args.min_group)
    out = OUT / f"run_{args.rows}_{args.fit_sample}"
    if args.worker:
        result = run(
            reps,
            friendly,
            truth,
            out,
            fit_sample,
            args.seed,
            args.dask_local,
            args.stability_seeds,
        )
        print(json.dumps(result))
        return
    # a fresh process: imports, numba compilation and memory counted honestly
    command = [sys.executable, __file__, "--worker", *sys.argv[1:]]
    started = time.time()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.time() - started, 1)
    show(result)
    print(f"  process wall time {result['process_s']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
