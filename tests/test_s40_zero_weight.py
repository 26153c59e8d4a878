"""Stop 40: a row of ``sample_weight`` 0 is a row absent from X (scikit-learn's convention), also for what counts
rows rather than weights: the tree's projection, the held-out rows of the automatic settings (the blend's pilots,
the start's scale), the epoch budget. Before, zero-weight rows sharing classes with the others moved the pilots'
choices (the blend's beta 64 -> 0-1, 5 points of top-1 on these data), and a few zero-weight rows of large values
moved the projection and the start's scale."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_blend import few_rows_data, multilabel_few_rows_data

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._validation import positive_rows


def dense(a):
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def assert_same_model(a, b, X):
    np.testing.assert_array_equal(a.classes_, b.classes_)
    np.testing.assert_array_equal(dense(a.coef_), dense(b.coef_))
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def with_zero_rows(X, y, seed=0, n_zero=600, scale=1000.0):
    """X and y with ``n_zero`` extra rows of weight 0: copies of random rows scaled by ``scale`` (values the
    projection and the start's scale would notice), with labels of the same classes; and the weights."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(X.shape[0], n_zero, replace=False)
    extra = X[pick] * scale
    X_all = sp.vstack([X, extra]).tocsr() if sp.issparse(X) else np.vstack([X, extra])
    y_all = sp.vstack([y, y[pick]]).tocsr() if sp.issparse(y) else np.concatenate([y, y[pick]])
    # the zero-weight rows at random places among the others, which keep their order
    zero_at = np.zeros(X_all.shape[0], dtype=bool)
    zero_at[rng.choice(X_all.shape[0], n_zero, replace=False)] = True
    order = np.empty(X_all.shape[0], dtype=np.int64)
    order[~zero_at] = np.arange(X.shape[0])
    order[zero_at] = X.shape[0] + np.arange(n_zero)
    return X_all[order], y_all[order], (~zero_at).astype(np.float64)


def test_positive_rows_drops_only_zero_weights_and_copies_nothing_otherwise():
    X = sp.csr_matrix(np.arange(12, dtype=np.float32).reshape(6, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    w = np.array([1.0, 0.0, 2.0, 0.0, 0.5, 1.0], dtype=np.float32)
    Xp, yp, wp = positive_rows(X, y, w)
    np.testing.assert_array_equal(Xp.toarray(), X.toarray()[[0, 2, 4, 5]])
    np.testing.assert_array_equal(yp, [0, 2, 1, 2])
    np.testing.assert_array_equal(wp, [1.0, 2.0, 0.5, 1.0])
    ones = np.ones(6, dtype=np.float32)
    out = positive_rows(X, y, ones)
    assert out[0] is X and out[1] is y and out[2] is ones


@pytest.mark.parametrize("as_dense", [False, True])
def test_fit_with_zero_weight_rows_is_the_fit_without_them(as_dense):
    X, y, Xt, _ = few_rows_data()
    if as_dense:
        X, Xt = X.toarray(), Xt.toarray()
    X_all, y_all, w = with_zero_rows(X, y)
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X_all, y_all, sample_weight=w)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    assert b.centroid_blend_ > 0  # the pilots ran (what the zero-weight rows used to move)
    assert a.centroid_blend_ == b.centroid_blend_ and a.init_scale_ == b.init_scale_
    assert a.n_iter_ == b.n_iter_
    assert_same_model(a, b, Xt)


def test_a_class_with_only_zero_weight_rows_stays_in_classes():
    X, y, Xt, _ = few_rows_data()
    w = np.ones(X.shape[0])
    gone = y[0]
    w[y == gone] = 0.0
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y, sample_weight=w)
    assert gone in clf.classes_
    np.testing.assert_array_equal(clf.classes_, np.unique(y))
    proba = clf.predict_proba(Xt)
    assert proba.shape == (Xt.shape[0], len(np.unique(y))) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_multilabel_fit_with_zero_weight_rows_is_the_fit_without_them():
    X, Y, Xt, _ = multilabel_few_rows_data()
    X_all, Y_all, w = with_zero_rows(X, Y, n_zero=400)
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X_all, Y_all, sample_weight=w)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, Y)
    assert a.label_cardinality_ == b.label_cardinality_ and a.label_weighting_ == b.label_weighting_
    assert_same_model(a, b, Xt)


def test_partial_fit_and_fit_noise_leave_zero_weight_rows_out():
    X, y, Xt, _ = few_rows_data()
    classes = np.unique(y)
    first, second = slice(0, 1500), slice(1500, None)
    X1, y1, w1 = with_zero_rows(X[first], y[first], seed=1, n_zero=200)
    X2, y2, w2 = with_zero_rows(X[second], y[second], seed=2, n_zero=200)
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    a.partial_fit(X1, y1, classes=classes, sample_weight=w1).partial_fit(X2, y2, sample_weight=w2)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    b.partial_fit(X[first], y[first], classes=classes).partial_fit(X[second], y[second])
    assert_same_model(a, b, Xt)
    # fit_noise, then a stream: the tree and the start from the positive rows alone
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit_noise(X1, y1, classes=classes, sample_weight=w1)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit_noise(X[first], y[first], classes=classes)
    np.testing.assert_array_equal(a.tree_.node_weight_, b.tree_.node_weight_)
    assert_same_model(a.partial_fit(X2, y2, sample_weight=w2), b.partial_fit(X[second], y[second]), Xt)


def test_partial_fit_still_checks_the_labels_of_zero_weight_rows():
    X, y, _, _ = few_rows_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(X, y, classes=np.unique(y))
    bad = y[:10].copy()
    bad[0] = y.max() + 1  # not a class of the model, on a row of weight 0
    w = np.ones(10)
    w[0] = 0.0
    with pytest.raises(ValueError, match="not"):
        clf.partial_fit(X[:10], bad, sample_weight=w)


def test_tree_fit_with_zero_weight_rows_is_the_fit_without_them():
    X, y, Xt, _ = few_rows_data()
    X_all, y_all, w = with_zero_rows(X, y)
    a = AuxiliaryTree(random_state=0).fit(X_all, y_all, sample_weight=w)
    b = AuxiliaryTree(random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.node_weight_, b.node_weight_)
    np.testing.assert_array_equal(a.predict_log_proba(Xt), b.predict_log_proba(Xt))


def test_multilabel_partial_fit_leaves_zero_weight_rows_out():
    X, Y, Xt, _ = multilabel_few_rows_data()
    first, second = slice(0, 1500), slice(1500, None)
    X1, Y1, w1 = with_zero_rows(X[first], Y[first], seed=1, n_zero=200)
    X2, Y2, w2 = with_zero_rows(X[second], Y[second], seed=2, n_zero=200)
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    a.partial_fit(X1, Y1, sample_weight=w1).partial_fit(X2, Y2, sample_weight=w2)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    b.partial_fit(X[first], Y[first]).partial_fit(X[second], Y[second])
    assert a.label_cardinality_ == b.label_cardinality_
    assert_same_model(a, b, Xt)


def test_multilabel_first_partial_fit_with_labels_only_at_weight_zero_is_an_error():
    X, Y, _, _ = multilabel_few_rows_data()
    Y = Y.tolil()
    Y[:5] = 0  # the rows of positive weight carry no label
    Y = Y.tocsr()
    w = np.zeros(X.shape[0])
    w[:5] = 1.0
    with pytest.raises(ValueError, match="no labels of positive weight"):
        AdversarialSoftmaxClassifier(random_state=0).partial_fit(X, Y, sample_weight=w)


def test_a_stream_names_the_label_weighting_of_its_last_call():
    """Audit: after ``set_params(label_weighting="rows")`` a later partial_fit trained with "rows" while
    ``label_weighting_`` still said "pairs"."""
    X, Y, _, _ = multilabel_few_rows_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, label_weighting="pairs")
    clf.partial_fit(X[:1500], Y[:1500])
    assert clf.label_weighting_ == "pairs"
    clf.set_params(label_weighting="rows").partial_fit(X[1500:], Y[1500:])
    assert clf.label_weighting_ == "rows"
    clf.set_params(label_weighting="auto").partial_fit(X[:100], Y[:100])  # "auto" continues the last one
    assert clf.label_weighting_ == "rows"


def test_the_tree_fit_is_guarded_against_memory_it_cannot_have(monkeypatch):
    """Audit: a tree over tens of millions of classes (or a million on 1,024 components) met NumPy's MemoryError
    part-way through its fit, after the projection; now the guard names the need and the options first, for
    the tree alone and inside the classifier."""
    import skxc._validation as validation

    X, y, _, _ = few_rows_data()
    classes = np.arange(400)
    k = 16
    n_leaves = 512
    need = 400 * (k * 8 + 48) + n_leaves * ((k + 1) * 8 + 48 + k * 4 + 4)
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)  # trees below it pass unchecked
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) - 1)
    with pytest.raises(validation.ModelMemoryError, match=r"tree over 400 classes on 16 projected .*n_components"):
        AuxiliaryTree(n_components=k, random_state=0).fit(X, y, classes=classes)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) + 1)
    AuxiliaryTree(n_components=k, random_state=0).fit(X, y, classes=classes)  # just enough
    # the classifier's tree goes through the same guard, before its projection
    import skxc._tree as tree_module

    monkeypatch.setattr(validation, "available_memory_bytes", lambda: None)  # the weights' guard passes

    seen = []

    def guard(n_classes, n_components, owner):
        seen.append((n_classes, n_components))
        raise validation.ModelMemoryError("tree guard")

    monkeypatch.setattr(tree_module, "check_tree_memory", guard)
    monkeypatch.setattr(tree_module.AuxiliaryTree, "_fit_projection", lambda *a, **kw: pytest.fail("projected"))
    with pytest.raises(MemoryError, match="tree guard"):
        AdversarialSoftmaxClassifier(n_components=k, random_state=0).fit_noise(X, y, classes=classes)
    assert seen == [(400, k)]


def test_make_extreme_classification_is_guarded_against_memory_it_cannot_have():
    """Audit: n_samples=10**12 met NumPy's MemoryError (7.28 TiB) where make_hierarchical_classification's guard
    names the parameters; now both do."""
    from skxc._validation import ModelMemoryError
    from skxc.datasets import make_extreme_classification

    with pytest.raises(
        ModelMemoryError, match=r"make_extreme_classification\(n_samples=1,000,000,000,000.*nnz_per_row"
    ):
        make_extreme_classification(n_samples=10**12)
    X, y = make_extreme_classification(n_samples=200, n_features=500, n_classes=20, nnz_per_row=5, random_state=0)
    assert X.shape == (200, 500) and y.shape == (200,)


@pytest.mark.parametrize(
    "classes, mass, message",
    [
        ([0, 1, 2], [1.0, 1.0, 1.0, 5.0], "one entry per class"),  # wrote past the output before
        ([0, 1, 2], [1.0, 1.0], "one entry per class"),
        ([0, 1, 2], [1.0, 0.0, 1.0], "positive and finite"),
        ([0, 1, 2], [1.0, np.nan, 1.0], "positive and finite"),
        ([20, 0, 10], [1.0, 1.0, 1.0], "sorted and distinct"),
        ([0], [1.0], "at least 2"),
    ],
)
def test_unconditional_tree_checks_its_arguments(classes, mass, message):
    """Audit: ``AuxiliaryTree.unconditional`` checked nothing; a mass longer than the classes made a kernel write
    past predict_proba's output (rows summing to 0.375, then a double free at exit)."""
    with pytest.raises(ValueError, match=message):
        AuxiliaryTree.unconditional(np.array(classes), mass, 3)
    tree = AuxiliaryTree.unconditional(np.array([0, 1, 2]), [1.0, 2.0, 1.0], 3)
    np.testing.assert_allclose(tree.predict_proba(np.zeros((2, 3))), [[0.25, 0.5, 0.25]] * 2)
