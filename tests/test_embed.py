"""`raregal embed` on real images, with models saved by the tests themselves: as a
local timm folder, as a Hugging Face cache entry named like a Zoobot encoder (read
offline), and in raregal's own layout with a Dirichlet head."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

import raregal
from raregal.cli import main
from raregal.core.errors import InputError
from raregal.io.schemas import GZ_DESI
from raregal.model.embed import embed
from raregal.model.models import DirichletHead, GalaxyModel, load_model, save_model

ARCH = "test_efficientnet"  # timm's own tiny test network
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    encoder = timm.create_model(ARCH, pretrained=False, num_classes=0).eval()
    timm.models.save_for_hf(encoder, root / "timm")
    repo = root / "hub" / f"models--mwalmsley--zoobot-encoder-{ARCH}"
    timm.models.save_for_hf(encoder, repo / "snapshots" / SNAPSHOT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)
    torch.save(encoder.state_dict(), root / "weights.pth")
    head = DirichletHead(encoder.num_features, len(GZ_DESI.answers))
    with_head = GalaxyModel(
        encoder=encoder,
        name="test",
        dim=encoder.num_features,
        input_size=64,
        head=head,
        schema=GZ_DESI,
    )
    save_model(with_head, root / "with_head", architecture=ARCH)
    return {
        "root": root,
        "encoder": encoder,
        "timm": root / "timm",
        "hub": root / "hub",
        "weights": root / "weights.pth",
        "with_head": root / "with_head",
    }


@pytest.fixture(scope="module")
def catalogue(data_dir, tmp_path_factory):
    """24 SDSS JPEGs, 12 DECaLS ring thumbnails and the 2 grz FITS cutouts, with
    paths relative to the catalogue, as Zoobot's id_str/file_loc."""
    folder = tmp_path_factory.mktemp("catalogue")
    sdss = sorted((data_dir / "gz-kaggle-5000" / "images").iterdir())[:24]
    rings = sorted((data_dir / "gz-decals-rings-470" / "images").iterdir())[:12]
    fits_files = sorted((data_dir / "decals-fits-cutouts").glob("*.fits"))
    rows = [(p.stem, os.path.relpath(p, folder)) for p in [*sdss, *rings, *fits_files]]
    table = pd.DataFrame(rows, columns=["id_str", "file_loc"])
    table.to_csv(folder / "catalogue.csv", index=False)
    return folder / "catalogue.csv"


def _probe():
    torch.manual_seed(1)
    return torch.rand(2, 3, 64, 64)


def test_local_folder_and_weights_file_load_the_same_network(models):
    with torch.no_grad():
        expected = models["encoder"](_probe())
    for model in (load_model(models["timm"]), load_model(models["weights"], arch=ARCH)):
        assert model.dim == models["encoder"].num_features and model.head is None
        with torch.no_grad():
            torch.testing.assert_close(model.encoder.eval()(_probe()), expected)
    with pytest.raises(InputError, match="needs its architecture: --arch"):
        load_model(models["weights"])
    with pytest.raises(InputError, match="unknown model 'no_such_net'"):
        load_model("no_such_net")
    (models["root"] / "empty").mkdir(exist_ok=True)
    with pytest.raises(InputError, match="needs config.json"):
        load_model(models["root"] / "empty")


@pytest.mark.slow
def test_zoobot_name_read_offline_from_the_hugging_face_cache(models, tmp_path):
    expected = models["encoder"](_probe()).detach().numpy()
    np.save(tmp_path / "expected.npy", expected)
    script = f"""
import numpy as np, torch
from raregal.model.models import load_model
from raregal.core.errors import InputError
model = load_model("zoobot:{ARCH}")
assert model.name == "zoobot:{ARCH}"
torch.manual_seed(1)
out = model.encoder.eval()(torch.rand(2, 3, 64, 64)).detach().numpy()
np.testing.assert_allclose(out, np.load(r"{tmp_path / "expected.npy"}"), rtol=1e-5, atol=1e-6)
try:
    load_model("hf_hub:mwalmsley/zoobot-encoder-not_cached")
except InputError as exc:
    print("ERROR:", exc)
"""
    env = {**os.environ, "HF_HUB_CACHE": str(models["hub"]), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "ERROR: cannot load model 'hf_hub:mwalmsley/zoobot-encoder-not_cached'" in done.stdout
    assert "point --model at a local folder" in done.stdout


@pytest.mark.slow
def test_embed_real_images_with_a_head(models, catalogue, tmp_path):
    manifest = embed(
        catalogue,
        tmp_path / "out",
        model=str(models["with_head"]),
        batch_size=8,
        shard_size=16,
        workers=1,
        verbose=False,
    )
    table = pd.read_parquet(tmp_path / "out" / "representations.parquet")
    expected_ids = pd.read_csv(catalogue)["id_str"].astype(str).tolist()
    assert table["id_str"].tolist() == expected_ids
    dim = models["encoder"].num_features
    features = table[[f"feat_{j}" for j in range(dim)]].to_numpy()
    assert features.shape == (38, dim) and np.isfinite(features).all()
    fractions = table[GZ_DESI.fraction_columns].to_numpy()
    for part in GZ_DESI.slices:  # each question's predicted fractions sum to 1
        np.testing.assert_allclose(fractions[:, part].sum(axis=1), 1.0, atol=1e-5)
    assert manifest["embedded"] == 38 and manifest["failed"] == 0
    assert manifest["preprocessing"]["input_size"] == 64
    assert manifest["preprocessing"]["normalisation"] is None
    record = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert record["status"] == "complete" and record["model"]["schema"]["name"] == "gz_desi"
    assert record["raregal"] and record["command"] and record["versions"]["python"]
    assert not (tmp_path / "out" / "shards").exists()
    assert not (tmp_path / "out" / "failures.csv").exists()  # none failed: no empty file
    # What embed writes, search reads: id, features and vote fractions found.
    code = main(
        [
            "search",
            str(tmp_path / "out" / "representations.parquet"),
            "--out",
            str(tmp_path / "run"),
            "--featureless-cut",
            "off",
            "--edge-on-cut",
            "off",
            "--artifact-cut",
            "off",
            "--n-neighbors",
            "8",
            "--min-samples",
            "5",
            "--min-cluster-size",
            "5",
            "--seed",
            "0",
            "--quiet",
        ]
    )
    assert code == 0
    classes = pd.read_parquet(tmp_path / "run" / "classes.parquet")
    assert len(classes) == 38 and GZ_DESI.fraction_columns[0] in classes.columns


def _five_good_images(data_dir, folder):
    folder.mkdir()
    good = sorted((data_dir / "gz-kaggle-5000" / "images").iterdir())[:5]
    for path in good:
        (folder / path.name).write_bytes(path.read_bytes())
    return good


def test_failures_are_listed_and_the_run_goes_on(models, data_dir, tmp_path):
    folder = tmp_path / "images"
    good = _five_good_images(data_dir, folder)
    (folder / "truncated.jpg").write_bytes(good[0].read_bytes()[:2000])
    (folder / "notes.png").write_text("not a picture")
    code = main(
        [
            "embed",
            str(folder),
            "--model",
            str(models["timm"]),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "0",
            "--quiet",
        ]
    )
    assert code == 0
    table = pd.read_parquet(tmp_path / "out" / "representations.parquet")
    assert table["id_str"].tolist() == [p.stem for p in good]
    assert not any(c.endswith("_fraction") for c in table.columns)  # no head: features only
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert failures["id_str"].tolist() == ["notes", "truncated"]
    assert failures["reason"].str.startswith("cannot decode").all()

    listed = pd.DataFrame({"id_str": ["a", "b"], "file_loc": [str(good[0]), "gone.jpg"]})
    listed.to_csv(tmp_path / "listed.csv", index=False)
    manifest = embed(
        tmp_path / "listed.csv",
        tmp_path / "out2",
        model=str(models["timm"]),
        workers=0,
        verbose=False,
    )
    assert (manifest["embedded"], manifest["failed"]) == (1, 1)
    assert pd.read_csv(tmp_path / "out2" / "failures.csv")["reason"].tolist() == ["file not found"]


def test_several_shards_with_failures_in_only_some(models, data_dir, tmp_path):
    """Shards without failures (a header-only failures.csv) merged with shards with
    them crashed the merge with an IndexError and left the run 'running'."""
    folder = tmp_path / "images"
    good = _five_good_images(data_dir, folder)
    (folder / "zz_cut.jpg").write_bytes(good[0].read_bytes()[:1500])
    Image.new("RGB", (64, 64), (40, 40, 40)).save(folder / "zz_flat.png")
    code = main(
        [
            "embed",
            str(folder),
            "--model",
            str(models["timm"]),
            "--out",
            str(tmp_path / "out"),
            "--shard-size",
            "2",
            "--workers",
            "0",
            "--quiet",
        ]
    )
    assert code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (manifest["status"], manifest["shards"]) == ("complete", 4)
    assert (manifest["embedded"], manifest["failed"]) == (5, 2)
    table = pd.read_parquet(tmp_path / "out" / "representations.parquet")
    assert table["id_str"].tolist() == [p.stem for p in good]
    failures = pd.read_csv(tmp_path / "out" / "failures.csv", dtype=str)
    assert failures["id_str"].tolist() == ["zz_cut", "zz_flat"]
    assert failures["reason"].tolist()[1] == "constant image: every pixel is 40"


@pytest.mark.slow
def test_run_killed_midway_resumes_to_the_same_table(models, demo_images, tmp_path, capsys):
    images = sorted(demo_images.iterdir())[:160]
    pd.DataFrame(
        {"GalaxyID": [p.stem for p in images], "file_loc": [str(p) for p in images]}
    ).to_csv(tmp_path / "cat.csv", index=False)
    args = [
        "embed",
        str(tmp_path / "cat.csv"),
        "--model",
        str(models["with_head"]),
        "--shard-size",
        "4",
        "--batch-size",
        "2",
        "--workers",
        "0",
        "--quiet",
    ]
    # killed in its own process; the reruns in this one (a process start each is ~10 s)
    process = subprocess.Popen(
        [sys.executable, "-m", "raregal.cli", *args, "--out", str(tmp_path / "killed")]
    )
    shards = tmp_path / "killed" / "shards"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shards.glob("part-*.parquet"))) < 2:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(shards.glob("part-*.parquet")))
    assert 2 <= finished < 40, "the run must be killed between its first and last shard"
    assert not (tmp_path / "killed" / "representations.parquet").exists()

    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "killed")]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "killed"), "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    resumed = pd.read_parquet(tmp_path / "killed" / "representations.parquet")
    whole = pd.read_parquet(tmp_path / "whole" / "representations.parquet")
    assert resumed["GalaxyID"].tolist() == [p.stem for p in images]  # none lost, none twice
    pd.testing.assert_frame_equal(resumed, whole)
    record = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert record["resumed_shards"] == finished


@pytest.mark.slow
def test_dask_run_equals_single_process_run(models, catalogue, tmp_path):
    common = dict(model=str(models["with_head"]), batch_size=4, shard_size=8, verbose=False)
    embed(catalogue, tmp_path / "single", workers=0, **common)
    embed(catalogue, tmp_path / "dask", dask_workers=2, **common)
    single = pd.read_parquet(tmp_path / "single" / "representations.parquet")
    spread = pd.read_parquet(tmp_path / "dask" / "representations.parquet")
    assert single["id_str"].tolist() == spread["id_str"].tolist()
    pd.testing.assert_frame_equal(single, spread, check_exact=False, rtol=1e-5, atol=1e-6)


def test_resume_embeds_a_truncated_shard_again(models, tmp_path, monkeypatch, capsys):
    """A shard cut short (issue 39: ArrowInvalid at the merge) is found when the run
    resumes and embedded again; the table equals an uninterrupted run's."""
    demo = Path(raregal.__file__).parent / "data" / "demo-sdss"
    listed = pd.read_csv(demo / "catalogue.csv", dtype=str).iloc[:6]
    listed["file_loc"] = [str(demo / p) for p in listed["file_loc"]]
    listed.to_csv(tmp_path / "cat.csv", index=False)
    args = [
        "embed",
        str(tmp_path / "cat.csv"),
        "--model",
        str(models["timm"]),
        "--shard-size",
        "2",
        "--workers",
        "0",
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if killed after the last shard, before the merge

    with monkeypatch.context() as patched:
        patched.setattr("raregal.model.embed._merge", killed)
        assert main([*args, "--out", str(tmp_path / "cut")]) == 130
    shard = tmp_path / "cut" / "shards" / "part-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:300])
    capsys.readouterr()
    assert main([*args[:-1], "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert f"{shard}: cut short or unreadable" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert (manifest["status"], manifest["resumed_shards"]) == ("complete", 2)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cut" / "representations.parquet"),
        pd.read_parquet(tmp_path / "whole" / "representations.parquet"),
    )


def test_a_shard_broken_at_the_merge_is_named_and_deleted_for_resume(tmp_path):
    from raregal.model.embed import _read_shard

    shard = tmp_path / "part-00003.parquet"
    shard.write_bytes(b"PAR1" + bytes(100) + b"PAR1")  # footer intact, content not
    with pytest.raises(InputError, match="part-00003.parquet: unreadable .*--resume"):
        _read_shard(shard)
    assert not shard.exists()


def test_an_empty_folder_such_as_a_mount_point_is_embedded_into(models, tmp_path):
    demo = Path(raregal.__file__).parent / "data" / "demo-sdss"
    listed = pd.read_csv(demo / "catalogue.csv", dtype=str).iloc[:2]
    listed["file_loc"] = [str(demo / p) for p in listed["file_loc"]]
    listed.to_csv(tmp_path / "cat.csv", index=False)
    (tmp_path / "mount").mkdir()
    assert (
        main(
            [
                "embed",
                str(tmp_path / "cat.csv"),
                "--model",
                str(models["timm"]),
                "--out",
                str(tmp_path / "mount"),
                "--workers",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    assert len(pd.read_parquet(tmp_path / "mount" / "representations.parquet")) == 2
