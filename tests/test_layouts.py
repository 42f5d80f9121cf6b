"""Every file the field publishes reads the same galaxies (issue 38).

Each layout is built here as its primary source writes it, with fabricated values:

- Zoobot ``zoobot/shared/save_predictions.py``: ``predictions_to_hdf5`` (chunks of
  (galaxy, answer, pass)) and ``predictions_to_csv`` (``id_str`` and one
  ``{label}_pred`` column per answer, each cell a JSON list over passes);
- zoobot-predictions ``make_predictions/c_group_hdf5_across_models.py`` (one HDF5 of
  (galaxy, answer, model, pass)) and ``zoobot/shared/load_predictions.py``
  ``prediction_hdf5_to_summary_parquet`` (the friendly table: fractions NaN where the
  question's proportion asked is below 0.5; the advanced one: unmasked fractions,
  ``_90pc-lower``/``_90pc-upper`` and ``_proportion-asked``), with the Zenodo 8360385
  friendly table's id columns (dr8_id, brickid, objid, hdf5_loc);
- galaxy-datasets ``galaxy_datasets/shared/label_metadata.py`` (campaign suffixes:
  the all-campaign label_cols -dr12, -dr5, -dr8; -euclid, -hubble, -candels) and its GZ2
  notebooks (``replication/notebooks/gz2_a_modernize.ipynb``: votes, ``_total-votes``,
  ``_fraction``, ``_semantic`` text, iauname NaN for some galaxies);
- the GZ DESI volunteer catalogue (votes and ``_total-votes`` without its fractions)
  and the Hugging Face ``mwalmsley/gz_desi`` card (int32 votes, float32 fractions,
  int32 total votes, per campaign side by side);
- zoobot-predictions ``src/zoobot_predictions/representations_from_huggingface.py``
  (Hugging Face embeddings: ``id_str`` and ``pooled_features_block_{i}``, a fixed-size
  list of float32).

The cut counts are worked out by hand below (PATTERNS); every layout of the same
predictions must give them, and the same kept galaxies.
"""

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raregal.cli import main
from raregal.io.catalogue import open_inputs
from raregal.method.select import apply_cuts, paper_cuts

from .test_inputs import DIM
from .test_inputs import _representations as representations

N_EACH = 10
CUT_COLUMNS = [cut.column for cut in paper_cuts()]

#: GZ DESI's questions and answers (label_metadata's decals_dr5_ortho_pairs, which
#: desi_pairs repeats without the suffix), and DECaLS DR1/2's (decals_dr12_ortho_pairs).
DESI_PAIRS = {
    "smooth-or-featured": ("smooth", "featured-or-disk", "artifact"),
    "disk-edge-on": ("yes", "no"),
    "has-spiral-arms": ("yes", "no"),
    "bar": ("strong", "weak", "no"),
    "bulge-size": ("dominant", "large", "moderate", "small", "none"),
    "how-rounded": ("round", "in-between", "cigar-shaped"),
    "edge-on-bulge": ("boxy", "none", "rounded"),
    "spiral-winding": ("tight", "medium", "loose"),
    "spiral-arm-count": ("1", "2", "3", "4", "more-than-4", "cant-tell"),
    "merging": ("none", "minor-disturbance", "major-disturbance", "merger"),
}
DR12_PAIRS = {
    "smooth-or-featured": ("smooth", "featured-or-disk", "artifact"),
    "disk-edge-on": ("yes", "no"),
    "has-spiral-arms": ("yes", "no"),
    "bar": ("yes", "no"),
    "bulge-size": ("dominant", "obvious", "none"),
    "how-rounded": ("completely", "in-between", "cigar-shaped"),
    "edge-on-bulge": ("boxy", "none", "rounded"),
    "spiral-winding": ("tight", "medium", "loose"),
    "spiral-arm-count": ("1", "2", "3", "4", "more-than-4"),
    "merging": ("neither", "tidal-debris", "both", "merger"),
}
#: desi_dependencies: the answer leading to each question.
DESI_TREE = {
    "disk-edge-on": "smooth-or-featured_featured-or-disk",
    "has-spiral-arms": "disk-edge-on_no",
    "bar": "disk-edge-on_no",
    "bulge-size": "disk-edge-on_no",
    "how-rounded": "smooth-or-featured_smooth",
    "edge-on-bulge": "disk-edge-on_yes",
    "spiral-winding": "has-spiral-arms_yes",
    "spiral-arm-count": "has-spiral-arms_yes",
}


def labels(pairs, suffix=""):
    return [f"{q}{suffix}_{a}" for q, answers in pairs.items() for a in answers]


DESI = labels(DESI_PAIRS)
DR8 = labels(DESI_PAIRS, "-dr8")

# Six kinds of galaxy, N_EACH of each: smooth-or-featured (smooth, featured, artifact)
# and disk-edge-on (yes, no) concentrations; every other answer 2.0.
#   A (6, 2, 2): smooth 0.6, featureless.
#   B (2, 6, 2), edge-on (1, 3) = 0.25, asked 0.6: kept.
#   C (2, 6, 2), edge-on (3, 1) = 0.75, asked 0.6: edge-on.
#   D (1, 5, 4): artifact 0.4; featured 0.5 exactly: asked 0.5 is not masked (Zoobot
#     keeps proportion_asked >= 0.5).
#   F (9, 9, 2): smooth 0.45, featured 0.45, artifact 0.1, edge-on (4, 1) = 0.8 asked
#     0.45: masked (NaN) in the friendly table, so kept; unmasked, edge-on.
#   G like F on average, but model 0 says (8, 1, 1) and model 1 (1, 8, 1): smooth 0.45
#     only as the mean over models and passes (model 0 alone: 0.8, featureless).
KINDS = "ABCDFG"
SOF = {"A": (6, 2, 2), "B": (2, 6, 2), "C": (2, 6, 2), "D": (1, 5, 4), "F": (9, 9, 2)}
EDGE = {"A": (1, 3), "B": (1, 3), "C": (3, 1), "D": (1, 3), "F": (4, 1), "G": (4, 1)}
MODELS, PASSES = 2, 5
#: By hand, from the patterns: with the friendly mask (default) and without it.
EXPECTED = {"featureless": N_EACH, "edge-on": N_EACH, "artifact": N_EACH}  # A, C, D
KEPT = "BFG"
EXPECTED_UNMASKED = {
    "featureless": N_EACH,
    "edge-on": 3 * N_EACH,  # C, F, G
    "artifact": N_EACH,
}
KEPT_UNMASKED = "B"


def kind_of(ids):
    return [KINDS[int(i.rsplit("_", 1)[1]) // N_EACH] for i in ids]


def galaxy_ids():
    return [f"330000_{g}" for g in range(len(KINDS) * N_EACH)]


def concentrations(
    label_cols=DR8, question_suffix="-dr8", featured="featured-or-disk", artifact="artifact"
):
    """(galaxy, answer, model, pass) concentrations of the six kinds."""
    ids = galaxy_ids()
    values = np.full((len(ids), len(label_cols), MODELS, PASSES), 2.0, dtype=np.float32)
    sof = [
        label_cols.index(f"smooth-or-featured{question_suffix}_{a}")
        for a in ("smooth", featured, artifact)
    ]
    edge = [label_cols.index(f"disk-edge-on{question_suffix}_{a}") for a in ("yes", "no")]
    for g in range(len(ids)):
        kind = KINDS[g // N_EACH]
        values[g, edge] = np.array(EDGE[kind], dtype=np.float32)[:, None, None]
        if kind == "G":
            values[g, sof, 0] = np.array([8, 1, 1], dtype=np.float32)[:, None]
            values[g, sof, 1] = np.array([1, 8, 1], dtype=np.float32)[:, None]
        else:
            values[g, sof] = np.array(SOF[kind], dtype=np.float32)[:, None, None]
    return ids, values


def zoobot_summary(values, label_cols):
    """Fractions and proportion asked as zoobot's prediction_hdf5_to_summary_parquet:
    each question's mean over every model and pass of alpha / sum(alpha); the
    proportion asked is the product of the fractions of the answers before it
    (stats.get_expected_votes_ml, Schema.joint_p), written here for the GZ DESI tree."""
    draws = values.reshape(len(values), len(label_cols), -1).astype(np.float64)
    fractions, asked = {}, {}
    for question, answers in DESI_PAIRS.items():
        idx = [label_cols.index(f"{question}_{a}") for a in answers]
        share = (draws[:, idx] / draws[:, idx].sum(axis=1, keepdims=True)).mean(axis=2)
        fractions.update({f"{question}_{a}": share[:, j] for j, a in enumerate(answers)})
    for question, answers in DESI_PAIRS.items():
        p, parent = np.ones(len(values)), DESI_TREE.get(question)
        while parent is not None:
            p = p * fractions[parent]
            parent = DESI_TREE.get(parent.partition("_")[0])
        asked.update({f"{question}_{a}": p for a in answers})
    return fractions, asked


# --- the layouts ------------------------------------------------------------------------


def write_friendly(folder, advanced=False):
    """Zenodo 8360385's friendly table (masked) or the advanced one."""
    ids, values = concentrations(DESI, "")
    fractions, asked = zoobot_summary(values, DESI)
    brick, obj = zip(*(i.split("_") for i in ids))
    table = {
        "dr8_id": ids,
        "ra": np.linspace(150, 160, len(ids)),
        "dec": np.linspace(0, 10, len(ids)),
        "brickid": np.int32(brick),
        "objid": np.int32(obj),
    }
    for label in DESI:
        f = fractions[label]
        keep = asked[label] >= 0.5
        table[f"{label}_fraction"] = (f if advanced else np.where(keep, f, np.nan)).astype(
            np.float32
        )
    if advanced:
        for label in DESI:
            table[f"{label}_90pc-lower"] = np.zeros(len(ids), np.float32)
            table[f"{label}_90pc-upper"] = np.ones(len(ids), np.float32)
            table[f"{label}_proportion-asked"] = asked[label].astype(np.float32)
    table = pd.DataFrame({**table, "hdf5_loc": "predictions_0.hdf5"})
    path = folder / ("advanced.parquet" if advanced else "friendly.parquet")
    table.to_parquet(path, index=False)
    return path


def write_hdf5(path, predictions, ids, label_cols):
    """save_predictions.predictions_to_hdf5: utf-8 string datasets."""
    string = h5py.string_dtype(encoding="utf-8")
    with h5py.File(path, "w") as f:
        f.create_dataset(name="predictions", data=predictions)
        f.create_dataset(name="id_str", data=list(ids), dtype=string)
        f.create_dataset(name="label_cols", data=list(label_cols), dtype=string)
    return path


def write_chunks(folder):
    """Three chunks of (galaxy, answer, pass): both models' passes as 10 passes."""
    ids, values = concentrations()
    draws = values.reshape(len(ids), len(DR8), -1)
    return [
        write_hdf5(folder / f"predictions_{k}.hdf5", draws[rows], np.array(ids)[rows], DR8)
        for k, rows in enumerate(np.array_split(np.arange(len(ids)), 3))
    ]


def write_grouped(folder):
    """c_group_hdf5_across_models: one (galaxy, answer, model, pass) file."""
    ids, values = concentrations()
    return write_hdf5(folder / "grouped_across_models.hdf5", values, ids, DR8)


def write_zoobot_csv(folder):
    """predictions_to_csv: {label}_pred cells of json.dumps(list over passes)."""
    ids, values = concentrations()
    draws = values.reshape(len(ids), len(DR8), -1)
    rows = [
        {
            "id_str": i,
            **{
                f"{label}_pred": json.dumps(list(draws[g, j].astype(float)))
                for j, label in enumerate(DR8)
            },
        }
        for g, i in enumerate(ids)
    ]
    path = folder / "predictions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


SOF_VOTES = {
    "A": (30, 10, 10),
    "B": (10, 30, 10),
    "C": (10, 30, 10),
    "D": (5, 25, 20),
    "F": (9, 9, 2),
    "G": (9, 9, 2),
}
EDGE_VOTES = {"A": (0, 0), "B": (2, 6), "C": (6, 2), "D": (2, 6), "F": (8, 2), "G": (8, 2)}


def votes(pairs=DESI_PAIRS, suffix=""):
    """Volunteer votes of the six kinds, the same fractions as the concentrations (A:
    nobody was asked edge-on); every other answer 2 votes."""
    ids = galaxy_ids()
    table = {}
    for question, answers in pairs.items():
        for a in answers:
            table[f"{question}{suffix}_{a}"] = np.full(len(ids), 2, dtype=np.int32)
    for g in range(len(ids)):
        kind = KINDS[g // N_EACH]
        for a, v in zip(("smooth", "featured-or-disk", "artifact"), SOF_VOTES[kind]):
            table[f"smooth-or-featured{suffix}_{a}"][g] = v
        for a, v in zip(("yes", "no"), EDGE_VOTES[kind]):
            table[f"disk-edge-on{suffix}_{a}"][g] = v
    return ids, table


def write_votes(folder):
    """GZ DESI's volunteer catalogue without its _fraction columns."""
    ids, counts = votes()
    table = pd.DataFrame({"dr8_id": ids, **counts})
    for question, answers in DESI_PAIRS.items():
        table[f"{question}_total-votes"] = sum(table[f"{question}_{a}"] for a in answers)
    path = folder / "volunteers.parquet"
    table.to_parquet(path, index=False)
    return path


def write_hf_gz_desi(folder):
    """The Hugging Face gz_desi card: per campaign, votes (int32), fraction (float32)
    and total votes (int32) side by side; these galaxies were voted in DR8 only."""
    ids, counts = votes(suffix="-dr8")
    columns = {
        "id_str": pa.array(ids),
        "dataset_name": pa.array(["gz_desi"] * len(ids)),
        "ra": pa.array(np.linspace(150, 160, len(ids))),
    }
    for campaign, pairs in (("dr12", DR12_PAIRS), ("dr5", DESI_PAIRS), ("dr8", DESI_PAIRS)):
        for question, answers in pairs.items():
            q = f"{question}-{campaign}"
            got = {a: counts.get(f"{q}_{a}", np.zeros(len(ids), np.int32)) for a in answers}
            total = sum(got.values())
            for a, v in got.items():
                columns[f"{q}_{a}"] = pa.array(v, pa.int32())
                with np.errstate(invalid="ignore"):
                    columns[f"{q}_{a}_fraction"] = pa.array((v / total).astype(np.float32))
            columns[f"{q}_total-votes"] = pa.array(total, pa.int32())
    path = folder / "gz_desi_train.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def write_all_campaigns(folder):
    """A model trained on decals_all_campaigns_ortho: its outputs for dr12, dr5 and dr8
    side by side; the dr8 ones are the six kinds, the others 2.0."""
    all_labels = labels(DR12_PAIRS, "-dr12") + labels(DESI_PAIRS, "-dr5") + DR8
    ids, values = concentrations()
    grown = np.full((len(ids), len(all_labels), MODELS, PASSES), 2.0, dtype=np.float32)
    grown[:, -len(DR8) :] = values
    return write_hdf5(folder / "all_campaigns.hdf5", grown, ids, all_labels)


LAYOUTS = {  # name -> (writer, options)
    "friendly table": (write_friendly, {}),
    "advanced table": (lambda folder: write_friendly(folder, advanced=True), {}),
    "HDF5 chunks (galaxy, answer, pass)": (write_chunks, {}),
    "grouped HDF5 (galaxy, answer, model, pass)": (write_grouped, {}),
    "Zoobot CSV ({label}_pred lists)": (write_zoobot_csv, {}),
    "volunteer votes": (write_votes, {}),
    "all-campaign HDF5": (write_all_campaigns, {"campaign": "dr8"}),
    "HF gz_desi votes": (write_hf_gz_desi, {"campaign": "dr8"}),
}


def search_inputs(folder, layout, **options):
    """Open a representation table with one layout as the predictions."""
    writer, needed = LAYOUTS[layout]
    predictions = writer(folder)
    representations(galaxy_ids()[::-1]).to_parquet(folder / "reps.parquet", index=False)
    return open_inputs(
        folder / "reps.parquet", predictions=predictions, want=CUT_COLUMNS, **needed, **options
    )


def cut(inputs):
    selection = apply_cuts(
        inputs.selection_columns, paper_cuts(), fractions_given=inputs.has_fractions
    )
    removed = {step.name: step.removed for step in selection.steps}
    kept = inputs.load(selection.mask)
    return removed, "".join(sorted(set(kind_of(kept.ids))))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_of_the_same_predictions_keeps_the_same_galaxies(tmp_path, layout):
    removed, kept = cut(search_inputs(tmp_path, layout))
    assert removed == EXPECTED and kept == KEPT


@pytest.mark.parametrize("layout", [name for name in LAYOUTS if name != "friendly table"])
def test_without_the_mask_the_raw_fractions_cut(tmp_path, layout):
    """--no-mask-unasked: F and G's edge-on 0.8 (asked 0.45) then removes them; the
    friendly table has no unmasked value to give back."""
    inputs = search_inputs(tmp_path, layout, mask_unasked=False)
    assert cut(inputs) == (EXPECTED_UNMASKED, KEPT_UNMASKED)
    assert any("not masked (--no-mask-unasked)" in note for note in inputs.notes)


def test_grouped_hdf5_is_the_mean_over_models_and_passes(tmp_path):
    """G's smooth is 0.8 for model 0 and 0.1 for model 1: the mean, 0.45, is read."""
    inputs = search_inputs(tmp_path, "grouped HDF5 (galaxy, answer, model, pass)")
    smooth = inputs.selection_columns["smooth-or-featured-dr8_smooth_fraction"]
    g = np.array(kind_of(galaxy_ids()[::-1])) == "G"
    np.testing.assert_allclose(smooth[g], 0.45, rtol=1e-6)
    assert any(
        note.startswith(
            "grouped_across_models.hdf5: predictions of shape (60, 34, 2, 5)"
            " (galaxy, answer, model, pass): each value is the mean over the"
            " 2 models' 5 passes"
        )
        for note in inputs.notes
    )


def test_the_mask_is_said_and_counted(tmp_path):
    inputs = search_inputs(tmp_path, "HDF5 chunks (galaxy, answer, pass)")
    note = next(n for n in inputs.notes if "asked with probability below 0.5" in n)
    assert note.startswith("predictions_0.hdf5 (+2): ") and "34 fraction columns" in note
    record = inputs.masking()["predictions_0.hdf5 (+2)"]
    # edge-on masked for A (featured 0.2), F and G (0.45): 30 galaxies
    assert record["applied"] and record["masked"]["disk-edge-on-dr8_yes_fraction"] == 30
    assert record["masked"]["smooth-or-featured-dr8_smooth_fraction"] == 0  # always asked


def test_votes_are_divided_by_the_question_total(tmp_path):
    """The volunteer catalogue's A galaxies: 30 smooth votes of 50 is 0.6, featureless
    (read as concentrations it would be 30/(30+10+10) per pass too, but the zero
    edge-on votes stopped the run and the totals were answers)."""
    inputs = search_inputs(tmp_path, "volunteer votes")
    columns = inputs.selection_columns
    a = np.array(kind_of(galaxy_ids()[::-1])) == "A"
    np.testing.assert_allclose(columns["smooth-or-featured_smooth_fraction"][a], 0.6)
    assert np.isnan(columns["disk-edge-on_yes_fraction"][a]).all()  # 0 of 0 votes
    assert "smooth-or-featured_total-votes_fraction" not in inputs.names
    assert any("volunteer vote counts read as vote fractions" in n for n in inputs.notes)


@pytest.mark.parametrize("suffix", ["-hubble", "-candels"])
def test_hubble_and_candels_suffixes_and_their_tree(tmp_path, suffix):
    """label_metadata's hubble/candels: 'features' for featured, and edge-on asked
    after clumpy-appearance 'no' (asked after features): proportion asked = features x
    clumpy no. Clumpy (1, 9): no 0.9; asked: B, C 0.54, kept; D 0.45, F, G 0.405 masked."""
    pairs = {
        "smooth-or-featured": ("smooth", "features", "artifact"),
        "clumpy-appearance": ("yes", "no"),
        "disk-edge-on": ("yes", "no"),
    }
    label_cols = labels(pairs, suffix)
    ids, values = concentrations(label_cols, suffix, featured="features")
    values[:, label_cols.index(f"clumpy-appearance{suffix}_yes")] = 1.0
    values[:, label_cols.index(f"clumpy-appearance{suffix}_no")] = 9.0
    write_hdf5(tmp_path / "p.hdf5", values, ids, label_cols)
    representations(ids).to_parquet(tmp_path / "reps.parquet", index=False)
    for mask, expected, kept in ((True, EXPECTED, KEPT), (False, EXPECTED_UNMASKED, KEPT_UNMASKED)):
        inputs = open_inputs(
            tmp_path / "reps.parquet",
            predictions=tmp_path / "p.hdf5",
            want=CUT_COLUMNS,
            mask_unasked=mask,
        )
        assert f"smooth-or-featured{suffix}_smooth_fraction" in inputs.names  # stripped
        assert cut(inputs) == (expected, kept)


def test_euclid_suffix_and_problem_branch(tmp_path):
    """label_metadata's euclid_ortho_pairs: 'problem' for artifact, and a problem
    question asked after it (proportion asked = problem, so masked for most)."""
    pairs = {
        "smooth-or-featured": ("smooth", "featured-or-disk", "problem"),
        "disk-edge-on": ("yes", "no"),
        "problem": ("star", "artifact", "zoom"),
    }
    label_cols = labels(pairs, "-euclid")
    ids, values = concentrations(label_cols, "-euclid", artifact="problem")
    write_hdf5(tmp_path / "p.hdf5", values, ids, label_cols)
    representations(ids).to_parquet(tmp_path / "reps.parquet", index=False)
    inputs = open_inputs(
        tmp_path / "reps.parquet", predictions=tmp_path / "p.hdf5", want=CUT_COLUMNS
    )
    assert cut(inputs) == (EXPECTED, KEPT)
    assert inputs.selection_columns.columns[-1] == "smooth-or-featured-euclid_problem_fraction"
    assert not any("not masked (tree unknown" in note for note in inputs.notes)


def test_hugging_face_embeddings_list_column(tmp_path):
    """representations_from_huggingface.py: id_str + pooled_features_block_{i} as
    List(float32, length=d), which Arrow stores as a fixed-size list."""
    ids = galaxy_ids()
    values = np.random.default_rng(5).normal(size=(len(ids), DIM)).astype(np.float32)
    block = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), DIM)
    pq.write_table(
        pa.table({"id_str": ids, "pooled_features_block_4": block}), tmp_path / "embeddings.parquet"
    )
    predictions = write_grouped(tmp_path)
    inputs = open_inputs(tmp_path / "embeddings.parquet", predictions=predictions, want=CUT_COLUMNS)
    assert inputs.feature_columns == [f"pooled_features_block_4_{i}" for i in range(DIM)]
    removed, kept = cut(inputs)
    assert removed == EXPECTED and kept == KEPT
    selection = apply_cuts(inputs.selection_columns, paper_cuts(), fractions_given=True)
    np.testing.assert_array_equal(inputs.load(selection.mask).features, values[selection.mask])
    # a variable-length list column, and two blocks: --features names the one to use
    variable = pa.array(list(values), type=pa.list_(pa.float32()))
    pq.write_table(
        pa.table(
            {"id_str": ids, "pooled_features_block_2": variable, "pooled_features_block_4": block}
        ),
        tmp_path / "two.parquet",
    )
    loaded = open_inputs(tmp_path / "two.parquet", features="pooled_features_block_2").load()
    np.testing.assert_array_equal(loaded.features, values)
    assert (
        len(open_inputs(tmp_path / "two.parquet", features="pooled_*").feature_columns) == 2 * DIM
    )
    # the same vectors as JSON lists in a CSV: a vector column, not passes to average
    pd.DataFrame(
        {"id_str": ids, "pooled_features_block_4": [json.dumps(v.tolist()) for v in values]}
    ).to_csv(tmp_path / "embeddings.csv", index=False)
    np.testing.assert_array_equal(open_inputs(tmp_path / "embeddings.csv").load().features, values)


def test_gz2_csv_with_empty_iaunames_and_semantic_text(tmp_path):
    """gz2_a_modernize.ipynb: 'some iaunames will be nan'; votes, _total-votes and
    _fraction per question (-gz2); a _semantic text column per question. The id is
    id_str (= dr7objid); iauname, empty for most, is neither read as the id nor an
    obstacle. GZ2's tree (label_metadata gz2_ortho_dependencies) asks edge-on after
    featured, so the mask is the same."""
    pairs = {
        "smooth-or-featured": ("smooth", "featured-or-disk", "artifact"),
        "disk-edge-on": ("yes", "no"),
    }
    ids, counts = votes(pairs, "-gz2")
    table = pd.DataFrame(
        {"dr7objid": np.arange(len(ids)) + 587722981741363294, "ra": 1.0, "dec": 2.0}
    )
    table["id_str"] = table["dr7objid"]
    table["iauname"] = [f"J{i:06d}" if i % 7 == 0 else None for i in range(len(ids))]
    table["file_loc"] = [f"{i}.png" if i % 2 else None for i in range(len(ids))]  # text, empty
    for question, answers in pairs.items():
        q = f"{question}-gz2"
        total = sum(counts[f"{q}_{a}"] for a in answers)
        for a in answers:
            table[f"{q}_{a}"] = counts[f"{q}_{a}"]
            with np.errstate(invalid="ignore"):
                table[f"{q}_{a}_fraction"] = counts[f"{q}_{a}"] / total
        table[f"{q}_total-votes"] = total
        table[f"{q}_semantic"] = "featured"
    table.to_csv(tmp_path / "gz2.csv", index=False)
    reps = representations(table["id_str"].astype(str))
    reps.to_parquet(tmp_path / "reps.parquet", index=False)
    inputs = open_inputs(
        tmp_path / "reps.parquet", predictions=tmp_path / "gz2.csv", want=CUT_COLUMNS
    )
    assert inputs.id_choices["predictions"]["column"] == "id_str"
    assert "'iauname' repeats" in inputs.id_choices["predictions"]["reason"]  # its empties
    selection = apply_cuts(inputs.selection_columns, paper_cuts(), fractions_given=True)
    assert {s.name: s.removed for s in selection.steps} == EXPECTED
    kept = inputs.load(selection.mask).columns
    assert kept["file_loc"].isna().sum() == (np.flatnonzero(selection.mask) % 2 == 0).sum()


# --- bad input: one line naming the file and the column ----------------------------------


def one_line_error(capsys, args):
    code = main(args + ["--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and err.startswith("raregal: error: ")
    return err


def search_args(tmp_path, predictions, *more):
    representations(galaxy_ids()).to_parquet(tmp_path / "reps.parquet", index=False)
    return [
        "search",
        str(tmp_path / "reps.parquet"),
        "--predictions",
        str(predictions),
        "--out",
        str(tmp_path / "run"),
        *more,
    ]


def test_campaigns_side_by_side_need_a_choice(tmp_path, capsys):
    path = write_all_campaigns(tmp_path)
    err = one_line_error(capsys, search_args(tmp_path, path))
    assert (
        "all_campaigns.hdf5: answers of 3 campaigns side by side (dr12, dr5, dr8; e.g. "
        "'smooth-or-featured-dr12_smooth_fraction'"
    ) in err and "--campaign" in err
    err = one_line_error(capsys, search_args(tmp_path, path, "--campaign", "dr9"))
    assert (
        "all_campaigns.hdf5: no answers of campaign 'dr9' (--campaign); the campaigns "
        "found: dr12, dr5, dr8"
    ) in err
    path = write_friendly(tmp_path)
    err = one_line_error(capsys, search_args(tmp_path, path, "--campaign", "dr8"))
    assert "--campaign dr8: no table has campaign-suffixed answers" in err
    assert not (tmp_path / "run").exists()


def test_ragged_list_column(tmp_path, capsys):
    ids = galaxy_ids()
    rows = [[0.1] * (DIM if g != 7 else DIM - 1) for g in range(len(ids))]
    pq.write_table(
        pa.table({"id_str": ids, "pooled_features_block_4": rows}), tmp_path / "embeddings.parquet"
    )
    err = one_line_error(
        capsys, ["search", str(tmp_path / "embeddings.parquet"), "--out", str(tmp_path / "run")]
    )
    assert (
        "embeddings.parquet: column 'pooled_features_block_4': 1 rows have a list of "
        f"another length than {DIM}"
    ) in err
    assert not (tmp_path / "run").exists()


def test_counts_without_their_total(tmp_path, capsys):
    ids, counts = votes()
    pd.DataFrame({"dr8_id": ids, **counts}).to_parquet(tmp_path / "votes.parquet")
    err = one_line_error(capsys, search_args(tmp_path, tmp_path / "votes.parquet"))
    assert (
        "votes.parquet: column 'smooth-or-featured_smooth' holds volunteer vote counts "
        "but the table has no 'smooth-or-featured_total-votes'"
    ) in err


def test_search_log_and_run_json_state_the_mask(tmp_path, capsys):
    path = write_grouped(tmp_path)
    code = main(
        search_args(
            tmp_path,
            path,
            "--n-neighbors",
            "5",
            "--min-samples",
            "3",
            "--min-cluster-size",
            "3",
            "--seed",
            "0",
        )
    )
    assert code == 0
    err = capsys.readouterr().err
    assert (
        "grouped_across_models.hdf5: a vote fraction is NaN where its question was asked "
        "with probability below 0.5"
    ) in err
    assert "masked (asked below 0.5) " in err and "30 of disk-edge-on-dr8_yes_fraction" in err
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    mask = record["selection"]["mask_unasked"]
    assert mask["applied"] and mask["threshold"] == 0.5
    assert (
        mask["files"]["grouped_across_models.hdf5"]["masked"]["disk-edge-on-dr8_yes_fraction"] == 30
    )
    assert record["selection"]["rows_searched"] == 3 * N_EACH


def test_campaign_of_set_aside_fractions_is_no_obstacle(tmp_path):
    """With --predictions the representation table's own fractions (here of dr5) are
    set aside, so --campaign dr8 is asked of the predictions only."""
    reps = representations(galaxy_ids())
    reps["smooth-or-featured-dr5_smooth_fraction"] = np.float32(0.0)
    reps.to_parquet(tmp_path / "reps.parquet", index=False)
    inputs = open_inputs(
        tmp_path / "reps.parquet",
        predictions=write_all_campaigns(tmp_path),
        campaign="dr8",
        want=CUT_COLUMNS,
    )
    assert cut(inputs) == (EXPECTED, KEPT)
