"""The explorer's map above EXPLORE_POINTS_MAX galaxies (raregal.explore.view): density
views that count every galaxy, points once zoomed in, lassos over cells, selections
paged on the server; on a small run with the limit lowered."""

import json
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from raregal.core import defaults
from raregal.explore.view import Window, cell_rows, view

from .run_folders import small_run
from .test_explore import CHROMIUM, CHROMIUM_ARGS, Served, _browser, _open, post_json


def select(server, body, expect=200):
    status, answer = post_json(server, "/api/select", body)
    assert status == expect, answer
    return json.loads(answer)


N = 3000
LIMIT = 500


def test_a_density_view_counts_every_galaxy_in_it():
    """Cells partition the window: counts add up to the galaxies inside, each cell's
    colour is its commonest class among class members (0: none), or a column's mean."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (20_000, 2)).astype(np.float32)
    classes = np.where(rng.uniform(size=20_000) < 0.1, rng.integers(1, 4, 20_000), 0)
    window = Window(-0.5, 0.9, -0.2, 0.3, bins=32)
    meta, (cells, x, y, value, opacity) = view(
        xy, classes.astype(np.float32), True, window, points_max=100
    )
    inside = window.inside(xy)
    assert meta["kind"] == "density" and meta["galaxies"] == len(inside)
    assert window.shape == (32, 12) and meta["count"] == len(cells)
    frame = pd.DataFrame({"cell": window.cells(xy[inside]), "klass": classes[inside]})
    counts = frame.groupby("cell").size()
    assert cells.tolist() == counts.index.tolist() and counts.sum() == len(inside)
    assert opacity == pytest.approx(np.log1p(counts.to_numpy()) / np.log1p(counts.max()))
    members = frame[frame["klass"] > 0].groupby("cell")["klass"]
    commonest = members.agg(lambda k: k.value_counts().sort_index().idxmax())
    expected = commonest.reindex(counts.index).fillna(0).to_numpy()
    assert value.tolist() == expected.tolist()
    # each cell's centre lies in the cell its galaxies are counted in
    assert (window.cells(np.stack([x, y], 1)) == cells).all()
    # a column: each cell's mean, missing values (-1) left out
    column = np.where(rng.uniform(size=20_000) < 0.2, -1, rng.uniform(size=20_000))
    _, (_, _, _, means, _) = view(xy, column.astype(np.float32), False, window, points_max=100)
    frame["v"] = column[inside]
    known = frame[frame["v"] >= 0].groupby("cell")["v"].mean().reindex(counts.index)
    assert means == pytest.approx(known.fillna(-1).to_numpy(), rel=1e-5)


def test_a_view_with_few_galaxies_is_its_points_and_cells_give_their_rows_back():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, (5000, 2)).astype(np.float32)
    window = Window(0.1, 0.3, -0.3, -0.1)
    meta, (rows, x, y, value) = view(
        xy, np.arange(5000, dtype=np.float32), False, window, points_max=1000
    )
    assert meta["kind"] == "points" and meta["count"] == len(rows) > 0
    expected = np.flatnonzero(
        (xy[:, 0] >= 0.1) & (xy[:, 0] <= 0.3) & (xy[:, 1] >= -0.3) & (xy[:, 1] <= -0.1)
    )
    assert rows.tolist() == expected.tolist() and value.tolist() == expected.tolist()
    whole = Window(-1, 1, -1, 1, bins=8)
    _, (cells, *_) = view(xy, np.zeros(5000, np.float32), True, whole, points_max=10)
    assert cell_rows(xy, whole, cells).tolist() == list(range(5000))
    some = cell_rows(xy, whole, [0, 9, 63, 10_000, -1])  # numbers past the grid ignored
    assert set(whole.cells(xy[some])) == {0, 9, 63}


@pytest.mark.parametrize(
    "values",
    [
        ("0", "0", "0", "1"),
        ("1", "0", "0", "1"),
        ("nan", "1", "0", "1"),
        ("0", "inf", "0", "1"),
        ("a", "1", "0", "1"),
        ("0", "1", "0"),
        ({"x": 1}, "1", "0", "1"),
    ],
)
def test_a_window_is_four_increasing_finite_numbers(values):
    with pytest.raises(ValueError, match="four finite numbers"):
        Window.parse(values)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A run of 3000 galaxies served with EXPLORE_POINTS_MAX at 500."""
    patch = pytest.MonkeyPatch()
    patch.setattr(defaults, "EXPLORE_POINTS_MAX", LIMIT)
    run = tmp_path_factory.mktemp("large") / "run"
    small_run(run, ids=[f"g{i:04d}" for i in range(N)])
    server = Served(run, None)
    yield server, run
    server.stop()
    patch.undo()


def get_view(server, query):
    with urllib.request.urlopen(f"{server.url}/api/view?{query}") as response:
        meta = json.loads(response.headers["X-View"])
        return meta, json.loads(response.headers["X-Colour"]), response.read()


def test_the_server_sends_views_and_lassos_of_cells(large):
    server, run = large
    info = json.loads(urllib.request.urlopen(f"{server.url}/api/run").read())
    assert info["density"] is True and info["points_max"] == LIMIT
    meta, colour, body = get_view(server, "x0=-2&x1=2&y0=-2&y1=2")
    assert meta["kind"] == "density" and meta["galaxies"] == N
    assert colour["kind"] == "categorical" and len(body) == 5 * 4 * meta["count"]
    cells = np.frombuffer(body[: 4 * meta["count"]], dtype=np.int32)
    # a lasso over every cell selects every galaxy; the selection is paged
    picked = select(server, {"cells": {"window": meta["window"], "ids": cells.tolist()}})
    assert picked["total"] == N and picked["pages"] == N // 100 and len(picked["rows"]) == 100
    assert picked["highlight"] == [] or len(picked["highlight"]) == N
    rows = []
    for page in range(picked["pages"]):
        with urllib.request.urlopen(
            f"{server.url}/api/selection/{picked['selection']}?page={page}"
        ) as response:
            shown = json.loads(response.read())
        assert shown["page"] == page and shown["total"] == N
        rows += [r[shown["columns"].index("row")] for r in shown["rows"]]
    assert sorted(rows) == list(range(N))
    # zoomed in: the galaxies themselves, coloured by a column
    meta, colour, body = get_view(server, "x0=-0.2&x1=0&y0=-0.2&y1=0&colour=map_y")
    assert meta["kind"] == "points" and 0 < meta["count"] <= LIMIT
    assert colour["kind"] == "continuous" and len(body) == 4 * 4 * meta["count"]
    # refused: a bad window, an unknown column, cells without a window
    for query, status in (
        ("x0=1&x1=0&y0=0&y1=1", 400),
        ("x0=0&x1=1&y0=0", 400),
        ("x0=0&x1=1&y0=0&y1=1&colour=nope", 404),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/api/view?{query}")
        assert refused.value.code == status
    refused = select(server, {"cells": {"ids": [1]}}, expect=400)
    assert "window" in refused["error"]


@pytest.mark.slow
def test_the_page_opens_on_density_and_zooms_to_galaxies(large):
    """In Chromium: the first render is the density view; zoomed in, the galaxies are
    drawn one by one and a click opens the card of the galaxy under the pointer."""
    sync_api = _browser()
    server, _ = large
    problems = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = _open(browser, server.url + "/", problems)
            timings = page.evaluate("window.exploreTimings")
            assert timings["kind"] == "density" and 0 < timings["points"] < N
            assert "drawn as their density" in page.inner_text("#view-status")
            page.evaluate(
                "window.explore.state.scatter.zoomToArea("
                "{x: -0.1, y: -0.1, width: 0.2, height: 0.2})"
            )
            page.wait_for_function("window.explore.state.view.kind == 'points'", timeout=20_000)
            row = page.evaluate("window.explore.state.view.ids[0]")
            sx, sy = page.evaluate(f"window.explore.screenPosition({row})")
            canvas = page.locator("#map").bounding_box()
            page.mouse.move(canvas["x"] + sx, canvas["y"] + sy)
            page.wait_for_timeout(200)
            page.mouse.click(canvas["x"] + sx, canvas["y"] + sy)
            page.wait_for_selector("#card:not([hidden])", timeout=15_000)
            assert int(page.locator("#card").get_attribute("data-row")) == row
            page.wait_for_function("document.querySelectorAll('#neighbours figure').length")
        finally:
            browser.close()
    assert problems == []


def test_odd_views_and_cell_lassos_are_client_errors_never_500(large):
    server, _ = large
    odd = ["", "1e400", "-1e400", "nan", "%C2%B2", "1" * 400, "0x10", "[1]", "%ED%A0%80"]
    for value in odd:
        for name in ("x0", "x1", "y0", "y1", "colour"):
            values = {"x0": "-1", "x1": "1", "y0": "-1", "y1": "1", "colour": "class"}
            values[name] = value
            query = "&".join(f"{k}={v}" for k, v in values.items())
            try:
                status = urllib.request.urlopen(f"{server.url}/api/view?{query}").status
            except urllib.error.HTTPError as error:
                status = error.code
            assert status < 500, (name, value)
    for cells in (
        [],
        "x",
        {"window": "abcd", "ids": [1]},
        {"window": [0, 1, 0, 1], "ids": "x"},
        {"window": [0, 1, 0, 1], "ids": [[1, 2], [3]]},
        {"window": [0, 1], "ids": []},
        {"window": [0, 1, 0, 1], "ids": [2**70]},
        {"window": [0, 1, 0, 1], "ids": None},
    ):
        status, answer = post_json(server, "/api/select", {"cells": cells})
        assert 400 <= status < 500, (cells, status, answer)
