"""The paper's claim, measured: does a 128-d (or 32-d) bottleneck cost accuracy?

Trains the same architecture on the same Galaxy Zoo 2 votes (questions
smooth-or-featured, disk-edge-on and how-rounded; the odd questions are held out
on purpose), with the same split, seed and epochs, once with the architecture's
own pooled representation and once per bottleneck, then prints the best
validation loss and, on the validation galaxies, the correlation between the
predicted and the volunteers' vote fractions.

    python bench/bottleneck_table.py                       # about 15 minutes on 2 cores
    python bench/bottleneck_table.py --keep runs/          # keep the trained models

bench/default_model.py rebuilds raregal's bundled model; it reads
:func:`validation_metrics` from here.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr, spearmanr

from raregal.io.images import model_input
from raregal.model.models import load_model
from raregal.model.train import train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gz-kaggle-5000"
QUESTIONS = ["smooth-or-featured", "disk-edge-on", "how-rounded"]
SETTINGS = dict(
    schema="gz2",
    questions=QUESTIONS,
    arch="mobilenetv3_small_100",
    input_size=64,
    crop_fraction=0.5,
    epochs=30,
    batch_size=64,
    learning_rate=2e-3,
    seed=0,
)


def validation_metrics(run: Path) -> dict:
    """Predicted vs volunteer fractions on the run's validation galaxies."""
    model = load_model(run / "model")
    split = pd.read_csv(run / "split.csv", dtype={"GalaxyID": str})
    val_ids = split.loc[(split["split"] == "val") & split["usable"], "GalaxyID"]
    labels = pd.read_csv(DATA / "labels.csv", dtype={"GalaxyID": str}).set_index("GalaxyID")
    pixels = torch.from_numpy(
        np.stack(
            [
                model_input(
                    DATA / "images" / f"{i}.jpg",
                    size=model.input_size,
                    crop_fraction=model.crop_fraction,
                )
                for i in val_ids
            ]
        )
    )
    torch.manual_seed(0)
    _, fractions = model.predict(pixels)
    predicted = pd.DataFrame(fractions.numpy(), columns=model.schema.answers)
    truth = labels.loc[val_ids]
    smooth = truth["Class1.1"].to_numpy()  # the root question: already a plain fraction
    featured = truth["Class1.2"].to_numpy()
    edge_on = (truth["Class2.1"] / (truth["Class2.1"] + truth["Class2.2"])).to_numpy()
    asked = featured > 0.5  # edge-on compared only where most volunteers were asked
    return {
        "val_galaxies": len(val_ids),
        "smooth_pearson": pearsonr(predicted["smooth-or-featured_smooth"], smooth)[0],
        "smooth_spearman": spearmanr(predicted["smooth-or-featured_smooth"], smooth)[0],
        "smooth_mae": float(np.mean(np.abs(predicted["smooth-or-featured_smooth"] - smooth))),
        "edge_on_pearson": pearsonr(predicted["disk-edge-on_yes"][asked], edge_on[asked])[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bottlenecks", nargs="+", default=["none", "128", "32"])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    args = parser.parse_args()
    settings = {**SETTINGS, "epochs": args.epochs}
    print(f"bench/bottleneck_table.py: {settings}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        rows = []
        for text in args.bottlenecks:
            bottleneck = None if text == "none" else int(text)
            summary = train(
                DATA / "labels.csv",
                root / f"bottleneck_{text}",
                images=DATA / "images",
                bottleneck=bottleneck,
                verbose=False,
                **settings,
            )
            metrics = validation_metrics(root / f"bottleneck_{text}")
            dim = load_model(root / f"bottleneck_{text}" / "model").dim
            rows.append(
                {
                    "representation": dim,
                    "best_epoch": summary["best"]["epoch"],
                    "best_val_loss": round(summary["best"]["val_loss"], 3),
                    **{k: round(v, 3) for k, v in metrics.items()},
                    "train_minutes": round(summary["wall_seconds"] / 60, 1),
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
        print("\n" + pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
