"""A search run folder: its one writer and its one reader.

``raregal search`` writes it (:meth:`SearchResult.write`); ``report``, ``evaluate``
and the explorer read it (:meth:`SearchResult.read`), which checks the folder
once, so that a truncated, hand-edited or foreign folder stops with one line
naming the file and the problem instead of a traceback further on (or a wrong
page): every file present and readable, the columns of their types, at least one
galaxy, classes.csv numbered 0, 1, … with each ``size`` its members in
classes.parquet, probabilities in [0, 1], and run.json strict JSON whose numbers
are finite and whose search parameters meet the search's own constraints.

``classes.parquet``
    One row per searched galaxy: the id column named in run.json, ``class`` (-1
    for none), ``probability``, ``rarity`` (runs written since it was added:
    :mod:`raregal.method.rarity`), ``umap_*``, ``map_x``, ``map_y``, the vote
    fractions and, when present, ``ra``/``dec`` (degrees).
``classes.csv``
    One row per class: ``class``, ``size``, ``persistence``, ``significance`` (runs
    written since it was added), ``tree_node``, the vote fractions' class means and
    differences, and the credibility columns.
``condensed_tree.parquet``
    HDBSCAN's condensed tree: ``parent``, ``child``, ``lambda_val``, ``child_size``.
``run.json``
    Parameters, inputs, selection, redundancy report, versions, timings (strict
    JSON: a missing number is null, never NaN).
``neighbour_index/``
    The search's neighbour graph and the features it was found in, read
    memory-mapped (:mod:`raregal.method.neighbour_index`; runs written before it have none).

Written beside them for other tools (:mod:`raregal.io.export`), not read back:
``classes.fits`` (every galaxy, ra/dec in degrees), ``class_members.vot`` (the
class members, as a VOTable) and ``neighbours.parquet`` (the search's neighbour
graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from raregal.core.errors import InputError, first_line
from raregal.io.catalogue import fraction_columns, ids_as_strings
from raregal.io.export import write_exports
from raregal.io.output import Target, atomic_dir, prepare, write_json
from raregal.io.records import RunRecord
from raregal.method.neighbour_index import NeighbourIndex

RUN_FILES = ("classes.parquet", "classes.csv", "condensed_tree.parquet", "run.json")
TREE_COLUMNS = ("parent", "child", "lambda_val", "child_size")


@dataclass
class SearchResult:
    """A search's result: what :func:`raregal.method.search.search` returns and writes.

    Attributes
    ----------
    out : Path or None
        The run folder, once written or when read.
    classes : pandas.DataFrame
        One row per searched galaxy (see the module docstring); ids are strings.
    summary : pandas.DataFrame
        One row per class.
    run : RunRecord
        The contents of run.json (:class:`raregal.io.records.RunRecord`).
    tree : pandas.DataFrame
        The condensed tree.
    index : NeighbourIndex or None
        The search's neighbour graph (rows of ``classes``, each galaxy itself left
        out) and its features, written as ``neighbour_index/`` and as
        neighbours.parquet (:mod:`raregal.io.export`); read back memory-mapped from
        ``neighbour_index/`` (None for a run written without one).
    """

    out: Path | None
    classes: pd.DataFrame
    summary: pd.DataFrame
    run: RunRecord
    tree: pd.DataFrame
    index: NeighbourIndex | None = None

    @property
    def id_column(self) -> str:
        return self.run.id_column or str(self.classes.columns[0])

    def write(self, out, *, overwrite: bool = False) -> Path:
        """Write the run folder ``out`` (a path, or a :class:`raregal.io.output.Target`
        prepared before the computation) through the output policy."""
        target = (
            out if isinstance(out, Target) else prepare(out, kind="search", overwrite=overwrite)
        )
        with atomic_dir(target) as tmp:
            self.write_files(tmp)
        self.out = target.path
        return self.out

    def write_files(self, folder: Path) -> None:
        """Every file of the run, into ``folder`` (a temporary one: see :meth:`write`)."""
        pq.write_table(
            pa.Table.from_pandas(self.classes, preserve_index=False), folder / "classes.parquet"
        )
        self.summary.to_csv(folder / "classes.csv", index=False)
        pq.write_table(
            pa.Table.from_pandas(self.tree, preserve_index=False), folder / "condensed_tree.parquet"
        )
        write_json(folder / "run.json", self.run.to_json())
        graph = None if self.index is None else (self.index.rows, self.index.distances)
        write_exports(folder, self.classes, self.id_column, graph)
        if self.index is not None:
            self.index.write(folder)

    @classmethod
    def read(cls, run_dir) -> SearchResult:
        """Read and check a run folder; any problem is one :class:`InputError` line."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: no such run folder")
        missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
        if missing:
            raise InputError(f"{run_dir}: not a raregal run folder, missing {', '.join(missing)}")
        run = _read_run_json(run_dir / "run.json")
        classes = _read_parquet(run_dir / "classes.parquet")
        tree = _read_parquet(run_dir / "condensed_tree.parquet")
        try:
            summary = pd.read_csv(run_dir / "classes.csv")
        except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
            raise InputError(
                f"{run_dir / 'classes.csv'}: not a readable CSV table ({first_line(exc)})"
            ) from None
        id_column = run.id_column or (str(classes.columns[0]) if classes.shape[1] else "")
        _check_columns(
            run_dir / "classes.parquet",
            classes,
            [id_column, "class", "probability"],
            integer=["class"],
            numeric=[
                "probability",
                "rarity",
                "map_x",
                "map_y",
                "ra",
                "dec",
                *[c for c in classes.columns if str(c).startswith("umap_")],
                *fraction_columns(classes.columns),
            ],
        )
        _check_columns(
            run_dir / "classes.csv",
            summary,
            ["class", "size", "persistence", "tree_node"],
            integer=["class", "size", "tree_node"],
            numeric=["persistence"],
        )
        _check_columns(
            run_dir / "condensed_tree.parquet",
            tree,
            list(TREE_COLUMNS),
            integer=["parent", "child", "child_size"],
            numeric=["lambda_val"],
        )
        clusters = tree[tree["child_size"] > 1]
        if not (clusters["child"] > clusters["parent"]).all():  # else it could loop
            raise InputError(
                f"{run_dir / 'condensed_tree.parquet'}: not a condensed tree "
                f"(a cluster numbered below its parent)"
            )
        labels = classes["class"].to_numpy()
        if not len(labels):  # a search refuses to run on no galaxies
            raise InputError(
                f"{run_dir / 'classes.parquet'}: no rows; a raregal run holds "
                f"every galaxy it searched"
            )
        if labels.min() < -1 or labels.max() >= len(summary):
            raise InputError(
                f"{run_dir / 'classes.parquet'}: class numbers run from "
                f"{labels.min()} to {labels.max()}, but classes.csv has "
                f"{len(summary)} classes"
            )
        _check_summary(run_dir, labels, summary)
        _check_probability(run_dir / "classes.parquet", classes["probability"])
        classes[id_column] = _ids(classes[id_column])
        return cls(
            out=run_dir,
            classes=classes,
            summary=summary,
            run=run,
            tree=tree,
            index=NeighbourIndex.read(run_dir, len(classes)),
        )


def _read_run_json(path: Path) -> RunRecord:
    run = RunRecord.read(path)
    redundancy = run.redundancy
    curve = redundancy.get("cumulative_explained", [])
    levels = redundancy.get("components_for", {})
    if (
        not isinstance(curve, list)
        or not all(_is_number(x) for x in curve)
        or not isinstance(levels, dict)
        or not all(_is_number(v) for v in levels.values())
    ):
        raise InputError(f"{path}: 'redundancy' does not hold a variance curve of numbers")
    _check_finite(path, run.to_json())
    _check_parameters(path, run.parameters)
    return run


def _check_finite(path: Path, record: dict) -> None:
    """The writer stores a missing number as null: an infinity (1e999 parses as one)
    is a hand-made record, refused where it is rather than shown as ``inf``."""
    stack = [("", record)]
    while stack:  # not recursive: the nesting is only bounded by the parser's
        where, value = stack.pop()
        if isinstance(value, float) and not np.isfinite(value):
            raise InputError(f"{path}: '{where}' is {value}, not a finite number")
        items = (
            value.items()
            if isinstance(value, dict)
            else (enumerate(value) if isinstance(value, list) else ())
        )
        stack.extend((f"{where}.{key}" if where else str(key), item) for key, item in items)


def _check_parameters(path: Path, parameters: dict) -> None:
    """The search parameters a run records meet the constraints the search checked
    them against (:class:`raregal.method.search.RareClassFinder`), so the report shows
    values a search could have used."""
    from raregal.core.params import Integral, Interval, Options, ParameterError, validate
    from raregal.method.search import RareClassFinder

    constraints = {
        **RareClassFinder._parameter_constraints,
        "min_samples_used": [Interval(Integral, 1, None)],
        "fit_sample_used": [Interval(Integral, 3, None), Options(None)],
    }
    present = {name: allowed for name, allowed in constraints.items() if name in parameters}
    try:
        validate(parameters, present)
    except ParameterError as exc:
        raise InputError(f"{path}: 'parameters.{exc.parameter}' {exc.reason}") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        # each column freed from Arrow as it reaches pandas: the peak of a read of 8.7M
        # galaxies is then about one copy of the table, not two
        return pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None


def _check_columns(path: Path, table: pd.DataFrame, required, *, integer=(), numeric=()):
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise InputError(f"{path}: no column {', '.join(map(repr, absent))}")
    if table.empty:  # a header alone (a run without classes) has no types to check
        return
    for column in (*integer, *numeric):
        if column not in table.columns:
            continue
        values = table[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            raise InputError(f"{path}: column '{column}' holds {values.dtype} values, not numbers")
        if column in integer and not pd.api.types.is_integer_dtype(values):
            raise InputError(
                f"{path}: column '{column}' should hold whole numbers, not {values.dtype}"
            )


def _check_summary(run_dir: Path, labels: np.ndarray, summary: pd.DataFrame) -> None:
    """classes.csv has one row per class, numbered 0, 1, … in order, and each
    ``size`` is the number of classes.parquet rows in that class."""
    path = run_dir / "classes.csv"
    numbers = summary["class"].to_numpy()
    if not np.array_equal(numbers, np.arange(len(summary))):
        wrong = int(np.argmax(numbers != np.arange(len(summary))))
        raise InputError(
            f"{path}: row {wrong} is class {numbers[wrong]}, not {wrong}; "
            f"classes are numbered 0 to {len(summary) - 1} in order"
        )
    members = np.bincount(labels[labels >= 0], minlength=len(summary))
    sizes = summary["size"].to_numpy()
    differ = np.flatnonzero(sizes != members)
    if len(differ):
        first = differ[0]
        raise InputError(
            f"{path}: {len(differ)} classes have a 'size' other than their "
            f"members in classes.parquet (first: class {first}, size "
            f"{sizes[first]}, {members[first]} members)"
        )


def _check_probability(path: Path, probability: pd.Series) -> None:
    outside = ~probability.between(0, 1)  # NaN included
    if outside.any():
        first = int(np.argmax(outside.to_numpy()))
        raise InputError(
            f"{path}: {int(outside.sum())} rows have a 'probability' outside "
            f"[0, 1] (first: row {first}, {probability.iloc[first]})"
        )


def _ids(column: pd.Series) -> np.ndarray:
    return ids_as_strings(pa.chunked_array([pa.array(column)]))


def class_letters(n: int) -> list[str]:
    """A, B, …, Z, AA, AB, … for n classes."""
    letters = []
    for i in range(n):
        name, k = "", i
        while k >= 0:
            name = chr(ord("A") + k % 26) + name
            k = k // 26 - 1
        letters.append(name)
    return letters


def lettered(summary: pd.DataFrame) -> pd.DataFrame:
    """Classes in report order (persistence, then size, descending), with a letter."""
    ordered = summary.sort_values(
        ["persistence", "size", "class"], ascending=[False, False, True]
    ).reset_index(drop=True)
    ordered.insert(0, "letter", class_letters(len(ordered)))
    return ordered
