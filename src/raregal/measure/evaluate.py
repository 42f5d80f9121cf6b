"""Label enrichment: do the classes of a run gather known rare types?

A rare type is a boolean column made from a label table (say, Galaxy Zoo 2's
ring flag). For each type and run:

- the base rate, K / N, over the searched galaxies that have labels;
- the *best class*: the highest purity among classes of at least
  ``min_class_size`` members, with its completeness (its hits / K) and its
  enrichment (purity / base rate);
- that statistic's null: the labels are permuted over the same galaxies and
  the same classes ``permutations`` times, and the best purity recomputed each
  time -- with many small classes the best one is enriched several-fold by chance
  alone, so an enrichment means nothing without this null. The p-value is
  (1 + #null >= observed) / (1 + permutations);
- a hypergeometric upper-tail test of every class for every type,
  ``P(X >= k)`` for ``X ~ Hypergeom(N, K, n)``, with the Benjamini-Hochberg
  correction over all class x type tests of the run (false-discovery rate
  ``fdr``), and how many of the type's galaxies sit in significant classes;
- how many classes the type dominates (holds more than half of);
- when the run marks classes credible (:mod:`raregal.method.credibility`), the type's
  enrichment pooled over the credible classes and over the others: does the rule
  keep the classes that gather the type?

Per run: the share of searched galaxies placed in any class, and the number of
classes dominated by any one type.

A missing label is not a negative: a galaxy with no value (NaN, an empty cell) in a
column that a type names is left out of that type's statistics (its N, K and
classes), and counted as ``unlabelled`` in evaluation.csv and in the log. Text
among a column's numbers, or in a ``COLUMN>X`` test, is refused, naming the column
and the rows.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.expression import column_names
from raregal.core.expression import evaluate as evaluate_expression
from raregal.core.params import SEED, Integral, Interval, ParameterError, Real, validate
from raregal.io.catalogue import find_id_column, ids_as_strings, read_table

#: Named rare-type sets for the real label tables (their columns: tests/data/README.md).
#: Galaxy Zoo 2's answers are cumulative: an odd-feature answer counts when most
#: volunteers saw something odd (Class6.1 > 0.5) and most of those chose it. Lens
#: (Class8.2) and dust lane (Class8.7) are left out: one galaxy each in 5,000.
PRESETS = {
    "gz2-odd": {
        "ring": "`Class6.1` > 0.5 and `Class8.1` > 0.5 * `Class6.1`",
        "disturbed": "`Class6.1` > 0.5 and `Class8.3` > 0.5 * `Class6.1`",
        "irregular": "`Class6.1` > 0.5 and `Class8.4` > 0.5 * `Class6.1`",
        "other": "`Class6.1` > 0.5 and `Class8.5` > 0.5 * `Class6.1`",
        "merger": "`Class6.1` > 0.5 and `Class8.6` > 0.5 * `Class6.1`",
        "artifact": "`Class1.3` > 0.3",
    },
    "decals-rings": {"ring": "ring == 1"},
}

_NAMED = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*=(?!=)(.+)$")
_THRESHOLD = re.compile(r"^\s*([^<>=!`]+?)\s*(>=|<=|==|>|<)\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*$")
_COMPARE = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
}


def parse_types(specs=(), presets=()) -> dict[str, str]:
    """Type names and their expressions, from presets and ``NAME=EXPR`` or
    ``COLUMN>THRESHOLD`` specifications (later ones replace earlier ones)."""
    types = {}
    for preset in presets:
        if preset not in PRESETS:
            raise ParameterError("presets", f"'{preset}' is not one of {', '.join(PRESETS)}")
        types.update(PRESETS[preset])
    for spec in specs:
        named = _NAMED.match(spec)
        name, expression = (named.group(1), named.group(2).strip()) if named else (None, spec)
        if name is None:
            threshold = _THRESHOLD.match(spec)
            name = threshold.group(1).strip() if threshold else spec.strip()
        types[name] = expression
    if not types:
        raise InputError("no rare types: give --type NAME=EXPR or COLUMN>X, or --preset")
    return types


def type_flags(labels: pd.DataFrame, types: dict[str, str], source="labels") -> pd.DataFrame:
    """One boolean column per type, evaluated on ``labels``.

    ``COLUMN>X`` (also >=, <, <=, ==) is compared directly, so column names with dots
    need no quoting; anything else is a condition on columns (:mod:`raregal.core.expression`,
    pandas' query syntax, read and never run as code; backquote odd names).
    """
    flags = {}
    for name, expression in types.items():
        threshold = _THRESHOLD.match(expression)
        direct = bool(threshold) and threshold.group(1).strip() in labels.columns
        try:
            named = (
                [threshold.group(1).strip()] if direct else column_names(expression, labels.columns)
            )
            unknown = _unlabelled(labels, named, numeric=direct)
            if direct:
                column, op, value = threshold.groups()
                values = pd.to_numeric(labels[column.strip()], errors="coerce").to_numpy(float)
                flag = _COMPARE[op](values, float(value))
            else:
                flag = evaluate_expression(expression, labels)
        except InputError as exc:
            raise InputError(
                f"{source}: cannot evaluate type '{name}' ({expression}): {exc}"
            ) from None
        flags[name] = (
            pd.array(np.where(unknown, None, flag), dtype="boolean") if unknown.any() else flag
        )
    return pd.DataFrame(flags, index=labels.index)


def _unlabelled(labels: pd.DataFrame, columns, numeric: bool) -> np.ndarray:
    """Rows with no value in any of ``columns``: unknown for the type, not negatives.

    Text among a column's numbers (a typo, "n/a") is refused rather than read as
    missing; so is any text where the type compares the column with a number
    (``numeric``). A column of text alone is left to the expression (``morph == 'ring'``).
    """
    missing = np.zeros(len(labels), bool)
    for column in columns:
        values = labels[column]
        missing |= values.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(values):
            continue
        text = (values.notna() & pd.to_numeric(values, errors="coerce").isna()).to_numpy()
        if text.any() and (numeric or not text[values.notna().to_numpy()].all()):
            first = int(np.argmax(text))
            raise InputError(
                f"column '{column}' holds text for {int(text.sum())} of "
                f"{len(values)} labelled galaxies (first: id "
                f"'{labels.index[first]}', {values.iloc[first]!r}), not numbers"
            )
    return missing


def read_labels(path, ids, *, id_column=None, say=print) -> tuple[np.ndarray, pd.DataFrame]:
    """The rows of a label table for ``ids`` (strings), joined on its id column.

    Returns
    -------
    matched : ndarray of bool, shape (len(ids),)
        Which ids have a label row.
    labels : pandas.DataFrame
        The label rows of the matched ids, in their order, indexed by id.
    """
    table = read_table(path)
    source = Path(path).name
    id_name = find_id_column(table, id_column, source)
    label_ids = ids_as_strings(table.column(id_name)).astype(str)
    labels = table.to_pandas()
    labels.index = pd.Index(label_ids)
    labels = labels[~labels.index.duplicated(keep="first")]
    n_dup = len(label_ids) - len(labels)
    ids = np.asarray(ids).astype(str)
    matched = pd.Index(ids).isin(labels.index)
    if not matched.any():
        raise InputError(
            f"{source}: none of the run's {len(ids)} ids (e.g. '{ids[0]}') is "
            f"in its id column '{id_name}' (e.g. '{label_ids[0]}'); "
            f"name the column with --id-col"
        )
    if not matched.all() or n_dup:
        say(
            f"{source}: {int((~matched).sum())} of {len(ids)} searched galaxies have no "
            f"label row and are left out"
            + (f"; {n_dup} duplicate label rows ignored" if n_dup else "")
        )
    return matched, labels.loc[ids[matched]]


# --- the statistics ------------------------------------------------------------------


def class_counts(classes: np.ndarray, flag: np.ndarray, n_classes: int):
    """Members and type members per class: (sizes, hits), each shape (n_classes,)."""
    member = classes >= 0
    sizes = np.bincount(classes[member], minlength=n_classes)
    hits = np.bincount(classes[member & flag], minlength=n_classes)
    return sizes, hits


def best_purity(sizes: np.ndarray, hits: np.ndarray, min_size: int):
    """The highest purity among classes of >= ``min_size`` members, and its class
    (ties: the class with more hits, then the lower number); (nan, -1) if none."""
    eligible = np.flatnonzero(sizes >= min_size)
    if len(eligible) == 0:
        return np.nan, -1
    purity = hits[eligible] / sizes[eligible]
    order = np.lexsort((eligible, -hits[eligible], -purity))
    return float(purity[order[0]]), int(eligible[order[0]])


def permutation_null(
    classes: np.ndarray, n_positive: int, min_size: int, permutations: int, seed: int
) -> np.ndarray:
    """Best-class purity when ``n_positive`` labels are shuffled over the galaxies,
    keeping the classes: shape (permutations,)."""
    rng = np.random.default_rng(seed)
    n_classes = int(classes.max()) + 1 if len(classes) else 0
    sizes = np.bincount(classes[classes >= 0], minlength=n_classes)
    eligible = sizes >= min_size
    if not eligible.any():
        return np.full(permutations, np.nan)
    null = np.empty(permutations)
    for i in range(permutations):
        drawn = classes[rng.choice(len(classes), size=n_positive, replace=False)]
        hits = np.bincount(drawn[drawn >= 0], minlength=n_classes)
        null[i] = np.max(hits[eligible] / sizes[eligible])
    return null


def permutation_p(observed: float, null: np.ndarray) -> float:
    """(1 + #null >= observed) / (1 + len(null)); a tolerance keeps ties ties."""
    if np.isnan(observed):
        return np.nan
    return float((1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)))


def hypergeometric_p(hits, sizes, n_positive: int, n_total: int) -> np.ndarray:
    """P(X >= hits) for X ~ Hypergeom(n_total, n_positive, size), per class."""
    from scipy.stats import hypergeom

    hits, sizes = np.asarray(hits), np.asarray(sizes)
    return hypergeom.sf(hits - 1, n_total, n_positive, sizes)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same shape as the input."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p.copy()
    return false_discovery_control(p.ravel(), method="bh").reshape(p.shape)


@dataclass
class Evaluation:
    """One run's evaluation.

    Attributes
    ----------
    types : pandas.DataFrame
        One row per type (the columns of evaluation.csv).
    classes : pandas.DataFrame
        One row per class x type: size, hits, purity, enrichment, p, q, significant.
    in_classes : float
        Share of searched galaxies placed in any class.
    dominated : int
        Classes where one type holds more than half of the labelled members.
    """

    types: pd.DataFrame
    classes: pd.DataFrame
    in_classes: float
    dominated: int


def evaluate_labels(
    classes: np.ndarray,
    flags: pd.DataFrame,
    *,
    min_class_size: int = defaults.EVAL_MIN_CLASS_SIZE,
    permutations: int = defaults.EVAL_PERMUTATIONS,
    fdr: float = defaults.EVAL_FDR,
    seed: int = defaults.SEED,
    in_classes: float | None = None,
    credible: np.ndarray | None = None,
) -> Evaluation:
    """Enrichment of every type over the classes of one run.

    Parameters
    ----------
    classes : ndarray of int, shape (N,)
        Class of each labelled searched galaxy, -1 for none.
    flags : pandas.DataFrame, shape (N, n_types)
        Boolean, one column per type (:func:`type_flags`); a missing value (pandas'
        nullable boolean) leaves that galaxy out of that type's statistics.
    min_class_size : int
        Smallest class eligible as the best class.
    permutations : int
        Label shuffles for the null.
    fdr : float
        Benjamini-Hochberg false-discovery rate over all class x type tests.
    seed : int
        Seeds the permutations (type t uses seed + t).
    in_classes : float, optional
        Share of *all* searched galaxies in classes; default: over these N.
    credible : ndarray of bool, shape (n_classes,), optional
        Whether each class is credible. Adds ``credible_classes``, ``in_credible``
        and the type's pooled ``credible_enrichment`` / ``dropped_enrichment``
        (hits over members of those classes, / base rate; NaN where there are none).
    """
    every = np.asarray(classes, dtype=np.int64)
    n_classes = int(every.max()) + 1 if len(every) and every.max() >= 0 else 0
    per_class, rows = [], []
    for t, name in enumerate(flags.columns):
        known = flags[name].notna().to_numpy()
        flag = flags[name].to_numpy(bool, na_value=False)[known]
        classes = every[known]
        n_total = len(classes)
        n_positive = int(flag.sum())
        sizes, hits = class_counts(classes, flag, n_classes)
        base = n_positive / n_total if n_total else np.nan
        purity, best = best_purity(sizes, hits, min_class_size)
        if n_positive == 0:  # nothing to find: no best class, no null
            purity, best = np.nan, -1
        null = permutation_null(
            classes, n_positive, min_class_size, permutations if n_positive else 0, seed + t
        )

        def enrichment(purity, base=base):
            return purity / base if base > 0 else np.nan

        per_class.append(
            pd.DataFrame(
                {
                    "type": name,
                    "class": np.arange(n_classes),
                    "size": sizes,
                    "hits": hits,
                    "purity": np.divide(hits, sizes, out=np.zeros(n_classes), where=sizes > 0),
                    "p": hypergeometric_p(hits, sizes, n_positive, n_total),
                }
            )
        )
        per_class[-1]["enrichment"] = enrichment(per_class[-1]["purity"])
        pooled = _pooled(sizes, hits, credible, enrichment)
        rows.append(
            {
                "type": name,
                "galaxies": n_total,
                "unlabelled": int((~known).sum()),
                "positives": n_positive,
                "base_rate": base,
                "classes": n_classes,
                "eligible_classes": int(np.sum(sizes >= min_class_size)),
                "best_class": best,
                "best_size": int(sizes[best]) if best >= 0 else 0,
                "best_hits": int(hits[best]) if best >= 0 else 0,
                "best_purity": purity,
                "best_completeness": hits[best] / n_positive
                if best >= 0 and n_positive
                else np.nan,
                "enrichment": enrichment(purity),
                "null_median": enrichment(np.median(null)) if len(null) else np.nan,
                "null_p95": enrichment(np.percentile(null, 95)) if len(null) else np.nan,
                "null_p99": enrichment(np.percentile(null, 99)) if len(null) else np.nan,
                "p_value": permutation_p(purity, null) if len(null) else np.nan,
                "dominated_classes": int(
                    np.sum((sizes > 0) & (hits > defaults.DOMINANCE_SHARE * sizes))
                ),
                **pooled,
            }
        )
    table = pd.concat(per_class, ignore_index=True)
    table["q"] = benjamini_hochberg(table["p"].to_numpy())
    table["significant"] = table["q"] <= fdr
    types = pd.DataFrame(rows)
    significant = table[table["significant"]].groupby("type")
    types["significant_classes"] = types["type"].map(significant.size()).fillna(0).astype(int)
    types["in_significant"] = types["type"].map(significant["hits"].sum()).fillna(0).astype(int)
    types["in_significant_share"] = np.where(
        types["positives"] > 0, types["in_significant"] / types["positives"].clip(lower=1), np.nan
    )
    dominant = table["hits"] > defaults.DOMINANCE_SHARE * table["size"]
    dominated_by_any = table.loc[dominant, "class"].nunique()
    share = float(np.mean(every >= 0)) if in_classes is None else in_classes
    if credible is not None:
        table["credible"] = np.asarray(credible, bool)[table["class"].to_numpy()]
    return Evaluation(types=types, classes=table, in_classes=share, dominated=int(dominated_by_any))


def _pooled(sizes, hits, credible, enrichment) -> dict:
    """A type's enrichment pooled over the credible classes and over the others."""
    if credible is None:
        return {}
    every = np.asarray(credible, bool)
    if len(every) < len(sizes):
        raise ValueError(f"credible has {len(every)} classes, the labels {len(sizes)}")
    # classes past the last one with a labelled member add no members and no hits
    kept = every[: len(sizes)]

    def over(part):
        n = sizes[part].sum()
        return enrichment(hits[part].sum() / n) if n else np.nan

    return {
        "credible_classes": int(every.sum()),
        "in_credible": int(hits[kept].sum()),
        "credible_enrichment": over(kept),
        "dropped_enrichment": over(~kept),
    }


# --- runs on disk --------------------------------------------------------------------


@dataclass
class EvaluationResult:
    """What :func:`evaluate` wrote, for use from Python."""

    out: Path | None
    table: pd.DataFrame
    classes: pd.DataFrame
    summary: str


def _format_row(row) -> dict:
    def times(x):
        return "-" if pd.isna(x) else f"{x:.1f}x"

    best = "-" if row["best_class"] < 0 else f"{row['best_letter']} ({row['best_size']})"
    return {
        "best class (size)": best,
        "purity": "-" if pd.isna(row["best_purity"]) else f"{row['best_purity']:.2f}",
        "compl.": "-" if pd.isna(row["best_completeness"]) else f"{row['best_completeness']:.2f}",
        "enrich.": times(row["enrichment"]),
        "null 50/95/99%": "-"
        if pd.isna(row["null_median"])
        else "/".join(times(row[c])[:-1] for c in ("null_median", "null_p95", "null_p99")) + "x",
        "p": "-" if pd.isna(row["p_value"]) else f"{row['p_value']:.3f}",
        "in signif.": f"{row['in_significant']} ({row['in_significant_share']:.0%})"
        if row["positives"]
        else "-",
        "credible/dropped": "-"
        if pd.isna(row.get("credible_classes", np.nan))
        else f"{times(row['credible_enrichment'])}/{times(row['dropped_enrichment'])}",
    }


def format_summary(
    table: pd.DataFrame, runs: pd.DataFrame, *, min_class_size: int, permutations: int, fdr: float
) -> str:
    """The readable summary: one block per run, then the types side by side."""
    lines = []
    for _, run in runs.iterrows():
        lines.append(
            f"{run['run']}: {run['searched']} searched galaxies, {run['labelled']} "
            f"with labels; {run['classes']} classes holding {run['in_classes']:.1%}; "
            f"{run['dominated']} classes dominated (>{defaults.DOMINANCE_SHARE:.0%}) "
            f"by one rare type"
        )
    lines.append(
        f"best class: highest purity among classes of >= {min_class_size}; null: "
        f"{permutations} label permutations over the same classes (enrichment "
        f"median/95th/99th); in signif.: type members in classes enriched at "
        f"Benjamini-Hochberg FDR {fdr:g} (hypergeometric, all class x type tests); "
        f"credible/dropped: the type's enrichment pooled over the classes the "
        f"run's rule marks credible / over the others"
    )
    first = table.drop_duplicates("type").set_index("type")
    left = pd.DataFrame(
        {
            "positives": first["positives"].astype(str),
            "base": first["base_rate"].map(lambda x: f"{x:.2%}"),
        }
    )
    blocks = [pd.concat({"": left}, axis=1)]
    for name, part in table.groupby("run", sort=False):
        formatted = pd.DataFrame(
            [_format_row(r) for _, r in part.iterrows()], index=part["type"].to_numpy()
        )
        blocks.append(pd.concat({name: formatted}, axis=1))
    side = pd.concat(blocks, axis=1)
    side.index.name = "type"
    lines.append(side.to_string())
    return "\n".join(lines) + "\n"


#: :func:`evaluate`'s parameters, checked before any file is read.
CONSTRAINTS = {
    "min_class_size": [Interval(Integral, 1, None)],
    # p-values down to 1e-6; each permutation shuffles the type over every galaxy
    "permutations": [Interval(Integral, 0, 1_000_000)],
    "fdr": [Interval(Real, 0, 1, closed="neither")],
    "seed": [SEED],
}


def evaluate(
    runs,
    labels,
    *,
    types: dict[str, str],
    out=None,
    names=None,
    id_column=None,
    min_class_size: int = defaults.EVAL_MIN_CLASS_SIZE,
    permutations: int = defaults.EVAL_PERMUTATIONS,
    fdr: float = defaults.EVAL_FDR,
    seed: int = defaults.SEED,
    overwrite: bool = False,
    say=print,
    command=None,
) -> EvaluationResult:
    """Evaluate one or more search runs against a label table; see the module docstring.

    Parameters
    ----------
    runs : sequence of path-like
        Search run folders (say, the model's and the pixel baseline's).
    labels : path-like
        A table with an id column matching the runs' ids, and the type columns.
    types : dict
        Type name -> expression (:func:`parse_types`).
    out : path-like, optional
        Folder for evaluation.csv, class_enrichment.csv, summary.txt, evaluation.json
        (new, or an evaluate folder to replace with ``overwrite``; :mod:`raregal.io.output`).
    names : sequence of str, optional
        Run names; default: the folder names.
    command : list of str, optional
        Recorded in evaluation.json (default: this process's arguments).

    Classes are named by the letter raregal report gives them (``best_letter``,
    ``letter``), their numbers kept beside it.
    """
    from raregal.io.output import atomic_dir, prepare, write_json
    from raregal.io.records import record_header

    validate(
        {"min_class_size": min_class_size, "permutations": permutations, "fdr": fdr, "seed": seed},
        CONSTRAINTS,
        "evaluate",
    )
    runs = [Path(r) for r in runs]
    names = list(names) if names else [r.name for r in runs]
    if len(names) != len(runs) or len(set(names)) != len(names):
        raise InputError(f"{len(runs)} runs need {len(runs)} different names, got {names}")
    target = (
        None
        if out is None
        else prepare(out, kind="evaluate", inputs=[*runs, labels], overwrite=overwrite)
    )
    with target if target is not None else nullcontext():
        table, classes_table, run_rows = _evaluate_runs(
            runs,
            names,
            labels,
            types,
            id_column=id_column,
            min_class_size=min_class_size,
            permutations=permutations,
            fdr=fdr,
            seed=seed,
            say=say,
        )
        summary = format_summary(
            table,
            pd.DataFrame(run_rows),
            min_class_size=min_class_size,
            permutations=permutations,
            fdr=fdr,
        )
        if target is not None:
            with atomic_dir(target) as tmp:
                table.to_csv(tmp / "evaluation.csv", index=False)
                classes_table.to_csv(tmp / "class_enrichment.csv", index=False)
                (tmp / "summary.txt").write_text(summary)
                write_json(
                    tmp / "evaluation.json",
                    {
                        **record_header(command),
                        "runs": run_rows,
                        "labels": str(Path(labels).resolve()),
                        "types": types,
                        "min_class_size": min_class_size,
                        "permutations": permutations,
                        "seed": seed,
                        "fdr": fdr,
                        "dominance_share": defaults.DOMINANCE_SHARE,
                        "correction": "Benjamini-Hochberg over all class x type hypergeometric "
                        "upper-tail tests of each run",
                    },
                )
    return EvaluationResult(
        out=None if out is None else Path(out), table=table, classes=classes_table, summary=summary
    )


def class_letters(summary: pd.DataFrame) -> dict[int, str]:
    """Class number -> the letter raregal report and the explorer name it by
    (:func:`raregal.method.run.lettered`)."""
    from raregal.method.run import lettered

    order = lettered(summary)
    return dict(zip(order["class"].astype(int), order["letter"]))


def with_letters(result: Evaluation, letters: dict[int, str]) -> Evaluation:
    """``result`` with the classes named by letter: ``best_letter`` beside
    ``best_class`` and ``letter`` beside each ``class`` ("" for none)."""
    types, classes = result.types.copy(), result.classes.copy()
    types.insert(
        types.columns.get_loc("best_class") + 1,
        "best_letter",
        types["best_class"].map(letters).fillna(""),
    )
    classes.insert(
        classes.columns.get_loc("class") + 1, "letter", classes["class"].map(letters).fillna("")
    )
    return Evaluation(
        types=types, classes=classes, in_classes=result.in_classes, dominated=result.dominated
    )


def _credible(summary: pd.DataFrame) -> np.ndarray | None:
    """Credible per class number, or None for a run without the column (runs
    searched before raregal.method.credibility, or with no classes)."""
    if "credible" not in summary or summary.empty:
        return None
    kept = np.zeros(len(summary), bool)
    kept[summary["class"].to_numpy(int)] = summary["credible"].fillna(False).to_numpy(bool)
    return kept


def _evaluate_runs(
    runs, names, labels, types, *, id_column, min_class_size, permutations, fdr, seed, say
):
    """The per-type and per-class tables of all runs, and one summary row per run."""
    from raregal.method.run import SearchResult

    tables, per_class, run_rows = [], [], []
    for run_dir, name in zip(runs, names):
        run = SearchResult.read(run_dir)
        ids = run.classes[run.id_column].to_numpy()
        classes = run.classes["class"].to_numpy().astype(np.int64)
        matched, rows = read_labels(
            labels, ids, id_column=id_column, say=lambda m, name=name: say(f"{name}: {m}")
        )
        flags = type_flags(rows, types, Path(labels).name)
        for type_name, missing in flags.isna().sum().items():
            if missing:
                say(
                    f"{name}: type '{type_name}': {missing} of {len(flags)} labelled galaxies "
                    f"have no value in a column it names and are left out of its statistics"
                )
        result = evaluate_labels(
            classes[matched],
            flags,
            min_class_size=min_class_size,
            permutations=permutations,
            fdr=fdr,
            seed=seed,
            in_classes=float(np.mean(classes >= 0)),
            credible=_credible(run.summary),
        )
        result = with_letters(result, class_letters(run.summary))
        run_rows.append(
            {
                "run": name,
                "path": str(run_dir),
                "searched": len(ids),
                "labelled": int(matched.sum()),
                "classes": int(classes.max()) + 1 if len(classes) else 0,
                "in_classes": result.in_classes,
                "dominated": result.dominated,
            }
        )
        tables.append(
            result.types.assign(
                run=name, in_classes=result.in_classes, dominated_by_any=result.dominated
            )
        )
        per_class.append(result.classes.assign(run=name))
    table = pd.concat(tables, ignore_index=True)
    table = table[["run"] + [c for c in table.columns if c != "run"]]
    classes_table = pd.concat(per_class, ignore_index=True)
    classes_table = classes_table[["run"] + [c for c in classes_table.columns if c != "run"]]
    return table, classes_table, run_rows
