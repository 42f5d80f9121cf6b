"""The report's page and its tables: :func:`report` reads a run folder, makes the
figures (:mod:`raregal.report.figures`) and thumbnails (:mod:`raregal.report.thumbnails`)
and renders ``templates/report.html``; the folder it writes is described in
:mod:`raregal.report`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import defaults
from raregal.core.errors import InputError
from raregal.core.monitor import stderr_printer
from raregal.core.params import Integral, Interval, ParameterError, validate
from raregal.io.catalogue import fraction_columns
from raregal.io.export import spreadsheet_safe
from raregal.io.images import embed_manifest, image_paths
from raregal.io.output import atomic_dir, prepare
from raregal.io.records import RunRecord
from raregal.measure.compare import CONSTRAINTS as COMPARE_CONSTRAINTS
from raregal.measure.compare import Comparison, compare_results
from raregal.method.run import SearchResult, lettered
from raregal.report.figures import (
    OVERVIEW_COLUMNS,
    class_colours,
    plot_gallery,
    plot_map,
    plot_tree,
    plot_variance,
)
from raregal.report.thumbnails import write_thumbnails

#: Classes drawn in galleries.png (each also has its own gallery_X.png).
OVERVIEW_CLASSES = 30
#: Galaxies in the rarest-galaxies gallery.
RAREST_SHOWN = 32


# --- the classes ----------------------------------------------------------------------


def label_differences(
    classes: pd.DataFrame, effect: float = defaults.LABEL_EFFECT_SIZE
) -> dict[int, list[dict]]:
    """For each class, the vote fractions whose class mean differs from the searched
    sample's mean by at least ``effect`` sample standard deviations.

    One answer per question (the most different), most different first. A class
    with none is *not explained* by the predicted labels.
    """
    columns = fraction_columns(classes)
    members = classes["class"].to_numpy() >= 0
    labels = classes["class"].to_numpy()[members]
    # a column at a time: a copy of every fraction column costs GBs at 8.7M galaxies
    mean, spread, class_means = {}, {}, {}
    for column in columns:
        values = pd.to_numeric(classes[column], errors="coerce")
        mean[column], spread[column] = values.mean(), values.std()
        class_means[column] = values[members].groupby(labels).mean()
    class_means = pd.DataFrame(class_means, columns=columns)
    found: dict[int, list[dict]] = {}
    for cls, row in class_means.iterrows():
        best: dict[str, dict] = {}
        for column in columns:
            if not spread[column] > 0 or np.isnan(row[column]):
                continue
            size = (row[column] - mean[column]) / spread[column]
            question = column.split("_", 1)[0]
            if abs(size) >= effect and abs(size) > abs(best.get(question, {}).get("sd", 0)):
                best[question] = {
                    "column": column,
                    "sd": float(size),
                    "class_mean": float(row[column]),
                    "sample_mean": float(mean[column]),
                }
        found[int(cls)] = sorted(best.values(), key=lambda d: -abs(d["sd"]))
    return found


def describe_differences(differences: list[dict]) -> str:
    if not differences:
        return "none: not explained by the predicted labels"
    return "; ".join(
        f"{d['column'].removesuffix('_fraction')} {d['class_mean']:.2f} vs "
        f"{d['sample_mean']:.2f} ({d['sd']:+.1f} sd)"
        for d in differences
    )


def gallery_members(classes: pd.DataFrame, cls: int, id_column: str, n: int) -> pd.DataFrame:
    """A class's n most confident members (highest membership probability, then id)."""
    members = classes[classes["class"] == cls]
    return members.sort_values(["probability", id_column], ascending=[False, True]).head(n)


def rarest_members(classes: pd.DataFrame, id_column: str, n: int) -> pd.DataFrame:
    """The n galaxies of highest rarity (then id), with their rank; none without the
    ``rarity`` column."""
    if "rarity" not in classes.columns:  # a run written before the column existed
        return classes.head(0).assign(rarity=[], rank=[])
    rarest = classes.sort_values(["rarity", id_column], ascending=[False, True]).head(n)
    return rarest.assign(rank=np.arange(1, len(rarest) + 1))


# --- other runs: "also found in run B" ---------------------------------------------------


@dataclass
class OtherRun:
    """Another search run the report is compared with (:func:`compare_with`).

    Attributes
    ----------
    name : str
        Its folder's name, with as many parent folders as tell the runs apart.
    comparison : raregal.measure.compare.Comparison
        The reported run (A) against this one (B), over the galaxies both searched.
    letters : dict
        This run's class number -> its letter in this run's own report.
    """

    name: str
    comparison: Comparison
    letters: dict

    @property
    def columns(self) -> tuple[str, str]:
        """Its two columns of the class table."""
        return f"match_in_{self.name}", f"jaccard_in_{self.name}"


def run_names(paths) -> list[str]:
    """Short distinct names for run folders: each folder's name, with as many of its
    parents as it takes to tell them apart (``s0/run`` and ``s1/run``)."""
    parts = [Path(p).resolve().parts for p in paths]
    twice = [p for i, p in enumerate(paths) if parts[i] in parts[:i]]
    if twice:
        raise ParameterError("compare", f"{twice[0]} given twice")
    for depth in range(1, max(map(len, parts), default=1) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return []  # no paths


def compare_with(
    data: SearchResult, others, *, also_found_at: float = defaults.ALSO_FOUND_JACCARD
) -> list[OtherRun]:
    """Read each other run folder and match the reported run's classes to its classes
    over the galaxies both searched (:func:`raregal.measure.compare.compare_results`: best-match
    Jaccard, matched by id). A folder that is not a run, or shares no id, is an
    :class:`InputError`."""
    others = list(others)
    found = []
    for path, name in zip(others, run_names(others)):
        other = SearchResult.read(path)
        comparison = compare_results(
            data, other, also_found_at=also_found_at, names=(str(data.out), str(path))
        )
        order = lettered(other.summary)
        found.append(
            OtherRun(
                name=name, comparison=comparison, letters=dict(zip(order["class"], order["letter"]))
            )
        )
    return found


def also_found_columns(order: pd.DataFrame, others: list[OtherRun]) -> pd.DataFrame:
    """The class table's columns for the other runs (see the module docstring), one row
    per class of ``order``."""
    columns = {}
    for other in others:
        matches = other.comparison.matches.set_index("class").reindex(order["class"])
        compared = matches["size"].fillna(0).to_numpy() > 0
        match = matches["match_class"].fillna(-1).to_numpy(int)
        match_column, jaccard_column = other.columns
        columns[match_column] = [
            other.letters.get(m, "") if ok else "" for m, ok in zip(match, compared)
        ]
        columns[jaccard_column] = np.where(compared, matches["jaccard"], np.nan)
    return pd.DataFrame(columns, index=order.index)


def also_found_cell(letter: str, jaccard: float, also_found_at: float) -> dict:
    """A cell of a run's "also found in" column: the matching class and the Jaccard
    index, or why none counts; sorted by the Jaccard index."""
    if not np.isfinite(jaccard):
        return {"text": "–", "sort": "", "title": "no member among the shared galaxies"}
    if letter and jaccard >= also_found_at:
        return {
            "text": f"{letter} ({jaccard:.2f})",
            "sort": float(jaccard),
            "title": f"class {letter} there, Jaccard {jaccard:.3f}",
        }
    best = f" (best: {letter}, {jaccard:.2f})" if letter else ""
    return {
        "text": f"none{best}",
        "sort": float(jaccard),
        "title": f"no class there with Jaccard >= {also_found_at:g}",
    }


# --- images ----------------------------------------------------------------------------


# --- figures ---------------------------------------------------------------------------


# --- the page --------------------------------------------------------------------------


def viewer_links(ra, dec) -> list[str | None]:
    """The Legacy Surveys viewer at each (ra, dec), in the layer of its sky region;
    None where a position is missing. Vectorised: one coordinate transform for all."""
    from raregal.io.export import viewer_layer

    ra = np.atleast_1d(np.asarray(ra, dtype=float))
    dec = np.atleast_1d(np.asarray(dec, dtype=float))
    known = np.isfinite(ra) & np.isfinite(dec)
    links: list[str | None] = [None] * len(ra)
    if known.any():
        layers = viewer_layer(ra[known], dec[known])
        for i, r, d, layer in zip(np.flatnonzero(known), ra[known], dec[known], layers):
            links[i] = defaults.VIEWER_URL.format(ra=float(r), dec=float(d), layer=str(layer))
    return links


def _template():
    """The page template, with autoescaping: values are escaped by construction."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("raregal.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template("report.html")


#: Files of a run folder the page links to, when present, and what each holds.
RUN_TABLES = {
    "classes.fits": "every searched galaxy (FITS, TOPCAT/astropy)",
    "class_members.vot": "the class members (VOTable)",
    "classes.parquet": "every searched galaxy (Parquet)",
    "classes.csv": "one row per class, with the vote fractions' class means",
    "neighbours.parquet": "each galaxy's nearest neighbours in the representation",
    "condensed_tree.parquet": "HDBSCAN's condensed tree",
    "run.json": "parameters, inputs, selection and timings",
}


def _hidden(column: str) -> bool:
    """classes.csv columns left out of the class table: the vote fractions' means and
    differences (summarised as the differing vote fractions) and the tree node."""
    return column == "tree_node" or column.endswith(("_fraction", "_fraction_diff"))


#: Formats of the class table's known columns; other columns get a generic one
#: (:func:`_cell`), so that columns a newer search adds appear without changes here.
FORMATS = {
    "persistence": "{:.3f}",
    "significance": "{:.2f}",
    "stability": "{:.2f}",
    "density_contrast": "{:.2f}",
}
#: Column titles other than the column's name with spaces for underscores.
TITLES = {"class": "class number"}


def class_table(
    order: pd.DataFrame, differences: dict, members: dict, others: list[OtherRun] = ()
) -> pd.DataFrame:
    """The class table: letter, every per-class column of classes.csv but the vote
    fractions' means (:func:`_hidden`), each other run's match
    (:func:`also_found_columns`), the differing vote fractions, and the file of each
    class's full member list."""
    table = order[[c for c in order.columns if not _hidden(str(c))]].copy()
    table = table.join(also_found_columns(order, list(others)))
    table["differing_vote_fractions"] = [
        describe_differences(differences.get(int(c), [])) for c in order["class"]
    ]
    table["members_csv"] = [members.get(letter, "") for letter in order["letter"]]
    return table


def _cell(column: str, value) -> dict:
    """A table cell: its text and the key it sorts by (numbers numerically)."""
    if isinstance(value, (bool, np.bool_)):
        return {"text": "yes" if value else "no", "sort": int(value)}
    if isinstance(value, (int, np.integer)):
        return {"text": str(int(value)), "sort": int(value)}
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return {"text": "–", "sort": ""}
        return {"text": FORMATS.get(column, "{:.3g}").format(value), "sort": float(value)}
    text = "" if value is None else str(value)
    return {"text": text, "sort": text}


def caveats(n_searched: int, in_classes: int) -> list[str]:
    """Warnings the page shows above everything: a small sample, or a share of
    galaxies in classes far above the paper's (:data:`defaults.SMALL_SAMPLE`,
    :data:`defaults.CAVEAT_FRACTION_IN_CLASSES`)."""
    found = []
    if n_searched < defaults.SMALL_SAMPLE:
        found.append(
            f"Small sample: {n_searched:,} galaxies searched, fewer than "
            f"{defaults.SMALL_SAMPLE:,} (a tenth of the paper's "
            f"{defaults.PAPER_SAMPLE_SIZE:,}). The paper's parameters were chosen "
            f"for that size; classes here are a demonstration, not rare populations."
        )
    share = in_classes / max(n_searched, 1)
    if share > defaults.CAVEAT_FRACTION_IN_CLASSES:
        found.append(
            f"{share:.0%} of the searched galaxies are in a class, against the "
            f"paper's < {defaults.PAPER_FRACTION_IN_CLASSES:.0%}: these classes "
            f"are common structure of this sample (small, or the set the model "
            f"was trained on), not rare populations."
        )
    return found


def selection_steps(run: RunRecord) -> list[dict]:
    """The search's cuts in order, with the galaxies each removed and those left."""
    selection = run.selection
    left = selection.get("rows_read")
    steps = [{"name": "read", "rule": "", "removed": "", "nan": "", "left": left}]
    for step in selection.get("steps", []):
        removed = step.get("removed", "")
        if "left" in step:
            left = step["left"]
        elif isinstance(left, int) and isinstance(removed, int):  # runs before "left"
            left -= removed
        steps.append(
            {
                "name": step.get("name", ""),
                "rule": step.get("rule", ""),
                "removed": removed,
                "nan": step.get("nan", ""),
                "left": left,
            }
        )
    return steps


def public_command(command: list) -> str:
    """The run's command with absolute paths cut to their last part: the page is made
    to be shared, and the machine's folders are nobody else's business."""

    def short(arg: str) -> str:
        key, sep, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if os.path.isabs(value):
            value = f".../{Path(value).name}"
        return key + sep + value

    return " ".join(short(str(arg)) for arg in command)


def run_tables(run_dir: Path, report_dir: Path) -> list[dict]:
    """Links, relative to the report folder, to the run's tables that exist."""
    return [
        {
            "name": name,
            "href": Path(os.path.relpath(run_dir / name, report_dir)).as_posix(),
            "about": about,
        }
        for name, about in RUN_TABLES.items()
        if (run_dir / name).is_file()
    ]


def compared_runs(others: list[OtherRun], n_classes: int) -> list[dict]:
    """What the page says of each other run: shared galaxies, classes found in both."""
    said = []
    for other in others:
        record = other.comparison.record
        said.append(
            {
                "name": other.name,
                "shared": record["shared_galaxies"],
                "found": record["found_by_both"],
                "of": n_classes,
                "classes": len(other.letters),
                "ari": f"{record['ari']:.3f}",
                "at": f"{record['also_found_at']:g}",
            }
        )
    return said


def render_page(
    data: SearchResult,
    table: pd.DataFrame,
    galleries: dict,
    links: dict,
    thumbs: dict,
    images_from: str | None,
    figures: dict,
    tables: list,
    others: list[OtherRun] = (),
    rarest: pd.DataFrame | None = None,
) -> str:
    """The report's index.html (``templates/report.html``)."""
    run, classes, id_column = data.run, data.classes, data.id_column
    n = len(classes)
    in_classes = int((classes["class"] >= 0).sum())
    params = run.parameters
    also = [other.columns for other in others]
    shown = [
        c
        for c in table.columns
        if c not in ("letter", "differing_vote_fractions", "members_csv")
        and not any(c in pair for pair in also)
    ]
    colours = dict(zip(table["letter"], class_colours(len(table))))
    rows = []
    for _, row in table.iterrows():
        letter = row["letter"]
        credible = row.get("credible")
        rows.append(
            {
                "letter": letter,
                "colour": colours[letter],
                "cells": [_cell(c, row[c]) for c in shown],
                "also": [
                    also_found_cell(row[m], row[j], other.comparison.record["also_found_at"])
                    for (m, j), other in zip(also, others)
                ],
                "credible": None if credible is None or pd.isna(credible) else int(bool(credible)),
                "size": int(row["size"]),
                "persistence": f"{row['persistence']:.3f}",
                "differences": row["differing_vote_fractions"],
                "unexplained": row["differing_vote_fractions"] == describe_differences([]),
                "members_csv": row["members_csv"],
                "png": figures.get(f"gallery_{letter}"),
                "members": [
                    {"id": g, "thumb": thumbs.get(g), "link": links.get(g)}
                    for g in galleries[letter][id_column]
                ],
            }
        )
    return _template().render(
        name="/".join(Path(data.out).resolve().parts[-2:]),
        searched=n,
        rows_read=run.selection.get("rows_read", n),
        in_classes=in_classes,
        share=f"{in_classes / max(n, 1):.1%}",
        caveats=caveats(n, in_classes),
        steps=selection_steps(run),
        notes=run.selection.get("notes", []),
        params={
            key: params.get(key)
            for key in ("n_neighbors", "n_components", "min_samples_used", "min_cluster_size")
        },
        images_from=Path(images_from).name if images_from else None,
        has_positions={"ra", "dec"} <= set(classes.columns),
        figures={
            key: figures.get(key) for key in ("map", "galleries", "variance", "tree", "rarest")
        },
        rarest=[]
        if rarest is None
        else [
            {"id": g, "thumb": thumbs.get(g), "link": links.get(g), "rarity": f"{r:.3g}"}
            for g, r in zip(rarest[id_column], rarest["rarity"])
        ],
        rarity_definition=run.rarity.get("definition"),
        effect=f"{defaults.LABEL_EFFECT_SIZE:g}",
        columns=[TITLES.get(c, c.replace("_", " ")) for c in shown],
        compared=compared_runs(others, len(table)),
        has_credible="credible" in table,
        credible_rule=run.credibility.get("rule"),
        classes=rows,
        tables=tables,
        command=public_command(run.command),
        version=run.raregal,
    )


def write_members(
    folder: Path, classes: pd.DataFrame, order: pd.DataFrame, id_column: str
) -> dict[str, str]:
    """Each class's full member list as ``members/<letter>.csv`` (most confident
    first; every column but the 5-D ``umap_*``; text safe in spreadsheets). Returns
    letter -> relative path."""
    folder.mkdir(exist_ok=True)
    columns = [c for c in classes.columns if not str(c).startswith("umap_")]
    written = {}
    for _, row in order.iterrows():
        members = gallery_members(classes, row["class"], id_column, len(classes))
        spreadsheet_safe(members[columns]).to_csv(folder / f"{row['letter']}.csv", index=False)
        written[row["letter"]] = f"members/{row['letter']}.csv"
    return written


# --- the stage -------------------------------------------------------------------------


def report(
    run_dir,
    *,
    images=None,
    out=None,
    per_class: int = defaults.GALLERY_SIZE,
    allow_outside_paths: bool = False,
    compare=(),
    also_found_at: float = defaults.ALSO_FOUND_JACCARD,
    verbose: bool = True,
) -> Path:
    """Write the report of a search run; return the path of its ``index.html``.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``raregal search``.
    images : path-like, optional
        A folder of images or a catalogue with id and path columns. Default: the
        images the run's representations were embedded from, when ``raregal embed``
        made them.
    out : path-like, optional
        Default ``RUN_DIR/report``. A new folder, or a report folder, which is
        replaced as a whole (it is derived from the run alone); never a folder
        that is not a raregal report, nor one holding the run or the images
        (:mod:`raregal.io.output`).
    per_class : int
        Galaxies shown per class.
    allow_outside_paths : bool
        Let a catalogue name images outside its own folder (``../``, absolute
        paths). Off by default: the report copies the images into ``thumbs/``,
        a folder made to be shared.
    compare : sequence of path-like
        Other run folders (two seeds, another model, the pixel baseline): the class
        table gets, per run, the class there that best matches each class over the
        galaxies both searched, and its Jaccard index (:func:`compare_with`). They
        are only read.
    also_found_at : float
        Jaccard index from which a class counts as also found in another run, in
        (0, 1], as in ``raregal compare``.
    """
    validate(
        {"also_found_at": also_found_at, "per_class": per_class},
        {**COMPARE_CONSTRAINTS, "per_class": [Interval(Integral, 1, None)]},
        "report",
    )
    data = SearchResult.read(run_dir)
    others = compare_with(data, compare, also_found_at=also_found_at)
    manifest = embed_manifest(data.run.representations_path)
    source = images if images is not None else (manifest.source if manifest else None)
    target = prepare(
        out if out is not None else data.out / "report",
        kind="report",
        inputs=[run_dir, source, *compare],
        overwrite=True,
    )
    with target:
        return _write_report(
            target,
            data,
            images,
            manifest,
            per_class=per_class,
            allow_outside=allow_outside_paths,
            others=others,
            say=stderr_printer(verbose),
        )


def _write_report(
    target,
    data: SearchResult,
    images,
    manifest,
    *,
    per_class: int,
    allow_outside: bool,
    others: list[OtherRun],
    say,
) -> Path:
    classes, id_column = data.classes, data.id_column
    order = lettered(data.summary)
    differences = label_differences(classes)
    galleries = {
        row["letter"]: gallery_members(classes, row["class"], id_column, per_class)
        for _, row in order.iterrows()
    }
    rarest = rarest_members(classes, id_column, RAREST_SHOWN)
    paths, crop, images_from = image_paths(images, manifest, allow_outside)
    shown = pd.concat([*galleries.values(), rarest])[id_column].drop_duplicates()
    missing = int((~shown.isin(paths.keys())).sum()) if images_from else 0
    if images_from and len(shown) and missing == len(shown):
        raise InputError(
            f"{images_from}: none of the {len(shown)} gallery galaxies has an "
            f"image there (ids are matched on {id_column})"
        )

    with atomic_dir(target) as tmp:
        thumbs = (
            write_thumbnails(shown, paths, tmp / "thumbs", crop, whole=tmp / "images")
            if images_from
            else {}
        )
        unreadable = len(set(shown) & set(paths)) - len(thumbs)
        if missing or unreadable:
            say(
                f"{missing} gallery galaxies have no image in {images_from}, "
                f"{unreadable} could not be read"
            )
        figures = {}
        if {"map_x", "map_y"} <= set(classes.columns):
            plot_map(classes, order, tmp / "map.png")
            figures["map"] = "map.png"
        if thumbs:
            rows = [
                (
                    letter,
                    [(g, tmp / "thumbs" / thumbs[g]) for g in members[id_column] if g in thumbs],
                )
                for letter, members in galleries.items()
            ]
            rows = [(letter, members) for letter, members in rows if members]
            for letter, members in rows:
                plot_gallery([(letter, members)], tmp / f"gallery_{letter}.png")
                figures[f"gallery_{letter}"] = f"gallery_{letter}.png"
            if rows:
                plot_gallery(
                    [
                        (letter, members[:OVERVIEW_COLUMNS])
                        for letter, members in rows[:OVERVIEW_CLASSES]
                    ],
                    tmp / "galleries.png",
                )
                figures["galleries"] = "galleries.png"
        rare = [(g, tmp / "thumbs" / thumbs[g]) for g in rarest[id_column] if g in thumbs]
        if rare:
            plot_gallery([("", rare)], tmp / "rarest.png")
            figures["rarest"] = "rarest.png"
        if len(rarest):
            rarest[[id_column, "rarity", "rank", "class"]].to_csv(tmp / "rarest.csv", index=False)
        if data.run.redundancy.get("cumulative_explained"):
            plot_variance(data.run.redundancy, tmp / "variance.png")
            figures["variance"] = "variance.png"
        if len(data.tree):
            plot_tree(data.tree, order, tmp / "tree.png")
            figures["tree"] = "tree.png"
        members = write_members(tmp / "members", classes, order, id_column)
        table = class_table(order, differences, members, others)
        table.to_csv(tmp / "class_table.csv", index=False)
        shown_rows = pd.concat([*galleries.values(), rarest])
        links = (
            dict(zip(shown_rows[id_column], viewer_links(shown_rows["ra"], shown_rows["dec"])))
            if {"ra", "dec"} <= set(classes.columns)
            else {}
        )
        (tmp / "index.html").write_text(
            render_page(
                data,
                table,
                galleries,
                links,
                thumbs,
                images_from,
                figures,
                run_tables(Path(data.out), target.path),
                others,
                rarest,
            )
        )
    say(
        f"wrote {target.path}/: {len(order)} classes, {len(thumbs)} thumbnails; open "
        f"{(target.path / 'index.html').resolve()}"
    )
    return target.path / "index.html"
