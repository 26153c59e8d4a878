"""Stop 67 (a user's-eye audit): a sparse ``coef_`` edited in place was missed by predictions made before the
edit (they score from an index of coef_ made once per matrix) and undone by the next ``partial_fit`` of a
streamed model (which trains on from the table coef_ was copied from). Its arrays are now read-only: an edit in
place raises; a new matrix assigned to coef_ is the model; dense coef_ can still be edited in place."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = sp.random(600, 50, density=0.1, format="csr", random_state=0, dtype=np.float64)
    y = rng.integers(0, 5, 600)
    return X, y


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_an_in_place_edit_of_sparse_coef_raises(data, how):
    X, y = data
    clf = AdversarialSoftmaxClassifier(weights="sparse", random_state=0, n_jobs=1, max_iter=2)
    clf = clf.fit(X, y) if how == "fit" else clf.partial_fit(X, y, classes=np.unique(y))
    before = clf.decision_function(X[:5])  # the index of coef_ is made here
    coef = clf.coef_
    assert sp.issparse(coef)
    for array in (coef.data, coef.indices, coef.indptr):
        with pytest.raises(ValueError, match="read-only"):
            array[:1] = 0
    with pytest.raises(ValueError, match="read-only"):
        coef.data *= 2
    np.testing.assert_array_equal(clf.decision_function(X[:5]), before)  # nothing changed


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_an_edited_copy_assigned_to_coef_is_the_model(data, how):
    X, y = data
    clf = AdversarialSoftmaxClassifier(weights="sparse", random_state=0, n_jobs=1, max_iter=2)
    clf = clf.fit(X, y) if how == "fit" else clf.partial_fit(X, y, classes=np.unique(y))
    before = clf.decision_function(X[:5])
    original = clf.coef_.copy()
    edited = clf.coef_.copy()
    edited.data[np.abs(edited.data) < np.median(np.abs(edited.data))] = 0.0  # a manual pruning
    edited.eliminate_zeros()
    clf.coef_ = edited
    after = clf.decision_function(X[:5])
    # the scores move by exactly the weights' change (the intercept, the common term and log p_n stay), over T
    change = (X[:5] @ (edited - original).T).toarray() / clf.score_temperature_
    assert np.abs(change).max() > 0.01
    np.testing.assert_allclose(after - before, change, atol=1e-5)
    if how == "partial_fit":  # the next call trains on from the edited weights, not from the table
        fresh = AdversarialSoftmaxClassifier(weights="sparse", random_state=0, n_jobs=1, max_iter=2)
        fresh.partial_fit(X, y, classes=np.unique(y))
        clf.partial_fit(X[:50], y[:50])
        fresh.partial_fit(X[:50], y[:50])
        assert (clf.coef_ != fresh.coef_).nnz > 0


def test_pickle_and_dense_coef(data):
    X, y = data
    clf = AdversarialSoftmaxClassifier(weights="sparse", random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    with pytest.raises(ValueError, match="read-only"):
        loaded.coef_.data[:1] = 0
    np.testing.assert_array_equal(loaded.decision_function(X[:5]), clf.decision_function(X[:5]))
    dense = AdversarialSoftmaxClassifier(weights="dense", random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    before = dense.decision_function(X[:5])
    change = (X[:5] @ np.asarray(dense.coef_, dtype=np.float64).T) / dense.score_temperature_
    assert np.abs(change).max() > 0.01
    dense.coef_[:] = 0.0  # dense weights are scored as they are
    np.testing.assert_allclose(before - dense.decision_function(X[:5]), change, atol=1e-5)
