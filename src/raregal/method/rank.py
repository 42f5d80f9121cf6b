"""More like these: rank galaxies by how likely they are of the kind the user's examples show.

``raregal rank SOURCE --like IDS [--unlike IDS] [--top K] --out FILE`` and
:func:`rank`. SOURCE is a representation table (any layout
of :mod:`raregal.io.catalogue`) or a search run folder (:mod:`raregal.method.run`: its
searched galaxies, with their features, from the run's neighbour index or else the
table it was searched on, and their class).
IDS is a file of ids, one per line, or a table with an id column.

Every galaxy not already labelled (in ``like`` or ``unlike``) gets a score, higher
= more like the examples; the top K are written (id, ``score``, ``rank`` from 1,
and ``class`` when SOURCE is a run) as CSV or Parquet by the file's suffix,
through the output policy (:func:`raregal.io.output.write_table`: never over an
existing file).

The method (:func:`scores`, chosen by bench/discovery.py; docs/decisions/discovery.md):
a logistic regression on the standardised features and on the distances to the
nearest example and to the nearest ``unlike`` galaxy (:func:`hybrid_scores`), the
examples against the ``unlike`` galaxies and a seeded random sample of the
unlabelled galaxies as background (positive-unlabelled learning), balanced so
that five examples weigh as much as the background. It improves as labels
accumulate, and the same inputs and seed give the same table, whatever the load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.params import SEED, Integral, Interval, Options, validate
from raregal.io.catalogue import load_representations, read_id_file

#: The methods :func:`scores` knows (bench/discovery.py compares them).
METHODS = ("hybrid", "logistic", "knn", "mix")

#: Labelled galaxies compared at once by :func:`nearest` (n x 128 floats: 0.3 GB at 632k).
NEAREST_BLOCK = 128

CONSTRAINTS = {"top": [Interval(Integral, 1, None)], "seed": [SEED], "method": [Options(*METHODS)]}


# --- scoring on arrays ----------------------------------------------------------------


def standardise(features: np.ndarray) -> np.ndarray:
    """Each feature centred and scaled to unit variance over all galaxies (float32);
    a constant feature stays 0."""
    features = np.asarray(features, dtype=np.float32)
    scale = features.std(axis=0)
    scale[scale == 0] = 1
    return (features - features.mean(axis=0)) / scale


def background_rows(n: int, labelled: np.ndarray, size: int, seed) -> np.ndarray:
    """A seeded random sample of ``size`` unlabelled rows (all of them when fewer)."""
    free = np.setdiff1d(np.arange(n), labelled)
    if len(free) <= size:
        return free
    return np.sort(np.random.default_rng(seed).choice(free, size, replace=False))


def logistic_scores(
    z: np.ndarray,
    like: np.ndarray,
    unlike: np.ndarray,
    *,
    seed=defaults.SEED,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Log-odds of a logistic regression: ``like`` rows (1) against ``unlike`` rows and
    a random unlabelled background (0), the two classes balanced; ``extra`` (n, e)
    features beside ``z`` (kept apart: a copy of z costs 0.3 GB at 632k)."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    labelled = np.concatenate([like, unlike])
    background = background_rows(len(z), labelled, defaults.RANK_BACKGROUND, seed)
    rows = np.concatenate([like, unlike, background])
    y = np.concatenate([np.ones(len(like)), np.zeros(len(unlike) + len(background))])
    x = z[rows] if extra is None else np.hstack([z[rows], extra[rows]])
    model = LogisticRegression(C=defaults.RANK_C, class_weight="balanced", max_iter=1000)
    # One thread: on a fit this small BLAS threads cost more than they give (5,000 x
    # 128 on 2 busy cores: 16 s threaded, 0.5 s on one).
    with threadpool_limits(1):
        model.fit(x, y)
    coef = model.coef_[0].astype(np.float32)
    score = z @ coef[: z.shape[1]] + np.float32(model.intercept_[0])
    return score if extra is None else score + extra @ coef[z.shape[1] :]


def nearest(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each galaxy's Euclidean distance to the nearest of ``rows``; for one of
    ``rows``, to the nearest other one (the largest distance when it is alone)."""
    if len(rows) == 0:
        return np.zeros(len(z), dtype=np.float32)
    norms = (z * z).sum(axis=1)
    least = np.full(len(z), np.inf, dtype=np.float32)
    for start in range(0, len(rows), NEAREST_BLOCK):  # memory: n x block, not n x rows
        block = rows[start : start + NEAREST_BLOCK]
        squared = norms[:, None] - 2 * z @ z[block].T + norms[block]
        squared[block, np.arange(len(block))] = np.inf  # not its own neighbour
        np.minimum(least, squared.min(axis=1), out=least)
    distance = np.sqrt(np.maximum(least, 0))
    finite = np.isfinite(distance)
    distance[~finite] = distance[finite].max() if finite.any() else 0
    return distance


def _unit(values: np.ndarray) -> np.ndarray:
    scale = values.std()
    return ((values - values.mean()) / (scale if scale > 0 else 1)).astype(np.float32)


def hybrid_scores(
    z: np.ndarray, like: np.ndarray, unlike: np.ndarray, *, seed=defaults.SEED
) -> np.ndarray:
    """The logistic regression given two more features: the log distance to the
    nearest example and to the nearest ``unlike`` galaxy (:func:`nearest`). A tight
    group shows as small distances, which a linear model of the features alone
    cannot see (at 632k it found none of a planted group of 178 from 5 examples,
    README); for a diffuse type their weights stay small."""
    extra = [_unit(np.log1p(nearest(z, like)))]
    if len(unlike):
        extra.append(_unit(np.log1p(nearest(z, unlike))))
    return logistic_scores(z, like, unlike, seed=seed, extra=np.stack(extra, axis=1))


def knn_scores(z: np.ndarray, like: np.ndarray, unlike: np.ndarray, **_) -> np.ndarray:
    """Distance to the nearest ``unlike`` galaxy less the distance to the nearest
    ``like`` one (without ``unlike``: minus the distance to the nearest example)."""
    return nearest(z, unlike) - nearest(z, like)


def _percentiles(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") / max(len(values) - 1, 1)


def mix_scores(
    z: np.ndarray, like: np.ndarray, unlike: np.ndarray, *, seed=defaults.SEED
) -> np.ndarray:
    """The mean of the logistic and nearest-example scores' percentiles."""
    return (
        _percentiles(logistic_scores(z, like, unlike, seed=seed))
        + _percentiles(knn_scores(z, like, unlike))
    ) / 2


SCORERS = {
    "hybrid": hybrid_scores,
    "logistic": logistic_scores,
    "knn": knn_scores,
    "mix": mix_scores,
}


def scores(
    z: np.ndarray, like, unlike=(), *, method=defaults.RANK_METHOD, seed=defaults.SEED
) -> np.ndarray:
    """Every galaxy's score, higher = more like the ``like`` rows.

    Parameters
    ----------
    z : ndarray, shape (n, d)
        Standardised features (:func:`standardise`).
    like, unlike : sequence of int
        Rows the user marked as of the kind, and as not of it.
    """
    like = np.asarray(like, dtype=np.int64)
    unlike = np.asarray(unlike, dtype=np.int64)
    return SCORERS[method](z, like, unlike, seed=seed)


def top_rows(score: np.ndarray, exclude, k: int) -> np.ndarray:
    """The ``k`` rows of highest score not in ``exclude``, best first; ties go to the
    earlier row, so the order never depends on the sort's whims."""
    score = np.asarray(score, dtype=np.float64).copy()
    score[np.asarray(exclude, dtype=np.int64)] = -np.inf
    order = np.lexsort((np.arange(len(score)), -score))
    return order[: min(k, len(score) - len(np.unique(exclude)))]


# --- files ----------------------------------------------------------------------------


def read_source(source):
    """The ids, features and (for a run folder) classes of SOURCE.

    Returns ``(ids, features, id_column, classes or None)``."""
    path = Path(source)
    if path.is_dir() and (path / "run.json").is_file():
        return _read_run(path)
    reps = load_representations(path)
    return reps.ids.astype(str), reps.features, reps.id_column, None


def _read_run(run_dir: Path):
    """A run's searched galaxies, their features, and classes: the features from the run's
    neighbour index (:mod:`raregal.method.neighbour_index`) when it holds the
    representations themselves, else from the table the run searched."""
    from raregal.method.run import SearchResult

    result = SearchResult.read(run_dir)
    searched = result.classes[result.id_column].astype(str).to_numpy()
    classes = result.classes["class"].to_numpy()
    if result.index is not None and result.index.space == "representation":
        return searched, np.asarray(result.index.features), result.id_column, classes
    inputs = result.run.inputs
    table = inputs.get("representations", {}).get("path")
    if not table or not Path(table).is_file():
        raise InputError(
            f"{run_dir / 'run.json'}: the representation table it was searched "
            f"on ({table}) is not there; rank that table instead"
        )
    ids_file = inputs.get("ids", {}).get("path")
    reps = load_representations(table, id_column=result.id_column, ids=ids_file)
    recorded = result.run.feature_columns
    if recorded and recorded.get("count") != len(reps.feature_columns):
        raise InputError(
            f"{table}: {len(reps.feature_columns)} feature columns found, but "
            f"the run searched {recorded.get('count')}; rank that table with "
            f"its features instead"
        )
    rows = pd.Index(reps.ids.astype(str)).get_indexer(searched)
    if (rows < 0).any():
        raise InputError(
            f"{table}: {int((rows < 0).sum())} of the run's galaxies are not "
            f"in it (e.g. '{searched[rows < 0][0]}'); it changed since the search"
        )
    return searched, reps.features[rows], result.id_column, classes


def _described(source, ids, classes) -> str:
    """SOURCE as messages name it: a run by the galaxies it searched."""
    return str(source) if classes is None else f"{source} (its {len(ids)} searched galaxies)"


def label_rows(ids: np.ndarray, labels, source, what: str, id_column: str) -> np.ndarray:
    """Rows of ``ids`` named by ``labels`` (a file, or a sequence of ids); one line for
    ids that are not there."""
    if labels is None:
        return np.zeros(0, dtype=np.int64)
    option = f"a column '{id_column}', or list one id per line in a .txt file"
    named = (
        read_id_file(labels, id_column=id_column, option=option)
        if isinstance(labels, (str, Path))
        else np.asarray([str(i) for i in labels], dtype=object)
    )
    named = pd.unique(named)
    rows = pd.Index(ids).get_indexer(named)
    if (rows < 0).any():
        missing = named[rows < 0]
        raise InputError(
            f"{labels if isinstance(labels, (str, Path)) else what}: "
            f"{len(missing)} of {len(named)} ids are not in {source} "
            f"(first: '{missing[0]}')"
        )
    return rows.astype(np.int64)


def _check_labels(like_rows, unlike_rows, ids, like, unlike) -> None:
    name = like if isinstance(like, (str, Path)) else "like"
    if len(like_rows) == 0:
        raise InputError(f"{name}: no ids; give at least one example galaxy")
    both = np.intersect1d(like_rows, unlike_rows)
    if len(both):
        other = unlike if isinstance(unlike, (str, Path)) else "unlike"
        raise InputError(
            f"{name} and {other}: {len(both)} ids in both (first: "
            f"'{ids[both[0]]}'); an example is either like or unlike"
        )
    if len(like_rows) + len(unlike_rows) == len(ids):
        raise InputError(f"{name}: all {len(ids)} galaxies are labelled; nothing left to rank")


def rank(
    source,
    like,
    unlike=None,
    *,
    top: int = defaults.RANK_TOP,
    out=None,
    method: str = defaults.RANK_METHOD,
    seed=defaults.SEED,
) -> pd.DataFrame:
    """Rank the galaxies of ``source`` by how likely they are of the kind ``like`` shows.

    Parameters
    ----------
    source : path-like
        A representation table or a search run folder (see the module docstring).
    like : path-like or sequence of str
        Ids of galaxies of the kind: a file (one id per line, or a table with an id
        column) or the ids themselves.
    unlike : path-like or sequence of str, optional
        Ids of galaxies not of the kind (an empty file is fine).
    top : int
        How many galaxies to return and write.
    out : path-like, optional
        A new ``.csv`` or ``.parquet`` file to write the table to.
    method : {"hybrid", "logistic", "knn", "mix"}
        See :data:`SCORERS`; the default was chosen by bench/discovery.py.
    seed : int
        Seeds the background sample; same inputs and seed, same table.

    Returns
    -------
    pandas.DataFrame
        The top ``top`` unlabelled galaxies, best first: the id column, ``score``,
        ``rank`` and, for a run folder, ``class``.
    """
    validate({"top": top, "seed": seed, "method": method}, CONSTRAINTS, "rank")
    if like is None:
        raise InputError("no --like: give a file of ids of galaxies of the kind you want more of")
    if out is not None:
        _check_out(Path(out))
    ids, features, id_column, classes = read_source(source)
    where = _described(source, ids, classes)
    like_rows = label_rows(ids, like, where, "like", id_column)
    unlike_rows = label_rows(ids, unlike, where, "unlike", id_column)
    _check_labels(like_rows, unlike_rows, ids, like, unlike)
    score = scores(standardise(features), like_rows, unlike_rows, method=method, seed=seed)
    best = top_rows(score, np.concatenate([like_rows, unlike_rows]), top)
    table = pd.DataFrame(
        {id_column: ids[best], "score": score[best], "rank": np.arange(1, len(best) + 1)}
    )
    if classes is not None:
        table["class"] = classes[best]
    if out is not None:
        from raregal.io.output import write_table

        write_table(table, out)
    return table


def _check_out(out: Path) -> None:
    """Refuse a bad ``out`` before the work (write_table checks again when writing)."""
    if out.suffix.lower() not in {".parquet", ".csv"}:
        raise InputError(f"{out}: write .parquet or .csv")
    if out.exists():
        raise InputError(
            f"{out}: exists; choose another name (raregal never replaces a file it did not create)"
        )
    if not out.parent.is_dir():
        raise InputError(f"{out.parent}: no such folder")
