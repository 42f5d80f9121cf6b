"""`raregal baseline`: pixel PCA of real images, in the layout search reads."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from raregal.cli import main
from raregal.io.catalogue import load_representations
from raregal.io.images import model_input
from raregal.measure.baseline import default_crop_fraction, pixel_matrix


@pytest.fixture(scope="module")
def images(demo_images, tmp_path_factory):
    """30 real SDSS thumbnails and one truncated file."""
    folder = tmp_path_factory.mktemp("images")
    source = sorted(demo_images.glob("*.jpg"))[:30]
    for path in source:
        shutil.copy(path, folder / path.name)
    (folder / "999999.jpg").write_bytes(source[0].read_bytes()[:500])
    return folder


@pytest.fixture(scope="module")
def run(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline") / "pixels"
    assert (
        main(
            [
                "baseline",
                str(images),
                "--out",
                str(out),
                "--size",
                "16",
                "--components",
                "8",
                "--quiet",
            ]
        )
        == 0
    )
    return out


def test_layout_ids_and_failures(run, images):
    reps = load_representations(run / "representations.parquet")
    stems = sorted(p.stem for p in images.glob("*.jpg") if p.stem != "999999")
    assert reps.id_column == "id_str" and reps.ids.tolist() == stems
    assert reps.feature_columns == [f"feat_{j}" for j in range(8)]
    failures = pd.read_csv(run / "failures.csv", dtype={"id_str": str})
    assert failures["id_str"].tolist() == ["999999"]
    assert failures["reason"].str.startswith("cannot decode jpeg").all()
    record = json.loads((run / "baseline.json").read_text())
    assert (record["rows"], record["embedded"], record["failed"]) == (31, 30, 1)
    assert record["preprocessing"] == {
        "crop_fraction": 0.5,
        "size": 16,
        "pixels": 768,
        "scale": "x / 255",
    }


def test_pca_matches_an_exact_svd(run, images):
    """The features are the pixels' projections on their top principal components."""
    paths = sorted(p for p in images.glob("*.jpg") if p.stem != "999999")
    pixels = np.stack([model_input(p, crop_fraction=0.5, size=16).ravel() for p in paths]).astype(
        np.float64
    )
    centred = pixels - pixels.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    explained = singular**2 / np.sum(singular**2)
    record = json.loads((run / "baseline.json").read_text())
    assert record["pca"]["explained"] == pytest.approx(explained[:8], rel=1e-3, abs=1e-6)
    features = load_representations(run / "representations.parquet").features
    exact = centred @ vt[:8].T
    # principal axes are defined up to sign
    signs = np.sign(np.sum(features * exact, axis=0))
    assert features * signs == pytest.approx(exact, rel=1e-3, abs=1e-3)


def test_sees_the_default_models_pixels(images):
    assert default_crop_fraction() == 0.5  # the bundled model's config.json
    paths = sorted(str(p) for p in images.glob("*.jpg"))[:3]
    matrix, done, failed = pixel_matrix(paths, crop_fraction=0.5, size=16, verbose=False)
    assert done.tolist() == [0, 1, 2] and failed == []
    assert np.array_equal(matrix[1], model_input(paths[1], crop_fraction=0.5, size=16).ravel())


def test_too_many_components_is_one_line(images, tmp_path, capsys):
    code = main(
        [
            "baseline",
            str(images),
            "--out",
            str(tmp_path / "x"),
            "--components",
            "64",
            "--size",
            "8",
            "--quiet",
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "raregal: error: --components: must be between 1 and min(images, pixels) = 30, not 64"
    )
    assert not (tmp_path / "x").exists()
