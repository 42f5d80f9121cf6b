"""The ``raregal`` command line: a thin layer over the Python API."""

from __future__ import annotations

import argparse
import sys
from textwrap import fill  # long descriptions, kept readable under RawDescription

from . import __version__, defaults
from .backends import BACKENDS
from .catalogue import FEATURE_PATTERNS, ID_COLUMNS
from .errors import InputError
from .params import ParameterError
from .select import NAN_POLICIES, Cut

SEARCH_HELP = f"""\
Find rare galaxy classes in a table of representations, as Walmsley & Scaife
(2023): drop featureless, edge-on and artifact galaxies by their predicted vote
fractions, embed with UMAP (n_neighbors={defaults.UMAP_N_NEIGHBORS}, {defaults.UMAP_N_COMPONENTS}-D) and take the leaves of
HDBSCAN's condensed tree (min_samples={defaults.HDBSCAN_MIN_SAMPLES}, min_cluster_size={defaults.HDBSCAN_MIN_CLUSTER_SIZE}) as classes.
A separate 2-D UMAP is made for the map.

Inputs: Parquet, CSV, FITS tables, Zoobot HDF5 (predictions, id_str,
label_cols), or .npy with --ids. Each table's id column is the unique one of
{', '.join(ID_COLUMNS)} (GZ DESI's objid numbers objects within a brick, so its
table resolves to dr8_id); ids are text (000003 stays 000003). Features are
{', '.join(FEATURE_PATTERNS)}. Only the columns the cuts need are read for
every galaxy; the features only for the galaxies kept.

Writes DIR/classes.parquet, classes.csv, condensed_tree.parquet and run.json.
"""

SEARCH_EPILOG = """\
NaN rule: the GZ DESI catalogue masks a fraction (NaN) where too few volunteers
were asked the question (edge-on wherever featured-or-disk < 0.5). With
--nan-rule keep (default) a NaN never triggers a cut; with drop it removes the galaxy.

Small samples: min_samples=300 suits the paper's 632k galaxies. --min-samples scaled
uses 300*sqrt(N/632k) (27 at 5k, 84 at 50k; floored at min_cluster_size), the
classic sqrt(N) rule for nearest-neighbour density estimates.

Speed: above 10,000 galaxies the layout starts from the principal components
and runs half of umap-learn's epochs; the 2-D map is laid out on the 5-D
embedding's own graph.
At the paper's 632k the search takes 0.44 of the paper's stack's time on 2 cores
and finds the same planted groups (bench/search.py).
--init spectral --n-epochs 200 gives umap-learn's own layout, as in the paper.

--seed makes a rerun identical, whatever the load; UMAP's layout and HDBSCAN's
tree then run on one thread, so a seeded search is slower on several cores.

example:
  raregal search representations.parquet --predictions gz_desi.parquet --out run/
"""


#: Python parameter names the command line spells otherwise, per command where the
#: same name means different flags; any other parameter ``a_b`` is the flag ``--a-b``.
FLAG_NAMES = {"input_size": "--size", "pca_components": "--pca", "id_column": "--id-col",
              "path_column": "--path-col", "dask_address": "--dask",
              "dask_workers": "--dask-local", "n_groups": "--groups",
              ("synthetic", "n"): "--rows", ("inject", "n"): "--synthetic"}


def flag_name(command: str, parameter: str) -> str:
    """The command-line flag of a Python parameter, for error messages."""
    return FLAG_NAMES.get((command, parameter),
                          FLAG_NAMES.get(parameter, "--" + parameter.replace("_", "-")))


def _threshold(text: str) -> float | None:
    if text.lower() in {"off", "none"}:
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', not '{text}'")


def _integer_or(word: str):
    """An argparse type: an integer, or ``word`` itself."""
    def parse(text: str):
        if text == word:
            return text
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer or '{word}', not '{text}'")
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raregal", description="Find rare galaxy classes in foundation-model "
                                    "representations (Walmsley & Scaife 2023).")
    parser.add_argument("--version", action="version", version=f"raregal {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = commands.add_parser("search", help="find classes in a representation table",
                                 description=SEARCH_HELP, epilog=SEARCH_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("representations", metavar="REPRESENTATIONS",
                        help="representation table or array")
    search.add_argument("--out", required=True, metavar="DIR", help="run folder to write")
    search.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    search.add_argument("--quiet", action="store_true", help="no progress on stderr")

    inputs = search.add_argument_group("input columns")
    inputs.add_argument("--predictions", metavar="TABLE", nargs="+",
                        help="vote fractions ({question}_{answer}_fraction) or Zoobot's "
                             "predictions (HDF5 chunks or CSV of concentrations: files or a "
                             "quoted glob), joined on id")
    inputs.add_argument("--catalogue", metavar="TABLE", action="append", default=[],
                        help="extra table joined on id whose columns --where may name "
                             "(e.g. GZ DESI's external catalogue: mag_r_desi, "
                             "est_petro_th50); repeatable")
    inputs.add_argument("--id-col", metavar="NAME",
                        help="id column of REPRESENTATIONS (default: found, see below)")
    inputs.add_argument("--predictions-id-col", metavar="NAME",
                        help="id column of the predictions (default: found)")
    inputs.add_argument("--catalogue-id-col", metavar="NAME",
                        help="id column of the --catalogue tables (default: found)")
    inputs.add_argument("--features", metavar="GLOB", help="feature columns, e.g. 'emb_*'")
    inputs.add_argument("--ids", metavar="FILE", help="ids of a .npy array: one per line, "
                                                       "or a table with an id column")

    cuts = search.add_argument_group("selection (drop a galaxy when its fraction >= the cut)")
    cuts.add_argument("--featureless-cut", type=_threshold, default=defaults.SMOOTH_THRESHOLD,
                      metavar="X", help=f"on {defaults.SMOOTH_COLUMN} (default %(default)s; "
                                        "'off' to skip)")
    cuts.add_argument("--edge-on-cut", type=_threshold, default=defaults.EDGE_ON_THRESHOLD,
                      metavar="X", help=f"on {defaults.EDGE_ON_COLUMN} (default %(default)s)")
    cuts.add_argument("--artifact-cut", type=_threshold, default=defaults.ARTIFACT_THRESHOLD,
                      metavar="X", help=f"on {defaults.ARTIFACT_COLUMN} (default %(default)s)")
    cuts.add_argument("--keep-artifacts", action="store_true",
                      help="the paper's artifact experiment: same as --artifact-cut off")
    cuts.add_argument("--nan-rule", choices=NAN_POLICIES, default=defaults.NAN_POLICY,
                      help="what a NaN fraction does (default %(default)s; see below)")
    cuts.add_argument("--where", action="append", default=[], metavar="EXPR",
                      help="keep rows where EXPR holds (pandas syntax, e.g. 'mag_r_desi < 19' "
                           "with --catalogue; backquote odd names: '`Class1.1` < 0.5'); "
                           "repeatable")

    method = _add_method_options(search)
    method.add_argument("--seed", type=int, help="make a rerun identical (see below)")

    embed = commands.add_parser(
        "embed", help="turn galaxy images into representations and vote fractions",
        description="Run a galaxy encoder over a folder of images (JPEG, PNG, FITS) or a "
                    "catalogue with id and path columns (Zoobot's id_str/file_loc), as "
                    "Zoobot preprocesses them: central crop, resize, values in [0, 1], no "
                    "ImageNet normalisation. grz FITS cutouts are coloured with the Legacy "
                    "Surveys mapping, single-band ones as greyscale. Writes "
                    "DIR/representations.parquet (id, feat_*, and {question}_{answer}_fraction "
                    "for a model with a Dirichlet head), failures.csv and manifest.json.",
        epilog="Models: by default raregal's bundled model (offline); a timm name;\n"
               "hf_hub:mwalmsley/zoobot-encoder-ARCH or its shorthand zoobot:ARCH (read\n"
               "from the Hugging Face cache when offline); a folder with config.json and\n"
               "weights; or a weights file with --arch.\n\n"
               "Interrupted runs keep their finished shards: rerun with --resume.\n\n"
               "HPC: start a Dask cluster (dask-jobqueue's SLURMCluster, say) and pass its\n"
               "scheduler address with --dask; every worker loads the model once and\n"
               "writes its shards to DIR, which must be on a shared file system.\n\n"
               "examples:\n  raregal embed images/ --out embedded/\n"
               "  raregal embed images/ --model zoobot:convnext_nano --out embedded/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    embed.add_argument("source", metavar="SOURCE", help="image folder or catalogue table")
    embed.add_argument("--model", metavar="NAME",
                       help="timm or Hub name, zoobot:ARCH, folder or weights file "
                            "(default: raregal's bundled model, offline)")
    embed.add_argument("--arch", metavar="NAME", help="timm architecture of a weights file")
    embed.add_argument("--out", required=True, metavar="DIR", help="output folder")
    embed.add_argument("--id-col", metavar="NAME", help="catalogue id column")
    embed.add_argument("--path-col", metavar="NAME", help="catalogue image path column "
                                                          "(default: file_loc, path, …)")
    embed.add_argument("--crop-fraction", type=float, metavar="F",
                       help="central fraction of each side kept (default: the model's, "
                            f"Zoobot's {defaults.CROP_FRACTION:.3f})")
    embed.add_argument("--size", type=int, metavar="PX", help="model input size "
                                                              "(default: the model's)")
    embed.add_argument("--passes", type=int, default=defaults.PREDICTION_PASSES,
                       help="stochastic head passes averaged (default %(default)s)")
    embed.add_argument("--batch-size", type=int, default=64, help="default %(default)s")
    embed.add_argument("--shard-size", type=int, default=2048,
                       help="images per resumable shard (default %(default)s)")
    embed.add_argument("--workers", type=int, metavar="N",
                       help="decoding processes (default: one per spare core)")
    embed.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    embed.add_argument("--seed", type=int, default=0, help="seeds the head's dropout")
    embed.add_argument("--resume", action="store_true", help="finish an interrupted run")
    embed.add_argument("--overwrite", action="store_true", help="replace DIR")
    scale = embed.add_mutually_exclusive_group()
    scale.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler to spread shards over")
    scale.add_argument("--dask-local", type=int, metavar="N",
                       help="start a local Dask cluster of N workers")
    embed.add_argument("--quiet", action="store_true", help="no progress on stderr")

    train = commands.add_parser(
        "train", help="train an encoder with a bottleneck and a Dirichlet head on votes",
        description="Train a timm encoder whose representation has --bottleneck dims, with "
                    "a Dirichlet head, on Galaxy Zoo votes: count columns {question}_{answer}, "
                    "fractions {question}_{answer}_fraction, or the Galaxy Challenge's "
                    "cumulative ClassQ.A, the last two times --pseudo-count volunteers. "
                    "Writes DIR/model/ (which raregal embed --model loads), metrics.csv, "
                    "split.csv, checkpoint.pt (every epoch) and training.json.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("labels", metavar="LABELS", help="table of ids, image paths and votes")
    train.add_argument("--out", required=True, metavar="DIR")
    train.add_argument("--images", metavar="FOLDER",
                       help="where {id}.jpg lie, for tables without a path column")
    train.add_argument("--schema", default="gz2", help="gz2 or gz_desi (default %(default)s)")
    train.add_argument("--questions", metavar="Q,Q", help="train on these questions only")
    train.add_argument("--arch", default="efficientnet_b0",
                       help="timm architecture, or raregal_cnn / raregal_resnet (small, for CPUs)")
    train.add_argument("--bottleneck", type=lambda t: None if t == "none" else int(t),
                       default=defaults.BOTTLENECK, metavar="D|none",
                       help="representation dims "
                       "(default %(default)s; none: the architecture's own)")
    train.add_argument("--size", type=int, default=defaults.INPUT_SIZE, metavar="PX")
    train.add_argument("--crop-fraction", type=float, default=defaults.CROP_FRACTION,
                       metavar="F")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--pseudo-count", type=float, default=defaults.PSEUDO_COUNT,
                       help="volunteers per galaxy for fraction labels (default %(default)s)")
    train.add_argument("--val-fraction", type=float, default=0.2)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--id-col", metavar="NAME")
    train.add_argument("--path-col", metavar="NAME")
    train.add_argument("--resume", action="store_true", help="continue from checkpoint.pt")
    train.add_argument("--quiet", action="store_true")

    report = commands.add_parser(
        "report", help="galleries, map and an HTML page of a search run",
        description=fill("Draw what a search found: a gallery per class (classes lettered A, "
                         "B, C … by persistence, most distinct first; the most confident "
                         "members with their ids), the 2-D map with the classes lettered, a "
                         "class table with the predicted vote fractions in which each class "
                         "differs from the searched sample, the PCA variance curve and the "
                         "condensed tree. Writes PNG figures, class_table.csv and one "
                         "index.html that works offline to RUN_DIR/report/ (an earlier report "
                         "there is replaced: it is derived from the run)."),
        epilog=fill("Images: --images names a folder or a catalogue with id and path "
                    "columns; without it, the images the run's representations were "
                    "embedded from (raregal embed's manifest). Galaxies with RA/Dec in the "
                    "run link to the Legacy Surveys viewer.")
               + "\n\nexample:\n  raregal report run/ --images cutouts.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("run", metavar="RUN_DIR", help="folder written by raregal search")
    report.add_argument("--images", metavar="CATALOGUE",
                        help="image folder or catalogue table (id and path columns)")
    report.add_argument("--out", metavar="DIR", help="default RUN_DIR/report")
    report.add_argument("--allow-outside-paths", action="store_true",
                        help="let the catalogue name images outside its own folder (../, "
                             "absolute paths); off because thumbs/ is made to be shared")
    report.add_argument("--per-class", type=int, default=defaults.GALLERY_SIZE, metavar="N",
                        help="galaxies shown per class (default %(default)s)")
    report.add_argument("--quiet", action="store_true")

    add_explore(commands)

    demo = commands.add_parser(
        "demo", help="the whole search on 5,000 bundled SDSS galaxies, offline",
        description="Embed the bundled sample of 5,000 real SDSS galaxy thumbnails (Galaxy "
                    "Zoo 2 / Galaxy Challenge; credits in raregal/data/demo-sdss/README.md) "
                    "with the bundled default model, search them with the paper's cuts and "
                    "min_samples scaled to the sample, and write the report. Needs the embed "
                    "extra (torch); no download. About two minutes on 2 CPU cores.")
    demo.add_argument("--out", default="raregal-demo", metavar="DIR",
                      help="output folder (default %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="start again in DIR")
    demo.add_argument("--quiet", action="store_true")

    synthetic = commands.add_parser(
        "synthetic", help="write a synthetic representation table with planted groups",
        description="Write a table shaped like Zoobot representations (id_str, feat_*) "
                    "with GZ DESI vote fractions and small dense groups planted in the "
                    "bulk; the 'planted' column (-1 for the bulk) is the truth.")
    synthetic.add_argument("out", metavar="TABLE", help="Parquet or CSV file to write")
    synthetic.add_argument("--rows", type=int, default=10_000, help="default %(default)s")
    synthetic.add_argument("--dim", type=int, default=128, help="default %(default)s")
    synthetic.add_argument("--groups", type=int, default=10, help="default %(default)s")
    synthetic.add_argument("--group-size", type=int, nargs=2, default=(40, 120),
                           metavar=("MIN", "MAX"), help="default 40 120")
    synthetic.add_argument("--seed", type=int, default=0, help="default %(default)s")

    # --- measuring discovery: inject (evaluate and baseline follow) -------------------

    inject = commands.add_parser(
        "inject", help="injection-recovery: the sizes and tightness of class the search finds",
        description=fill("Plant groups of chosen size and tightness at random places inside the "
                         "bulk of a representation table (or of a synthetic bulk), run the search "
                         "with the same settings, and report each group's completeness and purity "
                         "and the spurious classes. Tightness t: a group is drawn around a random "
                         "bulk galaxy with t times the RMS radius of its "
                         f"{defaults.INJECT_DENSITY_K} nearest bulk neighbours, following their "
                         "local shape (t=1: m members fill their ball, raising the density there "
                         f"by m/{defaults.INJECT_DENSITY_K}). Planted rows replace random bulk "
                         "rows; no cuts are applied. Writes DIR/injection.csv, sensitivity.csv, "
                         "injection.png and injection.json. Same --seed, same tables."),
        epilog="Several --min-samples values cluster the same UMAP embedding (UMAP does not\n"
               "depend on them), so the settings are compared at the cost of one UMAP.\n\n"
               "examples:\n"
               "  raregal inject representations.parquet --out injection/\n"
               "  raregal inject --synthetic 632000 --min-samples 300 30 --out inj632k/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = inject.add_mutually_exclusive_group(required=True)
    source.add_argument("representations", nargs="?", metavar="REPRESENTATIONS",
                        help="representation table (id, feat_*)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="plant into a smooth synthetic bulk of N galaxies instead")
    inject.add_argument("--dim", type=int, default=128,
                        help="features of the synthetic bulk (default %(default)s)")
    inject.add_argument("--out", required=True, metavar="DIR", help="output folder")
    inject.add_argument("--sizes", type=int, nargs="+", default=list(defaults.INJECT_SIZES),
                        metavar="N", help="planted group sizes (default %(default)s)")
    inject.add_argument("--tightness", type=float, nargs="+",
                        default=list(defaults.INJECT_TIGHTNESS), metavar="T",
                        help="group spread relative to the local bulk (default %(default)s)")
    inject.add_argument("--repeats", type=int, default=1,
                        help="groups per size and tightness (default %(default)s)")
    inject.add_argument("--seed", type=int, default=0, help="default %(default)s")
    inject.add_argument("--id-col", metavar="NAME", help="id column of the table")
    inject.add_argument("--features", metavar="GLOB", help="feature columns, e.g. 'emb_*'")
    inject.add_argument("--overwrite", action="store_true", help="replace DIR")
    inject.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_method_options(inject, many_min_samples=True)

    from .evaluate import PRESETS
    evaluate = commands.add_parser(
        "evaluate", help="label enrichment of a run's classes, against its permutation null",
        description=fill("Score search runs against known rare types from a label table joined "
                         "on id. Per type: base rate; the best class by purity among classes of "
                         ">= --min-class-size, its completeness and enrichment over the base rate; "
                         "that statistic under --permutations label shuffles over the same classes "
                         "(median, 95th, 99th percentile) and its p-value; and how many of the "
                         "type's galaxies sit in classes where it is significantly enriched "
                         "(hypergeometric upper tail, Benjamini-Hochberg over all class x type "
                         "tests at --fdr). Also: classes dominated (>50%) by one type, and the "
                         "share of galaxies in any class. Several runs (say, the model and the "
                         "pixel baseline) are shown side by side. Writes DIR/evaluation.csv, "
                         "class_enrichment.csv, summary.txt and evaluation.json."),
        epilog="Types: --type NAME=EXPR (a pandas expression; backquote odd names:\n"
               "'ring=`Class8.1` > 0.5 * `Class6.1`') or --type COLUMN>X (also >=, <, <=, ==).\n"
               "Presets:\n" + "\n".join(f"  {name}: {', '.join(types)}"
                                       for name, types in PRESETS.items())
               + "\n\nWhy the null: with many small classes the best class is enriched several-\n"
               "fold by chance alone; an enrichment is a discovery only when p is small.\n\n"
               "example:\n  raregal evaluate run_model/ run_pixels/ --labels labels.csv "
               "--preset gz2-odd --out eval/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("runs", nargs="+", metavar="RUN_DIR",
                          help="search run folders (model first, then baselines)")
    evaluate.add_argument("--labels", required=True, metavar="TABLE",
                          help="label table with an id column matching the runs'")
    evaluate.add_argument("--type", action="append", default=[], dest="types",
                          metavar="NAME=EXPR|COLUMN>X", help="a rare type; repeatable")
    evaluate.add_argument("--preset", action="append", default=[], metavar="NAME",
                          help="a named set of types (see below); repeatable")
    evaluate.add_argument("--names", nargs="+", metavar="NAME",
                          help="run names in the tables (default: folder names)")
    evaluate.add_argument("--id-col", metavar="NAME", help="id column of the label table")
    evaluate.add_argument("--min-class-size", type=int, default=defaults.EVAL_MIN_CLASS_SIZE,
                          metavar="N", help="smallest class eligible as best (default "
                                            "%(default)s)")
    evaluate.add_argument("--permutations", type=int, default=defaults.EVAL_PERMUTATIONS,
                          metavar="N", help="label shuffles for the null (default %(default)s)")
    evaluate.add_argument("--fdr", type=float, default=defaults.EVAL_FDR,
                          help="Benjamini-Hochberg false-discovery rate (default %(default)s)")
    evaluate.add_argument("--seed", type=int, default=0, help="seeds the shuffles")
    evaluate.add_argument("--out", metavar="DIR", help="folder for the tables (default: "
                                                       "print the summary only)")
    evaluate.add_argument("--overwrite", action="store_true", help="replace DIR")

    baseline = commands.add_parser(
        "baseline", help="pixel-PCA representations of images, the control for a model",
        description=fill("PCA of the raw pixels of the same images, to search with the same "
                         "settings as a model's representations: each image is cropped as the "
                         "encoder sees it (default: the bundled model's crop), shrunk to --size "
                         "pixels a side, flattened, and projected on its first --components "
                         "principal components. Writes DIR/representations.parquet (id, feat_*), "
                         "failures.csv and baseline.json."),
        epilog="For the morphology cuts, search it with the model's predictions:\n"
               "  raregal baseline images/ --out pixels/\n"
               "  raregal search pixels/representations.parquet "
               "--predictions embedded/representations.parquet --out run_pixels/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    baseline.add_argument("source", metavar="SOURCE", help="image folder or catalogue table")
    baseline.add_argument("--out", required=True, metavar="DIR", help="output folder")
    baseline.add_argument("--size", type=int, default=defaults.BASELINE_SIZE, metavar="PX",
                          help="pixels per side after the crop (default %(default)s)")
    baseline.add_argument("--components", type=int, default=defaults.BASELINE_COMPONENTS,
                          metavar="K", help="principal components kept (default %(default)s)")
    baseline.add_argument("--crop-fraction", type=float, metavar="F",
                          help="central fraction of each side kept (default: the bundled "
                               "model's)")
    baseline.add_argument("--id-col", metavar="NAME", help="catalogue id column")
    baseline.add_argument("--path-col", metavar="NAME", help="catalogue image path column")
    baseline.add_argument("--seed", type=int, default=0, help="seeds the randomized PCA")
    baseline.add_argument("--overwrite", action="store_true", help="replace DIR")
    baseline.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _add_method_options(parser, many_min_samples=False):
    """The search's method options, for the commands that rerun the search."""
    method = parser.add_argument_group(
        "method (defaults: the paper's, but for the UMAP start and epochs)")
    method.add_argument("--pca", type=int, metavar="N",
                        help="project onto N principal components before UMAP")
    method.add_argument("--n-neighbors", type=int, default=defaults.UMAP_N_NEIGHBORS,
                        metavar="K", help="UMAP neighbours (default %(default)s)")
    method.add_argument("--n-components", type=int, default=defaults.UMAP_N_COMPONENTS,
                        metavar="D", help="UMAP dimensions clustered (default %(default)s)")
    method.add_argument("--min-dist", type=float, default=defaults.UMAP_MIN_DIST,
                        metavar="X", help="UMAP min_dist (default %(default)s)")
    method.add_argument("--init", choices=defaults.UMAP_INITS, default=defaults.UMAP_INIT,
                        help="where the UMAP layout starts: principal components, or "
                             "umap-learn's spectral embedding as in the paper (default "
                             "%(default)s: spectral up to 10,000 galaxies, pca above)")
    method.add_argument("--n-epochs", type=_integer_or("auto"), default="auto", metavar="N|auto",
                        help="UMAP layout epochs (default auto: 500 up to 10,000 galaxies, as "
                             "umap-learn, 100 above)")
    method.add_argument("--min-samples", type=_integer_or("scaled"), nargs="+" if many_min_samples
                        else None, default=[defaults.HDBSCAN_MIN_SAMPLES] if many_min_samples
                        else defaults.HDBSCAN_MIN_SAMPLES, metavar="N|scaled",
                        help="HDBSCAN min_samples (default %(default)s)"
                             + ("; several: compared on one embedding" if many_min_samples
                                else ""))
    method.add_argument("--min-cluster-size", type=int,
                        default=defaults.HDBSCAN_MIN_CLUSTER_SIZE, metavar="N",
                        help="HDBSCAN min_cluster_size (default %(default)s)")
    method.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto: cuML on a GPU when installed, else CPU (default)")
    return method


def run_search(args) -> int:
    from .search import search
    from .select import paper_cuts

    artifact = None if args.keep_artifacts else args.artifact_cut
    cuts: list[Cut] = paper_cuts(smooth=args.featureless_cut, edge_on=args.edge_on_cut,
                                 artifact=artifact)
    finder = _finder(args, min_samples=args.min_samples, seed=args.seed)
    search(args.representations, args.out, predictions=args.predictions,
           id_column=args.id_col, features=args.features, ids=args.ids, cuts=cuts,
           nan_policy=args.nan_rule, where=args.where, finder=finder,
           catalogues=args.catalogue, predictions_id_column=args.predictions_id_col,
           catalogue_id_column=args.catalogue_id_col,
           overwrite=args.overwrite, verbose=not args.quiet, command=["raregal", *args.argv])
    return 0


def _require_embed_extra(command: str) -> None:
    """Say which extra to install when the torch stages' libraries are missing.

    Looked up, not imported: torch takes seconds to import, and a bad parameter
    is answered before that (:mod:`raregal.params`)."""
    from importlib.util import find_spec

    missing = next((name for name in ("torch", "timm", "safetensors")
                    if find_spec(name) is None), None)
    if missing is not None:
        raise InputError(f"raregal {command} needs torch and timm ({missing} is missing): "
                         f"install the embed extra, pip install '.[embed]' in a raregal "
                         f"checkout")


def run_embed(args) -> int:
    _require_embed_extra("embed")
    from .embed import embed

    embed(args.source, args.out, model=args.model, arch=args.arch, id_column=args.id_col,
          path_column=args.path_col, crop_fraction=args.crop_fraction, input_size=args.size,
          passes=args.passes, batch_size=args.batch_size, shard_size=args.shard_size,
          workers=args.workers, device=args.device, seed=args.seed, resume=args.resume,
          overwrite=args.overwrite, dask_address=args.dask, dask_workers=args.dask_local,
          verbose=not args.quiet)
    return 0


def run_train(args) -> int:
    _require_embed_extra("train")
    from .train import train

    questions = args.questions.split(",") if args.questions else None
    train(args.labels, args.out, schema=args.schema, questions=questions, arch=args.arch,
          bottleneck=args.bottleneck, input_size=args.size, crop_fraction=args.crop_fraction,
          epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
          pseudo_count=args.pseudo_count, val_fraction=args.val_fraction, seed=args.seed,
          id_column=args.id_col, path_column=args.path_col, images=args.images,
          resume=args.resume, verbose=not args.quiet)
    return 0


def run_report(args) -> int:
    from .report import report

    report(args.run, images=args.images, out=args.out, per_class=args.per_class,
           allow_outside_paths=args.allow_outside_paths, verbose=not args.quiet)
    return 0


def add_explore(commands) -> None:
    from .explore import DEFAULT_PORT

    explore = commands.add_parser(
        "explore", help="look through a search run in the browser (a local web app)",
        description=fill("Serve a local web app over a search run: the map of every searched "
                         "galaxy (pan, zoom, colour by class or any column, lasso), each "
                         "galaxy's card with its image, vote fractions, a Legacy Surveys link "
                         "and its nearest neighbours (more like this), the sortable class table "
                         "with every class's members, selections (lasso, class or pandas query) "
                         "exported as CSV, FITS or VOTable, and tags and notes on classes and "
                         "galaxies kept in RUN_DIR/explore-tags.sqlite. Prints the URL to open; "
                         "Ctrl-C stops. Everything it needs ships with raregal (works offline)."),
        epilog=fill("Images: as for raregal report (--images, else the images the run was "
                    "embedded from). Safety: binds to 127.0.0.1 (this machine only); --host "
                    "0.0.0.0 serves the run, and lets anyone who reaches it change its tags.")
               + "\n\nexample:\n  raregal explore raregal-demo/run",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    explore.add_argument("run", metavar="RUN_DIR", help="folder written by raregal search")
    explore.add_argument("--images", metavar="CATALOGUE",
                         help="image folder or catalogue table (id and path columns)")
    explore.add_argument("--host", default="127.0.0.1",
                         help="interface to listen on (default %(default)s: this machine only)")
    explore.add_argument("--port", type=int, default=DEFAULT_PORT,
                         help="default %(default)s; 0 picks a free port")
    explore.add_argument("--browser", action=argparse.BooleanOptionalAction, default=False,
                         help="open the page in the default browser (default: no, just print "
                              "the URL)")
    explore.add_argument("--quiet", action="store_true")


def run_explore(args) -> int:
    from .explore import explore

    explore(args.run, images=args.images, host=args.host, port=args.port,
            open_browser=args.browser, verbose=not args.quiet)
    return 0


def run_demo(args) -> int:
    _require_embed_extra("demo")
    from .demo import demo

    demo(args.out, overwrite=args.overwrite, verbose=not args.quiet)
    return 0


def run_synthetic(args) -> int:
    from .output import write_table
    from .synthetic import planted_representations

    table = planted_representations(args.rows, dim=args.dim, n_groups=args.groups,
                                    group_size=tuple(args.group_size), seed=args.seed)
    write_table(table, args.out)
    print(f"raregal: wrote {args.out}: {len(table)} rows, {args.dim} features, "
          f"{args.groups} planted groups", file=sys.stderr)
    return 0


def _finder(args, **settings):
    from .search import RareClassFinder

    return RareClassFinder(n_neighbors=args.n_neighbors, n_components=args.n_components,
                           min_dist=args.min_dist, init=args.init, n_epochs=args.n_epochs,
                           min_cluster_size=args.min_cluster_size,
                           pca_components=args.pca, backend=args.backend, **settings)


def run_inject(args) -> int:
    from .catalogue import load_representations
    from .inject import check_params, inject, synthetic_bulk

    finder = _finder(args)
    check_params(sizes=args.sizes, tightness=args.tightness, repeats=args.repeats,
                 min_samples=args.min_samples, seed=args.seed, finder=finder)
    if args.synthetic is not None:
        bulk = synthetic_bulk(args.synthetic, dim=args.dim, seed=args.seed)
        features, ids = bulk.filter(like="feat_").to_numpy("float32"), None
        source = f"synthetic bulk (seed {args.seed})"
    else:
        reps = load_representations(args.representations, id_column=args.id_col,
                                    features=args.features)
        features, ids, source = reps.features, reps.ids, reps.source
    inject(features, args.out, sizes=args.sizes, tightness=args.tightness,
           repeats=args.repeats, finder=finder, min_samples=args.min_samples,
           seed=args.seed, ids=ids, source=source, inputs=[args.representations],
           overwrite=args.overwrite,
           verbose=not args.quiet, command=["raregal", *args.argv])
    return 0


def run_evaluate(args) -> int:
    from .evaluate import evaluate, parse_types
    from .monitor import stderr_printer

    result = evaluate(args.runs, args.labels, types=parse_types(args.types, args.preset),
                      out=args.out, names=args.names, id_column=args.id_col,
                      min_class_size=args.min_class_size, permutations=args.permutations,
                      fdr=args.fdr, seed=args.seed, overwrite=args.overwrite,
                      say=stderr_printer())
    print(result.summary, end="")
    if args.out:
        print(f"raregal: wrote {args.out}/", file=sys.stderr)
    return 0


def run_baseline(args) -> int:
    _require_embed_extra("baseline")
    from .baseline import baseline

    baseline(args.source, args.out, size=args.size, components=args.components,
             crop_fraction=args.crop_fraction, id_column=args.id_col,
             path_column=args.path_col, seed=args.seed, overwrite=args.overwrite,
             verbose=not args.quiet)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return {"search": run_search, "embed": run_embed, "train": run_train,
                "report": run_report, "demo": run_demo, "synthetic": run_synthetic,
                "inject": run_inject, "evaluate": run_evaluate,
                "baseline": run_baseline, "explore": run_explore}[args.command](args)
    except ParameterError as exc:  # named as the user typed it
        print(f"raregal: error: {flag_name(args.command, exc.parameter)}: {exc.reason}",
              file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"raregal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = {"embed": "finished shards are kept: rerun with --resume",
                "train": "the last epoch's checkpoint is kept: rerun with --resume",
                "demo": "finished work is kept: rerun raregal demo to go on",
                "explore": "stopped; tags are kept in RUN_DIR/explore-tags.sqlite"
                }.get(args.command, "nothing was written")
        print(f"raregal: interrupted; {kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
