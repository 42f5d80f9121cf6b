"""The report's thumbnails: a distinct file name per id, and each gallery galaxy's
thumbnail and whole image copied into the report folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from raregal.core import defaults
from raregal.io.images import ImageError, load_rgb, model_input


def thumbnail_names(ids) -> dict[str, str]:
    """A file name per id, distinct for distinct ids: a readable part (the id with
    unsafe characters replaced, so that 'gal/357' and 'gal_357' read alike) and a
    hash of the whole id that tells them apart."""
    names, used = {}, set()
    for galaxy in dict.fromkeys(ids):
        readable = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in galaxy)[:40]
        digest = hashlib.sha256(galaxy.encode()).hexdigest()
        length = 10
        while (name := f"{readable}-{digest[:length]}.jpg") in used:  # 40 bits: rare
            length += 1
        names[galaxy] = name
        used.add(name)
    return names


def write_thumbnails(
    ids,
    paths: dict,
    folder: Path,
    crop: float,
    size: int = defaults.THUMBNAIL_PX,
    whole: Path | None = None,
) -> dict[str, str]:
    """Save each id's image, cropped as the model saw it, under ``folder``
    (:func:`thumbnail_names`), and, given ``whole``, the whole image as read (any
    format raregal reads, as JPEG) under that folder with the same name. Returns
    id -> file name for the images that could be read.
    """
    from PIL import Image

    for made in (folder, whole):
        if made is not None:
            made.mkdir(exist_ok=True)
    names = thumbnail_names(galaxy for galaxy in ids if galaxy in paths)
    written = {}
    for galaxy, name in names.items():
        try:
            pixels = model_input(paths[galaxy], crop_fraction=crop, size=size)
            if whole is not None:
                load_rgb(paths[galaxy]).save(whole / name, "JPEG", quality=90)
        except ImageError:
            continue
        Image.fromarray(np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8)).save(
            folder / name, "JPEG", quality=90
        )
        written[galaxy] = name
    return written
