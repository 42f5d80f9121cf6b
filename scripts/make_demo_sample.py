"""Build raregal's bundled demo sample from ../shared/data/gz-kaggle-5000.

Each 424x424 SDSS cutout is cut to its central 212x212 pixels (where the galaxy
is; the default model crops the same half) and resized to 128x128 JPEG
(quality 80), so that the whole sample is about 14 MB. ``raregal demo`` embeds
these thumbnails with crop fraction 1, which shows the model the same pixels as
the full cutout with the model's own crop 0.5, and uses them in the galleries.

    python scripts/make_demo_sample.py [--source ../shared/data/gz-kaggle-5000]
"""

import argparse
import csv
import shutil
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "raregal" / "data" / "demo-sdss"
SIZE = 128
QUALITY = 80

CREDITS = """\
# raregal demo sample: 5,000 SDSS galaxies

Thumbnails (central 212x212 of the 424x424 gri cutout, resized to 128x128, JPEG
quality 80) of the first 5,000 galaxies of the Galaxy Zoo "Galaxy Challenge"
training set (Kaggle), made by `scripts/make_demo_sample.py`. `catalogue.csv`
lists `GalaxyID` and `file_loc`.

Credits: Galaxy Zoo 2 (Willett et al. 2013, MNRAS 435, 2835); the Galaxy
Challenge (Dieleman et al. 2015, MNRAS 450, 1441); the Sloan Digital Sky Survey.
Competition data terms apply: research and testing use, with citation.

raregal's bundled default model was trained on the same 5,000 galaxies (on their
smooth/edge-on/roundness votes only), so the demo shows the method on real
images, not a held-out result.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=ROOT.parent / "shared" / "data" / "gz-kaggle-5000"
    )
    args = parser.parse_args()
    images = sorted((args.source / "images").glob("*.jpg"), key=lambda p: int(p.stem))
    shutil.rmtree(TARGET, ignore_errors=True)
    (TARGET / "images").mkdir(parents=True)
    rows = []
    for path in images:
        image = Image.open(path).convert("RGB")
        w, h = image.size
        centre = image.crop((w // 4, h // 4, w - w // 4, h - h // 4))
        centre.resize((SIZE, SIZE), Image.LANCZOS).save(
            TARGET / "images" / path.name, "JPEG", quality=QUALITY
        )
        rows.append((path.stem, f"images/{path.name}"))
    with open(TARGET / "catalogue.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["GalaxyID", "file_loc"])
        writer.writerows(rows)
    (TARGET / "README.md").write_text(CREDITS)
    print(f"wrote {len(rows)} thumbnails to {TARGET}")


if __name__ == "__main__":
    main()
