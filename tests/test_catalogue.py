"""Reading every input layout, finding columns, and refusing bad input clearly."""

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from raregal.core.errors import InputError
from raregal.io.catalogue import join_predictions, load_representations, read_table


@pytest.fixture
def small(planted):
    return planted.iloc[:200].reset_index(drop=True)


def _check(reps, table, id_column="id_str"):
    assert reps.id_column == id_column
    assert reps.features.shape == (len(table), 16)
    assert reps.features.dtype == np.float32
    assert list(reps.ids) == [str(v) for v in table[id_column]]
    np.testing.assert_allclose(
        reps.features, table.filter(like="feat_").to_numpy(), rtol=1e-6, atol=1e-6
    )


def test_parquet_csv_and_tsv(small, tmp_path):
    small.to_parquet(tmp_path / "r.parquet")
    small.to_csv(tmp_path / "r.csv")  # with pandas' unnamed index column, as users' files
    small.to_csv(tmp_path / "r.tsv", sep="\t", index=False)
    for name in ("r.parquet", "r.csv", "r.tsv"):
        reps = load_representations(tmp_path / name)
        _check(reps, small)
        assert "planted" in reps.columns and "feat_0" not in reps.columns


def test_fits_table_with_scalar_and_vector_columns(small, tmp_path):
    scalar = Table.from_pandas(small)
    scalar["id_str"] = small["id_str"].to_numpy().astype("U")  # FITS holds fixed-width text
    scalar.write(tmp_path / "scalar.fits")
    _check(load_representations(tmp_path / "scalar.fits"), small)
    vector = Table(
        {
            "id_str": small["id_str"].to_numpy().astype("U"),
            "feat": small.filter(like="feat_").to_numpy(),
        }
    )
    vector.write(tmp_path / "vector.fits")
    _check(load_representations(tmp_path / "vector.fits"), small)


@pytest.mark.parametrize("samples", [None, 5])
def test_zoobot_hdf5_layout(small, tmp_path, samples):
    values = small.filter(like="feat_").to_numpy(np.float32)
    stored = (
        values
        if samples is None
        else (values[:, :, None] + np.linspace(-1, 1, samples)[None, None, :])
    )  # mean is values
    with h5py.File(tmp_path / "p.hdf5", "w") as f:
        f["predictions"] = stored
        f["id_str"] = small["id_str"].to_numpy().astype("S")
        f["label_cols"] = np.array([f"feat_{i}" for i in range(16)], dtype="S")
    _check(load_representations(tmp_path / "p.hdf5"), small)


def test_npy_with_ids_as_text_or_table(small, tmp_path):
    np.save(tmp_path / "r.npy", small.filter(like="feat_").to_numpy(np.float32))
    (tmp_path / "ids.txt").write_text("\n".join(small["id_str"]) + "\n")
    _check(load_representations(tmp_path / "r.npy", ids=tmp_path / "ids.txt"), small)
    small[["id_str"]].to_csv(tmp_path / "ids.csv", index=False)
    _check(load_representations(tmp_path / "r.npy", ids=tmp_path / "ids.csv"), small)
    with pytest.raises(InputError, match="--ids"):
        load_representations(tmp_path / "r.npy")


def test_integer_ids_and_explicit_columns(small, tmp_path):
    table = small.rename(columns={"id_str": "GalaxyID"})
    table["GalaxyID"] = np.arange(100008, 100208)
    table = table.rename(columns={f"feat_{i}": f"emb_{i}" for i in range(16)})
    table.to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(InputError, match="no feature columns"):
        load_representations(tmp_path / "r.csv")
    reps = load_representations(tmp_path / "r.csv", features="emb_*")
    assert reps.id_column == "GalaxyID" and reps.ids[0] == "100008"
    # natural order: emb_2 before emb_10
    assert reps.feature_columns[:3] == ["emb_0", "emb_1", "emb_2"]
    assert reps.feature_columns[-1] == "emb_15"


def test_pca_feature_family_is_found(small, tmp_path):
    table = small.rename(columns={f"feat_{i}": f"feat_pca_{i}" for i in range(16)})
    table.to_parquet(tmp_path / "pca.parquet")
    assert load_representations(tmp_path / "pca.parquet").feature_columns[0] == "feat_pca_0"


def test_real_catalogue_quirks(data_dir):
    """Galaxy Zoo 2 labels: an unnamed index column and integer GalaxyIDs."""
    reps = load_representations(data_dir / "gz-kaggle-5000" / "labels.csv.gz", features="Class*")
    assert reps.id_column == "GalaxyID"
    assert reps.features.shape == (5000, 17)
    assert reps.ids[0] == "100008"
    assert reps.feature_columns[:3] == ["Class1.1", "Class1.2", "Class1.3"]


# --- bad input ----------------------------------------------------------------------


def _write(table, tmp_path, name="bad.parquet"):
    path = tmp_path / name
    table.to_parquet(path) if name.endswith(".parquet") else table.to_csv(path, index=False)
    return path


def test_missing_id_column(small, tmp_path):
    path = _write(small.rename(columns={"id_str": "name"}), tmp_path)
    with pytest.raises(InputError, match=r"bad.parquet: no id column; looked for id_str"):
        load_representations(path)
    with pytest.raises(InputError, match="no id column 'nope'"):
        load_representations(path, id_column="nope")
    assert load_representations(path, id_column="name").id_column == "name"


def test_ambiguous_id_columns(small, tmp_path):
    same = small.assign(dr8_id=small["id_str"])
    assert load_representations(_write(same, tmp_path)).id_column == "id_str"
    differ = small.assign(dr8_id=small["id_str"])
    differ.loc[:6, "dr8_id"] = [f"x{i}" for i in range(7)]  # still unique
    with pytest.raises(
        InputError,
        match="ambiguous id column: 'id_str' and 'dr8_id' are both unique and differ on 7 rows",
    ):
        load_representations(_write(differ, tmp_path))
    # a column that repeats is not an id: the other one is used, and the log says why
    repeats = small.assign(dr8_id="x")
    assert load_representations(_write(repeats, tmp_path)).id_column == "id_str"


def test_ambiguous_feature_families(small, tmp_path):
    table = small.assign(feat_pca_0=1.0, feat_pca_1=2.0)
    with pytest.raises(InputError, match=r"feat_\* \(16 columns\), feat_pca_\* \(2 columns\)"):
        load_representations(_write(table, tmp_path))


def test_nan_and_inf_features_are_counted(small, tmp_path):
    table = small.copy()
    table.loc[[3, 5], "feat_0"] = np.nan
    table.loc[5, "feat_1"] = np.inf  # same row: counted once
    table.loc[9, "feat_2"] = -np.inf
    with pytest.raises(
        InputError,
        match="3 rows have NaN or infinite features "
        r"\(first id 'synth_0000003'\)",
    ):
        load_representations(_write(table, tmp_path))


def test_duplicate_ids(small, tmp_path):
    table = small.copy()
    table.loc[[1, 2, 3], "id_str"] = "dup"
    with pytest.raises(InputError, match="3 rows share an id"):
        load_representations(_write(table, tmp_path))


def test_non_numeric_features(small, tmp_path):
    table = small.copy()
    table["feat_3"] = table["feat_3"].astype(str)
    table.loc[0, "feat_3"] = "oops"
    with pytest.raises(InputError, match="1 feature columns are not numeric \\(first: 'feat_3'"):
        load_representations(_write(table, tmp_path, "bad.csv"))


def test_unreadable_and_unknown_files(tmp_path):
    (tmp_path / "junk.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(InputError, match="junk.parquet: cannot read as parquet"):
        read_table(tmp_path / "junk.parquet")
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    (tmp_path / "x.xlsx").write_bytes(b"")
    with pytest.raises(InputError, match="unknown file type"):
        read_table(tmp_path / "x.xlsx")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros((3, 2))
    with pytest.raises(InputError, match="no 'predictions' dataset"):
        read_table(tmp_path / "other.h5")


def test_empty_table(small, tmp_path):
    with pytest.raises(InputError, match="no rows"):
        load_representations(_write(small.iloc[:0], tmp_path))


# --- predictions --------------------------------------------------------------------


def test_join_predictions_on_id_in_any_order(small, tmp_path):
    features = small[["id_str"] + [f"feat_{i}" for i in range(16)]]
    fractions = small.drop(columns=[f"feat_{i}" for i in range(16)])
    shuffled = fractions.sample(frac=1, random_state=0)
    extra = pd.DataFrame({"id_str": ["elsewhere_1", "elsewhere_2"]})
    _write(features, tmp_path, "r.parquet")
    pd.concat([shuffled, extra]).to_csv(tmp_path / "p.csv", index=False)
    reps = load_representations(tmp_path / "r.parquet")
    notes = join_predictions(reps, tmp_path / "p.csv")
    assert any("2 prediction rows have no representation" in n for n in notes)
    col = "smooth-or-featured_smooth_fraction"
    np.testing.assert_allclose(reps.columns[col], small[col])


def test_predictions_missing_or_duplicated(small, tmp_path):
    _write(small, tmp_path, "r.parquet")
    reps = load_representations(tmp_path / "r.parquet")
    small.iloc[:190].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="10 of 200 representation ids have no prediction row"):
        join_predictions(reps, tmp_path / "short.csv")
    pd.concat([small, small.iloc[:4]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(InputError, match="8 prediction rows share an id"):
        join_predictions(reps, tmp_path / "dup.csv")


# --- odd files: one line naming the file and the real cause (issue 39) ------------------


def _with_names(table: pd.DataFrame, names, path):
    """``table`` written with the column ``names`` as given, repeats included."""
    if path.suffix == ".csv":
        body = table.to_csv(index=False, header=False)
        path.write_text(",".join(names) + "\n" + body)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(
            pa.Table.from_arrays([pa.array(table[c]) for c in table.columns], names=names), path
        )
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("repeated", ["feat_0", "id_str"])
def test_two_columns_of_one_name_are_refused(small, tmp_path, suffix, repeated):
    # the copy replaces feat_1 (or, for id_str, a column of other unique ids)
    table = small.assign(planted=small["id_str"] + "x") if repeated == "id_str" else small
    names = [
        repeated if c == {"feat_0": "feat_1", "id_str": "planted"}[repeated] else c
        for c in table.columns
    ]
    path = _with_names(table, names, tmp_path / f"dup{suffix}")
    with pytest.raises(
        InputError,
        match=f"dup{suffix}: 2 columns are named '{repeated}'; column names must be unique",
    ):
        load_representations(path)
    with pytest.raises(InputError, match=f"2 columns are named '{repeated}'"):
        read_table(path)


def test_blank_header_cells_are_not_one_name(small, tmp_path):
    # two unnamed columns (two index columns): pandas names them Unnamed: 0 and
    # Unnamed: 1, as before
    lines = small.to_csv().splitlines()
    (tmp_path / "twice.csv").write_text(
        "\n".join(f"{'' if i == 0 else i - 1},{line}" for i, line in enumerate(lines)) + "\n"
    )
    assert (tmp_path / "twice.csv").read_text().startswith(",,id_str,")
    assert load_representations(tmp_path / "twice.csv").features.shape == (200, 16)


def test_a_repeated_column_is_one_line_on_the_command_line(small, tmp_path, capsys):
    from raregal.cli import main

    names = ["feat_0" if c == "feat_1" else c for c in small.columns]
    path = _with_names(small, names, tmp_path / "dup.parquet")
    assert main(["search", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dup.parquet: 2 columns are named 'feat_0'" in err
    assert not (tmp_path / "run").exists()


def test_a_semicolon_csv_is_named_as_such(small, tmp_path):
    small.to_csv(tmp_path / "semi.csv", sep=";", index=False)
    with pytest.raises(
        InputError,
        match=r"semi.csv: one column only \('id_str;planted;"
        r"feat_0.*is it comma-separated\?",
    ):
        load_representations(tmp_path / "semi.csv")


def test_a_fifo_is_not_a_missing_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(
        InputError,
        match=r"pipe.csv: a named pipe \(FIFO\), not a regular "
        "file",
    ):
        load_representations(tmp_path / "pipe.csv")


def test_hdf5_label_cols_of_another_length_are_refused(small, tmp_path):
    with h5py.File(tmp_path / "p.hdf5", "w") as f:
        f["predictions"] = small.filter(like="feat_").to_numpy(np.float32)
        f["id_str"] = small["id_str"].to_numpy().astype("S")
        f["label_cols"] = np.array([f"feat_{i}" for i in range(15)], dtype="S")
    with pytest.raises(
        InputError, match="p.hdf5: 'label_cols' names 15 columns but 'predictions' has 16"
    ):
        read_table(tmp_path / "p.hdf5")
