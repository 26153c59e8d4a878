"""Kernels for prediction: sparse scores over all classes and the exact top-k search.

``coef_flat`` is the flat buffer of coef_ with element (c, j) at
``c * stride_c + j * stride_j`` (see ``skxc/_kernels/sgd.py``). With a
feature-major model (``stride_c == 1``) each non-zero of a row adds one
contiguous, vectorised row of the weights to the scores.
"""

import math

import numpy as np
from numba import njit

from .._config import NJIT_HELPER, NJIT_NO_NRT


@njit(**NJIT_NO_NRT)
def add_csr_scores(indptr, indices, data, row_start, row_stop, coef_flat, stride_c, stride_j, out_inout):
    """out_inout[r - row_start, c] += sum_p data[p] * coef[c, indices[p]] for rows in [row_start, row_stop).

    indptr int64 (n+1,), indices int32, data float32; out_inout float64
    (row_stop - row_start, n_classes), incremented in place.
    """
    for r in range(row_start, row_stop):
        _add_row_scores(indptr, indices, data, r, coef_flat, stride_c, stride_j, out_inout[r - row_start])


@njit(**NJIT_HELPER)
def _add_row_scores(indptr, indices, data, r, coef_flat, stride_c, stride_j, out_inout):
    """out_inout[c] += sum_p data[p] * coef[c, indices[p]] over the non-zeros p of CSR row r."""
    n_classes = out_inout.shape[0]
    for p in range(indptr[r], indptr[r + 1]):
        v = np.float64(data[p])
        base = np.int64(indices[p]) * stride_j
        if stride_c == 1:  # a slice lets LLVM vectorise (no negative-index wraparound)
            col = coef_flat[base : base + n_classes]
            for c in range(n_classes):
                out_inout[c] += v * col[c]
        else:
            for c in range(n_classes):
                out_inout[c] += v * coef_flat[base + c * stride_c]


@njit(**NJIT_HELPER)
def _subtree_max(best, n_inner):
    """best[node] = max of best over the node's two children, for every inner node, bottom up.

    Level by level: the children of the nodes [lo, hi) are [2 lo + 1, 2 hi + 1), in
    pairs, so each level is one pass over contiguous slices.
    """
    hi = n_inner
    while hi > 0:
        lo = (hi - 1) // 2
        parents = best[lo:hi]
        children = best[2 * lo + 1 : 2 * hi + 1]
        for i in range(hi - lo):
            a = children[2 * i]
            b = children[2 * i + 1]
            parents[i] = a if a > b else b
        hi = lo


@njit(**NJIT_HELPER)
def _search_row(
    best, z, node_weight, node_bias, leaf_class, k, stack_node, stack_lp, top_c, top_s, out_class, out_score, r
):
    """Branch and bound for one row; writes row ``r`` of ``out_class``/``out_score``.

    ``best`` (float64, n_inner + n_leaves) holds the row's raw score xi of each
    leaf's class (-inf for padding leaves) and, above them, the subtree maxima
    (:func:`_subtree_max`). The stacks and top lists are scratch.
    """
    n_inner = node_bias.shape[0]
    n_top = 0
    kth = -np.inf
    stack_node[0] = 0
    stack_lp[0] = 0.0
    sp_ = 1
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
            s = best[node] + lp
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
        # each child's term directly, from one exp and log1p: log sigmoid(+-a) is -soft on the likely side and
        # -|a| - soft on the other (the bits of log_sigmoid(+-a)). Derived from its sibling (right = left + a),
        # the likely child's term cancelled: off by ulp(|a|) and more (0.125 at |a| ~ 1e15), it could exceed
        # lp, which the bound above assumes it never does
        abs_a = abs(a)
        soft = math.log1p(math.exp(-abs_a))
        likely = lp - soft
        unlikely = lp + (-abs_a - soft)
        if a >= 0.0:
            left, right = unlikely, likely
        else:
            left, right = likely, unlikely
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


def search_scratch(node_bias, leaf_class, k):
    """Scratch of one call of :func:`top_k_csr` or :func:`top_k_feature_major` (NumPy, not compiled):
    ``best`` (padding leaves already -inf), the two stacks and the top-k lists.

    The caller allocates it so that the kernels compile no NumPy allocation code.
    """
    n_inner = node_bias.shape[0]
    n_leaves = leaf_class.shape[0]
    depth = 0
    while (1 << depth) < n_leaves:
        depth += 1
    best = np.empty(n_inner + n_leaves, dtype=np.float64)
    best[n_inner:][np.asarray(leaf_class) < 0] = -np.inf
    return (
        best,
        np.empty(2 * depth + 2, dtype=np.int64),
        np.empty(2 * depth + 2, dtype=np.float64),
        np.empty(k, dtype=np.int64),
        np.empty(k, dtype=np.float64),
    )


@njit(**NJIT_NO_NRT)
def top_k_csr(
    indptr,
    indices,
    data,
    row_start,
    row_stop,
    coef_flat,
    stride_c,
    stride_j,
    intercept,
    Z,
    node_weight,
    node_bias,
    leaf_class,
    class_leaf,
    k,
    out_class,
    out_score,
    best,
    stack_node,
    stack_lp,
    top_c,
    top_s,
    acc,
):
    """Exact top-k classes of xi_c(x_r) + log p_n(c | Z[r]) for the CSR rows [row_start, row_stop).

    Branch and bound over the tree instead of evaluating log p_n for all
    classes: a subtree is skipped when (log p_n of its root) + (max of xi over
    its classes) cannot beat the current k-th best score. Since log p_n of a
    leaf is the path sum of non-positive terms, the bound is valid and the
    result is exact; a confident tree prunes most of it.

    Each row's scores xi = intercept + coef @ x go straight into the leaves of
    one cache-resident buffer, so no (rows x classes) block ever goes through
    memory; rows of up to three non-zeros (with a feature-major coef_) take a
    single pass over the classes. Dense rows use the same kernel: their scores,
    computed by BLAS, are passed as a feature-major ``coef_flat`` with one
    unit non-zero per row.

    indptr int64, indices int32, data float32; coef_flat float32 with element
    (c, j) at ``c * stride_c + j * stride_j``; intercept float32 (n_classes,);
    Z float32 (row_stop - row_start, kz) the rows' projections; the tree arrays
    as in ``skxc/_kernels/tree.py``. Row r - row_start of out_class int64
    (., k) and out_score float64 (., k) is written, best first. ``best, stack_node,
    stack_lp, top_c, top_s``: scratch from :func:`search_scratch`; ``acc``: float64
    (n_classes,) scratch (one set per concurrent call).
    """
    n_classes = intercept.shape[0]
    n_inner = node_bias.shape[0]
    leaves = best[n_inner:]
    for r in range(row_start, row_stop):
        p0, p1 = indptr[r], indptr[r + 1]
        nnz = p1 - p0
        # slices everywhere below, so that LLVM sees non-negative indices and vectorises
        if stride_c == 1 and nnz == 0:
            for c in range(n_classes):
                leaves[class_leaf[c]] = intercept[c]
        elif stride_c == 1 and nnz == 1:
            v0, b0 = np.float64(data[p0]), np.int64(indices[p0]) * stride_j
            c0 = coef_flat[b0 : b0 + n_classes]
            for c in range(n_classes):
                leaves[class_leaf[c]] = intercept[c] + v0 * c0[c]
        elif stride_c == 1 and nnz == 2:
            v0, b0 = np.float64(data[p0]), np.int64(indices[p0]) * stride_j
            v1, b1 = np.float64(data[p0 + 1]), np.int64(indices[p0 + 1]) * stride_j
            c0, c1 = coef_flat[b0 : b0 + n_classes], coef_flat[b1 : b1 + n_classes]
            for c in range(n_classes):
                leaves[class_leaf[c]] = intercept[c] + v0 * c0[c] + v1 * c1[c]
        elif stride_c == 1 and nnz == 3:
            v0, b0 = np.float64(data[p0]), np.int64(indices[p0]) * stride_j
            v1, b1 = np.float64(data[p0 + 1]), np.int64(indices[p0 + 1]) * stride_j
            v2, b2 = np.float64(data[p0 + 2]), np.int64(indices[p0 + 2]) * stride_j
            c0, c1, c2 = coef_flat[b0 : b0 + n_classes], coef_flat[b1 : b1 + n_classes], coef_flat[b2 : b2 + n_classes]
            for c in range(n_classes):
                leaves[class_leaf[c]] = intercept[c] + v0 * c0[c] + v1 * c1[c] + v2 * c2[c]
        else:
            for c in range(n_classes):
                acc[c] = intercept[c]
            _add_row_scores(indptr, indices, data, r, coef_flat, stride_c, stride_j, acc)
            for c in range(n_classes):
                leaves[class_leaf[c]] = acc[c]
        _subtree_max(best, n_inner)
        _search_row(
            best,
            Z[r - row_start],
            node_weight,
            node_bias,
            leaf_class,
            k,
            stack_node,
            stack_lp,
            top_c,
            top_s,
            out_class,
            out_score,
            r - row_start,
        )


@njit(**NJIT_NO_NRT)
def top_k_feature_major(
    indptr,
    indices,
    data,
    row_start,
    row_stop,
    w_indptr,
    w_leaf,
    w_data,
    row_offset,
    leaf_intercept,
    Z,
    node_weight,
    node_bias,
    leaf_class,
    k,
    out_class,
    out_score,
    best,
    stack_node,
    stack_lp,
    top_c,
    top_s,
):
    """:func:`top_k_csr` for sparse weights given feature-major (``w_indptr``, ``w_leaf``, ``w_data``:
    coef_.T as CSR, see ``skxc/_kernels/hashed.py``, with each stored weight's class given as its leaf
    of the tree, ``class_leaf[class]``: ``skxc._weights.leaf_index``).

    Each row's leaves start at ``leaf_intercept`` (float64 (n_leaves,): each leaf's class's intercept,
    -inf at padding leaves) + ``row_offset[r - row_start]`` (float64, a term common to all classes of
    the row, or empty), a pass over contiguous memory, and each of the row's features adds its stored
    weights to their leaves, so a row costs O(C) plus its features' stored weights, with no (rows x
    classes) block in memory. ``best, stack_node, stack_lp, top_c, top_s``: scratch from
    :func:`search_scratch`.
    """
    n_inner = node_bias.shape[0]
    has_offset = row_offset.shape[0] > 0
    leaves = best[n_inner:]
    for r in range(row_start, row_stop):
        offset = row_offset[r - row_start] if has_offset else 0.0
        if math.isfinite(offset):  # -inf + offset: the padding leaves stay -inf
            for i in range(leaves.shape[0]):
                leaves[i] = leaf_intercept[i] + offset
        else:  # a broken model's offset (inf or NaN) reaches the classes' leaves only
            for i in range(leaves.shape[0]):
                leaves[i] = -np.inf if leaf_class[i] < 0 else leaf_intercept[i] + offset
        for p in range(indptr[r], indptr[r + 1]):
            v = np.float64(data[p])
            j = indices[p]
            for q in range(w_indptr[j], w_indptr[j + 1]):
                leaves[w_leaf[q]] += v * w_data[q]
        _subtree_max(best, n_inner)
        _search_row(
            best, Z[r - row_start], node_weight, node_bias, leaf_class, k, stack_node, stack_lp, top_c, top_s,
            out_class, out_score, r - row_start,
        )  # fmt: skip
