"""How redundant is a representation? A PCA report, and optional PCA reduction.

The paper notes that a PCA showed the representation to be highly redundant; this
stage measures it for every run: the variance explained by the first k principal
components, and how many components reach 90, 95 and 99%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from raregal.core import defaults


@dataclass
class Redundancy:
    """PCA of a representation.

    Attributes
    ----------
    explained : ndarray, shape (d,)
        Cumulative fraction of variance explained by the first 1 … d components.
    components_for : dict
        ``{"0.9": k, ...}``: the fewest components explaining each level.
    pca : sklearn.decomposition.PCA
        The fitted PCA, for :func:`pca_reduce`.
    """

    explained: np.ndarray
    components_for: dict
    pca: PCA

    def as_dict(self) -> dict:
        return {
            "dims": int(len(self.explained)),
            "components_for": self.components_for,
            "cumulative_explained": [round(float(v), 6) for v in self.explained],
        }

    def describe(self) -> str:
        levels = ", ".join(f"{float(level):.0%} in {k}" for level, k in self.components_for.items())
        first = ", ".join(
            f"{k}: {self.explained[k - 1]:.1%}"
            for k in (1, 2, 5, 10, 20)
            if k <= len(self.explained)
        )
        return f"variance explained by the first k components ({first}); {levels}"


def pca_redundancy(features: np.ndarray, levels=defaults.VARIANCE_LEVELS) -> Redundancy:
    """Fit a full PCA to ``features`` (n, d) and summarise its variance curve."""
    n, d = features.shape
    pca = PCA(n_components=min(n, d), svd_solver="covariance_eigh" if n > d else "full")
    pca.fit(features)
    explained = np.cumsum(pca.explained_variance_ratio_)
    explained /= explained[-1]  # exact 1.0 at the end despite round-off
    components_for = {
        f"{level:g}": int(np.searchsorted(explained, level - 1e-12) + 1) for level in levels
    }
    return Redundancy(explained=explained, components_for=components_for, pca=pca)


def pca_reduce(features: np.ndarray, redundancy: Redundancy, n_components: int) -> np.ndarray:
    """Project ``features`` onto the first ``n_components`` principal components."""
    pca = redundancy.pca
    projected = (features - pca.mean_) @ pca.components_[:n_components].T
    return projected.astype(np.float32)
