"""Matching the classes of two labellings: the contingency table and each class's
best-match Jaccard index, used by the credible rule's stability
(:mod:`raregal.method.credibility`) and by ``raregal compare``."""

from __future__ import annotations

import numpy as np


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of galaxies in each class pair.

    Parameters
    ----------
    a, b : ndarray of int, shape (n,)
        Two labellings of the same galaxies, -1 for none.

    Returns
    -------
    ndarray of int, shape (ka + 1, kb + 1)
        Row ``i + 1`` is class ``i`` of ``a``, row 0 its unclassified; columns alike.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ka = int(a.max()) + 2 if len(a) else 1
    kb = int(b.max()) + 2 if len(b) else 1
    return np.bincount((a + 1) * kb + (b + 1), minlength=ka * kb).reshape(ka, kb)


def best_match_jaccard(a: np.ndarray, b: np.ndarray, n_classes: int | None = None):
    """For each class of ``a``, its best-matching class of ``b`` by Jaccard index.

    Parameters
    ----------
    a, b : ndarray of int, shape (n,)
        Labellings of the same galaxies, -1 for none.
    n_classes : int, optional
        Classes of ``a`` (default ``a.max() + 1``); a class with no galaxies here
        (e.g. outside a subsample) gets NaN.

    Returns
    -------
    jaccard : ndarray of float, shape (n_classes,)
    match : ndarray of int, shape (n_classes,)
        The class of ``b`` (-1 when no member of the class is in a class of ``b``).
    """
    n_classes = int(np.max(a, initial=-1)) + 1 if n_classes is None else n_classes
    table = contingency(np.where(a < n_classes, a, -1), b)[1:, 1:]
    table = np.pad(table, ((0, max(0, n_classes - table.shape[0])), (0, 0)))[:n_classes]
    size_a = np.bincount(a[(a >= 0) & (a < n_classes)], minlength=n_classes)
    size_b = np.bincount(b[b >= 0], minlength=table.shape[1])
    union = size_a[:, None] + size_b[None, :] - table
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, table / np.maximum(union, 1), 0.0)
    if jaccard.shape[1] == 0:
        best = np.zeros(n_classes)
        match = np.full(n_classes, -1)
    else:
        match = jaccard.argmax(axis=1)
        best = jaccard[np.arange(n_classes), match]
        match = np.where(best > 0, match, -1)
    best = np.where(size_a > 0, best, np.nan)
    return best.astype(float), match.astype(np.int64)
