"""Where training starts (skxc/_start.py): calibration split, tree temperature, centroid start."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import reference_pair_dots
from scipy.optimize import minimize_scalar
from scipy.special import log_expit, logsumexp

import skxc._start as start_module
import skxc._training as training_module
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._config import PADDING_BIAS
from skxc._start import (
    MIN_CALIBRATION_ROWS,
    SCALES,
    _losses_and_biases,
    _sparse_pair_dots,
    calibration_split,
    choose_centroid_start,
    choose_temperature,
    pair_scores,
    squared_row_norms,
    tempered,
    unit_centroids,
    write_centred,
)
from skxc.datasets import make_hierarchical_classification


def centroid_scores(X, mu, centre) -> np.ndarray:
    """Reference: dense float64 ``(x - centre) @ mu.T`` of the rows of X, every class."""
    S = X @ mu.T
    S = S.toarray() if sp.issparse(S) else np.asarray(S, dtype=np.float64)
    if centre is not None:
        S -= centre @ mu.T
    return S


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_add_entries_adds_each_pair_once_in_any_layout(layout):
    """The centroid start's sparse entries are added through one flat index of coef's memory order: the same
    array as the two-array index, for class-major, feature-major and non-contiguous weights."""
    from skxc._start import add_entries

    rng = np.random.default_rng(0)
    m = sp.coo_matrix(sp.random(7, 11, density=0.4, format="csr", random_state=1))
    base = rng.normal(size=(7, 22)).astype(np.float32)
    coef = np.asarray(base[:, ::2], order="F") if layout == "F" else base[:, ::2].copy()
    if layout == "strided":
        coef = base[:, ::2]  # a view, neither C- nor F-contiguous
    expected = np.array(coef, copy=True)
    values = m.data.astype(np.float32)
    expected[m.row, m.col] += values
    add_entries(coef, m.row, m.col, values)
    np.testing.assert_array_equal(coef, expected)
    assert (coef.flags.c_contiguous, coef.flags.f_contiguous) == {"C": (1, 0), "F": (0, 1), "strided": (0, 0)}[layout]


def test_calibration_split_sizes_and_small_data():
    rng = np.random.default_rng(0)
    fit, held = calibration_split(5000, rng)
    assert held.size == 500 and fit.size == 4500
    assert np.array_equal(np.sort(np.concatenate([fit, held])), np.arange(5000))
    assert np.all(np.diff(fit) > 0) and np.all(np.diff(held) > 0)
    assert calibration_split(10 * MIN_CALIBRATION_ROWS - 1, rng) == (None, None)
    assert calibration_split(10**6, rng)[1].size == 10_000


def test_tempered_scales_logits_but_not_padding():
    weight = np.array([[1.0, -2.0], [0.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    bias = np.array([0.5, -PADDING_BIAS, 2.0], dtype=np.float32)
    w, b = tempered(weight, bias, 0.25)
    np.testing.assert_allclose(w, weight * 0.25)
    np.testing.assert_allclose(b, [0.125, -PADDING_BIAS, 0.5])
    w1, b1 = tempered(weight, bias, 1.0)
    np.testing.assert_array_equal(w1, weight)
    np.testing.assert_array_equal(b1, bias)


def test_choose_temperature_argmax_and_ties_go_to_one():
    assert choose_temperature(lambda t: -((np.log2(t) + 2) ** 2))[0] == 0.25
    assert choose_temperature(lambda t: 0.0)[0] == 1.0  # flat: the tree as fitted


@pytest.mark.parametrize("temperature", [0.3, 1.7])
def test_tempered_tree_is_a_distribution_and_consistent(temperature):
    X, y = make_hierarchical_classification(n_samples=600, n_features=10, n_classes=23, random_state=0)
    tree = AuxiliaryTree(n_components=4, temperature=temperature, random_state=0).fit(X, y)
    assert tree.temperature_ == temperature
    log_p = tree.predict_log_proba(X[:50])
    np.testing.assert_allclose(logsumexp(log_p, axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(
        tree.log_proba_of(X[:50], y[:50]), log_p[np.arange(50), np.searchsorted(tree.classes_, y[:50])], rtol=1e-5
    )
    # multiplying every logit by the temperature: the same tree refitted at 1, then tempered, gives the same arrays
    plain = AuxiliaryTree(n_components=4, temperature=1.0, random_state=0).fit(X, y)
    w, b = tempered(plain.node_weight_, plain.node_bias_, temperature)
    np.testing.assert_allclose(tree.node_weight_, w)
    np.testing.assert_allclose(tree.node_bias_, b)


def test_auto_temperature_smooths_a_tree_that_over_fits():
    """Labels independent of x: the fitted tree can only over-fit; the held-out choice smooths it
    and its log-likelihood on new rows improves (and stays near uniform's)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3000, 20)), rng.integers(0, 300, 3000)
    classes = np.arange(300)
    auto = AuxiliaryTree(n_components=8, random_state=0).fit(X[:2000], y[:2000], classes=classes)
    plain = AuxiliaryTree(n_components=8, temperature=1.0, random_state=0).fit(X[:2000], y[:2000], classes=classes)
    assert auto.temperature_ < 0.2
    ll_auto = auto.log_proba_of(X[2000:], y[2000:]).mean()
    ll_plain = plain.log_proba_of(X[2000:], y[2000:]).mean()
    assert ll_auto > ll_plain + 0.1
    assert ll_auto > -np.log(300) - 0.2


def test_auto_temperature_needs_enough_rows():
    X, y = make_hierarchical_classification(n_samples=500, n_features=10, n_classes=8, random_state=0)
    assert AuxiliaryTree(n_components=4, random_state=0).fit(X, y).temperature_ == 1.0


def _reference_centroids(X, codes, n_classes, w, centre):
    X = np.asarray(X, dtype=np.float64) - (0 if centre is None else centre)
    mu = np.zeros((n_classes, X.shape[1]))
    for i in range(X.shape[0]):
        norm = np.linalg.norm(X[i])
        if norm > 0:
            mu[codes[i]] += w[i] * X[i] / norm
    norms = np.linalg.norm(mu, axis=1)
    return np.where(norms[:, None] > 0, mu / np.where(norms > 0, norms, 1)[:, None], 0.0)


@pytest.mark.parametrize(
    "sparse, block_rows, centred",
    [(False, None, False), (False, 7, False), (False, None, True), (False, 7, True), (True, None, False)],
)
def test_unit_centroids_match_reference(monkeypatch, sparse, block_rows, centred):
    """Dense X is summed per class block by block of rows (block_rows: blocks of 7 rows instead of one); it is
    centred only with ``CENTRE_DENSE`` (not by default: then its centroids are those of the same rows as CSR)."""
    import skxc._start as start

    monkeypatch.setattr(start, "CENTRE_DENSE", centred)
    if block_rows is not None:
        monkeypatch.setattr(
            start, "_blocks", lambda n, n_features: [slice(a, a + block_rows) for a in range(0, n, block_rows)]
        )
    rng = np.random.default_rng(1)
    X = rng.random((60, 7)) * (rng.random((60, 7)) < 0.5)
    X[3] = 0.0  # an all-zero row counts for nothing
    codes = rng.integers(0, 9, 60)
    codes[codes == 8] = 7  # class 8 has no rows: zero centroid
    w = rng.random(60)
    mu, centre = unit_centroids(sp.csr_matrix(X) if sparse else X, codes, 9, w)
    if sparse:
        assert centre is None and sp.issparse(mu)
        mu = mu.toarray()
    elif centred:
        np.testing.assert_allclose(centre, w @ X / w.sum())
    else:
        assert centre is None
        np.testing.assert_allclose(mu, unit_centroids(sp.csr_matrix(X), codes, 9, w)[0].toarray(), atol=1e-12)
    np.testing.assert_allclose(mu, _reference_centroids(X, codes, 9, w, centre), atol=1e-12)
    assert not np.any(mu[8])
    # rows=: the same as computing on the copy X[rows]
    rows = np.sort(rng.choice(60, 40, replace=False))
    Xin = sp.csr_matrix(X) if sparse else X
    sub, sub_centre = unit_centroids(Xin[rows], codes[rows], 9, w[rows])
    by_rows, by_rows_centre = unit_centroids(Xin, codes, 9, w, rows=rows)
    dense = (lambda a: a.toarray()) if sparse else np.asarray
    np.testing.assert_allclose(dense(by_rows), dense(sub), atol=1e-12)
    if centred:
        np.testing.assert_allclose(by_rows_centre, sub_centre)
    else:
        assert by_rows_centre is None and sub_centre is None


@pytest.mark.parametrize("sparse", [False, True])
def test_write_centred_scores_shift_each_row_alike(sparse):
    """The written model's scores are s (x - centre).mu_c + b up to one shift per row."""
    rng = np.random.default_rng(2)
    X = rng.random((40, 6)) + (0.0 if sparse else 3.0)
    codes = rng.integers(0, 5, 40)
    Xin = sp.csr_matrix(X) if sparse else X
    mu, centre = unit_centroids(Xin, codes, 5, np.ones(40))
    coef, intercept = np.zeros((5, 6), dtype=np.float32, order="F"), np.zeros(5, dtype=np.float32)
    write_centred(coef, intercept, (mu, centre), 2.5, bias=-1.0)
    scores = X @ coef.T.astype(np.float64) + intercept
    target = 2.5 * centroid_scores(Xin, mu, centre)
    diff = scores - target
    np.testing.assert_allclose(diff - diff[:, :1], 0.0, atol=1e-4)
    np.testing.assert_allclose(scores.mean(axis=1), -1.0, atol=1e-4)  # each row's scores average the bias


def _eq6(s, b, S, own, neg, L, neg_l, alpha):
    r = np.arange(len(own))
    xp, xn = s * S[r, own] + b, s * np.take_along_axis(S, neg, axis=1) + b
    return np.mean(
        -log_expit(xp) + alpha * (xp + L[r, own]) ** 2 + np.sum(-log_expit(-xn) + alpha * (xn + neg_l) ** 2, axis=1)
    )


def test_choose_centroid_start_minimises_the_held_out_loss():
    """Against a brute-force reference: no grid scale with its best bias has a smaller Eq. 6 loss."""
    rng = np.random.default_rng(3)
    n, n_classes, alpha = 300, 12, 3e-3
    centres = rng.normal(size=(n_classes, 8)) * 2
    codes = rng.integers(0, n_classes, n)
    X = centres[codes] + rng.normal(size=(n, 8))
    mu, centre = unit_centroids(X, codes, n_classes, np.ones(n))
    log_p = np.log(rng.dirichlet(np.ones(n_classes), size=n))  # some fixed noise distribution
    neg = rng.integers(0, n_classes, (n, 2))

    def log_noise(Xb, own):
        return log_p[np.arange(Xb.shape[0]), own]

    def negatives(Xb):
        return neg[: Xb.shape[0]], np.take_along_axis(log_p[: Xb.shape[0]], neg[: Xb.shape[0]], axis=1)

    s, b = choose_centroid_start(X, codes, (mu, centre), log_noise, negatives, 1.0, alpha)
    S = centroid_scores(X, mu, centre)
    S -= S.mean(axis=1, keepdims=True)
    neg_l = np.take_along_axis(log_p, neg, axis=1)
    best = _eq6(s, b, S, codes, neg, log_p, neg_l, alpha)
    for grid_s in SCALES:
        ref = minimize_scalar(
            lambda bb, gs=grid_s: _eq6(gs, bb, S, codes, neg, log_p, neg_l, alpha), bounds=(-50, 50), method="bounded"
        )
        assert best <= ref.fun + 1e-6
    assert s > 0  # well-separated clusters: the centroid start beats zero weights
    assert best < _eq6(0.0, 0.0, S, codes, neg, log_p, neg_l, alpha)


@pytest.mark.parametrize("dense", [True, False])
def test_centroid_start_beats_the_zero_start_on_few_rows_per_class(dense):
    """~3 rows per class: before any SGD step, the centroid start predicts better than p_n alone."""
    X, y = make_hierarchical_classification(n_samples=3000, n_features=40, n_classes=600, random_state=0)
    Xtr = X[:2000] if dense else sp.csr_matrix(X[:2000])
    params = dict(random_state=0, n_jobs=1, n_components=4)
    start = AdversarialSoftmaxClassifier(**params).fit_noise(Xtr, y[:2000], classes=np.arange(600))
    zero = AdversarialSoftmaxClassifier(init="zeros", **params).fit_noise(Xtr, y[:2000], classes=np.arange(600))
    assert start.init_scale_ > 0 and zero.init_scale_ == 0
    assert start.score(X[2000:], y[2000:]) > zero.score(X[2000:], y[2000:]) + 0.04


def test_centroid_start_needs_enough_rows():
    X, y = make_hierarchical_classification(n_samples=500, n_features=10, n_classes=8, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4).fit_noise(X, y)
    assert clf.init_scale_ == 0.0 and not np.any(clf.coef_) and clf.tree_.temperature_ == 1.0


@pytest.mark.parametrize("sparse", [False, True])
def test_pair_scores_match_all_class_scores(sparse):
    """The positive's and negatives' scores alone equal those columns of the all-class scores, row-centred."""
    rng = np.random.default_rng(4)
    X = rng.random((30, 9)) * (rng.random((30, 9)) < 0.6) + (0.0 if sparse else 2.0)
    codes = rng.integers(0, 6, 30)
    Xin = sp.csr_matrix(X) if sparse else X
    mu, centre = unit_centroids(Xin, codes, 6, np.ones(30))
    S = centroid_scores(Xin, mu, centre)
    S -= S.mean(axis=1, keepdims=True)
    pairs = rng.integers(0, 6, (30, 3))
    np.testing.assert_allclose(pair_scores(Xin, mu, centre, pairs), np.take_along_axis(S, pairs, axis=1), atol=1e-12)


@pytest.mark.parametrize("n_rows", [3, 25, 60])
def test_squared_row_norms_of_any_rows(n_rows):
    """Squared row norms of chosen rows of CSR X (repeats and empty rows included), by the all-rows product
    (rows covering half of X or more) and by the gathered entries alike: each the sequential float64 sum
    of its entries' squares, bit for bit."""
    rng = np.random.default_rng(5)
    X = sp.random(40, 30, density=0.3, format="csr", random_state=3, dtype=np.float32)
    X.data *= 1e3
    X[7] = 0.0
    X.eliminate_zeros()
    rows = rng.integers(0, 40, n_rows)
    rows[0] = 7
    expected = np.zeros(n_rows)
    for i, r in enumerate(rows):  # sequential sums from 0, in stored order
        for v in X.data[X.indptr[r] : X.indptr[r + 1]]:
            expected[i] += np.float64(v) * np.float64(v)
    got = squared_row_norms(X, rows)
    assert got.dtype == np.float64 and np.array_equal(got, expected) and got[0] == 0.0
    every = squared_row_norms(X)  # all rows
    assert np.array_equal(every[rows], expected) and every.shape == (40,)
    np.testing.assert_allclose(got, np.linalg.norm(X.toarray().astype(np.float64), axis=1)[rows] ** 2, rtol=1e-12)


def _loss_and_bias_one_scale(s, pos_s, neg_s, pos_l, neg_l, alpha):
    """Reference for one scale: Newton on b (at most 20 steps, stop after a step below 1e-6), then Eq. 6."""
    b = 0.0
    for _ in range(20 if s > 0 else 0):
        xp, xn = s * pos_s + b, s * neg_s + b
        sp_, sn = 1 / (1 + np.exp(xp)), 1 / (1 + np.exp(-xn))
        grad = np.mean(-sp_ + 2 * alpha * (xp + pos_l) + np.sum(sn + 2 * alpha * (xn + neg_l), axis=1))
        hess = np.mean(sp_ * (1 - sp_) + 2 * alpha + np.sum(sn * (1 - sn) + 2 * alpha, axis=1))
        b -= grad / hess
        if abs(grad / hess) < 1e-6:
            break
    return _eq6_mean(s * pos_s + b, s * neg_s + b, pos_l, neg_l, alpha), b


def _eq6_mean(xp, xn, pos_l, neg_l, alpha):
    """Mean over rows of Eq. 6 for the positives' scores xp (n,) and the negatives' xn (n, m)."""
    return np.mean(
        np.logaddexp(0, -xp)
        + alpha * (xp + pos_l) ** 2
        + np.sum(np.logaddexp(0, xn) + alpha * (xn + neg_l) ** 2, axis=1)
    )


@pytest.mark.parametrize("block_entries", [1 << 20, 700])
def test_losses_and_biases_of_all_scales_match_one_scale_at_a_time(block_entries, monkeypatch):
    """The scales' Newton steps taken together (in one block or several) give each scale the bias and held-out
    loss of its own Newton loop; b is the minimiser (the loss's derivative in b is 0 there)."""
    monkeypatch.setattr(start_module, "SCALE_BLOCK_ENTRIES", block_entries)
    rng = np.random.default_rng(3)
    pos_s, neg_s = rng.normal(1.0, 1.0, 200), rng.normal(0.0, 1.0, (200, 3))
    pos_l, neg_l = -rng.gamma(2.0, 2.0, 200), -rng.gamma(2.0, 2.0, (200, 3))
    scales = np.array([0.0, 0.25, 1.0, 4.0, 16.0, 64.0])
    losses, biases = _losses_and_biases(scales, pos_s, neg_s, pos_l, neg_l, 3e-3)
    assert biases[0] == 0.0
    for j, s in enumerate(scales):
        loss, b = _loss_and_bias_one_scale(s, pos_s, neg_s, pos_l, neg_l, 3e-3)
        np.testing.assert_allclose([losses[j], biases[j]], [loss, b], rtol=1e-12, atol=1e-12)
        if s > 0:  # b minimises the loss at this s
            at = [_eq6_mean(s * pos_s + bb, s * neg_s + bb, pos_l, neg_l, 3e-3) for bb in (b - 1e-3, b, b + 1e-3)]
            assert at[1] < min(at[0], at[2])
            np.testing.assert_allclose(at[1], losses[j], rtol=1e-12)


def test_losses_and_biases_stay_finite_without_l2_on_saturated_scores():
    """alpha = 0 (no regularisation) with scales so large that every sigmoid saturates: no curvature in b,
    yet finite losses and biases (the Newton step's floor); the small scales are those of a tiny alpha."""
    rng = np.random.default_rng(4)
    pos_s, neg_s = rng.normal(1.0, 1.0, 100), rng.normal(-1.0, 1.0, (100, 2))
    pos_l, neg_l = -rng.gamma(2.0, 2.0, 100), -rng.gamma(2.0, 2.0, (100, 2))
    scales = np.array([0.0, 0.5, 2.0, 1e4, 1e8])
    with np.errstate(divide="raise", invalid="raise"):  # no division by zero, no invalid value
        losses, biases = _losses_and_biases(scales, pos_s, neg_s, pos_l, neg_l, 0.0)
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(biases))
    tiny_losses, tiny_biases = _losses_and_biases(scales[:3], pos_s, neg_s, pos_l, neg_l, 1e-12)
    np.testing.assert_allclose(losses[:3], tiny_losses, rtol=1e-9)
    np.testing.assert_allclose(biases[:3], tiny_biases, rtol=1e-6, atol=1e-9)
    assert losses[4] > losses[1]  # a saturated scale's loss is large, not chosen


def test_alpha_zero_fits_dense_rows_with_the_centroid_start():
    """alpha=0 ("0 turns it off") on dense rows with a centroid start: a model, not a FloatingPointError."""
    X, y = make_hierarchical_classification(n_samples=1200, n_features=8, n_classes=8, random_state=0)
    off = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, alpha=0.0, n_jobs=1).fit(X, y)
    tiny = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, alpha=1e-12, n_jobs=1).fit(X, y)
    assert np.all(np.isfinite(off.coef_)) and off.init_scale_ == tiny.init_scale_ > 0
    assert np.all(np.isfinite(off.predict_proba(X)))


@pytest.mark.kernel
@pytest.mark.parametrize("sorted_rows", [True, False])
def test_sparse_pair_dots_match_the_row_products(sorted_rows):
    """x_i . mu_c for the named pairs equals the sum of the elementwise product of the two rows (float64),
    with empty rows of X and of mu, a class named many times, features mu lacks, and the rows of X and mu
    stored out of order."""
    rng = np.random.default_rng(7)
    X = sp.random(40, 50, density=0.2, format="csr", random_state=1, dtype=np.float32)
    X[3] = 0.0  # an empty row
    X.eliminate_zeros()
    mu = sp.random(12, 50, density=0.4, format="csr", random_state=2, dtype=np.float64)
    mu[5] = 0.0  # a class without centroid
    mu.eliminate_zeros()
    classes = rng.integers(0, 12, (40, 4))
    classes[:, 3] = 0  # one class for every row

    def reversed_rows(A):  # the same matrix, each row's entries stored in reverse order
        A = A.copy()
        for i in range(A.shape[0]):
            a, b = A.indptr[i], A.indptr[i + 1]
            A.indices[a:b], A.data[a:b] = A.indices[a:b][::-1].copy(), A.data[a:b][::-1].copy()
        A.has_sorted_indices = False
        return A

    Xs, mus = (X, mu) if sorted_rows else (reversed_rows(X), reversed_rows(mu))
    rows = np.repeat(np.arange(40), 4)
    expected = np.asarray(X[rows].multiply(mu[classes.ravel()]).sum(axis=1)).reshape(40, 4)
    got = _sparse_pair_dots(Xs, mus, classes)
    assert got.dtype == np.float64 and got.shape == (40, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    dense = (X.toarray().astype(np.float64) @ mu.toarray().T)[np.arange(40)[:, None], classes]
    np.testing.assert_allclose(got, dense, rtol=1e-12, atol=1e-15)
    assert np.all(got[3] == 0) and np.all(got[classes == 5] == 0)
    assert np.array_equal(_sparse_pair_dots(Xs, sp.csr_matrix((12, 50)), classes), np.zeros((40, 4)))
    # the kernel sums as the vectorised NumPy version did: the same bits
    np.testing.assert_array_equal(got, reference_pair_dots(Xs, mus, classes))


def test_dense_pair_scores_in_blocks_are_the_unblocked_bits(monkeypatch):
    """Dense X: the pairs' copies are made for blocks of rows (at most PAIR_BLOCK_ENTRIES entries each, so
    held-out rows x (1 + negatives) x features never are at once); every block size gives the same bits."""
    rng = np.random.default_rng(0)
    n, C, d, m = 50, 30, 20, 6
    X, mu, centre = rng.normal(size=(n, d)), rng.normal(size=(C, d)), rng.normal(size=d)
    classes = rng.integers(0, C, (n, m))
    rows = np.repeat(np.arange(n), m)
    Xc = X - centre
    expected = np.einsum("ik,ik->i", Xc[rows], mu[classes.ravel()]).reshape(n, m) - (Xc @ mu.mean(axis=0))[:, None]
    full = pair_scores(X, mu, centre, classes)
    np.testing.assert_array_equal(full, expected)
    for entries in (1, m * d, 7 * m * d + 3):  # one row per block, one exactly, blocks of 7 rows with a remainder
        monkeypatch.setattr(start_module, "PAIR_BLOCK_ENTRIES", entries)
        np.testing.assert_array_equal(pair_scores(X, mu, centre, classes), full)


@pytest.mark.kernel
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_pair_dots_kernel_gives_the_bits_of_the_numpy_version(seed):
    """float32 rows and float64 centroids of varied density (some classes with many features, as frequent
    classes have), many pairs per row: the kernel's sums are bit for bit those of the vectorised version."""
    rng = np.random.default_rng(seed)
    n, C, d, m = 300, 60, 400, 7
    X = sp.random(n, d, density=0.03, format="csr", random_state=seed, dtype=np.float32)
    dens = rng.uniform(0.001, 0.6, size=C)
    mu = sp.vstack([sp.random(1, d, density=q, format="csr", random_state=seed + 10 + c) for c, q in enumerate(dens)])
    mu = sp.csr_matrix(mu)
    classes = rng.integers(0, C, (n, m))
    got = _sparse_pair_dots(X, mu, classes)
    np.testing.assert_array_equal(got, reference_pair_dots(X, mu, classes))
    assert np.count_nonzero(got) > n  # products found


def _stream_halves(n_classes=600, sparse=False, multilabel=False):
    """Rows of ``make_hierarchical_classification`` (about 5 per class): a first batch with 80 % of the
    rows of the classes below n_classes / 2, then a batch of the other rows."""
    X, y = make_hierarchical_classification(n_samples=3000, n_features=40, n_classes=n_classes, random_state=0)
    X = sp.csr_matrix(X) if sparse else X
    old = y < n_classes // 2
    first = np.flatnonzero(old)[: int(old.sum() * 0.8)]
    second = np.setdiff1d(np.arange(3000), first)
    if multilabel:  # each row also carries the label after its own (mod C)
        Y = sp.csr_matrix((np.ones(2 * y.size), (np.repeat(np.arange(y.size), 2), np.c_[y, (y + 1) % n_classes].ravel())),
                          shape=(y.size, n_classes))  # fmt: skip
        Y[first[:, None], ((y[first] + 1) % n_classes)[:, None]] = 0  # the first batch: only classes < C / 2
        Y.eliminate_zeros()
        return X, Y, first, second
    return X, y, first, second


def _effective_weights(clf):
    """Dense float64 class x feature weights of the scores: coef_ plus the sparse layout's common term."""
    coef = clf.coef_.toarray() if sp.issparse(clf.coef_) else np.asarray(clf.coef_)
    shared = getattr(clf, "_shared_coef", None)
    return coef.astype(np.float64) + (0.0 if shared is None else shared.astype(np.float64))


def _unit_row_sums(X, rows, labels, n_classes, centre):
    """Reference: per class, the sum of the L2-normalised rows ``X[rows]`` (minus ``centre``) of its labels."""
    Xb = np.asarray(X[rows].toarray() if sp.issparse(X) else X[rows], dtype=np.float64)
    Xb = Xb - (0.0 if centre is None else centre)
    sums = np.zeros((n_classes, Xb.shape[1]))
    np.add.at(sums, labels, Xb / np.linalg.norm(Xb, axis=1, keepdims=True))
    return sums


def _examples(y, rows, multilabel):
    """(row positions within ``rows``, labels) of the examples of ``y[rows]``."""
    if multilabel:
        pairs = sp.coo_matrix(y[rows])
        return pairs.row, pairs.col
    return np.arange(len(rows)), y[rows]


def _unit(sums):
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


@pytest.mark.usefixtures("sparse_paths")
@pytest.mark.parametrize(
    "sparse, weights, multilabel, centred",
    [(False, "dense", False, False), (False, "dense", False, True), (True, "dense", False, False),
     (True, "sparse", False, False), (True, "sparse", True, False)],
)  # fmt: skip
def test_partial_fit_start_follows_the_rows(sparse, weights, multilabel, centred, monkeypatch):
    """After fit_noise, each partial_fit moves every class's centroid start to include its rows there:
    init_scale_ x unit(sum of the class's normalised rows so far) (dense X: about the start's centre), the
    mean over the classes subtracted as the start writes it; a class without rows before gets its start.
    (A learning rate of 1e-9: training moves no weight visibly; every class followed, whatever its rows.)"""
    monkeypatch.setattr(training_module, "START_FOLLOW_ROWS", np.inf)
    monkeypatch.setattr(start_module, "CENTRE_DENSE", centred)
    X, y, first, second = _stream_halves(sparse=sparse, multilabel=multilabel)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, weights=weights, learning_rate=1e-9)
    classes = None if multilabel else np.arange(600)
    clf.fit_noise(X[first], y[first], classes=classes)
    s, centre = clf.init_scale_, clf._start_centre
    assert s > 0 and (centre is None) == (not centred)
    at, labels = _examples(y, first, multilabel)
    before_sums = _unit_row_sums(X, first[at], labels, 600, centre)
    np.testing.assert_allclose(_dense(clf._start_sums), before_sums, atol=1e-10)
    before, intercept = _effective_weights(clf), clf.intercept_.astype(np.float64)
    clf.partial_fit(X[second], y[second], classes=classes)
    at, labels = _examples(y, second, multilabel)
    after_sums = before_sums + _unit_row_sums(X, second[at], labels, 600, centre)
    np.testing.assert_allclose(_dense(clf._start_sums), after_sums, atol=1e-10)
    change = s * (_unit(after_sums) - _unit(before_sums))
    assert np.abs(change[:300]).max() > 0.01 and np.abs(change[300:]).max() > 0.01  # old and new classes move
    change -= change.mean(axis=0)
    np.testing.assert_allclose(_effective_weights(clf), before + change, atol=1e-5)
    np.testing.assert_allclose(clf.intercept_, intercept - (0.0 if centre is None else change @ centre), atol=1e-5)


def _dense(a):
    return np.asarray(a) if isinstance(a, np.ndarray) else a.toarray()


def _long_tail_text(C=600, K=2000, per=4, seed=0):
    """Sparse rows of ``per`` per class: the class's sparse prototype plus sparse noise (tf-idf-like)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(C), per))
    proto = sp.random(C, K, density=0.005, random_state=seed + 1, format="csr")
    X = sp.csr_matrix(sp.random(y.size, K, density=0.003, random_state=seed + 2, format="csr") + proto[y])
    return X, y


def test_streaming_from_a_sample_predicts_better_when_the_start_follows(monkeypatch):
    """Long tail (5 rows per class), the tree and start fitted on a sample of half the classes: the
    classes first seen in the stream are predicted far better when the start follows the stream's rows
    than from zero weights (one held-out row per class)."""
    X, y = _long_tail_text(per=5)
    first_rows = np.unique(y, return_index=True)[1]
    test, rest = first_rows, np.setdiff1d(np.arange(y.size), first_rows)
    sample = rest[y[rest] < 300]
    stream = np.random.default_rng(1).permutation(np.setdiff1d(rest, sample))
    new = test[y[test] >= 300]

    def streamed():
        clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, n_jobs=1)
        clf.fit_noise(X[sample], y[sample], classes=np.arange(600))
        assert clf.init_scale_ > 0
        for batch in np.array_split(stream, 3):
            clf.partial_fit(X[batch], y[batch])
        return clf.score(X[new], y[new])

    with_start = streamed()
    monkeypatch.setattr(AdversarialSoftmaxClassifier, "_start_follows", lambda *args: None)
    without = streamed()
    assert with_start > 0.7 and with_start > without + 0.3, (with_start, without)


@pytest.mark.usefixtures("sparse_paths")
@pytest.mark.parametrize(
    "sparse, weights, multilabel, centred",
    [(False, "dense", False, False), (False, "dense", False, True), (True, "dense", False, False),
     (True, "sparse", False, False), (True, "sparse", True, False)],
)  # fmt: skip
def test_a_stream_whose_first_rows_are_too_few_chooses_its_start_later(
    sparse, weights, multilabel, centred, monkeypatch
):
    """A first call of 500 rows cannot hold out rows for the centroid start: the weights start at zero and the
    class sums are kept. The next call (851 rows: 1,351 so far) only adds its rows to the sums. The call after
    it holds out its rows of classes seen before: the scale is chosen on them against the centroids of the rows
    before, and the weights become that start of all rows so far (the start, then this call's move).
    (A learning rate of 1e-9: training moves no weight visibly; every class followed.)"""
    monkeypatch.setattr(training_module, "START_FOLLOW_ROWS", np.inf)
    monkeypatch.setattr(start_module, "CENTRE_DENSE", centred)
    X, y, first, second = _stream_halves(sparse=sparse, multilabel=multilabel)
    calls = [first[:500], first[500:], second]
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, weights=weights, learning_rate=1e-9)
    classes = None if multilabel else np.arange(600)
    chosen = []
    real = training_module.held_out_start

    def recorded(X_held, codes_held, sums, *args):
        chosen.append((X_held, codes_held, _dense(sums).copy()))
        return real(X_held, codes_held, sums, *args)

    monkeypatch.setattr(training_module, "held_out_start", recorded)
    clf.partial_fit(X[calls[0]], y[calls[0]], classes=classes)
    centre = clf._start_centre
    if not centred:  # sparse rows, or dense rows as they are (CENTRE_DENSE)
        assert centre is None
    else:  # the first call's column mean
        np.testing.assert_allclose(centre, np.asarray(X[calls[0]]).mean(axis=0), atol=1e-12)
    sums = np.zeros((600, X.shape[1]))
    for k, rows in enumerate(calls):
        if k:
            clf.partial_fit(X[rows], y[rows])
        at, labels = _examples(y, rows, multilabel)
        before, sums = sums, sums + _unit_row_sums(X, rows[at], labels, 600, centre)
        np.testing.assert_allclose(_dense(clf._start_sums), sums, atol=1e-10)
        if k < 2:
            assert clf.init_scale_ == 0 and not chosen
            assert np.abs(_effective_weights(clf)).max() < 1e-5
    s = clf.init_scale_
    assert s > 0 and clf._start_chosen == len(first) and len(chosen) == 1
    X_held, codes_held, held_sums = chosen[0]
    at, labels = _examples(y, second, multilabel)
    known = np.flatnonzero(np.isin(labels, np.flatnonzero(np.abs(before).sum(axis=1) > 0)))
    assert known.size >= 100
    np.testing.assert_array_equal(codes_held, labels[known])  # the held-out rows: this call's, of classes seen before
    np.testing.assert_array_equal(_dense(X_held), _dense(X[second[at[known]]]))
    np.testing.assert_allclose(held_sums, before, atol=1e-10)  # scored against the rows before
    start = s * (_unit(sums) - _unit(sums).mean(axis=0))
    weights = _effective_weights(clf)
    np.testing.assert_allclose(weights, start, atol=1e-5)
    np.testing.assert_allclose(clf.intercept_, 0.0 if centre is None else -(start @ centre), atol=1e-5)


@pytest.mark.usefixtures("sparse_paths")
@pytest.mark.parametrize("sparse", [False, True])
def test_the_scale_is_chosen_again_when_the_rows_double(sparse, monkeypatch):
    """fit_noise on 1,351 rows chooses the scale s; a partial_fit bringing the rows summed to 3,000 moves the
    start only; the next call (rows summed: 2.2x those at the choice) chooses the scale again on its rows of
    classes that still follow, against the centroids of the rows before it, and every following class's start
    is at the new scale: the weights are s' x unit(sums) (centred). (A learning rate of 1e-9; every class follows.)"""
    monkeypatch.setattr(training_module, "START_FOLLOW_ROWS", np.inf)
    X, y, first, second = _stream_halves(sparse=sparse)
    chosen = []
    real = training_module.held_out_start

    def recorded(X_held, codes_held, sums, *args):
        chosen.append((X_held, codes_held, _dense(sums).copy()))
        scale, bias = real(X_held, codes_held, sums, *args)
        return 1.5 * scale, bias  # a scale other than the first

    monkeypatch.setattr(training_module, "held_out_start", recorded)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, learning_rate=1e-9)
    clf.fit_noise(X[first], y[first], classes=np.arange(600))
    s = clf.init_scale_
    assert s > 0 and clf._start_chosen == len(first)
    clf.partial_fit(X[second], y[second])
    assert not chosen and clf.init_scale_ == s and clf._start_seen == 3000
    centre = clf._start_centre
    sums = _unit_row_sums(X, np.r_[first, second], y[np.r_[first, second]], 600, centre)
    clf.partial_fit(X[second], y[second])
    assert len(chosen) == 1 and clf._start_chosen == 3000
    X_held, codes_held, held_sums = chosen[0]
    np.testing.assert_allclose(held_sums, sums, atol=1e-10)  # the centroids of the rows before this call
    np.testing.assert_array_equal(codes_held, y[second][:1000])  # its rows (at most 1,000), all of following classes
    np.testing.assert_array_equal(_dense(X_held), _dense(X[second[:1000]]))
    new = clf.init_scale_
    assert new != s and new > 0
    sums = sums + _unit_row_sums(X, second, y[second], 600, centre)
    weights = _effective_weights(clf)
    start = new * _unit(sums)
    np.testing.assert_allclose(weights - weights.mean(axis=0), start - start.mean(axis=0), atol=1e-5)


def test_a_late_start_that_chooses_zero_drops_the_sums(monkeypatch):
    """When the late choice finds no scale better than zero weights, the stream goes on from them and keeps
    no sums (as fit's calibration leaves the zero start)."""
    X, y, first, second = _stream_halves()
    monkeypatch.setattr(training_module, "held_out_start", lambda *args: (0.0, 0.0))
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4)
    clf.partial_fit(X[first[:950]], y[first[:950]], classes=np.arange(600))
    assert clf._start_seen == 950 and clf._start_chosen == 0
    clf.partial_fit(X[second], y[second])
    assert clf.init_scale_ == 0
    assert not any(hasattr(clf, name) for name in ("_start_sums", "_start_rows", "_start_seen", "_start_chosen"))
    clf.partial_fit(X[second], y[second])  # streams on
    assert clf.n_iter_ == 3


def test_streaming_in_small_batches_predicts_better_with_the_late_start(monkeypatch):
    """Long tail (5 rows per class) streamed in batches of 300 rows: none can hold out rows for the start
    at once, and without the late start the weights train from zero; with it, held-out rows of the
    classes are predicted far better (one held-out row per class)."""
    X, y = _long_tail_text(per=5)
    test = np.unique(y, return_index=True)[1]
    stream = np.random.default_rng(1).permutation(np.setdiff1d(np.arange(y.size), test))

    def streamed():
        clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, n_jobs=1)
        for batch in np.array_split(stream, 8):
            clf.partial_fit(X[batch], y[batch], classes=np.arange(600))
        return clf.score(X[test], y[test]), clf.init_scale_

    late, s = streamed()
    monkeypatch.setattr(training_module, "LATE_START", False)
    without, s0 = streamed()
    assert s > 0 and s0 == 0
    assert late > 0.6 and late > without + 0.3, (late, without)


def test_models_without_start_sums_stream_on():
    """A model without the class sums (``fit``, or pickled before they were kept) continues partial_fit
    with its start as it is."""
    X, y, first, second = _stream_halves()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, learning_rate=1e-9)
    clf.fit_noise(X[first], y[first], classes=np.arange(600))
    del clf._start_sums
    before = _effective_weights(clf)
    clf.partial_fit(X[second], y[second])
    np.testing.assert_allclose(_effective_weights(clf), before, atol=1e-5)
    assert not hasattr(clf, "_start_sums")
    fitted = AdversarialSoftmaxClassifier(random_state=0, n_components=4, max_iter=1).fit(X, y)
    assert not hasattr(fitted, "_start_sums")  # fit keeps no sums


def test_a_class_with_enough_rows_keeps_its_start(monkeypatch):
    """From START_FOLLOW_ROWS rows on, a class's start (its sums and weights) no longer follows the stream."""
    monkeypatch.setattr(training_module, "START_FOLLOW_ROWS", 4)
    X, y, first, second = _stream_halves()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, learning_rate=1e-9)
    clf.fit_noise(X[first], y[first], classes=np.arange(600))
    rows = np.bincount(y[first], minlength=600)
    np.testing.assert_array_equal(clf._start_rows, rows)
    sums, before = clf._start_sums.copy(), _effective_weights(clf)
    clf.partial_fit(X[second], y[second])
    kept = rows >= 4
    followed = ~kept & (np.bincount(y[second], minlength=600) > 0)
    assert kept.sum() > 20 and followed.sum() > 100
    np.testing.assert_array_equal(clf._start_sums[kept], sums[kept])
    assert (np.abs(clf._start_sums[followed] - sums[followed]).max(axis=1) > 0).all()
    moved = _effective_weights(clf) - before
    moved -= moved[np.flatnonzero(kept)[0]]  # the common term moves every class alike: a kept class's move
    assert np.abs(moved[kept]).max() < 1e-5 < np.abs(moved[followed]).max(axis=1).min()
    np.testing.assert_array_equal(clf._start_rows, rows + np.bincount(y[second], minlength=600))


def test_a_warm_fit_of_a_streamed_model_moves_its_start_too(monkeypatch):
    """A warm ``fit`` of a model started by partial_fit adds its rows to the start's class sums."""
    monkeypatch.setattr(training_module, "START_FOLLOW_ROWS", np.inf)
    X, y, first, second = _stream_halves()
    classes = np.unique(y)  # all of them in fit's y: fit continues the streamed model
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, max_iter=1, warm_start=True)
    clf.partial_fit(X[first], y[first], classes=classes)
    assert clf.init_scale_ > 0
    tree, sums = clf.tree_, clf._start_sums.copy()
    clf.fit(X, y)
    assert clf.tree_ is tree  # warm
    codes = np.searchsorted(classes, y)
    np.testing.assert_allclose(
        clf._start_sums, sums + _unit_row_sums(X, np.arange(len(y)), codes, len(classes), clf._start_centre), atol=1e-10
    )


def test_ctrl_c_while_the_start_moves_moves_it_whole(monkeypatch):
    """Ctrl-C during the start's move: the move completes (the class sums and the weights agree), then
    partial_fit raises KeyboardInterrupt before the batch trains."""
    import signal

    monkeypatch.setattr(training_module, "START_FOLLOW_ROWS", np.inf)
    X, y, first, second = _stream_halves()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, learning_rate=1e-9)
    clf.fit_noise(X[first], y[first], classes=np.arange(600))
    real = training_module.start_change

    def interrupted(*args):
        signal.raise_signal(signal.SIGINT)  # as a user's Ctrl-C, in the middle of the move
        return real(*args)

    monkeypatch.setattr(training_module, "start_change", interrupted)
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X[second], y[second])
    assert clf.n_iter_ == 0  # the batch did not train
    s, centre = clf.init_scale_, clf._start_centre
    at, labels = _examples(y, first, False)
    before_sums = _unit_row_sums(X, first[at], labels, 600, centre)
    after_sums = before_sums + _unit_row_sums(X, second, y[second], 600, centre)
    np.testing.assert_allclose(clf._start_sums, after_sums, atol=1e-10)
    start = s * (_unit(after_sums) - _unit(after_sums).mean(axis=0))  # the weights: the start of all rows
    np.testing.assert_allclose(
        _effective_weights(clf) - _effective_weights(clf).mean(axis=0), start - start.mean(axis=0), atol=1e-5
    )
