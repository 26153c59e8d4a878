"""Stop 33, multi-label audit: fits on few labelled rows among many (the calibration and early-stopping splits
draw among the rows with labels), the memory guard of a dense multi-label ``predict``, ``label_cardinality_``
after a warm start, and a 1-D scipy.sparse y."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.datasets import make_multilabel_classification

import skxc._fit as fit_module
from skxc import AdversarialSoftmaxClassifier
from skxc import _validation as validation
from skxc._multilabel import label_cardinality


def _est(**kw):
    kw.setdefault("random_state", 0)
    kw.setdefault("n_jobs", 1)
    kw.setdefault("max_iter", 1)
    return AdversarialSoftmaxClassifier(**kw)


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(
        n_samples=1200, n_features=20, n_classes=12, n_labels=3, allow_unlabeled=True, random_state=0
    )
    return X.astype(np.float64), Y.astype(np.int64)


def _few_labelled(Y, k, seed):
    """The auditor's Y: k labelled rows of Y's rows (label i % 12, and 11 on the first)."""
    Ye = np.zeros_like(Y)
    rows = np.random.default_rng(seed).choice(Y.shape[0], k, replace=False)
    Ye[rows, np.arange(k) % 12] = 1
    Ye[rows[0], 11] = 1
    return Ye


# --------------------------------------------------------------------------- 1. few labelled rows


@pytest.mark.parametrize("k,seed", [(1, 0), (10, 1), (10, 2)])
@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit_noise"])
def test_few_labelled_rows_among_many_fit(data, k, seed, method):
    """1,200 rows of which k have labels: the calibration split held out only unlabelled rows (an empty set
    of examples, and the tree's PCA of 0 rows failed). Fewer than 1,000 rows with labels: no split, as for
    the same rows without the empty ones."""
    X, Y = data
    Ye = _few_labelled(Y, k, seed)
    clf = getattr(_est(random_state=seed), method)(X, Ye)
    assert clf.tree_.temperature_ == 1.0 and clf.init_scale_ == 0.0
    assert clf.label_cardinality_ == pytest.approx(label_cardinality(sp.csr_matrix(Ye), np.ones(1200)))
    assert np.isfinite(clf.predict_proba(X[:5])).all()


def test_calibration_rows_are_rows_with_labels(monkeypatch):
    """With 1,000 or more rows with labels the split is drawn among them: every held-out row has labels."""
    X, Y = make_multilabel_classification(
        n_samples=2000, n_features=10, n_classes=8, n_labels=2, allow_unlabeled=False, random_state=1
    )
    Y[np.random.default_rng(0).permutation(2000)[:800]] = 0  # 1,200 rows with labels
    drawn = []

    def recorded(*args, **kwargs):
        split = calibration_split(*args, **kwargs)
        drawn.append(split)
        return split

    calibration_split = fit_module.calibration_split
    monkeypatch.setattr(fit_module, "calibration_split", recorded)
    clf = _est(noise="adversarial").fit(X, Y)
    fit_rows, held = drawn[0]
    assert held.shape == (120,)  # 10 % of the 1,200 rows with labels
    assert Y[held].any(axis=1).all()
    assert np.isfinite(clf.tree_.temperature_)


def test_a_split_without_examples_on_one_side_is_no_split(data, monkeypatch):
    """Whatever the split: held-out (or fit) rows without a label mean no held-out examples, which the model
    takes as no split (temperature 1, zero start) rather than fitting or calibrating on 0 rows."""
    X, Y = data
    Ye = _few_labelled(Y, 10, 1)
    unlabelled = np.flatnonzero(~Ye.any(axis=1))
    labelled = np.flatnonzero(Ye.any(axis=1))

    def only_unlabelled_held(n_samples, rng, sample_weight=None):
        held = np.sort(unlabelled[:120])
        return np.setdiff1d(np.arange(n_samples), held), held

    def only_labelled_held(n_samples, rng, sample_weight=None):
        return np.setdiff1d(np.arange(n_samples), labelled), labelled

    for split in (only_unlabelled_held, only_labelled_held):
        monkeypatch.setattr(fit_module, "calibration_split", split)
        clf = _est().fit(X, Ye)
        assert clf.tree_.temperature_ == 1.0 and clf.init_scale_ == 0.0
        assert np.isfinite(clf.predict_proba(X[:5])).all()


def test_early_stopping_holds_out_rows_with_labels(data):
    """Early stopping's validation rows are drawn among the rows with labels: its precision@1 is over rows
    that have some, and the training rows keep the labels (one labelled row: a clear error, not "y has no
    labels" when that row was drawn for validation)."""
    X, Y = data
    Ye = Y.copy()
    Ye[np.random.default_rng(0).random(1200) < 0.7] = 0
    Yc = sp.csr_matrix(Ye)
    w = np.ones(1200, dtype=np.float32)
    for seed in range(3):
        _, Y_train, _, _, (_, Y_val, _) = fit_module.holdout(X, Yc, None, w, 0.1, np.random.default_rng(seed), True)
        n_labelled = int(Ye.any(axis=1).sum())
        assert Y_val.shape[0] == round(0.1 * n_labelled)
        assert np.diff(Y_val.indptr).min() > 0
        assert Y_train.nnz + Y_val.nnz == Yc.nnz
    for seed in range(4):  # seed 1 drew the labelled row for validation
        with pytest.raises(ValueError, match="leaves no training rows out of the 1 with labels"):
            _est(random_state=seed, early_stopping=True, noise="uniform").fit(X, _few_labelled(Y, 1, 0))


# --------------------------------------------------------------------------- 2. predict's memory guard


@pytest.fixture(scope="module")
def ml_model():
    X, Y = make_multilabel_classification(
        n_samples=300, n_features=8, n_classes=30, n_labels=3, allow_unlabeled=False, random_state=0
    )
    return _est(max_iter=2).fit(X, Y), X


def _predicted_sets(clf, X):
    proba = clf.predict_proba(X)
    keep = clf.label_cardinality_ * proba >= 0.5
    keep[np.arange(X.shape[0]), proba.argmax(axis=1)] = True
    return keep.astype(np.int64)


def test_dense_multilabel_predict_is_guarded(monkeypatch, ml_model):
    """The dense n x L int64 indicator (at most 1000 labels) is checked before it is allocated, with the label
    positions it is filled from; predict_proba's message then offers predict_top_k and slices, not predict."""
    clf, X = ml_model
    expected = _predicted_sets(clf, X)
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    per_row = min(30, int(clf.label_cardinality_ / 0.5) + 1)
    need = X.shape[0] * 30 * 8 + X.shape[0] * per_row * 8
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) - 8)
    with pytest.raises(validation.ModelMemoryError, match="predict would return a 300 x 30 int64 label") as err:
        clf.predict(X)
    assert "predict_top_k(X, k, return_scores=True)" in str(err.value)
    assert "predict on slices of X" in str(err.value)
    proba_need = X.shape[0] * 30 * 8
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(proba_need / validation.MEMORY_HEADROOM) - 8)
    with pytest.raises(validation.ModelMemoryError, match="predict_proba would return"):
        clf.predict_proba(X)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) + 8)
    out = clf.predict(X)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64 and out.flags["C_CONTIGUOUS"]
    assert_array_equal(out, expected)


def test_dense_predict_in_several_blocks_is_guarded(monkeypatch, ml_model):
    """The dense indicator filled block by block (7 rows per block): the same sets as the threshold on
    predict_proba, behind the same guard."""
    import skxc._predict as predict_module

    clf, X = ml_model
    expected = _predicted_sets(clf, X)
    monkeypatch.setattr(predict_module, "PREDICT_BLOCK_BYTES", 7 * 30 * 8)
    assert_array_equal(clf.predict(X), expected)
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: X.shape[0] * 30 * 8)
    with pytest.raises(validation.ModelMemoryError, match="predict would return"):
        clf.predict(X)
    assert_array_equal(clf.predict(X[:100]), expected[:100])  # slices of X still run


def test_predict_proba_offers_predict_only_where_it_is_not_dense(monkeypatch, ml_model):
    """predict_proba's guard message names predict(X) for single-label models and above 1000 labels (a CSR
    indicator), not for a multi-label model whose predict returns a dense array as large."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    Y = sp.random(200, 1001, density=0.003, random_state=0, format="lil")
    Y[np.arange(200), rng.integers(0, 1001, 200)] = 1
    Y = sp.csr_matrix(Y)
    Y.data[:] = 1
    wide = _est().fit(X, Y)
    single = _est().fit(X, np.arange(200) % 5)
    dense, X_dense = ml_model
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 1000)
    with pytest.raises(validation.ModelMemoryError, match="predict_proba would return") as err:
        dense.predict_proba(X_dense)
    assert "predict(X)" not in str(err.value) and "int64 array, as large" in str(err.value)
    for clf in (wide, single):
        with pytest.raises(validation.ModelMemoryError, match=r"predict\(X\) \(computed in blocks of rows\)"):
            clf.predict_proba(X)
    # a CSR indicator: not guarded as a dense array (room for the tree's projection of X, stop 67, and no more)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 10_000)
    assert sp.issparse(wide.predict(X))


# --------------------------------------------------------------------------- 3. warm start's cardinality


def test_warm_start_sets_label_cardinality_from_its_y():
    X, Y = make_multilabel_classification(
        n_samples=400, n_features=10, n_classes=12, n_labels=3, allow_unlabeled=True, random_state=0
    )
    clf = _est(warm_start=True).fit(X, Y)
    first, rate = clf.label_cardinality_, clf.learning_rate_
    Yd = Y.copy()
    Yd[:, :6] = 1
    clf.fit(X, Yd)
    assert clf.label_cardinality_ == pytest.approx(label_cardinality(sp.csr_matrix(Yd), np.ones(400)))
    assert clf.label_cardinality_ > first + 3
    assert clf.learning_rate_ == rate  # "auto": the rate of the call that initialised the model
    assert_array_equal(clf.predict(X), _predicted_sets(clf, X))
    clf.partial_fit(X, Y)  # later partial_fit calls keep it
    assert clf.label_cardinality_ == pytest.approx(label_cardinality(sp.csr_matrix(Yd), np.ones(400)))


# --------------------------------------------------------------------------- 7. a 1-D sparse y


@pytest.mark.parametrize("make", [sp.csr_array, sp.coo_array], ids=["csr_array", "coo_array"])
def test_one_dimensional_sparse_y_is_a_clear_type_error(data, make):
    """scikit-learn's classifiers raise a TypeError for sparse y; a 1-D sparse array was read as an indicator
    matrix ("y is 2-D but not a label indicator matrix")."""
    X, Y = data
    y = make(Y.argmax(axis=1))
    message = r"y is a 1-D scipy.sparse array of shape \(1200,\): pass class labels as a dense 1-D array"
    for call in (
        lambda: _est().fit(X, y),
        lambda: _est().fit_noise(X, y),
        lambda: _est().partial_fit(X, y, classes=np.arange(12)),
    ):
        with pytest.raises(TypeError, match=message):
            call()
    single = _est().fit(X, Y.argmax(axis=1))
    with pytest.raises(TypeError, match=message):
        single.score(X, y)
    assert _est().fit(X, sp.csr_array(Y)).label_cardinality_ > 1  # a 2-D sparse array is an indicator
