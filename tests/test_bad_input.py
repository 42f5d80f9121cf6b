"""Bad input to every command: exit status 2, one line on stderr that names the
problem, no traceback, no output left behind, and an existing output untouched.

Every case fails at the validation that comes before any work (parameters are
checked in their own terms by :mod:`raregal.core.params`, and the command line names
the flag), so the whole file runs in seconds. The inputs are small and built in
a temporary folder.
"""

import shutil

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main

KAGGLE = "gz-kaggle-5000"
TRAIN = [
    "--images",
    "{images}",
    "--questions",
    "smooth-or-featured,disk-edge-on",
    "--arch",
    "test_efficientnet",
    "--size",
    "48",
    "--epochs",
    "1",
    "--quiet",
]


@pytest.fixture(scope="module")
def files(data_dir, planted, tmp_path_factory):
    """Small inputs: representation tables (good, identical rows, a NaN feature),
    four real JPEGs, catalogues and Galaxy Challenge label tables."""
    root = tmp_path_factory.mktemp("bad_input")
    planted.to_parquet(root / "reps.parquet", index=False)
    features = [c for c in planted.columns if c.startswith("feat_")]
    same = planted.copy()
    same[features] = 0.25
    same.to_parquet(root / "same.parquet", index=False)
    nan = planted.copy()
    nan.loc[[3, 7], features[0]] = np.nan
    nan.to_parquet(root / "nan.parquet", index=False)

    labels = pd.read_csv(data_dir / KAGGLE / "labels.csv.gz").head(4)
    (root / "images").mkdir()
    for galaxy in labels["GalaxyID"]:
        shutil.copy(data_dir / KAGGLE / "images" / f"{galaxy}.jpg", root / "images")
    labels.to_csv(root / "labels.csv", index=False)
    labels.assign(**{"Class1.1": [0.5, 7.0, 0.2, 0.1]}).to_csv(root / "labels7.csv", index=False)
    catalogue = pd.DataFrame(
        {
            "id_str": labels["GalaxyID"].astype(str),
            "file_loc": [f"images/{g}.jpg" for g in labels["GalaxyID"]],
        }
    )
    catalogue.to_csv(root / "catalogue.csv", index=False)
    catalogue.drop(columns="file_loc").to_csv(root / "no_paths.csv", index=False)
    catalogue.assign(id_str="same").to_csv(root / "dup_ids.csv", index=False)
    (root / "empty").mkdir()
    return {
        "reps": root / "reps.parquet",
        "same": root / "same.parquet",
        "nan": root / "nan.parquet",
        "images": root / "images",
        "labels": root / "labels.csv",
        "labels7": root / "labels7.csv",
        "catalogue": root / "catalogue.csv",
        "no_paths": root / "no_paths.csv",
        "dup_ids": root / "dup_ids.csv",
        "empty": root / "empty",
        "missing": root / "absent.parquet",
    }


def case(name, argv, message):
    return pytest.param(argv, message, id=name)


SEARCH = ["search", "{reps}", "--out", "{out}", "--quiet"]
EMBED = ["embed", "{images}", "--out", "{out}", "--workers", "0", "--quiet"]
INJECT = [
    "inject",
    "--synthetic",
    "600",
    "--dim",
    "4",
    "--sizes",
    "20",
    "--min-samples",
    "10",
    "--out",
    "{out}",
    "--quiet",
]
BASELINE = ["baseline", "{images}", "--out", "{out}", "--quiet"]
EVALUATE = [
    "evaluate",
    "{empty}",
    "--labels",
    "{labels}",
    "--type",
    "merger=`Class1.3` > 0.5",
    "--out",
    "{out}",
]

#: (argv, a fragment of the one line): the validation the command does itself.
CASES = [
    # search: the estimator's parameters, named as flags, then the data
    case(
        "search-n-neighbors-1",
        [*SEARCH, "--n-neighbors", "1"],
        "--n-neighbors: must be an integer >= 2, not 1",
    ),
    case("search-n-neighbors-0", [*SEARCH, "--n-neighbors", "0"], "--n-neighbors: must be"),
    case(
        "search-min-cluster-size-0",
        [*SEARCH, "--min-cluster-size", "0"],
        "--min-cluster-size: must be an integer >= 2, not 0",
    ),
    case(
        "search-min-cluster-size-1",
        [*SEARCH, "--min-cluster-size", "1"],
        "--min-cluster-size: must be an integer >= 2, not 1",
    ),
    case(
        "search-min-samples-0",
        [*SEARCH, "--min-samples", "0"],
        "--min-samples: must be an integer >= 1 or 'scaled', not 0",
    ),
    case(
        "search-n-components-0",
        [*SEARCH, "--n-components", "0"],
        "--n-components: must be an integer in [2, 100], not 0",
    ),
    case(
        "search-n-components-1",
        [*SEARCH, "--n-components", "1"],
        "--n-components: must be an integer in [2, 100], not 1",
    ),
    case(
        "search-min-dist-nan",
        [*SEARCH, "--min-dist", "nan"],
        "--min-dist: must be a number in [0, 1], not nan",
    ),
    case("search-min-dist-negative", [*SEARCH, "--min-dist", "-0.5"], "--min-dist: must be"),
    case("search-min-dist-inf", [*SEARCH, "--min-dist", "inf"], "--min-dist: must be"),
    case(
        "search-n-epochs-0",
        [*SEARCH, "--n-epochs", "0"],
        "--n-epochs: must be an integer in [1, 10000] or 'auto', not 0",
    ),
    case("search-pca-0", [*SEARCH, "--pca", "0"], "--pca: must be an integer >= 1, not 0"),
    case("search-seed-negative", [*SEARCH, "--seed", "-1"], "--seed: must be an integer in"),
    # bounds on what sizes memory or time (issue 39: these ran out of memory or hung)
    case(
        "search-stability-seeds-huge",
        [*SEARCH, "--stability-seeds", "99999999999999"],
        "--stability-seeds: must be an integer in [0, 100] or 'auto', not 99999999999999",
    ),
    case(
        "search-seed-reruns-past-range",
        [*SEARCH, "--seed", "4294967294"],
        "--seed: must be at most 4294967292 for 3 reruns (seeds seed+1 to seed+3 <= "
        "4294967295), not 4294967294",
    ),
    case(
        "search-seed-reruns-given",
        [*SEARCH, "--seed", "4294967196", "--stability-seeds", "100"],
        "--seed: must be at most 4294967195 for 100",
    ),
    case(
        "search-n-epochs-huge",
        [*SEARCH, "--n-epochs", "100000000000"],
        "--n-epochs: must be an integer in [1, 10000] or 'auto', not 100000000000",
    ),
    case(
        "search-n-components-huge",
        [*SEARCH, "--n-components", "100000000"],
        "--n-components: must be an integer in [2, 100], not 100000000",
    ),
    case(
        "search-featureless-cut-nan",
        [*SEARCH, "--featureless-cut", "nan"],
        "--featureless-cut: must be a number in [0, 1], not nan",
    ),
    case(
        "search-edge-on-cut-above-1",
        [*SEARCH, "--edge-on-cut", "1.5"],
        "--edge-on-cut: must be a number in [0, 1], not 1.5",
    ),
    case(
        "search-artifact-cut-inf",
        [*SEARCH, "--artifact-cut", "inf"],
        "--artifact-cut: must be a number in [0, 1], not inf",
    ),
    case(
        "search-pca-above-features",
        [*SEARCH, "--pca", "99", "--min-samples", "scaled"],
        "--pca: must be between 1 and the 16 features, not 99",
    ),
    case(
        "search-n-neighbors-above-rows",
        [*SEARCH, "--n-neighbors", "5000", "--min-samples", "scaled"],
        "not more than n_neighbors=5000",
    ),
    case(
        "search-min-samples-above-rows",
        [*SEARCH, "--min-samples", "5000"],
        "not more than min_samples=5000",
    ),
    case(
        "search-fit-sample-above-rows",
        [*SEARCH, "--fit-sample", "5000"],
        "reps.parquet: --fit-sample 5000: more than the 897 galaxies to search",
    ),
    case(
        "search-fit-sample-below-neighbours",
        [*SEARCH, "--fit-sample", "50"],
        "--fit-sample 50: not more than n_neighbors=50",
    ),
    case(
        "search-fit-sample-two",
        [*SEARCH, "--fit-sample", "2"],
        "--fit-sample: must be an integer >= 3",
    ),
    case(
        "search-dask-local-zero",
        [*SEARCH, "--fit-sample", "500", "--dask-local", "0"],
        "--dask-local: must be an integer in [1, 1024], not 0",
    ),
    case(
        "search-identical-rows",
        ["search", "{same}", "--out", "{out}", "--quiet", "--min-samples", "scaled"],
        "same.parquet: all 897 galaxies to search have the same representation",
    ),
    case(
        "search-nan-features",
        ["search", "{nan}", "--out", "{out}", "--quiet"],
        "nan.parquet: 2 rows have NaN or infinite",
    ),
    case(
        "search-missing-file",
        ["search", "{missing}", "--out", "{out}", "--quiet"],
        "absent.parquet: no such file",
    ),
    case(
        "search-image-folder",
        ["search", "{images}", "--out", "{out}", "--quiet"],
        "images: a folder, where a table was expected; a folder of images is embedded "
        "first: raregal embed",
    ),
    case(
        "search-image-folder-as-predictions",
        [*SEARCH, "--predictions", "{images}"],
        "images: a folder, where a table was expected",
    ),
    case(
        "search-cuts-remove-all", [*SEARCH, "--featureless-cut", "0"], "nothing left after the cuts"
    ),
    # embed: checked before the catalogue is read or the model loaded
    case(
        "embed-crop-fraction-0",
        [*EMBED, "--crop-fraction", "0"],
        "--crop-fraction: must be a number in (0, 1], not 0",
    ),
    case(
        "embed-crop-fraction-above-1",
        [*EMBED, "--crop-fraction", "1.5"],
        "--crop-fraction: must be",
    ),
    case("embed-crop-fraction-nan", [*EMBED, "--crop-fraction", "nan"], "--crop-fraction: must be"),
    case(
        "embed-size-0", [*EMBED, "--size", "0"], "--size: must be an integer in [32, 2048], not 0"
    ),
    case(
        "embed-size-16",
        [*EMBED, "--size", "16"],
        "--size: must be an integer in [32, 2048], not 16",
    ),
    case(
        "embed-shard-size-0",
        [*EMBED, "--shard-size", "0"],
        "--shard-size: must be an integer in [1, 1000000], not 0",
    ),
    case(
        "embed-batch-size-0",
        [*EMBED, "--batch-size", "0"],
        "--batch-size: must be an integer in [1, 8192], not 0",
    ),
    case(
        "embed-passes-0",
        [*EMBED, "--passes", "0"],
        "--passes: must be an integer in [1, 100], not 0",
    ),
    case(
        "embed-device-tpu",
        [*EMBED, "--device", "tpu"],
        "--device: must be auto, cpu, mps, cuda or cuda:N, not 'tpu'",
    ),
    case(
        "embed-workers-negative",
        [*EMBED, "--workers", "-1"],
        "--workers: must be an integer in [0, 1024], not -1",
    ),
    case("embed-seed-negative", [*EMBED, "--seed", "-3"], "--seed: must be an integer in"),
    case("embed-dask-local-0", [*EMBED, "--dask-local", "0"], "--dask-local: must be"),
    case(
        "embed-passes-huge",
        [*EMBED, "--passes", "100000000000"],
        "--passes: must be an integer in [1, 100], not 100000000000",
    ),
    case(
        "embed-batch-size-huge",
        [*EMBED, "--batch-size", "100000000000"],
        "--batch-size: must be an integer in [1, 8192], not 100000000000",
    ),
    case(
        "embed-shard-size-huge",
        [*EMBED, "--shard-size", "100000000000"],
        "--shard-size: must be an integer in [1, 1000000], not 100000000000",
    ),
    case(
        "embed-workers-huge",
        [*EMBED, "--workers", "100000000000"],
        "--workers: must be an integer in [0, 1024], not 100000000000",
    ),
    case(
        "embed-dask-local-huge",
        [*EMBED, "--dask-local", "100000000000"],
        "--dask-local: must be an integer in [1, 1024], not 100000000000",
    ),
    case(
        "embed-size-huge",
        [*EMBED, "--size", "100000"],
        "--size: must be an integer in [32, 2048], not 100000",
    ),
    case(
        "embed-missing-source",
        ["embed", "{missing}", "--out", "{out}", "--quiet"],
        "absent.parquet",
    ),
    case("embed-no-images", ["embed", "{empty}", "--out", "{out}", "--quiet"], "no images"),
    case(
        "embed-no-path-column",
        ["embed", "{no_paths}", "--out", "{out}", "--quiet"],
        "no_paths.csv: no image path column",
    ),
    case(
        "embed-duplicate-ids",
        ["embed", "{dup_ids}", "--out", "{out}", "--quiet"],
        "dup_ids.csv: 4 rows share an id",
    ),
    # train
    case(
        "train-schema",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--schema", "nope"],
        "--schema: must be one of 'gz_desi', 'gz2', not 'nope'",
    ),
    case(
        "train-questions",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--questions", "nope"],
        "--questions: gz2 has no question nope",
    ),
    case(
        "train-arch",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--arch", "not_an_arch"],
        "--arch: must be a timm architecture (timm.list_models()), not 'not_an_arch'",
    ),
    case(
        "train-learning-rate-nan",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--learning-rate", "nan"],
        "--learning-rate: must be a number > 0, not nan",
    ),
    case(
        "train-learning-rate-0",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--learning-rate", "0"],
        "--learning-rate: must be",
    ),
    case(
        "train-pseudo-count-0",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--pseudo-count", "0"],
        "--pseudo-count: must be a number > 0, not 0",
    ),
    case(
        "train-bottleneck-0",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--bottleneck", "0"],
        "--bottleneck: must be an integer in [1, 8192], not 0",
    ),
    case(
        "train-epochs-0",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--epochs", "0"],
        "--epochs: must be an integer in [1, 10000], not 0",
    ),
    case(
        "train-batch-size-0",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--batch-size", "0"],
        "--batch-size: must be",
    ),
    case(
        "train-val-fraction-1",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--val-fraction", "1"],
        "--val-fraction: must be a number in (0, 1), not 1",
    ),
    case(
        "train-split-leaves-no-training",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--val-fraction", "0.999"],
        "readable images leave no training galaxies",
    ),  # found after decoding them
    case(
        "train-crop-fraction-0",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--crop-fraction", "0"],
        "--crop-fraction: must be",
    ),
    case(
        "train-seed-negative",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--seed", "-1"],
        "--seed: must be",
    ),
    case(
        "train-fractions-above-1",
        ["train", "{labels7}", "--out", "{out}", *TRAIN],
        "labels7.csv: 1 rows have vote fractions outside [0, 1] in 'Class1.1' (e.g. 7)",
    ),
    case(
        "train-epochs-huge",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--epochs", "100000000000"],
        "--epochs: must be an integer in [1, 10000], not 100000000000",
    ),
    case(
        "train-batch-size-huge",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--batch-size", "100000000000"],
        "--batch-size: must be an integer in [1, 8192], not 100000000000",
    ),
    case(
        "train-bottleneck-huge",
        ["train", "{labels}", "--out", "{out}", *TRAIN, "--bottleneck", "100000000000"],
        "--bottleneck: must be an integer in [1, 8192], not 100000000000",
    ),
    case(
        "train-missing-labels", ["train", "{missing}", "--out", "{out}", *TRAIN], "absent.parquet"
    ),
    # inject
    case(
        "inject-tightness-nan",
        [*INJECT, "--tightness", "nan"],
        "--tightness: must be a list, each a number > 0, not nan",
    ),
    case("inject-tightness-0", [*INJECT, "--tightness", "0.1", "0"], "--tightness: must be"),
    case(
        "inject-sizes-1",
        [*INJECT, "--sizes", "1"],
        "--sizes: must be a list, each an integer in [2, 10000000], not 1",
    ),
    case(
        "inject-repeats-0",
        [*INJECT, "--repeats", "0"],
        "--repeats: must be an integer in [1, 1000], not 0",
    ),
    case("inject-min-samples-0", [*INJECT, "--min-samples", "0"], "--min-samples: must be"),
    case("inject-n-neighbors-1", [*INJECT, "--n-neighbors", "1"], "--n-neighbors: must be"),
    case("inject-seed-negative", [*INJECT, "--seed", "-1"], "--seed: must be"),
    case(
        "inject-synthetic-negative",
        ["inject", "--synthetic", "-5", "--out", "{out}"],
        "--synthetic: must be an integer in [51, 10000000], not -5",
    ),
    case(
        "inject-too-many-planted",
        [*INJECT, "--sizes", "700", "--tightness", "0.5"],
        "planted groups need 700 rows plus 1 centres, more than the 600",
    ),
    case(
        "inject-synthetic-huge",
        ["inject", "--synthetic", "100000000000", "--out", "{out}"],
        "--synthetic: must be an integer in [51, 10000000], not 100000000000",
    ),
    case(
        "inject-dim-huge",
        ["inject", "--synthetic", "600", "--dim", "100000000", "--out", "{out}"],
        "--dim: must be an integer in [1, 4096], not 100000000",
    ),
    case(
        "inject-repeats-huge",
        [*INJECT, "--repeats", "100000000000"],
        "--repeats: must be an integer in [1, 1000], not 100000000000",
    ),
    case(
        "inject-sizes-huge",
        [*INJECT, "--sizes", "20", "100000000000"],
        "--sizes: must be a list, each an integer in [2, 10000000], not 20 100000000000",
    ),
    case("inject-missing-table", ["inject", "{missing}", "--out", "{out}"], "absent.parquet"),
    # synthetic
    case(
        "synthetic-rows-100",
        ["synthetic", "{out}.parquet", "--rows", "100"],
        "--rows: must be more than the",
    ),
    case(
        "synthetic-rows-1",
        ["synthetic", "{out}.parquet", "--rows", "1"],
        "--rows: must be an integer in [2, 10000000], not 1",
    ),
    case("synthetic-dim-0", ["synthetic", "{out}.parquet", "--dim", "0"], "--dim: must be"),
    case(
        "synthetic-seed-negative",
        ["synthetic", "{out}.parquet", "--seed", "-2"],
        "--seed: must be an integer in [0, 4294967295], not -2",
    ),
    case(
        "synthetic-groups-negative",
        ["synthetic", "{out}.parquet", "--groups", "-1"],
        "--groups: must be an integer in [0, 10000000], not -1",
    ),
    case(
        "synthetic-group-size-reversed",
        ["synthetic", "{out}.parquet", "--group-size", "50", "40"],
        "--group-size: must be (low, high)",
    ),
    case(
        "synthetic-rows-huge",
        ["synthetic", "{out}.parquet", "--rows", "100000000000"],
        "--rows: must be an integer in [2, 10000000], not 100000000000",
    ),
    case(
        "synthetic-dim-huge",
        ["synthetic", "{out}.parquet", "--dim", "100000000"],
        "--dim: must be an integer in [1, 4096], not 100000000",
    ),
    case(
        "synthetic-groups-huge",
        ["synthetic", "{out}.parquet", "--groups", "100000000000"],
        "--groups: must be an integer in [0, 10000000], not 100000000000",
    ),
    case(
        "synthetic-rows-times-dim",
        ["synthetic", "{out}.parquet", "--rows", "10000000", "--dim", "4096"],
        "--rows: must be at most 488281 with 4096 features (2e+09 values in all), not 10000000",
    ),
    case(
        "synthetic-suffix", ["synthetic", "{out}.txt", "--rows", "2000"], "write .parquet or .csv"
    ),
    # baseline
    case(
        "baseline-size-0",
        [*BASELINE, "--size", "0"],
        "--size: must be an integer in [1, 256], not 0",
    ),
    case("baseline-components-0", [*BASELINE, "--components", "0"], "--components: must be"),
    case(
        "baseline-crop-fraction-0", [*BASELINE, "--crop-fraction", "0"], "--crop-fraction: must be"
    ),
    case("baseline-seed-negative", [*BASELINE, "--seed", "-1"], "--seed: must be"),
    case(
        "baseline-components-above-images",
        [*BASELINE, "--components", "9"],
        "--components: must be between 1 and min(images, pixels) = 4, not 9",
    ),
    case(
        "baseline-size-huge",
        [*BASELINE, "--size", "100000"],
        "--size: must be an integer in [1, 256], not 100000",
    ),
    case(
        "baseline-missing-source",
        ["baseline", "{missing}", "--out", "{out}", "--quiet"],
        "absent.parquet",
    ),
    # evaluate and report
    case("evaluate-fdr-2", [*EVALUATE, "--fdr", "2"], "--fdr: must be a number in (0, 1), not 2"),
    case(
        "evaluate-permutations-negative",
        [*EVALUATE, "--permutations", "-1"],
        "--permutations: must be an integer in [0, 1000000], not -1",
    ),
    case(
        "evaluate-permutations-huge",
        [*EVALUATE, "--permutations", "100000000000"],
        "--permutations: must be an integer in [0, 1000000], not 100000000000",
    ),
    case(
        "evaluate-min-class-size-0",
        [*EVALUATE, "--min-class-size", "0"],
        "--min-class-size: must be an integer >= 1, not 0",
    ),
    case("evaluate-seed-negative", [*EVALUATE, "--seed", "-1"], "--seed: must be"),
    case("evaluate-not-a-run", EVALUATE, "not a raregal run folder"),
    case("evaluate-no-types", ["evaluate", "{empty}", "--labels", "{labels}"], "no rare types"),
    case(
        "evaluate-unknown-preset",
        ["evaluate", "{empty}", "--labels", "{labels}", "--preset", "nope"],
        "--preset: 'nope' is not one of",
    ),
    case(
        "evaluate-duplicate-names",
        [*EVALUATE[:2], "{empty}", *EVALUATE[2:], "--names", "a", "a"],
        "2 runs need 2 different names",
    ),
    case("report-missing-run", ["report", "{missing}", "--quiet"], "no such run folder"),
    case("report-not-a-run", ["report", "{empty}", "--quiet"], "not a raregal run folder"),
    case(
        "report-per-class-0",
        ["report", "{empty}", "--per-class", "0", "--quiet"],
        "--per-class: must be an integer >= 1, not 0",
    ),
]

#: Malformed command lines: argparse's own usage error (also exit status 2).
USAGE_CASES = [
    pytest.param(["search", "{reps}", "--out", "{out}", "--n-neighbors", "ten"], id="search-int"),
    pytest.param(["search", "{reps}", "--out", "{out}", "--nan-rule", "maybe"], id="nan-rule"),
    pytest.param(["search", "{reps}", "--out", "{out}", "--init", "random"], id="init"),
    pytest.param(
        ["search", "{reps}", "--out", "{out}", "--fit-sample", "most"], id="fit-sample-word"
    ),
    pytest.param(
        ["search", "{reps}", "--out", "{out}", "--featureless-cut", "half"], id="cut-word"
    ),
    pytest.param(["embed", "{images}"], id="embed-no-out"),
    pytest.param(
        ["train", "{labels}", "--out", "{out}", "--bottleneck", "big"], id="train-bottleneck-word"
    ),
    pytest.param(
        ["inject", "{reps}", "--synthetic", "500", "--out", "{out}"], id="inject-two-sources"
    ),
    pytest.param(["synthetic", "{out}.parquet", "--group-size", "40"], id="synthetic-one-size"),
]


def _argv(template, files, out):
    return [part.format(out=out, **files) for part in template]


@pytest.mark.parametrize("template,message", CASES)
def test_one_line_exit_2_nothing_written(template, message, files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(_argv(template, files, out))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("raregal: error: "), lines
    assert message in lines[0]
    assert "Traceback" not in captured.err
    assert not any(p.name.startswith(("out", ".out")) for p in tmp_path.iterdir()), sorted(
        p.name for p in tmp_path.iterdir()
    )


#: One case per command that replaces its output with --overwrite: the bad value is
#: caught before the existing output is touched.
OVERWRITE_CASES = [
    pytest.param([*SEARCH, "--min-cluster-size", "1"], id="search"),
    pytest.param([*EMBED, "--device", "tpu"], id="embed"),
    pytest.param([*INJECT, "--tightness", "nan"], id="inject"),
    pytest.param([*BASELINE, "--components", "0"], id="baseline"),
    pytest.param([*EVALUATE, "--fdr", "2"], id="evaluate"),
]


@pytest.mark.parametrize("template", OVERWRITE_CASES)
def test_an_existing_output_is_left_alone(template, files, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code = main([*_argv(template, files, out), "--overwrite"])
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_existing_synthetic_table_is_left_alone(files, tmp_path, capsys):
    table = tmp_path / "table.parquet"
    table.write_bytes(b"the user's table")
    assert main(["synthetic", str(table), "--rows", "100"]) == 2
    assert table.read_bytes() == b"the user's table"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


@pytest.mark.parametrize("template", USAGE_CASES)
def test_malformed_command_lines_are_usage_errors(template, files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(_argv(template, files, tmp_path / "out"))
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.splitlines()[0].startswith("usage: raregal")
    assert err.strip().splitlines()[-1].startswith("raregal ")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
