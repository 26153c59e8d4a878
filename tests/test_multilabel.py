"""AdversarialSoftmaxClassifier on label indicator matrices (multi-label, pick-all-labels)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification
from skxc.metrics import precision_at_k

SPARSE = [pytest.param(False, id="dense"), pytest.param(True, id="csr")]


@pytest.fixture(scope="module")
def ml_data():
    X, Y = make_multilabel_classification(
        n_samples=1600, n_features=30, n_classes=24, n_labels=3, allow_unlabeled=False, random_state=0
    )
    X = X.astype(np.float64)
    return X[:1300], Y[:1300], X[1300:], Y[1300:]


@pytest.fixture(scope="module")
def ml_model(ml_data):
    X, Y, _, _ = ml_data
    return AdversarialSoftmaxClassifier(random_state=0, max_iter=5).fit(X, Y)


def _fit(X, Y, **params):
    params = {"random_state": 0, "max_iter": 2, **params}
    return AdversarialSoftmaxClassifier(**params).fit(X, Y)


def test_classes_are_label_columns_and_model_learns(ml_data, ml_model):
    X, Y, Xt, Yt = ml_data
    assert_array_equal(ml_model.classes_, np.arange(Y.shape[1]))
    assert ml_model.coef_.shape == (Y.shape[1], X.shape[1])
    assert ml_model.label_cardinality_ == pytest.approx(Y.sum(1).mean())
    # precision@1 well above always predicting the most frequent label
    baseline = Yt[:, np.argmax(Y.sum(0))].mean()
    p1 = ml_model.score(Xt, Yt)
    assert p1 > baseline + 0.15
    top = ml_model.predict_top_k(Xt, 3)
    frequent = np.tile(np.argsort(-Y.sum(0), kind="stable")[:3], (Xt.shape[0], 1))
    assert precision_at_k(Yt, top, k=3) > precision_at_k(Yt, frequent, k=3) + 0.1


def test_score_is_precision_at_1(ml_data, ml_model):
    _, _, Xt, Yt = ml_data
    top = ml_model.predict_top_k(Xt, 1)
    assert ml_model.score(Xt, Yt) == pytest.approx(precision_at_k(Yt, top, k=1))
    assert ml_model.score(Xt, sp.csr_matrix(Yt)) == ml_model.score(Xt, Yt)
    w = np.random.default_rng(0).uniform(size=Xt.shape[0])
    hits = Yt[np.arange(Xt.shape[0]), top[:, 0]]
    assert ml_model.score(Xt, Yt, sample_weight=w) == pytest.approx(np.average(hits, weights=w))


def test_predict_rule(ml_data, ml_model):
    """predict: labels with label_cardinality_ * proba >= 0.5, and always the top one."""
    _, _, Xt, _ = ml_data
    P = ml_model.predict(Xt)
    assert isinstance(P, np.ndarray) and P.dtype == np.int64 and P.shape == (Xt.shape[0], 24)
    proba = ml_model.predict_proba(Xt)
    want = (ml_model.label_cardinality_ * proba >= 0.5).astype(np.int64)
    want[np.arange(Xt.shape[0]), proba.argmax(1)] = 1
    assert_array_equal(P, want)
    assert np.all(P.sum(1) >= 1)
    assert np.any(P.sum(1) > 1)


def test_predict_is_sparse_above_1000_labels():
    rng = np.random.default_rng(0)
    n, n_labels = 60, 1001
    X = rng.normal(size=(n, 4))
    Y = sp.random(n, n_labels, density=0.004, random_state=0, format="lil")
    Y[np.arange(n), rng.integers(0, n_labels, n)] = 1
    Y = sp.csr_matrix(Y)
    Y.data[:] = 1
    clf = _fit(X, Y, max_iter=1)
    P = clf.predict(X)
    assert sp.issparse(P) and P.format == "csr" and P.shape == (n, n_labels)
    assert np.all(np.asarray(P.sum(1)).ravel() >= 1)


@pytest.mark.parametrize("multilabel", [False, True], ids=["multiclass", "multilabel"])
def test_predict_top_k_scores_are_probabilities(ml_data, ml_model, multilabel):
    _, _, Xt, _ = ml_data
    if multilabel:
        clf = ml_model
    else:
        X, y = make_hierarchical_classification(n_samples=600, n_classes=12, random_state=0)
        clf = _fit(X, y)
        Xt = X[:100]
    top, scores = clf.predict_top_k(Xt, 4, return_scores=True)
    assert_array_equal(top, clf.predict_top_k(Xt, 4))
    proba = clf.predict_proba(Xt)
    cols = np.searchsorted(clf.classes_, top)
    assert_allclose(scores, np.take_along_axis(proba, cols, axis=1), rtol=1e-5, atol=1e-9)
    assert np.all(np.diff(scores, axis=1) <= 1e-12)


@pytest.mark.parametrize("noise", ["adversarial", "uniform", None])
def test_dense_and_sparse_indicators_give_the_same_model(ml_data, noise):
    X, Y, Xt, _ = ml_data
    a = _fit(X[:400], Y[:400], noise=noise)
    for Yb in (sp.csr_matrix(Y[:400]), sp.csc_matrix(Y[:400]), Y[:400].astype(bool), Y[:400].astype(np.float32)):
        b = _fit(X[:400], Yb, noise=noise)
        assert_array_equal(a.coef_, b.coef_)
        assert_array_equal(a.intercept_, b.intercept_)
    assert_array_equal(a.predict(Xt), b.predict(Xt))


@pytest.mark.parametrize("sparse", SPARSE)
def test_rows_without_labels_are_skipped(ml_data, sparse):
    """Rows with no label add no example: appending them changes nothing (no calibration split here)."""
    X, Y, _, _ = ml_data
    X, Y = X[:300], Y[:300]
    Xe = np.r_[X, X[:50]]
    Ye = np.r_[Y, np.zeros((50, Y.shape[1]), dtype=Y.dtype)]
    if sparse:
        X, Xe = sp.csr_matrix(X), sp.csr_matrix(Xe)
    params = {"init": "zeros", "tree_temperature": 1.0, "shuffle": False}
    a, b = _fit(X, Y, **params), _fit(Xe, Ye, **params)
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.intercept_, b.intercept_)


def test_multilabel_errors(ml_data):
    X, Y, _, _ = ml_data
    X, Y = X[:200], Y[:200]
    Y2 = Y.copy()
    Y2[0, 0] = 2
    with pytest.raises(ValueError, match="not a label indicator matrix"):
        _fit(X, Y2)
    with pytest.raises(ValueError, match="not a label indicator matrix"):
        _fit(X, sp.csr_matrix(Y2))
    with pytest.raises(TypeError, match="numeric label indicator"):
        _fit(X, Y.astype(str))
    with pytest.raises(ValueError, match="no labels"):
        _fit(X, np.zeros_like(Y))
    with pytest.raises(ValueError, match="ragged"):
        _fit(X[:2], [["a", "b"], ["c"]])
    with pytest.raises(ValueError, match="rows but X has"):
        _fit(X, sp.csr_matrix(Y[:-1]))
    clf = AdversarialSoftmaxClassifier(random_state=0)
    with pytest.raises(ValueError, match="np.arange"):
        clf.partial_fit(X, Y, classes=np.arange(1, 25))
    clf.partial_fit(X, Y)  # classes may be omitted for an indicator matrix
    assert_array_equal(clf.classes_, np.arange(24))
    with pytest.raises(ValueError, match="cannot be mixed"):
        clf.partial_fit(X, Y.argmax(1))
    with pytest.raises(ValueError, match="label columns"):
        clf.partial_fit(X, Y[:, :20])
    with pytest.raises(ValueError, match="label columns"):
        clf.score(X, Y[:, :20])
    single = AdversarialSoftmaxClassifier(random_state=0).partial_fit(X, Y.argmax(1), classes=np.arange(24))
    with pytest.raises(ValueError, match="cannot be mixed"):
        single.partial_fit(X, Y)


def test_partial_fit_after_fit_noise_and_refit_as_single_label(ml_data):
    X, Y, Xt, Yt = ml_data
    clf = AdversarialSoftmaxClassifier(random_state=0).fit_noise(X, Y)
    tree = copy.deepcopy(clf.tree_)
    for _ in range(3):
        clf.partial_fit(X, sp.csr_matrix(Y))
    assert_array_equal(clf.tree_.node_weight_, tree.node_weight_)  # the tree stays fixed
    assert clf.n_iter_ == 3 and clf.t_ == 3 * Y.sum()
    assert clf.score(Xt, Yt) > 0.4
    clf.fit(X, Y.argmax(1))  # refitting single-label forgets the multi-label state
    assert not hasattr(clf, "label_cardinality_")
    assert clf.predict(Xt).shape == (Xt.shape[0],)
    assert clf.decision_function(Xt).shape == (Xt.shape[0], len(clf.classes_))


def test_two_labels_decision_function_has_both_columns():
    X, Y = make_multilabel_classification(n_samples=200, n_classes=2, allow_unlabeled=False, random_state=0)
    clf = _fit(X, Y)
    assert clf.decision_function(X).shape == (200, 2)
    assert clf.predict(X).shape == (200, 2)


def test_early_stopping_monitors_precision_at_1(ml_data):
    X, Y, _, _ = ml_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _fit(X, Y, early_stopping=True, max_iter=3)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert all(0.0 <= s <= 1.0 for s in clf.validation_scores_) and clf.validation_scores_[-1] > 0.3


def test_grid_search_default_scoring_is_precision_at_1(ml_data):
    X, Y, _, _ = ml_data
    grid = GridSearchCV(AdversarialSoftmaxClassifier(random_state=0, max_iter=2), {"alpha": [1e-3, 1e-2]}, cv=2)
    grid.fit(X[:600], Y[:600])
    assert 0.3 < grid.best_score_ <= 1.0


def test_single_label_column_vector_is_not_multilabel():
    X, y = make_hierarchical_classification(n_samples=300, n_classes=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = _fit(X, y[:, None])
    assert clf.predict(X).ndim == 1


def test_failed_multilabel_fit_leaves_the_model_intact(ml_data, ml_model):
    X, Y, Xt, _ = ml_data
    clf = copy.deepcopy(ml_model)
    before = clf.predict_proba(Xt)
    with pytest.raises(ValueError, match="no labels"):
        clf.fit(X[:100], np.zeros_like(Y[:100]))
    assert clf._is_multilabel and clf.label_cardinality_ == ml_model.label_cardinality_
    assert_array_equal(clf.predict_proba(Xt), before)


def test_auto_learning_rate_is_over_examples_and_divided_by_sqrt_cardinality(ml_data, ml_model):
    from skxc._solver import auto_learning_rate

    X, Y, _, _ = ml_data
    example_row = np.repeat(np.arange(X.shape[0]), Y.sum(1))
    want = auto_learning_rate(X[example_row], np.ones(example_row.size)) / np.sqrt(Y.sum(1).mean())
    assert ml_model.learning_rate_ == pytest.approx(want, rel=1e-12)
    single = AdversarialSoftmaxClassifier(random_state=0, max_iter=1).fit(X, Y.argmax(1))
    assert single.learning_rate_ == pytest.approx(auto_learning_rate(X, np.ones(X.shape[0])), rel=1e-12)


def test_frozen_tree_fitted_on_the_label_pairs(ml_data):
    """noise=FrozenEstimator(tree): a tree fitted on the (row, label) pairs is used as is."""
    from sklearn.frozen import FrozenEstimator

    from skxc import AuxiliaryTree

    X, Y, Xt, Yt = ml_data
    example_row, labels = np.nonzero(Y)
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X[example_row], labels, classes=np.arange(Y.shape[1]))
    clf = AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), random_state=0, max_iter=2).fit(X, Y)
    assert clf.tree_ is tree or np.array_equal(clf.tree_.node_weight_, tree.node_weight_)
    assert clf.score(Xt, Yt) > 0.4
    with pytest.raises(ValueError, match="classes"):
        AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), max_iter=1).fit(X, Y[:, :20])
