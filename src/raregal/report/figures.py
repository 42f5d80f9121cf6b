"""The report's figures: the 2-D map, the galleries (Pillow), the PCA variance
curve, the condensed tree, and the class colours (distinct in CIELAB, shared with
the explorer)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

OVERVIEW_COLUMNS = 8


#: A thumbnail's side in the gallery figures, in pixels.
GALLERY_CELL_PX = 124


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
    xyz = (
        linear
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
        / [0.95047, 1.0, 1.08883]
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


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
    reserved = _lab(
        np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in RESERVED_COLOURS])
    )
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
    ax.hexbin(
        classes["map_x"],
        classes["map_y"],
        gridsize=gridsize,
        cmap=pale,
        norm=LogNorm(),
        mincnt=1,
        linewidths=0,
    )
    outline = [patheffects.withStroke(linewidth=3, foreground="white")]
    for (_, row), colour in zip(order.iterrows(), class_colours(len(order))):
        members = classes[classes["class"] == row["class"]]
        ax.scatter(members["map_x"], members["map_y"], s=5, color=colour, linewidths=0)
        ax.text(
            members["map_x"].median(),
            members["map_y"].median(),
            row["letter"],
            fontsize=11,
            fontweight="bold",
            color=colour,
            ha="center",
            va="center",
            path_effects=outline,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(
        f"{len(classes)} galaxies searched (grey: density); {len(order)} classes in colour"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gallery(
    rows: list[tuple[str, list[tuple[str, Path]]]], path: Path, columns: int = OVERVIEW_COLUMNS
) -> None:
    """A grid of thumbnails: one block per (letter, [(id, thumbnail)]), ids above.

    Drawn with Pillow, GALLERY_CELL_PX a thumbnail, in matplotlib's DejaVu Sans. In
    matplotlib an axes per thumbnail cost ~3 s a gallery (83 s of the demo's 91 s
    report, cProfile), and one figure image per gallery took the report's peak memory
    from 0.3 to 0.8 GB.
    """
    from PIL import Image, ImageDraw

    lines = [
        (letter, members[i : i + columns])
        for letter, members in rows
        for i in range(0, max(len(members), 1), columns)
    ]
    cell = GALLERY_CELL_PX
    pitch_x, pitch_y = cell + 6, cell + 18  # a margin between cells, a caption above
    canvas = Image.new("RGB", (pitch_x * (columns + 1), pitch_y * len(lines)), "white")
    draw = ImageDraw.Draw(canvas)
    previous = None
    for row, (letter, members) in enumerate(lines):
        top = row * pitch_y
        if letter != previous:
            draw.text(
                (pitch_x / 2, top + pitch_y / 2),
                letter,
                fill="black",
                font=_font(28, bold=True),
                anchor="mm",
            )
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
    return ImageFont.truetype(
        font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans", weight=weight)),
        size,
    )


def plot_variance(redundancy: dict, path: Path) -> None:
    """Cumulative variance explained against the number of principal components."""
    plt = _pyplot()
    explained = np.asarray(redundancy["cumulative_explained"])
    k = np.arange(1, len(explained) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(k, explained, color="black")
    for level, needed in redundancy.get("components_for", {}).items():
        ax.axhline(float(level), color="grey", lw=0.6, ls="--")
        ax.annotate(
            f"{float(level):.0%}: {needed}",
            (needed, float(level)),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=8,
        )
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
    return pd.DataFrame(
        {
            "node": nodes,
            "x": [x[n] for n in nodes],
            "parent": [parent_of.get(n, -1) for n in nodes],
            "birth": [birth.get(n, 0.0) for n in nodes],
            "death": [death.get(n, birth.get(n, 0.0)) for n in nodes],
            "size": [size[n] for n in nodes],
        }
    )


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
        ax.plot(
            [row["x"], row["x"]],
            [row["birth"], row["death"]],
            color=colour,
            lw=0.6 + 4 * np.sqrt(row["size"] / total),
            solid_capstyle="butt",
        )
        if row["parent"] >= 0:
            parent_x = layout.loc[int(row["parent"]), "x"]
            ax.plot([parent_x, row["x"]], [row["birth"], row["birth"]], color="0.35", lw=0.6)
        if node in letter_of:
            ax.text(
                row["x"],
                row["death"],
                letter_of[node],
                ha="center",
                va="top",
                fontsize=7,
                color=colour,
                fontweight="bold",
            )
    ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_ylabel("lambda = 1 / distance")
    ax.set_title("HDBSCAN condensed tree (classes are its lettered leaves)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
