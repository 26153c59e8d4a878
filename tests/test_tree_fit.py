"""Tests of the greedy tree fit (``skxc._tree_fit`` and ``skxc._kernels.tree_fit``).

The kernel is a single jitted function (for a short numba compile); its parts
(row pass, Newton step, discrete step) are tested by running it on one root
node from a chosen start (:func:`_root_fit`).
"""

import math
from types import SimpleNamespace

import _reference_tree as ref
import numba
import numpy as np
import pytest
from scipy.special import logsumexp

from skxc import _tree_fit as TF
from skxc._config import PADDING_BIAS
from skxc._kernels import tree_fit as K
from skxc._tree_fit import _fit_tree, class_segments, fit_tree, initial_theta, tree_depth

pytestmark = pytest.mark.kernel


@numba.njit
def node_pass(theta, perm, lo, hi, side, row_ptr, Zl, wl, alpha, out_grad, out_neg_hess, blk):
    """K.node_pass from a jitted shim: the helper has no Python entry point."""
    return K.node_pass(theta, perm, lo, hi, side, row_ptr, Zl, wl, alpha, out_grad, out_neg_hess, blk)


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


def _root_fit(
    Z, y, n_classes, theta0, *, sample_weight=None, alpha=0.1, max_newton_iter=0, max_split_iter=1, newton_stop=0.0
):
    """Run the kernel on the root node (all classes) from ``theta0``.

    With ``max_newton_iter=0`` this is one discrete step and one pass at
    ``theta0``. Returns the fitted ``theta``, the [initial, final] objective,
    [Newton phases, row passes], the final sides and the kernel's gradient and
    (symmetrised) negative Hessian at the final parameters and split.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float32)
    y = np.asarray(y, dtype=np.int32)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    class_ptr, Zs, ws, S, cnt = TF._class_layout(Z, y, sw, n_classes)
    k = Z.shape[1]
    theta = np.array([theta0], dtype=np.float64)
    objective = np.full((1, 2), np.nan)
    iterations = np.zeros((1, 2), dtype=np.int64)
    side = np.zeros(n_classes)
    vec, mat, blk, key = (np.zeros(shape) for shape in K.scratch_shapes(k, n_classes))
    K.fit_nodes(
        0, 1, np.array([0]), np.array([n_classes]), np.arange(n_classes, dtype=np.int32), side, class_ptr, Zs, ws,
        S, cnt, float(alpha), max_newton_iter, max_split_iter, np.array([newton_stop]), theta, objective,
        iterations, vec, mat, blk, key, np.zeros(n_classes, dtype=np.int64),
    )  # fmt: skip
    H = np.triu(mat[0])
    return SimpleNamespace(
        theta=theta[0], f0=objective[0, 0], f1=objective[0, 1], n_split=iterations[0, 0], n_pass=iterations[0, 1],
        side=side, grad=vec[0].copy(), hess=H + np.triu(H, 1).T, S=S, cnt=cnt,
    )  # fmt: skip


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
    # alpha = 0 with zero features: singular Hessians, the Cholesky floor keeps them finite.
    out = fit_tree(np.zeros((200, 3)), y, 6, alpha=0.0)
    _check_contract(out, 6, 3)


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
    s = np.random.default_rng(seed + 100).uniform(0.5, 2.0, size=n)
    return Z, y, s


def test_two_flat_kernels():
    # Compile time: fit_nodes and its only jitted callee, node_pass (see the kernel module docstring).
    from numba.core.registry import CPUDispatcher

    jitted = sorted(name for name, obj in vars(K).items() if isinstance(obj, CPUDispatcher))
    assert jitted in (["fit_nodes", "node_pass"], [])  # [] under NUMBA_DISABLE_JIT=1


def test_class_layout_matches_reference(monkeypatch):
    rng = np.random.default_rng(0)
    n_classes = 9
    y = rng.integers(0, 7, size=300)  # classes 7 and 8 have no rows
    Z = rng.normal(size=(300, 4)).astype(np.float32)
    s = rng.uniform(0.0, 2.0, size=300)
    order = np.argsort(y, kind="stable")
    S_ref = np.array([(s[y == c, None] * Z[y == c].astype(np.float64)).sum(axis=0) for c in range(n_classes)])
    for chunk in (7, 2**16):
        monkeypatch.setattr(TF, "_LAYOUT_CHUNK", chunk)
        class_ptr, Zs, ws, S, cnt = TF._class_layout(Z, y.astype(np.int32), s, n_classes)
        assert np.array_equal(class_ptr, np.concatenate([[0], np.cumsum(np.bincount(y, minlength=n_classes))]))
        assert np.array_equal(Zs, Z[order]) and np.array_equal(ws, s[order])
        assert Zs.flags.c_contiguous and Zs.dtype == np.float32
        assert np.allclose(S, S_ref, rtol=1e-12, atol=1e-12)
        assert np.allclose(cnt, np.bincount(y, weights=s, minlength=n_classes), rtol=1e-12)


def test_node_pass_matches_reference():
    Z, y, s = _small_node(n=300)
    alpha = 0.1
    theta = np.array([0.3, -0.2, 0.5, 0.1])
    side = np.where(np.arange(5) % 2 == 0, 1.0, -1.0)
    class_ptr, Zs, ws, _, _ = TF._class_layout(Z.astype(np.float32), y.astype(np.int32), s, 5)
    perm = np.arange(5, dtype=np.int32)
    blk = np.zeros(K.scratch_shapes(3, 5)[2])

    def run(th):
        g, H = np.zeros(4), np.full((4, 4), 7.0)
        f = node_pass(th, perm, 0, 5, side, class_ptr, Zs, ws, alpha, g, H, blk)
        assert np.all(H[np.tril_indices(4, -1)] == 7.0)  # the lower triangle is not touched
        return f, g, np.triu(H) + np.triu(H, 1).T

    f, g, H = run(theta)
    zeta = side[y]
    assert math.isclose(f, ref.node_objective(theta, Z, s, zeta, alpha), rel_tol=1e-12)
    assert np.allclose(g, ref.node_gradient(theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-10)
    assert np.allclose(H, ref.node_neg_hessian(theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-10)
    # Finite differences of the kernel's own objective and gradient.
    eps = 1e-6
    g_fd, H_fd = np.empty(4), np.empty((4, 4))
    for a in range(4):
        e = np.zeros(4)
        e[a] = eps
        (fp, gp, _), (fm, gm, _) = run(theta + e), run(theta - e)
        g_fd[a] = (fp - fm) / (2 * eps)
        H_fd[a] = -(gp - gm) / (2 * eps)
    assert np.allclose(g, g_fd, rtol=1e-5, atol=1e-5)
    assert np.allclose(H, H_fd, rtol=1e-5, atol=1e-5)
    # An empty node: only the regulariser.
    g0, H0 = np.zeros(4), np.zeros((4, 4))
    f0 = node_pass(theta, perm, 2, 2, side, class_ptr, Zs, ws, alpha, g0, H0, blk)
    assert math.isclose(f0, -alpha * theta @ theta) and np.allclose(g0, -2 * alpha * theta)


def test_root_fit_pass_and_split_match_reference():
    Z, y, s = _small_node(n=300)
    alpha = 0.1
    theta = np.array([0.3, -0.2, 0.5, 0.1])
    r = _root_fit(Z, y, 5, theta, sample_weight=s, alpha=alpha)
    # max_newton_iter=0: one discrete step at theta, one pass, no move after it.
    assert r.n_split == 1 and r.n_pass == 1 and np.array_equal(r.theta, theta) and r.f0 == r.f1
    assert np.array_equal(r.side, ref.split_sides(theta, r.S, r.cnt))
    zeta = r.side[y]
    assert math.isclose(r.f0, ref.node_objective(theta, Z, s, zeta, alpha), rel_tol=1e-12)
    assert np.allclose(r.grad, ref.node_gradient(theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-10)
    assert np.allclose(r.hess, ref.node_neg_hessian(theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-10)


def test_newton_steps_match_reference():
    Z, y, s = _small_node(seed=3)
    alpha = 0.1
    theta0 = np.array([0.1, 0.0, -0.1, 0.2])
    r0 = _root_fit(Z, y, 5, theta0, sample_weight=s, alpha=alpha)
    zeta0 = ref.split_sides(theta0, r0.S, r0.cnt)[y]  # the split Newton works on
    # One full step (t = 1 accepted: two passes).
    r = _root_fit(Z, y, 5, theta0, sample_weight=s, alpha=alpha, max_newton_iter=1)
    assert r.n_pass == 2 and r.f1 >= r.f0
    assert np.allclose(r.theta, ref.newton_step(theta0, Z, s, zeta0, alpha), rtol=1e-9, atol=1e-12)
    assert math.isclose(r.f1, ref.node_objective(r.theta, Z, s, r.side[y], alpha), rel_tol=1e-12)
    # Converged: the optimum of the logistic regression for that split.
    r = _root_fit(Z, y, 5, theta0, sample_weight=s, alpha=alpha, max_newton_iter=50, newton_stop=1e-14)
    assert np.allclose(r.theta, ref.fit_logistic(Z, s, zeta0, alpha), atol=1e-7)
    # A far-away start needs damping; the objective never decreases.
    far = np.array([30.0, -30.0, 30.0, 10.0])
    zeta_far = ref.split_sides(far, r0.S, r0.cnt)[y]
    r = _root_fit(Z, y, 5, far, sample_weight=s, alpha=alpha, max_newton_iter=50, newton_stop=1e-14)
    assert r.f1 >= r.f0 and r.n_pass > r.n_split + 1
    assert np.allclose(r.theta, ref.fit_logistic(Z, s, zeta_far, alpha), atol=1e-6)


def test_discrete_step_bookkeeping_is_exact():
    # After Newton moves theta, the discrete step moves classes; the kernel's
    # objective and gradient follow from the class sums (no pass) and the
    # Hessian is unchanged: all must equal a fresh evaluation.
    Z, y, s = _small_node(seed=5, n=400, k=3, n_classes=9)
    alpha = 0.2
    moved = 0
    for seed in range(20):
        theta0 = np.random.default_rng(seed).normal(size=4)
        r = _root_fit(Z, y, 9, theta0, sample_weight=s, alpha=alpha, max_newton_iter=1, max_split_iter=1)
        if np.array_equal(r.side, ref.split_sides(theta0, r.S, r.cnt)):
            continue
        moved += 1
        zeta = r.side[y]
        assert np.array_equal(r.side, ref.split_sides(r.theta, r.S, r.cnt))
        assert math.isclose(r.f1, ref.node_objective(r.theta, Z, s, zeta, alpha), rel_tol=1e-12)
        assert np.allclose(r.grad, ref.node_gradient(r.theta, Z, s, zeta, alpha), rtol=1e-10, atol=1e-9)
        assert np.allclose(r.hess, ref.node_neg_hessian(r.theta, Z, s, zeta, alpha), rtol=1e-12)
    assert moved >= 3


def test_discrete_step_selection_and_ties():
    # One row per class with z = v_c: Delta_c = v_c at theta = [1, 0]; small
    # integers give many ties, which go to the smaller class index.
    rng = np.random.default_rng(0)
    for trial in range(300):
        m = int(rng.integers(2, 90))
        v = rng.integers(0, 4, size=m) if trial % 2 else rng.normal(size=m)
        r = _root_fit(v[:, None], np.arange(m), m, np.array([1.0, 0.0]))
        expected = -np.ones(m)
        expected[np.lexsort((np.arange(m), -v.astype(np.float32)))[: m // 2]] = 1.0
        assert np.array_equal(r.side, expected)
    # Many classes without rows: all Delta = 0, the smaller indices go right.
    y = np.repeat([3, 7], 5)
    r = _root_fit(np.zeros((10, 1)), y, 10_000, np.zeros(2))
    assert np.array_equal(np.flatnonzero(r.side > 0), np.arange(5000))


def test_initial_theta_matches_reference():
    rng = np.random.default_rng(0)
    k = 6
    sizes = np.array([0, 1, 2, 3, 5, 6, 7, 40, 2, 1])
    n_classes = sizes.sum()
    S = rng.normal(size=(n_classes, k)) * np.array([5.0, 1, 1, 1, 0.5, 0.2]) + 3.0
    cnt = rng.integers(1, 30, size=n_classes).astype(float)
    cnt[5] = 0.0  # a class without rows
    S[5] = 0.0
    perm = rng.permutation(n_classes).astype(np.int32)
    lo = np.cumsum(sizes) - sizes
    for q in (2, 3, 5, 6, 7, 40):  # levels of equal sizes: Gram (q <= k) or covariance
        n = max(1, min(3, n_classes // q))
        theta = initial_theta(perm, np.arange(n) * q, np.arange(1, n + 1) * q, S, cnt)
        for i in range(n):
            classes = perm[i * q : (i + 1) * q]
            assert np.allclose(theta[i], ref.initial_theta(S[classes], cnt[classes]), rtol=1e-8, atol=1e-10), q
    theta = initial_theta(perm, lo, lo + sizes, S, cnt)  # mixed sizes, batched by size
    parts = [initial_theta(perm, lo[a:b], lo[a:b] + sizes[a:b], S, cnt) for a, b in [(0, 4), (4, 5), (5, 10)]]
    assert np.array_equal(np.concatenate(parts), theta)  # independent of the chunking
    for i, m in enumerate(sizes):
        classes = perm[lo[i] : lo[i] + m]
        if m >= 2:
            expected = ref.initial_theta(S[classes], cnt[classes])
            assert np.allclose(theta[i], expected, rtol=1e-8, atol=1e-10), m
            w = theta[i, :k]
            assert w[np.argmax(np.abs(w))] > 0
        else:
            assert np.array_equal(theta[i], np.append(np.zeros(k), -PADDING_BIAS if m == 1 else 0.0))
    # Equal class sums: zero covariance, w = 0; b = 0 (zero mean score).
    theta = initial_theta(np.arange(3, dtype=np.int32), np.array([0]), np.array([3]), np.ones((3, k)), np.ones(3))
    assert np.all(theta == 0)


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
    assert np.array_equal(res.node_weight, res.node_theta[:, :-1].astype(np.float32))
    assert np.array_equal(res.node_bias, res.node_theta[:, -1].astype(np.float32))
    for node in np.flatnonzero(fitted)[:8]:
        left, right = ref.node_split(res.leaf_class, node)
        rows = np.isin(y, np.concatenate([left, right]))
        zeta = np.where(np.isin(y[rows], right), 1.0, -1.0)
        theta = res.node_theta[node]
        f_ref = ref.node_objective(theta, Z[rows], s[rows], zeta, alpha)
        assert math.isclose(f_ref, res.node_objective[node, 1], rel_tol=1e-10)
        # Newton converged: (w, b) is optimal for its split up to the tolerance.
        f_opt = ref.node_objective(ref.fit_logistic(Z[rows], s[rows], zeta, alpha), Z[rows], s[rows], zeta, alpha)
        assert f_ref <= f_opt + 1e-9 * abs(f_opt)
        assert f_opt - f_ref < 1e-5 * s[rows].sum()


def test_planted_hierarchy_beats_uniform_and_random_tree():
    Z, y = _planted_hierarchy(50, seed=0, noise_seed=1)
    Zt, yt = _planted_hierarchy(20, seed=0, noise_seed=2)
    rng = np.random.default_rng(3)
    n_classes = 64
    node_weight, node_bias, leaf_class, class_leaf = fit_tree(Z, y, n_classes, alpha=0.1)
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


@pytest.mark.parametrize("min_parallel_rows", [0, TF._MIN_PARALLEL_ROWS])  # threaded levels, or one thread
def test_deterministic_and_independent_of_n_jobs(monkeypatch, min_parallel_rows):
    monkeypatch.setattr(TF, "_MIN_PARALLEL_ROWS", min_parallel_rows)
    Z, y = _random_data(3000, 5, 300, seed=11)
    a = _fit_tree(Z, y, 300)
    b = _fit_tree(Z.copy(), y.copy(), 300)
    c = _fit_tree(Z, y, 300, n_jobs=2)
    d = _fit_tree(Z, y, 300, n_jobs=-1)
    names = ("node_weight", "node_bias", "leaf_class", "class_leaf", "node_objective", "node_iterations", "node_theta")
    for other in (b, c, d):
        for name in names:
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
