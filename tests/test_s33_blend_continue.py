"""Continued training of a blended model with sparse weights, and after ``sparsify()``.

SGD continues a blended model under its beta term (``TrainingMixin._train``). With sparse weights part of the term
lives in the common term, whose scores the training rows carry as a fixed offset, and a model fitted on dense X
carries a part in its intercepts; both must leave with the rest of the term.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._training
from skxc import AdversarialSoftmaxClassifier
from skxc._weights import HashedWeights
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def data():
    X, y = make_hierarchical_classification(n_samples=1500, n_features=20, n_classes=30, random_state=0)
    S = X.copy()
    S[np.abs(S) < 0.8] = 0  # sparse rows, as sparse weights need
    return X, sp.csr_matrix(S), y


def _classifier(**params):
    return AdversarialSoftmaxClassifier(max_iter=2, random_state=0, n_jobs=1, **params)


def _scores(X, coef, intercept, offset=None):
    """float64 ``X coef^T + offset + intercept``: the linear scores (no log p_n, no temperature)."""
    product = X @ (coef.T if sp.issparse(coef) else np.asarray(coef, dtype=np.float64).T)
    scores = np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float64)
    if offset is not None and offset.size:
        scores += offset[:, None]
    return scores + intercept.astype(np.float64)


def _model_scores(clf, X):
    """The linear scores of the fitted (blended) model."""
    shared = clf.__dict__.get("_shared_coef")
    offset = None if shared is None else np.asarray(X @ shared.astype(np.float64)).ravel()
    return _scores(X, clf.coef_, clf.intercept_, offset)


def _term_scores(parts, X):
    """The beta term's scores, from its parts (``skxc._blend.blend_term``)."""
    scores = _scores(X, parts["term"], np.zeros(parts["term"].shape[0], dtype=np.float32))
    scores += np.asarray(X @ parts["common"].astype(np.float64)).ravel()[:, None]
    if parts["bias"] is not None:
        scores += parts["bias"].astype(np.float64)
    return scores


def _trained_scores(monkeypatch, clf, X, train):
    """The linear scores of the model as SGD starts to train it in ``train(clf)``: the weights, the rows' offset and
    the intercepts that the epochs receive."""
    seen = []
    run_epochs = skxc._training.run_epochs

    def spy(model, intercept, state, params, rows, *args, **kwargs):
        coef = model.to_csr()[0] if isinstance(model, HashedWeights) else model
        seen.append(_scores(X, coef, intercept, rows.row_offset))
        return run_epochs(model, intercept, state, params, rows, *args, **kwargs)

    monkeypatch.setattr(skxc._training, "run_epochs", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a negligible step size does not converge
        train(clf)
    monkeypatch.undo()
    assert len(seen) == 1
    return seen[0]


def _warm_fit(X, y):
    return lambda clf: clf.set_params(warm_start=True).fit(X, y)


def _partial_fit(X, y):
    return lambda clf: clf.partial_fit(X, y)


@pytest.mark.parametrize("how", [_warm_fit, _partial_fit])
def test_sparse_weights_continue_the_model_under_the_term(monkeypatch, data, how):
    """Continued training of sparse weights with a blend starts from the fitted model minus the term's scores, and
    a negligible step leaves the predictions (an offset of the rows made with the term's common part in put the
    scores off by up to 129 here)."""
    _, S, y = data
    clf = _classifier(weights="sparse", centroid_blend=256.0).fit(S, y)
    assert sp.issparse(clf.coef_) and clf.centroid_blend_ == 256.0
    expected = _model_scores(clf, S) - _term_scores(clf._blend_parts, S)
    proba = clf.predict_proba(S)
    trained = _trained_scores(monkeypatch, clf.set_params(learning_rate=1e-12), S, how(S, y))
    np.testing.assert_allclose(trained, expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(clf.predict_proba(S), proba, rtol=0, atol=1e-4)


@pytest.mark.parametrize("how", [_warm_fit, _partial_fit])
def test_sparse_weights_keep_the_loss_and_accuracy_of_the_fit(data, how):
    """The continued epochs' loss stays near the fit's last (with that offset: about 80 after 1.5) and the training
    accuracy stays, as with dense weights."""
    _, S, y = data
    for weights in ("dense", "sparse"):
        clf = _classifier(weights=weights, centroid_blend=256.0).fit(S, y)
        before, last_loss = clf.score(S, y), clf.loss_curve_[-1]
        how(S, y)(clf)
        assert max(clf.loss_curve_[2:]) < 1.5 * last_loss, weights
        assert clf.score(S, y) > before - 0.02, weights


def test_sparsify_continues_the_model_the_dense_layout_continues(monkeypatch, data):
    """After ``sparsify()`` of a model blended on dense X, continued training starts from the same model as
    without it: the term's bias leaves the intercepts too (kept, it put them at up to 17 for 2.7). The term has
    a bias only for centred centroids (``CENTRE_DENSE``, off by default since stop 36)."""
    import skxc._start as start

    monkeypatch.setattr(start, "CENTRE_DENSE", True)
    X, _, y = data
    dense = _classifier(centroid_blend=64.0).fit(X, y)
    sparse = copy.deepcopy(dense).sparsify()
    assert sp.issparse(sparse.coef_) and dense._blend_parts["bias"] is not None
    expected = _model_scores(dense, X) - _term_scores(dense._blend_parts, X)
    for clf in (dense, sparse):
        clf.set_params(learning_rate=1e-12)
        trained = _trained_scores(monkeypatch, clf, X, _partial_fit(X, y))
        np.testing.assert_allclose(trained, expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X), rtol=0, atol=1e-4)


def test_sparsify_then_partial_fit_keeps_the_accuracy(data):
    """One ``partial_fit`` after ``sparsify()`` keeps the training accuracy (with the bias kept: 0.92 -> 0.79)."""
    X, _, y = data
    clf = _classifier(centroid_blend=64.0).fit(X, y).sparsify()
    before = clf.score(X, y)
    clf.partial_fit(X, y)
    assert clf.score(X, y) > before - 0.02
    assert max(clf.loss_curve_[2:]) < 1.5 * clf.loss_curve_[1]
