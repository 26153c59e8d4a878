"""Stop 71: uniform noise is compared with the tree's choice after the faster pilot's rule has chosen the tree's
step (``skxc._blend.UNIFORM_AFTER_FASTER``), so the pilot with uniform noise at the faster step
(``UNIFORM_FASTER``) trains only where the uniform pilot beats the tree at its best step; docs/benchmarks.rst,
"Stop 71"."""

import numpy as np
from test_s43_faster_pilot import dense, few_rows_data
from test_s70_faster_rule import bonus_recording as _recording

from skxc import AdversarialSoftmaxClassifier
from skxc import _blend as blend


def test_no_uniform_pilot_at_the_faster_step_where_the_tree_at_that_step_is_ahead(monkeypatch):
    X, y, Xt, _ = few_rows_data()
    kw = dict(random_state=0, n_jobs=1, max_iter=3)
    # the uniform pilot far ahead of the tree's pilots at the estimator's step, the tree's faster pilot further
    bonuses = {(True, 2): 50.0, (False, blend.FASTER[1]): 100.0}
    seen = _recording(monkeypatch, bonuses)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert [k for n, k, _ in seen if n == 0] == [2]  # its own pilot only
    assert clf.noise_ == "adversarial" and clf.tree_.n_components_ > 0
    assert clf.n_negatives_ == blend.FASTER[1]
    assert np.allclose(clf.predict_proba(Xt).sum(axis=1), 1.0)
    # stop 70's order: the uniform pilot beat the tree's step, so one at the faster step trained too (for nothing:
    # the tree's faster pilot then won, the same model)
    monkeypatch.setattr(blend, "UNIFORM_AFTER_FASTER", False)
    seen.clear()
    before = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert [k for n, k, _ in seen if n == 0] == [2, blend.FASTER[1]]
    assert before.noise_ == "adversarial" and before.n_negatives_ == blend.FASTER[1]
    np.testing.assert_array_equal(dense(before.coef_), dense(clf.coef_))


def test_uniform_noise_must_beat_the_tree_at_its_faster_step(monkeypatch):
    X, y, _, _ = few_rows_data()
    kw = dict(random_state=0, n_jobs=1, max_iter=3)
    # the tree's faster pilot wins its rule; the uniform pilot beats it by a clear margin: uniform noise, and its
    # pilot at the faster step trains (it does not win here: the uniform pilot's own step stays)
    seen = _recording(monkeypatch, {(False, blend.FASTER[1]): 50.0, (True, 2): 100.0})
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert [k for n, k, _ in seen if n == 0] == [2, blend.FASTER[1]]
    assert clf.noise_ == "uniform" and clf.n_negatives_ == 2


def test_the_uniform_pilot_is_compared_with_the_faster_pilot_where_that_won(monkeypatch):
    X, y, _, _ = few_rows_data()
    seen = _recording(monkeypatch, {(False, blend.FASTER[1]): 50.0})
    compared = []

    def recorded(uniform, tree):
        compared.append(tree.mean())
        return False

    monkeypatch.setattr(blend, "uniform_wins", recorded)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert len(compared) == 1 and compared[0] > 40.0  # the faster pilot's rows (their bonus of 50)
    assert [k for n, k, _ in seen if n == 0] == [2]
    assert clf.noise_ == "adversarial" and clf.n_negatives_ == blend.FASTER[1]
    monkeypatch.setattr(blend, "UNIFORM_AFTER_FASTER", False)  # stop 70: against the tree's pilots at its step
    compared.clear()
    AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert len(compared) == 1 and compared[0] < 40.0


def test_the_uniform_pilot_at_the_faster_step_chooses_as_with_one_thread(monkeypatch):
    """With n_jobs=2 the pilots of a small model train side by side, one thread each, and choose as with
    n_jobs=1 (user guide, "Threads"); the pilot with uniform noise at the faster step, which trains after them,
    does too (stop 70 trained it on every thread: its held-out log-likelihoods, and with them the choice, varied
    from run to run)."""
    X, y, _, _ = few_rows_data()
    monkeypatch.setattr(blend, "uniform_wins", lambda uniform, tree: True)
    real = blend.chosen_blend
    seen = {}

    def patched(pilot, *args):
        chosen = real(pilot, *args)
        if pilot.tree_.n_components_ == 0 and pilot.n_negatives == blend.FASTER[1]:
            seen.setdefault("runs", []).append((pilot.n_jobs, chosen[3].copy()))
        return chosen

    monkeypatch.setattr(blend, "chosen_blend", patched)
    for n_jobs in (1, 2):
        AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=3).fit(X, y)
    (jobs_1, rows_1), (jobs_2, rows_2) = seen["runs"]
    assert jobs_1 == jobs_2 == 1
    np.testing.assert_array_equal(rows_1, rows_2)
