"""Exactly tied classes: ``predict``, ``predict_top_k`` and ``argmax(predict_proba)`` agree (stop 45, audit s45/qaB).

Where every class's score is computed (no tree to search: ``noise=None`` or uniform noise, or a large k), the
k best were taken by ``argpartition``, which keeps any of the classes tied at the k-th score: ``predict`` could
return another tied class than ``classes_[argmax(predict_proba)]`` (scikit-learn's first of ties), and
``predict_top_k(X, 3)[:, 0]`` another than ``predict``.
"""

import numpy as np
import pytest

from skxc import AdversarialSoftmaxClassifier
from skxc._predict import _first_of_ties


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_first_of_ties_matches_a_stable_sort(k):
    rng = np.random.default_rng(k)
    S = rng.integers(0, 4, size=(200, 12)).astype(np.float64)  # many ties, also at the k-th score
    part = np.argpartition(-S, k - 1, axis=1)[:, :k]
    _first_of_ties(S, part, np.arange(S.shape[0]))  # every row: those without such ties keep their k
    want = np.argsort(-S, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(np.sort(part, axis=1), np.sort(want, axis=1))


@pytest.fixture(scope="module")
def tied():
    """A model whose classes 5-19 have only rows of weight 0, so identical weights: rows far on their side
    tie them at the top (the audit's construction)."""
    rng = np.random.RandomState(0)
    centers = rng.randn(20, 8) * 3
    y = rng.randint(0, 20, 1500)
    X = centers[y] + rng.randn(1500, 8)
    w = np.where(y < 5, 1.0, 0.0)
    clf = AdversarialSoftmaxClassifier(noise=None, random_state=0, init="zeros", centroid_blend=0, max_iter=3)
    clf.fit(X, y, sample_weight=w)
    W, b = clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)
    assert np.all(W[5:] == W[5]) and np.all(b[5:] == b[5])
    # a direction where the absent classes' common score beats the trained ones'
    direction = np.linalg.lstsq(W[:5] - W[5], -np.ones(5), rcond=None)[0]
    Xq = np.vstack([direction * s for s in (5.0, 10.0, 20.0)])
    D = clf.decision_function(Xq)
    assert ((D == D.max(axis=1, keepdims=True)).sum(axis=1) > 3).all()  # ties beyond k=3 at the top
    return clf, Xq, D


def test_predict_takes_the_first_tied_class(tied):
    clf, Xq, D = tied
    first = clf.classes_[np.argmax(D, axis=1)]
    np.testing.assert_array_equal(clf.predict(Xq), first)
    np.testing.assert_array_equal(clf.predict(Xq), clf.classes_[np.argmax(clf.predict_proba(Xq), axis=1)])


@pytest.mark.parametrize("k", [1, 3, 10])
def test_top_k_orders_tied_classes_by_class(tied, k):
    clf, Xq, D = tied
    top = clf.predict_top_k(Xq, k)
    want = clf.classes_[np.argsort(-D, axis=1, kind="stable")[:, :k]]
    np.testing.assert_array_equal(top, want)
    np.testing.assert_array_equal(top[:, 0], clf.predict(Xq))


def test_a_nan_score_is_never_first():
    """A model broken by hand (a NaN weight): predict and predict_top_k agree, and neither puts the NaN class
    first (numpy's argmax would)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 6)), rng.integers(0, 12, 300)
    clf = AdversarialSoftmaxClassifier(noise="uniform", random_state=0, max_iter=2, centroid_blend=0).fit(X, y)
    W = clf.coef_.copy()
    W[1] = np.nan
    clf.coef_ = W
    pred = clf.predict(X[:20])
    assert not (pred == clf.classes_[1]).any()
    np.testing.assert_array_equal(pred, clf.predict_top_k(X[:20], 3)[:, 0])
