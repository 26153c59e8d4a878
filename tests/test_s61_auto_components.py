"""``n_components="auto"``: a 24-dimensional tree projection, fitted with a Newton tolerance of 1e-3, on sparse
single-label rows with many rows per class, 16 and the tree's default tolerance elsewhere
(``skxc._fit.resolve_n_components``; docs/benchmarks.rst, "Stop 60" and "Stop 61")."""

from __future__ import annotations

import _rows
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._fit import AUTO_COMPONENTS, AUTO_NEWTON_TOL, resolve_n_components
from skxc._tree_fit import _fit_tree


def one_hot_rows(n=6_000, n_classes=40, vocabulary=1_000, seed=0):
    """Next-word-like rows (``_rows.one_hot_rows``), 150 rows per class on average."""
    return _rows.one_hot_rows(n, n_classes, vocabulary, seed)


def test_auto_components_are_24_on_sparse_many_rows_single_label_and_16_elsewhere():
    X, y = one_hot_rows()
    n_classes = len(np.unique(y))
    assert AUTO_COMPONENTS == (16, 24) and AUTO_NEWTON_TOL == 1e-3
    assert resolve_n_components("auto", X, n_classes) == (24, 1e-3)
    assert resolve_n_components("auto", X, n_classes, multilabel=True) == (16, None)  # (row, label) pairs
    assert resolve_n_components("auto", X[:1_500], n_classes) == (16, None)  # 37.5 rows per class: few rows
    dense = np.random.default_rng(0).random((X.shape[0], 30)).astype(np.float32)
    assert resolve_n_components("auto", dense, n_classes) == (16, None)  # dense rows
    assert resolve_n_components("auto", sp.csr_matrix(dense), n_classes) == (16, None)  # mostly dense, as CSR
    for k in (0, 8, 16, 24, 32):  # an explicit dimension is kept, with the tree's default tolerance
        assert resolve_n_components(k, X, n_classes) == (k, None)
        assert type(resolve_n_components(np.int64(k), X, n_classes)[0]) is int


def test_fit_trains_the_tree_on_the_resolved_dimension():
    X, y = one_hot_rows()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1).fit(X, y)
    assert clf.n_components == "auto"  # the parameter stays as given
    assert clf.tree_.n_components_ == 24
    assert clf.tree_.node_weight_.shape[1] == 24  # the splits live in the 24 dimensions
    assert clf.tree_.projection == "centroids"
    assert clf.tree_.newton_tol == 1e-3
    explicit = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, n_components=16).fit(X, y)
    assert explicit.tree_.n_components_ == 16 and explicit.tree_.newton_tol == 1e-6
    explicit24 = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, n_components=24).fit(X, y)
    assert explicit24.tree_.newton_tol == 1e-6  # only "auto" loosens it
    few = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1).fit(X[:1_500], y[:1_500])
    assert few.tree_.n_components_ == 16 and few.tree_.newton_tol == 1e-6


def test_newton_tol_reaches_the_node_fits():
    """A looser tolerance changes the tree (the same rows and seed) and fits it in fewer passes over the rows,
    to a total node objective within 0.1 % of the tighter fit's."""
    X, y = one_hot_rows()
    loose = AuxiliaryTree(n_components=8, newton_tol=1e-3, temperature=1.0, random_state=0).fit(X, y)
    tight = AuxiliaryTree(n_components=8, newton_tol=1e-6, temperature=1.0, random_state=0).fit(X, y)
    assert not np.array_equal(loose.node_weight_, tight.node_weight_)
    Z, codes = tight.transform(X), np.searchsorted(tight.classes_, y).astype(np.int32)
    fits = {tol: _fit_tree(Z, codes, len(tight.classes_), newton_tol=tol) for tol in (1e-3, 1e-6)}
    passes = {tol: int(f.node_iterations[:, 1].sum()) for tol, f in fits.items()}
    objective = {tol: float(np.nansum(f.node_objective[:, 1])) for tol, f in fits.items()}
    assert passes[1e-3] < passes[1e-6]
    assert objective[1e-3] == pytest.approx(objective[1e-6], rel=1e-3)


@pytest.mark.parametrize("bad", [-1e-3, "1e-3", None])
def test_invalid_newton_tol_is_refused_naming_the_parameter(bad):
    X, y = one_hot_rows(n=600)
    with pytest.raises(InvalidParameterError, match="newton_tol"):
        AuxiliaryTree(newton_tol=bad).fit(X, y)


def test_auto_is_the_same_model_as_16_where_it_resolves_to_16():
    X, y = one_hot_rows(n=1_500)  # 37.5 rows per class
    auto = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    fixed = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, n_components=16).fit(X, y)
    assert auto.tree_.n_components_ == fixed.tree_.n_components_ == 16
    np.testing.assert_array_equal(auto.tree_.node_weight_, fixed.tree_.node_weight_)
    np.testing.assert_array_equal(auto.intercept_, fixed.intercept_)
    a, b = auto.coef_, fixed.coef_
    np.testing.assert_array_equal(a.toarray() if sp.issparse(a) else a, b.toarray() if sp.issparse(b) else b)
    np.testing.assert_array_equal(auto.predict_proba(X[:50]), fixed.predict_proba(X[:50]))


def test_partial_fit_resolves_from_the_first_call_and_keeps_the_tree():
    X, y = one_hot_rows()
    classes = np.unique(y)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    clf.partial_fit(X[:3_000], y[:3_000], classes=classes)  # 75 rows per class: many rows
    tree = clf.tree_
    assert tree.n_components_ == 24
    clf.partial_fit(X[3_000:3_500], y[3_000:3_500])  # a small batch does not refit nor resize the tree
    assert clf.tree_ is tree and clf.tree_.n_components_ == 24
    small = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    small.partial_fit(X[:1_000], y[:1_000], classes=classes)  # 25 rows per class
    assert small.tree_.n_components_ == 16


@pytest.mark.parametrize("bad", ["16", "Auto", 2.5, -1, 1025, None])
def test_invalid_n_components_is_refused_naming_the_parameter(bad):
    X, y = one_hot_rows(n=600)
    with pytest.raises(InvalidParameterError, match="n_components"):
        AdversarialSoftmaxClassifier(n_components=bad).fit(X, y)
