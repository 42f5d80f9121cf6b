"""Build the real-data fixtures under tests/data from ../shared/data.

The tests run from a clone alone: they read what this script copied into the
repository (and the package's demo thumbnails), never ../shared/data. What is
taken, and why that much, is listed in tests/data/README.md; in short:

- gz-kaggle-5000/labels.csv.gz: the Galaxy Challenge labels, every row and
  column, byte for byte, gzipped (the counts the tests assert are on 5,000);
- gz-kaggle-5000/images/: the first 24 424x424 JPEGs, byte for byte (tests of
  decoding real full-size JPEGs; the demo thumbnails serve where any real image
  does);
- gz-decals-rings-470/images/: all 470 DECaLS cutouts as the bundled model sees
  them (central half, 64x64, JPEG quality 90);
- decals-fits-cutouts/: example_b.fits as is, example_a.fits cut to its central
  127x127 pixels with CRPIX moved so the WCS still holds, and the first 500 rows
  of panoptes.csv, lines as they are.

    python scripts/make_test_data.py [--source ../shared/data]
"""

import argparse
import gzip
import shutil
from pathlib import Path

from astropy.io import fits
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "tests" / "data"
SDSS_JPEGS = 24
RING_SIDE, RING_CROP, RING_QUALITY = 64, 0.5, 90  # the bundled model's input size and crop
FITS_SIDE = 127
PANOPTES_ROWS = 500


def _gzip(source: Path, target: Path) -> None:
    # mtime 0: rebuilding gives the same bytes
    with open(source, "rb") as raw, gzip.GzipFile(target, "wb", 9, mtime=0) as packed:
        shutil.copyfileobj(raw, packed)


def _kaggle(source: Path, target: Path) -> None:
    (target / "images").mkdir(parents=True)
    _gzip(source / "labels.csv", target / "labels.csv.gz")
    for path in sorted((source / "images").glob("*.jpg"))[:SDSS_JPEGS]:
        shutil.copy(path, target / "images" / path.name)


def _rings(source: Path, target: Path) -> None:
    (target / "images").mkdir(parents=True)
    for path in sorted((source / "images").glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        w, h = image.size
        margin_x, margin_y = round(w * (1 - RING_CROP) / 2), round(h * (1 - RING_CROP) / 2)
        centre = image.crop((margin_x, margin_y, w - margin_x, h - margin_y))
        centre.resize((RING_SIDE, RING_SIDE), Image.LANCZOS).save(
            target / "images" / path.name, "JPEG", quality=RING_QUALITY
        )


def _central_fits(source: Path, target: Path, side: int) -> None:
    """The central side x side pixels of every plane; CRPIX moves with the cut, so
    each pixel keeps its sky position (a cutout, as the cutout service makes)."""
    with fits.open(source) as hdus:
        header, data = hdus[0].header.copy(), hdus[0].data
    y0, x0 = (data.shape[1] - side) // 2, (data.shape[2] - side) // 2
    header["CRPIX1"] -= x0
    header["CRPIX2"] -= y0
    header["IMAGEW"], header["IMAGEH"] = float(side), float(side)
    fits.PrimaryHDU(data[:, y0 : y0 + side, x0 : x0 + side], header).writeto(target)


def _fits_cutouts(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copy(source / "example_b.fits", target / "example_b.fits")
    _central_fits(source / "example_a.fits", target / "example_a.fits", FITS_SIDE)
    with open(source / "panoptes.csv") as rows:
        head = [next(rows) for _ in range(PANOPTES_ROWS + 1)]
    (target / "panoptes.csv").write_text("".join(head))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    readme = (TARGET / "README.md").read_text() if (TARGET / "README.md").is_file() else None
    shutil.rmtree(TARGET, ignore_errors=True)
    TARGET.mkdir(parents=True)
    if readme is not None:  # written by hand: kept across rebuilds
        (TARGET / "README.md").write_text(readme)
    _kaggle(args.source / "gz-kaggle-5000", TARGET / "gz-kaggle-5000")
    _rings(args.source / "gz-decals-rings-470", TARGET / "gz-decals-rings-470")
    _fits_cutouts(args.source / "decals-fits-cutouts", TARGET / "decals-fits-cutouts")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
