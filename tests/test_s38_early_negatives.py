"""``n_negatives="auto"``: more negatives in ``fit``'s first epochs on sparse rows with many rows per class.

``skxc._fit.resolve_early_negatives`` decides, ``skxc._solver.Schedule`` carries the early epochs and their
negatives, and ``run_epochs`` hands each epoch its count (docs/benchmarks.rst, "More negatives in the first
epochs")."""

from __future__ import annotations

import _rows
import numpy as np
import pytest
import scipy.sparse as sp

import skxc._fit as fit_module
import skxc._solver as solver
from skxc import AdversarialSoftmaxClassifier
from skxc._fit import AUTO_EARLY_NEGATIVES, early_epochs, resolve_early_negatives, sgd_setup
from skxc._solver import Schedule, SGDParams


def one_hot_rows(n=12_000, n_classes=60, vocabulary=2_000, seed=0):
    """Next-word-like rows (``_rows.one_hot_rows``), classes with 200 rows each on average."""
    return _rows.one_hot_rows(n, n_classes, vocabulary, seed)


def dense(coef):
    return coef.toarray() if sp.issparse(coef) else np.asarray(coef)


def test_early_epochs_are_the_first_two_fifths_rounded():
    assert [early_epochs(e) for e in (1, 2, 3, 4, 5, 10, 30)] == [0, 1, 1, 2, 2, 4, 12]


def test_resolve_early_negatives_only_for_auto_on_sparse_rows_with_many_rows_per_class():
    X, y = one_hot_rows()
    n_classes = len(np.unique(y))
    assert resolve_early_negatives("auto", X, n_classes) == AUTO_EARLY_NEGATIVES == 8
    assert resolve_early_negatives(3, X, n_classes) == 0  # an explicit count is kept for every epoch
    assert resolve_early_negatives("auto", X, n_classes, multilabel=True) == 0
    assert resolve_early_negatives("auto", X[:2_000], n_classes) == 0  # 33 rows per class: few rows
    dense = sp.csr_matrix(np.random.default_rng(0).random((X.shape[0], 20)).astype(np.float32))
    assert resolve_early_negatives("auto", dense, n_classes) == 0  # mostly dense rows
    assert resolve_early_negatives("auto", dense.toarray(), n_classes) == 0


def test_schedule_hands_the_early_negatives_to_the_first_epochs_only():
    params = SGDParams(False, 3, 0.5, 0.0, 0.0)
    schedule = Schedule(5, True, 1, early_epochs=2, early_negatives=8)
    assert [schedule.epoch_params(params, e).n_negatives for e in range(5)] == [8, 8, 3, 3, 3]
    assert schedule.epoch_params(params, 3) is params
    assert schedule.most_negatives(params).n_negatives == 8
    exact = SGDParams(True, 3, 0.5, 0.0, 0.0)  # the exact softmax draws nothing
    assert schedule.epoch_params(exact, 0) is exact
    plain = Schedule(5, True, 1)
    assert plain.epoch_params(params, 0) is params and plain.most_negatives(params) is params
    # partial_fit (no decay) never draws early negatives; fit's schedule does
    p = {"noise": "adversarial", "n_negatives": 3, "alpha": 0.0, "l2": 0.0, "n_jobs": 1, "shuffle": True,
         "tol": None, "n_iter_no_change": 3, "verbose": 0, "learning_rate_schedule": "linear"}  # fmt: skip
    _, streaming = sgd_setup(p, 0.5, 1, False, decay=False, early_negatives=8)
    assert streaming.early_epochs == 0
    _, fitting = sgd_setup(p, 0.5, 5, True, decay=True, early_negatives=8)
    assert (fitting.early_epochs, fitting.early_negatives) == (2, 8)


def _negatives_per_epoch(monkeypatch, clf, X, y, method="fit"):
    real = solver.sgd_epoch
    counts = []

    def spy(coef, intercept, state, params, *args, **kwargs):
        counts.append(params.n_negatives)
        return real(coef, intercept, state, params, *args, **kwargs)

    monkeypatch.setattr(solver, "sgd_epoch", spy)
    getattr(clf, method)(X, y)
    monkeypatch.setattr(solver, "sgd_epoch", real)
    return counts


def test_fit_draws_eight_negatives_in_its_first_two_of_five_epochs(monkeypatch):
    X, y = one_hot_rows()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=5, centroid_blend=0.0)
    # the model's own epochs are the last five calls (a pilot may run before them)
    assert _negatives_per_epoch(monkeypatch, clf, X, y)[-5:] == [8, 8, 3, 3, 3]
    assert clf.n_negatives_ == 3 and clf.n_iter_ == 5
    # partial_fit trains on with n_negatives_
    assert _negatives_per_epoch(monkeypatch, clf, X[:500], y[:500], "partial_fit") == [3]
    # an explicit count holds for every epoch
    fixed = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=5, centroid_blend=0.0, n_negatives=3)
    assert _negatives_per_epoch(monkeypatch, fixed, X, y)[-5:] == [3] * 5


def test_without_early_negatives_auto_is_the_explicit_count_bit_for_bit(monkeypatch):
    X, y = one_hot_rows(n=8_000)
    kw = dict(random_state=0, n_jobs=1, max_iter=3, centroid_blend=0.0)
    monkeypatch.setattr(fit_module, "AUTO_EARLY_NEGATIVES", 0)
    auto = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    fixed = AdversarialSoftmaxClassifier(n_negatives=3, **kw).fit(X, y)
    np.testing.assert_array_equal(dense(auto.coef_), dense(fixed.coef_))
    np.testing.assert_array_equal(auto.intercept_, fixed.intercept_)
    monkeypatch.setattr(fit_module, "AUTO_EARLY_NEGATIVES", 8)
    early = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert not np.array_equal(early.intercept_, fixed.intercept_)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_early_negatives_train_a_model_at_least_as_good(n_jobs):
    """On the one-hot rows the early negatives' model is as accurate as the plain one (held-out rows)."""
    X, y = one_hot_rows(n=20_000)
    Xt, yt = one_hot_rows(n=4_000, seed=1)
    kw = dict(random_state=0, n_jobs=n_jobs, max_iter=5)
    early = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    plain = AdversarialSoftmaxClassifier(n_negatives=3, **kw).fit(X, y)
    assert np.isfinite(dense(early.coef_)).all()
    assert early.score(Xt, yt) >= plain.score(Xt, yt) - 0.01
