"""`raregal train`: the Dirichlet-multinomial loss, a short run on real Galaxy Zoo 2
votes, resuming, and the exported model."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import gammaln

from raregal.cli import main
from raregal.core.errors import InputError
from raregal.io.schemas import GZ2
from raregal.model.models import load_model
from raregal.model.train import dirichlet_multinomial_nll, train, vote_counts

QUESTIONS = ["smooth-or-featured", "disk-edge-on", "how-rounded"]


def test_loss_matches_the_formula_and_ignores_unasked_questions():
    schema = GZ2.subset(["smooth-or-featured", "disk-edge-on"])
    alpha = torch.tensor([[2.0, 3.0, 1.5, 4.0, 1.2], [1.1, 1.1, 1.1, 7.0, 2.0]])
    counts = torch.tensor([[10.0, 5.0, 1.0, 3.0, 2.0], [4.0, 0.0, 0.0, 0.0, 0.0]])
    ours = dirichlet_multinomial_nll(alpha, counts, schema).numpy()

    def nll(a, k):
        return -(
            gammaln(a.sum()) - gammaln(k.sum() + a.sum()) + np.sum(gammaln(k + a) - gammaln(a))
        )

    a, k = alpha.numpy().astype(float), counts.numpy().astype(float)
    expected = [nll(a[i, :3], k[i, :3]) + nll(a[i, 3:], k[i, 3:]) for i in range(2)]
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    # the second galaxy's edge-on question had no votes: it adds nothing
    np.testing.assert_allclose(ours[1], nll(a[1, :3], k[1, :3]), rtol=1e-5)


def test_galaxy_challenge_cumulative_fractions_become_counts(data_dir):
    labels = pd.read_csv(data_dir / "gz-kaggle-5000" / "labels.csv.gz").head(3)
    counts = vote_counts(labels, GZ2.subset(QUESTIONS), pseudo_count=40)
    np.testing.assert_allclose(
        counts[:, :3], labels[["Class1.1", "Class1.2", "Class1.3"]] * 40, rtol=1e-6
    )
    np.testing.assert_allclose(counts[:, 3:5], labels[["Class2.1", "Class2.2"]] * 40, rtol=1e-6)
    with pytest.raises(InputError, match="no votes for 'bar_yes'"):
        vote_counts(labels, GZ2.subset(["bar"]), 40)
    # percentages in a fraction column would weigh a galaxy a hundredfold
    percent = labels.assign(**{"Class2.1": [50.0, 0.2, 12.0]})
    with pytest.raises(
        InputError,
        match=r"^labels.csv: 2 rows have vote fractions outside "
        r"\[0, 1\] in 'Class2.1'",
    ):
        vote_counts(percent, GZ2.subset(QUESTIONS), 40, "labels.csv")


@pytest.fixture(scope="module")
def labels(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    table = pd.read_csv(data_dir / "gz-kaggle-5000" / "labels.csv.gz").head(240)
    table.to_csv(folder / "labels.csv", index=False)
    return folder / "labels.csv"


def _train(labels, demo_images, out, epochs, resume=False):
    # the thumbnails are each cutout's central half; a crop of 0.5 of them still
    # leaves the augmentation its margin of sky (val loss 74.2 -> 62.7 in 4 epochs,
    # 74.2 -> 63.5 from the 424-px cutouts)
    return train(
        labels,
        out,
        images=demo_images,
        schema="gz2",
        questions=QUESTIONS,
        arch="test_efficientnet",
        bottleneck=16,
        input_size=48,
        crop_fraction=0.5,
        epochs=epochs,
        batch_size=32,
        learning_rate=1e-2,
        seed=0,
        resume=resume,
        verbose=False,
    )


@pytest.mark.slow
def test_short_training_lowers_validation_loss_and_exports(labels, demo_images, tmp_path):
    summary = _train(labels, demo_images, tmp_path / "run", epochs=4)
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert history["val_loss"].iloc[-1] < 0.9 * history["val_loss"].iloc[0]
    split = pd.read_csv(tmp_path / "run" / "split.csv")
    assert (split["split"] == "val").sum() == 48 and split["usable"].all()
    assert summary["train_galaxies"] == 192

    model = load_model(tmp_path / "run" / "model")
    assert model.dim == 16 and model.schema.answers == GZ2.subset(QUESTIONS).answers
    assert model.input_size == 48 and model.crop_fraction == 0.5
    features, fractions = model.predict(torch.rand(5, 3, 48, 48))
    assert features.shape == (5, 16) and torch.isfinite(features).all()
    for part in model.schema.slices:
        torch.testing.assert_close(fractions[:, part].sum(dim=1), torch.ones(5))


@pytest.mark.slow
def test_resume_after_a_crash_continues_to_the_same_result(
    labels, demo_images, tmp_path, monkeypatch
):
    _train(labels, demo_images, tmp_path / "straight", epochs=2)
    import raregal.model.train as train_module

    real, calls = train_module._epoch_loss, []

    def crash_in_second_epoch(*args, **kwargs):  # validation, epoch 1 train + val, epoch 2
        calls.append(kwargs)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "_epoch_loss", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        _train(labels, demo_images, tmp_path / "stopped", epochs=2)
    monkeypatch.setattr(train_module, "_epoch_loss", real)
    assert len(pd.read_csv(tmp_path / "stopped" / "metrics.csv")) == 2  # epochs 0-1
    with pytest.raises(InputError, match="add --resume"):
        _train(labels, demo_images, tmp_path / "stopped", epochs=2)
    _train(labels, demo_images, tmp_path / "stopped", epochs=2, resume=True)
    straight = pd.read_csv(tmp_path / "straight" / "metrics.csv")
    resumed = pd.read_csv(tmp_path / "stopped" / "metrics.csv")
    pd.testing.assert_frame_equal(
        straight.drop(columns="seconds"), resumed.drop(columns="seconds"), rtol=1e-5
    )


def test_cli_train_then_embed_with_the_trained_model(labels, demo_images, tmp_path):
    code = main(
        [
            "train",
            str(labels),
            "--images",
            str(demo_images),
            "--questions",
            ",".join(QUESTIONS),
            "--arch",
            "test_efficientnet",
            "--bottleneck",
            "8",
            "--size",
            "32",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["params"]["bottleneck"] == 8
    images = sorted(demo_images.iterdir())[:6]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in images:
        (folder / p.name).write_bytes(p.read_bytes())
    assert (
        main(
            [
                "embed",
                str(folder),
                "--model",
                str(tmp_path / "run" / "model"),
                "--out",
                str(tmp_path / "emb"),
                "--workers",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_parquet(tmp_path / "emb" / "representations.parquet")
    assert table.filter(like="feat_").shape == (6, 8)
    assert "smooth-or-featured_smooth_fraction" in table.columns


def test_images_folder_is_read_with_every_suffix_embed_reads(labels, demo_images, tmp_path):
    """`train --images` finds the images `embed` reads: .fit, .fits.gz, .fits.fz and
    .JPG cutouts too (train once had its own list of four suffixes and left these out)."""
    from astropy.io import fits
    from PIL import Image

    from raregal.io.images import image_catalogue

    table = pd.read_csv(labels).head(12)
    ids = table["GalaxyID"].astype(str).tolist()
    folder = tmp_path / "imgs"
    folder.mkdir()
    suffixes = [".jpg", ".png", ".fits", ".fit", ".fits.gz", ".fits.fz", ".JPG", ".jpeg"]
    for i, galaxy in enumerate(ids):
        suffix, thumb = suffixes[i % len(suffixes)], Image.open(demo_images / f"{galaxy}.jpg")
        grey = np.asarray(thumb.convert("L"), np.float32) / 255  # a one-band cutout
        if suffix == ".fits.fz":
            fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(grey)]).writeto(
                folder / f"{galaxy}{suffix}"
            )
        elif suffix.startswith(".fit"):
            fits.writeto(folder / f"{galaxy}{suffix}", grey)
        else:
            thumb.save(folder / f"{galaxy}{suffix}", "PNG" if suffix == ".png" else "JPEG")
    assert sorted(image_catalogue(folder)[0]) == sorted(ids)  # embed reads all 12
    table.to_csv(tmp_path / "labels.csv", index=False)
    assert (
        main(
            [
                "train",
                str(tmp_path / "labels.csv"),
                "--images",
                str(folder),
                "--questions",
                ",".join(QUESTIONS),
                "--arch",
                "test_efficientnet",
                "--bottleneck",
                "8",
                "--size",
                "32",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "run"),
                "--quiet",
            ]
        )
        == 0
    )
    split = pd.read_csv(tmp_path / "run" / "split.csv", dtype={"GalaxyID": str})
    assert split["GalaxyID"].tolist() == ids and split["usable"].all()


def test_augment_keeps_a_centred_galaxy_centred_and_varies_its_framing():
    """A round blob in the middle of an image decoded with the margin stays in the
    middle of every view (shift <= 5 %), at a size within the zoom range, and the
    views are seeded."""
    from raregal.model.train import AUGMENT_MARGIN, ZOOM, augment

    size, m = 32, 40  # a 40-px decode with a 1.25 margin holds the 32-px view
    y, x = np.mgrid[:m, :m] + 0.5 - m / 2
    blob = torch.from_numpy(np.exp(-(x**2 + y**2) / (2 * 4.0**2))).float()
    batch = blob.expand(64, 3, m, m).contiguous()
    views = augment(batch, size, torch.Generator().manual_seed(1))
    assert views.shape == (64, 3, size, size)
    assert views.min() >= 0 and views.max() <= 1
    weight = views.mean(dim=1).clamp(min=0.05) - 0.05  # above the noise
    grid = torch.arange(size) + 0.5 - size / 2
    cy = (weight.sum(dim=2) * grid).sum(dim=1) / weight.sum(dim=(1, 2))
    cx = (weight.sum(dim=1) * grid).sum(dim=1) / weight.sum(dim=(1, 2))
    assert cx.abs().max() < 0.05 * size * ZOOM + 1 and cy.abs().max() < 0.05 * size * ZOOM + 1
    # the blob's apparent width follows the zoom: sigma 4 px * size/m * margin = 4 px at 1x
    width = torch.sqrt((weight.sum(dim=1) * grid**2).sum(dim=1) / weight.sum(dim=(1, 2)))
    assert width.min() > 2.5 and width.max() < 5.5 and width.std() > 0.1
    assert AUGMENT_MARGIN * size == m
    again = augment(batch, size, torch.Generator().manual_seed(1))
    torch.testing.assert_close(views, again)


def test_a_last_batch_of_one_image_is_skipped_not_fatal_to_batch_norm():
    from raregal.model.train import _epoch_loss, build_model

    schema = GZ2.subset(QUESTIONS)
    model, _ = build_model("raregal_cnn", 8, schema, input_size=32, crop_fraction=0.5)
    images = torch.randint(0, 256, (5, 3, 40, 40), dtype=torch.uint8)
    counts = torch.full((5, len(schema.answers)), 10.0)
    optimiser = torch.optim.AdamW([*model.encoder.parameters(), *model.head.parameters()])
    loss = _epoch_loss(model, images, counts, 4, True, optimiser, torch.Generator().manual_seed(0))
    assert np.isfinite(loss) and loss > 0


def test_a_nan_loss_is_written_as_strict_json(labels, demo_images, tmp_path, monkeypatch):
    """training.json and the model's config.json are read by other tools: a diverged
    (NaN) loss is null in both, not NaN."""
    import raregal.model.train as train_module

    monkeypatch.setattr(train_module, "_epoch_loss", lambda *args, **kwargs: float("nan"))
    _train(labels, demo_images, tmp_path / "run", epochs=1)

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    record = json.loads((tmp_path / "run" / "training.json").read_text(), parse_constant=refuse)
    assert record["history"][0]["val_loss"] is None
    config = json.loads(
        (tmp_path / "run" / "model" / "config.json").read_text(), parse_constant=refuse
    )
    assert config["raregal"]["val_loss"] is None


def test_a_tampered_checkpoint_runs_no_code(tmp_path):
    """Resuming reads the checkpoint with torch's weights-only unpickler: a pickle
    that would run a command is refused in one line, and the command never runs."""
    import os
    import pickle

    from raregal.model.train import load_checkpoint

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"params": Payload()}, checkpoint, pickle_module=pickle)
    with pytest.raises(InputError, match="not a raregal training checkpoint"):
        load_checkpoint(checkpoint)
    assert not marker.exists()
    torch.save({"params": {"epochs": 2}, "history": [1.5]}, tmp_path / "good.pt")
    assert load_checkpoint(tmp_path / "good.pt") == {"params": {"epochs": 2}, "history": [1.5]}
