"""Stop 56: the faster multi-label pilot (``skxc._blend.MULTILABEL_FASTER``, :func:`skxc._blend.weighting_choice`):
with ``learning_rate="auto"`` a multi-label fit also trains a pilot with 16 times the step, and the model takes
that step when the pilot's held-out precision@k beats the chosen pilot's by more than ``MULTILABEL_FASTER_Z`` standard
errors; docs/benchmarks.rst, "Stop 56"."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_blend import multilabel_few_rows_data

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import pilot_auto_rate

PARAMS = {"random_state": 0, "n_jobs": 1, "max_iter": 2}


def dense(coef):
    return coef.toarray() if sp.issparse(coef) else np.asarray(coef)


def record_pilots(monkeypatch):
    """The (label_weighting, learning_rate, n_negatives) of every pilot that trains, in the order they start."""
    seen = []
    real = blend.chosen_blend

    def recording(pilot, *args):
        seen.append((pilot.label_weighting, pilot.learning_rate, pilot.n_negatives))
        return real(pilot, *args)

    monkeypatch.setattr(blend, "chosen_blend", recording)
    return seen


@pytest.mark.parametrize("weighting", ["pairs", "rows"])
def test_pilot_auto_rate_is_the_rate_a_fit_computes(weighting):
    """The faster pilot's step is MULTILABEL_FASTER times what its own fit would take for "auto": the rate of the
    (row, label) examples over the square root of the label cardinality, with row weights."""
    X, Y, _, _ = multilabel_few_rows_data(seed=4)
    scale = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])  # rows of unequal norms
    X = sp.csr_matrix(sp.diags(scale) @ X) if sp.issparse(X) else X * scale[:, None]
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=X.shape[0])
    clf = AdversarialSoftmaxClassifier(centroid_blend=0.0, label_weighting=weighting, **{**PARAMS, "max_iter": 1})
    clf.fit(X, Y, sample_weight=w)
    assert pilot_auto_rate(X, Y, w, weighting) == pytest.approx(clf.learning_rate_, rel=1e-6)
    y = Y.indices[Y.indptr[:-1]]  # single-label: the rows' rate
    one = AdversarialSoftmaxClassifier(centroid_blend=0.0, **{**PARAMS, "max_iter": 1}).fit(X, y, sample_weight=w)
    assert pilot_auto_rate(X, y, w) == pytest.approx(one.learning_rate_, rel=1e-6)


def test_the_faster_pilot_trains_last_in_order_first_in_time(monkeypatch):
    """With "auto" weighting three pilots train: "pairs", "rows" and "pairs" at MULTILABEL_FASTER times the step
    (its own "auto" rate of the fit rows); the faster one starts first. The negatives stay the estimator's."""
    X, Y, _, _ = multilabel_few_rows_data(seed=3)
    seen = record_pilots(monkeypatch)
    AdversarialSoftmaxClassifier(**PARAMS).fit(X, Y)
    assert [(w, lr == "auto") for w, lr, _ in seen] == [("pairs", False), ("pairs", True), ("rows", True)]
    clf = AdversarialSoftmaxClassifier(centroid_blend=0.0, **PARAMS).fit(X, Y)
    assert [k for _, _, k in seen] == [clf.n_negatives_] * 3  # the estimator's negatives
    fast = seen[0][1]
    # the fit rows are not the estimator's, so the rate is near (not equal to) 16 times the model's own
    plain = AdversarialSoftmaxClassifier(centroid_blend=0.0, **PARAMS).fit(X, Y)
    assert fast == pytest.approx(blend.MULTILABEL_FASTER * plain.learning_rate_, rel=0.05)


def test_fixed_weighting_or_fixed_step(monkeypatch):
    """A fixed label_weighting trains its own pilot and the faster one with it; a fixed learning rate trains no
    faster pilot (and with a fixed weighting, one pilot as before this stop)."""
    X, Y, _, _ = multilabel_few_rows_data(seed=3)
    seen = record_pilots(monkeypatch)
    AdversarialSoftmaxClassifier(label_weighting="rows", **PARAMS).fit(X, Y)
    assert [(w, lr == "auto") for w, lr, _ in seen] == [("rows", False), ("rows", True)]
    seen.clear()
    AdversarialSoftmaxClassifier(learning_rate=0.05, **PARAMS).fit(X, Y)
    assert [(w, lr) for w, lr, _ in seen] == [("pairs", 0.05), ("rows", 0.05)]
    seen.clear()
    AdversarialSoftmaxClassifier(learning_rate=0.05, label_weighting="pairs", **PARAMS).fit(X, Y)
    assert [(w, lr) for w, lr, _ in seen] == [("pairs", 0.05)]  # the estimator's alone, as before this stop


def fit_with(monkeypatch, z, **params):
    with monkeypatch.context() as m:
        m.setattr(blend, "MULTILABEL_FASTER_Z", z)
        return AdversarialSoftmaxClassifier(**{**PARAMS, **params}).fit(*multilabel_few_rows_data(seed=3)[:2])


def test_a_losing_faster_pilot_leaves_the_model_as_without_it(monkeypatch):
    X, Y, Xt, _ = multilabel_few_rows_data(seed=3)
    lost = fit_with(monkeypatch, np.inf)
    monkeypatch.setattr(blend, "MULTILABEL_FASTER", 1.0)
    without = AdversarialSoftmaxClassifier(**PARAMS).fit(X, Y)
    np.testing.assert_array_equal(dense(lost.coef_), dense(without.coef_))
    np.testing.assert_array_equal(lost.predict_proba(Xt), without.predict_proba(Xt))
    assert lost.learning_rate_ == without.learning_rate_ and lost.label_weighting_ == without.label_weighting_


def test_a_winning_faster_pilot_sets_the_models_step(monkeypatch, capsys):
    """The model then trains with MULTILABEL_FASTER times its own "auto" rate, "pairs", its own negatives, and the
    pilot's blend; verbose says so."""
    won = fit_with(monkeypatch, -np.inf, verbose=1)
    assert f"learning rate x{blend.MULTILABEL_FASTER:g}" in capsys.readouterr().out
    plain = fit_with(monkeypatch, np.inf, label_weighting="pairs")
    assert won.label_weighting_ == "pairs" and won.n_negatives_ == plain.n_negatives_
    assert won.learning_rate_ == pytest.approx(blend.MULTILABEL_FASTER * plain.learning_rate_, rel=1e-12)
    assert not np.array_equal(dense(won.coef_), dense(plain.coef_))
    assert np.all(np.isfinite(won.predict_proba(multilabel_few_rows_data(seed=3)[2])))


def test_a_faster_pilot_stopped_by_the_memory_guard_is_passed_over(monkeypatch):
    X, Y, Xt, _ = multilabel_few_rows_data(seed=3)
    real = blend.chosen_blend

    def guarded(pilot, *args):
        if pilot.learning_rate != "auto":
            raise MemoryError("the faster pilot")
        return real(pilot, *args)

    monkeypatch.setattr(blend, "chosen_blend", guarded)
    monkeypatch.setattr(blend, "MULTILABEL_FASTER_Z", -np.inf)  # it would win
    stopped = AdversarialSoftmaxClassifier(**PARAMS).fit(X, Y)
    monkeypatch.setattr(blend, "MULTILABEL_FASTER", 1.0)
    without = AdversarialSoftmaxClassifier(**PARAMS).fit(X, Y)
    np.testing.assert_array_equal(dense(stopped.coef_), dense(without.coef_))
    assert stopped.learning_rate_ == without.learning_rate_


def test_two_threads_choose_as_one(monkeypatch):
    """Side by side (two threads) the pilots are the same three and the choice the same."""
    X, Y, _, _ = multilabel_few_rows_data(seed=3)
    seen = record_pilots(monkeypatch)
    chosen = []
    for n_jobs in (1, 2):
        clf = AdversarialSoftmaxClassifier(**{**PARAMS, "n_jobs": n_jobs}).fit(X, Y)
        chosen.append((clf.label_weighting_, clf.learning_rate_, clf.centroid_blend_))
    assert sorted(w for w, _, _ in seen) == ["pairs"] * 4 + ["rows"] * 2
    assert chosen[0][0] == chosen[1][0] and chosen[0][2] == chosen[1][2]
    assert chosen[0][1] == pytest.approx(chosen[1][1], rel=1e-12)


# --- multi-label sparse weights in the dense buffer (``skxc._training.MULTILABEL_BUFFER``) ----------------------


def _multilabel_text(seed=0, n_rows=1500, n_features=300, n_labels=40):
    """Sparse rows with 1-3 labels each, each label adding its own feature (a signal to learn)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n_rows, n_features, density=0.05, format="csr", random_state=seed, dtype=np.float64)
    labels = [rng.choice(n_labels, size=rng.integers(1, 4), replace=False) for _ in range(n_rows)]
    rows = np.repeat(np.arange(n_rows), [len(lab) for lab in labels])
    cols = np.concatenate(labels)
    Y = sp.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(n_rows, n_labels))
    X = sp.csr_matrix(X + sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=X.shape))
    return X, Y


BUFFER_FIXED = dict(random_state=0, n_jobs=1, max_iter=4, centroid_blend=0.0, tree_temperature=1.0, learning_rate=0.3)


def test_multilabel_sparse_weights_train_in_the_buffer(monkeypatch):
    """As single-label ones (tests/test_s50_dense_buffer.py): coef_ is CSR after training, and the model scores
    as dense weights trained the same way do (to float32 rounding); MULTILABEL_BUFFER False keeps the table."""
    import skxc._training as training

    X, Y = _multilabel_text()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)  # sparse weights for any model
    used = []
    original = training.dense_buffer
    monkeypatch.setattr(training, "dense_buffer", lambda *a: used.append(1) or original(*a))
    model = AdversarialSoftmaxClassifier(**BUFFER_FIXED, weight_threshold=0.0).fit(X, Y)
    assert used == [1] and sp.issparse(model.coef_) and "_buffer_shared" not in model.__dict__
    dense_model = AdversarialSoftmaxClassifier(**BUFFER_FIXED, weights="dense", weight_threshold=0.0).fit(X, Y)
    np.testing.assert_allclose(model.decision_function(X[:200]), dense_model.decision_function(X[:200]), atol=2e-4)
    monkeypatch.setattr(training, "MULTILABEL_BUFFER", False)
    table = AdversarialSoftmaxClassifier(**BUFFER_FIXED, weight_threshold=0.0).fit(X, Y)
    assert used == [1] and sp.issparse(table.coef_)
    # the table keeps negatives off rare features (a few-rows insert mask); the buffer does not: close, not equal
    top_buffer, top_table = model.predict_top_k(X, 1)[:, 0], table.predict_top_k(X, 1)[:, 0]
    hits = [np.asarray(Y[np.arange(X.shape[0]), top]).ravel().mean() for top in (top_buffer, top_table)]
    assert abs(hits[0] - hits[1]) < 0.05 and min(hits) > 0.3


# --- dense pilots of a sparse model (``skxc._blend.DENSE_PILOTS_OF_SPARSE``) -------------------------------------


def test_pilots_of_a_sparse_model_are_dense_where_their_epochs_touch_enough(monkeypatch):
    """The layout of touched_enough for a sparse model too; a multi-label pilot touches its row's weights once per
    label (label_cardinality_), so the same rows with more labels can tip it."""
    X, Y = _multilabel_text()
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2).fit(X, Y)
    n_weights = len(clf.classes_) * X.shape[1]
    touches = blend.pilot_touches(clf, X)
    assert touches == int(blend.MIN_PILOT_EPOCHS * X.nnz * clf.label_cardinality_ * (1 + clf.n_negatives_))
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1e9)  # every model is touched enough
    assert blend.pilot_weights(clf, X, sparse_model=True) == "dense"
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 0.999 * n_weights / touches)  # just short of it
    assert blend.pilot_weights(clf, X, sparse_model=True) == "sparse"
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 1.001 * n_weights / touches)
    assert blend.pilot_weights(clf, X, sparse_model=True) == "dense"
    monkeypatch.setattr(blend, "DENSE_PILOTS_OF_SPARSE", False)
    assert blend.pilot_weights(clf, X, sparse_model=True) == "sparse"
    one_label = AdversarialSoftmaxClassifier(random_state=0, max_iter=2).fit(X, Y.indices[Y.indptr[:-1]])
    assert blend.pilot_touches(one_label, X) == blend.MIN_PILOT_EPOCHS * X.nnz * (1 + one_label.n_negatives_)


def test_a_sparse_models_fit_trains_dense_pilots(monkeypatch):
    import skxc._training as training

    X, Y = _multilabel_text(n_rows=2000)
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)  # sparse weights for any model
    layouts = []
    real = blend.chosen_blend
    monkeypatch.setattr(blend, "chosen_blend", lambda pilot, *a: layouts.append(pilot.weights) or real(pilot, *a))
    for enough in (1e9, 1e-9):
        monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", enough)
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, Y)
        assert sp.issparse(clf.coef_) and np.all(np.isfinite(clf.predict_proba(X[:50])))
    assert layouts == ["dense"] * 3 + ["sparse"] * 3
