"""Stop 67, a user's-eye audit: a Ctrl-C while a first ``partial_fit`` sets up training leaves the estimator
unfitted (it left a half-built model that looked fitted and counted the batch's rows twice when it was passed
again). (The metrics' unsigned label columns past the label count: tests/test_metrics.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skxc._training as training
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


def _data():
    X, y = make_hierarchical_classification(n_samples=1500, n_features=20, n_classes=30, random_state=0)
    return sp.csr_matrix(X), y


def _interrupted_setup(monkeypatch):
    """The next training set-up meets a Ctrl-C (as a second press while it runs: training raises
    InterruptedBeforeTraining); later ones run as usual."""
    real = training.TrainingMixin._training_setup
    calls = []

    def once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(training.TrainingMixin, "_training_setup", once)
    return calls


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_ctrl_c_while_a_first_partial_fit_sets_up_training_leaves_it_unfitted(monkeypatch, weights):
    X, y = _data()
    classes = np.unique(y)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights=weights)
    calls = _interrupted_setup(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, y, classes=classes)
    assert calls == [1]
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    assert set(vars(clf)) == set(clf.get_params())  # no attribute but the parameters
    # passed again, the batch trains as in a new estimator (its rows counted once)
    clf.partial_fit(X, y, classes=classes)
    fresh = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights=weights).partial_fit(X, y, classes=classes)
    for a, b in ((clf.coef_, fresh.coef_), (clf.intercept_, fresh.intercept_)):
        np.testing.assert_array_equal(a.toarray() if sp.issparse(a) else a, b.toarray() if sp.issparse(b) else b)
    assert clf.t_ == fresh.t_ and clf.n_iter_ == fresh.n_iter_ == 1


def test_ctrl_c_while_a_later_partial_fit_sets_up_training_raises():
    """A later call's Ctrl-C before training raises as before (the model stays fitted)."""
    X, y = _data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(X, y, classes=np.unique(y))
    real = training.TrainingMixin._training_setup
    try:
        training.TrainingMixin._training_setup = lambda self, *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
        with pytest.raises(KeyboardInterrupt):
            clf.partial_fit(X[:100], y[:100])
    finally:
        training.TrainingMixin._training_setup = real
    check_is_fitted(clf)
    assert clf.n_iter_ == 1
    assert np.all(np.isfinite(clf.predict_proba(X[:5])))


def test_the_memory_guard_counts_the_trees_projection_of_the_rows(monkeypatch):
    """The tree's projection of X (rows x components, float32) is allocated whole before scoring: with many
    components it can be far larger than a top-1 output, and the guard now checks it (it raised numpy's bare
    MemoryError, or let Linux's overcommit kill the process)."""
    import skxc._validation as validation
    from skxc import ModelMemoryError

    X, y = _data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, centroid_blend=0.0, n_components=8)
    clf.fit(X, y)
    k = clf.tree_.n_components_
    projection = X.shape[0] * k * 4
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    # room for every output of predict and predict_top_k(k=1), not for the projection as well
    labels = X.shape[0] * (16 + clf.classes_.dtype.itemsize)
    assert labels < projection
    room = projection - 1
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(room / validation.MEMORY_HEADROOM))
    for method, call in (("predict", clf.predict), ("predict_top_k", lambda X: clf.predict_top_k(X, 1))):
        with pytest.raises(ModelMemoryError, match=rf"{method} would return first the tree's projection of X, a "
                           rf"1,500 x {k} float32 array.*fewer components \(n_components\)"):  # fmt: skip
            call(X)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 10**12)
    assert clf.predict(X).shape == (X.shape[0],)


def test_the_fit_guard_counts_the_trees_randomized_svd_of_sparse_rows(monkeypatch):
    """A refit of sparse X with many tree components: the tree's randomized SVD (float64 bases of the rows and
    the columns, n_components + 10 wide) is counted before the fit starts, and the previous model stays."""
    import skxc._validation as validation
    from skxc import ModelMemoryError
    from skxc._projection import N_OVERSAMPLES, sparse_svd_bytes

    rng = np.random.default_rng(0)
    X = sp.random(1500, 3000, density=0.01, format="csr", random_state=0)  # sparse rows (not densified)
    y = rng.integers(0, 30, 1500)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, centroid_blend=0.0, weights="dense")
    clf.fit(X, y)
    coef = clf.coef_.copy()
    svd = sparse_svd_bytes(X.shape[0], X.shape[1], 1000)
    assert svd == 8 * (1000 + N_OVERSAMPLES) * (3 * X.shape[1] + 3 * X.shape[0])
    # room for half of it (the fit's SVD takes the rows outside its calibration split, most of them)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(svd / 2 / validation.MEMORY_HEADROOM))
    clf.set_params(n_components=1000)
    with pytest.raises(ModelMemoryError, match=r"randomized SVD of the sparse rows.*fewer tree components"):
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.tree_.n_components_ != 1000
    clf.set_params(n_components=4)  # a small tree fits in the same memory
    clf.fit(X, y)
    assert clf.tree_.n_components_ == 4
