"""The report: what a run found, as figures and one static HTML page.

Astronomers judge a class by looking at it, so the report's core is a gallery
per class, as in the paper's figures 1 and 2. :func:`report` writes
``RUN_DIR/report/``:

``index.html``
    One page that works offline: relative links, no CDN, and one small inline script
    (the sortable class table, and a "credible classes only" switch when the run
    has the ``credible`` column). Rendered from ``templates/report.html`` with
    autoescaping, so that no value of a run folder (which may come from someone
    else) is ever read as HTML. It lists the selection's cuts with their counts,
    links to the run's tables and each class's members, shows a caveat when the
    sample is small or far more of it is in classes than in the paper
    (:func:`caveats`), and names no folder of this machine (:func:`public_command`).
``map.png``
    The 2-D map: the searched sample drawn as density, classes coloured
    (:func:`class_colours`, distinct beyond 20 classes) and lettered.
``galleries.png``, ``gallery_A.png`` …
    Each class's most confident members (highest HDBSCAN membership probability)
    with their ids: all classes a row each, and one figure per class.
``rarest.png``, ``rarest.csv``
    The galaxies of highest rarity (the run's ``rarity`` column, :mod:`raregal.rarity`),
    rarest first, as a gallery and a table (id, rarity, rank, class); runs written
    before the column was added have none.
``variance.png``
    The PCA variance curve of the representation (how redundant it is).
``tree.png``
    HDBSCAN's condensed tree, with the class leaves lettered.
``class_table.csv``
    Letter, every per-class column of the run's classes.csv but the vote fractions'
    class means (so columns a newer search adds appear), the predicted vote
    fractions in which the class differs from the searched sample, and the file of
    its members (:func:`class_table`). With ``compare`` (other run folders), per
    other run NAME: ``match_in_NAME``, the letter of its best-matching class in
    that run's own report ('' if none), and ``jaccard_in_NAME``, their Jaccard
    index over the galaxies both runs searched (empty when none of the class's
    members is in the other run): :func:`compare_with`. The page calls a class
    *also found* there from ``also_found_at`` (default
    :data:`defaults.ALSO_FOUND_JACCARD`) up, as ``raregal compare`` does.
``members/A.csv`` …
    Each class's full member list, most confident first (:func:`write_members`).
``thumbs/``
    The gallery thumbnails, so that the folder can be copied or sent as it is
    (one file per id: :func:`thumbnail_names`). Only images inside the catalogue's
    folder are copied, unless ``allow_outside_paths``.
``images/``
    Each gallery galaxy's whole image at its own resolution (JPEG, same names), which
    its thumbnail links to.

Classes are lettered A, B, C … by persistence, most distinct first (ties: larger
first). Galaxies without a local image but with RA/Dec link to the Legacy Surveys
viewer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import defaults
from .catalogue import fraction_columns
from .compare import CONSTRAINTS as COMPARE_CONSTRAINTS
from .compare import Comparison, compare_results
from .embed import image_catalogue
from .errors import InputError
from .export import spreadsheet_safe
from .images import ImageError, load_rgb, model_input
from .monitor import stderr_printer
from .output import atomic_dir, prepare
from .params import validate
from .run import SearchResult

#: Classes drawn in galleries.png (each also has its own gallery_X.png).
OVERVIEW_CLASSES = 30
OVERVIEW_COLUMNS = 8
#: Galaxies in the rarest-galaxies gallery.
RAREST_SHOWN = 32
#: A thumbnail's side in the gallery figures, in pixels.
GALLERY_CELL_PX = 124


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
    comparison : raregal.compare.Comparison
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
        raise InputError(f"{twice[0]}: given twice to --compare")
    for depth in range(1, max(map(len, parts), default=1) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return []  # no paths


def compare_with(data: SearchResult, others, *,
                 also_found_at: float = defaults.ALSO_FOUND_JACCARD) -> list[OtherRun]:
    """Read each other run folder and match the reported run's classes to its classes
    over the galaxies both searched (:func:`raregal.compare.compare_results`: best-match
    Jaccard, matched by id). A folder that is not a run, or shares no id, is an
    :class:`InputError`."""
    others = list(others)
    found = []
    for path, name in zip(others, run_names(others)):
        other = SearchResult.read(path)
        comparison = compare_results(data, other, also_found_at=also_found_at,
                                     names=(str(data.out), str(path)))
        order = lettered(other.summary)
        found.append(OtherRun(name=name, comparison=comparison,
                              letters=dict(zip(order["class"], order["letter"]))))
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
        columns[match_column] = [other.letters.get(m, "") if ok else ""
                                 for m, ok in zip(match, compared)]
        columns[jaccard_column] = np.where(compared, matches["jaccard"], np.nan)
    return pd.DataFrame(columns, index=order.index)


def also_found_cell(letter: str, jaccard: float, also_found_at: float) -> dict:
    """A cell of a run's "also found in" column: the matching class and the Jaccard
    index, or why none counts; sorted by the Jaccard index."""
    if not np.isfinite(jaccard):
        return {"text": "–", "sort": "", "title": "no member among the shared galaxies"}
    if letter and jaccard >= also_found_at:
        return {"text": f"{letter} ({jaccard:.2f})", "sort": float(jaccard),
                "title": f"class {letter} there, Jaccard {jaccard:.3f}"}
    best = f" (best: {letter}, {jaccard:.2f})" if letter else ""
    return {"text": f"none{best}", "sort": float(jaccard),
            "title": f"no class there with Jaccard >= {also_found_at:g}"}


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
                     size: int = defaults.THUMBNAIL_PX, whole: Path | None = None
                     ) -> dict[str, str]:
    """Save each id's image, cropped as the model saw it, under ``folder``
    (:func:`thumbnail_names`), and, given ``whole``, the whole image as read (any
    format raregal reads, as JPEG) under that folder with the same name. Returns
    id -> file name for the images that could be read.
    """
    from PIL import Image

    for made in (folder, whole):
        if made is not None:
            made.mkdir(exist_ok=True)
    names = thumbnail_names(galaxy for galaxy in ids if galaxy in paths)
    written = {}
    for galaxy, name in names.items():
        try:
            pixels = model_input(paths[galaxy], crop_fraction=crop, size=size)
            if whole is not None:
                load_rgb(paths[galaxy]).save(whole / name, "JPEG", quality=90)
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


#: Colours the class palette keeps away from: the page's white, the map's density
#: greys (:func:`plot_map`) and the explorer's grey for galaxies in no class.
RESERVED_COLOURS = ("#ffffff", "#e4e4e4", "#6a6a6a", "#cfcfcf", "#000000")


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in [0, 1], shape (..., 3): distances there are
    roughly what the eye sees."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                             [0.0193, 0.1192, 0.9505]]).T / [0.95047, 1.0, 1.08883]
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


@functools.lru_cache(maxsize=1)
def _palette() -> tuple[str, ...]:
    """Every colour of the class palette, in order (Glasbey et al. 2007's greedy
    construction): from a 16-level sRGB grid of mid lightness (L* 30-80, readable on
    white and on the density greys), each next colour is the one farthest in CIELAB
    from all chosen so far and from :data:`RESERVED_COLOURS`. Deterministic, and
    each prefix is itself the palette for fewer classes."""
    levels = np.linspace(0, 1, 16)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _lab(grid)
    keep = (lab[:, 0] >= 30) & (lab[:, 0] <= 80)
    grid, lab = grid[keep], lab[keep]
    reserved = _lab(np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
                              for c in RESERVED_COLOURS]))
    nearest = np.min(np.linalg.norm(lab[:, None] - reserved[None], axis=-1), axis=1)
    chosen = []
    for _ in range(len(grid)):
        best = int(np.argmax(nearest))  # first of equals: deterministic
        chosen.append(best)
        nearest = np.minimum(nearest, np.linalg.norm(lab - lab[best], axis=1))
        nearest[best] = -1.0
    return tuple("#" + "".join(f"{round(v * 255):02x}" for v in grid[i]) for i in chosen)


def class_colours(n: int) -> list[str]:
    """n class colours as '#rrggbb', one per class in letter order, distinct for up
    to a few thousand classes (then repeating): :func:`_palette`. The map picture,
    the report page and the explorer all take their colours from here."""
    palette = _palette()
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
    """A grid of thumbnails: one block per (letter, [(id, thumbnail)]), ids above.

    Drawn with Pillow, GALLERY_CELL_PX a thumbnail, in matplotlib's DejaVu Sans. In
    matplotlib an axes per thumbnail cost ~3 s a gallery (83 s of the demo's 91 s
    report, cProfile), and one figure image per gallery took the report's peak memory
    from 0.3 to 0.8 GB.
    """
    from PIL import Image, ImageDraw

    lines = [(letter, members[i:i + columns]) for letter, members in rows
             for i in range(0, max(len(members), 1), columns)]
    cell = GALLERY_CELL_PX
    pitch_x, pitch_y = cell + 6, cell + 18  # a margin between cells, a caption above
    canvas = Image.new("RGB", (pitch_x * (columns + 1), pitch_y * len(lines)), "white")
    draw = ImageDraw.Draw(canvas)
    previous = None
    for row, (letter, members) in enumerate(lines):
        top = row * pitch_y
        if letter != previous:
            draw.text((pitch_x / 2, top + pitch_y / 2), letter, fill="black",
                      font=_font(28, bold=True), anchor="mm")
        previous = letter
        for column, (galaxy, thumb) in enumerate(members, start=1):
            x, y = column * pitch_x + 3, top + pitch_y - cell
            with Image.open(thumb) as image:
                canvas.paste(image.convert("RGB").resize((cell, cell)), (x, y))
            draw.text((x + cell / 2, y - 3), galaxy, fill="black", font=_font(9), anchor="md")
    canvas.save(path)


@functools.cache
def _font(size: int, bold: bool = False):
    """matplotlib's own DejaVu Sans at ``size`` pixels, for Pillow."""
    from matplotlib import font_manager
    from PIL import ImageFont

    weight = "bold" if bold else "normal"
    return ImageFont.truetype(font_manager.findfont(font_manager.FontProperties(
        family="DejaVu Sans", weight=weight)), size)


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

def viewer_links(ra, dec) -> list[str | None]:
    """The Legacy Surveys viewer at each (ra, dec), in the layer of its sky region;
    None where a position is missing. Vectorised: one coordinate transform for all."""
    from .export import viewer_layer

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

    environment = jinja2.Environment(loader=jinja2.PackageLoader("raregal", "templates"),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True)
    return environment.get_template("report.html")


#: Files of a run folder the page links to, when present, and what each holds.
RUN_TABLES = {"classes.fits": "every searched galaxy (FITS, TOPCAT/astropy)",
              "class_members.vot": "the class members (VOTable)",
              "classes.parquet": "every searched galaxy (Parquet)",
              "classes.csv": "one row per class, with the vote fractions' class means",
              "neighbours.parquet": "each galaxy's nearest neighbours in the representation",
              "condensed_tree.parquet": "HDBSCAN's condensed tree",
              "run.json": "parameters, inputs, selection and timings"}


def _hidden(column: str) -> bool:
    """classes.csv columns left out of the class table: the vote fractions' means and
    differences (summarised as the differing vote fractions) and the tree node."""
    return column == "tree_node" or column.endswith(("_fraction", "_fraction_diff"))


#: Formats of the class table's known columns; other columns get a generic one
#: (:func:`_cell`), so that columns a newer search adds appear without changes here.
FORMATS = {"persistence": "{:.3f}", "significance": "{:.2f}", "stability": "{:.2f}",
           "density_contrast": "{:.2f}"}
#: Column titles other than the column's name with spaces for underscores.
TITLES = {"class": "class number"}


def class_table(order: pd.DataFrame, differences: dict, members: dict,
                others: list[OtherRun] = ()) -> pd.DataFrame:
    """The class table: letter, every per-class column of classes.csv but the vote
    fractions' means (:func:`_hidden`), each other run's match
    (:func:`also_found_columns`), the differing vote fractions, and the file of each
    class's full member list."""
    table = order[[c for c in order.columns if not _hidden(str(c))]].copy()
    table = table.join(also_found_columns(order, list(others)))
    table["differing_vote_fractions"] = [
        describe_differences(differences.get(int(c), [])) for c in order["class"]]
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
        found.append(f"Small sample: {n_searched:,} galaxies searched, fewer than "
                     f"{defaults.SMALL_SAMPLE:,} (a tenth of the paper's "
                     f"{defaults.PAPER_SAMPLE_SIZE:,}). The paper's parameters were chosen "
                     f"for that size; classes here are a demonstration, not rare populations.")
    share = in_classes / max(n_searched, 1)
    if share > defaults.CAVEAT_FRACTION_IN_CLASSES:
        found.append(f"{share:.0%} of the searched galaxies are in a class, against the "
                     f"paper's < {defaults.PAPER_FRACTION_IN_CLASSES:.0%}: these classes "
                     f"are common structure of this sample (small, or the set the model "
                     f"was trained on), not rare populations.")
    return found


def selection_steps(run: dict) -> list[dict]:
    """The search's cuts in order, with the galaxies each removed and those left."""
    selection = run.get("selection", {})
    left = selection.get("rows_read")
    steps = [{"name": "read", "rule": "", "removed": "", "nan": "", "left": left}]
    for step in selection.get("steps", []):
        removed = step.get("removed", "")
        if "left" in step:
            left = step["left"]
        elif isinstance(left, int) and isinstance(removed, int):  # runs before "left"
            left -= removed
        steps.append({"name": step.get("name", ""), "rule": step.get("rule", ""),
                      "removed": removed, "nan": step.get("nan", ""), "left": left})
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
    return [{"name": name, "href": Path(os.path.relpath(run_dir / name, report_dir)).as_posix(),
             "about": about} for name, about in RUN_TABLES.items() if (run_dir / name).is_file()]


def compared_runs(others: list[OtherRun], n_classes: int) -> list[dict]:
    """What the page says of each other run: shared galaxies, classes found in both."""
    said = []
    for other in others:
        record = other.comparison.record
        said.append({"name": other.name, "shared": record["shared_galaxies"],
                     "found": record["found_by_both"], "of": n_classes,
                     "classes": len(other.letters), "ari": f"{record['ari']:.3f}",
                     "at": f"{record['also_found_at']:g}"})
    return said


def render_page(data: SearchResult, table: pd.DataFrame, galleries: dict, links: dict,
                thumbs: dict, images_from: str | None, figures: dict, tables: list,
                others: list[OtherRun] = (), rarest: pd.DataFrame | None = None) -> str:
    """The report's index.html (``templates/report.html``)."""
    run, classes, id_column = data.run, data.classes, data.id_column
    n = len(classes)
    in_classes = int((classes["class"] >= 0).sum())
    params = run.get("parameters", {})
    also = [other.columns for other in others]
    shown = [c for c in table.columns
             if c not in ("letter", "differing_vote_fractions", "members_csv")
             and not any(c in pair for pair in also)]
    colours = dict(zip(table["letter"], class_colours(len(table))))
    rows = []
    for _, row in table.iterrows():
        letter = row["letter"]
        credible = row.get("credible")
        rows.append({"letter": letter, "colour": colours[letter],
                     "cells": [_cell(c, row[c]) for c in shown],
                     "also": [also_found_cell(row[m], row[j], other.comparison.record[
                         "also_found_at"]) for (m, j), other in zip(also, others)],
                     "credible": None if credible is None or pd.isna(credible)
                     else int(bool(credible)),
                     "size": int(row["size"]), "persistence": f"{row['persistence']:.3f}",
                     "differences": row["differing_vote_fractions"],
                     "unexplained": row["differing_vote_fractions"] == describe_differences([]),
                     "members_csv": row["members_csv"], "png": figures.get(f"gallery_{letter}"),
                     "members": [{"id": g, "thumb": thumbs.get(g), "link": links.get(g)}
                                 for g in galleries[letter][id_column]]})
    return _template().render(
        name="/".join(Path(data.out).resolve().parts[-2:]), searched=n,
        rows_read=run.get("selection", {}).get("rows_read", n), in_classes=in_classes,
        share=f"{in_classes / max(n, 1):.1%}", caveats=caveats(n, in_classes),
        steps=selection_steps(run), notes=run.get("selection", {}).get("notes", []),
        params={key: params.get(key) for key in ("n_neighbors", "n_components",
                                                 "min_samples_used", "min_cluster_size")},
        images_from=Path(images_from).name if images_from else None,
        has_positions={"ra", "dec"} <= set(classes.columns),
        figures={key: figures.get(key) for key in ("map", "galleries", "variance", "tree",
                                                   "rarest")},
        rarest=[] if rarest is None else [
            {"id": g, "thumb": thumbs.get(g), "link": links.get(g), "rarity": f"{r:.3g}"}
            for g, r in zip(rarest[id_column], rarest["rarity"])],
        rarity_definition=run.get("rarity", {}).get("definition"),
        effect=f"{defaults.LABEL_EFFECT_SIZE:g}",
        columns=[TITLES.get(c, c.replace("_", " ")) for c in shown],
        compared=compared_runs(others, len(table)),
        has_credible="credible" in table, credible_rule=run.get("credibility", {}).get("rule"),
        classes=rows, tables=tables, command=public_command(run.get("command", [])),
        version=str(run.get("raregal", "")))


def write_members(folder: Path, classes: pd.DataFrame, order: pd.DataFrame,
                  id_column: str) -> dict[str, str]:
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

def report(run_dir, *, images=None, out=None, per_class: int = defaults.GALLERY_SIZE,
           allow_outside_paths: bool = False, compare=(),
           also_found_at: float = defaults.ALSO_FOUND_JACCARD, verbose: bool = True) -> Path:
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
    compare : sequence of path-like
        Other run folders (two seeds, another model, the pixel baseline): the class
        table gets, per run, the class there that best matches each class over the
        galaxies both searched, and its Jaccard index (:func:`compare_with`). They
        are only read.
    also_found_at : float
        Jaccard index from which a class counts as also found in another run, in
        (0, 1], as in ``raregal compare``.
    """
    validate({"also_found_at": also_found_at}, COMPARE_CONSTRAINTS, "report")
    if per_class < 1:
        raise InputError(f"--per-class must be at least 1, not {per_class}")
    data = SearchResult.read(run_dir)
    others = compare_with(data, compare, also_found_at=also_found_at)
    manifest = embed_manifest(data.run)
    source = images if images is not None else (manifest or {}).get("source")
    target = prepare(out if out is not None else data.out / "report", kind="report",
                     inputs=[run_dir, source, *compare], overwrite=True)
    with target:
        return _write_report(target, data, images, manifest, per_class=per_class,
                             allow_outside=allow_outside_paths, others=others,
                             say=stderr_printer(verbose))


def _write_report(target, data: SearchResult, images, manifest, *, per_class: int,
                  allow_outside: bool, others: list[OtherRun], say) -> Path:
    classes, id_column = data.classes, data.id_column
    order = lettered(data.summary)
    differences = label_differences(classes)
    galleries = {row["letter"]: gallery_members(classes, row["class"], id_column, per_class)
                 for _, row in order.iterrows()}
    rarest = rarest_members(classes, id_column, RAREST_SHOWN)
    paths, crop, images_from = image_paths(images, manifest, allow_outside)
    shown = pd.concat([*galleries.values(), rarest])[id_column].drop_duplicates()
    missing = int((~shown.isin(paths.keys())).sum()) if images_from else 0
    if images_from and len(shown) and missing == len(shown):
        raise InputError(f"{images_from}: none of the {len(shown)} gallery galaxies has an "
                         f"image there (ids are matched on {id_column})")

    with atomic_dir(target) as tmp:
        thumbs = write_thumbnails(shown, paths, tmp / "thumbs", crop,
                                  whole=tmp / "images") if images_from else {}
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
        rare = [(g, tmp / "thumbs" / thumbs[g]) for g in rarest[id_column] if g in thumbs]
        if rare:
            plot_gallery([("", rare)], tmp / "rarest.png")
            figures["rarest"] = "rarest.png"
        if len(rarest):
            rarest[[id_column, "rarity", "rank", "class"]].to_csv(tmp / "rarest.csv",
                                                                 index=False)
        if data.run.get("redundancy", {}).get("cumulative_explained"):
            plot_variance(data.run["redundancy"], tmp / "variance.png")
            figures["variance"] = "variance.png"
        if len(data.tree):
            plot_tree(data.tree, order, tmp / "tree.png")
            figures["tree"] = "tree.png"
        members = write_members(tmp / "members", classes, order, id_column)
        table = class_table(order, differences, members, others)
        table.to_csv(tmp / "class_table.csv", index=False)
        shown_rows = pd.concat([*galleries.values(), rarest])
        links = dict(zip(shown_rows[id_column], viewer_links(shown_rows["ra"], shown_rows["dec"])
                         )) if {"ra", "dec"} <= set(classes.columns) else {}
        (tmp / "index.html").write_text(render_page(
            data, table, galleries, links, thumbs, images_from, figures,
            run_tables(Path(data.out), target.path), others, rarest))
    say(f"wrote {target.path}/: {len(order)} classes, {len(thumbs)} thumbnails; open "
        f"{(target.path / 'index.html').resolve()}")
    return target.path / "index.html"
