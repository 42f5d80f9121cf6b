"""Read representation, prediction and catalogue tables in the layouts users already have.

Supported layouts (docs/conventions.md, "Representation files" and "Published
layouts"):

- Parquet (``.parquet``, ``.pq``) and CSV (``.csv``, ``.csv.gz``, ``.tsv``) tables;
- FITS binary tables (``.fits``, ``.fit``, ``.fits.gz``); a vector column of shape
  (n, d) is expanded into ``{name}_0 … {name}_{d-1}``;
- Zoobot's HDF5 layout (``.h5``, ``.hdf5``): datasets ``predictions`` of shape
  (n, d), (n, d, passes) or, as zoobot-predictions groups models, (n, d, models,
  passes), ``id_str`` and, optionally, ``label_cols`` naming the d columns (default
  ``feat_{i}``). When ``label_cols`` are Galaxy Zoo answers
  (``smooth-or-featured-dr8_smooth`` …) the values are Dirichlet concentrations and
  are turned into vote fractions as Zoobot does (:func:`concentrations_to_fractions`:
  the mean over every model's every pass), each with its question's
  ``_proportion-asked``; otherwise they are features and the draws are averaged;
- Zoobot's prediction CSV (``predictions_to_csv``: ``{label}_pred`` columns, read
  under their label): cells that are numbers or JSON lists of one number per pass
  (``"[1.0, 0.9]"``), read as concentrations like the HDF5; a JSON list column that is
  not an answer is a vector (an embedding);
- Galaxy Zoo answers under any campaign suffix of galaxy-datasets, volunteer vote
  counts, GZ DESI's friendly mask and list-valued embedding columns, as
  :class:`TableSource` describes;
- a NumPy array (``.npy``, shape (n, d)) with its ids given separately, as a text
  file of one id per line or as any table above with an id column.

Ids are strings in every format: a CSV's id columns are read as text, so ``000003``
stays ``000003`` and ``007`` and ``7`` are two galaxies; integer ids of Parquet, FITS
and HDF5 become their decimal text; HDF5 bytes are decoded as UTF-8.

Every table gets its own id column (:func:`choose_id_column`), and the position
columns of every release are read as ``ra``/``dec`` (:data:`POSITION_ALIASES`).

At survey scale (:func:`open_inputs`) a Parquet file is never read whole: the ids
and the columns the cuts need are read first, the join is done on Arrow arrays, and
the features are then streamed row group by row group, keeping only the galaxies that
survive the cuts (bench/read_scale.py: 8.7M × 128 within the 8 GiB budget).
"""

from __future__ import annotations

import fnmatch
import glob
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from raregal.core import defaults
from raregal.core.errors import InputError, first_line
from raregal.io.schemas import (
    answer_label,
    answers_before,
    campaign_of,
    proportion_asked,
    resolve_column,
)

#: Id columns recognised without an id option, in order of preference: Zoobot (and
#: Euclid Q1, ``Q1_R1_<tile>_<objid>``), GZ DESI, GZ DECaLS DR5, Galaxy Zoo 2 /
#: Kaggle, SDSS.
ID_COLUMNS = ("id_str", "dr8_id", "iauname", "GalaxyID", "objid")

#: A column that numbers objects within a brick (GZ DESI's ``objid`` beside
#: ``brickid``) is not a galaxy id, even where it happens to be unique.
WITHIN_BRICK = {"objid": "brickid"}

#: Position columns by release, read as ``ra``/``dec``: GZ DESI and Zoobot write
#: ``ra``/``dec``; Euclid Q1's morphology catalogue ``right_ascension``/``declination``.
POSITION_ALIASES = {
    "ra": ("ra", "right_ascension", "RA"),
    "dec": ("dec", "declination", "DEC", "Dec"),
}

#: Feature column families recognised without ``--features``: raw Zoobot features,
#: PCA features, and the PCA naming of an older draft of the GZ DESI release.
FEATURE_PATTERNS = ("feat_*", "feat_pca_*", "pca_feat_*")

TABLE_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".csv.gz": "csv",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".npy": "npy",
}

#: GZ DESI's and galaxy-datasets' column suffixes: a question's total of votes, and
#: (Zoobot's advanced table) the probability that a volunteer was asked it.
TOTAL_VOTES = "_total-votes"
ASKED = "_proportion-asked"

#: Arrow schema metadata key of a line for the log that a reader left with the table.
NOTE = "raregal.note"

#: Rows per batch when the features of an in-memory table are streamed.
STREAM_ROWS = 131_072


@dataclass
class Representations:
    """Galaxy representations with their ids and any other catalogue columns.

    Attributes
    ----------
    ids : ndarray of str, shape (n,)
    features : ndarray of float32, shape (n, d)
    columns : pandas.DataFrame, n rows
        Every non-feature column of the input (vote fractions, ra/dec, ...), row
        aligned with ``ids``.
    id_column : str
    feature_columns : list of str, length d
    source : str
        The path read, for messages.
    """

    ids: np.ndarray
    features: np.ndarray
    columns: pd.DataFrame
    id_column: str
    feature_columns: list[str]
    source: str

    def describe(self) -> str:
        """One line that says what was found, for the log."""
        cols = self.feature_columns
        span = cols[0] if len(cols) == 1 else f"{cols[0]} … {cols[-1]}"
        return (
            f"{self.source}: {len(self.ids)} rows, id column '{self.id_column}', "
            f"{len(cols)} feature columns ({span})"
        )


def table_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in TABLE_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    known = ", ".join(sorted(TABLE_SUFFIXES))
    raise InputError(f"{path}: unknown file type; raregal reads {known}")


def fraction_columns(names) -> list[str]:
    """The vote-fraction columns (``{question}_{answer}_fraction``) among ``names``."""
    return [n for n in names if str(n).endswith("_fraction")]


def require_file(path: Path) -> None:
    """A table must be a file; a folder given instead is most often one of images,
    which raregal embed turns into a table."""
    if path.is_dir():
        raise InputError(
            f"{path}: a folder, where a table was expected; a folder of images "
            f"is embedded first: raregal embed {path} --out DIR, then use "
            f"DIR/representations.parquet"
        )
    if path.exists() and not path.is_file():  # a FIFO would block the reader for ever
        raise InputError(
            f"{path}: {_file_kind(path)}, not a regular file; raregal reads tables from files"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")


def _file_kind(path: Path) -> str:
    mode = path.stat().st_mode
    kinds = (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def check_column_names(names, source) -> None:
    """Two columns of one name: every reader would take one of them (or fail on the
    name), so the table is refused, naming the column."""
    seen: set = set()
    repeated = [name for name in names if name in seen or seen.add(name)]
    if repeated:
        raise InputError(
            f"{source}: {list(names).count(repeated[0])} columns are named "
            f"'{repeated[0]}'"
            + (
                f" (and {len(set(repeated)) - 1} more names repeat)"
                if len(set(repeated)) > 1
                else ""
            )
            + "; column names must be unique: rename or drop the copies"
        )


def read_table(
    path: str | Path, *, ids: str | Path | None = None, id_column: str | None = None
) -> pa.Table:
    """Read any supported layout into an Arrow table.

    Parameters
    ----------
    path : path-like
        The table or array file.
    ids : path-like, optional
        For ``.npy`` arrays only: the ids, one per line, or a table with an id column.
    id_column : str, optional
        A CSV column to read as text besides :data:`ID_COLUMNS`.
    """
    path = Path(path)
    require_file(path)
    kind = table_format(path)
    if kind == "npy" and ids is None:
        raise InputError(f"{path}: a .npy array has no ids; give them with --ids FILE")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            check_column_names(pq.read_schema(path).names, path)
            return pq.read_table(path)
        if kind == "csv":
            return _read_csv(path, id_column)
        if kind == "fits":
            return _read_fits(path)
        if kind == "hdf5":
            return _read_zoobot_hdf5(path)
        return _read_npy(path, Path(ids))
    except InputError:
        raise
    except Exception as exc:  # the libraries' own errors are many; name the file
        reason = first_line(exc)
        raise InputError(f"{path}: cannot read as {kind}: {reason}") from exc


def _read_csv(path: Path, id_column: str | None) -> pa.Table:
    sep = "\t" if path.name.lower().endswith(".tsv") else ","
    # the header as written: pandas renames a repeated name (feat_0 -> feat_0.1)
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str).iloc[0].tolist()
    check_column_names([name for name in header if isinstance(name, str)], path)  # not blanks
    if len(header) == 1 and any(mark in str(header[0]) for mark in ";|\t"):
        raise InputError(
            f"{path}: one column only ('{str(header[0])[:40]}'); is it "
            f"comma-separated? raregal reads CSV with commas ('.tsv': tabs)"
        )
    text = {name: str for name in header if name in ID_COLUMNS or name == id_column}
    frame = pd.read_csv(path, sep=sep, dtype=text)
    frame, head = _zoobot_pred_columns(frame)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values) and _is_list_column(values):
            # Zoobot's cells list one value per pass; any other list is a vector
            # (an embedding), kept whole for the feature columns
            passes = name in head or answer_label(str(name)) is not None
            where = f"{path.name}: column '{name}'"
            values = _list_cells(values, where) if passes else _vector_cells(values, where)
        columns[name] = values.to_numpy() if isinstance(values, pd.Series) else values
    columns = _concentrations_as_fractions(columns, path.name, head)
    return _columns_to_arrow(columns)


def _zoobot_pred_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Zoobot's ``predictions_to_csv`` (``shared/save_predictions.py``) names each
    output ``{label}_pred``: the columns are read under their label, and are all
    outputs of one head (the second value returned)."""
    renamed = {
        n: n[: -len("_pred")]
        for n in frame.columns
        if str(n).endswith("_pred") and n[: -len("_pred")] not in frame.columns
    }
    return frame.rename(columns=renamed), list(renamed.values())


def _is_list_column(values: pd.Series) -> bool:
    first = values.dropna()
    return len(first) > 0 and isinstance(first.iloc[0], str) and first.iloc[0].startswith("[")


def _list_cells(values: pd.Series, where: str) -> np.ndarray:
    """Zoobot's CSV cells of several passes, ``"[1.0, 0.9]"`` → (n, passes)."""
    try:
        rows = [json.loads(cell) for cell in values]
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{where}: cells are not JSON lists of one number per pass of the same length"
        ) from exc


def _vector_cells(values: pd.Series, where: str) -> pa.Array:
    """A column of JSON lists that is not Zoobot's passes: an Arrow list column,
    whatever the lengths (the feature columns check them)."""
    try:
        return pa.array(
            [None if pd.isna(cell) else json.loads(cell) for cell in values],
            type=pa.list_(pa.float32()),
        )
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{where}: cells are not JSON lists of numbers") from exc


def _columns_to_arrow(columns: dict[str, np.ndarray]) -> pa.Table:
    out = {}
    for name, values in columns.items():
        if isinstance(values, pa.Array):  # a list column, kept as it is
            out[name] = values
            continue
        values = np.asarray(values)
        if values.dtype == object:  # text with empty cells (NaN): nulls, not an error
            out[name] = pa.array(values, from_pandas=True)
            continue
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8")
        elif values.dtype.byteorder == ">":  # FITS is big-endian; Arrow wants native
            values = values.astype(values.dtype.newbyteorder("="))
        if values.ndim == 2:  # a vector column: one scalar column per element
            for i in range(values.shape[1]):
                out[f"{name}_{i}"] = values[:, i]
        elif values.ndim == 1:
            out[name] = values
    return pa.table(out)


def _read_fits(path: Path) -> pa.Table:
    from astropy.table import Table

    table = Table.read(path)  # the first HDU holding a table
    columns = {}
    for name in table.colnames:
        column = table[name]
        if getattr(column, "mask", None) is not None and np.any(column.mask):
            fill = np.nan if column.dtype.kind == "f" else None
            column = column.filled(fill) if fill is not None else column.filled()
        columns[name] = np.asarray(column)
    return _columns_to_arrow(columns)


def _read_zoobot_hdf5(path: Path) -> pa.Table:
    import h5py

    with h5py.File(path, "r") as f:
        for required in ("predictions", "id_str"):
            if required not in f:
                raise InputError(
                    f"{path}: not Zoobot's HDF5 layout: no '{required}' "
                    f"dataset (found: {', '.join(f.keys())})"
                )
        values = np.asarray(f["predictions"], dtype=np.float32)
        ids = np.asarray(f["id_str"])
        names = (
            [n.decode() if isinstance(n, bytes) else str(n) for n in f["label_cols"]]
            if "label_cols" in f
            else None
        )
    if values.ndim < 2 or len(values) != len(ids):
        raise InputError(
            f"{path}: 'predictions' has shape {values.shape} but 'id_str' "
            f"has {len(ids)} rows; expected (n, d), (n, d, passes) or "
            f"(n, d, models, passes)"
        )
    if names is None:
        names = [f"feat_{i}" for i in range(values.shape[1])]
    if len(names) != values.shape[1]:
        raise InputError(
            f"{path}: 'label_cols' names {len(names)} columns but 'predictions' "
            f"has {values.shape[1]}; they must match"
        )
    check_column_names(names, f"{path}: 'label_cols'")
    # zoobot-predictions' grouped file is (galaxy, answer, model, pass): every model's
    # every pass is one draw, averaged alike (zoobot's expected_value_of_dirichlet_mixture)
    shape, values = values.shape, values.reshape(len(values), values.shape[1], -1)
    columns = {"id_str": ids}
    columns.update({name: values[:, i] for i, name in enumerate(names)})
    table = _columns_to_arrow(_concentrations_as_fractions(columns, path.name, names))
    if len(shape) < 4:
        return table
    return table.replace_schema_metadata(
        {
            NOTE: (
                f"{path.name}: predictions of shape {shape} (galaxy, answer, model, pass): each "
                f"value is the mean over the {shape[2]} models' {shape[3]} passes, as Zoobot's "
                f"expected_value_of_dirichlet_mixture"
            )
        }
    )


def _concentrations_as_fractions(columns: dict, source: str, head=()) -> dict:
    """Replace Galaxy Zoo answer columns of Dirichlet concentrations by vote fractions.

    Applies when the table has answer columns (``{question}[-campaign]_{answer}``,
    :func:`raregal.io.schemas.answer_label`) and no ``_fraction`` column, which is how
    Zoobot writes predictions, unless they are volunteer vote counts
    (:func:`is_vote_table`; :class:`TableSource` divides those). ``head``: the
    outputs of one Dirichlet head (an HDF5's label_cols, a CSV's ``_pred`` columns),
    all answers as soon as one is. Each fraction comes with its question's
    ``{label}_proportion-asked`` (:func:`proportion_columns`), as in Zoobot's
    advanced table. Any other column of several passes (n, passes) is averaged.
    """
    answers = [
        n
        for n in columns
        if answer_label(str(n)) is not None  # not text
        and np.asarray(columns[n]).dtype.kind in "iuf"
    ]
    if answers and head:
        answers = [n for n in head if "_" in str(n)]
    integer = [n for n in answers if np.asarray(columns[n]).dtype.kind in "iu"]
    if answers and not fraction_columns(columns) and not is_vote_table(columns, integer):
        stacked = [np.asarray(columns[n], dtype=np.float32) for n in answers]
        values = np.stack([v if v.ndim == 2 else v[:, None] for v in stacked], axis=1)
        fractions = concentrations_to_fractions(values, answers, source)
        columns = {n: v for n, v in columns.items() if n not in answers}
        columns.update(fractions)
        columns.update(proportion_columns(fractions))
    return {
        n: (
            np.asarray(v).mean(axis=1)
            if np.asarray(v).ndim == 2 and np.asarray(v).dtype.kind == "f"
            else v
        )
        for n, v in columns.items()
    }


def is_vote_table(names, integer_answers) -> bool:
    """Volunteer vote counts, not concentrations: a ``{question}_total-votes`` column
    (GZ DESI's volunteer catalogue, galaxy-datasets' tables) or answers in whole
    numbers (concentrations are sigmoid·100 + 1, never stored as integers)."""
    return bool(integer_answers) or any(str(n).endswith(TOTAL_VOTES) for n in names)


def proportion_columns(fractions: dict) -> dict:
    """``{label}_proportion-asked`` for each ``{label}_fraction`` whose question's
    proportion asked can be worked out (:func:`raregal.io.schemas.proportion_asked`)."""
    by_label = {n[: -len("_fraction")]: v for n, v in fractions.items()}
    n = len(next(iter(by_label.values())))
    out = {}
    for label in by_label:
        asked = proportion_asked(label.partition("_")[0], by_label.get, n)
        if asked is not None:
            out[f"{label}{ASKED}"] = asked.astype(np.float32)
    return out


def concentrations_to_fractions(
    values: np.ndarray, label_cols: list[str], source: str = "predictions"
) -> dict[str, np.ndarray]:
    """Expected vote fractions from a Dirichlet head's concentrations, as Zoobot does.

    Parameters
    ----------
    values : ndarray, shape (n_galaxies, n_answers, n_passes)
        Concentrations α > 0, one per answer and stochastic forward pass.
    label_cols : list of str, length n_answers
        ``{question}_{answer}`` names; a question's answers are those sharing the
        part before the first ``_`` (campaign suffix included).

    Returns
    -------
    dict of str → ndarray of float32, shape (n_galaxies,)
        ``{label}_fraction``: per question, the mean over passes of α_a / Σ α over
        the question's answers.
    """
    finite = np.isfinite(values)
    bad = (~finite | (values <= 0)).any(axis=(1, 2))
    if bad.any():
        first = np.argmax(bad)
        raise InputError(
            f"{source}: {int(bad.sum())} galaxies have concentrations <= 0 or "
            f"not finite (first: row {first}); Dirichlet concentrations are "
            f"positive"
        )
    questions: dict[str, list[int]] = {}
    for i, label in enumerate(label_cols):
        questions.setdefault(label.split("_", 1)[0], []).append(i)
    out = {}
    for indices in questions.values():
        block = values[:, indices, :].astype(np.float64)
        fractions = (block / block.sum(axis=1, keepdims=True)).mean(axis=2)
        for j, i in enumerate(indices):
            out[f"{label_cols[i]}_fraction"] = fractions[:, j].astype(np.float32)
    return out


def _read_npy(path: Path, ids_path: Path) -> pa.Table:
    values = np.load(path, mmap_mode="r")
    if values.ndim != 2:
        raise InputError(f"{path}: expected an array of shape (n, d), got {values.shape}")
    ids, id_name = read_id_file(ids_path, named=True)
    if len(ids) != len(values):
        raise InputError(f"{ids_path}: {len(ids)} ids for {len(values)} rows of {path}")
    columns = {id_name: ids}
    columns.update({f"feat_{i}": np.asarray(values[:, i]) for i in range(values.shape[1])})
    return _columns_to_arrow(columns)


# --- ids -----------------------------------------------------------------------------


def read_id_file(
    path, *, id_column: str | None = None, named: bool = False, option: str = "--id-col"
):
    """The ids a file lists: one per line (``.txt``, ``.lst``, ``.ids`` or no suffix),
    or a table's id column (``id_column`` when the table has it, else found as
    :func:`find_id_column` does; ``option`` is how the message says to name one).
    Returns an array of str (and, with ``named``, the column's name, ``id_str`` for a
    text file)."""
    path = Path(path)
    if path.suffix.lower() in {".txt", ".lst", ".ids", ""}:
        require_file(path)
        ids, name = np.array(path.read_text().split(), dtype=object), "id_str"
    elif table_format(path) == "npy":
        raise InputError(f"{path}: ids must be a text file or a table, not .npy")
    else:
        table = read_table(path, id_column=id_column)
        name = find_id_column(
            table, id_column if id_column in table.column_names else None, path, option
        )
        ids = ids_as_strings(table.column(name))
    return (ids, name) if named else ids


@dataclass(frozen=True)
class IdChoice:
    """The id column of one table and why it was chosen (for the log and run.json)."""

    column: str
    reason: str
    unique: bool = False  # already checked, so the join need not check it again

    def as_dict(self) -> dict:
        return {"column": self.column, "reason": self.reason}


def id_array(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Ids as Arrow strings: integers as decimal text, integral floats as integers
    (a CSV column with a missing value is read as float), bytes decoded as UTF-8."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            column = pa.chunked_array([pa.array(values.astype(np.int64))])
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string())


def ids_as_strings(column: pa.ChunkedArray) -> np.ndarray:
    """Ids as a NumPy array of str objects, so that 100008 (int) and '100008' join."""
    return np.asarray(id_array(column).to_pylist(), dtype=object)


def _unique(column: pa.ChunkedArray) -> bool:
    # pc.unique is a plain hash set: 0.7 s for 1M strings against 1.6 s for
    # pc.count_distinct (a grouped aggregate)
    return len(pc.unique(column)) == len(column)


def choose_id_column(
    names,
    get,
    id_column: str | None,
    source: str,
    option: str = "--id-col",
    match: pa.ChunkedArray | None = None,
) -> IdChoice:
    """The id column of one table.

    Parameters
    ----------
    names : sequence of str
        The table's columns.
    get : callable
        ``get(name)`` returns the column as an Arrow array (read only when needed).
    id_column : str, optional
        The user's choice (``option``); must exist.
    source, option : str
        For messages: the file, and the option that names this table's id column.
    match : Arrow array of str, optional
        The ids this table is joined to (the representations'); of several unique
        candidates that differ, the one holding the most of them is the id.

    Rules: the candidates are the :data:`ID_COLUMNS` present, less any that numbers
    objects within a brick (:data:`WITHIN_BRICK`) and any that is not unique (an id
    that repeats is not an id). Several unique candidates are accepted only when
    they hold the same ids (the first is then used), or when only one of them holds
    the ids of ``match``.
    """
    if id_column is not None:
        if id_column not in names:
            raise InputError(f"{source}: no id column '{id_column}' ({option})")
        return IdChoice(id_column, f"given with {option}")
    present = [name for name in ID_COLUMNS if name in names]
    if not present:
        raise InputError(
            f"{source}: no id column; looked for {', '.join(ID_COLUMNS)}; name one with {option}"
        )
    passed, why = [], []
    for name in present:
        inside = WITHIN_BRICK.get(name)
        if inside in names:
            why.append(f"'{name}' numbers objects within a '{inside}'")
        elif not _unique(get(name)):
            why.append(f"'{name}' repeats")
        else:
            passed.append(name)
    repeating = [name for name in present if f"'{name}' repeats" in why]
    if not passed and len(repeating) == 1:  # the caller's id check says which rows repeat
        return IdChoice(repeating[0], "the only id column present, but it repeats")
    if not passed:
        raise InputError(
            f"{source}: no unique id column ({'; '.join(why)}); name one with {option}"
        )
    first = id_array(get(passed[0]))
    for other in passed[1:]:
        differ = len(first) - pc.sum(pc.equal(first, id_array(get(other)))).as_py()
        if differ and match is not None:
            return _matching_id(passed, get, match, source, option)
        if differ:
            raise InputError(
                f"{source}: ambiguous id column: '{passed[0]}' and '{other}' "
                f"are both unique and differ on {differ} rows; choose one "
                f"with {option}"
            )
    notes = why + ([f"'{o}' holds the same ids" for o in passed[1:]])
    reason = f"the known id column present ({', '.join(present)})" + (
        f": {'; '.join(notes)}" if notes else ""
    )
    return IdChoice(passed[0], reason, unique=True)


def _matching_id(candidates, get, match, source, option) -> IdChoice:
    """Of several unique id columns, the one that holds the representations' ids."""
    value_set = match.combine_chunks()
    hits = {
        name: pc.sum(pc.is_in(id_array(get(name)), value_set=value_set)).as_py() or 0
        for name in candidates
    }
    best = max(hits, key=hits.get)
    if hits[best] == 0 or sum(v == hits[best] for v in hits.values()) > 1:
        found = ", ".join(f"'{n}' {v}" for n, v in hits.items())
        raise InputError(
            f"{source}: ambiguous id column: {', '.join(candidates)} are all "
            f"unique and differ; representation ids found in each: {found}; "
            f"choose one with {option}"
        )
    others = ", ".join(f"'{n}' {v}" for n, v in hits.items() if n != best)
    return IdChoice(
        best,
        f"of the unique id columns it holds the most representation ids ({hits[best]}; {others})",
        unique=True,
    )


def find_id_column(table: pa.Table, id_column: str | None, source, option: str = "--id-col") -> str:
    """The id column of an in-memory table (:func:`choose_id_column`)."""
    return choose_id_column(table.column_names, table.column, id_column, str(source), option).column


def check_ids(ids, column: str, source, what: str = "rows", unique: bool = False) -> None:
    """No missing, empty or repeated id, else one :class:`InputError` line naming
    ``source``, ``column`` and how many ``what`` (Arrow kernels: seconds at 8.7M
    rows). ``ids``: an Arrow or numpy array of text; ``unique`` when that part is
    known already."""
    if not isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = pa.chunked_array([pa.array(np.asarray(ids).astype(str))])
    missing = ids.null_count + pc.sum(pc.equal(ids, "")).as_py() if len(ids) else 0
    if missing:
        raise InputError(f"{source}: {missing} {what} have no id in column '{column}'")
    if not unique and not _unique(ids):
        counts = pc.value_counts(ids).flatten()
        repeated = pc.filter(counts[1], pc.greater(counts[1], 1))
        example = pc.filter(counts[0], pc.greater(counts[1], 1))[0].as_py()
        raise InputError(
            f"{source}: {pc.sum(repeated).as_py()} {what} share an id with "
            f"another row in column '{column}' (e.g. '{example}')"
        )


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def find_feature_columns(table, pattern: str | None, source, vectors=()) -> list[str]:
    """Feature columns matching ``pattern`` (a glob), or the one family of
    :data:`FEATURE_PATTERNS` present, in natural order (feat_2 before feat_10).
    ``table`` is an Arrow table or a list of column names; ``vectors`` the list
    columns (:class:`TableSource`), which the glob may name, and which are the
    features where no family is present and there is one (Hugging Face embeddings)."""
    names = list(getattr(table, "column_names", table))
    if pattern is not None:
        found = fnmatch.filter(names + list(vectors), pattern)
        if not found:
            raise InputError(f"{source}: no columns match --features '{pattern}'")
        return sorted(found, key=_natural_key)
    families = {}
    for family in FEATURE_PATTERNS:
        found = fnmatch.filter(names, family)
        if family == "feat_*":  # feat_* also matches feat_pca_*
            found = [n for n in found if not fnmatch.fnmatch(n, "feat_pca_*")]
        if found:
            families[family] = sorted(found, key=_natural_key)
    if not families and len(vectors) == 1:
        return list(vectors)
    if not families and vectors:
        raise InputError(
            f"{source}: ambiguous feature columns: list columns "
            f"{', '.join(vectors)}; choose with --features NAME"
        )
    if not families:
        raise InputError(
            f"{source}: no feature columns; looked for "
            f"{', '.join(FEATURE_PATTERNS)}; name them with --features GLOB"
        )
    if len(families) > 1:
        listed = ", ".join(f"{fam} ({len(cols)} columns)" for fam, cols in families.items())
        raise InputError(
            f"{source}: ambiguous feature columns: {listed}; choose with --features GLOB"
        )
    return next(iter(families.values()))


# --- one input table, read column by column -------------------------------------------


class TableSource:
    """One input file, read a few columns at a time.

    Parquet is read lazily (only the columns asked for, features streamed by row
    group); other formats are read whole, as they are small in practice. Position
    columns of any release are offered under ``ra``/``dec`` (:data:`POSITION_ALIASES`).

    Galaxy Zoo columns are offered as the cuts read them, whatever the layout:

    - ``campaign`` keeps one campaign's answers of a table that holds several
      (``-dr12``, ``-dr5``, ``-dr8`` side by side) and hides the others';
    - volunteer vote counts become ``{label}_fraction`` = the answer's votes / the
      question's ``_total-votes``, as GZ DESI's volunteer catalogue defines them;
    - with ``mask_unasked`` (default), a fraction is NaN where its question was asked
      with probability below :data:`raregal.core.defaults.ASKED_THRESHOLD`: the rule that
      made GZ DESI's friendly table (:meth:`_mask_unasked`), applied where the table
      gives the probability (``_proportion-asked``: Zoobot's advanced table, and the
      fractions raregal computes from concentrations) or raregal derives it (votes).

    A list column (Hugging Face embeddings: ``pooled_features_block_N``) is not a
    column of :attr:`names`; :meth:`expand` offers its elements as ``{name}_{i}``.
    """

    def __init__(
        self,
        paths,
        *,
        ids=None,
        id_column: str | None = None,
        campaign: str | None = None,
        mask_unasked: bool = True,
    ):
        paths = expand_paths(paths)
        for path in paths:
            require_file(path)
        self.paths = paths
        self.source = paths[0].name if len(paths) == 1 else f"{paths[0].name} (+{len(paths) - 1})"
        self._file, self._last = None, (None, None)
        if len(paths) == 1 and table_format(paths[0]) == "parquet":
            import pyarrow.parquet as pq

            try:
                self._file = pq.ParquetFile(paths[0])
            except Exception as exc:
                reason = first_line(exc)
                raise InputError(f"{paths[0]}: cannot read as parquet: {reason}") from exc
            self.schema = self._file.schema_arrow
            check_column_names(self.schema.names, paths[0])
            self.n_rows = self._file.metadata.num_rows
        else:
            self._table = _concat(
                [read_table(p, ids=ids, id_column=id_column) for p in paths], self.source
            )
            self.schema, self.n_rows = self._table.schema, self._table.num_rows
        stored = self.schema.names
        self.stored = {name: name for name in stored}
        for canonical, aliases in POSITION_ALIASES.items():
            found = next((a for a in aliases if a in stored), None)
            if found is not None and canonical not in stored:
                self.stored[canonical] = found
                del self.stored[found]
        self.vectors = [n for n, s in self.stored.items() if _is_vector(self.schema.field(s).type)]
        for name in self.vectors:
            del self.stored[name]
        self.elements: dict[str, tuple[str, int]] = {}  # {name}_{i} -> (list column, i)
        self.widths: dict[str, int] = {}  # list column -> its vectors' length
        self.derived: dict = {}  # name -> function giving the whole column
        self._values: dict[str, np.ndarray] = {}
        self.masked: dict[str, int] = {}  # fraction column -> values masked, once read
        metadata = self.schema.metadata or {}
        self.notes = [metadata[NOTE.encode()].decode()] if NOTE.encode() in metadata else []
        self.campaign, self.campaigns = campaign, self._campaigns(campaign)
        self._votes_as_fractions()
        self.mask_record = self._mask_unasked(mask_unasked)

    @property
    def names(self) -> list[str]:
        return list(self.stored) + [n for n in self.derived if n not in self.stored]

    def type(self, name: str) -> pa.DataType:
        if name in self.derived:
            return pa.float64()
        if name in self.elements:
            return self.schema.field(self.elements[name][0]).type.value_type
        return self.schema.field(self.stored[name]).type

    def column(self, name: str) -> pa.ChunkedArray:
        if name in self.derived:
            return pa.chunked_array([pa.array(self.values(name))])
        return self._stored_column(name)

    def _stored_column(self, name: str) -> pa.ChunkedArray:
        if self._file is None:
            return self._table.column(self.stored[name])
        if self._last[0] != name:  # the id column is asked for several times in a row
            self._last = (name, self._file.read(columns=[self.stored[name]]).column(0))
        return self._last[1]

    def values(self, name: str) -> np.ndarray:
        """A column as float64 numbers: derived ones computed once, then kept."""
        if name in self.derived:
            if name not in self._values:
                self._values[name] = self.derived[name]()
            return self._values[name]
        return self._plain(name)

    def _plain(self, name: str) -> np.ndarray:
        return self._stored_column(name).to_numpy(zero_copy_only=False).astype(np.float64)

    def read(self, names, rows: np.ndarray | None = None, group: int = 8) -> pa.Table:
        """The named columns, at ``rows`` (indices) if given, a few columns at a time."""
        arrays = {}
        take = None if rows is None else pa.array(rows)
        plain = [n for n in names if n not in self.derived]
        for start in range(0, len(plain), group):
            part = [self.stored[n] for n in plain[start : start + group]]
            table = (
                self._file.read(columns=part)
                if self._file is not None
                else self._table.select(part)
            )
            if take is not None:
                table = table.take(take)
            arrays.update(zip(plain[start : start + group], table.columns))
        for name in names:
            if name in self.derived:
                values = self.values(name)
                arrays[name] = pa.array(values if rows is None else values[rows])
        return pa.table({n: arrays[n] for n in names}) if names else pa.table({})

    # --- list columns --------------------------------------------------------------------

    def expand(self, name: str) -> list[str]:
        """A list column's elements as ``{name}_{i}`` (registered for :meth:`matrix`);
        InputError where the lists differ in length."""
        kind = self.schema.field(name).type
        if pa.types.is_fixed_size_list(kind):
            width = kind.list_size
        else:  # a variable list: its lengths, from the first row group at scale
            column = (
                self._file.read_row_group(0, columns=[name]).column(0)
                if self._file is not None
                else self._table.column(name)
            )
            width = self._check_lengths(name, column, None)
        names = [f"{name}_{i}" for i in range(width)]
        self.widths[name] = width
        self.elements.update({n: (name, i) for i, n in enumerate(names)})
        return names

    def _check_lengths(self, name: str, column, width: int | None) -> int:
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        lengths = np.where(np.isnan(lengths.astype(float)), -1, lengths).astype(np.int64)
        width = int(np.bincount(lengths + 1).argmax()) - 1 if width is None else width
        other = lengths != width
        if other.any() or width < 0:
            found = ", ".join(str(v) if v >= 0 else "none" for v in np.unique(lengths)[:4])
            raise InputError(
                f"{self.source}: column '{name}': {int(other.sum())} rows have a "
                f"list of another length than {width} (lengths: {found}); an "
                f"embedding column holds vectors of one length"
            )
        return width

    def _batch_arrays(self, batch, columns, widths, check=True) -> list[np.ndarray]:
        """Each column of a batch as numbers: (rows,) or, for a list, (rows, width)."""
        out = []
        for j, name in enumerate(columns):
            column = batch.column(j)
            if name in widths:
                if check:
                    self._check_lengths(name, column, widths[name])
                flat = (
                    column.flatten()
                    if not isinstance(column, pa.ChunkedArray)
                    else pa.concat_arrays([c.flatten() for c in column.chunks])
                )
                out.append(flat.to_numpy(zero_copy_only=False).reshape(-1, widths[name]))
            else:
                out.append(column.to_numpy(zero_copy_only=False))
        return out

    def matrix(self, names, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The named numeric columns as float32 (k, d), keeping rows where ``mask``,
        and, for every row (kept or not), whether any value is NaN or infinite.
        Elements of list columns (:meth:`expand`) are read from their lists."""
        k = self.n_rows if mask is None else int(mask.sum())
        out = np.empty((k, len(names)), dtype=np.float32)
        bad = np.zeros(self.n_rows, dtype=bool)
        where = [self.elements.get(n, (self.stored.get(n), None)) for n in names]
        stored = list(dict.fromkeys(column for column, _ in where))
        widths = {c: self.widths[c] for c in stored if c in self.vectors}
        runs = _runs([(stored.index(column), i) for column, i in where])
        if self._file is not None:
            # one row group at a time: iter_batches held ~2x the file's bytes at 1M
            # rows (1.35 GiB peak against 0.49 GiB, and 2x slower; bench/read_scale.py)
            batches = (
                self._file.read_row_group(g, columns=stored)
                for g in range(self._file.num_row_groups)
            )
        else:
            batches = self._table.select(stored).to_batches(max_chunksize=STREAM_ROWS)
        offset = filled = 0
        for batch in batches:
            rows = slice(offset, offset + batch.num_rows)
            offset += batch.num_rows
            for values in self._batch_arrays(batch, stored, widths):  # every row, kept or not
                finite = np.isfinite(values)
                bad[rows] |= ~(finite if finite.ndim == 1 else finite.all(axis=1))
            if mask is not None:
                if not mask[rows].any():
                    continue
                batch = batch.filter(pa.array(mask[rows]))  # Arrow's filter: 1.3 s, not 1.8
            arrays = self._batch_arrays(batch, stored, widths, check=False)
            count = batch.num_rows
            for j, at, i, length in runs:
                block = out[filled : filled + count, j : j + length]
                block[:] = arrays[at][:, None] if i is None else arrays[at][:, i : i + length]
            filled += count
        return out, bad

    # --- Galaxy Zoo answers: campaigns, votes, the friendly table's mask -----------------

    def _campaigns(self, campaign: str | None) -> list[str]:
        """The campaigns whose answers the table holds; with ``campaign``, only that
        one's columns stay (InputError where it has none)."""
        found = sorted({c for n in self.names if (c := campaign_of(n)) is not None})
        if campaign is None or not found:
            return found
        if campaign not in found:
            raise InputError(
                f"{self.source}: no answers of campaign '{campaign}' (--campaign);"
                f" the campaigns found: {', '.join(found)}"
            )
        for name in [n for n in self.stored if campaign_of(n) not in (None, campaign)]:
            del self.stored[name]
        return [campaign]

    def require_one_campaign(self) -> None:
        """Several campaigns' answers side by side make every cut column ambiguous."""
        if len(self.campaigns) > 1:
            examples = [
                next(n for n in self.names if campaign_of(n) == c) for c in self.campaigns[:2]
            ]
            raise InputError(
                f"{self.source}: answers of {len(self.campaigns)} campaigns side "
                f"by side ({', '.join(self.campaigns)}; e.g. '{examples[0]}' and "
                f"'{examples[1]}'); choose one with --campaign"
            )

    def _votes_as_fractions(self) -> None:
        """Vote counts (:func:`is_vote_table`) as fractions: votes / total votes."""
        names = self.names
        answers = [
            n
            for n in names
            if answer_label(n) is not None  # not GZ2's _semantic
            and (pa.types.is_integer(self.type(n)) or pa.types.is_floating(self.type(n)))
        ]
        integer = [n for n in answers if pa.types.is_integer(self.type(n))]
        self.vote_table = bool(answers) and is_vote_table(names, integer)
        if not self.vote_table:
            return
        for answer in answers:
            question = answer.partition("_")[0]
            fraction, total = f"{answer}_fraction", f"{question}{TOTAL_VOTES}"
            if fraction in self.stored:
                continue
            if total not in self.stored:
                raise InputError(
                    f"{self.source}: column '{answer}' holds volunteer vote counts "
                    f"but the table has no '{total}' to divide them by; give "
                    f"that column or the fractions ('{fraction}')"
                )
            self.derived[fraction] = lambda a=answer, t=total: self._share(a, t)
        if self.derived:
            self.notes.append(
                f"{self.source}: volunteer vote counts read as vote fractions "
                f"(the answer's votes / the question's {TOTAL_VOTES}, as GZ "
                f"DESI's volunteer catalogue; NaN where no one voted)"
            )

    def _share(self, answer: str, total: str) -> np.ndarray:
        votes, totals = self.values(answer), self.values(total)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, votes / totals, np.nan)

    def _mask_unasked(self, on: bool) -> dict | None:
        """NaN for a fraction whose question was asked with probability below the
        threshold, as Zoobot's ``prediction_hdf5_to_summary_parquet`` masks GZ DESI's
        friendly table (``np.where(proportion_asked >= 0.5, fraction, nan)``).

        The probability is the table's ``{label}_proportion-asked`` (Zoobot's advanced
        table; raregal's own fractions from concentrations carry it), or, for vote
        fractions, the product of the fractions of the answers leading to the question
        (:func:`raregal.io.schemas.proportion_asked`). Tables with neither (a friendly
        table, already masked; a user's own fractions) are left as they are.
        Returns the record for run.json, None where the rule does not apply.
        """
        fractions = fraction_columns(self.names)
        asked = {f: f"{f[: -len('_fraction')]}{ASKED}" for f in fractions}
        asked = {f: a for f, a in asked.items() if a in self.names}
        if self.vote_table:
            for fraction in fractions:
                if fraction not in asked and self._chain_present(fraction):
                    name = f"{fraction[: -len('_fraction')]}{ASKED}"
                    self.derived[name] = lambda f=fraction: self._proportion(f)
                    asked[fraction] = name
        if not asked:
            return None
        unmasked = sorted({f.partition("_")[0] for f in fractions if f not in asked})
        if on:
            for fraction, proportion in asked.items():
                plain = self.derived.get(fraction, lambda f=fraction: self._plain(f))
                self.derived[fraction] = lambda f=fraction, p=proportion, v=plain: self._masked(
                    f, v(), self.values(p)
                )
        rule = (
            f"a vote fraction is NaN where its question was asked with probability "
            f"below {defaults.ASKED_THRESHOLD:g} (GZ DESI's friendly table; Zoobot "
            f"shared/load_predictions.py prediction_hdf5_to_summary_parquet)"
        )
        self.notes.append(
            f"{self.source}: "
            + (
                f"{rule}: {len(asked)} fraction columns masked"
                if on
                else f"fractions not masked (--no-mask-unasked); the friendly rule would mask "
                f"{len(asked)} columns"
            )
            + (
                f"; not masked (tree unknown or an answer on the way absent): {', '.join(unmasked)}"
                if unmasked
                else ""
            )
        )
        return {"applied": on, "rule": rule, "columns": len(asked), "not_masked": unmasked}

    def _chain_present(self, fraction: str) -> bool:
        chain = answers_before(fraction.partition("_")[0])
        return chain is not None and all(f"{a}_fraction" in self.names for a in chain)

    def _proportion(self, fraction: str) -> np.ndarray:
        """From the unmasked fractions: read before any mask is laid on them."""

        def unmasked(label):
            name = f"{label}_fraction"
            return (
                self._share(label, f"{label.partition('_')[0]}{TOTAL_VOTES}")
                if name not in self.stored
                else self._plain(name)
            )

        return proportion_asked(fraction.partition("_")[0], unmasked, self.n_rows)

    def _masked(self, fraction: str, values: np.ndarray, proportion: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        hide = ~(np.asarray(proportion, dtype=np.float64) >= defaults.ASKED_THRESHOLD)
        self.masked[fraction] = int((hide & ~np.isnan(values)).sum())
        return np.where(hide, np.nan, values)


def _runs(sources) -> list[tuple[int, int, int | None, int]]:
    """Output columns as blocks to copy: (first column, source, first element or None
    for a scalar, length); a list's consecutive elements go in one copy (128 column
    copies took 2.1 s where 1.3 s read as many scalar columns)."""
    runs: list[list] = []
    for j, (at, i) in enumerate(sources):
        last = runs[-1] if runs else None
        if (
            last
            and i is not None
            and last[1] == at
            and last[2] is not None
            and last[2] + last[3] == i
        ):
            last[3] += 1
        else:
            runs.append([j, at, i, 1])
    return [tuple(run) for run in runs]


def _is_vector(kind: pa.DataType) -> bool:
    """A list column of numbers (an embedding per row)."""
    lists = (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )
    return lists and (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type))


def expand_paths(paths) -> list[Path]:
    """One path, a glob (``preds/*.hdf5``) or a list of either, as files in order."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out = []
    for item in items:
        matches = sorted(glob.glob(str(item))) if glob.has_magic(str(item)) else [item]
        if not matches:
            raise InputError(f"{item}: no file matches")
        out.extend(Path(m) for m in matches)
    if not out:
        raise InputError("no input file given")
    return out


def _concat(tables: list[pa.Table], source: str) -> pa.Table:
    """Tables of one catalogue written in several files (Zoobot writes one per chunk)."""
    if len(tables) == 1:
        return tables[0]
    first = tables[0].column_names
    for table in tables[1:]:
        if table.column_names != first:
            raise InputError(
                f"{source}: the files have different columns "
                f"({len(first)} and {table.num_columns}); they must be "
                f"chunks of one table"
            )
    return pa.concat_tables(tables, promote_options="permissive")


# --- the inputs of a search: representations, predictions, catalogues -------------------


@dataclass
class _Joined:
    """A table joined to the representations: its row for each representation."""

    table: TableSource
    role: str
    id_column: str
    rows: pa.ChunkedArray  # int32 per representation; null where it has no row


class Inputs:
    """The tables of a search, joined on id, read only as far as needed.

    Built by :func:`open_inputs`. ``selection_columns`` holds, for every
    representation, the columns that the cuts and ``--where`` name; :meth:`load`
    then reads the features and other columns of the galaxies kept.

    Attributes
    ----------
    n_rows : int
        Representations read.
    selection_columns : pandas.DataFrame, n_rows rows
    has_fractions : bool
        Whether any vote fraction was given (predictions, or ``*_fraction`` columns);
        without any, the morphology cuts are skipped with a note.
    id_choices : dict
        Per table: ``file``, ``column`` and ``reason`` (run.json).
    notes : list of str
        Lines for the log.
    """

    def __init__(
        self,
        reps: TableSource,
        id_choice: IdChoice,
        ids: pa.ChunkedArray,
        feature_columns: list[str],
        joined: list[_Joined],
    ):
        self.reps, self.id_choice, self.ids = reps, id_choice, ids
        self.feature_columns, self.joined = feature_columns, joined
        self.n_rows = reps.n_rows
        self.notes: list[str] = []
        self.id_choices: dict = {"representations": {"file": reps.source, **id_choice.as_dict()}}
        self.selection_columns = pd.DataFrame(index=pd.RangeIndex(self.n_rows))
        self.has_fractions = False

    # Where each column comes from. With --predictions, every vote fraction is the
    # predictions': the representation table's own fraction columns are set aside
    # whole, so that no cut reads one table's smooth and another's edge-on (they may
    # spell a question differently: smooth-or-featured vs smooth-or-featured-dr8).
    # The predictions also override any other column of the same name; a catalogue
    # only adds columns (GZ DESI's external catalogue repeats ra/dec).
    def _owners(self) -> dict[str, tuple[TableSource, pa.ChunkedArray | None]]:
        skip = set(self.feature_columns) | {self.id_choice.column}
        if self.predictions is not None:
            skip |= set(self.set_aside)
        owners = {n: (self.reps, None) for n in self.reps.names if n not in skip}
        for joined in self.joined:
            for name in joined.table.names:
                if name == joined.id_column:
                    continue
                if joined.role == "predictions" or name not in owners:
                    owners[name] = (joined.table, joined.rows)
        return owners

    def _gather(self, name: str, rows: np.ndarray | None) -> np.ndarray:
        table, joined_rows = self._owners()[name]
        if joined_rows is None:
            column = table.column(name) if rows is None else table.read([name], rows).column(0)
            return column.to_numpy(zero_copy_only=False)
        where = joined_rows if rows is None else joined_rows.take(pa.array(rows))
        return _take_or_null(table.column(name), where)

    def want(self, names) -> None:
        """Read these columns (cut and ``--where`` columns) for every representation."""
        for name in names:
            if name not in self.selection_columns:
                self.selection_columns[name] = self._gather(name, None)

    @property
    def names(self) -> list[str]:
        """Every column available to the cuts and ``--where``."""
        return list(self._owners())

    @property
    def predictions(self) -> _Joined | None:
        return next((j for j in self.joined if j.role == "predictions"), None)

    @property
    def set_aside(self) -> list[str]:
        """The representation table's vote-fraction columns that --predictions replace."""
        return fraction_columns(self.reps.names) if self.predictions is not None else []

    def fraction_sources(self) -> dict[str, str]:
        """The file each vote-fraction column is read from (run.json, the log)."""
        return {
            name: table.source
            for name, (table, _) in self._owners().items()
            if fraction_columns([name])
        }

    def describe_fractions(self) -> str:
        """One line for the log: where the vote fractions come from."""
        by_file: dict[str, int] = {}
        for source in self.fraction_sources().values():
            by_file[source] = by_file.get(source, 0) + 1
        found = ", ".join(f"{n} from {source}" for source, n in by_file.items()) or "none"
        aside = self.set_aside
        return f"vote fractions: {found}" + (
            f"; the {len(aside)} of {self.reps.source} are set aside (--predictions gives them all)"
            if aside
            else ""
        )

    def masking(self) -> dict:
        """run.json: per file, the friendly mask's rule, whether it was applied, and
        the values it masked in each column read so far."""
        tables = [self.reps] + [j.table for j in self.joined]
        return {
            t.source: {**t.mask_record, "masked": dict(t.masked)}
            for t in tables
            if t.mask_record is not None
        }

    def describe_masked(self) -> list[str]:
        """Lines for the log: the values masked in the columns the cuts read."""
        return [
            f"{source}: masked (asked below {defaults.ASKED_THRESHOLD:g}) "
            + ", ".join(f"{n} of {column}" for column, n in record["masked"].items())
            for source, record in self.masking().items()
            if record["masked"]
        ]

    def load(self, mask: np.ndarray | None = None) -> Representations:
        """The galaxies where ``mask`` (all without one): ids, features, columns.

        Columns: the representation table's and the predictions' (all but their ids
        and features) and the catalogue columns already read by :meth:`want`.
        Raises InputError for NaN or infinite features in any row, kept or not.
        """
        rows = None if mask is None else np.flatnonzero(mask)
        features, bad_rows = self.reps.matrix(self.feature_columns, mask)
        if bad_rows.any():
            first = self.ids[int(np.argmax(bad_rows))].as_py()
            raise InputError(
                f"{self.reps.source}: {int(bad_rows.sum())} rows have NaN or "
                f"infinite features (first id '{first}')"
            )
        ids = self.ids if rows is None else self.ids.take(pa.array(rows))
        ids = np.asarray(ids.to_pylist(), dtype=object)
        owners = self._owners()
        catalogues = [j.table for j in self.joined if j.role == "catalogue"]
        keep = [
            n
            for n, (table, _) in owners.items()  # catalogues: only what --where used
            if not any(table is c for c in catalogues) or n in self.selection_columns
        ]
        columns = pd.DataFrame(
            {n: self._gather(n, rows) for n in keep}, index=pd.RangeIndex(len(ids))
        )
        return Representations(
            ids=ids,
            features=features,
            columns=columns,
            id_column=self.id_choice.column,
            feature_columns=self.feature_columns,
            source=self.reps.source,
        )


def _take_or_null(column: pa.ChunkedArray, rows: pa.ChunkedArray) -> np.ndarray:
    """``column[rows]`` with NaN (or None) where ``rows`` is null."""
    values = column.take(rows)
    if pa.types.is_integer(values.type) and values.null_count:
        values = values.cast(pa.float64())
    return values.to_numpy(zero_copy_only=False)


def open_inputs(
    representations,
    *,
    predictions=None,
    catalogues=(),
    id_column=None,
    predictions_id_column=None,
    catalogue_id_column=None,
    features=None,
    ids=None,
    want=(),
    campaign=None,
    mask_unasked=defaults.MASK_UNASKED,
) -> Inputs:
    """Open the tables of a search and join them on id, reading as little as possible.

    Parameters
    ----------
    representations : path-like
        Any layout of :func:`read_table`; Parquet is read lazily.
    predictions : path-like, glob or list, optional
        Vote fractions or Zoobot concentrations (HDF5 chunks, CSV), one table;
        every representation must have a row.
    catalogues : sequence of path-like
        Extra tables (magnitudes, sizes) joined on id for ``--where``; a galaxy
        without a row gets NaN there.
    id_column, predictions_id_column, catalogue_id_column : str, optional
        Each table's own id column (:func:`choose_id_column` otherwise).
    features : str, optional
        A glob naming the feature columns.
    ids : path-like, optional
        The ids of a ``.npy`` array.
    want : sequence of str
        Columns to read for every galaxy now (the cuts' and ``--where``'s).
    campaign : str, optional
        The campaign whose answers to read from tables that hold several
        (``dr12``, ``dr5``, ``dr8`` …; :class:`TableSource`).
    mask_unasked : bool
        GZ DESI's friendly mask on the fractions whose proportion asked is known
        (:meth:`TableSource._mask_unasked`).
    """
    options = {"campaign": campaign, "mask_unasked": mask_unasked}
    # with --predictions the representations' own fractions are set aside: any campaign
    reps = TableSource(
        representations,
        ids=ids,
        id_column=id_column,
        mask_unasked=mask_unasked,
        campaign=campaign if predictions is None else None,
    )
    if reps.n_rows == 0:
        raise InputError(f"{reps.source}: the table has no rows")
    choice = choose_id_column(reps.names, reps.column, id_column, reps.source, "--id-col")
    feature_names = [
        element
        for name in find_feature_columns(reps.names, features, reps.source, reps.vectors)
        for element in (reps.expand(name) if name in reps.vectors else [name])
    ]
    if choice.column in feature_names:
        raise InputError(f"{reps.source}: the id column '{choice.column}' matches the feature glob")
    non_numeric = [
        n
        for n in feature_names
        if not (pa.types.is_floating(reps.type(n)) or pa.types.is_integer(reps.type(n)))
    ]
    if non_numeric:
        raise InputError(
            f"{reps.source}: {len(non_numeric)} feature columns are not numeric "
            f"(first: '{non_numeric[0]}', {reps.type(non_numeric[0])})"
        )
    rep_ids = id_array(reps.column(choice.column))
    check_ids(rep_ids, choice.column, reps.source, unique=choice.unique)
    inputs = Inputs(reps, choice, rep_ids, feature_names, [])
    inputs.notes.append(
        f"{reps.source}: {reps.n_rows} rows, id column '{choice.column}' "
        f"({choice.reason}), {len(feature_names)} feature columns "
        f"({feature_names[0]} … {feature_names[-1]})"
    )
    tables = []
    if predictions is not None:
        tables.append(("predictions", predictions, predictions_id_column, "--predictions-id-col"))
    tables += [
        ("catalogue", path, catalogue_id_column, "--catalogue-id-col") for path in catalogues
    ]
    for role, path, own_id, option in tables:
        table = TableSource(path, id_column=own_id, **options)
        own = choose_id_column(
            table.names, table.column, own_id, table.source, option, match=rep_ids
        )
        joined = _join(rep_ids, table, own, role, inputs.notes)
        inputs.joined.append(joined)
        entry = {"file": table.source, **own.as_dict()}
        if role == "predictions":
            inputs.id_choices["predictions"] = entry
        else:
            inputs.id_choices.setdefault("catalogues", []).append(entry)
    inputs.has_fractions = predictions is not None or bool(fraction_columns(inputs.names))
    _check_campaigns(inputs, campaign)
    for table in [reps] + [j.table for j in inputs.joined]:
        inputs.notes.extend(table.notes)
    if inputs.has_fractions:
        inputs.notes.append(inputs.describe_fractions())
    inputs.want(_available(want, inputs.names))
    return inputs


def _check_campaigns(inputs: Inputs, campaign: str | None) -> None:
    """The table the fractions come from holds one campaign's answers, or
    ``campaign`` names one; a campaign that no table holds is an error."""
    tables = [inputs.reps] + [j.table for j in inputs.joined]
    if campaign is not None and not any(t.campaigns for t in tables):
        raise InputError(
            f"--campaign {campaign}: no table has campaign-suffixed answers "
            f"({', '.join(t.source for t in tables)})"
        )
    owners = {
        id(table) for name, (table, _) in inputs._owners().items() if fraction_columns([name])
    }
    for table in tables:
        if id(table) in owners:
            table.require_one_campaign()


def _available(names, available) -> list[str]:
    """The wanted names, resolved like the cuts' columns; absent ones are left to
    the cuts and ``--where`` to report."""
    out = []
    for name in names:
        try:
            found = resolve_column(available, name)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if found is not None and found not in out:
            out.append(found)
    return out


def where_names(expressions, available) -> list[str]:
    """The columns that pandas expressions name (backquoted or bare identifiers)."""
    found = []
    for expression in expressions:
        for quoted, bare in re.findall(r"`([^`]*)`|([A-Za-z_][A-Za-z0-9_]*)", expression):
            name = quoted or bare
            if name in available and name not in found:
                found.append(name)
    return found


def _join(
    rep_ids: pa.ChunkedArray, table: TableSource, choice: IdChoice, role: str, notes: list[str]
) -> _Joined:
    """Each representation's row in ``table`` (Arrow's hash lookup, no Python strings)."""
    noun = "prediction" if role == "predictions" else role
    own = id_array(table.column(choice.column))
    check_ids(own, choice.column, table.source, f"{noun} rows", unique=choice.unique)
    rows = pc.index_in(rep_ids, value_set=own.combine_chunks())
    missing = rows.null_count
    if missing and role == "predictions":
        absent = pc.filter(rep_ids, pc.is_null(rows))[0].as_py()
        raise InputError(
            f"{table.source}: {missing} of {len(rep_ids)} representation ids have "
            f"no prediction row (e.g. '{absent}'; joined on '{choice.column}')"
        )
    extra = table.n_rows - (len(rep_ids) - missing)
    notes.append(
        f"{table.source}: {role}, {table.n_rows} rows, id column '{choice.column}' "
        f"({choice.reason})"
    )
    if missing:
        notes.append(
            f"{table.source}: {missing} representations have no row; their "
            f"{role} columns are empty (NaN), which a --where on them drops"
        )
    if extra > 0:
        notes.append(f"{table.source}: {extra} {noun} rows have no representation and were ignored")
    return _Joined(table, role, choice.column, rows)


# --- loading whole (small inputs, Python API) ------------------------------------------


def load_representations(
    path,
    *,
    id_column: str | None = None,
    features: str | None = None,
    ids: str | Path | None = None,
) -> Representations:
    """Read a representation file whole and validate it.

    Parameters
    ----------
    path : path-like
        Any layout of :func:`read_table`.
    id_column : str, optional
        Overrides the search through :data:`ID_COLUMNS`.
    features : str, optional
        A glob naming the feature columns; overrides :data:`FEATURE_PATTERNS`.
    ids : path-like, optional
        The ids of a ``.npy`` array.

    Raises
    ------
    InputError
        Missing or ambiguous id or feature columns, non-numeric features, NaN or
        infinite features, duplicate or missing ids.
    """
    return open_inputs(path, id_column=id_column, features=features, ids=ids).load()


def join_predictions(reps: Representations, path, *, id_column: str | None = None) -> list[str]:
    """Add the columns of a prediction table to ``reps.columns``, joined on id.

    Every representation must have a prediction row; extra prediction rows are
    ignored. Columns present in both take the prediction table's values.

    Returns
    -------
    list of str
        Lines for the log: what was joined and what was ignored.
    """
    table = TableSource(path, id_column=id_column)
    rep_ids = pa.chunked_array([pa.array(reps.ids.astype(str))])
    choice = choose_id_column(
        table.names, table.column, id_column, table.source, "--predictions-id-col", match=rep_ids
    )
    notes: list[str] = []
    joined = _join(rep_ids, table, choice, "predictions", notes)
    names = [n for n in table.names if n != choice.column]
    aligned = pd.DataFrame({n: _take_or_null(table.column(n), joined.rows) for n in names})
    overlap = [c for c in aligned.columns if c in reps.columns.columns]
    reps.columns = pd.concat([reps.columns.drop(columns=overlap), aligned], axis=1)
    return notes
