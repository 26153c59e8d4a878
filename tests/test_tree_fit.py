"""Tests of the greedy tree fit (``skxc._tree_fit`` and ``skxc._kernels.tree_fit``)."""

import math

import _reference_tree as ref
import numpy as np
import pytest
from scipy.special import logsumexp

from skxc._config import PADDING_BIAS
from skxc._kernels import tree_fit as K
from skxc._tree_fit import _fit_tree, class_segments, fit_tree, tree_depth

# ---------------------------------------------------------------------------
# helpers


def _random_data(n, k, n_classes, seed, classes_used=None):
    """Gaussian class clusters; classes >= ``classes_used`` get no rows."""
    rng = np.random.default_rng(seed)
    used = n_classes if classes_used is None else classes_used
    means = rng.normal(scale=2.0, size=(used, k))
    y = rng.integers(0, used, size=n)
    Z = (means[y] + rng.normal(size=(n, k))).astype(np.float32)
    return Z, y


def _node_data(Z, y, n_classes, sample_weight=None):
    """Class-sorted kernel inputs for a root node holding all classes."""
    class_ptr, order = K.sort_rows_by_class(np.asarray(y, dtype=np.int32), n_classes)
    Zs = np.ascontiguousarray(Z[order])
    ws = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[order]
    S, cnt = K.class_sums(Zs, ws, class_ptr)
    perm = np.arange(n_classes, dtype=np.int32)
    return class_ptr, order, Zs, ws, S, cnt, perm


def _planted_hierarchy(n_per_class, seed, noise_seed, depth=6, k=8):
    """2**depth classes whose means are sums of Gaussian offsets along a binary hierarchy.

    ``seed`` fixes the class means, ``noise_seed`` the rows (train/test splits).
    """
    rng = np.random.default_rng(seed)
    n_classes = 2**depth
    means = np.zeros((n_classes, k))
    for level in range(depth):
        n_groups = 2 ** (level + 1)
        offsets = rng.normal(scale=2.0 * 0.7**level, size=(n_groups, k))
        means += np.repeat(offsets, n_classes // n_groups, axis=0)
    rng = np.random.default_rng(noise_seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    Z = (means[y] + 0.5 * rng.normal(size=(y.size, k))).astype(np.float32)
    perm = rng.permutation(y.size)
    return Z[perm], y[perm]


def _check_contract(out, n_classes, k):
    node_weight, node_bias, leaf_class, class_leaf = out
    depth = tree_depth(n_classes)
    n_inner, n_leaves = 2**depth - 1, 2**depth
    assert depth == max(1, math.ceil(math.log2(n_classes)))
    assert node_weight.dtype == np.float32 and node_weight.shape == (n_inner, k)
    assert node_bias.dtype == np.float32 and node_bias.shape == (n_inner,)
    assert leaf_class.dtype == np.int32 and leaf_class.shape == (n_leaves,)
    assert class_leaf.dtype == np.int32 and class_leaf.shape == (n_classes,)
    for a in out:
        assert a.flags.c_contiguous
    assert np.all(np.isfinite(node_weight)) and np.all(np.isfinite(node_bias))
    # leaf_class and class_leaf are inverse permutations on the real classes.
    real = leaf_class >= 0
    assert np.sum(real) == n_classes
    assert np.array_equal(np.sort(leaf_class[real]), np.arange(n_classes))
    assert np.array_equal(leaf_class[class_leaf], np.arange(n_classes))
    assert np.array_equal(np.sort(class_leaf), np.flatnonzero(real))
    # Real-class counts per node: n // 2 right, the rest left; padding nodes.
    for node in range(n_inner):
        left, right = ref.node_split(leaf_class, node)
        n = left.size + right.size
        assert right.size == n // 2 and left.size == n - n // 2
        if n <= 1:
            assert np.all(node_weight[node] == 0)
            assert node_bias[node] == (-PADDING_BIAS if n == 1 else 0.0)


# ---------------------------------------------------------------------------
# layout and contract


def test_class_segments_layout():
    for n_classes in [2, 3, 5, 6, 7, 11, 64, 100]:
        lo, hi = class_segments(n_classes)
        depth = tree_depth(n_classes)
        assert lo.shape == (2 ** (depth + 1) - 1,)
        assert lo[0] == 0 and hi[0] == n_classes
        for i in range(2**depth - 1):
            n = hi[i] - lo[i]
            assert hi[2 * i + 1] - lo[2 * i + 1] == n - n // 2
            assert hi[2 * i + 2] - lo[2 * i + 2] == n // 2
            assert lo[2 * i + 1] == lo[i] and hi[2 * i + 2] == hi[i] and hi[2 * i + 1] == lo[2 * i + 2]
        leaf_sizes = (hi - lo)[2**depth - 1 :]
        assert set(leaf_sizes) <= {0, 1} and leaf_sizes.sum() == n_classes


@pytest.mark.parametrize(
    "n_classes, k, classes_used",
    [(2, 3, None), (3, 2, None), (5, 4, None), (8, 3, None), (13, 5, 9), (33, 2, None), (6, 0, None), (7, 1, 3)],
)
def test_contract_and_probabilities(n_classes, k, classes_used):
    Z, y = _random_data(300, k, n_classes, seed=n_classes, classes_used=classes_used)
    out = fit_tree(Z, y, n_classes)
    _check_contract(out, n_classes, k)
    node_weight, node_bias, leaf_class, class_leaf = out
    logp = ref.leaf_log_proba(node_weight, node_bias, Z[:50])
    assert np.allclose(logsumexp(logp, axis=1), 0.0, atol=1e-9)
    if np.any(leaf_class < 0):
        assert np.all(np.exp(logp[:, leaf_class < 0]) < 1e-300)
    class_logp = ref.class_log_proba(node_weight, node_bias, class_leaf, Z[:50])
    assert np.allclose(logsumexp(class_logp, axis=1), 0.0, atol=1e-9)


def test_all_zero_features_and_no_features():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, size=200)
    y[y == 5] = 0  # class 5 has no rows
    for k in (0, 3):
        out = fit_tree(np.zeros((200, k), dtype=np.float32), y, 6)
        _check_contract(out, 6, k)
        assert np.all(out[0] == 0)
    # k = 0: the root splits by frequency; the bias follows the class masses.
    node_weight, node_bias, leaf_class, class_leaf = fit_tree(np.zeros((200, 0)), y, 6, alpha=1e-6)
    logp = ref.class_log_proba(node_weight, node_bias, class_leaf, np.zeros((1, 0)))[0]
    left, right = ref.node_split(leaf_class, 0)
    n_right = np.isin(y, right).sum()
    assert math.isclose(math.exp(logsumexp(logp[right])), n_right / 200, rel_tol=1e-3)


def test_input_types_compile_once():
    Z, y = _random_data(120, 3, 5, seed=1)
    ref_out = fit_tree(Z, y, 5)
    read_only = Z.copy()
    read_only.flags.writeable = False
    variants = [
        (Z.astype(np.float64), y),
        (np.asfortranarray(Z), y.astype(np.int64)),
        (np.repeat(Z, 2, axis=1)[:, ::2], y.astype(np.int16)),
        (read_only, y.astype(np.uint8)),
    ]
    for Zv, yv in variants:
        out = fit_tree(Zv, yv, 5, sample_weight=np.ones(120, dtype=np.float32))
        for a, b in zip(out, ref_out, strict=True):
            assert np.array_equal(a, b)
    if hasattr(K.fit_nodes, "signatures"):  # not under NUMBA_DISABLE_JIT=1
        assert len(K.fit_nodes.signatures) == 1


def test_input_validation():
    Z, y = _random_data(20, 2, 3, seed=0)
    with pytest.raises(ValueError, match="n_classes"):
        fit_tree(Z, y, 1)
    with pytest.raises(ValueError, match="y must lie"):
        fit_tree(Z, y, 2)
    with pytest.raises(ValueError, match="sample_weight"):
        fit_tree(Z, y, 3, sample_weight=-np.ones(20))
    with pytest.raises(ValueError, match="Z must be 2-dimensional"):
        fit_tree(Z[:, 0], y, 3)
    with pytest.raises(ValueError, match="y must have shape"):
        fit_tree(Z, y[:-1], 3)
    with pytest.raises(ValueError, match="alpha"):
        fit_tree(Z, y, 3, alpha=-1.0)
    with pytest.raises(ValueError, match="max_split_iter"):
        fit_tree(Z, y, 3, max_split_iter=0)
    with pytest.raises(ValueError, match="n_jobs"):
        fit_tree(Z, y, 3, n_jobs=0)


# ---------------------------------------------------------------------------
# kernels against references


def _small_node(seed=0, n=40, k=3, n_classes=5):
    Z, y = _random_data(n, k, n_classes, seed=seed)
    rng = np.random.default_rng(seed + 100)
    s = rng.uniform(0.5, 2.0, size=n)
    side = np.where(np.arange(n_classes) % 2 == 0, 1.0, -1.0)
    class_ptr, order, Zs, ws, S, cnt, perm = _node_data(Z, y, n_classes, s)
    return Z, y, s, side, side[y], class_ptr, Zs, ws, S, cnt, perm


def test_objective_gradient_hessian_match_reference():
    Z, y, s, side, zeta, class_ptr, Zs, ws, S, cnt, perm = _small_node(n=300)
    alpha = 0.1
    theta = np.array([0.3, -0.2, 0.5, 0.1])
    g = np.empty(4)
    H = np.empty((4, 4))
    f = K.node_objective_grad_hess(theta, perm, 0, 5, side, class_ptr, Zs, ws, alpha, g, H)
    assert math.isclose(f, ref.node_objective(theta, Z, s, zeta, alpha), rel_tol=1e-12)
    assert np.allclose(g, ref.node_gradient(theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-10)
    assert np.allclose(H, ref.node_neg_hessian(theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-10)
    # Finite differences of the kernel's own objective.
    eps = 1e-6
    g_fd = np.empty(4)
    H_fd = np.empty((4, 4))
    gp, gm, Hs = np.empty(4), np.empty(4), np.empty((4, 4))
    for a in range(4):
        e = np.zeros(4)
        e[a] = eps
        fp = K.node_objective_grad_hess(theta + e, perm, 0, 5, side, class_ptr, Zs, ws, alpha, gp, Hs)
        fm = K.node_objective_grad_hess(theta - e, perm, 0, 5, side, class_ptr, Zs, ws, alpha, gm, Hs)
        g_fd[a] = (fp - fm) / (2 * eps)
        H_fd[a] = -(gp - gm) / (2 * eps)
    assert np.allclose(g, g_fd, rtol=1e-5, atol=1e-5)
    assert np.allclose(H, H_fd, rtol=1e-5, atol=1e-5)


def _newton(theta_inout, max_iter, tol, node):
    """Run the kernels' damped Newton ascent on a small node; returns (f_start, f_end, n_pass)."""
    Z, y, s, side, zeta, class_ptr, Zs, ws, S, cnt, perm = node
    work = K.make_workspace(Z.shape[1])
    grad, hess, _, _, _, _, _, xt, hx, vb = work
    f0 = K._node_pass(theta_inout, perm, 0, perm.size, side, class_ptr, Zs, ws, 0.1, grad, hess, xt, hx, vb)
    f1, n_pass = K._newton_steps(
        theta_inout, f0, perm, 0, perm.size, side, class_ptr, Zs, ws, 0.1, max_iter, tol * ws.sum(), work
    )
    return f0, f1, n_pass


def test_one_newton_step_matches_reference():
    node = _small_node(seed=3)
    Z, y, s, side, zeta = node[:5]
    theta0 = np.array([0.1, 0.0, -0.1, 0.2])
    theta = theta0.copy()
    f0, f1, n_pass = _newton(theta, 1, 0.0, node)
    expected = ref.newton_step(theta0, Z, s, zeta, 0.1)
    assert n_pass == 1 and f1 > f0
    assert math.isclose(f1, ref.node_objective(theta, Z, s, zeta, 0.1), rel_tol=1e-12)
    assert np.allclose(theta, expected, rtol=1e-9, atol=1e-12)
    # Converged ascent: the reference gradient vanishes and the optimum agrees.
    theta = theta0.copy()
    _newton(theta, 50, 1e-14, node)
    assert np.linalg.norm(ref.node_gradient(theta, Z, s, zeta, 0.1)) < 1e-7
    assert np.allclose(theta, ref.fit_logistic(Z, s, zeta, 0.1), atol=1e-7)
    # A far-away start needs damping; the objective never decreases.
    theta = np.array([30.0, -30.0, 30.0, 10.0])
    f0, f1, n_pass = _newton(theta, 50, 1e-14, node)
    assert f1 >= f0 and np.allclose(theta, ref.fit_logistic(Z, s, zeta, 0.1), atol=1e-6)


def test_cholesky_solve():
    rng = np.random.default_rng(0)
    for d in (1, 2, 5, 17):
        M = rng.normal(size=(d, d))
        A = M @ M.T + 0.1 * np.eye(d)
        rhs = rng.normal(size=d)
        x = np.empty(d)
        K.cholesky_solve(A, rhs, x, np.empty((d, d)))
        assert np.allclose(x, np.linalg.solve(A, rhs), rtol=1e-9, atol=1e-12)
    # Singular matrix: no failure, finite answer.
    x = np.empty(3)
    K.cholesky_solve(np.zeros((3, 3)), np.zeros(3), x, np.empty((3, 3)))
    assert np.all(np.isfinite(x))


def test_select_smallest_and_heap_fallback():
    rng = np.random.default_rng(0)
    for trial in range(400):
        m = int(rng.integers(1, 80))
        key = rng.integers(0, 4, size=m).astype(float) if trial % 2 else rng.normal(size=m)
        n = int(rng.integers(0, m + 1))
        expected = set(np.lexsort((np.arange(m), key))[:n])
        for fn in (K.select_smallest, K._heap_select):
            if fn is K._heap_select and n == 0:
                continue
            idx = rng.permutation(m).astype(np.int64)
            fn(key, idx, n)
            assert np.array_equal(np.sort(idx), np.arange(m))
            assert set(idx[:n]) == expected
    # Many ties (classes without rows) and a sorted input: the smallest indices win.
    idx = np.arange(10_000)
    K.select_smallest(np.zeros(10_000), idx, 5000)
    assert set(idx[:5000]) == set(range(5000))


def test_initial_direction_is_dominant_eigenvector():
    rng = np.random.default_rng(0)
    k = 6
    for m in (2, 4, 6, 40):
        S = rng.normal(size=(m, k)) * np.array([5.0, 1, 1, 1, 0.5, 0.2])
        perm = np.arange(m, dtype=np.int32)
        w = np.empty(k)
        K.initial_direction(perm, 0, m, S, w)
        evals, evecs = np.linalg.eigh(np.cov(S.T, bias=True))
        v = evecs[:, -1]
        v *= np.sign(v[np.argmax(np.abs(v))])
        assert np.allclose(w, v, atol=1e-4), m
        assert math.isclose(np.linalg.norm(w), 1.0)
    w = np.empty(k)
    K.initial_direction(np.arange(3, dtype=np.int32), 0, 3, np.ones((3, k)), w)
    assert np.all(w == 0)


def test_assign_sides_incremental_update_is_exact():
    Z, y, s, side, zeta, class_ptr, Zs, ws, S, cnt, perm = _small_node(seed=5, n=200, n_classes=7)
    alpha = 0.2
    theta = np.array([0.4, -0.3, 0.2, -0.1])
    g = np.empty(4)
    H = np.empty((4, 4))
    f_old = K.node_objective_grad_hess(theta, perm, 0, 7, side, class_ptr, Zs, ws, alpha, g, H)
    new_side = side.copy()
    n_moved, gain = K.assign_sides(theta, perm, 0, 7, S, cnt, new_side, g)
    delta = S @ theta[:-1] + cnt * theta[-1]
    assert np.sum(new_side > 0) == 3
    assert set(np.flatnonzero(new_side > 0)) == set(np.argsort(-delta, kind="stable")[:3])
    assert n_moved == np.sum(new_side != side)
    g_new, H_new = np.empty(4), np.empty((4, 4))
    f_new = K.node_objective_grad_hess(theta, perm, 0, 7, new_side, class_ptr, Zs, ws, alpha, g_new, H_new)
    assert math.isclose(f_old + gain, f_new, rel_tol=1e-12)
    assert gain >= 0
    assert np.allclose(g, g_new, rtol=1e-10, atol=1e-10)
    assert np.allclose(H, H_new, rtol=1e-12)


# ---------------------------------------------------------------------------
# the greedy fit


def test_splits_do_not_lower_the_node_objective():
    Z, y = _random_data(2000, 4, 37, seed=7)
    s = np.random.default_rng(7).uniform(0.0, 2.0, size=2000)
    alpha = 0.1
    res = _fit_tree(Z, y, 37, sample_weight=s, alpha=alpha)
    fitted = res.node_iterations[:, 0] > 0
    assert fitted.sum() > 10
    f0, f1 = res.node_objective[fitted].T
    assert np.all(f1 >= f0)
    assert np.any(f1 > f0 + 1.0)
    # The bookkept final objective is the objective of the returned node.
    for node in np.flatnonzero(fitted)[:8]:
        left, right = ref.node_split(res.leaf_class, node)
        rows = np.isin(y, np.concatenate([left, right]))
        zeta = np.where(np.isin(y[rows], right), 1.0, -1.0)
        theta = np.append(res.node_weight[node], res.node_bias[node]).astype(np.float64)
        f_ref = ref.node_objective(theta, Z[rows], s[rows], zeta, alpha)
        assert math.isclose(f_ref, res.node_objective[node, 1], rel_tol=1e-5)
        # Newton converged: (w, b) is optimal for its split up to the tolerance.
        f_opt = ref.node_objective(ref.fit_logistic(Z[rows], s[rows], zeta, alpha), Z[rows], s[rows], zeta, alpha)
        assert f_ref <= f_opt + 1e-9 * abs(f_opt)
        assert f_opt - f_ref < 1e-5 * s[rows].sum()


def test_planted_hierarchy_beats_uniform_and_random_tree():
    Z, y = _planted_hierarchy(50, seed=0, noise_seed=1)
    Zt, yt = _planted_hierarchy(20, seed=0, noise_seed=2)
    rng = np.random.default_rng(3)
    n_classes = 64
    node_weight, node_bias, leaf_class, class_leaf = fit_tree(Z, y, n_classes)
    ll = ref.class_log_proba(node_weight, node_bias, class_leaf, Zt)[np.arange(yt.size), yt].mean()
    assert ll > -math.log(n_classes) + 1.5
    # A random class-to-leaf assignment, fitted the same way per node.
    random_leaf_class = leaf_class.copy()
    real = leaf_class >= 0
    random_leaf_class[real] = rng.permutation(leaf_class[real])
    random_class_leaf = np.empty(n_classes, dtype=np.int64)
    random_class_leaf[random_leaf_class[real]] = np.flatnonzero(real)
    W, b = ref.fit_fixed_tree(Z, y, random_leaf_class, alpha=0.1)
    ll_random = ref.class_log_proba(W, b, random_class_leaf, Zt)[np.arange(yt.size), yt].mean()
    assert ll > ll_random + 1.0
    # The reference fit of the greedy tree's own assignment agrees with the kernel.
    W2, b2 = ref.fit_fixed_tree(Z, y, leaf_class, alpha=0.1)
    ll_ref = ref.class_log_proba(W2, b2, class_leaf, Zt)[np.arange(yt.size), yt].mean()
    assert abs(ll - ll_ref) < 1e-3


def test_sample_weight_equals_repetition():
    Z, y = _planted_hierarchy(10, seed=2, noise_seed=3, depth=3, k=3)
    w = np.random.default_rng(0).integers(0, 3, size=y.size)
    w[:8] = 1  # every class keeps rows
    out_w = fit_tree(Z, y, 8, sample_weight=w.astype(float))
    out_r = fit_tree(np.repeat(Z, w, axis=0), np.repeat(y, w), 8)
    assert np.array_equal(out_w[2], out_r[2])
    assert np.allclose(out_w[0], out_r[0], atol=1e-4) and np.allclose(out_w[1], out_r[1], atol=1e-4)


def test_deterministic_and_independent_of_n_jobs():
    Z, y = _random_data(3000, 5, 300, seed=11)
    a = _fit_tree(Z, y, 300)
    b = _fit_tree(Z.copy(), y.copy(), 300)
    c = _fit_tree(Z, y, 300, n_jobs=2)
    d = _fit_tree(Z, y, 300, n_jobs=-1)
    for other in (b, c, d):
        for name in ("node_weight", "node_bias", "leaf_class", "class_leaf", "node_objective", "node_iterations"):
            assert np.array_equal(getattr(a, name), getattr(other, name), equal_nan=True), name


def test_verbose_prints_one_line_per_level(capsys):
    Z, y = _random_data(100, 2, 9, seed=0)
    fit_tree(Z, y, 9, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == tree_depth(9) == 4
    assert "level 1/4" in lines[0] and "alternations" in lines[0]


def test_many_classes_with_few_rows():
    # C much larger than the rows per class: most classes have 0-2 rows.
    rng = np.random.default_rng(0)
    n_classes = 5000
    y = rng.integers(0, n_classes, size=6000)
    Z = rng.normal(size=(6000, 4)).astype(np.float32)
    out = fit_tree(Z, y, n_classes, n_jobs=2)
    _check_contract(out, n_classes, 4)
    assert np.all(np.abs(out[0]) < 1e3)
