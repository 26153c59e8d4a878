"""Kernels that evaluate and sample the auxiliary tree p_n(y|x).

Tree layout (shared with ``skxc/_kernels/tree_fit.py``): a complete binary
tree of depth D in heap order. Inner node ``i`` (``0 <= i < n_inner``,
``n_inner = 2**D - 1``) has children ``2i+1`` (left) and ``2i+2`` (right);
leaf ``j`` is heap node ``n_inner + j``. Going right at node ``i`` has
probability ``sigmoid(node_weight[i] @ z + node_bias[i])``.

Arrays (never modified unless named ``out_*``/``*_inout``):

- ``z``: float32 (k,), the projected features of one row.
- ``node_weight``: float32 (n_inner, k) C-contiguous; ``node_bias`` float32 (n_inner,).
- ``leaf_class``: int32 (n_leaves,), class of each leaf or -1 for padding.
- ``class_leaf``: int32 (n_classes,), leaf of each class.
"""

import math

import numpy as np
from numba import njit

from .._config import NJIT_HELPER, NJIT_NO_NRT
from .rng import next_double


@njit(**NJIT_HELPER)
def log_sigmoid(a):
    """log(sigmoid(a)) for float64 ``a``, stable for any magnitude."""
    if a >= 0.0:
        return -math.log1p(math.exp(-a))
    return a - math.log1p(math.exp(a))


@njit(**NJIT_HELPER)
def node_activation(z, node_weight, node_bias, node):
    """``node_weight[node] @ z + node_bias[node]`` accumulated in float64."""
    a = np.float64(node_bias[node])
    for d in range(z.shape[0]):
        a += np.float64(node_weight[node, d]) * np.float64(z[d])
    return a


# Path log-probabilities with one exp per level: with e = exp(-|a|), the likely
# side of a node has probability 1 / (1 + e) and the unlikely side e / (1 + e), so
# log p(path) = -(sum of |a| over unlikely steps) - log(prod of (1 + e)).
# The product lies in [1, 2**depth]: it can neither overflow nor underflow,
# and one log at the end replaces a log1p per level.


@njit(**NJIT_HELPER)
def log_prob_of_leaf(z, leaf, node_weight, node_bias):
    """log p_n(leaf | z) by walking from the leaf up to the root: O(k D)."""
    n_inner = node_bias.shape[0]
    node = n_inner + leaf
    lp = 0.0
    den = 1.0
    while node > 0:
        parent = (node - 1) >> 1
        a = node_activation(z, node_weight, node_bias, parent)
        abs_a = abs(a)
        den *= 1.0 + math.exp(-abs_a)
        if (node == 2 * parent + 2) != (a >= 0.0):  # the step took the unlikely side
            lp -= abs_a
        node = parent
    return lp - math.log(den)


@njit(**NJIT_HELPER)
def sample_leaf(z, node_weight, node_bias, state):
    """Ancestral sample of a leaf: returns ``(leaf, log p_n(leaf|z))``.

    ``state`` is a uint64[1] xorshift state, advanced in place (one draw per level).
    """
    n_inner = node_bias.shape[0]
    node = np.int64(0)  # not the literal 0: one specialisation of node_activation, not two
    lp = 0.0
    den = 1.0
    while node < n_inner:
        a = node_activation(z, node_weight, node_bias, node)
        u = next_double(state)
        abs_a = abs(a)
        e = math.exp(-abs_a)
        one_e = 1.0 + e
        den *= one_e
        # P(right) = sigmoid(a) = 1 / (1 + e) if a >= 0 else e / (1 + e); u < P(right) without a division
        if a >= 0.0:
            right = u * one_e < 1.0
        else:
            right = u * one_e < e
        if right != (a >= 0.0):
            lp -= abs_a
        node = 2 * node + 2 if right else 2 * node + 1
    return node - n_inner, lp - math.log(den)


#: Deepest tree :func:`sample_leaves` serves: its scratch holds this many uniforms per draw (a tree of depth
#: D has 2**D - 1 inner nodes, so int64 heap indices allow at most 62 levels).
MAX_DEPTH = 62
#: Rows of :func:`sample_leaves`'s scratch: each draw's log-probability, product of (1 + e) and current
#: activation, then its uniform of each level.
SAMPLE_SCRATCH_ROWS = 3 + MAX_DEPTH


@njit(**NJIT_HELPER)
def sample_leaves(z, node_weight, node_bias, state, out_leaf, out_lp, scratch):
    """``out_leaf.shape[0]`` ancestral samples of a leaf at ``z``: the same leaves and log p_n as that many
    calls of :func:`sample_leaf` one after the other, from the same uniforms.

    The uniforms are drawn first, in :func:`sample_leaf`'s order (every draw takes one per level, as the
    tree is complete); the draws then descend side by side, level by level. Their activations, exps and
    comparisons do not depend on each other, so the processor overlaps them instead of waiting on one
    draw's chain of node loads at a time, and draws at the same node (all of them at the root) share its
    activation. ``out_leaf`` int64 (m,) receives the leaves, ``out_lp`` float64 (m,) their log p_n;
    ``scratch`` float64 (``SAMPLE_SCRATCH_ROWS``, m) (allocated by the caller); ``state`` as for
    :func:`sample_leaf`.
    """
    m_draws = out_leaf.shape[0]
    n_inner = node_bias.shape[0]
    depth = 0
    while (np.int64(1) << depth) - 1 < n_inner:
        depth += 1
    lps = scratch[0]
    dens = scratch[1]
    acts = scratch[2]
    for m in range(m_draws):
        for level in range(depth):
            scratch[3 + level, m] = next_double(state)
        out_leaf[m] = 0  # the draws' nodes until the last level
        lps[m] = 0.0
        dens[m] = 1.0
    for level in range(depth):
        for m in range(m_draws):
            node = out_leaf[m]
            shared = -1
            for j in range(m):
                if out_leaf[j] == node:
                    shared = j
                    break
            acts[m] = acts[shared] if shared >= 0 else node_activation(z, node_weight, node_bias, node)
        for m in range(m_draws):  # sample_leaf's step, on draw m
            a = acts[m]
            u = scratch[3 + level, m]
            abs_a = abs(a)
            e = math.exp(-abs_a)
            one_e = 1.0 + e
            dens[m] *= one_e
            if a >= 0.0:
                right = u * one_e < 1.0
            else:
                right = u * one_e < e
            if right != (a >= 0.0):
                lps[m] -= abs_a
            out_leaf[m] = 2 * out_leaf[m] + 2 if right else 2 * out_leaf[m] + 1
    for m in range(m_draws):
        out_leaf[m] -= n_inner
        out_lp[m] = lps[m] - math.log(dens[m])


@njit(**NJIT_NO_NRT)
def log_noise_of_codes(Z, y, node_weight, node_bias, class_leaf, out):
    """out[i] = log p_n(y[i] | Z[i]) for every row. Z float32 (n, k); y int32 (n,).

    ``out``: float64 (n,), written in place.
    """
    for i in range(Z.shape[0]):
        out[i] = log_prob_of_leaf(Z[i], class_leaf[y[i]], node_weight, node_bias)


@njit(**NJIT_NO_NRT)
def sample_classes(Z, n_samples, node_weight, node_bias, leaf_class, state, out_class, out_log_prob):
    """Draw ``n_samples`` classes per row of Z.

    ``out_class`` int64 (n, n_samples) and ``out_log_prob`` float64 (n, n_samples)
    are written in place; ``state`` uint64[1] is advanced.
    """
    for i in range(Z.shape[0]):
        for s in range(n_samples):
            leaf, lp = sample_leaf(Z[i], node_weight, node_bias, state)
            out_class[i, s] = leaf_class[leaf]
            out_log_prob[i, s] = lp


@njit(**NJIT_NO_NRT)
def add_log_noise_all(A, leaf_class, out_inout, buf):
    """Add log p_n(c | x_r) for every class c to ``out_inout[r, c]``.

    One top-down pass per row: O(n_leaves) per row, using
    log sigmoid(a) = log sigmoid(-a) + a so each node costs one softplus.

    ``A``: float64 (n, n_inner) node activations ``Z @ node_weight.T + node_bias``.
    ``out_inout``: float64 (n, n_classes), incremented in place.
    ``buf``: float64 (n_inner + n_leaves,) scratch (the caller allocates, so the
    kernel compiles no NumPy allocation code).
    """
    n, n_inner = A.shape
    n_leaves = leaf_class.shape[0]
    for r in range(n):
        buf[0] = 0.0
        for node in range(n_inner):
            a = A[r, node]
            left = buf[node] + log_sigmoid(-a)
            buf[2 * node + 1] = left
            buf[2 * node + 2] = left + a
        for j in range(n_leaves):
            c = leaf_class[j]
            if c >= 0:
                out_inout[r, c] += buf[n_inner + j]


@njit(**NJIT_HELPER)
def _path_noise(A, r, leaf, levels, buf):
    """log p_n of heap leaf ``leaf`` for row r of A: its frontier node's prefix in ``buf`` (the tree's top
    levels, as :func:`add_log_noise_all` computes them) and the last ``levels`` nodes of its path."""
    p = leaf + 1  # 1-based heap index: its bits below the frontier give the turns
    cur = (p >> levels) - 1
    val = buf[cur]
    for level in range(levels - 1, -1, -1):
        a = A[r, cur]
        left = val + log_sigmoid(-a)
        if (p >> level) & 1:
            val = left + a
            cur = 2 * cur + 2
        else:
            val = left
            cur = 2 * cur + 1
    return val


@njit(**NJIT_NO_NRT)
def gate_hits(R, A, Q, truth, betas, class_leaf, depth, levels, eps, hits_out, undecided_out, buf, noise, stamp, upper):
    """Top-1 hits of ``argmax_c (x_c + beta Q_c) == truth`` for every row and beta, where ``x = R + log p_n``,
    without log p_n of every class; rows it cannot decide are flagged.

    ``R`` float64 (m, C): the rows' scores before the noise term (``xi + intercept``); ``A`` float64 (m, n_inner)
    node activations; ``Q`` float64 (m, C); ``truth`` int64 (m,); ``betas`` float64 (B,). The tree's top
    ``depth - levels`` levels are evaluated per row; every class's score is bounded above by its prefix there
    (later log-sigmoids are at most 0) and only classes whose bound reaches the true class's score get their
    path's last ``levels`` nodes. A comparison is decided only when the two scores differ by more than ``eps``
    times the row's magnitudes (far more than the rounding of any order of the same sums, or of a row-constant
    shift): ``hits_out`` uint8 (B, m) and ``undecided_out`` uint8 (m,) (1: a near tie or a non-finite
    entry; such a row's hits are left to the caller) are written. Scratch: ``buf`` float64 (2**(depth - levels + 1)
    - 1,), ``noise`` and ``upper`` float64 (C,), ``stamp`` int64 (C,) zeros.
    """
    m, n_classes = R.shape
    n_inner = A.shape[1]
    n_top = (1 << (depth - levels)) - 1
    for r in range(m):
        undecided_out[r] = 0
        for i in range(betas.shape[0]):
            hits_out[i, r] = 0
        max_r = 0.0
        max_q = 0.0
        max_a = 0.0
        finite = True
        for c in range(n_classes):
            x = abs(R[r, c])
            q = abs(Q[r, c])
            if not (x < np.inf and q < np.inf):
                finite = False
            max_r = max(max_r, x)
            max_q = max(max_q, q)
        for node in range(n_inner):
            x = abs(A[r, node])
            if not x < np.inf:
                finite = False
            max_a = max(max_a, x)
        if not finite:
            undecided_out[r] = 1
            continue
        buf[0] = 0.0
        for node in range(n_top):
            a = A[r, node]
            left = buf[node] + log_sigmoid(-a)
            buf[2 * node + 1] = left
            buf[2 * node + 2] = left + a
        t = truth[r]
        x_t = R[r, t] + _path_noise(A, r, n_inner + class_leaf[t], levels, buf)
        # magnitudes bound every score, log p_n (at most depth (max |a| + 1)), the row maximum and log-sum-exp
        bound = max_r + depth * (max_a + 1.0)
        base = 6.0 * bound + 2.0 * abs(x_t) + 2.0 * math.log(n_classes + 1.0) + 2.0 + depth * depth * (max_a + 1.0)
        for c in range(n_classes):  # each class's upper bound without its last levels
            upper[c] = R[r, c] + buf[((n_inner + class_leaf[c] + 1) >> levels) - 1]
        upper[t] = -np.inf
        for i in range(betas.shape[0]):
            b = betas[i]
            tol = eps * (base + 2.0 * b * max_q)
            y_t = x_t + b * Q[r, t]
            top = -np.inf
            for c in range(n_classes):
                top = max(top, upper[c] + b * Q[r, c])
            if top < y_t - 2.0 * tol:  # no class can reach the true one
                hits_out[i, r] = 1
                continue
            first = 0  # the class of the highest bound first: most often the one that beats the true class
            while first < n_classes - 1 and upper[first] + b * Q[r, first] < top:  # (any order is right)
                first += 1
            miss = False
            near = False
            for j in range(-1, n_classes):
                c = first if j < 0 else j
                if c == t or (j == first):
                    continue
                if upper[c] + b * Q[r, c] < y_t - 2.0 * tol:
                    continue
                leaf = n_inner + class_leaf[c]
                if stamp[c] != r + 1:
                    noise[c] = _path_noise(A, r, leaf, levels, buf)
                    stamp[c] = r + 1
                d = (R[r, c] + noise[c] + b * Q[r, c]) - y_t
                if d > tol:
                    miss = True
                    break
                if d >= -tol:
                    near = True
            if miss:
                continue
            if near:
                undecided_out[r] = 1
            else:
                hits_out[i, r] = 1
