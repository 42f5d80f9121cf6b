"""Read representation and prediction tables in the layouts users already have.

Supported layouts (see ../shared/REFERENCE.md, "Representation files"):

- Parquet (``.parquet``, ``.pq``) and CSV (``.csv``, ``.csv.gz``, ``.tsv``) tables;
- FITS binary tables (``.fits``, ``.fit``, ``.fits.gz``); a vector column of shape
  (n, d) is expanded into ``{name}_0 … {name}_{d-1}``;
- Zoobot's HDF5 layout (``.h5``, ``.hdf5``): datasets ``predictions`` of shape
  (n, d) or (n, d, samples) -- samples are averaged --, ``id_str`` and, optionally,
  ``label_cols`` naming the d columns (default ``feat_{i}``);
- a NumPy array (``.npy``, shape (n, d)) with its ids given separately, as a text
  file of one id per line or as any table above with an id column.

Every table is read into a :class:`pyarrow.Table` so that wide feature blocks stay
columnar and are converted to one float32 array only once.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import InputError

#: Id columns recognised without ``--id-col``, in order of preference: Zoobot,
#: GZ DESI, GZ DECaLS DR5, Galaxy Zoo 2 / Kaggle, SDSS.
ID_COLUMNS = ("id_str", "dr8_id", "iauname", "GalaxyID", "objid")

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
    notes: list[str] = field(default_factory=list)

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


def read_table(path: str | Path, *, ids: str | Path | None = None) -> pa.Table:
    """Read any supported layout into an Arrow table.

    Parameters
    ----------
    path : path-like
        The table or array file.
    ids : path-like, optional
        For ``.npy`` arrays only: the ids, one per line, or a table with an id column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = table_format(path)
    if kind == "npy" and ids is None:
        raise InputError(f"{path}: a .npy array has no ids; give them with --ids FILE")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq
            return pq.read_table(path)
        if kind == "csv":
            sep = "\t" if path.name.lower().endswith(".tsv") else ","
            return pa.Table.from_pandas(pd.read_csv(path, sep=sep), preserve_index=False)
        if kind == "fits":
            return _read_fits(path)
        if kind == "hdf5":
            return _read_zoobot_hdf5(path)
        return _read_npy(path, Path(ids))
    except InputError:
        raise
    except Exception as exc:  # the libraries' own errors are many; name the file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot read as {kind}: {reason}") from exc


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
    if values.ndim == 3:  # (n, d, samples): Zoobot's stochastic forward passes
        values = values.mean(axis=2)
    if values.ndim != 2 or len(values) != len(ids):
        raise InputError(f"{path}: 'predictions' has shape {values.shape} but 'id_str' "
                         f"has {len(ids)} rows; expected (n, d) or (n, d, samples)")
    if names is None or len(names) != values.shape[1]:
        names = [f"feat_{i}" for i in range(values.shape[1])]
    columns = {"id_str": ids}
    columns.update({name: values[:, i] for i, name in enumerate(names)})
    return _columns_to_arrow(columns)


def _read_npy(path: Path, ids_path: Path) -> pa.Table:
    values = np.load(path, mmap_mode="r")
    if values.ndim != 2:
        raise InputError(f"{path}: expected an array of shape (n, d), got {values.shape}")
    if ids_path.suffix.lower() in {".txt", ".lst", ".ids", ""}:
        ids = np.array(ids_path.read_text().split(), dtype=object)
        id_name = "id_str"
    elif table_format(ids_path) == "npy":
        raise InputError(f"{ids_path}: ids must be a text file or a table, not .npy")
    else:
        id_table = read_table(ids_path)
        id_name = find_id_column(id_table, None, ids_path)
        ids = np.asarray(id_table.column(id_name).to_pylist(), dtype=object)
    if len(ids) != len(values):
        raise InputError(f"{ids_path}: {len(ids)} ids for {len(values)} rows of {path}")
    columns = {id_name: ids}
    columns.update({f"feat_{i}": np.asarray(values[:, i]) for i in range(values.shape[1])})
    return _columns_to_arrow(columns)


# --- finding the columns -----------------------------------------------------------

def find_id_column(table: pa.Table, id_column: str | None, source) -> str:
    """The id column: ``id_column`` if given, else the one of :data:`ID_COLUMNS` present.

    Several candidates are accepted only when they hold the same ids.
    """
    names = table.column_names
    if id_column is not None:
        if id_column not in names:
            raise InputError(f"{source}: no id column '{id_column}' (--id-col)")
        return id_column
    present = [name for name in ID_COLUMNS if name in names]
    if not present:
        raise InputError(f"{source}: no id column; looked for {', '.join(ID_COLUMNS)}; "
                         f"name one with --id-col")
    first = ids_as_strings(table.column(present[0]))
    for other in present[1:]:
        differ = int(np.sum(first != ids_as_strings(table.column(other))))
        if differ:
            raise InputError(f"{source}: ambiguous id column: '{present[0]}' and '{other}' "
                             f"differ on {differ} rows; choose one with --id-col")
    return present[0]


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def find_feature_columns(table: pa.Table, pattern: str | None, source) -> list[str]:
    """Feature columns matching ``pattern`` (a glob), or the one family of
    :data:`FEATURE_PATTERNS` present, in natural order (feat_2 before feat_10)."""
    names = table.column_names
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


def ids_as_strings(column: pa.ChunkedArray) -> np.ndarray:
    """Ids as strings, so that 100008 (int) and '100008' (str) join."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            column = pa.array(values.astype(np.int64))
    return np.asarray(column.cast(pa.string()).to_pylist(), dtype=object)


def count_duplicates(ids: np.ndarray) -> tuple[int, str | None]:
    """How many rows share their id with another row, and one such id."""
    values, counts = np.unique(ids.astype(str), return_counts=True)
    repeated = counts > 1
    return int(counts[repeated].sum()), (str(values[repeated][0]) if repeated.any() else None)


# --- loading -----------------------------------------------------------------------

def load_representations(path, *, id_column: str | None = None,
                         features: str | None = None,
                         ids: str | Path | None = None) -> Representations:
    """Read a representation file and validate it.

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
    table = read_table(path, ids=ids)
    source = Path(path).name
    if table.num_rows == 0:
        raise InputError(f"{source}: the table has no rows")
    id_name = find_id_column(table, id_column, source)
    feature_names = find_feature_columns(table, features, source)
    if id_name in feature_names:
        raise InputError(f"{source}: the id column '{id_name}' matches the feature glob")

    non_numeric = [n for n in feature_names
                   if not (pa.types.is_floating(table.schema.field(n).type)
                           or pa.types.is_integer(table.schema.field(n).type))]
    if non_numeric:
        raise InputError(f"{source}: {len(non_numeric)} feature columns are not numeric "
                         f"(first: '{non_numeric[0]}', {table.schema.field(non_numeric[0]).type})")

    id_values = ids_as_strings(table.column(id_name))
    missing = int(sum(v is None or v == "" for v in id_values))
    if missing:
        raise InputError(f"{source}: {missing} rows have no id in column '{id_name}'")
    n_dup, example = count_duplicates(id_values)
    if n_dup:
        raise InputError(f"{source}: {n_dup} rows share an id with another row in column "
                         f"'{id_name}' (e.g. '{example}')")

    matrix = np.empty((table.num_rows, len(feature_names)), dtype=np.float32)
    for j, name in enumerate(feature_names):
        matrix[:, j] = table.column(name).to_numpy(zero_copy_only=False)
    bad_rows = ~np.isfinite(matrix).all(axis=1)
    if bad_rows.any():
        first = id_values[np.argmax(bad_rows)]
        raise InputError(f"{source}: {int(bad_rows.sum())} rows have NaN or infinite "
                         f"features (first id '{first}')")

    rest = table.drop_columns(feature_names + [id_name]).to_pandas()
    return Representations(ids=id_values, features=matrix, columns=rest, id_column=id_name,
                           feature_columns=feature_names, source=source)


def join_predictions(reps: Representations, path, *, id_column: str | None = None) -> list[str]:
    """Add the columns of a prediction table to ``reps.columns``, joined on id.

    Every representation must have a prediction row; extra prediction rows are
    ignored. Columns present in both take the prediction table's values.

    Returns
    -------
    list of str
        Lines for the log: what was joined and what was ignored.
    """
    table = read_table(path)
    source = Path(path).name
    id_name = find_id_column(table, id_column, source)
    pred_ids = ids_as_strings(table.column(id_name))
    n_dup, example = count_duplicates(pred_ids)
    if n_dup:
        raise InputError(f"{source}: {n_dup} prediction rows share an id (e.g. '{example}')")
    predictions = table.drop_columns([id_name]).to_pandas()
    predictions.index = pd.Index(pred_ids.astype(str))
    wanted = reps.ids.astype(str)
    has_row = predictions.index.isin(wanted)
    n_missing = len(wanted) - int(has_row.sum())
    if n_missing:
        absent = wanted[~pd.Index(wanted).isin(predictions.index)]
        raise InputError(f"{source}: {n_missing} of {len(wanted)} representation ids have no "
                         f"prediction row (e.g. '{absent[0]}'; joined on '{id_name}')")
    aligned = predictions.loc[wanted].reset_index(drop=True)
    overlap = [c for c in aligned.columns if c in reps.columns.columns]
    reps.columns = pd.concat([reps.columns.drop(columns=overlap), aligned], axis=1)
    notes = [f"{source}: joined {aligned.shape[1]} columns on '{id_name}'"]
    if (~has_row).any():
        notes.append(f"{source}: {int((~has_row).sum())} prediction rows have no "
                     f"representation and were ignored")
    return notes
