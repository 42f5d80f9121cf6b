"""The GPU route's glue, exercised on the CPU.

cuML cannot be installed here (it needs CUDA), so this test puts a stand-in
`cuml` and `cupy` on the path that implement the part of cuML's documented API
raregal calls -- ``cuml.manifold.UMAP`` and ``cuml.cluster.HDBSCAN`` with
``output_type``, ``labels_``, ``probabilities_`` and ``condensed_tree_`` -- by
delegating to umap-learn and the hdbscan library. It checks that raregal picks
the GPU backend automatically, passes the paper's parameters, and turns cuML's
outputs into the same classes the CPU route finds. It does not test cuML itself.
"""

import json
import sys
import textwrap

import hdbscan
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from raregal import RareClassFinder
from raregal.core.backends import resolve_backend
from raregal.core.errors import InputError
from raregal.method.cluster import leaf_clusters

from .conftest import features_of

STANDIN = {
    "cupy/__init__.py": """
        from types import SimpleNamespace
        cuda = SimpleNamespace(runtime=SimpleNamespace(getDeviceCount=lambda: 1))
    """,
    "cuml/__init__.py": "",
    "cuml/manifold.py": """
        import json, os, umap
        from raregal.method.reduce import exact_neighbours

        class UMAP:
            def __init__(self, *, n_neighbors=15, n_components=2, min_dist=0.1,
                         n_epochs=None, random_state=None, verbose=False, output_type=None):
                assert output_type == "numpy"
                self.kwargs = dict(n_neighbors=n_neighbors, n_components=n_components,
                                   min_dist=min_dist, n_epochs=n_epochs,
                                   random_state=random_state)

            def fit_transform(self, X):
                with open(os.environ["CUML_STANDIN_LOG"], "a") as log:
                    log.write(json.dumps({"umap": self.kwargs}) + "\\n")
                # exact neighbours given: umap-learn's own take seconds in Python here
                knn = exact_neighbours(X, self.kwargs["n_neighbors"])
                return umap.UMAP(**self.kwargs, precomputed_knn=knn).fit_transform(X)
    """,
    "cuml/cluster.py": """
        import json, os, hdbscan

        class HDBSCAN:
            def __init__(self, *, min_cluster_size=5, min_samples=None,
                         cluster_selection_method="eom", output_type=None):
                assert output_type == "numpy"
                self.kwargs = dict(min_cluster_size=min_cluster_size,
                                   min_samples=min_samples,
                                   cluster_selection_method=cluster_selection_method)

            def fit(self, X):
                with open(os.environ["CUML_STANDIN_LOG"], "a") as log:
                    log.write(json.dumps({"hdbscan": self.kwargs}) + "\\n")
                model = hdbscan.HDBSCAN(**self.kwargs).fit(X)
                self.labels_ = model.labels_
                self.probabilities_ = model.probabilities_
                self.condensed_tree_ = model.condensed_tree_  # hdbscan.plots.CondensedTree
                return self
    """,
}


@pytest.fixture
def standin(tmp_path, monkeypatch):
    for name, source in STANDIN.items():
        path = tmp_path / "site" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("CUML_STANDIN_LOG", str(log))
    yield log
    for name in [m for m in sys.modules if m.split(".")[0] in {"cuml", "cupy"}]:
        del sys.modules[name]  # later tests must not find the stand-in


def test_without_cuml_auto_is_cpu_and_gpu_is_refused():
    assert resolve_backend("auto") == "cpu"
    with pytest.raises(InputError, match="--backend gpu: cuML"):
        resolve_backend("gpu")


@pytest.mark.slow  # the stand-ins run umap-learn's own layout twice and hdbscan: ~15 s
def test_gpu_route_glue(standin, planted, capsys):
    X = features_of(planted)
    # Reruns asked for, but cuML keeps no graph to rerun: none are made, and the
    # log says so.
    finder = RareClassFinder(min_samples=20, seed=0, stability_seeds=3, verbose=True).fit(X)
    assert finder.backend_ == "gpu"
    assert finder.stability_seeds_ == 0
    assert "credibility: 0 layout reruns" in capsys.readouterr().err
    calls = [json.loads(line) for line in standin.read_text().splitlines()]
    assert calls == [
        {
            "umap": {
                "n_neighbors": 50,
                "n_components": 5,
                "min_dist": 0.1,
                "n_epochs": None,
                "random_state": 0,
            }
        },
        {
            "umap": {
                "n_neighbors": 50,
                "n_components": 2,
                "min_dist": 0.1,
                "n_epochs": None,
                "random_state": 0,
            }
        },
        {
            "hdbscan": {
                "min_cluster_size": 10,
                "min_samples": 20,
                "cluster_selection_method": "leaf",
            }
        },
        # the finer scale (raregal.method.scales: 20 halved, floored at 15) goes to cuML too
        {
            "hdbscan": {
                "min_cluster_size": 10,
                "min_samples": 15,
                "cluster_selection_method": "leaf",
            }
        },
    ]
    assert finder.embedding_.shape == (1500, 5) and finder.map_.shape == (1500, 2)
    # Same embedding through the CPU route: the same classes, persistence and nodes.
    cpu = leaf_clusters(finder.embedding_, min_samples=20, min_cluster_size=10)
    assert adjusted_rand_score(cpu.labels, finder.labels_) >= 0.9
    gpu = finder.clustering_
    assert set(np.unique(gpu.labels)) == set(range(-1, gpu.n_classes))
    assert np.all(np.diff(gpu.nodes) > 0)
    reference = hdbscan.HDBSCAN(
        min_samples=20, min_cluster_size=10, cluster_selection_method="leaf"
    ).fit(finder.embedding_)
    assert sorted(np.round(gpu.persistence, 6)) == sorted(
        np.round(reference.cluster_persistence_, 6)
    )
