"""Stop 44: pilots of a large model on sparse X train with dense weights where their epochs touch enough of them
(``skxc._blend.touched_enough``), side by side, within the memory guard; the choice they make is the sparse
pilots' (the same model, its scores summed in another order)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
import skxc._training as training_module
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
    # dense X never takes this path; a sparse model does since stop 56 (DENSE_PILOTS_OF_SPARSE), not before
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1e9)
    assert blend.pilot_weights(clf, X) == "dense"
    assert blend.pilot_weights(clf, X, sparse_model=True) == "dense"
    with monkeypatch.context() as m:
        m.setattr(blend, "DENSE_PILOTS_OF_SPARSE", False)
        assert blend.pilot_weights(clf, X, sparse_model=True) == "sparse"
    assert blend.pilot_weights(clf, X.toarray()) == "dense" and not blend.side_by_side_pilots(clf, X.toarray())


def test_the_layout_does_not_depend_on_memory_and_side_by_side_does(large, monkeypatch):
    """The layout follows the shapes alone (with n_jobs=1 the model is the same on every machine); dense
    pilots train side by side only where n_pilots of them fit under the memory guard at once."""
    X, y = text_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=2, max_iter=1, centroid_blend=0.0).fit(X, y)
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1e9)
    one = blend.dense_pilot_bytes(clf, X)
    n_classes, n_features = len(clf.classes_), X.shape[1]
    assert one == n_classes * (n_features + 1) * 4 + (n_classes + n_features + 1) * 8  # factored Adagrad state
    for avail in (None, 10**12, 1):
        monkeypatch.setattr(blend, "available_memory_bytes", lambda avail=avail: avail)
        assert blend.pilot_weights(clf, X) == "dense"
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(3 * one / blend.MEMORY_HEADROOM) + 1)
    assert blend.side_by_side_pilots(clf, X, n_pilots=3)
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(3 * one / blend.MEMORY_HEADROOM) - 1)
    assert not blend.side_by_side_pilots(clf, X, n_pilots=3) and blend.side_by_side_pilots(clf, X, n_pilots=2)
    # blend_bytes counts the layout chosen and the pilots at once: two, or three with the background uniform pilot
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: None)
    three = blend.blend_bytes(clf, X)
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(3 * one / blend.MEMORY_HEADROOM) - 1)
    assert three - blend.blend_bytes(clf, X) >= one


def test_many_rows_per_class_keep_sparse_pilots(large, monkeypatch):
    """The many-rows pilot trains on a subsample of the rows: their touches do not count."""
    X, y = text_data(n_rows=12000, n_classes=150)  # 80 rows per class
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, centroid_blend=0.0).fit(X, y)
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1e9)
    assert not blend.few_rows(X.shape[0], len(clf.classes_))
    assert blend.pilot_weights(clf, X) == "sparse"
    assert blend.pilot_weights(clf, X[:2400]) == "dense"  # 16 rows per class


def zipf_text(n_rows=3000, n_classes=150, n_features=3000, seed=0):
    """Rows of Zipf-distributed words (most features rare: a sparse pilot's negatives' insert mask keeps most of
    them) plus a few of their class's words."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows) % n_classes
    p = 1.0 / np.arange(1, n_features + 1)
    own = rng.integers(0, n_features, size=(n_classes, 5))
    rows, cols = [], []
    for i in range(n_rows):
        words = np.unique(np.concatenate([rng.choice(n_features, 12, p=p / p.sum()), own[y[i], rng.integers(0, 5, 3)]]))
        rows.append(np.full(words.shape[0], i)), cols.append(words)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((np.ones(rows.shape[0], dtype=np.float32), (rows, cols)), shape=(n_rows, n_features))
    return X, y


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("data", ["text", "zipf"])
def test_dense_and_sparse_pilots_make_the_same_choice(large, monkeypatch, n_jobs, data):
    """The pilots' layout changes how long they take, not what they choose: the same beta, step, tree and
    negatives; the temperature equal to float32 rounding where the sparse pilots' negatives' insert mask
    keeps every feature ("text"), and to 1e-2 where it keeps few ("zipf": a negative adds no weight on a
    rare feature in a sparse pilot); with one thread the same weights."""
    X, y = text_data() if data == "text" else zipf_text()
    layouts, fitted = [], []
    real = blend.pilot_log_proba

    def recording(pilot, *args):
        out = real(pilot, *args)
        layouts.append(sp.issparse(pilot.coef_))
        return out

    monkeypatch.setattr(blend, "pilot_log_proba", recording)
    masks = []  # the share of features on which a sparse pilot's negatives may add weights
    real_mask = training_module.negative_insert_mask

    def recorded_mask(*args):
        mask = real_mask(*args)
        masks.append(float(np.mean(mask)))
        return mask

    monkeypatch.setattr(training_module, "negative_insert_mask", recorded_mask)
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
    assert sparse.score_temperature_ == pytest.approx(dense.score_temperature_, rel=1e-5 if data == "text" else 1e-2)
    if n_jobs == 1:
        np.testing.assert_array_equal(dense.coef_, sparse.coef_)
    # the sparse pilots' masks: all features kept ("text"), or few ("zipf")
    kept = {"text": lambda share: share == 1.0, "zipf": lambda share: share < 0.5}[data]
    assert masks and all(kept(share) for share in masks)
