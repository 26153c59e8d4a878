"""Rows so small that the centroid start or blend would overflow float32 weights: a clear ValueError (an audit
found a silently non-finite model with an explicit ``centroid_blend`` and a FloatingPointError by default)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._start as start_module
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def data():
    X, y = make_hierarchical_classification(n_samples=1200, n_features=20, n_classes=16, random_state=0)
    return X.astype(np.float32), y


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_tiny_rows_with_a_large_blend_are_refused_by_name(data, layout):
    X, y = data
    Xs = X * np.float32(1e-36)
    Xs = sp.csr_matrix(Xs) if layout == "csr" else Xs
    with pytest.raises(ValueError, match=r"too small for float32 weights.*centroid_blend=1000000\.0"):
        AdversarialSoftmaxClassifier(init="zeros", centroid_blend=1e6, random_state=0).fit(Xs, y)
    # a small beta keeps the weights finite: the fit runs
    clf = AdversarialSoftmaxClassifier(init="zeros", centroid_blend=1.0, random_state=0, max_iter=2).fit(Xs, y)
    assert np.all(np.isfinite(clf.predict_proba(Xs[:50])))


def test_subnormal_rows_are_refused_by_fit_partial_fit_and_fit_noise(data):
    X, y = data
    Xs = X * np.float32(1e-40)
    for call in (
        lambda clf: clf.fit(Xs, y),
        lambda clf: clf.partial_fit(Xs, y, classes=np.unique(y)),
        lambda clf: clf.fit_noise(Xs, y),
    ):
        clf = AdversarialSoftmaxClassifier(random_state=0)
        with pytest.raises(ValueError, match=r"RMS L2 norm is 1\.\d+e-39"):
            call(clf)
        assert not hasattr(clf, "coef_")  # nothing fitted
    # no centroid scaled: nothing to overflow, the fit runs
    clf = AdversarialSoftmaxClassifier(init="zeros", centroid_blend=0.0, random_state=0, max_iter=2).fit(Xs, y)
    assert np.all(np.isfinite(clf.coef_))


def test_rows_of_all_zeros_pass_the_row_scale_check():
    start_module.check_row_scale(np.zeros((3, 4), np.float32), "centroid", "auto", auto_beta=4096.0)  # nothing scaled
    start_module.check_row_scale(sp.csr_matrix((3, 4), dtype=np.float32), "centroid", 1e6, auto_beta=4096.0)


def test_multilabel_weights_past_float32_once_shared_are_refused_by_name():
    """label_weighting="rows" multiplies a row's weight by cardinality / |Y_i|: past float32's largest value a
    ValueError names sample_weight (it was numpy's "Probabilities contain NaN"); "pairs" fits."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 10)).astype(np.float32)
    Y = (rng.random((1500, 12)) < 0.15).astype(np.int64)
    Y[Y.sum(axis=1) == 0, 0] = 1
    w = np.full(1500, 3e38)  # valid float32; a row of fewer labels than the mean gets more than that
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, label_weighting="rows")
    with pytest.raises(ValueError, match=r"sample_weight is too large for label_weighting='rows'"):
        clf.fit(X, Y, sample_weight=w)
    assert not hasattr(clf, "coef_")
    pairs = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, label_weighting="pairs").fit(X, Y, sample_weight=w)
    assert np.all(np.isfinite(pairs.intercept_))


def test_sample_weight_past_float32_is_refused_by_name(data):
    """1e300 is finite but not a float32: a ValueError naming sample_weight, and no RuntimeWarning on the way."""
    import warnings

    X, y = data
    w = np.ones(X.shape[0])
    w[3] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(
            ValueError, match=r"sample_weight has 1 value\(s\) too large for float32 \(the largest 1e\+300"
        ):
            AdversarialSoftmaxClassifier(random_state=0).fit(X, y, sample_weight=w)


def test_the_temperature_choice_keeps_a_where_huge_scores_overflow_float32():
    """Held-out scores near float32's limits (a pilot of huge rows with a huge step): the Newton steps on
    1/T stop at a finite a instead of stepping on NaN derivatives, and no RuntimeWarning leaks."""
    import warnings

    from skxc._blend import MAX_TEMPERATURE, MIN_TEMPERATURE, best_inverse_temperature

    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 30)) * 1e37
    truth = rng.integers(0, 30, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        a, ll = best_inverse_temperature(A, truth)
    assert 1.0 / MAX_TEMPERATURE <= a <= 1.0 / MIN_TEMPERATURE and np.isfinite(a)
    # ordinary scores: the same choice as before (no overflow, no early stop)
    B = rng.normal(size=(200, 30))
    B[np.arange(200), truth] += 2.0  # informative scores: an interior optimum
    a_b, ll_b = best_inverse_temperature(B, truth)
    assert np.isfinite(ll_b) and 1.0 / MAX_TEMPERATURE < a_b < 1.0 / MIN_TEMPERATURE
