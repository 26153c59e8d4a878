"""Slow, obviously-correct NumPy/Python references for the numba kernels.

Everything here is float64 and written for clarity, not speed: the tests
compare the kernels in ``skxc/_kernels`` against these functions.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from skxc._config import PADDING_BIAS
from skxc._kernels.sgd import MAX_REDRAWS
from skxc._predict import TOP_MARGIN
from skxc._tree import balanced_leaf_class

MASK64 = (1 << 64) - 1
XORSHIFT_MULTIPLIER = 0x2545F4914F6CDD1D
ADAGRAD_EPS = 1.0  # Adagrad's initial accumulator (the paper's reference code uses 1e-8)


class XorShift64Star:
    """xorshift64* (Vigna 2016) on Python ints, mirroring ``skxc._kernels.rng``."""

    def __init__(self, state: int):
        if not 0 < state <= MASK64:
            raise ValueError("xorshift64* needs a non-zero 64-bit state")
        self.state = int(state)

    def next_uint64(self) -> int:
        x = self.state
        x ^= x >> 12
        x ^= (x << 25) & MASK64
        x ^= x >> 27
        self.state = x
        return (x * XORSHIFT_MULTIPLIER) & MASK64

    def next_double(self) -> float:
        return (self.next_uint64() >> 11) * 2.0**-53


# -- scalar functions ----------------------------------------------------------------


def log_sigmoid(a: float) -> float:
    """log(1 / (1 + exp(-a))), stable."""
    return -np.logaddexp(0.0, -a)


def softplus(a: float) -> float:
    return float(np.logaddexp(0.0, a))


def sigmoid(a: float) -> float:
    return float(0.5 * (1.0 + math.tanh(0.5 * a)))


# -- the tree ------------------------------------------------------------------------


def path_to_leaf(leaf: int, n_inner: int) -> list[tuple[int, bool]]:
    """Root-to-leaf list of (inner node, went_right) in the heap layout."""
    node = n_inner + leaf
    path = []
    while node > 0:
        parent = (node - 1) // 2
        path.append((parent, node == 2 * parent + 2))
        node = parent
    return path[::-1]


def leaf_log_proba(z, node_weight, node_bias) -> np.ndarray:
    """log p(leaf | z) of every leaf (padding included), walking each path."""
    z = np.asarray(z, dtype=np.float64)
    n_inner = node_bias.shape[0]
    out = np.empty(n_inner + 1)
    for leaf in range(n_inner + 1):
        lp = 0.0
        for node, right in path_to_leaf(leaf, n_inner):
            a = float(node_weight[node].astype(np.float64) @ z) + float(node_bias[node])
            lp += log_sigmoid(a) if right else log_sigmoid(-a)
        out[leaf] = lp
    return out


def class_log_proba(z, node_weight, node_bias, leaf_class, n_classes) -> np.ndarray:
    """log p_n(c | z) for classes 0..C-1."""
    lp = leaf_log_proba(z, node_weight, node_bias)
    out = np.full(n_classes, -np.inf)
    real = leaf_class >= 0
    out[leaf_class[real]] = lp[real]
    return out


def sample_leaf(z, node_weight, node_bias, rng: XorShift64Star) -> tuple[int, float]:
    """Ancestral sampling with the kernel's convention: go right iff u < sigmoid(a)."""
    z = np.asarray(z, dtype=np.float64)
    n_inner = node_bias.shape[0]
    node, lp = 0, 0.0
    while node < n_inner:
        a = float(node_weight[node].astype(np.float64) @ z) + float(node_bias[node])
        u = rng.next_double()
        p_right = 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))
        if u < p_right:
            lp += log_sigmoid(a)
            node = 2 * node + 2
        else:
            lp += log_sigmoid(-a)
            node = 2 * node + 1
    return node - n_inner, lp


def random_tree(n_classes: int, k: int, rng: np.random.Generator, scale: float = 1.0, permute: bool = True):
    """Random tree arrays in the heap layout of ``skxc._kernels.tree``.

    Real classes sit at the leaves of ``balanced_leaf_class`` (in a random order
    when ``permute``); a node whose right subtree holds only padding gets
    ``w = 0, b = -PADDING_BIAS`` as the tree fit does, every other node random
    ``w ~ N(0, scale^2)``, ``b ~ N(0, scale^2)``. Returns float32 ``node_weight``
    (n_inner, k), float32 ``node_bias``, int32 ``leaf_class``, int32 ``class_leaf``.
    """
    leaf_class = balanced_leaf_class(n_classes).copy()
    if permute:
        real = leaf_class >= 0
        leaf_class[real] = rng.permutation(leaf_class[real])
    n_leaves = leaf_class.shape[0]
    n_inner = n_leaves - 1
    class_leaf = np.empty(n_classes, dtype=np.int32)
    class_leaf[leaf_class[leaf_class >= 0]] = np.flatnonzero(leaf_class >= 0)
    # number of real classes under every heap node
    count = np.zeros(n_inner + n_leaves, dtype=np.int64)
    count[n_inner:] = leaf_class >= 0
    for node in range(n_inner - 1, -1, -1):
        count[node] = count[2 * node + 1] + count[2 * node + 2]
    node_weight = (scale * rng.standard_normal((n_inner, k))).astype(np.float32)
    node_bias = (scale * rng.standard_normal(n_inner)).astype(np.float32)
    for node in range(n_inner):
        left, right = count[2 * node + 1], count[2 * node + 2]
        if right == 0 or left == 0:
            node_weight[node] = 0.0
            node_bias[node] = 0.0 if left == right else (-PADDING_BIAS if right == 0 else PADDING_BIAS)
    return node_weight, node_bias, leaf_class.astype(np.int32), class_leaf


# -- Eq. 6 and one SGD step ------------------------------------------------------------


def eq6_loss(xi_pos, lp_pos, xi_neg, lp_neg, alpha, weight=1.0) -> float:
    """Weighted Eq. 6 with one term per negative, summed (as in skxc/_kernels/sgd.py)."""
    xi_neg, lp_neg = np.asarray(xi_neg, dtype=np.float64), np.asarray(lp_neg, dtype=np.float64)
    u = xi_pos + lp_pos
    loss = softplus(-xi_pos) + alpha * u * u
    un = xi_neg + lp_neg
    loss += np.sum(np.logaddexp(0.0, xi_neg) + alpha * un * un)
    return float(weight * loss)


def eq6_loss_of_params(coef, intercept, x, c_pos, lp_pos, c_neg, lp_neg, alpha, weight=1.0) -> float:
    """Eq. 6 as a function of the parameters (float64 ``coef`` (C, K), ``intercept`` (C,))."""
    xi = coef @ x + intercept
    return eq6_loss(xi[c_pos], lp_pos, xi[np.asarray(c_neg)], lp_neg, alpha, weight)


def eq6_gradient(xi_pos, lp_pos, xi_neg, lp_neg, alpha, weight=1.0):
    """d loss / d xi of the positive and of each negative (a negative equal to the
    positive class contributes its own term, as the kernel treats it separately)."""
    g_pos = weight * (-sigmoid(-xi_pos) + 2.0 * alpha * (xi_pos + lp_pos))
    g_neg = [weight * (sigmoid(xn) + 2.0 * alpha * (xn + ln)) for xn, ln in zip(xi_neg, lp_neg, strict=True)]
    return g_pos, g_neg


class FactoredAcc:
    """Factored Adagrad state: sums of squared gradients per class (R), per feature (S), in all (T)."""

    def __init__(self, R, S, T):
        self.R = np.array(R, dtype=np.float64)
        self.S = np.array(S, dtype=np.float64)
        self.T = float(T)

    def update(self, c, j, g):
        """Add weight (c, j)'s squared gradient g^2 to the sums; return its accumulator R_c S_j / T."""
        g2 = g * g
        self.R[c] += g2
        self.S[j] += g2
        self.T += g2
        return self.R[c] * self.S[j] / self.T if self.T > 0 else 0.0


def adagrad_step(coef, acc, c, x, g, lr, l2):
    """Adagrad step on the weights of class c at the features with x_j != 0, in feature order.

    ``acc`` is the full state (float64 (C, K), in place) or a :class:`FactoredAcc`.
    """
    for j in np.flatnonzero(x):
        gj = g * x[j] + l2 * coef[c, j]
        if isinstance(acc, FactoredAcc):
            a = acc.update(c, j, gj)
        else:
            acc[c, j] += gj * gj
            a = acc[c, j]
        coef[c, j] -= lr * gj / math.sqrt(a + ADAGRAD_EPS)


def draw_negative(z, node_weight, node_bias, leaf_class, rng, exclude=(), max_redraws=MAX_REDRAWS):
    """One negative from the tree: ``(class, log p_n)``; a class in ``exclude`` (the row's own labels,
    multi-label) is redrawn up to ``max_redraws`` times, after which the class is None (dropped)."""
    for _ in range(max_redraws + 1):
        leaf, lp = sample_leaf(z, node_weight, node_bias, rng)
        c = int(leaf_class[leaf])
        if c not in exclude:
            return c, lp
    return None, lp


def draw_negatives(z, node_weight, node_bias, leaf_class, rng, n_negatives, exclude=(), max_redraws=MAX_REDRAWS):
    """``n_negatives`` negatives in the kernel's order: ``[(class, log p_n), ...]``, class None when dropped.
    Each negative's first draw comes first (one after the other), then each negative in turn whose class is in
    ``exclude`` (the row's own labels, multi-label) is redrawn up to ``max_redraws`` times, and dropped if
    still in it. The same distribution as :func:`draw_negative` in turn; the uniforms go to other draws."""
    drawn = []
    for _ in range(n_negatives):
        leaf, lp = sample_leaf(z, node_weight, node_bias, rng)
        drawn.append((int(leaf_class[leaf]), lp))
    out = []
    for c, lp in drawn:
        for _ in range(max_redraws):
            if c not in exclude:
                break
            leaf, lp = sample_leaf(z, node_weight, node_bias, rng)
            c = int(leaf_class[leaf])
        out.append((None if c in exclude else c, lp))
    return out


def sgd_step(
    x, c_pos, weight, z, coef, acc, intercept, acc_intercept, tree, n_negatives, lr, alpha, rng, l2=0.0, exclude=()
):
    """One positive example of negative-sampling Adagrad, in float64, in place.

    ``x`` float64 (K,) dense row; ``coef`` float64 (C, K); ``acc`` float64 (C, K)
    or a :class:`FactoredAcc`; ``intercept``/``acc_intercept`` float64 (C,);
    ``tree`` = (node_weight, node_bias, leaf_class, class_leaf); ``rng`` an
    :class:`XorShift64Star`. Features with x_j == 0 are not updated (their
    gradient is 0 and Adagrad skips them); a touched weight's gradient includes
    ``l2 * w``. Multi-label: ``exclude`` holds the row's labels, redrawn as
    in :func:`draw_negatives` (a dropped negative has no term). Returns (loss,
    negatives, their log p_n).
    """
    node_weight, node_bias, leaf_class, class_leaf = tree
    lp_pos = leaf_log_proba(z, node_weight, node_bias)[class_leaf[c_pos]]
    negs, lp_neg = [], []
    for c, lp in draw_negatives(z, node_weight, node_bias, leaf_class, rng, n_negatives, exclude):
        if c is not None:
            negs.append(c)
            lp_neg.append(lp)
    xi = coef @ x + intercept  # all scores before the step
    loss = eq6_loss(xi[c_pos], lp_pos, xi[negs], lp_neg, alpha, weight)
    g_pos, g_neg = eq6_gradient(xi[c_pos], lp_pos, xi[negs], lp_neg, alpha, weight)
    for c, g in [(c_pos, g_pos)] + list(zip(negs, g_neg, strict=True)):
        if g == 0.0:
            continue
        acc_intercept[c] += g * g
        intercept[c] -= lr * g / math.sqrt(acc_intercept[c] + ADAGRAD_EPS)
        adagrad_step(coef, acc, c, x, g, lr, l2)
    return loss, negs, lp_neg


def finite_difference_gradient(f, theta, h=1e-6):
    """Central differences of a scalar function of a float64 vector."""
    theta = np.asarray(theta, dtype=np.float64)
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def check_step_gradients(coef0, intercept0, coef, intercept, acc, acc_intercept, stats_loss, eq6_args):
    """Assert that one kernel step from a zero Adagrad state applied the gradient of Eq. 6.

    ``eq6_args`` = (x, c_pos, lp_pos, negs, lp_neg, alpha, weight) of
    :func:`eq6_loss_of_params`; ``stats_loss`` is the loss the kernel reported.
    From a zero state acc = g^2 and the step is -lr sign(g) (to rounding), so
    the applied gradients are recovered from the state and compared with finite
    differences of Eq. 6 at the start. Returns the intercept's finite-difference gradient.
    """

    def loss(theta):
        W = theta[: coef.size].reshape(coef.shape)
        return eq6_loss_of_params(W, theta[coef.size :], *eq6_args)

    theta0 = np.r_[coef0.ravel(), intercept0]
    np.testing.assert_allclose(stats_loss, loss(theta0), rtol=1e-9)
    fd = finite_difference_gradient(loss, theta0)
    fd_coef, fd_intercept = fd[: coef.size].reshape(coef.shape), fd[coef.size :]
    g_coef = -np.sign(coef - coef0) * np.sqrt(acc.astype(np.float64))
    g_intercept = -np.sign(intercept - intercept0) * np.sqrt(acc_intercept.astype(np.float64))
    np.testing.assert_allclose(g_coef, fd_coef, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g_intercept, fd_intercept, rtol=1e-5, atol=1e-7)
    return fd_intercept


def reference_calibrated(S: np.ndarray, slope: float, offset: float) -> np.ndarray:
    """Top-label calibrated probabilities of the score rows ``S``, row by row: the softmax, then the top class
    (the first of ties) gets the log-odds ``slope * log-odds + offset``, at least those that keep it
    ``TOP_MARGIN`` above the second class, and the others share the rest in their softmax proportions; a row
    whose other classes all underflow is left as the softmax has it."""
    out = np.empty_like(S)
    for i, s in enumerate(S):
        p = _softmax(s)
        top = int(np.argmax(s))
        others = np.delete(p, top)
        rest = others.sum()
        if rest == 0.0:
            out[i] = p
            continue
        odds = np.log(p[top]) - np.log(rest)
        second_odds = np.log(others.max()) - np.log(rest)
        z = max(slope * odds + offset, second_odds + TOP_MARGIN)
        q = p * _sigmoid(-z) / rest
        q[top] = _sigmoid(z)
        out[i] = q
    return out


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum()


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def reference_pair_dots(X: sp.csr_matrix, mu, classes: np.ndarray) -> np.ndarray:
    """The vectorised NumPy ``skxc._start._sparse_pair_dots`` of stop 42 (before its kernel): ``x_i . mu_c`` for
    the classes ``c = classes[i, j]`` of each row i of CSR ``X``: float64 (n, m).

    The rows of mu that ``classes`` name are read once each (not once per pair: a frequent class drawn
    as a negative for many rows has a centroid with many features); each stored entry of x_i then
    looks up ``mu[c, feature]`` by binary search among those rows' entries, so a pair costs
    O(nnz(x_i) log) beyond that. The products are summed from 0 in x_i's feature order.
    """
    n, m = classes.shape
    present, local = np.unique(classes.reshape(-1), return_inverse=True)
    part = sp.csr_matrix(mu)[present]  # a copy of those rows
    part.sum_duplicates()  # canonical: each row's features sorted, so the keys below ascend
    if not X.has_sorted_indices:
        X = X.copy()
        X.sort_indices()
    n_features = np.int64(part.shape[1])
    # each stored entry of the named rows as one key, local row * n_features + feature
    keys = np.repeat(np.arange(present.shape[0], dtype=np.int64), np.diff(part.indptr)) * n_features + part.indices
    lengths = np.repeat(np.diff(X.indptr).astype(np.int64), m)  # stored entries of each pair's row
    pair = np.repeat(np.arange(n * m), lengths)  # the pair each looked-up entry belongs to
    entry = np.repeat(np.repeat(X.indptr[:-1].astype(np.int64), m) - np.cumsum(lengths) + lengths, lengths)
    entry += np.arange(entry.shape[0])  # its position in X.data and X.indices
    wanted = local.astype(np.int64)[pair] * n_features + X.indices[entry]
    if keys.shape[0] == 0:
        return np.zeros((n, m))
    at = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
    products = np.where(keys[at] == wanted, X.data[entry].astype(np.float64) * part.data[at].astype(np.float64), 0.0)
    return np.bincount(pair, weights=products, minlength=n * m).reshape(n, m)
