"""The PCA redundancy report."""

import numpy as np

from raregal.method.redundancy import pca_reduce, pca_redundancy


def test_report_matches_singular_values_of_low_rank_data():
    rng = np.random.default_rng(0)
    scales = np.array([10, 5, 3, 1, 0.5])
    latent = rng.normal(size=(3000, 5)) * scales
    basis, _ = np.linalg.qr(rng.normal(size=(64, 5)))
    features = (latent @ basis.T + rng.normal(size=(3000, 64)) * 0.01).astype(np.float32)

    report = pca_redundancy(features)
    centred = features - features.mean(axis=0)
    sv = np.linalg.svd(centred.astype(np.float64), compute_uv=False)
    expected = np.cumsum(sv**2) / np.sum(sv**2)
    np.testing.assert_allclose(report.explained, expected, atol=1e-4)
    assert len(report.explained) == 64
    k = {level: int(np.searchsorted(expected, level) + 1) for level in (0.9, 0.95, 0.99)}
    assert report.components_for == {"0.9": k[0.9], "0.95": k[0.95], "0.99": k[0.99]}
    assert report.components_for["0.99"] <= 5  # rank 5 plus noise

    reduced = pca_reduce(features, report, 3)
    assert reduced.shape == (3000, 3) and reduced.dtype == np.float32
    np.testing.assert_allclose(
        np.var(reduced, axis=0, ddof=1) / np.sum(sv**2 / 2999),
        expected[:3] - np.r_[0, expected[:2]],
        rtol=1e-3,
    )
