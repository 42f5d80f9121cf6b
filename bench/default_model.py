"""Rebuild raregal's bundled default model and write its model card.

Trains :data:`FAMILY` with :data:`RECIPE` (bench/model_families.py's recipe: the
family that did best there at equal time, trained longer) on gz-kaggle-5000 with
each seed, measures every run as bench/model_families.py does (validation
Pearson r, DECaLS agreement and ring probe, conditioning, rare-type enrichment
against the pixel baseline), then copies the first seed's model into
``src/raregal/data/default-model/`` with ``validation_ids.txt`` and a
``MODEL_CARD.md`` that states every figure, its spread over the seeds and the
command.

    python bench/default_model.py --keep runs/default              # seed 0: the bundle
    python bench/default_model.py --seeds 0 1 2 --keep runs/default  # and the spread

Runs kept in ``--keep`` are re-read, not retrained, so a second call with more
seeds trains only the new ones. Use both cores (``--threads 2``, the default) on
an idle machine: the card's training time is what this run took.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

import model_families as mf
from bottleneck_table import validation_metrics
from model_geometry import SETS, geometry, load_pixels
from raregal.model.embed import embed
from raregal.model.models import DEFAULT_MODEL, load_model

FAMILY = "raregal_resnet"
RECIPE = {"epochs": 80, "learning_rate": 3e-3}


def train_and_measure(seed: int, root: Path, pixels_repr: Path, threads: int) -> tuple[Path, dict]:
    torch.set_num_threads(threads)
    run, row = mf.train_family(FAMILY, seed, root, RECIPE)
    summary = json.loads((run / "training.json").read_text())
    row.update(mf.measure(load_model(run / "model"), mf.val_ids_of(run), run, pixels_repr))
    row.update(
        validation_metrics(run),
        wall_min=summary["wall_seconds"] / 60,
        val_loss=summary["best"]["val_loss"],
    )
    return run, row


def embed_rate(run: Path, val_ids: list[str]) -> float:
    """Images per second, end to end with ``raregal embed`` (one decoding worker)."""
    catalogue = run / "validation.csv"
    pd.DataFrame(
        {"GalaxyID": val_ids, "file_loc": [str(mf.KAGGLE / "images" / f"{i}.jpg") for i in val_ids]}
    ).to_csv(catalogue, index=False)
    shutil.rmtree(run / "speed", ignore_errors=True)
    torch.set_num_threads(os.cpu_count())  # torch's own default, as a user's embed runs
    start = time.perf_counter()
    embed(catalogue, run / "speed", model=str(run / "model"), workers=1, verbose=False)
    return len(val_ids) / (time.perf_counter() - start)


def geometry_table(model) -> str:
    rows = []
    for name, folder in SETS.items():
        features, _ = model.predict(load_pixels(folder, model, None), passes=1)
        g = geometry(features.numpy())
        rows.append(
            f"| {name} | {len(features):,} | {100 * g['pc1_share']:.1f} % | "
            f"{g['pcs_for_90']} | {g['norm_p1']:.2f} / {g['norm_p50']:.2f} / "
            f"{g['norm_p99.9']:.2f} / {g['norm_max']:.2f} | {g['p99.9/median']:.2f} |"
        )
    return "\n".join(rows)


def spread(rows: list[dict], key: str) -> str:
    values = pd.Series([r[key] for r in rows], dtype=float)
    if len(values) == 1:
        return f"{values[0]:.3f} (one seed)"
    return f"{values.mean():.3f} ± {values.std():.3f} over {len(values)} seeds"


CARD = Path(__file__).with_name("default_model_card.md")


def write_card(rows: list[dict], seeds: list[int], rate: float, threads: int) -> None:
    model = load_model(DEFAULT_MODEL)
    first = rows[0]
    params = sum(p.numel() for p in model.encoder.parameters()) + sum(
        p.numel() for p in model.head.parameters()
    )
    size_mb = sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir()) / 2**20
    seeds_text = " ".join(map(str, seeds))
    per_seed = pd.DataFrame(rows)[
        [
            "seed",
            "best_epoch",
            "train_min",
            "smooth_pearson",
            "edge_on_pearson",
            "decals_feat_rho",
            "ring_probe_auc",
            "pc1",
            "norm_ratio",
            "ring_x",
            "ring_p",
            "ring_sig",
            "merger_x",
            "merger_p",
            "merger_sig",
            "irregular_x",
            "irregular_p",
            "irregular_sig",
        ]
    ].round(3)
    per_seed = "\n".join(
        ["| " + " | ".join(per_seed.columns) + " |", "|" + "---|" * per_seed.shape[1]]
        + ["| " + " | ".join(map(str, r)) + " |" for r in per_seed.values]
    )
    text = CARD.read_text().format(
        arch=FAMILY,
        params=params,
        size_mb=size_mb,
        crop=model.crop_fraction,
        size=model.input_size,
        epochs=RECIPE["epochs"],
        lr=RECIPE["learning_rate"],
        best_epoch=first["best_epoch"],
        minutes=first["wall_min"],
        threads=threads,
        train_load=first["load"],
        encode=first["encode_img_s"],
        n_val=first["val_galaxies"],
        val_loss=first["val_loss"],
        smooth_pearson=first["smooth_pearson"],
        smooth_spearman=first["smooth_spearman"],
        smooth_mae=first["smooth_mae"],
        edge_on_pearson=first["edge_on_pearson"],
        rate=rate,
        seeds=seeds_text,
        smooth_spread=spread(rows, "smooth_pearson"),
        edge_spread=spread(rows, "edge_on_pearson"),
        per_seed=per_seed,
        geometry=geometry_table(model),
        load=os.getloadavg()[0],
    )
    (DEFAULT_MODEL / "MODEL_CARD.md").write_text(text)


def export(run: Path, rows: list[dict], seeds: list[int], threads: int) -> None:
    val_ids = mf.val_ids_of(run)
    rate = embed_rate(run, val_ids)
    shutil.rmtree(DEFAULT_MODEL, ignore_errors=True)
    shutil.copytree(run / "model", DEFAULT_MODEL)
    (DEFAULT_MODEL / "validation_ids.txt").write_text("\n".join(val_ids) + "\n")
    write_card(rows, seeds, rate, threads)
    print(f"exported {DEFAULT_MODEL} ({rate:.0f} images/s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads for training and measuring (the card says)",
    )
    parser.add_argument(
        "--no-export", action="store_true", help="measure only; leave the bundled model as it is"
    )
    args = parser.parse_args()
    print(
        f"bench/default_model.py: {FAMILY} {RECIPE}, seeds {args.seeds}, load {os.getloadavg()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        pixels_repr = mf.pixel_baseline(root)
        runs, rows = [], []
        for seed in args.seeds:
            run, row = train_and_measure(seed, root, pixels_repr, args.threads)
            runs.append(run)
            rows.append(row)
            print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
        (root / "default_model.json").write_text(json.dumps(rows, indent=1, default=str))
        if not args.no_export:
            export(runs[0], rows, args.seeds, args.threads)


if __name__ == "__main__":
    main()
