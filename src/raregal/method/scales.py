"""Classes at several density scales: HDBSCAN at several min_samples on one embedding.

HDBSCAN's density at a galaxy is the distance to its min_samples-th neighbour, so a
search finds groups of about min_samples members and more; a lower min_samples finds
small tight groups but cuts large ones into leaves and splits the bulk into many
more (at 632k, min_samples 30 found groups of 20-100 at ten times the
spurious classes). A multi-scale search clusters the same embedding at a ladder of
min_samples, from the search's own down to a floor, halving each step
(:func:`scale_ladder`), and keeps:

- every class of the first scale, as a single-scale search has them (credible or not);
- at each finer scale, the *credible* classes (:mod:`raregal.method.credibility`) that are
  new: most of their members are in no credible class kept so far. Such a class
  takes its members from the classes that are not credible (a bulk leaf that swallowed
  a small group gives it up) but never from a credible one. A finer class that is
  mostly inside a credible class already kept is that class seen again (or a part of
  it): it is dropped, and where it matches it (Jaccard >= 0.5) the kept class records
  the scale in ``also_at``.

A class left with fewer than min_cluster_size members is dropped. Classes are
numbered by scale, then by their number at that scale. The credible rule is applied
again to the final classes (their density contrast measured on their final members),
so what the user sees is one table with one rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from raregal.method.credibility import judge

#: Jaccard index at which a class found again at a finer scale is the same class.
SAME_CLASS_JACCARD = 0.5


def scale_ladder(min_samples: int, count: int, floor: int) -> list[int]:
    """``count`` min_samples from ``min_samples`` down, halving, never below ``floor``
    (duplicates removed, so fewer when the floor is reached), shape (<= count,)."""
    ladder = []
    for step in range(count):
        value = max(int(floor), int(round(min_samples / 2**step)))
        if value not in ladder:
            ladder.append(value)
    return ladder


@dataclass
class Scale:
    """One scale's clustering: ``labels`` (n,), ``probabilities`` (n,), and one row per
    class in ``classes`` (``persistence``, ``significance``, ``tree_node``,
    ``stability``, ``credible``)."""

    min_samples: int
    labels: np.ndarray
    probabilities: np.ndarray
    classes: pd.DataFrame


def combine(
    scales: list[Scale],
    min_cluster_size: int,
    neighbours,
    features,
    duplicates=None,
    share: float = 1.0,
):
    """The classes of several scales as one set (module docstring), with the credible
    rule applied again to the final classes.

    Parameters
    ----------
    scales : list of Scale
        The search's own scale first, then finer ones.
    min_cluster_size : int
    neighbours : (ndarray, ndarray), shapes (n, K)
        The neighbour graph's indices and distances, for the density contrast
        (:func:`raregal.method.credibility.density_contrast`).
    features : ndarray, shape (n, d)
    duplicates : raregal.method.duplicates.Duplicates, optional
        The features' duplicate rows, which the rule never rewards.
    share : float
        A fit sample's share of the galaxies (:func:`raregal.method.credibility.density_contrast`).

    Returns
    -------
    labels : ndarray of int, shape (n,)
    probabilities : ndarray of float, shape (n,)
    classes : pandas.DataFrame
        One row per final class: the columns of its scale's row, ``min_samples`` (the
        scale it came from), ``scale_class`` (its number there), ``also_at`` (the
        finer scales that found it again, comma-separated), and ``density_contrast``,
        ``duplicates`` and ``credible`` for its final members
        (:func:`raregal.method.credibility.judge`); ``tree_node`` is -1 for a class of a
        finer scale (the search keeps the first scale's tree).
    """
    first = scales[0]
    labels = first.labels.copy()
    probabilities = first.probabilities.copy()
    rows = [
        first.classes.assign(
            min_samples=first.min_samples, scale_class=np.arange(len(first.classes)), also_at=""
        )
    ]
    credible = first.classes["credible"].to_numpy(bool).tolist()
    for scale in scales[1:]:
        added = []
        for c in np.flatnonzero(scale.classes["credible"].to_numpy(bool)):
            members = scale.labels == c
            held = labels[members]
            in_credible = np.isin(held, np.flatnonzero(credible))
            if in_credible.mean() > 0.5:
                _note_again(rows, held[in_credible], labels, int(members.sum()), scale.min_samples)
                continue
            take = members & ~np.isin(labels, np.flatnonzero(credible))
            labels[take] = len(credible)
            probabilities[take] = scale.probabilities[take]
            credible.append(True)
            added.append(c)
        rows.append(
            scale.classes.iloc[added].assign(
                min_samples=scale.min_samples, scale_class=added, also_at=""
            )
        )
    table = pd.concat(rows, ignore_index=True)
    table.loc[table["min_samples"] != first.min_samples, "tree_node"] = -1
    labels, probabilities, table = _renumber(labels, probabilities, table, min_cluster_size)
    judged = judge(
        features,
        labels,
        neighbours,
        table["stability"].to_numpy(float),
        table["significance"].to_numpy(float),
        duplicates,
        share,
    )
    for column in judged.columns:
        table[column] = judged[column].to_numpy()
    return labels, probabilities, table


def _note_again(rows, held, labels, size, min_samples) -> None:
    """Record ``min_samples`` on the credible class that a finer class of ``size``
    members matches, ``held`` being the kept credible classes of those members."""
    best = int(np.bincount(held).argmax())
    overlap = int(np.sum(held == best))
    jaccard = overlap / (size + int(np.sum(labels == best)) - overlap)
    if jaccard < SAME_CLASS_JACCARD:
        return
    table, row = _row_of(rows, best)
    before = table.at[row, "also_at"]
    table.at[row, "also_at"] = f"{before},{min_samples}" if before else str(min_samples)


def _row_of(rows, number):
    """The frame of ``rows`` holding final class ``number`` (in order), and its row."""
    for table in rows:
        if number < len(table):
            return table, table.index[number]
        number -= len(table)
    raise IndexError(number)


def _renumber(labels, probabilities, table, min_cluster_size):
    """Drop classes left with fewer than ``min_cluster_size`` members; number the rest
    in order."""
    sizes = np.bincount(labels[labels >= 0], minlength=len(table))
    kept = np.flatnonzero(sizes >= min_cluster_size)
    renumber = np.full(len(table) + 1, -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    labels = renumber[labels]
    probabilities = np.where(labels >= 0, probabilities, 0.0)
    return labels, probabilities, table.iloc[kept].reset_index(drop=True)
