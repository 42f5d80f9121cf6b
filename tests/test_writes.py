"""Finished work is never lost at the last step (issue 39): exports of any id, a
target that cannot be renamed (a mount point), a full disk, an ``--out`` in a
symlink loop, temporaries of dead commands, the user's files in a replaced folder,
and a broken shard of an interrupted embed."""

import errno
import os
from pathlib import Path

import pandas as pd
from astropy.table import Table

from raregal.cli import main

from .run_folders import small_run
from .test_output_policy import one_line_error


def test_non_ascii_ids_are_exported_to_fits_and_read_back(tmp_path):
    ids = [f"g{i:03d}" for i in range(60)]
    ids[3], ids[12] = "NGC 4414²", "Þór-α"  # 12 is in class 1, exported to the VOTable
    small_run(tmp_path / "run", ids=ids)
    fits = Table.read(tmp_path / "run" / "classes.fits")
    assert [str(v) for v in fits["id_str"]] == ids
    vot = Table.read(tmp_path / "run" / "class_members.vot")
    assert "Þór-α" in [str(v) for v in vot["id_str"]]


def test_an_out_inside_a_symlink_loop_is_one_line(tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    small_run(tmp_path / "run")
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "a" / "report"),
                 "--quiet"]) == 2
    assert "loop of symbolic links" in one_line_error(capsys)


# --- a full disk: one line naming the output and the cause, nothing left behind ---------

def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".rg-"))


def test_a_full_disk_during_a_search_is_one_line(planted, tmp_path, monkeypatch, capsys):
    planted.iloc[:300].to_parquet(tmp_path / "reps.parquet")
    monkeypatch.setattr("raregal.run.write_exports", _disk_full)
    out = tmp_path / "run"
    assert main(["search", str(tmp_path / "reps.parquet"), "--out", str(out), "--quiet",
                 "--min-samples", "5", "--stability-seeds", "0"]) == 1
    assert one_line_error(capsys) == f"raregal: error: no space left on device writing {out}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reps.parquet"]


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
    assert one_line_error(capsys) == (f"raregal: error: {report / 'index.html'}: "
                                      f"No space left on device")
    assert not report.exists() and _temporaries(tmp_path / "run") == []


def test_a_full_disk_during_synthetic_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _disk_full)
    table = tmp_path / "table.parquet"
    assert main(["synthetic", str(table), "--rows", "2000", "--quiet"]) == 1
    assert one_line_error(capsys) == f"raregal: error: no space left on device writing {table}"
    assert list(tmp_path.iterdir()) == []
