"""Small run folders for tests of the readers (report, evaluate): written by the real
writer, :meth:`raregal.method.run.SearchResult.write`, from a hand-made result, so that
no test needs a search to get one."""

import numpy as np
import pandas as pd

from raregal.io.records import RunRecord
from raregal.method.run import SearchResult


def small_run(out, ids=None, classes=None, *, run=None, ra_dec=True) -> SearchResult:
    """A run of ``len(ids)`` galaxies: classes 0, 1, 2 of 10 galaxies each, the rest
    unclassed (or ``classes``), with a consistent condensed tree."""
    n = 60 if ids is None else len(ids)
    ids = [f"g{i:03d}" for i in range(n)] if ids is None else list(ids)
    if classes is None:
        classes = np.full(n, -1)
        classes[:30] = np.repeat([0, 1, 2], 10)
    classes = np.asarray(classes, dtype=np.int64)
    n_classes = int(classes.max()) + 1
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "id_str": ids,
            "class": classes,
            "probability": np.where(classes >= 0, rng.uniform(0.5, 1, n), 0.0),
            "map_x": rng.normal(size=n) + 3 * classes,
            "map_y": rng.normal(size=n),
        }
    )
    if ra_dec:
        table["ra"], table["dec"] = rng.uniform(0, 360, n), rng.uniform(-20, 60, n)
    table["smooth-or-featured_smooth_fraction"] = rng.uniform(0, 1, n)
    summary = pd.DataFrame(
        {
            "class": np.arange(n_classes),
            "size": np.bincount(classes[classes >= 0], minlength=n_classes),
            "persistence": np.linspace(0.5, 0.1, n_classes),
            "tree_node": n + 1 + np.arange(n_classes),
        }
    )
    root = n
    parent = [root] * n_classes + [root if c < 0 else n + 1 + c for c in classes]
    child = list(n + 1 + np.arange(n_classes)) + list(range(n))
    tree = pd.DataFrame(
        {
            "parent": np.array(parent, np.int64),
            "child": np.array(child, np.int64),
            "lambda_val": [1.0] * n_classes + [0.5 if c < 0 else 2.0 for c in classes],
            "child_size": np.array([10] * n_classes + [1] * n, np.int64),
        }
    )
    record = {
        "raregal": "test",
        "command": ["raregal", "search"],
        "id_column": "id_str",
        "parameters": {
            "n_neighbors": 50,
            "n_components": 5,
            "min_samples_used": 5,
            "min_cluster_size": 10,
        },
        "selection": {"rows_read": n, "rows_searched": n},
        "redundancy": {
            "cumulative_explained": [0.5, 0.8, 0.95, 1.0],
            "components_for": {"0.9": 3, "0.99": 4},
        },
    }
    record.update(run or {})
    result = SearchResult(
        out=None, classes=table, summary=summary, run=RunRecord.from_json(record), tree=tree
    )
    result.write(out)
    return result
