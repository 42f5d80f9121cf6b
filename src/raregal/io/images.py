"""Galaxy cutouts to model inputs: decode, colour, crop, resize.

Zoobot's preprocessing (docs/conventions.md, "Preprocessing"): an RGB image,
its central part kept, resized to the model's input size (bilinear,
antialiased), divided by 255 -- and *no* ImageNet normalisation. A JPEG much
larger than the model's view is decoded at a reduced scale first
(:func:`model_input`).

FITS cutouts are turned into the 8-bit RGB images Galaxy Zoo volunteers and
Zoobot saw: 3-band grz with the Legacy Surveys mapping (legacypipe's
``get_rgb``), any other single band as greyscale.

Every decoded image is checked: 16-bit greyscale PNGs are scaled from their full
range (Pillow alone clips them to white), and an image with mostly non-finite
pixels, or one value everywhere, raises :class:`ImageError` with the reason, which
``raregal embed`` lists in failures.csv before going on.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from raregal.core import defaults
from raregal.core.errors import InputError, first_line
from raregal.io.catalogue import check_ids, find_id_column, ids_as_strings, read_table
from raregal.io.records import EmbedManifest

IMAGE_SUFFIXES = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".fits.fz": "fits",
}

#: legacypipe ``get_rgb`` for grz: band -> (RGB plane, scale in nanomaggies).
LEGACY_GRZ = {"g": (2, 0.0066), "r": (1, 0.01), "z": (0, 0.025)}
LEGACY_RANGE = (-3.0, 10.0)  # mapped to [0, 1] after scaling, then clipped


class ImageError(ValueError):
    """An image that cannot be read; the message is the reason for failures.csv."""


def image_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, kind in IMAGE_SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    raise ImageError(f"not an image raregal reads ({', '.join(sorted(IMAGE_SUFFIXES))})")


def legacy_rgb(planes: np.ndarray, bands: str = "grz", arcsinh: float | None = None) -> np.ndarray:
    """Legacy Surveys colour mapping of flux cutouts.

    Parameters
    ----------
    planes : ndarray, shape (n_bands, H, W)
        Fluxes in nanomaggies, one plane per band.
    bands : str
        The band of each plane, e.g. "grz".
    arcsinh : float, optional
        Apply x -> asinh(a x) / sqrt(a) to the scaled fluxes and to the range.

    Returns
    -------
    ndarray of float32, shape (H, W, 3), values in [0, 1]
    """
    if len(bands) != len(planes) or any(b not in LEGACY_GRZ for b in bands):
        raise ImageError(
            f"bands '{bands}' for {len(planes)} planes: the Legacy Surveys mapping needs g, r and z"
        )
    height, width = planes.shape[1:]
    rgb = np.zeros((height, width, 3), np.float32)
    for image, band in zip(planes, bands):
        plane, scale = LEGACY_GRZ[band]
        rgb[:, :, plane] = image / scale
    low, high = LEGACY_RANGE
    if arcsinh is not None:

        def stretch(x):
            return np.arcsinh(x * arcsinh) / np.sqrt(arcsinh)

        rgb, low, high = stretch(rgb), stretch(low), stretch(high)
    return np.clip((rgb - low) / (high - low), 0, 1)


#: A cutout with more than this share of its pixels NaN or infinite (off the survey's
#: footprint, masked) is reported, not embedded; below it they are filled with 0 (sky).
MAX_NONFINITE = 0.5
#: Full scale of Pillow's single-band integer modes; 16-bit PNGs open as I;16*.
INTEGER_FULL_SCALE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


def check_pixels(data: np.ndarray) -> np.ndarray:
    """Reject unusable pixel data; return it with a few non-finite pixels set to 0.

    Raises
    ------
    ImageError
        Mostly non-finite (NaN, infinite) pixels, or one value everywhere: no image.
    """
    finite = np.isfinite(data)
    bad = 1 - finite.mean() if data.size else 1.0
    if bad > MAX_NONFINITE:
        raise ImageError(
            f"{bad:.0%} of the pixels are NaN or infinite"
            if bad < 1
            else "no finite pixels (all NaN or infinite)"
        )
    values = data[finite]
    if values.min() == values.max():
        raise ImageError(f"constant image: every pixel is {values.flat[0]:g}")
    return np.where(finite, data, 0).astype(np.float32) if bad else data


def greyscale(image: np.ndarray) -> np.ndarray:
    """One band as an (H, W, 3) greyscale image in [0, 1]: an asinh stretch of the
    99.5-percentile range, the usual display of a single astronomical band."""
    from astropy.visualization import AsinhStretch, PercentileInterval

    finite = np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0)
    scaled = AsinhStretch(0.1)(PercentileInterval(99.5)(finite))
    return np.repeat(np.clip(scaled, 0, 1)[:, :, None].astype(np.float32), 3, axis=2)


def _fits_to_rgb(path: Path) -> np.ndarray:
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdus:
        hdu = next((h for h in hdus if h.data is not None and h.data.ndim in (2, 3)), None)
        if hdu is None:
            raise ImageError("FITS file holds no image")
        data = np.asarray(hdu.data, dtype=np.float32)
        bands = str(hdu.header.get("BANDS", "")).strip()
    if data.ndim == 2 or (data.ndim == 3 and data.shape[0] == 1):
        return greyscale(check_pixels(data.reshape(data.shape[-2:])))
    if data.shape[0] != 3:
        raise ImageError(f"FITS cube of shape {data.shape}: expected 3 planes (grz) or 1")
    for band, plane in zip(bands or "grz", data):
        try:
            check_pixels(plane)
        except ImageError as exc:
            raise ImageError(f"band {band}: {exc}") from None
    return legacy_rgb(check_pixels(data), bands or "grz")


def load_rgb(path: str | Path, *, at_least: tuple[int, int] | None = None) -> Image.Image:
    """Read a JPEG, PNG or FITS cutout as an 8-bit RGB image.

    Parameters
    ----------
    path : path-like
    at_least : (int, int), optional
        JPEGs only: decode at the coarsest of libjpeg's scales (1/2, 1/4, 1/8;
        Pillow's ``Image.draft``) that keeps at least this many pixels across and
        down and divides both sides exactly, so that the reduced image spans the
        same sky and a centred crop stays centred. Other formats, and JPEGs no
        such scale fits, are read whole.

    Raises
    ------
    ImageError
        Missing, unreadable, truncated or unsupported files, and images without
        usable pixels (:func:`check_pixels`; constant), with the reason.
    """
    path = Path(path)
    kind = image_format(path)
    if not path.is_file():
        raise ImageError("file not found")
    try:
        if kind == "fits":
            rgb = Image.fromarray(np.round(_fits_to_rgb(path) * 255).astype(np.uint8))
        else:
            with Image.open(path) as image:
                if at_least is not None:
                    image.draft(None, _exact_reduction(image.size, at_least))
                image.load()  # decode now, so a truncated file fails here
                rgb = _to_rgb(image)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot decode {kind}: {first_line(exc)}") from exc
    pixels = np.asarray(rgb)
    if pixels.min() == pixels.max():
        raise ImageError(f"constant image: every pixel is {pixels.flat[0]}")
    return rgb


def _exact_reduction(size: tuple[int, int], at_least: tuple[int, int]) -> tuple[int, int]:
    """The size to ask ``Image.draft`` for (see :func:`load_rgb`); Pillow takes the
    coarsest scale whose result is at least the size asked, so asking for an exact
    reduction gets exactly that one."""
    width, height = size
    for scale in (8, 4, 2):
        if (
            width % scale == 0
            and height % scale == 0
            and width // scale >= at_least[0]
            and height // scale >= at_least[1]
        ):
            return width // scale, height // scale
    return size


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB. Pillow clips a 16-bit greyscale image (mode I;16) to 255 when it
    converts it, which would make it near-white: scale it from its full range."""
    if image.mode in INTEGER_FULL_SCALE:
        data = np.asarray(image).astype(np.float64)
        if data.min() < 0 or data.max() > INTEGER_FULL_SCALE[image.mode]:
            raise ImageError(f"{image.mode} image with values outside 0-65535")
        grey = np.round(data * (255 / INTEGER_FULL_SCALE[image.mode])).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        data = check_pixels(np.asarray(image, dtype=np.float32))
        low, high = data.min(), data.max()
        grey = np.round((data - low) * (255 / (high - low))).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def preprocess(
    image: Image.Image,
    *,
    crop_fraction: float = defaults.CROP_FRACTION,
    size: int = defaults.INPUT_SIZE,
    greyscale_model: bool = False,
) -> np.ndarray:
    """Zoobot's preprocessing: central crop, resize, scale to [0, 1].

    Parameters
    ----------
    image : PIL.Image.Image
        An RGB image.
    crop_fraction : float
        Fraction of each side kept, centred.
    size : int
        Output side in pixels.
    greyscale_model : bool
        Return one channel, the mean of R, G and B, for Zoobot's greyscale encoders.

    Returns
    -------
    ndarray of float32, shape (3, size, size) or (1, size, size), values in [0, 1]
    """
    width, height = image.size
    crop_w, crop_h = width * crop_fraction, height * crop_fraction
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    # Pillow's bilinear filter widens its support when shrinking: antialiased.
    resized = image.resize(
        (size, size), Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h)
    )
    pixels = np.asarray(resized, dtype=np.float32).transpose(2, 0, 1) / 255.0
    if greyscale_model:
        pixels = pixels.mean(axis=0, keepdims=True)
    return pixels


#: A JPEG is decoded at reduced scale only where its crop keeps this many times the
#: model's side, so that Pillow's antialiased resize still makes the last reduction and
#: sets the image's sharpness. Decoded straight to the model's side, libjpeg's scaled
#: image is sharper than that resize leaves it (mean |horizontal step| 3.29 against 2.81
#: levels over 200 gz-kaggle-5000 views of 106 px); on the demo's 128-px thumbnails,
#: decoded to 64 px, the bundled model's mean smooth fraction fell by 0.016. From 1.1
#: times up the two decodings agree within 0.41 of a level (mean; 0.29 at 1.66).
REDUCED_DECODE_MARGIN = 1.5


def model_input(
    path: str | Path,
    *,
    crop_fraction: float = defaults.CROP_FRACTION,
    size: int = defaults.INPUT_SIZE,
    greyscale_model: bool = False,
) -> np.ndarray:
    """A cutout as a model sees it: :func:`load_rgb`, then :func:`preprocess`.

    A JPEG is decoded at the coarsest libjpeg scale whose crop still has
    :data:`REDUCED_DECODE_MARGIN` times ``size`` pixels a side. The bundled
    model's 64 px view of the central half of a 424-px SDSS cutout is then
    decoded at half scale, about twice as fast, and within one 8-bit level of
    decoding it whole (mean 0.3 of a level, 99th percentile 1, over 1,000
    gz-kaggle-5000 images). Zoobot's 224 px view of the same cutout needs every
    pixel, so it is read whole, as before.

    Returns
    -------
    ndarray of float32, shape (3, size, size) or (1, size, size), values in [0, 1]
    """
    side = math.ceil(size * REDUCED_DECODE_MARGIN / crop_fraction)
    return preprocess(
        load_rgb(path, at_least=(side, side)),
        crop_fraction=crop_fraction,
        size=size,
        greyscale_model=greyscale_model,
    )


def image_catalogue(source, *, id_column=None, path_column=None, allow_outside=True):
    """Ids and image paths from a folder of images or a catalogue table.

    With ``allow_outside=False`` every image must lie in the folder (or the
    catalogue's folder), symlinks resolved (:func:`check_inside`).

    Returns
    -------
    ids : ndarray of str
    paths : list of str
    id_column : str
        ``id_str`` for a folder (ids are file names without their suffix).
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(
            p
            for p in source.iterdir()
            if p.is_file() and any(p.name.lower().endswith(s) for s in IMAGE_SUFFIXES)
        )
        if not files:
            raise InputError(f"{source}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        ids = np.array([_strip_suffix(p.name) for p in files], dtype=object)
        paths, id_name = [str(p) for p in files], "id_str"
    else:
        ids, paths, id_name = table_paths(read_table(source), source, id_column, path_column)
    check_ids(ids, id_name, source.name)
    if not allow_outside:
        check_inside(paths, source if source.is_dir() else source.resolve().parent, source)
    return ids, paths, id_name


def table_paths(table, source: Path, id_column=None, path_column=None):
    """Ids and image paths from an already-read catalogue table; relative paths are
    relative to the catalogue ``source``."""
    source = Path(source)
    id_name = find_id_column(table, id_column, source.name)
    if path_column is None:
        path_column = next((c for c in PATH_COLUMNS if c in table.column_names), None)
        if path_column is None:
            raise InputError(
                f"{source.name}: no image path column; looked for "
                f"{', '.join(PATH_COLUMNS)}; name one with --path-col"
            )
    elif path_column not in table.column_names:
        raise InputError(f"{source.name}: no path column '{path_column}' (--path-col)")
    ids = ids_as_strings(table.column(id_name))
    raw = table.column(path_column).to_pylist()
    empty = sum(1 for p in raw if not p)
    if empty:
        raise InputError(f"{source.name}: {empty} rows have no image path in '{path_column}'")
    base = source.resolve().parent  # relative paths are relative to the catalogue
    paths = [str(p) if Path(p).is_absolute() else str(base / p) for p in raw]
    return ids, paths, id_name


def embed_manifest(representations_path: str | None) -> EmbedManifest | None:
    """The finished ``raregal embed`` manifest beside a representation file, if any."""
    if not representations_path:
        return None
    path = Path(representations_path).parent / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = EmbedManifest.read(path)
    except InputError as exc:
        raise InputError(f"{exc}; give the images with --images") from None
    return manifest if manifest.complete else None


def image_paths(
    images, manifest: EmbedManifest | None, allow_outside: bool = False
) -> tuple[dict, float, str | None]:
    """Map id -> image path, the crop to show, and where the images came from.

    ``images`` (a folder or catalogue) wins; else the images the run's
    representations were embedded from, shown with the model's crop. A
    catalogue's paths must lie in its folder unless ``allow_outside``
    (:func:`raregal.io.images.table_paths`): the thumbnails are made to be shared.
    """
    crop = 1.0 if manifest is None else manifest.crop_fraction
    if images is None and manifest is not None and Path(manifest.source).exists():
        images = manifest.source
    if images is None:
        return {}, crop, None
    ids, paths, _ = image_catalogue(images, allow_outside=allow_outside)
    return dict(zip(ids, paths)), crop, str(images)


#: Path columns recognised without ``path_column``: Zoobot's, then common names.
PATH_COLUMNS = ("file_loc", "local_path", "path", "filename", "file")


def _strip_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_inside(paths, folder: Path, source: Path) -> None:
    """Refuse image paths that lead out of ``folder`` (``../``, absolute, a symlink)."""
    base = os.path.realpath(folder)
    outside = [p for p in paths if os.path.commonpath([base, os.path.realpath(p)]) != base]
    if outside:
        raise InputError(
            f"{source}: {len(outside)} image paths lead outside {base} (e.g. "
            f"'{outside[0]}'); add --allow-outside-paths to use them"
        )
