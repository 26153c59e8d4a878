"""Property-based tests (hypothesis) of hostile and unusual input.

Arbitrary small finite X (dense, CSR, CSR with duplicate and unsorted indices; values
from subnormal to 1e30), arbitrary labels, every noise option: a fit succeeds or
stops with an error that names the cause, and a fitted model's predictions are
always valid probabilities consistent with ``predict`` and ``predict_top_k``.
The settings are small and derandomised (the same examples on every run, no
example database written), so the file runs in seconds once the kernels are compiled.
"""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skxc import AdversarialSoftmaxClassifier

# scikit-learn's PCA/TruncatedSVD divide by a zero total variance on all-zero (or one-row) X
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")

NOISES = ["adversarial", "uniform", "frequency", None]
FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Errors a fit may stop with on hostile input: each names the input or the parameter at fault.
CLEAR_ERRORS = re.compile(
    r"Input X contains values too large for (float32|the noise model)"
    r"|Training diverged.*learning_rate="
)
LABELS = np.array(["ant", "bee", "cat", "dog", "emu"])


def _clf(noise, **params):
    return AdversarialSoftmaxClassifier(
        **({"noise": noise, "max_iter": 2, "n_components": 2, "random_state": 0} | params)
    )


def _fit(clf, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


# -- strategies ------------------------------------------------------------------------------


def _values(max_abs):
    """float32-representable values in [-max_abs, max_abs], zeros (sparsity) and all that lies
    between: subnormals, 1, huge magnitudes (hypothesis favours the boundaries)."""
    max_abs = float(np.float32(max_abs))
    return st.one_of(st.just(0.0), st.floats(-max_abs, max_abs, width=32))


@st.composite
def matrices(draw, max_abs=1e30, max_rows=20, max_features=5):
    n = draw(st.integers(2, max_rows))
    d = draw(st.integers(1, max_features))
    return draw(hnp.arrays(np.float64, (n, d), elements=_values(max_abs)))


@st.composite
def labels(draw, n):
    """Labels of n rows with at least 2 classes (ints, negative ints or strings), any order."""
    codes = draw(hnp.arrays(np.int64, n, elements=st.integers(0, len(LABELS) - 1)))
    codes[:2] = draw(st.permutations([0, 1]))  # >= 2 classes
    codes = codes[np.asarray(draw(st.permutations(range(n))))]
    kind = draw(st.sampled_from(["int", "negative", "str"]))
    return {"int": codes, "negative": -10 * codes - 1, "str": LABELS[codes]}[kind]


def non_canonical(X, seed):
    """CSR equal to X as a matrix but with split (duplicate) entries, explicit zeros and
    column indices in decreasing order within each row."""
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(X)
    indptr, indices, data = [0], [], []
    for i in range(X.shape[0]):
        row = X.getrow(i)
        for j, v in zip(row.indices[::-1], row.data[::-1], strict=True):
            if rng.random() < 0.5:  # split into two entries: the sum need not equal v exactly
                a = v * rng.uniform(-1.0, 2.0)
                indices += [j, j]
                data += [a, v - a]
            else:
                indices.append(j)
                data.append(v)
        if X.shape[1] and rng.random() < 0.3:
            indices.append(int(rng.integers(X.shape[1])))
            data.append(0.0)
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.array(data, dtype=np.float64), np.array(indices, dtype=np.int32), np.array(indptr)), shape=X.shape
    )


def canonical(X):
    X = X.copy()
    X.sum_duplicates()
    X.sort_indices()
    return X


CONTAINERS = ["dense", "csr", "non-canonical csr"]


def to_container(X, container, seed=0):
    return {"dense": lambda: X, "csr": lambda: sp.csr_matrix(X), "non-canonical csr": lambda: non_canonical(X, seed)}[
        container
    ]()


# -- assertions ------------------------------------------------------------------------------


def _class_scores(clf, X):
    """Bias-corrected scores (n, C), up to a per-row shift (decision_function is (n,) for 2 classes)."""
    s = clf.decision_function(X)
    return np.column_stack([np.zeros_like(s), s]) if s.ndim == 1 else s


def assert_valid_predictions(clf, X):
    """Probabilities are finite, non-negative, sum to 1; predict and predict_top_k pick the classes
    of largest probability. Rows whose best scores tie to rounding may pick either tied class."""
    n, C = X.shape[0], len(clf.classes_)
    proba = clf.predict_proba(X)
    assert proba.shape == (n, C) and proba.dtype == np.float64
    assert np.all(np.isfinite(proba)) and np.all(proba >= 0.0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    log_proba = clf.predict_log_proba(X)
    assert not np.any(np.isnan(log_proba)) and np.all(log_proba <= 0.0)

    scores = _class_scores(clf, X)
    assert np.all(np.isfinite(scores))
    tol = 1e-9 * np.maximum(1.0, np.abs(scores).max(axis=1))  # rounding of the score sums
    order = np.argsort(-scores, axis=1, kind="stable")
    best = np.take_along_axis(scores, order[:, :1], axis=1)[:, 0]
    clear = best - np.take_along_axis(scores, order[:, 1:2], axis=1)[:, 0] > tol

    pred = clf.predict(X)
    codes = np.searchsorted(clf.classes_, pred)
    assert_array_equal(clf.classes_[codes], pred)
    assert_array_equal(pred[clear], clf.classes_[np.argmax(proba, axis=1)][clear])
    assert np.all(np.take_along_axis(scores, codes[:, None], axis=1)[:, 0] >= best - tol)

    k = min(3, C)
    top = clf.predict_top_k(X, k=k)
    assert top.shape == (n, k)
    top_codes = np.searchsorted(clf.classes_, top)
    assert_array_equal(clf.classes_[top_codes], top)
    assert all(len(set(row)) == k for row in top_codes)
    assert_array_equal(top[clear, 0], pred[clear])
    assert_array_equal(clf.predict_top_k(X, k=1)[:, 0], pred)
    top_scores = np.take_along_axis(scores, top_codes, axis=1)
    assert np.all(np.diff(top_scores, axis=1) <= tol[:, None])  # best first
    kth = np.take_along_axis(scores, order[:, k - 1 : k], axis=1)[:, 0]
    assert np.all(top_scores[:, -1] >= kth - tol)  # the k best, none skipped


def fit_or_clear_error(clf, X, y):
    """The fitted clf, or None after an error that names its cause (anything else propagates)."""
    try:
        return _fit(clf, X, y)
    except (ValueError, FloatingPointError) as exc:
        assert CLEAR_ERRORS.search(str(exc)), f"unclear error: {exc!r}"
        event(f"fit raised {type(exc).__name__}")
        return None


def assert_same_fit(a, b):
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.intercept_, b.intercept_)
    assert a.loss_curve_ == b.loss_curve_


# -- (a) any small finite input: valid predictions -----------------------------------------


@FAST
@given(
    X=matrices(),
    data=st.data(),
    noise=st.sampled_from(NOISES),
    container=st.sampled_from(CONTAINERS),
)
def test_any_finite_input_gives_valid_probabilities(X, data, noise, container):
    y = data.draw(labels(X.shape[0]), label="y")
    Xc = to_container(X, container, seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
    clf = fit_or_clear_error(_clf(noise), Xc, y)
    if clf is None:
        return
    assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    assert np.all(np.isfinite(clf.loss_curve_))
    assert_array_equal(clf.classes_, np.unique(y))
    assert_valid_predictions(clf, Xc)
    assert_valid_predictions(clf, X[::-1])  # dense rows at prediction, whatever the training container


# -- (b) duplicates are summed ---------------------------------------------------------------


@FAST
@given(X=matrices(max_abs=1e6), data=st.data(), noise=st.sampled_from(NOISES))
def test_duplicate_and_unsorted_indices_mean_their_sum(X, data, noise):
    """A CSR with duplicate entries, explicit zeros and unsorted indices is the matrix of its
    sums (scipy's and scikit-learn's meaning): the same model and predictions as its canonical form."""
    y = data.draw(labels(X.shape[0]), label="y")
    messy = non_canonical(X, seed=data.draw(st.integers(0, 2**32 - 1), label="seed"))
    tidy = canonical(messy)
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    a = _fit(_clf(noise), messy, y)
    b = _fit(_clf(noise), tidy, y)
    assert_same_fit(a, b)
    assert_array_equal(a.predict_proba(messy), b.predict_proba(tidy))
    assert_array_equal(a.predict_top_k(messy, k=2), b.predict_top_k(tidy, k=2))
    assert_array_equal(a.predict_proba(messy), a.predict_proba(tidy))
    for got, expected in zip((messy.data, messy.indices, messy.indptr), before, strict=True):
        assert_array_equal(got, expected)  # the caller's matrix is not modified


# -- (c) the container does not matter -------------------------------------------------------


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _read_only_csr(X):
    X = sp.csr_matrix(X)
    for a in (X.data, X.indices, X.indptr):
        a.setflags(write=False)
    return X


def _int64_indices(X):
    X = sp.csr_matrix(X)
    X.indices, X.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
    return X


DENSE_FORMS = {
    "F-order": np.asfortranarray,
    "non-contiguous": lambda X: np.repeat(X, 2, axis=1)[:, ::2],
    "read-only": _read_only,
    "int64": lambda X: X.astype(np.int64),
    "int32": lambda X: X.astype(np.int32),
    "float16": lambda X: X.astype(np.float16),
    "list": lambda X: X.tolist(),
    "DataFrame": lambda X: pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]),
}
SPARSE_FORMS = {
    "csc": sp.csc_matrix,
    "coo": sp.coo_matrix,
    "csr_array": sp.csr_array,
    "csc_array": sp.csc_array,
    "coo_array": sp.coo_array,
    "int64 indices": _int64_indices,
    "read-only": _read_only_csr,
    "int64 data": lambda X: sp.csr_matrix(X.astype(np.int64)),
}


@FAST
@given(
    X=hnp.arrays(
        np.float64,
        st.tuples(st.integers(2, 16), st.integers(1, 5)),
        elements=st.integers(-8, 8).map(float),  # exact in every dtype tried, int and float16 included
    ),
    data=st.data(),
    noise=st.sampled_from(NOISES),
)
def test_containers_and_dtypes_give_the_same_model(X, data, noise):
    """For a fixed random_state, dense inputs of any layout/dtype give the model of the C-ordered
    float64 array, and sparse inputs of any format (matrix or array, int64 indices) the model of
    its CSR; dense and sparse models differ (PCA vs TruncatedSVD for the tree, float32 vs float64
    score sums), which test_estimator.py covers with tolerances."""
    y = data.draw(labels(X.shape[0]), label="y")
    for reference, forms in ((X, DENSE_FORMS), (sp.csr_matrix(X), SPARSE_FORMS)):
        ref = _fit(_clf(noise), reference, y)
        expected = (ref.predict_proba(reference), ref.predict(reference), ref.predict_top_k(reference, k=2))
        for name, form in forms.items():
            Xf = form(X)
            clf = _fit(_clf(noise), Xf, y)
            assert_same_fit(clf, ref)
            got = (clf.predict_proba(Xf), clf.predict(Xf), clf.predict_top_k(Xf, k=2))
            for g, e in zip(got, expected, strict=True):
                assert_array_equal(g, e, err_msg=name)
    if noise != "adversarial":  # the tree's PCA runs in the input's precision: float32 changes it
        X32 = X.astype(np.float32)
        assert_same_fit(_fit(_clf(noise), X32, y), _fit(_clf(noise), X, y))


# -- (d) huge steps, no regularisation, huge features ----------------------------------------


@FAST
@given(
    X=matrices(max_abs=1e30, max_rows=12, max_features=4),
    data=st.data(),
    noise=st.sampled_from(NOISES),
    learning_rate=st.sampled_from([1.0, 1e6, 1e30, 1e38, 1e39, 1e300]),
    alpha=st.sampled_from([0.0, 1e-12, 1e-3]),
    container=st.sampled_from(CONTAINERS),
    partial=st.booleans(),
)
def test_extreme_training_stays_finite_or_stops_clearly(X, data, noise, learning_rate, alpha, container, partial):
    """Training either leaves finite coefficients and valid probabilities, or stops with a
    FloatingPointError naming learning_rate: never NaN/inf in coef_ or predict_proba.
    ``partial``: one partial_fit call on one row, whose loss is computed before its update.
    A learning_rate above its bound (1e6) fails parameter validation; the training's own checks are
    tested behind skip_parameter_validation."""
    y = data.draw(labels(X.shape[0]), label="y")
    Xc = to_container(X, container)
    clf = _clf(noise, learning_rate=learning_rate, alpha=alpha)
    try:
        with sklearn.config_context(skip_parameter_validation=learning_rate > 1e6):
            if partial:
                clf.partial_fit(Xc[:1], y[:1], classes=np.unique(y))
            else:
                _fit(clf, Xc, y)
    except FloatingPointError as exc:
        assert re.search(rf"Training diverged.*learning_rate={re.escape(str(learning_rate))}", str(exc)), exc
        event("diverged")
        return
    assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    assert_valid_predictions(clf, Xc)


@pytest.fixture(scope="module")
def fitted_models():
    """One small fitted model per (noise, sparse); tests copy them before changing coefficients."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    X[rng.random(X.shape) < 0.3] = 0.0
    y = np.arange(60) % 5
    return {
        (noise, sparse): _fit(_clf(noise, n_components=3), sp.csr_matrix(X) if sparse else X, y)
        for noise in NOISES
        for sparse in (False, True)
    }


_F32 = float(np.finfo(np.float32).max)


@FAST
@given(
    key=st.sampled_from([(noise, sparse) for noise in NOISES for sparse in (False, True)]),
    data=st.data(),
    X=hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.just(4)), elements=_values(1e30)),
)
def test_predict_proba_is_valid_for_any_finite_coefficients(fitted_models, key, data, X):
    """Coefficients anywhere in the float32 range (scores up to ~1e69) and features up to 1e30:
    log-sum-exp in float64 keeps predict_proba finite and normalised, and predict consistent."""
    clf = copy.deepcopy(fitted_models[key])
    C = len(clf.classes_)
    clf.coef_[:] = data.draw(hnp.arrays(np.float32, clf.coef_.shape, elements=_values(_F32)), label="coef_")
    clf.intercept_[:] = data.draw(hnp.arrays(np.float32, C, elements=_values(_F32)), label="intercept_")
    assert_valid_predictions(clf, sp.csr_matrix(X) if key[1] else X)
