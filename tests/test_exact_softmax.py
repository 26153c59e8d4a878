"""noise=None: the exact softmax reference mode."""

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression

from skxc import AdversarialSoftmaxClassifier
from skxc._kernels.sgd import ADAGRAD_EPS, softmax_epoch
from skxc.datasets import make_hierarchical_classification


def _reference_softmax_step(x, c_pos, W, b, accW, accb, lr, alpha, l2):
    """Slow NumPy reference: one exact-softmax Adagrad step on one dense row."""
    W, b, accW, accb = W.astype(np.float64), b.astype(np.float64), accW.astype(np.float64), accb.astype(np.float64)
    xi = W @ x + b
    C = len(b)
    p = np.exp(xi - logsumexp(xi))
    g = p + 2 * alpha / C * xi
    g[c_pos] -= 1.0
    accb += g**2
    b -= lr * g / np.sqrt(accb + ADAGRAD_EPS)
    nz = np.broadcast_to(x != 0, W.shape)  # every class row, the row's non-zero features
    G = np.outer(g, x) + l2 * W
    accW[nz] += G[nz] ** 2
    W[nz] -= lr * G[nz] / np.sqrt(accW[nz] + ADAGRAD_EPS)
    loss = logsumexp(xi) - xi[c_pos] + alpha / C * np.sum(xi**2)
    return W, b, accW, accb, loss


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_softmax_step_matches_reference(l2):
    rng = np.random.default_rng(0)
    C, K = 7, 5
    x = rng.normal(size=K).astype(np.float32)
    x[1] = 0.0  # a feature the step must not touch
    W = rng.normal(size=(C, K)).astype(np.float32)
    b = rng.normal(size=C).astype(np.float32)
    accW = rng.uniform(0.1, 1, size=(C, K)).astype(np.float32)
    accb = rng.uniform(0.1, 1, size=C).astype(np.float32)
    ref = _reference_softmax_step(x.astype(np.float64), 3, W, b, accW, accb, 0.2, 0.05, l2)
    stats = np.zeros(4)
    Wk, bk, aWk, abk = W.copy(), b.copy(), accW.copy(), accb.copy()
    softmax_epoch(
        np.zeros(1, np.int64),
        np.zeros(0, np.int32),
        x.copy(),
        K,
        np.array([3], np.int32),
        np.ones(1, np.float32),
        np.zeros(0, np.int64),
        np.zeros(1, np.int64),
        Wk.ravel(),
        aWk.ravel(),
        np.zeros(0),
        np.zeros(1),
        K,
        1,
        bk,
        abk,
        0.2,
        0.2,
        0.05,
        l2,
        stats,
    )
    np.testing.assert_allclose(Wk, ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bk, ref[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aWk, ref[2], rtol=1e-5)
    np.testing.assert_allclose(abk, ref[3], rtol=1e-5)
    assert stats[0] == pytest.approx(ref[4], rel=1e-6)


def test_exact_softmax_matches_logistic_regression_accuracy():
    X, y = make_hierarchical_classification(n_samples=3500, n_classes=40, random_state=1)
    Xtr, ytr, Xte, yte = X[:3000], y[:3000], X[3000:], y[3000:]
    lr = LogisticRegression(max_iter=1000).fit(Xtr, ytr).score(Xte, yte)
    clf = AdversarialSoftmaxClassifier(noise=None, max_iter=15, tol=None, random_state=0).fit(Xtr, ytr)
    assert clf.score(Xte, yte) >= lr - 0.03
    # bias correction is a constant: the scores are the raw linear scores shifted by log C
    S = clf.decision_function(Xte[:5])
    raw = Xte[:5].astype(np.float32) @ clf.coef_.T + clf.intercept_
    np.testing.assert_allclose(S - S[:, :1], raw - raw[:, :1], rtol=1e-4, atol=1e-4)
    assert np.isnan(clf.hardness_curve_[-1])


@pytest.mark.parametrize("lr_end", [None, 0.02])
def test_multilabel_examples_match_reference_steps_on_their_rows(lr_end):
    """Multi-label (pick-all-labels): examples (row, label) visited in order == the reference step
    on each example's row with that label (the other labels of the row are not excluded). With
    ``lr_end`` the t-th example of non-zero weight steps with lr + (lr_end - lr) t / m."""
    rng = np.random.default_rng(1)
    C, K, n = 6, 4, 3
    X = rng.normal(size=(n, K)).astype(np.float32)
    example_row = np.array([0, 0, 1, 2, 2, 2], dtype=np.int64)
    codes = np.array([1, 4, 0, 2, 3, 5], dtype=np.int32)
    weight = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0], dtype=np.float32)  # example 5 is skipped
    order = np.array([3, 0, 5, 1, 2, 4, 0], dtype=np.int64)
    W = rng.normal(size=(C, K)).astype(np.float32)
    b = rng.normal(size=C).astype(np.float32)
    accW = rng.uniform(0.1, 1, size=(C, K)).astype(np.float32)
    accb = rng.uniform(0.1, 1, size=C).astype(np.float32)
    lr, alpha = 0.2, 0.05
    ref, loss = [W, b, accW, accb], 0.0
    stepped = order[weight[order] > 0]
    end = lr if lr_end is None else lr_end
    for t, e in enumerate(stepped):
        lr_t = lr + (end - lr) * t / len(stepped)
        *ref, step_loss = _reference_softmax_step(
            X[example_row[e]].astype(np.float64), codes[e], *ref, lr_t, alpha, 0.0
        )
        loss += step_loss
    stats = np.zeros(4)
    Wk, bk, aWk, abk = W.copy(), b.copy(), accW.copy(), accb.copy()
    softmax_epoch(
        np.zeros(1, np.int64), np.zeros(0, np.int32), X.ravel().copy(), K, codes, weight, example_row, order,
        Wk.ravel(), aWk.ravel(), np.zeros(0), np.zeros(1), K, 1, bk, abk, lr, end, alpha, 0.0, stats,
    )  # fmt: skip
    np.testing.assert_allclose(Wk, ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bk, ref[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aWk, ref[2], rtol=1e-5)
    np.testing.assert_allclose(abk, ref[3], rtol=1e-5)
    assert stats[0] == pytest.approx(loss, rel=1e-6)
    assert stats[1] == 6
