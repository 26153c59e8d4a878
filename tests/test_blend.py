"""The centroid blend (skxc/_blend.py): temperature and beta choice, the added term, the estimator."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import reference_calibrated
from scipy.special import log_softmax, softmax

import skxc._blend as blend
import skxc._validation as validation
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import (
    BETAS,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    _log_likelihood,
    apply_blend_term,
    best_inverse_temperature,
    blend_term,
    blended_sparse,
    choice_and_best,
)
from skxc._start import rms_row_norm, unit_centroids
from skxc.datasets import make_hierarchical_classification


def choose_blend(log_proba, S, truth, by_accuracy=True):
    """``(beta, T, log-likelihood)``: the first three of :func:`~skxc._blend.choice_and_best`."""
    return choice_and_best(log_proba, S, truth, by_accuracy)[:3]


@pytest.fixture(autouse=True)
def _no_faster_pilot(monkeypatch):
    """The tests here count and order the other pilots: without the faster pilots (``FASTER``, tested with them in
    ``tests/test_s43_faster_pilot.py``; ``MULTILABEL_FASTER``, in ``tests/test_s56_multilabel_faster.py``)."""
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", 0)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
    monkeypatch.setattr(blend, "MULTILABEL_FASTER", 1.0)


def add_centroids(coef, intercept, X, codes, w, n_classes, beta, shared=None):
    """The beta term folded into a model as fit folds it: its parts, then added."""
    return apply_blend_term(coef, intercept, blend_term(X, codes, w, n_classes, beta), 1.0, None, shared)


def reference_log_likelihood(A, truth, a):
    """Mean log softmax(a A)[truth] by scipy."""
    return float(np.mean(log_softmax(a * A, axis=1)[np.arange(len(truth)), truth]))


@pytest.mark.parametrize("dtype, rel", [(np.float32, 1e-6), (np.float64, 1e-10)])
def test_log_likelihood_and_derivatives_match_references(monkeypatch, dtype, rel):
    """Exact up to the exponentials' dtype: float32 (the default) within 1e-6, float64 within 1e-10."""
    monkeypatch.setattr(blend, "SCORE_DTYPE", dtype)
    rng = np.random.default_rng(0)
    A = rng.normal(scale=3.0, size=(57, 40))
    truth = rng.integers(0, 40, size=57)
    for a in (0.1, 0.7, 1.0, 2.5):
        ll, g, h = _log_likelihood(A, truth, a)
        assert ll == pytest.approx(reference_log_likelihood(A, truth, a), rel=rel, abs=1e-12)
        eps = 1e-5
        up, down = reference_log_likelihood(A, truth, a + eps), reference_log_likelihood(A, truth, a - eps)
        assert g == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)
        assert h == pytest.approx((up - 2 * reference_log_likelihood(A, truth, a) + down) / eps**2, rel=1e-3, abs=1e-5)
        assert h <= 0  # concave in a


@pytest.mark.parametrize("dtype, rel, spread", [(np.float32, 1e-6, 2e3), (np.float64, 1e-10, 2e4)])
def test_log_likelihood_with_scores_far_below_the_row_maximum(monkeypatch, dtype, rel, spread):
    """Scores spread over thousands (a large beta) put many exponents below the log of the dtype's smallest
    normal number; they are floored there (no subnormal exponentials), which moves the log-likelihood and its
    derivatives by less than the dtype's rounding."""
    monkeypatch.setattr(blend, "SCORE_DTYPE", dtype)
    rng = np.random.default_rng(3)
    A = rng.normal(scale=spread, size=(60, 300))
    truth = np.argsort(A, axis=1)[:, -2]  # the second best: a log-likelihood well below 0
    for a in (0.02, 0.05, 0.25):
        floor = np.log(np.finfo(dtype).tiny)
        assert np.mean(a * (A - A.max(axis=1, keepdims=True)) < floor) > 0.2  # many would be subnormal
        ll, g, h = _log_likelihood(A, truth, a)
        assert ll == pytest.approx(reference_log_likelihood(A, truth, a), rel=rel)
        eps = 1e-6 * a
        up, down = reference_log_likelihood(A, truth, a + eps), reference_log_likelihood(A, truth, a - eps)
        assert g == pytest.approx((up - down) / (2 * eps), rel=1e-4)
        assert np.isfinite(h) and h <= 0


@pytest.mark.parametrize("order", ["C", "F"])
def test_prepared_log_likelihood_is_bitwise_the_fresh_one(order):
    """What does not depend on a is computed once per A (and its arrays reused for the next A of the
    same layout): the same bits as computing everything afresh at every Newton step."""
    from skxc._blend import _prepared

    rng = np.random.default_rng(9)
    truth = rng.integers(0, 700, size=400)  # 400 x 700: several row blocks, the last one shorter
    previous = None
    for scale in (1.0, 30.0):
        A = np.asarray(rng.normal(scale=scale, size=(400, 700)), order=order)
        prepared = _prepared(A, truth, previous)
        for a in (0.02, 0.9, 3.7):
            assert _log_likelihood(A, truth, a, prepared) == _log_likelihood(A, truth, a)
        previous = prepared


def test_best_inverse_temperature_matches_a_grid_search():
    rng = np.random.default_rng(1)
    for scale in (0.05, 1.0, 20.0):  # scores far too flat, about right, far too sharp
        truth = rng.integers(0, 30, size=200)
        A = rng.normal(size=(200, 30))
        A[np.arange(200), truth] += 1.5
        A *= scale
        a, ll = best_inverse_temperature(A, truth)
        grid = np.exp(np.linspace(np.log(1 / MAX_TEMPERATURE), np.log(1 / MIN_TEMPERATURE), 4001))
        lls = [reference_log_likelihood(A, truth, g) for g in grid]
        best = grid[int(np.argmax(lls))]
        assert ll >= max(lls) - 1e-5
        assert a == pytest.approx(best, rel=0.01)
        assert ll == pytest.approx(reference_log_likelihood(A, truth, a), rel=1e-6)


def test_choose_blend_uses_the_centroids_only_when_they_predict():
    rng = np.random.default_rng(2)
    n, C = 400, 50
    truth = rng.integers(0, C, size=n)
    log_proba = log_softmax(rng.normal(size=(n, C)), axis=1)  # an uninformative model
    informative = rng.normal(scale=0.1, size=(n, C))
    informative[np.arange(n), truth] += 0.3
    beta, T, _ = choose_blend(log_proba, informative, truth)
    assert beta > 0 and MIN_TEMPERATURE <= T <= MAX_TEMPERATURE
    noise = rng.normal(scale=1.0, size=(n, C))  # beta = 1 already adds noise as large as the signal
    good = log_softmax(5.0 * np.eye(C)[truth] + rng.normal(size=(n, C)), axis=1)  # a model that knows
    beta, T, _ = choose_blend(good, noise, truth)
    assert beta == 0.0
    assert beta in BETAS


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_centroid_scores_in_blocks_match_the_reference(monkeypatch, kind):
    """centroid_scores of sparse X feature by feature, and of any X read in blocks of DENSE_BLOCK entries:
    the same scores as in one block (bitwise for sparse X) and as (x - centre).mu_c / unit computed
    densely; above MAX_DENSE_ROWS sparse X takes the sparse product, to float tolerance."""
    import skxc._blend as blend

    rng = np.random.default_rng(4)
    X = sp.random(130, 300, density=0.05, random_state=5, format="csr")
    codes = rng.integers(0, 12, 130)
    if kind == "dense":
        X = X.toarray() + 0.1
    mu, centre = unit_centroids(X, codes, 12, np.ones(130))
    dense_X = X.toarray() if sp.issparse(X) else X
    dense_mu = mu.toarray() if sp.issparse(mu) else mu
    reference = (dense_X - (0.0 if centre is None else centre)) @ dense_mu.T / 2.5
    if kind == "sparse":  # feature by feature (the rows' features times the centroids' entries of each)
        calls = []
        kernel = blend.add_feature_major_scores
        monkeypatch.setattr(blend, "add_feature_major_scores", lambda *a: calls.append(1) or kernel(*a))
        by_feature = blend.centroid_scores(X, mu, centre, 2.5)
        assert calls and by_feature.shape == (130, 12) and by_feature.flags.c_contiguous
        np.testing.assert_allclose(by_feature, reference, rtol=1e-6, atol=1e-6)  # x and mu in float32
        monkeypatch.setattr(blend, "FEATURE_MAJOR_SHARE", 0.0)  # the dense paths below
        blend.centroid_scores(X, mu, centre, 2.5)
        assert len(calls) == 1
    whole = blend.centroid_scores(X, mu, centre, 2.5)
    monkeypatch.setattr(blend, "DENSE_BLOCK", 7 * 300)  # blocks of 7 rows
    blocks = blend.centroid_scores(X, mu, centre, 2.5)
    assert blocks.shape == (130, 12) and blocks.dtype == np.float64 and blocks.flags.c_contiguous
    np.testing.assert_allclose(blocks, reference, rtol=1e-12, atol=1e-12)
    if kind == "sparse":
        np.testing.assert_array_equal(blocks, whole)
        monkeypatch.setattr(blend, "MAX_DENSE_ROWS", 10)
        np.testing.assert_allclose(blend.centroid_scores(X, mu, centre, 2.5), reference, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(blocks, whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_add_centroids_adds_beta_times_centroid_scores(container):
    rng = np.random.default_rng(3)
    X = rng.random((60, 12)) * (rng.random((60, 12)) < 0.5) + 0.5 * (container == "dense")
    X = sp.csr_matrix(X) if container == "csr" else X
    codes = rng.integers(0, 5, size=60)
    w = rng.random(60) + 0.5
    coef = rng.normal(size=(5, 12)).astype(np.float32)
    intercept = rng.normal(size=5).astype(np.float32)
    before = np.asarray(X @ coef.T, dtype=np.float64) + intercept
    beta = 4.0
    new_intercept = intercept.copy()
    new_coef, sums, shared = add_centroids(coef.copy(), new_intercept, X, codes, w, 5, beta)
    after = np.asarray(X @ new_coef.T, dtype=np.float64) + new_intercept
    mu, centre = unit_centroids(X, codes, 5, w)
    Xc = X.toarray() if sp.issparse(X) else X
    mu = np.asarray(mu.todense() if sp.issparse(mu) else mu)
    expected = beta / rms_row_norm(X) * ((Xc - (0 if centre is None else centre)) @ (mu - mu.mean(axis=0)).T)
    np.testing.assert_allclose(after - before, expected, atol=1e-4)
    assert sums is None and shared is None


def test_add_centroids_sparse_coef_matches_dense():
    rng = np.random.default_rng(4)
    X = sp.csr_matrix(rng.random((60, 12)) * (rng.random((60, 12)) < 0.4))
    codes = rng.integers(0, 5, size=60)
    w = np.ones(60)
    coef = rng.normal(size=(5, 12)).astype(np.float32) * (rng.random((5, 12)) < 0.5)
    dense_intercept, sparse_intercept = np.zeros(5, np.float32), np.zeros(5, np.float32)
    dense, _, _ = add_centroids(coef.copy(), dense_intercept, X, codes, w, 5, 8.0)
    sparse, _, shared = add_centroids(sp.csr_matrix(coef), sparse_intercept, X, codes, w, 5, 8.0, shared=None)
    assert sp.issparse(sparse) and sparse.dtype == np.float32 and shared.dtype == np.float32
    np.testing.assert_allclose(sparse.toarray() + shared[None, :], dense, atol=1e-6)
    np.testing.assert_array_equal(sparse_intercept, dense_intercept)


def test_blended_sparse_realigns_the_full_adagrad_sums():
    coef = sp.csr_matrix(np.array([[1.0, 0, 2.0], [0, 3.0, 0]], dtype=np.float32))
    sums = np.array([10.0, 20.0, 30.0], dtype=np.float32)  # aligned with coef.data: (0,0), (0,2), (1,1)
    mu = sp.csr_matrix(np.array([[0.5, 0.5, 0], [0, 0, 0.25]]))
    out, new_sums = blended_sparse(coef, sums, mu)
    np.testing.assert_allclose(out.toarray(), coef.toarray() + mu.toarray())
    dense_sums = sp.csr_matrix((new_sums, out.indices, out.indptr), shape=out.shape).toarray()
    np.testing.assert_array_equal(dense_sums, [[10.0, 0.0, 20.0], [0.0, 30.0, 0.0]])
    assert set(zip(*out.nonzero(), strict=True)) == {(0, 0), (0, 1), (0, 2), (1, 1), (1, 2)}


def _blended_reference(coef, sums, mu):
    """coef + mu by scipy (float32 entries summed as scipy sums duplicates), and the sums carried by an
    entry of coef (0 for entries of mu only), aligned with the result's canonical order."""
    old, new = coef.tocoo(), mu.tocoo()
    rows, cols = np.concatenate([old.row, new.row]), np.concatenate([old.col, new.col])
    out = sp.csr_matrix((np.concatenate([old.data, new.data]).astype(np.float32), (rows, cols)), shape=coef.shape)
    out.sum_duplicates()
    carried = sp.csr_matrix((np.concatenate([sums, np.zeros(new.nnz, np.float32)]), (rows, cols)), shape=coef.shape)
    carried.sum_duplicates()
    return out, carried.data


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(4))
def test_blended_sparse_is_the_sum_of_the_two_patterns(seed):
    """The merge kernel against scipy on random patterns that overlap in part, with empty rows, an
    unsorted coef (its sums move with it) and explicit zeros: the same entries, float32 values and sums."""
    rng = np.random.default_rng(seed)
    coef = sp.random(30, 200, density=0.05, random_state=seed, format="csr", dtype=np.float32)
    coef.data[:3] = 0.0  # stored zeros stay stored
    mu = sp.random(30, 200, density=0.03, random_state=seed + 10, format="csr", dtype=np.float64)
    mu = mu + sp.csr_matrix((rng.random(coef.nnz // 2), (coef.tocoo().row[::2], coef.tocoo().col[::2])), shape=mu.shape)
    mu = sp.csr_matrix(sp.diags(np.where(np.arange(30) == 5, 0.0, 1.0)) @ mu)  # an empty row
    mu.eliminate_zeros()
    sums = rng.random(coef.nnz).astype(np.float32)
    ref, ref_sums = _blended_reference(coef, sums, mu)
    shuffled = coef.copy()  # the same matrix with each row's entries reversed, and its sums with them
    order = np.concatenate([np.arange(a, b)[::-1] for a, b in zip(coef.indptr[:-1], coef.indptr[1:], strict=True)])
    shuffled.indices, shuffled.data = coef.indices[order], coef.data[order]
    shuffled.has_sorted_indices = False
    for c, s in ((coef, sums), (shuffled, sums[order])):
        out, out_sums = blended_sparse(c, s, mu)
        np.testing.assert_array_equal(out.indptr, ref.indptr)
        np.testing.assert_array_equal(out.indices, ref.indices)
        np.testing.assert_array_equal(out.data, ref.data)
        assert out.data.dtype == np.float32
        np.testing.assert_array_equal(out_sums, ref_sums)
        plain, none = blended_sparse(c, None, mu)
        assert none is None and (plain != ref).nnz == 0


def few_rows_data(n_classes=400, n_samples=3000, seed=0):
    X, y = make_hierarchical_classification(
        n_samples=n_samples + 600, n_features=40, n_classes=n_classes, random_state=seed
    )
    X = sp.csr_matrix(X)
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def test_auto_blend_on_few_rows_per_class_is_consistent_and_reproducible():
    X, y, Xt, yt = few_rows_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    # 7.5 rows per class: the held-out rows want the centroids (beta 256, T 3.2 at this seed)
    assert clf.centroid_blend_ in BETAS and clf.centroid_blend_ > 0
    assert MIN_TEMPERATURE <= clf.score_temperature_ <= MAX_TEMPERATURE and clf.score_temperature_ != 1.0
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, centroid_blend=0.0).fit(X, y)
    assert clf.score(Xt, yt) > plain.score(Xt, yt) + 0.02  # 55.5 % against 50.0 % on these 600 rows
    again = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(clf.coef_.toarray() if sp.issparse(clf.coef_) else clf.coef_,
                                  again.coef_.toarray() if sp.issparse(again.coef_) else again.coef_)  # fmt: skip
    assert clf.score_temperature_ == again.score_temperature_
    # the probabilities are the softmax of decision_function (scores / T) with the top class's log-odds mapped
    # (top_label_calibration_, tests/test_s37_top_label.py), and the top-k scores are their entries
    D = clf.decision_function(Xt)
    P = clf.predict_proba(Xt)
    np.testing.assert_array_equal(clf.top_label_calibration_, again.top_label_calibration_)
    np.testing.assert_allclose(P, reference_calibrated(D, *clf.top_label_calibration_), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(Xt), np.log(P), rtol=1e-9, atol=1e-9)
    top, scores = clf.predict_top_k(Xt, k=3, return_scores=True)
    codes = np.searchsorted(clf.classes_, top)
    np.testing.assert_allclose(scores, P[np.arange(len(top))[:, None], codes], rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(Xt), clf.classes_[np.argmax(P, axis=1)])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(Xt), P)


def test_a_fixed_beta_adds_exactly_the_centroid_term():
    X, y, Xt, _ = few_rows_data(n_classes=100, n_samples=1500, seed=1)
    base = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, centroid_blend=0.0, weights="dense").fit(X, y)
    blended = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, centroid_blend=16.0, weights="dense").fit(X, y)
    assert (base.centroid_blend_, base.score_temperature_) == (0.0, 1.0)
    assert (blended.centroid_blend_, blended.score_temperature_) == (16.0, 1.0)
    codes = np.searchsorted(base.classes_, y)
    mu, _ = unit_centroids(X, codes, len(base.classes_), np.ones(len(y)))
    S = np.asarray((Xt @ mu.T).todense()) * 16.0 / rms_row_norm(X)
    diff = blended.decision_function(Xt) - base.decision_function(Xt) - S
    np.testing.assert_allclose(diff - diff[:, :1], 0.0, atol=1e-3)


def test_many_rows_per_class_run_one_pilot_on_a_subsample(monkeypatch):
    """Above MAX_ROWS_PER_CLASS rows per class: one pilot with the estimator's settings, on at most that many
    rows per class (and MANY_ROWS_PILOT_ROWS), and only if the centroids beat beta = 0 by MANY_ROWS_Z on top
    of the tree alone; its beta is kept only if it beats beta = 0 by MANY_ROWS_Z too, else beta 0 with the
    temperature of the pilot's own scores (stop 42; 1 unless it beats 1 by MANY_ROWS_Z)."""
    X, y = make_hierarchical_classification(n_samples=3000, n_features=20, n_classes=20, random_state=0)
    seen, zs = [], []
    fit, z_of = blend.pilot_log_proba, blend.gain_z

    def spy(pilot, X_fit, *args):
        seen.append((X_fit.shape[0], pilot.noise.estimator, pilot.learning_rate))
        return fit(pilot, X_fit, *args)

    def spy_z(*args):
        zs.append(z_of(*args))
        return zs[-1]

    monkeypatch.setattr(blend, "pilot_log_proba", spy)
    monkeypatch.setattr(blend, "gain_z", spy_z)
    monkeypatch.setattr(blend, "ALWAYS_PILOT_ROWS", 0)  # the gate of large sets, on these 3,000 rows
    params = dict(random_state=0, n_jobs=1, max_iter=2)

    def fit_with_z(z):
        seen.clear()
        zs.clear()
        monkeypatch.setattr(blend, "MANY_ROWS_Z", z)
        return AdversarialSoftmaxClassifier(**params).fit(X, y)  # 150 rows per class

    clf = fit_with_z(-np.inf)  # every beta > 0 clears the bar
    assert len(seen) == 1 and seen[0][0] == 50 * 20  # one pilot, 50 rows per class of the 2,700 fit rows
    assert seen[0][1] is clf.tree_ and seen[0][2] == "auto"  # the estimator's own tree and step size
    assert clf.centroid_blend_ > 0 and clf.noise_ == "adversarial" and len(zs) == 2  # the tree's z, the pilot's
    z_tree, z_pilot = zs
    assert z_pilot < z_tree  # the centroids help the trained pilot less than the tree alone
    clf = fit_with_z(z_pilot)  # the tree passes, the pilot does not: the model as it trains, at the pilot's T
    assert len(seen) == 1 and clf.centroid_blend_ == 0.0 and 0.25 <= clf.score_temperature_ < 1.0
    monkeypatch.setattr(blend, "UNBLENDED_TEMPERATURE", False)  # stop 41: T = 1 there
    clf = fit_with_z(z_pilot)
    assert len(seen) == 1 and (clf.centroid_blend_, clf.score_temperature_) == (0.0, 1.0)
    monkeypatch.setattr(blend, "UNBLENDED_TEMPERATURE", True)
    clf = fit_with_z(z_tree)  # not even on top of the tree: no pilot
    assert not seen and (clf.centroid_blend_, clf.score_temperature_) == (0.0, 1.0)
    monkeypatch.setattr(blend, "ALWAYS_PILOT_ROWS", 50_000)  # stop 42: small sets train the pilot anyway
    clf = fit_with_z(z_tree)
    assert len(seen) == 1 and clf.centroid_blend_ == 0.0 and 0.25 <= clf.score_temperature_ < 1.0
    monkeypatch.setattr(blend, "ALWAYS_PILOT_ROWS", 0)
    monkeypatch.setattr(blend, "MANY_ROWS_PILOTS", False)  # as before: no pilot, no blend
    clf = fit_with_z(-np.inf)
    assert not seen and not zs and (clf.centroid_blend_, clf.score_temperature_) == (0.0, 1.0)


def test_pilot_rows_and_gain_z():
    rng = np.random.default_rng(0)
    fit_rows = np.arange(0, 2000, 2)
    assert blend.pilot_rows(fit_rows, 20, rng) is fit_rows  # 50 per class: all of them
    sub = blend.pilot_rows(fit_rows, 10, rng)  # 100 per class: 500 of them, sorted, distinct
    assert sub.shape == (500,) and np.all(np.diff(sub) > 0) and np.isin(sub, fit_rows).all()
    assert blend.pilot_rows(np.arange(10**6), 10_000, rng).shape == (blend.MANY_ROWS_PILOT_ROWS,)
    # gain_z against a direct computation: beta = 0's own best T by a grid, the paired differences' z
    log_proba = log_softmax(rng.normal(size=(300, 6)), axis=1)
    S = rng.normal(size=(300, 6))
    truth = rng.integers(0, 6, size=300)
    rows = blend.row_log_likelihoods(log_proba, S, truth, 4.0, 1.3)
    grid = np.exp(np.linspace(np.log(0.25), np.log(64), 20001))
    T0 = grid[np.argmax([blend.row_log_likelihoods(log_proba, S, truth, 0.0, T).mean() for T in grid])]
    d = rows - blend.row_log_likelihoods(log_proba, S, truth, 0.0, T0)
    assert blend.gain_z(log_proba, S, truth, rows) == pytest.approx(d.mean() / d.std(ddof=1) * np.sqrt(300), rel=1e-3)


def test_auto_blend_is_skipped_with_too_few_rows():
    X, y = make_hierarchical_classification(n_samples=600, n_features=20, n_classes=100, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)  # too few rows to hold out
    assert (clf.centroid_blend_, clf.score_temperature_) == (0.0, 1.0)


def test_warm_start_and_partial_fit_keep_the_blend_in_the_weights():
    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=2)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, centroid_blend=4.0, max_iter=2).fit(X, y)
    clf.set_params(warm_start=True).fit(X, y)  # trains on from coef_, which holds the term; adds none
    assert clf.centroid_blend_ == 4.0
    clf.partial_fit(X[:100], y[:100])
    assert clf.centroid_blend_ == 4.0
    fresh = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(X, y, classes=np.unique(y))
    assert (fresh.centroid_blend_, fresh.score_temperature_) == (0.0, 1.0)


@pytest.mark.parametrize("bad", [-1.0, "yes", None])
def test_centroid_blend_is_validated(bad):
    X, y, _, _ = few_rows_data(n_classes=50, n_samples=300)
    with pytest.raises((ValueError, TypeError), match="centroid_blend"):
        AdversarialSoftmaxClassifier(centroid_blend=bad).fit(X, y)


def test_ctrl_c_during_the_pilot_leaves_the_estimator_as_it_was(sigint_after_first_kernel_call):
    import signal

    from skxc import TrainingInterruptedWarning

    X, y, Xt, _ = few_rows_data(n_classes=200, n_samples=2000, seed=3)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, centroid_blend=0.0)
    calls = sigint_after_first_kernel_call
    with pytest.warns(TrainingInterruptedWarning):
        clf.fit(X, y)  # no pilot: its own training stops at a piece boundary, a fitted model
    assert clf.interrupted_
    before = clf.predict_proba(Xt)
    calls.clear()  # the first kernel call of the next fit, the pilot's, sends SIGINT
    clf.set_params(centroid_blend="auto", random_state=1)
    with pytest.warns(TrainingInterruptedWarning), pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert len(calls) == 1  # the model's own training never started
    np.testing.assert_array_equal(clf.predict_proba(Xt), before)
    assert clf.centroid_blend == "auto" and clf.centroid_blend_ == 0.0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_blend_does_not_change_the_training_draws():
    """The pilot draws from a spawned generator: the trained part of an "auto" model is the model of
    centroid_blend=0 plus the centroid term (same seed, n_jobs=1)."""
    X, y, Xt, _ = few_rows_data(n_classes=150, n_samples=1500, seed=4)
    # a fixed tree temperature: no flatter tree competes (that one would train a different model)
    kw = dict(random_state=0, n_jobs=1, weights="dense", tree_temperature=1.0)
    auto = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert auto.centroid_blend_ > 0
    fixed = AdversarialSoftmaxClassifier(centroid_blend=auto.centroid_blend_, **kw).fit(X, y)
    np.testing.assert_array_equal(auto.coef_, fixed.coef_)
    np.testing.assert_array_equal(auto.intercept_, fixed.intercept_)
    np.testing.assert_allclose(auto.decision_function(Xt) * auto.score_temperature_, fixed.decision_function(Xt))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # early stopping's budget
def test_auto_blend_with_string_labels_weights_and_early_stopping():
    X, y, Xt, yt = few_rows_data(n_classes=200, n_samples=2500, seed=5)
    names = np.array([f"class-{c:04d}" for c in range(200)], dtype=object)
    weight = np.ones(len(y))
    weight[::7] = 0.0  # zero weight: as if the row were not there
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, early_stopping=True)
    clf.fit(X, names[y], sample_weight=weight)
    assert clf.centroid_blend_ > 0 and np.isfinite(clf.score_temperature_)
    assert set(clf.predict(Xt)) <= set(clf.classes_)
    proba = clf.predict_proba(Xt)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert clf.score(Xt, names[yt]) > 0.3


def test_flatter_tree_halves_the_temperature_and_keeps_padding():
    from skxc._blend import flatter_tree

    X, y, Xt, _ = few_rows_data(n_classes=300, n_samples=2000, seed=6)  # 300 classes: padding leaves
    tree = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1).fit(X, y).tree_
    weight = tree.node_weight_.copy()
    flat = flatter_tree(tree)
    assert flat.temperature_ == pytest.approx(tree.temperature_ / 2)
    np.testing.assert_array_equal(tree.node_weight_, weight)  # the original is untouched
    np.testing.assert_allclose(flat.node_weight_, weight / 2, rtol=1e-6)
    proba = flat.predict_proba(Xt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba[:, tree.predict_proba(Xt).max(axis=0) == 0], 0.0)
    # flatter: the entropy of p_n grows
    entropy = lambda P: -np.sum(P * np.log(np.clip(P, 1e-300, None)), axis=1).mean()  # noqa: E731
    assert entropy(proba) > entropy(tree.predict_proba(Xt))


def test_when_the_flatter_tree_wins_training_uses_it(monkeypatch):
    import skxc._blend as blend

    X, y, Xt, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    real = blend.chosen_blend
    calls = []

    def first_wins(*args):  # the flatter tree's pilot (the first) gets the better likelihood
        beta, T, ll, rows, top_map, hits, best_ll = real(*args)
        calls.append(1)
        bonus = 10.0 * (len(calls) == 1)
        return beta, T, ll + bonus, rows, top_map, hits, best_ll + bonus

    monkeypatch.setattr(blend, "chosen_blend", first_wins)
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)  # no uniform-noise pilot (tested below)
    trained = []
    train = AdversarialSoftmaxClassifier._train

    def recording_train(self, rows, *args, **kwargs):  # the tree and the rows' log p_n the model trains with
        trained.append((self.tree_, rows.log_noise.copy(), rows.codes.copy()))
        return train(self, rows, *args, **kwargs)

    monkeypatch.setattr(AdversarialSoftmaxClassifier, "_train", recording_train)
    fitted_tau = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, centroid_blend=0.0)
    fitted_tau = fitted_tau.fit(X, y).tree_.temperature_  # the same tree fit, without the pilots
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert len(calls) == 2  # the flatter tree and half the learning rate (not the estimator's settings)
    assert clf.tree_.temperature_ == pytest.approx(fitted_tau / 2)
    tree, log_noise, codes = trained[-1]  # the model's own training (the pilots' come first)
    assert tree is clf.tree_
    np.testing.assert_allclose(log_noise, clf.tree_.log_proba_of(X, clf.classes_[codes]), rtol=1e-5, atol=1e-6)
    # prediction corrects with the tree training sampled from
    raw = np.asarray(Xt @ clf.coef_.T if not sp.issparse(clf.coef_) else (Xt @ clf.coef_.T).toarray()) + clf.intercept_
    expected = (raw + clf.tree_.predict_log_proba(Xt)) / clf.score_temperature_
    D = clf.decision_function(Xt)
    np.testing.assert_allclose(D - D[:, :1], expected - expected[:, :1], atol=1e-3)


@pytest.mark.parametrize("slower_wins", [True, False])
def test_the_pilots_choose_the_learning_rate(monkeypatch, slower_wins):
    import skxc._blend as blend

    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    real = blend.chosen_blend
    pilots = []

    def last_wins(pilot, *args):  # the last pilot (half the learning rate) gets the better likelihood
        beta, T, ll, rows, top_map, hits, best_ll = real(pilot, *args)
        pilots.append((pilot.learning_rate, pilot.learning_rate_, pilot.tree_))
        bonus = (10.0 if slower_wins else -10.0) * (len(pilots) == 2)
        return beta, T, ll + bonus, rows, top_map, hits, best_ll + bonus

    monkeypatch.setattr(blend, "chosen_blend", last_wins)
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, centroid_blend=0.0).fit(X, y)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert len(pilots) == 2  # the flatter tree, then half the learning rate
    assert pilots[0][0] == "auto"
    assert pilots[1][0] == pytest.approx(blend.SLOWER * pilots[0][1], rel=1e-12)  # half the pilots' own auto rate
    assert pilots[0][2].temperature_ == pytest.approx(plain.tree_.temperature_ / 2)
    assert pilots[1][2].temperature_ == plain.tree_.temperature_  # the estimator's tree
    assert clf.learning_rate_ == pytest.approx((blend.SLOWER if slower_wins else 1.0) * plain.learning_rate_)
    expected_tau = plain.tree_.temperature_ / (1 if slower_wins else 2)  # else the flatter tree's pilot won
    assert clf.tree_.temperature_ == pytest.approx(expected_tau)
    # an explicit learning rate is kept: the estimator's settings and the flatter tree
    pilots.clear()
    fixed = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, learning_rate=0.05).fit(X, y)
    assert len(pilots) == 2 and fixed.learning_rate_ == 0.05
    assert [p[2].temperature_ for p in pilots] == pytest.approx(
        [plain.tree_.temperature_, plain.tree_.temperature_ / 2]
    )


@pytest.mark.parametrize("fraction, expected", [(None, {1: 1, 5: 2, 30: 2}), (0.2, {1: 1, 5: 2, 30: 6})])
def test_pilots_train_two_epochs_at_any_budget(monkeypatch, fraction, expected):
    """The pilots train MIN_PILOT_EPOCHS (2) epochs at every budget of 2 or more (PILOT_FRACTION 0); a fraction
    makes them train that share of longer budgets (0.2: 6 of 30, as before stop 38)."""
    X, y, _, _ = few_rows_data(n_classes=100, n_samples=1200, seed=3)
    if fraction is not None:
        monkeypatch.setattr(blend, "PILOT_FRACTION", fraction)
    real = blend.pilot_log_proba
    epochs = []

    def spy(pilot, *args):
        out = real(pilot, *args)
        epochs.append((pilot.max_iter, pilot.n_iter_))
        return out

    monkeypatch.setattr(blend, "pilot_log_proba", spy)
    for budget, want in expected.items():
        epochs.clear()
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=budget).fit(X, y)
        assert clf.n_iter_ == budget
        assert len(epochs) >= 2 and all(e == (want, want) for e in epochs), (budget, epochs)


def test_own_settings_pilot_with_both_alternatives_when_asked(monkeypatch):
    import skxc._blend as blend

    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    real = blend.chosen_blend
    pilots = []

    def recording(pilot, *args):
        out = real(pilot, *args)
        pilots.append((pilot.learning_rate, pilot.tree_.temperature_))
        return out

    monkeypatch.setattr(blend, "chosen_blend", recording)
    monkeypatch.setattr(blend, "OWN_PILOT_WITH_BOTH", True)
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, centroid_blend=0.0).fit(X, y)
    AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    tau = plain.tree_.temperature_
    assert [p[1] for p in pilots] == pytest.approx([tau, tau / 2, tau])  # own, flatter tree, slower step
    assert pilots[0][0] == "auto" and pilots[1][0] == "auto" and pilots[2][0] != "auto"


def test_a_pilot_that_would_not_fit_in_memory_is_skipped_with_a_warning(monkeypatch):
    import skxc._validation as validation

    X, y, Xt, _ = few_rows_data(n_classes=200, n_samples=2000, seed=8)
    answers = iter([10**12])  # the model's own guard passes; the pilot's sees 1 kB
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: next(answers, 10**3))
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, weights="dense")
    with pytest.warns(UserWarning, match="skipped the centroid blend.*would not fit in memory"):
        clf.fit(X, y)
    assert (clf.centroid_blend_, clf.score_temperature_) == (0.0, 1.0)
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, weights="dense", centroid_blend=0.0)
    monkeypatch.undo()
    np.testing.assert_array_equal(clf.coef_, plain.fit(X, y).coef_)  # the model trained as without the blend


# ---- multi-label: pick-all-labels log-likelihood, centroids of (row, label) examples, the pilots


def random_indicator(rng, n, C, most=4):
    """CSR int8 (n, C) with 1..most distinct labels per row."""
    rows = [rng.choice(C, size=rng.integers(1, most + 1), replace=False) for _ in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    Y = sp.csr_matrix((np.ones(indptr[-1], np.int8), np.concatenate(rows), indptr), shape=(n, C))
    Y.sort_indices()
    return Y


def reference_multilabel_log_likelihood(A, Y, a):
    """Mean over (row, label) pairs of log softmax(a A)[row, label] by scipy."""
    L = log_softmax(a * A, axis=1)
    r, c = Y.nonzero()
    return float(np.mean(L[r, c]))


@pytest.mark.parametrize("dtype, rel", [(np.float32, 1e-6), (np.float64, 1e-10)])
def test_multilabel_log_likelihood_and_derivatives_match_references(monkeypatch, dtype, rel):
    monkeypatch.setattr(blend, "SCORE_DTYPE", dtype)
    rng = np.random.default_rng(10)
    A = rng.normal(scale=3.0, size=(61, 40))
    Y = random_indicator(rng, 61, 40)
    for a in (0.1, 0.7, 1.0, 2.5):
        ll, g, h = _log_likelihood(A, Y, a)
        assert ll == pytest.approx(reference_multilabel_log_likelihood(A, Y, a), rel=rel, abs=1e-12)
        eps = 1e-5
        up, down = (reference_multilabel_log_likelihood(A, Y, a + s) for s in (eps, -eps))
        mid = reference_multilabel_log_likelihood(A, Y, a)
        assert g == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)
        assert h == pytest.approx((up - 2 * mid + down) / eps**2, rel=1e-3, abs=1e-5)
        assert h <= 0


def test_multilabel_log_likelihood_in_blocks_and_with_one_label_per_row():
    """Prepared arrays give the same bits; an indicator with one label per row is the single-label case."""
    from skxc._blend import _prepared

    rng = np.random.default_rng(11)
    A = rng.normal(size=(400, 700))  # several row blocks, the last one shorter
    Y = random_indicator(rng, 400, 700, most=6)
    prepared = _prepared(A, Y)
    for a in (0.05, 1.3):
        assert _log_likelihood(A, Y, a, prepared) == _log_likelihood(A, Y, a)
    truth = rng.integers(0, 700, size=400)
    one = sp.csr_matrix((np.ones(400, np.int8), truth, np.arange(401)), shape=(400, 700))
    for a in (0.3, 2.0):
        np.testing.assert_allclose(_log_likelihood(A, one, a), _log_likelihood(A, truth, a), rtol=1e-12)


@pytest.mark.parametrize("container, centred", [("dense", False), ("dense", True), ("csr", False)])
def test_example_centroids_are_those_of_the_repeated_rows(container, centred, monkeypatch):
    """Centroids of (row, label) examples: each row counts once per label, as if X's rows were repeated
    (dense rows centred or not, ``CENTRE_DENSE``)."""
    import skxc._start as start

    monkeypatch.setattr(start, "CENTRE_DENSE", centred)
    rng = np.random.default_rng(12)
    X = rng.random((50, 9)) * (rng.random((50, 9)) < 0.6) + 0.3 * (container == "dense")
    X[7] = 0.0  # an empty row: no direction, counts nowhere
    X = sp.csr_matrix(X) if container == "csr" else X
    Y = random_indicator(rng, 50, 6, most=3)
    example_row = np.repeat(np.arange(50), np.diff(Y.indptr))
    codes, w = Y.indices.copy(), rng.random(example_row.size) + 0.5
    subset = np.sort(rng.choice(example_row.size, size=example_row.size // 2, replace=False))
    mu, centre = unit_centroids(X, codes, 6, w, rows=subset, example_row=example_row)
    ref_mu, ref_centre = unit_centroids(X[example_row], codes, 6, w, rows=subset)
    dense = (lambda M: M.toarray()) if container == "csr" else np.asarray
    np.testing.assert_allclose(dense(mu), dense(ref_mu), rtol=1e-12, atol=1e-15)
    if centred:
        np.testing.assert_allclose(centre, ref_centre, rtol=1e-12)
    else:
        assert centre is None and ref_centre is None


def multilabel_few_rows_data(seed=0, extra=0.5):
    """Few-rows hierarchical data as a label indicator: each row's class, and for a share ``extra`` of the
    rows also a coarse label (400 + class // 8)."""
    X, y, Xt, yt = few_rows_data(seed=seed)
    rng = np.random.default_rng(seed)

    def indicator(labels):
        more = rng.random(labels.size) < extra
        rows = np.concatenate([np.arange(labels.size), np.flatnonzero(more)])
        cols = np.concatenate([labels, 400 + labels[more] // 8])
        return sp.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(labels.size, 450))

    return X, indicator(y), Xt, indicator(yt)


def test_multilabel_auto_blend_with_one_label_per_row_is_the_single_label_choice(monkeypatch):
    """An indicator with one label per row: the pick-all-labels choice is the single-label one (here
    the centroids, which add 4 points of precision@1), and it is reproducible."""
    import skxc._blend as blend
    from skxc.metrics import precision_at_k

    X, Y, Xt, Yt = multilabel_few_rows_data(extra=0.0)
    y = Y.indices  # one label per row, in row order
    with monkeypatch.context() as m:  # the single-label fit with the one pilot multi-label fits run
        m.setattr(blend, "SLOWER", 1.0)  # no slower step
        m.setattr(blend, "MIN_TREE_TEMPERATURE", 2.0)  # no flatter tree
        single = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, Y)
    assert clf.centroid_blend_ == single.centroid_blend_ > 0
    assert clf.score_temperature_ == pytest.approx(single.score_temperature_, rel=0.05)
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, centroid_blend=0.0).fit(X, Y)
    assert (plain.centroid_blend_, plain.score_temperature_) == (0.0, 1.0)
    p1, plain_p1 = (precision_at_k(Yt, m.predict_top_k(Xt, 1), k=1) for m in (clf, plain))
    assert p1 > plain_p1 + 0.02  # 55.5 % against 51.5 % on these 600 rows
    again = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, Y)
    dense = (lambda M: M.toarray()) if sp.issparse(clf.coef_) else np.asarray
    np.testing.assert_array_equal(dense(clf.coef_), dense(again.coef_))
    assert (clf.centroid_blend_, clf.score_temperature_) == (again.centroid_blend_, again.score_temperature_)
    np.testing.assert_allclose(clf.predict_proba(Xt), softmax(clf.decision_function(Xt), axis=1), rtol=1e-9)


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_multilabel_fixed_beta_adds_the_label_centroids(weights):
    """A fixed beta adds beta / r (x . mu_l) up to a per-row constant, mu_l the mean direction of label l's rows."""
    X, Y, Xt, _ = multilabel_few_rows_data(seed=1)
    params = {"random_state": 0, "n_jobs": 1, "weights": weights, "weight_threshold": 0.0}  # no pruning
    base = AdversarialSoftmaxClassifier(centroid_blend=0.0, **params).fit(X, Y)
    blended = AdversarialSoftmaxClassifier(centroid_blend=8.0, **params).fit(X, Y)
    assert sp.issparse(blended.coef_) == (weights == "sparse")
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    sums = Y.T.astype(np.float64) @ sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ X
    sums = np.asarray(sums.todense())
    mu = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-300)
    S = np.asarray(Xt @ mu.T) * 8.0 / rms_row_norm(X)
    diff = blended.decision_function(Xt) - base.decision_function(Xt) - S
    np.testing.assert_allclose(diff - diff[:, :1], 0.0, atol=1e-3)


def test_multilabel_runs_one_pilot_on_the_fit_rows_labels(monkeypatch):
    """Multi-label: one pilot, with the estimator's settings and tree, trained on a label indicator of the
    non-held-out rows, scored on held-out rows with at least one label the pilot has seen (and with
    ``label_weighting="auto"``, a second one with "rows": tests/test_s39_weighting_budget_start.py)."""
    import skxc._blend as blend

    X, Y, _, _ = multilabel_few_rows_data(seed=3)
    seen = []
    real = blend.chosen_blend

    def recording(pilot, X_fit, y_fit, w_fit, X_held, truth, S):
        seen.append((X_fit.shape[0], y_fit, X_held.shape[0], truth, S.shape))
        out = real(pilot, X_fit, y_fit, w_fit, X_held, truth, S)
        seen[-1] += (pilot.tree_, pilot.learning_rate_)
        return out

    monkeypatch.setattr(blend, "chosen_blend", recording)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, label_weighting="pairs").fit(X, Y)
    assert len(seen) == 1
    n_fit, y_fit, n_held, truth, S_shape, tree, rate = seen[0]
    assert sp.issparse(y_fit) and y_fit.shape == (n_fit, 450) and n_fit + n_held <= X.shape[0]
    assert truth.shape == (n_held, 450) and S_shape == (n_held, 450) and n_held >= blend.MIN_ROWS
    assert np.all(np.diff(truth.indptr) >= 1)  # every scored row has a label
    known = np.asarray(y_fit.sum(axis=0)).ravel() > 0
    assert known[truth.indices].all()  # only labels the pilot's rows have
    assert tree is clf.tree_ and rate == pytest.approx(clf.learning_rate_, rel=1e-3)  # its own rows' "auto" rate


def test_pilots_side_by_side_choose_as_one_thread_does():
    """With n_jobs > 1 the pilots of a small model train side by side, one thread each: the blend, the
    temperatures and the learning rate they choose are those of n_jobs=1."""
    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=9)
    chosen = []
    for n_jobs in (1, 2):
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, y)
        chosen.append((clf.centroid_blend_, clf.score_temperature_, clf.tree_.temperature_, clf.learning_rate_))
    assert chosen[0] == chosen[1]


@pytest.mark.usefixtures("sparse_paths")
def test_sparse_pilots_choose_as_dense_pilots_do(monkeypatch):
    """Pilots of large models on sparse X train with sparse weights; that changes their speed, not the choice."""
    import skxc._blend as blend

    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=5)
    assert sp.issparse(X)
    layouts, fitted = [], []
    real = blend.chosen_blend

    def recording(pilot, *args):
        out = real(pilot, *args)
        layouts.append(sp.issparse(pilot.coef_))
        return out

    monkeypatch.setattr(blend, "chosen_blend", recording)
    monkeypatch.setattr(validation, "DENSE_DENSITY", 1.01)  # these 40-feature rows count as sparse
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 0.0)  # the weights' count alone decides
    for threshold in (2**40, 0):  # dense pilots, then sparse ones
        monkeypatch.setattr(blend, "SPARSE_PILOT_WEIGHTS", threshold)
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3, weights="dense").fit(X, y)
        fitted.append(clf)
    assert layouts == [False] * 3 + [True] * 3  # the flatter tree's, the slower step's and uniform noise's pilots
    dense, sparse = fitted
    assert (dense.centroid_blend_, dense.learning_rate_, dense.tree_.temperature_) == (
        sparse.centroid_blend_, sparse.learning_rate_, sparse.tree_.temperature_,
    )  # fmt: skip
    # the pilots' scores are summed in another order: the temperature agrees to rounding (float32 exponentials)
    assert sparse.score_temperature_ == pytest.approx(dense.score_temperature_, rel=1e-6)
    np.testing.assert_array_equal(dense.coef_, sparse.coef_)


def test_which_pilots_train_side_by_side(monkeypatch):
    import skxc._blend as blend

    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=5)  # CSR, 200 classes x 40 features
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=1, centroid_blend=0.0, weights="dense").fit(X, y)
    assert blend.side_by_side_pilots(clf, X)  # a small model
    monkeypatch.setattr(blend, "SIDE_BY_SIDE_WEIGHTS", 0)  # as if it were large:
    monkeypatch.setattr(blend, "SPARSE_PILOT_WEIGHTS", 0)
    monkeypatch.setattr(blend, "DENSE_PILOT_TOUCHES", 0.0)  # and its pilots' epochs touched few of its weights
    assert blend.pilot_weights(clf, X) == "dense"  # mostly dense CSR rows: every row touches all its weights
    monkeypatch.setattr(validation, "DENSE_DENSITY", 1.01)  # these rows as sparse ones
    assert blend.pilot_weights(clf, X) == "sparse" and blend.side_by_side_pilots(clf, X)  # small sparse tables
    assert blend.pilot_weights(clf, X.toarray()) == "dense" and not blend.side_by_side_pilots(clf, X.toarray())
    # two sparse pilots' tables at once must fit under the memory guard
    n_stored = min(blend.stored_weights_bound(X, X.shape[0], clf.n_negatives_), len(clf.classes_) * X.shape[1])
    table = blend.estimated_sparse_bytes(n_stored, False)  # the factored Adagrad state: no sums per weight
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(2 * table / blend.MEMORY_HEADROOM) + 1)
    assert blend.side_by_side_pilots(clf, X)
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: int(2 * table / blend.MEMORY_HEADROOM) - 1)
    assert not blend.side_by_side_pilots(clf, X)  # one after the other
    monkeypatch.setattr(blend, "available_memory_bytes", lambda: None)  # unknown: side by side
    assert blend.side_by_side_pilots(clf, X)


# ---- uniform noise as a pilot: the paired test, the restart, which fits run it


def test_pilot_choice_rows_are_the_per_row_log_likelihoods_of_its_choice():
    rng = np.random.default_rng(4)
    n, C = 300, 40
    truth = rng.integers(0, C, size=n)
    log_proba = log_softmax(rng.normal(size=(n, C)), axis=1)
    S = rng.normal(scale=0.1, size=(n, C))
    S[np.arange(n), truth] += 0.3
    beta, T, ll, rows, _, _, _ = blend.pilot_choice(log_proba, S, truth)
    assert (beta, T, ll) == choose_blend(log_proba, S, truth)
    expected = log_softmax((log_proba + beta * S) / T, axis=1)[np.arange(n), truth]  # scipy reference
    np.testing.assert_allclose(rows, expected, rtol=1e-12, atol=1e-12)
    assert rows.mean() == pytest.approx(ll, rel=1e-6)  # the choice's exponentials are float32
    Y = sp.csr_matrix(np.eye(C)[truth])  # multi-label truth: no per-row values
    assert blend.pilot_choice(log_proba, S, Y)[3] is None


def test_uniform_wins_only_by_a_clear_paired_margin():
    rng = np.random.default_rng(0)
    tree = rng.normal(-3.0, 1.0, size=500)
    noise = rng.normal(0.0, 0.5, size=500)  # paired differences with a standard error of about 0.022
    assert blend.uniform_wins(tree + 0.2 + noise, tree)  # z about 9
    assert not blend.uniform_wins(tree + 0.01 + noise, tree)  # higher on average, but z < 1.645
    assert not blend.uniform_wins(tree - 0.2 + noise, tree)
    assert not blend.uniform_wins(tree.copy(), tree)  # a tie keeps the tree
    # the threshold: a mean difference of exactly UNIFORM_Z standard errors does not win, a little more does
    d = noise - noise.mean()
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert not blend.uniform_wins(tree + d + 0.999 * blend.UNIFORM_Z * se, tree)
    assert blend.uniform_wins(tree + d + 1.001 * blend.UNIFORM_Z * se, tree)


def _favouring_uniform(monkeypatch, bonus):
    """chosen_blend with ``bonus`` added to every held-out row's log-likelihood of the uniform-noise pilot."""
    real = blend.chosen_blend
    seen = []

    def patched(pilot, *args):
        beta, T, ll, rows, top_map, hits, best_ll = real(pilot, *args)
        uniform = pilot.tree_.n_components_ == 0
        seen.append(uniform)
        if uniform:
            return beta, T, ll + bonus, rows + bonus, top_map, hits, best_ll + bonus
        return beta, T, ll, rows, top_map, hits, best_ll

    monkeypatch.setattr(blend, "chosen_blend", patched)
    return seen


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_when_uniform_noise_wins_the_model_trains_with_it(monkeypatch, n_jobs, weights):
    X, y, Xt, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    seen = _favouring_uniform(monkeypatch, 10.0)
    trained = []
    train = AdversarialSoftmaxClassifier._train

    def recording_train(self, rows, *args, **kwargs):  # the tree, log p_n and start the model trains from
        start = self.coef_.toarray() if sp.issparse(self.coef_) else np.array(self.coef_)
        trained.append((self.tree_, rows.log_noise.copy(), start, self.init_scale_))
        return train(self, rows, *args, **kwargs)

    monkeypatch.setattr(AdversarialSoftmaxClassifier, "_train", recording_train)
    kw = dict(random_state=0, n_jobs=n_jobs, max_iter=2, weights=weights)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    # n_jobs=1: the flatter tree, the slower step, uniform noise in turn; n_jobs=2: uniform noise on a thread of its
    # own from the calibration split on, the tree's two pilots side by side (chosen_blend is not theirs)
    assert seen == ([False, False, True] if n_jobs == 1 else [True])
    assert clf.noise_ == "uniform" and clf.tree_.n_components_ == 0
    tree, log_noise, start, init_scale = trained[-1]  # the model's own training (the pilots' come first)
    assert tree is clf.tree_
    n_classes = len(clf.classes_)
    np.testing.assert_allclose(log_noise, -np.log(n_classes), rtol=1e-6)  # log p_n of uniform noise
    assert init_scale == clf.init_scale_
    if init_scale > 0:  # the restarted centroid start: every class row a multiple of its centroid, no tree left
        assert np.count_nonzero(start) > 0
    np.testing.assert_allclose(clf.tree_.predict_proba(Xt), 1 / n_classes, rtol=1e-6)
    P = clf.predict_proba(Xt)
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1.0)
    assert clf.centroid_blend_ in BETAS
    again = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert again.noise_ == "uniform" and again.centroid_blend_ == clf.centroid_blend_
    if n_jobs == 1:  # reproducible
        np.testing.assert_array_equal(again.predict_proba(Xt), P)


def test_uniform_restart_reuses_and_zeroes_the_dense_arrays():
    from skxc._fit import restart
    from skxc._start import calibration_split
    from skxc._state import AdagradState

    X, y, _, _ = few_rows_data(n_classes=100, n_samples=1500, seed=3)
    codes, w = y.astype(np.int32), np.ones(X.shape[0])
    split = calibration_split(X.shape[0], np.random.default_rng(0))
    params = AdversarialSoftmaxClassifier(adagrad="full", n_negatives=2).get_params()  # resolved, as _params() gives
    starts = []
    for fill in (0.0, 7.0):  # fresh zeros, and arrays left over from another start
        coef = np.full((100, X.shape[1]), fill, dtype=np.float32, order="F")
        state = AdagradState.zeros("full", 100, X.shape[1], np.full_like(coef, fill))
        tree = blend.uniform_noise(np.arange(100), X.shape[1])
        start = restart(params, tree, X, codes, w, split, coef, state, np.random.default_rng(1))
        assert start.coef is coef and start.adagrad_state.coef_sums is state.coef_sums  # reused
        assert not start.adagrad_state.coef_sums.any()
        starts.append(start)
    np.testing.assert_array_equal(starts[0].coef, starts[1].coef)
    np.testing.assert_array_equal(starts[0].intercept, starts[1].intercept)
    assert starts[0].init_scale == starts[1].init_scale and starts[0].tree.n_components_ == 0


@pytest.mark.parametrize(
    "case", ["many classes", "explicit temperature", "noise uniform", "multi-label", "paired test not passed"]
)
def test_which_fits_run_or_choose_the_uniform_pilot(monkeypatch, case):
    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    seen = _favouring_uniform(monkeypatch, 0.0 if case == "paired test not passed" else 10.0)
    kw = dict(random_state=0, n_jobs=1, max_iter=2)
    if case == "many classes":
        monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", len(np.unique(y)) - 1)
    elif case == "explicit temperature":
        kw["tree_temperature"] = 0.5
    elif case == "noise uniform":
        kw["noise"] = "uniform"
    elif case == "multi-label":
        X, y, _, _ = multilabel_few_rows_data(seed=3)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    if case == "paired test not passed":  # its pilot ran, but the tree stays (the same held-out rows, no bonus)
        assert seen.count(True) == 1 and clf.noise_ == "adversarial" and clf.tree_.n_components_ > 0
    elif case == "noise uniform":  # the estimator's own pilot and the slower step's, both with its uniform noise
        assert len(seen) == 2 and clf.noise_ == "uniform"
    else:
        assert True not in seen and clf.noise_ == kw.get("noise", "adversarial")


def test_pilots_on_other_threads_see_the_callers_scikit_learn_settings(monkeypatch):
    """scikit-learn's settings are thread-local: the side-by-side pilots and the uniform-noise pilot on its
    own thread run with those of the thread that called fit."""
    import sklearn

    X, y, _, _ = few_rows_data(n_classes=200, n_samples=2000, seed=7)
    seen = []
    real = blend.pilot_log_proba

    def recording(pilot, *args):
        seen.append((pilot.noise.estimator.n_components_ == 0, sklearn.get_config()["assume_finite"]))
        return real(pilot, *args)

    monkeypatch.setattr(blend, "pilot_log_proba", recording)
    with sklearn.config_context(assume_finite=True):
        AdversarialSoftmaxClassifier(random_state=0, n_jobs=2, max_iter=2).fit(X, y)
    assert sorted(seen) == [(False, True), (False, True), (True, True)]


# ---- the choice of beta by top-1 where it is clearly more accurate (ACCURACY_Z)


def _centroids_rank_but_with_heavy_tails(n=600, C=50, seed=5):
    """Held-out scores where the centroids put the true class first on 70 % of the rows and far down on the
    others, and the model ranks it first less often but never far down: the log-likelihood prefers a small
    beta, top-1 a large one."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, C, size=n)
    model = rng.normal(size=(n, C))
    model[np.arange(n), truth] += 1.5
    S = rng.normal(scale=0.05, size=(n, C))
    right = rng.random(n) < 0.7
    S[np.arange(n), truth] += np.where(right, 0.2, -2.0)
    return log_softmax(model, axis=1), S, truth


def test_choose_blend_gives_way_to_a_clearly_more_accurate_beta(monkeypatch):
    log_proba, S, truth = _centroids_rank_but_with_heavy_tails(n=500)  # blend_rows(50): all 500 for both
    monkeypatch.setattr(blend, "ACCURACY_Z", None)
    beta_ll, T_ll, ll_ll = choose_blend(log_proba, S, truth)
    monkeypatch.setattr(blend, "ACCURACY_Z", 3.0)
    beta, T, ll = choose_blend(log_proba, S, truth)
    top1 = {b: np.mean((log_proba + b * S).argmax(axis=1) == truth) for b in BETAS}
    assert top1[beta] == max(top1.values()) and top1[beta] > top1[beta_ll] + 0.1
    assert beta > beta_ll and ll < ll_ll  # the log-likelihood alone preferred the smaller beta
    # the log-likelihood at that beta and T (the choice's float32 exponentials), at most that of its best T
    assert ll == pytest.approx(reference_log_likelihood(log_proba + beta * S, truth, 1.0 / T), rel=1e-5)
    assert ll <= best_inverse_temperature(log_proba + beta * S, truth)[1] + 1e-6
    assert choose_blend(log_proba, S, truth, by_accuracy=False) == (beta_ll, T_ll, ll_ll)
    Y = sp.csr_matrix(np.eye(S.shape[1])[truth])  # multi-label: the log-likelihood alone
    assert choose_blend(log_proba, S, Y)[0] == choose_blend(log_proba, S, Y, by_accuracy=False)[0]


def test_clearly_more_accurate_against_a_direct_count(monkeypatch):
    log_proba, S, truth = _centroids_rank_but_with_heavy_tails(n=300, C=40, seed=6)
    hits = np.array([(log_proba + b * S).argmax(axis=1) == truth for b in BETAS], dtype=float)
    best = int(np.argmax(hits.mean(axis=1)))
    for chosen in range(len(BETAS)):
        d = hits[best] - hits[chosen]
        z = d.mean() / (d.std(ddof=1) / np.sqrt(d.size)) if d.std() > 0 else 0.0
        expected = best if chosen != best and z > blend.ACCURACY_Z else None
        assert blend.clearly_more_accurate(log_proba, S, truth, chosen) == expected
        monkeypatch.setattr(blend, "MAX_SCORES", 7 * S.shape[1])  # blocks of 7 rows: the same hits
        assert blend.clearly_more_accurate(log_proba, S, truth, chosen) == expected
        monkeypatch.undo()
    # the same scores everywhere: no beta is more accurate than another
    assert blend.clearly_more_accurate(log_proba, np.zeros_like(S), truth, 0) is None


def test_the_log_likelihood_takes_the_first_rows_and_top_1_all(monkeypatch):
    log_proba, S, truth = _centroids_rank_but_with_heavy_tails(n=600, C=50)
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 200 * 50)  # blend_rows: 200 of the 600 rows
    assert blend.ll_rows(log_proba.shape) == 200
    monkeypatch.setattr(blend, "ACCURACY_Z", None)
    expected = choose_blend(log_proba[:200], S[:200], truth[:200])
    assert choose_blend(log_proba, S, truth) == expected
    beta, T, ll, rows, _, _, _ = blend.pilot_choice(log_proba, S, truth)
    assert rows.shape == (200,) and (beta, T, ll) == expected


def test_the_log_likelihood_rows_follow_their_own_budget(monkeypatch):
    # LL_MAX_SCORES alone sets the log-likelihood's rows; MAX_SCORES sizes only the blocks it is computed in
    assert blend.blend_rows(5_000) == 200 and blend.blend_rows(20_000) == blend.blend_rows(10**6) == blend.MIN_ROWS
    monkeypatch.setattr(blend, "MAX_SCORES", 10 * 5_000)
    assert blend.blend_rows(5_000) == 200
    monkeypatch.setattr(blend, "LL_MAX_SCORES", 400 * 5_000)
    assert blend.blend_rows(5_000) == 400 and blend.blend_rows(100) == blend.MAX_ROWS


def test_scored_rows_for_top_1_extend_those_of_the_log_likelihood(monkeypatch):
    monkeypatch.setattr(blend, "TOP_LABEL", False)  # no rows for the top-label map (tests/test_s37_top_label.py)
    codes = np.arange(20_000) % 5_000  # 5,000 classes: blend_rows 200
    fit_rows, held_rows = np.arange(15_000), np.arange(15_000, 20_000)
    plain = blend.scored_rows(codes, fit_rows, held_rows, 5_000, np.random.default_rng(0))
    more = blend.scored_rows(codes, fit_rows, held_rows, 5_000, np.random.default_rng(0), by_accuracy=True)
    assert plain.shape == (200,) and more.shape == (blend.ACCURACY_ROWS,)
    np.testing.assert_array_equal(more[:200], plain)  # the log-likelihood's rows as without it
    assert np.all(np.diff(more[200:]) > 0) and not np.isin(more[200:], plain).any()
    small = blend.scored_rows(codes % 50, fit_rows, held_rows, 50, np.random.default_rng(0), by_accuracy=True)
    np.testing.assert_array_equal(
        small, blend.scored_rows(codes % 50, fit_rows, held_rows, 50, np.random.default_rng(0))
    )
    monkeypatch.setattr(blend, "ACCURACY_Z", None)
    off = blend.scored_rows(codes, fit_rows, held_rows, 5_000, np.random.default_rng(0), by_accuracy=True)
    np.testing.assert_array_equal(off, plain)


def test_scored_rows_for_top_1_stay_within_the_score_budget(monkeypatch):
    # The held-out rows' centroid scores are a float64 (rows, classes) array: the top-1 test's extra rows
    # stop at ACCURACY_MAX_SCORES scores (never below the log-likelihood's rows), so that a fit of 200,000
    # classes does not hold 500 x 200,000 of them (800 MB) and one of a million classes not 4 GB.
    monkeypatch.setattr(blend, "TOP_LABEL", False)  # no rows for the top-label map (tests/test_s37_top_label.py)
    budget = blend.ACCURACY_MAX_SCORES
    for n_classes in (2_000, 25_000, 200_000, 1_000_000):
        codes = np.arange(3 * n_classes) % n_classes
        fit_rows, held_rows = np.arange(2 * n_classes), np.arange(2 * n_classes, 3 * n_classes)
        rng = np.random.default_rng(0)
        more = blend.scored_rows(codes, fit_rows, held_rows, n_classes, rng, by_accuracy=True)
        plain = blend.scored_rows(codes, fit_rows, held_rows, n_classes, np.random.default_rng(0))
        expected = max(blend.blend_rows(n_classes), min(blend.ACCURACY_ROWS, budget // n_classes))
        assert more.shape == (expected,)
        assert more.shape[0] * n_classes <= max(budget, plain.shape[0] * n_classes)
        np.testing.assert_array_equal(more[: plain.shape[0]], plain)
    assert budget // 25_000 >= blend.ACCURACY_ROWS  # every shared set (at most 22,981 classes) keeps 500 rows
