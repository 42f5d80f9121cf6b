"""The published layouts as users have them (issue 15), each built here column for column:
GZ DESI's friendly table, Zoobot's prediction HDF5 (several chunks) and CSV, a Euclid
Q1-style catalogue, GZ DESI's external catalogue. Each test checks the id column chosen
and the counts each cut removes, worked out by hand from the values written."""

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.table import Table

from raregal.cli import main
from raregal.io.catalogue import concentrations_to_fractions, open_inputs
from raregal.io.export import neighbours_table, viewer_layer, without_self
from raregal.io.schemas import GZ_DESI
from raregal.method.select import apply_cuts, paper_cuts

DIM = 8
CUT_COLUMNS = [cut.column for cut in paper_cuts()]


def _cuts(inputs, cuts=None, **kwargs):
    cuts = paper_cuts() if cuts is None else cuts
    return apply_cuts(
        inputs.selection_columns, cuts, fractions_given=inputs.has_fractions, **kwargs
    )


def _removed(selection):
    return {step.name: step.removed for step in selection.steps}


def _representations(ids, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(
        rng.normal(size=(len(ids), DIM)).astype(np.float32),
        columns=[f"feat_{i}" for i in range(DIM)],
    )
    table.insert(0, "id_str", list(ids))
    return table


# --- GZ DESI friendly table ---------------------------------------------------------


def _friendly(n_bricks=4, per_brick=25) -> pd.DataFrame:
    """The friendly table's columns and dtypes (dr8_id = {brickid}_{objid}; objid
    repeats across bricks), 34 float32 fractions masked as GZ DESI does."""
    brick = np.repeat(np.arange(330_000, 330_000 + n_bricks), per_brick).astype(np.int32)
    obj = np.tile(np.arange(per_brick), n_bricks).astype(np.int32)
    n = len(brick)
    table = pd.DataFrame(
        {
            "dr8_id": [f"{b}_{o}" for b, o in zip(brick, obj)],
            "ra": np.linspace(150, 160, n),
            "dec": np.linspace(0, 10, n),
            "brickid": brick,
            "objid": obj,
        }
    )
    for column in GZ_DESI.fraction_columns:
        table[column] = np.float32(0.1)
    # smooth, featured, artifact, edge-on yes, in a cycle of five:
    # 0 featureless (smooth 0.6); 1 edge-on (0.4); 2 kept; 3 artifact (0.35);
    # 4 kept, edge-on masked (featured < 0.5)
    pattern = [
        (0.6, 0.3, 0.1, np.nan),
        (0.2, 0.7, 0.1, 0.4),
        (0.2, 0.7, 0.1, 0.1),
        (0.1, 0.55, 0.35, 0.2),
        (0.45, 0.45, 0.1, np.nan),
    ]
    values = np.array([pattern[i % 5] for i in range(n)], dtype=np.float32)
    for j, column in enumerate(
        [
            "smooth-or-featured_smooth_fraction",
            "smooth-or-featured_featured-or-disk_fraction",
            "smooth-or-featured_artifact_fraction",
            "disk-edge-on_yes_fraction",
        ]
    ):
        table[column] = values[:, j]
    table["disk-edge-on_no_fraction"] = np.where(
        np.isnan(values[:, 3]), np.nan, 1 - values[:, 3]
    ).astype(np.float32)
    table["hdf5_loc"] = [f"/dr8/{b}/{b}_{o}.hdf5" for b, o in zip(brick, obj)]
    table["__index_level_0__"] = np.arange(n)
    return table


def test_friendly_table_resolves_to_dr8_id_and_cuts_count(tmp_path):
    friendly = _friendly()
    friendly.to_parquet(tmp_path / "friendly.parquet", index=False)
    reps = _representations(friendly["dr8_id"][::-1])  # its own order
    reps.to_parquet(tmp_path / "reps.parquet", index=False)
    inputs = open_inputs(
        tmp_path / "reps.parquet", predictions=tmp_path / "friendly.parquet", want=CUT_COLUMNS
    )
    assert inputs.id_choices["representations"]["column"] == "id_str"
    choice = inputs.id_choices["predictions"]
    assert choice["column"] == "dr8_id"
    assert "'objid' numbers objects within a 'brickid'" in choice["reason"]
    selection = _cuts(inputs)
    # 100 rows, 20 of each pattern: 20 featureless, 20 edge-on, 20 artifact; the
    # masked edge-on of pattern 4 is kept by the default NaN rule
    assert _removed(selection) == {"featureless": 20, "edge-on": 20, "artifact": 20}
    kept = inputs.load(selection.mask)
    assert len(kept.ids) == 40 and kept.features.shape == (40, DIM)
    # the kept rows are the right ones, with their own features and fractions
    by_id = reps.set_index("id_str")
    np.testing.assert_array_equal(kept.features, by_id.loc[kept.ids].to_numpy(np.float32))
    pattern = {f"{b}_{o}": i % 5 for i, (b, o) in enumerate(zip(friendly.brickid, friendly.objid))}
    assert {pattern[i] for i in kept.ids} == {2, 4}
    assert {"ra", "dec", "hdf5_loc"} <= set(kept.columns.columns)


def test_objid_is_never_the_id_even_when_unique(tmp_path):
    friendly = _friendly(n_bricks=1, per_brick=30)  # one brick: objid happens to be unique
    friendly.to_parquet(tmp_path / "friendly.parquet", index=False)
    inputs = open_inputs(tmp_path / "friendly.parquet", features="*_fraction")
    assert inputs.id_choice.column == "dr8_id"


# --- Zoobot predictions: concentrations (galaxy, answer, pass) -------------------------

LABELS = [f"{q.name}-dr8_{a}" for q in GZ_DESI.questions for a in q.answers]
PASSES = 5


def _concentrations(n_each=6):
    """Five patterns of smooth-or-featured and disk-edge-on concentrations, six
    galaxies each, every other answer at 2.0:

    A (6, 2, 2): smooth 0.6, featureless. B (2, 6, 2), edge-on (1, 3): kept.
    C (2, 6, 2), edge-on (3, 1): edge-on 0.75. D (1, 5, 4): artifact 0.4.
    E passes alternate (8, 1, 1) and (1, 8, 1): the mean over passes of the smooth
    fraction is (3 × 0.8 + 2 × 0.1) / 5 = 0.52, featureless; the fraction of the mean
    concentrations, (5.2, 4.4, 1) → 0.49, would have kept it.
    """
    n = 5 * n_each
    values = np.full((n, len(LABELS), PASSES), 2.0, dtype=np.float32)
    sof = [
        LABELS.index(f"smooth-or-featured-dr8_{a}")
        for a in ("smooth", "featured-or-disk", "artifact")
    ]
    edge = [LABELS.index(f"disk-edge-on-dr8_{a}") for a in ("yes", "no")]
    for g in range(n):
        kind = "ABCDE"[g // n_each]
        values[g, edge, :] = np.array([3.0, 1.0] if kind == "C" else [1.0, 3.0])[:, None]
        if kind == "E":
            for p in range(PASSES):
                values[g, sof, p] = (8.0, 1.0, 1.0) if p % 2 == 0 else (1.0, 8.0, 1.0)
        else:
            values[g, sof, :] = np.array(
                {"A": (6, 2, 2), "B": (2, 6, 2), "C": (2, 6, 2), "D": (1, 5, 4)}[kind],
                dtype=np.float32,
            )[:, None]
    ids = [f"{g:06d}" for g in range(n)]  # leading zeros, as bytes in the HDF5
    return ids, values


EXPECTED = {"featureless": 12, "edge-on": 6, "artifact": 6}  # A + E, C, D; B kept


def _write_hdf5_chunks(folder, ids, values, chunks=3):
    paths = []
    for k, rows in enumerate(np.array_split(np.arange(len(ids)), chunks)):
        path = folder / f"predictions_{k}.hdf5"
        with h5py.File(path, "w") as f:
            f["predictions"] = values[rows]
            f["id_str"] = np.array([ids[r] for r in rows], dtype="S")
            f["label_cols"] = np.array(LABELS, dtype="S")
        paths.append(path)
    return paths


def test_fractions_are_the_mean_over_passes_of_each_question_share():
    ids, values = _concentrations()
    fractions = concentrations_to_fractions(values, LABELS)
    smooth = fractions["smooth-or-featured-dr8_smooth_fraction"]
    np.testing.assert_allclose(smooth[[0, 6, 18, 24]], [0.6, 0.2, 0.1, 0.52], rtol=1e-6)
    np.testing.assert_allclose(
        fractions["disk-edge-on-dr8_yes_fraction"][[6, 12]], [0.25, 0.75], rtol=1e-6
    )
    # each question's fractions sum to one, galaxy by galaxy
    for question in GZ_DESI.questions:
        total = sum(fractions[f"{question.name}-dr8_{a}_fraction"] for a in question.answers)
        np.testing.assert_allclose(total, 1.0, rtol=1e-5)


@pytest.mark.parametrize("as_glob", [False, True])
def test_zoobot_hdf5_chunks_as_predictions(tmp_path, as_glob):
    ids, values = _concentrations()
    paths = _write_hdf5_chunks(tmp_path, ids, values)
    _representations(ids[::-1]).to_csv(tmp_path / "reps.csv", index=False)
    predictions = str(tmp_path / "predictions_*.hdf5") if as_glob else paths
    inputs = open_inputs(tmp_path / "reps.csv", predictions=predictions, want=CUT_COLUMNS)
    assert inputs.id_choices["predictions"]["column"] == "id_str"
    assert inputs.id_choices["predictions"]["file"] == "predictions_0.hdf5 (+2)"
    selection = _cuts(inputs)
    assert _removed(selection) == EXPECTED
    kept = inputs.load(selection.mask)
    assert sorted(kept.ids) == [f"{g:06d}" for g in range(6, 12)]  # pattern B, zeros kept


def test_zoobot_csv_with_list_cells(tmp_path):
    ids, values = _concentrations()
    table = pd.DataFrame({"id_str": ids})
    for j, label in enumerate(LABELS):
        table[label] = [json.dumps(v.tolist()) for v in values[:, j, :]]
    table.to_csv(tmp_path / "predictions.csv", index=False)
    assert pd.read_csv(tmp_path / "predictions.csv")[LABELS[0]][0].startswith("[")
    _representations(ids).to_parquet(tmp_path / "reps.parquet", index=False)
    inputs = open_inputs(
        tmp_path / "reps.parquet", predictions=tmp_path / "predictions.csv", want=CUT_COLUMNS
    )
    assert _removed(_cuts(inputs)) == EXPECTED


# --- Euclid Q1 --------------------------------------------------------------------------


def test_euclid_positions_and_problem_answer(tmp_path):
    n = 40
    tile, obj = 102018211, -512345678 - np.arange(n)
    table = pd.DataFrame(
        {
            "release_name": "Q1_R1",
            "tile_index": tile,
            "object_id": obj,
            "id_str": [f"Q1_R1_{tile}_{o}" for o in obj],
            "right_ascension": np.linspace(52, 53, n),
            "declination": np.linspace(-29, -28, n),
        }
    )
    rng = np.random.default_rng(3)
    smooth = np.where(np.arange(n) % 4 == 0, 0.7, 0.2)  # 10 featureless
    problem = np.where(np.arange(n) % 4 == 1, 0.5, 0.1)  # 10 problem (= artifact)
    table["smooth-or-featured_smooth_fraction"] = smooth
    table["smooth-or-featured_featured-or-disk_fraction"] = 1 - smooth - problem
    table["smooth-or-featured_problem_fraction"] = problem
    table["smooth-or-featured_problem_dirichlet"] = problem * 50
    for i in range(DIM):
        table[f"feat_pca_{i}"] = rng.normal(size=n)
    table.to_parquet(tmp_path / "euclid.parquet", index=False)
    inputs = open_inputs(tmp_path / "euclid.parquet", want=CUT_COLUMNS)
    assert inputs.id_choice.column == "id_str"
    selection = _cuts(inputs, paper_cuts(edge_on=None))
    assert _removed(selection) == {"featureless": 10, "artifact": 10}
    assert selection.steps[1].column == "smooth-or-featured_problem_fraction"
    kept = inputs.load(selection.mask)
    assert "ra" in kept.columns and "dec" in kept.columns
    np.testing.assert_allclose(kept.columns["dec"], table["declination"][selection.mask])


# --- an external catalogue for --where ----------------------------------------------------


def test_external_catalogue_for_where(tmp_path):
    friendly = _friendly()
    friendly.to_parquet(tmp_path / "friendly.parquet", index=False)
    _representations(friendly["dr8_id"]).to_parquet(tmp_path / "reps.parquet", index=False)
    # GZ DESI's external catalogue: magnitudes and Petrosian radii keyed by dr8_id;
    # three galaxies have no row there
    n = len(friendly)
    external = pd.DataFrame(
        {
            "dr8_id": friendly["dr8_id"],
            "iauname": [f"J{i:06d}" for i in range(n)],
            "mag_r_desi": np.where(np.arange(n) % 2 == 0, 17.5, 19.5).astype(np.float32),
            "est_petro_th50": np.where(np.arange(n) % 10 == 3, 2.0, 5.0),
            "ra": -1.0,
        }
    )  # repeats a column: the friendly table's is kept
    external.iloc[3:].to_parquet(tmp_path / "external.parquet", index=False)
    where = ["mag_r_desi < 19.0 and est_petro_th50 > 3"]
    inputs = open_inputs(
        tmp_path / "reps.parquet",
        predictions=tmp_path / "friendly.parquet",
        catalogues=[tmp_path / "external.parquet"],
        want=CUT_COLUMNS,
    )
    # dr8_id and iauname are both unique; dr8_id holds the representations' ids
    choice = inputs.id_choices["catalogues"][0]
    assert choice["column"] == "dr8_id" and "'iauname' 0" in choice["reason"]
    assert any("3 representations have no row" in note for note in inputs.notes)
    from raregal.io.catalogue import where_names

    inputs.want(where_names(where, inputs.names))
    selection = _cuts(inputs, where=where)
    # after the cuts 40 are left (patterns 2 and 4: rows 2, 4, 7, 9, 12, ... ).
    left = [i for i in range(n) if i % 5 in (2, 4)]
    passes = [i for i in left if i >= 3 and i % 2 == 0 and i % 10 != 3]
    assert selection.steps[-1].removed == len(left) - len(passes)
    assert np.flatnonzero(selection.mask).tolist() == passes
    kept = inputs.load(selection.mask)
    np.testing.assert_allclose(kept.columns["ra"], friendly["ra"][passes])
    assert "mag_r_desi" in kept.columns and "iauname" not in kept.columns


# --- bad layouts: one line, exit 2 ----------------------------------------------------------


def _one_line_error(capsys, args):
    code = main(args + ["--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("raregal: error: ")
    return err


def test_two_unique_candidate_ids_that_differ(tmp_path, capsys):
    reps = _representations([f"g{i}" for i in range(50)])
    reps["dr8_id"] = [f"{330000 + i}_{i}" for i in range(50)]
    reps.to_parquet(tmp_path / "reps.parquet", index=False)
    err = _one_line_error(
        capsys, ["search", str(tmp_path / "reps.parquet"), "--out", str(tmp_path / "run")]
    )
    assert "'id_str' and 'dr8_id' are both unique and differ on 50 rows" in err
    assert "--id-col" in err and not (tmp_path / "run").exists()


def test_missing_cut_column_is_an_error_not_a_skip(tmp_path, capsys):
    ids, values = _concentrations()
    keep = [i for i, label in enumerate(LABELS) if not label.startswith("disk-edge-on")]
    with h5py.File(tmp_path / "p.hdf5", "w") as f:
        f["predictions"] = values[:, keep]
        f["id_str"] = np.array(ids, dtype="S")
        f["label_cols"] = np.array([LABELS[i] for i in keep], dtype="S")
    _representations(ids).to_parquet(tmp_path / "reps.parquet", index=False)
    args = [
        "search",
        str(tmp_path / "reps.parquet"),
        "--predictions",
        str(tmp_path / "p.hdf5"),
        "--out",
        str(tmp_path / "run"),
    ]
    err = _one_line_error(capsys, args)
    assert "no column 'disk-edge-on_yes_fraction' for the edge-on cut" in err
    assert "--edge-on-cut off" in err
    # a prediction table without any vote fraction is no reason to skip the cuts either
    pd.DataFrame({"id_str": ids, "score": 1.0}).to_csv(tmp_path / "other.csv", index=False)
    err = _one_line_error(capsys, args[:3] + [str(tmp_path / "other.csv")] + args[4:])
    assert "no column 'smooth-or-featured_smooth_fraction' for the featureless cut" in err


def test_concentrations_not_positive(tmp_path, capsys):
    ids, values = _concentrations()
    values[[4, 9], 0, 2] = 0.0
    values[11, 5, 0] = -1.0
    paths = _write_hdf5_chunks(tmp_path, ids, values, chunks=1)
    _representations(ids).to_parquet(tmp_path / "reps.parquet", index=False)
    err = _one_line_error(
        capsys,
        [
            "search",
            str(tmp_path / "reps.parquet"),
            "--predictions",
            str(paths[0]),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert "predictions_0.hdf5: 3 galaxies have concentrations <= 0 or not finite" in err


# --- ids as strings, end to end -----------------------------------------------------------


def test_leading_zero_ids_survive_csv_to_run_and_the_exports(planted, tmp_path):
    """`000003` stays `000003` from a CSV to every output; `7` and `007` are two
    galaxies. The run also writes FITS and VOTable with units, and the neighbour graph."""
    table = planted.iloc[:300].reset_index(drop=True).copy()
    table["id_str"] = [f"{i:06d}" for i in range(300)]
    table.loc[7, "id_str"], table.loc[8, "id_str"] = "7", "007"
    table["ra"], table["dec"] = np.linspace(150, 151, 300), np.linspace(2, 3, 300)
    table.to_csv(tmp_path / "reps.csv", index=False)
    out = tmp_path / "run"
    assert (
        main(
            [
                "search",
                str(tmp_path / "reps.csv"),
                "--out",
                str(out),
                "--quiet",
                "--min-samples",
                "5",
                "--n-neighbors",
                "10",
                "--edge-on-cut",
                "off",
                "--featureless-cut",
                "off",
                "--artifact-cut",
                "off",
                "--seed",
                "0",
                "--stability-seeds",
                "0",
            ]
        )
        == 0
    )
    classes = pd.read_parquet(out / "classes.parquet")
    assert classes["id_str"].tolist() == table["id_str"].tolist()
    assert {"000003", "7", "007"} <= set(classes["id_str"])
    run = json.loads((out / "run.json").read_text())
    assert run["id_columns"]["representations"]["column"] == "id_str"

    members = classes[classes["class"] >= 0].reset_index(drop=True)
    assert len(members) > 0
    fits = Table.read(out / "classes.fits")
    vot = Table.read(out / "class_members.vot")
    for read_back, expected in ((fits, classes), (vot, members)):
        assert read_back["id_str"].tolist() == expected["id_str"].tolist()
        assert str(read_back["ra"].unit) == "deg" and str(read_back["dec"].unit) == "deg"
        np.testing.assert_allclose(read_back["ra"], expected["ra"])
        np.testing.assert_array_equal(read_back["class"], expected["class"])

    graph = pq.read_table(out / "neighbours.parquet").to_pandas()
    assert graph["id_str"].tolist() == classes["id_str"].tolist()
    rows = np.stack(graph["neighbour_rows"].to_numpy())
    dist = np.stack(graph["neighbour_distances"].to_numpy())
    assert rows.shape == (300, 9) and not (rows == np.arange(300)[:, None]).any()
    assert (np.diff(dist, axis=1) >= -1e-5).all()
    # the graph is the exact 10-nearest-neighbour graph of the features searched
    features = table.filter(like="feat_").to_numpy(np.float64)
    d = np.linalg.norm(features[:, None] - features[None], axis=2)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :9], rtol=1e-4, atol=1e-4)
    assert graph["neighbour_ids"][0].tolist() == classes["id_str"].to_numpy()[rows[0]].tolist()


def test_neighbours_table_drops_the_galaxy_itself():
    indices = np.array([[0, 2, 1], [1, 0, 2], [0, 2, 1]])  # row 2 lost itself to a tie
    distances = np.array([[0, 1, 2], [0, 2, 3], [0, 0, 4]], dtype=np.float32)
    rows, dist = without_self(indices, distances)
    table = neighbours_table(np.array(["a", "b", "c"]), "id", rows, dist).to_pandas()
    assert [r.tolist() for r in table["neighbour_rows"]] == [[2, 1], [0, 2], [0, 1]]
    assert [r.tolist() for r in table["neighbour_ids"]] == [["c", "b"], ["a", "c"], ["a", "b"]]


def test_viewer_layer_by_sky_region():
    # M101 (north of Dec 32.375 and of the Galactic plane): BASS/MzLS, DR9;
    # M31 (Dec 41 but south of the plane), the north Galactic pole (Dec 27), and
    # Dec 32.375 itself: DECam, DR10
    ra = [210.80, 10.68, 192.86, 180.0]
    dec = [54.35, 41.27, 27.13, 32.375]
    assert viewer_layer(ra, dec).tolist() == ["ls-dr9", "ls-dr10", "ls-dr10", "ls-dr10"]


def test_cli_options_per_table(tmp_path, capsys):
    """--predictions takes a quoted glob; each table's id option names its own column."""
    friendly = _friendly()
    friendly.to_parquet(tmp_path / "friendly.parquet", index=False)
    _representations(friendly["dr8_id"]).to_parquet(tmp_path / "reps.parquet", index=False)
    base = ["search", str(tmp_path / "reps.parquet"), "--out", str(tmp_path / "run")]
    err = _one_line_error(capsys, base + ["--predictions", str(tmp_path / "chunk_*.hdf5")])
    assert "chunk_*.hdf5: no file matches" in err
    err = _one_line_error(
        capsys,
        base + ["--predictions", str(tmp_path / "friendly.parquet"), "--predictions-id-col", "dr8"],
    )
    assert "friendly.parquet: no id column 'dr8' (--predictions-id-col)" in err
    err = _one_line_error(
        capsys,
        base + ["--catalogue", str(tmp_path / "friendly.parquet"), "--catalogue-id-col", "objid"],
    )
    # objid repeats across the 4 bricks (every row): named explicitly, it is still refused
    assert (
        "friendly.parquet: 100 catalogue rows share an id with another row in column 'objid'" in err
    )
    assert not (tmp_path / "run").exists()


def test_predictions_give_every_vote_fraction_and_say_so(tmp_path, capsys):
    """Issue 17: the model's own fractions in the representation table and a catalogue
    given as --predictions that spells smooth with a campaign suffix. Before, the
    catalogue's featured-or-disk replaced the model's while the smooth cut read the
    model's (the exact name wins over a suffixed one). Now all fractions are the
    predictions', and each cut and run.json name their file."""
    friendly = _friendly(n_bricks=1, per_brick=50)
    predictions = friendly.rename(
        columns={"smooth-or-featured_smooth_fraction": "smooth-or-featured-dr8_smooth_fraction"}
    )
    predictions.to_parquet(tmp_path / "catalogue.parquet", index=False)
    reps = _representations(friendly["dr8_id"]).rename(columns={"id_str": "dr8_id"})
    for column in (
        "smooth-or-featured_smooth_fraction",
        "disk-edge-on_yes_fraction",
        "smooth-or-featured_featured-or-disk_fraction",
    ):
        reps[column] = np.float32(0.0)  # the model says: keep everything
    reps.to_parquet(tmp_path / "reps.parquet", index=False)
    inputs = open_inputs(
        tmp_path / "reps.parquet", predictions=tmp_path / "catalogue.parquet", want=CUT_COLUMNS
    )
    sources = inputs.fraction_sources()
    assert set(sources.values()) == {"catalogue.parquet"}
    assert "smooth-or-featured_smooth_fraction" not in sources  # the model's, set aside
    assert "smooth-or-featured-dr8_smooth_fraction" in sources
    assert inputs.set_aside == [
        "smooth-or-featured_smooth_fraction",
        "disk-edge-on_yes_fraction",
        "smooth-or-featured_featured-or-disk_fraction",
    ]
    assert any("the 3 of reps.parquet are set aside" in note for note in inputs.notes)
    selection = _cuts(inputs, sources=sources)
    # the catalogue's values: 10 featureless, 10 edge-on, 10 artifact of 50 (patterns 0, 1, 3)
    assert _removed(selection) == {"featureless": 10, "edge-on": 10, "artifact": 10}
    assert [step.source for step in selection.steps] == ["catalogue.parquet"] * 3
    assert selection.steps[0].column == "smooth-or-featured-dr8_smooth_fraction"

    code = main(
        [
            "search",
            str(tmp_path / "reps.parquet"),
            "--predictions",
            str(tmp_path / "catalogue.parquet"),
            "--out",
            str(tmp_path / "run"),
            "--n-neighbors",
            "5",
            "--min-samples",
            "3",
            "--min-cluster-size",
            "3",
        ]
    )
    assert code == 0
    log = capsys.readouterr()
    assert log.out == ""  # umap-learn's own prints neither on stdout nor in the log
    assert "Construct fuzzy simplicial set" not in log.err and "UMAP(" not in log.err
    assert "completed " not in log.err
    n_fractions = sum(str(c).endswith("_fraction") for c in predictions.columns)
    assert f"vote fractions: {n_fractions} from catalogue.parquet; " in log.err
    assert "the 3 of reps.parquet are set aside (--predictions gives them all)" in log.err
    assert (
        "cut featureless (smooth-or-featured-dr8_smooth_fraction >= 0.5 of "
        "catalogue.parquet): removed 10"
    ) in log.err
    last = log.err.strip().splitlines()[-1]
    assert last.startswith(f"raregal: next: raregal report {tmp_path / 'run'}")
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert set(record["fraction_sources"].values()) == {"catalogue.parquet"}
    assert {step["source"] for step in record["selection"]["steps"]} == {"catalogue.parquet"}
    kept = pd.read_parquet(tmp_path / "run" / "classes.parquet")
    assert "smooth-or-featured_smooth_fraction" not in kept.columns
