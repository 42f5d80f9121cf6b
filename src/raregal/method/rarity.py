"""A rarity score for every searched galaxy: higher = rarer.

The search writes it as the ``rarity`` column of classes.parquet (and so of
classes.fits and class_members.vot), defines it in run.json (``rarity``) and
``raregal search --help``, and the report shows the rarest galaxies as a gallery.

The score (:func:`rarity`) is the distance to the galaxy's k-th nearest neighbour
in the searched representation (:data:`raregal.core.defaults.RARITY_K`), read off the
neighbour graph the search already builds for UMAP, so it costs nothing: a galaxy
in a sparse part of the representation is one few others look like. It was chosen
by bench/discovery.py (docs/decisions/discovery.md) over the candidates kept here for
that comparison: GLOSH (:func:`glosh`, HDBSCAN's outlier score from the condensed
tree of the 5-D embedding) and an isolation forest (:func:`isolation`).

What it finds and what it does not: it ranks what is unusual in the
representation, whatever the reason, so artifacts (stars, satellite trails, bad
cutouts) rank high: on gz-kaggle-5000 the 100 rarest held 6 of the 9 galaxies that
volunteers called star or artifact with the cuts off, and 5 of the 5 the cuts
left. Tight
groups of similar rare galaxies are dense, not sparse: they are the classes' job,
not this score's.
"""

from __future__ import annotations

import numpy as np

from raregal.core import defaults


def rarity(distances: np.ndarray, k: int = defaults.RARITY_K) -> np.ndarray:
    """The distance to each galaxy's k-th nearest neighbour (float32, shape (n,)).

    ``distances`` is the search's neighbour graph, shape (n, m), the galaxy itself
    first (distance 0); a graph of fewer than k neighbours gives its last column."""
    distances = np.asarray(distances, dtype=np.float32)
    return distances[:, min(k, distances.shape[1] - 1)].copy()


def definition(k: int = defaults.RARITY_K, sample: int | None = None) -> str:
    """What the rarity column holds, for run.json and the help (``sample``: the size
    of a fit sample, whose galaxies are then the neighbours: :mod:`raregal.method.sample_fit`)."""
    among = f" among the {sample} galaxies of the fit sample" if sample else ""
    return (
        f"distance to the galaxy's {k}th nearest neighbour{among} in the searched "
        f"representation (higher = rarer)"
    )


def glosh(tree, n: int) -> np.ndarray:
    """GLOSH outlier scores (Campello et al. 2015) from a condensed tree of n points:
    1 - lambda(point) / lambda_max(its cluster), lambda_max over the cluster's subtree."""
    parent = np.asarray(tree["parent"])
    child = np.asarray(tree["child"])
    lam = np.asarray(tree["lambda_val"], dtype=np.float64)
    top = np.zeros(max(parent.max(initial=n), child.max(initial=n)) + 1)
    np.maximum.at(top, parent, np.where(np.isfinite(lam), lam, 0))
    clusters = child >= n
    for row in np.argsort(-child * clusters, kind="stable")[: clusters.sum()]:
        # children are numbered above their parents: the deepest first
        top[parent[row]] = max(top[parent[row]], top[child[row]])
    points = ~clusters
    score = np.zeros(n)
    peak = top[parent[points]]
    with np.errstate(divide="ignore", invalid="ignore"):
        score[child[points]] = np.where(peak > 0, (peak - lam[points]) / peak, 0)
    return np.clip(np.nan_to_num(score), 0, 1)


def isolation(features: np.ndarray, seed=defaults.SEED) -> np.ndarray:
    """An isolation forest's anomaly score (higher = more anomalous)."""
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(random_state=seed).fit(features)
    return -forest.score_samples(features)
