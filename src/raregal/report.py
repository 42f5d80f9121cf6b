"""The report: what a run found, as figures and one static HTML page.

Astronomers judge a class by looking at it, so the report's core is a gallery
per class, as in the paper's figures 1 and 2. :func:`report` writes
``RUN_DIR/report/``:

``index.html``
    One page that works offline: relative links, no scripts, no CDN. Rendered from
    ``templates/report.html`` with autoescaping, so that no value of a run folder
    (which may come from someone else) is ever read as HTML.
``map.png``
    The 2-D map: the searched sample drawn as density, classes coloured and lettered.
``galleries.png``, ``gallery_A.png`` …
    Each class's most confident members (highest HDBSCAN membership probability)
    with their ids: all classes a row each, and one figure per class.
``variance.png``
    The PCA variance curve of the representation (how redundant it is).
``tree.png``
    HDBSCAN's condensed tree, with the class leaves lettered.
``class_table.csv``
    Letter, class number, size, persistence, and the predicted vote fractions in
    which the class differs from the whole searched sample.
``thumbs/``
    The gallery thumbnails, so that the folder can be copied or sent as it is
    (one file per id: :func:`thumbnail_names`). Only images inside the catalogue's
    folder are copied, unless ``allow_outside_paths``.

Classes are lettered A, B, C … by persistence, most distinct first (ties: larger
first). Galaxies without a local image but with RA/Dec link to the Legacy Surveys
viewer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import defaults
from .embed import image_catalogue
from .errors import InputError
from .images import ImageError, load_rgb, preprocess
from .monitor import stderr_printer
from .output import atomic_dir, prepare
from .run import SearchResult

#: Classes drawn in galleries.png (each also has its own gallery_X.png).
OVERVIEW_CLASSES = 30
OVERVIEW_COLUMNS = 8


# --- the classes ----------------------------------------------------------------------

def class_letters(n: int) -> list[str]:
    """A, B, …, Z, AA, AB, … for n classes."""
    letters = []
    for i in range(n):
        name, k = "", i
        while k >= 0:
            name = chr(ord("A") + k % 26) + name
            k = k // 26 - 1
        letters.append(name)
    return letters


def lettered(summary: pd.DataFrame) -> pd.DataFrame:
    """Classes in report order (persistence, then size, descending), with a letter."""
    ordered = summary.sort_values(["persistence", "size", "class"],
                                  ascending=[False, False, True]).reset_index(drop=True)
    ordered.insert(0, "letter", class_letters(len(ordered)))
    return ordered


def fraction_columns(classes: pd.DataFrame) -> list[str]:
    return [c for c in classes.columns if str(c).endswith("_fraction")]


def label_differences(classes: pd.DataFrame, effect: float = defaults.LABEL_EFFECT_SIZE
                      ) -> dict[int, list[dict]]:
    """For each class, the vote fractions whose class mean differs from the searched
    sample's mean by at least ``effect`` sample standard deviations.

    One answer per question (the most different), most different first. A class
    with none is *not explained* by the predicted labels.
    """
    columns = fraction_columns(classes)
    values = classes[columns].apply(pd.to_numeric, errors="coerce")
    mean, spread = values.mean(), values.std()
    members = classes["class"].to_numpy() >= 0
    class_means = values[members].groupby(classes["class"][members]).mean()
    found: dict[int, list[dict]] = {}
    for cls, row in class_means.iterrows():
        best: dict[str, dict] = {}
        for column in columns:
            if not spread[column] > 0 or np.isnan(row[column]):
                continue
            size = (row[column] - mean[column]) / spread[column]
            question = column.split("_", 1)[0]
            if abs(size) >= effect and abs(size) > abs(best.get(question, {}).get("sd", 0)):
                best[question] = {"column": column, "sd": float(size),
                                  "class_mean": float(row[column]),
                                  "sample_mean": float(mean[column])}
        found[int(cls)] = sorted(best.values(), key=lambda d: -abs(d["sd"]))
    return found


def describe_differences(differences: list[dict]) -> str:
    if not differences:
        return "none: not explained by the predicted labels"
    return "; ".join(f"{d['column'].removesuffix('_fraction')} {d['class_mean']:.2f} vs "
                     f"{d['sample_mean']:.2f} ({d['sd']:+.1f} sd)" for d in differences)


def gallery_members(classes: pd.DataFrame, cls: int, id_column: str, n: int) -> pd.DataFrame:
    """A class's n most confident members (highest membership probability, then id)."""
    members = classes[classes["class"] == cls]
    return members.sort_values(["probability", id_column], ascending=[False, True]).head(n)


# --- images ----------------------------------------------------------------------------

def embed_manifest(run: dict) -> dict | None:
    """The ``raregal embed`` manifest beside the run's representation file, if any."""
    path = run.get("inputs", {}).get("representations", {}).get("path")
    if not isinstance(path, str) or not path:
        return None
    manifest = Path(path).parent / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        record = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{manifest}: not a readable raregal embed manifest ({exc}); "
                         f"give the images with --images") from None
    if not isinstance(record, dict) or record.get("status") != "complete":
        return None
    crop = record.get("preprocessing", {}).get("crop_fraction", 1.0)
    if not isinstance(record.get("source"), str) or not (
            isinstance(crop, (int, float)) and 0 < crop <= 1):
        raise InputError(f"{manifest}: no usable 'source' and 'preprocessing.crop_fraction'; "
                         f"give the images with --images")
    return record


def image_paths(images, manifest: dict | None, allow_outside: bool = False
                ) -> tuple[dict, float, str | None]:
    """Map id -> image path, the crop to show, and where the images came from.

    ``images`` (a folder or catalogue) wins; else the images the run's
    representations were embedded from, shown with the model's crop. A
    catalogue's paths must lie in its folder unless ``allow_outside``
    (:func:`raregal.embed.table_paths`): the thumbnails are made to be shared.
    """
    crop = 1.0
    if manifest is not None:
        crop = manifest.get("preprocessing", {}).get("crop_fraction", 1.0)
    if images is None and manifest is not None and Path(manifest["source"]).exists():
        images = manifest["source"]
    if images is None:
        return {}, crop, None
    ids, paths, _ = image_catalogue(images, allow_outside=allow_outside)
    return dict(zip(ids, paths)), crop, str(images)


def thumbnail_names(ids) -> dict[str, str]:
    """A file name per id, distinct for distinct ids: a readable part (the id with
    unsafe characters replaced, so that 'gal/357' and 'gal_357' read alike) and a
    hash of the whole id that tells them apart."""
    names, used = {}, set()
    for galaxy in dict.fromkeys(ids):
        readable = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in galaxy)[:40]
        digest = hashlib.sha256(galaxy.encode()).hexdigest()
        length = 10
        while (name := f"{readable}-{digest[:length]}.jpg") in used:  # 40 bits: rare
            length += 1
        names[galaxy] = name
        used.add(name)
    return names


def write_thumbnails(ids, paths: dict, folder: Path, crop: float,
                     size: int = defaults.THUMBNAIL_PX) -> dict[str, str]:
    """Save each id's image, cropped as the model saw it, under ``folder``
    (:func:`thumbnail_names`). Returns id -> file name for the images that could be read.
    """
    from PIL import Image

    folder.mkdir(exist_ok=True)
    names = thumbnail_names(galaxy for galaxy in ids if galaxy in paths)
    written = {}
    for galaxy, name in names.items():
        try:
            pixels = preprocess(load_rgb(paths[galaxy]), crop_fraction=crop, size=size)
        except ImageError:
            continue
        Image.fromarray(np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8)).save(
            folder / name, "JPEG", quality=90)
        written[galaxy] = name
    return written


# --- figures ---------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on clusters
    import matplotlib.pyplot as plt

    return plt


def class_colours(n: int) -> list:
    plt = _pyplot()
    palette = plt.get_cmap("tab20").colors
    return [palette[i % len(palette)] for i in range(n)]


def plot_map(classes: pd.DataFrame, order: pd.DataFrame, path: Path) -> None:
    """The 2-D map: all searched galaxies as log density, classes coloured and lettered."""
    plt = _pyplot()
    from matplotlib import patheffects

    from matplotlib.colors import LinearSegmentedColormap, LogNorm

    fig, ax = plt.subplots(figsize=(8, 8))
    # Pale greys, so that the classes' colours stay readable on the densest bulk.
    pale = LinearSegmentedColormap.from_list("density", ["#e4e4e4", "#6a6a6a"])
    gridsize = int(np.clip(1.2 * np.sqrt(len(classes)), 40, 250))
    ax.hexbin(classes["map_x"], classes["map_y"], gridsize=gridsize, cmap=pale,
              norm=LogNorm(), mincnt=1, linewidths=0)
    outline = [patheffects.withStroke(linewidth=3, foreground="white")]
    for (_, row), colour in zip(order.iterrows(), class_colours(len(order))):
        members = classes[classes["class"] == row["class"]]
        ax.scatter(members["map_x"], members["map_y"], s=5, color=colour, linewidths=0)
        ax.text(members["map_x"].median(), members["map_y"].median(), row["letter"],
                fontsize=11, fontweight="bold", color=colour, ha="center", va="center",
                path_effects=outline)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{len(classes)} galaxies searched (grey: density); "
                 f"{len(order)} classes in colour")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gallery(rows: list[tuple[str, list[tuple[str, Path]]]], path: Path,
                 columns: int = OVERVIEW_COLUMNS) -> None:
    """A grid of thumbnails: one block per (letter, [(id, thumbnail)]), ids below."""
    plt = _pyplot()
    from PIL import Image

    lines = [(letter, members[i:i + columns]) for letter, members in rows
             for i in range(0, max(len(members), 1), columns)]
    fig, axes = plt.subplots(len(lines), columns + 1, squeeze=False,
                             figsize=(1.3 * (columns + 1), 1.45 * len(lines)))
    previous = None
    for axes_row, (letter, members) in zip(axes, lines):
        for ax in axes_row:
            ax.axis("off")
        if letter != previous:
            axes_row[0].text(0.5, 0.5, letter, fontsize=20, fontweight="bold",
                             ha="center", va="center", transform=axes_row[0].transAxes)
        previous = letter
        for ax, (galaxy, thumb) in zip(axes_row[1:], members):
            with Image.open(thumb) as image:
                ax.imshow(np.asarray(image))
            ax.set_title(galaxy, fontsize=6, pad=2)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_variance(redundancy: dict, path: Path) -> None:
    """Cumulative variance explained against the number of principal components."""
    plt = _pyplot()
    explained = np.asarray(redundancy["cumulative_explained"])
    k = np.arange(1, len(explained) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(k, explained, color="black")
    for level, needed in redundancy.get("components_for", {}).items():
        ax.axhline(float(level), color="grey", lw=0.6, ls="--")
        ax.annotate(f"{float(level):.0%}: {needed}", (needed, float(level)),
                    textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("principal components")
    ax.set_ylabel("cumulative fraction of variance")
    ax.set_title(f"Redundancy of the {len(explained)}-d representation")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tree_layout(tree: pd.DataFrame) -> pd.DataFrame:
    """Cluster nodes of a condensed tree with x (leaves in depth-first order, parents
    centred over their children), parent (-1 for the root), birth and death lambda,
    and size."""
    clusters = tree[tree["child_size"] > 1]
    root = int(tree["parent"].min())
    children = clusters.groupby("parent")["child"].apply(list).to_dict()
    birth = dict(zip(clusters["child"], clusters["lambda_val"]))
    size = dict(zip(clusters["child"], clusters["child_size"]))
    size[root] = int(tree.loc[tree["parent"] == root, "child_size"].sum())
    death = tree.groupby("parent")["lambda_val"].max().to_dict()
    parent_of = dict(zip(clusters["child"], clusters["parent"]))
    x: dict[int, float] = {}
    stack, next_leaf = [(root, False)], 0
    while stack:  # iterative post-order: trees can be deeper than Python's recursion
        node, expanded = stack.pop()
        kids = children.get(node, [])
        if not kids:
            x[node], next_leaf = float(next_leaf), next_leaf + 1
        elif expanded:
            x[node] = float(np.mean([x[k] for k in kids]))
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
    nodes = sorted(x)
    return pd.DataFrame({"node": nodes, "x": [x[n] for n in nodes],
                         "parent": [parent_of.get(n, -1) for n in nodes],
                         "birth": [birth.get(n, 0.0) for n in nodes],
                         "death": [death.get(n, birth.get(n, 0.0)) for n in nodes],
                         "size": [size[n] for n in nodes]})


def plot_tree(tree: pd.DataFrame, order: pd.DataFrame, path: Path) -> None:
    """The condensed tree as a dendrogram in lambda (= 1 / distance), root at the top;
    line width grows with cluster size, class leaves coloured and lettered."""
    plt = _pyplot()
    layout = tree_layout(tree).set_index("node")
    colour_of = dict(zip(order["tree_node"], class_colours(len(order))))
    letter_of = dict(zip(order["tree_node"], order["letter"]))
    total = layout["size"].max()
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * len(order) + 4), 5))
    for node, row in layout.iterrows():
        colour = colour_of.get(node, "0.35")
        ax.plot([row["x"], row["x"]], [row["birth"], row["death"]], color=colour,
                lw=0.6 + 4 * np.sqrt(row["size"] / total), solid_capstyle="butt")
        if row["parent"] >= 0:
            parent_x = layout.loc[int(row["parent"]), "x"]
            ax.plot([parent_x, row["x"]], [row["birth"], row["birth"]], color="0.35", lw=0.6)
        if node in letter_of:
            ax.text(row["x"], row["death"], letter_of[node], ha="center", va="top",
                    fontsize=7, color=colour, fontweight="bold")
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_ylabel("lambda = 1 / distance")
    ax.set_title("HDBSCAN condensed tree (classes are its lettered leaves)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- the page --------------------------------------------------------------------------

def viewer_link(ra, dec) -> str | None:
    """The Legacy Surveys viewer at (ra, dec), in the layer of that sky region."""
    from .export import viewer_layer

    if ra is None or dec is None or not (np.isfinite(ra) and np.isfinite(dec)):
        return None
    return defaults.VIEWER_URL.format(ra=float(ra), dec=float(dec),
                                      layer=str(viewer_layer(ra, dec)))


def _template():
    """The page template, with autoescaping: values are escaped by construction."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("raregal", "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True)
    return environment.get_template("report.html")


def _card(row, id_column: str, thumbs: dict) -> dict:
    galaxy = row[id_column]
    return {"id": galaxy, "thumb": thumbs.get(galaxy),
            "link": viewer_link(row.get("ra"), row.get("dec"))}


def render_page(data: SearchResult, order: pd.DataFrame, differences: dict, galleries: dict,
                thumbs: dict, images_from: str | None, figures: dict) -> str:
    """The report's index.html (``templates/report.html``)."""
    run, classes, id_column = data.run, data.classes, data.id_column
    n = len(classes)
    in_classes = int((classes["class"] >= 0).sum())
    params = run.get("parameters", {})
    rows = []
    for _, row in order.iterrows():
        found = differences.get(int(row["class"]), [])
        png = figures.get(f"gallery_{row['letter']}")
        rows.append({"letter": row["letter"], "size": int(row["size"]),
                     "persistence": f"{row['persistence']:.3f}",
                     "differences": describe_differences(found), "unexplained": not found,
                     "png": png, "members": [_card(m, id_column, thumbs)
                                             for _, m in galleries[row["letter"]].iterrows()]})
    return _template().render(
        name="/".join(Path(data.out).resolve().parts[-2:]), searched=n,
        rows_read=run.get("selection", {}).get("rows_read", n), in_classes=in_classes,
        share=f"{in_classes / max(n, 1):.1%}",
        params={key: params.get(key) for key in ("n_neighbors", "n_components",
                                                 "min_samples_used", "min_cluster_size")},
        images_from=images_from, has_positions={"ra", "dec"} <= set(classes.columns),
        figures={key: figures.get(key) for key in ("map", "galleries", "variance", "tree")},
        effect=f"{defaults.LABEL_EFFECT_SIZE:g}", classes=rows,
        command=" ".join(map(str, run.get("command", []))), version=str(run.get("raregal", "")))


# --- the stage -------------------------------------------------------------------------

def report(run_dir, *, images=None, out=None, per_class: int = defaults.GALLERY_SIZE,
           allow_outside_paths: bool = False, verbose: bool = True) -> Path:
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
        (:mod:`raregal.output`).
    per_class : int
        Galaxies shown per class.
    allow_outside_paths : bool
        Let a catalogue name images outside its own folder (``../``, absolute
        paths). Off by default: the report copies the images into ``thumbs/``,
        a folder made to be shared.
    """
    if per_class < 1:
        raise InputError(f"--per-class must be at least 1, not {per_class}")
    data = SearchResult.read(run_dir)
    manifest = embed_manifest(data.run)
    source = images if images is not None else (manifest or {}).get("source")
    target = prepare(out if out is not None else data.out / "report", kind="report",
                     inputs=[run_dir, source], overwrite=True)
    with target:
        return _write_report(target, data, images, manifest, per_class=per_class,
                             allow_outside=allow_outside_paths, say=stderr_printer(verbose))


def _write_report(target, data: SearchResult, images, manifest, *, per_class: int,
                  allow_outside: bool, say) -> Path:
    classes, id_column = data.classes, data.id_column
    order = lettered(data.summary)
    differences = label_differences(classes)
    galleries = {row["letter"]: gallery_members(classes, row["class"], id_column, per_class)
                 for _, row in order.iterrows()}
    paths, crop, images_from = image_paths(images, manifest, allow_outside)
    shown = pd.concat(galleries.values())[id_column] if galleries else pd.Series(dtype=str)
    missing = int((~shown.isin(paths.keys())).sum()) if images_from else 0
    if images_from and len(shown) and missing == len(shown):
        raise InputError(f"{images_from}: none of the {len(shown)} gallery galaxies has an "
                         f"image there (ids are matched on {id_column})")

    with atomic_dir(target) as tmp:
        thumbs = write_thumbnails(shown, paths, tmp / "thumbs", crop) if images_from else {}
        unreadable = len(set(shown) & set(paths)) - len(thumbs)
        if missing or unreadable:
            say(f"{missing} gallery galaxies have no image in {images_from}, "
                f"{unreadable} could not be read")
        figures = {}
        if {"map_x", "map_y"} <= set(classes.columns):
            plot_map(classes, order, tmp / "map.png")
            figures["map"] = "map.png"
        if thumbs:
            rows = [(letter, [(g, tmp / "thumbs" / thumbs[g]) for g in members[id_column]
                              if g in thumbs]) for letter, members in galleries.items()]
            rows = [(letter, members) for letter, members in rows if members]
            for letter, members in rows:
                plot_gallery([(letter, members)], tmp / f"gallery_{letter}.png")
                figures[f"gallery_{letter}"] = f"gallery_{letter}.png"
            if rows:
                plot_gallery([(letter, members[:OVERVIEW_COLUMNS])
                              for letter, members in rows[:OVERVIEW_CLASSES]],
                             tmp / "galleries.png")
                figures["galleries"] = "galleries.png"
        if data.run.get("redundancy", {}).get("cumulative_explained"):
            plot_variance(data.run["redundancy"], tmp / "variance.png")
            figures["variance"] = "variance.png"
        if len(data.tree):
            plot_tree(data.tree, order, tmp / "tree.png")
            figures["tree"] = "tree.png"
        table = order.copy()
        table["differing_vote_fractions"] = [
            describe_differences(differences.get(int(c), [])) for c in order["class"]]
        table[["letter", "class", "size", "persistence", "tree_node",
               "differing_vote_fractions"]].to_csv(tmp / "class_table.csv", index=False)
        (tmp / "index.html").write_text(render_page(data, order, differences, galleries,
                                                    thumbs, images_from, figures))
    say(f"wrote {target.path}/: {len(order)} classes, {len(thumbs)} thumbnails; open "
        f"{(target.path / 'index.html').resolve()}")
    return target.path / "index.html"
