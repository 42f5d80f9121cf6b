"""`raregal report`: lettering, label differences, the tree layout, the class palette,
and a report made from RA/Dec alone (viewer links, no images): its member lists,
table links, cuts, caveats, generic class columns, and its sortable table in Chromium."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.io.export import viewer_layer
from raregal.method.run import SearchResult, class_letters, lettered
from raregal.report.figures import (
    RESERVED_COLOURS,
    _lab,
    class_colours,
    plot_gallery,
    tree_layout,
)
from raregal.report.page import RAREST_SHOWN, label_differences, report, viewer_links

FEATURES = [f"feat_{i}" for i in range(16)]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_letters_run_past_z():
    letters = class_letters(29)
    assert letters[:3] == ["A", "B", "C"]
    assert letters[25:] == ["Z", "AA", "AB", "AC"]
    assert len(set(class_letters(800))) == 800


def test_classes_lettered_by_persistence_then_size():
    summary = pd.DataFrame(
        {
            "class": [0, 1, 2, 3],
            "size": [10, 50, 20, 30],
            "persistence": [0.2, 0.1, 0.3, 0.2],
            "tree_node": [5, 6, 7, 8],
        }
    )
    order = lettered(summary)
    assert order["class"].tolist() == [2, 3, 0, 1]
    assert order["letter"].tolist() == ["A", "B", "C", "D"]


def test_label_differences_by_hand():
    rng = np.random.default_rng(0)
    smooth = np.concatenate([np.full(10, 0.9), rng.uniform(0.1, 0.3, 90)])
    yes = rng.uniform(0.0, 1.0, 100)
    classes = pd.DataFrame(
        {
            "class": [0] * 10 + [1] * 10 + [-1] * 80,
            "smooth-or-featured_smooth_fraction": smooth,
            "smooth-or-featured_featured-or-disk_fraction": 1 - smooth,
            "disk-edge-on_yes_fraction": yes,
        }
    )
    found = label_differences(classes)
    expected_sd = (0.9 - smooth.mean()) / smooth.std(ddof=1)
    assert expected_sd > 2
    # one answer per question; smooth and featured mirror each other (same |sd|)
    assert len(found[0]) == 1
    assert found[0][0]["column"].startswith("smooth-or-featured_")
    assert abs(found[0][0]["sd"]) == pytest.approx(expected_sd)
    class_1 = smooth[10:20].mean()
    if abs(class_1 - smooth.mean()) / smooth.std(ddof=1) < defaults.LABEL_EFFECT_SIZE:
        assert all(not d["column"].startswith("smooth") for d in found[1])


def test_tree_layout_of_a_small_tree():
    # root 10 splits at lambda 1 into clusters 11 (two points leave, then ends) and 12,
    # which splits at lambda 2 into leaves 13 and 14.
    tree = pd.DataFrame(
        {
            "parent": [10, 10, 11, 11, 12, 12, 13, 14],
            "child": [11, 12, 0, 1, 13, 14, 2, 3],
            "lambda_val": [1.0, 1.0, 1.5, 1.7, 2.0, 2.0, 3.0, 2.5],
            "child_size": [2, 20, 1, 1, 10, 10, 1, 1],
        }
    )
    layout = tree_layout(tree).set_index("node")
    assert layout.loc[10, "parent"] == -1 and layout.loc[13, "parent"] == 12
    assert layout.loc[[11, 13, 14], "x"].tolist() == [0.0, 1.0, 2.0]  # leaves, DFS order
    assert layout.loc[12, "x"] == 1.5 and layout.loc[10, "x"] == 0.75
    assert layout.loc[11, "death"] == 1.7 and layout.loc[12, "birth"] == 1.0
    assert layout.loc[10, "size"] == 22


def _lab_of(colours):
    return _lab(np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in colours]))


def test_thirty_classes_get_thirty_distinct_colours():
    colours = class_colours(30)
    assert len(set(colours)) == 30 and all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colours)
    lab = _lab_of(colours)
    gaps = np.linalg.norm(lab[:, None] - lab[None], axis=-1)[np.triu_indices(30, 1)]
    # CIELAB distance: ~2.3 is just noticeable; tab20's closest pair is 16.6 (ours: 30.5)
    assert gaps.min() > 15
    to_reserved = np.linalg.norm(lab[:, None] - _lab_of(RESERVED_COLOURS)[None], axis=-1)
    assert to_reserved.min() > 15  # none looks like the background or the density greys
    assert class_colours(12) == colours[:12]  # a class keeps its colour as classes are added
    assert class_colours(30) == colours  # deterministic
    assert len(set(class_colours(300))) == 300


def test_viewer_links_are_the_scalar_links_vectorised():
    rng = np.random.default_rng(1)
    ra, dec = rng.uniform(0, 360, 50), rng.uniform(-30, 80, 50)
    ra[3], dec[7] = np.nan, np.nan
    links = viewer_links(ra, dec)
    layers = viewer_layer(ra, dec)
    for i in range(50):
        if i in (3, 7):
            assert links[i] is None
        else:
            assert links[i] == defaults.VIEWER_URL.format(
                ra=ra[i], dec=dec[i], layer=str(layers[i])
            )
    assert {"ls-dr9", "ls-dr10"} <= {str(x) for x in layers}  # both regions exercised


def test_gallery_shows_every_thumbnail_whole_in_reading_order(tmp_path):
    """Solid-colour thumbnails, 10 for A and 3 for B, 4 to a line: each appears once,
    as a square block of its own colour at least 100 px wide, A's in order on three
    lines, then B's on a fourth."""
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(13, 3))
    thumbs = []
    for i, colour in enumerate(colours):
        thumbs.append((f"g{i}", tmp_path / f"g{i}.png"))
        Image.new("RGB", (128, 128), tuple(int(c) for c in colour)).save(thumbs[-1][1])
    plot_gallery([("A", thumbs[:10]), ("B", thumbs[10:])], tmp_path / "gallery.png", columns=4)
    with Image.open(tmp_path / "gallery.png") as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    boxes = []
    for colour in colours:
        ys, xs = np.nonzero(np.all(np.abs(pixels - colour) <= 1, axis=2))
        side = ys.max() - ys.min() + 1
        assert side == xs.max() - xs.min() + 1 >= 100
        assert len(ys) >= 0.95 * side**2  # one whole block (an id's text may touch it)
        boxes.append((ys.min(), xs.min()))
    rows = sorted({top for top, _ in boxes})
    assert len(rows) == 4
    assert [rows.index(top) for top, _ in boxes] == [0] * 4 + [1] * 4 + [2] * 2 + [3] * 3
    lefts = [left for _, left in boxes]
    assert lefts[:4] == sorted(lefts[:4]) and lefts[:4] == lefts[4:8] == lefts[10:] + [lefts[3]]


@pytest.fixture(scope="module")
def sky_run(planted, tmp_path_factory):
    """A seeded search of a table with RA/Dec and no images."""
    folder = tmp_path_factory.mktemp("sky")
    table = planted.copy()
    rng = np.random.default_rng(3)
    table["ra"], table["dec"] = rng.uniform(0, 360, len(table)), rng.uniform(-20, 60, len(table))
    table.drop(columns="planted").to_parquet(folder / "reps.parquet")
    # --stability-seeds 0: the report draws whatever classes.csv holds; the reruns are
    # tested in test_credibility.py
    assert (
        main(
            [
                "search",
                str(folder / "reps.parquet"),
                "--out",
                str(folder / "run"),
                "--min-samples",
                "20",
                "--seed",
                "0",
                "--stability-seeds",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    return folder / "run", table


def test_report_from_positions_links_every_galaxy_to_the_viewer(sky_run):
    run_dir, table = sky_run
    assert main(["report", str(run_dir), "--per-class", "5", "--quiet"]) == 0
    out = run_dir / "report"
    page = (out / "index.html").read_text()
    data = SearchResult.read(run_dir)
    order = lettered(data.summary)
    assert len(order) >= 5  # the planted groups
    position = table.set_index("id_str")[["ra", "dec"]]
    shown = 0
    for _, row in order.iterrows():
        members = data.classes[data.classes["class"] == row["class"]]
        top = members.sort_values(["probability", "id_str"], ascending=[False, True]).head(5)
        for galaxy in top["id_str"]:
            ra, dec = position.loc[galaxy]
            layer = str(viewer_layer(ra, dec))  # tested in test_inputs.py
            url = defaults.VIEWER_URL.format(ra=ra, dec=dec, layer=layer).replace("&", "&amp;")
            assert f'<a href="{url}">{galaxy}</a>' in page
            shown += 1
        assert f'id="class-{row["letter"]}"' in page
    rarest = min(RAREST_SHOWN, len(data.classes))  # the rarest galaxies' gallery links too
    assert len(re.findall(r"legacysurvey\.org/viewer\?", page)) == shown + rarest
    assert "thumbs/" not in page and not (out / "thumbs").exists()
    assert "No local images" in page
    for figure in ("map.png", "tree.png", "variance.png"):
        assert (out / figure).read_bytes()[:8] == PNG_MAGIC
        assert f'src="{figure}"' in page
    table_csv = pd.read_csv(out / "class_table.csv")
    assert table_csv["letter"].tolist() == order["letter"].tolist()
    assert table_csv["size"].sum() == (data.classes["class"] >= 0).sum()
    # each class's full member list, linked from the page, most confident first
    for _, row in table_csv.iterrows():
        members = pd.read_csv(out / row["members_csv"], dtype={"id_str": str})
        expected = data.classes[data.classes["class"] == row["class"]]
        assert len(members) == row["size"] == len(expected)
        assert set(members["id_str"]) == set(expected["id_str"])
        assert members["probability"].is_monotonic_decreasing
        assert not any(c.startswith("umap_") for c in members.columns)
        assert f'<a href="{row["members_csv"]}">{row["letter"]}.csv</a>' in page
    # the class swatches are the palette's colours in letter order
    assert re.findall(r'class="swatch" style="background:(#[0-9a-f]{6})"', page) == class_colours(
        len(order)
    )


def test_report_shows_the_rarest_galaxies_rarest_first(sky_run):
    run_dir, _ = sky_run
    assert main(["report", str(run_dir), "--per-class", "5", "--quiet"]) == 0
    out = run_dir / "report"
    page = (out / "index.html").read_text()
    classes = SearchResult.read(run_dir).classes
    expected = classes.sort_values(["rarity", "id_str"], ascending=[False, True]).head(RAREST_SHOWN)
    rarest = pd.read_csv(out / "rarest.csv", dtype={"id_str": str})
    assert list(rarest.columns) == ["id_str", "rarity", "rank", "class"]
    assert rarest["id_str"].tolist() == expected["id_str"].tolist()
    assert rarest["rank"].tolist() == list(range(1, RAREST_SHOWN + 1))
    section = page[page.index('<div class="gallery" id="rarest">') :]
    section = section[: section.index("<h2>")]
    assert re.findall(r'">([^<]+)</a> \(', section) == expected["id_str"].tolist()
    assert "10th nearest neighbour" in page and 'href="rarest.csv"' in page


def test_report_links_tables_lists_cuts_and_warns(sky_run):
    run_dir, _ = sky_run
    out = run_dir.parent / "shared-report"
    assert main(["report", str(run_dir), "--out", str(out), "--quiet"]) == 0
    page = (out / "index.html").read_text()
    run = json.loads((run_dir / "run.json").read_text())
    # the run's tables, linked relative to the report and resolving to the files
    hrefs = re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', page)
    names = {name for _, name in hrefs}
    assert {
        "classes.fits",
        "class_members.vot",
        "neighbours.parquet",
        "run.json",
        "class_table.csv",
    } <= names
    for href, _name in hrefs:
        assert not href.startswith("/") and (out / href).resolve().is_file(), href
    # every cut with its counts, and what was left after each
    steps = run["selection"]["steps"]
    assert steps, "the paper's cuts ran"
    cuts = re.findall(
        r"<tr><td>([^<]*)</td><td><code>([^<]*)</code></td>"
        r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>'
        r'<td class="num">([^<]*)</td></tr>',
        page,
    )
    assert cuts[0] == ("read", "", "", "", str(run["selection"]["rows_read"]))
    assert [
        (n, r.replace("&gt;", ">"), int(rm), int(na), int(lf)) for n, r, rm, na, lf in cuts[1:]
    ] == [(s["name"], s["rule"], s["removed"], s["nan"], s["left"]) for s in steps]
    assert int(cuts[-1][4]) == run["selection"]["rows_searched"]
    # no folder of this machine on a page made to be shared
    for private in (str(run_dir.parent), "/tmp/", "site-packages", ".venv", "/home/", "/root"):
        assert private not in page, private
    assert "reps.parquet" in page  # the command still names its input
    # 1,500 galaxies, a large share in classes: both caveats, above the classes
    n, in_classes = run["selection"]["rows_searched"], run["result"]["galaxies_in_classes"]
    assert n < defaults.SMALL_SAMPLE
    assert in_classes / n > defaults.CAVEAT_FRACTION_IN_CLASSES
    caveats = re.findall(r'<p class="caveat"><b>Caveat:</b> ([^<]*)</p>', page)
    assert len(caveats) == 2
    assert f"{n:,} galaxies searched" in caveats[0]
    assert f"{in_classes / n:.0%} of the searched galaxies" in caveats[1]
    assert page.index('class="caveat"') < page.index('id="class-table"')


def test_class_table_shows_columns_a_newer_search_adds(sky_run, tmp_path):
    run_dir, _ = sky_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report", "*report*"))
    summary = pd.read_csv(copy / "classes.csv")
    summary["stability"] = np.linspace(0.1, 0.9, len(summary))
    summary["credible"] = summary["stability"] > 0.5
    summary["also_in_run_b"] = ["B"] * len(summary)
    summary.to_csv(copy / "classes.csv", index=False)
    assert main(["report", str(copy), "--quiet"]) == 0
    page = (copy / "report" / "index.html").read_text()
    for title in ("stability", "credible", "also in run b", "persistence", "size", "class number"):
        assert f"<th>{title}</th>" in page
    assert "<th>tree node</th>" not in page and "_fraction_diff" not in page
    table = pd.read_csv(copy / "report" / "class_table.csv")
    assert {"stability", "credible", "also_in_run_b"} <= set(table.columns)
    first = lettered(summary).iloc[0]
    assert f'data-sort="{first["stability"]}">{first["stability"]:.2f}</td>' in page
    assert f'data-sort="{int(first["credible"])}">{"yes" if first["credible"] else "no"}' in page


def test_class_table_sorts_in_chromium_from_file(sky_run):
    from .test_demo import CHROMIUM, CHROMIUM_ARGS, require_chromium

    sync_api = require_chromium()
    run_dir, _ = sky_run
    assert main(["report", str(run_dir), "--quiet"]) == 0
    problems = []
    sizes = (
        "Array.from(document.querySelectorAll('#class-table tbody tr'))"
        ".map(r => Number(r.cells[2].textContent))"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto((run_dir / "report" / "index.html").as_uri())
        assert page.locator("#class-table th").nth(2).text_content() == "size"
        page.locator("#class-table th").nth(2).click()
        ascending = page.evaluate(sizes)
        page.locator("#class-table th").nth(2).click()
        descending = page.evaluate(sizes)
        page.locator("#class-table th").nth(0).click()  # back to letter order
        letters = page.evaluate(
            "Array.from(document.querySelectorAll('#class-table tbody tr'))"
            ".map(r => r.cells[0].textContent)"
        )
        browser.close()
    table = pd.read_csv(run_dir / "report" / "class_table.csv")
    assert problems == []
    assert ascending == sorted(table["size"]) and descending == sorted(table["size"])[::-1]
    assert letters == table["letter"].tolist()


def test_report_with_images_that_do_not_match_fails_cleanly(sky_run, tmp_path, capsys):
    from PIL import Image

    run_dir, _ = sky_run
    (tmp_path / "images").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "images" / "unrelated.png")
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out), "--per-class", "2", "--quiet"]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) > 5 and "<h1>" in before[Path("index.html")].decode()
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                str(run_dir),
                "--images",
                str(tmp_path / "images"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of the" in err[0] and "gallery galaxies" in err[0]
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the old report is left as it was, file for file


def test_not_a_run_folder(tmp_path, capsys):
    (tmp_path / "classes.parquet").write_bytes(b"")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing classes.csv" in err
    with pytest.raises(InputError, match=r"per_class \(report\): must be an integer >= 1, not 0"):
        report(tmp_path, per_class=0)


def test_gallery_thumbnails_open_the_whole_image_and_member_lists_hold_no_formula(tmp_path):
    """Each gallery thumbnail links to the galaxy's whole image, written into the report
    (424 px here, the thumbnail 128 px of the central crop); a member list's id that a
    spreadsheet would run as a formula is quoted (OWASP), a numeric id is not."""
    from PIL import Image

    from raregal.demo import DEMO_SAMPLE

    from .run_folders import small_run

    files = sorted((DEMO_SAMPLE / "images").glob("*.jpg"))[:30]
    (tmp_path / "images").mkdir()
    for path in files:  # the bundled 128 px thumbnails, enlarged to an SDSS cutout's size
        Image.open(path).resize((424, 424)).save(tmp_path / "images" / path.name)
    ids = [p.stem for p in files] + [f"g{i:03d}" for i in range(30)]
    ids[:2] = ['=HYPERLINK("http://evil.example")', "-5"]
    pd.DataFrame({"id_str": ids[2:30], "file_loc": [f"images/{p.name}" for p in files[2:]]}).to_csv(
        tmp_path / "catalogue.csv", index=False
    )
    small_run(tmp_path / "run", ids=ids)
    page = report(
        tmp_path / "run", images=tmp_path / "catalogue.csv", verbose=False, per_class=10
    ).read_text()
    out = tmp_path / "run" / "report"
    links = re.findall(r'<a href="images/([^"]+)"[^>]*><img src="thumbs/([^"]+)"', page)
    assert len(links) == 28 and all(whole == thumb for whole, thumb in links)
    for name, _ in links:
        assert Image.open(out / "images" / name).size == (424, 424)
        assert Image.open(out / "thumbs" / name).size == (128, 128)
    members = pd.read_csv(out / "members" / "A.csv", dtype={"id_str": str})
    assert {'\'=HYPERLINK("http://evil.example")', "-5"} <= set(members["id_str"])
    assert SearchResult.read(tmp_path / "run").classes["id_str"].iloc[0] == ids[0]


def test_a_run_written_before_the_rarity_column_reports_without_its_gallery(tmp_path):
    from .run_folders import small_run

    small_run(tmp_path / "run")  # classes.parquet without a rarity column
    assert main(["report", str(tmp_path / "run"), "--quiet"]) == 0
    out = tmp_path / "run" / "report"
    assert 'id="rarest"' not in (out / "index.html").read_text()
    assert not (out / "rarest.csv").exists()
