"""Discovery as a user meets it: how many of a rare type among the first 100 galaxies shown.

For each way of showing galaxies, and each type, the count of the type among the
first 100 galaxies shown, mean and spread (standard deviation) over draws (seeds):

- ``random``: 100 random galaxies;
- ``rarity``: the 100 of the run's galaxies of highest rarity (:mod:`raregal.method.rarity`;
  one ranking, no draws; with --rarity-candidates, each candidate score too);
- ``rank``: :func:`raregal.method.rank.scores` from 5 random examples of the type, the top 100;
- ``rank+feedback``: the same 5 examples, then 10 rounds of 10 suggestions, each
  labelled by a simulated user from the label table (of the type: like; else
  unlike), the next round ranked with every label so far; the 100 suggested;
- ``random among the searched``: 100 random galaxies of those the run searched (the
  cuts' sample, where the rarity and the classes look);
- ``classes``: the search's classes as the report shows them (classes by
  persistence, each class's most probable members, --per-class of them), the
  first 100 (one ordering, no draws).

Sources: gz-kaggle-5000 (the bundled model's representations, raregal embed, and a
search run on them; types from the gz2-odd preset) and a planted synthetic table
(each planted group of about 1-2 % of the table a type).

    raregal embed ../shared/data/gz-kaggle-5000/images --out /tmp/embed
    raregal search /tmp/embed/representations.parquet --seed 0 --out /tmp/run
    python bench/discovery.py --representations /tmp/embed/representations.parquet \\
        --run /tmp/run --labels ../shared/data/gz-kaggle-5000/labels.csv
    raregal synthetic /tmp/planted.parquet --rows 20000 --groups 6 --group-size 200 400 \\
        --seed 1
    raregal search /tmp/planted.parquet --seed 0 --out /tmp/planted_run
    python bench/discovery.py --representations /tmp/planted.parquet --run /tmp/planted_run
    python bench/discovery.py ... --methods hybrid logistic knn mix   # rank's methods
    raregal synthetic /tmp/s632k.parquet --rows 632000               # at survey scale
    python bench/discovery.py --representations /tmp/s632k.parquet --groups 4 \\
        --methods hybrid logistic --draws 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.io.catalogue import load_representations
from raregal.measure.evaluate import PRESETS, read_labels, type_flags
from raregal.method.rank import scores, standardise, top_rows

SHOWN = 100
START = 5
ROUNDS, PER_ROUND = 10, 10


def shown_random(n: int, rng) -> np.ndarray:
    return rng.choice(n, SHOWN, replace=False)


def shown_rank(z, truth, rng, method, feedback: bool) -> np.ndarray:
    """Rows shown by rank from START random examples, with or without feedback rounds."""
    like = list(rng.choice(np.flatnonzero(truth), START, replace=False))
    if not feedback:
        return top_rows(scores(z, like, [], method=method), like, SHOWN)
    unlike, shown = [], []
    for _ in range(ROUNDS):
        score = scores(z, like, unlike, method=method)
        rows = top_rows(score, like + unlike, PER_ROUND)
        shown.extend(rows)
        like += [r for r in rows if truth[r]]
        unlike += [r for r in rows if not truth[r]]
    return np.asarray(shown)


def shown_classes(classes: pd.DataFrame, summary: pd.DataFrame, per_class: int) -> np.ndarray:
    """Rows of ``classes`` in the report's order: classes by persistence, then size;
    each class's most probable members first."""
    order = summary.sort_values(["persistence", "size", "class"], ascending=[False, False, True])[
        "class"
    ]
    rows = []
    for c in order:
        members = classes.index[classes["class"].to_numpy() == c]
        best = classes.loc[members, "probability"].sort_values(ascending=False, kind="stable")
        rows.extend(best.index[:per_class])
    return np.asarray(rows[:SHOWN], dtype=np.int64)


def spread(counts) -> str:
    counts = np.asarray(counts, dtype=float)
    if len(counts) == 1:
        return f"{counts[0]:.0f}"
    return f"{counts.mean():.1f} ± {counts.std(ddof=1):.1f}"


def markdown(table: pd.DataFrame) -> str:
    """A pandas table as a Markdown table (without the tabulate package)."""
    lines = [
        "| | " + " | ".join(map(str, table.columns)) + " |",
        "|---" * (len(table.columns) + 1) + "|",
    ]
    lines += [
        f"| {index} | " + " | ".join(map(str, row)) + " |"
        for index, row in zip(table.index, table.to_numpy())
    ]
    return "\n".join(lines)


def measure(z, flags: pd.DataFrame, methods, draws: int, extra: dict) -> pd.DataFrame:
    """The table: one row per way of showing, one column per type."""
    table = {}
    for name in flags.columns:
        truth = flags[name].to_numpy()
        column = {"base rate": f"{truth.mean():.2%} ({truth.sum()})"}
        column["random"] = spread(
            [truth[shown_random(len(z), np.random.default_rng(s))].sum() for s in range(draws)]
        )
        for label, rows in extra.items():  # one ranking, or a list of draws
            draws_of = rows if isinstance(rows, list) else [rows]
            column[label] = spread([truth[r].sum() for r in draws_of])
            print(f"  {name}: {label}: {column[label]}", flush=True)
        for method in methods:
            for feedback in (False, True):
                started = time.perf_counter()
                counts = [
                    truth[shown_rank(z, truth, np.random.default_rng(s), method, feedback)].sum()
                    for s in range(draws)
                ]
                what = f"rank {method}" + (" + 10x10 feedback" if feedback else "")
                column[what] = spread(counts)
                print(
                    f"  {name}: {what}: {column[what]} ({time.perf_counter() - started:.1f} s)",
                    flush=True,
                )
        table[name] = column
    return pd.DataFrame(table)


def read_source(args):
    """Ids, features and one flag column per type: the gz2-odd types of a label table,
    or (without --labels) the first planted groups of a ``raregal synthetic`` table."""
    reps = load_representations(args.representations)
    ids = reps.ids.astype(str)
    if args.labels is None:
        planted = reps.columns["planted"].to_numpy()
        flags = pd.DataFrame(
            {f"group {g} ({(planted == g).sum()})": planted == g for g in range(args.groups)}
        )
        return ids, reps.features, flags
    matched, labels = read_labels(args.labels, ids, say=lambda *_: None)
    odd = type_flags(labels, PRESETS["gz2-odd"])
    odd["any odd"] = odd.any(axis=1)  # every gz2-odd type, artifacts included
    flags = pd.DataFrame(False, index=range(len(ids)), columns=args.types)
    flags.loc[matched] = odd[args.types].to_numpy()
    return ids, reps.features, flags


def extra_rankings(args, ids, features, flags) -> dict:
    """The run's classes and rarity rankings, as rows of the representation table."""
    from raregal.method.run import SearchResult

    extra = {}
    if args.run is None:
        return extra
    run = SearchResult.read(args.run)
    rows = pd.Index(ids).get_indexer(run.classes[run.id_column].astype(str))
    classes = run.classes.set_index(pd.Index(rows))
    extra["random among the searched"] = [
        rows[np.random.default_rng(s).choice(len(rows), SHOWN, replace=False)]
        for s in range(args.draws)
    ]
    extra["classes"] = shown_classes(classes, run.summary, args.per_class)
    found = {c: classes[c].to_numpy() for c in classes.columns if c.startswith("rarity")}
    if args.rarity_candidates:
        found.update(rarity_candidates(args.run, run, features[rows]))
    for name, score in found.items():
        best = np.lexsort((np.arange(len(score)), -np.asarray(score, dtype=float)))[:SHOWN]
        extra[f"rarity: {name}"] = rows[best]
    return extra


def rarity_candidates(run_dir, run, features) -> dict:
    """The candidate rarity scores of the run's galaxies (:mod:`raregal.method.rarity`)."""
    from pathlib import Path

    from raregal.method.rarity import glosh, isolation

    graph = pd.read_parquet(Path(run_dir) / "neighbours.parquet")
    distances = np.stack(graph["neighbour_distances"].to_numpy())  # itself left out
    found = {f"{k}th-neighbour distance": distances[:, k - 1] for k in (5, 10, 20, 49)}
    neighbours = np.stack(graph["neighbour_rows"].to_numpy())[:, :10]
    tenth = distances[:, 9]
    found["10th distance / its 10 neighbours' (LOF-like)"] = tenth / tenth[neighbours].mean(1)
    found["GLOSH (5-D tree)"] = glosh(run.tree, len(run.classes))
    found["isolation forest"] = isolation(features)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--representations", required=True, help="representation table")
    parser.add_argument(
        "--labels",
        help="label table (Galaxy Zoo 2 columns); without it, "
        "the table's planted column is the truth",
    )
    parser.add_argument("--run", help="a search run on the representations")
    parser.add_argument(
        "--types",
        nargs="+",
        default=["merger", "ring", "irregular"],
        help="gz2-odd types, or 'any odd' for all of them together",
    )
    parser.add_argument(
        "--groups",
        type=int,
        default=3,
        help="without --labels: the planted groups counted as types",
    )
    parser.add_argument(
        "--rarity-candidates",
        action="store_true",
        help="also rank by each candidate rarity score (raregal.method.rarity)",
    )
    parser.add_argument("--methods", nargs="*", default=[defaults.RANK_METHOD])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=defaults.GALLERY_SIZE)
    args = parser.parse_args()
    ids, features, flags = read_source(args)
    extra = extra_rankings(args, ids, features, flags)
    z = standardise(features)
    result = measure(z, flags, args.methods, args.draws, extra)
    print(f"\nmean ± sd of the type among the first {SHOWN} shown, over {args.draws} draws")
    print(markdown(result))


if __name__ == "__main__":
    main()
