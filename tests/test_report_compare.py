"""The report's "also found in run B" column and its credible-only switch, on run
folders written from known label arrays (no search)."""

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.core.params import ParameterError
from raregal.report.page import report, run_names
from tests.run_folders import small_run


def ids(numbers):
    return [f"g{i:03d}" for i in numbers]


def labelled(n, classes: dict):
    """Labels for ids 0..n-1 of a run: class -> the numbers of its members."""
    labels = np.full(n, -1)
    for cls, members in classes.items():
        labels[list(members)] = cls
    return labels


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A: ids 0-99, classes 0 = 10-29, 1 = 30-49, 2 = 50-59, 3 = 0-9 (persistence
    falls with the class number, so lettered A, B, C, D). Run B: ids 10-119, so 90 are
    shared and none of A's class 3; its class 0 = 30-49 (A's class 1 exactly), 1 =
    10-24 and 60-64 (15 of A's class 0 and 5 others), 2 = 50-52 and 100-106 (3 of A's
    class 2, 7 outside A). B's persistence letters its classes 1, 2, 0 as A, B, C."""
    root = tmp_path_factory.mktemp("report_compare")
    run_a = root / "a"
    small_run(
        run_a,
        ids(range(100)),
        labelled(100, {0: range(10, 30), 1: range(30, 50), 2: range(50, 60), 3: range(0, 10)}),
    )
    numbers_b = np.arange(10, 120)
    labels_b = labelled(
        110,
        {0: range(20, 40), 1: [*range(0, 15), *range(50, 55)], 2: [*range(40, 43), *range(90, 97)]},
    )
    order = np.random.default_rng(3).permutation(110)  # matching goes by id, not row
    b = small_run(root / "b0", ids(numbers_b[order]), labels_b[order])
    b.summary["persistence"] = [0.1, 0.5, 0.3]
    b.write(root / "b")
    return run_a, root / "b"


# Expected per class of A (letter): the letter in B's report and the Jaccard index over
# the 90 shared galaxies; A's class D has no shared member.
EXPECTED = {"A": ("A", 15 / 25), "B": ("C", 1.0), "C": ("B", 3 / 10), "D": ("", np.nan)}


class TableRows(HTMLParser):
    """The class table's rows: (the row's attributes, [cell texts]); and the headers."""

    def __init__(self, page: str):
        super().__init__()
        self.rows, self.headers, self.sections = [], [], []
        self._in_table, self._cell = False, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._in_table = attrs.get("id") == "class-table"
        elif self._in_table and tag == "tr":
            self.rows.append((attrs, []))
        elif self._in_table and tag in ("td", "th"):
            self._cell = [tag, attrs, ""]
        elif tag == "section":
            self.sections.append(attrs)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            kind, attrs, content = self._cell
            if kind == "th":
                self.headers.append(content)
            else:
                self.rows[-1][1].append((attrs, content))
            self._cell = None


def snapshot(folder):
    """Every file under ``folder`` with its size and modification time."""
    return {
        p.relative_to(folder): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
    }


@pytest.fixture(scope="module")
def compared(runs):
    run_a, run_b = runs
    before = snapshot(run_b)
    page = report(run_a, compare=[run_b], verbose=False)
    assert snapshot(run_b) == before  # the other run is only read
    return page.parent, TableRows(page.read_text())


def test_class_table_names_the_matching_class_and_jaccard(compared):
    folder, _ = compared
    table = pd.read_csv(
        folder / "class_table.csv", keep_default_na=False, na_values={"jaccard_in_b": [""]}
    )
    assert table["letter"].tolist() == ["A", "B", "C", "D"]
    for _, row in table.iterrows():
        letter, jaccard = EXPECTED[row["letter"]]
        assert row["match_in_b"] == letter
        assert row["jaccard_in_b"] == pytest.approx(jaccard, nan_ok=True)


def test_page_says_which_class_of_b_and_how_many_shared(compared):
    folder, parsed = compared
    column = parsed.headers.index("also in b")
    cells = {row[0][1].strip(): row[column][1] for _, row in parsed.rows[1:]}
    assert cells == {"A": "A (0.60)", "B": "C (1.00)", "C": "none (best: B, 0.30)", "D": "–"}
    sort_keys = {row[0][1].strip(): row[column][0]["data-sort"] for _, row in parsed.rows[1:]}
    assert float(sort_keys["B"]) == 1.0 and sort_keys["D"] == ""
    text = " ".join((folder / "index.html").read_text().split())
    assert (
        "Compared with run <b>b</b> over the 90 galaxies both searched: 2 of this run's "
        "4 classes are also found there, of its 3 classes"
    ) in text
    assert "Also in b: C (1.00)." in text  # the gallery of class B says it too


def test_threshold_and_cli_agree_with_the_api(runs, tmp_path):
    run_a, run_b = runs
    out = tmp_path / "rep"
    assert (
        main(
            [
                "report",
                str(run_a),
                "--compare",
                str(run_b),
                "--also-found-at",
                "0.25",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    parsed = TableRows((out / "index.html").read_text())
    column = parsed.headers.index("also in b")
    cells = {row[0][1].strip(): row[column][1] for _, row in parsed.rows[1:]}
    assert cells["C"] == "B (0.30)"  # 0.30 counts as found from 0.25 up
    assert "3 of this run's 4 classes are also found" in " ".join(
        (out / "index.html").read_text().split()
    )


def test_run_names_tell_same_named_folders_apart(tmp_path):
    assert run_names([tmp_path / "s0" / "run", tmp_path / "s1" / "run"]) == ["s0/run", "s1/run"]
    assert run_names([tmp_path / "x", tmp_path / "y"]) == ["x", "y"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--compare", "{notrun}"], "not a raregal run folder"),
        (["--compare", "{stranger}"], "share no galaxy ids"),
        (["--compare", "{b}", "--compare", "{b}"], "given twice"),
        (
            ["--compare", "{b}", "--also-found-at", "0"],
            "--also-found-at: must be a number in (0, 1]",
        ),
        (["--compare", "{b}", "--out", "{b}"], "never writes over its inputs"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys, extra, message):
    run_a, run_b = runs
    (tmp_path / "notrun").mkdir()
    small_run(tmp_path / "stranger", [f"x{i}" for i in range(60)])
    paths = {"b": run_b, "notrun": tmp_path / "notrun", "stranger": tmp_path / "stranger"}
    before = {p: sorted(x.name for x in p.iterdir()) for p in (tmp_path, run_a, run_b)}
    assert main(["report", str(run_a), *[arg.format(**paths) for arg in extra], "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert {p: sorted(x.name for x in p.iterdir()) for p in before} == before


def test_api_refuses_a_jaccard_outside_0_1(runs):
    with pytest.raises(ParameterError, match="also_found_at"):
        report(runs[0], compare=[runs[1]], also_found_at=1.5, verbose=False)


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    """A run whose classes.csv has the credibility columns: classes 0 and 2 credible."""
    root = tmp_path_factory.mktemp("rated")
    result = small_run(root / "plain")
    result.summary["stability"] = [0.9, 0.3, 0.5]
    result.summary["density_contrast"] = [1.1, 1.0, 2.0]
    result.summary["credible"] = [True, False, True]
    result.run.credibility = {
        "rule": "stability >= 0.8 over 3 layout reruns, or density_contrast >= 1.5"
    }
    result.write(root / "rated")
    return report(root / "rated", verbose=False)


def test_credible_only_switch_marks_rows_and_galleries(compared, rated):
    folder, plain = compared  # run A has no credible column: no switch
    assert 'id="credible-only"' not in (folder / "index.html").read_text()
    assert all("data-credible" not in attrs for attrs, _ in plain.rows)
    assert not any("data-credible" in attrs for attrs in plain.sections)

    page = rated.read_text()
    parsed = TableRows(page)
    flags = {cells[0][1].strip(): attrs.get("data-credible") for attrs, cells in parsed.rows[1:]}
    assert flags == {"A": "1", "B": "0", "C": "1"}  # classes 0, 1, 2 by persistence
    assert [s.get("data-credible") for s in parsed.sections] == ["1", "0", "1"]
    text = " ".join(page.split())
    assert 'id="credible-only"' in text
    assert (
        '<span id="credible-count">2</span> of 3; credible: stability >= 0.8 over 3 '
        "layout reruns, or density_contrast >= 1.5"
    ) in text.replace("&gt;", ">")


@pytest.mark.slow  # a browser start: 5.7 s at load 5.5
def test_credible_only_switch_hides_in_chromium(rated):
    from .test_demo import CHROMIUM, CHROMIUM_ARGS, require_chromium

    sync_api = require_chromium()
    shown = (
        "Array.from(document.querySelectorAll('#class-table tbody tr, section.class'))"
        ".filter(e => e.offsetParent !== null).map(e => e.tagName + ' ' + "
        "e.querySelector(e.tagName === 'TR' ? 'a' : 'h3').textContent.slice(0, 1))"
    )
    problems = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(rated.as_uri())
        everything = page.evaluate(shown)
        page.locator("#credible-only").check()
        credible = page.evaluate(shown)
        page.locator("#class-table th").nth(1).click()  # sorting keeps the filter
        sorted_credible = page.evaluate(shown)
        page.locator("#credible-only").uncheck()
        again = page.evaluate(shown)
        browser.close()
    assert problems == []
    assert everything == again == ["TR A", "TR B", "TR C", "SECTION A", "SECTION B", "SECTION C"]
    assert credible == ["TR A", "TR C", "SECTION A", "SECTION C"]
    assert sorted(sorted_credible) == sorted(credible)
