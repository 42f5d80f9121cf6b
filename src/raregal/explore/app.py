"""The explorer's web app: a Starlette application over one :class:`RunData`.

Every route answers from memory or from the run's image catalogue. Galaxies are
addressed by row index (0 … n-1 of classes.parquet) or by an id looked up in the
table, classes by letter, static files by a fixed list of names shipped in the
package: no part of a request path ever reaches the filesystem. The page itself
inserts every string from the run as text (``textContent``), never as HTML.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import threading
import uuid
from collections import OrderedDict
from importlib import resources

import numpy as np
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.params import Integral, Interval, validate
from raregal.explore.data import THUMB_SIZES, RunData
from raregal.explore.suggest import Suggester
from raregal.explore.tags import KINDS, TAGS, TagStore
from raregal.explore.view import Window, cell_rows, view
from raregal.io.export import astropy_table, spreadsheet_safe
from raregal.report.figures import class_colours

#: The files the page loads, read from the package once: name -> media type.
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript",
    "style.css": "text/css",
    "regl-scatterplot.bundle.min.js": "text/javascript",
    "THIRD-PARTY-LICENSES.txt": "text/plain; charset=utf-8",
}
PAGE_SIZE = 100
#: Map colour of galaxies in no class (kept away from the class palette:
#: raregal.report.figures.RESERVED_COLOURS).
NO_CLASS = "#cfcfcf"
#: Their colour in a run without classes: that pale grey lets classes stand out, and
#: alone (1.5:1 on white, 2-3 px dots at 10,000 galaxies and more) the map looked blank.
NO_CLASS_ALONE = "#6a6a6a"
#: Selections kept for paging and export (oldest dropped first).
SELECTIONS = 64
#: Map views kept for repeated asks (at most ~3 MB each: EXPLORE_POINTS_MAX points).
VIEWS_KEPT = 8
#: Largest selection whose rows are sent back to be highlighted on the map.
HIGHLIGHT_MAX = 200_000
EXPORTS = {"csv": "text/csv", "fits": "application/fits", "vot": "application/x-votable+xml"}
#: No inline scripts, nothing from elsewhere. 'unsafe-eval': regl compiles its draw
#: calls with Function(); injected markup still cannot run (no inline script).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; "
    "script-src 'self' 'unsafe-eval'; "
    "img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
}


#: A "suggest next" request's round size.
SUGGEST_CONSTRAINTS = {"k": [Interval(Integral, 1, defaults.SUGGEST_MAX)]}


def static_files() -> dict[str, bytes]:
    folder = resources.files(__package__) / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


class Selections:
    """Row sets made in the page (lasso, class or query), by a random id."""

    def __init__(self):
        self._kept: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, rows: np.ndarray, label: str, name: str) -> str:
        """Keep ``rows``; ``label`` is shown in the page, ``name`` names its exports."""
        key = uuid.uuid4().hex[:12]
        with self._lock:
            self._kept[key] = {"rows": rows, "label": label, "name": name}
            while len(self._kept) > SELECTIONS:
                self._kept.popitem(last=False)
        return key

    def get(self, key: str) -> dict:
        with self._lock:
            return self._kept[key]


class AsciiJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: text echoed from a request (a lone
    surrogate such as "\\ud800" is valid JSON but not UTF-8) cannot break the answer."""

    def render(self, content) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _json(data, status: int = 200) -> JSONResponse:
    return AsciiJSON(data, status_code=status, headers=SECURITY_HEADERS)


def _not_found(what: str = "not found") -> PlainTextResponse:
    return PlainTextResponse(what, status_code=404, headers=SECURITY_HEADERS)


async def _json_body(request: Request) -> dict | None:
    """The JSON object a request posts, or None. Only application/json is read: a
    page on another site cannot send that without a CORS preflight, which this app
    never grants, so other sites cannot tag or select through a user's browser."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # RecursionError: [[[[… nested beyond the parser
        return None
    return body if isinstance(body, dict) else None


def _count(text: str | None) -> int | None:
    """A non-negative integer from a path part or query value, or None: ASCII digits
    only (str.isdigit() also passes "²", which int() refuses), at most 18 of them
    (an int64, as sqlite and numpy take)."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _row(data: RunData, text: str) -> int | None:
    """A row index from a path part: inside the table."""
    row = _count(text)
    return row if row is not None and row < len(data.table) else None


def file_name(*parts: str) -> str:
    """A download's name from the run's and the selection's: ASCII letters, digits,
    '.', '_' and '-' only (a header holds no other; a name cannot climb folders)."""
    text = "-".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._-") for part in parts)
    return text[:120] or "raregal"


def _page(data: RunData, rows: np.ndarray, page: int, label: str, key: str | None = None) -> dict:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = int(np.clip(page, 0, pages - 1))
    shown = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    columns = ["row", data.id_column, "class_letter", "probability"]
    columns += [c for c in ("ra", "dec") if c in data.table.columns] + data.fractions
    table = data.rows_table(shown, columns)
    records = json.loads(table.to_json(orient="split", index=False))
    return {
        "label": label,
        "selection": key,
        "total": int(len(rows)),
        "page": page,
        "pages": pages,
        "columns": records["columns"],
        "rows": records["data"],
    }


def export_table(data: RunData, rows: np.ndarray, kind: str) -> bytes:
    """A selection as CSV (text cells safe in spreadsheets), FITS or VOTable (ra/dec in
    degrees)."""
    table = data.rows_table(rows)
    if kind == "csv":
        return spreadsheet_safe(table).to_csv(index=False).encode()
    astro = astropy_table(table)
    astro.meta["RUN"] = data.dir.name.encode("ascii", "replace").decode()  # FITS: ASCII
    buffer = io.BytesIO()
    if kind == "fits":
        from raregal.io.export import fits_text

        fits_text(astro).write(buffer, format="fits")
    else:
        astro.write(buffer, format="votable")
    return buffer.getvalue()


def create_app(
    data: RunData, tags: TagStore | None = None, allowed_hosts: list[str] | None = None
) -> Starlette:
    """The explorer app for one run. ``allowed_hosts``: Host headers accepted (a guard
    against DNS rebinding); default the loopback names."""
    files = static_files()
    tags = tags or TagStore(data.dir)
    tags.check()
    selections = Selections()
    suggester = Suggester(data, tags)
    xy = data.map_xy()
    # up to EXPLORE_POINTS_MAX the page fetches the whole map, often: kept as bytes
    small = len(xy) <= defaults.EXPLORE_POINTS_MAX
    map_bytes = xy.tobytes() if small else None
    colours = OrderedDict()  # the last colourings asked for, for the views that follow
    colours_lock = threading.Lock()
    views = OrderedDict()  # (window, column) -> (meta, bytes), the last VIEWS_KEPT
    view_lock = threading.Lock()

    def colouring(column: str) -> tuple[np.ndarray, dict]:
        with colours_lock:
            if column in colours:
                colours.move_to_end(column)
                return colours[column]
        found = data.colour_values(column)  # KeyError for no such column
        with colours_lock:
            colours[column] = found
            while len(colours) > 2:
                colours.popitem(last=False)
        return found

    run_name = data.dir.resolve().parts[-2:]  # raregal-demo/run: raregal-demo-run-…

    def static(request: Request):
        name = request.path_params.get("name", "index.html")
        if name not in files:
            return _not_found()
        return Response(files[name], media_type=STATIC[name], headers=SECURITY_HEADERS)

    def run_info(request: Request):
        has_position = {"ra", "dec"} <= set(data.table.columns)
        return _json(
            {
                "name": "/".join(data.dir.resolve().parts[-2:]),
                "n": len(data.table),
                "id_column": data.id_column,
                "columns": ["class", *data.numeric],
                "classes": data.class_table(),
                "neighbours": data.neighbour_source,
                "colours": class_colours(len(data.order)),
                "no_class_colour": NO_CLASS if len(data.order) else NO_CLASS_ALONE,
                "images": len(data.image_of),
                "positions": has_position,
                "in_classes": int((data.table["class"] >= 0).sum()),
                "tags": list(TAGS),
                "kinds": list(KINDS),
                "thumb_sizes": THUMB_SIZES,
                "points_max": defaults.EXPLORE_POINTS_MAX,
                "density": not small,
            }
        )

    def map_points(request: Request):
        # the browser now spends seconds drawing: time to build the neighbour index
        return Response(
            map_bytes if small else xy.tobytes(),
            media_type="application/octet-stream",
            headers=SECURITY_HEADERS,
            background=BackgroundTask(data.warm),
        )

    def map_view(request: Request):
        """A window of the map: its points, or its density (raregal.explore.view)."""
        query = request.query_params
        try:
            window = Window.parse(query.get(name, "") for name in ("x0", "x1", "y0", "y1"))
            values, meta = colouring(query.get("colour", "class"))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        except KeyError:
            return _not_found("no such column")
        found, body = drawn(
            window, query.get("colour", "class"), values, meta["kind"] == "categorical"
        )
        return Response(
            body,
            media_type="application/octet-stream",
            headers={**SECURITY_HEADERS, "X-View": json.dumps(found), "X-Colour": json.dumps(meta)},
            background=BackgroundTask(data.warm),
        )

    def drawn(window: Window, column: str, values: np.ndarray, categorical: bool):
        """A view's answer, made one at a time (each passes over every galaxy: at 8.7M
        a few hundred MB of temporaries, which concurrent requests would multiply) and
        kept for the next asks of the same view (every page opens on the whole map)."""
        key = (window, column)
        with view_lock:
            if key not in views:
                found, arrays = view(xy, values, categorical, window, defaults.EXPLORE_POINTS_MAX)
                views[key] = found, b"".join(a.tobytes() for a in arrays)
                while len(views) > VIEWS_KEPT:
                    views.popitem(last=False)
            views.move_to_end(key)
            return views[key]

    def colour(request: Request):
        try:
            values, meta = data.colour_values(request.path_params["column"])
        except KeyError:
            return _not_found("no such column")
        return Response(
            values.tobytes(),
            media_type="application/octet-stream",
            headers={**SECURITY_HEADERS, "X-Colour": json.dumps(meta)},
        )

    def lookup(request: Request):
        try:
            return _json({"row": data.row(request.query_params.get("id", ""))})
        except KeyError:
            return _not_found("no such galaxy")

    def galaxy(request: Request):
        row = _row(data, request.path_params["row"])
        if row is None:
            return _not_found("no such galaxy")
        return _json(data.galaxy(row))

    def thumbnail(request: Request):
        row = _row(data, request.path_params["row"])
        size = _count(request.query_params.get("size", str(THUMB_SIZES[0])))
        if row is None or size not in THUMB_SIZES:
            return _not_found("no such thumbnail")
        jpeg = data.thumbnail(row, size)
        if jpeg is None:
            return _not_found("no image for this galaxy")
        return Response(
            jpeg,
            media_type="image/jpeg",
            headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"},
        )

    def neighbours(request: Request):
        row = _row(data, request.path_params["row"])
        if row is None:
            return _not_found("no such galaxy")
        k = _count(request.query_params.get("k"))
        try:
            found = data.neighbours(row, 12 if k is None else k)
        except InputError as exc:  # a damaged neighbour index: its one line
            return _json({"error": str(exc)}, 409)
        return _json(
            {
                "source": data.neighbour_source,
                "neighbours": [
                    {
                        "row": r,
                        "id": data.ids.iloc[r],
                        "class": data.letters.iloc[r],
                        "distance": d,
                        "image": data.ids.iloc[r] in data.image_of,
                    }
                    for r, d in found
                ],
            }
        )

    async def select(request: Request):
        body = await _json_body(request)
        if body is None:
            return _json({"error": "expected a JSON object (Content-Type: application/json)"}, 400)
        try:
            if "rows" in body:
                rows = np.asarray(body["rows"], dtype=np.int64)
                if rows.ndim != 1 or (rows < 0).any() or (rows >= len(data.table)).any():
                    return _json({"error": "rows outside the table"}, 400)
                rows = np.unique(rows)
                label, name = f"{len(rows)} galaxies drawn on the map", f"lasso-{len(rows)}"
            elif "cells" in body:
                cells = body["cells"]
                if not isinstance(cells, dict) or not {"window", "ids"} <= cells.keys():
                    raise ValueError("cells: give the view's window and the cells' ids")
                window = Window.parse(cells["window"])
                rows = cell_rows(xy, window, np.asarray(cells["ids"], dtype=np.int64).ravel())
                label = f"{len(rows)} galaxies in {len(cells['ids'])} map cells drawn on the map"
                name = f"lasso-{len(rows)}"
            elif "class" in body:
                rows, label = data.class_rows(str(body["class"])), f"class {body['class']}"
                name = f"class-{body['class']}"
            elif "query" in body:
                rows, label = data.query_rows(str(body["query"])), f"query: {body['query']}"
                name = f"query-{str(body['query'])[:60]}"
            else:
                return _json({"error": "give rows, class or query"}, 400)
        except KeyError:
            return _not_found("no such class")
        except (InputError, TypeError, ValueError, OverflowError) as exc:
            return _json({"error": str(exc)}, 400)
        key = selections.add(rows, label, file_name(*run_name, name))
        page = _page(data, rows, 0, label, key)
        page["highlight"] = rows.tolist() if len(rows) <= HIGHLIGHT_MAX else []
        return _json(page)

    def selection_page(request: Request):
        try:
            kept = selections.get(request.path_params["key"])
        except KeyError:
            return _not_found("selection expired: select again")
        page = _count(request.query_params.get("page")) or 0
        return _json(_page(data, kept["rows"], page, kept["label"], request.path_params["key"]))

    def export(request: Request):
        kind = request.path_params["kind"]
        try:
            kept = selections.get(request.path_params["key"])
        except KeyError:
            return _not_found("selection expired: select again")
        if kind not in EXPORTS:
            return _not_found("formats: csv, fits, vot")
        name = f"{kept['name']}.{'xml' if kind == 'vot' else kind}"
        try:
            exported = export_table(data, kept["rows"], kind)
        except UnicodeEncodeError as exc:  # FITS text is ASCII
            return _json(
                {
                    "error": f"FITS holds ASCII text only, and this selection has "
                    f"'{exc.object}': export CSV or VOTable"
                },
                422,
            )
        return Response(
            exported,
            media_type=EXPORTS[kind],
            headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    def list_tags(request: Request):
        kind = request.query_params.get("kind")
        return _json(tags.list(kind if kind in KINDS else None, request.query_params.get("target")))

    async def add_tag(request: Request):
        body = await _json_body(request)
        try:
            kind, target = str(body["kind"]), str(body["target"])
            tag, note = str(body["tag"]), str(body.get("note", ""))
        except (KeyError, TypeError):
            return _json({"error": "expected JSON with kind, target, tag and note"}, 400)
        known = (
            (target in set(data.order["letter"]))
            if kind == "class"
            else (target in data.row_of.index)
        )
        if not known:
            return _json({"error": f"no {kind} '{target}' in this run"}, 400)
        try:
            return _json(tags.add(kind, target, tag, note))
        except (InputError, UnicodeEncodeError) as exc:  # a note sqlite cannot store as UTF-8
            return _json({"error": str(exc)}, 400)
        except sqlite3.Error as exc:  # e.g. a read-only run folder
            return _json({"error": f"cannot write {tags.path}: {exc}"}, 503)

    def remove_tag(request: Request):
        tag_id = _count(request.path_params["tag_id"])
        if tag_id is None or not tags.remove(tag_id):
            return _not_found("no such tag")
        return _json({"removed": tag_id})

    def export_tags(request: Request):
        return Response(
            tags.csv(),
            media_type="text/csv",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="{file_name(*run_name, "tags")}.csv"',
            },
        )

    def unreadable(exc: sqlite3.Error):  # e.g. an older tag file in a read-only folder
        return _json({"error": f"cannot use {tags.path}: {exc}"}, 503)

    def suggestions(request: Request):
        try:
            return _json(suggester.state())
        except sqlite3.Error as exc:
            return unreadable(exc)

    async def suggest_next(request: Request):
        body = await _json_body(request)
        if body is None:
            return _json({"error": "expected a JSON object (Content-Type: application/json)"}, 400)
        k = body.get("k", defaults.SUGGEST_PER_ROUND)
        try:
            validate({"k": k}, SUGGEST_CONSTRAINTS, "suggest")
        except InputError as exc:
            return _json({"error": str(exc)}, 400)
        try:  # a thread: a ranking at 632k takes a second, the other routes go on
            await run_in_threadpool(suggester.next_round, int(k))
        except InputError as exc:  # nothing to rank from, or the features are gone
            return _json({"error": str(exc)}, 409)
        except sqlite3.Error as exc:
            return unreadable(exc)
        return _json(suggester.state())

    def export_rounds(request: Request):
        try:
            rounds = suggester.csv()
        except sqlite3.Error as exc:
            return unreadable(exc)
        return Response(
            rounds,
            media_type="text/csv",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": (
                    f'attachment; filename="{file_name(*run_name, "rounds")}.csv"'
                ),
            },
        )

    routes = [
        Route("/", static),
        Route("/static/{name}", static),
        Route("/api/run", run_info),
        Route("/api/map", map_points),
        Route("/api/view", map_view),
        Route("/api/colour/{column}", colour),
        Route("/api/lookup", lookup),
        Route("/api/galaxy/{row}", galaxy),
        Route("/api/thumb/{row}", thumbnail),
        Route("/api/neighbours/{row}", neighbours),
        Route("/api/select", select, methods=["POST"]),
        Route("/api/selection/{key}", selection_page),
        Route("/api/selection/{key}/export.{kind}", export),
        Route("/api/tags", list_tags),
        Route("/api/tags", add_tag, methods=["POST"]),
        Route("/api/tags/{tag_id}", remove_tag, methods=["DELETE"]),
        Route("/api/tags.csv", export_tags),
        Route("/api/suggest", suggestions),
        Route("/api/suggest", suggest_next, methods=["POST"]),
        Route("/api/rounds.csv", export_rounds),
    ]
    hosts = allowed_hosts or ["127.0.0.1", "localhost", "[::1]"]
    return Starlette(
        routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    )
