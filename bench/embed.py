"""Benchmark `raregal embed`: images/s end to end against the model's ceiling.

On the 5,000 SDSS JPEGs of ../shared/data/gz-kaggle-5000, in one run:

- end to end: `raregal.embed` over the catalogue (decoding in worker processes,
  preprocessing, batched inference, shards, merge), wall time from the call to
  the finished folder, model loading included;
- ceiling: the same model on the same images already decoded and preprocessed
  into tensors, batch after batch, nothing else.

The model is EfficientNetB0 (the paper's architecture) at Zoobot's 224 px, with
random weights saved as a local timm folder: speed does not depend on the weights,
and the Hub is out of reach here.

    python bench/embed.py                 # 5,000 images
    python bench/embed.py --images 1000 --workers 1 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import timm
import torch

from raregal.embed import embed
from raregal.images import load_rgb, preprocess
from raregal.models import load_model

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gz-kaggle-5000"


def ceiling(model_dir: Path, paths, batch_size: int, device: str) -> float:
    model = load_model(model_dir).to(device)
    pixels = torch.from_numpy(np.stack([preprocess(load_rgb(p), size=model.input_size,
                                                   crop_fraction=model.crop_fraction)
                                        for p in paths]))
    model.predict(pixels[:batch_size].to(device))  # warm-up, as the embed run's first batch
    start = time.perf_counter()
    for i in range(0, len(pixels), batch_size):
        features, _ = model.predict(pixels[i:i + batch_size].to(device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(pixels) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    paths = sorted((DATA / "images").iterdir())[: args.images]
    print(f"bench/embed.py: {len(paths)} SDSS JPEGs, {args.arch}, batch {args.batch_size}, "
          f"{args.device}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        timm.models.save_for_hf(timm.create_model(args.arch, num_classes=0), tmp / "model")
        pd.DataFrame({"GalaxyID": [p.stem for p in paths], "file_loc": [str(p) for p in paths]}
                     ).to_csv(tmp / "catalogue.csv", index=False)
        top = ceiling(tmp / "model", paths, args.batch_size, args.device)
        print(f"  ceiling (pre-decoded tensors): {top:7.1f} images/s")
        for workers in args.workers:
            start = time.perf_counter()
            embed(tmp / "catalogue.csv", tmp / f"out{workers}", model=str(tmp / "model"),
                  batch_size=args.batch_size, workers=workers, device=args.device,
                  verbose=False)
            rate = len(paths) / (time.perf_counter() - start)
            print(f"  end to end, {workers} decoding worker(s): {rate:7.1f} images/s "
                  f"= {rate / top:.0%} of the ceiling")


if __name__ == "__main__":
    main()
