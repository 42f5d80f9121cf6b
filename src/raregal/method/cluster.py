"""HDBSCAN leaf clusters: the rare-galaxy classes.

The paper takes the leaves of HDBSCAN's condensed tree as classes, because no
single density threshold kept the small clusters without splitting large ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raregal.core import defaults

#: The condensed tree's columns, as in the hdbscan library: a row says that
#: ``child`` (a galaxy if < n, else a cluster node) left ``parent`` at density
#: ``lambda_val`` (1 / distance), carrying ``child_size`` galaxies.
TREE_DTYPE = [
    ("parent", np.int64),
    ("child", np.int64),
    ("lambda_val", np.float64),
    ("child_size", np.int64),
]


@dataclass
class Clustering:
    """Leaf clusters of n points.

    Attributes
    ----------
    labels : ndarray of int, shape (n,)
        Class of each point, -1 for none. Classes are numbered in the order of
        their condensed-tree node.
    probabilities : ndarray of float, shape (n,)
        HDBSCAN membership strength in [0, 1]; 0 for unclustered points.
    condensed_tree : structured ndarray, dtype :data:`TREE_DTYPE`
    nodes : ndarray of int, shape (k,)
        The condensed-tree node of each class.
    persistence : ndarray of float, shape (k,)
        Each class's stability normalised as in the hdbscan library
        (``cluster_persistence_``): in [0, 1], higher for classes that hold
        together over a wider range of density.
    significance : ndarray of float, shape (k,)
        How far each class's density rises above the density at which it split
        off, in units of the density estimate's noise (:func:`leaf_significance`).
    """

    labels: np.ndarray
    probabilities: np.ndarray
    condensed_tree: np.ndarray
    nodes: np.ndarray
    persistence: np.ndarray
    significance: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.nodes)

    def unpermuted(self, order: np.ndarray) -> Clustering:
        """This clustering of ``points[order]``, as a clustering of ``points``."""
        tree = self.condensed_tree.copy()
        is_point = tree["child"] < len(order)
        tree["child"][is_point] = order[tree["child"][is_point]]
        return Clustering(
            labels=_unpermute(self.labels, order),
            probabilities=_unpermute(self.probabilities, order),
            condensed_tree=tree,
            nodes=self.nodes,
            persistence=self.persistence,
            significance=self.significance,
        )


def _unpermute(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``x`` such that ``x[order] == values``."""
    out = np.empty_like(values)
    out[order] = values
    return out


def scaled_min_samples(n: int, min_cluster_size: int = defaults.HDBSCAN_MIN_CLUSTER_SIZE) -> int:
    """min_samples for a sample of n galaxies, scaled from the paper's 300 at 632k.

    HDBSCAN's density at a galaxy is the distance to its min_samples-th
    neighbour. Keeping min_samples / n fixed would keep the paper's density
    quantile but leaves a handful of neighbours on small samples, where the
    estimate's relative error (about 1 / sqrt(min_samples)) swamps real
    structure. The rule here scales with sqrt(n), the classic choice for
    k-nearest-neighbour density estimates (Loftsgaarden & Quesenberry 1965):
    300 at 632k, 84 at 50k, 27 at 5k. It is floored at min_cluster_size and
    capped at the paper's value.
    """
    scaled = round(defaults.HDBSCAN_MIN_SAMPLES * np.sqrt(n / defaults.PAPER_SAMPLE_SIZE))
    return int(min(defaults.HDBSCAN_MIN_SAMPLES, max(min_cluster_size, scaled)))


def resolve_min_samples(
    setting, n: int, min_cluster_size: int = defaults.HDBSCAN_MIN_CLUSTER_SIZE
) -> int:
    """The min_samples a setting means for n galaxies: "scaled" is
    :func:`scaled_min_samples`, an integer itself. The one place that resolves it."""
    if setting == "scaled":
        return scaled_min_samples(n, min_cluster_size)
    return int(setting)


def min_samples_reason(setting, n: int, min_cluster_size: int = defaults.HDBSCAN_MIN_CLUSTER_SIZE):
    """Why min_samples is what it is for n galaxies, and a warning when it is far above
    what the sample supports.

    Injection-recovery finds planted groups from about min_samples members up
    (300-400 at 632k with 300; none of 50-200 members on 4,341 galaxies with 300;
    docs/decisions/credibility.md), so a forced value more than twice the scaled rule's misses the
    classes the scaled rule would find.

    Returns
    -------
    reason : str
    warning : str or None
    """
    used = resolve_min_samples(setting, n, min_cluster_size)
    scaled = scaled_min_samples(n, min_cluster_size)
    if setting == "scaled":
        return (
            f"scaled to the sample: {defaults.HDBSCAN_MIN_SAMPLES} * sqrt({n} / "
            f"{defaults.PAPER_SAMPLE_SIZE}) = {used}, floored at min_cluster_size and "
            f"capped at {defaults.HDBSCAN_MIN_SAMPLES}"
        ), None
    warning = None
    if used > 2 * scaled:
        warning = (
            f"min_samples={used} on {n} galaxies: classes of fewer than about {used} "
            f"members will not be found (injection-recovery); the default, scaled "
            f"to this sample, is {scaled}"
        )
    return f"given: {used}", warning


def spatial_order(points: np.ndarray) -> np.ndarray:
    """A permutation of the (n, D) points that keeps neighbours near each other in
    memory: the leaf order of a KD-tree."""
    from sklearn.neighbors import KDTree

    return np.asarray(KDTree(points).get_arrays()[1])


def _hdbscan_cpu(embedding, min_samples, min_cluster_size, searched=None):
    from fast_hdbscan.hdbscan import clusters_from_spanning_tree

    from raregal.method.boruvka import spanning_tree

    # fast_hdbscan's own parallel tree breaks ties in mutual-reachability distance
    # (frequent: core distances dominate) by thread timing, so the condensed tree and
    # now and then a galaxy's class changed between reruns under load;
    # raregal.method.boruvka builds its one-thread tree on all threads. The condensed
    # tree and labels are fast_hdbscan's from there on, as fast_hdbscan() calls them.
    if len(embedding) < 2:  # no edge to build a tree from: noise, as fast_hdbscan says
        return np.full(len(embedding), -1), np.zeros(len(embedding)), np.zeros(0, TREE_DTYPE)
    edges = spanning_tree(embedding, int(min_samples), searched)[0]
    labels, probabilities, _, tree, _ = clusters_from_spanning_tree(
        edges,
        min_cluster_size=int(min_cluster_size),
        cluster_selection_method=defaults.HDBSCAN_SELECTION,
    )
    return labels, probabilities, tree


def _hdbscan_gpu(embedding, min_samples, min_cluster_size):
    from cuml.cluster import HDBSCAN

    model = HDBSCAN(
        min_samples=int(min_samples),
        min_cluster_size=int(min_cluster_size),
        cluster_selection_method=defaults.HDBSCAN_SELECTION,
        output_type="numpy",
    )
    model.fit(embedding)
    try:  # an hdbscan.plots.CondensedTree, built only when the hdbscan package is there
        tree = model.condensed_tree_.to_numpy()
    except Exception:
        tree = {
            "parent": model.condensed_parent_,
            "child": model.condensed_child_,
            "lambda_val": model.condensed_lambdas_,
            "child_size": model.condensed_sizes_,
        }
    return np.asarray(model.labels_), np.asarray(model.probabilities_), tree


def _as_tree(tree) -> np.ndarray:
    """The condensed tree as a structured array, from a record array, a dict of
    columns or a named tuple."""
    column = (lambda name: getattr(tree, name)) if hasattr(tree, "_fields") else tree.__getitem__
    out = np.empty(len(column("parent")), dtype=TREE_DTYPE)
    for name, _ in TREE_DTYPE:
        out[name] = np.asarray(column(name))
    return out


def class_nodes(labels: np.ndarray, tree: np.ndarray, n_classes: int) -> np.ndarray:
    """The condensed-tree node of each class: the parent its galaxies fall out of.

    A leaf has no child clusters, so every one of its galaxies leaves that node.
    """
    n = len(labels)
    point_rows = tree[tree["child"] < n]
    parent_of = np.full(n, -1, dtype=np.int64)
    parent_of[point_rows["child"]] = point_rows["parent"]
    nodes = np.empty(n_classes, dtype=np.int64)
    for k in range(n_classes):
        nodes[k] = np.bincount(parent_of[labels == k] - n).argmax() + n
    return nodes


def leaf_persistence(tree: np.ndarray, nodes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """hdbscan's ``cluster_persistence_`` for leaf clusters, from the condensed tree.

    Stability of a node is the sum over the galaxies leaving it of
    (lambda_leave - lambda_birth); persistence divides it by the class size and
    the tree's largest finite lambda (1 where either is 0).
    """
    top, birth, leave, k, size = _leaf_rows(tree, nodes)
    stability = np.bincount(k, weights=(leave - birth[k]) * size, minlength=len(nodes))
    members = np.bincount(labels[labels >= 0], minlength=len(nodes))[: len(nodes)]
    result = np.ones(len(nodes))
    if top > 0:
        np.divide(stability, members * top, out=result, where=members > 0)
    return result


def leaf_significance(tree: np.ndarray, nodes: np.ndarray, min_samples: int) -> np.ndarray:
    """Each leaf's density rise above its birth, in units of the density noise, shape (k,).

    The members' mean log(lambda_leave / lambda_birth) -- how far, in log density
    per dimension, they stay in the leaf above the density at which it split
    from its parent -- times sqrt(min_samples). HDBSCAN's density at a point is
    the distance to its min_samples-th neighbour, whose relative error is about
    1 / sqrt(min_samples), so a leaf that is only a noise peak of a smooth
    density rises a few such units at most, whatever N. :func:`leaf_persistence`
    divides by the tree's largest lambda instead, which moves with N and with
    whatever else is in the data: at 632k its bulk splits stayed below 0.01
    while at 20k they reached 0.18 (docs/decisions/credibility.md). Infinite lambdas
    (duplicates) count as the tree's largest finite one.
    """
    _, birth, leave, k, size = _leaf_rows(tree, nodes)
    with np.errstate(divide="ignore"):
        span = np.log(leave / birth[k]) * size
    mean = np.bincount(k, weights=span, minlength=len(nodes)) / np.bincount(
        k, weights=size, minlength=len(nodes)
    )
    return mean * np.sqrt(min_samples)


def _leaf_rows(tree: np.ndarray, nodes: np.ndarray):
    """What both leaf measures read from the condensed tree.

    Returns
    -------
    top : float
        The tree's largest finite lambda (0 if none).
    birth : ndarray of float, shape (k,)
        Each node's lambda at birth; 0 for a node with no birth row (the root).
    leave : ndarray of float, shape (m,)
        The lambda of each of the m rows leaving one of the nodes, capped at ``top``
        (infinite lambdas are duplicates).
    k, size : ndarray of int, shape (m,)
        Each such row's node (its index in ``nodes``) and ``child_size``.
    """
    lam = tree["lambda_val"]
    finite = np.isfinite(lam)
    top = lam[finite].max() if finite.any() else 0.0
    birth = np.zeros(len(nodes))
    if len(nodes) == 0:
        return top, birth, np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    born, at_birth = _rows_of(nodes, tree["child"])
    birth[at_birth] = lam[born]
    rows, k = _rows_of(nodes, tree["parent"])
    return top, birth, np.minimum(lam[rows], top), k, tree["child_size"][rows]


def _rows_of(nodes: np.ndarray, column: np.ndarray):
    """The rows whose ``column`` is one of ``nodes``, and which one each is (its index)."""
    order = np.argsort(nodes)
    at = order[np.searchsorted(nodes, column, sorter=order).clip(0, len(nodes) - 1)]
    rows = nodes[at] == column
    return rows, at[rows]


def leaf_clusters(
    embedding: np.ndarray,
    *,
    min_samples: int = defaults.HDBSCAN_MIN_SAMPLES,
    min_cluster_size: int = defaults.HDBSCAN_MIN_CLUSTER_SIZE,
    backend: str = "cpu",
) -> Clustering:
    """HDBSCAN with leaf selection on an (n, D) embedding.

    On the CPU the result is the same on any number of threads and under any load
    (:mod:`raregal.method.boruvka`), and the same as fast_hdbscan's on one thread.

    Parameters
    ----------
    min_samples, min_cluster_size : int
        The paper's 300 and 10; see :func:`scaled_min_samples` for small samples.
    backend : {"cpu", "gpu"}
        fast_hdbscan or cuML.
    """
    return leaf_clusters_at_scales(
        embedding, [min_samples], min_cluster_size=min_cluster_size, backend=backend
    )[0]


def leaf_clusters_at_scales(
    embedding: np.ndarray,
    scales,
    *,
    min_cluster_size: int = defaults.HDBSCAN_MIN_CLUSTER_SIZE,
    backend: str = "cpu",
) -> list[Clustering]:
    """:func:`leaf_clusters` of one (n, D) embedding at each min_samples of ``scales``.

    On the CPU the neighbours are searched once, at the largest min_samples, and each
    scale takes the nearest it needs: that search is most of an HDBSCAN in 5-D (2.2 of
    2.3 s at 100k with min_samples 119), and a ladder that halves (a multi-scale search,
    :mod:`raregal.method.scales`) asked for it again at each scale. The classes are
    those of :func:`leaf_clusters` at each scale, but for the order of neighbours at
    exactly equal distances.
    """
    embedding = np.ascontiguousarray(embedding)
    if backend == "gpu":
        return [_clustering(*_hdbscan_gpu(embedding, ms, min_cluster_size), ms) for ms in scales]
    from raregal.method.boruvka import nearest

    # fast_hdbscan finds each point's min_samples nearest neighbours (its core
    # distance) with one KD-tree query per point, in the points' own order. In the
    # tree's leaf order consecutive queries walk the same nodes, which stay in the
    # cache: 2.5x faster at 632k with min_samples 300 (docs/benchmarks.md).
    order = spatial_order(embedding)
    points = embedding[order]
    searched = nearest(points, int(max(scales))) if len(points) >= 2 else None
    return [
        _clustering(*_hdbscan_cpu(points, ms, min_cluster_size, searched), ms).unpermuted(order)
        for ms in scales
    ]


def _clustering(labels, probabilities, tree, min_samples: int) -> Clustering:
    """A Clustering from a library's labels, probabilities and condensed tree."""
    labels = np.asarray(labels, dtype=np.int64)
    tree = _as_tree(tree)
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    nodes = class_nodes(labels, tree, n_classes)
    # Number classes by tree node, whatever order the library used.
    order = np.argsort(nodes, kind="stable")
    relabel = np.full(n_classes + 1, -1, dtype=np.int64)
    relabel[order] = np.arange(n_classes)
    labels = relabel[labels]  # -1 indexes the trailing -1
    nodes = nodes[order]
    return Clustering(
        labels=labels,
        probabilities=np.asarray(probabilities, dtype=np.float64),
        condensed_tree=tree,
        nodes=nodes,
        persistence=leaf_persistence(tree, nodes, labels),
        significance=leaf_significance(tree, nodes, min_samples),
    )
