"""Injection-recovery: how small and how loose a class the search can find.

Groups of chosen size and tightness are planted at random places inside the
bulk of a representation table (or a synthetic bulk), the search is run with
unchanged settings, and each group is matched to the class holding most of its
members (:func:`raregal.measure.synthetic.recovery`). The result is the sensitivity
curve an astronomer quotes: "classes of >= N members are found with X%
completeness", and the price in spurious classes.

Planting. Each group's centre is a bulk galaxy drawn at random. Its
neighbourhood -- the ``k`` nearest bulk galaxies -- sets the local scale: a
group of tightness ``t`` is drawn from a Gaussian centred on the galaxy with
``t**2`` times the neighbourhood's second moment about it, so its RMS radius is
``t`` times the neighbours'. ``t = 1`` fills the ball of the k neighbours (a
group of m members raises the density there by m / k) and ``t = 0.1`` packs it
ten times tighter in every direction the bulk varies locally. The planted rows
replace randomly chosen bulk rows, so the sample size -- and with it UMAP's and
HDBSCAN's view of density -- is unchanged.

Outputs (``inject``):

``injection.csv``
    One row per planted group and min_samples setting: size, tightness, centre,
    radius of the centre's neighbourhood, matched class, its size, completeness,
    purity, recovered, and the pieces a split group fell into.
``sensitivity.csv``
    One row per min_samples x tightness x size: groups, recovered, mean
    completeness, purity, completeness in pieces and pieces.
``injection.png``
    Completeness and purity against size, one line per tightness.
``injection.json``
    Parameters, seed, sample, classes, spurious classes, the summary lines, timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.monitor import StageLog
from raregal.core.params import (
    MAX_DIM,
    MAX_ROWS,
    SEED,
    Each,
    Integral,
    Interval,
    Options,
    Real,
    validate,
)
from raregal.io.output import atomic_dir, prepare, write_json
from raregal.io.records import record_header
from raregal.measure.synthetic import planted_representations, recovery


@dataclass
class Injection:
    """Planted features and the record of what was planted where.

    Attributes
    ----------
    features : ndarray of float32, shape (n, d)
        The table with the planted rows replaced.
    planted : ndarray of int, shape (n,)
        Group of each row, -1 for the bulk.
    groups : pandas.DataFrame
        One row per group: ``group``, ``size``, ``tightness``, ``centre_row``,
        ``radius`` (RMS distance of the centre's k bulk neighbours from it) and
        ``spread`` (RMS distance of the group's members from the centre, expected).
    """

    features: np.ndarray
    planted: np.ndarray
    groups: pd.DataFrame


#: The planting's parameters (:func:`group_grid`, :func:`inject`).
GRID_CONSTRAINTS = {
    "sizes": [Each(Interval(Integral, 2, MAX_ROWS))],  # a group of one is no group
    "tightness": [Each(Interval(Real, 0, None, closed="neither"))],
    # each repeat plants every size x tightness again, all in one bulk
    "repeats": [Interval(Integral, 1, 1000)],
}
INJECT_CONSTRAINTS = {
    "k": [Interval(Integral, 1, None)],
    "min_samples": [Each(Interval(Integral, 1, None), Options("scaled")), Options(None)],
    "seed": [SEED],
}


def group_grid(sizes, tightness, repeats: int = 1) -> pd.DataFrame:
    """Every size x tightness pair, ``repeats`` times, as columns size, tightness."""
    sizes, tightness = list(sizes), list(tightness)
    validate(locals(), GRID_CONSTRAINTS, "inject")
    rows = [(s, t) for _ in range(repeats) for t in tightness for s in sizes]
    return pd.DataFrame(rows, columns=["size", "tightness"])


def plant_groups(
    features: np.ndarray,
    grid: pd.DataFrame,
    *,
    k: int = defaults.INJECT_DENSITY_K,
    seed: int = defaults.SEED,
) -> Injection:
    """Plant one group per row of ``grid`` (size, tightness) inside the bulk.

    Parameters
    ----------
    features : ndarray, shape (n, d)
        The bulk.
    grid : pandas.DataFrame
        Columns ``size`` and ``tightness`` (:func:`group_grid`).
    k : int
        Bulk neighbours that set each centre's local scale.
    seed : int
        Same seed, same groups.

    Returns
    -------
    Injection
    """
    from sklearn.neighbors import NearestNeighbors

    bulk = np.asarray(features, dtype=np.float64)
    n = len(bulk)
    n_groups = len(grid)
    sizes = grid["size"].to_numpy(int)
    if sizes.sum() + n_groups > n:
        raise InputError(
            f"planted groups need {sizes.sum()} rows plus {n_groups} centres, "
            f"more than the {n} galaxies of the table; plant fewer or smaller"
        )
    if k + 1 > n:
        raise InputError(f"{n} galaxies: too few for neighbourhoods of k={k}")
    rng = np.random.default_rng(seed)
    centres = rng.choice(n, size=n_groups, replace=False)
    # Brute force: a handful of queries in high dimension, where trees do not help.
    finder = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(bulk)
    _, neighbours = finder.kneighbors(bulk[centres])

    others = np.setdiff1d(np.arange(n), centres)
    replaced = rng.permutation(rng.choice(others, size=sizes.sum(), replace=False))
    out = bulk.copy()
    planted = np.full(n, -1, dtype=np.int64)
    radius, spread = np.empty(n_groups), np.empty(n_groups)
    start = 0
    for g, (size, tight) in enumerate(zip(sizes, grid["tightness"].to_numpy(float))):
        centre = bulk[centres[g]]
        near = bulk[[j for j in neighbours[g] if j != centres[g]][:k]]
        # z @ deviations has the neighbourhood's second moment about the centre, so a
        # group of tightness 1 fills the ball of the k neighbours: its RMS radius is
        # theirs, and it follows the bulk's local shape.
        deviations = (near - centre) / np.sqrt(k)
        members = centre + tight * rng.standard_normal((size, k)) @ deviations
        rows = replaced[start : start + size]
        start += size
        out[rows] = members
        planted[rows] = g
        radius[g] = np.sqrt(np.mean(np.sum((near - centre) ** 2, axis=1)))
        spread[g] = tight * np.sqrt(np.sum(deviations**2))
    groups = grid.reset_index(drop=True).copy()
    groups.insert(0, "group", np.arange(n_groups))
    groups["centre_row"] = centres
    groups["radius"] = radius
    groups["spread"] = spread
    return Injection(features=out.astype(np.float32), planted=planted, groups=groups)


def score_groups(
    groups: pd.DataFrame,
    planted: np.ndarray,
    labels: np.ndarray,
    threshold: float = defaults.RECOVERY_THRESHOLD,
) -> tuple[pd.DataFrame, dict]:
    """Match each planted group to a class and score it.

    Returns
    -------
    groups : pandas.DataFrame
        ``groups`` with ``class`` (the class holding most members; -1 if none),
        ``class_size``, ``completeness``, ``purity``, ``recovered``, and, because
        leaf selection can split a tight group into several small leaves,
        ``pieces`` (classes that are at least ``threshold`` made of the group) and
        ``completeness_in_pieces`` (share of the group in those classes).
    counts : dict
        ``classes``; ``spurious``: classes that recover no group (a split group's
        extra pieces count here); ``unplanted``: classes no group makes up
        ``threshold`` of -- in a smooth bulk, structure that is not there;
        ``recovered``.
    """
    scores = recovery(planted, labels, threshold=threshold)
    n_classes = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    class_sizes = np.bincount(labels[labels >= 0], minlength=n_classes)
    owned = np.zeros(n_classes, dtype=bool)
    matched, class_size, pieces, in_pieces = [], [], [], []
    for g, size in zip(groups["group"], groups["size"]):
        counts = np.bincount(labels[(planted == g) & (labels >= 0)], minlength=n_classes)
        best = int(counts.argmax()) if counts.sum() else -1
        matched.append(best)
        class_size.append(int(class_sizes[best]) if best >= 0 else 0)
        mine = (counts > 0) & (counts >= threshold * class_sizes)
        owned |= mine
        pieces.append(int(mine.sum()))
        in_pieces.append(float(counts[mine].sum() / size))
    scored = groups.copy()
    scored["class"] = matched
    scored["class_size"] = class_size
    scored["completeness"] = scores["completeness"]
    scored["purity"] = scores["purity"]
    scored["recovered"] = (scored["completeness"] >= threshold) & (scored["purity"] >= threshold)
    scored["pieces"] = pieces
    scored["completeness_in_pieces"] = in_pieces
    counts = {key: scores[key] for key in ("classes", "spurious", "recovered")}
    counts["unplanted"] = int(np.sum((class_sizes > 0) & ~owned))
    return scored, counts


def sensitivity(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per min_samples x tightness x size: groups, recovered, and the means
    of completeness, purity, completeness_in_pieces and pieces."""
    table = (
        scored.groupby(["min_samples", "tightness", "size"])
        .agg(
            groups=("group", "size"),
            recovered=("recovered", "sum"),
            completeness=("completeness", "mean"),
            purity=("purity", "mean"),
            completeness_in_pieces=("completeness_in_pieces", "mean"),
            pieces=("pieces", "mean"),
        )
        .reset_index()
    )
    table["recovered"] = table["recovered"].astype(int)
    return table


def sensitivity_lines(table: pd.DataFrame) -> list[str]:
    """Per setting and tightness: the smallest size from which every planted group
    was recovered, and the mean completeness of those groups."""
    lines = []
    for (min_samples, tight), rows in table.groupby(["min_samples", "tightness"]):
        rows = rows.sort_values("size")
        head = f"min_samples={min_samples}, tightness {tight:g}"
        all_found = (rows["recovered"] == rows["groups"]).to_numpy()
        # the smallest size N such that every group of size >= N was recovered
        missed = np.flatnonzero(~all_found)
        first = 0 if len(missed) == 0 else missed[-1] + 1
        if first >= len(rows):
            lines.append(
                f"{head}: no planted size was always recovered "
                f"(largest tried: {rows['size'].iloc[-1]})"
            )
            continue
        found = rows.iloc[first:]
        mean = np.average(found["completeness"], weights=found["groups"])
        lines.append(
            f"{head}: groups of >= {found['size'].iloc[0]} members found with "
            f"{mean:.0%} completeness ({found['recovered'].sum()} of "
            f"{found['groups'].sum()} recovered)"
        )
    return lines


def plot_sensitivity(table: pd.DataFrame, path: Path, title: str = "") -> None:
    """Completeness and purity against planted size, one line per tightness, one row
    of panels per min_samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted(table["min_samples"].unique(), reverse=True)
    fig, axes = plt.subplots(
        len(settings), 2, figsize=(9, 3.2 * len(settings)), sharex=True, squeeze=False
    )
    for row, min_samples in zip(axes, settings):
        part = table[table["min_samples"] == min_samples]
        for tight, rows in part.groupby("tightness"):
            rows = rows.sort_values("size")
            for ax, column in zip(row, ("completeness", "purity")):
                ax.plot(rows["size"], rows[column], marker="o", label=f"tightness {tight:g}")
        for ax, column in zip(row, ("completeness", "purity")):
            ax.set_xscale("log")
            ax.set_xticks(
                sorted(table["size"].unique()),
                labels=[str(x) for x in sorted(table["size"].unique())],
            )
            ax.minorticks_off()
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel(f"mean {column}")
            ax.set_title(f"min_samples={min_samples}", fontsize="small")
            ax.axhline(defaults.RECOVERY_THRESHOLD, color="grey", lw=0.8, ls=":")
        row[0].legend(fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel("planted group size (galaxies)")
    if title:
        fig.suptitle(title, fontsize="medium")
    # leave the suptitle its own strip above the panels
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()) if title else None)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclass
class InjectionResult:
    """What :func:`inject` wrote, for use from Python."""

    out: Path
    groups: pd.DataFrame
    sensitivity: pd.DataFrame
    record: dict


def synthetic_bulk(n: int, dim: int = 128, seed: int = defaults.SEED) -> pd.DataFrame:
    """A smooth bulk with no planted groups
    (:func:`raregal.measure.synthetic.planted_representations`).

    ``n`` must leave room for neighbourhoods of :data:`raregal.core.defaults.INJECT_DENSITY_K`.
    """
    validate(
        {"n": n, "dim": dim},
        {
            "n": [Interval(Integral, defaults.INJECT_DENSITY_K + 1, MAX_ROWS)],
            "dim": [Interval(Integral, 1, MAX_DIM)],
        },
        "synthetic_bulk",
    )
    return planted_representations(n, dim=dim, n_groups=0, fractions=False, seed=seed)


@dataclass
class Bulk:
    """The galaxies groups are planted into: features (n, d) float32, their ids (or
    None) and a description of where they came from, for injection.json."""

    features: np.ndarray
    ids: np.ndarray | None
    source: str


def read_bulk(
    representations=None,
    *,
    synthetic: int | None = None,
    dim: int = 128,
    seed: int = defaults.SEED,
    id_column=None,
    features=None,
) -> Bulk:
    """The bulk to plant into: a representation table, or, with ``synthetic=N``, a
    smooth synthetic bulk of N galaxies and ``dim`` features (:func:`synthetic_bulk`)."""
    from raregal.io.catalogue import load_representations

    if synthetic is not None:
        table = synthetic_bulk(synthetic, dim=dim, seed=seed)
        return Bulk(
            features=table.filter(like="feat_").to_numpy("float32"),
            ids=None,
            source=f"synthetic bulk (seed {seed})",
        )
    reps = load_representations(representations, id_column=id_column, features=features)
    return Bulk(features=reps.features, ids=reps.ids, source=reps.source)


def check_params(
    *,
    sizes=defaults.INJECT_SIZES,
    tightness=defaults.INJECT_TIGHTNESS,
    repeats: int = 1,
    k: int = defaults.INJECT_DENSITY_K,
    min_samples=None,
    seed: int = defaults.SEED,
    finder=None,
) -> pd.DataFrame:
    """Check :func:`inject`'s parameters and the finder's, before any table is read;
    return the grid of groups (:func:`group_grid`)."""
    validate(
        {"k": k, "min_samples": None if min_samples is None else list(min_samples), "seed": seed},
        INJECT_CONSTRAINTS,
        "inject",
    )
    if finder is not None:
        finder._validate_params()
    return group_grid(sizes, tightness, repeats)


def inject(
    features: np.ndarray,
    out,
    *,
    sizes=defaults.INJECT_SIZES,
    tightness=defaults.INJECT_TIGHTNESS,
    repeats: int = 1,
    k: int = defaults.INJECT_DENSITY_K,
    finder=None,
    min_samples=None,
    seed: int = defaults.SEED,
    ids=None,
    source: str = "",
    inputs=(),
    overwrite: bool = False,
    verbose: bool = True,
    command=None,
) -> InjectionResult:
    """Plant groups in ``features``, search, score, and write the folder ``out``.

    Parameters
    ----------
    features : ndarray, shape (n, d)
        The representation table's features (no cuts are applied: the table is
        taken as the searched sample).
    out : path-like
        Output folder (see the module docstring).
    sizes, tightness : sequences
        The grid; every pair is planted ``repeats`` times.
    k : int
        Bulk neighbours setting each centre's local scale.
    finder : raregal.method.search.RareClassFinder, optional
        The search's settings; default: the paper's. A clone of it is fitted (the
        caller's finder is left as it was), with seed ``seed`` and no 2-D map.
    min_samples : sequence of (int or "scaled"), optional
        HDBSCAN settings to compare; the UMAP embedding does not depend on them,
        so it is made once and clustered with each. Default: the finder's.
    seed : int
        Seeds the planting and the search: same seed, same table.
    ids : ndarray of str, optional
        Row ids, to name each group's centre galaxy.
    inputs : sequence of path-like
        The files ``features`` came from, which ``out`` may not overwrite
        (:func:`raregal.io.output.prepare`).
    """
    from sklearn.base import clone

    from raregal.method.cluster import leaf_clusters, resolve_min_samples
    from raregal.method.search import RareClassFinder

    started = time.time()
    finder = RareClassFinder() if finder is None else clone(finder)  # the caller's stays
    grid = check_params(
        sizes=sizes,
        tightness=tightness,
        repeats=repeats,
        k=k,
        min_samples=min_samples,
        seed=seed,
        finder=finder,
    )
    out = Path(out)
    target = prepare(out, kind="inject", inputs=inputs, overwrite=overwrite)
    log = StageLog(quiet=not verbose)
    settings = [finder.min_samples] if not min_samples else list(min_samples)
    # credibility is scored against planted truth by bench/credibility.py, not here
    finder.set_params(seed=seed, make_map=False, min_samples=settings[0], stability_seeds=0)

    with log.stage("plant", f"{len(grid)} groups in {len(features)} galaxies"):
        injection = plant_groups(features, grid, k=k, seed=seed)
    finder.fit(injection.features, stage_log=log)
    n, d = injection.features.shape
    labelings = {finder.min_samples_: finder.labels_}
    for setting in settings[1:]:
        used = resolve_min_samples(setting, n, finder.min_cluster_size)
        with log.stage(f"hdbscan_{used}", f"min_samples={used} on the same embedding"):
            labelings[used] = leaf_clusters(
                finder.embedding_,
                min_samples=used,
                min_cluster_size=finder.min_cluster_size,
                backend=finder.backend_,
            ).labels

    tables, lines, counts = [], [], {}
    for used, labels in labelings.items():
        scored, counts[used] = score_groups(injection.groups, injection.planted, labels)
        scored.insert(1, "min_samples", used)
        tables.append(scored)
    scored = pd.concat(tables, ignore_index=True)
    if ids is not None:
        scored.insert(
            scored.columns.get_loc("centre_row") + 1,
            "centre_id",
            np.asarray(ids)[scored["centre_row"]],
        )
    table = sensitivity(scored)
    lines = sensitivity_lines(table)
    for used, count in counts.items():
        lines.append(
            f"min_samples={used}: {count['classes']} classes, {count['spurious']} "
            f"recovering no planted group, {count['unplanted']} not made of one; "
            f"{count['recovered']} of {len(grid)} groups recovered"
        )
    for line in lines:
        log.say(line)

    record = {
        **record_header(command),
        "source": source,
        "rows": n,
        "features": d,
        "seed": seed,
        "planting": {
            "sizes": list(map(int, sizes)),
            "tightness": list(map(float, tightness)),
            "repeats": repeats,
            "k": k,
            "rows_replaced": int(grid["size"].sum()),
        },
        "parameters": {
            **{
                key: value
                for key, value in finder.get_params().items()
                if key not in ("verbose", "min_samples")
            },
            "min_samples": list(labelings),
            "backend_used": finder.backend_,
        },
        "recovery_threshold": defaults.RECOVERY_THRESHOLD,
        "result": {
            "by_min_samples": {str(m): c for m, c in counts.items()},
            "groups": len(grid),
            "summary": lines,
        },
        "stages": log.stages,
    }
    title = (
        f"{source or 'table'}: {n:,} x {d}, n_neighbors={finder.n_neighbors}, "
        f"min_cluster_size={finder.min_cluster_size}"
    )
    with atomic_dir(target) as tmp:
        scored.to_csv(tmp / "injection.csv", index=False)
        table.to_csv(tmp / "sensitivity.csv", index=False)
        plot_sensitivity(table, tmp / "injection.png", title)
        record["wall_seconds"] = round(time.time() - started, 3)
        write_json(tmp / "injection.json", record)
    log.say(f"wrote {out}/ in {time.time() - started:.1f} s")
    return InjectionResult(out=out, groups=scored, sensitivity=table, record=record)
