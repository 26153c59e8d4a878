"""Numerics at the edges (stop 33 audit): ``predict_top_k``'s probabilities on rows of huge scale (above 1, up
to inf), ``AuxiliaryTree(temperature=1e300)`` (NaN weights), ``propensity`` with large ``A`` (0 and 1 with an
overflow warning, or a bare OverflowError)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils._param_validation import InvalidParameterError

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._estimator import MAX_TEMPERATURE as CLASSIFIER_MAX_TEMPERATURE
from skxc._tree import MAX_TEMPERATURE
from skxc.datasets import make_hierarchical_classification
from skxc.metrics import propensity, psp_at_k

# -- predict_top_k(return_scores=True) -----------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    X, y = make_hierarchical_classification(n_samples=1500, n_features=20, n_classes=60, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, centroid_blend=0, max_iter=3).fit(X[:1200], y[:1200])
    return clf, X[1200:1260]


def _scaled_rows(X):
    """The audit's rows: x 1e10, x 1e15, x 1e25, and one feature set to 1e30 (the first or the 16th: top-1
    probabilities of 0 and inf before)."""
    huge = X[:10].copy()
    huge[:5, 0] = 1e30
    huge[5:, 15] = 1e30
    return {"1e10": X * 1e10, "1e15": X * 1e15, "1e25": X * 1e25, "feature 1e30": huge}


def _assert_top_k_probabilities(clf, X, k):
    top, proba = clf.predict_top_k(X, k, return_scores=True)
    np.testing.assert_array_equal(top, clf.predict_top_k(X, k))
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0.0) & (proba <= 1.0))
    full = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, np.take_along_axis(full, np.searchsorted(clf.classes_, top), axis=1))
    return proba


@pytest.mark.parametrize("rows", ["1e10", "1e15", "1e25", "feature 1e30"])
def test_top_k_probabilities_of_rows_of_huge_scale_are_those_of_predict_proba(model, rows):
    """They were exp(top-k score - normaliser) with the two computed differently: 1.0000038 at x 1e10, 1.284 at
    x 1e15, inf at x 1e25 and 0 or inf for a feature of 1e30, where predict_proba gives 1."""
    clf, X = model
    Xs = _scaled_rows(X)[rows]
    proba = _assert_top_k_probabilities(clf, Xs, 3)
    assert np.all(proba[:, 0] > 0.5)  # one class takes (almost) all the mass at such a scale
    _assert_top_k_probabilities(clf, sp.csr_matrix(Xs), 3)


def test_top_k_probabilities_of_ordinary_rows(model):
    clf, X = model
    proba = _assert_top_k_probabilities(clf, X, 5)
    assert np.all(np.diff(proba, axis=1) <= 0.0)
    tempered = AdversarialSoftmaxClassifier(random_state=0, max_iter=3).fit(X, np.arange(len(X)) % 6)
    tempered.score_temperature_ = 2.5  # a scale other than 1 (the probabilities' temperature)
    _assert_top_k_probabilities(tempered, X, 4)


# -- AuxiliaryTree(temperature=...) ------------------------------------------------------------------


def test_the_tree_temperature_has_the_classifier_bounds():
    """temperature=1e300 fitted silently to NaN/inf node weights and NaN probabilities."""
    assert MAX_TEMPERATURE == CLASSIFIER_MAX_TEMPERATURE == 1e6
    X, y = make_hierarchical_classification(n_samples=400, n_features=6, n_classes=10, random_state=0)
    message = r"'temperature' parameter of AuxiliaryTree .*\[1e-06, 1000000.0\]"
    for bad in [1e300, 1e30, 1.01e6, 0.99e-6, 0.0, -1.0]:
        with pytest.raises(InvalidParameterError, match=message):
            AuxiliaryTree(n_components=4, temperature=bad, random_state=0).fit(X, y)
    for edge in [1e6, 1e-6]:
        tree = AuxiliaryTree(n_components=4, temperature=edge, random_state=0).fit(X, y)
        assert tree.temperature_ == edge
        assert np.all(np.isfinite(tree.node_weight_)) and np.all(np.isfinite(tree.node_bias_))
        np.testing.assert_allclose(tree.predict_proba(X[:3]).sum(axis=1), 1.0)


def test_the_tree_temperature_docstring_states_the_bounds():
    assert 'temperature : float in [1e-6, 1e6] or "auto"' in AuxiliaryTree.__doc__


# -- propensity --------------------------------------------------------------------------------------

Y_FIXED = np.zeros((100, 4), dtype=int)
Y_FIXED[:50, 0] = 1
Y_FIXED[:5, 1] = 1
Y_FIXED[7, 2] = 1

# propensity(Y_FIXED, A, B) before the change (stop 32's code), as printed by Python: the same bits now
BEFORE = {
    (0.55, 1.5): [0.5942447469917033, 0.3193332328214434, 0.21714724095162588, 0.17317032497262708],
    (0.5, 0.4): [0.6246635805321522, 0.35265123809432414, 0.21714724095162588, 0.129121296303622],
    (0.6, 2.6): [0.5809563141630736, 0.3027914405764922, 0.21714724095162588, 0.18578680760070632],
}


@pytest.mark.parametrize("A, B", list(BEFORE))
def test_ordinary_propensities_are_unchanged(A, B):
    np.testing.assert_array_equal(propensity(Y_FIXED, A=A, B=B), BEFORE[A, B])


def _exact_propensity(A, B, counts, n):
    """The formula in 60-digit decimals, from the float64 inputs' exact values."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        A, B = Decimal(A), Decimal(B)
        log_c = (Decimal(n).ln() - 1).ln()
        return np.array([float(1 / (1 + (log_c - A * ((int(c) + B) / (B + 1)).ln()).exp())) for c in counts])


@pytest.mark.parametrize("A, B", [(30.0, 0.5), (500.0, 0.5), (1000.0, 0.5), (200.0, 0.01), (1e10, 2.0), (1.9, 1e-160)])
def test_propensities_of_large_A_stay_in_0_1(A, B):
    """(B + 1)^A and (N_l + B)^-A overflowed: exactly 0 and 1 with a RuntimeWarning, or an OverflowError at
    A = 1e10. Labels that occur keep a propensity in (0, 1] (1 / log N for a single row, whatever A)."""
    Y = Y_FIXED[:, :3]  # labels of 50, 5 and 1 rows
    with np.errstate(all="raise"):
        p = propensity(Y, A=A, B=B)
    assert np.all((p > 0.0) & (p <= 1.0))
    np.testing.assert_allclose(p, _exact_propensity(A, B, Y.sum(axis=0), 100), rtol=1e-14)
    assert p[2] == pytest.approx(1 / np.log(100), rel=1e-15)
    assert np.isfinite(psp_at_k(Y, np.tile([0, 1, 2], (100, 1)), propensities=p, k=1))


def test_a_representable_tiny_propensity_is_kept():
    """A label of no rows at A = 500, B = 0.5: about 7.6e-240, outside the direct formula's range
    ((0.5)^-500 * 1.5^500 overflows), computed in log space."""
    p = propensity(Y_FIXED, A=500.0, B=0.5)
    np.testing.assert_allclose(p, _exact_propensity(500.0, 0.5, Y_FIXED.sum(axis=0), 100), rtol=1e-14)
    assert 0.0 < p[3] < 1e-200


@pytest.mark.parametrize("A, B", [(1000.0, 0.5), (200.0, 0.01), (1e10, 2.0), (2.0, 1e-155)])
def test_a_propensity_beyond_float64_names_A_and_B(A, B):
    """A label of no rows gets a propensity below 1e-308 (1/p_l overflows): a ValueError naming A and B."""
    with np.errstate(all="raise"), pytest.raises(ValueError, match=rf"A={A!r} and B={B!r} .* 0 of the 100 rows"):
        propensity(Y_FIXED, A=A, B=B)
