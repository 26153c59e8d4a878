"""Stop 36: dense rows stored as CSR train as the array they are; dense X is not centred for the centroids."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._validation as validation
from skxc import AdversarialSoftmaxClassifier
from skxc._start import start_centre, unit_centroids
from skxc._validation import dense_for_training
from skxc.datasets import make_hierarchical_classification


def _data(n=1500, density=1.0, seed=0):
    X, y = make_hierarchical_classification(n_samples=n, n_features=12, n_classes=40, random_state=seed)
    X = X.astype(np.float32)
    if density < 1.0:
        X[np.random.default_rng(seed).random(X.shape) >= density] = 0.0
    return X, y


@pytest.mark.parametrize("density, dense", [(1.0, True), (0.7, True), (0.3, False)])
def test_dense_for_training_converts_only_rows_stored_densely(density, dense):
    X, _ = _data(200, density)
    csr = sp.csr_matrix(X)
    out = dense_for_training(csr)
    if dense:
        assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, X)
        assert out.nbytes <= csr.data.nbytes + csr.indices.nbytes  # never more memory than the CSR
        csr64 = sp.csr_matrix(X.astype(np.float64))
        out64 = dense_for_training(csr64)  # float64 as the float64 array would train
        assert out64.dtype == np.float64 and out64.flags.c_contiguous
        np.testing.assert_array_equal(out64, X.astype(np.float64))
        assert out64.nbytes <= 4 / 3 * (csr64.data.nbytes + csr64.indices.nbytes)
    else:
        assert out is csr
    assert dense_for_training(X) is X  # arrays as they are
    empty = sp.csr_matrix((0, 5), dtype=np.float32)
    assert dense_for_training(empty) is empty


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_of_dense_rows_fits_the_model_of_the_array(monkeypatch, dtype):
    """The same rows as CSR and as an array: the same model, bit for bit (n_jobs=1), blend and start included;
    with the conversion off, CSR takes the sparse paths and another model. Float64 too (stop 41: its CSR was
    converted to float32, whose tree and start differed from the float64 array's: coef_ by up to 2 %)."""
    X, y = _data(1500)
    X = X.astype(dtype)
    params = dict(random_state=3, n_jobs=1, max_iter=2)
    a = AdversarialSoftmaxClassifier(**params).fit(X, y)
    b = AdversarialSoftmaxClassifier(**params).fit(sp.csr_matrix(X), y)
    assert a.init_scale_ > 0  # the centroid start ran (and the blend's pilots: 1,500 rows)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    assert a.centroid_blend_ == b.centroid_blend_
    np.testing.assert_allclose(a.predict_proba(X[:50]), b.predict_proba(sp.csr_matrix(X[:50])), rtol=1e-5, atol=1e-9)
    monkeypatch.setattr(validation, "TRAIN_DENSE_DENSITY", None)
    c = AdversarialSoftmaxClassifier(**params).fit(sp.csr_matrix(X), y)
    assert not np.array_equal(np.asarray(c.coef_), a.coef_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_stream_of_dense_csr_batches_trains_as_arrays(dtype):
    X, y = _data(1500)
    X = X.astype(dtype)
    classes = np.unique(y)
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    for rows in (slice(0, 1100), slice(1100, None)):
        a.partial_fit(X[rows], y[rows], classes=classes)
        b.partial_fit(sp.csr_matrix(X[rows]), y[rows], classes=classes)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_dense_rows_are_not_centred_for_the_centroids():
    X, y = _data(300)
    X += 5.0  # a large common offset: still the rows as they are
    codes = np.searchsorted(np.unique(y), y)
    w = np.ones(X.shape[0])
    assert start_centre(X, w) is None
    mu, centre = unit_centroids(X, codes, 40, w)
    mu_csr, _ = unit_centroids(sp.csr_matrix(X), codes, 40, w)
    assert centre is None
    np.testing.assert_allclose(mu, mu_csr.toarray(), atol=1e-12)


def test_sparse_weights_keep_dense_csr_rows_sparse():
    """weights="sparse" needs sparse rows: CSR rows stored densely stay CSR there (no error)."""
    X, y = _data(1200)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, weights="sparse").fit(sp.csr_matrix(X), y)
    assert sp.issparse(clf.coef_)
    with pytest.raises(ValueError, match='weights="sparse" needs sparse X'):
        AdversarialSoftmaxClassifier(max_iter=1, weights="sparse").fit(X, y)
