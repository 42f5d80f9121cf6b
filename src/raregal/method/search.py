"""The search: representations → selection → UMAP → HDBSCAN leaf classes.

:class:`RareClassFinder` is the method on an array, in the shape of a
scikit-learn estimator. :func:`search` runs it on files, with the catalogue's
morphology cuts, and writes a run folder (classes.parquet, classes.csv,
condensed_tree.parquet, run.json, the neighbour index: :mod:`raregal.method.run`, its
one writer and reader) through the output policy (:mod:`raregal.io.output`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_array

from raregal.core import defaults
from raregal.core.backends import BACKENDS, resolve_backend
from raregal.core.errors import InputError
from raregal.core.monitor import StageLog
from raregal.core.params import (
    FLAG,
    SEED,
    WORKERS,
    Integral,
    Interval,
    Options,
    ParameterError,
    Real,
    seeds_fit,
    validate,
)
from raregal.io.catalogue import (
    expand_paths,
    fraction_columns,
    open_inputs,
    where_names,
)
from raregal.io.output import prepare, sha256
from raregal.io.records import RunRecord, record_header
from raregal.method.cluster import (
    leaf_clusters_at_scales,
    min_samples_reason,
    resolve_min_samples,
)
from raregal.method.credibility import (
    assess_scales,
    keep_credible,
    resolve_stability_seeds,
)
from raregal.method.duplicates import Duplicates, find_duplicates
from raregal.method.layout import deterministic_layout
from raregal.method.neighbour_index import NeighbourIndex, index_space
from raregal.method.rarity import definition as rarity_definition
from raregal.method.rarity import rarity
from raregal.method.reduce import (
    layout_epochs,
    layout_init,
    neighbour_graph,
    umap_embed,
    umap_map,
)
from raregal.method.redundancy import pca_reduce, pca_redundancy
from raregal.method.run import SearchResult
from raregal.method.sample_fit import (
    SampleIndex,
    chunks,
    discard_parts,
    draw_sample,
    place_all,
    place_layout,
    resolve_fit_sample,
)
from raregal.method.scales import Scale, combine, scale_ladder
from raregal.method.select import apply_cuts, paper_cuts

#: Catalogue columns carried into classes.parquet when present, for maps and links.
POSITION_COLUMNS = ("ra", "dec")


class RareClassFinder(ClusterMixin, BaseEstimator):
    """Find rare, visually distinct classes in galaxy representations.

    UMAP to a few dimensions, then HDBSCAN, taking the leaves of the condensed
    tree as classes (Walmsley & Scaife 2023). n_neighbors, n_components,
    min_cluster_size and the leaf selection are the paper's; min_samples (scaled to
    the sample), the layout's start and epochs above 10,000 galaxies, the stability
    reruns and the several scales are raregal's (:mod:`raregal.core.defaults`, reasons in
    docs/decisions/).

    Parameters
    ----------
    n_neighbors : int, default 50
    n_components : int, default 5
        Dimensions of the embedding that is clustered.
    min_dist : float, default 0.1
    init : {"auto", "pca", "spectral"}, default "auto"
        Where the UMAP layout starts: the principal components (fast), or
        umap-learn's spectral embedding, as in the paper (:mod:`raregal.method.reduce`);
        "auto" is spectral up to 10,000 galaxies and pca above.
    n_epochs : int or "auto", default "auto"
        UMAP layout epochs; "auto" is umap-learn's 500 up to 10,000 galaxies
        and 100 above, half of umap-learn's 200, enough from a PCA start
        (:mod:`raregal.core.defaults`). 200 with ``init="spectral"`` is umap-learn's
        own layout.
    min_samples : int or "scaled", default "scaled"
        "scaled" scales the paper's 300 at 632k galaxies to the sample as sqrt(n)
        (:func:`raregal.method.cluster.scaled_min_samples`); an integer forces it (300:
        the paper's).
    min_cluster_size : int, default 10
    pca_components : int, optional
        Project onto this many principal components before UMAP.
    seed : int, optional
        Identical reruns, whatever the machine's load and the number of threads (the
        deterministic layout and HDBSCAN's tree use every core, seeded or not; with
        ``layout="umap-learn"`` a seed runs umap-learn's layout on one thread).
    backend : {"auto", "cpu", "gpu"}, default "auto"
        cuML on a GPU when installed and "auto", else umap-learn and fast_hdbscan.
    stability_seeds : int or "auto", default "auto"
        Layout reruns that measure each class's stability (:mod:`raregal.method.credibility`);
        0 skips them (the credible rule is then dense or significant). "auto":
        :data:`~raregal.core.defaults.STABILITY_SEEDS` at every size; each rerun is a
        layout (above 10,000 galaxies of at most
        :data:`~raregal.core.defaults.STABILITY_N_EPOCHS` epochs,
        :func:`raregal.method.credibility.rerun_epochs`) and an HDBSCAN at each scale.
    scales : int, default 5
        Density scales clustered: 1 is the paper's single min_samples; more clusters
        the same embedding again at min_samples halved each step down to
        :data:`~raregal.core.defaults.SCALE_FLOOR`, keeping the finer scales' new credible
        classes (:mod:`raregal.method.scales`).
    layout : {"deterministic", "umap-learn"}, default "deterministic"
        The layout's gradient descent (5-D embedding, map, reruns):
        :mod:`raregal.method.layout`'s, parallel and the same for a seed on any number of
        threads, or umap-learn's (the paper's), on one thread when seeded.
    fit_sample : int, "auto" or None, default "auto"
        Fit the layout (5-D embedding and map) on a seeded random sample of this many
        galaxies and place every other one from its nearest sample galaxies
        (:mod:`raregal.method.sample_fit`); HDBSCAN still clusters every galaxy. "auto":
        :data:`~raregal.core.defaults.FIT_SAMPLE_SIZE` from
        :data:`~raregal.core.defaults.FIT_SAMPLE_AUTO_MIN` galaxies, all of them below;
        None: all of them. CPU only (cuML fits every galaxy).
    verbose : bool, default False
        Stage progress and timings on stderr.
    make_map : bool, default True
        Also make the 2-D map (a layout of the 5-D embedding's graph, from
        its principal components, in :data:`~raregal.core.defaults.MAP_SMALL_EPOCHS` epochs
        up to 10,000 galaxies and :data:`~raregal.core.defaults.MAP_N_EPOCHS` above;
        :func:`raregal.method.reduce.umap_map`).
        Injection-recovery, which never looks at it, skips it.

    Attributes
    ----------
    labels_ : ndarray of int, shape (n,)
        Class of each galaxy, -1 for none.
    probabilities_ : ndarray of float, shape (n,)
    embedding_ : ndarray of float32, shape (n, n_components)
    init_ : str
        The layout start used.
    n_epochs_, map_n_epochs_ : int or None
        The 5-D layout's and the map's epochs; None for cuML's own number
        (GPU, ``n_epochs="auto"``) and for no map.
    map_ : ndarray of float32, shape (n, 2), or None without ``make_map``
    clustering_ : raregal.method.cluster.Clustering
        Condensed tree, class nodes, persistence and significance of the first scale.
    class_table_ : pandas.DataFrame
        One row per class: ``persistence``, ``significance``, ``tree_node`` (-1 for a
        class from a finer scale, whose tree is not kept) and, with several scales,
        ``min_samples``, ``scale_class`` and ``also_at`` (:func:`raregal.method.scales.combine`).
    scales_ : list of int
        The min_samples clustered, first the search's own.
    scale_results_ : list of raregal.method.scales.Scale
        Each scale's own classes and credibility, before :func:`raregal.method.scales.combine`.
    redundancy_ : raregal.method.redundancy.Redundancy
    min_samples_ : int
        The min_samples used.
    stability_seeds_ : int
        The layout reruns made (0 on the GPU, which keeps no graph to rerun).
    duplicates_ : raregal.method.duplicates.Duplicates
        The rows whose representation repeats an earlier row's.
    credibility_ : raregal.method.credibility.Credibility
        Each class's stability, density contrast, duplicates and credible flag.
    backend_ : str
        The backend that ran.
    stages_ : dict
        Seconds and peak memory (MiB) per stage.
    umap_ : umap.UMAP or None
        The fitted 5-D model (CPU), whose fuzzy graph the stability reruns reuse
        (:mod:`raregal.method.credibility`); None on the GPU.
    fit_sample_ : int or None
        The galaxies the layout was fitted on, None for all.
    sample_rows_ : ndarray of int or None
        Their rows, sorted.
    neighbours_ : tuple of ndarray, shapes (n, n_neighbors)
        The k-nearest-neighbour graph UMAP was built on: row indices (the galaxy
        itself first) and distances (:func:`raregal.method.reduce.neighbour_graph`); with a
        fit sample, each galaxy's nearest sample galaxies (:mod:`raregal.method.sample_fit`).
    neighbour_features_ : ndarray of float32, shape (n, d)
        The features ``neighbours_`` were found in (after ``pca_components``), which
        the run folder keeps beside the graph (:mod:`raregal.method.neighbour_index`).
    rarity_ : ndarray of float32, shape (n,)
        Each galaxy's rarity, higher = rarer: the distance to its
        :data:`~raregal.core.defaults.RARITY_K`-th neighbour in that graph
        (:mod:`raregal.method.rarity`).
    """

    def __init__(
        self,
        n_neighbors=defaults.UMAP_N_NEIGHBORS,
        n_components=defaults.UMAP_N_COMPONENTS,
        min_dist=defaults.UMAP_MIN_DIST,
        init=defaults.UMAP_INIT,
        n_epochs="auto",
        min_samples=defaults.MIN_SAMPLES,
        min_cluster_size=defaults.HDBSCAN_MIN_CLUSTER_SIZE,
        pca_components=None,
        seed=None,
        backend="auto",
        verbose=False,
        make_map=True,
        stability_seeds="auto",
        scales=defaults.SCALES,
        layout=defaults.LAYOUT,
        fit_sample=defaults.FIT_SAMPLE,
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.min_dist = min_dist
        self.init = init
        self.n_epochs = n_epochs
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.pca_components = pca_components
        self.seed = seed
        self.backend = backend
        self.verbose = verbose
        self.make_map = make_map
        self.stability_seeds = stability_seeds
        self.scales = scales
        self.layout = layout
        self.fit_sample = fit_sample

    #: Every parameter's accepted values, checked by :meth:`fit` before any work.
    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 2, None)],  # UMAP needs a neighbour
        # the paper clusters in 5-D and HDBSCAN's density fades in many dimensions;
        # the layout holds n x n_components floats; the map starts from the embedding's
        # first two principal components (1 failed there, after the whole layout)
        "n_components": [Interval(Integral, 2, 100)],
        "min_dist": [Interval(Real, 0, 1)],  # umap-learn: <= spread (1)
        "init": [Options(*defaults.UMAP_INITS)],
        # umap-learn's defaults are 200 and 500; an epoch is ~10 s at 632k, seeded
        "n_epochs": [Interval(Integral, 1, 10_000), Options("auto")],
        "min_samples": [Interval(Integral, 1, None), Options("scaled")],
        "min_cluster_size": [Interval(Integral, 2, None)],  # HDBSCAN's smallest cluster
        "pca_components": [Interval(Integral, 1, None), Options(None)],
        "seed": [SEED, Options(None)],
        "backend": [Options(*BACKENDS)],
        "verbose": [FLAG],
        "make_map": [FLAG],
        # each rerun is a layout and an HDBSCAN at every scale: 100 would take hours at 632k
        "stability_seeds": [Interval(Integral, 0, 100), Options("auto")],
        "scales": [Interval(Integral, 1, defaults.MAX_SCALES)],
        "layout": [Options(*defaults.LAYOUTS)],
        # a UMAP needs more galaxies than neighbours (checked against n_neighbors in fit)
        "fit_sample": [Interval(Integral, 3, None), Options("auto", None)],
    }

    def _validate_params(self) -> None:
        """Raise :class:`raregal.core.params.ParameterError` for the first parameter out of
        its constraints (NaN and infinities included), and for a seed whose reruns'
        seeds would leave numpy's range."""
        validate(self.get_params(), self._parameter_constraints, type(self).__name__)
        most = defaults.STABILITY_SEEDS if self.stability_seeds == "auto" else self.stability_seeds
        seeds_fit(self.seed, most, type(self).__name__)

    def _resolve_min_samples(self, n: int) -> int:
        return resolve_min_samples(self.min_samples, n, self.min_cluster_size)

    def _resolve_epochs(self, n: int) -> int | None:
        if self.n_epochs != "auto":
            return int(self.n_epochs)
        if self.backend_ == "gpu":  # the layout costs seconds: cuML's own epochs
            return None
        return layout_epochs(n, defaults.UMAP_N_EPOCHS)

    def fit(
        self,
        X,
        y=None,
        stage_log: StageLog | None = None,
        duplicates: Duplicates | None = None,
        parts=None,
        client=None,
    ):
        """Find classes in X, an (n, d) array of representations (``duplicates``: its
        duplicate rows, when already found). With a fit sample, ``parts`` is a folder
        for the placed chunks (an interrupted run resumes from it) and ``client`` a
        Dask client to place them on (:func:`raregal.method.sample_fit.place_all`)."""
        self._validate_params()
        with deterministic_layout(self.layout == "deterministic"):
            return self._fit(check_array(X, dtype=np.float32), stage_log, duplicates, parts, client)

    def _fit(self, X, stage_log, duplicates, parts=None, client=None):
        n, d = X.shape
        self.duplicates_ = find_duplicates(X) if duplicates is None else duplicates
        log = stage_log or StageLog(quiet=not self.verbose)
        self.min_samples_ = self._resolve_min_samples(n)
        self.min_samples_reason_, self.min_samples_warning_ = min_samples_reason(
            self.min_samples, n, self.min_cluster_size
        )
        if self.min_samples_warning_:
            log.say(f"warning: {self.min_samples_warning_}")
        too_few = _too_few(n, self.min_samples_, self.n_neighbors, self.min_samples)
        if too_few:
            raise InputError(too_few)
        if self.pca_components is not None and self.pca_components > d:
            raise ParameterError(
                "pca_components",
                f"must be between 1 and the {d} features, not {self.pca_components}",
            )
        distinct = self.duplicates_.n_distinct
        if distinct == 1:
            raise InputError(
                f"all {n} galaxies to search have the same representation: nothing to tell apart"
            )
        if distinct <= self.n_neighbors:  # UMAP would see nothing but copies
            raise InputError(
                f"{n} galaxies to search hold only {distinct} distinct "
                f"representations ({n - distinct} duplicates), not more than "
                f"n_neighbors={self.n_neighbors}"
            )
        self.backend_ = resolve_backend(self.backend)
        self.fit_sample_ = (
            resolve_fit_sample(self.fit_sample, n, self.n_neighbors)
            if self.backend_ == "cpu"
            else None
        )
        fitted = self.fit_sample_ or n  # the galaxies the layout is fitted on
        self.n_epochs_ = self._resolve_epochs(fitted)
        self.init_ = layout_init(fitted, self.init) if self.backend_ == "cpu" else "spectral (cuML)"
        width = self.pca_components or d
        if self.init_ == "pca" and self.n_components > width:  # its PCA has width axes
            raise InputError(
                f"{width} features, fewer than n_components={self.n_components}, "
                f"which the PCA start needs: give --n-components of at most "
                f"{width} or --init spectral"
            )

        with log.stage("redundancy", f"PCA of {n} × {d} representations"):
            self.redundancy_ = pca_redundancy(X)
        log.say(self.redundancy_.describe())
        if self.pca_components is not None:
            X = pca_reduce(X, self.redundancy_, self.pca_components)
            log.say(
                f"kept the first {self.pca_components} principal components "
                f"({self.redundancy_.explained[self.pca_components - 1]:.1%} of the variance)"
            )
        self.sample_rows_ = self.parts_ = None
        self.resumed_chunks_ = 0
        if self.fit_sample_:
            model = self._fit_on_sample(X, log, parts, client)
        else:
            model = self._fit_on_all(X, log)
        self.scales_ = scale_ladder(self.min_samples_, self.scales, defaults.SCALE_FLOOR)
        with log.stage(
            "hdbscan",
            f"min_samples={self.min_samples_}, min_cluster_size={self.min_cluster_size}, "
            f"leaf" + (f"; finer scales {self.scales_[1:]}" if len(self.scales_) > 1 else ""),
        ):
            clusterings = leaf_clusters_at_scales(
                self.embedding_,
                self.scales_,
                min_cluster_size=self.min_cluster_size,
                backend=self.backend_,
            )
        self.clustering_ = clusterings[0]
        self.labels_ = self.clustering_.labels
        self.probabilities_ = self.clustering_.probabilities
        # cuML keeps no graph to rerun (model None): no reruns, and the log says so.
        k = resolve_stability_seeds(self.stability_seeds) if model is not None else 0
        with log.stage(
            "credibility",
            f"{k} layout reruns clustered at {len(self.scales_)} scale(s), density "
            f"contrast of {sum(c.n_classes for c in clusterings)} classes",
        ):
            credibilities = assess_scales(
                X,
                model,
                [clustering.labels for clustering in clusterings],
                self.neighbours_,
                [clustering.significance for clustering in clusterings],
                k=k,
                seed=self.seed,
                init=self.init_,
                n_epochs=self.n_epochs_,
                min_samples=self.scales_,
                min_cluster_size=self.min_cluster_size,
                say=log.say,
                duplicates=self.duplicates_,
                refit=self._refit(X),
            )
        self.credibility_ = credibilities[0]
        self.class_table_ = self._class_table(self.clustering_)
        self.scale_results_ = [
            self._scale(min_samples, clustering, credibility)
            for min_samples, clustering, credibility in zip(
                self.scales_, clusterings, credibilities
            )
        ]
        if len(self.scales_) > 1:
            for scale in self.scale_results_[1:]:
                log.say(
                    f"min_samples={scale.min_samples}: {len(scale.classes)} classes, "
                    f"{int(scale.classes['credible'].sum())} credible"
                )
            with log.stage("scales", f"the credible classes of {len(self.scales_)} scales as one"):
                self._combine_scales(X)
        self.stability_seeds_ = len(self.credibility_.seeds)
        self.stages_ = log.stages
        return self

    def _fit_on_all(self, X, log):
        """The layout of every galaxy (the paper's way); returns the fitted model."""
        n = len(X)
        with log.stage(
            "umap",
            f"{self.n_components}-D UMAP, n_neighbors={self.n_neighbors}, "
            f"{self.init_} start, {self.n_epochs_ or 'default'} epochs, "
            f"{self.backend_}",
        ):
            self.embedding_, model = umap_embed(
                X,
                n_components=self.n_components,
                n_neighbors=self.n_neighbors,
                min_dist=self.min_dist,
                init=self.init_,
                n_epochs=self.n_epochs_,
                seed=self.seed,
                backend=self.backend_,
                verbose=not log.quiet,
            )
        self.neighbours_ = neighbour_graph(X, model, self.n_neighbors)
        self.neighbour_features_ = X  # the space of neighbours_: the run's neighbour index
        self.rarity_ = rarity(self.neighbours_[1])
        self.umap_ = model
        self.map_ = self.map_n_epochs_ = None
        if self.make_map and model is None:  # cuML: its own 2-D UMAP costs seconds on a GPU
            with log.stage("map", "2-D UMAP for the map"):
                self.map_, _ = umap_embed(
                    X,
                    n_components=defaults.MAP_N_COMPONENTS,
                    n_neighbors=self.n_neighbors,
                    min_dist=self.min_dist,
                    seed=self.seed,
                    backend=self.backend_,
                )
        elif self.make_map:
            self.map_n_epochs_ = layout_epochs(n, defaults.MAP_N_EPOCHS, defaults.MAP_SMALL_EPOCHS)
            with log.stage(
                "map",
                f"2-D layout of the {self.n_components}-D embedding's graph, "
                f"{self.map_n_epochs_} epochs",
            ):
                self.map_ = umap_map(
                    X, self.embedding_, model, n_epochs=self.map_n_epochs_, seed=self.seed
                )
        return model

    def _fit_on_sample(self, X, log, parts, client):
        """The layout of a sample, every galaxy placed from it (:mod:`raregal.method.sample_fit`);
        returns the sample's fitted model."""
        n, m = len(X), self.fit_sample_
        self.sample_rows_ = draw_sample(n, m, self.seed)
        sample = X[self.sample_rows_]
        with log.stage(
            "umap",
            f"{self.n_components}-D UMAP of a fit sample of {m} of {n} "
            f"galaxies, n_neighbors="
            f"{min(self.n_neighbors, defaults.FIT_SAMPLE_N_NEIGHBORS)}, "
            f"{self.init_} "
            f"start, {self.n_epochs_} epochs",
        ):
            index = SampleIndex(sample, self.n_neighbors, self.seed)
            k = min(self.n_neighbors, defaults.FIT_SAMPLE_N_NEIGHBORS)  # defaults: why
            embedding, model = umap_embed(
                sample,
                n_components=self.n_components,
                n_neighbors=k,
                min_dist=self.min_dist,
                init=self.init_,
                n_epochs=self.n_epochs_,
                seed=self.seed,
                backend="cpu",
                verbose=not log.quiet,
                neighbours=(index.graph[0][:, :k], index.graph[1][:, :k]),
            )
        layouts = [embedding]
        self.map_ = self.map_n_epochs_ = None
        if self.make_map:
            self.map_n_epochs_ = layout_epochs(m, defaults.MAP_N_EPOCHS, defaults.MAP_SMALL_EPOCHS)
            with log.stage(
                "map", f"2-D layout of the fit sample's graph, {self.map_n_epochs_} epochs"
            ):
                layouts.append(
                    umap_map(sample, embedding, model, n_epochs=self.map_n_epochs_, seed=self.seed)
                )
        with log.stage(
            "place",
            f"{n} galaxies placed from their "
            f"{defaults.FIT_SAMPLE_PLACE_NEIGHBOURS} nearest sample "
            f"galaxies"
            f"{', on Dask' if client is not None else ''}",
        ):
            self.neighbours_, placed, self.parts_, self.resumed_chunks_ = place_all(
                X, self.sample_rows_, index, layouts, parts=parts, client=client, say=log.say
            )
        self.neighbour_features_ = X  # the space of neighbours_: the run's neighbour index
        self.embedding_ = placed[0]
        if self.make_map:
            self.map_ = placed[1]
        self.rarity_ = rarity(self.neighbours_[1])
        self.umap_ = model
        return model

    def _refit(self, X):
        """What the stability reruns lay out again: (features the model was fitted on,
        the function from their layout to every galaxy's), or None (all galaxies)."""
        if self.sample_rows_ is None:
            return None
        rows, graph = self.sample_rows_, self.neighbours_
        return X[rows], lambda layout: place_layout(graph, rows, layout)

    @staticmethod
    def _class_table(clustering) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "persistence": clustering.persistence,
                "significance": clustering.significance,
                "tree_node": clustering.nodes,
            }
        )

    def _combine_scales(self, X) -> None:
        """The first scale's classes and the finer scales' new credible ones as one set
        (:func:`raregal.method.scales.combine`)."""
        labels, probabilities, table = combine(
            self.scale_results_,
            self.min_cluster_size,
            self.neighbours_,
            X,
            self.duplicates_,
            (self.fit_sample_ or len(X)) / len(X),
        )
        self.labels_, self.probabilities_ = labels, probabilities
        self.class_table_ = table[
            ["persistence", "significance", "tree_node", "min_samples", "scale_class", "also_at"]
        ]
        # the reruns (seeds, epochs, seconds) with the combined classes' measures
        self.credibility_ = replace(
            self.credibility_,
            table=table[["stability", "density_contrast", "duplicates", "credible"]],
        )

    @staticmethod
    def _scale(min_samples, clustering, credibility) -> Scale:
        classes = pd.concat([RareClassFinder._class_table(clustering), credibility.table], axis=1)
        return Scale(min_samples, clustering.labels, clustering.probabilities, classes)


def scale_counts(finder) -> list[dict]:
    """What each scale found and what the search kept of it, for run.json."""
    kept = finder.class_table_.get("min_samples")
    return [
        {
            "min_samples": int(scale.min_samples),
            "classes": len(scale.classes),
            "credible": int(scale.classes["credible"].sum()),
            "classes_kept": int(
                len(finder.class_table_) if kept is None else (kept == scale.min_samples).sum()
            ),
        }
        for scale in finder.scale_results_
    ]


#: The fewest galaxies a search can take: UMAP's n_neighbors is at least 2.
MIN_GALAXIES = 3


def _too_few(n: int, min_samples: int, n_neighbors: int, setting) -> str | None:
    """Why n galaxies are too few for these settings, naming every setting at fault
    and only a remedy that can work; None when they are enough."""
    if n < MIN_GALAXIES:
        return (
            f"{n} galaxies to search: too few, a search needs at least {MIN_GALAXIES} "
            f"(UMAP's n_neighbors is at least 2 and must be below the galaxies)"
        )
    over = [
        (name, value)
        for name, value in (("min_samples", min_samples), ("n_neighbors", n_neighbors))
        if n <= value
    ]
    if not over:
        return None
    why = " (the scaled rule's floor, min_cluster_size)" if setting == "scaled" else ""
    limits = " and ".join(
        f"{name}={value}{why if name == 'min_samples' else ''}" for name, value in over
    )
    flags = " and ".join("--" + name.replace("_", "-") for name, _ in over)
    return f"{n} galaxies to search, not more than {limits}: give {flags} below {n}"


def _no_classes(n: int, min_samples: int, min_cluster_size: int) -> str:
    """Why a search found no class: min_cluster_size when it leaves no room for two
    classes (a leaf needs a sibling of at least that size), else either setting."""
    if 2 * min_cluster_size > n:
        return (
            f"no classes found among {n} galaxies: min_cluster_size={min_cluster_size} "
            f"leaves no room for two classes (HDBSCAN splits off parts of at least that "
            f"many); give --min-cluster-size of at most {n // 2}"
        )
    return (
        f"no classes found among {n} galaxies (a normal result for a smooth sample); "
        f"a smaller min_samples (used: {min_samples}) or min_cluster_size (used: "
        f"{min_cluster_size}) finds smaller, less dense classes"
    )


def class_summary(labels, class_table: pd.DataFrame, fractions: pd.DataFrame) -> pd.DataFrame:
    """One row per class: size, the class table's columns (persistence, significance,
    tree node; with several scales, each class's scale), and vote-fraction means
    against the searched sample's means (``{column}_diff``)."""
    n_classes = len(class_table)
    summary = pd.concat(
        [
            pd.DataFrame(
                {
                    "class": np.arange(n_classes),
                    "size": np.bincount(labels[labels >= 0], minlength=n_classes),
                }
            ),
            class_table.reset_index(drop=True),
        ],
        axis=1,
    )
    if fractions.shape[1]:
        sample_mean = fractions.mean()
        means = fractions[labels >= 0].groupby(labels[labels >= 0]).mean()
        means = means.reindex(summary["class"])
        for column in fractions.columns:
            summary[column] = means[column].to_numpy()
            summary[f"{column}_diff"] = means[column].to_numpy() - sample_mean[column]
    return summary


def search(
    representations,
    out,
    *,
    predictions=None,
    id_column=None,
    features=None,
    ids=None,
    cuts=None,
    nan_policy=defaults.NAN_POLICY,
    where=(),
    catalogues=(),
    predictions_id_column=None,
    catalogue_id_column=None,
    finder: RareClassFinder | None = None,
    overwrite=False,
    verbose=True,
    command=None,
    credible_only=False,
    campaign=None,
    mask_unasked=defaults.MASK_UNASKED,
    dask_address: str | None = None,
    dask_workers: int | None = None,
) -> SearchResult:
    """Search a representation file for rare classes and write a run folder.

    Parameters
    ----------
    representations : path-like
        Parquet, CSV, FITS, Zoobot HDF5, or ``.npy`` with ``ids``
        (:func:`raregal.io.catalogue.load_representations`).
    out : path-like
        The run folder to write (see the module docstring).
    predictions : path-like, glob or list of them, optional
        Vote fractions, or Zoobot's concentrations (HDF5 chunks, CSV), joined on id;
        may also be in ``representations``.
    id_column, features, ids
        The representations' id column, the feature glob, and a ``.npy``'s ids.
    cuts : list of raregal.method.select.Cut, optional
        Default: the paper's (:func:`raregal.method.select.paper_cuts`).
    nan_policy : {"keep", "drop"}
    where : sequence of str
        Extra catalogue cuts as pandas expressions.
    catalogues : sequence of path-like
        Extra tables joined on id whose columns ``where`` may name.
    predictions_id_column, catalogue_id_column : str, optional
        The id column of the predictions and of the catalogues, where not found
        automatically (:func:`raregal.io.catalogue.choose_id_column`).
    finder : RareClassFinder, optional
        The method's parameters; default: ``RareClassFinder()``'s.
    overwrite : bool
        Replace ``out`` if it is a search run folder (:func:`raregal.io.output.prepare`).
    verbose : bool
        Progress and timings on stderr.
    command : list of str, optional
        The command line, recorded in run.json.
    credible_only : bool
        Write only the classes the credible rule keeps (:mod:`raregal.method.credibility`),
        renumbered; the others' galaxies get class -1 and classes.csv keeps each
        class's number in the full search as ``search_class``.
    campaign : str, optional
        For tables with several campaigns' answers side by side (``dr12``, ``dr5``,
        ``dr8``): the one to read (:class:`raregal.io.catalogue.TableSource`).
    mask_unasked : bool
        GZ DESI's friendly mask on every fraction whose proportion asked is known
        (fraction NaN where the question was asked with probability below 0.5);
        recorded in run.json (``selection.mask_unasked``).
    dask_address, dask_workers : optional
        With a fit sample (``finder.fit_sample``), place the galaxies on this Dask
        scheduler, or on a local cluster of this many workers (:mod:`raregal.method.sample_fit`).
    """
    started = time.time()
    finder = finder if finder is not None else RareClassFinder()
    finder._validate_params()  # before reading anything
    validate({"dask_workers": dask_workers}, {"dask_workers": DASK_WORKERS}, "search")
    read = [representations, ids, *catalogues]
    if predictions is not None:
        read += expand_paths(predictions)
    target = prepare(out, kind="search", inputs=read, overwrite=overwrite)
    with target:
        return _search(
            target,
            started,
            representations,
            predictions=predictions,
            catalogues=catalogues,
            id_column=id_column,
            predictions_id_column=predictions_id_column,
            catalogue_id_column=catalogue_id_column,
            features=features,
            ids=ids,
            cuts=paper_cuts() if cuts is None else cuts,
            nan_policy=nan_policy,
            where=where,
            finder=finder,
            verbose=verbose,
            command=command,
            credible_only=credible_only,
            campaign=campaign,
            mask_unasked=mask_unasked,
            dask=(dask_address, dask_workers),
        )


def _search(
    target,
    started,
    representations,
    *,
    predictions,
    catalogues,
    id_column,
    predictions_id_column,
    catalogue_id_column,
    features,
    ids,
    cuts,
    nan_policy,
    where,
    finder,
    verbose,
    command,
    credible_only,
    campaign,
    mask_unasked,
    dask=(None, None),
) -> SearchResult:
    log = StageLog(quiet=not verbose)

    with log.stage("read", "ids and the columns the cuts name"):
        inputs = open_inputs(
            representations,
            predictions=predictions,
            catalogues=catalogues,
            id_column=id_column,
            predictions_id_column=predictions_id_column,
            catalogue_id_column=catalogue_id_column,
            features=features,
            ids=ids,
            want=[cut.column for cut in cuts],
            campaign=campaign,
            mask_unasked=mask_unasked,
        )
        inputs.want(where_names(where, inputs.names))
        for note in inputs.notes + inputs.describe_masked():
            log.say(note)
    with log.stage("select"):
        selection = apply_cuts(
            inputs.selection_columns,
            cuts,
            nan_policy=nan_policy,
            where=where,
            fractions_given=inputs.has_fractions,
            sources=inputs.fraction_sources(),
        )
    for note in selection.notes:
        log.say(note)
    for step in selection.steps:
        log.say(step.describe(nan_policy))
    n_searched = int(selection.mask.sum())
    if n_searched == 0:
        raise InputError(
            f"nothing left after the cuts: all {inputs.n_rows} galaxies removed "
            f"({'; '.join(s.rule for s in selection.steps if s.removed)})"
        )
    with log.stage("read features", f"{n_searched} galaxies kept"):
        reps = inputs.load(selection.mask)  # only the kept galaxies' rows
        duplicates = find_duplicates(reps.features)
    if duplicates.n_copies:
        log.say(duplicates.describe(reps.ids))

    # an unseeded fit differs each time, so only a seeded run can resume from the parts
    parts = target.path.with_name(target.path.name + ".parts") if finder.seed is not None else None
    try:
        if any(dask) and not resolve_fit_sample(finder.fit_sample, n_searched, finder.n_neighbors):
            log.say(f"no fit sample at {n_searched} galaxies: Dask left unused")
            dask = (None, None)
        with dask_client(*dask) as client:
            finder.fit(
                reps.features, stage_log=log, duplicates=duplicates, parts=parts, client=client
            )
    except ParameterError:  # a parameter's fault, named as the caller spelt it
        raise
    except InputError as exc:  # name the file the searched rows came from
        raise InputError(f"{reps.source}: {exc}") from exc
    clustering = finder.clustering_
    labels = finder.labels_
    credibility = finder.credibility_.table
    n_classes = len(finder.class_table_)
    log.say(
        f"credible: {int(credibility['credible'].sum())} of {n_classes} classes "
        f"({finder.credibility_.record()['rule']})"
    )
    n_in_classes = int(np.sum(labels >= 0))
    if n_classes == 0:
        log.say(_no_classes(n_searched, finder.min_samples_, finder.min_cluster_size))
    else:
        log.say(
            f"{n_classes} classes holding {n_in_classes} of {n_searched} "
            f"galaxies ({n_in_classes / n_searched:.1%})"
        )

    kept = reps.columns
    fractions = kept[fraction_columns(kept.columns)].apply(pd.to_numeric, errors="coerce")
    classes = pd.DataFrame(
        {
            reps.id_column: reps.ids.astype(str),
            "class": labels,
            "probability": finder.probabilities_,
            "rarity": finder.rarity_,
        }
    )
    for j in range(finder.embedding_.shape[1]):
        classes[f"umap_{j}"] = finder.embedding_[:, j]
    if finder.map_ is not None:  # make_map=False: a run without a map (report skips it)
        classes["map_x"], classes["map_y"] = finder.map_[:, 0], finder.map_[:, 1]
    for column in POSITION_COLUMNS:
        if column in kept.columns:
            classes[column] = kept[column].to_numpy()
    classes = pd.concat([classes, fractions], axis=1)
    summary = pd.concat(
        [class_summary(labels, finder.class_table_, fractions), credibility], axis=1
    )
    if credible_only:
        labels, kept = keep_credible(labels, credibility["credible"].to_numpy())
        classes["class"] = labels
        classes.loc[labels < 0, "probability"] = 0.0
        summary = summary.iloc[kept].reset_index(drop=True)
        summary.insert(1, "search_class", kept)
        summary["class"] = np.arange(len(kept))
        log.say(
            f"--credible-only: writing the {len(kept)} credible of {n_classes} "
            f"classes, holding {int(np.sum(labels >= 0))} of {n_searched} galaxies; the "
            f"other classes' galaxies are written as class -1"
        )

    described = {"representations": _describe_input(representations, inputs.n_rows)}
    if predictions is not None:
        files = [_describe_input(p, None) for p in expand_paths(predictions)]
        described["predictions"] = files[0] if len(files) == 1 else files  # list: chunks
    if catalogues:
        described["catalogues"] = [_describe_input(p, None) for p in catalogues]
    if ids is not None:
        described["ids"] = _describe_input(ids, None)
    run = RunRecord.from_json(
        {
            **record_header(command),
            "inputs": described,
            "id_column": reps.id_column,
            "id_columns": inputs.id_choices,
            "fraction_sources": inputs.fraction_sources(),
            "feature_columns": {
                "count": len(reps.feature_columns),
                "first": reps.feature_columns[0],
                "last": reps.feature_columns[-1],
            },
            "selection": {
                "rows_read": inputs.n_rows,
                "rows_searched": n_searched,
                "nan_policy": nan_policy,
                "campaign": campaign,
                "mask_unasked": {
                    "applied": mask_unasked,
                    "threshold": defaults.ASKED_THRESHOLD,
                    "files": inputs.masking(),
                },
                "steps": [asdict(step) for step in selection.steps],
                "notes": selection.notes,
            },
            "duplicates": duplicates.record(reps.ids),
            "parameters": {
                **finder.get_params(),
                "min_samples_used": finder.min_samples_,
                "init_used": finder.init_,
                "n_epochs_used": finder.n_epochs_,
                "fit_sample_used": finder.fit_sample_,
                "backend_used": finder.backend_,
                "map_n_components": defaults.MAP_N_COMPONENTS,
                "map_n_epochs": finder.map_n_epochs_,
                "cluster_selection_method": defaults.HDBSCAN_SELECTION,
                "min_samples_reason": finder.min_samples_reason_,
                "scales_used": finder.scales_,
                "min_samples_warning": finder.min_samples_warning_,
            },
            "credibility": {**finder.credibility_.record(), "credible_only": credible_only},
            "scales": scale_counts(finder),
            "rarity": {
                "definition": rarity_definition(sample=finder.fit_sample_),
                "k": defaults.RARITY_K,
            },
            "fit_sample": fit_sample_record(finder, dask),
            "seed": finder.seed,
            "redundancy": finder.redundancy_.as_dict(),
            "result": {
                "classes": n_classes,
                "galaxies_in_classes": n_in_classes,
                "fraction_in_classes": n_in_classes / n_searched,
                "classes_written": len(summary),
            },
        }
    )
    result = SearchResult(
        out=None,
        classes=classes,
        summary=summary,
        run=run,
        tree=pd.DataFrame(clustering.condensed_tree),
        index=NeighbourIndex.from_graph(
            finder.neighbour_features_,
            *finder.neighbours_,
            space=index_space(finder.pca_components),
        ),
    )
    with log.stage("write", str(target.path)):
        run.stages = log.stages
        run.wall_seconds = round(time.time() - started, 3)
        result.write(target)
    discard_parts(finder.parts_)
    log.say(f"wrote {target.path}/ in {time.time() - started:.1f} s")
    return result


#: ``dask_workers``' accepted values, as ``raregal embed``'s.
DASK_WORKERS = [Interval(Integral, 1, WORKERS), Options(None)]


@contextlib.contextmanager
def dask_client(address: str | None, workers: int | None):
    """A Dask client on ``address`` or on a local cluster of ``workers`` processes
    (``raregal embed``'s), closed on leaving; None for neither."""
    if not (address or workers):
        yield None
        return
    from raregal.model.embed import _dask_client

    client, cluster = _dask_client(address, workers)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def fit_sample_record(finder, dask) -> dict | None:
    """What run.json keeps of a fit sample (None without one)."""
    if not finder.fit_sample_:
        return None
    n = len(finder.labels_)
    return {
        "size": finder.fit_sample_,
        "setting": finder.fit_sample,
        "placed": n - finder.fit_sample_,
        "chunks": len(chunks(n)),
        "chunk_rows": defaults.FIT_SAMPLE_CHUNK,
        "resumed_chunks": finder.resumed_chunks_,
        "n_neighbors_fit": min(finder.n_neighbors, defaults.FIT_SAMPLE_N_NEIGHBORS),
        "placement": "fuzzy-membership-weighted mean of the nearest "
        f"{defaults.FIT_SAMPLE_PLACE_NEIGHBOURS} sample galaxies "
        "(raregal.method.sample_fit)",
        "dask": bool(dask[0] or dask[1]),
    }


def _describe_input(path, rows) -> dict:
    path = Path(path)
    described = {"path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": sha256(path)}
    if rows is not None:
        described["rows"] = rows
    return described
