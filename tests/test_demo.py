"""`raregal demo` end to end on the bundled real galaxies, and its report rendered in
headless Chromium (Debian's chromium package, driven by Playwright)."""

import importlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from raregal.cli import main
from raregal.core import defaults
from raregal.demo import DEMO_SAMPLE

#: The demo embeds 5,000 images and searches them: minutes, shared by every test here.
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Screenshots kept for people to look at (CI uploads or prints this folder).
ARTIFACTS = Path(
    os.environ.get("RAREGAL_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")
)
#: The flags this workplace's machines need for an offline headless Chromium.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "raregal-demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    return out


def thumbnail_ids(report: Path) -> set:
    """The galaxies a report made thumbnails of (files ``{id}-{key}.jpg``)."""
    return {path.stem.rsplit("-", 1)[0] for path in (report / "thumbs").glob("*.jpg")}


def shown_ids(run: Path, report: Path, per_class: int) -> set:
    """Each class's ``per_class`` most probable members (then by id) and the rarest
    galaxies the report lists: every galaxy the page shows."""
    classes = pd.read_parquet(run / "classes.parquet")
    members = classes[classes["class"] >= 0].sort_values(
        ["class", "probability", "GalaxyID"], ascending=[True, False, True]
    )
    shown = set(members.groupby("class").head(per_class)["GalaxyID"].astype(str))
    rarest = pd.read_csv(report / "rarest.csv", dtype={"GalaxyID": str})["GalaxyID"]
    return shown | set(rarest)


def test_demo_embeds_searches_and_reports(demo_dir, capsys):
    manifest = json.loads((demo_dir / "embedded" / "manifest.json").read_text())
    sample = pd.read_csv(DEMO_SAMPLE / "catalogue.csv")
    assert manifest["embedded"] == len(sample) == 5000 and manifest["failed"] == 0
    run = json.loads((demo_dir / "run" / "run.json").read_text())
    assert run["result"]["classes"] >= 1
    assert run["parameters"]["min_samples"] == "scaled"
    searched = run["selection"]["rows_searched"]
    assert 0 < searched < 5000  # the paper's cuts removed smooth and edge-on galaxies
    report = demo_dir / "run" / "report"
    assert thumbnail_ids(report) == shown_ids(demo_dir / "run", report, defaults.GALLERY_SIZE)
    for letter in pd.read_csv(report / "class_table.csv")["letter"]:
        assert (report / f"gallery_{letter}.png").is_file()
    # a page made to be shared names no folder of this machine, and says how far the
    # demo is from the paper (a small sample, far more than 2 % in classes)
    page = (report / "index.html").read_text()
    for private in (str(demo_dir.parent), "/work/", "site-packages", ".venv", "/home/", "/root/"):
        assert private not in page, private
    assert page.count('<p class="caveat">') == 2
    assert f"{run['result']['fraction_in_classes']:.0%} of the searched galaxies" in page
    # without --images, report finds the images through raregal embed's manifest
    again = demo_dir.parent / "again"
    assert (
        main(["report", str(demo_dir / "run"), "--out", str(again), "--per-class", "3", "--quiet"])
        == 0
    )
    assert thumbnail_ids(again) == shown_ids(demo_dir / "run", again, 3)
    # a second demo into the same folder refuses rather than overwrite
    assert main(["demo", "--out", str(demo_dir), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_demo_rerun_reuses_the_embedding(demo_dir, capsys, monkeypatch):
    """The rerun's search and report are the first run's, tested above (and the
    seeded search's repeat in test_search.py); here only what it reuses."""
    calls = []
    # the modules themselves: raregal.search and raregal.report also name functions
    embed, search, report = (
        importlib.import_module(f"raregal.{name}")
        for name in ("model.embed", "method.search", "report")
    )
    monkeypatch.setattr(embed, "embed", lambda *a, **k: calls.append("embed"))
    monkeypatch.setattr(
        search, "search", lambda source, out, **k: calls.append(("search", source, out))
    )
    monkeypatch.setattr(report, "report", lambda run, **k: run / "report.html")
    moved = demo_dir.parent / "first-run"
    (demo_dir / "run").rename(moved)
    try:
        assert main(["demo", "--out", str(demo_dir)]) == 0
        assert f"reusing {demo_dir / 'embedded'}/" in capsys.readouterr().err
        assert calls == [
            ("search", demo_dir / "embedded" / "representations.parquet", demo_dir / "run")
        ]
    finally:
        if not (demo_dir / "run").exists():
            moved.rename(demo_dir / "run")


def require_chromium():
    """Playwright's sync API, when Debian's Chromium is here; CI must have it."""
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the report test")
        pytest.skip("no chromium here (apt-get install chromium)")
    return pytest.importorskip("playwright.sync_api")


def test_report_renders_in_headless_chromium(demo_dir):
    sync_api = require_chromium()
    page_path = demo_dir / "run" / "report" / "index.html"
    problems = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on(
            "console",
            lambda m: (
                problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
        page.goto(page_path.as_uri(), wait_until="load")
        # lazy gallery images load as they scroll into view
        page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        page.wait_for_load_state("networkidle")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        broken = page.evaluate(
            "Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)"
        )
        n_images = page.evaluate("document.images.length")
        map_box = page.locator("#map").bounding_box()
        gallery = page.locator(".gallery").first
        gallery.scroll_into_view_if_needed()
        gallery_box = gallery.bounding_box()
        visible = page.locator(".gallery figure img").first.is_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "report-top.png"))
        gallery.screenshot(path=str(ARTIFACTS / "report-gallery-A.png"))
        browser.close()
    assert problems == []
    assert broken == []
    assert n_images > defaults.GALLERY_SIZE  # map, figures and at least one full gallery
    assert map_box["width"] > 400 and map_box["height"] > 400
    assert gallery_box["width"] > 400 and gallery_box["height"] > 100 and visible
    assert (ARTIFACTS / "report-top.png").stat().st_size > 10_000
