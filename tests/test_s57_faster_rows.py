"""Stop 57: the faster pilot where the log-likelihood of the other choices takes fewer held-out rows than
``FASTER_LL_ROWS`` (above 2,000 classes, with ``FASTER_MAX_CLASSES`` raised; here 200 classes with
``LL_MAX_SCORES`` lowered): its beta and T are chosen on ``faster_ll_rows`` rows, and it is compared with the
chosen pilot chosen again on the same rows; where it loses, the chosen pilot's own choice stays. And the
log-likelihood on several threads (the same bits)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_s43_faster_pilot import dense, few_rows_data

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier


def scores(n=600, n_classes=40, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, size=n)
    P = rng.normal(size=(n, n_classes))
    P[np.arange(n), truth] += 1.0
    P -= np.log(np.exp(P).sum(axis=1, keepdims=True))
    S = rng.normal(size=(n, n_classes))
    S[np.arange(n), truth] += 0.5
    return P, S, truth


def test_faster_ll_rows():
    # at most 2,000 classes the log-likelihood already takes 500 rows: the same rows
    for n_classes in (10, 200, 2000):
        assert blend.faster_ll_rows(n_classes) == blend.blend_rows(n_classes) == blend.MAX_ROWS
    # above, FASTER_LL_ROWS within the top-1 test's rows
    assert blend.blend_rows(22_981) == 50 and blend.faster_ll_rows(22_981) == blend.FASTER_LL_ROWS == 500
    assert blend.faster_ll_rows(100_000) == blend.accuracy_rows(100_000) == 125
    assert blend.faster_ll_rows(10**7) == blend.blend_rows(10**7) == blend.MIN_ROWS


def test_a_choice_on_n_ll_rows_is_the_choice_on_those_rows(monkeypatch):
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 40 * 50)  # the log-likelihood on 50 rows of 40 classes
    P, S, truth = scores()
    n = 300
    wide = blend.choice_and_best(P, S, truth, by_accuracy=False, n_ll=n)
    narrow = blend.choice_and_best(P, S, truth, by_accuracy=False)
    assert blend.choice_and_best(P, S, truth, by_accuracy=False, n_ll=None) == narrow
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 40 * n)
    assert blend.choice_and_best(P[:n], S[:n], truth[:n], by_accuracy=False) == wide
    # pilot_choice's per-row log-likelihoods: those n rows at the chosen beta and T
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 40 * 50)
    beta, T, ll, rows, _, _, _ = blend.pilot_choice(P, S, truth, by_accuracy=False, n_ll=n)
    assert rows.shape == (n,) and (beta, T) == wide[:2]
    np.testing.assert_allclose(rows.mean(), ll, rtol=1e-6)
    np.testing.assert_array_equal(rows, blend.row_log_likelihoods(P[:n], S[:n], truth[:n], beta, T))


@pytest.mark.parametrize("multilabel", [False, True])
def test_the_log_likelihood_on_threads_is_the_same_bits(monkeypatch, multilabel):
    monkeypatch.setattr(blend, "MAX_SCORES", 4 * 40 * 7)  # blocks of 7 rows: 86 blocks, the last one short
    P, S, truth = scores()
    if multilabel:
        Y = sp.random(600, 40, density=0.05, random_state=4, format="csr")
        Y = (Y + sp.csr_matrix((np.ones(600), (np.arange(600), truth)), shape=(600, 40))).tocsr()
        Y.data[:] = 1.0
        truth = Y
    A = P + 3.0 * S
    one = blend._log_likelihood(A, truth, 0.7)
    for threads in (2, 3):
        assert blend._log_likelihood(A, truth, 0.7, threads=threads) == one
    # against the definition
    from scipy.special import log_softmax

    L = log_softmax(0.7 * A, axis=1)
    expected = L[truth.nonzero()].mean() if multilabel else L[np.arange(600), truth].mean()
    np.testing.assert_allclose(one[0], expected, rtol=1e-6)
    assert blend.choice_and_best(P, S, truth, by_accuracy=False, threads=2) == (
        blend.choice_and_best(P, S, truth, by_accuracy=False)
    )


def test_row_log_likelihoods_against_scipy():
    from scipy.special import log_softmax

    P, S, truth = scores(n=50)
    expected = log_softmax((P + 2.0 * S) / 1.5, axis=1)[np.arange(50), truth]
    np.testing.assert_allclose(blend.row_log_likelihoods(P, S, truth, 2.0, 1.5), expected, rtol=1e-12)


def _recording(monkeypatch, faster_rows_bonus: float):
    """pilot_choice recording its ``n_ll`` and per-row rows; the faster pilot's choice (the first on ``n_ll`` rows;
    the second is the chosen pilot's, again) gets ``faster_rows_bonus`` on every row (not a constant: a finite z)."""
    real = blend.pilot_choice
    seen = []

    def patched(log_proba, S, truth, by_accuracy=True, n_ll=None, threads=1):
        beta, T, ll, rows, top_map, hits, best_ll = real(log_proba, S, truth, by_accuracy, n_ll, threads)
        seen.append((n_ll, rows.size, log_proba.shape[0]))
        if n_ll is not None and faster_rows_bonus and [n for n, _, _ in seen].count(n_ll) == 1:
            rows = rows + faster_rows_bonus + 0.01 * np.arange(rows.size)
        return beta, T, ll, rows, top_map, hits, best_ll

    monkeypatch.setattr(blend, "pilot_choice", patched)
    return seen


@pytest.fixture
def many_classes(monkeypatch):
    """200 classes taken as many: the log-likelihood of the other choices on 50 held-out rows, as above 2,000."""
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 200 * 50)
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)  # the tree's pilots only, as above 2,000 classes
    assert blend.blend_rows(200) == 50 and blend.faster_ll_rows(200) == 500


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_faster_pilot_and_the_chosen_one_are_compared_on_more_rows(monkeypatch, many_classes, n_jobs):
    X, y, _, _ = few_rows_data()
    seen = _recording(monkeypatch, faster_rows_bonus=10.0)
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)  # the bonus alone decides
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, y)
    n_held = seen[0][2]
    assert n_held > 50
    wide = min(500, n_held)
    # three pilots on 50 rows (flatter tree, slower step, faster), the faster one on more; then the chosen one
    # again on those rows
    assert sorted(n_ll or 0 for n_ll, _, _ in seen) == [0, 0, 500, 500]
    assert seen[-1][0] == 500  # the chosen pilot's choice again, last
    assert sorted(size for _, size, _ in seen) == [50, 50, wide, wide]
    assert clf.n_negatives_ == blend.FASTER[1]


def test_a_losing_faster_pilot_leaves_the_chosen_choice_bit_for_bit(monkeypatch, many_classes):
    X, y, Xt, _ = few_rows_data()
    seen = _recording(monkeypatch, faster_rows_bonus=-10.0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert [n_ll for n_ll, _, _ in seen].count(500) == 2
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", 0)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
    seen.clear()
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert all(n_ll is None for n_ll, _, _ in seen) and len(seen) == 2
    assert clf.n_negatives_ == plain.n_negatives_ == 2
    assert clf.centroid_blend_ == plain.centroid_blend_
    np.testing.assert_array_equal(dense(plain.coef_), dense(clf.coef_))
    np.testing.assert_array_equal(plain.predict_proba(Xt), clf.predict_proba(Xt))


def test_at_most_2000_classes_every_choice_is_as_before(monkeypatch):
    X, y, _, _ = few_rows_data()
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)
    seen = _recording(monkeypatch, faster_rows_bonus=0.0)
    AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert len(seen) == 3 and all(n_ll is None for n_ll, _, _ in seen)


def test_the_memory_estimate_counts_the_kept_log_probabilities(monkeypatch, many_classes):
    X, y, _, _ = few_rows_data()
    clf = AdversarialSoftmaxClassifier(n_jobs=1, max_iter=1, centroid_blend=0.0).fit(X, y)
    clf.set_params(centroid_blend="auto")
    wide = blend.blend_bytes(clf, X)
    n_classes = len(clf.classes_)
    scores_bytes = blend.map_rows(n_classes) * n_classes * 8
    monkeypatch.setattr(blend, "FASTER_LL_ROWS", 50)  # the faster pilot on the same rows as the others
    assert blend.blend_bytes(clf, X) == wide - blend.n_pilots(clf, X) * scores_bytes


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_winning_uniform_pilot_beside_the_wide_comparison(monkeypatch, many_classes, n_jobs):
    """With the uniform pilot too (possible only with patched limits) and winning, in stop 70's order
    (``UNIFORM_AFTER_FASTER`` False): where its log-probabilities were kept (trained in the foreground) it is
    chosen again on the wider rows and the faster pilot (with a bonus) beats it; where it trained in the
    background they are not kept, and it stays."""
    X, y, _, _ = few_rows_data()
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 10_000)
    monkeypatch.setattr(blend, "UNIFORM_AFTER_FASTER", False)
    monkeypatch.setattr(blend, "uniform_wins", lambda uniform, tree: True)
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)  # the bonus alone decides
    seen = _recording(monkeypatch, faster_rows_bonus=10.0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, y)
    wide = [n_ll for n_ll, _, _ in seen].count(500)
    assert wide in (1, 2)
    if wide == 2:  # the uniform pilot chosen again, then beaten
        assert clf.noise_ == "adversarial" and clf.n_negatives_ == blend.FASTER[1]
    else:
        assert clf.noise_ == "uniform" and clf.n_negatives_ == 2


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_winning_uniform_pilot_after_the_wide_comparison(monkeypatch, many_classes, n_jobs):
    """The same with the uniform pilot compared after the faster pilot's rule (``UNIFORM_AFTER_FASTER``): the
    faster pilot (with a bonus) wins on its wider rows, then the uniform pilot is compared with it on the rows
    both scored (the first ones) and, winning, replaces it."""
    X, y, _, _ = few_rows_data()
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 10_000)
    shapes = []

    def wins(uniform, tree):
        shapes.append((uniform.shape, tree.shape))
        return True

    monkeypatch.setattr(blend, "uniform_wins", wins)
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)
    seen = _recording(monkeypatch, faster_rows_bonus=10.0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, y)
    assert [n_ll for n_ll, _, _ in seen].count(500) >= 1  # the faster pilot's choice on the wider rows
    assert len(shapes) == 1 and shapes[0][0] == shapes[0][1] and shapes[0][0][0] < 500
    assert clf.noise_ == "uniform" and clf.n_negatives_ == 2
