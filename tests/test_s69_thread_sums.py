"""Stop 69: with several threads, each thread's own factored Adagrad sums R and S within a piece of an epoch
(``skxc._solver.THREAD_SUMS``), their increments added to the state after it."""

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._solver as solver_module
from skxc import AuxiliaryTree
from skxc._kernels.sgd import ADAGRAD_EPS
from skxc._predict import log_noise_of
from skxc._solver import Rows, SGDParams, sgd_epoch
from skxc._state import AdagradState
from skxc._weights import HashedWeights

C, K, GROUP = 12, 40, 6


def _rows(n=600, seed=0):
    """Rows whose first half has classes 0-5 and second half classes 6-11, all on the same features: two
    threads (each takes one half of the order) then step disjoint weights and intercepts but the same S_j."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, K, density=0.2, random_state=seed, format="csr", dtype=np.float32)
    X.sort_indices()
    y = np.r_[rng.integers(0, GROUP, n // 2), rng.integers(GROUP, C, n - n // 2)].astype(np.int32)
    tree = AuxiliaryTree(n_components=2, random_state=0).fit(X, y)
    Z = tree.transform(X)
    rows = Rows(X.indptr.astype(np.int64), X.indices, X.data, 0, y, np.ones(n, np.float32), Z,
                log_noise_of(Z, y, tree.arrays, 1))  # fmt: skip
    return rows, tree.arrays


def _model(layout, state_rng):
    """Weights, intercepts and a factored state, not zero (a later epoch's state)."""
    sums = AdagradState.zeros("factored", C, K)
    sums.factor_sums[:] = state_rng.uniform(0.5, 2.0, sums.factor_sums.shape)
    sums.factor_sums[-1] = sums.factor_sums[:C].sum()
    if layout == "dense":
        return np.zeros((C, K), np.float32, order="F"), np.zeros(C, np.float32), sums
    return HashedWeights((C, K), 4096, False), np.zeros(C, np.float32), sums


def _dense(coef):
    return coef.to_csr()[0].toarray() if isinstance(coef, HashedWeights) else coef


def _reference(rows, part, coef, b, acc_b, R, S, T, lr, alpha, share):
    """NumPy reference of one thread's steps over the rows ``part`` without negatives (float64, in place): Eq. 6's
    positive term, the intercept's Adagrad step, then each feature's factored step with the squared gradient
    counted ``share`` times in R_c, S_j and T; returns T."""
    for r in part:
        c, lo, hi = rows.codes[r], rows.indptr[r], rows.indptr[r + 1]
        j, v = rows.indices[lo:hi], rows.data[lo:hi].astype(np.float64)
        xi = coef[c, j] @ v + b[c]
        g = -1.0 / (1.0 + np.exp(xi)) + 2.0 * alpha * (xi + rows.log_noise[r])
        acc_b[c] += g * g
        b[c] -= lr * g / np.sqrt(acc_b[c] + ADAGRAD_EPS)
        for jj, vv in zip(j, v, strict=True):
            gj = g * vv
            R[c] += share * gj * gj
            S[jj] += share * gj * gj
            T += share * gj * gj
            coef[c, jj] -= lr * gj / np.sqrt(R[c] * S[jj] / T + ADAGRAD_EPS)
    return T


@pytest.mark.kernel
@pytest.mark.parametrize("layout", ["dense", "hashed"])
def test_each_thread_steps_with_its_own_sums(layout):
    """Two threads, no negatives (no draws), classes apart: each thread's half is trained as the NumPy reference
    trains it alone from the state before the epoch, with its squared gradients counted twice in its own R, S and
    T; after the epoch R_c is its thread's, and S and T the state's plus half of each thread's increments. With
    shared sums (the other thread's increments of S_j seen at once, each counted once) this fails."""
    rows, tree = _rows()
    lr, alpha = 0.3, 3e-3
    params = SGDParams(False, 0, lr, alpha, 0.0)
    order = np.arange(rows.n_samples, dtype=np.int64)
    half = order.shape[0] // 2
    coef, b, state = _model(layout, np.random.default_rng(1))
    before = state.factor_sums.copy()
    sgd_epoch(coef, b, state, params, rows, tree, order, np.random.default_rng(0), 2)
    if layout == "hashed":
        assert coef.capacity == 4096  # one round: no growth between the threads' steps
    W, bias, acc_b = np.zeros((C, K)), np.zeros(C), np.zeros(C)
    R = before[:C].copy()
    increments = []
    for part in (order[:half], order[half:]):
        S_own = before[C:-1].copy()
        T = _reference(rows, part, W, bias, acc_b, R, S_own, before[-1], lr, alpha, 2.0)
        increments.append((S_own - before[C:-1], T - before[-1]))
    np.testing.assert_allclose(_dense(coef), W, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(b, bias, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(state.intercept_sums, acc_b, rtol=2e-4)
    np.testing.assert_allclose(state.factor_sums[:C], before[:C] + (R - before[:C]) / 2, rtol=1e-6)
    np.testing.assert_allclose(state.factor_sums[C:-1], before[C:-1] + sum(dS for dS, _ in increments) / 2,
                               rtol=1e-6)  # fmt: skip
    assert state.factor_sums[-1] == pytest.approx(before[-1] + sum(dT for _, dT in increments) / 2, rel=1e-6)


@pytest.mark.kernel
@pytest.mark.parametrize("layout", ["dense", "hashed"])
def test_the_sums_stay_consistent_with_negatives(layout):
    """With negatives (threads stepping the same classes' rows): every squared gradient is counted once in R,
    once in S and once in T, as with one thread: sum(R) = sum(S) = T, the state before included."""
    rows, tree = _rows(seed=3)
    params = SGDParams(False, 3, 0.3, 3e-3, 0.0)
    order = np.random.default_rng(2).permutation(rows.n_samples).astype(np.int64)
    coef, b, state = _model(layout, np.random.default_rng(4))
    state.factor_sums[C:-1] *= state.factor_sums[:C].sum() / state.factor_sums[C:-1].sum()  # sum(S) = T too
    before_total = state.factor_sums[-1]
    for seed in range(3):
        stats = sgd_epoch(coef, b, state, params, rows, tree, order, np.random.default_rng(seed), 2)
        assert np.isfinite(stats.loss)
    R, S, T = state.factor_sums[:C], state.factor_sums[C:-1], state.factor_sums[-1]
    assert T > before_total
    assert R.sum() == pytest.approx(T, rel=1e-9) and S.sum() == pytest.approx(T, rel=1e-9)


@pytest.mark.kernel
def test_one_thread_is_the_same_either_way(monkeypatch):
    """One thread steps with the state itself whatever THREAD_SUMS is: the same bits."""
    rows, tree = _rows(seed=5)
    params = SGDParams(False, 2, 0.3, 3e-3, 0.01)
    order = np.random.default_rng(6).permutation(rows.n_samples).astype(np.int64)
    results = []
    for flag in (True, False):
        monkeypatch.setattr(solver_module, "THREAD_SUMS", flag)
        coef, b, state = _model("dense", np.random.default_rng(7))
        sgd_epoch(coef, b, state, params, rows, tree, order, np.random.default_rng(8), 1)
        results.append((coef, b, state.factor_sums))
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.kernel
def test_the_sums_of_steps_taken_are_kept_when_a_thread_raises(monkeypatch):
    """A kernel call that raised after its steps (fan_out lets the other threads' running pieces end first): the
    steps are in the weights, and their squared gradients in the state (sum(R) = sum(S) = T, above where it
    started), not dropped with the threads' own sums."""
    rows, tree = _rows(seed=4)
    params = SGDParams(False, 2, 0.3, 3e-3, 0.0)
    order = np.random.default_rng(3).permutation(rows.n_samples).astype(np.int64)
    coef, b, state = _model("dense", np.random.default_rng(5))
    state.factor_sums[C:-1] *= state.factor_sums[:C].sum() / state.factor_sums[C:-1].sum()
    before_total = state.factor_sums[-1]
    real = solver_module.negative_sampling_epoch

    def kernel(*args):
        real(*args)
        raise RuntimeError("after the steps")

    monkeypatch.setattr(solver_module, "negative_sampling_epoch", kernel)
    with pytest.raises(RuntimeError, match="after the steps"):
        sgd_epoch(coef, b, state, params, rows, tree, order, np.random.default_rng(0), 2)
    assert np.any(coef != 0)
    R, S, T = state.factor_sums[:C], state.factor_sums[C:-1], state.factor_sums[-1]
    assert T > before_total
    assert R.sum() == pytest.approx(T, rel=1e-9) and S.sum() == pytest.approx(T, rel=1e-9)
