"""The bundled default model: loads offline, gives finite 128-d vectors, and its
predicted smooth fraction follows the volunteers' on galaxies it never trained on."""

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from raregal.embed import embed
from raregal.images import load_rgb, preprocess
from raregal.models import DEFAULT_MODEL, load_model


def test_bundle_is_small_and_documented():
    size = sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir())
    assert size <= 10 * 1024 ** 2
    card = (DEFAULT_MODEL / "MODEL_CARD.md").read_text()
    for needed in ("Galaxy Zoo 2", "raregal train", "held-out", "images/s"):
        assert needed in card


def test_default_model_on_held_out_galaxies(data_dir):
    model = load_model()
    assert model.name == "default" and model.dim == 128
    assert [q.name for q in model.schema.questions] == [
        "smooth-or-featured", "disk-edge-on", "how-rounded"]
    held_out = (DEFAULT_MODEL / "validation_ids.txt").read_text().split()[:300]
    labels = pd.read_csv(data_dir / "gz-kaggle-5000" / "labels.csv",
                         dtype={"GalaxyID": str}).set_index("GalaxyID").loc[held_out]
    pixels = torch.from_numpy(np.stack([
        preprocess(load_rgb(data_dir / "gz-kaggle-5000" / "images" / f"{i}.jpg"),
                   size=model.input_size, crop_fraction=model.crop_fraction)
        for i in held_out]))
    features, fractions = model.predict(pixels)
    assert features.shape == (300, 128) and torch.isfinite(features).all()
    smooth = fractions[:, model.schema.answers.index("smooth-or-featured_smooth")].numpy()
    rho = spearmanr(smooth, labels["Class1.1"]).statistic
    assert rho > 0.6, f"rank correlation with volunteers {rho:.2f}"


def test_embed_uses_the_default_model_when_none_is_named(data_dir, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for path in sorted((data_dir / "gz-decals-rings-470" / "images").iterdir())[:4]:
        (folder / path.name).write_bytes(path.read_bytes())
    manifest = embed(folder, tmp_path / "out", workers=0, verbose=False)
    assert manifest["model"]["name"] == "default" and manifest["model"]["dim"] == 128
    table = pd.read_parquet(tmp_path / "out" / "representations.parquet")
    assert table.filter(like="feat_").shape == (4, 128)
    assert "smooth-or-featured_smooth_fraction" in table.columns
