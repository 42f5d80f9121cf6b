"""raregal: find rare galaxy classes in the representations of galaxy foundation models.

Reproduces Walmsley & Scaife (2023), "Rare Galaxy Classes Identified In Foundation
Model Representations" (arXiv:2312.02910): morphology cuts on predicted Galaxy Zoo
vote fractions, UMAP, and the leaves of HDBSCAN's condensed tree.

>>> import raregal
>>> result = raregal.search("representations.parquet", "run/",
...                         predictions="predictions.parquet")   # doctest: +SKIP
>>> raregal.report("run/", images="cutouts.csv")   # doctest: +SKIP
>>> raregal.explore("run/")   # serves http://127.0.0.1:8765/  # doctest: +SKIP
>>> raregal.rank("run/", like="mergers.txt", top=20)   # more like these  # doctest: +SKIP
>>> finder = raregal.RareClassFinder(min_samples="scaled").fit(X)  # doctest: +SKIP
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("raregal")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

from raregal.core.errors import InputError  # noqa: E402
from raregal.explore import explore  # noqa: E402
from raregal.io.catalogue import Representations, load_representations, read_table  # noqa: E402
from raregal.method.rank import rank  # noqa: E402
from raregal.method.search import RareClassFinder, SearchResult, search  # noqa: E402
from raregal.method.select import Cut, apply_cuts, paper_cuts  # noqa: E402
from raregal.report import report  # noqa: E402

__all__ = [
    "__version__",
    "Cut",
    "InputError",
    "RareClassFinder",
    "Representations",
    "SearchResult",
    "apply_cuts",
    "explore",
    "load_representations",
    "paper_cuts",
    "rank",
    "read_table",
    "report",
    "search",
]
