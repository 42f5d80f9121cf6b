"""Decoding cutouts and Zoobot's preprocessing."""

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from raregal.io.images import ImageError, legacy_rgb, load_rgb, model_input, preprocess


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
    np.testing.assert_allclose(
        stretched[0, 0, 2], (np.arcsinh(2.0) - low) / (high - low), rtol=1e-5
    )
    with pytest.raises(ImageError, match="needs g, r and z"):
        legacy_rgb(planes, "gri")


def test_real_grz_fits_cutouts(data_dir):
    # example_a is the central 127x127 of its 509x509 survey cutout (tests/data/README.md)
    for name, side in (("example_a.fits", 127), ("example_b.fits", 162)):
        image = load_rgb(data_dir / "decals-fits-cutouts" / name)
        assert image.mode == "RGB" and image.size == (side, side)
        pixels = np.asarray(image)
        # the galaxy at the centre is brighter than the sky at the corners
        centre = pixels[side // 2 - 5 : side // 2 + 5, side // 2 - 5 : side // 2 + 5].mean()
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
    pixels[start : start + keep, start : start + keep] = 255
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


def _png16(path, pixels):
    """A 16-bit PNG (greyscale (H, W, 1) or RGB (H, W, 3)), written by hand: Pillow
    writes 16-bit greyscale but not 16-bit RGB."""
    import struct
    import zlib

    height, width, channels = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    colour = {1: 0, 3: 2}[channels]
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_16_bit_png_is_scaled_from_its_full_range(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64, 1).astype(np.uint16)
    for channels in (1, 3):
        _png16(tmp_path / "deep.png", np.repeat(ramp, channels, axis=2))
        pixels = np.asarray(load_rgb(tmp_path / "deep.png")).astype(int)
        # 16-bit v is 8-bit v * 255 / 65535 (Pillow clipped greyscale to 255: near-white)
        expected = np.round(ramp[..., 0].astype(float) * 255 / 65535)
        np.testing.assert_allclose(pixels[..., 0], expected, atol=1)
        assert pixels.mean() == pytest.approx(127.5, abs=1)


def test_unusable_pixels_are_reported(tmp_path):
    fits.writeto(tmp_path / "nan.fits", np.full((3, 32, 32), np.nan, np.float32))
    with pytest.raises(ImageError, match="band g: no finite pixels"):
        load_rgb(tmp_path / "nan.fits")
    fits.writeto(tmp_path / "nan1.fits", np.full((32, 32), np.inf, np.float32))
    with pytest.raises(ImageError, match="no finite pixels"):
        load_rgb(tmp_path / "nan1.fits")
    mostly = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    mostly[:24] = np.nan  # 75 % missing
    fits.writeto(tmp_path / "mostly.fits", mostly)
    with pytest.raises(ImageError, match="75% of the pixels are NaN or infinite"):
        load_rgb(tmp_path / "mostly.fits")
    mostly[:24] = 1.0
    mostly[0, :8] = np.nan  # a few masked pixels: filled as sky, the image is kept
    fits.writeto(tmp_path / "few.fits", mostly)
    assert load_rgb(tmp_path / "few.fits").size == (32, 32)
    fits.writeto(tmp_path / "zero.fits", np.zeros((3, 16, 16), np.float32))
    with pytest.raises(ImageError, match="band g: constant image"):
        load_rgb(tmp_path / "zero.fits")
    Image.new("RGB", (40, 40), (12, 12, 12)).save(tmp_path / "flat.png")
    with pytest.raises(ImageError, match="constant image: every pixel is 12"):
        load_rgb(tmp_path / "flat.png")


def test_small_views_of_large_jpegs_are_decoded_at_reduced_scale(data_dir, tmp_path):
    # The bundled model sees 64 px of the central half of a 424-px SDSS cutout: a
    # half-scale decode has 106 px there, and gives what decoding the whole image does,
    # up to JPEG's own rounding. Zoobot's 224 px of the central 1/1.2 needs every pixel.
    paths = sorted((data_dir / "gz-kaggle-5000" / "images").glob("*.jpg"))
    assert len(paths) == 24  # every 424-px cutout in tests/data
    assert not np.array_equal(
        model_input(paths[0], crop_fraction=0.5, size=64),
        preprocess(load_rgb(paths[0]), crop_fraction=0.5, size=64),
    )
    assert load_rgb(paths[0], at_least=(128, 128)).size == (212, 212)
    assert load_rgb(paths[0], at_least=(269, 269)).size == (424, 424)
    fast = np.stack([model_input(p, crop_fraction=0.5, size=64) for p in paths])
    whole = np.stack([preprocess(load_rgb(p), crop_fraction=0.5, size=64) for p in paths])
    levels = np.abs(fast - whole) * 255
    assert levels.mean() < 0.5 and np.percentile(levels, 99) <= 1.5
    assert np.array_equal(model_input(paths[0]), preprocess(load_rgb(paths[0])))

    # unequal sides: reduced by the coarsest scale that divides both (1/4 here); odd
    # sides are read whole, as a reduction would shift the crop by a fraction of a pixel
    for width, height, decoded, most in ((424, 300, (106, 75), 2), (425, 301, (425, 301), 0)):
        y, x = np.mgrid[0:height, 0:width]
        ramp = np.stack([x / width, y / height, (x + y) / (width + height)], -1) * 255
        Image.fromarray(ramp.astype(np.uint8)).save(tmp_path / "ramp.jpg", quality=95)
        assert load_rgb(tmp_path / "ramp.jpg", at_least=(64, 64)).size == decoded
        levels = (
            np.abs(
                model_input(tmp_path / "ramp.jpg", crop_fraction=0.5, size=32)
                - preprocess(load_rgb(tmp_path / "ramp.jpg"), crop_fraction=0.5, size=32)
            )
            * 255
        )
        assert levels.max() <= most + 1e-4

    # straight to the model's side a scaled decode is sharper than the resize the
    # model was trained with: the demo's 128-px thumbnails, seen at 64 px, are read whole
    Image.open(paths[0]).resize((128, 128)).save(tmp_path / "thumb.jpg", quality=90)
    assert np.array_equal(
        model_input(tmp_path / "thumb.jpg", crop_fraction=1.0, size=64),
        preprocess(load_rgb(tmp_path / "thumb.jpg"), crop_fraction=1.0, size=64),
    )

    # other formats are read whole
    Image.open(paths[0]).save(tmp_path / "g.png")
    assert load_rgb(tmp_path / "g.png", at_least=(128, 128)).size == (424, 424)
