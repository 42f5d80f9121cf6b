"""The pixel baseline: PCA of the raw pixels, searched like a learned representation.

The control the paper lacked: what does a learned representation add over the
pixels? Each image is read and cropped exactly as the encoder sees it
(:class:`raregal.model.embed.ImageDataset`), shrunk to ``size`` pixels a side,
flattened (3 x size x size values in [0, 1]) and projected on its first
``components`` principal components. The output has the layout of
``raregal embed``'s, so ``raregal search`` runs on it unchanged (with
``--predictions`` from the model's embed output for the same morphology cuts):

``representations.parquet``
    The id column, ``feat_0 … feat_{k-1}``.
``failures.csv``
    Images that could not be read: id, path, reason (only when some failed).
``baseline.json``
    Preprocessing, components, the variance they explain, counts, timings.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.monitor import stderr_printer
from raregal.core.params import (
    CROP_FRACTION,
    FLAG,
    SEED,
    Integral,
    Interval,
    Options,
    ParameterError,
    validate,
)
from raregal.io.images import image_catalogue
from raregal.io.output import atomic_dir, prepare, write_json
from raregal.io.records import record_header
from raregal.model.embed import ImageDataset

#: :func:`baseline`'s parameters, checked before any image is read.
CONSTRAINTS = {
    "size": [Interval(Integral, 1, 256)],  # the PCA sees 3 x size^2 pixels: 196,608 at 256
    "components": [Interval(Integral, 1, None)],  # and <= images, checked on them
    "crop_fraction": [CROP_FRACTION, Options(None)],
    "seed": [SEED],
    "overwrite": [FLAG],
    "verbose": [FLAG],
}


def default_crop_fraction() -> float:
    """The bundled default model's crop, so the baseline sees the pixels it sees."""
    from raregal.model.models import DEFAULT_MODEL

    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    return float(config["raregal"]["crop_fraction"])


def pixel_matrix(paths, *, crop_fraction: float, size: int, verbose: bool = True):
    """Cropped, shrunk, flattened images.

    Returns
    -------
    pixels : ndarray of float32, shape (k, 3 * size * size)
        The images that could be read, in order.
    done : ndarray of int, shape (k,)
        Their positions in ``paths``.
    failed : list of (position, reason)
    """
    from tqdm.auto import tqdm

    dataset = ImageDataset(
        list(range(len(paths))), list(paths), crop_fraction, size, greyscale=False
    )
    pixels = np.empty((len(paths), 3 * size * size), dtype=np.float32)
    done, failed = [], []
    for i in tqdm(range(len(dataset)), unit="img", disable=not verbose, file=sys.stderr):
        row, image, reason = dataset[i]
        if image is None:
            failed.append((row, reason))
            continue
        pixels[len(done)] = image.ravel()
        done.append(row)
    return pixels[: len(done)], np.asarray(done, dtype=np.int64), failed


def pixel_pca(pixels: np.ndarray, components: int, seed: int = 0):
    """Project (n, p) pixels on their first ``components`` principal components.

    Returns
    -------
    features : ndarray of float32, shape (n, components)
    explained : ndarray of float, shape (components,)
        Share of the pixel variance each component explains.
    """
    from sklearn.decomposition import PCA

    n, p = pixels.shape
    if not 1 <= components <= min(n, p):
        raise ParameterError(
            "components",
            f"must be between 1 and min(images, pixels) = {min(n, p)}, not {components}",
        )
    pca = PCA(n_components=components, svd_solver="randomized", random_state=seed)
    features = pca.fit_transform(pixels)
    return features.astype(np.float32), pca.explained_variance_ratio_


def baseline(
    source,
    out,
    *,
    size: int = defaults.BASELINE_SIZE,
    components: int = defaults.BASELINE_COMPONENTS,
    crop_fraction: float | None = None,
    id_column=None,
    path_column=None,
    seed: int = 0,
    overwrite: bool = False,
    verbose: bool = True,
) -> dict:
    """Write the pixel-PCA representation of a folder or catalogue of images.

    Parameters
    ----------
    source : path-like
        A folder of images, or a table with id and path columns (as ``raregal embed``).
    out : path-like
        Output folder (see the module docstring).
    size : int
        Pixels per side after the crop.
    components : int
        Principal components kept (the representation's dimension).
    crop_fraction : float, optional
        Central fraction of each side kept; default: the bundled model's.
    seed : int
        Seeds the randomized PCA.

    Returns
    -------
    dict
        The contents of baseline.json.
    """
    validate(locals(), CONSTRAINTS, "baseline")
    started = time.time()
    out = Path(out)
    target = prepare(out, kind="baseline", inputs=[source], overwrite=overwrite)
    crop_fraction = default_crop_fraction() if crop_fraction is None else crop_fraction
    ids, paths, id_name = image_catalogue(source, id_column=id_column, path_column=path_column)
    pixels, done, failed = pixel_matrix(
        paths, crop_fraction=crop_fraction, size=size, verbose=verbose
    )
    if len(done) == 0:
        raise InputError(
            f"{source}: none of the {len(paths)} images could be read (first: {failed[0][1]})"
        )
    features, explained = pixel_pca(pixels, components, seed)
    table = pd.DataFrame(features, columns=[f"feat_{j}" for j in range(components)])
    table.insert(0, id_name, ids[done].astype(str))
    failures = pd.DataFrame(
        {
            id_name: [ids[r] for r, _ in failed],
            "path": [paths[r] for r, _ in failed],
            "reason": [reason for _, reason in failed],
        }
    )
    record = {
        **record_header(),
        "source": str(source),
        "rows": len(paths),
        "embedded": int(len(done)),
        "failed": len(failed),
        "id_column": id_name,
        "preprocessing": {
            "crop_fraction": crop_fraction,
            "size": size,
            "pixels": int(pixels.shape[1]),
            "scale": "x / 255",
        },
        "pca": {
            "components": components,
            "seed": seed,
            "solver": "randomized",
            "explained_total": float(explained.sum()),
            "explained": [round(float(x), 6) for x in explained],
        },
    }
    with atomic_dir(target) as tmp:
        table.to_parquet(tmp / "representations.parquet", index=False)
        if failed:  # as raregal embed: only when some image failed
            failures.to_csv(tmp / "failures.csv", index=False)
        record["wall_seconds"] = round(time.time() - started, 3)
        write_json(tmp / "baseline.json", record)
    stderr_printer(verbose)(
        f"{len(done)} of {len(paths)} images"
        + (f" ({len(failed)} failed, see failures.csv)" if failed else "")
        + f" -> {components} pixel "
        f"principal components ({explained.sum():.1%} of the variance of {pixels.shape[1]} "
        f"pixel values) in {out / 'representations.parquet'}"
    )
    return record
