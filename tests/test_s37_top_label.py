"""Top-label calibration (stop 37): the top class's probability mapped by Platt scaling of its log-odds, fitted
on the best pilot's held-out rows (skxc._blend.top_label_map); the prediction engine applies it
(skxc._predict.top_log_odds_mapped) to predict_proba, predict_log_proba and predict_top_k's probabilities."""

from __future__ import annotations

import pickle
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import reference_calibrated
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, softmax

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import cross_fitted_z, fit_top_label, top_label_gains, top_label_map, top_log_odds
from skxc._predict import _store_log_proba, _store_proba
from skxc.datasets import make_hierarchical_classification


def scores(seed: int, n: int = 40, n_classes: int = 30, scale: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    S = rng.normal(scale=scale, size=(n, n_classes))
    S[0, 3] = S[0, 7] = S[0].max() + 1.0  # a tie at the top: the first column is the top class
    S[1, 5] = S[1].max() + 2000.0  # every other class underflows: left as it is
    return S


@pytest.mark.parametrize("slope, offset", [(0.4, -1.0), (1.6, 1.3), (1.0, 0.5), (0.0625, -3.0), (16.0, 2.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_calibrated_probabilities_match_the_reference(slope, offset, seed):
    S = scores(seed)
    expected = reference_calibrated(S, slope, offset)
    proba, log_proba = np.empty_like(S), np.empty_like(S)
    _store_proba(proba, 0, S.shape[0], S.copy(), (slope, offset))
    _store_log_proba(log_proba, 0, S.shape[0], S.copy(), (slope, offset))
    np.testing.assert_allclose(proba, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-12, atol=1e-300)
    # the order of the classes stays that of the scores: the top class strictly first, the others in order
    assert np.array_equal(proba.argmax(axis=1), S.argmax(axis=1))
    second = np.sort(proba, axis=1)[:, -2]
    assert np.all(proba.max(axis=1) > second)  # also the tie of row 0
    for i in range(2, S.shape[0]):
        rest = np.delete(np.arange(S.shape[1]), S[i].argmax())
        assert np.array_equal(np.argsort(proba[i, rest], kind="stable"), np.argsort(S[i, rest], kind="stable"))
    assert proba[1, 5] == 1.0 and log_proba[1, 5] == 0.0  # the underflowing row as the softmax has it


def test_no_map_is_the_softmax_bit_for_bit():
    """Without a map the blocks are computed as before stop 37: the same numpy operations, the same bits."""
    S = scores(2)
    proba, log_proba = np.empty_like(S), np.empty_like(S)
    _store_proba(proba, 0, S.shape[0], S.copy())
    _store_log_proba(log_proba, 0, S.shape[0], S.copy())
    shifted = S - S.max(axis=1, keepdims=True)
    E = np.exp(shifted)
    np.testing.assert_array_equal(proba, E / E.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(log_proba, shifted - np.log(E.sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(proba, softmax(S, axis=1), rtol=1e-12)
    np.testing.assert_allclose(log_proba, log_softmax(S, axis=1), rtol=1e-12)


def test_the_map_mends_the_top_class_of_an_over_and_an_under_confident_model():
    """Rows whose top class is right with probability sigmoid(a * log-odds + b): the fitted map recovers (a, b)
    and its probabilities are calibrated where the raw ones are not."""
    rng = np.random.default_rng(0)
    for a, b in ((0.5, -1.0), (2.0, 1.0)):
        odds = rng.normal(0.0, 1.5, size=20_000)
        hit = rng.random(odds.shape[0]) < expit(a * odds + b)
        slope, offset = fit_top_label(odds, hit, ridge=0.0)
        assert slope == pytest.approx(a, abs=0.06) and offset == pytest.approx(b, abs=0.06)
        raw_gap = abs(hit.mean() - expit(odds).mean())
        mapped_gap = abs(hit.mean() - expit(slope * odds + offset).mean())
        assert raw_gap > 0.05 and mapped_gap < 0.01


@pytest.mark.parametrize("ridge", [0.0, 1.0, 30.0])
def test_fit_top_label_minimises_its_objective(ridge):
    rng = np.random.default_rng(3)
    odds = np.concatenate([rng.normal(-1.0, 2.0, size=300), [np.inf, np.inf]])  # rows with rest 0 are left out
    hit = rng.random(odds.shape[0]) < expit(0.7 * odds - 0.4)
    z, y = odds[:300], hit[:300].astype(float)

    def objective(w):
        u = w[0] * z + w[1]
        return np.sum(np.logaddexp(0.0, u) - y * u) + 0.5 * ridge * ((w[0] - 1.0) ** 2 + w[1] ** 2)

    expected = minimize(objective, x0=[1.0, 0.0], method="BFGS", options={"gtol": 1e-10}).x
    got = fit_top_label(odds, hit, ridge=ridge)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if ridge == 30.0:  # pulled towards the identity
        free = fit_top_label(odds, hit, ridge=0.0)
        assert abs(got[0] - 1.0) < abs(free[0] - 1.0) and abs(got[1]) < abs(free[1])


def test_fit_top_label_clips_the_slope_and_survives_separable_rows():
    odds = np.linspace(-3.0, 3.0, 200)
    slope, offset = fit_top_label(odds, odds > 0.0, ridge=1e-3)  # perfectly separable: a huge slope, clipped
    assert slope == blend.TOP_LABEL_SLOPES[1] and np.isfinite(offset)
    slope, _ = fit_top_label(odds, odds < 0.0, ridge=1e-3)  # confidence against accuracy: still increasing
    assert slope == blend.TOP_LABEL_SLOPES[0]


def test_top_log_odds_against_the_softmax():
    rng = np.random.default_rng(4)
    log_proba, S = rng.normal(size=(70, 25)), rng.normal(size=(70, 25))
    truth = rng.integers(0, 25, size=70)
    with mock.patch.object(blend, "MAX_SCORES", 25 * 16):  # blocks of 16 rows
        odds, tie, hit = top_log_odds(log_proba, S, truth, 4.0, 2.5)
    P = softmax((log_proba + 4.0 * S) / 2.5, axis=1)
    top, second = P.max(axis=1), np.sort(P, axis=1)[:, -2]
    np.testing.assert_allclose(odds, np.log(top) - np.log1p(-top), rtol=1e-10)
    np.testing.assert_allclose(tie, np.log(second) - np.log1p(-top), rtol=1e-10)
    np.testing.assert_array_equal(hit, P.argmax(axis=1) == truth)
    assert top_label_map(log_proba[:, :2], S[:, :2], truth % 2, 4.0, 2.5) is None  # 2 classes: none
    with mock.patch.object(blend, "TOP_LABEL", False):
        assert top_label_map(log_proba, S, truth, 4.0, 2.5) is None


@pytest.mark.parametrize("top_map", [(0.4, -1.0), (1.6, 1.3), (1.0, -4.0)])
def test_top_label_gains_are_the_log_likelihood_changes_of_the_reference(top_map):
    S = scores(5, n=60)[2:]  # rows with finite odds
    truth = np.random.default_rng(5).integers(0, S.shape[1], size=S.shape[0])
    truth[::3] = S[::3].argmax(axis=1)  # some rows right at the top
    zeros = np.zeros_like(S)
    odds, tie, hit = top_log_odds(S, zeros, truth, 0.0, 1.0)
    r = np.arange(S.shape[0])
    before = log_softmax(S, axis=1)[r, truth]
    after = np.log(reference_calibrated(S, *top_map)[r, truth])
    np.testing.assert_allclose(top_label_gains(odds, tie, hit, top_map), after - before, rtol=1e-9, atol=1e-12)


def test_the_map_is_kept_only_where_its_cross_fitted_gain_is_clear():
    """Top classes right with probability sigmoid(a * log-odds + b): already calibrated (a, b) = (1, 0): the
    map is left out; clearly off (0.5, -1): kept, near the truth."""
    rng = np.random.default_rng(6)
    n, n_classes = 500, 40
    for (a, b), kept in (((1.0, 0.0), False), ((0.5, -1.0), True)):
        odds = rng.normal(0.0, 1.5, size=n)
        hit = rng.random(n) < expit(a * odds + b)
        # scores with those top log-odds: the top class at 0, the 39 others sharing exp(-odds) equally
        S = np.tile(np.log(np.exp(-odds) / (n_classes - 1))[:, None], (1, n_classes))
        S[:, 0] = 0.0
        truth = np.where(hit, 0, 1 + rng.integers(0, n_classes - 1, size=n))
        got = top_label_map(S, np.zeros_like(S), truth, 0.0, 1.0)
        z = cross_fitted_z(*top_log_odds(S, np.zeros_like(S), truth, 0.0, 1.0))
        assert (got is not None) == kept and (z > blend.TOP_LABEL_Z) == kept
        if kept:
            np.testing.assert_allclose(got, (a, b), atol=0.25)


def test_the_map_scores_more_held_out_rows_within_its_budget():
    """After the choice's rows (the same rows as without the map, first), up to TOP_LABEL_ROWS within
    TOP_LABEL_MAX_SCORES scores; never fewer than the choice's."""
    for n_classes in (50, 352, 1_759, 5_000, 25_000):
        codes = np.arange(12 * n_classes) % n_classes
        fit_rows, held_rows = np.arange(8 * n_classes), np.arange(8 * n_classes, 12 * n_classes)
        rows = blend.scored_rows(codes, fit_rows, held_rows, n_classes, np.random.default_rng(0), by_accuracy=True)
        with mock.patch.object(blend, "TOP_LABEL", False):
            choice = blend.scored_rows(codes, fit_rows, held_rows, n_classes, np.random.default_rng(0), True)
        np.testing.assert_array_equal(rows[: choice.shape[0]], choice)
        expected = max(choice.shape[0], min(blend.TOP_LABEL_ROWS, blend.TOP_LABEL_MAX_SCORES // n_classes))
        assert rows.shape == (min(expected, held_rows.shape[0]),) and np.unique(rows).shape == rows.shape
        assert rows.shape[0] == blend.map_rows(n_classes) or rows.shape[0] == held_rows.shape[0]
    assert blend.map_rows(50) == blend.TOP_LABEL_ROWS and blend.map_rows(25_000) == blend.accuracy_rows(25_000)


def test_the_choice_of_beta_sees_the_same_bits_with_the_map_rows(monkeypatch):
    """Dense held-out rows: the choice's rows are scored apart from the map's (BLAS may round a block's rows by
    its size), so that beta, T and the model are the same bits with or without the map."""
    X, y, _, _ = few_rows_data(n_samples=10_000, n_classes=500, seed=2)  # 1,000 held-out rows, 500 for the choice
    seen = []
    real = blend.choice_and_best

    def spy(log_proba, S, truth, by_accuracy=True, *rest):
        seen.append((log_proba[: blend.accuracy_rows(log_proba.shape[1])].copy(), log_proba.shape[0]))
        return real(log_proba, S, truth, by_accuracy, *rest)

    monkeypatch.setattr(blend, "choice_and_best", spy)
    with_map = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    monkeypatch.setattr(blend, "TOP_LABEL", False)
    without = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    half = len(seen) // 2
    assert seen[0][1] > seen[half][1]  # the map scored more rows
    for (a, _), (b, _) in zip(seen[:half], seen[half:], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(with_map.coef_, without.coef_)
    assert with_map.score_temperature_ == without.score_temperature_


def few_rows_data(n_samples=10_000, n_classes=2000, seed=0, n_features=64):
    """benchmarks.longtail's ``generated`` set at seed 0: 10,000 training rows of 1,759 classes, 5,000 test rows."""
    X, y = make_hierarchical_classification(n_samples=n_samples + n_samples // 2, n_features=n_features,
                                            n_classes=n_classes, random_state=seed)  # fmt: skip
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def ece(P: np.ndarray, hit: np.ndarray, bins: int = 15) -> float:
    p = P.max(axis=1)
    which = np.minimum((p * bins).astype(int), bins - 1)
    return sum(np.mean(which == b) * abs(hit[which == b].mean() - p[which == b].mean())
               for b in range(bins) if np.any(which == b))  # fmt: skip


@pytest.fixture(scope="module")
def calibrated():
    X, y, Xt, yt = few_rows_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    with mock.patch.object(blend, "TOP_LABEL", False):
        plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    return clf, plain, X, y, Xt, yt


def test_fit_sets_the_map_and_only_the_probabilities_change(calibrated):
    clf, plain, _, _, Xt, yt = calibrated
    slope, offset = clf.top_label_calibration_
    assert (slope, offset) != (1.0, 0.0) and np.array_equal(plain.top_label_calibration_, [1.0, 0.0])
    assert clf.centroid_blend_ > 0  # the few-rows pilots ran
    # the same model: scores, labels, top-k; the probabilities are the reference's map of the scores
    np.testing.assert_array_equal(clf.coef_, plain.coef_)
    D = clf.decision_function(Xt)
    np.testing.assert_array_equal(D, plain.decision_function(Xt))
    np.testing.assert_array_equal(clf.predict_top_k(Xt, 5), plain.predict_top_k(Xt, 5))
    P = clf.predict_proba(Xt)
    np.testing.assert_allclose(P, reference_calibrated(D, slope, offset), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(plain.predict_proba(Xt), softmax(D, axis=1), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(clf.predict_log_proba(Xt), np.log(P), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(Xt))
    top, proba = clf.predict_top_k(Xt, 4, return_scores=True)
    np.testing.assert_array_equal(proba, np.take_along_axis(P, np.searchsorted(clf.classes_, top), axis=1))
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(Xt), P)


def test_the_map_calibrates_the_top_class_on_new_rows(calibrated):
    """On the 5,000 test rows of clustered few-rows data the raw top probability is about 15 points below the
    accuracy (the log-likelihood's T flattens it: 42 % right at a mean top probability of 28 %); the map,
    fitted on the pilot's held-out rows, brings the top class's calibration error below 5 points."""
    clf, plain, _, _, Xt, yt = calibrated
    P, Q = clf.predict_proba(Xt), plain.predict_proba(Xt)
    hit = clf.predict(Xt) == yt
    assert ece(Q, hit) > 0.10 and ece(P, hit) < 0.05
    truth = np.searchsorted(clf.classes_, yt)
    seen = np.isin(yt, clf.classes_)
    ll, ll_plain = (np.log(M[seen, truth[seen]]).mean() for M in (P, Q))
    assert ll > ll_plain  # the test log-likelihood gains too


def test_continued_training_keeps_the_map_and_a_new_model_drops_it(calibrated):
    clf, _, X, y, Xt, _ = calibrated
    clf = pickle.loads(pickle.dumps(clf))
    kept = clf.top_label_calibration_.copy()
    clf.partial_fit(X[:200], y[:200])  # the blend and T stay, and so does the map
    np.testing.assert_array_equal(clf.top_label_calibration_, kept)
    clf.set_params(centroid_blend=0.0).fit(X, y)  # a new model without pilots: no map
    np.testing.assert_array_equal(clf.top_label_calibration_, [1.0, 0.0])
    np.testing.assert_allclose(clf.predict_proba(Xt), softmax(clf.decision_function(Xt), axis=1), rtol=1e-9)


def test_a_model_saved_without_the_map_predicts_the_softmax(calibrated):
    clf, _, _, _, Xt, _ = calibrated
    old = pickle.loads(pickle.dumps(clf))
    del old.top_label_calibration_  # as pickled before stop 37
    np.testing.assert_allclose(old.predict_proba(Xt), softmax(old.decision_function(Xt), axis=1), rtol=1e-9)


def test_multilabel_models_have_no_map():
    X, y, _, _ = few_rows_data(n_samples=2000, n_classes=100, seed=1, n_features=20)
    Y = sp.csr_matrix((np.ones(len(y)), (np.arange(len(y)), np.searchsorted(np.unique(y), y))))
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, Y)
    np.testing.assert_array_equal(clf.top_label_calibration_, [1.0, 0.0])
