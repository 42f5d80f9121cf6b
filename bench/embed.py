"""Benchmark `raregal embed`: images/s end to end against the model's ceiling.

On the 5,000 SDSS JPEGs of ../shared/data/gz-kaggle-5000, in one run:

- end to end: `raregal.model.embed` over the catalogue (decoding in worker processes,
  preprocessing, batched inference, shards, merge), wall time from the call to
  the finished folder, model loading included;
- ceiling: the same model on the same images already decoded and preprocessed
  into tensors, batch after batch, nothing else.

The model is EfficientNetB0 (the paper's architecture) at Zoobot's 224 px, with
random weights saved as a local timm folder: speed does not depend on the weights,
and the Hub is out of reach here.

With ``--arch default`` the model is raregal's bundled one (64 px of the central
half), whose JPEGs ``raregal embed`` decodes at half scale
(:func:`raregal.io.images.model_input`); ``--whole`` times the same run with every
JPEG decoded whole beside it, the reference for that shortcut.

    python bench/embed.py                 # 5,000 images
    python bench/embed.py --images 1000 --workers 1 2
    python bench/embed.py --arch default --workers 1 2 --whole --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import timm
import torch

import raregal.model.embed
from raregal.io.images import load_rgb, model_input, preprocess
from raregal.model.embed import embed
from raregal.model.models import DEFAULT_MODEL, load_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gz-kaggle-5000"


def ceiling(model_dir: Path, paths, batch_size: int, device: str) -> float:
    model = load_model(model_dir).to(device)
    pixels = torch.from_numpy(
        np.stack(
            [
                model_input(p, size=model.input_size, crop_fraction=model.crop_fraction)
                for p in paths
            ]
        )
    )
    model.predict(pixels[:batch_size].to(device))  # warm-up, as the embed run's first batch
    start = time.perf_counter()
    for i in range(0, len(pixels), batch_size):
        features, _ = model.predict(pixels[i : i + batch_size].to(device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(pixels) / (time.perf_counter() - start)


def whole(path, *, crop_fraction, size, greyscale_model=False):
    """:func:`model_input` without the reduced-scale JPEG decoding: the reference."""
    return preprocess(
        load_rgb(path), crop_fraction=crop_fraction, size=size, greyscale_model=greyscale_model
    )


def end_to_end(catalogue: Path, out: Path, model: str, args, workers: int) -> float:
    """Seconds of one ``raregal embed`` run into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    embed(
        catalogue,
        out,
        model=model,
        batch_size=args.batch_size,
        workers=workers,
        device=args.device,
        verbose=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument(
        "--arch",
        default="efficientnet_b0",
        help="a timm architecture (random weights), or 'default'",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--whole", action="store_true", help="also time every JPEG decoded whole (the reference)"
    )
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    paths = sorted((DATA / "images").iterdir())[: args.images]
    print(
        f"bench/embed.py: {len(paths)} SDSS JPEGs, {args.arch}, batch {args.batch_size}, "
        f"{args.device}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        if args.arch == "default":
            model = DEFAULT_MODEL
        else:
            torch.manual_seed(0)
            timm.models.save_for_hf(timm.create_model(args.arch, num_classes=0), model)
        pd.DataFrame(
            {"GalaxyID": [p.stem for p in paths], "file_loc": [str(p) for p in paths]}
        ).to_csv(tmp / "catalogue.csv", index=False)
        top = ceiling(model, paths, args.batch_size, args.device)
        print(f"  ceiling (pre-decoded tensors): {top:7.1f} images/s")
        decodes = {"as embed decodes": model_input, "JPEGs whole": whole}
        for _ in range(args.repeats):
            for workers in args.workers:
                for name, decode in list(decodes.items())[: 2 if args.whole else 1]:
                    # embed's dataset calls raregal.model.embed.model_input; its decoding
                    # workers fork from this process, so they see the swap too
                    raregal.model.embed.model_input = decode
                    rate = len(paths) / end_to_end(
                        tmp / "catalogue.csv", tmp / "out", str(model), args, workers
                    )
                    print(
                        f"  end to end, {workers} decoding worker(s), {name}: "
                        f"{rate:7.1f} images/s = {rate / top:.0%} of the ceiling"
                    )
        raregal.model.embed.model_input = model_input


if __name__ == "__main__":
    main()
