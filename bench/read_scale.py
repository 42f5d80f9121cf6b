"""Read + join + cut at the paper's scale: 8.7M galaxies, 128-d representations.

Generates once (cached under bench/out/read_scale/, git-ignored) two Parquet files
laid out like the real ones (docs/conventions.md, "Published layouts"):

``representations.parquet``
    ``id_str`` (``{brickid}_{objid}``) + ``feat_0 … feat_127`` float32, written by
    pyarrow in row groups of 131,072 rows (Zoobot's tables are pandas/pyarrow
    Parquet): 8.7M × 128 × 4 B = 4.5 GB of features.
``friendly.parquet``
    The GZ DESI friendly table's columns and dtypes (``dr8_id`` string, ``ra``/``dec``
    float64, ``brickid``/``objid`` int32, the 34 ``*_fraction`` float32 columns), in
    another row order, with GZ DESI's NaN masking (a question's fractions are NaN
    where fewer than half of the volunteers would have been asked it). The fractions
    are drawn so that the paper's cuts keep about 632k of 8.7M, as in the paper.

Then times each step with the process's peak resident memory (psutil, sampled
every 50 ms), each path in a fresh process:

1. raregal's path (:func:`raregal.io.catalogue.open_inputs`): ids + cut columns only,
   the join, the cuts, then the features of the survivors only;
2. the naive reference: pandas reads both files whole, joins, cuts, takes the
   survivors' features. It needs ~3x the data in memory, so it runs at
   ``--naive-rows`` (default 1M) unless told otherwise, and the figure says so.

    python bench/read_scale.py                  # 8.7M (generates ~7.6 GB once)
    python bench/read_scale.py --rows 1000000   # a quicker look
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from raregal.io.schemas import GZ_DESI

OUT = Path(__file__).resolve().parent / "out" / "read_scale"
DIM = 128
ROW_GROUP = 131_072
CHUNK = 500_000


def _ids(rows: int) -> np.ndarray:
    """dr8_id-like ids, ``{brickid}_{objid}``: ~3,000 objects per brick."""
    n = np.arange(rows)
    brick, obj = 300_000 + n // 3000, n % 3000
    return brick, obj, np.char.add(np.char.add(brick.astype(str), "_"), obj.astype(str))


def _fractions(rng, n) -> dict[str, np.ndarray]:
    """GZ DESI vote fractions with the friendly table's NaN masking."""
    out, asked = {}, {}
    for question in GZ_DESI.questions:
        k = len(question.answers)
        alpha = np.ones(k)
        if question.name == "smooth-or-featured":
            alpha = np.array([3.85, 1.05, 0.25])  # ~7.3% pass the cuts, as 632k of 8.7M
        elif question.name == "disk-edge-on":
            alpha = np.array([0.5, 2.0])
        values = rng.dirichlet(alpha, size=n).astype(np.float32)
        reach = np.ones(n) if question.asked_if is None else asked[question.asked_if]
        for j, answer in enumerate(question.answers):
            asked[f"{question.name}_{answer}"] = reach * values[:, j]
            column = values[:, j].copy()
            column[reach < 0.5] = np.nan  # fewer than half asked: masked
            out[f"{question.name}_{answer}_fraction"] = column
    return out


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    reps, friendly = folder / f"representations_{rows}.parquet", folder / f"friendly_{rows}.parquet"
    if reps.exists() and friendly.exists():
        return reps, friendly
    rng = np.random.default_rng(0)
    brick, obj, ids = _ids(rows)
    t0 = time.time()
    schema = pa.schema(
        [("id_str", pa.string())] + [(f"feat_{i}", pa.float32()) for i in range(DIM)]
    )
    with pq.ParquetWriter(str(reps) + ".tmp", schema) as writer:
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            block = rng.standard_normal((stop - start, DIM), dtype=np.float32)
            arrays = [pa.array(ids[start:stop])] + [pa.array(block[:, i]) for i in range(DIM)]
            writer.write_table(
                pa.Table.from_arrays(arrays, schema=schema), row_group_size=ROW_GROUP
            )
    os.replace(str(reps) + ".tmp", reps)
    print(f"generated {reps.name} in {time.time() - t0:.0f} s", flush=True)
    order = rng.permutation(rows)  # the friendly table is in its own order
    t0 = time.time()
    writer = None
    for start in range(0, rows, CHUNK):
        rows_here = order[start : start + CHUNK]
        columns = {
            "dr8_id": pa.array(ids[rows_here]),
            "ra": rng.uniform(0, 360, len(rows_here)),
            "dec": rng.uniform(-20, 80, len(rows_here)),
            "brickid": brick[rows_here].astype(np.int32),
            "objid": obj[rows_here].astype(np.int32),
        }
        columns.update(_fractions(rng, len(rows_here)))
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(str(friendly) + ".tmp", table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    writer.close()
    os.replace(str(friendly) + ".tmp", friendly)
    print(f"generated {friendly.name} in {time.time() - t0:.0f} s", flush=True)
    return reps, friendly


class Peak:
    """Peak resident memory of this process while the block runs (50 ms samples)."""

    def __enter__(self):
        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.base = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    def line(self, step: str) -> str:
        return f"  {step:<38} {self.seconds:7.1f} s   peak RSS {self.peak / 2**30:5.2f} GiB"


def raregal_path(reps: Path, friendly: Path) -> int:
    """Times and memory of raregal's read; returns the galaxies kept."""
    from raregal.io.catalogue import open_inputs
    from raregal.method.select import apply_cuts, paper_cuts

    cuts = paper_cuts()
    print(f"raregal (column projection, cut first, features of survivors only), {reps.name}:")
    with Peak() as total:
        with Peak() as step:
            inputs = open_inputs(reps, predictions=[friendly], want=[c.column for c in cuts])
        print(step.line(f"ids + cut columns, join ({inputs.n_rows:,} rows)"))
        with Peak() as step:
            selection = apply_cuts(
                inputs.selection_columns, cuts, fractions_given=inputs.has_fractions
            )
        kept = int(selection.mask.sum())
        print(step.line(f"cuts ({kept:,} kept)"))
        with Peak() as step:
            loaded = inputs.load(selection.mask)
        print(step.line(f"features of survivors {loaded.features.shape}"))
    print(total.line("total read + join + cut"), flush=True)
    return kept


def naive_path(reps: Path, friendly: Path) -> int:
    import pandas as pd

    from raregal.method.select import apply_cuts, paper_cuts

    print(f"naive reference (pandas reads everything, then joins), {reps.name}:")
    with Peak() as total:
        with Peak() as step:
            table = pd.read_parquet(reps)
            predictions = pd.read_parquet(friendly)
        print(step.line(f"read both files whole ({len(table):,} rows)"))
        with Peak() as step:
            joined = table.merge(predictions, left_on="id_str", right_on="dr8_id", how="left")
            selection = apply_cuts(joined, paper_cuts())
            features = joined.filter(like="feat_").to_numpy(np.float32)[selection.mask]
        kept = int(selection.mask.sum())
        print(step.line(f"join + cut + features {features.shape}"))
    print(total.line("total read + join + cut"), flush=True)
    return kept


def _in_fresh_process(path: str, rows: int) -> None:
    """Each measurement in its own process: Arrow's allocator keeps freed memory, so
    a second measurement in one process would inherit the first one's peak."""
    subprocess.run([sys.executable, __file__, "--path", path, "--rows", str(rows)], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8_700_000)
    parser.add_argument(
        "--naive-rows",
        type=int,
        default=1_000_000,
        help="rows for the naive reference (it holds everything at once)",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--generate-only", action="store_true", help="write the cached tables and stop"
    )
    parser.add_argument("--path", choices=["raregal", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:  # one measurement, in a process of its own
        reps, friendly = generate(args.rows, OUT)
        (raregal_path if args.path == "raregal" else naive_path)(reps, friendly)
        return
    print(
        f"load: {os.getloadavg()}, cores: {os.cpu_count()}, "
        f"memory: {psutil.virtual_memory().total / 2**30:.0f} GiB",
        flush=True,
    )
    reps, friendly = generate(args.rows, OUT)
    print(
        f"{reps.name}: {reps.stat().st_size / 1e9:.2f} GB, "
        f"{friendly.name}: {friendly.stat().st_size / 1e9:.2f} GB",
        flush=True,
    )
    if args.generate_only:
        generate(args.naive_rows, OUT)
        return
    _in_fresh_process("raregal", args.rows)
    if not args.skip_naive:
        generate(args.naive_rows, OUT)
        if args.naive_rows != args.rows:
            print(
                f"(naive at {args.naive_rows:,} rows: whole-table pandas at "
                f"{args.rows:,} would need more memory than the 8 GiB budget)",
                flush=True,
            )
            _in_fresh_process("raregal", args.naive_rows)
        _in_fresh_process("naive", args.naive_rows)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
