"""`raregal report`: lettering, label differences, the tree layout, and a report made
from RA/Dec alone (viewer links, no images)."""

import re

import numpy as np
import pandas as pd
import pytest

from raregal import defaults
from raregal.cli import main
from raregal.errors import InputError
from raregal.export import viewer_layer
from raregal.report import class_letters, label_differences, lettered, report, tree_layout
from raregal.run import SearchResult

FEATURES = [f"feat_{i}" for i in range(16)]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_letters_run_past_z():
    letters = class_letters(29)
    assert letters[:3] == ["A", "B", "C"]
    assert letters[25:] == ["Z", "AA", "AB", "AC"]
    assert len(set(class_letters(800))) == 800


def test_classes_lettered_by_persistence_then_size():
    summary = pd.DataFrame({"class": [0, 1, 2, 3], "size": [10, 50, 20, 30],
                            "persistence": [0.2, 0.1, 0.3, 0.2], "tree_node": [5, 6, 7, 8]})
    order = lettered(summary)
    assert order["class"].tolist() == [2, 3, 0, 1]
    assert order["letter"].tolist() == ["A", "B", "C", "D"]


def test_label_differences_by_hand():
    rng = np.random.default_rng(0)
    smooth = np.concatenate([np.full(10, 0.9), rng.uniform(0.1, 0.3, 90)])
    yes = rng.uniform(0.0, 1.0, 100)
    classes = pd.DataFrame({"class": [0] * 10 + [1] * 10 + [-1] * 80,
                            "smooth-or-featured_smooth_fraction": smooth,
                            "smooth-or-featured_featured-or-disk_fraction": 1 - smooth,
                            "disk-edge-on_yes_fraction": yes})
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
    tree = pd.DataFrame({
        "parent": [10, 10, 11, 11, 12, 12, 13, 14],
        "child": [11, 12, 0, 1, 13, 14, 2, 3],
        "lambda_val": [1.0, 1.0, 1.5, 1.7, 2.0, 2.0, 3.0, 2.5],
        "child_size": [2, 20, 1, 1, 10, 10, 1, 1]})
    layout = tree_layout(tree).set_index("node")
    assert layout.loc[10, "parent"] == -1 and layout.loc[13, "parent"] == 12
    assert layout.loc[[11, 13, 14], "x"].tolist() == [0.0, 1.0, 2.0]  # leaves, DFS order
    assert layout.loc[12, "x"] == 1.5 and layout.loc[10, "x"] == 0.75
    assert layout.loc[11, "death"] == 1.7 and layout.loc[12, "birth"] == 1.0
    assert layout.loc[10, "size"] == 22


@pytest.fixture(scope="module")
def sky_run(planted, tmp_path_factory):
    """A seeded search of a table with RA/Dec and no images."""
    folder = tmp_path_factory.mktemp("sky")
    table = planted.copy()
    rng = np.random.default_rng(3)
    table["ra"], table["dec"] = rng.uniform(0, 360, len(table)), rng.uniform(-20, 60, len(table))
    table.drop(columns="planted").to_parquet(folder / "reps.parquet")
    assert main(["search", str(folder / "reps.parquet"), "--out", str(folder / "run"),
                 "--min-samples", "20", "--seed", "0", "--quiet"]) == 0
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
    assert len(re.findall(r"legacysurvey\.org/viewer\?", page)) == shown
    assert "thumbs/" not in page and not (out / "thumbs").exists()
    assert "No local images" in page
    for figure in ("map.png", "tree.png", "variance.png"):
        assert (out / figure).read_bytes()[:8] == PNG_MAGIC
        assert f'src="{figure}"' in page
    table_csv = pd.read_csv(out / "class_table.csv")
    assert table_csv["letter"].tolist() == order["letter"].tolist()
    assert table_csv["size"].sum() == (data.classes["class"] >= 0).sum()


def test_report_with_images_that_do_not_match_fails_cleanly(sky_run, tmp_path, capsys):
    from PIL import Image

    run_dir, _ = sky_run
    Image.new("RGB", (32, 32)).save(tmp_path / "unrelated.png")
    before = (run_dir / "report" / "index.html").read_bytes() \
        if (run_dir / "report").exists() else None
    assert main(["report", str(run_dir), "--images", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none of the" in err[0] and "gallery galaxies" in err[0]
    after = (run_dir / "report" / "index.html").read_bytes() \
        if (run_dir / "report").exists() else None
    assert before == after  # an old report is left as it was


def test_not_a_run_folder(tmp_path, capsys):
    (tmp_path / "classes.parquet").write_bytes(b"")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing classes.csv" in err
    with pytest.raises(InputError, match="at least 1"):
        report(tmp_path, per_class=0)
