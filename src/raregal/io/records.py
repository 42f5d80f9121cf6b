"""The JSON records raregal writes and reads back, as typed dataclasses.

Every record starts with the same header (:func:`record_header`: raregal's
version, the command, the libraries' versions). Two records are read back, each
by its own ``read``, which refuses a hand-edited or foreign file in one line:

- :class:`RunRecord`, a search run's ``run.json``;
- :class:`EmbedManifest`, an ``raregal embed`` folder's ``manifest.json``.

Top-level entries are attributes; the sections inside (``selection``,
``parameters`` …) stay plain JSON objects, documented where they are written.
Entries a newer raregal adds are kept in ``extra`` and written back unchanged.
The records written and never read back (compare.json, baseline.json,
injection.json, evaluation.json, training.json) are plain dicts with the header.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar, Self

from raregal.core.errors import InputError
from raregal.core.version import __version__
from raregal.io.output import library_versions


def record_header(command=None) -> dict:
    """What every record raregal writes (run.json, manifest.json, injection.json …)
    starts with: raregal's version, the command that wrote it (default: this
    process's) and the versions of the libraries that made the numbers."""
    return {
        "raregal": __version__,
        "command": list(sys.argv if command is None else command),
        "versions": library_versions(),
    }


def read_json_object(path: Path, what: str) -> dict:
    """A strict JSON object from ``path`` (no NaN or Infinity), or one line saying why not."""

    def refuse(constant):
        raise ValueError(f"{constant} is not a JSON number")

    try:
        record = json.loads(Path(path).read_text(), parse_constant=refuse)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:  # [[[[…: the parser's stack, not raregal's writer
        raise InputError(f"{path}: not a {what} (JSON nested too deeply)") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: not a {what} (a JSON object)")
    return record


@dataclass
class _Record:
    """``from_json``/``to_json`` shared by the records: each field is a top-level entry,
    checked against its annotated JSON type; unknown entries go to ``extra``."""

    WHAT: ClassVar[str] = "record"
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, record: dict, path="") -> Self:
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        for name, value in record.items():
            annotation = str(known[name].type) if name in known else ""
            kind = _JSON_TYPES.get(annotation)
            if value is None and "None" in annotation:
                continue
            if kind is not None and not isinstance(value, kind):
                raise InputError(
                    f"{path}: '{name}' should be a JSON {_json_name(kind)}, "
                    f"not {type(value).__name__}"
                )
        missing = [
            f.name for f in known.values() if f.name in cls.REQUIRED and f.name not in record
        ]
        if missing:
            raise InputError(f"{path}: not a {cls.WHAT} (no {', '.join(missing)})")
        return cls(
            **{name: value for name, value in record.items() if name in known},
            extra={name: value for name, value in record.items() if name not in known},
        )

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**out, **self.extra}


_JSON_TYPES = {
    "str": str,
    "dict": dict,
    "list": list,
    "int": int,
    "str | None": str,
    "int | None": int,
    "dict | None": dict,
}


def _json_name(kind) -> str:
    return {dict: "object", list: "array", str: "string", int: "integer"}[kind]


@dataclass
class RunRecord(_Record):
    """A search run's ``run.json`` (written by :mod:`raregal.method.search`, read by
    :meth:`raregal.method.run.SearchResult.read`)."""

    WHAT: ClassVar[str] = "run record"

    raregal: str = ""
    command: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    id_column: str = ""
    id_columns: dict = field(default_factory=dict)
    fraction_sources: dict = field(default_factory=dict)
    feature_columns: dict = field(default_factory=dict)
    selection: dict = field(default_factory=dict)
    duplicates: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    credibility: dict = field(default_factory=dict)
    scales: list = field(default_factory=list)
    rarity: dict = field(default_factory=dict)
    fit_sample: dict | None = None  # the layout's fit sample (None: fitted on all)
    seed: int | None = None
    redundancy: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)
    wall_seconds: float | None = None

    @classmethod
    def read(cls, path) -> RunRecord:
        return cls.from_json(read_json_object(path, cls.WHAT), path)

    @property
    def representations_path(self) -> str | None:
        """The representation file the run searched, as recorded."""
        path = self.inputs.get("representations", {}).get("path")
        return path if isinstance(path, str) and path else None


@dataclass
class EmbedManifest(_Record):
    """An embed folder's ``manifest.json`` (written and resumed by
    :mod:`raregal.model.embed`; read by the report and the explorer to find the
    images, with the model's crop)."""

    WHAT: ClassVar[str] = "raregal embed manifest"
    REQUIRED: ClassVar[tuple[str, ...]] = ("status", "source")

    status: str = ""  # "running" until every shard is merged, then "complete"
    source: str = ""  # the images' folder or catalogue, resolved
    raregal: str = ""
    command: list = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    catalogue_sha256: str = ""
    rows: int = 0
    id_column: str = ""
    params: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path) -> EmbedManifest:
        manifest = cls.from_json(read_json_object(path, cls.WHAT), path)
        crop = manifest.crop_fraction
        if not (isinstance(crop, (int, float)) and not isinstance(crop, bool) and 0 < crop <= 1):
            raise InputError(
                f"{path}: 'preprocessing.crop_fraction' is {crop!r}, not a fraction in (0, 1]"
            )
        return manifest

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def crop_fraction(self):
        """The centre crop the model saw, as a fraction of the image's side."""
        return self.preprocessing.get("crop_fraction", 1.0)
