"""Finished work is never lost at the last step (issue 39): exports of any id, a
target that cannot be renamed (a mount point), a full disk, an ``--out`` in a
symlink loop, temporaries of dead commands, the user's files in a replaced folder,
and a broken shard of an interrupted embed."""

import numpy as np
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
