"""Every published layout reads the same galaxies: each layout built as its
primary source writes it (the builders of tests/test_layouts.py, from the same 60
galaxies' predictions), read and cut with the paper's cuts; rows kept against the
count worked out by hand.

    python bench/layouts.py
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ builds the files
from raregal.io.catalogue import open_inputs  # noqa: E402
from raregal.method.select import apply_cuts, paper_cuts  # noqa: E402
from tests import test_layouts as L  # noqa: E402

N = len(L.galaxy_ids())
KEPT = len(L.KEPT) * L.N_EACH  # B, F, G

SOURCES = {
    "friendly table": "Zenodo 8360385; zoobot load_predictions.py *_friendly",
    "advanced table": "Zenodo 8360385; zoobot *_advanced (_proportion-asked)",
    "HDF5 chunks (galaxy, answer, pass)": "zoobot save_predictions.py predictions_to_hdf5",
    "grouped HDF5 (galaxy, answer, model, pass)": (
        "zoobot-predictions c_group_hdf5_across_models.py"
    ),
    "Zoobot CSV ({label}_pred lists)": "zoobot save_predictions.py predictions_to_csv",
    "volunteer votes": "GZ DESI volunteer catalogue (counts, _total-votes)",
    "all-campaign HDF5": "galaxy-datasets decals_all_campaigns_ortho label_cols",
    "HF gz_desi votes": "HF mwalmsley/gz_desi card (dr12/dr5/dr8 side by side)",
}


def kept(folder, predictions, reps=None, **options):
    reps = reps or folder / "reps.parquet"
    options = {k: v for k, v in options.items() if v is not None}
    try:
        inputs = open_inputs(reps, predictions=predictions, want=L.CUT_COLUMNS, **options)
        selection = apply_cuts(inputs.selection_columns, paper_cuts(), fractions_given=True)
        return str(int(selection.mask.sum()))
    except Exception as exc:  # the table shows what a user would see
        return f"error: {str(exc).splitlines()[0][:70]}"


def suffixed(folder, suffix, pairs, featured="featured-or-disk", artifact="artifact"):
    label_cols = L.labels(pairs, suffix)
    ids, values = L.concentrations(label_cols, suffix, featured=featured, artifact=artifact)
    if "clumpy-appearance" in pairs:
        values[:, label_cols.index(f"clumpy-appearance{suffix}_yes")] = 1.0
        values[:, label_cols.index(f"clumpy-appearance{suffix}_no")] = 9.0
    draws = values.reshape(len(ids), len(label_cols), -1)  # (galaxy, answer, pass)
    return L.write_hdf5(folder / f"p{suffix}.hdf5", draws, ids, label_cols)


def embeddings(folder):
    ids = L.galaxy_ids()
    values = np.random.default_rng(5).normal(size=(N, L.DIM)).astype(np.float32)
    block = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), L.DIM)
    path = folder / "embeddings.parquet"
    pq.write_table(pa.table({"id_str": ids, "pooled_features_block_4": block}), path)
    return path


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        L.representations(L.galaxy_ids()[::-1]).to_parquet(folder / "reps.parquet", index=False)
        for name, (writer, needed) in L.LAYOUTS.items():
            sub = folder / name.split()[0]
            sub.mkdir(exist_ok=True)
            path = writer(sub)
            option = " ".join(f"--{k} {v}" for k, v in needed.items()) or "none"
            rows.append((name, SOURCES[name], option, kept(folder, path, **needed), KEPT))
        hubble = {
            "smooth-or-featured": ("smooth", "features", "artifact"),
            "clumpy-appearance": ("yes", "no"),
            "disk-edge-on": ("yes", "no"),
        }
        euclid = {
            "smooth-or-featured": ("smooth", "featured-or-disk", "problem"),
            "disk-edge-on": ("yes", "no"),
            "problem": ("star", "artifact", "zoom"),
        }
        for suffix, pairs, kw in (
            ("-euclid", euclid, {"artifact": "problem"}),
            ("-hubble", hubble, {"featured": "features"}),
            ("-candels", hubble, {"featured": "features"}),
        ):
            path = suffixed(folder, suffix, pairs, **kw)
            rows.append(
                (
                    f"HDF5, {suffix} label_cols",
                    "galaxy-datasets label_metadata.py",
                    "none",
                    kept(folder, path),
                    KEPT,
                )
            )
        path = L.write_grouped(folder)
        rows.append(
            (
                "HF embeddings (list column) + grouped HDF5",
                "zoobot-predictions representations_from_huggingface.py",
                "none",
                kept(folder, path, reps=embeddings(folder)),
                KEPT,
            )
        )
        path = L.write_grouped(folder)
        rows.append(
            (
                "grouped HDF5, --no-mask-unasked",
                "as above, mask off",
                "--no-mask-unasked",
                kept(folder, path, mask_unasked=False),
                len(L.KEPT_UNMASKED) * L.N_EACH,
            )
        )
    print(f"{N} galaxies of six kinds (tests/test_layouts.py); the paper's cuts, NaN rule keep\n")
    print("| layout | source | option | rows kept | expected |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
