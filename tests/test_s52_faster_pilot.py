"""The faster pilot in stop 52: its top-1 veto (``FASTER_TOP1_Z``) and the memory guard dropping it alone
(the model or the other pilots fit without its negatives) rather than raising or skipping the whole blend."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from test_s43_faster_pilot import dense, few_rows_data

import skxc._blend as blend
import skxc._fit as fit_module
from skxc import AdversarialSoftmaxClassifier
from skxc._validation import ModelMemoryError


@pytest.mark.parametrize("max_scores", [10**6, 7])  # one block, and blocks of a row
def test_top1_hits_against_a_numpy_reference(monkeypatch, max_scores):
    rng = np.random.default_rng(0)
    P = np.log(rng.dirichlet(np.ones(6), size=50))
    S = rng.normal(size=(50, 6))
    truth = rng.integers(0, 6, size=50)
    monkeypatch.setattr(blend, "MAX_SCORES", max_scores)
    for beta in (0.0, 1.0, 64.0):
        expected = (np.argmax(P + beta * S, axis=1) == truth).astype(float)
        np.testing.assert_array_equal(blend.top1_hits(P, S, truth, beta), expected)
    # the scores themselves are left as they are
    assert np.all(np.isfinite(P)) and P.shape == (50, 6)


def test_pilot_choice_hits_are_top1_at_its_beta_on_the_accuracy_rows():
    rng = np.random.default_rng(1)
    n, C = 700, 30
    truth = rng.integers(0, C, size=n)
    P = rng.normal(size=(n, C))
    P[np.arange(n), truth] += 1.0
    P -= np.log(np.exp(P).sum(axis=1, keepdims=True))
    S = rng.normal(size=(n, C))
    beta, T, ll, rows, top_map, hits, _ = blend.pilot_choice(P, S, truth)
    m = blend.accuracy_rows(C)
    assert hits.shape == (min(n, m),)
    np.testing.assert_array_equal(hits, (np.argmax(P[:m] + beta * S[:m], axis=1) == truth[:m]).astype(float))
    # no hits where the choice does not go by accuracy (the many-rows pilot) or for multi-label truth
    assert blend.pilot_choice(P, S, truth, by_accuracy=False)[5] is None


def test_faster_wins_only_if_its_top1_is_not_clearly_lower():
    rng = np.random.default_rng(2)
    chosen = rng.normal(-4.0, 1.0, size=500)
    faster = chosen + rng.uniform(0.0, 0.2, size=500)  # log-likelihood far above the bar
    hits = (rng.random(500) < 0.3).astype(float)
    assert blend.faster_wins(faster, chosen, hits, hits)  # the same top-1: the log-likelihood decides
    assert blend.faster_wins(faster, chosen)  # no hits: the log-likelihood alone
    # the faster pilot misses rows the chosen one hits: z = -(mean / se) of the paired difference
    for lost in (1, 5, 20, 40):
        fewer = hits.copy()
        fewer[np.flatnonzero(hits)[:lost]] = 0.0
        z = blend.paired_z(fewer - hits)
        assert blend.faster_wins(faster, chosen, fewer, hits) == (z >= -blend.FASTER_TOP1_Z)
    assert not blend.faster_wins(faster, chosen, np.zeros(500), hits)
    # more hits never block it, and they do not make a log-likelihood below the bar win
    assert blend.faster_wins(faster, chosen, np.ones(500), hits)
    assert not blend.faster_wins(chosen, faster, np.ones(500), hits)


def _recording_pilots(monkeypatch):
    seen = []
    real = blend.pilot_log_proba

    def recording(pilot, *args):
        seen.append(pilot.n_negatives)
        return real(pilot, *args)

    monkeypatch.setattr(blend, "pilot_log_proba", recording)
    return seen


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_pilots_that_fit_only_without_the_faster_one_train_without_it(monkeypatch, n_jobs):
    """Where the blend's memory fits only without the faster pilot, the other pilots train (no warning) and
    the model is the one trained where the faster pilot is not wanted at all."""
    X, y, Xt, _ = few_rows_data()
    kw = dict(random_state=0, n_jobs=n_jobs, max_iter=2)
    with monkeypatch.context() as m:
        m.setattr(blend, "FASTER_MAX_CLASSES", 0)
        m.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
        without = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    real = blend.blend_bytes
    monkeypatch.setattr(
        blend,
        "blend_bytes",
        lambda est, X_, *a, **k: 10**18 if blend.faster_pilot_wanted(est, X_) else real(est, X_, *a, **k),
    )
    seen = _recording_pilots(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert seen and blend.FASTER[1] not in seen  # the other pilots trained, the faster one did not
    assert clf.n_negatives_ == 2
    assert clf.centroid_blend_ == without.centroid_blend_ and clf.learning_rate_ == without.learning_rate_
    if n_jobs == 1:
        np.testing.assert_array_equal(dense(clf.coef_), dense(without.coef_))
        np.testing.assert_array_equal(clf.predict_proba(Xt), without.predict_proba(Xt))
    # the next fit that fits wants the faster pilot again
    monkeypatch.setattr(blend, "blend_bytes", real)
    seen.clear()
    clf.fit(X, y)
    assert blend.FASTER[1] in seen


def test_a_model_that_fits_only_without_the_faster_negatives_trains_without_that_pilot(monkeypatch):
    """The memory guard counts the faster pilot's negatives for the model's sparse weights only where they fit:
    else that pilot does not train (no MemoryError), and the model is the one without it; a model that does not
    fit even without them still raises."""
    X, y, Xt, _ = few_rows_data()
    kw = dict(random_state=0, n_jobs=1, max_iter=2, weights="sparse")
    with monkeypatch.context() as m:
        m.setattr(blend, "FASTER_MAX_CLASSES", 0)
        m.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
        without = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    real = fit_module.stored_weights_bound
    counted = []

    def bound(X_, n, n_negatives, *masked):  # a bound past any machine's memory for FASTER's negatives
        counted.append(n_negatives)
        return 10**15 if n_negatives >= blend.FASTER[1] else real(X_, n, n_negatives, *masked)

    check = fit_module.check_model_memory

    def guard(*args, stored_weights=None, **kwargs):  # the guard's bytes for sparse weights are at most dense's
        if stored_weights is not None and stored_weights >= 10**15:
            raise ModelMemoryError("would not fit")
        return check(*args, stored_weights=stored_weights, **kwargs)

    monkeypatch.setattr(fit_module, "stored_weights_bound", bound)
    monkeypatch.setattr(fit_module, "check_model_memory", guard)
    seen = _recording_pilots(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert blend.FASTER[1] in counted  # the guard tried them first
    assert seen and blend.FASTER[1] not in seen
    assert clf.n_negatives_ == 2
    np.testing.assert_array_equal(dense(clf.coef_), dense(without.coef_))
    np.testing.assert_array_equal(clf.predict_proba(Xt), without.predict_proba(Xt))
    # where even the estimator's own negatives do not fit, the memory guard still raises
    monkeypatch.setattr(fit_module, "stored_weights_bound", lambda *a: 10**15)
    with pytest.raises(MemoryError):
        AdversarialSoftmaxClassifier(**kw).fit(X, y)


def test_the_faster_pilot_is_wanted_at_any_number_of_classes(monkeypatch):
    """With ``FASTER_MAX_CLASSES`` (dense rows) or ``FASTER_MAX_CLASSES_SPARSE`` (sparse rows) None no class limit;
    the memory guard decides."""
    clf = AdversarialSoftmaxClassifier()
    clf.classes_ = np.arange(1_000_000)
    X_sparse = sp.random(20, 100, density=0.02, format="csr", random_state=0)
    X_dense = np.ones((20, 100))
    for X, name in ((X_dense, "FASTER_MAX_CLASSES"), (X_sparse, "FASTER_MAX_CLASSES_SPARSE")):
        monkeypatch.setattr(blend, name, None)
        assert blend.faster_pilot_wanted(clf, X)
        blend.set_faster_dropped(clf, True)
        assert not blend.faster_pilot_wanted(clf, X)
        blend.set_faster_dropped(clf, False)
        monkeypatch.setattr(blend, name, 999_999)  # a limit, where one is set
        assert not blend.faster_pilot_wanted(clf, X)
        monkeypatch.setattr(blend, name, None)
        assert not blend.faster_pilot_wanted(clf.set_params(learning_rate=0.1), X)  # the settings still decide
        clf.set_params(learning_rate="auto")


def test_the_class_limit_of_the_faster_pilot_follows_the_rows(monkeypatch):
    """The defaults: at most 2,000 classes for dense rows (dense CSR too), none for sparse rows."""
    assert blend.FASTER_MAX_CLASSES == 2000 and blend.FASTER_MAX_CLASSES_SPARSE is None
    clf = AdversarialSoftmaxClassifier()
    X_sparse = sp.random(20, 100, density=0.02, format="csr", random_state=0)
    X_dense = np.ones((20, 100))
    for n_classes, dense_wanted in ((2000, True), (2001, False), (1_000_000, False)):
        clf.classes_ = np.arange(n_classes)
        assert blend.faster_pilot_wanted(clf, X_dense) == dense_wanted
        assert blend.faster_pilot_wanted(clf, sp.csr_matrix(X_dense)) == dense_wanted  # stored sparse, dense rows
        assert blend.faster_pilot_wanted(clf, X_sparse)
