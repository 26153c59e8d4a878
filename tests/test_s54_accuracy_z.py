"""Stop 54: the top-1 test (``ACCURACY_Z``) asks for fewer standard errors (``ACCURACY_Z_FEWER_LL_ROWS``) where the
log-likelihood chose beta from fewer held-out rows than the test scores (more than 2,000 classes)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

import skxc._blend as blend
from skxc._blend import BETAS, accuracy_z, choice_and_best, clearly_more_accurate


def _scores(n=500, C=50, seed=5, boost=2.0, right=0.5):
    """Held-out scores where the centroids put the true class first on about ``right`` of the rows and far down on
    the others, and the model (true class ``boost`` above noise) ranks it first less often: the log-likelihood
    prefers beta 0, top-1 a larger beta, by a paired z between 2 and 3 at this seed."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, C, size=n)
    model = rng.normal(size=(n, C))
    model[np.arange(n), truth] += boost
    S = rng.normal(scale=0.05, size=(n, C))
    hit = rng.random(n) < right
    S[np.arange(n), truth] += np.where(hit, 0.2, -2.0)
    return log_softmax(model, axis=1), S, truth


def _paired_z(log_proba, S, truth, chosen):
    hits = np.array([(log_proba + b * S).argmax(axis=1) == truth for b in BETAS], dtype=float)
    best = int(np.argmax(hits.mean(axis=1)))
    d = hits[best] - hits[chosen]
    return best, d.mean() / (d.std(ddof=1) / np.sqrt(d.size))


def test_accuracy_z_follows_the_rows_of_the_log_likelihood(monkeypatch):
    assert accuracy_z(500, 500) == blend.ACCURACY_Z == 3.0
    assert accuracy_z(50, 500) == blend.ACCURACY_Z_FEWER_LL_ROWS == 2.0
    monkeypatch.setattr(blend, "ACCURACY_Z_FEWER_LL_ROWS", None)
    assert accuracy_z(50, 500) == 3.0


@pytest.mark.parametrize("seed", [4, 5])
def test_fewer_log_likelihood_rows_let_a_smaller_top1_gain_move_beta(monkeypatch, seed):
    log_proba, S, truth = _scores(seed=seed)
    n_classes = log_proba.shape[1]
    # the log-likelihood on the first 100 of the 500 rows (blend_rows), the top-1 test on all 500
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 100 * n_classes)
    monkeypatch.setattr(blend, "ACCURACY_MAX_SCORES", 500 * n_classes)
    assert blend.ll_rows(log_proba.shape) == 100 and blend.accuracy_rows(n_classes) == 500
    monkeypatch.setattr(blend, "ACCURACY_Z", None)
    beta_ll = choice_and_best(log_proba, S, truth)[0]
    chosen = BETAS.tolist().index(beta_ll)
    best, z = _paired_z(log_proba, S, truth, chosen)
    assert best != chosen and 2.0 < z < 3.0  # the case the rule is for
    monkeypatch.setattr(blend, "ACCURACY_Z", 3.0)
    assert clearly_more_accurate(log_proba, S, truth, chosen) is None  # 3 standard errors: not passed
    assert clearly_more_accurate(log_proba, S, truth, chosen, 2.0) == best
    beta, T, ll, best_ll = choice_and_best(log_proba, S, truth)
    assert beta == BETAS[best] and ll < best_ll  # moved: the log-likelihood given up for top-1
    monkeypatch.setattr(blend, "ACCURACY_Z_FEWER_LL_ROWS", None)  # stop 53's rule: beta stays
    assert choice_and_best(log_proba, S, truth)[0] == beta_ll
    # the log-likelihood on all 500 rows: the test asks for 3 standard errors again, whatever its beta
    monkeypatch.setattr(blend, "ACCURACY_Z_FEWER_LL_ROWS", 2.0)
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 500 * n_classes)
    monkeypatch.setattr(blend, "ACCURACY_Z", None)
    beta_all = choice_and_best(log_proba, S, truth)[0]
    best_all, z_all = _paired_z(log_proba, S, truth, BETAS.tolist().index(beta_all))
    monkeypatch.setattr(blend, "ACCURACY_Z", 3.0)
    expected = BETAS[best_all] if z_all > 3.0 else beta_all
    assert choice_and_best(log_proba, S, truth)[0] == expected
