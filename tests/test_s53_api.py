"""Stop 53 audit: a continued model (a warm start, a later ``partial_fit``) keeps the noise it trained with, so a
``noise`` of another kind is a ValueError, not half applied; ``predict_top_k``'s ``return_scores`` is a bool."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def data():
    return make_hierarchical_classification(n_samples=600, n_classes=20, random_state=0)


def _clf(**kw):
    return AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, **kw)


def _state(clf):
    return clf.coef_.copy(), clf.intercept_.copy(), clf.noise_, clf.tree_


@pytest.mark.parametrize(
    "before, after",
    [(None, "adversarial"), ("adversarial", None), ("uniform", "frequency"), ("adversarial", "prefit")],
)
@pytest.mark.parametrize("call", ["warm_start", "partial_fit"])
def test_a_continued_model_rejects_another_noise_and_stays_as_it_was(data, before, after, call):
    X, y = data
    clf = _clf(noise=before, warm_start=call == "warm_start").fit(X, y)
    coef, intercept, noise_, tree = _state(clf)
    P = clf.predict_proba(X)
    if after == "prefit":
        after = FrozenEstimator(AuxiliaryTree(random_state=0).fit(X, y))
    clf.set_params(noise=after)
    with pytest.raises(ValueError, match=r"continues the fitted model, which trained with noise_=.*noise is now"):
        clf.fit(X, y) if call == "warm_start" else clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(clf.intercept_, intercept)
    assert clf.noise_ == noise_ and clf.tree_ is tree
    np.testing.assert_array_equal(clf.predict_proba(X), P)
    # the fitted kind continues, and a new fit may change it
    clf.set_params(noise=before)
    clf.fit(X, y) if call == "warm_start" else clf.partial_fit(X, y)
    assert clf.noise_ == noise_
    new = clf.set_params(noise=after, warm_start=False).fit(X, y)
    assert new.noise_ == ("prefit" if isinstance(after, FrozenEstimator) else after)


def test_adversarial_continues_a_model_whose_noise_is_uniform(data):
    """noise_ "uniform" under noise="adversarial" is what the pilots may choose: a warm start continues it."""
    X, y = data
    clf = _clf(noise="uniform", warm_start=True).fit(X, y)
    clf.set_params(noise="adversarial").fit(X, y)
    assert clf.noise_ == "uniform" and clf.n_iter_ == 2
    clf.partial_fit(X, y)
    assert clf.noise_ == "uniform"


def test_a_frozen_tree_continues_a_model_that_trained_with_one(data):
    X, y = data
    tree = AuxiliaryTree(random_state=0).fit(X, y)
    clf = _clf(noise=FrozenEstimator(tree)).partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)
    assert clf.noise_ == "prefit"


@pytest.mark.parametrize("bad", ["False", "True", 1, 0, None, np.array([True])])
def test_return_scores_must_be_a_bool(data, bad):
    X, y = data
    clf = _clf().fit(X, y)
    with pytest.raises(TypeError, match=r"return_scores must be True or False; got"):
        clf.predict_top_k(X[:3], 2, return_scores=bad)
    labels, scores = clf.predict_top_k(X[:3], 2, return_scores=np.bool_(True))
    np.testing.assert_array_equal(labels, clf.predict_top_k(X[:3], 2, return_scores=False))
    assert scores.shape == (3, 2)


@pytest.mark.parametrize("dtype", ["string", "object", "Int64", "category"])
@pytest.mark.parametrize("call", ["fit", "partial_fit"])
def test_a_missing_pandas_label_is_named(data, dtype, call):
    pd = pytest.importorskip("pandas")
    X, y = data
    labels = pd.Series(y[:6].astype(str) if dtype in ("string", "object", "category") else y[:6], dtype=dtype)
    labels[2] = None
    clf = _clf()
    with pytest.raises(ValueError, match=r"y contains NaN or None: a class label must be a value"):
        if call == "fit":
            clf.fit(X[:6], labels)
        else:
            clf.partial_fit(X[:6], labels, classes=np.unique(labels.dropna().to_numpy()))
    assert not hasattr(clf, "coef_")
