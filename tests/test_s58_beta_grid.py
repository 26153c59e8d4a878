"""Stop 58: the blend's beta grid reaches 4**8 = 65,536, so that held-out rows whose centroid scores rank far better
than the trained model's, by margins small beside its scores, can choose a term that decides the ranking (the dense
embedded long tail chose the old bound 4,096, below the nearest centroid's top-1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

import skxc._blend as blend
from skxc._blend import choice_and_best

OLD_BETAS = np.concatenate([[0.0], 4.0 ** np.arange(0, 7)])


def test_the_grid():
    assert blend.BETAS[0] == 0.0 and blend.BETAS[-1] == 65536.0
    np.testing.assert_array_equal(blend.BETAS[1:], 4.0 ** np.arange(9))
    np.testing.assert_array_equal(blend.BETAS[: OLD_BETAS.size], OLD_BETAS)  # the old candidates stay


def _scores(n=500, C=50, seed=0, right=0.95, margin=5e-5, miss=None):
    """Held-out scores where the centroid scores put the true class first on ``right`` of the rows, ``margin``
    above noise of a fifth of it (``miss``, default ``margin``, below it on the others), and the model ranks it
    first on few rows."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, C, size=n)
    model = rng.normal(size=(n, C))
    model[np.arange(n), truth] += 1.0
    S = rng.normal(scale=margin / 5, size=(n, C))
    hit = rng.random(n) < right
    S[np.arange(n), truth] += np.where(hit, margin, -(margin if miss is None else miss))
    return log_softmax(model, axis=1), S, truth


def _top1(log_proba, S, truth, beta):
    return float(np.mean((log_proba + beta * S).argmax(axis=1) == truth))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_term_that_decides_the_ranking_can_be_chosen(monkeypatch, seed):
    log_proba, S, truth = _scores(seed=seed)
    beta, T, ll, best_ll = choice_and_best(log_proba, S, truth)
    assert beta >= 4.0**7 and ll == best_ll  # the log-likelihood's own choice, past the old bound
    assert np.isfinite(T) and T > 0
    assert _top1(log_proba, S, truth, beta) > _top1(log_proba, S, truth, 4096.0) + 0.1
    assert _top1(log_proba, S, truth, beta) >= 0.75  # most of the centroids' 95 %
    # the old grid: its bound, and a lower held-out log-likelihood
    monkeypatch.setattr(blend, "BETAS", OLD_BETAS)
    old_beta, _, old_ll, _ = choice_and_best(log_proba, S, truth)
    assert old_beta == 4096.0 and old_ll < ll


def _model_ranks_better(seed=3, n=500, C=50):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, C, size=n)
    model = rng.normal(size=(n, C))
    model[np.arange(n), truth] += 3.0
    S = rng.normal(scale=0.05, size=(n, C))
    S[np.arange(n), truth] += 0.02
    return log_softmax(model, axis=1), S, truth


def _counting(monkeypatch, name):
    """Count the calls of ``skxc._blend.<name>`` (the betas scored)."""
    calls = []
    real = getattr(blend, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(blend, name, spy)
    return calls


def test_where_the_model_ranks_better_the_larger_betas_are_not_tried(monkeypatch):
    log_proba, S, truth = _model_ranks_better()
    newton = _counting(monkeypatch, "_newton_inverse_temperature")
    hits = _counting(monkeypatch, "top1_hits")
    new = choice_and_best(log_proba, S, truth)
    assert len(newton) == blend.BASE_BETAS == OLD_BETAS.size and len(hits) == blend.BASE_BETAS
    assert new[0] < 4096.0
    monkeypatch.setattr(blend, "BETAS", OLD_BETAS)
    assert choice_and_best(log_proba, S, truth) == new  # the old grid's choice, bit for bit


@pytest.mark.parametrize("case", ["centroids", "model", "top1"])
def test_the_growing_grid_chooses_as_the_whole_grid(monkeypatch, case):
    if case == "centroids":
        log_proba, S, truth = _scores(seed=2)
    elif case == "model":
        log_proba, S, truth = _model_ranks_better(seed=4)
    else:  # the top-1 test moves beta past the log-likelihood's betas (as on the embedded long tail)
        log_proba, S, truth = _scores(seed=5, right=0.8, margin=2e-5, miss=1e-4)
    newton = _counting(monkeypatch, "_newton_inverse_temperature")
    grown = choice_and_best(log_proba, S, truth)
    if case == "top1":  # the log-likelihood tried the first 8, the test chose the last: its T found too
        assert grown[0] == blend.BETAS[-1] and len(newton) == blend.BETAS.size
    monkeypatch.setattr(blend, "BASE_BETAS", blend.BETAS.size)  # every beta tried
    assert choice_and_best(log_proba, S, truth) == grown
    if case == "top1":
        monkeypatch.setattr(blend, "ACCURACY_Z", None)
        assert choice_and_best(log_proba, S, truth)[0] < 4096.0  # the log-likelihood's own choice


def test_the_largest_temperature_grows_with_beta_past_the_base_grid():
    assert blend.max_temperature(0.0) == blend.max_temperature(4096.0) == blend.MAX_TEMPERATURE == 64.0
    assert blend.max_temperature(16384.0) == 256.0 and blend.max_temperature(65536.0) == 1024.0


def test_a_large_beta_gets_its_own_temperature():
    """Centroid scores that are calibrated logits divided by 65,536 / 300: at beta 65,536 the best T is about
    300, beyond ``MAX_TEMPERATURE`` (at 64 the probabilities were far too confident: stop 58's embeddings)."""
    rng = np.random.default_rng(0)
    n, C = 500, 50
    logits = 3.0 * rng.normal(size=(n, C))
    p = np.exp(log_softmax(logits, axis=1))
    truth = np.array([rng.choice(C, p=row) for row in p])
    S = logits * (300.0 / 65536.0)
    log_proba = log_softmax(rng.normal(size=(n, C)), axis=1)  # a model that knows nothing
    beta, T, ll, _ = choice_and_best(log_proba, S, truth, by_accuracy=False)
    assert beta == 65536.0 and 250.0 < T < 350.0
    # the log-likelihood near that of the logits themselves, far above T clipped at 64
    reference = np.mean(log_softmax(logits, axis=1)[np.arange(n), truth])
    assert ll > reference - 0.05
    clipped = log_softmax((log_proba + beta * S) / 64.0, axis=1)[np.arange(n), truth].mean()
    assert ll > clipped + 0.5
    a, ll_direct = blend.best_inverse_temperature(log_proba + beta * S, truth, largest=blend.max_temperature(beta))
    assert 1.0 / a == pytest.approx(T, rel=0.02) and ll_direct == pytest.approx(ll, abs=1e-3)
    assert 1.0 / blend.best_inverse_temperature(log_proba + beta * S, truth)[0] == 64.0  # the default range
