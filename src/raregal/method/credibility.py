"""Which classes are real: stability, density contrast and the credible rule.

A leaf of HDBSCAN's condensed tree may be a population or a split of the smooth
bulk. The measures, one row per class (:func:`assess`):

``stability``
    The layout is rerun with ``K`` other seeds on the *same* fuzzy neighbour
    graph (no neighbour search; above 10,000 galaxies in at most
    :data:`~raregal.core.defaults.STABILITY_N_EPOCHS` epochs, :func:`rerun_epochs`) and
    clustered with the same settings; a class's stability is the mean over the
    reruns of its best-match Jaccard index (:func:`raregal.method.matching.best_match_jaccard`).
    A bulk split moves with the layout's randomness; a population stays.
``density_contrast``
    In the input representation itself (the neighbour graph's distances, not
    UMAP space): the median distance of the galaxies around the class (its
    *shell*: non-members among its members' neighbours) to their k-th nearest
    neighbour, divided by the members' median k-th neighbour distance, with
    k = half the class size, at most the graph's; duplicate representations count
    once, as members, as shell and as neighbours. Null: in a smooth density
    members and shell sample the same density, ratio 1; a dense population
    gives > 1. A class with no shell in the graph (no member has a non-member
    among its neighbours) is isolated at the graph's scale; its shell is then
    the K non-members nearest to the class's mean, found by brute force (one
    pass over the n galaxies per such class).
``significance`` (:func:`raregal.method.cluster.leaf_significance`)
    From the search's condensed tree: how far the members' density rises above
    the density at which their leaf split off, in units of the density
    estimate's noise (about 1 / sqrt(min_samples)). It costs nothing.

``credible`` (:func:`credible_rule`): dense (density_contrast >=
:data:`raregal.core.defaults.CREDIBLE_CONTRAST`), or stable (stability >=
:data:`raregal.core.defaults.CREDIBLE_STABILITY`) *and* significant (significance >=
:data:`raregal.core.defaults.CREDIBLE_SIGNIFICANCE`); with K = 0 (asked for, or on the
GPU) stability is not measured, and the rule is dense or significant. A class of which at least
:data:`raregal.core.defaults.CREDIBLE_MAX_DUPLICATES` of the members repeat another
member's representation (``duplicates``, :mod:`raregal.method.duplicates`) is never
credible: copies sit at distance 0, so its significance and stability measure the
copies.

How the measures and thresholds were chosen, and how the rule fares on planted
groups (5k to 632k) and on real searches: docs/decisions/credibility.md
(``bench/credibility.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.method.cluster import leaf_clusters_at_scales
from raregal.method.duplicates import Duplicates
from raregal.method.matching import best_match_jaccard


def rerun_seeds(seed: int | None, k: int) -> list[int]:
    """The K rerun seeds: after the search's own (0 when unseeded), so a seeded
    search gets the same reruns every time."""
    base = 0 if seed is None else int(seed)
    return [base + 1 + i for i in range(k)]


def rerun_epochs(n_epochs: int | None, n: int) -> int | None:
    """A stability rerun's layout epochs, for a search that laid ``n`` galaxies out in
    ``n_epochs`` (None: umap-learn's default): above
    :data:`~raregal.core.defaults.UMAP_LARGE_DATA` galaxies at most
    :data:`~raregal.core.defaults.STABILITY_N_EPOCHS`; up to it, where a layout costs
    seconds, the search's own."""
    if n <= defaults.UMAP_LARGE_DATA:
        return n_epochs
    return min(n_epochs or defaults.STABILITY_N_EPOCHS, defaults.STABILITY_N_EPOCHS)


def layout_rerun(
    features: np.ndarray,
    model,
    *,
    init,
    n_epochs: int | None,
    seed: int,
    parallel: bool,
    refit=None,
) -> np.ndarray:
    """The UMAP layout of ``model``'s fuzzy graph again, from another seed.

    Parameters
    ----------
    features : ndarray, shape (n, d)
        What ``model`` (a fitted umap.UMAP) was fitted on, or, with ``refit``, every
        galaxy of the search.
    init : {"pca", "spectral"}
    n_epochs : int or None
        None: umap-learn's default for n.
    parallel : bool
        umap-learn's own layout only (the deterministic one is always parallel).
    refit : (ndarray, callable), optional
        A model fitted on a sample (:mod:`raregal.method.sample_fit`): the sample's
        features, and the function that places every galaxy from a layout of them; the
        rerun lays out the sample and places the rest, as the search did.

    Returns
    -------
    ndarray of float32, shape (n, model.n_components)
    """
    from raregal.method.reduce import graph_layout

    fitted, place = refit if refit is not None else (features, None)
    layout = graph_layout(
        fitted,
        model,
        n_components=model.n_components,
        init=init,
        n_epochs=n_epochs,
        seed=seed,
        parallel=parallel,
    )
    return layout if place is None else place(layout)


def layout_stability(
    features,
    model,
    labels,
    *,
    seeds,
    init,
    n_epochs,
    min_samples,
    min_cluster_size,
    reproducible: bool,
    say=None,
    refit=None,
):
    """Each class's mean best-match Jaccard over layout reruns, at each scale.

    Each rerun is laid out once and clustered at every scale
    (:func:`raregal.method.cluster.leaf_clusters_at_scales`), one rerun at a time: a
    multi-scale search (:mod:`raregal.method.scales`) holds one rerun's layout and
    neighbours, not every rerun's.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    model : umap.UMAP
        The search's fitted model (its graph is reused).
    labels : list of ndarray of int, shape (n,) each
        The search's classes at each scale.
    seeds : list of int
        One rerun each.
    n_epochs : int or None
        Each rerun's layout epochs (:func:`rerun_epochs` of the search's, in :func:`assess`).
    min_samples : list of int
        Each scale's min_samples (HDBSCAN's, as the search's).
    min_cluster_size : int
    reproducible : bool
        A seeded search: umap-learn's layout (``--layout umap-learn``) on one thread.
    refit : (ndarray, callable), optional
        A model fitted on a sample (:func:`layout_rerun`).

    Returns
    -------
    stability : list of ndarray of float, shape (k_s,) each
        One per scale; NaN when ``seeds`` is empty.
    seconds : list of float
        Wall time of each rerun (its layout and its HDBSCAN at every scale).
    """
    n_classes = [int(np.max(found, initial=-1)) + 1 for found in labels]
    scores: list[list] = [[] for _ in labels]
    seconds = []
    for seed in seeds:
        started = time.time()
        layout = layout_rerun(
            features,
            model,
            init=init,
            n_epochs=n_epochs,
            seed=seed,
            parallel=not reproducible,
            refit=refit,
        )
        reruns = leaf_clusters_at_scales(layout, min_samples, min_cluster_size=min_cluster_size)
        for score, found, rerun, count in zip(scores, labels, reruns, n_classes):
            score.append(best_match_jaccard(found, rerun.labels, count)[0])
        seconds.append(time.time() - started)
        if say is not None:
            say(f"stability rerun {len(seconds)}/{len(seeds)} (seed {seed}): {seconds[-1]:.1f} s")
    if not seeds:
        return [np.full(count, np.nan) for count in n_classes], seconds
    return [np.mean(score, axis=0) for score in scores], seconds


def bootstrap_stability(features, labels, fit_labels, *, seeds, fraction: float = 0.8):
    """Each class's mean best-match Jaccard over searches of random subsamples.

    The alternative to :func:`layout_stability` (bench/credibility.py compares
    them): each rerun searches ``fraction`` of the galaxies from scratch
    (neighbours included) and the Jaccard is taken over the galaxies it kept.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    labels : ndarray of int, shape (n,)
    fit_labels : callable
        ``fit_labels(features_subset, seed)`` -> labels of the subset, shape (m,).
    seeds : list of int

    Returns
    -------
    ndarray of float, shape (k,)
    """
    n_classes = int(np.max(labels, initial=-1)) + 1
    scores = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(labels), size=int(fraction * len(labels)), replace=False))
        scores.append(
            best_match_jaccard(labels[rows], fit_labels(features[rows], seed), n_classes)[0]
        )
    return np.nanmean(scores, axis=0) if scores else np.full(n_classes, np.nan)


def nearest_outsiders(features: np.ndarray, members: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` galaxies outside ``members`` nearest to the members' mean, shape (count,)."""
    centre = features[members].mean(axis=0)
    distance = np.einsum("ij,ij->i", features - centre, features - centre)
    distance[members] = np.inf
    count = min(count, len(features) - len(members))
    return np.argpartition(distance, count - 1)[:count] if count > 0 else np.zeros(0, int)


def density_contrast(
    labels: np.ndarray,
    indices: np.ndarray,
    distances: np.ndarray,
    features: np.ndarray | None = None,
    first: np.ndarray | None = None,
    share: float = 1.0,
) -> np.ndarray:
    """Each class's shell-to-member ratio of k-th neighbour distances (module docstring).

    Duplicate representations count once: members and shell are distinct
    representations, and a galaxy's k-th neighbour is its k-th nearest *other*
    representation (:func:`_kth_distinct`), so copies, at distance 0, neither make
    a member infinitely dense nor fill its neighbour count.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
    indices, distances : ndarray, shape (n, K)
        The k-nearest-neighbour graph in the input representation, each galaxy
        itself first (:func:`raregal.method.reduce.neighbour_graph`).
    features : ndarray, shape (n, d), optional
        The representation, to find the shell of a class isolated in the graph;
        without it such a class gets infinity.
    first : ndarray of int, shape (n,), optional
        Each galaxy's first galaxy with the same representation
        (:class:`raregal.method.duplicates.Duplicates`); default: all distinct.
    share : float
        The share of galaxies that the graph's neighbours are drawn from: a fit
        sample's (:mod:`raregal.method.sample_fit`); k is then half the members expected
        among them, so that members and shell are measured at the sample's density.

    Returns
    -------
    ndarray of float, shape (k,)
        NaN where the graph holds too few distinct neighbours to measure (a class
        of copies of one representation).
    """
    n_classes = int(np.max(labels, initial=-1)) + 1
    width = indices.shape[1]
    first = np.arange(len(labels)) if first is None else np.asarray(first)
    copies = first != np.arange(len(first))
    repeated = None  # rows whose representation has copies (None: no copies at all)
    if copies.any():
        repeated = copies.copy()
        repeated[first[copies]] = True
    contrast = np.full(n_classes, np.nan)
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        members = np.unique(first[rows])
        k = int(np.clip(int(len(members) * share) // 2, 1, width - 1))
        around = np.setdiff1d(first[indices[members, 1:]], members)
        shell = around[labels[around] != c]
        if len(shell) == 0 and features is not None:
            shell = np.setdiff1d(first[nearest_outsiders(features, rows, width)], members)
        graph = (indices, distances, first, repeated)
        inner = _median(_kth_distinct(members, k, *graph))
        outer = _median(_kth_distinct(shell, k, *graph)) if len(shell) else np.inf
        contrast[c] = outer / inner if inner > 0 else np.nan
    return contrast


def _kth_distinct(rows, k: int, indices, distances, first, repeated) -> np.ndarray:
    """Each row's distance to its k-th nearest representation other than its own,
    counting copies of one representation once; NaN where the graph holds fewer.
    Rows with no copy among them and their neighbours read column k directly."""
    out = distances[rows, k].astype(float)
    if repeated is None:
        return out
    copied = repeated[indices[rows]].any(axis=1)
    if copied.any():
        out[copied] = _kth_among_copies(rows[copied], k, indices, distances, first)
    return out


def _kth_among_copies(rows, k: int, indices, distances, first) -> np.ndarray:
    """:func:`_kth_distinct` for rows whose neighbour lists hold copies."""
    neighbours = indices[rows, 1:]
    group = first[neighbours]
    # the nearest entry of each representation in the row (stable: nearest first)
    order = np.argsort(group, axis=1, kind="stable")
    ranked = np.take_along_axis(group, order, axis=1)
    seen = np.zeros_like(ranked, dtype=bool)
    seen[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    repeat = np.empty_like(seen)
    np.put_along_axis(repeat, order, seen, axis=1)
    new = ~repeat & (group != first[rows][:, None])
    count = np.cumsum(new, axis=1)
    column = np.argmax(count >= k, axis=1)
    out = distances[rows, 1 + column].astype(float)
    out[count[:, -1] < k] = np.nan
    return out


def _median(values: np.ndarray) -> float:
    """The median of the measured values, NaN when none is."""
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else np.nan


def credible_rule(
    stability: np.ndarray,
    contrast: np.ndarray,
    significance: np.ndarray,
    duplicate_share: np.ndarray | None = None,
    *,
    min_stability: float = defaults.CREDIBLE_STABILITY,
    min_contrast: float = defaults.CREDIBLE_CONTRAST,
    min_significance: float = defaults.CREDIBLE_SIGNIFICANCE,
    max_duplicates: float = defaults.CREDIBLE_MAX_DUPLICATES,
) -> np.ndarray:
    """The documented rule, shape (k,): dense, or stable (where measured) and significant;
    never a class at least ``max_duplicates`` made of duplicate representations.

    Parameters
    ----------
    stability, contrast, significance : ndarray of float, shape (k,)
        A NaN contrast or significance counts as not passing; a NaN stability (no
        reruns) as not measured, which leaves dense or significant.
    duplicate_share : ndarray of float, shape (k,), optional
        The share of each class's members that repeat another member's
        representation; default: none do.
    """
    stability = np.asarray(stability, dtype=float)
    dense = np.nan_to_num(contrast, nan=0.0) >= min_contrast
    stable = np.isnan(stability) | (stability >= min_stability)
    credible = dense | (stable & (np.nan_to_num(significance, nan=0.0) >= min_significance))
    if duplicate_share is not None:
        credible &= np.asarray(duplicate_share, dtype=float) < max_duplicates
    return credible


def rule_text(k: int) -> str:
    """The rule in words, for run.json and the report."""
    dense = f"density_contrast >= {defaults.CREDIBLE_CONTRAST:g}"
    significant = f"significance >= {defaults.CREDIBLE_SIGNIFICANCE:g}"
    copies = (
        f"; never a class {defaults.CREDIBLE_MAX_DUPLICATES:.0%} or more duplicate representations"
    )
    if k == 0:
        return f"{dense}, or {significant} (stability not measured: 0 reruns){copies}"
    return (
        f"{dense}, or stability >= {defaults.CREDIBLE_STABILITY:g} over {k} layout "
        f"reruns and {significant}{copies}"
    )


def resolve_stability_seeds(k) -> int:
    """The layout reruns: an integer as given; "auto" is
    :data:`raregal.core.defaults.STABILITY_SEEDS`, at every size."""
    return defaults.STABILITY_SEEDS if k == "auto" else int(k)


@dataclass
class Credibility:
    """The credibility of k classes.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per class: ``stability``, ``density_contrast``, ``duplicates`` (members
        that repeat another member's representation), ``credible``.
    seeds : list of int
        The layout reruns' seeds.
    seconds : list of float
        Each rerun's wall time: its layout and its HDBSCAN at every scale.
    contrast_seconds : float
    epochs : int or None
        Each rerun's layout epochs (None: umap-learn's default).
    """

    table: pd.DataFrame
    seeds: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    contrast_seconds: float = 0.0
    epochs: int | None = None

    def record(self) -> dict:
        """What run.json keeps: K, seeds, the rule, thresholds and costs."""
        k = len(self.seeds)
        return {
            "stability_seeds": k,
            "seeds": self.seeds,
            "rule": rule_text(k),
            "min_stability": defaults.CREDIBLE_STABILITY,
            "min_contrast": defaults.CREDIBLE_CONTRAST,
            "min_significance": defaults.CREDIBLE_SIGNIFICANCE,
            "max_duplicates": defaults.CREDIBLE_MAX_DUPLICATES,
            "credible": int(self.table["credible"].sum()),
            "rerun_epochs": self.epochs if self.seeds else None,
            "seconds_per_rerun": [round(s, 2) for s in self.seconds],
            "contrast_seconds": round(self.contrast_seconds, 2),
        }


def assess(
    features, model, labels, neighbours, significance, *, min_samples, **settings
) -> Credibility:
    """Stability over layout reruns, density contrast and the rule for each class of one
    scale: :func:`assess_scales` of it (``settings``: its keywords)."""
    return assess_scales(
        features,
        model,
        [labels],
        neighbours,
        [significance],
        min_samples=[min_samples],
        **settings,
    )[0]


def assess_scales(
    features,
    model,
    labels,
    neighbours,
    significance,
    *,
    k: int,
    seed,
    init,
    n_epochs,
    min_samples,
    min_cluster_size,
    say=None,
    duplicates: Duplicates | None = None,
    refit=None,
) -> list[Credibility]:
    """Stability over ``k`` layout reruns, density contrast and the rule for each class,
    at each scale of a search.

    ``labels``, ``significance`` (:func:`raregal.method.cluster.leaf_significance` in
    the search's condensed tree) and ``min_samples``: one per scale. ``duplicates``, the
    features' duplicate rows (default: none). ``n_epochs`` is the search's layout
    epochs; the reruns run :func:`rerun_epochs` of them, each laid out once for every
    scale (:func:`layout_stability`).

    ``model`` None (cuML) has no graph to rerun: the search passes ``k=0`` then.
    ``refit`` places the reruns from a fit sample (:func:`layout_rerun`).

    Returns
    -------
    list of Credibility
        One per scale, with the same reruns (``seeds``, ``seconds``, ``epochs``).
    """
    seeds = rerun_seeds(seed, k)
    epochs = rerun_epochs(n_epochs, len(features) if refit is None else len(refit[0]))
    stabilities, seconds = layout_stability(
        features,
        model,
        labels,
        seeds=seeds,
        init=init,
        n_epochs=epochs,
        min_samples=list(min_samples),
        min_cluster_size=min_cluster_size,
        reproducible=seed is not None,
        say=say,
        refit=refit,
    )
    share = 1.0 if refit is None else len(refit[0]) / len(labels[0])
    found = []
    for scale_labels, stability, scale_significance in zip(labels, stabilities, significance):
        started = time.time()
        table = judge(
            features, scale_labels, neighbours, stability, scale_significance, duplicates, share
        )
        found.append(
            Credibility(
                table=table,
                seeds=seeds,
                seconds=seconds,
                contrast_seconds=time.time() - started,
                epochs=epochs,
            )
        )
    return found


def judge(
    features,
    labels,
    neighbours,
    stability,
    significance,
    duplicates: Duplicates | None = None,
    share: float = 1.0,
) -> pd.DataFrame:
    """The density contrast, duplicate count and credible flag of each class, beside its
    ``stability``, one row per class: what :func:`assess` adds to the reruns, and what
    a multi-scale search measures again on its final classes
    (:mod:`raregal.method.scales`). ``share``: a fit sample's share of the galaxies
    (:func:`density_contrast`)."""
    if duplicates is None:
        duplicates = Duplicates(first=np.arange(len(labels)))
    contrast = density_contrast(
        labels, *neighbours, features=features, first=duplicates.first, share=share
    )
    copies = duplicates.per_class(labels, len(contrast))
    copied = copies / np.maximum(np.bincount(labels[labels >= 0], minlength=len(copies)), 1)
    return pd.DataFrame(
        {
            "stability": stability,
            "density_contrast": contrast,
            "duplicates": copies,
            "credible": credible_rule(stability, contrast, significance, copied),
        }
    )


def keep_credible(labels: np.ndarray, credible: np.ndarray):
    """Labels with only the credible classes, renumbered in order.

    Returns
    -------
    labels : ndarray of int, shape (n,)
    kept : ndarray of int, shape (k_credible,)
        The original number of each kept class.
    """
    kept = np.flatnonzero(credible)
    renumber = np.full(len(credible) + 1, -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    return renumber[labels], kept
