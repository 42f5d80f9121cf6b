"""The ``raregal`` command line: a thin layer over the Python API.

One ``add_<command>(commands)`` per command builds its parser and names its
``run_<command>`` (``set_defaults(handler=...)``); :func:`main` calls it and turns
:class:`raregal.core.errors.InputError` into one line and exit status 2 (a file system's
refusal of a write, :func:`raregal.io.output.write_failure`, into one line and 1). A new
command is one more ``add_`` function listed in :data:`COMMANDS`.

Options default to None, so the Python function's own default applies (once, in
its signature); the help shows that default, read from :mod:`raregal.core.defaults`.
Options several commands share are added by :func:`add_shared`.
"""

from __future__ import annotations

import argparse
import sys
from textwrap import wrap

from raregal.core import defaults
from raregal.core.backends import BACKENDS
from raregal.core.errors import InputError
from raregal.core.params import ParameterError
from raregal.core.version import __version__
from raregal.io.catalogue import FEATURE_PATTERNS, ID_COLUMNS
from raregal.method.select import NAN_POLICIES

QUIET_HELP = "no progress on stderr (errors still print)"


def flag_name(command: str, parameter: str) -> str:
    """The command-line flag of a Python parameter, for error messages.

    Derived from the parser: every option's ``dest`` is the parameter's name in the
    Python API (``--pca`` stores ``pca_components``), so no table is kept by hand.
    """
    for action in _subparser(command)._actions:
        flags = [flag for flag in action.option_strings if flag.startswith("--")]
        if action.dest == parameter and flags:
            return flags[0]
    return "--" + parameter.replace("_", "-")


def _subparser(command: str) -> argparse.ArgumentParser:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    return commands.choices[command]


# --- help text ------------------------------------------------------------------------


def text(*paragraphs: str) -> str:
    """Paragraphs for a RawDescription help: prose is wrapped to 79 columns, a
    paragraph whose lines start with spaces (examples, lists) is kept as written."""
    return "\n\n".join(
        p if p.startswith(" ") or "\n " in p else "\n".join(_wrap(p, 79)) for p in paragraphs
    )


def _wrap(prose: str, width: int) -> list[str]:
    # never at a hyphen: flags and column names (--nan-rule, disk-edge-on) stay whole
    return wrap(" ".join(prose.split()), width, break_on_hyphens=False, break_long_words=False)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as :func:`text` laid them out; option help wrapped
    without breaking a flag or column name at its hyphens."""

    def _split_lines(self, text, width):
        return _wrap(text, width)


def shown(value) -> str:
    """A default as the user would type it: 10 20 50, not [10, 20, 50]."""
    if isinstance(value, (list, tuple)):
        return " ".join(shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _command(
    commands, name: str, summary: str, description: str, epilog: str | None = None, run=None
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name, help=summary, description=description, epilog=epilog, formatter_class=HelpFormatter
    )
    parser.set_defaults(handler=run)
    return parser


def add_shared(
    parser,
    *,
    out: str | None = None,
    out_required: bool = True,
    overwrite: str | None = "replace DIR if raregal wrote it",
    seed: str | None = None,
    id_col: str | None = None,
    quiet: bool = True,
    columns=None,
) -> None:
    """The options several commands share, spelt and explained once.

    Each argument is the option's help (None leaves the option out); ``columns`` is
    the argument group --id-col goes in (default: the parser)."""
    if out is not None:
        parser.add_argument("--out", required=out_required, metavar="DIR", help=out)
    if overwrite is not None:
        parser.add_argument("--overwrite", action="store_true", help=overwrite)
    if id_col is not None:
        (columns or parser).add_argument("--id-col", dest="id_column", metavar="NAME", help=id_col)
    if seed is not None:
        parser.add_argument("--seed", type=int, metavar="N", help=seed)
    if quiet:
        parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def _threshold(text: str) -> float | None:
    if text.lower() in {"off", "none"}:
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', not '{text}'") from None


def _integer_or(word: str, *words: str):
    """An argparse type: an integer, or ``word`` (or one of ``words``) itself."""

    def parse(text: str):
        if text in (word, *words):
            return text
        try:
            return int(text)
        except ValueError:
            named = " or ".join(f"'{w}'" for w in (word, *words))
            raise argparse.ArgumentTypeError(
                f"expected an integer or {named}, not '{text}'"
            ) from None

    return parse


def defaults_of(function) -> dict:
    """A function's keyword defaults, for the help of a setting with no name in
    :mod:`raregal.core.defaults` (only for modules cheap to import)."""
    from inspect import Parameter, signature

    return {
        name: p.default
        for name, p in signature(function).parameters.items()
        if p.default is not Parameter.empty
    }


def given(**settings) -> dict:
    """The settings the user gave (not None), to pass on as keyword arguments, so
    that the function's own default applies to the rest."""
    return {name: value for name, value in settings.items() if value is not None}


# --- search ---------------------------------------------------------------------------


def _search_description() -> str:
    return text(
        f"Find rare galaxy classes in a table of representations, as Walmsley & Scaife "
        f"(2023): drop featureless, edge-on and artifact galaxies by their predicted vote "
        f"fractions, embed with UMAP (n_neighbors={defaults.UMAP_N_NEIGHBORS}, "
        f"{defaults.UMAP_N_COMPONENTS}-D) and take the leaves of HDBSCAN's condensed tree "
        f"(min_samples={defaults.HDBSCAN_MIN_SAMPLES} at the paper's "
        f"{defaults.PAPER_SAMPLE_SIZE // 1000}k galaxies, scaled to the sample; "
        f"min_cluster_size={defaults.HDBSCAN_MIN_CLUSTER_SIZE}) as classes. The 2-D map "
        f"is laid out on the {defaults.UMAP_N_COMPONENTS}-D embedding's own neighbour "
        f"graph ({defaults.MAP_SMALL_EPOCHS} epochs up to {defaults.UMAP_LARGE_DATA:,} "
        f"galaxies, {defaults.MAP_N_EPOCHS} above), for pictures only.",
        f"Inputs: Parquet, CSV, FITS tables, Zoobot HDF5 (predictions, id_str, label_cols), "
        f"or .npy with --ids. Each table's id column is the unique one of "
        f"{', '.join(ID_COLUMNS)} (GZ DESI's objid numbers objects within a brick, so its "
        f"table resolves to dr8_id); ids are text (000003 stays 000003). Features are "
        f"{', '.join(FEATURE_PATTERNS)}, or the one list column of a table without them "
        f"(Hugging Face embeddings). Only the columns the cuts need are read for every "
        f"galaxy; the features only for the galaxies kept. A folder of images is embedded "
        f"first: raregal embed FOLDER --out DIR.",
        "Writes DIR/classes.parquet, classes.csv, condensed_tree.parquet and run.json; "
        "then raregal report DIR draws them.",
    )


def _search_epilog() -> str:
    from raregal.method.cluster import scaled_min_samples
    from raregal.method.rarity import definition as rarity_definition
    from raregal.method.reduce import LARGE_DATA, layout_epochs

    small, large = f"{LARGE_DATA:,}", LARGE_DATA + 1
    return text(
        f"Vote fractions: the cuts read {defaults.SMOOTH_COLUMN}, {defaults.EDGE_ON_COLUMN} "
        f"and {defaults.ARTIFACT_COLUMN}, or the same answers with a campaign suffix "
        f"(smooth-or-featured-dr8_...) or Euclid's problem for artifact. "
        f"With --predictions every vote fraction is the predictions': the representation "
        f"table's own fraction columns (say, the model's from raregal embed) are set "
        f"aside whole, so that no cut reads one table's smooth and another's edge-on. "
        f"The log, each cut's line and run.json (fraction_sources) name the file each "
        f"fraction came from.",
        "NaN rule: the GZ DESI catalogue masks a fraction (NaN) where too few volunteers "
        "were asked the question (edge-on wherever featured-or-disk < 0.5). With --nan-rule "
        "keep (default) a NaN never triggers a cut; with drop it removes the galaxy.",
        f"One mask whatever the file: where the probability that a question was asked is "
        f"known (Zoobot's advanced table's _proportion-asked; the fractions raregal computes "
        f"from concentrations or vote counts: the product of the fractions of the answers "
        f"leading to it), a fraction asked below {defaults.ASKED_THRESHOLD:g} is NaN, as in "
        f"the friendly table, so that the same predictions give the same sample from every "
        f"layout; the log and run.json say which files were masked. --no-mask-unasked keeps "
        f"the raw fractions. Vote counts (a {{question}}_total-votes column, or whole "
        f"numbers) are divided by the question's total votes.",
        f"min_samples: {defaults.HDBSCAN_MIN_SAMPLES} suits the paper's "
        f"{defaults.PAPER_SAMPLE_SIZE // 1000}k galaxies. By default it is scaled: "
        f"{defaults.HDBSCAN_MIN_SAMPLES}*sqrt(N/{defaults.PAPER_SAMPLE_SIZE // 1000}k) "
        f"({scaled_min_samples(5_000)} at 5k, {scaled_min_samples(50_000)} at 50k, "
        f"{scaled_min_samples(defaults.PAPER_SAMPLE_SIZE)} at "
        f"{defaults.PAPER_SAMPLE_SIZE // 1000}k; floored at min_cluster_size, capped at "
        f"{defaults.HDBSCAN_MIN_SAMPLES}), the classic sqrt(N) rule for nearest-neighbour "
        f"density estimates; --min-samples {defaults.HDBSCAN_MIN_SAMPLES} forces the "
        f"paper's value. run.json records the value and why.",
        "Which classes are real: each class gets a stability (mean best-match Jaccard "
        "over --stability-seeds layout reruns on the same neighbour graph), a density "
        "contrast in the representation itself, a significance (its density's rise in "
        "the condensed tree, in units of the density noise) and a credible flag (classes.csv; "
        "--credible-only writes only those). See raregal.method.credibility and "
        "docs/decisions/credibility.md. --stability-seeds 0 skips the reruns; the flag "
        "then rests on contrast and significance.",
        "Several scales (--scales K): one min_samples finds groups of about min_samples "
        "members and more; a small one finds small tight groups but cuts large ones into "
        "leaves. With K > 1 the same embedding is clustered again at min_samples halved "
        f"each step (never below {defaults.SCALE_FLOOR}); every class of the first scale "
        "is kept, and each finer scale adds the credible classes whose galaxies are mostly "
        "in no credible class yet (taking them from classes that are not credible). "
        "classes.csv gives each class's min_samples and the finer scales that found it "
        "again (also_at); run.json what each scale found and kept. See raregal.method.scales.",
        f"Speed: above {small} galaxies the layout starts from the principal components "
        f"and runs {layout_epochs(large, defaults.UMAP_N_EPOCHS)} epochs (umap-learn: "
        f"spectral, 200); up to {small}, umap-learn's own spectral start and "
        f"{layout_epochs(LARGE_DATA, defaults.UMAP_N_EPOCHS)} epochs. --init spectral "
        f"--n-epochs 200 gives umap-learn's own layout at any size, as in the paper "
        f"(bench/search.py compares the two). The layout is raregal's deterministic "
        f"parallel one (--layout umap-learn: the paper's); each credibility rerun "
        f"(--stability-seeds K) lays the graph out again, above {small} galaxies in at "
        f"most {defaults.STABILITY_N_EPOCHS} epochs, and --n-epochs 50 halves the "
        f"layout's time, a trade measured in docs/decisions/layout.md.",
        f"Rarity: classes.parquet's rarity column is the {rarity_definition()}, read "
        f"off the neighbour graph UMAP is built on (no extra cost); the report shows the "
        f"rarest galaxies. It ranks whatever is unusual, artifacts too (README).",
        f"Fit sample (--fit-sample N): at survey scale the layout (5-D embedding and map) "
        f"is fitted on N galaxies drawn at random ({defaults.FIT_SAMPLE_SIZE:,} by default "
        f"from {defaults.FIT_SAMPLE_AUTO_MIN:,}; its UMAP on "
        f"{defaults.FIT_SAMPLE_N_NEIGHBORS} neighbours) and every other galaxy is placed "
        f"at the fuzzy-membership-weighted mean of its "
        f"{defaults.FIT_SAMPLE_PLACE_NEIGHBOURS} nearest sample galaxies (umap-learn's "
        f"transform start); HDBSCAN clusters them all. The neighbour graph (rarity, "
        f"density contrast, neighbours.parquet) is then each galaxy's nearest sample "
        f"galaxies, and stability reruns lay out the sample again. The placing runs in "
        f"chunks written beside DIR as they are done (DIR.parts, removed at the end), so "
        f"a seeded run that was stopped resumes; --dask ADDRESS (a dask-jobqueue "
        f"SLURMCluster's, say) or --dask-local N spreads them over Dask workers, with the "
        f"same result. See raregal.method.sample_fit.",
        "--seed makes a rerun identical, whatever the load; umap-learn's layout then runs "
        "on one thread, so a seeded search is slower on several cores (HDBSCAN's tree is "
        "the same on any number of threads).",
        "example:\n"
        "  raregal search representations.parquet --predictions gz_desi.parquet --out run/\n"
        "  raregal report run/",
    )


def add_search(commands) -> None:
    search = _command(
        commands,
        "search",
        "find classes in a representation table",
        _search_description(),
        _search_epilog(),
        run_search,
    )
    search.add_argument(
        "representations",
        metavar="REPRESENTATIONS",
        help="representation table or .npy array (not an image folder: "
        "raregal embed turns one into a table)",
    )
    inputs = search.add_argument_group("input columns")
    add_shared(
        search,
        out="run folder to write",
        columns=inputs,
        id_col="id column of REPRESENTATIONS (default: found, see above)",
    )
    inputs.add_argument(
        "--predictions",
        metavar="TABLE",
        nargs="+",
        help="vote fractions ({question}_{answer}_fraction) or Zoobot's "
        "predictions (HDF5 chunks or CSV of concentrations: files or a "
        "quoted glob), joined on id; then all the vote fractions are "
        "the predictions' (see below)",
    )
    inputs.add_argument(
        "--catalogue",
        metavar="TABLE",
        action="append",
        help="extra table joined on id whose columns --where may name "
        "(e.g. GZ DESI's external catalogue: mag_r_desi, "
        "est_petro_th50); repeatable",
    )
    inputs.add_argument(
        "--predictions-id-col", metavar="NAME", help="id column of the predictions (default: found)"
    )
    inputs.add_argument(
        "--catalogue-id-col",
        metavar="NAME",
        help="id column of the --catalogue tables (default: found)",
    )
    inputs.add_argument(
        "--features",
        metavar="GLOB",
        help="feature columns, e.g. 'emb_*', or list columns (Hugging Face "
        "embeddings: pooled_features_block_4)",
    )
    inputs.add_argument(
        "--ids",
        metavar="FILE",
        help="ids of a .npy array: one per line, or a table with an id column",
    )

    cuts = search.add_argument_group("selection (drop a galaxy when its fraction >= the cut)")
    # Not None by default: None is a cut switched off ('off', as paper_cuts reads it).
    for flag, column, default in (
        ("--featureless-cut", defaults.SMOOTH_COLUMN, defaults.SMOOTH_THRESHOLD),
        ("--edge-on-cut", defaults.EDGE_ON_COLUMN, defaults.EDGE_ON_THRESHOLD),
        ("--artifact-cut", defaults.ARTIFACT_COLUMN, defaults.ARTIFACT_THRESHOLD),
    ):
        cuts.add_argument(
            flag,
            type=_threshold,
            default=default,
            metavar="X",
            help=f"on {column} (default {shown(default)}; 'off' to skip)",
        )
    cuts.add_argument(
        "--keep-artifacts",
        action="store_true",
        help="the paper's artifact experiment: same as --artifact-cut off",
    )
    cuts.add_argument(
        "--nan-rule",
        choices=NAN_POLICIES,
        help=f"what a NaN fraction does (default {defaults.NAN_POLICY}; see below)",
    )
    cuts.add_argument(
        "--campaign",
        metavar="NAME",
        help="for tables with several campaigns' answers side by side "
        "(smooth-or-featured-dr12_..., -dr5_..., -dr8_...): the one to read",
    )
    cuts.add_argument(
        "--no-mask-unasked",
        dest="mask_unasked",
        action="store_false",
        help="keep fractions of questions asked with probability below "
        f"{defaults.ASKED_THRESHOLD:g} (default: NaN, as GZ DESI's "
        "friendly table; see below)",
    )
    cuts.add_argument(
        "--where",
        action="append",
        metavar="EXPR",
        help="keep rows where EXPR holds (pandas' query syntax for columns, numbers, "
        "comparisons, arithmetic and and/or/not, read and never run as "
        "code; e.g. 'mag_r_desi < 19' with --catalogue; backquote odd "
        "names: '`Class1.1` < 0.5'); repeatable",
    )

    method = add_method_options(search, scaled="see below")
    method.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="make a rerun identical (default: unseeded; see below)",
    )
    method.add_argument(
        "--stability-seeds",
        type=_integer_or("auto"),
        metavar="K|auto",
        help=f"layout reruns for each class's stability; 0: none (default auto: "
        f"{defaults.STABILITY_SEEDS} at every size)",
    )
    method.add_argument(
        "--scales",
        type=int,
        metavar="K",
        help=f"cluster at K density scales: min_samples halved each step "
        f"down to {defaults.SCALE_FLOOR}, adding each finer scale's new "
        f"credible classes (default {defaults.SCALES}; 1: the paper's "
        f"one scale; see below)",
    )
    method.add_argument(
        "--credible-only",
        action="store_true",
        help="write only the classes the credible rule keeps",
    )
    method.add_argument(
        "--fit-sample",
        type=_integer_or("auto", "off"),
        metavar="N|auto|off",
        help=f"fit the layout on N galaxies drawn at random (seeded) and place "
        f"the others from their nearest sample galaxies (default auto: "
        f"{defaults.FIT_SAMPLE_SIZE:,} from "
        f"{defaults.FIT_SAMPLE_AUTO_MIN:,} galaxies; off: all; see below)",
    )
    scale = search.add_argument_group("scale (with a fit sample)")
    scale.add_argument(
        "--dask",
        dest="dask_address",
        metavar="ADDRESS",
        help="Dask scheduler to place the galaxies on, in chunks",
    )
    scale.add_argument(
        "--dask-local",
        dest="dask_workers",
        type=int,
        metavar="N",
        help="place the galaxies on a local Dask cluster of N worker processes",
    )


def add_method_options(
    parser, many_min_samples: bool = False, scaled: str = "see raregal search --help"
):
    """The search's method options, for the commands that rerun the search."""
    from raregal.method.reduce import LARGE_DATA, layout_epochs

    method = parser.add_argument_group(
        "method (defaults: the paper's but min_samples, UMAP start, epochs, scales)"
    )
    method.add_argument(
        "--pca",
        dest="pca_components",
        type=int,
        metavar="N",
        help="project onto N principal components before UMAP",
    )
    method.add_argument(
        "--n-neighbors",
        type=int,
        metavar="N",
        help=f"UMAP neighbours (default {defaults.UMAP_N_NEIGHBORS})",
    )
    method.add_argument(
        "--n-components",
        type=int,
        metavar="N",
        help=f"UMAP dimensions clustered (default {defaults.UMAP_N_COMPONENTS})",
    )
    method.add_argument(
        "--min-dist",
        type=float,
        metavar="X",
        help=f"UMAP min_dist (default {defaults.UMAP_MIN_DIST:g})",
    )
    method.add_argument(
        "--init",
        choices=defaults.UMAP_INITS,
        help=f"where the UMAP layout starts: principal components, or "
        f"umap-learn's spectral embedding as in the paper (default "
        f"{defaults.UMAP_INIT}: spectral up to {LARGE_DATA:,} galaxies, "
        f"pca above)",
    )
    method.add_argument(
        "--n-epochs",
        type=_integer_or("auto"),
        metavar="N|auto",
        help=f"UMAP layout epochs (default auto: "
        f"{layout_epochs(LARGE_DATA, defaults.UMAP_N_EPOCHS)} up to "
        f"{LARGE_DATA:,} galaxies, as umap-learn, "
        f"{defaults.UMAP_N_EPOCHS} above)",
    )
    several = "; several: compared on one embedding" if many_min_samples else ""
    method.add_argument(
        "--min-samples",
        type=_integer_or("scaled"),
        metavar="N|scaled",
        nargs="+" if many_min_samples else None,
        help=f"HDBSCAN min_samples (default {shown(defaults.MIN_SAMPLES)}: "
        f"{scaled}; {defaults.HDBSCAN_MIN_SAMPLES}: the paper's){several}",
    )
    method.add_argument(
        "--min-cluster-size",
        type=int,
        metavar="N",
        help=f"HDBSCAN min_cluster_size (default {defaults.HDBSCAN_MIN_CLUSTER_SIZE})",
    )
    method.add_argument(
        "--layout",
        choices=defaults.LAYOUTS,
        help=f"the layout's gradient descent: raregal's deterministic parallel one, "
        f"the same for a seed on any number of threads, or umap-learn's (the paper's; "
        f"one thread when seeded) (default {defaults.LAYOUT})",
    )
    method.add_argument(
        "--backend",
        choices=BACKENDS,
        help="auto: cuML on a GPU when installed, else cpu (default auto)",
    )
    return method


def _finder(args, **settings):
    from raregal.method.search import RareClassFinder

    return RareClassFinder(
        **given(
            n_neighbors=args.n_neighbors,
            n_components=args.n_components,
            min_dist=args.min_dist,
            init=args.init,
            n_epochs=args.n_epochs,
            min_cluster_size=args.min_cluster_size,
            pca_components=args.pca_components,
            backend=args.backend,
            layout=args.layout,
            **settings,
        )
    )


def run_search(args) -> int:
    from raregal.method.search import search
    from raregal.method.select import paper_cuts

    artifact = None if args.keep_artifacts else args.artifact_cut
    cuts = paper_cuts(smooth=args.featureless_cut, edge_on=args.edge_on_cut, artifact=artifact)
    fit_sample = None if args.fit_sample == "off" else args.fit_sample
    finder = _finder(
        args,
        min_samples=args.min_samples,
        seed=args.seed,
        stability_seeds=args.stability_seeds,
        scales=args.scales,
        **({} if args.fit_sample is None else {"fit_sample": fit_sample}),
    )
    result = search(
        args.representations,
        args.out,
        cuts=cuts,
        finder=finder,
        dask_address=args.dask_address,
        dask_workers=args.dask_workers,
        overwrite=args.overwrite,
        verbose=not args.quiet,
        command=["raregal", *args.argv],
        **given(
            predictions=args.predictions,
            id_column=args.id_column,
            features=args.features,
            ids=args.ids,
            nan_policy=args.nan_rule,
            where=args.where,
            catalogues=args.catalogue,
            predictions_id_column=args.predictions_id_col,
            catalogue_id_column=args.catalogue_id_col,
            credible_only=args.credible_only or None,
            campaign=args.campaign,
            mask_unasked=args.mask_unasked,
        ),
    )
    if not args.quiet:
        print(
            f"raregal: next: raregal report {result.out}  (galleries, map, index.html); "
            f"raregal explore {result.out}  (in the browser)",
            file=sys.stderr,
        )
    return 0


# --- images to representations: embed, train, baseline --------------------------------


def _require_embed_extra(command: str) -> None:
    """Say which extra to install when the torch stages' libraries are missing.

    Looked up, not imported: torch takes seconds to import, and a bad parameter
    is answered before that (:mod:`raregal.core.params`)."""
    from importlib.util import find_spec

    missing = next(
        (name for name in ("torch", "timm", "safetensors") if find_spec(name) is None), None
    )
    if missing is not None:
        raise InputError(
            f"raregal {command} needs torch and timm ({missing} is missing): "
            f"install the embed extra, pip install '.[embed]' in a raregal "
            f"checkout"
        )


def _image_source(parser, *, seed: str) -> None:
    """SOURCE, the options of every command that reads images, and --path-col."""
    parser.add_argument(
        "source", metavar="SOURCE", help="image folder, or catalogue table with id and path columns"
    )
    add_shared(
        parser,
        out="output folder",
        seed=seed,
        id_col="catalogue id column (default: found, as raregal search)",
    )
    parser.add_argument(
        "--path-col",
        dest="path_column",
        metavar="NAME",
        help="catalogue image path column (default: file_loc, path, …)",
    )


def add_embed(commands) -> None:
    embed = _command(
        commands,
        "embed",
        "turn galaxy images into representations and vote fractions",
        text(
            "Run a galaxy encoder over a folder of images (JPEG, PNG, FITS) or a catalogue "
            "with id and path columns (Zoobot's id_str/file_loc), as Zoobot preprocesses "
            "them: central crop, resize, values in [0, 1], no ImageNet normalisation. grz "
            "FITS cutouts are coloured with the Legacy Surveys mapping, single-band ones as "
            "greyscale.",
            "Writes DIR/representations.parquet (id, feat_*, and "
            "{question}_{answer}_fraction for a model with a Dirichlet head), manifest.json, "
            "and failures.csv when some images could not be read; then raregal search "
            "DIR/representations.parquet --out RUN.",
        ),
        text(
            "Models: by default raregal's bundled model (offline); a timm name; "
            "hf_hub:mwalmsley/zoobot-encoder-ARCH or its shorthand zoobot:ARCH (read from "
            "the Hugging Face cache when offline); a folder with config.json and weights; or "
            "a weights file with --arch.",
            "Interrupted runs keep their finished shards: rerun with --resume.",
            "HPC: start a Dask cluster (dask-jobqueue's SLURMCluster, say) and pass its "
            "scheduler address with --dask; every worker loads the model once and writes "
            "its shards to DIR, which must be on a shared file system.",
            "examples:\n  raregal embed images/ --out embedded/\n"
            "  raregal embed images/ --model zoobot:convnext_nano --out embedded/",
        ),
        run_embed,
    )
    _image_source(embed, seed=f"seeds the head's dropout passes (default {defaults.SEED})")
    model = embed.add_argument_group("model and preprocessing")
    model.add_argument(
        "--model",
        metavar="NAME",
        help="timm or Hub name, zoobot:ARCH, folder or weights file "
        "(default: raregal's bundled model, offline)",
    )
    model.add_argument("--arch", metavar="NAME", help="timm architecture of a weights file")
    model.add_argument(
        "--crop-fraction",
        type=float,
        metavar="F",
        help=f"central fraction of each side kept (default: the model's; "
        f"Zoobot's is {defaults.CROP_FRACTION:.3f})",
    )
    model.add_argument(
        "--size",
        dest="input_size",
        type=int,
        metavar="PX",
        help="model input size in pixels (default: the model's)",
    )
    model.add_argument(
        "--passes",
        type=int,
        metavar="N",
        help=f"stochastic head passes averaged (default {defaults.PREDICTION_PASSES})",
    )
    run = embed.add_argument_group("running")
    run.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help=f"images per forward pass (default {defaults.EMBED_BATCH_SIZE})",
    )
    run.add_argument(
        "--shard-size",
        type=int,
        metavar="N",
        help=f"images per resumable shard (default {defaults.EMBED_SHARD_SIZE})",
    )
    run.add_argument(
        "--workers", type=int, metavar="N", help="decoding processes (default: one per spare core)"
    )
    run.add_argument(
        "--device",
        metavar="DEVICE",
        help="auto, cpu, mps, cuda or cuda:N (default auto: cuda when torch "
        "sees a GPU, else mps on Apple silicon, else cpu)",
    )
    run.add_argument("--resume", action="store_true", help="finish an interrupted run")
    scale = run.add_mutually_exclusive_group()
    scale.add_argument(
        "--dask",
        dest="dask_address",
        metavar="ADDRESS",
        help="Dask scheduler to spread shards over",
    )
    scale.add_argument(
        "--dask-local",
        dest="dask_workers",
        type=int,
        metavar="N",
        help="start a local Dask cluster of N workers",
    )


def run_embed(args) -> int:
    _require_embed_extra("embed")
    from raregal.model.embed import embed

    embed(
        args.source,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        verbose=not args.quiet,
        **given(
            model=args.model,
            arch=args.arch,
            id_column=args.id_column,
            path_column=args.path_column,
            crop_fraction=args.crop_fraction,
            input_size=args.input_size,
            passes=args.passes,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            workers=args.workers,
            device=args.device,
            seed=args.seed,
            dask_address=args.dask_address,
            dask_workers=args.dask_workers,
        ),
    )
    return 0


def add_train(commands) -> None:
    from raregal.io.schemas import SCHEMAS

    train = _command(
        commands,
        "train",
        "train an encoder with a bottleneck and a Dirichlet head on votes",
        text(
            "Train a timm encoder whose representation has --bottleneck dimensions, with a "
            "Dirichlet head, on Galaxy Zoo votes: count columns {question}_{answer}, "
            "fractions {question}_{answer}_fraction, or the Galaxy Challenge's cumulative "
            "ClassQ.A, the last two times --pseudo-count volunteers.",
            "Writes DIR/model/ (which raregal embed --model loads), metrics.csv, split.csv, "
            "checkpoint.pt (every epoch) and training.json.",
        ),
        text(
            "example:\n  raregal train labels.csv --images cutouts/ --out trained/\n"
            "  raregal embed cutouts/ --model trained/model --out embedded/"
        ),
        run_train,
    )
    train.add_argument("labels", metavar="LABELS", help="table of ids, image paths and votes")
    add_shared(
        train,
        out="output folder (new, or one to --resume)",
        overwrite=None,
        seed=f"seeds the split, the initial weights and the batches (default {defaults.SEED})",
        id_col="id column of LABELS (default: found, as raregal search)",
    )
    train.add_argument(
        "--path-col",
        dest="path_column",
        metavar="NAME",
        help="image path column of LABELS (default: file_loc, path, …)",
    )
    train.add_argument(
        "--images",
        metavar="FOLDER",
        help="where {id}.jpg (.png, .fits…) lie, for labels without a path column",
    )
    labels = train.add_argument_group("labels and model")
    labels.add_argument(
        "--schema",
        metavar="NAME",
        help=f"the label table's decision tree: {' or '.join(SCHEMAS)} "
        f"(default {defaults.TRAIN_SCHEMA})",
    )
    labels.add_argument(
        "--questions",
        metavar="Q,Q",
        help="train on these questions only (default: all the schema's)",
    )
    labels.add_argument(
        "--pseudo-count",
        type=float,
        metavar="X",
        help=f"volunteers per galaxy for fraction labels (default {defaults.PSEUDO_COUNT:g})",
    )
    labels.add_argument(
        "--arch",
        metavar="NAME",
        help=f"timm architecture, or raregal_cnn / raregal_resnet (small, "
        f"for CPUs) (default {defaults.TRAIN_ARCH})",
    )
    labels.add_argument(
        "--bottleneck",
        type=lambda t: "none" if t == "none" else int(t),
        metavar="N|none",
        help=f"representation dimensions (default {defaults.BOTTLENECK}; "
        f"none: the architecture's own)",
    )
    labels.add_argument(
        "--size",
        dest="input_size",
        type=int,
        metavar="PX",
        help=f"input size in pixels (default {defaults.INPUT_SIZE})",
    )
    labels.add_argument(
        "--crop-fraction",
        type=float,
        metavar="F",
        help=f"central fraction of each side kept (default {defaults.CROP_FRACTION:.3f}, Zoobot's)",
    )
    fit = train.add_argument_group("optimisation")
    fit.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"passes over the training galaxies (default {defaults.TRAIN_EPOCHS})",
    )
    fit.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help=f"galaxies per step (default {defaults.TRAIN_BATCH_SIZE})",
    )
    fit.add_argument(
        "--learning-rate",
        type=float,
        metavar="X",
        help=f"AdamW's learning rate (default {defaults.TRAIN_LEARNING_RATE:g})",
    )
    fit.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help=f"share of galaxies held out to validate each epoch (default "
        f"{defaults.TRAIN_VAL_FRACTION:g})",
    )
    fit.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")


def run_train(args) -> int:
    _require_embed_extra("train")
    from raregal.model.train import train

    bottleneck = None if args.bottleneck == "none" else args.bottleneck
    train(
        args.labels,
        args.out,
        resume=args.resume,
        verbose=not args.quiet,
        **given(
            schema=args.schema,
            arch=args.arch,
            input_size=args.input_size,
            crop_fraction=args.crop_fraction,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            pseudo_count=args.pseudo_count,
            val_fraction=args.val_fraction,
            seed=args.seed,
            id_column=args.id_column,
            path_column=args.path_column,
            images=args.images,
            questions=args.questions.split(",") if args.questions else None,
        ),
        **({} if args.bottleneck is None else {"bottleneck": bottleneck}),
    )
    return 0


def add_baseline(commands) -> None:
    baseline = _command(
        commands,
        "baseline",
        "pixel-PCA representations of images, the control for a model",
        text(
            "PCA of the raw pixels of the same images, to search with the same settings as "
            "a model's representations: each image is cropped as the encoder sees it "
            "(default: the bundled model's crop), shrunk to --size pixels a side, flattened, "
            "and projected on its first --components principal components.",
            "Writes DIR/representations.parquet (id, feat_*), baseline.json, and "
            "failures.csv when some images could not be read.",
        ),
        text(
            "For the morphology cuts, search it with the model's predictions:",
            "  raregal baseline images/ --out pixels/\n"
            "  raregal search pixels/representations.parquet \\\n"
            "      --predictions embedded/representations.parquet --out run_pixels/",
        ),
        run_baseline,
    )
    _image_source(baseline, seed=f"seeds the randomized PCA (default {defaults.SEED})")
    baseline.add_argument(
        "--size",
        type=int,
        metavar="PX",
        help=f"pixels per side after the crop (default {defaults.BASELINE_SIZE})",
    )
    baseline.add_argument(
        "--components",
        type=int,
        metavar="N",
        help=f"principal components kept (default {defaults.BASELINE_COMPONENTS})",
    )
    baseline.add_argument(
        "--crop-fraction",
        type=float,
        metavar="F",
        help="central fraction of each side kept (default: the bundled model's)",
    )


def run_baseline(args) -> int:
    _require_embed_extra("baseline")
    from raregal.measure.baseline import baseline

    baseline(
        args.source,
        args.out,
        overwrite=args.overwrite,
        verbose=not args.quiet,
        **given(
            size=args.size,
            components=args.components,
            crop_fraction=args.crop_fraction,
            id_column=args.id_column,
            path_column=args.path_column,
            seed=args.seed,
        ),
    )
    return 0


# --- reading a run: report, explore ---------------------------------------------------


def _images_option(parser) -> None:
    parser.add_argument("run", metavar="RUN_DIR", help="folder written by raregal search")
    parser.add_argument(
        "--images",
        metavar="CATALOGUE",
        help="image folder or catalogue table with id and path columns "
        "(default: the images the run was embedded from)",
    )


def add_report(commands) -> None:
    report = _command(
        commands,
        "report",
        "galleries, map and an HTML page of a search run",
        text(
            "Draw what a search found: a gallery per class (classes lettered A, B, C … by "
            "persistence, most distinct first; the most confident members with their ids), "
            "the 2-D map with the classes lettered, a class table with the predicted vote "
            "fractions in which each class differs from the searched sample, the PCA "
            "variance curve and the condensed tree.",
            "Writes PNG figures, class_table.csv and one index.html that works offline to "
            "RUN_DIR/report/ (an earlier report there is replaced: it is derived from the "
            "run).",
        ),
        text(
            "Images: --images names a folder or a catalogue with id and path columns; "
            "without it, the images the run's representations were embedded from (raregal "
            "embed's manifest). Galaxies with RA/Dec in the run link to the Legacy Surveys "
            "viewer.",
            "Other runs: --compare RUN (repeatable) adds to the class table, per run, the "
            "class of RUN that best matches each class over the galaxies both searched (its "
            "letter in RUN's own report, and the Jaccard index), as raregal compare matches "
            "them. RUN is only read.",
            "examples:\n  raregal report run/ --images cutouts.csv\n"
            "  raregal report run_seed0/ --compare run_seed1/ --compare run_pixels/",
        ),
        run_report,
    )
    _images_option(report)
    add_shared(
        report, out="report folder (default RUN_DIR/report)", out_required=False, overwrite=None
    )
    report.add_argument(
        "--allow-outside-paths",
        action="store_true",
        help="let the catalogue name images outside its own folder (../, "
        "absolute paths); off because thumbs/ is made to be shared",
    )
    report.add_argument(
        "--per-class",
        type=int,
        metavar="N",
        help=f"galaxies shown per class (default {defaults.GALLERY_SIZE})",
    )
    report.add_argument(
        "--compare",
        action="append",
        metavar="RUN",
        help="another search run folder: show which of its classes each class matches (repeatable)",
    )
    report.add_argument(
        "--also-found-at",
        type=float,
        metavar="J",
        help=f"best-match Jaccard from which a class counts as also found "
        f"in a --compare run (default {defaults.ALSO_FOUND_JACCARD:g})",
    )


def run_report(args) -> int:
    from raregal.report import report

    report(
        args.run,
        allow_outside_paths=args.allow_outside_paths,
        verbose=not args.quiet,
        **given(
            images=args.images,
            out=args.out,
            per_class=args.per_class,
            compare=args.compare,
            also_found_at=args.also_found_at,
        ),
    )
    return 0


def add_explore(commands) -> None:
    from raregal.explore import DEFAULT_PORT

    explore = _command(
        commands,
        "explore",
        "look through a search run in the browser (a local web app)",
        text(
            "Serve a local web app over a search run: the map of every searched galaxy "
            "(pan, zoom, colour by class or any column, lasso), each galaxy's card with its "
            "image, vote fractions, a Legacy Surveys link and its nearest neighbours (more "
            "like this), the sortable class table with every class's members, selections "
            "(lasso, class or query on columns) exported as CSV, FITS or VOTable, and tags and "
            "notes on classes and galaxies kept in RUN_DIR/explore-tags.sqlite, and "
            "'suggest next': rounds of the galaxies most like those tagged interesting "
            "(not real and artifact, and those shown and left untagged, against), ranked "
            "by raregal rank on the features of the table the run searched, the rarest "
            "first before any tag; the rounds are kept in the same file, resume after a "
            "restart, and export as CSV. Prints the URL to open; Ctrl-C stops. "
            "Everything it needs ships with raregal (works offline)."
        ),
        text(
            "Images: as for raregal report (--images, else the images the run was embedded "
            "from). Safety: binds to 127.0.0.1 (this machine only); --host 0.0.0.0 serves "
            "the run, and lets anyone who reaches it change its tags.",
            "example:\n  raregal explore raregal-demo/run",
        ),
        run_explore,
    )
    _images_option(explore)
    explore.add_argument(
        "--host",
        metavar="ADDRESS",
        help="interface to listen on (default 127.0.0.1: this machine only)",
    )
    explore.add_argument(
        "--port", type=int, metavar="N", help=f"default {DEFAULT_PORT}; 0 picks a free port"
    )
    explore.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="open the page in the default browser (default: no, just print the URL)",
    )
    add_shared(explore, overwrite=None)


def run_explore(args) -> int:
    from raregal.explore import explore

    explore(
        args.run,
        open_browser=args.browser,
        verbose=not args.quiet,
        **given(images=args.images, host=args.host, port=args.port),
    )
    return 0


def add_compare(commands) -> None:
    compare = _command(
        commands,
        "compare",
        "match the classes of two search runs over their shared galaxies",
        text(
            "Match each class of RUN_A to the class of RUN_B sharing the largest Jaccard "
            "index over the galaxies both searched, and score the two partitions by the "
            "adjusted Rand index. Works for two seeds, two models, or a model and the "
            "pixel baseline."
        ),
        text(
            "Writes DIR/matches.csv (A's classes: best match in B, Jaccard, also_found), "
            "matches_b.csv (B's against A), contingency.csv and compare.json.",
            "example:\n  raregal compare run_convnext/ run_pixels/ --out compare/",
        ),
        run_compare,
    )
    compare.add_argument("run_a", metavar="RUN_A", help="folder written by raregal search")
    compare.add_argument("run_b", metavar="RUN_B", help="folder written by raregal search")
    compare.add_argument(
        "--also-found-at",
        type=float,
        metavar="J",
        help=f"best-match Jaccard from which a class counts as found in "
        f"both (default {defaults.ALSO_FOUND_JACCARD:g})",
    )
    add_shared(
        compare, out="folder for the tables (default: print the summary only)", out_required=False
    )


def run_compare(args) -> int:
    from raregal.measure.compare import compare_runs

    result = compare_runs(
        args.run_a,
        args.run_b,
        args.out,
        overwrite=args.overwrite,
        **given(also_found_at=args.also_found_at),
    )
    print(result.summary(), end="")
    if args.out and not args.quiet:
        print(f"raregal: wrote {args.out}/", file=sys.stderr)
    return 0


# --- more like these: rank -----------------------------------------------------------


def add_rank(commands) -> None:
    rank = _command(
        commands,
        "rank",
        "more like these: rank galaxies by likeness to your examples",
        text(
            "Rank every galaxy of SOURCE that is not already labelled by how likely it is "
            "to be of the kind the --like examples show, and write the top K: the id, "
            "score (higher = more alike), rank (from 1) and, when SOURCE is a run folder, "
            "the class it is in. SOURCE is a representation table (as raregal search "
            "reads) or a run folder (its searched galaxies, with the features of the "
            "table it searched). IDS is a file of ids, one per line, or a table with an "
            "id column.",
            f"Method: a logistic regression on the standardised features and on the "
            f"distances to the nearest example and to the nearest --unlike galaxy, the "
            f"examples against the --unlike galaxies and {defaults.RANK_BACKGROUND:,} "
            f"random unlabelled galaxies as background (C={defaults.RANK_C:g}, the "
            f"classes balanced), chosen over the features alone, the nearest examples "
            f"alone and a mix by bench/discovery.py (docs/decisions/discovery.md). Label "
            f"the suggestions and rank again: it improves as labels accumulate. Same "
            f"inputs and --seed, same table.",
        ),
        text(
            "An empty --unlike file is fine (the first round has no negatives).",
            "example:\n  raregal rank run/ --like mergers.txt --top 20 --out next.csv\n"
            "  raregal rank run/ --like mergers.txt --unlike not_mergers.txt --out next2.csv",
        ),
        run_rank,
    )
    rank.add_argument("source", metavar="SOURCE", help="representation table or run folder")
    rank.add_argument("--like", metavar="IDS", help="ids of galaxies of the kind wanted (required)")
    rank.add_argument("--unlike", metavar="IDS", help="ids of galaxies not of the kind")
    rank.add_argument(
        "--top", type=int, metavar="K", help=f"galaxies written (default {defaults.RANK_TOP})"
    )
    rank.add_argument(
        "--out", required=True, metavar="FILE", help="new .csv or .parquet file to write"
    )
    add_shared(rank, overwrite=None, seed=f"seeds the background sample (default {defaults.SEED})")


def run_rank(args) -> int:
    from raregal.core.monitor import stderr_printer
    from raregal.method.rank import rank

    table = rank(
        args.source, args.like, args.unlike, out=args.out, **given(top=args.top, seed=args.seed)
    )
    stderr_printer(not args.quiet)(
        f"wrote {args.out}: the {len(table)} galaxies most like {args.like}"
    )
    return 0


# --- the demo and synthetic tables ----------------------------------------------------


def add_demo(commands) -> None:
    from raregal.demo import demo

    default_out = defaults_of(demo)["out"]
    demo = _command(
        commands,
        "demo",
        "the whole search on 5,000 bundled SDSS galaxies, offline",
        text(
            "Embed the bundled sample of 5,000 real SDSS galaxy thumbnails (Galaxy Zoo 2 / "
            "Galaxy Challenge; credits in raregal/data/demo-sdss/README.md) with the bundled "
            "default model, search them with the paper's cuts and min_samples scaled to the "
            "sample, and write the report. Needs the embed extra (torch); no download. "
            "2 to 3.5 minutes on 2 CPU cores the first time (numba compiles), 1 to 1.5 "
            "after (measured in the README)."
        ),
        text(f"example:\n  raregal demo\n  raregal explore {default_out}/run"),
        run_demo,
    )
    add_shared(
        demo,
        out=f"output folder (default {default_out})",
        out_required=False,
        overwrite="start again in DIR",
    )


def run_demo(args) -> int:
    _require_embed_extra("demo")
    from raregal.demo import demo

    demo(overwrite=args.overwrite, verbose=not args.quiet, **given(out=args.out))
    return 0


def add_synthetic(commands) -> None:
    from raregal.measure.synthetic import planted_representations

    made = defaults_of(planted_representations)
    synthetic = _command(
        commands,
        "synthetic",
        "write a synthetic representation table with planted groups",
        text(
            "Write a table shaped like Zoobot representations (id_str, feat_*) with GZ DESI "
            "vote fractions and small dense groups planted in the bulk; the 'planted' column "
            "(-1 for the bulk) is the truth."
        ),
        text(
            "example:\n  raregal synthetic table.parquet --rows 5000\n"
            "  raregal search table.parquet --min-samples scaled --out run/"
        ),
        run_synthetic,
    )
    synthetic.add_argument("out", metavar="TABLE", help="Parquet or CSV file to write")
    synthetic.add_argument(
        "--rows",
        dest="n",
        type=int,
        default=SYNTHETIC_ROWS,
        metavar="N",
        help="galaxies (default %(default)s)",
    )
    synthetic.add_argument("--dim", type=int, metavar="N", help=f"features (default {made['dim']})")
    synthetic.add_argument(
        "--groups",
        dest="n_groups",
        type=int,
        metavar="N",
        help=f"planted groups (default {made['n_groups']})",
    )
    synthetic.add_argument(
        "--group-size",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        help=f"members per group, drawn between MIN and MAX (default {shown(made['group_size'])})",
    )
    add_shared(synthetic, overwrite=None, seed=f"same seed, same table (default {made['seed']})")


#: Rows of ``raregal synthetic`` (the Python function has no default size).
SYNTHETIC_ROWS = 10_000


def run_synthetic(args) -> int:
    from raregal.core.monitor import stderr_printer
    from raregal.io.output import write_table
    from raregal.measure.synthetic import planted_representations

    settings = given(
        dim=args.dim,
        n_groups=args.n_groups,
        seed=args.seed,
        group_size=tuple(args.group_size) if args.group_size else None,
    )
    table = planted_representations(args.n, **settings)
    write_table(table, args.out)
    features = int(table.columns.str.startswith("feat_").sum())
    groups = int(table["planted"].max()) + 1 if len(table) else 0
    stderr_printer(not args.quiet)(
        f"wrote {args.out}: {len(table)} rows, {features} features, {groups} planted groups"
    )
    return 0


# --- measuring discovery: inject, evaluate --------------------------------------------


def add_inject(commands) -> None:
    from raregal.measure.inject import inject as run
    from raregal.measure.inject import synthetic_bulk

    dim, repeats = defaults_of(synthetic_bulk)["dim"], defaults_of(run)["repeats"]
    inject = _command(
        commands,
        "inject",
        "injection-recovery: the sizes and tightness of class the search finds",
        text(
            "Plant groups of chosen size and tightness at random places inside the bulk of "
            "a representation table (or of a synthetic bulk), run the search with the same "
            "settings, and report each group's completeness and purity and the spurious "
            "classes. Tightness t: a group is drawn around a random bulk galaxy with t times "
            f"the RMS radius of its {defaults.INJECT_DENSITY_K} nearest bulk neighbours, "
            "following their local shape (t=1: m members fill their ball, raising the "
            f"density there by m/{defaults.INJECT_DENSITY_K}). Planted rows replace random "
            "bulk rows; no cuts are applied.",
            "Writes DIR/injection.csv, sensitivity.csv, injection.png and injection.json. "
            "Same --seed, same tables.",
        ),
        text(
            "Several --min-samples values cluster the same UMAP embedding (UMAP does not "
            "depend on them), so the settings are compared at the cost of one UMAP.",
            "examples:\n"
            "  raregal inject representations.parquet --out injection/\n"
            "  raregal inject --synthetic 632000 --min-samples 300 30 --out inj632k/",
        ),
        run_inject,
    )
    source = inject.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "representations",
        nargs="?",
        metavar="REPRESENTATIONS",
        help="representation table (id, feat_*)",
    )
    source.add_argument(
        "--synthetic",
        dest="n",
        type=int,
        metavar="N",
        help="plant into a smooth synthetic bulk of N galaxies instead",
    )
    inject.add_argument(
        "--dim", type=int, metavar="N", help=f"features of the synthetic bulk (default {dim})"
    )
    add_shared(
        inject,
        out="output folder",
        seed=f"seeds the planting and the search (default {defaults.SEED})",
        id_col="id column of the table (default: found, as raregal search)",
    )
    inject.add_argument("--features", metavar="GLOB", help="feature columns, e.g. 'emb_*'")
    planting = inject.add_argument_group("planting")
    planting.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        metavar="N",
        help=f"planted group sizes (default {shown(defaults.INJECT_SIZES)})",
    )
    planting.add_argument(
        "--tightness",
        type=float,
        nargs="+",
        metavar="T",
        help=f"group spread relative to the local bulk (default "
        f"{shown(defaults.INJECT_TIGHTNESS)})",
    )
    planting.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help=f"groups per size and tightness (default {repeats})",
    )
    add_method_options(inject, many_min_samples=True)


def run_inject(args) -> int:
    from raregal.measure.inject import check_params, inject, read_bulk

    finder = _finder(args)
    settings = given(
        sizes=args.sizes,
        tightness=args.tightness,
        repeats=args.repeats,
        min_samples=args.min_samples,
        seed=args.seed,
    )
    check_params(finder=finder, **settings)
    bulk = read_bulk(
        args.representations,
        synthetic=args.n,
        **given(dim=args.dim, seed=args.seed, id_column=args.id_column, features=args.features),
    )
    inject(
        bulk.features,
        args.out,
        finder=finder,
        ids=bulk.ids,
        source=bulk.source,
        inputs=[args.representations],
        overwrite=args.overwrite,
        verbose=not args.quiet,
        command=["raregal", *args.argv],
        **settings,
    )
    return 0


def add_evaluate(commands) -> None:
    from raregal.measure.evaluate import PRESETS

    evaluate = _command(
        commands,
        "evaluate",
        "label enrichment of a run's classes, against its permutation null",
        text(
            "Score search runs against known rare types from a label table joined on id. "
            "Per type: base rate; the best class by purity among classes of >= "
            "--min-class-size, its completeness and enrichment over the base rate; that "
            "statistic under --permutations label shuffles over the same classes (median, "
            "95th, 99th percentile) and its p-value; and how many of the type's galaxies sit "
            "in classes where it is significantly enriched (hypergeometric upper tail, "
            "Benjamini-Hochberg over all class x type tests at --fdr). Also: classes "
            f"dominated (>{defaults.DOMINANCE_SHARE:.0%}) by one type, the share of "
            "galaxies in any class, and, for runs that mark classes credible, the type's "
            "enrichment pooled over the credible classes and over the others. Several runs "
            "(say, the model and the pixel baseline) are shown side by side. Classes are "
            "named by their report letter (raregal report).",
            "Writes DIR/evaluation.csv, class_enrichment.csv, summary.txt and evaluation.json.",
        ),
        text(
            "Types: --type NAME=EXPR (a condition on columns in pandas' query syntax, "
            "never run as code; backquote odd names: "
            "'ring=`Class8.1` > 0.5 * `Class6.1`') or --type COLUMN>X (also >=, <, <=, ==).",
            "Presets:\n"
            + "\n".join(f"  {name}: {', '.join(types)}" for name, types in PRESETS.items()),
            "Missing labels: a galaxy with no value (NaN, an empty cell) in a column a type "
            "names is left out of that type's statistics, not counted as a negative; the "
            "log and evaluation.csv's 'unlabelled' column count them. Text among a column's "
            "numbers (or in a COLUMN>X test) is refused, naming the column.",
            "Why the null: with many small classes the best class is enriched several-fold "
            "by chance alone; an enrichment is a discovery only when p is small.",
            "example:\n  raregal evaluate run_model/ run_pixels/ --labels labels.csv \\\n"
            "      --preset gz2-odd --out eval/",
        ),
        run_evaluate,
    )
    evaluate.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="search run folders (model first, then baselines)",
    )
    evaluate.add_argument(
        "--labels",
        required=True,
        metavar="TABLE",
        help="label table with an id column matching the runs'",
    )
    evaluate.add_argument(
        "--type",
        action="append",
        default=[],
        dest="types",
        metavar="NAME=EXPR|COLUMN>X",
        help="a rare type; repeatable",
    )
    evaluate.add_argument(
        "--preset",
        dest="presets",
        action="append",
        default=[],
        metavar="NAME",
        help="a named set of types (see below); repeatable",
    )
    evaluate.add_argument(
        "--names", nargs="+", metavar="NAME", help="run names in the tables (default: folder names)"
    )
    add_shared(
        evaluate,
        out="folder for the tables (default: print the summary only)",
        out_required=False,
        seed=f"seeds the shuffles (default {defaults.SEED})",
        id_col="id column of the label table (default: found, as raregal search)",
    )
    evaluate.add_argument(
        "--min-class-size",
        type=int,
        metavar="N",
        help=f"smallest class eligible as best (default {defaults.EVAL_MIN_CLASS_SIZE})",
    )
    evaluate.add_argument(
        "--permutations",
        type=int,
        metavar="N",
        help=f"label shuffles for the null (default {defaults.EVAL_PERMUTATIONS})",
    )
    evaluate.add_argument(
        "--fdr",
        type=float,
        metavar="F",
        help=f"Benjamini-Hochberg false-discovery rate (default {defaults.EVAL_FDR:g})",
    )


def run_evaluate(args) -> int:
    from raregal.core.monitor import stderr_printer
    from raregal.measure.evaluate import evaluate, parse_types

    result = evaluate(
        args.runs,
        args.labels,
        types=parse_types(args.types, args.presets),
        overwrite=args.overwrite,
        say=stderr_printer(not args.quiet),
        command=["raregal", *args.argv],
        **given(
            out=args.out,
            names=args.names,
            id_column=args.id_column,
            min_class_size=args.min_class_size,
            permutations=args.permutations,
            fdr=args.fdr,
            seed=args.seed,
        ),
    )
    print(result.summary, end="")
    if args.out and not args.quiet:
        print(f"raregal: wrote {args.out}/", file=sys.stderr)
    return 0


# --- the program ----------------------------------------------------------------------

#: The commands, in the order ``raregal --help`` lists them.
COMMANDS = (
    add_search,
    add_embed,
    add_train,
    add_report,
    add_explore,
    add_compare,
    add_rank,
    add_demo,
    add_synthetic,
    add_inject,
    add_evaluate,
    add_baseline,
)

#: What an interrupted command keeps (default: nothing was written).
INTERRUPTED = {
    "embed": "finished shards are kept: rerun with --resume",
    "train": "the last epoch's checkpoint is kept: rerun with --resume",
    "demo": "finished work is kept: rerun raregal demo to go on",
    "explore": "stopped; tags are kept in RUN_DIR/explore-tags.sqlite",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raregal",
        description="Find rare galaxy classes in foundation-model "
        "representations (Walmsley & Scaife 2023).",
        epilog="raregal COMMAND --help explains a command. A first run: raregal demo.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"raregal {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.handler(args)
    except ParameterError as exc:  # named as the user typed it
        print(
            f"raregal: error: {flag_name(args.command, exc.parameter)}: {exc.reason}",
            file=sys.stderr,
        )
        return 2
    except InputError as exc:
        print(f"raregal: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only mount: what failed, where, why
        from raregal.io.output import write_failure

        line = write_failure(exc)
        if line is None:
            raise
        print(f"raregal: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = INTERRUPTED.get(args.command, "nothing was written")
        print(f"raregal: interrupted; {kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
