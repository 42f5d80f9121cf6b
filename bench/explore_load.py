"""Benchmark `raregal explore` at map scale: start-up, first render, memory, "more like
this" latency and a bounded load test, at 5k, 200k and 632k galaxies, or any size
(8.7M: ``--sizes 8700000 --no-images``).

Run folders: searching 632k galaxies takes most of an hour here, so each run
folder is *written directly* from a planted synthetic table
(``raregal.measure.synthetic.planted_representations(N, dim=16, n_groups=40)``, groups
of N/1000+10 to N/200+20): the
planted group is the class (probability 1, persistence 1), ``umap_0 … umap_4``
are the table's first five features and ``map_x``/``map_y`` its first two, plus
the three vote fractions and random ra/dec. Every file a search writes is there
(classes.parquet, classes.csv, an empty condensed_tree.parquet, run.json, a
neighbour index of the table's 16 features with a stand-in graph:
:func:`stand_in_index`), so the explorer reads it exactly as a real run. The first
200 galaxies get real SDSS images (gz-kaggle-5000) through an image catalogue,
unless ``--no-images``. Above :data:`raregal.core.defaults.EXPLORE_POINTS_MAX` galaxies
the page opens on a density view (:mod:`raregal.explore.view`): "first render" is
then until that view is drawn, and the load test asks for that view as its map.

Per size, in fresh processes:
- start-up: ``raregal explore DIR --port 0`` launched until it prints its URL
  (imports and reading the run included);
- first render: headless Chromium (software WebGL, --disable-gpu) from navigation
  start until every point is drawn (the page's ``data-ready``), and the page's own
  split (map download vs. drawing);
- server memory: the server process's RSS after the page has loaded, and its peak
  (VmHWM) after start-up, after the first render and at the end;
- the page's own API requests and their durations (Resource Timing);
- "more like this": /api/neighbours latency, the first call (builds the index)
  and the median of 50 others;
- load: 200 concurrent requests to 127.0.0.1 mixing /api/map, /api/thumb and
  /api/neighbours (a third each): p50/p95/max latency and errors.

With --compare-bokeh, the same points drawn by Bokeh's WebGL scatter in a
standalone page (Bokeh's JS inline) are timed in the same browser, the
measurement behind choosing regl-scatterplot.

    python bench/explore_load.py                  # 5k, 200k, 632k
    python bench/explore_load.py --sizes 5000 --compare-bokeh
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "data" / "gz-kaggle-5000" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def stand_in_index(features: np.ndarray, k: int = 12):
    """A neighbour index of the run's shape, cheap to make at 8.7M: each galaxy's k
    "neighbours" are the galaxies beside it in the order of the first feature (true
    distances). It times reading and serving an index, not its quality (the search's
    own graph: tests/test_neighbour_index.py)."""
    from raregal.method.neighbour_index import NeighbourIndex

    n = len(features)
    order = np.argsort(features[:, 0], kind="stable")
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    steps = np.r_[1 : k // 2 + 1, -np.arange(1, k - k // 2 + 1)]
    rows = np.empty((n, k), np.int32)
    distances = np.empty((n, k), np.float32)
    for start in range(0, n, 1_000_000):  # bounded memory: 1M x k x d at a time
        part = np.arange(start, min(start + 1_000_000, n))
        near = order[np.clip(position[part, None] + steps, 0, n - 1)]
        rows[part] = near
        diff = features[near] - features[part, None, :]
        distances[part] = np.sqrt(np.einsum("rkd,rkd->rk", diff, diff))
    return NeighbourIndex(features, rows, distances)


def write_run(folder: Path, n: int, images: bool = True) -> tuple[Path, Path | None]:
    """A run folder of n galaxies straight from a planted table (see the module doc),
    with a neighbour index (:func:`stand_in_index`) and, with ``images``, an image
    catalogue of 200 galaxies."""
    from raregal.measure.synthetic import planted_representations

    table = planted_representations(
        n, dim=16, n_groups=40, seed=0, group_size=(n // 1000 + 10, n // 200 + 20)
    )
    features = table.filter(like="feat_").to_numpy(np.float32)
    rng = np.random.default_rng(0)
    classes = pd.DataFrame(
        {
            "id_str": table["id_str"].astype(str),
            "class": table["planted"].to_numpy(),
            "probability": np.where(table["planted"] >= 0, 1.0, 0.0),
        }
    )
    for j in range(5):
        classes[f"umap_{j}"] = features[:, j]
    classes["map_x"], classes["map_y"] = features[:, 0], features[:, 1]
    classes["ra"], classes["dec"] = rng.uniform(0, 360, n), rng.uniform(-20, 60, n)
    for column in table.columns:
        if column.endswith("_fraction"):
            classes[column] = table[column].to_numpy()
    del table
    run = folder / "run"
    run.mkdir(parents=True)
    classes.to_parquet(run / "classes.parquet")
    stand_in_index(features).write(run)
    del features
    sizes = classes[classes["class"] >= 0].groupby("class").size()
    pd.DataFrame(
        {
            "class": sizes.index,
            "size": sizes.to_numpy(),
            "persistence": 1.0,
            "tree_node": n + 1 + np.arange(len(sizes)),
        }
    ).to_csv(run / "classes.csv", index=False)
    pd.DataFrame(
        {
            "parent": pd.Series(dtype="int64"),
            "child": pd.Series(dtype="int64"),
            "lambda_val": pd.Series(dtype="float64"),
            "child_size": pd.Series(dtype="int64"),
        }
    ).to_parquet(run / "condensed_tree.parquet")
    (run / "run.json").write_text(json.dumps({"id_column": "id_str", "synthetic": True}))
    if not images:
        return run, None
    files = sorted(IMAGES.glob("*.jpg"))[:200]
    (folder / "images").mkdir()
    for path in files:  # a catalogue's images lie in its folder (raregal.io.images.table_paths)
        shutil.copy(path, folder / "images" / path.name)
    catalogue = folder / "images.csv"
    pd.DataFrame(
        {"id_str": classes["id_str"][: len(files)], "file_loc": [f"images/{p.name}" for p in files]}
    ).to_csv(catalogue, index=False)
    return run, catalogue


def start_server(run: Path, images: Path | None):
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raregal.cli",
            "explore",
            str(run),
            *(["--images", str(images)] if images else []),
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stderr.readline()
    if "open " not in line:
        process.kill()
        raise RuntimeError(f"explore did not start: {line}{process.stderr.read()}")
    return process, line.rsplit("open ", 1)[1].split()[0].rstrip("/"), time.perf_counter() - started


def first_render(url: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "/", wait_until="commit")
        page.wait_for_function(
            "document.body && document.body.dataset.ready", timeout=600_000, polling=50
        )
        result = page.evaluate(
            "({ready: performance.now(), ...window.exploreTimings,"
            " state: document.body.dataset.ready, requests: Object.fromEntries("
            "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/'))"
            ".map(e => [new URL(e.name).pathname, Math.round(e.duration)]))})"
        )
        browser.close()
    return result


def timed_get(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            status = response.status
    except Exception:  # an error is a result here: counted, not raised
        status = -1
    return status, time.perf_counter() - started


def load_test(url: str, n: int, rng, images: bool, density: bool) -> dict:
    """200 concurrent requests, a third each: the map (the whole map, or a view of the
    whole map where the page draws views), a thumbnail (a card without images), more
    like this."""
    paths = []
    for i in range(200):
        kind = i % 3
        if kind == 0:
            paths.append(f"{url}/api/view?x0=-1&x1=1&y0=-1&y1=1" if density else f"{url}/api/map")
        elif kind == 1:
            paths.append(
                f"{url}/api/thumb/{rng.integers(200)}?size=128"
                if images
                else f"{url}/api/galaxy/{rng.integers(n)}"
            )
        else:
            paths.append(f"{url}/api/neighbours/{rng.integers(n)}?k=12")
    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(timed_get, paths))
    latency = np.array([t for _, t in results]) * 1000
    return {
        "p50_ms": round(float(np.percentile(latency, 50))),
        "p95_ms": round(float(np.percentile(latency, 95))),
        "max_ms": round(float(latency.max())),
        "errors": sum(status != 200 for status, _ in results),
    }


def bokeh_render(folder: Path, run: Path) -> dict:
    """Bokeh's WebGL scatter of the same map, standalone page, time until idle."""
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure
    from bokeh.resources import INLINE
    from playwright.sync_api import sync_playwright

    classes = pd.read_parquet(run / "classes.parquet", columns=["map_x", "map_y"])
    plot = figure(
        width=800,
        height=800,
        output_backend="webgl",
        tools="pan,wheel_zoom,lasso_select,box_select,tap",
    )
    plot.scatter("map_x", "map_y", source=ColumnDataSource(classes), size=2)
    page_path = folder / "bokeh.html"
    page_path.write_text(file_html(plot, INLINE, "bokeh"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(page_path.as_uri(), wait_until="commit")
        page.wait_for_function(
            "window.Bokeh && Bokeh.index && Object.values(Bokeh.index).length > 0 && "
            "Object.values(Bokeh.index).every(v => v.is_idle)",
            timeout=600_000,
            polling=50,
        )
        ready = page.evaluate("performance.now()")
        browser.close()
    return {
        "bokeh_first_render_ms": round(ready),
        "bokeh_page_mb": round(page_path.stat().st_size / 2**20, 1),
    }


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (Linux's VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(n: int, compare_bokeh: bool, images: bool = True) -> dict:
    import psutil

    from raregal.core import defaults

    folder = Path(tempfile.mkdtemp(prefix=f"explore-bench-{n}-"))
    try:
        started = time.perf_counter()
        run, catalogue = write_run(folder, n, images)
        written = time.perf_counter() - started
        process, url, startup = start_server(run, catalogue)
        try:
            peak_start = peak_rss_mib(process.pid)
            render = first_render(url)
            rss = psutil.Process(process.pid).memory_info().rss / 2**20
            peak_render = peak_rss_mib(process.pid)
            rng = np.random.default_rng(1)
            first_status, first = timed_get(f"{url}/api/neighbours/0?k=12")
            later = [
                timed_get(f"{url}/api/neighbours/{rng.integers(n)}?k=12")[1] for _ in range(50)
            ]
            load = load_test(url, n, rng, images, n > defaults.EXPLORE_POINTS_MAX)
            rss_after = psutil.Process(process.pid).memory_info().rss / 2**20
            peak = peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=60)
        result = {
            "n": n,
            "write_run_s": round(written, 1),
            "startup_s": round(startup, 1),
            "first_render_ms": round(render["ready"]),
            "map_kind": render.get("kind", "points"),
            "map_drawn": render["points"],
            "map_fetch_ms": round(render["fetch_ms"]),
            "map_total_ms": round(render["total_ms"]),
            "requests_ms": render["requests"],
            "server_rss_mib": round(rss),
            "server_rss_after_load_mib": round(rss_after),
            "server_peak_after_start_mib": round(peak_start),
            "server_peak_after_render_mib": round(peak_render),
            "server_peak_mib": round(peak),
            "neighbours_first_ms": round(first * 1000),
            "neighbours_median_ms": round(float(np.median(later)) * 1000, 1),
            **{f"load_{k}": v for k, v in load.items()},
        }
        if compare_bokeh:
            result.update(bokeh_render(folder, run))
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 200_000, 632_000])
    parser.add_argument("--compare-bokeh", action="store_true")
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="no image catalogue (cards without images), as at 8.7M",
    )
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        result = measure(n, args.compare_bokeh, images=not args.no_images)
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
