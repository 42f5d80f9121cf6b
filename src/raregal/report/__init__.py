"""The report: what a run found, as figures and one static HTML page.

Astronomers judge a class by looking at it, so the report's core is a gallery
per class, as in the paper's figures 1 and 2. :func:`report` writes
``RUN_DIR/report/``:

``index.html``
    One page that works offline: relative links, no CDN, and one small inline script
    (the sortable class table, and a "credible classes only" switch when the run
    has the ``credible`` column). Rendered from ``templates/report.html`` with
    autoescaping, so that no value of a run folder (which may come from someone
    else) is ever read as HTML. It lists the selection's cuts with their counts,
    links to the run's tables and each class's members, shows a caveat when the
    sample is small or far more of it is in classes than in the paper
    (:func:`caveats`), and names no folder of this machine (:func:`public_command`).
``map.png``
    The 2-D map: the searched sample drawn as density, classes coloured
    (:func:`class_colours`, distinct beyond 20 classes) and lettered.
``galleries.png``, ``gallery_A.png`` …
    Each class's most confident members (highest HDBSCAN membership probability)
    with their ids: all classes a row each, and one figure per class.
``rarest.png``, ``rarest.csv``
    The galaxies of highest rarity (the run's ``rarity`` column, :mod:`raregal.method.rarity`),
    rarest first, as a gallery and a table (id, rarity, rank, class); runs written
    before the column was added have none.
``variance.png``
    The PCA variance curve of the representation (how redundant it is).
``tree.png``
    HDBSCAN's condensed tree, with the class leaves lettered.
``class_table.csv``
    Letter, every per-class column of the run's classes.csv but the vote fractions'
    class means (so columns a newer search adds appear), the predicted vote
    fractions in which the class differs from the searched sample, and the file of
    its members (:func:`class_table`). With ``compare`` (other run folders), per
    other run NAME: ``match_in_NAME``, the letter of its best-matching class in
    that run's own report ('' if none), and ``jaccard_in_NAME``, their Jaccard
    index over the galaxies both runs searched (empty when none of the class's
    members is in the other run): :func:`compare_with`. The page calls a class
    *also found* there from ``also_found_at`` (default
    :data:`defaults.ALSO_FOUND_JACCARD`) up, as ``raregal compare`` does.
``members/A.csv`` …
    Each class's full member list, most confident first (:func:`write_members`).
``thumbs/``
    The gallery thumbnails, so that the folder can be copied or sent as it is
    (one file per id: :func:`thumbnail_names`). Only images inside the catalogue's
    folder are copied, unless ``allow_outside_paths``.
``images/``
    Each gallery galaxy's whole image at its own resolution (JPEG, same names), which
    its thumbnail links to.

Classes are lettered A, B, C … by persistence, most distinct first (ties: larger
first). Galaxies without a local image but with RA/Dec link to the Legacy Surveys
viewer.
"""

from raregal.report.page import report

__all__ = ["report"]
