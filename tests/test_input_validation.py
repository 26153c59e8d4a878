"""Errors name the problem; a failed partial_fit leaves the model as it was."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import CONTAINERS
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.arange(60) % 3
    return X, y


def _clf(**params):
    return AdversarialSoftmaxClassifier(
        **({"noise": "uniform", "max_iter": 2, "tol": None, "random_state": 0} | params)
    )


@pytest.fixture(scope="module")
def fitted_small(small):
    return _clf().fit(*small)


# -- X -----------------------------------------------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")])
def test_non_finite_X(small, fitted_small, container, bad, message):
    X, y = small
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match=message):
        _clf().fit(container(X), y)
    with pytest.raises(ValueError, match=message):
        _clf().partial_fit(container(X), y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=message):
        fitted_small.predict(container(X))
    with pytest.raises(ValueError, match=message):
        AuxiliaryTree(n_components=2).fit(container(X), y)


@pytest.mark.parametrize("container", CONTAINERS)
def test_X_beyond_float32_range(small, fitted_small, container):
    """Finite float64 values that overflow the float32 the model computes in."""
    X, y = small
    X = X.copy()
    X[3, 2] = 1e39
    with pytest.raises(ValueError, match="too large for float32"):
        _clf().fit(container(X), y)
    with pytest.raises(ValueError, match="too large for float32"):
        fitted_small.predict_proba(container(X))


@pytest.mark.parametrize("dtype", [str, object])
def test_string_X(small, dtype):
    X = np.array([["a", "b"], ["c", "d"]] * 3, dtype=dtype)
    with pytest.raises(ValueError, match="could not convert string to float"):
        _clf().fit(X, [0, 1] * 3)


def test_wrong_n_features_at_predict(fitted_small, small):
    X = small[0][:, :3]
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function", "predict_top_k"):
        with pytest.raises(ValueError, match="X has 3 features, but AdversarialSoftmaxClassifier is expecting 5"):
            getattr(fitted_small, method)(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        fitted_small.predict(sp.csr_matrix(X))


def test_empty_X(small):
    with pytest.raises(ValueError, match="0 sample"):
        _clf().fit(np.empty((0, 5)), [])


def test_inconsistent_lengths(small):
    X, y = small
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _clf().fit(X, y[:10])
    with pytest.raises(ValueError, match=re.escape("sample_weight.shape == (10,)")):
        _clf().fit(X, y, sample_weight=np.ones(10))


# -- y and classes ---------------------------------------------------------------------------


def test_fewer_than_two_classes(small):
    X = small[0]
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: \\['spam'\\]"):
        _clf().fit(X, ["spam"] * len(X))
    with pytest.raises(ValueError, match="at least 2 classes; got \\[1\\]"):
        _clf().partial_fit(X, np.ones(len(X), dtype=int), classes=[1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        AuxiliaryTree().fit(X, np.zeros(len(X)))


def test_continuous_y(small):
    with pytest.raises(ValueError, match="Unknown label type"):
        _clf().fit(small[0], np.linspace(0, 1, len(small[0])))


def test_partial_fit_first_call_needs_classes(small):
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        _clf().partial_fit(*small)


def test_partial_fit_labels_outside_classes(small, fitted_small):
    X, y = small
    with pytest.raises(ValueError, match=re.escape("y contains 1 label(s) not in classes: [7]")):
        copy.deepcopy(fitted_small).partial_fit(X, np.where(y == 2, 7, y))
    with pytest.raises(ValueError, match=re.escape("not in classes: ['dog', 'emu']")):
        _clf().partial_fit(X, np.array(["cat", "dog", "emu"])[y], classes=["ant", "bee", "cat"])
    with pytest.raises(ValueError, match="not the same as on last call to partial_fit"):
        copy.deepcopy(fitted_small).partial_fit(X, y, classes=[0, 1, 2, 3])


def test_failed_first_partial_fit_leaves_estimator_unfitted(small):
    X, y = small
    clf = _clf()
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(clf, "coef_")
    clf.partial_fit(X, y, classes=[0, 1, 2])  # a correct call then works
    assert clf.coef_.shape == (3, 5)


def test_negative_sample_weight(small):
    X, y = small
    w = np.ones(len(y))
    w[4] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        _clf().fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="Negative values"):
        _clf().partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"noise": "foo"},
        {"n_negatives": 0},
        {"n_negatives": 1.5},
        {"learning_rate": 0.0},
        {"alpha": -1.0},
        {"max_iter": 0},
        {"n_iter_no_change": 0},
        {"validation_fraction": 1.0},
        {"n_components": -1},
        {"tree_alpha": -0.1},
        {"intercept_init": "random"},
        {"shuffle": "yes"},
        {"n_jobs": 1.5},
    ],
)
def test_invalid_parameters(small, params):
    ((name, value),) = params.items()
    pattern = f"The '{name}' parameter of AdversarialSoftmaxClassifier must be .* Got {value!r} instead"
    with pytest.raises(ValueError, match=pattern):  # InvalidParameterError is a ValueError and a TypeError
        _clf(**params).fit(*small)
    with pytest.raises(TypeError, match=pattern):
        _clf(**params).partial_fit(*small, classes=[0, 1, 2])


@pytest.mark.parametrize("params", [{"n_components": -1}, {"alpha": -1.0}, {"max_samples": 0}])
def test_invalid_tree_parameters(small, params):
    ((name, value),) = params.items()
    with pytest.raises(ValueError, match=f"The '{name}' parameter of AuxiliaryTree must be .* Got {value!r}"):
        AuxiliaryTree(**params).fit(*small)


def test_early_stopping_without_training_rows(small):
    X, y = small
    with pytest.raises(ValueError, match="validation_fraction=0.995 leaves no training rows"):
        _clf(early_stopping=True, validation_fraction=0.995).fit(X, y)


def test_predict_top_k_bad_k(fitted_small, small):
    for k in (0, 4, 1.5):
        with pytest.raises(ValueError, match=re.escape("k must be an integer in [1, n_classes=3]")):
            fitted_small.predict_top_k(small[0], k=k)


def test_not_fitted(small):
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function", "predict_top_k"):
        with pytest.raises(NotFittedError):
            getattr(_clf(), method)(small[0])
    for method in ("predict_proba", "predict_log_proba", "sample"):
        with pytest.raises(NotFittedError):
            getattr(AuxiliaryTree(), method)(small[0])


# -- a failed partial_fit changes nothing ----------------------------------------------------


def _state(clf, X):
    return (
        clf.coef_.copy(),
        clf.intercept_.copy(),
        clf._acc_coef.copy(),
        clf._acc_intercept.copy(),
        clf.t_,
        clf.n_iter_,
        list(clf.loss_curve_),
        clf._rng.bit_generator.state,
        clf.predict_proba(X),
    )


def _nan_X(X):
    X = X.copy()
    X[0, 0] = np.nan
    return X


FAILING_CALLS = {
    "unseen label": lambda X, y: ((X, np.where(y == 1, 9, y)), {}),
    "n_features": lambda X, y: ((X[:, :4], y), {}),
    "NaN": lambda X, y: ((_nan_X(X), y), {}),
    "NaN csr": lambda X, y: ((sp.csr_matrix(_nan_X(X)), y), {}),
    "negative weight": lambda X, y: ((X, y), {"sample_weight": -np.ones(len(y))}),
    "changed classes": lambda X, y: ((X, y), {"classes": [0, 1]}),
    "strings": lambda X, y: ((np.full(X.shape, "x"), y), {}),
    "length": lambda X, y: ((X, y[:-1]), {}),
}


@pytest.mark.parametrize("failure", list(FAILING_CALLS))
@pytest.mark.parametrize("noise", ["uniform", "adversarial"])
def test_failed_partial_fit_leaves_model_unchanged(small, failure, noise):
    X, y = small
    clf = _clf(noise=noise, n_components=2).partial_fit(X, y, classes=[0, 1, 2])
    before = _state(clf, X)
    args, kwargs = FAILING_CALLS[failure](X, y)
    with pytest.raises(ValueError):
        clf.partial_fit(*args, **kwargs)
    after = _state(clf, X)
    for a, b in zip(before, after, strict=True):
        if isinstance(a, np.ndarray):
            assert_array_equal(a, b)
        else:
            assert a == b
    # and it keeps training normally afterwards
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2


def test_model_too_large_for_memory(monkeypatch, small):
    """The memory guard names the sizes and suggests reducing n_features, before anything is fitted."""
    import skxc._validation as validation

    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 16)
    X, y = small[0], small[1]
    clf = AdversarialSoftmaxClassifier(random_state=0)
    with pytest.raises(ValueError, match=r"GiB.*classes.*features.*TruncatedSVD"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_") and not hasattr(clf, "tree_")


def test_hundred_thousand_classes():
    """C = 100,000 (not a power of two, most classes with 0-2 rows): fit, predict, probabilities."""
    rng = np.random.default_rng(0)
    n, C = 150_000, 100_000
    y = rng.integers(0, C, n)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[:, 0] += (y % 7).astype(np.float32)  # some structure the tree can use
    clf = AdversarialSoftmaxClassifier(max_iter=1, random_state=0, n_components=4).fit(X, y)
    assert clf.coef_.shape[0] == len(np.unique(y)) and clf.tree_.depth_ == 17
    P = clf.predict_proba(X[:3])
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X[:3]))
