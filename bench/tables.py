"""Synthetic representation tables of several kinds, for bench/search.py.

Each generator returns ``(features, planted, bulk)``: float32 features of shape
(n, dim), the planted group of each row (int64, -1 for the bulk) and, where the kind
has one (``multiscale``; else None), the bulk's own leaf sub-cluster of each row
(-1 for planted rows): the truth for the classes a search finds in its bulk. All are
seeded: the same arguments give the same table on any machine.

- ``current``: raregal.measure.synthetic.planted_representations as bench/search.py has
  always used it (a Gaussian bulk on a 12-D linear subspace with a falling spectrum,
  20 planted groups of 0.05-0.2% of n).
- ``curved``: a smooth curved 12-D bulk -- a random smooth nonlinear map of a 12-D
  Gaussian latent into 128-d, plus small isotropic noise -- with 9 planted groups of
  40-4,000 members at 632k, scaled with n.
- ``multiscale``: a bulk that is not smooth: a hierarchy of sub-clusters of very
  different sizes and widths, each with a heavy-tailed (Student-t) radial profile,
  with 9 planted groups scaled as in ``curved``.

Planted groups are tight Gaussian blobs around a point of the bulk, in the latent
space before the map to 128-d, so that they lie on the bulk's own manifold; their
radius is a quarter of the distance to the centre's 50th bulk neighbour, so they are denser
than the bulk wherever they land. The 128-d noise is kept below the scale of the
smallest structure, so that it does not wash the groups out.
"""

from __future__ import annotations

import itertools

import numpy as np

#: The curved table: 9 groups of 40 to 4,000 members at 632k.
GROUPS = 9
GROUP_SIZES_632K = (40, 4000)
REFERENCE_N = 632_000
LATENT = 12


def group_sizes(n: int, rng: np.random.Generator, n_groups: int = GROUPS) -> np.ndarray:
    """Sizes log-spaced from 40 to 4,000 at 632k, scaled with n; at least 20 and 200
    at the ends so that a small table still holds groups above min_samples."""
    low = max(20, round(GROUP_SIZES_632K[0] * n / REFERENCE_N))
    high = max(200, round(GROUP_SIZES_632K[1] * n / REFERENCE_N))
    sizes = np.geomspace(low, high, n_groups).round().astype(np.int64)
    return rng.permutation(sizes)


def local_scale(latent: np.ndarray, centre: np.ndarray, k: int = 50) -> float:
    """Distance from ``centre`` to its k-th nearest row of ``latent``: the bulk's
    scale there (UMAP's own n_neighbors, as raregal.measure.inject measures it)."""
    distances = np.sqrt(((latent - centre) ** 2).sum(axis=1))
    return float(np.partition(distances, k)[k])


def plant(
    latent: np.ndarray, sizes: np.ndarray, tightness: float, rng: np.random.Generator
) -> np.ndarray:
    """Replace rows of ``latent`` (in place) by tight Gaussian blobs around bulk points.

    A blob's radius is ``tightness`` times the distance from its centre to the 50th
    nearest bulk point, so a group is denser than the bulk around it wherever it
    lands (a dense sub-cluster or a sparse tail). Returns each row's planted label.
    """
    from raregal.measure.synthetic import plant_blobs

    d = latent.shape[1]
    return plant_blobs(
        latent, sizes, rng, lambda centre: tightness * local_scale(latent, centre) / np.sqrt(d)
    )


def current(n: int, dim: int, seed: int):
    """bench/search.py's original table."""
    from raregal.measure.synthetic import planted_representations

    # Groups of 0.05-0.2% of N: rare, from below to above the detection limit.
    low, high = max(10, n // 2000), max(20, n // 500)
    table = planted_representations(
        n, dim=dim, n_groups=20, group_size=(low, high), fractions=False, seed=seed
    )
    return (
        table.filter(like="feat_").to_numpy(np.float32),
        table["planted"].to_numpy(np.int64),
        None,
    )


def smooth_map(
    latent: np.ndarray, dim: int, rng: np.random.Generator, n_waves: int = 64, block: int = 65_536
) -> np.ndarray:
    """A random smooth nonlinear map from the latent space to ``dim`` dimensions.

    A linear part plus ``n_waves`` random low-frequency sine waves (random Fourier
    features: wavelengths of about 2 latent standard deviations), so the image is a
    curved but smooth manifold of the latent's dimension.
    """
    d = latent.shape[1]
    linear = rng.standard_normal((d, dim)) / np.sqrt(d)
    freq = rng.standard_normal((d, n_waves)) * 0.5
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amp = rng.standard_normal((n_waves, dim)) * np.sqrt(2.0 / n_waves) * 1.5
    out = np.empty((len(latent), dim), dtype=np.float32)
    for start in range(0, len(latent), block):
        z = latent[start : start + block]
        out[start : start + block] = z @ linear + np.sin(z @ freq + phase) @ amp
    return out


def curved(n: int, dim: int, seed: int, noise: float = 0.05, tightness: float = 0.25):
    """A smooth curved 12-D bulk in ``dim`` dimensions with 9 planted groups."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, LATENT))
    planted = plant(latent, group_sizes(n, rng), tightness, rng)
    features = smooth_map(latent, dim, rng)
    features += rng.standard_normal(features.shape).astype(np.float32) * noise
    return features, planted, None


def student_t_ball(
    size: int, d: int, width: float, df: float, rng: np.random.Generator
) -> np.ndarray:
    """``size`` points with a Student-t radial profile of scale ``width``: a Gaussian
    direction and radius divided by sqrt(chi2(df) / df), so a few lie far out."""
    return rng.standard_normal((size, d)) * width / np.sqrt(rng.chisquare(df, size) / df)[:, None]


def hierarchy(
    n: int,
    d: int,
    rng: np.random.Generator,
    depth: int = 3,
    branching: tuple[int, int] = (2, 6),
    df: float = 3.0,
):
    """n latent points from a tree of sub-clusters: each node splits its points
    among 2-6 children with very unequal shares (Dirichlet 0.5), each child centred
    at a heavy-tailed offset from its parent with a width 0.2-0.5 of the parent's;
    the leaves are Student-t balls. Structure at ``depth`` scales, heavy tails.

    Returns the points, shape (n, d), and each point's leaf, shape (n,): the bulk's
    own finest sub-clusters, which a search may rightly find as classes."""
    leaf_numbers = itertools.count()

    def node(count, centre, width, level):
        if level == depth or count < 50:
            # the leaf's number rides along as a last column, through the permutation
            return np.hstack(
                [
                    centre + student_t_ball(count, d, width, df, rng),
                    np.full((count, 1), float(next(leaf_numbers))),
                ]
            )
        k = int(rng.integers(branching[0], branching[1] + 1))
        shares = rng.multinomial(count, rng.dirichlet(np.full(k, 0.5)))
        parts = []
        for share in shares:
            if share == 0:
                continue
            offset = student_t_ball(1, d, width, df, rng)[0]
            parts.append(node(share, centre + offset, width * rng.uniform(0.2, 0.5), level + 1))
        return np.concatenate(parts)

    points = rng.permutation(node(n, np.zeros(d), 1.0, 0))
    return np.ascontiguousarray(points[:, :d]), points[:, d].astype(np.int64)


def multiscale(n: int, dim: int, seed: int, noise: float = 0.002, tightness: float = 0.25):
    """A hierarchical, heavy-tailed 16-D bulk in ``dim`` dimensions, 9 planted groups;
    also the bulk's leaf sub-cluster of each row (-1 for planted rows)."""
    rng = np.random.default_rng(seed)
    latent, leaf = hierarchy(n, 16, rng)
    planted = plant(latent, group_sizes(n, rng), tightness, rng)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, latent.shape[1])))
    features = (latent @ basis.T).astype(np.float32)
    features += rng.standard_normal(features.shape).astype(np.float32) * noise
    return features, planted, np.where(planted >= 0, -1, leaf)


TABLES = {"current": current, "curved": curved, "multiscale": multiscale}


def make_table(kind: str, n: int, dim: int, seed: int):
    """``(features, planted, bulk)`` of the named table kind (see the module docstring)."""
    return TABLES[kind](n, dim, seed)
