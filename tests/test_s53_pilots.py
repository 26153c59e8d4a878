"""Stop 53: the few-rows pilots are compared by their best held-out log-likelihood over all betas
(``PILOTS_BY_BEST_LL``), not by that at the beta the top-1 test (``ACCURACY_Z``) may have moved."""

from __future__ import annotations

import pytest
from test_blend import _centroids_rank_but_with_heavy_tails, choose_blend, few_rows_data

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import BETAS, best_inverse_temperature, choice_and_best


def test_best_log_likelihood_is_the_maximum_over_the_betas_and_survives_the_top1_test(monkeypatch):
    log_proba, S, truth = _centroids_rank_but_with_heavy_tails(n=500)
    # reference: each beta's log-likelihood at its own best T (the slow Newton of best_inverse_temperature)
    reference = max(best_inverse_temperature(log_proba + beta * S, truth)[1] for beta in BETAS)
    monkeypatch.setattr(blend, "ACCURACY_Z", None)
    beta_ll, T_ll, ll_ll, best_ll = choice_and_best(log_proba, S, truth)
    assert ll_ll == best_ll  # nothing moved the beta: the log-likelihood at it is the best
    assert best_ll == pytest.approx(reference, rel=1e-4)
    monkeypatch.setattr(blend, "ACCURACY_Z", 3.0)
    beta, T, ll, best = choice_and_best(log_proba, S, truth)
    assert beta > beta_ll and ll < best  # the top-1 test moved the beta and gave up log-likelihood for it
    assert best == best_ll  # the best over the betas is the same
    assert (beta, T, ll) == choose_blend(log_proba, S, truth)
    assert blend.pilot_choice(log_proba, S, truth)[6] == best


@pytest.mark.parametrize("by_best", [True, False])
def test_pilots_are_compared_by_their_best_log_likelihood(monkeypatch, by_best):
    """Two pilots (the flatter tree, then half the step): the second has the lower log-likelihood at the beta
    it chose but the higher best over the betas, as when the top-1 test moved its beta and not the first's."""
    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    real = blend.chosen_blend
    pilots = []

    def patched(pilot, *args):
        beta, T, ll, rows, top_map, hits, best_ll = real(pilot, *args)
        pilots.append(pilot.learning_rate)
        if len(pilots) == 2:
            return beta, T, ll - 5.0, rows, top_map, hits, best_ll + 5.0
        return beta, T, ll, rows, top_map, hits, best_ll

    monkeypatch.setattr(blend, "chosen_blend", patched)
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)  # the tree's pilots only
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", 0)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
    monkeypatch.setattr(blend, "PILOTS_BY_BEST_LL", by_best)
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, centroid_blend=0.0).fit(X, y)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert len(pilots) == 2 and pilots[0] == "auto"
    expected = blend.SLOWER if by_best else 1.0  # the second pilot's half step, or the first's own
    assert clf.learning_rate_ == pytest.approx(expected * plain.learning_rate_)
    flatter = clf.tree_.temperature_ < plain.tree_.temperature_
    assert flatter is not by_best  # the first pilot's flatter tree goes with it
