"""Kernels that fit the auxiliary tree greedily (Bamler & Mandt 2020, Eqs. 7-9).

Tree layout (shared with ``skxc/_kernels/tree.py``): a complete binary tree of
depth D in heap order. Inner node ``i`` has children ``2i+1`` (left) and
``2i+2`` (right); going right has probability ``sigmoid(w_i @ z + b_i)``.

Data layout (built by the driver ``skxc._tree_fit``):

- ``Zs``: float32 (N, k) C-contiguous, the projected features with the rows
  sorted by class (counting sort, done once), so the rows of class ``c`` are
  ``Zs[class_ptr[c]:class_ptr[c + 1]]``; ``ws``: float64 (N,), the sample
  weights in the same order; ``class_ptr``: int64 (C + 1,).
- ``S``: float64 (C, k), per-class feature sums ``sum_{i: y_i = c} s_i z_i``;
  ``cnt``: float64 (C,), per-class total sample weight.
- ``perm``: int32 (C,), a permutation of the classes such that the classes of
  every node of the current level are the contiguous, ascending-sorted segment
  ``perm[node_lo[i]:node_hi[i]]``. Fitting a node rewrites its segment in place
  into [left classes | right classes], each part again sorted ascending, which
  is exactly the layout of its two children.
- ``Zl``, ``wl``: float32 (N, k) and float64 (N,), the rows re-gathered at the
  start of every level in the order of ``perm`` (:func:`gather_rows`), so the
  rows of class ``perm[j]`` are ``Zl[row_ptr[j]:row_ptr[j + 1]]`` and a node's
  rows are contiguous; ``row_ptr``: int64 (C + 1,), positions, not classes.
- ``side``: float64 (C,), +1.0 if a class goes right at its current node,
  -1.0 if left. Scratch, written per node (nodes own disjoint classes).

The per-node parameter vector is ``theta = [w_0, ..., w_{k-1}, b]``, float64
(k + 1,). The node objective (Eq. 8 plus the regulariser) is

    L(theta) = sum_i s_i log sigmoid(zeta_{y_i} (w @ z_i + b)) - alpha |theta|^2

which is concave; it is maximised by damped Newton ascent.

Kernels never modify an argument unless its name ends in ``_inout`` or starts
with ``out_``; all are serial and release the GIL, so the driver can fit the
independent nodes of one level on several Python threads.
"""

import math

import numpy as np
from numba import njit

from .._config import NJIT


@njit(**NJIT)
def sort_rows_by_class(y, n_classes):
    """Counting sort of the rows by class.

    Parameters
    ----------
    y : int32 (N,), class of each row, in ``[0, n_classes)``.
    n_classes : int

    Returns
    -------
    class_ptr : int64 (n_classes + 1,), rows of class ``c`` are
        ``order[class_ptr[c]:class_ptr[c + 1]]``.
    order : int64 (N,), row indices sorted by class (stable).
    """
    n = y.shape[0]
    class_ptr = np.zeros(n_classes + 1, dtype=np.int64)
    for i in range(n):
        class_ptr[y[i] + 1] += 1
    for c in range(n_classes):
        class_ptr[c + 1] += class_ptr[c]
    fill = class_ptr[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = y[i]
        order[fill[c]] = i
        fill[c] += 1
    return class_ptr, order


@njit(**NJIT)
def class_sums(Zs, ws, class_ptr):
    """Per-class weighted feature sums and weights.

    Parameters
    ----------
    Zs : float32 (N, k) C-contiguous, rows sorted by class.
    ws : float64 (N,), sample weights in the same order.
    class_ptr : int64 (C + 1,).

    Returns
    -------
    S : float64 (C, k), ``S[c] = sum_{rows r of c} ws[r] * Zs[r]``.
    cnt : float64 (C,), ``cnt[c] = sum_{rows r of c} ws[r]``.
    """
    n_classes = class_ptr.shape[0] - 1
    k = Zs.shape[1]
    S = np.zeros((n_classes, k), dtype=np.float64)
    cnt = np.zeros(n_classes, dtype=np.float64)
    for c in range(n_classes):
        for r in range(class_ptr[c], class_ptr[c + 1]):
            s = ws[r]
            cnt[c] += s
            for a in range(k):
                S[c, a] += s * Zs[r, a]
    return S, cnt


@njit(**NJIT)
def gather_rows(pos_start, pos_stop, perm, class_ptr, Zs, ws, row_ptr, out_Zl, out_wl):
    """Copy the rows of classes ``perm[pos_start:pos_stop]`` into level order.

    Parameters
    ----------
    pos_start, pos_stop : int, positions in ``perm``.
    perm : int32 (C,); class_ptr : int64 (C + 1,).
    Zs : float32 (N, k), ws : float64 (N,), rows sorted by class.
    row_ptr : int64 (C + 1,), ``row_ptr[j]`` = first level-order row of the
        class at position ``j`` (cumulative row counts in ``perm`` order).
    out_Zl : float32 (N, k), out_wl : float64 (N,); rows
        ``row_ptr[pos_start]:row_ptr[pos_stop]`` are overwritten.
    """
    k = Zs.shape[1]
    for j in range(pos_start, pos_stop):
        c = perm[j]
        dst = row_ptr[j]
        for r in range(class_ptr[c], class_ptr[c + 1]):
            out_wl[dst] = ws[r]
            for a in range(k):
                out_Zl[dst, a] = Zs[r, a]
            dst += 1


#: Rows gathered per block in a pass over a node's rows.
BLOCK = 128


@njit(**NJIT)
def make_workspace(k):
    """Scratch arrays for one thread fitting nodes with ``k`` features.

    Returns a tuple ``(grad, hess, grad_try, hess_try, step, theta_try, chol,
    xt, hx, vb)`` of float64 arrays: five of shape (k + 1,) or
    (k + 1, k + 1), ``xt`` and ``hx`` of shape (k + 1, BLOCK) (a block of rows,
    transposed) and ``vb`` of shape (4, BLOCK) (per-row scratch).
    """
    d = k + 1
    return (
        np.zeros(d, dtype=np.float64),
        np.zeros((d, d), dtype=np.float64),
        np.zeros(d, dtype=np.float64),
        np.zeros((d, d), dtype=np.float64),
        np.zeros(d, dtype=np.float64),
        np.zeros(d, dtype=np.float64),
        np.zeros((d, d), dtype=np.float64),
        np.zeros((d, BLOCK), dtype=np.float64),
        np.zeros((d, BLOCK), dtype=np.float64),
        np.zeros((4, BLOCK), dtype=np.float64),
    )


@njit(**NJIT)
def _node_pass(theta, perm, lo, hi, side, row_ptr, Zl, wl, alpha, out_grad, out_neg_hess, xt, hx, vb):
    """:func:`node_objective_grad_hess` with caller-provided block scratch.

    The node's rows ``row_ptr[lo]:row_ptr[hi]`` are contiguous in level order.
    They are processed in blocks of ``xt.shape[1]`` rows, transposed into
    ``xt[:, i] = [z_i, 1]`` so that the k + 1 gradient and (k + 1)(k + 2) / 2
    Hessian entries are contiguous (vectorisable) dot products over the block.
    ``hx`` (same shape as ``xt``) and ``vb`` (4, block) are scratch.
    """
    k = Zl.shape[1]
    d = k + 1
    block = xt.shape[1]
    for a in range(d):
        out_grad[a] = 0.0
        for b in range(d):
            out_neg_hess[a, b] = 0.0
    t = vb[2]
    gc = vb[3]
    f = 0.0
    j = lo
    r_end = row_ptr[hi]
    for start in range(row_ptr[lo], r_end, block):
        # Gather the block: features, weights and sides.
        m = min(block, r_end - start)
        for i in range(m):
            r = start + i
            while r >= row_ptr[j + 1]:
                j += 1
            for a in range(k):
                xt[a, i] = Zl[r, a]
            xt[k, i] = 1.0
            vb[0, i] = wl[r]
            vb[1, i] = side[perm[j]]
        for i in range(m):
            t[i] = theta[k]
        for a in range(k):
            th = theta[a]
            for i in range(m):
                t[i] += th * xt[a, i]
        for i in range(m):
            s = vb[0, i]
            zeta = vb[1, i]
            u = zeta * t[i]
            # log sigmoid(u) = min(u, 0) - log(1 + exp(-|u|)), sigmoid(-u) and
            # sigmoid(u) sigmoid(-u) = e / (1 + e)^2 with e = exp(-|u|).
            e = math.exp(-abs(u))
            inv = 1.0 / (1.0 + e)
            f += s * (min(u, 0.0) - math.log(1.0 + e))
            sig_neg = e * inv if u >= 0.0 else inv
            gc[i] = s * zeta * sig_neg
            hx[k, i] = s * e * inv * inv
        for a in range(k):
            for i in range(m):
                hx[a, i] = hx[k, i] * xt[a, i]
        for a in range(d):
            acc = 0.0
            for i in range(m):
                acc += gc[i] * xt[a, i]
            out_grad[a] += acc
            for b in range(a, d):
                acc = 0.0
                for i in range(m):
                    acc += hx[a, i] * xt[b, i]
                out_neg_hess[a, b] += acc
    for a in range(d):
        f -= alpha * theta[a] * theta[a]
        out_grad[a] -= 2.0 * alpha * theta[a]
        out_neg_hess[a, a] += 2.0 * alpha
        for b in range(a + 1, d):
            out_neg_hess[b, a] = out_neg_hess[a, b]
    return f


@njit(**NJIT)
def node_objective_grad_hess(theta, perm, lo, hi, side, row_ptr, Zl, wl, alpha, out_grad, out_neg_hess):
    """Objective, gradient and negative Hessian of one node's objective.

    One pass over the rows of the classes ``perm[lo:hi]``, gathered in blocks
    of ``BLOCK`` rows; all arithmetic in float64.

    Parameters
    ----------
    theta : float64 (k + 1,), ``[w, b]``.
    perm : int32 (C,); the node's classes are ``perm[lo:hi]``.
    lo, hi : int
    side : float64 (C,), zeta (+1 right / -1 left) of each class.
    row_ptr, Zl, wl : level-order rows, see the module docstring.
    alpha : float, regularisation strength.
    out_grad : float64 (k + 1,), overwritten with dL/dtheta.
    out_neg_hess : float64 (k + 1, k + 1) C-contiguous, overwritten with
        -d2L/dtheta2 (symmetric positive definite if ``alpha > 0``).

    Returns
    -------
    float, the objective L(theta) including ``-alpha |theta|^2``.
    """
    d = Zl.shape[1] + 1
    xt = np.empty((d, BLOCK), dtype=np.float64)
    hx = np.empty((d, BLOCK), dtype=np.float64)
    vb = np.empty((4, BLOCK), dtype=np.float64)
    return _node_pass(theta, perm, lo, hi, side, row_ptr, Zl, wl, alpha, out_grad, out_neg_hess, xt, hx, vb)


@njit(**NJIT)
def cholesky_solve(A, rhs, out_x, chol):
    """Solve ``A x = rhs`` for a small symmetric positive (semi)definite ``A``.

    Cholesky factorisation without pivoting; a pivot that is not safely
    positive (singular ``A``, e.g. ``alpha == 0`` with a degenerate node) is
    replaced by a tiny positive value, which turns the solve into a slightly
    damped one instead of failing.

    Parameters
    ----------
    A : float64 (d, d), symmetric; not modified.
    rhs : float64 (d,); not modified.
    out_x : float64 (d,), overwritten with the solution.
    chol : float64 (d, d), scratch (overwritten with the Cholesky factor).
    """
    d = A.shape[0]
    scale = 1.0
    for a in range(d):
        scale = max(scale, abs(A[a, a]))
    floor = 1e-12 * scale
    L = chol
    for j in range(d):
        s = A[j, j]
        for m in range(j):
            s -= L[j, m] * L[j, m]
        if not s > floor:
            s = floor
        ljj = math.sqrt(s)
        L[j, j] = ljj
        for i in range(j + 1, d):
            s = A[i, j]
            for m in range(j):
                s -= L[i, m] * L[j, m]
            L[i, j] = s / ljj
    for i in range(d):
        s = rhs[i]
        for m in range(i):
            s -= L[i, m] * out_x[m]
        out_x[i] = s / L[i, i]
    for i in range(d - 1, -1, -1):
        s = out_x[i]
        for m in range(i + 1, d):
            s -= L[m, i] * out_x[m]
        out_x[i] = s / L[i, i]


@njit(**NJIT)
def _newton_steps(theta_inout, f, perm, lo, hi, side, row_ptr, Zl, wl, alpha, max_iter, stop, work):
    """Damped Newton ascent from ``theta_inout`` with known objective ``f``.

    ``work[0]``, ``work[1]`` must hold the gradient and negative Hessian at
    ``theta_inout`` on entry and hold them at the returned point on exit.
    Each step solves ``(-H) d = g`` and tries ``theta + t d`` for
    ``t = 1, 1/2, ...`` (at most 31 tries) until the objective does not
    decrease. Stops when the predicted gain ``g @ d / 2 <= stop``, after
    ``max_iter`` steps, or when no step size increases the objective.
    Returns ``(f, n_pass)``.
    """
    grad, hess, grad_try, hess_try, step, theta_try, chol, xt, hx, vb = work
    d = theta_inout.shape[0]
    n_pass = 0
    for _ in range(max_iter):
        cholesky_solve(hess, grad, step, chol)
        decrement = 0.0
        for a in range(d):
            decrement += grad[a] * step[a]
        if not decrement * 0.5 > stop:
            break
        t = 1.0
        accepted = False
        f_try = f
        for _ in range(31):
            for a in range(d):
                theta_try[a] = theta_inout[a] + t * step[a]
            f_try = _node_pass(theta_try, perm, lo, hi, side, row_ptr, Zl, wl, alpha, grad_try, hess_try, xt, hx, vb)
            n_pass += 1
            if f_try >= f:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break
        for a in range(d):
            theta_inout[a] = theta_try[a]
            grad[a] = grad_try[a]
            for b in range(d):
                hess[a, b] = hess_try[a, b]
        f = f_try
    return f, n_pass


#: Standard deviation of the class means' scores at a node's initialisation.
INIT_SCORE_STD = 1.0

#: Power iterations for the initial direction, and their convergence tolerance.
POWER_MAX_ITER = 64
POWER_TOL = 1e-10


@njit(**NJIT)
def _power_iteration(M, v_inout):
    """Dominant eigenvector of a symmetric positive semidefinite ``M``.

    Power iteration from ``v_inout`` (float64 (n,), unit norm) until the
    iterate moves by less than ``sqrt(POWER_TOL)`` or ``POWER_MAX_ITER``
    steps. ``v_inout`` is overwritten with the unit-norm result. Returns
    False if an iterate vanishes (``M v == 0``).
    """
    n = M.shape[0]
    u = np.empty(n, dtype=np.float64)
    for _ in range(POWER_MAX_ITER):
        norm = 0.0
        for a in range(n):
            s = 0.0
            for b in range(n):
                s += M[a, b] * v_inout[b]
            u[a] = s
            norm += s * s
        if not norm > 0.0:
            return False
        norm = 1.0 / math.sqrt(norm)
        change = 0.0
        for a in range(n):
            ua = u[a] * norm
            change += (ua - v_inout[a]) * (ua - v_inout[a])
            v_inout[a] = ua
        if change < POWER_TOL:
            break
    return True


@njit(**NJIT)
def initial_direction(perm, lo, hi, S, out_w):
    """Dominant eigenvector of the covariance of the class sums of a node.

    The covariance is over the (unweighted) set ``{S[c] : c in perm[lo:hi]}``.
    Exact for two classes (the difference of the two sums); otherwise power
    iteration (at most ``POWER_MAX_ITER`` steps, so approximate when the top
    two eigenvalues are close, which does not matter for an initialisation),
    on the m x m Gram matrix of the centred sums when there are at most k
    classes and on the k x k covariance otherwise, started from the centred
    sum of largest norm. The sign is fixed so that the entry of largest
    magnitude is positive (first such entry on ties). A zero covariance gives
    ``out_w = 0``.

    Parameters
    ----------
    perm : int32 (C,); lo, hi : int, the node's classes ``perm[lo:hi]``.
    S : float64 (C, k), per-class feature sums.
    out_w : float64 (k,), overwritten with the unit eigenvector (or zeros).
    """
    k = S.shape[1]
    m = hi - lo
    for a in range(k):
        out_w[a] = 0.0
    if k == 0 or m < 2:
        return
    X = np.empty((m, k), dtype=np.float64)
    mean = np.zeros(k, dtype=np.float64)
    for j in range(m):
        c = perm[lo + j]
        for a in range(k):
            X[j, a] = S[c, a]
            mean[a] += S[c, a]
    for a in range(k):
        mean[a] /= m
    j_big = 0
    big = -1.0
    for j in range(m):
        sq = 0.0
        for a in range(k):
            X[j, a] -= mean[a]
            sq += X[j, a] * X[j, a]
        if sq > big:
            big = sq
            j_big = j
    if not big > 0.0:  # all class sums equal: zero covariance
        return
    if m == 2:
        for a in range(k):
            out_w[a] = X[0, a] - X[1, a]
    elif m <= k:
        G = np.empty((m, m), dtype=np.float64)
        for i in range(m):
            for j in range(i, m):
                s = 0.0
                for a in range(k):
                    s += X[i, a] * X[j, a]
                G[i, j] = s
                G[j, i] = s
        u = np.zeros(m, dtype=np.float64)
        u[j_big] = 1.0
        if _power_iteration(G, u):
            for j in range(m):
                for a in range(k):
                    out_w[a] += u[j] * X[j, a]
    else:
        cov = np.zeros((k, k), dtype=np.float64)
        for j in range(m):
            for a in range(k):
                xa = X[j, a]
                for b in range(a, k):
                    cov[a, b] += xa * X[j, b]
        for a in range(k):
            for b in range(a + 1, k):
                cov[b, a] = cov[a, b]
        for a in range(k):
            out_w[a] = X[j_big, a] / math.sqrt(big)
        if not _power_iteration(cov, out_w):
            for a in range(k):
                out_w[a] = 0.0
    norm = 0.0
    big = 0.0
    sign = 1.0
    for a in range(k):
        norm += out_w[a] * out_w[a]
        if abs(out_w[a]) > big:
            big = abs(out_w[a])
            sign = 1.0 if out_w[a] > 0.0 else -1.0
    if not norm > 0.0:
        for a in range(k):
            out_w[a] = 0.0
        return
    norm = sign / math.sqrt(norm)
    for a in range(k):
        out_w[a] *= norm


@njit(**NJIT)
def _key_less(key, i, j):
    """Strict order on indices: by ``key``, ties by the smaller index."""
    return key[i] < key[j] or (key[i] == key[j] and i < j)


@njit(**NJIT)
def _sift_down(key, heap, start, n):
    """Restore the max-heap (under :func:`_key_less`) ``heap[:n]`` below ``start``."""
    root = start
    while True:
        child = 2 * root + 1
        if child >= n:
            return
        if child + 1 < n and _key_less(key, heap[child], heap[child + 1]):
            child += 1
        if _key_less(key, heap[root], heap[child]):
            heap[root], heap[child] = heap[child], heap[root]
            root = child
        else:
            return


@njit(**NJIT)
def _heap_select(key, idx_inout, n_select):
    """O(m log n) fallback of :func:`select_smallest` (same result)."""
    m = idx_inout.shape[0]
    for p in range(n_select // 2 - 1, -1, -1):
        _sift_down(key, idx_inout, p, n_select)
    for p in range(n_select, m):
        q = idx_inout[p]
        if _key_less(key, q, idx_inout[0]):
            idx_inout[p] = idx_inout[0]
            idx_inout[0] = q
            _sift_down(key, idx_inout, 0, n_select)


@njit(**NJIT)
def select_smallest(key, idx_inout, n_select):
    """Partial sort: move the ``n_select`` smallest entries to the front.

    Quickselect with median-of-three pivots on the strict total order
    "by ``key``, ties by smaller index" (so the selected set is unique and
    deterministic); falls back to a heap selection (O(m log n)) if the
    partitioning does more than ``16 m + 64`` comparisons. Expected cost O(m).

    Parameters
    ----------
    key : float64 (m,), not modified.
    idx_inout : int64 (m,), a permutation of ``range(m)`` on entry (its
        order is irrelevant); on exit ``idx_inout[:n_select]`` are the indices
        of the ``n_select`` smallest keys (in no particular order).
    n_select : int, ``0 <= n_select <= m``.
    """
    m = idx_inout.shape[0]
    if n_select <= 0 or n_select >= m:
        return
    target = n_select - 1
    left = 0
    right = m - 1
    budget = 16 * m + 64
    while right > left:
        if budget < 0:
            _heap_select(key, idx_inout, n_select)
            return
        budget -= right - left + 1
        if right - left == 1:
            if _key_less(key, idx_inout[right], idx_inout[left]):
                idx_inout[left], idx_inout[right] = idx_inout[right], idx_inout[left]
            return
        mid = (left + right) // 2
        # Median of three to idx_inout[right] as the pivot.
        a, b, c = idx_inout[left], idx_inout[mid], idx_inout[right]
        if _key_less(key, b, a):
            a, b = b, a
        if _key_less(key, c, b):
            b, c = c, b
            if _key_less(key, b, a):
                a, b = b, a
        idx_inout[left], idx_inout[mid], idx_inout[right] = a, c, b
        pivot = b
        store = left
        for p in range(left, right):
            q = idx_inout[p]
            if _key_less(key, q, pivot):
                idx_inout[p] = idx_inout[store]
                idx_inout[store] = q
                store += 1
        idx_inout[right] = idx_inout[store]
        idx_inout[store] = pivot
        if store == target:
            return
        if store < target:
            left = store + 1
        else:
            right = store - 1


@njit(**NJIT)
def assign_sides(theta, perm, lo, hi, S, cnt, side_inout, grad_inout):
    """Discrete step (Eq. 9): the ``m // 2`` classes of largest Delta go right.

    ``Delta_c = w @ S[c] + cnt[c] * b`` is computed from the class sums. Ties
    are broken by position in ``perm[lo:hi]`` (ascending class index): the
    smaller index ranks higher.

    Flipping class ``c`` changes the node objective by ``zeta_new * Delta_c``
    and its gradient by ``zeta_new * [S[c], cnt[c]]``; the Hessian does not
    change (``sigmoid(u) sigmoid(-u)`` is even). So the objective, gradient
    and Hessian at the new split follow from the class sums, without a pass
    over the rows.

    Parameters
    ----------
    theta : float64 (k + 1,).
    perm : int32 (C,); lo, hi : int, the node's classes ``perm[lo:hi]``.
    S : float64 (C, k); cnt : float64 (C,).
    side_inout : float64 (C,), entries of the node's classes overwritten
        with +1.0 (right) or -1.0 (left). An entry that was neither (e.g. 0
        at initialisation) counts as moved but contributes no gain.
    grad_inout : float64 (k + 1,), gradient at ``theta`` for the old split;
        updated in place to the gradient for the new split.

    Returns
    -------
    n_moved : int, number of classes whose side changed.
    gain : float, increase of the node objective at fixed ``theta``.
    """
    k = S.shape[1]
    m = hi - lo
    n_right = m // 2
    neg_delta = np.empty(m, dtype=np.float64)
    for j in range(m):
        c = perm[lo + j]
        s = cnt[c] * theta[k]
        for a in range(k):
            s += theta[a] * S[c, a]
        neg_delta[j] = -s
    order = np.arange(m)
    select_smallest(neg_delta, order, n_right)
    n_moved = 0
    gain = 0.0
    for rank in range(m):
        j = order[rank]
        c = perm[lo + j]
        new = 1.0 if rank < n_right else -1.0
        old = side_inout[c]
        if new != old:
            n_moved += 1
            if old == 1.0 or old == -1.0:
                gain -= new * neg_delta[j]
                for a in range(k):
                    grad_inout[a] += new * S[c, a]
                grad_inout[k] += new * cnt[c]
            side_inout[c] = new
    return n_moved, gain


@njit(**NJIT)
def fit_node(
    perm_inout, lo, hi, side_inout, row_ptr, Zl, wl, S, cnt,
    alpha, max_newton_iter, max_split_iter, newton_tol, out_theta, work,
):  # fmt: skip
    """Fit one inner node whose class set ``perm_inout[lo:hi]`` has >= 2 classes.

    Initialisation: ``w`` = dominant eigenvector of the covariance of the class
    sums (:func:`initial_direction`), scaled so that the scores ``w @ mean_c``
    of the class means have unit standard deviation (weighted by class
    weight), ``b`` such that the class scores ``Delta`` sum (and average) to
    zero, then the discrete step. Then alternate Newton ascent on ``(w, b)``
    (:func:`_newton_steps`) and the discrete step (:func:`assign_sides`)
    until no class moves or after ``max_split_iter`` Newton solves. Finally
    the segment ``perm_inout[lo:hi]`` is rewritten as [left classes | right
    classes], each ascending (the children's segments). Neither step lowers
    the objective.

    Parameters
    ----------
    perm_inout : int32 (C,); segment ``[lo, hi)`` must be ascending on entry
        and is reordered in place.
    side_inout : float64 (C,), scratch; the node's entries are overwritten with
        the final sides.
    row_ptr, Zl, wl, S, cnt, alpha : see the module docstring.
    max_newton_iter : int (>= 0); max_split_iter : int (>= 1);
    newton_tol : float; Newton stops when its predicted gain
        ``g @ (-H)^-1 g / 2`` is at most ``newton_tol * max(W, 1)``, ``W`` the
        node's total sample weight.
    out_theta : float64 (k + 1,), overwritten with the fitted ``[w, b]``.
    work : tuple from :func:`make_workspace` (scratch).

    Returns
    -------
    f_init : float, objective at the initialisation.
    f_final : float, objective at the returned parameters and split.
    n_split : int, number of Newton solves (alternations).
    n_pass : int, total passes over the node's rows.
    """
    grad, hess, grad_try, hess_try, step, theta_try, chol, xt, hx, vb = work
    k = Zl.shape[1]
    m = hi - lo
    w = step[:k]
    initial_direction(perm_inout, lo, hi, S, w)
    # Scale w so that the class means' scores have unit (weighted) standard
    # deviation: Newton then starts unsaturated whatever the feature scale.
    total_cnt = 0.0
    score = 0.0
    score_sq = 0.0
    for j in range(lo, hi):
        c = perm_inout[j]
        total_cnt += cnt[c]
        sc = 0.0
        for a in range(k):
            sc += w[a] * S[c, a]
        score += sc
        if cnt[c] > 0.0:
            score_sq += sc * sc / cnt[c]
    scale = 1.0
    if total_cnt > 0.0:
        mean = score / total_cnt
        var = score_sq / total_cnt - mean * mean
        if var > 1e-12 * score_sq / total_cnt and var > 1e-300:
            scale = INIT_SCORE_STD / math.sqrt(var)
    for a in range(k):
        out_theta[a] = scale * w[a]
    out_theta[k] = -scale * score / total_cnt if total_cnt > 0.0 else 0.0
    for j in range(lo, hi):
        side_inout[perm_inout[j]] = 0.0
    assign_sides(out_theta, perm_inout, lo, hi, S, cnt, side_inout, grad)
    f = _node_pass(out_theta, perm_inout, lo, hi, side_inout, row_ptr, Zl, wl, alpha, grad, hess, xt, hx, vb)
    f_init = f
    n_pass = 1
    n_split = 0
    stop = newton_tol * max(total_cnt, 1.0)
    for _ in range(max_split_iter):
        f, p = _newton_steps(
            out_theta, f, perm_inout, lo, hi, side_inout, row_ptr, Zl, wl, alpha, max_newton_iter, stop, work
        )
        n_pass += p
        n_split += 1
        n_moved, gain = assign_sides(out_theta, perm_inout, lo, hi, S, cnt, side_inout, grad)
        f += gain
        if n_moved == 0:
            break
    # Rewrite the segment as [left | right], each part keeping ascending order.
    tmp = np.empty(m, dtype=perm_inout.dtype)
    for j in range(m):
        tmp[j] = perm_inout[lo + j]
    n_left = m - m // 2
    i_left = lo
    i_right = lo + n_left
    for j in range(m):
        c = tmp[j]
        if side_inout[c] > 0.0:
            perm_inout[i_right] = c
            i_right += 1
        else:
            perm_inout[i_left] = c
            i_left += 1
    return f_init, f, n_split, n_pass


@njit(**NJIT)
def fit_nodes(
    node_start, node_stop, node_lo, node_hi, perm_inout, side_inout, class_ptr, Zs, ws, row_ptr, out_Zl, out_wl,
    S, cnt, alpha, max_newton_iter, max_split_iter, newton_tol, padding_bias,
    out_weight, out_bias, out_objective, out_iterations,
):  # fmt: skip
    """Fit the heap nodes ``node_start <= i < node_stop`` (all of one level).

    A node with >= 2 classes is fitted by :func:`fit_node`; a node with one
    class sends it left and gets ``w = 0, b = -padding_bias``; an empty node
    gets ``w = 0, b = 0``. The nodes own disjoint class segments, so disjoint
    node ranges of one level may run concurrently on different threads.

    Parameters
    ----------
    node_start, node_stop : int, heap indices.
    node_lo, node_hi : int64 (n_heap_nodes,), class segment of every node.
    perm_inout, side_inout : see :func:`fit_node`.
    class_ptr, Zs, ws : class-sorted rows, see the module docstring.
    row_ptr : int64 (C + 1,), level-order row pointer for the current ``perm``.
    out_Zl, out_wl : float32 (N, k), float64 (N,); the rows of the nodes
        ``node_start:node_stop`` are first gathered here (:func:`gather_rows`).
    S, cnt, alpha, max_newton_iter, max_split_iter, newton_tol :
        see :func:`fit_node`.
    padding_bias : float.
    out_weight : float32 (n_inner, k); rows ``node_start:node_stop`` written.
    out_bias : float32 (n_inner,); entries ``node_start:node_stop`` written.
    out_objective : float64 (n_inner, 2); [initial, final] node objective
        written for fitted nodes (left untouched otherwise).
    out_iterations : int64 (n_inner, 2); [Newton solves, row passes] written
        (zeros for nodes that are not fitted).
    """
    k = Zs.shape[1]
    theta = np.empty(k + 1, dtype=np.float64)
    work = make_workspace(k)
    gather_rows(node_lo[node_start], node_hi[node_stop - 1], perm_inout, class_ptr, Zs, ws, row_ptr, out_Zl, out_wl)
    for i in range(node_start, node_stop):
        lo = node_lo[i]
        hi = node_hi[i]
        m = hi - lo
        out_iterations[i, 0] = 0
        out_iterations[i, 1] = 0
        if m >= 2:
            f0, f1, n_split, n_pass = fit_node(
                perm_inout, lo, hi, side_inout, row_ptr, out_Zl, out_wl, S, cnt,
                alpha, max_newton_iter, max_split_iter, newton_tol, theta, work,
            )  # fmt: skip
            for a in range(k):
                out_weight[i, a] = theta[a]
            out_bias[i] = theta[k]
            out_objective[i, 0] = f0
            out_objective[i, 1] = f1
            out_iterations[i, 0] = n_split
            out_iterations[i, 1] = n_pass
        else:
            for a in range(k):
                out_weight[i, a] = 0.0
            out_bias[i] = -padding_bias if m == 1 else 0.0
