"""Match the classes of two partitions of the same galaxies.

Two searches -- two seeds, two models, a model and the pixel baseline -- each
split their galaxies into classes (-1: none). Over the galaxies both searched,
each class of run A is matched to the class of run B that shares the largest
Jaccard index (|A ∩ B| / |A ∪ B|), and the two partitions are compared as a
whole by the adjusted Rand index (scikit-learn) and a contingency table.
:func:`raregal.method.credibility.layout_stability` uses the same matching on reruns.

``raregal compare RUN_A RUN_B --out DIR`` writes (:func:`compare_runs`):

``matches.csv``
    One row per class of A: ``class``, ``size`` (shared galaxies), ``match_class``
    (its best class in B, -1 if none), ``match_size``, ``shared`` (galaxies in
    both), ``jaccard``, ``also_found`` (``jaccard >= also_found_at``, default
    :data:`raregal.core.defaults.ALSO_FOUND_JACCARD`); and the
    same for B's classes with the runs' roles swapped in ``matches_b.csv``.
``contingency.csv``
    Galaxies in each (class of A, class of B) pair, -1 included, pairs with none
    left out.
``compare.json``
    The runs, shared galaxies, ARI (over all shared galaxies, and over those in a
    class in both runs), classes found by both, the threshold.

``raregal report RUN_A --compare RUN_B`` shows the same match (:func:`compare_results`)
as a column of the report's class table.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.params import JACCARD, validate
from raregal.io.output import atomic_dir, prepare, write_json
from raregal.method.matching import best_match_jaccard, contingency

#: :func:`compare_runs`' and the report's ``also_found_at``.
CONSTRAINTS = {"also_found_at": [JACCARD]}


def match_table(a: np.ndarray, b: np.ndarray, threshold: float) -> pd.DataFrame:
    """One row per class of ``a``: its best match in ``b`` (see the module docstring)."""
    n_classes = int(np.max(a, initial=-1)) + 1
    jaccard, match = best_match_jaccard(a, b, n_classes)
    table = contingency(a, b)
    sizes_b = np.bincount(b[b >= 0], minlength=int(np.max(b, initial=-1)) + 1)
    shared = np.where(match >= 0, table[np.arange(n_classes) + 1, match + 1], 0)
    return pd.DataFrame(
        {
            "class": np.arange(n_classes),
            "size": np.bincount(a[a >= 0], minlength=n_classes),
            "match_class": match,
            "match_size": np.where(
                match >= 0, sizes_b[np.maximum(match, 0)] if len(sizes_b) else 0, 0
            ),
            "shared": shared,
            "jaccard": np.nan_to_num(jaccard),
            "also_found": np.nan_to_num(jaccard) >= threshold,
        }
    )


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> dict:
    """ARI of two labellings (scikit-learn), over all galaxies (-1 a class of its own)
    and over the galaxies in a class in both (NaN when fewer than two)."""
    from sklearn.metrics import adjusted_rand_score

    both = (a >= 0) & (b >= 0)
    return {
        "ari": float(adjusted_rand_score(a, b)),
        "ari_in_classes": (
            float(adjusted_rand_score(a[both], b[both])) if both.sum() >= 2 else float("nan")
        ),
        "galaxies_in_classes_in_both": int(both.sum()),
    }


def shared_labels(ids_a, labels_a, ids_b, labels_b, names=("A", "B")):
    """Both runs' labels over the galaxies they share, in A's order.

    Returns
    -------
    a, b : ndarray of int, shape (m,)
    """
    ids_a = pd.Index(np.asarray(ids_a).astype(str))
    ids_b = pd.Index(np.asarray(ids_b).astype(str))
    for name, ids in zip(names, (ids_a, ids_b)):
        if ids.has_duplicates:
            raise InputError(
                f"{name}: {int(ids.duplicated().sum())} galaxy ids appear twice; "
                f"cannot match galaxies"
            )
    rows = ids_b.get_indexer(ids_a)
    here = rows >= 0
    if not here.any():
        raise InputError(
            f"{names[0]} and {names[1]} share no galaxy ids "
            f"(e.g. {ids_a[0]!r} and {ids_b[0]!r}); nothing to compare"
        )
    return (
        np.asarray(labels_a)[here].astype(np.int64),
        np.asarray(labels_b)[rows[here]].astype(np.int64),
    )


@dataclass
class Comparison:
    """Two partitions of their shared galaxies, compared.

    Attributes
    ----------
    matches, matches_b : pandas.DataFrame
        :func:`match_table` for A's classes against B, and B's against A.
    contingency : pandas.DataFrame
        Columns ``class_a``, ``class_b``, ``galaxies`` (pairs with galaxies only).
    record : dict
        What compare.json holds.
    """

    matches: pd.DataFrame
    matches_b: pd.DataFrame
    contingency: pd.DataFrame
    record: dict

    def summary(self) -> str:
        r = self.record
        found = self.matches[self.matches["also_found"]]
        lines = [
            f"{r['shared_galaxies']} shared galaxies; ARI {r['ari']:.3f} "
            f"(in classes in both: {r['ari_in_classes']:.3f})",
            f"{r['found_by_both']} of A's {r['classes_a']} classes found in B "
            f"(best-match Jaccard >= {r['also_found_at']:g}); B has {r['classes_b']}",
        ]
        lines += [
            f"  A class {row['class']} ({row['size']}) ~ B class {row['match_class']} "
            f"({row['match_size']}): Jaccard {row['jaccard']:.2f}"
            for _, row in found.iterrows()
        ]
        return "\n".join(lines) + "\n"


def compare_labels(
    a: np.ndarray, b: np.ndarray, *, also_found_at: float = defaults.ALSO_FOUND_JACCARD
) -> Comparison:
    """Compare two labellings of the same (m,) galaxies."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    matches = match_table(a, b, also_found_at)
    matches_b = match_table(b, a, also_found_at)
    table = contingency(a, b)
    rows, cols = np.nonzero(table)
    pairs = pd.DataFrame({"class_a": rows - 1, "class_b": cols - 1, "galaxies": table[rows, cols]})
    record = {
        "shared_galaxies": len(a),
        **adjusted_rand(a, b),
        "classes_a": len(matches),
        "classes_b": len(matches_b),
        "found_by_both": int(matches["also_found"].sum()),
        "also_found_at": also_found_at,
    }
    return Comparison(matches=matches, matches_b=matches_b, contingency=pairs, record=record)


def compare_results(
    run_a, run_b, *, also_found_at: float = defaults.ALSO_FOUND_JACCARD, names=("A", "B")
) -> Comparison:
    """Compare two read runs (:class:`raregal.method.run.SearchResult`) over the galaxies they
    share, matched by id; ``names`` name them in errors. No shared id, or an id twice
    in a run, is an :class:`InputError`."""
    a, b = shared_labels(
        run_a.classes[run_a.id_column],
        run_a.classes["class"],
        run_b.classes[run_b.id_column],
        run_b.classes["class"],
        names=names,
    )
    return compare_labels(a, b, also_found_at=also_found_at)


def compare_runs(
    run_a,
    run_b,
    out=None,
    *,
    also_found_at: float = defaults.ALSO_FOUND_JACCARD,
    overwrite: bool = False,
) -> Comparison:
    """Compare two search run folders over their shared galaxies; write ``out`` if given
    (see the module docstring)."""
    from raregal.method.run import SearchResult

    validate({"also_found_at": also_found_at}, CONSTRAINTS, "compare_runs")
    target = (
        prepare(out, kind="compare", inputs=[run_a, run_b], overwrite=overwrite)
        if out is not None
        else None
    )
    with target if target is not None else nullcontext():
        runs = [SearchResult.read(run) for run in (run_a, run_b)]
        result = compare_results(*runs, also_found_at=also_found_at, names=(str(run_a), str(run_b)))
        result.record = {
            "run_a": str(Path(run_a).resolve()),
            "run_b": str(Path(run_b).resolve()),
            **result.record,
        }
        if target is not None:
            with atomic_dir(target) as tmp:
                result.matches.to_csv(tmp / "matches.csv", index=False)
                result.matches_b.to_csv(tmp / "matches_b.csv", index=False)
                result.contingency.to_csv(tmp / "contingency.csv", index=False)
                write_json(tmp / "compare.json", result.record)
    return result
