"""Decoding cutouts and Zoobot's preprocessing."""

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from raregal.images import ImageError, legacy_rgb, load_rgb, preprocess


def test_legacy_rgb_matches_the_mapping_by_hand():
    g, r, z = 0.0066 * 2, 0.01 * -3, 0.025 * 10  # 2, -3 and 10 after scaling
    planes = np.array([[[g]], [[r]], [[z]]], dtype=np.float32)
    rgb = legacy_rgb(planes, "grz")
    # z -> R, r -> G, g -> B; [-3, 10] -> [0, 1]
    np.testing.assert_allclose(rgb[0, 0], [1.0, 0.0, 5 / 13], rtol=1e-5)
    clipped = legacy_rgb(planes * 100, "grz")
    np.testing.assert_allclose(clipped[0, 0], [1.0, 0.0, 1.0])
    stretched = legacy_rgb(planes, "grz", arcsinh=1.0)
    low, high = np.arcsinh(-3.0), np.arcsinh(10.0)
    np.testing.assert_allclose(stretched[0, 0, 2], (np.arcsinh(2.0) - low) / (high - low),
                               rtol=1e-5)
    with pytest.raises(ImageError, match="needs g, r and z"):
        legacy_rgb(planes, "gri")


def test_real_grz_fits_cutouts(data_dir):
    for name, side in (("example_a.fits", 509), ("example_b.fits", 162)):
        image = load_rgb(data_dir / "decals-fits-cutouts" / name)
        assert image.mode == "RGB" and image.size == (side, side)
        pixels = np.asarray(image)
        # the galaxy at the centre is brighter than the sky at the corners
        centre = pixels[side // 2 - 5: side // 2 + 5, side // 2 - 5: side // 2 + 5].mean()
        assert centre > pixels[:20, :20].mean() + 50


def test_single_band_fits_is_greyscale(tmp_path):
    yy, xx = np.mgrid[:64, :64]
    fits.writeto(tmp_path / "one.fits", np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / 50.0))
    pixels = np.asarray(load_rgb(tmp_path / "one.fits")).astype(int)
    assert np.all(pixels[..., 0] == pixels[..., 1]) and np.all(pixels[..., 1] == pixels[..., 2])
    assert pixels[32, 32, 0] > pixels[0, 0, 0]


def test_preprocess_crops_centre_and_scales(tmp_path):
    # a 424 image whose central 1/1.2 is white and the rim black
    side, keep = 424, round(424 / 1.2)
    pixels = np.zeros((side, side, 3), np.uint8)
    start = (side - keep) // 2
    pixels[start:start + keep, start:start + keep] = 255
    out = preprocess(Image.fromarray(pixels))
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out[:, 2:-2, 2:-2].min() > 0.99  # no rim left: no ImageNet normalisation either
    assert preprocess(Image.fromarray(pixels), crop_fraction=1.0)[:, 0, 0].max() < 0.05
    grey = preprocess(Image.fromarray(pixels), size=64, greyscale_model=True)
    assert grey.shape == (1, 64, 64)


def test_real_jpeg_and_bad_files(data_dir, tmp_path):
    image = load_rgb(data_dir / "gz-kaggle-5000" / "images" / "100008.jpg")
    assert image.size == (424, 424) and image.mode == "RGB"
    raw = (data_dir / "gz-kaggle-5000" / "images" / "100008.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ImageError, match="cannot decode jpeg"):
        load_rgb(tmp_path / "cut.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="cannot decode png"):
        load_rgb(tmp_path / "text.png")
    with pytest.raises(ImageError, match="file not found"):
        load_rgb(tmp_path / "absent.jpg")
    with pytest.raises(ImageError, match="not an image raregal reads"):
        load_rgb(tmp_path / "notes.txt")
