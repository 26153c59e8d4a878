"""Greedy fitting of the auxiliary probabilistic binary tree (Sec. 3, Eqs. 7-9).

The tree is built top-down, level by level. Every inner node owns a set of
classes, splits it into two halves and fits a logistic regression ``(w, b)``
that routes the rows of each class to the half that holds the class. The two
steps alternate until no class moves (Bamler & Mandt 2020, Sec. 3):

- continuous step: Newton ascent on the concave node objective
  ``sum_i s_i log sigmoid(zeta_{y_i} (w @ z_i + b)) - alpha (|w|^2 + b^2)``;
- discrete step: ``Delta_y = w @ S_y + n_y b`` from the per-class feature sums
  ``S_y`` and weights ``n_y`` (Eq. 9); the ``n // 2`` classes with the largest
  ``Delta_y`` go right, the others left.

The alternation (Newton steps, discrete steps, passes over the rows) runs in
the kernel :func:`skxc._kernels.tree_fit.fit_nodes`, kept small for a short
numba compile. This module validates and lays out the data and, for every
chunk of nodes of a level (serially or on ``n_jobs`` Python threads, the
kernel releases the GIL and so does most of NumPy), initialises the nodes
(batched NumPy, :func:`initial_theta`), gathers their rows and runs the
kernel.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ._config import FLOAT, PADDING_BIAS
from ._kernels.tree_fit import fit_nodes, scratch_shapes
from ._parallel import fan_out, n_threads

__all__ = ["fit_tree", "tree_depth", "class_segments"]

#: Rows per chunk when summing the class sums (bounds a float64 (chunk, k)
#: temporary).
_LAYOUT_CHUNK = 2**16

#: The initial directions take 2 ** _POWER_SQUARINGS power-iteration steps.
_POWER_SQUARINGS = 10

#: Fewer rows than this are fitted on one thread whatever ``n_jobs``: a level of a small tree
#: takes milliseconds, less than cutting it into chunks and handing them to threads costs
#: (bibtex, 4,392 rows: 0.04 s on one thread, 0.06 s on two, on 2 shared cores).
_MIN_PARALLEL_ROWS = 2**16


def tree_depth(n_classes: int) -> int:
    """Depth ``D = ceil(log2(n_classes))`` of the tree (at least 1)."""
    return max(1, math.ceil(math.log2(n_classes)))


def class_segments(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-count layout of the heap: which slice of the class order each node owns.

    A node with ``n`` real classes gives ``n // 2`` to its right child and
    ``n - n // 2`` to its left child; the left child's slice comes first.

    Returns
    -------
    node_lo, node_hi : ndarray of int64, shape (2 ** (D + 1) - 1,)
        Node ``i`` (inner nodes and leaves, heap order) owns positions
        ``node_lo[i]:node_hi[i]`` of the class order.
    """
    depth = tree_depth(n_classes)
    n_nodes = 2 ** (depth + 1) - 1
    node_lo = np.empty(n_nodes, dtype=np.int64)
    node_hi = np.empty(n_nodes, dtype=np.int64)
    sizes = np.array([n_classes], dtype=np.int64)
    for level in range(depth + 1):
        first = 2**level - 1
        ends = np.cumsum(sizes)
        node_lo[first : first + sizes.size] = ends - sizes
        node_hi[first : first + sizes.size] = ends
        children = np.empty(2 * sizes.size, dtype=np.int64)
        children[0::2] = sizes - sizes // 2
        children[1::2] = sizes // 2
        sizes = children
    return node_lo, node_hi


@dataclass
class TreeFitResult:
    """Everything :func:`_fit_tree` computes; :func:`fit_tree` returns the first four.

    ``node_objective`` is float64 (n_inner, 2): node objective (Eq. 8 plus
    regulariser) at the initialisation and at the end, NaN for nodes with
    fewer than two classes. ``node_iterations`` is int64 (n_inner, 2):
    Newton phases (alternations) and passes over the node's rows, zeros for
    nodes with fewer than two classes. ``node_theta`` is float64
    (n_inner, k + 1): ``[w, b]`` of every node before the cast to float32.
    """

    node_weight: np.ndarray
    node_bias: np.ndarray
    leaf_class: np.ndarray
    class_leaf: np.ndarray
    node_objective: np.ndarray
    node_iterations: np.ndarray
    node_theta: np.ndarray


def _resolve_n_jobs(n_jobs: int | None) -> int:
    if isinstance(n_jobs, bool) or not (n_jobs is None or isinstance(n_jobs, (int, np.integer))) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a nonzero integer or None, got {n_jobs!r}.")
    return n_threads(n_jobs)


def _check_inputs(
    Z: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    sample_weight: np.ndarray | None,
    alpha: float,
    max_newton_iter: int,
    max_split_iter: int,
    newton_tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"n_classes must be an int, got {n_classes!r}.")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}.")
    Z = np.asarray(Z)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-dimensional, got shape {Z.shape}.")
    Z = np.ascontiguousarray(Z, dtype=FLOAT)
    if not np.all(np.isfinite(Z)):
        raise ValueError("Z contains NaN or infinite values.")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != Z.shape[0]:
        raise ValueError(f"y must have shape ({Z.shape[0]},), got {y.shape}.")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer class indices, got dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y must lie in [0, n_classes={n_classes}), got range [{y.min()}, {y.max()}].")
    y = np.ascontiguousarray(y, dtype=np.int32)
    if sample_weight is None:
        sw = np.ones(Z.shape[0], dtype=np.float64)
    else:
        sw = np.ascontiguousarray(sample_weight, dtype=np.float64)
        if sw.shape != (Z.shape[0],):
            raise ValueError(f"sample_weight must have shape ({Z.shape[0]},), got {sw.shape}.")
        if not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise ValueError("sample_weight must be finite and nonnegative.")
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}.")
    if int(max_newton_iter) != max_newton_iter or max_newton_iter < 0:
        raise ValueError(f"max_newton_iter must be an int >= 0, got {max_newton_iter!r}.")
    if int(max_split_iter) != max_split_iter or max_split_iter < 1:
        raise ValueError(f"max_split_iter must be an int >= 1, got {max_split_iter!r}.")
    if not newton_tol >= 0:
        raise ValueError(f"newton_tol must be >= 0, got {newton_tol!r}.")
    return Z, y, sw


def _segment_sums(x: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Sums over the consecutive runs of ``x`` (along axis 0) of lengths ``sizes`` (may be 0)."""
    out = np.zeros((sizes.size,) + x.shape[1:], dtype=np.float64)
    nonempty = sizes > 0
    if x.shape[0]:
        out[nonempty] = np.add.reduceat(x, (np.cumsum(sizes) - sizes)[nonempty], axis=0)
    return out


def _class_layout(
    Z: np.ndarray, y: np.ndarray, sw: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by class, and per-class sums.

    Returns ``class_ptr`` int64 (C + 1,), ``Zs`` float32 (N, k) and ``ws``
    float64 (N,) (rows stably sorted by class, so the rows of class ``c`` are
    ``class_ptr[c]:class_ptr[c + 1]``), ``S`` float64 (C, k) with
    ``S[c] = sum_{y_i = c} s_i z_i`` and ``cnt`` float64 (C,) with
    ``cnt[c] = sum_{y_i = c} s_i``, summed in row order (in chunks of
    ``_LAYOUT_CHUNK`` rows, which bounds the float64 temporaries).
    """
    n, k = Z.shape
    class_ptr = np.zeros(n_classes + 1, dtype=np.int64)
    np.cumsum(np.bincount(y, minlength=n_classes), out=class_ptr[1:])
    # A stable sort of 16-bit keys is a radix sort, O(N).
    order = np.argsort(y.astype(np.uint16) if n_classes <= 2**16 else y, kind="stable")
    Zs = np.take(Z, order, axis=0)
    ws = np.take(sw, order)
    ys = np.take(y, order)
    S = np.zeros((n_classes, k), dtype=np.float64)
    cnt = np.zeros(n_classes, dtype=np.float64)
    for r0 in range(0, n, _LAYOUT_CHUNK):
        r1 = min(r0 + _LAYOUT_CHUNK, n)
        starts = np.flatnonzero(np.diff(ys[r0:r1], prepend=-1))
        classes = ys[r0 + starts]
        S[classes] += np.add.reduceat(Zs[r0:r1] * ws[r0:r1, None], starts, axis=0)
        cnt[classes] += np.add.reduceat(ws[r0:r1], starts)
    return class_ptr, Zs, ws, S, cnt


def _dominant_directions(Xc: np.ndarray) -> np.ndarray:
    """Unit dominant eigenvector of ``sum_j x_j x_j^T`` for each stack of rows ``Xc[i]``.

    ``Xc`` float64 (n, m, k), each stack centred (``m >= 2``). Returns float64
    (n, k), 0 where the covariance vanishes. For ``m = 2`` the rows are
    ``(x, -x)`` and the eigenvector is ``x``. Otherwise the power of the
    ``m x m`` Gram matrix (then ``w = X^T u``) if ``m <= k``, else of the
    ``k x k`` covariance, ``M^(2^p)`` with ``p = _POWER_SQUARINGS``, by
    repeated squaring (batched matrix products: several times faster than
    ``np.linalg.eigh`` on many small matrices), is ``~ lambda^(2^p) u u^T``;
    its column of largest diagonal entry is taken. The error in ``u`` is of
    order ``(lambda_2 / lambda_1)^(2^p)`` (below 1e-12 for a ratio of 0.97).
    Each stack's result depends on that stack only.
    """
    n, m, k = Xc.shape
    if k == 0:
        return np.zeros((n, 0))
    if m == 2:
        w = Xc[:, 0].copy()
    else:
        gram = m <= k
        M = Xc @ Xc.transpose(0, 2, 1) if gram else Xc.transpose(0, 2, 1) @ Xc
        for _ in range(_POWER_SQUARINGS):
            M = M @ M
            top = np.abs(M).max(axis=(1, 2))
            M /= np.where(top > 0.0, top, 1.0)[:, None, None]
        # M ~ u u^T: its column of largest diagonal entry is the largest
        # multiple of u (M is symmetric: take the row).
        v = M[np.arange(n), np.argmax(np.einsum("nii->ni", M), axis=1)]
        w = np.einsum("nj,nja->na", v, Xc) if gram else v
    norm = np.sqrt(np.einsum("na,na->n", w, w))
    w /= np.where(norm > 0.0, norm, 1.0)[:, None]
    return w


def initial_theta(perm: np.ndarray, lo: np.ndarray, hi: np.ndarray, S: np.ndarray, cnt: np.ndarray) -> np.ndarray:
    """Initial ``[w, b]`` of nodes of one level, float64 (n_nodes, k + 1).

    Node ``i`` owns the classes ``perm[lo[i]:hi[i]]``; each node's result
    depends on its own classes only, so a level may be initialised in chunks
    (nodes are batched by their number of classes). For a node with >= 2
    classes, ``w`` is the dominant eigenvector of the (unweighted) covariance
    of its class sums ``S[c]`` (:func:`_dominant_directions`), sign fixed so
    that its entry of largest magnitude is positive (first such entry on
    ties), 0 if the covariance vanishes. It is scaled so that the scores
    ``w @ S[c] / cnt[c]`` of the class means have unit standard deviation
    (weighted by ``cnt``; unscaled if that vanishes), which starts Newton
    unsaturated whatever the feature scale, and ``b`` makes the weighted mean
    score zero. A node with one class gets ``w = 0, b = -PADDING_BIAS`` (its
    padding side has probability 0), an empty node ``w = 0, b = 0``.
    """
    k = S.shape[1]
    sizes = hi - lo
    theta = np.zeros((lo.size, k + 1), dtype=np.float64)
    theta[sizes == 1, k] = -PADDING_BIAS
    for m in np.unique(sizes[sizes >= 2]):
        nodes = np.flatnonzero(sizes == m)
        classes = perm[lo[nodes, None] + np.arange(m)]  # (n, m)
        X = S[classes]  # (n, m, k) class sums
        c = cnt[classes]
        w = _dominant_directions(X - X.mean(axis=1, keepdims=True))
        if k:
            big = np.take_along_axis(w, np.argmax(np.abs(w), axis=1)[:, None], axis=1)
            w *= np.where(big < 0.0, -1.0, 1.0)
        # Scale and bias from the scores of the class sums, score_c = w @ S[c].
        score = np.einsum("nja,na->nj", X, w)
        total = c.sum(axis=1)
        safe = np.where(total > 0.0, total, 1.0)
        mean = score.sum(axis=1) / safe
        second = (score * score / np.where(c > 0.0, c, np.inf)).sum(axis=1) / safe
        var = second - mean * mean
        scale = np.ones(nodes.size)
        ok = (total > 0.0) & (var > 1e-12 * second) & (var > 1e-300)
        scale[ok] = 1.0 / np.sqrt(var[ok])
        theta[nodes, :k] = scale[:, None] * w
        theta[nodes, k] = -scale * mean
    return theta


def _chunks(cost: np.ndarray, n_chunks: int) -> list[tuple[int, int]]:
    """Split ``range(len(cost))`` into at most ``n_chunks`` contiguous runs of similar cost."""
    n = cost.size
    n_chunks = min(n_chunks, n)
    if n_chunks <= 1:
        return [(0, n)]
    cum = np.cumsum(cost, dtype=np.float64)
    targets = cum[-1] * np.arange(1, n_chunks) / n_chunks
    cuts = np.searchsorted(cum, targets, side="left") + 1
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 1, n), [n]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _fit_tree(
    Z: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    sample_weight: np.ndarray | None = None,
    alpha: float = 10.0,
    max_newton_iter: int = 20,
    max_split_iter: int = 10,
    newton_tol: float = 1e-6,
    n_jobs: int | None = 1,
    verbose: int = 0,
) -> TreeFitResult:
    """Implementation of :func:`fit_tree` that also returns per-node diagnostics."""
    Z, y, sw = _check_inputs(Z, y, n_classes, sample_weight, alpha, max_newton_iter, max_split_iter, newton_tol)
    n_classes = int(n_classes)
    n_jobs = _resolve_n_jobs(n_jobs)
    k = Z.shape[1]
    depth = tree_depth(n_classes)
    n_inner = 2**depth - 1
    n_leaves = 2**depth

    class_ptr, Zs, ws, S, cnt = _class_layout(Z, y, sw, n_classes)
    del Z, y, sw
    rows_per_class = np.diff(class_ptr)
    node_lo, node_hi = class_segments(n_classes)

    perm = np.arange(n_classes, dtype=np.int32)
    side = np.zeros(n_classes, dtype=np.float64)
    row_ptr = np.zeros(n_classes + 1, dtype=np.int64)
    Zl = np.empty_like(Zs)
    wl = np.empty_like(ws)
    node_theta = np.zeros((n_inner, k + 1), dtype=np.float64)
    node_stop = np.zeros(n_inner, dtype=np.float64)
    node_objective = np.full((n_inner, 2), np.nan, dtype=np.float64)
    node_iterations = np.zeros((n_inner, 2), dtype=np.int64)
    args = (
        node_lo,
        node_hi,
        perm,
        side,
        row_ptr,
        Zl,
        wl,
        S,
        cnt,
        float(alpha),
        int(max_newton_iter),
        int(max_split_iter),
        node_stop,
        node_theta,
        node_objective,
        node_iterations,
    )

    def run(start: int, stop: int) -> None:
        """Initialise, gather the rows of and fit the heap nodes ``start:stop`` of one level."""
        lo, hi = node_lo[start:stop], node_hi[start:stop]
        p0, p1 = lo[0], hi[-1]  # the nodes' classes are perm[p0:p1]
        node_theta[start:stop] = initial_theta(perm, lo, hi, S, cnt)
        # Newton stops at a predicted gain <= newton_tol * max(node weight, 1).
        node_stop[start:stop] = newton_tol * np.maximum(_segment_sums(cnt[perm[p0:p1]], hi - lo), 1.0)
        side[perm[p0:p1]] = 0.0  # unassigned: the first discrete step moves every class
        # Level order of the rows: the classes in ``perm`` order, so that every
        # node's rows are contiguous. NumPy releases the GIL while copying.
        r0, r1 = row_ptr[p0], row_ptr[p1]
        src = np.arange(r0, r1) + np.repeat(class_ptr[perm[p0:p1]] - row_ptr[p0:p1], rows_per_class[perm[p0:p1]])
        np.take(Zs, src, axis=0, out=Zl[r0:r1], mode="clip")  # "clip": unbuffered
        np.take(ws, src, out=wl[r0:r1], mode="clip")
        del src
        vec, mat, blk, key = (np.zeros(shape) for shape in scratch_shapes(k, n_classes))
        fit_nodes(start, stop, *args, vec, mat, blk, key, np.zeros(n_classes, dtype=np.int64))

    for level in range(depth):
        tic = time.perf_counter()
        first, stop = 2**level - 1, 2 ** (level + 1) - 1
        lo, hi = node_lo[first:stop], node_hi[first:stop]
        np.cumsum(rows_per_class[perm], out=row_ptr[1:])
        if n_jobs == 1 or Zs.shape[0] < _MIN_PARALLEL_ROWS:
            run(first, stop)
        else:
            # Balance the threads by rows and classes per node.
            cost = (row_ptr[hi] - row_ptr[lo]) + (hi - lo) + 1
            fan_out(lambda ab, first=first: run(first + ab[0], first + ab[1]), _chunks(cost, 4 * n_jobs), n_jobs)
        # Rewrite every node's segment of ``perm`` as [left | right], each
        # part ascending (stable sort): the segments of the children.
        sizes = hi - lo
        group = np.repeat(np.arange(2 * sizes.size, step=2), sizes) + (side[perm] > 0.0)
        perm[:] = perm[np.argsort(group, kind="stable")]
        if verbose > 0:
            fitted = node_iterations[first:stop, 0]
            fitted = fitted[fitted > 0]
            mean_alt = fitted.mean() if fitted.size else 0.0
            print(
                f"[skxc tree] level {level + 1}/{depth}: {stop - first} nodes, "
                f"{time.perf_counter() - tic:.3f} s, "
                f"mean alternations {mean_alt:.2f}"
            )

    node_weight = np.ascontiguousarray(node_theta[:, :k], dtype=FLOAT)
    node_bias = np.ascontiguousarray(node_theta[:, k], dtype=FLOAT)
    leaf_lo = node_lo[n_inner:]
    leaf_hi = node_hi[n_inner:]
    leaf_class = np.full(n_leaves, -1, dtype=np.int32)
    real = leaf_hi > leaf_lo
    leaf_class[real] = perm[leaf_lo[real]]
    class_leaf = np.empty(n_classes, dtype=np.int32)
    class_leaf[leaf_class[real]] = np.flatnonzero(real).astype(np.int32)
    return TreeFitResult(node_weight, node_bias, leaf_class, class_leaf, node_objective, node_iterations, node_theta)


def fit_tree(
    Z: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    sample_weight: np.ndarray | None = None,
    alpha: float = 10.0,
    max_newton_iter: int = 20,
    max_split_iter: int = 10,
    newton_tol: float = 1e-6,
    n_jobs: int | None = 1,
    verbose: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit the auxiliary probabilistic binary tree greedily, top-down.

    Parameters
    ----------
    Z : array-like of shape (n_samples, k)
        Projected features (e.g. the first ``k`` principal components); ``k``
        may be 0, then only the biases are fitted. Converted to float32.
    y : array-like of int of shape (n_samples,)
        Class index of each row, in ``[0, n_classes)``.
    n_classes : int
        Number of classes C >= 2. Classes without rows still get a leaf.
    sample_weight : array-like of shape (n_samples,), default=None
        Nonnegative row weights; None means all ones.
    alpha : float, default=10.0
        Strength of the regulariser ``-alpha (|w|^2 + b^2)`` of every node
        (``lambda_n`` in the paper). ``alpha=0`` is allowed but a node whose
        halves are linearly separable then has no finite optimum.
    max_newton_iter : int, default=20
        Maximum Newton steps per continuous step.
    max_split_iter : int, default=10
        Maximum alternations (Newton solves) per node.
    newton_tol : float, default=1e-6
        Newton stops when the predicted gain ``g^T (-H)^-1 g / 2`` is at most
        ``newton_tol`` per unit of the node's total sample weight.
    n_jobs : int or None, default=1
        Threads fitting the independent nodes of one level; ``None`` means 1,
        negative values count back from the number of CPUs. The result does
        not depend on ``n_jobs``.
    verbose : int, default=0
        If > 0, print one line per level.

    Returns
    -------
    node_weight : ndarray of float32 of shape (2**D - 1, k)
        ``w`` of every inner node in heap order (children of ``i`` are
        ``2i+1`` (left) and ``2i+2`` (right)); ``D = ceil(log2(n_classes))``.
    node_bias : ndarray of float32 of shape (2**D - 1,)
        ``b`` of every inner node; going right has probability
        ``sigmoid(w @ z + b)``.
    leaf_class : ndarray of int32 of shape (2**D,)
        Class of leaf ``j`` (heap node ``2**D - 1 + j``), -1 for padding.
    class_leaf : ndarray of int32 of shape (n_classes,)
        Leaf of each class; inverse of ``leaf_class`` on the real classes.

    Notes
    -----
    A node holding ``n >= 2`` real classes sends ``n // 2`` right and the
    rest left, which spreads the padding leaves evenly. It is initialised with
    ``w`` = the dominant eigenvector of the covariance of the per-class
    feature sums (sign fixed so that its largest entry is positive) and ``b``
    such that the class scores ``Delta_y`` have zero mean, followed by a
    discrete step. A node holding one real class sends it left and gets
    ``w = 0, b = -PADDING_BIAS``, so its padding side has probability
    ``exp(-1e4) == 0``; a node without real classes gets ``w = 0, b = 0``.

    ``w`` is scaled so that the class means' scores have unit standard
    deviation (a scale-free start for Newton; the split does not depend on
    it). Neither the continuous nor the discrete step lowers the node
    objective; after a discrete step the new objective and gradient follow
    from the class sums, and the Hessian is unchanged.

    Every Newton step touches each row of the node once, so the cost is
    ``O(N k^2 log C)`` times the number of Newton steps per node, plus
    ``O((N k + C k^2) log C)`` for the per-level layout and initialisations
    (power iteration by repeated squaring of k x k or smaller matrices) and
    ``O(C log C)`` for the discrete steps (quickselect). Memory: two float32
    copies of ``Z`` (sorted by class, and re-gathered per level so that each
    node's rows are contiguous) plus ``O(C k)``. The result is deterministic
    and bitwise independent of ``n_jobs``; threads only help once a level
    has several nodes (the top levels run on one thread) and there are many
    rows (below 65,536 every level runs on one thread).
    """
    res = _fit_tree(
        Z,
        y,
        n_classes,
        sample_weight=sample_weight,
        alpha=alpha,
        max_newton_iter=max_newton_iter,
        max_split_iter=max_split_iter,
        newton_tol=newton_tol,
        n_jobs=n_jobs,
        verbose=verbose,
    )
    return res.node_weight, res.node_bias, res.leaf_class, res.class_leaf
