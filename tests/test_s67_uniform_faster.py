"""Uniform noise at the faster step (stop 67, ``skxc._blend.UNIFORM_FASTER``): where the faster pilot won and a
uniform-noise pilot was wanted, one more pilot trains with uniform noise at the faster pilot's step and negatives,
and replaces it only by the uniform pilot's test (``uniform_wins``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


def few_rows_data(n_classes=200, n_samples=2000, seed=7):
    X, y = make_hierarchical_classification(
        n_samples=n_samples + 600, n_features=40, n_classes=n_classes, random_state=seed
    )
    X = sp.csr_matrix(X)
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def dense(coef):
    return coef.toarray() if sp.issparse(coef) else np.asarray(coef)


def _recording(monkeypatch, faster_bonus: bool, uniform_faster_bonus: bool):
    """chosen_blend recording each pilot's (uniform noise?, n_negatives, learning_rate); the tree's pilot with
    ``FASTER``'s negatives gets a far higher held-out log-likelihood on every row with ``faster_bonus``, the
    uniform one with them a still higher one with ``uniform_faster_bonus``."""
    real = blend.chosen_blend
    seen = []
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)  # the log-likelihood alone decides (no top-1 veto)

    def patched(pilot, *args):
        beta, T, ll, rows, top_map, hits, best_ll = real(pilot, *args)
        uniform = pilot.tree_.n_components_ == 0
        seen.append((uniform, pilot.n_negatives, pilot.learning_rate))
        faster = pilot.n_negatives == blend.FASTER[1]
        if faster and (faster_bonus or (uniform and uniform_faster_bonus)):
            rows = rows + 10.0 + 0.01 * np.arange(rows.size)  # not a constant shift: a finite z
        if faster and uniform and uniform_faster_bonus:
            rows = rows + 10.0 + 0.01 * np.arange(rows.size)
        return beta, T, ll, rows, top_map, hits, best_ll

    monkeypatch.setattr(blend, "chosen_blend", patched)
    return seen


KW = dict(random_state=0, n_jobs=1, max_iter=3)


def test_uniform_noise_at_the_faster_step_wins_only_by_the_uniform_test(monkeypatch):
    X, y, Xt, _ = few_rows_data()
    seen = _recording(monkeypatch, faster_bonus=True, uniform_faster_bonus=True)
    clf = AdversarialSoftmaxClassifier(**KW).fit(X, y)
    # the tree's pilots, the faster one, the uniform one at the estimator's step, then uniform at the faster step
    assert seen[-1][:2] == (True, blend.FASTER[1])
    assert [s[:2] for s in seen].count((True, blend.FASTER[1])) == 1
    assert (True, 2) in [s[:2] for s in seen]  # the uniform pilot at the estimator's negatives ran before
    tree_faster = [s for s in seen if s[:2] == (False, blend.FASTER[1])]
    assert len(tree_faster) == 1 and seen[-1][2] == tree_faster[0][2]  # the same step as the tree's faster pilot
    unblended = AdversarialSoftmaxClassifier(centroid_blend=0.0, **KW).fit(X, y)  # no pilots: the auto rate
    # the model: uniform noise, the faster pilot's negatives and step
    assert clf.noise_ == "uniform" and clf.tree_.n_components_ == 0
    assert clf.n_negatives_ == blend.FASTER[1]
    assert clf.learning_rate_ == pytest.approx(blend.FASTER[0] * unblended.learning_rate_, rel=1e-12)
    assert clf.get_params()["noise"] == "adversarial"
    P = clf.predict_proba(Xt)
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1.0)
    # reproducible with n_jobs=1
    again = AdversarialSoftmaxClassifier(**KW).fit(X, y)
    np.testing.assert_array_equal(dense(again.coef_), dense(clf.coef_))


def test_a_losing_uniform_pilot_at_the_faster_step_leaves_the_model_bit_for_bit(monkeypatch):
    """It draws nothing from the model's generator: where it loses, the model is the one trained without it."""
    X, y, Xt, _ = few_rows_data(seed=3)
    seen = _recording(monkeypatch, faster_bonus=True, uniform_faster_bonus=False)
    clf = AdversarialSoftmaxClassifier(**KW).fit(X, y)
    assert seen[-1][:2] == (True, blend.FASTER[1])  # it trained, last
    monkeypatch.setattr(blend, "UNIFORM_FASTER", False)
    seen.clear()
    plain = AdversarialSoftmaxClassifier(**KW).fit(X, y)
    assert (True, blend.FASTER[1]) not in [s[:2] for s in seen]
    assert clf.noise_ == plain.noise_ == "adversarial" and clf.n_negatives_ == plain.n_negatives_ == 8
    np.testing.assert_array_equal(dense(plain.coef_), dense(clf.coef_))
    np.testing.assert_array_equal(plain.intercept_, clf.intercept_)
    np.testing.assert_array_equal(plain.predict_proba(Xt), clf.predict_proba(Xt))


@pytest.mark.parametrize("case", ["faster loses", "no uniform pilot", "off"])
def test_which_fits_run_the_uniform_pilot_at_the_faster_step(monkeypatch, case):
    X, y, _, _ = few_rows_data()
    seen = _recording(monkeypatch, faster_bonus=case != "faster loses", uniform_faster_bonus=True)
    if case == "faster loses":
        monkeypatch.setattr(blend, "FASTER_Z", np.inf)
    elif case == "no uniform pilot":
        monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)
    else:
        monkeypatch.setattr(blend, "UNIFORM_FASTER", False)
    clf = AdversarialSoftmaxClassifier(**KW).fit(X, y)
    pilots = [s[:2] for s in seen]
    assert (False, blend.FASTER[1]) in pilots  # the tree's faster pilot trained
    assert (True, blend.FASTER[1]) not in pilots
    if case == "faster loses":
        assert clf.n_negatives_ == 2
    else:
        assert clf.n_negatives_ == blend.FASTER[1] and clf.noise_ == "adversarial"


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_every_test_passed_gives_uniform_noise_at_the_faster_step(monkeypatch, n_jobs):
    """Both tests forced to pass (z -inf): uniform noise beats the tree's pilots, the faster pilot beats it, and
    uniform noise at the faster step beats that; with 2 threads the other pilots train side by side (the uniform
    one in the background) and this one after them, on both threads."""
    X, y, _, _ = few_rows_data()
    monkeypatch.setattr(blend, "UNIFORM_Z", -np.inf)
    monkeypatch.setattr(blend, "FASTER_Z", -np.inf)
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)
    real = blend.pilot_log_proba
    seen = []

    def recording(pilot, *args):
        out = real(pilot, *args)
        seen.append((pilot.tree_.n_components_ == 0, pilot.n_negatives))
        return out

    monkeypatch.setattr(blend, "pilot_log_proba", recording)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=3).fit(X, y)
    assert seen[-1] == (True, blend.FASTER[1]) and seen.count((True, blend.FASTER[1])) == 1
    assert (True, 2) in seen and (False, blend.FASTER[1]) in seen
    assert clf.noise_ == "uniform" and clf.n_negatives_ == blend.FASTER[1]
