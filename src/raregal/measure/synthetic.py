"""Synthetic representation tables with planted rare groups.

For the README's example, the tests and the benchmarks: a bulk of galaxies
spread smoothly over a low-rank subspace (real representations are highly
redundant: a few principal components carry most of the variance), with small
dense groups planted at random places inside the bulk. The ``planted`` column
(-1 for the bulk) is the truth a search should recover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.params import (
    FLAG,
    MAX_DIM,
    MAX_ROWS,
    SEED,
    Each,
    Integral,
    Interval,
    ParameterError,
    Real,
    validate,
)

#: Values in a table: its float64 features then take 16 GB, on the way to float32
#: (GZ DESI's 8.7M galaxies x 128 features are 1.1e9).
MAX_VALUES = 2 * 10**9

#: :func:`planted_representations`' parameters.
CONSTRAINTS = {
    "n": [Interval(Integral, 2, MAX_ROWS)],
    "dim": [Interval(Integral, 1, MAX_DIM)],
    "n_groups": [Interval(Integral, 0, MAX_ROWS)],  # drawn before they are fitted in n
    "group_size": [Interval(Integral, 1, MAX_ROWS), Each(Interval(Integral, 1, MAX_ROWS))],
    "latent_dim": [Interval(Integral, 1, None)],
    "tightness": [Interval(Real, 0, None, closed="neither")],
    "noise": [Interval(Real, 0, None)],
    "fractions": [FLAG],
    "seed": [SEED],
}


def plant_blobs(latent: np.ndarray, sizes, rng: np.random.Generator, spread) -> np.ndarray:
    """Replace rows of ``latent`` (n, d), in place, by Gaussian blobs, one per size.

    Each blob takes ``size`` random rows and is centred on a random row, somewhere
    the bulk already is; ``spread(centre)`` gives its standard deviation, a scalar
    or shape (d,). Returns each row's group, -1 for the bulk, shape (n,).
    """
    n, d = latent.shape
    planted = np.full(n, -1, dtype=np.int64)
    rows = rng.permutation(n)
    start = 0
    for g, size in enumerate(sizes):
        members = rows[start : start + size]
        start += size
        centre = latent[rng.integers(n)].copy()
        latent[members] = centre + rng.standard_normal((size, d)) * spread(centre)
        planted[members] = g
    return planted


def planted_representations(
    n: int,
    *,
    dim: int = 128,
    n_groups: int = 10,
    group_size: int | tuple[int, int] = (50, 200),
    latent_dim: int = 12,
    tightness: float = 0.05,
    noise: float = 0.02,
    fractions: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """A table of n representations, ``n_groups`` of them planted groups.

    Parameters
    ----------
    n : int
        Rows, planted groups included.
    dim : int
        Feature dimension d (columns ``feat_0 … feat_{d-1}``).
    n_groups : int
    group_size : int or (low, high)
        Members per group; a range draws each size uniformly.
    latent_dim : int
        Rank of the bulk: feature variance falls off over this many directions
        (at most ``dim``).
    tightness : float
        A group's spread relative to the bulk's, per latent direction.
    noise : float
        Independent per-feature scatter, the same for bulk and groups.
    fractions : bool
        Add GZ DESI vote-fraction columns for the paper's cuts. Planted groups
        are all featured, face-on and clean; about half the bulk is cut.
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``id_str``, ``planted``, ``feat_*`` and, with ``fractions``, the three
        cut columns.
    """
    validate(locals(), CONSTRAINTS, "planted_representations")
    if n * dim > MAX_VALUES:
        raise ParameterError(
            "n",
            f"must be at most {MAX_VALUES // dim} with {dim} features "
            f"({MAX_VALUES:.0e} values in all), not {n}",
            "planted_representations",
        )
    latent_dim = min(latent_dim, dim)
    rng = np.random.default_rng(seed)
    if np.isscalar(group_size):
        sizes = np.full(n_groups, int(group_size))
    else:
        if len(group_size) != 2 or group_size[0] > group_size[1]:
            raise ParameterError(
                "group_size",
                f"must be (low, high) with low <= high, not {' '.join(map(str, group_size))}",
                "planted_representations",
            )
        sizes = rng.integers(group_size[0], group_size[1] + 1, size=n_groups)
    if sizes.sum() >= n:
        raise ParameterError(
            "n",
            f"must be more than the {sizes.sum()} rows of the "
            f"{n_groups} planted groups, not {n}; plant fewer or smaller "
            f"groups",
            "planted_representations",
        )

    scales = np.exp(-np.arange(latent_dim) / 4.0)  # a falling PCA spectrum
    latent = rng.standard_normal((n, latent_dim)) * scales
    planted = plant_blobs(latent, sizes, rng, lambda centre: scales * tightness)

    basis, _ = np.linalg.qr(rng.standard_normal((dim, latent_dim)))
    features = latent @ basis.T + rng.standard_normal((n, dim)) * noise
    table = pd.DataFrame(features.astype(np.float32), columns=[f"feat_{j}" for j in range(dim)])
    table.insert(0, "planted", planted)
    table.insert(0, "id_str", [f"synth_{i:07d}" for i in range(n)])
    if fractions:
        smooth = rng.beta(2, 2, size=n)
        artifact = rng.beta(1, 30, size=n) * (1 - smooth)
        featured = 1 - smooth - artifact
        edge_on = rng.beta(1, 4, size=n)
        in_group = planted >= 0
        smooth[in_group] = rng.uniform(0.05, 0.3, size=in_group.sum())
        artifact[in_group] = 0.0
        featured[in_group] = 1 - smooth[in_group]
        edge_on[in_group] = rng.uniform(0.0, 0.2, size=in_group.sum())
        edge_on[featured < 0.5] = np.nan  # masked as in the GZ DESI friendly table
        table[defaults.SMOOTH_COLUMN] = smooth
        table["smooth-or-featured_featured-or-disk_fraction"] = featured
        table[defaults.ARTIFACT_COLUMN] = artifact
        table[defaults.EDGE_ON_COLUMN] = edge_on
    return table


def recovery(planted: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict:
    """How well classes recover planted groups.

    A group is recovered when one class holds at least ``threshold`` of its
    members and at least ``threshold`` of that class are its members. A class
    that recovers no group is spurious.

    Returns
    -------
    dict
        ``groups``, ``recovered``, ``classes``, ``spurious``, and per group its
        best class's ``completeness`` and ``purity``.
    """
    planted = np.asarray(planted)
    labels = np.asarray(labels)
    groups = np.unique(planted[planted >= 0])
    classes = np.unique(labels[labels >= 0])
    matched_classes = set()
    completeness, purity = [], []
    for g in groups:
        members = planted == g
        in_class = labels[members]
        in_class = in_class[in_class >= 0]
        if len(in_class) == 0:
            completeness.append(0.0)
            purity.append(0.0)
            continue
        best = np.bincount(in_class).argmax()
        c = np.sum(in_class == best) / members.sum()
        p = np.sum(members & (labels == best)) / np.sum(labels == best)
        completeness.append(float(c))
        purity.append(float(p))
        if c >= threshold and p >= threshold:
            matched_classes.add(int(best))
    recovered = sum(1 for c, p in zip(completeness, purity) if c >= threshold and p >= threshold)
    return {
        "groups": len(groups),
        "recovered": recovered,
        "classes": len(classes),
        "spurious": len(classes) - len(matched_classes),
        "completeness": completeness,
        "purity": purity,
    }
