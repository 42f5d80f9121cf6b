"""What the explorer serves, read once from a run folder and held in memory.

The run folder is read by :meth:`raregal.method.run.SearchResult.read`, which checks it
and opens its neighbour index (:mod:`raregal.method.neighbour_index`); a run written
before the index has its neighbour graph read by :func:`raregal.io.export.read_neighbours`.
:class:`RunData` answers every query the web app makes by *row index* (0 … n-1 in
classes.parquet) or by an id looked up in the table: no request ever names a file.
Images are those the run's image catalogue lists (``report.image_paths``), read by id.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.expression import evaluate as evaluate_expression
from raregal.io.catalogue import fraction_columns
from raregal.io.export import read_neighbours
from raregal.io.images import ImageError, embed_manifest, image_paths, model_input
from raregal.io.records import RunRecord
from raregal.method.reduce import map_start
from raregal.method.run import SearchResult, lettered
from raregal.report.page import class_table, label_differences, viewer_links

#: Neighbours kept per galaxy by the fallback index and offered in "more like this".
NEIGHBOURS = 50
#: Thumbnail sides the app asks for: gallery size, and "larger" on the card.
THUMB_SIZES = (defaults.THUMBNAIL_PX, 424)
#: Decoded thumbnails kept in memory (JPEG bytes, ~5 kB each at 128 px).
THUMB_CACHE = 4096
#: IAU names such as J112953.88-000427.4 (hhmmss.ss±ddmmss.s).
IAU_NAME = re.compile(r"J(\d{2})(\d{2})(\d{2}(?:\.\d+)?)([+-])(\d{2})(\d{2})(\d{2}(?:\.\d+)?)")


def position_from_name(name: str) -> tuple[float, float] | None:
    """(ra, dec) in degrees parsed from an IAU-style name, or None."""
    found = IAU_NAME.search(str(name))
    if not found:
        return None
    h, m, s, sign, d, dm, ds = found.groups()
    ra = 15 * (int(h) + int(m) / 60 + float(s) / 3600)
    dec = int(d) + int(dm) / 60 + float(ds) / 3600
    if ra >= 360 or dec > 90:
        return None
    return ra, -dec if sign == "-" else dec


class RunData:
    """A search run held in memory for the explorer.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``raregal search``.
    images : path-like, optional
        Image folder or catalogue (id and path columns); default the images the
        run was embedded from, as for ``raregal report``.
    """

    def __init__(self, run_dir, images=None):
        result = SearchResult.read(run_dir)
        self.dir: Path = result.out
        self.run: RunRecord = result.run
        self.id_column: str = result.id_column
        self.table: pd.DataFrame = result.classes.reset_index(drop=True)
        self.ids = pd.Series(self.table[self.id_column].astype(str).to_numpy(dtype=object))
        self.row_of = pd.Series(np.arange(len(self.table)), index=self.ids.to_numpy())
        if self.row_of.index.has_duplicates:
            raise InputError(f"{self.dir}/classes.parquet: ids in {self.id_column} repeat")
        self.order = lettered(result.summary)
        self.letter_of = dict(zip(self.order["class"].astype(int), self.order["letter"]))
        self.letters = self.table["class"].map(self.letter_of).fillna("")
        self.fractions = fraction_columns(self.table)
        self.numeric = [
            c
            for c in self.table.columns
            if pd.api.types.is_numeric_dtype(self.table[c]) and c != "class"
        ]
        self.differences = label_differences(self.table) if len(self.order) else {}
        manifest = embed_manifest(self.run.representations_path)
        paths, self.crop, self.images_from = image_paths(images, manifest)
        self.image_of = {g: p for g, p in paths.items() if g in self.row_of.index}
        if self.images_from and not self.image_of:
            raise InputError(
                f"{self.images_from}: none of the run's {len(self.table)} galaxies "
                f"has an image there (ids are matched on {self.id_column})"
            )
        self._thumbs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._neighbours = None
        self._index = None
        self.index = result.index
        self.neighbour_source = self._load_neighbours()
        self._warming = False

    # --- map ------------------------------------------------------------------------

    def map_xy(self) -> np.ndarray:
        """(n, 2) float32 map positions scaled into [-1, 1] (aspect kept): the run's map,
        or, in a run written without one (``make_map=False``, as injection-recovery
        writes), the first two principal components of its 5-D UMAP, where the search's
        own map starts (:func:`raregal.method.reduce.map_start`)."""
        if {"map_x", "map_y"} <= set(self.table.columns):
            xy = self.table[["map_x", "map_y"]].to_numpy(np.float64)
        else:
            umap = [c for c in self.table.columns if str(c).startswith("umap_")]
            if len(umap) < 2:
                raise InputError(
                    f"{self.dir}/classes.parquet: no map (map_x, map_y) and "
                    f"no umap_* columns to draw one from"
                )
            xy = map_start(self.table[umap].to_numpy(np.float32)).astype(np.float64)
        centre = (xy.max(0) + xy.min(0)) / 2
        half = max(float((xy.max(0) - xy.min(0)).max()) / 2, 1e-12)
        return ((xy - centre) / half * 0.95).astype(np.float32)

    def colour_values(self, column: str) -> tuple[np.ndarray, dict]:
        """Values to colour the map by: class order (0 none, 1… by letter) or a numeric
        column scaled to [0, 1] (NaN -> -1)."""
        if column == "class":
            rank = {c: i + 1 for i, c in enumerate(self.order["class"].astype(int))}
            values = self.table["class"].map(rank).fillna(0).to_numpy(np.float32)
            return values, {"kind": "categorical", "categories": len(self.order) + 1}
        if column not in self.numeric:
            raise KeyError(column)
        values = pd.to_numeric(self.table[column], errors="coerce").to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
        scaled = np.where(np.isfinite(scaled), scaled, -1)
        return scaled.astype(np.float32), {
            "kind": "continuous",
            "min": float(low),
            "max": float(high),
        }

    # --- classes --------------------------------------------------------------------

    def class_table(self) -> list[dict]:
        """One record per class, in letter order: the report's class table
        (:func:`raregal.report.page.class_table`, so every per-class column of classes.csv,
        credibility included), with ``differences`` as text."""
        table = class_table(self.order, self.differences, {}).drop(columns="members_csv")
        table = table.rename(columns={"differing_vote_fractions": "differences"})
        return json.loads(table.to_json(orient="records"))

    def class_rows(self, letter: str) -> np.ndarray:
        """Rows of a class's members, most confident first."""
        match = self.order.loc[self.order["letter"] == letter, "class"]
        if match.empty:
            raise KeyError(letter)
        members = self.table[self.table["class"] == int(match.iloc[0])]
        ordered = members.assign(_id=self.ids[members.index]).sort_values(
            ["probability", "_id"], ascending=[False, True]
        )
        return ordered.index.to_numpy()

    def query_rows(self, expression: str) -> np.ndarray:
        """Rows where a condition on the table's columns holds
        (:mod:`raregal.core.expression`; ``class`` and ``class_letter`` included)."""
        columns = {**{c: self.table[c] for c in self.table.columns}, "class_letter": self.letters}
        try:
            return np.flatnonzero(evaluate_expression(expression, columns))
        except InputError as exc:
            raise InputError(f"query '{expression}': {exc}") from None

    # --- galaxies -------------------------------------------------------------------

    def row(self, galaxy: str) -> int:
        """Row index of an id (KeyError if the run has no such galaxy)."""
        return int(self.row_of[str(galaxy)])

    def galaxy(self, row: int) -> dict:
        record = self.table.iloc[row]
        galaxy = self.ids.iloc[row]
        ra, dec = record.get("ra"), record.get("dec")
        position, source = None, None
        if ra is not None and dec is not None and np.isfinite(ra) and np.isfinite(dec):
            position, source = (float(ra), float(dec)), "catalogue"
        elif (parsed := position_from_name(galaxy)) is not None:
            position, source = parsed, "name"
        return {
            "row": int(row),
            "id": galaxy,
            "class": self.letters.iloc[row],
            "probability": float(record["probability"]),
            "ra": position[0] if position else None,
            "dec": position[1] if position else None,
            "position_from": source,
            "viewer": viewer_links(*position)[0] if position else None,
            "fractions": {c: _number(record[c]) for c in self.fractions},
            "image": galaxy in self.image_of,
        }

    def rows_table(self, rows: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
        """The run's table for some rows, with the class letter, for tables and export."""
        out = self.table.iloc[rows].copy()
        out.insert(1, "class_letter", self.letters.iloc[rows].to_numpy())
        out.insert(0, "row", np.asarray(rows, dtype=np.int64))
        return out[columns] if columns else out

    # --- neighbours -----------------------------------------------------------------

    def _load_neighbours(self) -> str:
        if self.index is not None:  # read a row at a time from disk: no memory, no build
            where = (
                "the representation"
                if self.index.space == "representation"
                else f"the representation's {self.index.space}"
            )
            return f"the run's neighbour index (the search's neighbours in {where})"
        path = self.dir / "neighbours.parquet"
        if path.is_file():
            self._neighbours = read_neighbours(path, len(self.table))
            return "neighbours.parquet (the search's neighbours in the representation)"
        if self._index_columns()[0] == "map_x":
            return "the run's 2-D map (no neighbours.parquet nor umap_* columns in the run folder)"
        return "the run's 5-D UMAP, umap_0… (no neighbours.parquet in the run folder)"

    def _index_columns(self) -> list[str]:
        """The fallback index's space: the 5-D UMAP, else the 2-D map (a hand-made or
        trimmed run folder)."""
        return [c for c in self.table.columns if str(c).startswith("umap_")] or ["map_x", "map_y"]

    def neighbours(self, row: int, k: int = 12) -> list[tuple[int, float | None]]:
        """(row, distance) of a galaxy's k nearest neighbours, nearest first.

        From the run's neighbour index (:mod:`raregal.method.neighbour_index`), else, in a
        run written before it, ``neighbours.parquet`` (distance in the
        representation), else a k-d tree on the run's ``umap_*`` columns (Euclidean
        distance there).
        """
        k = int(np.clip(k, 1, NEIGHBOURS))
        if self.index is not None:
            rows, distances = self.index.of_row(row, k)
            return [(int(r), float(d)) for r, d in zip(rows, distances)]
        if self._neighbours is not None:
            rows, distances = self._neighbours
            return [(int(r), float(d)) for r, d in zip(rows[row][:k], distances[row][:k])]
        index = self._neighbour_index()
        distance, found = index.kneighbors(
            self._points[row : row + 1], n_neighbors=min(k + 1, len(self.table))
        )
        return [(int(r), float(d)) for r, d in zip(found[0], distance[0]) if r != row][:k]

    def warm(self) -> None:
        """Build the neighbour index in the background (once): called when the page has
        its map, so that it is ready by the first click without slowing the page's
        first requests."""
        if self._neighbours is None and self.index is None and not self._warming:
            self._warming = True
            threading.Thread(target=self._neighbour_index, daemon=True).start()

    def _neighbour_index(self):
        """scikit-learn's k-d tree on the run's umap_* columns, built once."""
        with self._index_lock:
            if self._index is None:
                from sklearn.neighbors import NearestNeighbors

                self._points = self.table[self._index_columns()].to_numpy(np.float32)
                self._index = NearestNeighbors().fit(self._points)
        return self._index

    # --- thumbnails -----------------------------------------------------------------

    def thumbnail(self, row: int, size: int) -> bytes | None:
        """JPEG bytes of a galaxy's image as the model saw it, or None without one."""
        key = (row, size)
        with self._lock:
            if key in self._thumbs:
                self._thumbs.move_to_end(key)
                return self._thumbs[key]
        path = self.image_of.get(self.ids.iloc[row])
        if path is None:
            return None
        from PIL import Image

        try:
            pixels = model_input(path, crop_fraction=self.crop, size=size)
        except ImageError:
            return None
        buffer = BytesIO()
        Image.fromarray(np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8)).save(
            buffer, "JPEG", quality=90
        )
        with self._lock:
            self._thumbs[key] = buffer.getvalue()
            while len(self._thumbs) > THUMB_CACHE:
                self._thumbs.popitem(last=False)
        return buffer.getvalue()


def _number(value):
    value = float(value) if value is not None else np.nan
    return value if np.isfinite(value) else None
