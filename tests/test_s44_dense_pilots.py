"""Stop 44: pilots of a large model on sparse X train with dense weights where their epochs touch enough of them
(``skxc._blend.touched_enough``), side by side, within the memory guard; the choice they make is the sparse
pilots' (the same model, its scores summed in another order)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier


def text_data(n_rows=3000, n_classes=150, n_features=400, seed=0):
    """Sparse tf-idf-like rows (about 5 % of 400 features stored, so not "mostly dense"), 20 rows per class."""
    y = np.arange(n_rows) % n_classes
    proto = sp.random(n_classes, n_features, density=0.03, random_state=seed, format="csr")
    noise = sp.random(n_rows, n_features, density=0.03, random_state=seed + 1, format="csr")
    X = sp.csr_matrix(noise + proto[y], dtype=np.float32)
    return X, y


@pytest.fixture
def large(monkeypatch):
    """The data's 60,000 weights count as a large model's (above SPARSE_PILOT_WEIGHTS and SIDE_BY_SIDE_WEIGHTS)."""
    monkeypatch.setattr(blend, "SPARSE_PILOT_WEIGHTS", 1000)
    monkeypatch.setattr(blend, "SIDE_BY_SIDE_WEIGHTS", 1000)


def test_touches_decide_the_pilot_layout_of_a_large_model(large, monkeypatch):
    X, y = text_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, centroid_blend=0.0).fit(X, y)
    touches = blend.pilot_touches(clf, X)
    assert touches == blend.MIN_PILOT_EPOCHS * X.nnz * (1 + clf.n_negatives_)
    n_weights = len(clf.classes_) * X.shape[1]
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: None)
    # just under, and just past, DENSE_PILOT_TOUCHES weights per touch
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1.001 * n_weights / touches)
    assert blend.pilot_weights(clf, X) == "dense" and blend.side_by_side_pilots(clf, X)
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 0.999 * n_weights / touches)
    assert blend.pilot_weights(clf, X) == "sparse" and blend.side_by_side_pilots(clf, X)  # small sparse tables
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 0.0)  # never
    assert blend.pilot_weights(clf, X) == "sparse"
    # dense X, or a sparse model, never take this path
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1e9)
    assert blend.pilot_weights(clf, X) == "dense"
    assert blend.pilot_weights(clf, X, sparse_model=True) == "sparse"
    assert blend.pilot_weights(clf, X.toarray()) == "dense" and not blend.side_by_side_pilots(clf, X.toarray())


def test_dense_pilots_need_room_for_five_dense_models(large, monkeypatch):
    """Four pilots at once and the model: where they would not fit, sparse pilots keep the blend possible."""
    X, y = text_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, centroid_blend=0.0).fit(X, y)
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1e9)
    one = blend.dense_pilot_bytes(clf, X)
    n_classes, n_features = len(clf.classes_), X.shape[1]
    assert one == n_classes * (n_features + 1) * 4 + (n_classes + n_features + 1) * 8  # factored Adagrad state
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(5 * one / blend.MEMORY_HEADROOM) + 1)
    assert blend.pilot_weights(clf, X) == "dense"
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(5 * one / blend.MEMORY_HEADROOM) - 1)
    assert blend.pilot_weights(clf, X) == "sparse"
    # blend_bytes counts the layout chosen
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: None)
    dense_need = blend.blend_bytes(clf, X)
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 0.0)
    assert blend.blend_bytes(clf, X) != dense_need


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_dense_and_sparse_pilots_make_the_same_choice(large, monkeypatch, n_jobs):
    """The pilots' layout changes how long they take, not what they choose: the same beta, step, tree and
    negatives, and a temperature equal to float32 rounding; with one thread the same model."""
    X, y = text_data()
    layouts, fitted = [], []
    real = blend.pilot_log_proba

    def recording(pilot, *args):
        out = real(pilot, *args)
        layouts.append(sp.issparse(pilot.coef_))
        return out

    monkeypatch.setattr(blend, "pilot_log_proba", recording)
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: None)
    for touches in (1e9, 0.0):  # dense pilots, then sparse ones
        monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", touches)
        layouts.clear()
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=3, weights="dense").fit(X, y)
        assert layouts and set(layouts) == {touches == 0.0}
        fitted.append(clf)
    dense, sparse = fitted
    for name in ("centroid_blend_", "learning_rate_", "n_negatives_"):
        assert getattr(dense, name) == getattr(sparse, name), name
    assert dense.tree_.temperature_ == sparse.tree_.temperature_
    assert sparse.score_temperature_ == pytest.approx(dense.score_temperature_, rel=1e-5)
    if n_jobs == 1:
        np.testing.assert_array_equal(dense.coef_, sparse.coef_)
