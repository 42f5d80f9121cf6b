"""The output policy (raregal.io.output) at every writer: inputs and foreign folders are
never touched, interrupted swaps are finished or rolled back, one writer at a time,
refusals come before any work; the run folder is read once and checked; the report
escapes everything and keeps its thumbnails apart and inside the catalogue's folder."""

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.io import output
from raregal.method.run import SearchResult
from raregal.report.thumbnails import thumbnail_names

from .run_folders import small_run
from .test_demo import CHROMIUM, CHROMIUM_ARGS, require_chromium

FEATURES = [f"feat_{i}" for i in range(16)]


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("raregal: error: ")
    return err


def images(folder: Path, names, colours=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        colour = colours[i] if colours else (40 * i % 255, 90, 160)
        Image.new("RGB", (48, 48), colour).save(folder / name)
    return folder


@pytest.fixture
def run_dir(tmp_path):
    small_run(tmp_path / "project" / "run")
    return tmp_path / "project" / "run"


# --- data loss: each case of the issue, refused with one line, inputs untouched ------


def refused(capsys, args, message, untouched: Path) -> str:
    """Run a command that must be refused with one line holding ``message``, leaving
    the folder ``untouched`` as it was, byte for byte; return the line."""
    before = snapshot(untouched)
    assert main(args) == 2
    err = one_line_error(capsys)
    assert message in err
    assert snapshot(untouched) == before
    return err


def test_report_onto_its_own_run_is_refused(run_dir, capsys):
    refused(
        capsys,
        ["report", str(run_dir), "--out", str(run_dir), "--quiet"],
        "is the command's input",
        run_dir,
    )


def test_report_onto_a_foreign_folder_is_refused(run_dir, tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\chapter{Years of work}")
    err = refused(
        capsys,
        ["report", str(run_dir), "--out", str(thesis), "--quiet"],
        "not a raregal output",
        thesis,
    )
    assert "thesis.tex" in err and "--overwrite" in err
    assert snapshot(thesis) == {"thesis.tex": b"\\chapter{Years of work}"}


def test_report_onto_the_runs_parent_is_refused(run_dir, capsys):
    project = run_dir.parent
    (project / "notes.txt").write_text("a sibling of the run")
    refused(
        capsys,
        ["report", str(run_dir), "--out", str(project), "--quiet"],
        "holds the command's input",
        project,
    )


def test_search_over_the_folder_of_its_input_is_refused(planted, tmp_path, capsys):
    folder = tmp_path / "D"
    folder.mkdir()
    planted[["id_str"] + FEATURES].to_parquet(folder / "reps.parquet")
    (folder / output.MARKER).write_text(json.dumps({"kind": "search"}))  # even if marked
    refused(
        capsys,
        ["search", str(folder / "reps.parquet"), "--out", str(folder), "--overwrite", "--quiet"],
        "holds the command's input",
        folder,
    )


def test_evaluate_onto_its_run_is_refused(run_dir, tmp_path, capsys):
    pd.DataFrame({"id_str": [f"g{i:03d}" for i in range(60)], "x": 1}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    refused(
        capsys,
        [
            "evaluate",
            str(run_dir),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--type",
            "x>0",
            "--out",
            str(run_dir),
            "--overwrite",
        ],
        "is the command's input",
        run_dir,
    )


@pytest.mark.parametrize("command", ["baseline", "embed"])
def test_image_commands_onto_their_images_are_refused(command, tmp_path, capsys):
    folder = images(tmp_path / "imgs", [f"{i}.png" for i in range(5)])
    refused(
        capsys,
        [command, str(folder), "--out", str(folder), "--overwrite", "--quiet"],
        "is the command's input",
        folder,
    )


def test_overwrite_never_replaces_a_foreign_or_other_kind_of_folder(planted, tmp_path, capsys):
    planted[["id_str"] + FEATURES].to_parquet(tmp_path / "reps.parquet")
    foreign = tmp_path / "results"
    foreign.mkdir()
    (foreign / "paper.pdf").write_bytes(b"%PDF")
    assert (
        main(
            [
                "search",
                str(tmp_path / "reps.parquet"),
                "--out",
                str(foreign),
                "--overwrite",
                "--quiet",
            ]
        )
        == 2
    )
    assert "not a raregal output" in one_line_error(capsys)
    assert snapshot(foreign) == {"paper.pdf": b"%PDF"}
    other = tmp_path / "evaluation"
    other.mkdir()
    (other / output.MARKER).write_text(json.dumps({"kind": "evaluate"}))
    assert (
        main(
            [
                "search",
                str(tmp_path / "reps.parquet"),
                "--out",
                str(other),
                "--overwrite",
                "--quiet",
            ]
        )
        == 2
    )
    assert "holds a raregal evaluate output, not a search output" in one_line_error(capsys)


def test_the_default_report_inside_its_run_is_written_and_replaced(run_dir, capsys):
    assert main(["report", str(run_dir), "--quiet"]) == 0
    report = run_dir / "report"
    assert output.read_marker(report)["kind"] == "report"
    (report / "extra.txt").write_text("from the first report")
    assert main(["report", str(run_dir), "--quiet"]) == 0  # its own output: replaced
    assert not (report / "extra.txt").exists() and (report / "index.html").is_file()
    # nothing left beside it: no temporaries, no lock file
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [output.MARKER]


# --- the swap: interrupted, then recovered by the next command --------------------

KILLER = textwrap.dedent("""
    import os, signal, sys
    from raregal.io import output

    out, where = sys.argv[1], sys.argv[2]
    rename = output._rename
    def rename_then_die(source, destination):
        rename(source, destination)
        os.kill(os.getpid(), signal.SIGKILL)  # between the swap's two renames
    if where == "swap":
        output._rename = rename_then_die
    target = output.prepare(out, kind="evaluate", overwrite=True)
    with output.atomic_dir(target) as tmp:
        (tmp / "result.txt").write_text("new")
        if where == "write":
            os.kill(os.getpid(), signal.SIGKILL)
""")


def _kill_during(where: str, out: Path) -> None:
    done = subprocess.run([sys.executable, "-c", KILLER, str(out), where])
    assert done.returncode == -signal.SIGKILL


def _old_evaluation(tmp_path) -> Path:
    out = tmp_path / "eval"
    target = output.prepare(out, kind="evaluate")
    with output.atomic_dir(target) as tmp:
        (tmp / "result.txt").write_text("old")
    return out


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".rg-"))


def test_kill_between_the_renames_is_finished_by_the_next_command(tmp_path, capsys):
    out = _old_evaluation(tmp_path)
    _kill_during("swap", out)
    assert not out.exists()  # the state the issue saw: only hidden copies
    assert [name.rsplit(".", 1)[1] for name in _temporaries(tmp_path)] == ["new", "old", "lock"]
    target = output.prepare(out, kind="evaluate", overwrite=True)
    target.release()
    assert "finished the replacement" in capsys.readouterr().err
    assert (out / "result.txt").read_text() == "new"
    assert output.read_marker(out)["kind"] == "evaluate"
    assert _temporaries(tmp_path) == []


def test_kill_during_the_write_leaves_the_old_folder_and_is_cleaned(tmp_path):
    out = _old_evaluation(tmp_path)
    _kill_during("write", out)
    assert (out / "result.txt").read_text() == "old"
    assert [name.rsplit(".", 1)[1] for name in _temporaries(tmp_path)] == ["new", "lock"]
    output.prepare(out, kind="evaluate", overwrite=True).release()
    assert (out / "result.txt").read_text() == "old" and _temporaries(tmp_path) == []


def test_a_swap_with_an_incomplete_new_folder_is_rolled_back(tmp_path, capsys):
    out = _old_evaluation(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    key = output._key(out.resolve())
    (tmp_path / f".rg-{key}-{dead}.new").mkdir()  # no marker: its writer died writing
    out.rename(tmp_path / f".rg-{key}-{dead}.old")
    output.prepare(out, kind="evaluate", overwrite=True).release()
    assert "restored" in capsys.readouterr().err
    assert (out / "result.txt").read_text() == "old" and _temporaries(tmp_path) == []


def test_temporaries_of_a_live_process_are_left_alone(tmp_path):
    out = _old_evaluation(tmp_path)
    live = tmp_path / f".rg-{output._key(out.resolve())}-{os.getppid()}.new"
    live.mkdir()
    output.prepare(out, kind="evaluate", overwrite=True).release()
    assert live.is_dir()


# --- one writer at a time -----------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from raregal.io import output

    target = output.prepare(sys.argv[1], kind="search")
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes it
    with output.atomic_dir(target) as tmp:
        (tmp / "classes.csv").write_text("first writer")
""")


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(planted, tmp_path, capsys):
    planted[["id_str"] + FEATURES].iloc[:200].to_parquet(tmp_path / "reps.parquet")
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().strip() == "locked"
        assert main(["search", str(tmp_path / "reps.parquet"), "--out", str(out), "--quiet"]) == 2
        err = one_line_error(capsys)
        assert f"another raregal command (pid {first.pid}) is writing it" in err
        first.stdin.close()
        assert first.wait(timeout=60) == 0
    finally:
        first.kill()
    assert (out / "classes.csv").read_text() == "first writer"  # the first one's result
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reps.parquet", "run"]
    with pytest.raises(InputError, match="already exists"):  # free again, and checked
        output.prepare(out, kind="search")


def test_a_retry_in_the_same_process_takes_over_a_failed_calls_lock(tmp_path):
    """A notebook or a test keeps a failed command's traceback, and with it its
    lock; the same process asking again is not locked out."""
    failed = output.prepare(tmp_path / "run", kind="search")  # as if still referenced
    again = output.prepare(tmp_path / "run", kind="search")
    with output.atomic_dir(again) as tmp:
        (tmp / "classes.csv").write_text("the retry")
    failed.release()  # nothing left to release
    assert (tmp_path / "run" / "classes.csv").read_text() == "the retry"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- refused before any work -------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Calls of the search's reader: none may happen before the output is checked."""
    calls = []
    monkeypatch.setattr(
        importlib.import_module("raregal.method.search"),
        "open_inputs",
        lambda *a, **k: calls.append(a) or pytest.fail("work was done"),
    )
    return calls


def _unwritable_folder(tmp_path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o555)
        return folder
    try:  # root writes everywhere but in sysfs; check that it is so here
        fd = os.open("/sys/.rg-probe", os.O_WRONLY | os.O_CREAT)
    except OSError:
        return Path("/sys")
    os.close(fd)
    os.unlink("/sys/.rg-probe")
    pytest.skip("no folder that this root user cannot write")


def test_an_unwritable_parent_is_refused_before_any_work(planted, tmp_path, no_work, capsys):
    planted[["id_str"] + FEATURES].iloc[:200].to_parquet(tmp_path / "reps.parquet")
    parent = _unwritable_folder(tmp_path)
    assert (
        main(
            [
                "search",
                str(tmp_path / "reps.parquet"),
                "--out",
                str(parent / "raregal-run"),
                "--quiet",
            ]
        )
        == 2
    )
    assert f"cannot write in {parent}" in one_line_error(capsys)
    assert no_work == [] and not (parent / "raregal-run").exists()


def test_names_too_long_are_refused_before_any_work(planted, tmp_path, no_work, capsys):
    planted[["id_str"] + FEATURES].iloc[:200].to_parquet(tmp_path / "reps.parquet")
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    long_name = tmp_path / ("r" * (name_max + 1))
    assert main(["search", str(tmp_path / "reps.parquet"), "--out", str(long_name)]) == 2
    assert f"limit of {name_max}" in one_line_error(capsys)
    deep = tmp_path.joinpath(*["d" * 200] * (os.pathconf(tmp_path, "PC_PATH_MAX") // 200))
    assert main(["search", str(tmp_path / "reps.parquet"), "--out", str(deep)]) == 2
    assert "path is too long" in one_line_error(capsys)
    assert no_work == [] and sorted(p.name for p in tmp_path.iterdir()) == ["reps.parquet"]


# --- the run folder: read once, checked ---------------------------------------------


def _truncate(file):
    def change(run_dir):
        path = run_dir / file
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return change


def _rewrite_json(text):
    return lambda run_dir: (run_dir / "run.json").write_text(text)


def _retype(column, values):
    def change(run_dir):
        table = pd.read_parquet(run_dir / "classes.parquet")
        table[column] = values(table[column])
        table.to_parquet(run_dir / "classes.parquet")

    return change


def _edit_json(change):
    def edit(run_dir):
        record = json.loads((run_dir / "run.json").read_text())
        change(record)
        # json writes inf as Infinity; a hand-edited record says 1e999, which parses as inf
        (run_dir / "run.json").write_text(json.dumps(record).replace("Infinity", "1e999"))

    return edit


def _edit_csv(change):
    def edit(run_dir):
        summary = pd.read_csv(run_dir / "classes.csv")
        change(summary).to_csv(run_dir / "classes.csv", index=False)

    return edit


def _edit_classes(change):
    def edit(run_dir):
        table = pd.read_parquet(run_dir / "classes.parquet")
        change(table).to_parquet(run_dir / "classes.parquet")

    return edit


TAMPERED = {
    "truncated classes": (
        "classes.parquet",
        _truncate("classes.parquet"),
        "not a readable Parquet file",
    ),
    "truncated tree": (
        "condensed_tree.parquet",
        _truncate("condensed_tree.parquet"),
        "not a readable Parquet file",
    ),
    "run.json cut short": ("run.json", _rewrite_json('{"id_column": "id_str", '), "not valid JSON"),
    "NaN in run.json": (
        "run.json",
        _rewrite_json('{"id_column": "id_str", "x": NaN}'),
        "NaN is not a JSON number",
    ),
    "run.json a list": ("run.json", _rewrite_json("[1, 2]"), "not a run record"),
    "parameters a string": (
        "run.json",
        _rewrite_json('{"parameters": "x"}'),
        "'parameters' should be a JSON object",
    ),
    "string ra": (
        "classes.parquet",
        _retype("ra", lambda c: c.map("{:.3f}".format)),
        "column 'ra' holds",
    ),
    "string class": (
        "classes.parquet",
        _retype("class", lambda c: c.astype(str)),
        "column 'class' holds",
    ),
    "class beyond classes.csv": (
        "classes.parquet",
        _retype("class", lambda c: c + 5),
        "classes.csv has 3 classes",
    ),
    "missing file": (
        "classes.csv",
        lambda run_dir: (run_dir / "classes.csv").unlink(),
        "missing classes.csv",
    ),
    # issue 39: what the reader let through, or failed on with a traceback
    "100,000 nested brackets": (
        "run.json",
        _rewrite_json("[" * 100_000 + "]" * 100_000),
        "not a run record (JSON nested too deeply)",
    ),
    "nested inside the record": (
        "run.json",
        _rewrite_json('{"id_column": "id_str", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "nested too deeply",
    ),
    "a huge float": (
        "run.json",
        _edit_json(lambda r: r["parameters"].update(n_neighbors=float("inf"))),
        "'parameters.n_neighbors' is inf, not a finite number",
    ),
    "a huge float elsewhere": (
        "run.json",
        _edit_json(lambda r: r["selection"].update(rows_read=float("-inf"))),
        "'selection.rows_read' is -inf",
    ),
    "a parameter of the wrong type": (
        "run.json",
        _edit_json(lambda r: r["parameters"].update(min_cluster_size="ten")),
        "'parameters.min_cluster_size' must be an integer >= 2, not 'ten'",
    ),
    "a used parameter of the wrong type": (
        "run.json",
        _edit_json(lambda r: r["parameters"].update(min_samples_used=2.5)),
        "'parameters.min_samples_used' must be an integer >= 1, not 2.5",
    ),
    "no galaxies": (
        "classes.parquet",
        _edit_classes(lambda t: t.iloc[:0]),
        "classes.parquet: no rows",
    ),
    "an extra class row": (
        "classes.csv",
        _edit_csv(lambda s: pd.concat([s, s.iloc[-1:].assign(**{"class": len(s)})])),
        "classes.csv: 1 classes have a 'size' other than their members in classes.parquet "
        "(first: class 3, size 10, 0 members)",
    ),
    "a repeated class row": (
        "classes.csv",
        _edit_csv(lambda s: pd.concat([s, s.iloc[:1]])),
        "classes.csv: row 3 is class 0, not 3",
    ),
    "a wrong size": (
        "classes.csv",
        _edit_csv(lambda s: s.assign(size=[10, 99, 10])),
        "(first: class 1, size 99, 10 members)",
    ),
    "a probability above 1": (
        "classes.parquet",
        _edit_classes(lambda t: t.assign(probability=t["probability"].where(t.index != 4, 1.5))),
        "1 rows have a 'probability' outside [0, 1] (first: row 4, 1.5)",
    ),
    "a NaN probability": (
        "classes.parquet",
        _edit_classes(lambda t: t.assign(probability=t["probability"].where(t.index != 7, np.nan))),
        "(first: row 7, nan)",
    ),
}


@pytest.mark.parametrize("case", TAMPERED)
@pytest.mark.parametrize("command", ["report", "evaluate", "compare"])
def test_a_tampered_run_folder_is_one_line(case, command, run_dir, tmp_path, capsys):
    file, tamper, message = TAMPERED[case]
    small_run(tmp_path / "other")
    tamper(run_dir)
    pd.DataFrame({"id_str": ["g001"], "x": [1]}).to_csv(tmp_path / "labels.csv", index=False)
    args = {
        "report": ["report", str(run_dir), "--quiet"],
        "evaluate": [
            "evaluate",
            str(run_dir),
            "--labels",
            str(tmp_path / "labels.csv"),
            "--type",
            "x>0",
        ],
        "compare": ["compare", str(tmp_path / "other"), str(run_dir)],
    }[command]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert message in err and file in err
    assert not (run_dir / "report").exists()


@pytest.mark.parametrize(
    "case", ["100,000 nested brackets", "no galaxies", "a probability above 1"]
)
def test_the_explorer_refuses_a_tampered_run(case, run_dir):
    # the explorer's reader, not the command: a run it accepted would be served for ever
    from raregal.explore.data import RunData

    file, tamper, message = TAMPERED[case]
    tamper(run_dir)
    with pytest.raises(InputError) as refused:
        RunData(run_dir)
    assert message in str(refused.value) and file in str(refused.value)


def test_the_run_writer_writes_strict_json(tmp_path):
    """NaN and infinities become null: run.json stays readable by any JSON reader."""
    small_run(
        tmp_path / "run",
        run={"result": {"fraction_in_classes": float("nan"), "score": np.float64("inf")}},
    )
    text = (tmp_path / "run" / "run.json").read_text()
    record = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in run.json"))
    assert record["result"] == {"fraction_in_classes": None, "score": None}
    assert SearchResult.read(tmp_path / "run").run.result["score"] is None
    assert output.plain({"a": [np.float32(1.5), np.int64(2)], "b": Path("x")}) == {
        "a": [1.5, 2],
        "b": "x",
    }


# --- the report page: escaped by construction, thumbnails apart and inside ----------

EVIL_ID = "<img src=x onerror=alert(1)>"
EVIL_SCRIPT = "<script>window.__x=1</script>"


@pytest.fixture(scope="module")
def tampered_report(tmp_path_factory):
    """A report of a run whose run.json and ids were written by an attacker."""
    tmp_path = tmp_path_factory.mktemp("tampered")
    ids = [EVIL_ID, "gal/357", "gal_357"] + [f"g{i:03d}" for i in range(57)]
    small_run(
        tmp_path / "run",
        ids=ids,
        run={
            "selection": {"rows_read": EVIL_SCRIPT, "notes": ['"><svg onload=alert(2)>']},
            "command": ["raregal", EVIL_SCRIPT],
            "raregal": EVIL_SCRIPT,
        },
    )
    names = {galaxy: f"{i}.png" for i, galaxy in enumerate(ids)}
    images(
        tmp_path / "cutouts",
        names.values(),
        [(200, 0, 0), (0, 200, 0), (0, 0, 200)] + [(90, 90, 90)] * 57,
    )
    pd.DataFrame({"id_str": ids, "file_loc": [f"cutouts/{n}" for n in names.values()]}).to_csv(
        tmp_path / "catalogue.csv", index=False
    )
    assert (
        main(
            [
                "report",
                str(tmp_path / "run"),
                "--images",
                str(tmp_path / "catalogue.csv"),
                "--per-class",
                "10",
                "--quiet",
            ]
        )
        == 0
    )
    return tmp_path / "run" / "report"


def test_tampered_values_are_escaped_in_the_page(tampered_report):
    page = (tampered_report / "index.html").read_text()
    # One script element: the class table's sorter, from the template, untouched.
    assert page.count("<script") == 1
    sorter = page.split("<script>", 1)[1].split("</script>", 1)[0]
    assert "window.__x" not in sorter and "alert" not in sorter
    assert "<svg" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_similar_ids_get_their_own_thumbnails(tampered_report):
    names = thumbnail_names(["gal/357", "gal_357"])
    assert len(set(names.values())) == 2
    colours = {
        galaxy: Image.open(tampered_report / "thumbs" / name).getpixel((24, 24))
        for galaxy, name in names.items()
    }
    assert colours["gal/357"][1] > 150 and colours["gal_357"][2] > 150  # green, blue


@pytest.mark.slow
def test_tampered_report_runs_no_script_in_chromium(tampered_report):
    sync_api = require_chromium()
    dialogs = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((tampered_report / "index.html").as_uri(), wait_until="load")
        page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        page.wait_for_load_state("networkidle")
        ran = page.evaluate("window.__x")
        scripts = page.evaluate("document.scripts.length")
        handlers = page.evaluate(
            "Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes)"
            ".some(a => a.name.startsWith('on'))).length"
        )
        text = page.evaluate("document.body.innerText")
        browser.close()
    # one script: the class table's sorter, from the template (test above)
    assert ran is None and scripts == 1 and handlers == 0 and dialogs == []
    assert EVIL_ID in text and EVIL_SCRIPT in text  # shown as text, as written


def test_catalogue_paths_outside_its_folder_need_the_option(run_dir, tmp_path, capsys):
    images(tmp_path / "private", ["secret.png"])
    shared = images(tmp_path / "shared", ["a.png"])
    ids = [f"g{i:03d}" for i in range(60)]
    (shared / "link.png").symlink_to(tmp_path / "private" / "secret.png")
    for path in ["../private/secret.png", str(tmp_path / "private" / "secret.png"), "link.png"]:
        pd.DataFrame({"id_str": ids, "file_loc": [path] + ["a.png"] * 59}).to_csv(
            shared / "catalogue.csv", index=False
        )
        assert (
            main(["report", str(run_dir), "--images", str(shared / "catalogue.csv"), "--quiet"])
            == 2
        )
        err = one_line_error(capsys)
        assert "1 image paths lead outside" in err and "--allow-outside-paths" in err
        assert not (run_dir / "report").exists()
    assert (
        main(
            [
                "report",
                str(run_dir),
                "--images",
                str(shared / "catalogue.csv"),
                "--allow-outside-paths",
                "--quiet",
            ]
        )
        == 0
    )
    assert (run_dir / "report" / "thumbs").is_dir()


def test_a_synthetic_table_never_replaces_an_existing_file(tmp_path, capsys):
    from raregal.cli import main

    table = tmp_path / "table.parquet"
    table.write_bytes(b"the user's table")
    assert main(["synthetic", str(table), "--rows", "2000"]) == 2
    assert "table.parquet: exists" in capsys.readouterr().err
    assert table.read_bytes() == b"the user's table"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]
    fresh = tmp_path / "fresh.csv"
    assert main(["synthetic", str(fresh), "--rows", "2000"]) == 0
    assert len(fresh.read_text().splitlines()) == 2001
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.csv", "table.parquet"]
