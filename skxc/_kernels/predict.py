"""Kernels for prediction: sparse scores over all classes.

``coef_flat`` is the flat buffer of coef_ with element (c, j) at
``c * stride_c + j * stride_j`` (see ``skxc/_kernels/sgd.py``). With a
feature-major model (``stride_c == 1``) each non-zero of a row adds one
contiguous, vectorised row of the weights to the scores.
"""

import numpy as np
from numba import njit

from .._config import NJIT
from .tree import log_sigmoid


@njit(**NJIT)
def add_csr_scores(indptr, indices, data, row_start, row_stop, coef_flat, stride_c, stride_j, out_inout):
    """out_inout[r - row_start, c] += sum_p data[p] * coef[c, indices[p]] for rows in [row_start, row_stop).

    indptr int64 (n+1,), indices int32, data float32; out_inout float64
    (row_stop - row_start, n_classes), incremented in place.
    """
    n_classes = out_inout.shape[1]
    for r in range(row_start, row_stop):
        o = out_inout[r - row_start]
        for p in range(indptr[r], indptr[r + 1]):
            v = np.float64(data[p])
            base = np.int64(indices[p]) * stride_j
            if stride_c == 1:
                for c in range(n_classes):
                    o[c] += v * coef_flat[base + c]
            else:
                for c in range(n_classes):
                    o[c] += v * coef_flat[base + c * stride_c]


@njit(**NJIT)
def top_k_rows(S, Z, node_weight, node_bias, leaf_class, k, out_class, out_score):
    """Exact top-k classes of the bias-corrected scores S[r, c] + log p_n(c | Z[r]).

    Branch and bound over the tree instead of evaluating log p_n for all
    classes: a subtree is skipped when (log p_n of its root) + (max of S over
    its classes) cannot beat the current k-th best score. Since log p_n of a
    leaf is the path sum of non-positive terms, the bound is valid and the
    result is exact; a confident tree prunes most of it.

    S float64 (n, n_classes) raw scores xi (coef @ x + intercept); Z float32 (n, kz).
    out_class int64 (n, k) and out_score float64 (n, k) are written in place,
    best first.
    """
    n = S.shape[0]
    n_inner = node_bias.shape[0]
    n_leaves = leaf_class.shape[0]
    best = np.empty(n_inner + n_leaves, dtype=np.float64)
    depth = 0
    while (1 << depth) < n_leaves:
        depth += 1
    stack_node = np.empty(2 * depth + 2, dtype=np.int64)
    stack_lp = np.empty(2 * depth + 2, dtype=np.float64)
    top_c = np.empty(k, dtype=np.int64)
    top_s = np.empty(k, dtype=np.float64)
    # scores with a -inf sentinel at index n_classes, which padding leaves point to:
    # a branch-free gather runs about twice as fast as testing leaf_class[j] >= 0
    n_classes = S.shape[1]
    xi = np.empty(n_classes + 1, dtype=np.float64)
    xi[n_classes] = -np.inf
    leaf_index = np.empty(n_leaves, dtype=np.int64)
    for j in range(n_leaves):
        leaf_index[j] = leaf_class[j] if leaf_class[j] >= 0 else n_classes
    for r in range(n):
        for c in range(n_classes):
            xi[c] = S[r, c]
        for j in range(n_leaves):
            best[n_inner + j] = xi[leaf_index[j]]
        for node in range(n_inner - 1, -1, -1):
            a = best[2 * node + 1]
            b = best[2 * node + 2]
            best[node] = a if a > b else b
        n_top = 0
        kth = -np.inf
        stack_node[0] = 0
        stack_lp[0] = 0.0
        sp_ = 1
        z = Z[r]
        while sp_ > 0:
            sp_ -= 1
            node = stack_node[sp_]
            lp = stack_lp[sp_]
            if n_top == k and lp + best[node] <= kth:
                continue
            if node >= n_inner:
                c = leaf_class[node - n_inner]
                if c < 0:
                    continue
                s = xi[c] + lp
                # insert into the sorted top list (descending)
                pos = n_top if n_top < k else k - 1
                if n_top < k:
                    n_top += 1
                while pos > 0 and top_s[pos - 1] < s:
                    top_s[pos] = top_s[pos - 1]
                    top_c[pos] = top_c[pos - 1]
                    pos -= 1
                top_s[pos] = s
                top_c[pos] = c
                if n_top == k:
                    kth = top_s[k - 1]
                continue
            a = np.float64(node_bias[node])
            for d in range(z.shape[0]):
                a += np.float64(node_weight[node, d]) * np.float64(z[d])
            left = lp + log_sigmoid(-a)
            right = left + a
            lc, rc = 2 * node + 1, 2 * node + 2
            # push the less promising child first so the better one is explored next
            if left + best[lc] >= right + best[rc]:
                stack_node[sp_] = rc
                stack_lp[sp_] = right
                stack_node[sp_ + 1] = lc
                stack_lp[sp_ + 1] = left
            else:
                stack_node[sp_] = lc
                stack_lp[sp_] = left
                stack_node[sp_ + 1] = rc
                stack_lp[sp_ + 1] = right
            sp_ += 2
        for i in range(k):
            out_class[r, i] = top_c[i]
            out_score[r, i] = top_s[i]
