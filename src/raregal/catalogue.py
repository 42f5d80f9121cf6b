"""Read representation, prediction and catalogue tables in the layouts users already have.

Supported layouts (../shared/REFERENCE.md, "Representation files" and "Published
layouts in detail"):

- Parquet (``.parquet``, ``.pq``) and CSV (``.csv``, ``.csv.gz``, ``.tsv``) tables;
- FITS binary tables (``.fits``, ``.fit``, ``.fits.gz``); a vector column of shape
  (n, d) is expanded into ``{name}_0 … {name}_{d-1}``;
- Zoobot's HDF5 layout (``.h5``, ``.hdf5``): datasets ``predictions`` of shape
  (n, d) or (n, d, passes), ``id_str`` and, optionally, ``label_cols`` naming the d
  columns (default ``feat_{i}``). When ``label_cols`` are Galaxy Zoo answers
  (``smooth-or-featured-dr8_smooth`` …) the values are Dirichlet concentrations and
  are turned into vote fractions as Zoobot does (:func:`concentrations_to_fractions`);
  otherwise they are features and passes are averaged;
- Zoobot's prediction CSV: answer columns whose cells are numbers or JSON lists of
  one number per pass (``"[1.0, 0.9]"``), read as concentrations like the HDF5;
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError, first_line
from .schemas import answer_label, resolve_column

#: Id columns recognised without an id option, in order of preference: Zoobot (and
#: Euclid Q1, ``Q1_R1_<tile>_<objid>``), GZ DESI, GZ DECaLS DR5, Galaxy Zoo 2 /
#: Kaggle, SDSS.
ID_COLUMNS = ("id_str", "dr8_id", "iauname", "GalaxyID", "objid")

#: A column that numbers objects within a brick (GZ DESI's ``objid`` beside
#: ``brickid``) is not a galaxy id, even where it happens to be unique.
WITHIN_BRICK = {"objid": "brickid"}

#: Position columns by release, read as ``ra``/``dec``: GZ DESI and Zoobot write
#: ``ra``/``dec``; Euclid Q1's morphology catalogue ``right_ascension``/``declination``.
POSITION_ALIASES = {"ra": ("ra", "right_ascension", "RA"),
                    "dec": ("dec", "declination", "DEC", "Dec")}

#: Feature column families recognised without ``--features``: raw Zoobot features,
#: PCA features, and the PCA naming of an older draft of the GZ DESI release.
FEATURE_PATTERNS = ("feat_*", "feat_pca_*", "pca_feat_*")

TABLE_SUFFIXES = {
    ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".tsv": "csv", ".csv.gz": "csv",
    ".fits": "fits", ".fit": "fits", ".fits.gz": "fits",
    ".h5": "hdf5", ".hdf5": "hdf5",
    ".npy": "npy",
}

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
        return (f"{self.source}: {len(self.ids)} rows, id column '{self.id_column}', "
                f"{len(cols)} feature columns ({span})")


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
        raise InputError(f"{path}: a folder, where a table was expected; a folder of images "
                         f"is embedded first: raregal embed {path} --out DIR, then use "
                         f"DIR/representations.parquet")
    if not path.is_file():
        raise InputError(f"{path}: no such file")


def read_table(path: str | Path, *, ids: str | Path | None = None,
               id_column: str | None = None) -> pa.Table:
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
    header = pd.read_csv(path, sep=sep, nrows=0).columns
    text = {name: str for name in header if name in ID_COLUMNS or name == id_column}
    frame = pd.read_csv(path, sep=sep, dtype=text)
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values) and _is_list_column(values):
            values = _list_cells(values, f"{path.name}: column '{name}'")
        columns[name] = values.to_numpy() if isinstance(values, pd.Series) else values
    columns = _concentrations_as_fractions(columns, path.name)
    return _columns_to_arrow(columns)


def _is_list_column(values: pd.Series) -> bool:
    first = values.dropna()
    return len(first) > 0 and isinstance(first.iloc[0], str) and first.iloc[0].startswith("[")


def _list_cells(values: pd.Series, where: str) -> np.ndarray:
    """Zoobot's CSV cells of several passes, ``"[1.0, 0.9]"`` → (n, passes)."""
    try:
        rows = [json.loads(cell) for cell in values]
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: cells are not JSON lists of one number per pass "
                         f"of the same length") from exc


def _columns_to_arrow(columns: dict[str, np.ndarray]) -> pa.Table:
    out = {}
    for name, values in columns.items():
        values = np.asarray(values)
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
                raise InputError(f"{path}: not Zoobot's HDF5 layout: no '{required}' "
                                 f"dataset (found: {', '.join(f.keys())})")
        values = np.asarray(f["predictions"], dtype=np.float32)
        ids = np.asarray(f["id_str"])
        names = ([n.decode() if isinstance(n, bytes) else str(n) for n in f["label_cols"]]
                 if "label_cols" in f else None)
    if values.ndim not in (2, 3) or len(values) != len(ids):
        raise InputError(f"{path}: 'predictions' has shape {values.shape} but 'id_str' "
                         f"has {len(ids)} rows; expected (n, d) or (n, d, passes)")
    if names is None or len(names) != values.shape[1]:
        names = [f"feat_{i}" for i in range(values.shape[1])]
    columns = {"id_str": ids}
    columns.update({name: values[:, i] for i, name in enumerate(names)})
    return _columns_to_arrow(_concentrations_as_fractions(columns, path.name))


def _concentrations_as_fractions(columns: dict, source: str) -> dict:
    """Replace Galaxy Zoo answer columns of Dirichlet concentrations by vote fractions.

    Applies when the table has answer columns (``{question}[-campaign]_{answer}``,
    :func:`raregal.schemas.answer_label`) and no ``_fraction`` column, which is how
    Zoobot writes predictions. Any other column of several passes (n, passes) is
    averaged over the passes.
    """
    answers = [n for n in columns if answer_label(str(n)) is not None]
    if answers and not fraction_columns(columns):
        stacked = [np.asarray(columns[n], dtype=np.float32) for n in answers]
        values = np.stack([v if v.ndim == 2 else v[:, None] for v in stacked], axis=1)
        fractions = concentrations_to_fractions(values, answers, source)
        columns = {n: v for n, v in columns.items() if n not in answers}
        columns.update(fractions)
    return {n: (np.asarray(v).mean(axis=1) if np.asarray(v).ndim == 2
                and np.asarray(v).dtype.kind == "f" else v) for n, v in columns.items()}


def concentrations_to_fractions(values: np.ndarray, label_cols: list[str],
                                source: str = "predictions") -> dict[str, np.ndarray]:
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
        raise InputError(f"{source}: {int(bad.sum())} galaxies have concentrations <= 0 or "
                         f"not finite (first: row {first}); Dirichlet concentrations are "
                         f"positive")
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

def read_id_file(path, *, id_column: str | None = None, named: bool = False):
    """The ids a file lists: one per line (``.txt``, ``.lst``, ``.ids`` or no suffix),
    or a table's id column (``id_column`` when the table has it, else found as
    :func:`find_id_column` does). Returns an array of str (and, with ``named``, the
    column's name, ``id_str`` for a text file)."""
    path = Path(path)
    if path.suffix.lower() in {".txt", ".lst", ".ids", ""}:
        require_file(path)
        ids, name = np.array(path.read_text().split(), dtype=object), "id_str"
    elif table_format(path) == "npy":
        raise InputError(f"{path}: ids must be a text file or a table, not .npy")
    else:
        table = read_table(path, id_column=id_column)
        name = find_id_column(table, id_column if id_column in table.column_names else None,
                              path)
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


def choose_id_column(names, get, id_column: str | None, source: str,
                     option: str = "--id-col", match: pa.ChunkedArray | None = None) -> IdChoice:
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
        raise InputError(f"{source}: no id column; looked for {', '.join(ID_COLUMNS)}; "
                         f"name one with {option}")
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
        raise InputError(f"{source}: no unique id column ({'; '.join(why)}); name one "
                         f"with {option}")
    first = id_array(get(passed[0]))
    for other in passed[1:]:
        differ = len(first) - pc.sum(pc.equal(first, id_array(get(other)))).as_py()
        if differ and match is not None:
            return _matching_id(passed, get, match, source, option)
        if differ:
            raise InputError(f"{source}: ambiguous id column: '{passed[0]}' and '{other}' "
                             f"are both unique and differ on {differ} rows; choose one "
                             f"with {option}")
    notes = why + ([f"'{o}' holds the same ids" for o in passed[1:]])
    reason = f"the known id column present ({', '.join(present)})" + (
        f": {'; '.join(notes)}" if notes else "")
    return IdChoice(passed[0], reason, unique=True)


def _matching_id(candidates, get, match, source, option) -> IdChoice:
    """Of several unique id columns, the one that holds the representations' ids."""
    value_set = match.combine_chunks()
    hits = {name: pc.sum(pc.is_in(id_array(get(name)), value_set=value_set)).as_py() or 0
            for name in candidates}
    best = max(hits, key=hits.get)
    if hits[best] == 0 or sum(v == hits[best] for v in hits.values()) > 1:
        found = ", ".join(f"'{n}' {v}" for n, v in hits.items())
        raise InputError(f"{source}: ambiguous id column: {', '.join(candidates)} are all "
                         f"unique and differ; representation ids found in each: {found}; "
                         f"choose one with {option}")
    others = ", ".join(f"'{n}' {v}" for n, v in hits.items() if n != best)
    return IdChoice(best, f"of the unique id columns it holds the most representation ids "
                          f"({hits[best]}; {others})", unique=True)


def find_id_column(table: pa.Table, id_column: str | None, source,
                   option: str = "--id-col") -> str:
    """The id column of an in-memory table (:func:`choose_id_column`)."""
    return choose_id_column(table.column_names, table.column, id_column, str(source),
                            option).column


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
        raise InputError(f"{source}: {pc.sum(repeated).as_py()} {what} share an id with "
                         f"another row in column '{column}' (e.g. '{example}')")


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def find_feature_columns(table, pattern: str | None, source) -> list[str]:
    """Feature columns matching ``pattern`` (a glob), or the one family of
    :data:`FEATURE_PATTERNS` present, in natural order (feat_2 before feat_10).
    ``table`` is an Arrow table or a list of column names."""
    names = list(getattr(table, "column_names", table))
    if pattern is not None:
        found = fnmatch.filter(names, pattern)
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
    if not families:
        raise InputError(f"{source}: no feature columns; looked for "
                         f"{', '.join(FEATURE_PATTERNS)}; name them with --features GLOB")
    if len(families) > 1:
        listed = ", ".join(f"{fam} ({len(cols)} columns)" for fam, cols in families.items())
        raise InputError(f"{source}: ambiguous feature columns: {listed}; "
                         f"choose with --features GLOB")
    return next(iter(families.values()))


# --- one input table, read column by column -------------------------------------------

class TableSource:
    """One input file, read a few columns at a time.

    Parquet is read lazily (only the columns asked for, features streamed by row
    group); other formats are read whole, as they are small in practice. Position
    columns of any release are offered under ``ra``/``dec`` (:data:`POSITION_ALIASES`).
    """

    def __init__(self, paths, *, ids=None, id_column: str | None = None):
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
            self.n_rows = self._file.metadata.num_rows
        else:
            self._table = _concat([read_table(p, ids=ids, id_column=id_column) for p in paths],
                                  self.source)
            self.schema, self.n_rows = self._table.schema, self._table.num_rows
        stored = self.schema.names
        self.stored = {name: name for name in stored}
        for canonical, aliases in POSITION_ALIASES.items():
            found = next((a for a in aliases if a in stored), None)
            if found is not None and canonical not in stored:
                self.stored[canonical] = found
                del self.stored[found]

    @property
    def names(self) -> list[str]:
        return list(self.stored)

    def type(self, name: str) -> pa.DataType:
        return self.schema.field(self.stored[name]).type

    def column(self, name: str) -> pa.ChunkedArray:
        if self._file is None:
            return self._table.column(self.stored[name])
        if self._last[0] != name:  # the id column is asked for several times in a row
            self._last = (name, self._file.read(columns=[self.stored[name]]).column(0))
        return self._last[1]

    def read(self, names, rows: np.ndarray | None = None, group: int = 8) -> pa.Table:
        """The named columns, at ``rows`` (indices) if given, a few columns at a time."""
        arrays = []
        take = None if rows is None else pa.array(rows)
        for start in range(0, len(names), group):
            part = [self.stored[n] for n in names[start:start + group]]
            table = (self._file.read(columns=part) if self._file is not None
                     else self._table.select(part))
            if take is not None:
                table = table.take(take)
            arrays.extend(table.columns)
        return pa.table(dict(zip(names, arrays))) if names else pa.table({})

    def matrix(self, names, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The named numeric columns as float32 (k, d), keeping rows where ``mask``,
        and, for every row (kept or not), whether any value is NaN or infinite."""
        k = self.n_rows if mask is None else int(mask.sum())
        out = np.empty((k, len(names)), dtype=np.float32)
        bad = np.zeros(self.n_rows, dtype=bool)
        stored = [self.stored[n] for n in names]
        if self._file is not None:
            # one row group at a time: iter_batches held ~2x the file's bytes at 1M
            # rows (1.35 GiB peak against 0.49 GiB, and 2x slower; bench/read_scale.py)
            batches = (self._file.read_row_group(g, columns=stored)
                       for g in range(self._file.num_row_groups))
        else:
            batches = self._table.select(stored).to_batches(max_chunksize=STREAM_ROWS)
        offset = filled = 0
        for batch in batches:
            rows = slice(offset, offset + batch.num_rows)
            offset += batch.num_rows
            for j in range(batch.num_columns):  # every row is checked, kept or not
                bad[rows] |= ~np.isfinite(batch.column(j).to_numpy(zero_copy_only=False))
            if mask is not None:
                if not mask[rows].any():
                    continue
                batch = batch.filter(pa.array(mask[rows]))
            for j in range(len(names)):
                out[filled:filled + batch.num_rows, j] = batch.column(j).to_numpy(
                    zero_copy_only=False)
            filled += batch.num_rows
        return out, bad


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
            raise InputError(f"{source}: the files have different columns "
                             f"({len(first)} and {table.num_columns}); they must be "
                             f"chunks of one table")
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

    def __init__(self, reps: TableSource, id_choice: IdChoice, ids: pa.ChunkedArray,
                 feature_columns: list[str], joined: list[_Joined]):
        self.reps, self.id_choice, self.ids = reps, id_choice, ids
        self.feature_columns, self.joined = feature_columns, joined
        self.n_rows = reps.n_rows
        self.notes: list[str] = []
        self.id_choices: dict = {"representations": {"file": reps.source,
                                                     **id_choice.as_dict()}}
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
            column = (table.column(name) if rows is None
                      else table.read([name], rows).column(0))
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
        return {name: table.source for name, (table, _) in self._owners().items()
                if fraction_columns([name])}

    def describe_fractions(self) -> str:
        """One line for the log: where the vote fractions come from."""
        by_file: dict[str, int] = {}
        for source in self.fraction_sources().values():
            by_file[source] = by_file.get(source, 0) + 1
        found = ", ".join(f"{n} from {source}" for source, n in by_file.items()) or "none"
        aside = self.set_aside
        return (f"vote fractions: {found}" + (
            f"; the {len(aside)} of {self.reps.source} are set aside (--predictions gives "
            f"them all)" if aside else ""))

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
            raise InputError(f"{self.reps.source}: {int(bad_rows.sum())} rows have NaN or "
                             f"infinite features (first id '{first}')")
        ids = self.ids if rows is None else self.ids.take(pa.array(rows))
        ids = np.asarray(ids.to_pylist(), dtype=object)
        owners = self._owners()
        catalogues = [j.table for j in self.joined if j.role == "catalogue"]
        keep = [n for n, (table, _) in owners.items()  # catalogues: only what --where used
                if not any(table is c for c in catalogues) or n in self.selection_columns]
        columns = pd.DataFrame({n: self._gather(n, rows) for n in keep},
                               index=pd.RangeIndex(len(ids)))
        return Representations(ids=ids, features=features, columns=columns,
                               id_column=self.id_choice.column,
                               feature_columns=self.feature_columns, source=self.reps.source)


def _take_or_null(column: pa.ChunkedArray, rows: pa.ChunkedArray) -> np.ndarray:
    """``column[rows]`` with NaN (or None) where ``rows`` is null."""
    values = column.take(rows)
    if pa.types.is_integer(values.type) and values.null_count:
        values = values.cast(pa.float64())
    return values.to_numpy(zero_copy_only=False)


def open_inputs(representations, *, predictions=None, catalogues=(), id_column=None,
                predictions_id_column=None, catalogue_id_column=None, features=None,
                ids=None, want=()) -> Inputs:
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
    """
    reps = TableSource(representations, ids=ids, id_column=id_column)
    if reps.n_rows == 0:
        raise InputError(f"{reps.source}: the table has no rows")
    choice = choose_id_column(reps.names, reps.column, id_column, reps.source, "--id-col")
    feature_names = find_feature_columns(reps.names, features, reps.source)
    if choice.column in feature_names:
        raise InputError(f"{reps.source}: the id column '{choice.column}' matches the "
                         f"feature glob")
    non_numeric = [n for n in feature_names
                   if not (pa.types.is_floating(reps.type(n)) or pa.types.is_integer(reps.type(n)))]
    if non_numeric:
        raise InputError(f"{reps.source}: {len(non_numeric)} feature columns are not numeric "
                         f"(first: '{non_numeric[0]}', {reps.type(non_numeric[0])})")
    rep_ids = id_array(reps.column(choice.column))
    check_ids(rep_ids, choice.column, reps.source, unique=choice.unique)
    inputs = Inputs(reps, choice, rep_ids, feature_names, [])
    inputs.notes.append(f"{reps.source}: {reps.n_rows} rows, id column '{choice.column}' "
                        f"({choice.reason}), {len(feature_names)} feature columns "
                        f"({feature_names[0]} … {feature_names[-1]})")
    tables = []
    if predictions is not None:
        tables.append(("predictions", predictions, predictions_id_column, "--predictions-id-col"))
    tables += [("catalogue", path, catalogue_id_column, "--catalogue-id-col")
               for path in catalogues]
    for role, path, own_id, option in tables:
        table = TableSource(path, id_column=own_id)
        own = choose_id_column(table.names, table.column, own_id, table.source, option,
                               match=rep_ids)
        joined = _join(rep_ids, table, own, role, inputs.notes)
        inputs.joined.append(joined)
        entry = {"file": table.source, **own.as_dict()}
        if role == "predictions":
            inputs.id_choices["predictions"] = entry
        else:
            inputs.id_choices.setdefault("catalogues", []).append(entry)
    inputs.has_fractions = predictions is not None or bool(fraction_columns(inputs.names))
    if inputs.has_fractions:
        inputs.notes.append(inputs.describe_fractions())
    inputs.want(_available(want, inputs.names))
    return inputs


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


def _join(rep_ids: pa.ChunkedArray, table: TableSource, choice: IdChoice, role: str,
          notes: list[str]) -> _Joined:
    """Each representation's row in ``table`` (Arrow's hash lookup, no Python strings)."""
    noun = "prediction" if role == "predictions" else role
    own = id_array(table.column(choice.column))
    check_ids(own, choice.column, table.source, f"{noun} rows", unique=choice.unique)
    rows = pc.index_in(rep_ids, value_set=own.combine_chunks())
    missing = rows.null_count
    if missing and role == "predictions":
        absent = pc.filter(rep_ids, pc.is_null(rows))[0].as_py()
        raise InputError(f"{table.source}: {missing} of {len(rep_ids)} representation ids have "
                         f"no prediction row (e.g. '{absent}'; joined on '{choice.column}')")
    extra = table.n_rows - (len(rep_ids) - missing)
    notes.append(f"{table.source}: {role}, {table.n_rows} rows, id column '{choice.column}' "
                 f"({choice.reason})")
    if missing:
        notes.append(f"{table.source}: {missing} representations have no row; their "
                     f"{role} columns are empty (NaN), which a --where on them drops")
    if extra > 0:
        notes.append(f"{table.source}: {extra} {noun} rows have no representation and "
                     f"were ignored")
    return _Joined(table, role, choice.column, rows)


# --- loading whole (small inputs, Python API) ------------------------------------------

def load_representations(path, *, id_column: str | None = None,
                         features: str | None = None,
                         ids: str | Path | None = None) -> Representations:
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
    choice = choose_id_column(table.names, table.column, id_column, table.source,
                              "--predictions-id-col", match=rep_ids)
    notes: list[str] = []
    joined = _join(rep_ids, table, choice, "predictions", notes)
    names = [n for n in table.names if n != choice.column]
    aligned = pd.DataFrame({n: _take_or_null(table.column(n), joined.rows) for n in names})
    overlap = [c for c in aligned.columns if c in reps.columns.columns]
    reps.columns = pd.concat([reps.columns.drop(columns=overlap), aligned], axis=1)
    return notes
