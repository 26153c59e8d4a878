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
def add_log_noise_rows(Z, weight_t, node_bias, leaf_class, out_inout, acts, buf):
    """Add log p_n(c | z_r) for every class c to ``out_inout[r, c]``, row by row.

    :func:`add_log_noise_all` with the node activations computed here, one row at
    a time, into ``acts``: no (n, n_inner) array of them is made, which at 23,000
    classes was 47 MB for 256 rows, and each row's activations are written and read
    while they are in cache. Each activation sums its bias and then the products
    in the order of :func:`node_activation` (the sampler's); the loop over nodes
    is innermost, so that it vectorises.

    ``Z``: float32 (n, k); ``weight_t``: float32 (k, n_inner), ``node_weight.T``
    C-contiguous; ``out_inout``: float64 (n, n_classes), incremented in place;
    ``acts``: float64 (n_inner,) and ``buf``: float64 (n_inner + n_leaves,)
    scratch (the caller allocates).
    """
    k, n_inner = weight_t.shape
    for r in range(Z.shape[0]):
        for node in range(n_inner):
            acts[node] = np.float64(node_bias[node])
        for d in range(k):
            z = np.float64(Z[r, d])
            for node in range(n_inner):
                acts[node] += np.float64(weight_t[d, node]) * z
        add_row_log_noise(acts, leaf_class, out_inout[r], buf)


@njit(**NJIT_HELPER)
def add_row_log_noise(acts, leaf_class, out_row, buf):
    """Add log p_n(c | x) of every class c to ``out_row[c]`` from one row's node activations ``acts``
    (float64 (n_inner,)): one top-down pass, log sigmoid(a) = log sigmoid(-a) + a, so each node costs one
    softplus. ``buf``: float64 (n_inner + n_leaves,) scratch."""
    n_inner = acts.shape[0]
    buf[0] = 0.0
    for node in range(n_inner):
        a = acts[node]
        left = buf[node] + log_sigmoid(-a)
        buf[2 * node + 1] = left
        buf[2 * node + 2] = left + a
    for j in range(leaf_class.shape[0]):
        c = leaf_class[j]
        if c >= 0:
            out_row[c] += buf[n_inner + j]


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
    for r in range(A.shape[0]):
        add_row_log_noise(A[r], leaf_class, out_inout[r], buf)
