"""Numba kernels against slow references: RNG, the negative-sampling SGD step, scoring.

The tree kernels are tested in test_tree.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import _reference as ref
import _reference_tree as ref_tree
import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from scipy import stats

from skxc._kernels.predict import add_csr_scores, search_scratch, top_k_csr
from skxc._kernels.rng import next_below, seed_states
from skxc._kernels.rng import next_double as _next_double
from skxc._kernels.rng import next_uint64 as _next_uint64
from skxc._kernels.sgd import negative_sampling_epoch, sampling_scratch
from skxc._solver import flat_view
from skxc._validation import kernel_rows

pytestmark = pytest.mark.kernel


# Helpers that only kernels call have no Python entry point (NJIT_HELPER): call them from jitted shims.
@numba.njit
def next_uint64(state):
    return _next_uint64(state)


@numba.njit
def next_double(state):
    return _next_double(state)


# -- rng -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 12345, 2**63 + 17, 2**64 - 1])
def test_next_uint64_is_xorshift64star(seed):
    state = np.array([seed], dtype=np.uint64)
    expected = ref.XorShift64Star(seed)
    for _ in range(200):
        assert int(next_uint64(state)) == expected.next_uint64()
        assert int(state[0]) == expected.state  # the state advances in place


def test_next_double_range_mean_variance():
    state = np.array([987654321], dtype=np.uint64)
    n = 100_000
    u = np.array([next_double(state) for _ in range(n)])
    assert u.min() >= 0.0 and u.max() < 1.0
    assert len(np.unique(u)) == n  # no short cycle, the state advances
    # mean 1/2 and variance 1/12 within 5 standard errors
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    # the kernel's doubles are the top 53 bits of the reference generator
    rng = ref.XorShift64Star(987654321)
    assert u[:50].tolist() == [rng.next_double() for _ in range(50)]


_MASK64 = 2**64 - 1


def _undo_xorshift_right(y, k):
    x = y
    for _ in range(64 // k + 1):
        x = y ^ (x >> k)
    return x


def _undo_xorshift_left(y, k):
    x = y
    for _ in range(64 // k + 1):
        x = (y ^ (x << k)) & _MASK64
    return x


def _state_before(output):
    """The xorshift64* state whose next draw (``next_uint64``) returns ``output``."""
    m = 0x2545F4914F6CDD1D
    x = (output * pow(m, -1, 2**64)) & _MASK64  # the state after the shifts
    return _undo_xorshift_right(_undo_xorshift_left(_undo_xorshift_right(x, 27), 25), 12)


def test_next_double_extremes():
    """The kernel maps the largest uint64 draw below 1 (53 bits) and the smallest ones to 0.

    So ``u < p_right`` can never pick a branch of probability 0, and a branch of
    probability 1 is always picked. The states are built by inverting xorshift64*.
    """
    for output, expected in [(_MASK64, 1.0 - 2.0**-53), (2**11 - 1, 0.0), (2**11, 2.0**-53)]:
        seed = _state_before(output)
        assert int(next_uint64(np.array([seed], dtype=np.uint64))) == output  # the inversion is right
        u = next_double(np.array([seed], dtype=np.uint64))
        assert u == expected and 0.0 <= u < 1.0
    assert next_below(np.array([_state_before(_MASK64)], dtype=np.uint64), 7) == 6
    assert next_below(np.array([_state_before(1)], dtype=np.uint64), 7) == 0


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_next_below_uniform(n):
    state = np.array([2024 + n], dtype=np.uint64)
    draws = np.array([next_below(state, n) for _ in range(1000 * n if n > 1 else 100)])
    assert draws.min() >= 0 and draws.max() < n
    if n == 1:
        assert np.all(draws == 0)
        return
    counts = np.bincount(draws, minlength=n)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_seed_states():
    a = seed_states(np.random.default_rng(5), 8)
    b = seed_states(np.random.default_rng(5), 8)
    assert a.shape == (8, 1) and a.dtype == np.uint64 and a[3].flags.c_contiguous
    assert a.strides[0] >= 64  # each thread's state on a cache line of its own
    assert np.all(a != 0)  # xorshift's zero state is absorbing
    assert len(np.unique(a)) == 8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, seed_states(np.random.default_rng(6), 8))


# -- Eq. 6 -----------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 1e-3, 0.5])
def test_eq6_gradient_matches_finite_differences(alpha):
    rng = np.random.default_rng(0)
    for _ in range(5):
        xi_pos, lp_pos = rng.normal(0, 3), -abs(rng.normal(0, 3))
        xi_neg, lp_neg = rng.normal(0, 3, size=3), -np.abs(rng.normal(0, 3, size=3))

        def f(theta, xi_neg=xi_neg, lp_pos=lp_pos, lp_neg=lp_neg):
            return ref.eq6_loss(theta[0], lp_pos, theta[1:], lp_neg, alpha, weight=0.7)

        g_pos, g_neg = ref.eq6_gradient(xi_pos, lp_pos, xi_neg, lp_neg, alpha, weight=0.7)
        fd = ref.finite_difference_gradient(f, np.r_[xi_pos, xi_neg])
        np.testing.assert_allclose(np.r_[g_pos, g_neg], fd, rtol=1e-6, atol=1e-8)


# -- one step of the SGD kernel --------------------------------------------------------

N_CLASSES, N_FEATURES, K = 5, 7, 3


def _problem(seed, order, tree_k, fmt, adagrad="full"):
    """A tiny problem: 4 rows (row 2 is trained), a 5-class tree (3 padding leaves).

    ``acc`` is a float32 (C, K) full Adagrad state, or for ``adagrad="factored"``
    a :class:`_reference.FactoredAcc` of random positive sums.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, N_FEATURES))
    X[:, [1, 4]] = 0.0  # features the step must not touch
    X[2, 5] = 0.0
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    y = np.array([0, 3, 1, 4], dtype=np.int32)
    tree = ref.random_tree(N_CLASSES, tree_k, rng, scale=0.8)
    Z = rng.normal(size=(4, tree_k)).astype(np.float32)
    coef = np.array(0.3 * rng.normal(size=(N_CLASSES, N_FEATURES)), dtype=np.float32, order=order)
    acc = np.array(rng.uniform(0.1, 1.0, size=(N_CLASSES, N_FEATURES)), dtype=np.float32, order=order)
    if adagrad == "factored":
        acc = ref.FactoredAcc(acc.sum(axis=1), acc.sum(axis=0), acc.sum())
    intercept = (0.3 * rng.normal(size=N_CLASSES)).astype(np.float32)
    acc_intercept = rng.uniform(0.1, 1.0, size=N_CLASSES).astype(np.float32)
    return Xin, y, Z, tree, coef, acc, intercept, acc_intercept


def _run_kernel(
    Xin,
    y,
    weight,
    Z,
    tree,
    coef,
    acc,
    intercept,
    acc_intercept,
    rows,
    n_negatives,
    lr,
    alpha,
    seed,
    l2=0.0,
    example_row=None,
    labels=None,
    lr_end=None,
):
    """Call the kernel exactly as skxc/_solver.py does (same dtypes: one signature).

    A :class:`_reference.FactoredAcc` ``acc`` is passed as the kernel's factored
    state and updated from it in place after the call. Multi-label: ``y`` holds
    the examples' classes, ``example_row`` their rows and ``labels`` is the CSR
    indicator matrix Y (its labels are never drawn as negatives).
    """
    if example_row is None:
        example_row = np.zeros(0, dtype=np.int64)
        label_indptr, label_indices = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        row_of = np.arange(y.shape[0])
    else:
        example_row = np.asarray(example_row, dtype=np.int64)
        label_indptr, label_indices = labels.indptr.astype(np.int64), labels.indices.astype(np.int32)
        row_of = example_row
    _, indptr, indices, data, n_dense = kernel_rows(Xin)
    coef_flat, stride_c, stride_j = flat_view(coef)
    if isinstance(acc, ref.FactoredAcc):
        acc_flat = np.zeros(0, dtype=np.float32)
        acc_factors = np.r_[acc.R, acc.S]
        acc_total = np.array([acc.T])
    else:
        acc_flat, a_c, a_j = flat_view(acc)
        assert (a_c, a_j) == (stride_c, stride_j)
        acc_factors, acc_total = np.zeros(0), np.zeros(1)
    state = np.array([seed], dtype=np.uint64)
    out_stats = np.zeros(4, dtype=np.float64)
    sample_weight = np.broadcast_to(np.asarray(weight, dtype=np.float32), y.shape).copy()
    node_weight, node_bias, leaf_class, _ = tree
    log_noise = np.array(
        [
            ref.class_log_proba(Z[row_of[i]], node_weight, node_bias, leaf_class, N_CLASSES)[y[i]]
            for i in range(y.shape[0])
        ]
    )
    negative_sampling_epoch(
        indptr, indices, data, n_dense, y, sample_weight, example_row, label_indptr, label_indices,
        np.asarray(rows, dtype=np.int64), Z, log_noise,
        coef_flat, acc_flat, acc_factors, acc_total, stride_c, stride_j, intercept, acc_intercept,
        node_weight, node_bias, leaf_class, n_negatives, float(lr),
        float(lr if lr_end is None else lr_end), float(alpha), float(l2), state, out_stats,
        *sampling_scratch(n_negatives),
    )  # fmt: skip
    if isinstance(acc, ref.FactoredAcc):
        acc.R[:], acc.S[:], acc.T = acc_factors[:N_CLASSES], acc_factors[N_CLASSES:], float(acc_total[0])
    return state, out_stats


def _ref_state(acc):
    """A float64 copy of a kernel-side Adagrad state for the reference."""
    if isinstance(acc, ref.FactoredAcc):
        return ref.FactoredAcc(acc.R, acc.S, acc.T)
    return acc.astype(np.float64)


def _assert_same_state(got, want, **tol):
    if isinstance(got, ref.FactoredAcc):
        np.testing.assert_allclose(np.r_[got.R, got.S, got.T], np.r_[want.R, want.S, want.T], **tol)
    else:
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("n_negatives", [1, 3])
@pytest.mark.parametrize("tree_k", [0, K], ids=["unconditional", "k3"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("l2", [0.0, 0.2])
@pytest.mark.parametrize("adagrad", ["full", "factored"])
def test_sgd_step_matches_reference(fmt, order, tree_k, n_negatives, l2, adagrad):
    lr, alpha, weight, seed, r = 0.3, 0.05, 0.75, 99991, 2
    Xin, y, Z, tree, coef, acc, intercept, acc_intercept = _problem(1, order, tree_k, fmt, adagrad)
    before = [coef.copy(), _ref_state(acc), intercept.copy(), acc_intercept.copy()]
    state, out_stats = _run_kernel(
        Xin, y, weight, Z, tree, coef, acc, intercept, acc_intercept, [r], n_negatives, lr, alpha, seed, l2
    )
    assert coef.flags[f"{order}_CONTIGUOUS"]  # updated in place, layout kept

    x = (Xin.toarray() if sp.issparse(Xin) else Xin)[r].astype(np.float32).astype(np.float64)
    ref_params = [before[0].astype(np.float64), _ref_state(before[1]), *(a.astype(np.float64) for a in before[2:])]
    rng = ref.XorShift64Star(seed)
    loss, negs, lp_neg = ref.sgd_step(x, y[r], weight, Z[r], *ref_params, tree, n_negatives, lr, alpha, rng, l2)

    for got, want in zip((coef, acc, intercept, acc_intercept), ref_params, strict=True):
        _assert_same_state(got, want, rtol=2e-6, atol=1e-7)
    assert int(state[0]) == rng.state  # one draw per tree level and negative
    xi = before[0].astype(np.float64) @ x + before[2]
    np.testing.assert_allclose(out_stats, [loss, weight, sum(ref.sigmoid(xi[c]) for c in negs), n_negatives], rtol=1e-9)

    # only the rows of the positive and the negatives, and only features with x_j != 0, change
    touched = np.zeros(N_CLASSES, dtype=bool)
    touched[[y[r], *negs]] = True
    assert np.array_equal(coef[~touched], before[0][~touched])
    assert np.array_equal(intercept[~touched], before[2][~touched])
    assert np.array_equal(coef[:, x == 0], before[0][:, x == 0])
    if adagrad == "full":
        assert np.array_equal(acc[~touched], before[1][~touched])
        assert np.array_equal(acc[:, x == 0], before[1][:, x == 0])
    else:  # the sums of untouched classes and features do not change
        assert np.array_equal(acc.R[~touched], before[1].R[~touched])
        assert np.array_equal(acc.S[x == 0], before[1].S[x == 0])
        assert np.all(acc.R[touched] > before[1].R[touched]) and np.all(acc.S[x != 0] > before[1].S[x != 0])
    assert np.all(coef[touched][:, x != 0] != before[0][touched][:, x != 0])


def test_sgd_step_negatives_come_from_sample_leaf():
    """The kernel's negatives are the ones skxc's own sample_leaf draws from a copy of the state."""
    from skxc._kernels.tree import sample_leaf as _sample_leaf

    sample_leaf = numba.njit(lambda z, w, b, state: _sample_leaf(z, w, b, state))

    Xin, y, Z, tree, coef, acc, intercept, acc_intercept = _problem(3, "C", K, "dense")
    seed = 4242
    state = np.array([seed], dtype=np.uint64)
    rng = ref.XorShift64Star(seed)
    for _ in range(20):
        leaf, lp = sample_leaf(Z[1], tree[0], tree[1], state)
        ref_leaf, ref_lp = ref.sample_leaf(Z[1], tree[0], tree[1], rng)
        assert leaf == ref_leaf and tree[2][leaf] >= 0
        assert lp == pytest.approx(ref_lp, rel=1e-9, abs=1e-12)
    assert int(state[0]) == rng.state


@pytest.mark.parametrize("depth", [0, 1, 4, 7])
@pytest.mark.parametrize("k", [0, 3])
@pytest.mark.parametrize("n_draws", [1, 2, 5])
def test_sample_leaves_are_sample_leaf_in_turn(depth, k, n_draws):
    """sample_leaves (the draws side by side) gives the leaves, log-probabilities and final RNG state of
    n_draws calls of sample_leaf one after the other, on sharp and flat trees alike."""
    from skxc._kernels.tree import SAMPLE_SCRATCH_ROWS, sample_leaf, sample_leaves

    one = numba.njit(lambda z, w, b, state: sample_leaf(z, w, b, state))
    several = numba.njit(lambda z, w, b, state, out, lp, s: sample_leaves(z, w, b, state, out, lp, s))
    rng = np.random.default_rng(depth * 10 + k)
    n_inner = 2**depth - 1
    for scale in (0.1, 3.0, 30.0):  # flat (draws spread out) to sharp (draws share their paths)
        w = (scale * rng.standard_normal((n_inner, k))).astype(np.float32)
        b = (scale * rng.standard_normal(n_inner)).astype(np.float32)
        for _ in range(5):
            z = rng.standard_normal(k).astype(np.float32)
            seed = int(rng.integers(1, 2**63))
            state, state_ref = np.array([seed], dtype=np.uint64), np.array([seed], dtype=np.uint64)
            out, lp = np.full(n_draws, -7, dtype=np.int64), np.empty(n_draws)
            several(z, w, b, state, out, lp, np.empty((SAMPLE_SCRATCH_ROWS, n_draws)))
            want = [one(z, w, b, state_ref) for _ in range(n_draws)]
            assert out.tolist() == [leaf for leaf, _ in want]
            assert lp.tolist() == [p for _, p in want]  # bit for bit: the same operations on each draw
            assert state[0] == state_ref[0]


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_sgd_gradients_match_finite_differences(fmt):
    """Gradients the kernel applies (recovered from the Adagrad state) == finite differences of Eq. 6."""
    lr, alpha, weight, r, n_negatives = 0.1, 0.05, 0.75, 2, 2
    Xin, y, Z, tree, coef, acc, intercept, acc_intercept = _problem(2, "C", K, fmt)
    x = (Xin.toarray() if sp.issparse(Xin) else Xin)[r].astype(np.float32).astype(np.float64)
    # a seed whose negatives are distinct and differ from the positive, so every
    # touched row receives exactly one gradient
    for seed in range(1, 1000):
        rng = ref.XorShift64Star(seed)
        draws = [ref.sample_leaf(Z[r], tree[0], tree[1], rng) for _ in range(n_negatives)]
        negs = [int(tree[2][leaf]) for leaf, _ in draws]
        if len(set(negs)) == n_negatives and y[r] not in negs:
            break
    lp_neg = [lp for _, lp in draws]
    lp_pos = ref.leaf_log_proba(Z[r], tree[0], tree[1])[tree[3][y[r]]]
    acc[:] = 0.0
    acc_intercept[:] = 0.0
    coef0, intercept0 = coef.astype(np.float64), intercept.astype(np.float64)
    _, out_stats = _run_kernel(
        Xin, y, weight, Z, tree, coef, acc, intercept, acc_intercept, [r], n_negatives, lr, alpha, seed
    )

    eq6_args = (x, y[r], lp_pos, negs, lp_neg, alpha, weight)
    fd_intercept = ref.check_step_gradients(
        coef0, intercept0, coef, intercept, acc, acc_intercept, out_stats[0], eq6_args
    )
    assert np.count_nonzero(fd_intercept) == 1 + n_negatives


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("adagrad", ["full", "factored"])
@pytest.mark.parametrize("lr_end", [None, 0.05])
def test_sgd_epoch_matches_reference_steps_in_turn(fmt, adagrad, lr_end):
    """A pass over several rows (repeats, zero weights) == the reference steps one after another.

    The kernel draws each row's negatives one row ahead (software pipelining);
    this checks that the draws, the skipped rows and the updates still happen
    exactly as in a plain loop. With ``lr_end`` the t-th row of non-zero weight
    steps with lr + (lr_end - lr) t / m (the linear schedule; weight-0 rows do
    not advance it).
    """
    lr, alpha, n_negatives, seed = 0.3, 0.05, 2, 31337
    Xin, y, Z, tree, coef, acc, intercept, acc_intercept = _problem(5, "F", K, fmt, adagrad)
    weight = np.array([0.5, 0.0, 1.5, 1.0], dtype=np.float32)
    rows = [0, 1, 2, 2, 3, 1, 0, 3, 1]
    params = [coef.astype(np.float64), _ref_state(acc), intercept.astype(np.float64), acc_intercept.astype(np.float64)]
    state, out_stats = _run_kernel(
        Xin, y, weight, Z, tree, coef, acc, intercept, acc_intercept, rows, n_negatives, lr, alpha, seed,
        lr_end=lr_end,
    )  # fmt: skip
    X = (Xin.toarray() if sp.issparse(Xin) else Xin).astype(np.float32).astype(np.float64)
    rng = ref.XorShift64Star(seed)
    loss_sum = 0.0
    stepped = [r for r in rows if weight[r] != 0]
    step_sizes = (
        np.full(len(stepped), lr) if lr_end is None else lr + (lr_end - lr) * np.arange(len(stepped)) / len(stepped)
    )
    for r, lr_t in zip(stepped, step_sizes, strict=True):
        loss, _, _ = ref.sgd_step(X[r], y[r], float(weight[r]), Z[r], *params, tree, n_negatives, lr_t, alpha, rng)
        loss_sum += loss
    for got, want in zip((coef, acc, intercept, acc_intercept), params, strict=True):
        _assert_same_state(got, want, rtol=1e-5, atol=1e-6)
    assert int(state[0]) == rng.state
    assert out_stats[0] == pytest.approx(loss_sum, rel=1e-6)
    assert out_stats[1] == pytest.approx(sum(float(weight[r]) for r in rows))
    assert out_stats[3] == n_negatives * sum(weight[r] > 0 for r in rows)


def test_sgd_zero_weight_rows_are_skipped():
    Xin, y, Z, tree, coef, acc, intercept, acc_intercept = _problem(4, "C", K, "dense")
    before = coef.copy()
    state, out_stats = _run_kernel(Xin, y, 0.0, Z, tree, coef, acc, intercept, acc_intercept, [0, 1, 2], 2, 0.1, 0.0, 7)
    assert np.array_equal(coef, before)
    assert int(state[0]) == 7  # no negatives drawn
    assert np.all(out_stats == 0)


# -- scoring ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"])
def test_add_csr_scores(order):
    rng = np.random.default_rng(0)
    X = sp.random(20, 9, density=0.3, format="csr", random_state=0, dtype=np.float64)
    coef = np.array(rng.normal(size=(6, 9)), dtype=np.float32, order=order)
    Xk, indptr, indices, data, _ = kernel_rows(X)
    coef_flat, stride_c, stride_j = flat_view(coef)
    out = np.full((8, 6), 0.5)
    add_csr_scores(indptr, indices, data, 5, 13, coef_flat, stride_c, stride_j, out)
    expected = 0.5 + Xk[5:13].toarray().astype(np.float64) @ coef.astype(np.float64).T
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def _top_k_problem(n_classes, order, seed):
    """CSR rows with 0 to 6 non-zeros (the fused kernel's special cases and its general path), a tree, a model."""
    rng = np.random.default_rng(seed)
    n, d, kz = 40, 12, 3
    nnz = np.arange(n) % 7
    X = np.zeros((n, d))
    for r in range(n):
        X[r, rng.choice(d, nnz[r], replace=False)] = rng.normal(size=nnz[r])
    X = X.astype(np.float32).astype(np.float64)  # the kernels read float32 data
    node_weight, node_bias, leaf_class, class_leaf = ref.random_tree(n_classes, kz, rng, scale=1.5)
    coef = np.array(rng.normal(size=(n_classes, d)), dtype=np.float32, order=order)
    intercept = rng.normal(size=n_classes).astype(np.float32)
    Z = rng.normal(size=(n, kz)).astype(np.float32)
    scores = X @ coef.astype(np.float64).T + intercept + ref_tree.class_log_proba(node_weight, node_bias, class_leaf, Z)
    return sp.csr_matrix(X), coef, intercept, Z, (node_weight, node_bias, leaf_class, class_leaf), scores


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("n_classes", [2, 7, 64])
def test_top_k_kernels_match_full_sort(n_classes, order, k):
    """Branch and bound returns the exact top k of xi + log p_n, for CSR rows and for dense scores."""
    k = min(k, n_classes)
    X, coef, intercept, Z, tree, scores = _top_k_problem(n_classes, order, seed=n_classes)
    node_weight, node_bias, leaf_class, class_leaf = tree
    expected_class = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    expected_score = np.take_along_axis(scores, expected_class, axis=1)
    _, indptr, indices, data, _ = kernel_rows(X)
    coef_flat, stride_c, stride_j = flat_view(coef)
    start, stop = 3, X.shape[0]  # a row range that does not start at 0
    out_class = np.full((stop - start, k), -1, dtype=np.int64)
    out_score = np.full((stop - start, k), np.nan)
    scratch = (*search_scratch(node_bias, leaf_class, k), np.empty(n_classes))
    top_k_csr(indptr, indices, data, start, stop, coef_flat, stride_c, stride_j, intercept, Z[start:stop],
              node_weight, node_bias, leaf_class, class_leaf, k, out_class, out_score, *scratch)  # fmt: skip
    assert_array_equal(out_class, expected_class[start:stop])
    np.testing.assert_allclose(out_score, expected_score[start:stop], rtol=1e-9, atol=1e-9)
    # dense rows: BLAS scores passed as a feature-major "coef" with one unit non-zero per row
    S = np.asarray(X.toarray().astype(np.float32) @ coef.T, dtype=np.float32)
    n = S.shape[0]
    eye_ptr, eye_idx, eye_val = np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int32), np.ones(n, np.float32)
    out_class = np.full((n, k), -1, dtype=np.int64)
    out_score = np.full((n, k), np.nan)
    top_k_csr(eye_ptr, eye_idx, eye_val, 0, n, S.ravel(), 1, S.shape[1], intercept, Z,
              node_weight, node_bias, leaf_class, class_leaf, k, out_class, out_score, *scratch)  # fmt: skip
    assert_array_equal(out_class, expected_class)
    np.testing.assert_allclose(out_score, expected_score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [1e10, 1e15, 1e25])
def test_top_k_search_at_extreme_activations(scale):
    """Each child's term is log sigmoid(+-a) computed directly. Derived from its sibling (right = left + a),
    the likely child of a node with |a| ~ 1e15 after a moderate step was off by about ulp(|a|) (0.125 at
    1e15, 1e9 at 1e25) and could exceed its parent's log-probability (the bound assumes it does not)."""
    rng = np.random.default_rng(11)
    n_classes, kz, n, k = 23, 3, 30, 4
    node_weight, node_bias, leaf_class, class_leaf = ref.random_tree(n_classes, kz, rng, scale=1.5)
    # about half the nodes (never the root, nor padding nodes) get huge activations, the others keep moderate
    # ones: paths mix steps of log-probability about -1 with steps of |a| ~ scale
    huge = (rng.random(node_bias.shape[0]) < 0.5) & (np.abs(node_bias) < 1e3)
    huge[0] = False
    node_weight[huge] *= np.float32(scale)
    node_bias[huge] *= np.float32(scale)
    Z = rng.normal(size=(n, kz)).astype(np.float32)
    S = rng.normal(size=(n, n_classes)).astype(np.float32)  # raw scores, as the dense path passes them
    intercept = rng.normal(size=n_classes).astype(np.float32)
    log_noise = ref_tree.class_log_proba(node_weight, node_bias, class_leaf, Z)
    expected = S.astype(np.float64) + intercept + log_noise
    assert np.any(np.abs(expected) > scale / 10) and np.any(np.abs(expected) < 10)  # both kinds of classes
    eye_ptr, eye_idx, eye_val = np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int32), np.ones(n, np.float32)
    out_class = np.full((n, k), -1, dtype=np.int64)
    out_score = np.full((n, k), np.nan)
    scratch = (*search_scratch(node_bias, leaf_class, k), np.empty(n_classes))
    top_k_csr(eye_ptr, eye_idx, eye_val, 0, n, S.ravel(), 1, n_classes, intercept, Z,
              node_weight, node_bias, leaf_class, class_leaf, k, out_class, out_score, *scratch)  # fmt: skip
    assert_array_equal(out_class, np.argsort(-expected, axis=1, kind="stable")[:, :k])
    np.testing.assert_allclose(out_score, np.take_along_axis(expected, out_class, axis=1), rtol=1e-12, atol=1e-9)
    # the tree's terms alone (zero raw scores): log p_n <= 0, and the reference's to the same precision
    zero = np.zeros(n_classes, dtype=np.float32)
    top_k_csr(eye_ptr, eye_idx, eye_val, 0, n, np.zeros(n * n_classes, np.float32), 1, n_classes, zero, Z,
              node_weight, node_bias, leaf_class, class_leaf, k, out_class, out_score, *scratch)  # fmt: skip
    assert np.all(out_score <= 0.0)
    np.testing.assert_allclose(out_score, np.take_along_axis(log_noise, out_class, axis=1), rtol=1e-12, atol=1e-12)


# -- compile once ----------------------------------------------------------------------

_COMPILE_ONCE_SCRIPT = textwrap.dedent(
    """
    import importlib, inspect, json, pkgutil, warnings
    import numpy as np, scipy.sparse as sp
    warnings.simplefilter("ignore")
    from numba.core.registry import CPUDispatcher
    import skxc._kernels, skxc._validation
    from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=200, n_features=8, n_classes=6, random_state=0)
    X[np.abs(X) < 0.5] = 0.0
    ro = X.astype(np.float32)
    ro.setflags(write=False)
    ro_csr = sp.csr_matrix(ro)
    for a in (ro_csr.data, ro_csr.indices, ro_csr.indptr):
        a.setflags(write=False)
    w_ro = np.ones(len(y), dtype=np.float32)
    w_ro.setflags(write=False)
    inputs = [X, X.astype(np.float32), np.asfortranarray(X), X.astype(np.int64), ro,
              sp.csr_matrix(X), sp.csr_matrix(X, dtype=np.float32), sp.csc_matrix(X), ro_csr]
    dense_density = skxc._validation.DENSE_DENSITY
    for noise in ("uniform", "adversarial"):
        for Xin in inputs:
            clf = AdversarialSoftmaxClassifier(noise=noise, n_components=3, max_iter=2, random_state=0)
            clf.fit(Xin, y, sample_weight=w_ro)
            clf.partial_fit(Xin, y)
            for density in (dense_density, 1.01):  # CSR rows as dense blocks, then not
                skxc._validation.DENSE_DENSITY = density
                clf.predict(Xin); clf.predict_proba(Xin); clf.predict_top_k(Xin, k=3); clf.decision_function(Xin)
    for Xin in inputs:
        tree = AuxiliaryTree(n_components=3, random_state=0).fit(Xin, y)
        tree.predict_proba(Xin); tree.log_proba_of(Xin, y); tree.sample(Xin, n_samples=2)
    # models loaded read-only (joblib memory maps): their arrays reach the kernels as read-only
    # views, like a fresh model's, so nothing compiles again
    import joblib, os, tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for noise in ("uniform", "adversarial", None):
            for Xin in (X, sp.csr_matrix(X)):
                path = os.path.join(tmp, "model.joblib")
                joblib.dump(AdversarialSoftmaxClassifier(noise=noise, n_components=3, max_iter=1, random_state=0)
                            .fit(Xin, y), path)
                mapped = joblib.load(path, mmap_mode="r")
                assert not mapped.coef_.flags.writeable and not mapped.tree_.node_bias_.flags.writeable
                mapped.predict(Xin); mapped.predict_proba(Xin); mapped.predict_top_k(Xin, k=3)
                mapped.decision_function(Xin); mapped.tree_.sample(Xin, n_samples=2)
                mapped.tree_.log_proba_of(Xin, y); mapped.partial_fit(Xin, y)
                del mapped
    counts = {}
    for info in pkgutil.iter_modules(skxc._kernels.__path__):
        mod = importlib.import_module("skxc._kernels." + info.name)
        for name, obj in vars(mod).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == mod.__name__:
                counts[info.name + "." + name] = [str(s) for s in obj.signatures]
    print(json.dumps(counts))
    """
)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no signatures without the JIT")
def test_kernels_compile_once():
    """Every kernel has one signature after dense, CSR, CSC, float32/64, int, F-ordered and read-only inputs,
    and after a memory-mapped model (joblib.load(..., mmap_mode="r")) predicts and trains.

    Runs in a fresh interpreter so that other tests calling kernels directly do not count.
    """
    proc = subprocess.run([sys.executable, "-c", _COMPILE_ONCE_SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    signatures = json.loads(proc.stdout.strip().splitlines()[-1])
    for kernel in (
        "sgd.negative_sampling_epoch",
        "predict.add_csr_scores",
        "predict.top_k_csr",
        "tree.add_log_noise_rows",
        "tree.log_noise_of_codes",
        "tree.sample_classes",
    ):
        assert len(signatures[kernel]) == 1, (kernel, signatures[kernel])
    several = {k: v for k, v in signatures.items() if len(v) > 1}
    assert not several, several


_SHARED_HELPERS_SCRIPT = textwrap.dedent(
    """
    import json, warnings
    import numpy as np, scipy.sparse as sp
    warnings.simplefilter("ignore")
    from numba.core.registry import CPUDispatcher
    from skxc import AdversarialSoftmaxClassifier
    from skxc._kernels import hashed, sgd

    rng = np.random.default_rng(0)
    X = sp.random(300, 20, density=0.3, format="csr", random_state=0, dtype=np.float32)
    y = rng.integers(0, 6, 300)
    for adagrad in ("factored", "full"):
        for weights in ("dense", "sparse"):
            AdversarialSoftmaxClassifier(weights=weights, adagrad=adagrad, max_iter=1, random_state=0).fit(X, y)
    print(json.dumps({mod.__name__.rsplit(".", 1)[1] + "." + name: [str(s) for s in obj.signatures]
                      for mod in (sgd, hashed) for name, obj in vars(mod).items()
                      if isinstance(obj, CPUDispatcher) and obj.__module__ == mod.__name__}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no signatures without the JIT")
def test_hashed_epoch_shares_the_dense_epochs_helpers(tmp_path):
    """The sparse-weights epoch calls the dense epoch's helpers (``weight_step``...) with the same types:
    after dense and sparse-weights fits, factored and full state, each of them has one signature. So do
    the sparse-weights epoch itself (the same argument types for both states) and its
    ``_resolve_and_score`` (no literal flag).

    An empty cache (helpers loaded with a cached kernel list no signatures), so it compiles: ~30-60 s.
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", _SHARED_HELPERS_SCRIPT], capture_output=True, text=True, timeout=900, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    signatures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert signatures["sgd.weight_step"] and signatures["sgd.intercept_step"]
    assert signatures["sgd.losses_and_gradients"]
    several = {k: v for k, v in signatures.items() if len(v) > 1 and k.startswith("sgd.")}
    assert not several, several
    for kernel in ("hashed.negative_sampling_epoch_hashed", "hashed._resolve_and_score"):
        assert len(signatures[kernel]) == 1, (kernel, signatures[kernel])


# -- garbage collector paused while a kernel compiles ----------------------------------


def _compile_event(status, py_func):
    from numba.core import event

    class Dispatcher:  # what the listener reads of numba's event data
        pass

    dispatcher = Dispatcher()
    dispatcher.py_func = py_func
    return event.Event("numba:compile", status, data={"dispatcher": dispatcher})


def test_collector_pause_nests_and_restores(monkeypatch):
    import gc

    from numba.core.event import EventStatus

    from skxc._config import CollectorPause

    ours = getattr(negative_sampling_epoch, "py_func", negative_sampling_epoch)  # an skxc kernel
    theirs = textwrap.dedent  # anything else
    enabled = [True]
    monkeypatch.setattr(gc, "isenabled", lambda: enabled[0])
    monkeypatch.setattr(gc, "disable", lambda: enabled.__setitem__(0, False))
    monkeypatch.setattr(gc, "enable", lambda: enabled.__setitem__(0, True))
    pause = CollectorPause()
    pause.on_start(_compile_event(EventStatus.START, ours))
    assert not enabled[0]
    pause.on_start(_compile_event(EventStatus.START, theirs))  # a helper or NumPy overload compiling inside it
    pause.on_end(_compile_event(EventStatus.END, theirs))
    assert not enabled[0]
    pause.on_end(_compile_event(EventStatus.END, ours))
    assert enabled[0]
    pause.on_start(_compile_event(EventStatus.START, theirs))  # someone else's function: left alone
    assert enabled[0]
    pause.on_end(_compile_event(EventStatus.END, theirs))
    enabled[0] = False  # switched off by the user: stays off
    pause.on_start(_compile_event(EventStatus.START, ours))
    pause.on_end(_compile_event(EventStatus.END, ours))
    assert not enabled[0] and pause.depth == 0


def test_collector_pause_ignores_functions_without_a_module(monkeypatch):
    import gc

    from numba.core.event import EventStatus

    from skxc._config import CollectorPause

    def generated(x):  # like a function made by exec without __name__ in its globals
        return x

    generated.__module__ = None
    monkeypatch.setattr(gc, "disable", lambda: pytest.fail("paused for a function that is not skxc's"))
    pause = CollectorPause()
    pause.on_start(_compile_event(EventStatus.START, generated))
    pause.on_end(_compile_event(EventStatus.END, generated))
    assert pause.depth == 0


_COLLECTOR_SCRIPT = textwrap.dedent(
    """
    import gc, json
    import numpy as np
    from numba.core import event
    from skxc._kernels.rng import next_below  # importing skxc registers the pause

    seen = []

    class Probe(event.Listener):  # registered after skxc's listener, so it sees the collector's state
        def on_start(self, e):
            seen.append(gc.isenabled())

        def on_end(self, e):
            pass

    event.register("numba:compile", Probe())
    next_below(np.array([7], dtype=np.uint64), 10)
    print(json.dumps([seen, gc.isenabled()]))
    """
)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing compiles without the JIT")
def test_collector_off_while_a_kernel_compiles(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))  # empty cache: next_below compiles
    proc = subprocess.run([sys.executable, "-c", _COLLECTOR_SCRIPT], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen and not any(seen) and after


_TEMPLATE_ORDER_SCRIPT = textwrap.dedent(
    """
    import json, operator
    import numpy as np
    from numba import types
    from numba.core.registry import cpu_target
    from skxc._kernels.rng import next_below  # importing skxc installs numba's typing declarations

    next_below(np.array([7], dtype=np.uint64), 10)  # a cached compile loads numba's implementations
    ctx = cpu_target.typing_context
    templates = ctx._lookup_global(operator.getitem).templates
    array = types.Array(types.float64, 1, "C")
    accepts = [t(ctx).apply((array, types.int64), {}) is not None for t in templates]
    overload = [hasattr(t, "_overload_func") for t in templates]
    print(json.dumps([accepts.index(True), overload.index(True) if True in overload else len(overload)]))
    """
)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing compiles without the JIT")
def test_array_indexing_typed_before_other_overloads(tmp_path):
    # the first cached compile must not put the @overload templates of lists, strings and dicts
    # ahead of the array ones (_config._typing_declarations_first)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), SKXC_NUMBA_CACHE="1")
    proc = subprocess.run([sys.executable, "-c", _TEMPLATE_ORDER_SCRIPT], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    array_template, first_overload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert array_template < first_overload
