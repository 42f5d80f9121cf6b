"""How well-conditioned is a model's representation? One command, before and after.

For a raregal model folder (default: the bundled model) and each shared image set
(gz-kaggle-5000, SDSS; gz-decals-rings-470, DECaLS), prints:

- the share of variance on the first principal component and the number of
  components needed for 90 % of it;
- feature-norm percentiles (1st, 50th, 99.9th, max) and the 99.9th / median ratio;
- with ``--layers``, the same norms at the encoder's last stages, to find where a
  large norm comes from (timm's ``forward_features``, the pooled vector, and the
  representation).

The bundled model's targets: PC1 below 50 % and the 99.9th-percentile norm within 5x the
median, on every shared set.

    python bench/model_geometry.py                          # the bundled model
    python bench/model_geometry.py runs/cnn/model --layers  # any trained model
    python bench/model_geometry.py --limit 1000             # quicker, first 1000 of each
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from raregal.io.images import model_input
from raregal.model.models import DEFAULT_MODEL, load_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETS = {
    "gz-kaggle-5000": SHARED / "gz-kaggle-5000" / "images",
    "gz-decals-rings-470": SHARED / "gz-decals-rings-470" / "images",
}


def load_pixels(folder: Path, model, limit: int | None) -> torch.Tensor:
    """The set's images, sorted by name, preprocessed as ``raregal embed`` does."""
    paths = sorted(folder.iterdir())[:limit]
    return torch.from_numpy(
        np.stack(
            [
                model_input(p, size=model.input_size, crop_fraction=model.crop_fraction)
                for p in paths
            ]
        )
    )


def spectrum(features: np.ndarray) -> dict:
    """PC1's share of the variance and the components that hold 90 % of it."""
    centred = features - features.mean(axis=0)
    variance = np.linalg.svd(centred.astype(np.float64), compute_uv=False) ** 2
    share = variance / variance.sum()
    return {
        "pc1_share": float(share[0]),
        "pcs_for_90": int(np.searchsorted(np.cumsum(share), 0.90) + 1),
    }


def norms(features: np.ndarray) -> dict:
    """Euclidean norm percentiles of the rows, and the 99.9th over the median."""
    n = np.linalg.norm(features.reshape(len(features), -1), axis=1)
    p1, p50, p999 = np.percentile(n, [1, 50, 99.9])
    return {
        "norm_p1": p1,
        "norm_p50": p50,
        "norm_p99.9": p999,
        "norm_max": n.max(),
        "p99.9/median": p999 / p50,
    }


def geometry(features: np.ndarray) -> dict:
    return {**spectrum(features), **norms(features)}


@torch.inference_mode()
def layer_features(model, pixels: torch.Tensor, batch: int = 256) -> dict[str, np.ndarray]:
    """The encoder's spatial feature map (mean over positions), its pooled vector
    before any bottleneck, and the representation, for a timm backbone."""
    from raregal.model.models import backbone_of

    backbone = backbone_of(model.encoder)
    backbone.eval()
    model.encoder.eval()
    out = {
        "forward_features (mean over pixels)": [],
        "pooled (pre-bottleneck)": [],
        "representation": [],
    }
    for start in range(0, len(pixels), batch):
        x = pixels[start : start + batch]
        fmap = backbone.forward_features(x)
        out["forward_features (mean over pixels)"].append(
            fmap.mean(dim=(2, 3)) if fmap.ndim == 4 else fmap.mean(dim=1)
        )
        out["pooled (pre-bottleneck)"].append(backbone.forward_head(fmap, pre_logits=True))
        out["representation"].append(model.encoder(x))
    return {k: torch.cat(v).float().numpy() for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", nargs="?", default=str(DEFAULT_MODEL))
    parser.add_argument("--limit", type=int, help="first N images of each set")
    parser.add_argument("--layers", action="store_true", help="also the last stages' norms")
    args = parser.parse_args()
    import pandas as pd

    model = load_model(args.model)
    print(
        f"bench/model_geometry.py: {args.model} ({model.dim}-d, {model.input_size} px, "
        f"crop {model.crop_fraction:g})"
    )
    rows = []
    for name, folder in SETS.items():
        pixels = load_pixels(folder, model, args.limit)
        if args.layers:
            for layer, feats in layer_features(model, pixels).items():
                rows.append({"set": name, "n": len(feats), "layer": layer, **geometry(feats)})
        else:
            features, _ = model.predict(pixels, passes=1)
            rows.append({"set": name, "n": len(features), **geometry(features.numpy())})
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
