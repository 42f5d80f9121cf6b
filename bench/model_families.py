"""Which encoder family makes the best bundled model? The comparison table.

Trains each family with the same recipe (``raregal.model.train``: 128-d linear-BN-tanh
bottleneck, scale/rotation/flip/colour/noise augmentation, cosine learning rate;
Galaxy Zoo 2 questions smooth-or-featured, disk-edge-on and how-rounded on
gz-kaggle-5000, 64 px, central half) for about the same time on 2 cores, with
several seeds, then measures every run the same way:

- ``smooth_r``, ``edge_r``: Pearson r of predicted and volunteer smooth and
  edge-on fractions on the validation split (edge-on where most volunteers were
  asked, as bench/bottleneck_table.py);
- on gz-decals-rings-470 (DECaLS: another survey, never trained on):
  ``decals_feat_rho`` and ``decals_edge_rho``, Spearman's rho of the predicted and
  the volunteers' featured and not-edge-on fractions (all 470 are featured, 0.60 to
  0.85, so a smooth-vs-featured ROC AUC cannot be computed on them); and
  ``ring_probe_auc``, the ROC AUC of a logistic regression on the representation,
  ring vs not, 5-fold cross-validated (a linear probe: are rings apart in it?);
- ``pc1``, ``norm_ratio``: PC1's share of the variance and the 99.9th-percentile
  norm over the median, on gz-kaggle-5000 and on the DECaLS set (the worse of the
  two);
- for ring, merger and irregular (the gz2-odd preset; never trained on): the
  paper's cuts and search with ``--min-samples scaled`` on all 5,000, then
  ``raregal evaluate``: the best class's enrichment, its permutation p-value,
  and the type's galaxies in significantly enriched classes, beside the pixel
  baseline's (``raregal baseline``, searched with the same model's cuts).

The bundled model is measured the same way as the "before" row. Training reuses
decoded images across runs (decoding is not what is compared). Times and the load
average are printed per run: on a shared machine they are what was measured, not
what an idle one would do.

    python bench/model_families.py --keep runs/families/
    python bench/model_families.py --families raregal_cnn --seeds 0 1 2 --keep runs/f/
    python bench/model_families.py --only-reference      # the bundled model alone
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import raregal.model.train as train_module
from model_geometry import geometry
from raregal.io.images import model_input
from raregal.measure.baseline import baseline
from raregal.measure.evaluate import PRESETS, evaluate
from raregal.method.search import RareClassFinder, search
from raregal.model.models import DEFAULT_MODEL, load_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KAGGLE, RINGS = SHARED / "gz-kaggle-5000", SHARED / "gz-decals-rings-470"
QUESTIONS = ["smooth-or-featured", "disk-edge-on", "how-rounded"]
RECIPE = dict(
    schema="gz2",
    questions=QUESTIONS,
    bottleneck=128,
    input_size=64,
    crop_fraction=0.5,
    batch_size=64,
)
#: Epochs per family for about the same training time (4-6 minutes with one thread,
#: two runs side by side on the otherwise idle 2 cores): one epoch of 4,000 images
#: took 16.4 s (raregal_cnn), 17.1 s (raregal_resnet), 29.9 s (mobilenetv3_small_100)
#: and 34.1 s (mobilevit_xxs) with two threads on an idle machine.
FAMILIES = {
    "raregal_cnn": {"epochs": 13, "learning_rate": 3e-3},
    "mobilenetv3_small_100": {"epochs": 7, "learning_rate": 3e-3},
    "raregal_resnet": {"epochs": 12, "learning_rate": 3e-3},
    "mobilevit_xxs": {"epochs": 6, "learning_rate": 2e-3},
}
RARE = ("ring", "merger", "irregular")


@functools.cache
def _decode_cached(paths: tuple, size: int, crop: float):
    return _REAL_DECODE(list(paths), size, crop, lambda *_: None)


_REAL_DECODE = train_module.decode_all
train_module.decode_all = lambda paths, size, crop, say: _decode_cached(tuple(paths), size, crop)


@functools.cache
def shared_pixels(folder: Path, size: int, crop: float) -> tuple[list[str], torch.Tensor]:
    """A set's ids (file stems, sorted) and images, preprocessed as embed does."""
    paths = sorted((folder / "images").iterdir())
    return [p.stem for p in paths], torch.from_numpy(
        np.stack([model_input(p, size=size, crop_fraction=crop) for p in paths])
    )


def predict(model, pixels: torch.Tensor, batch: int = 500):
    torch.manual_seed(0)  # the head's dropout passes
    parts = [model.predict(pixels[i : i + batch]) for i in range(0, len(pixels), batch)]
    return (
        torch.cat([f for f, _ in parts]).numpy(),
        pd.DataFrame(torch.cat([p for _, p in parts]).numpy(), columns=model.schema.answers),
    )


def morphology(model, val_ids) -> dict:
    """Validation Pearson r (smooth, edge-on) and the DECaLS smooth/featured AUC."""
    ids, pixels = shared_pixels(KAGGLE, model.input_size, model.crop_fraction)
    labels = pd.read_csv(KAGGLE / "labels.csv", dtype={"GalaxyID": str}).set_index("GalaxyID")
    index = pd.Index(ids).get_indexer(val_ids)
    _, predicted = predict(model, pixels[index])
    truth = labels.loc[val_ids]
    edge_on = (truth["Class2.1"] / (truth["Class2.1"] + truth["Class2.2"])).to_numpy()
    asked = truth["Class1.2"].to_numpy() > 0.5
    ring_ids, ring_pixels = shared_pixels(RINGS, model.input_size, model.crop_fraction)
    rings = pd.read_csv(RINGS / "labels.csv").set_index("iauname").loc[ring_ids]
    ring_features, ring_pred = predict(model, ring_pixels)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    ring_scores = cross_val_predict(
        probe,
        ring_features,
        rings["ring"].to_numpy(),
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        method="decision_function",
    )
    return {
        "smooth_r": pearsonr(predicted["smooth-or-featured_smooth"], truth["Class1.1"])[0],
        "edge_r": pearsonr(predicted["disk-edge-on_yes"][asked], edge_on[asked])[0],
        "decals_feat_rho": spearmanr(
            ring_pred["smooth-or-featured_featured-or-disk"],
            rings["smooth-or-featured_featured-or-disk_fraction"],
        )[0],
        "decals_edge_rho": spearmanr(
            ring_pred["disk-edge-on_no"], rings["disk-edge-on_no_fraction"]
        )[0],
        "ring_probe_auc": roc_auc_score(rings["ring"], ring_scores),
    }


def conditioning(model) -> dict:
    """The worse of the two shared sets' PC1 share and 99.9th-pct/median norm."""
    worst = {"pc1": 0.0, "norm_ratio": 0.0}
    for folder in (KAGGLE, RINGS):
        features, _ = predict(
            model, shared_pixels(folder, model.input_size, model.crop_fraction)[1]
        )
        g = geometry(features)
        worst = {
            "pc1": max(worst["pc1"], g["pc1_share"]),
            "norm_ratio": max(worst["norm_ratio"], g["p99.9/median"]),
        }
    return worst


def write_representations(model, folder: Path) -> Path:
    """gz-kaggle-5000 in ``raregal embed``'s layout (id, feat_*, *_fraction)."""
    ids, pixels = shared_pixels(KAGGLE, model.input_size, model.crop_fraction)
    features, fractions = predict(model, pixels)
    table = pd.DataFrame({"GalaxyID": ids})
    table = pd.concat(
        [
            table,
            pd.DataFrame(features, columns=[f"feat_{j}" for j in range(features.shape[1])]),
            fractions.add_suffix("_fraction"),
        ],
        axis=1,
    )
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / "representations.parquet", index=False)
    return folder / "representations.parquet"


def rare_types(model, folder: Path, pixels_repr: Path) -> dict:
    """The model's and the pixel baseline's classes, evaluated on ring/merger/irregular."""
    embedded = folder / "embedded" / "representations.parquet"
    if not (folder / "search_pixels").is_dir():  # kept from an earlier measurement
        write_representations(model, folder / "embedded")

        # No credibility reruns: evaluate scores every class, and the classes
        # themselves do not depend on the reruns.
        def finder():
            return RareClassFinder(min_samples="scaled", seed=0, stability_seeds=0)

        threads = torch.get_num_threads()
        search(embedded, folder / "search", finder=finder(), verbose=False)
        search(
            pixels_repr,
            folder / "search_pixels",
            predictions=embedded,
            finder=finder(),
            verbose=False,
        )
        # A search (numba, OpenMP) leaves torch's OpenMP pool at more threads than
        # asked: two benches side by side would then oversubscribe the cores.
        torch.set_num_threads(threads)
    types = {t: PRESETS["gz2-odd"][t] for t in RARE}
    table = evaluate(
        [folder / "search", folder / "search_pixels"],
        KAGGLE / "labels.csv",
        types=types,
        names=["model", "pixels"],
        say=lambda *_: None,
    ).table
    row = {}
    for t in RARE:
        model_row = table[(table["run"] == "model") & (table["type"] == t)].iloc[0]
        pixel_row = table[(table["run"] == "pixels") & (table["type"] == t)].iloc[0]
        row[f"{t}_x"] = model_row["enrichment"]
        row[f"{t}_p"] = model_row["p_value"]
        row[f"{t}_sig"] = f"{int(model_row['in_significant'])}/{int(pixel_row['in_significant'])}"
    return row


def measure(model, val_ids, folder: Path, pixels_repr: Path | None) -> dict:
    tic = time.perf_counter()
    _, pixels = shared_pixels(KAGGLE, model.input_size, model.crop_fraction)
    model.encoder.eval()
    with torch.inference_mode():
        start = time.perf_counter()
        for i in range(0, 2000, 250):
            model.encoder(pixels[i : i + 250])
        rate = 2000 / (time.perf_counter() - start)
    row = {**morphology(model, val_ids), **conditioning(model), "encode_img_s": rate}
    if pixels_repr is not None:
        row.update(rare_types(model, folder, pixels_repr))
    row["measure_s"] = time.perf_counter() - tic
    return row


def pixel_baseline(root: Path) -> Path:
    if (root / "pixels" / "representations.parquet").is_file():
        return root / "pixels" / "representations.parquet"
    baseline(
        KAGGLE / "images", root / "pixels", crop_fraction=RECIPE["crop_fraction"], verbose=False
    )
    return root / "pixels" / "representations.parquet"


def train_family(
    family: str, seed: int, root: Path, recipe: dict | None = None
) -> tuple[Path, dict]:
    """Train (or, with its training.json there, re-read) one family and seed, with
    its :data:`FAMILIES` epochs and rate unless ``recipe`` gives others."""
    recipe = recipe or FAMILIES[family]
    out = root / f"{family}-s{seed}"
    load = os.getloadavg()[0]
    if (out / "training.json").is_file():
        summary = json.loads((out / "training.json").read_text())
    else:
        # resume=True continues an interrupted run from its checkpoint (the same
        # result: the learning rate depends only on the epoch).
        summary = train_module.train(
            KAGGLE / "labels.csv",
            out,
            images=KAGGLE / "images",
            arch=family,
            seed=seed,
            verbose=False,
            resume=True,
            **RECIPE,
            **recipe,
        )
        (out / "bench_load.txt").write_text(f"{load:.1f}-{os.getloadavg()[0]:.1f}")
    train_s = sum(h["seconds"] for h in summary["history"])
    return out, {
        "family": family,
        "seed": seed,
        "epochs": recipe["epochs"],
        "best_epoch": summary["best"]["epoch"],
        "train_min": train_s / 60,
        "load": _read_load(out),
        "MB": sum(p.stat().st_size for p in (out / "model").iterdir()) / 2**20,
    }


def _read_load(run: Path) -> str:
    """The load average at the start and end of the run's training, as recorded."""
    path = run / "bench_load.txt"
    return path.read_text() if path.is_file() else "?"


def val_ids_of(run: Path) -> list[str]:
    split = pd.read_csv(run / "split.csv", dtype={"GalaxyID": str})
    return split.loc[(split["split"] == "val") & split["usable"], "GalaxyID"].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    parser.add_argument(
        "--no-search",
        action="store_true",
        help="skip the rare-type search and evaluation (the slow part)",
    )
    parser.add_argument(
        "--only-reference", action="store_true", help="measure the bundled model only"
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="leave out the bundled model's row"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (one is fastest on a loaded machine)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"bench/model_families.py: {RECIPE}, load {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        pixels_repr = None if args.no_search else pixel_baseline(root)
        rows = []
        if not args.no_reference:
            reference = load_model(DEFAULT_MODEL)
            rows.append(
                {
                    "family": "bundled (before)",
                    **measure(
                        reference,
                        (DEFAULT_MODEL / "validation_ids.txt").read_text().split(),
                        root / "bundled",
                        pixels_repr,
                    ),
                }
            )
            print(pd.DataFrame(rows).round(3).to_string(index=False), flush=True)
        for family in [] if args.only_reference else args.families:
            for seed in args.seeds:
                run, row = train_family(family, seed, root)
                row.update(measure(load_model(run / "model"), val_ids_of(run), run, pixels_repr))
                rows.append(row)
                (root / "families.json").write_text(json.dumps(rows, indent=1, default=str))
                print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
        table = pd.DataFrame(rows)
        with pd.option_context("display.width", 250, "display.max_columns", 40):
            print("\n" + table.round(3).to_string(index=False))
            numeric = table.drop(columns=["seed"], errors="ignore").select_dtypes("number")
            summary = numeric.groupby(table["family"]).agg(["mean", "std"]).round(3)
            print("\nmean and spread (std) over seeds\n" + summary.to_string())


if __name__ == "__main__":
    main()
