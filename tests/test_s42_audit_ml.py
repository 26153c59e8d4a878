"""Stop 42, multi-label and streaming audit: ``label_weighting="rows"`` in later ``partial_fit`` calls weighs a
batch's pairs with the model's ``label_cardinality_`` (was: the batch's own mean number of labels), a single-label
refit removes ``label_weighting_``, an epoch without examples records a NaN loss (was: 0.0) and is no divergence,
and positive sample weights too small for float32 raise a ValueError naming sample_weight (were: 0)."""

from __future__ import annotations

from dataclasses import fields, replace
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_multilabel_classification

from skxc import AdversarialSoftmaxClassifier
from skxc import _solver as solver
from skxc.datasets import make_hierarchical_classification


def _est(**kw):
    kw.setdefault("random_state", 0)
    kw.setdefault("n_jobs", 1)
    return AdversarialSoftmaxClassifier(**kw)


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(n_samples=400, n_features=20, n_classes=12, n_labels=4, random_state=0)
    return X.astype(np.float64), Y


def _same_model(a, b):
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.intercept_, b.intercept_)


# 1. label_weighting="rows" in later partial_fit calls


@pytest.mark.parametrize("later", ["rows", "auto"])
def test_rows_later_batches_weigh_pairs_by_model_cardinality(multilabel, later):
    """Documented: each pair weighs label_cardinality_ / |Y_i| times its row's weight. A later batch under "rows"
    (or "auto" continuing a "rows" model) trains exactly as "pairs" with those weights as sample_weight; the
    old code used the batch's mean number of labels (one-row batches: weight 1, the "pairs" model)."""
    X, Y = multilabel
    first = _est(label_weighting="rows").partial_fit(X[:300], Y[:300])
    reference = _est(label_weighting="rows").partial_fit(X[:300], Y[:300])
    _same_model(first, reference)
    c = first.label_cardinality_
    first.set_params(label_weighting=later)
    reference.set_params(label_weighting="pairs")
    share = c / np.maximum(Y.sum(axis=1), 1)  # (rows without labels give no pair)
    w = np.resize([0.5, 1.0, 2.0, 4.0], 100)  # powers of 2: w * share rounds to float32 as the model's product
    for start, stop in ((300, 301), (301, 304), (304, 400)):
        rows = slice(start, stop)
        first.partial_fit(X[rows], Y[rows], sample_weight=w[start - 300 : stop - 300])
        reference.partial_fit(X[rows], Y[rows], sample_weight=w[start - 300 : stop - 300] * share[rows])
        _same_model(first, reference)
    assert first.label_weighting_ == "rows" and first.label_cardinality_ == c


def test_rows_one_row_batches_differ_from_pairs(multilabel):
    """The auditor's symptom: with one-row batches after the first call, "rows" trained the "pairs" model."""
    X, Y = multilabel
    models = {}
    for weighting in ("rows", "pairs"):
        m = _est(label_weighting="rows").partial_fit(X[:300], Y[:300])
        m.set_params(label_weighting=weighting)
        for i in range(300, 340):
            m.partial_fit(X[i : i + 1], Y[i : i + 1])
        models[weighting] = m
    assert not np.array_equal(models["rows"].coef_, models["pairs"].coef_)


def test_rows_after_fit_noise_weighs_by_its_cardinality(multilabel):
    """A stream started by fit_noise: its sample's label_cardinality_ weighs the batches' pairs."""
    X, Y = multilabel
    m = _est(label_weighting="rows").fit_noise(X[:300], Y[:300])
    ref = _est(label_weighting="rows").fit_noise(X[:300], Y[:300])
    c = m.label_cardinality_
    ref.set_params(label_weighting="pairs")
    m.partial_fit(X[300:302], Y[300:302])
    ref.partial_fit(X[300:302], Y[300:302], sample_weight=c / Y[300:302].sum(axis=1))
    _same_model(m, ref)


# 2. label_weighting_ after a single-label refit


@pytest.mark.parametrize("how", ["fit", "fit_noise"])
def test_single_label_refit_removes_label_weighting(multilabel, how):
    X, Y = multilabel
    Xs, ys = make_hierarchical_classification(n_samples=300, n_classes=6, n_features=10, random_state=0)
    m = _est(max_iter=1, label_weighting="rows").fit(X, Y)
    assert m.label_weighting_ == "rows"
    getattr(m, how)(Xs, ys)
    assert not hasattr(m, "label_cardinality_")
    assert not hasattr(m, "label_weighting_")


# 3. an epoch without examples


def test_empty_partial_fit_epoch_records_nan_loss(multilabel, capsys):
    X, Y = multilabel
    m = _est(verbose=1).partial_fit(X[:200], Y[:200])
    assert np.isfinite(m.loss_curve_[0])
    coef, t = m.coef_.copy(), m.t_
    m.partial_fit(X[200:], np.zeros_like(Y[200:]))  # no labels: no example; not "diverged"
    w = np.zeros(200)
    w[0] = 1.0
    Yz = Y[200:].copy()
    Yz[0] = 0
    m.partial_fit(X[200:], Yz, sample_weight=w)  # the only row of positive weight has no label
    assert m.n_iter_ == 3 and m.t_ == t
    assert len(m.loss_curve_) == len(m.hardness_curve_) == len(m.epoch_seconds_) == 3
    assert np.isnan(m.loss_curve_[1:]).all()
    assert np.isnan(m.hardness_curve_[1:]).all()
    assert_array_equal(m.coef_, coef)
    assert "loss nan" in capsys.readouterr().out
    m.partial_fit(X[:200], Y[:200])  # training goes on, with a finite loss
    assert np.isfinite(m.loss_curve_[-1])


def test_empty_epoch_is_no_divergence_nor_convergence(monkeypatch):
    """An epoch without examples (NaN loss) in a fit with tol: no FloatingPointError ("diverged"), and the
    convergence check neither counts it as an epoch without improvement nor lets it reset the count."""
    X, y = make_hierarchical_classification(n_samples=300, n_classes=6, n_features=10, random_state=0)
    original, calls = solver.sgd_epoch, []

    def second_empty(*args, **kwargs):
        stats = original(*args, **kwargs)
        calls.append(1)
        if len(calls) != 2:
            return stats
        empty = {"empty": True} if "empty" in {f.name for f in fields(stats)} else {}  # (the old code: no flag)
        return replace(stats, loss=float("nan"), hardness=float("nan"), n_examples=0, **empty)

    monkeypatch.setattr(solver, "sgd_epoch", second_empty)
    m = _est(max_iter=6, tol=1e9, n_iter_no_change=1, centroid_blend=0.0).fit(X, y)
    assert len(calls) == 3 and m.n_iter_ == 3  # epoch 3 is the first not to improve on epoch 1 by tol
    assert np.isnan(m.loss_curve_[1]) and np.isfinite(m.loss_curve_[2])
    with pytest.raises(FloatingPointError):  # a NaN loss of an epoch with examples is still divergence
        solver.check_finite_loss(float("nan"), SimpleNamespace(learning_rate=0.1, alpha=0.0))


# 4. sample weights below float32's range


@pytest.mark.parametrize(
    "weights",
    [np.full(200, 1e-50), np.r_[np.full(100, 1e-50), np.ones(100)], 1e-50, np.r_[1e-46, np.ones(199)]],
    ids=["all", "half", "scalar", "one"],
)
def test_sample_weight_underflow_raises(weights):
    X, y = make_hierarchical_classification(n_samples=200, n_classes=6, n_features=10, random_state=0)
    for call in ("fit", "partial_fit", "fit_noise"):
        kw = {"classes": np.unique(y)} if call == "partial_fit" else {}
        with pytest.raises(ValueError, match=r"sample_weight .*too small for float32.*Scale sample_weight"):
            getattr(_est(max_iter=1), call)(X, y, sample_weight=weights, **kw)


def test_sample_weight_underflow_raises_multilabel(multilabel):
    X, Y = multilabel
    w = np.r_[np.full(10, 1e-50), np.ones(X.shape[0] - 10)]
    with pytest.raises(ValueError, match=r"sample_weight has 10 positive value"):
        _est(max_iter=1).fit(X, Y, sample_weight=w)


def test_sample_weight_zero_and_small_unchanged():
    """Weights that float32 holds (subnormal ones too) and zeros are validated as before."""
    X, y = make_hierarchical_classification(n_samples=200, n_classes=6, n_features=10, random_state=0)
    with pytest.raises(ValueError, match="at least one non-zero"):
        _est(max_iter=1).fit(X, y, sample_weight=np.zeros(200))
    w = np.r_[np.zeros(50), np.full(150, 1e-44)]
    m = _est(max_iter=1).fit(X, y, sample_weight=w)
    assert m.t_ == 150


def test_exact_softmax_model_sparsifies_and_trains_dense_again():
    """Stop 42 (audit): ``sparsify`` of a ``noise=None`` model raised, so scikit-learn's
    check_sparsify_coefficients failed for it. It now stores the weights sparse for prediction, and further
    training (whose kernel updates every weight of a dense array) makes them dense again first."""
    import scipy.sparse as sp

    from skxc import AdversarialSoftmaxClassifier
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=600, n_features=8, n_classes=20, random_state=0)
    dense = AdversarialSoftmaxClassifier(noise=None, random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    model = AdversarialSoftmaxClassifier(noise=None, random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    before = model.predict_proba(X)
    model.sparsify()
    assert sp.issparse(model.coef_)
    np.testing.assert_allclose(model.predict_proba(X), before, rtol=0, atol=1e-6)
    dense.partial_fit(X, y)
    model.partial_fit(X, y)
    assert not sp.issparse(model.coef_)
    np.testing.assert_allclose(model.coef_, dense.coef_, rtol=0, atol=1e-6)
    assert model.loss_curve_[-1] == pytest.approx(dense.loss_curve_[-1], rel=1e-6)
