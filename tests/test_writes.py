"""Finished work is never lost at the last step (issue 39): exports of any id, a
target that cannot be renamed (a mount point), a full disk, an ``--out`` in a
symlink loop, temporaries of dead commands, the user's files in a replaced folder,
and a broken shard of an interrupted embed."""

import errno
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from raregal.cli import main
from raregal.explore.app import export_table
from raregal.explore.data import RunData
from raregal.explore.tags import TagStore
from raregal.io import output

from .run_folders import small_run
from .test_output_policy import _kill_during, _old_evaluation, one_line_error


def test_non_ascii_ids_are_exported_to_fits_and_read_back(tmp_path):
    ids = [f"g{i:03d}" for i in range(60)]
    ids[3], ids[12] = "NGC 4414²", "Þór-α"  # 12 is in class 1, exported to the VOTable
    small_run(tmp_path / "run", ids=ids)
    fits = Table.read(tmp_path / "run" / "classes.fits")
    assert [str(v) for v in fits["id_str"]] == ids
    vot = Table.read(tmp_path / "run" / "class_members.vot")
    assert "Þór-α" in [str(v) for v in vot["id_str"]]
    explored = export_table(RunData(tmp_path / "run"), np.arange(5), "fits")  # the explorer's
    assert [str(v) for v in Table.read(io.BytesIO(explored), format="fits")["id_str"]] == ids[:5]


def test_an_out_inside_a_symlink_loop_is_one_line(tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    small_run(tmp_path / "run")
    assert (
        main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "a" / "report"), "--quiet"])
        == 2
    )
    assert "loop of symbolic links" in one_line_error(capsys)


# --- a full disk: one line naming the output and the cause, nothing left behind ---------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".rg-"))


def _search_on_a_full_disk(planted, tmp_path, capsys) -> str:
    """A search whose writes fail (the test patches how): its one error line, after
    checking that nothing was left beside the input."""
    planted.iloc[:300].to_parquet(tmp_path / "reps.parquet")
    assert (
        main(
            [
                "search",
                str(tmp_path / "reps.parquet"),
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                "--min-samples",
                "5",
                "--stability-seeds",
                "0",
            ]
        )
        == 1
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reps.parquet"]
    return one_line_error(capsys)


def test_a_full_disk_during_a_search_is_one_line(planted, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("raregal.method.run.write_exports", _disk_full)
    assert _search_on_a_full_disk(planted, tmp_path, capsys) == (
        f"raregal: error: no space left on device writing {tmp_path / 'run'}"
    )


def test_a_library_that_rewraps_the_full_disk_is_one_line_too(
    planted, tmp_path, monkeypatch, capsys
):
    """A library may re-raise the system's ENOSPC as an OSError of its own, without an
    errno, the system's error chained to it."""

    def rewrapped(*args, **kwargs):
        try:
            _disk_full()
        except OSError as exc:
            raise OSError(f"Not enough space on disk: requested 89094, available 0. {exc}") from exc

    monkeypatch.setattr("raregal.method.run.write_exports", rewrapped)
    assert _search_on_a_full_disk(planted, tmp_path, capsys) == (
        f"raregal: error: no space left on device writing {tmp_path / 'run'}"
    )


def test_astropys_full_disk_in_words_is_one_line(planted, tmp_path, monkeypatch, capsys):
    """astropy's FITS writer says a full disk in words, errno lost ("Not enough space on
    disk: requested 89094, available 0. … 23622 requested and 3712 written": the
    campaign's 200 kB tmpfs)."""
    from astropy.table import Table

    def full(*args, **kwargs):
        raise OSError(
            "Not enough space on disk: requested 89094, available 0. "
            "23622 requested and 3712 written"
        )

    monkeypatch.setattr(Table, "write", full)
    assert _search_on_a_full_disk(planted, tmp_path, capsys) == (
        f"raregal: error: {tmp_path / 'run' / 'classes.fits'}: {os.strerror(errno.ENOSPC)}"
    )


def test_a_full_disk_during_a_report_names_the_file(tmp_path, monkeypatch, capsys):
    small_run(tmp_path / "run")
    write_text = Path.write_text

    def full_for_the_page(file, *args, **kwargs):
        if file.name == "index.html":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return write_text(file, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_for_the_page)
    assert main(["report", str(tmp_path / "run"), "--quiet"]) == 1
    report = tmp_path / "run" / "report"
    assert one_line_error(capsys) == (
        f"raregal: error: {report / 'index.html'}: No space left on device"
    )
    assert not report.exists() and _temporaries(tmp_path / "run") == []


def test_a_full_disk_during_synthetic_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _disk_full)
    table = tmp_path / "table.parquet"
    assert main(["synthetic", str(table), "--rows", "2000", "--quiet"]) == 1
    assert one_line_error(capsys) == f"raregal: error: no space left on device writing {table}"
    assert list(tmp_path.iterdir()) == []


# --- a target that cannot be renamed: a mount point (docker -v) --------------------------


def _a_mount_point(monkeypatch, folder: Path) -> None:
    """Make ``folder`` behave as a mount point: renaming it is EBUSY, renaming
    anything across its edge EXDEV (then shutil.move copies)."""
    rename = os.rename

    def refuse(source, destination, *args, **kwargs):
        if Path(source) == folder:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(source))
        if (folder in Path(source).parents) != (folder in Path(destination).parents):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(source))
        return rename(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "rename", refuse)


def _search(table: Path, out: Path, *more) -> int:
    return main(
        [
            "search",
            str(table),
            "--out",
            str(out),
            "--quiet",
            "--min-samples",
            "5",
            "--stability-seeds",
            "0",
            "--seed",
            "0",
            *more,
        ]
    )


def test_a_mount_point_as_out_is_written_in_place(planted, tmp_path, monkeypatch, capsys):
    planted.iloc[:300].to_parquet(tmp_path / "reps.parquet")
    assert _search(tmp_path / "reps.parquet", tmp_path / "expected") == 0
    mount = tmp_path / "mount"
    mount.mkdir()
    _a_mount_point(monkeypatch, mount)
    assert _search(tmp_path / "reps.parquet", mount) == 0
    expected = {p.name for p in (tmp_path / "expected").iterdir()}
    assert {p.name for p in mount.iterdir()} == expected
    assert (mount / "classes.csv").read_bytes() == (
        tmp_path / "expected" / "classes.csv"
    ).read_bytes()
    assert output.read_marker(mount)["kind"] == "search"
    assert _temporaries(tmp_path) == []

    (mount / "classes.csv").write_text("the old run's")  # replaced, not merged
    TagStore(mount).add("galaxy", "synth_0000001", "interesting", "keep me")
    assert _search(tmp_path / "reps.parquet", mount, "--overwrite") == 0
    assert {p.name for p in mount.iterdir()} == expected | {"explore-tags.sqlite"}
    assert (mount / "classes.csv").read_bytes() == (
        tmp_path / "expected" / "classes.csv"
    ).read_bytes()
    assert [t["note"] for t in TagStore(mount).list()] == ["keep me"]
    assert _temporaries(tmp_path) == []


def test_a_mount_point_that_fills_up_keeps_the_finished_result(
    planted, tmp_path, monkeypatch, capsys
):
    planted.iloc[:300].to_parquet(tmp_path / "reps.parquet")
    mount = tmp_path / "mount"
    mount.mkdir()
    _a_mount_point(monkeypatch, mount)
    monkeypatch.setattr(shutil, "move", _disk_full)
    assert _search(tmp_path / "reps.parquet", mount) == 2
    err = one_line_error(capsys)
    kept = tmp_path / f"mount.kept-{os.getpid()}"
    assert f"the finished result is kept in {kept}" in err
    assert "No space left on device" in err
    assert output.read_marker(kept)["kind"] == "search" and (kept / "classes.csv").is_file()


def test_an_in_place_command_overwrites_a_mount_point_in_place(tmp_path, monkeypatch):
    out = tmp_path / "embedded"
    output.prepare(out, kind="embed", in_place=True).make_dir()
    (out / "shards").mkdir()
    (out / "shards" / "part-00000.parquet").write_text("old shard")
    TagStore(out).add("galaxy", "a", "note", "mine")
    _a_mount_point(monkeypatch, out)
    target = output.prepare(out, kind="embed", overwrite=True, in_place=True)
    target.make_dir()
    target.release()
    assert sorted(p.name for p in out.iterdir()) == [".raregal-output.json", "explore-tags.sqlite"]


# --- the user's files in a replaced folder: carried over, and said so --------------------


def test_search_overwrite_keeps_the_explorer_tags(planted, tmp_path, capsys):
    planted.iloc[:300].to_parquet(tmp_path / "reps.parquet")
    run = tmp_path / "run"
    assert _search(tmp_path / "reps.parquet", run) == 0
    TagStore(run).add("class", "0", "interesting", "a ring?")
    capsys.readouterr()
    assert _search(tmp_path / "reps.parquet", run, "--overwrite") == 0
    assert "kept your explorer tags (explore-tags.sqlite)" in capsys.readouterr().err
    assert [(t["target"], t["note"]) for t in TagStore(run).list()] == [("0", "a ring?")]


def test_a_demo_overwrite_keeps_the_tags_of_its_run(tmp_path, capsys):
    """The demo's steps as raregal demo --overwrite takes them: the demo folder is
    replaced empty (Target.make_dir), then its run (atomic_dir)."""
    demo = tmp_path / "demo"
    output.prepare(demo, kind="demo", in_place=True).make_dir()
    small_run(demo / "run")
    TagStore(demo / "run").add("galaxy", "g001", "artifact", "satellite trail")
    target = output.prepare(demo, kind="demo", overwrite=True, in_place=True)
    target.make_dir()
    assert "kept your explorer tags (run/explore-tags.sqlite)" in capsys.readouterr().err
    assert sorted(p.name for p in (demo / "run").iterdir()) == [
        ".raregal-output.json",
        "explore-tags.sqlite",
    ]
    small_run_again = output.prepare(demo / "run", kind="search", overwrite=True)
    with output.atomic_dir(small_run_again) as tmp:
        (tmp / "classes.csv").write_text("new run")
    target.release()
    assert [t["note"] for t in TagStore(demo / "run").list()] == ["satellite trail"]


def test_tags_in_the_leftover_of_a_killed_overwrite_are_carried(tmp_path):
    out = tmp_path / "embedded"
    output.prepare(out, kind="embed", in_place=True).make_dir()
    TagStore(out).add("galaxy", "a", "note", "mine")
    dead = _dead_pid()
    out.rename(tmp_path / f".rg-{output._key(out.resolve())}-{dead}.del")  # killed here
    out.mkdir()
    output.prepare(out, kind="embed", in_place=True).release()
    assert [t["note"] for t in TagStore(out).list()] == ["mine"]
    assert _temporaries(tmp_path) == []


# --- temporaries of dead commands: cleaned by any later command in the same parent --------


def _dead_pid() -> str:
    return subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_later_command_in_the_parent_cleans_dead_commands_temporaries(tmp_path, capsys):
    finished = _old_evaluation(tmp_path)
    _kill_during("swap", finished)  # its .new (complete), .old and .lock are left
    dead = _dead_pid()
    stale = tmp_path / f".rg-{output._key(tmp_path / 'other')}-{dead}.new"
    stale.mkdir()
    (stale / "half.parquet").write_text("half")
    stale_lock = tmp_path / f".rg-{output._key(tmp_path / 'other')}.lock"
    stale_lock.write_text(f"{dead} {socket.gethostname()}\n")
    live = tmp_path / f".rg-{output._key(tmp_path / 'third')}-{os.getppid()}.new"
    live.mkdir()
    users = tmp_path / ".rg-notes.txt"  # not raregal's: never touched
    users.write_text("mine")
    capsys.readouterr()

    small_run(tmp_path / "run")  # another command, writing a sibling folder

    assert "finished the replacement" in capsys.readouterr().err
    assert (finished / "result.txt").read_text() == "new"
    assert _temporaries(tmp_path) == [live.name, users.name]


def test_a_single_file_write_cleans_them_too(tmp_path):
    """raregal synthetic (and rank) write one file, not a folder: they clean the parent
    as well (the campaign's kill -9 of a search, then synthetic beside it)."""
    dead = _dead_pid()
    stale = tmp_path / f".rg-{output._key(tmp_path / 'run')}-{dead}.new"
    stale.mkdir()
    (stale / "half.parquet").write_text("half")
    (tmp_path / f".rg-{output._key(tmp_path / 'run')}.lock").write_text(
        f"{dead} {socket.gethostname()}\n"
    )
    assert (
        main(["synthetic", str(tmp_path / "t.parquet"), "--rows", "2000", "--dim", "4", "--quiet"])
        == 0
    )
    assert _temporaries(tmp_path) == []


def test_a_result_left_beside_a_mount_point_is_moved_into_it(tmp_path, monkeypatch, capsys):
    """Before this fix the finished result stayed in a hidden .new folder beside the
    mount point (EBUSY), which the next command deleted; now it is moved in."""
    mount = tmp_path / "mount"
    mount.mkdir()
    small_run(tmp_path / "finished")
    left = tmp_path / f".rg-{output._key(mount)}-{_dead_pid()}.new"
    (tmp_path / "finished").rename(left)
    marker = json.loads((left / output.MARKER).read_text())
    del marker["name"]  # as an older raregal wrote it
    (left / output.MARKER).write_text(json.dumps(marker))
    _a_mount_point(monkeypatch, mount)
    small_run(tmp_path / "run")  # any later command in the parent
    assert "finished the replacement" in capsys.readouterr().err
    assert (mount / "classes.parquet").is_file() and output.read_marker(mount)
    assert _temporaries(tmp_path) == []
