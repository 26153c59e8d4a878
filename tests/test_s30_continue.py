"""Continued training of a blended model, early stopping on a flat score, and parameter bounds (stop 30)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_blobs
from sklearn.utils._param_validation import InvalidParameterError

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def blended_data():
    X, y = make_hierarchical_classification(n_samples=3000, n_features=32, n_classes=128, random_state=1)
    return X[:2500], y[:2500], X[2500:], y[2500:]


def _dense(coef):
    return coef.toarray() if sp.issparse(coef) else np.asarray(coef)


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_blend_term_comes_out_and_back_exactly(blended_data, weights):
    """Taking the kept beta term out and adding it back leaves the model (to float32 rounding), and what comes
    out is the model as trained before the blend."""
    X, y, _, _ = blended_data
    X = sp.csr_matrix(X) if weights == "sparse" else X
    params = dict(max_iter=2, random_state=0, n_jobs=1, weights=weights, weight_threshold=0.0)  # no pruning
    clf = AdversarialSoftmaxClassifier(centroid_blend=64.0, **params)
    clf.fit(X, y)
    unblended = AdversarialSoftmaxClassifier(centroid_blend=0.0, **params).fit(X, y)
    blended_coef, blended_bias = _dense(clf.coef_).copy(), clf.intercept_.copy()
    parts = clf._blend_parts
    clf._fold_blend(parts, -1.0)
    # the term out: the same scores as the model trained without it (same seed, same training)
    np.testing.assert_allclose(clf.decision_function(X[:50]), unblended.decision_function(X[:50]), atol=2e-3)
    clf._fold_blend(parts, 1.0)
    np.testing.assert_allclose(_dense(clf.coef_), blended_coef, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(clf.intercept_, blended_bias, rtol=1e-5, atol=1e-4)


def test_continued_training_of_a_blended_model_keeps_its_accuracy(blended_data):
    """warm_start fits and partial_fit after a fit that chose a large beta continue the trained model under the
    term (before stop 30 they trained on the term's large scores: test accuracy 0.61 -> 0.16 here)."""
    X, y, Xt, yt = blended_data
    clf = AdversarialSoftmaxClassifier(centroid_blend=256.0, warm_start=True, max_iter=1, random_state=0, n_jobs=1)
    first = clf.fit(X, y).score(Xt, yt)
    for _ in range(3):
        clf.fit(X, y)
        assert clf.centroid_blend_ == 256.0
        assert clf.loss_curve_[-1] < 5.0  # the loss of the trained part, not of the term's scores
    assert clf.score(Xt, yt) > first - 0.05
    clf.partial_fit(X, y)
    assert clf.score(Xt, yt) > first - 0.05


def test_a_new_fit_forgets_the_blend_term(blended_data):
    X, y, _, _ = blended_data
    clf = AdversarialSoftmaxClassifier(centroid_blend=16.0, max_iter=1, random_state=0, n_jobs=1).fit(X, y)
    assert hasattr(clf, "_blend_parts")
    clf.set_params(centroid_blend=0.0).fit(X, y)
    assert not hasattr(clf, "_blend_parts") and clf.centroid_blend_ == 0.0


def test_early_stopping_stops_on_a_flat_validation_accuracy():
    X, y = make_blobs(300, centers=3, cluster_std=0.5, random_state=0)
    clf = AdversarialSoftmaxClassifier(early_stopping=True, max_iter=50, n_iter_no_change=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: it stopped
        clf.fit(X, y)
    # the start (epoch 0) sets the best; 3 epochs without a higher accuracy stop it
    assert clf.validation_scores_[0] == 1.0 and clf.n_iter_ == 3
    assert clf.best_iteration_ == 0


def test_best_iteration_belongs_to_the_last_call():
    X, y = make_blobs(300, centers=3, cluster_std=0.5, random_state=0)
    clf = AdversarialSoftmaxClassifier(early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    assert hasattr(clf, "best_iteration_")
    clf.set_params(early_stopping=False).fit(X, y)
    assert not hasattr(clf, "best_iteration_")


def test_pilots_do_not_warn_about_their_own_max_iter():
    X, y = make_hierarchical_classification(n_samples=3000, n_classes=50, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        AdversarialSoftmaxClassifier(tol=1e-4, max_iter=30, random_state=0).fit(X, y)
    assert not [w for w in caught if "max_iter=" in str(w.message) and "max_iter=30" not in str(w.message)]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_negatives": True}, "'n_negatives' parameter .* not a bool"),
        ({"max_iter": True}, "'max_iter' parameter .* not a bool"),
        ({"n_negatives": 10**9}, "'n_negatives' parameter .* range"),
        ({"centroid_blend": 1e100}, "'centroid_blend' parameter .* range"),
        ({"tree_temperature": 1e100}, "'tree_temperature' parameter .* range"),
        ({"tree_temperature": 1e-9}, "'tree_temperature' parameter .* range"),
    ],
)
def test_out_of_range_parameters_are_named(params, match):
    X, y = make_blobs(60, centers=3, random_state=0)
    with pytest.raises(InvalidParameterError, match=match):
        AdversarialSoftmaxClassifier(**params).fit(X, y)


def test_a_warm_start_needs_the_fitted_features_and_kind():
    X, y = make_blobs(120, centers=3, n_features=4, random_state=0)
    clf = AdversarialSoftmaxClassifier(warm_start=True, max_iter=1, random_state=0).fit(X, y)
    coef = clf.coef_.copy()
    with pytest.raises(ValueError, match="must have its 4 features; X has 3"):
        clf.fit(X[:, :3], y)
    Y = np.eye(3, dtype=int)[y]
    with pytest.raises(ValueError, match="trained on 1-D labels .* y is a label indicator matrix"):
        clf.fit(X, Y)
    np.testing.assert_array_equal(clf.coef_, coef)
    assert clf.n_features_in_ == 4


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_ctrl_c_while_the_term_comes_out_leaves_the_warm_model_as_it_was(blended_data, weights, monkeypatch):
    """A warm start of a blended model interrupted while its beta term is taken out (before any step): fit raises
    KeyboardInterrupt and the estimator is the fitted one, its epochs (n_iter_) and curves included (before stop
    69 n_iter_ and the curves were reset to those of a fit that had not run)."""
    import signal

    import skxc._training as training_module

    X, y, Xt, _ = blended_data
    X = sp.csr_matrix(X) if weights == "sparse" else X
    clf = AdversarialSoftmaxClassifier(centroid_blend=64.0, max_iter=3, random_state=0, n_jobs=1, weights=weights)
    clf.fit(X, y)
    before = {k: v for k, v in clf.__dict__.items()}
    n_iter, curve, proba = clf.n_iter_, list(clf.loss_curve_), clf.predict_proba(Xt)
    real = training_module.TrainingMixin._fold_blend

    def fold(self, parts, sign):
        real(self, parts, sign)
        if sign < 0:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(training_module.TrainingMixin, "_fold_blend", fold)
    with pytest.raises(KeyboardInterrupt):
        clf.set_params(warm_start=True).fit(X, y)
    assert clf.n_iter_ == n_iter == 3 and clf.loss_curve_ == curve
    changed = sorted(k for k in before if clf.__dict__.get(k) is not before[k])
    assert set(clf.__dict__) == set(before) and changed == ["warm_start"], changed
    np.testing.assert_allclose(clf.predict_proba(Xt), proba, rtol=1e-4, atol=1e-6)
