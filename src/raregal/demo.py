"""``raregal demo``: the whole method on real galaxies, offline, in a few minutes.

Embeds the bundled sample of 5,000 SDSS galaxy thumbnails (``data/demo-sdss``,
credits in its README) with the bundled default model, searches them with the
paper's cuts and min_samples scaled to the sample, and writes the report:

``OUT/embedded/``   representations and predicted vote fractions (``raregal embed``)
``OUT/run/``        the search (``raregal search``)
``OUT/run/report/`` galleries, map and ``index.html`` (``raregal report``)

and ends by saying how to open the run in ``raregal explore``.

A rerun reuses a finished ``OUT/embedded/`` and resumes an interrupted one.
``OUT`` is a new folder or an earlier demo's (:mod:`raregal.io.output`); ``--overwrite``
starts it again from nothing.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from raregal.core.errors import InputError
from raregal.core.monitor import stderr_printer
from raregal.io.output import prepare

DEMO_SAMPLE = Path(__file__).parent / "data" / "demo-sdss"
#: The thumbnails are already the central crop the default model uses (see
#: scripts/make_demo_sample.py), so they are embedded whole.
DEMO_CROP_FRACTION = 1.0
DEMO_SEED = 0  # the demo gives the same classes on every machine


def demo(out="raregal-demo", *, overwrite: bool = False, verbose: bool = True) -> Path:
    """Run embed → search → report on the bundled sample; return the report's page."""
    from raregal.method.search import RareClassFinder, search
    from raregal.model.embed import embed
    from raregal.report import report

    out = Path(out)
    catalogue = DEMO_SAMPLE / "catalogue.csv"
    if not catalogue.is_file():
        raise InputError(f"{catalogue}: the demo sample is missing from this installation")
    target = prepare(out, kind="demo", inputs=[DEMO_SAMPLE], overwrite=overwrite, in_place=True)
    if (out / "run").exists() and not overwrite:
        raise InputError(f"{out / 'run'}: already exists; add --overwrite to start again")
    target.make_dir()
    embedded = out / "embedded"
    manifest = embedded / "manifest.json"
    if not (embedded / "representations.parquet").is_file() or overwrite:
        embed(
            catalogue,
            embedded,
            crop_fraction=DEMO_CROP_FRACTION,
            resume=manifest.is_file() and not overwrite,
            overwrite=overwrite,
            verbose=verbose,
        )
    else:
        stderr_printer(verbose)(f"reusing {embedded}/")
    search(
        embedded / "representations.parquet",
        out / "run",
        finder=RareClassFinder(min_samples="scaled", seed=DEMO_SEED),
        overwrite=overwrite,
        verbose=verbose,
        command=["raregal", "demo", "--out", str(out)],
    )
    page = report(out / "run", images=catalogue, verbose=verbose)
    target.release()
    stderr_printer(verbose)(
        f"to look through the run in the browser (map, cards, tags): "
        f"raregal explore {shlex.quote(str(out / 'run'))}"
    )
    return page
