"""The bundled default model: small, loads offline with the shapes its config
states, reproduces its card's validation figure, and (issue 13) gives a
well-conditioned representation on real SDSS and DECaLS images (the package's demo
thumbnails and tests/data's DECaLS thumbnails: the central half of each cutout,
which the model sees whole as it sees a full cutout at its own crop of 0.5)."""

import functools
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import pearsonr

from raregal.demo import DEMO_CROP_FRACTION
from raregal.io.images import model_input
from raregal.model.embed import embed
from raregal.model.models import DEFAULT_MODEL, load_model


def _pixels(folder, names, model, crop_fraction):
    """The images as ``raregal embed --crop-fraction`` decodes them."""
    return torch.from_numpy(
        np.stack(
            [
                model_input(folder / name, size=model.input_size, crop_fraction=crop_fraction)
                for name in names
            ]
        )
    )


def test_bundle_is_small_and_loads_with_the_shapes_its_config_states():
    assert sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir()) <= 10 * 1024**2
    config = json.loads((DEFAULT_MODEL / "config.json").read_text())["raregal"]
    model = load_model()
    assert model.name == "default" and model.dim == config["dim"] == 128
    assert (model.input_size, model.crop_fraction) == (
        config["input_size"],
        config["crop_fraction"],
    )
    assert [q.name for q in model.schema.questions] == [
        "smooth-or-featured",
        "disk-edge-on",
        "how-rounded",
    ]
    features, fractions = model.predict(torch.rand(3, 3, model.input_size, model.input_size))
    assert features.shape == (3, 128) and torch.isfinite(features).all()
    assert fractions.shape == (3, len(model.schema.answers))
    for part in model.schema.slices:
        torch.testing.assert_close(fractions[:, part].sum(dim=1), torch.ones(3))


def test_card_figure_is_reproduced_on_the_held_out_galaxies(data_dir, demo_images):
    """The card's validation smooth-fraction Pearson r, recomputed on its 1,000
    held-out galaxies the way bench/bottleneck_table.py measured it, from the demo
    thumbnails of those galaxies (0.8461; the full cutouts give 0.8453)."""
    card = (DEFAULT_MODEL / "MODEL_CARD.md").read_text()
    stated = float(re.search(r"smooth fraction: Pearson (\d\.\d+)", card).group(1))
    model = load_model()
    held_out = (DEFAULT_MODEL / "validation_ids.txt").read_text().split()
    labels = (
        pd.read_csv(data_dir / "gz-kaggle-5000" / "labels.csv.gz", dtype={"GalaxyID": str})
        .set_index("GalaxyID")
        .loc[held_out]
    )
    pixels = _pixels(demo_images, [f"{i}.jpg" for i in held_out], model, DEMO_CROP_FRACTION)
    torch.manual_seed(0)
    _, fractions = model.predict(pixels)
    smooth = fractions[:, model.schema.answers.index("smooth-or-featured_smooth")].numpy()
    assert len(held_out) == 1000
    assert pearsonr(smooth, labels["Class1.1"])[0] == pytest.approx(stated, abs=0.0015)


@pytest.fixture(scope="module")
def representation(data_dir, demo_images):
    """The bundled model's representation of up to 1,000 galaxies of a set (the
    thumbnails, whole), computed once per set for the tests below."""
    folders = {
        "gz-kaggle-5000": demo_images,
        "gz-decals-rings-470": data_dir / "gz-decals-rings-470" / "images",
    }

    @functools.cache
    def of(folder):
        model = load_model()
        names = sorted(p.name for p in folders[folder].iterdir())[:1000]
        features, _ = model.predict(
            _pixels(folders[folder], names, model, DEMO_CROP_FRACTION), passes=1
        )
        return features.double().numpy()

    return of


@pytest.mark.slow  # embeds up to 1,000 real images per set with the bundled model
@pytest.mark.parametrize("folder", ["gz-kaggle-5000", "gz-decals-rings-470"])
def test_no_galaxy_dominates_the_representation(representation, folder):
    """The 99.9th-percentile feature norm within 5x the median (issue 13's target;
    the first bundled model's ran to 250x on SDSS and 1,335x on DECaLS)."""
    norms = np.linalg.norm(representation(folder), axis=1)
    assert np.percentile(norms, 99.9) <= 5 * np.median(norms)


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["gz-kaggle-5000", "gz-decals-rings-470"])
def test_no_principal_component_holds_half_the_variance(representation, folder):
    """Issue 13's target: PC1 below 50 % of the variance on every real set (the
    first bundled model's held 99.8 and 100 %)."""
    features = representation(folder)
    variance = np.linalg.svd(features - features.mean(axis=0), compute_uv=False) ** 2
    assert variance[0] / variance.sum() < 0.5


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
