"""The method's defaults, in one place.

Every number here is taken from Walmsley & Scaife (2023), "Rare Galaxy Classes
Identified In Foundation Model Representations", arXiv:2312.02910 (section 2),
unless marked otherwise. Stages import these names; nothing else in the package
repeats them.
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

# The GZ DESI "friendly" table sets a fraction to NaN where fewer than half of the
# volunteers would have been asked the question (edge-on is NaN wherever
# featured-or-disk < 0.5). A NaN is no evidence *for* the property the cut removes,
# so by default a NaN never triggers a cut ("keep"); "drop" removes such rows instead.
NAN_POLICY = "keep"
# That mask, as Zoobot makes the friendly table from the predictions
# (shared/load_predictions.py, prediction_hdf5_to_summary_parquet: a fraction is kept
# where proportion_asked >= 0.5, NaN below), is laid by raregal on every fraction whose
# proportion asked it knows (the advanced table's, its own from concentrations or
# votes), so that every layout of the same predictions gives the same sample.
ASKED_THRESHOLD = 0.5
MASK_UNASKED = True

# --- Dimensionality reduction (section 2.2) ----------------------------------------
UMAP_N_NEIGHBORS = 50
UMAP_N_COMPONENTS = 5  # clustering space; 2-D keeps only the most notable clusters
MAP_N_COMPONENTS = 2  # the 2-D map is for pictures only, never clustered
# Not stated in the paper, so umap-learn's own default is used and recorded.
UMAP_MIN_DIST = 0.1

# --- Speed (raregal's choices, not the paper's; bench/search.py, issue 7) ----------
# The paper ran umap-learn as it comes: a spectral start, then 200 epochs above
# 10,000 points (500 below). At 632k on 2 cores the spectral start alone took
# ~235 s and each epoch ~1.8 s. Starting from the principal components costs ~2 s,
# and the layout then needs fewer epochs: planted-group recovery at 200k was the
# same (15 of 20) for a spectral start with 200 epochs and a PCA start with 200,
# 100 or 50 (bench note). ``init="spectral", n_epochs=200`` restores umap-learn's.
# 50 at 632k (one run per table, README): 0.32 and 0.36 of the reference's time, the
# same planted groups, no more spurious classes than the default, but an ARI of
# 0.75 with the default on the curved table where two default runs agree at 0.82:
# 100 stays the default, 50 the measured trade (--n-epochs 50).
# Up to 10,000 galaxies umap-learn's own layout (spectral start, 500 epochs) is kept:
# it costs seconds there, and on an 880-galaxy injection test a PCA start split a
# planted group of 80 that the spectral start kept (leaf selection, min_samples 10).
UMAP_INIT = "auto"  # spectral up to 10,000 galaxies, pca above
UMAP_INITS = ("auto", "pca", "spectral")  # the starts raregal offers
# The layout's gradient descent (raregal.layout, issue 37): umap-learn's (the paper's; one
# thread when seeded) until the deterministic parallel one is measured at 50k-632k.
LAYOUT = "umap-learn"
LAYOUTS = ("umap-learn", "deterministic")
UMAP_N_EPOCHS = 100  # above 10,000 galaxies, where umap-learn runs 200
# Fit on a sample (raregal.sample_fit, issue 36): the layout is fitted on FIT_SAMPLE_SIZE
# galaxies drawn at random and every other galaxy is placed from its nearest sample
# galaxies, when a search holds more than FIT_SAMPLE_AUTO_MIN ("auto", the default).
# bench/fit_sample.py at 300k (README): see the figures there.
FIT_SAMPLE = "auto"
FIT_SAMPLE_SIZE = 60_000
FIT_SAMPLE_AUTO_MIN = 250_000
# Rows placed per chunk: the unit of work on a Dask worker and of the parts written as
# they are done (a resumed run redoes at most the chunks in flight). At 50,000 rows x 50
# neighbours a chunk's graph is 30 MB.
FIT_SAMPLE_CHUNK = 50_000
# The 2-D map starts from the 5-D embedding's first two principal components, which
# already hold its classes apart; at 200k, 50 epochs gave planted groups a 10-nearest-
# neighbour purity of 0.90 on the map against 0.91 for umap-learn's own 2-D layout.
MAP_N_EPOCHS = 50  # above 10,000 galaxies
# Below 10,000 galaxies, 200 epochs instead of umap-learn's 500: 10-nearest-neighbour
# purity on the map 0.952 against 0.966 for planted groups in 1,500 rows (2.3 s
# against 5.2 s), 0.974 against 0.981 in 6,000 rows (9.5 s against 19.4 s), and 0.762
# against 0.769 for the demo's classes in 2,152 SDSS galaxies (2.6 s against 7.7 s);
# seed 0, 2 idle cores, 2026-11-29 (issue 17 note). The map is never clustered.
MAP_SMALL_EPOCHS = 200

# --- Sizes that switch the CPU path (raregal.reduce; issue 17) ---------------------
# umap-learn's own: up to 10,000 points it runs 500 layout epochs (200 above), where
# raregal keeps its layout (see Speed above).
UMAP_LARGE_DATA = 10_000
UMAP_SMALL_EPOCHS = 500
# Exact neighbours (scikit-learn, brute force) up to this many points, NN-descent
# above: exact ones need no numba compilation, which NN-descent pays in every new
# process (~23 s on 2 idle cores with pynndescent 0.5, 45-50 s with 0.7.0 at 6,000
# points, 2026-11-29; numba does not cache pynndescent's NN-descent), and
# no seed. bench/neighbours.py, 50 neighbours, 128-d planted tables, 2 cores shared
# at load 12-16: exact 8.7 / 25.1 / 48.1 s against NN-descent's search alone 14.4 /
# 27.1 / 36.3 s at 5k / 10k / 20k, recall 1.000, plus 627 s of compilation at that
# load. At 20k exact costs 1.3x the search alone and saves the compilation; its
# n^2 cost quadruples with each doubling of n (40k was not measured).
EXACT_NEIGHBOURS_MAX = 20_000

# --- Clustering (section 2.3) ------------------------------------------------------
HDBSCAN_MIN_SAMPLES = 300
HDBSCAN_MIN_CLUSTER_SIZE = 10
HDBSCAN_SELECTION = "leaf"  # classes are the leaves of the condensed tree

# The paper's sample after the cuts (632k of 8.7M). Used only to scale min_samples
# to smaller samples on request (see raregal.cluster.scaled_min_samples).
PAPER_SAMPLE_SIZE = 632_000

# --- Redundancy report -------------------------------------------------------------
# Not from the paper (which reports only that a PCA showed the representation to be
# highly redundant): the variance thresholds a reader usually asks about.
VARIANCE_LEVELS = (0.90, 0.95, 0.99)

# --- Images (Zoobot's preprocessing; ../shared/REFERENCE.md) -----------------------
INPUT_SIZE = 224  # pixels per side seen by the encoder
# Central fraction of each side kept before resizing: current galaxy-datasets
# versions zoom by 1.2x (older ones cropped 0.7-0.8 of the area, ~0.87 of the side).
CROP_FRACTION = 1 / 1.2

# --- Morphology predictions --------------------------------------------------------
# Stochastic forward passes of the Dirichlet head (dropout on) averaged per galaxy;
# the GZ DESI catalogue used 5 (../shared/REFERENCE.md).
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
# (../shared/REFERENCE.md, "Viewer links").
VIEWER_URL = "https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}&layer={layer}&zoom=15"
# The viewer layer by sky region (raregal.export.viewer_layer): DR10 reprocessed only
# the southern (DECam) footprint, "Declination <= 32.375°" (legacysurvey.org/dr10/
# description); north of that and of the Galactic plane the BASS/MzLS images are
# DR9 North's ("Dec > 32.375° and North of the Galactic Plane", the DR9 rule for
# joining North and South).
VIEWER_NORTH_DEC = 32.375
VIEWER_LAYERS = {"south": "ls-dr10", "north": "ls-dr9"}
# Caveats the report shows. The paper found < 2% of its 632k galaxies in classes
# (../shared/REFERENCE.md, "The paper's numbers"); a run holding more than five times
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
# this share made of it (as raregal.synthetic.recovery).
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

# --- Which classes are real (raregal's choices, not the paper's; issue 14) ---------------
# min_samples by default follows the sample size (raregal.cluster.scaled_min_samples:
# 300 * sqrt(n / 632k), the paper's 300 at its 632k); an integer forces a value, e.g. the
# paper's 300. Injection-recovery behind it: bench/credibility.py and the issue-14 note.
MIN_SAMPLES = "scaled"
# Layout reruns for each class's stability (raregal.credibility): each reuses the
# neighbour graph and costs one layout and one HDBSCAN. 0 disables stability.
STABILITY_SEEDS = 3
# The default ("auto") makes STABILITY_SEEDS reruns up to this many galaxies and none
# above. Cost: a rerun is one full layout, 982 s and 701 s at 632k seeded on 2 cores
# (bench/credibility.py, seeds 0 and 1, issue-14 notes), so 3 reruns would add 35-49
# minutes to the search. Quality: at 632k with the paper's min_samples 300, dense-or-
# significant (the rule without reruns) kept 8/8 and 9/9 planted classes and dropped
# 67/68 and 61/62 others (seed 1 with reruns: the same); at 200k (min_samples 169)
# 9/9 and 8/8, dropping 65/66 and 53/55 (with reruns 66/66 and 55/55). At min_samples 30
# the reruns matter little at 200k and above: 15/18, 16/16, 16/17 and 16/16 of the
# classes marked credible without them recover a planted group (632k seeds 0 and 1, 200k
# seeds 0 and 1), and with them 15/15 (632k seed 1), 14/14 and 15/15. At 20k and below
# the reruns drop more bulk splits (issue-14 note).
STABILITY_AUTO_MAX = 50_000
# The credible rule (raregal.credibility.credible_rule): a class is credible when it is
# dense -- density contrast (shell / member k-th neighbour distance in the input
# representation) at least CREDIBLE_CONTRAST -- or stable -- mean best-match Jaccard over
# the reruns at least CREDIBLE_STABILITY -- and significant -- its density rise in the
# condensed tree over the density noise (raregal.cluster.leaf_significance) at least
# CREDIBLE_SIGNIFICANCE.
# CREDIBLE_STABILITY and CREDIBLE_CONTRAST were set at 20k (synthetic bulk, 36 planted
# groups; issue-14 note: bulk splits reached stability 0.744 and contrast 1.08 at most).
# CREDIBLE_SIGNIFICANCE was fitted with `bench/credibility.py --rules` on 7 runs: synthetic
# 20k (min_samples 10, 53) and 50k (30, 84, 300), seed 0, and groups planted in the demo's
# real 5,000 x 128 table, seed 0 (10, 27); the grid's best mean over runs of min(real kept,
# spurious dropped). On 18 held-out runs (the real table with seeds 1-3, synthetic 5k
# seed 0, 8k seed 1, 200k and 632k seeds 0 and 1, each at two min_samples; issue-14
# note) it kept 206/240 planted classes and dropped 2,665/2,694 others, and without reruns
# 213/240 and 2,660/2,694, against 192/240 and 2,642/2,694 (without reruns 203/240 and
# 2,578/2,694) for the rule it replaced, with persistence >= 0.05 in place of significance.
CREDIBLE_STABILITY = 0.8
CREDIBLE_CONTRAST = 1.5
CREDIBLE_SIGNIFICANCE = 2.0
# Classes at several scales (raregal.scales, issue 35): SCALES min_samples, halving from the
# search's own, never below SCALE_FLOOR (1 is the paper's single scale). 5 reaches the floor
# from the paper's 300 (300, 150, 75, 38, 19). bench/scales.py at 200k (20 planted groups of
# 10-1,300 in a curved bulk, seeds 0 and 1): credible classes recovered 9 and 9 groups with
# one scale, 17 and 17 with 4, 19 and 17 with 5, every credible class a planted group; the
# extra scales cost 9 % of the search. The floor: the credible rule's significance was
# fitted down to min_samples 10 and tested at 30 at 200k and 632k (above); 15 keeps the
# density estimate's noise, 1/sqrt(min_samples), under 26 %. MAX_SCALES bounds the option.
SCALES = 5
SCALE_FLOOR = 15
MAX_SCALES = 8
# A class of which at least this share of the members repeat another member's exact
# representation is never credible (issue 39): copies are at distance 0, so HDBSCAN's
# density, the condensed tree's significance and the reruns' Jaccard all measure the
# copies. Not fitted: "mostly duplicates" taken literally.
CREDIBLE_MAX_DUPLICATES = 0.5
# raregal compare: a class of run A is "also found" in run B when its best match there
# has at least this Jaccard index (the recovery threshold's one-half, in Jaccard terms).
ALSO_FOUND_JACCARD = 0.5
# --- raregal rank: more like these (raregal's choices, not the paper's) ------------
# bench/discovery.py chose the method and these numbers (README, "Finding more like
# these"): the galaxies shown and how many of them were of the kind.
RANK_TOP = 100  # galaxies written; the benchmark counts the first 100 shown
# "hybrid": the logistic regression with the distances to the nearest example and
# unlike galaxy as two more features. On gz-kaggle-5000 (10 draws, 5 examples + 10
# rounds of 10) it showed 20.4, 32.8, 24.5 mergers, rings, irregulars among 100
# against 24.2, 32.7, 23.8 for the logistic regression alone, and on a 632k synthetic
# table 99.5, 100, 99, 85 of four planted groups of 90-178 from 5 examples, where the
# logistic regression alone showed 0, 40, 0, 30.5 (README).
RANK_METHOD = "hybrid"
# Unlabelled galaxies drawn (seeded) as the background of the logistic regression: a
# sample keeps the fit to a second at 632k.
RANK_BACKGROUND = 20_000
# Inverse L2 strength of the logistic regression on standardised features: on
# gz-kaggle-5000 (mergers, rings, irregulars; 5 draws, 5 examples then 10 rounds of 10)
# C = 0.01 showed 27.2, 32.0 and 21.6 of the type among 100 suggested, against 25.0,
# 31.8, 20.0 at 0.1, 22.4, 31.6, 15.6 at 1, 17.4, 29.8, 15.4 at 10 and 19.2, 25.4, 21.4
# at 0.001.
RANK_C = 0.01
# The explorer's "suggest next": galaxies per round, as in the loop bench/discovery.py
# measures (5 examples, then rounds of 10 labelled suggestions; issue 35); at most
# SUGGEST_MAX a round, a page of thumbnails.
SUGGEST_PER_ROUND = 10
SUGGEST_MAX = 100
# --- The rarity score (raregal.rarity; raregal's choice, bench/discovery.py) --------
# The distance to the k-th nearest neighbour in the searched representation, read off
# the search's neighbour graph (UMAP_N_NEIGHBORS wide, the galaxy itself first).
RARITY_K = 10
