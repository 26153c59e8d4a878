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

All numerical work happens in :mod:`skxc._kernels.tree_fit`; this module only
validates, lays out the data and schedules the nodes of each level (serially
or on ``n_jobs`` Python threads over GIL-free kernels).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._config import FLOAT, PADDING_BIAS
from ._kernels.tree_fit import class_sums, fit_nodes, sort_rows_by_class

__all__ = ["fit_tree", "tree_depth", "class_segments"]


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
    Newton solves (alternations) and passes over the node's rows.
    """

    node_weight: np.ndarray
    node_bias: np.ndarray
    leaf_class: np.ndarray
    class_leaf: np.ndarray
    node_objective: np.ndarray
    node_iterations: np.ndarray


def _resolve_n_jobs(n_jobs: int | None) -> int:
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a nonzero integer or None, got {n_jobs!r}.")
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))
    return int(n_jobs)


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
    alpha: float = 0.1,
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

    class_ptr, order = sort_rows_by_class(y, n_classes)
    Zs = np.ascontiguousarray(Z[order])
    ws = np.ascontiguousarray(sw[order])
    del Z, sw, order
    S, cnt = class_sums(Zs, ws, class_ptr)
    rows_per_class = np.diff(class_ptr)
    node_lo, node_hi = class_segments(n_classes)

    perm = np.arange(n_classes, dtype=np.int32)
    side = np.zeros(n_classes, dtype=np.float64)
    row_ptr = np.zeros(n_classes + 1, dtype=np.int64)
    Zl = np.empty_like(Zs)
    wl = np.empty_like(ws)
    node_weight = np.zeros((n_inner, k), dtype=FLOAT)
    node_bias = np.zeros(n_inner, dtype=FLOAT)
    node_objective = np.full((n_inner, 2), np.nan, dtype=np.float64)
    node_iterations = np.zeros((n_inner, 2), dtype=np.int64)
    args = (
        node_lo,
        node_hi,
        perm,
        side,
        class_ptr,
        Zs,
        ws,
        row_ptr,
        Zl,
        wl,
        S,
        cnt,
        float(alpha),
        int(max_newton_iter),
        int(max_split_iter),
        float(newton_tol),
        float(PADDING_BIAS),
        node_weight,
        node_bias,
        node_objective,
        node_iterations,
    )

    pool = ThreadPoolExecutor(max_workers=n_jobs) if n_jobs > 1 else None
    try:
        for level in range(depth):
            tic = time.perf_counter()
            first, stop = 2**level - 1, 2 ** (level + 1) - 1
            # Level order of the rows: the classes in ``perm`` order, so that
            # every node's rows are contiguous (gathered by the kernels).
            np.cumsum(rows_per_class[perm], out=row_ptr[1:])
            if pool is None:
                fit_nodes(first, stop, *args)
            else:
                # Balance the threads by rows and classes per node.
                lo, hi = node_lo[first:stop], node_hi[first:stop]
                cost = (row_ptr[hi] - row_ptr[lo]) + (hi - lo) + 1
                futures = [pool.submit(fit_nodes, first + a, first + b, *args) for a, b in _chunks(cost, 4 * n_jobs)]
                for fut in futures:
                    fut.result()
            if verbose > 0:
                fitted = node_iterations[first:stop, 0]
                fitted = fitted[fitted > 0]
                mean_alt = fitted.mean() if fitted.size else 0.0
                print(
                    f"[skxc tree] level {level + 1}/{depth}: {stop - first} nodes, "
                    f"{time.perf_counter() - tic:.3f} s, "
                    f"mean alternations {mean_alt:.2f}"
                )
    finally:
        if pool is not None:
            pool.shutdown()

    leaf_lo = node_lo[n_inner:]
    leaf_hi = node_hi[n_inner:]
    leaf_class = np.full(n_leaves, -1, dtype=np.int32)
    real = leaf_hi > leaf_lo
    leaf_class[real] = perm[leaf_lo[real]]
    class_leaf = np.empty(n_classes, dtype=np.int32)
    class_leaf[leaf_class[real]] = np.flatnonzero(real).astype(np.int32)
    return TreeFitResult(node_weight, node_bias, leaf_class, class_leaf, node_objective, node_iterations)


def fit_tree(
    Z: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    sample_weight: np.ndarray | None = None,
    alpha: float = 0.1,
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
    alpha : float, default=0.1
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
    ``O(C k^2 log C)`` for the initialisations and ``O(C log C)`` for the
    discrete steps (quickselect). Memory: two float32 copies of ``Z`` (sorted
    by class, and re-gathered per level so that each node's rows are
    contiguous) plus ``O(C k)``. The result is deterministic and bitwise
    independent of ``n_jobs``; threads only help once a level has several
    nodes (the top levels run on one thread).
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
