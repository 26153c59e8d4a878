"""Stop 70: the single-label faster pilot (``skxc._blend.FASTER``) wins on a higher mean held-out
log-likelihood per row (paired z above ``FASTER_Z`` = 0, as the other pilots are compared), not only one
standard error above it; where the uniform noise pilot wins, a pilot with uniform noise at the faster step
trains too (``UNIFORM_FASTER``); docs/benchmarks.rst, "Stop 70"."""

import numpy as np
import pytest
from test_s43_faster_pilot import dense, few_rows_data

from skxc import AdversarialSoftmaxClassifier
from skxc import _blend as blend


def _shifted(z: float, n: int = 2000, seed: int = 0):
    """Per-row values ``(faster, chosen)`` whose paired difference has mean ``z`` standard errors exactly."""
    rng = np.random.default_rng(seed)
    chosen = rng.normal(-4.0, 1.0, size=n)
    noise = rng.normal(0.0, 1.0, size=n)
    noise -= noise.mean()
    se = noise.std(ddof=1) / np.sqrt(n)
    return chosen + noise + z * se, chosen


def test_a_higher_mean_log_likelihood_wins_within_one_standard_error():
    for z in (0.2, 0.5, 0.95):  # below the one-standard-error bar of stops 46-69, above the mean's
        faster, chosen = _shifted(z)
        assert np.isclose(blend.paired_z(faster - chosen), z)
        assert blend.faster_wins(faster, chosen)
    for z in (-0.5, -0.05):
        assert not blend.faster_wins(*_shifted(z))
    faster, chosen = _shifted(0.5)
    hits_chosen = np.zeros(2000)
    hits_chosen[:200] = 1.0  # the top-1 veto still holds: far fewer held-out hits lose
    assert not blend.faster_wins(faster, chosen, np.zeros(2000), hits_chosen)
    assert blend.faster_wins(faster, chosen, hits_chosen.copy(), hits_chosen)


def bonus_recording(monkeypatch, bonuses: dict):
    """chosen_blend recording each pilot's (noise components, negatives, learning rate); ``bonuses`` maps (uniform
    noise?, negatives) to a number added to that pilot's per-row held-out log-likelihoods (with a small spread, so
    that the paired tests see a clear difference). The log-likelihoods alone decide (no top-1 veto)."""
    real = blend.chosen_blend
    seen = []
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)

    def patched(pilot, *args):
        beta, T, ll, rows, top_map, hits, best_ll = real(pilot, *args)
        seen.append((pilot.tree_.n_components_, pilot.n_negatives, pilot.learning_rate))
        bonus = bonuses.get((pilot.tree_.n_components_ == 0, pilot.n_negatives))
        if bonus is not None:
            rows = rows + bonus + 0.01 * np.arange(rows.size)
        return beta, T, ll, rows, top_map, hits, best_ll

    monkeypatch.setattr(blend, "chosen_blend", patched)
    return seen


def _uniform_fast_recording(monkeypatch, bonus: bool):
    """:func:`bonus_recording`; with ``bonus`` the pilot with uniform noise (a tree of no components) and
    ``FASTER``'s negatives gets a far higher log-likelihood."""
    return bonus_recording(monkeypatch, {(True, blend.FASTER[1]): 10.0} if bonus else {})


def test_where_uniform_noise_wins_it_is_tried_at_the_faster_step(monkeypatch):
    X, y, Xt, _ = few_rows_data()
    kw = dict(random_state=0, n_jobs=1, max_iter=3)
    monkeypatch.setattr(blend, "uniform_wins", lambda uniform, tree: True)  # the uniform pilot replaces the tree
    seen = _uniform_fast_recording(monkeypatch, bonus=True)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    uniform_runs = [(k, lr) for n, k, lr in seen if n == 0]
    assert [k for k, _ in uniform_runs] == [2, blend.FASTER[1]]  # its own pilot, then the faster step's
    assert clf.noise_ == "uniform" and clf.tree_.n_components_ == 0 and clf.n_negatives_ == blend.FASTER[1]
    unblended = AdversarialSoftmaxClassifier(centroid_blend=0.0, **kw).fit(X, y)  # no pilots: the auto rate
    assert clf.learning_rate_ == pytest.approx(blend.FASTER[0] * unblended.learning_rate_, rel=1e-12)
    assert np.allclose(clf.predict_proba(Xt).sum(axis=1), 1.0)
    again = AdversarialSoftmaxClassifier(**kw).fit(X, y)  # one start again for the noise and the negatives
    np.testing.assert_array_equal(dense(again.coef_), dense(clf.coef_))
    # without the bonus the uniform pilot's own step stays; with UNIFORM_FASTER off no such pilot trains
    seen = _uniform_fast_recording(monkeypatch, bonus=False)
    monkeypatch.setattr(blend, "FASTER_Z", np.inf)
    plain = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert plain.noise_ == "uniform" and plain.n_negatives_ == 2
    monkeypatch.setattr(blend, "UNIFORM_FASTER", False)
    seen.clear()
    off = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert [k for n, k, _ in seen if n == 0] == [2]
    np.testing.assert_array_equal(dense(off.coef_), dense(plain.coef_))


def test_where_the_tree_wins_no_uniform_pilot_at_the_faster_step_trains(monkeypatch):
    X, y, _, _ = few_rows_data()
    monkeypatch.setattr(blend, "uniform_wins", lambda uniform, tree: False)
    seen = _uniform_fast_recording(monkeypatch, bonus=True)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert [k for n, k, _ in seen if n == 0] == [2]
    assert clf.noise_ == "adversarial"
