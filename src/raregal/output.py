"""Write a run's outputs so that a reader never sees half of them.

Everything is written into a hidden sibling folder, which replaces the output
folder in one rename once every file is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from .errors import InputError

#: Libraries whose versions are recorded in run.json.
RECORDED_PACKAGES = ("raregal", "numpy", "pandas", "pyarrow", "scikit-learn", "umap-learn",
                     "pynndescent", "fast_hdbscan", "numba", "astropy", "h5py", "cuml")


def check_writable(out_dir: Path, overwrite: bool) -> None:
    """Fail before any work when ``out_dir`` exists and may not be replaced."""
    if out_dir.exists() and not overwrite:
        raise InputError(f"{out_dir}: already exists; choose another --out or add --overwrite")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")


@contextmanager
def atomic_dir(out_dir: Path, overwrite: bool):
    """Yield a temporary folder; on success it becomes ``out_dir``, on error it goes."""
    out_dir = Path(out_dir)
    check_writable(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def write_table(table, path) -> None:
    """Write a pandas table to Parquet or CSV, by suffix, through a temporary file."""
    path = Path(path)
    if path.suffix.lower() not in {".parquet", ".csv"}:
        raise InputError(f"{path}: write .parquet or .csv")
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        if path.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
