"""Exact neighbours against NN-descent, side by side: where raregal switches.

In one fresh process (numba's on-disk cache already warm from an untimed run, as
after any earlier run on the machine):

- NN-descent's first call on a small table, minus its second call there: what
  every new process pays for the pynndescent code numba does not cache;
- then for each N: :func:`raregal.method.reduce.exact_neighbours` (scikit-learn brute
  force, no compilation) and :func:`raregal.method.reduce.approximate_neighbours`
  (pynndescent, compiled), and the recall of NN-descent's neighbours against the
  exact ones.

Exact wins at N while ``exact < compile + NN-descent`` (a new process's one search);
the table prints both sides. The data are the planted tables the tests use
(raregal.measure.synthetic): a bulk with small dense groups, as a search sees.

    python bench/neighbours.py                           # 5k-40k at 128-d
    python bench/neighbours.py --sizes 10000 20000 --dims 640
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def table(n: int, dim: int):
    import numpy as np

    from raregal.measure.synthetic import planted_representations

    data = planted_representations(
        n, dim=dim, n_groups=20, group_size=(20, 80), fractions=False, seed=0
    )
    return data.filter(like="feat_").to_numpy(np.float32)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def load() -> str:
    with open("/proc/loadavg") as file:
        return file.read().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10_000, 20_000, 40_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[128])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import numpy as np

    from raregal.method.reduce import approximate_neighbours, exact_neighbours

    small = table(3000, 8)
    if args.warm:  # the untimed run that fills numba's on-disk cache
        approximate_neighbours(small, args.k, seed=0)
        return
    subprocess.run([sys.executable, __file__, "--warm"], check=True, capture_output=True)
    first, _ = timed(approximate_neighbours, small, args.k, seed=0)
    again, _ = timed(approximate_neighbours, small, args.k, seed=0)
    print(
        f"NN-descent compilation in a new process: {first - again:.1f} s "
        f"(first call {first:.1f} s, second {again:.1f} s, 3,000 x 8; load {load()})"
    )
    print(f"{'N':>7} {'dim':>4} {'exact s':>8} {'NN-d s':>7} {'recall':>6}  load")
    for dim in args.dims:
        for n in args.sizes:
            X = table(n, dim)
            exact_s, (exact, _) = timed(exact_neighbours, X, args.k)
            approx_s, (approx, _) = timed(approximate_neighbours, X, args.k, seed=0)
            recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(approx, exact)]) / args.k
            print(
                f"{n:>7} {dim:>4} {exact_s:>8.2f} {approx_s:>7.2f} {recall:>6.3f}  {load()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
