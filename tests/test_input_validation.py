"""Errors name the problem; a failed partial_fit leaves the model as it was."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from conftest import CONTAINERS
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

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


def test_duplicate_csr_entries_summing_beyond_float32(small, fitted_small):
    """Duplicates are summed in the input's dtype; a float32 sum that overflows is reported
    like any value beyond the float32 range, before the model changes."""
    X = sp.csr_matrix(small[0].astype(np.float32))
    X.data[:] = 1.0
    X.indices[1] = X.indices[0]  # row 0: a duplicate of its first column
    X.data[:2] = 3e38  # finite each, inf once summed
    assert not X.has_canonical_format
    with pytest.raises(ValueError, match="too large for float32"):
        _clf().fit(X, small[1])
    with pytest.raises(ValueError, match="too large for float32"):
        fitted_small.predict_proba(X)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy/sklearn report the float32 overflow first
@pytest.mark.parametrize("container", CONTAINERS)
def test_X_too_large_for_the_noise_tree(small, container):
    """Values near the float32 limit on a model fitted on small ones: the tree's projection
    overflows float32. A clear error rather than NaN probabilities; the uniform model,
    which needs no projection, predicts valid probabilities."""
    X, y = small
    huge = np.full((3, X.shape[1]), 3e38)
    huge[1] *= -1
    huge[2, ::2] *= -1
    huge = container(huge)
    adversarial = _clf(noise="adversarial", n_components=2).fit(container(X), y)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(ValueError, match="too large for the noise model.*Scale the features"):
            getattr(adversarial, method)(huge)
    with pytest.raises(ValueError, match="too large for the noise model"):
        adversarial.predict_top_k(huge, k=2)
    proba = _clf().fit(container(X), y).predict_proba(huge)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("container", CONTAINERS)
def test_float32_X_near_the_float32_limit(small, container):
    """The tree's projection is fitted in float64, so float32 X near the float32 limit fits like float64 X."""
    X, y = small
    X = (X * 1e38).clip(-3.4e38, 3.4e38)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        as64 = _clf(noise="adversarial", n_components=2).fit(container(X), y)
        assert np.all(np.isfinite(as64.predict_proba(container(X))))
        as32 = _clf(noise="adversarial", n_components=2).fit(container(X.astype(np.float32)), y)
    assert np.all(np.isfinite(as32.predict_proba(container(X))))


@pytest.mark.parametrize("container", CONTAINERS)
def test_dense_and_sparse_float32_products_do_not_overflow(small, container):
    """Scores beyond the float32 range (large coef_ times large x): the dense float32 product
    is redone in float64, so probabilities stay finite and predict follows them."""
    X, y = small
    clf = copy.deepcopy(_clf().fit(X, y))
    clf.coef_[:] = np.float32(1e30) * np.sign(np.arange(clf.coef_.size).reshape(clf.coef_.shape) % 3 - 1)
    X_big = X * 1e30
    proba = clf.predict_proba(container(X_big))
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.predict(container(X_big)), clf.classes_[np.argmax(proba, axis=1)])
    scores = clf.decision_function(container(X_big))
    assert np.all(np.isfinite(scores)) and np.abs(scores).max() > 1e50


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("noise", ["uniform", "adversarial", None])
def test_all_zero_rows_and_all_zero_X(small, container, noise):
    """All-zero rows score only the biases (and the tree's root); an all-zero X still fits."""
    X, y = small
    X = X.copy()
    X[::3] = 0.0
    clf = _clf(noise=noise, n_components=2).fit(container(X), y)
    proba = clf.predict_proba(container(X))
    assert np.all(np.isfinite(proba))
    zero_rows = proba[::3]
    np.testing.assert_allclose(zero_rows, np.broadcast_to(zero_rows[0], zero_rows.shape), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's PCA: explained variance 0 / 0
        zeros = _clf(noise=noise, n_components=2).fit(container(np.zeros_like(X)), y)
    assert np.all(np.isfinite(zeros.coef_)) and not np.any(zeros.coef_)
    proba = zeros.predict_proba(container(np.zeros_like(X)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert len(set(zeros.predict(container(np.zeros_like(X))))) == 1


def test_dataframe_feature_names_and_dtypes(small):
    pd = pytest.importorskip("pandas")
    X, y = small
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["f1"] = (10 * df["f1"]).round().astype("int32")  # mixed column dtypes
    clf = _clf(noise="adversarial", n_components=2).fit(df, y)
    assert_array_equal(clf.feature_names_in_, df.columns)
    ref = _clf(noise="adversarial", n_components=2).fit(df.to_numpy(np.float64), y)
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(clf.predict_proba(df), ref.predict_proba(df.to_numpy(np.float64)))
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(df.rename(columns={"f0": "other"}))
    missing = df.astype({"f1": "Int64"})
    missing.loc[3, "f1"] = pd.NA
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _clf().fit(missing, y)


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


def test_mixed_type_labels(small):
    """["1", 1] cannot be sorted into classes_: a TypeError that names y (or classes) and the types."""
    X, y = small
    mixed = np.array(["a", 1, "b"], dtype=object)[y]
    with pytest.raises(
        TypeError, match=re.escape("y mixes label types that cannot be sorted together: ['int', 'str']")
    ):
        _clf().fit(X, mixed)
    with pytest.raises(TypeError, match="y mixes label types"):
        _clf().fit_noise(X, mixed)
    with pytest.raises(TypeError, match=re.escape("classes mixes label types that cannot be sorted together")):
        _clf().partial_fit(X, y, classes=np.array([0, 1, "2"], dtype=object))


@pytest.mark.parametrize("noise", ["adversarial", "uniform", "frequency", None])
def test_class_with_a_single_example_and_two_classes(small, noise):
    X, y = small
    y = (y > 0).astype(int)
    y[7] = 5  # one row of class 5
    clf = _clf(noise=noise, n_components=2).fit(X, y)
    assert_array_equal(clf.classes_, [0, 1, 5])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(proba[:, 2] > 0)
    # two classes, one of them seen once, and through partial_fit
    two = np.zeros(len(y), dtype=int)
    two[11] = 1
    clf = _clf(noise=noise, n_components=2).partial_fit(X, two, classes=[0, 1])
    assert clf.decision_function(X).shape == (len(y),)
    assert clf.predict_top_k(X, k=2).shape == (len(y), 2)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)


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
        {"tol": -1e-3},
        {"validation_fraction": 1.0},
        {"n_components": -1},
        {"tree_alpha": -0.1},
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
        clf._adagrad_state.coef_sums.copy(),
        clf._adagrad_state.factor_sums.copy(),
        clf._adagrad_state.intercept_sums.copy(),
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
    "beyond float32": lambda X, y: ((np.where(X > 1, 1e39, X), y), {}),
    "mixed labels": lambda X, y: ((X, np.array([0, 1, "2"], dtype=object)[y]), {}),
}


@pytest.mark.parametrize("failure", list(FAILING_CALLS))
@pytest.mark.parametrize("noise", ["uniform", "adversarial"])
def test_failed_partial_fit_leaves_model_unchanged(small, failure, noise):
    X, y = small
    clf = _clf(noise=noise, n_components=2).partial_fit(X, y, classes=[0, 1, 2])
    before = _state(clf, X)
    args, kwargs = FAILING_CALLS[failure](X, y)
    with pytest.raises((ValueError, TypeError)):
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


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy/sklearn report the float32 overflow first
def test_batch_too_large_for_the_noise_tree_leaves_model_unchanged(small):
    X, y = small
    clf = _clf(noise="adversarial", n_components=2).partial_fit(X, y, classes=[0, 1, 2])
    before = _state(clf, X)
    with pytest.raises(ValueError, match="too large for the noise model"):
        clf.partial_fit(np.full_like(X, 3e38), y)
    for a, b in zip(before, _state(clf, X), strict=True):
        if isinstance(a, np.ndarray):
            assert_array_equal(a, b)
        else:
            assert a == b


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # PCA of one row
@pytest.mark.parametrize("noise", ["uniform", "adversarial", None])
def test_divergence_in_the_last_update_is_reported(small, noise):
    """A one-row partial_fit computes its loss before its update, so only the final check of
    coef_/intercept_ can see that a huge learning_rate overflowed them. learning_rate=1e39 is beyond
    the parameter's bound (1e6): the training's own check runs behind skip_parameter_validation."""
    X, y = small
    with pytest.raises(InvalidParameterError, match="'learning_rate' parameter"):
        _clf(noise=noise, learning_rate=1e39, n_components=2).fit(X, y)
    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(
            FloatingPointError, match=r"Training diverged: intercept_ overflowed float32 with learning_rate=1e\+39"
        ):
            _clf(noise=noise, learning_rate=1e39, n_components=2).partial_fit(X[:1], y[:1], classes=[0, 1, 2])
        with pytest.raises(FloatingPointError, match=r"Training diverged.*learning_rate=1e\+39"):
            _clf(noise=noise, learning_rate=1e39, n_components=2).fit(X, y)


def test_model_too_large_for_memory(monkeypatch, small):
    """The memory guard names the sizes and suggests reducing n_features, before anything is fitted."""
    import skxc._validation as validation

    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 16)
    X, y = small[0], small[1]
    clf = AdversarialSoftmaxClassifier(random_state=0)
    with pytest.raises(ValueError, match=r"GiB.*classes.*features.*factored Adagrad.*TruncatedSVD"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_") and not hasattr(clf, "tree_")
    with pytest.raises(ValueError, match=r"full Adagrad state.*adagrad=\"factored\".*TruncatedSVD"):
        clf.set_params(adagrad="full").fit(X, y)


def test_memory_guard_keeps_headroom_and_names_sparse_weights(monkeypatch):
    """A need within the available memory but above its headroom fraction is refused; for sparse X the
    error offers sparse weights, and sparse weights are estimated by the pairs training can touch."""
    import skxc._validation as validation

    X = sp.random(200, 50, density=0.1, random_state=0, format="csr")
    y = np.arange(200) % 4
    need = 4 * 51 * 4 + (4 + 50 + 1) * 8  # dense coef_ and the factored state
    # the tree's randomized SVD of sparse rows is counted too (tests/test_s67_audit.py); not here
    monkeypatch.setattr("skxc._fit.sparse_svd_bytes", lambda *args: 0)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / 0.9))
    clf = AdversarialSoftmaxClassifier(random_state=0, weights="dense", max_iter=1)
    with pytest.raises(ValueError, match=r"keeps 20% of it free.*weights=\"sparse\""):
        clf.fit(X, y)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / 0.7))
    clf.fit(X, y)  # within the headroom
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 1000)
    with pytest.raises(ValueError, match=r"sparse weights.*fewer negatives"):
        clf.set_params(weights="sparse").fit(X, y)


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


@pytest.mark.usefixtures("sparse_paths")
def test_memory_guard_counts_the_dense_centroid_start(monkeypatch):
    """Dense X with init="centroid" briefly needs two float64 class x feature arrays: the guard counts them
    (and names init="zeros"); sparse X or init="zeros" do not need them."""
    import skxc._validation as validation
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=1200, n_features=10, n_classes=8, random_state=0)
    n_classes, n_features = 8, 10
    model = n_classes * (n_features + 1) * 4 + (n_classes + n_features + 1) * 8
    model += 1080 * n_features * validation.PROJECTION_BYTES  # the tree's projection of the 1,080 fit rows
    # enough without the start (the guard uses at most MEMORY_HEADROOM of it)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int((model + 100) / validation.MEMORY_HEADROOM))
    with pytest.raises(ValueError, match=r'centroid start of dense X \(init="zeros" needs none\)'):
        AdversarialSoftmaxClassifier(random_state=0, n_components=2).fit(X, y)
    AdversarialSoftmaxClassifier(random_state=0, n_components=2, init="zeros", max_iter=1).fit(X, y)
    # sparse X: no dense start (its tree's randomized SVD is counted instead: tests/test_s67_audit.py)
    monkeypatch.setattr("skxc._fit.sparse_svd_bytes", lambda *args: 0)
    AdversarialSoftmaxClassifier(random_state=0, n_components=2, max_iter=1).fit(sp.csr_matrix(X), y)


def test_many_class_targets_check_is_thread_safe():
    # The pilots validate their rows in threads side by side. Under warnings.catch_warnings (a swap of the
    # process-wide filter list) scikit-learn's "more than 50 % unique classes" warning got through now and
    # then (1-5 of 16,000 calls here); the check must never emit it, from any thread.
    import threading

    from skxc._validation import check_many_class_targets

    y = np.arange(100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def work():
            for _ in range(2000):
                check_many_class_targets(y)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("y", [np.linspace(0.0, 1.0, 30), np.array([[0.5, 1.5], [1.0, 2.5]] * 15)])
def test_many_class_targets_rejects_continuous_y_as_scikit_learn_does(y):
    from sklearn.utils.multiclass import check_classification_targets

    from skxc._validation import check_many_class_targets

    with pytest.raises(ValueError) as ours:
        check_many_class_targets(y)
    with pytest.raises(ValueError) as theirs:
        check_classification_targets(y)
    assert str(ours.value) == str(theirs.value)
