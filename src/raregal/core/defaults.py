"""The method's defaults, in one place.

Every number here is taken from Walmsley & Scaife (2023), "Rare Galaxy Classes
Identified In Foundation Model Representations", arXiv:2312.02910 (section 2),
unless marked otherwise. Stages import these names; nothing else in the package
repeats them. Each default has one line of why; the measurements behind raregal's
own choices are in docs/decisions/ (one page per topic) and docs/benchmarks.md, the
conventions taken from Zoobot and Galaxy Zoo in docs/conventions.md.
"""

# --- Morphology cuts (section 2.1) -------------------------------------------------
# Galaxies are dropped when a predicted Galaxy Zoo DESI vote fraction reaches the
# threshold. Column names follow the GZ DESI catalogue, `{question}_{answer}_fraction`.
SMOOTH_COLUMN = "smooth-or-featured_smooth_fraction"
EDGE_ON_COLUMN = "disk-edge-on_yes_fraction"
ARTIFACT_COLUMN = "smooth-or-featured_artifact_fraction"

SMOOTH_THRESHOLD = 0.5  # featureless galaxies
EDGE_ON_THRESHOLD = 0.3  # edge-on discs
ARTIFACT_THRESHOLD = 0.3  # artifacts; kept in the paper's artifact experiment

# A NaN (the friendly table's "not asked") is no evidence *for* the property a cut
# removes, so it never triggers a cut; "drop" removes such rows instead.
NAN_POLICY = "keep"
# Zoobot's friendly-table mask (NaN where a question was asked with probability < 0.5),
# laid on every fraction whose probability raregal knows, so that every layout of the
# same predictions gives the same sample (docs/conventions.md, "Vote-fraction columns").
ASKED_THRESHOLD = 0.5
MASK_UNASKED = True

# --- Dimensionality reduction (section 2.2) ----------------------------------------
UMAP_N_NEIGHBORS = 50
UMAP_N_COMPONENTS = 5  # clustering space; 2-D keeps only the most notable clusters
MAP_N_COMPONENTS = 2  # the 2-D map is for pictures only, never clustered
# Not stated in the paper, so umap-learn's own default is used and recorded.
UMAP_MIN_DIST = 0.1

# --- Speed (raregal's choices, not the paper's; docs/decisions/layout.md) ----------
# A PCA start costs ~2 s where the spectral one took ~235 s at 632k, and needs fewer
# epochs for the same planted groups; up to 10,000 galaxies umap-learn's layout is kept.
UMAP_INIT = "auto"  # spectral up to 10,000 galaxies, pca above
UMAP_INITS = ("auto", "pca", "spectral")  # the starts raregal offers
# raregal.method.layout's descent: parallel, and the same for a seed on any number of
# threads; the same planted groups, trustworthiness and neighbours as umap-learn's, and
# classes that agree with umap-learn's about as well as umap-learn's agree with its own
# on the same rows in another order (docs/decisions/layout.md). "umap-learn" is the paper's.
LAYOUT = "deterministic"
LAYOUTS = ("umap-learn", "deterministic")
UMAP_N_EPOCHS = 100  # above 10,000 galaxies, where umap-learn runs 200; 50 agreed less
# Fit on a sample (raregal.method.sample_fit, issue 36): the layout is fitted on
# FIT_SAMPLE_SIZE galaxies drawn at random and every other galaxy is placed from its
# nearest sample galaxies, when a search holds at least FIT_SAMPLE_AUTO_MIN ("auto",
# the default). bench/fit_sample.py at 300k, seed 0, 2 shared cores: 60k fitted took
# 0.30 of the full fit's time (109 s against 370 s) and recovered as many planted
# groups (10 of 12; README); the size where it was measured is where "auto" starts.
FIT_SAMPLE = "auto"
FIT_SAMPLE_SIZE = 60_000
FIT_SAMPLE_AUTO_MIN = 300_000
# Rows placed per chunk: the unit of work on a Dask worker and of the parts written as
# they are done (a resumed run redoes at most the chunks in flight). At 50,000 rows x 50
# neighbours a chunk's graph is 30 MB.
FIT_SAMPLE_CHUNK = 50_000
# The sample's UMAP neighbours and the sample galaxies a galaxy is placed from. A
# sample galaxy's k nearest sample galaxies stand for ~k n/N galaxies of the whole, so
# the paper's 50 at a fifth of 300k draws a neighbourhood five times wider than the
# full fit's, and placing from 49 pulls a small group's members towards the bulk.
# bench/fit_sample.py at 300k, 60k sample, seed 0 (12 planted groups of 20-150): planted
# groups recovered 8 with 50 and 49, 8 with 50 and 5, 9 with 50 and 10, 9 with 50 and
# 10 at a 100k sample, 9 with 25 and 10, 9 with 15 and 49, 10 with 15 and 10 (the full
# fit: 10; README). The cost: groups of 40-67 members *in the sample* (3,000 rows,
# 1,000 fitted, tests/test_sample_fit.py) can split: 4 of 6 there, against 5 of 6 with
# 50 and 10, 25 and 10, 15 and 49, and for the full fit.
FIT_SAMPLE_N_NEIGHBORS = 15
FIT_SAMPLE_PLACE_NEIGHBOURS = 10
# The map starts from the 5-D embedding's principal components: 50 epochs keep its
# neighbour purity (0.90 against umap-learn's own 2-D layout's 0.91 at 200k).
MAP_N_EPOCHS = 50  # above 10,000 galaxies
# Below 10,000 galaxies, 200 epochs instead of umap-learn's 500: the map's neighbour
# purity drops by 0.007-0.014 for a third of the time.
MAP_SMALL_EPOCHS = 200

# --- Sizes that switch the CPU path (raregal.method.reduce; docs/decisions/layout.md) -----
# umap-learn's own: up to 10,000 points it runs 500 layout epochs (200 above).
UMAP_LARGE_DATA = 10_000
UMAP_SMALL_EPOCHS = 500
# Exact neighbours up to here, NN-descent above: up to it brute force costs no more than
# NN-descent and the compilation it still pays in each new process (2.1 s against 1.5 +
# 0.7 s at 20k on 2 cores; bench/neighbours.py), and has no randomness.
EXACT_NEIGHBOURS_MAX = 20_000

# --- Clustering (section 2.3) ------------------------------------------------------
HDBSCAN_MIN_SAMPLES = 300
HDBSCAN_MIN_CLUSTER_SIZE = 10
HDBSCAN_SELECTION = "leaf"  # classes are the leaves of the condensed tree

# The paper's sample after the cuts (632k of 8.7M). Used only to scale min_samples
# to smaller samples on request (see raregal.method.cluster.scaled_min_samples).
PAPER_SAMPLE_SIZE = 632_000

# --- Redundancy report -------------------------------------------------------------
# Not from the paper (which reports only that a PCA showed the representation to be
# highly redundant): the variance thresholds a reader usually asks about.
VARIANCE_LEVELS = (0.90, 0.95, 0.99)

# --- Images (Zoobot's preprocessing; docs/conventions.md, "Preprocessing") ---------
INPUT_SIZE = 224  # pixels per side seen by the encoder
# Central fraction of each side kept before resizing: current galaxy-datasets
# versions zoom by 1.2x (older ones cropped 0.7-0.8 of the area, ~0.87 of the side).
CROP_FRACTION = 1 / 1.2

# --- Morphology predictions --------------------------------------------------------
# Stochastic forward passes of the Dirichlet head (dropout on) averaged per galaxy;
# the GZ DESI catalogue used 5 (docs/conventions.md, "Head").
PREDICTION_PASSES = 5
HEAD_DROPOUT = 0.2

# --- Training ----------------------------------------------------------------------
# Volunteers assumed per galaxy when labels are fractions, not counts: about the
# number of Galaxy Zoo 2 classifications per galaxy (Willett et al. 2013, median ~44).
PSEUDO_COUNT = 40.0
BOTTLENECK = 128  # the paper's retrained representation size

# --- Report (raregal's choices, not the paper's) -------------------------------------
GALLERY_SIZE = 16  # galaxies shown per class, most confident members first
THUMBNAIL_PX = 128  # side of the gallery thumbnails copied into the report
# A class "differs" in a vote fraction when its mean lies at least this many standard
# deviations of the searched sample from the sample's mean: an effect size, because
# with dozens of members almost any difference is statistically significant.
LABEL_EFFECT_SIZE = 1.0
# Legacy Surveys viewer, for galaxies with RA/Dec but no local image
# (docs/conventions.md, "Viewer links").
VIEWER_URL = "https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}&layer={layer}&zoom=15"
# The viewer layer by sky region (raregal.io.export.viewer_layer): DR10 reprocessed only
# the southern footprint, Dec <= 32.375°; north of it DR9 North's BASS/MzLS images
# (docs/conventions.md, "Viewer links").
VIEWER_NORTH_DEC = 32.375
VIEWER_LAYERS = {"south": "ls-dr10", "north": "ls-dr9"}
# Caveats the report shows. The paper found < 2% of its 632k galaxies in classes
# (docs/conventions.md, "The paper's numbers"); a run holding more than five times
# that share (raregal's choice) is not finding *rare* classes: usually a small
# or in-sample test set where min_samples no longer means what it did.
PAPER_FRACTION_IN_CLASSES = 0.02
CAVEAT_FRACTION_IN_CLASSES = 5 * PAPER_FRACTION_IN_CLASSES
# Below a tenth of the paper's searched sample (raregal's choice: an order of
# magnitude), min_samples=300, chosen for 632k, spans ten times the share of the
# sample per neighbourhood, and the paper's classes of tens of galaxies would hold
# a few: the report says the sample is small.
SMALL_SAMPLE = PAPER_SAMPLE_SIZE // 10

# --- Evaluation (not from the paper, which had no benchmark) -------------------------
# Smallest class whose purity may be the "best class" for a rare type: below five
# members a single galaxy moves the purity by 20% or more.
EVAL_MIN_CLASS_SIZE = 5
# Label permutations for the null of the best-class purity; p-values resolve 1/1001.
EVAL_PERMUTATIONS = 1000
# False-discovery rate of the Benjamini-Hochberg correction over all class x type
# hypergeometric tests; a class "dominated" by a type holds more than this share of it.
EVAL_FDR = 0.05
DOMINANCE_SHARE = 0.5

# --- Pixel baseline ------------------------------------------------------------------
# PCA of the raw pixels, the control for what a learned representation adds: images
# cropped as the encoder sees them, shrunk to BASELINE_SIZE pixels a side, and kept to
# the paper's retrained representation size, so both searches see 128 numbers.
BASELINE_SIZE = 32
BASELINE_COMPONENTS = BOTTLENECK

# --- Injection-recovery --------------------------------------------------------------
# Planted group sizes, from the smallest class HDBSCAN may return (min_cluster_size)
# up; tightness is the group's spread as a multiple of its centre's neighbourhood of
# INJECT_DENSITY_K bulk galaxies (UMAP's own n_neighbors, the scale it sees).
INJECT_SIZES = (10, 20, 50, 100, 300, 1000)
INJECT_TIGHTNESS = (0.1, 0.3, 1.0)
INJECT_DENSITY_K = UMAP_N_NEIGHBORS
# A group is recovered when one class holds at least this share of it and is at least
# this share made of it (as raregal.measure.synthetic.recovery).
RECOVERY_THRESHOLD = 0.5

# --- Run settings (raregal's choices, not the paper's) -------------------------------
# Throughput and bookkeeping settings that change no result's meaning (a seed aside),
# named here so that each function's signature and the command line's help read one
# number. None of them was tuned; they are the values raregal has always used.
SEED = 0  # the default seed of every seeded stage but the search (unseeded: threads)
EMBED_BATCH_SIZE = 64
EMBED_SHARD_SIZE = 2048  # images per resumable shard: what an interruption loses at most
TRAIN_SCHEMA = "gz2"  # the label tables raregal was first trained on
TRAIN_ARCH = "efficientnet_b0"  # the architecture of Zoobot's original encoder
TRAIN_EPOCHS = 10
TRAIN_BATCH_SIZE = 64
TRAIN_LEARNING_RATE = 1e-3  # AdamW's (torch's) own default rate
TRAIN_VAL_FRACTION = 0.2

# --- Which classes are real (raregal's choices; docs/decisions/credibility.md) -----
# min_samples follows the sample, 300 * sqrt(n / 632k) (raregal.method.cluster.scaled_min_samples),
# as planted groups are found from about min_samples members up; an integer forces one.
MIN_SAMPLES = "scaled"
# Layout reruns for each class's stability (raregal.method.credibility), at every size
# ("auto", since the deterministic layout runs them on every core; issue 37): each is a
# layout of STABILITY_N_EPOCHS epochs and an HDBSCAN at each scale;
# docs/decisions/credibility.md has what they change. 0: none.
STABILITY_SEEDS = 3
# A rerun's layout epochs above 10,000 galaxies (the search's own: UMAP_N_EPOCHS). At 50k
# (bench/credibility.py, min_samples 84 and 30) 50 kept and dropped the same classes at
# the scaled min_samples as 100, in under half the time; 30 lost 2 of 12 real classes.
STABILITY_N_EPOCHS = 50
# Credible: dense (contrast >= CREDIBLE_CONTRAST) or stable (>= CREDIBLE_STABILITY) and
# significant (>= CREDIBLE_SIGNIFICANCE). Stability and contrast are set above the bulk
# splits of a synthetic 20k search; significance fitted on 7 runs, tested on 18 others.
CREDIBLE_STABILITY = 0.8
CREDIBLE_CONTRAST = 1.5
CREDIBLE_SIGNIFICANCE = 2.0
# Classes at several scales (raregal.method.scales; docs/decisions/scales.md): 5 scales reach
# the floor from the paper's 300 and recovered 17-19 planted groups of 20 against 9 with
# one scale; 15 keeps the density noise, 1/sqrt(min_samples), under 26 %.
SCALES = 5
SCALE_FLOOR = 15
MAX_SCALES = 8
# Copies sit at distance 0, so every density measure measures the copies: a class
# mostly of duplicates is never credible. Not fitted: "mostly" taken literally.
CREDIBLE_MAX_DUPLICATES = 0.5
# raregal compare: a class of run A is "also found" in run B when its best match there
# has at least this Jaccard index (the recovery threshold's one-half, in Jaccard terms).
ALSO_FOUND_JACCARD = 0.5
# --- raregal rank: more like these (raregal's choices; docs/decisions/discovery.md) -
RANK_TOP = 100  # galaxies written; the benchmark counts the first 100 shown
# The logistic regression plus the distances to the nearest example and unlike galaxy:
# as good on real types as the features alone, and it finds tight groups they miss.
RANK_METHOD = "hybrid"
# Unlabelled galaxies drawn (seeded) as the background of the logistic regression: a
# sample keeps the fit to a second at 632k.
RANK_BACKGROUND = 20_000
# Inverse L2 strength on standardised features: the best of 0.001-10 on gz-kaggle-5000.
RANK_C = 0.01
# The explorer's "suggest next": galaxies per round, as in the loop bench/discovery.py
# measures (5 examples, then rounds of 10); at most SUGGEST_MAX, a page of thumbnails.
SUGGEST_PER_ROUND = 10
SUGGEST_MAX = 100
# The explorer's map (raregal.explore.view): every galaxy is drawn up to this many; above,
# the map opens as a density layer and draws points once a view holds at most this many.
# bench/explore_load.py, headless Chromium, software WebGL, 2 shared cores: the whole map
# drawn 3.6 s after opening at 200k galaxies and 12 s at 632k (the 10 s target missed).
EXPLORE_POINTS_MAX = 200_000
# Density cells across the view's longer side: at most 256 x 256 = 65,536 cells, drawn
# as points by the same WebGL map, each the size of its cell (a few pixels on a screen).
EXPLORE_DENSITY_BINS = 256
# --- The rarity score (raregal.method.rarity; docs/decisions/discovery.md) -----------------
# The distance to the k-th nearest neighbour in the searched representation, read off
# the search's neighbour graph; the 10th ranked odd galaxies highest of the candidates.
RARITY_K = 10
