"""The sparse nearest centroid of ``benchmarks/_centroid.py`` (used by ``benchmarks.longtail``)
against a dense NumPy reference on small random data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._centroid import SparseNearestCentroid  # noqa: E402


def _data(seed, n=300, n_features=40, n_classes=25, density=0.2):
    rng = np.random.default_rng(seed)
    X = sp.random(n, n_features, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = rng.exponential(size=X.data.size)
    y = rng.choice(np.arange(100, 100 + 3 * n_classes, 3), size=n)  # labels that are not 0..C-1
    return X, y


def _unit(A):
    """Rows scaled to unit L2 norm; zero rows stay zero."""
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A / np.where(norms > 0, norms, 1.0)


def _reference_scores(X, y, Xt, metric):
    """Dense scores (larger = nearer): minus the squared distance to each class mean, or the
    cosine to the normalised mean of the normalised rows."""
    X, Xt = X.toarray(), Xt.toarray()
    if metric == "cosine":
        X, Xt = _unit(X), _unit(Xt)
    classes = np.unique(y)
    mu = np.stack([X[y == c].mean(axis=0) for c in classes])
    if metric == "cosine":
        return classes, Xt @ _unit(mu).T
    return classes, -((Xt[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("block_rows", [7, 512])
@pytest.mark.parametrize("dense", [True, False])
def test_matches_dense_reference(metric, block_rows, dense):
    X, y = _data(0)
    Xt, _ = _data(1, n=120)
    Xt = sp.csr_matrix(sp.diags((np.arange(120) != 3).astype(float)) @ Xt)  # row 3 empty
    Xt.eliminate_zeros()
    assert Xt[3].nnz == 0
    clf = SparseNearestCentroid(metric=metric, block_rows=block_rows, dense=dense).fit(X, y)
    assert sp.issparse(clf._centroids_t) != dense
    classes, S = _reference_scores(X, y, Xt, metric)
    np.testing.assert_array_equal(clf.classes_, classes)
    top = clf.predict_top_k(Xt, k=5)
    assert top.shape == (120, 5)
    ref_top = classes[np.argsort(-S, axis=1, kind="stable")[:, :5]]
    # same classes in the same order wherever the reference has no near-ties in its top 6
    Ss = -np.sort(-S, axis=1)[:, :6]
    clear = (np.diff(-Ss, axis=1) > 1e-9).all(axis=1)
    assert clear.sum() > 100
    np.testing.assert_array_equal(top[clear], ref_top[clear])
    np.testing.assert_array_equal(clf.predict(Xt)[clear], ref_top[clear, 0])


def test_euclidean_matches_sklearn_nearest_centroid():
    from sklearn.neighbors import NearestCentroid

    X, y = _data(2)
    Xt, _ = _data(3, n=100)
    ours = SparseNearestCentroid().fit(X, y).predict(Xt)
    ref = NearestCentroid().fit(X.toarray(), y).predict(Xt.toarray())
    np.testing.assert_array_equal(ours, ref)


def test_centroids_stay_sparse_and_k_is_capped():
    X, y = _data(4, n=60, n_features=1000, n_classes=3, density=0.005)
    clf = SparseNearestCentroid().fit(X, y)
    assert sp.issparse(clf.centroids_) and clf.centroids_.nnz <= X.nnz
    assert clf.predict_top_k(X, k=10).shape == (60, 3)


def test_bad_metric():
    with pytest.raises(ValueError, match="metric"):
        SparseNearestCentroid(metric="manhattan")
    with pytest.raises(ValueError, match="dense"):
        SparseNearestCentroid(dense="yes")


def test_auto_keeps_dense_features_dense_and_tf_idf_like_features_sparse():
    X, y = _data(5, n=200, n_features=30, n_classes=5, density=0.9)
    assert not sp.issparse(SparseNearestCentroid().fit(X, y)._centroids_t)
    X, y = _data(6, n=60, n_features=1000, n_classes=3, density=0.005)
    assert sp.issparse(SparseNearestCentroid().fit(X, y)._centroids_t)
