"""Training whose weights stop being finite leaves the estimator unfitted, never predicting NaN (stop 31 audit:
partial_fit with alpha=1e300 on a fitted model raised FloatingPointError and left NaN weights, so
predict_proba then returned NaN without complaint)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import skxc._training as training
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


@pytest.fixture
def diverging(monkeypatch):
    """The check after training reports divergence (after the weights were trained, as a real one would)."""

    def diverged(*args, **kwargs):
        raise FloatingPointError("Training diverged: coef_ overflowed float32 with learning_rate=0.1.")

    return lambda: monkeypatch.setattr(training, "check_finite_model", diverged)


@pytest.mark.parametrize("how", ["partial_fit", "warm fit", "fit"])
def test_a_diverged_call_leaves_the_estimator_unfitted(diverging, how):
    X, y = make_hierarchical_classification(n_samples=600, n_features=8, n_classes=8, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, warm_start=how == "warm fit").fit(X, y)
    params = clf.get_params()
    diverging()
    with pytest.raises(FloatingPointError, match="left unfitted"):
        if how == "partial_fit":
            clf.partial_fit(X, y)
        else:
            clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict_proba(X)
    assert clf.get_params() == params
    assert not [name for name in vars(clf) if name.endswith("_") and not name.startswith("_")]


def test_a_fitted_model_is_kept_when_training_stays_finite():
    X, y = make_hierarchical_classification(n_samples=600, n_features=8, n_classes=8, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0).fit(X, y).partial_fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()


@pytest.mark.parametrize("params", [{"noise": None}, {"noise": "uniform", "adagrad": "full"}])
def test_huge_features_train_with_the_full_adagrad_state(params):
    """Squared gradients of features of 1e20 overflow the full state's float32 sums: they saturate instead of
    becoming inf, which set every later step to 0 (before: training accuracy 0.21, chance 0.125). A saturated
    sum no longer shrinks the steps (each still moves a weight by at most the learning rate), so such features
    train worse than scaled ones (0.65 against 0.93 and 0.80 here): scale them."""
    X, y = make_hierarchical_classification(n_samples=600, n_features=8, n_classes=8, random_state=0)
    huge = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, **params).fit(X * 1e20, y)
    assert np.isfinite(huge.coef_).all() and np.isfinite(huge.intercept_).all()
    assert huge.score(X * 1e20, y) >= 0.5
