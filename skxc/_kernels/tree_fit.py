"""Kernels that fit the nodes of the auxiliary tree (Bamler & Mandt 2020, Eqs. 7-9).

Tree layout (shared with ``skxc/_kernels/tree.py``): a complete binary tree of
depth D in heap order. Inner node ``i`` has children ``2i+1`` (left) and
``2i+2`` (right); going right has probability ``sigmoid(w_i @ z + b_i)``.

Data layout (built by the driver ``skxc._tree_fit``):

- ``perm``: int32 (C,), a permutation of the classes such that the classes of
  every node of the current level are the contiguous segment
  ``perm[node_lo[i]:node_hi[i]]`` (after each level the driver rewrites every
  segment as [left classes | right classes], each part ascending, which is the
  layout of the two children).
- ``Zl``: float32 (N, k) C-contiguous and ``wl``: float64 (N,), the projected
  features and sample weights with the rows in "level order": class by class
  in ``perm`` order, so the rows of the class at position ``j`` are
  ``Zl[row_ptr[j]:row_ptr[j + 1]]`` (``row_ptr``: int64 (C + 1,)) and the rows
  of a node are contiguous. The driver re-gathers them for every level.
- ``S``: float64 (C, k), per-class feature sums ``sum_{i: y_i = c} s_i z_i``;
  ``cnt``: float64 (C,), per-class total sample weight.
- ``side``: float64 (C,), +1.0 if a class goes right at its current node,
  -1.0 if left, 0.0 before the node is fitted. Written per node (nodes own
  disjoint classes).

The per-node parameter vector is ``theta = [w_0, ..., w_{k-1}, b]``, float64
(k + 1,). The node objective (Eq. 8 plus the regulariser) is

    L(theta) = sum_i s_i log sigmoid(zeta_{y_i} (w @ z_i + b)) - alpha |theta|^2

which is concave; it is maximised by damped Newton ascent.

Compile time (numba compiles on first use; measure with a fresh
``NUMBA_CACHE_DIR``): the cost grows with the number of loops and array
accesses in a function, slightly faster than linearly, and every jitted
function is compiled on its own and then linked and re-optimised into each of
its callers, so deep call graphs pay several times. Hence two functions:
:func:`fit_nodes` holds one copy of each loop (one Cholesky solve, one
discrete step, connected by a small state machine) and calls only the leaf
:func:`node_pass` (the hot loop over the rows, kept separate because it runs
faster when optimised on its own). Neither calls a NumPy overload or
allocates (the driver passes all scratch). Everything done once per level
(data layout, initialisation, gathering the rows, rewriting ``perm``) is
NumPy code in the driver.
"""

import math

from numba import njit

from .._config import NJIT_HELPER, NJIT_NO_NRT

#: Rows gathered per block in a pass over a node's rows.
BLOCK = 128

#: Newton line search: at most this many step sizes 1, 1/2, 1/4, ...
LINE_SEARCH_TRIES = 31


def scratch_shapes(k, n_classes):
    """Shapes of the float64 scratch ``vec, mat, blk, key`` of :func:`fit_nodes`.

    ``idx`` (int64) has the shape of ``key``.
    """
    d = k + 1
    return (4, d), (3, d, d), (2 * d + 4, BLOCK), (n_classes,)


@njit(**NJIT_HELPER)
def node_pass(theta, perm, lo, hi, side, row_ptr, Zl, wl, alpha, out_grad, out_neg_hess, blk):
    """Objective, gradient and negative Hessian of one node's objective: one pass over its rows.

    The rows ``row_ptr[lo]:row_ptr[hi]`` (level order) are processed in blocks
    of ``blk.shape[1]`` rows, transposed into ``blk[a, i] = [z_i, 1][a]`` so
    that the k + 1 gradient and (k + 1)(k + 2) / 2 Hessian entries are
    contiguous (vectorisable) dot products over the block; all arithmetic in
    float64. Kept out of :func:`fit_nodes`, whose only callee it is: the
    hot loops run about 10 % faster when LLVM optimises them in a small
    function, and compiling it twice (alone, and linked into the caller)
    costs little.

    Parameters
    ----------
    theta : float64 (k + 1,), ``[w, b]``.
    perm : int32 (C,); lo, hi : int, the node's classes ``perm[lo:hi]``.
    side : float64 (C,), zeta (+1 right / -1 left) of each class.
    row_ptr, Zl, wl : level-order rows, see the module docstring.
    alpha : float, regularisation strength.
    out_grad : float64 (k + 1,), overwritten with dL/dtheta.
    out_neg_hess : float64 (k + 1, k + 1), upper triangle (``b >= a``)
        overwritten with -d2L/dtheta2 (positive definite if ``alpha > 0``);
        the lower triangle is not touched.
    blk : float64 (2 (k + 1) + 4, block) scratch (:func:`scratch_shapes`):
        rows ``[0, d)`` the block, ``[d, 2d)`` the Hessian-weighted block,
        then weight, zeta, score and gradient coefficient per row.

    Returns
    -------
    float, the objective L(theta) including ``-alpha |theta|^2``.
    """
    k = Zl.shape[1]
    d = k + 1
    iw = 2 * d
    f = 0.0
    for a in range(d):
        f -= alpha * theta[a] * theta[a]
        out_grad[a] = -2.0 * alpha * theta[a]
        for b in range(a, d):
            out_neg_hess[a, b] = 2.0 * alpha if b == a else 0.0
    j = lo
    r_end = row_ptr[hi]
    for start in range(row_ptr[lo], r_end, blk.shape[1]):
        nb = r_end - start
        if nb > blk.shape[1]:
            nb = blk.shape[1]
        for i in range(nb):
            r = start + i
            while r >= row_ptr[j + 1]:
                j += 1
            for a in range(k):
                blk[a, i] = Zl[r, a]
            blk[k, i] = 1.0
            blk[iw, i] = wl[r]
            blk[iw + 1, i] = side[perm[j]]
            blk[iw + 2, i] = 0.0
        for a in range(d):
            s = theta[a]
            for i in range(nb):
                blk[iw + 2, i] += s * blk[a, i]
        for i in range(nb):
            # u = zeta * score; log sigmoid(u) = min(u, 0) - log(1 + e),
            # sigmoid(-u) and sigmoid(u) sigmoid(-u) = e / (1 + e)^2 with
            # e = exp(-|u|).
            s = blk[iw, i]
            zeta = blk[iw + 1, i]
            u = zeta * blk[iw + 2, i]
            e = math.exp(-abs(u))
            inv = 1.0 / (1.0 + e)
            f += s * ((u if u < 0.0 else 0.0) - math.log(1.0 + e))
            blk[iw + 3, i] = s * zeta * (e * inv if u >= 0.0 else inv)
            blk[d + k, i] = s * e * inv * inv
        for a in range(k):
            for i in range(nb):
                blk[d + a, i] = blk[d + k, i] * blk[a, i]
        for a in range(d):
            s = 0.0
            for i in range(nb):
                s += blk[iw + 3, i] * blk[a, i]
            out_grad[a] += s
            for b in range(a, d):
                s = 0.0
                for i in range(nb):
                    s += blk[d + a, i] * blk[b, i]
                out_neg_hess[a, b] += s
    return f


@njit(**NJIT_NO_NRT)
def fit_nodes(
    node_start, node_stop, node_lo, node_hi, perm, side_inout, row_ptr, Zl, wl, S, cnt,
    alpha, max_newton_iter, max_split_iter, newton_stop, theta_inout, out_objective, out_iterations,
    vec, mat, blk, key, idx,
):  # fmt: skip
    """Fit the heap nodes ``node_start <= i < node_stop`` (of one level) holding >= 2 classes.

    Node ``i`` starts from ``theta_inout[i]`` and the split that it implies
    (a discrete step from all classes unassigned), then alternates a damped
    Newton phase on ``theta`` and the discrete step until no class moves or
    after ``max_split_iter`` Newton phases. Neither step lowers the objective.

    - Newton: solve ``(-H) d = g`` (Cholesky; a pivot that is not safely
      positive is replaced by a tiny positive value) and try ``theta + t d``
      for ``t = 1, 1/2, ...`` (at most ``LINE_SEARCH_TRIES`` tries) until the
      objective does not decrease. A phase ends when the predicted gain
      ``g @ d / 2`` is at most ``newton_stop[i]``, after ``max_newton_iter``
      steps, or when no step size increases the objective.
    - Discrete step (Eq. 9): the ``m // 2`` classes of largest
      ``Delta_c = w @ S[c] + cnt[c] b`` go right, ties broken by position in
      the segment (ascending class index: the smaller index ranks higher);
      found by quickselect with deterministic pseudo-random pivots (expected
      O(m)). Flipping class ``c`` changes the objective by
      ``zeta_new * Delta_c`` and the gradient by ``zeta_new * [S[c], cnt[c]]``
      and leaves the Hessian unchanged (``sigmoid(u) sigmoid(-u)`` is even),
      so no pass over the rows is needed.
    - A pass over the node's rows (:func:`node_pass`) computes the
      objective, gradient and negative Hessian.

    Nodes with fewer than two classes are skipped (the driver sets their
    parameters). The nodes own disjoint class segments, so disjoint node
    ranges of one level may run concurrently on different threads, each with
    its own scratch.

    Parameters
    ----------
    node_start, node_stop : int, heap indices.
    node_lo, node_hi : int64 (n_heap_nodes,), class segment of every node.
    perm : int32 (C,); a node's segment is in ascending order (ties in the
        discrete step go to the earlier position).
    side_inout : float64 (C,), the nodes' entries must be 0.0 (unassigned)
        on entry and are overwritten with the final sides.
    row_ptr, Zl, wl, S, cnt : see the module docstring.
    alpha : float, regularisation strength.
    max_newton_iter : int (>= 0); max_split_iter : int (>= 1);
    newton_stop : float64 (n_inner,), stopping threshold of Newton per node.
    theta_inout : float64 (n_inner, k + 1); the fitted nodes' rows hold the
        initial ``[w, b]`` on entry and the fitted ones on exit.
    out_objective : float64 (n_inner, 2), [initial, final] node objective;
    out_iterations : int64 (n_inner, 2), [Newton phases, row passes]; both
        written for fitted nodes only.
    vec, mat, blk, key : float64 scratch of :func:`scratch_shapes`; idx :
        int64 (C,) scratch. On return ``vec[0]`` and the upper triangle of
        ``mat[0]`` hold the gradient and negative Hessian of the last fitted
        node at its final parameters and split.
    """
    k = Zl.shape[1]
    d = k + 1
    grad = vec[0]
    grad_try = vec[1]
    step = vec[2]
    theta_try = vec[3]
    hess = mat[0]
    hess_try = mat[1]
    chol = mat[2]
    for i in range(node_start, node_stop):
        lo = node_lo[i]
        hi = node_hi[i]
        m = hi - lo
        if m < 2:
            continue
        theta = theta_inout[i]
        f = 0.0
        f_init = 0.0
        n_split = 0
        n_pass = 0
        n_step = 0  # accepted Newton steps in the current phase
        tries = 0
        t = 0.0  # the next pass is at theta + t * step
        floor = 1e-12  # smallest Cholesky pivot: 1e-12 max(1, max |hess_aa|)
        line_search = False
        discrete = True
        while True:
            if discrete:
                # Discrete step: the n_sel smallest -Delta (ties: smaller
                # position) to idx[:n_sel] by quickselect, then the moves.
                n_sel = m // 2
                for j in range(m):
                    c = perm[lo + j]
                    s = cnt[c] * theta[k]
                    for a in range(k):
                        s += theta[a] * S[c, a]
                    key[j] = -s
                    idx[j] = j
                left = 0
                right = m - 1
                state = m
                while right > left:
                    state = (state * 6364136223846793005 + 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
                    p = left + (state >> 33) % (right - left + 1)
                    pivot = idx[p]
                    idx[p] = idx[right]
                    s = key[pivot]
                    store = left
                    for p in range(left, right):
                        q = idx[p]
                        if key[q] < s or (key[q] == s and q < pivot):
                            idx[p] = idx[store]
                            idx[store] = q
                            store += 1
                    idx[right] = idx[store]
                    idx[store] = pivot
                    if store == n_sel - 1:
                        break
                    if store < n_sel - 1:
                        left = store + 1
                    else:
                        right = store - 1
                n_moved = 0
                gain = 0.0
                for r in range(m):
                    j = idx[r]
                    c = perm[lo + j]
                    new = 1.0 if r < n_sel else -1.0
                    old = side_inout[c]
                    if new != old:
                        n_moved += 1
                        if old != 0.0:
                            gain -= new * key[j]
                            for a in range(k):
                                grad[a] += new * S[c, a]
                            grad[k] += new * cnt[c]
                        side_inout[c] = new
                discrete = False
                if n_pass > 0:
                    n_split += 1
                    f += gain
                    if n_moved == 0 or n_split >= max_split_iter:
                        break
                    n_step = 0
                else:  # initial split: first pass at theta itself
                    line_search = True
            if not line_search:
                # Newton step: solve hess @ step = grad by Cholesky,
                # hess = chol^T chol (chol upper triangular, like hess).
                if n_step >= max_newton_iter:
                    discrete = True
                    continue
                for a in range(d):
                    for b in range(a, d):
                        s = hess[a, b]
                        for q in range(a):
                            s -= chol[q, a] * chol[q, b]
                        if b == a:
                            chol[a, a] = math.sqrt(s if s > floor else floor)
                        else:
                            chol[a, b] = s / chol[a, a]
                for a in range(d):
                    s = grad[a]
                    for q in range(a):
                        s -= chol[q, a] * step[q]
                    step[a] = s / chol[a, a]
                decrement = 0.0
                for a in range(d - 1, -1, -1):
                    s = step[a]
                    for q in range(a + 1, d):
                        s -= chol[a, q] * step[q]
                    step[a] = s / chol[a, a]
                    decrement += grad[a] * step[a]
                if not decrement * 0.5 > newton_stop[i]:
                    discrete = True
                    continue
                t = 1.0
                tries = 0
            # Pass over the node's rows at theta_try = theta + t * step.
            for a in range(d):
                theta_try[a] = theta[a] + t * step[a] if t > 0.0 else theta[a]
            f_try = node_pass(theta_try, perm, lo, hi, side_inout, row_ptr, Zl, wl, alpha, grad_try, hess_try, blk)
            n_pass += 1
            line_search = False
            if n_pass == 1 or f_try >= f:
                # Accept (the first pass is the initial point).
                floor = 1e-12
                for a in range(d):
                    if 1e-12 * abs(hess_try[a, a]) > floor:
                        floor = 1e-12 * abs(hess_try[a, a])
                    theta[a] = theta_try[a]
                    grad[a] = grad_try[a]
                    for b in range(a, d):
                        hess[a, b] = hess_try[a, b]
                f = f_try
                if n_pass == 1:
                    f_init = f
                else:
                    n_step += 1
            else:
                tries += 1
                t *= 0.5
                line_search = tries < LINE_SEARCH_TRIES
                discrete = not line_search
        out_objective[i, 0] = f_init
        out_objective[i, 1] = f
        out_iterations[i, 0] = n_split
        out_iterations[i, 1] = n_pass
