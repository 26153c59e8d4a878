"""The prediction engine: bias-corrected scores of all classes, in row blocks, and the exact top-k.

Functions of arrays only: the rows in kernel format (``KernelRows``), the
tree's projected features ``Z``, the weights ``coef`` (n_classes, n_features)
float32 in C or F order and ``intercept`` (n_classes,) float32, and the tree's
arrays (``TreeArrays``). Scores are float64; memory stays O(block x C) for any
number of rows. With ``n_threads > 1`` blocks run concurrently (kernels, numpy
and BLAS release the GIL).

Model arrays reach the kernels as read-only views: a model loaded with
``joblib.load(..., mmap_mode="r")`` and a freshly fitted one then use the same
compiled kernels (numba types read-only arrays separately).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ._config import FLOAT, PREDICT_BLOCK_BYTES
from ._kernels.hashed import add_feature_major_scores
from ._kernels.predict import add_csr_scores, search_scratch, top_k_csr, top_k_feature_major
from ._kernels.tree import add_log_noise_all, add_log_noise_rows, log_noise_of_codes
from ._parallel import fan_out
from ._validation import KernelRows, kernel_rows, mostly_dense
from ._weights import leaf_index


class TreeArrays(NamedTuple):
    """The noise tree's flat arrays (see ``skxc/_kernels/tree.py``), read-only views."""

    node_weight: np.ndarray  # float32 (n_inner, k)
    node_bias: np.ndarray  # float32 (n_inner,)
    leaf_class: np.ndarray  # int32 (n_leaves,), -1 for padding
    class_leaf: np.ndarray  # int32 (n_classes,)


class SparseCoef(NamedTuple):
    """Sparse weights for prediction (``weights="sparse"``; skxc/_weights.py).

    ``coef`` is the CSR coef_ (class-major), ``indptr``/``classes``/``data``
    its feature-major index (coef_.T as CSR), ``shared`` float32
    (n_features,) or None: a term ``shared @ x`` of every class's score.
    """

    coef: sp.csr_matrix
    indptr: np.ndarray
    classes: np.ndarray
    data: np.ndarray
    shared: np.ndarray | None

    @property
    def shape(self):
        return self.coef.shape


def sparse_block_scores(rows: KernelRows, a: int, b: int, coef: SparseCoef, out=None) -> np.ndarray:
    """Raw scores xi - intercept of the rows [a, b) under sparse weights: float64 (b - a, n_classes), written
    into ``out`` (float64 (b - a, n_classes), overwritten) if given."""
    if rows.sparse:
        S = np.zeros((b - a, coef.shape[0]), dtype=np.float64) if out is None else zeroed(out)
        add_feature_major_scores(rows.indptr, rows.indices, rows.data, a, b, coef.indptr, coef.classes, coef.data, S)
    else:
        S = np.asarray((coef.coef @ rows.X[a:b].T.astype(np.float64)).T, dtype=np.float64)
        if out is not None:
            out[...] = S
            S = out
    if coef.shared is not None:
        S += np.asarray(rows.X[a:b] @ coef.shared.astype(np.float64), dtype=np.float64).reshape(-1, 1)
    return S


def zeroed(a: np.ndarray) -> np.ndarray:
    """``a`` filled with 0 (in place), returned."""
    a.fill(0.0)
    return a


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy): the one array type kernels get for model arrays."""
    view = a.view()
    view.flags.writeable = False
    return view


def flat_view(a: np.ndarray):
    """Flat buffer and (stride_c, stride_j) in elements of a 2-D C- or F-ordered array (no copy)."""
    flat = a.ravel(order="K")
    if not np.shares_memory(flat, a):  # pragma: no cover - guarded by allocation
        raise RuntimeError("coef_ must be C- or F-contiguous")
    item = a.itemsize
    return flat, a.strides[0] // item, a.strides[1] // item


def dense_rows(rows: KernelRows, coef) -> bool:
    """Whether prediction scores ``rows`` as dense blocks by float32 BLAS against ``coef``: dense X, or
    mostly dense CSR X (``skxc._validation.mostly_dense``) against dense weights. The CSR kernels take one
    multiply-add per stored entry and class, which BLAS beats from about 5-10 % of the entries stored."""
    if not rows.sparse:
        return True
    return not isinstance(coef, SparseCoef) and mostly_dense(rows.X)


def dense_block(rows: KernelRows, a: int, b: int) -> np.ndarray:
    """Rows [a, b) as a float32 C-contiguous array (CSR rows densified)."""
    block = rows.X[a:b]
    return block.toarray() if sp.issparse(block) else block


def block_rows(n_classes: int, n_leaves: int, densified_features: int = 0) -> int:
    """Rows per block so that a float64 (rows, max(n_classes, n_leaves)) block fits ``PREDICT_BLOCK_BYTES``,
    and so does a float32 (rows, ``densified_features``) block of densified CSR rows (0: none)."""
    rows = PREDICT_BLOCK_BYTES // (8 * max(n_classes, n_leaves))
    if densified_features:
        rows = min(rows, PREDICT_BLOCK_BYTES // (4 * densified_features))
    return max(1, rows)


def map_chunks(n: int, fn: Callable[[int, int], object], rows_per_chunk: int, n_threads: int) -> list:
    """``fn(start, stop)`` over consecutive chunks of ``range(n)``, on up to ``n_threads`` threads."""
    return fan_out(lambda start: fn(start, min(start + rows_per_chunk, n)), range(0, n, rows_per_chunk), n_threads)


def float32_scores(X_block: np.ndarray, coef: np.ndarray) -> np.ndarray | None:
    """``X_block @ coef.T`` by float32 BLAS, or None if a score overflowed float32 (huge x or coef)."""
    with np.errstate(over="ignore", invalid="ignore"):
        S = X_block @ coef.T
        finite = np.isfinite(S.sum(dtype=np.float64))
    return S if finite else None


def dense_scores(X_block: np.ndarray, coef: np.ndarray, out=None) -> np.ndarray:
    """Raw scores ``X_block @ coef.T`` in float64: float32 BLAS, redone in float64 if that overflowed; written
    into ``out`` (float64 (rows, n_classes)) if given."""
    S = float32_scores(X_block, coef)
    if S is None:
        S = X_block.astype(np.float64) @ coef.T.astype(np.float64)
    if out is None:
        return S.astype(np.float64, copy=False)
    out[...] = S
    return out


#: Whether :func:`add_log_noise` computes the node activations row by row inside the kernel
#: (``add_log_noise_rows``) rather than as one (rows, inner nodes) float64 array by BLAS first
#: (``add_log_noise_all``, stop 65 and before): the same log p_n to rounding, without an array as large
#: as the block's scores (docs/benchmarks.rst, "Stop 66: the held-out rows scored with less memory").
#: Trees without features (uniform and frequency noise) take the same kernel for their one row (the same
#: bits as before), so that a fit compiles one all-class kernel, not two.
FUSED_LOG_NOISE = True


def add_log_noise(Z: np.ndarray, tree: TreeArrays, out_inout: np.ndarray) -> None:
    """Add log p_n(c|x) of every class c to ``out_inout`` (float64 (n, n_classes)), in place."""
    buf = np.empty(tree.node_bias.shape[0] + tree.leaf_class.shape[0], dtype=np.float64)
    unconditional = tree.node_weight.shape[1] == 0  # the same for every row: one row, added to all
    if FUSED_LOG_NOISE:  # one kernel for both kinds of tree (one to compile)
        weight_t = readonly(np.ascontiguousarray(tree.node_weight.T))
        acts = np.empty(tree.node_bias.shape[0], dtype=np.float64)
        Z = readonly(np.ascontiguousarray(Z[:1] if unconditional else Z, dtype=FLOAT))
        target = np.zeros((1, out_inout.shape[1]), dtype=np.float64) if unconditional else out_inout
        add_log_noise_rows(Z, weight_t, tree.node_bias, tree.leaf_class, target, acts, buf)
        if unconditional:
            out_inout += target
        return
    if unconditional:
        row = np.zeros((1, out_inout.shape[1]), dtype=np.float64)
        add_log_noise_all(tree.node_bias[None, :].astype(np.float64), tree.leaf_class, row, buf)
        out_inout += row
        return
    A = Z.astype(np.float64) @ tree.node_weight.T.astype(np.float64)
    A += tree.node_bias
    add_log_noise_all(A, tree.leaf_class, out_inout, buf)


def log_noise_of(Z: np.ndarray, codes: np.ndarray, tree: TreeArrays, n_threads: int) -> np.ndarray:
    """log p_n(y_i|x_i) of each row's own class code, float64 (n,)."""
    out = np.empty(Z.shape[0], dtype=np.float64)

    def run(start, stop):
        log_noise_of_codes(
            Z[start:stop], codes[start:stop], tree.node_weight, tree.node_bias, tree.class_leaf, out[start:stop]
        )

    map_chunks(Z.shape[0], run, 65536, n_threads)
    return out


def map_blocks(
    rows: KernelRows,
    Z: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray,
    tree: TreeArrays,
    fn: Callable,
    n_threads: int,
    corrected: bool = True,
    start: int = 0,
    stop: int | None = None,
    into: np.ndarray | None = None,
) -> list:
    """Apply ``fn(start, stop, S)`` to blocks of rows [start, stop) of scores, in order; return its results.

    ``S`` is float64 (rows, n_classes): the raw scores xi, plus log p_n(c|x)
    when ``corrected``. Row indices passed to ``fn`` are relative to ``start``.
    ``into``: float64 (stop - start, n_classes), C-contiguous: each block's ``S`` is then its rows of
    ``into`` (the same values), not an array of its own.
    """
    stop = rows.X.shape[0] if stop is None else stop
    is_sparse = isinstance(coef, SparseCoef)
    intercept_ro = readonly(intercept)
    if not is_sparse:
        coef_ro = readonly(coef)
        coef_flat, stride_c, stride_j = flat_view(coef_ro)
    as_dense = dense_rows(rows, coef)
    block = block_rows(coef.shape[0], tree.leaf_class.shape[0], rows.X.shape[1] if as_dense and rows.sparse else 0)

    def run(a):
        b = min(a + block, stop)
        target = None if into is None else into[a - start : b - start]
        if is_sparse:
            S = sparse_block_scores(rows, a, b, coef, target)
        elif not as_dense:
            S = np.zeros((b - a, coef.shape[0]), dtype=np.float64) if target is None else zeroed(target)
            add_csr_scores(rows.indptr, rows.indices, rows.data, a, b, coef_flat, stride_c, stride_j, S)
        elif target is None:
            S = dense_scores(dense_block(rows, a, b), coef_ro)
        else:
            S = dense_scores(dense_block(rows, a, b), coef_ro, target)
        S += intercept_ro
        if corrected:
            add_log_noise(Z[a:b], tree, S)
        return fn(a - start, b - start, S)

    return fan_out(run, range(start, stop, block), n_threads)


#: Largest k for which ``top_k`` searches the tree (also up to n_classes / SEARCH_MAX_K): its sorted list of k
#: makes each insertion O(k), so at 97,000 classes k = 1,000 took 1.4x and k = 10,000 24x predict_proba's time
#: (stop 42 audit); beyond, every class's score is computed and the k best selected (argpartition).
SEARCH_MAX_K = 256


def _first_of_ties(S: np.ndarray, part: np.ndarray, rows: np.ndarray) -> None:
    """Make ``part`` (each row's k best columns of ``S`` by ``argpartition``, any order) take, in ``rows`` (those
    whose k-th score may be tied beyond the k), among the columns tied with the k-th best score, the first ones
    (in place), as a stable sort would: argpartition takes any."""
    kth = np.take_along_axis(S, part, axis=1).min(axis=1, keepdims=True)
    k = part.shape[1]
    for i in rows:
        above = np.flatnonzero(S[i] > kth[i, 0])
        part[i] = np.concatenate([above, np.flatnonzero(S[i] == kth[i, 0])[: k - above.shape[0]]])


def top_k(
    rows: KernelRows, Z: np.ndarray, coef: np.ndarray, intercept: np.ndarray, tree: TreeArrays, k: int, n_threads: int
):
    """Codes (n, k) int64 and bias-corrected float64 scores of the k best classes of each row, best first.

    An exact branch and bound over the tree (``skxc/_kernels/predict.py``)
    when log p_n depends on x and k is at most ``SEARCH_MAX_K`` (or n_classes / ``SEARCH_MAX_K``);
    otherwise log p_n is added to all scores and the k best are selected.
    """
    n = rows.X.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float64)

    def select(start, stop, S, offset=0):  # from all classes' corrected float64 scores; ties: the first class
        if k >= S.shape[1]:
            part = np.argsort(-S, axis=1)
            top = np.take_along_axis(S, part, axis=1)
            tied = np.flatnonzero((top[:, 1:] == top[:, :-1]).any(axis=1))  # rows with tied classes: rare
            if tied.shape[0]:  # a stable sort keeps them in class order
                part[tied] = np.argsort(-S[tied], axis=1, kind="stable")
                top[tied] = np.take_along_axis(S[tied], part[tied], axis=1)
        elif k == 1:  # as argmax (so predict_proba's argmax) takes it; NaN (a broken model's) never first
            part = np.argmax(S, axis=1)[:, None]
            broken = np.flatnonzero(np.isnan(S[np.arange(S.shape[0]), part[:, 0]]))
            if broken.shape[0]:
                part[broken, 0] = np.argmax(np.where(np.isnan(S[broken]), -np.inf, S[broken]), axis=1)
            top = np.take_along_axis(S, part, axis=1)
        else:  # the k-th and the (k+1)-th best in place: equal, the k-th score is tied beyond the k
            parted = np.argpartition(-S, (k - 1, k), axis=1)
            part = parted[:, :k]
            kth = np.take_along_axis(S, parted[:, k - 1 : k + 1], axis=1)
            tied = np.flatnonzero(kth[:, 0] == kth[:, 1])
            if tied.shape[0]:
                _first_of_ties(S, part, tied)
            part.sort(axis=1)  # class order, which the stable sort keeps among ties
            top = np.take_along_axis(S, part, axis=1)
            order = np.argsort(-top, axis=1, kind="stable")
            part, top = np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)
        out[offset + start : offset + stop] = part
        scores[offset + start : offset + stop] = top

    if tree.node_weight.shape[1] == 0 or k > max(SEARCH_MAX_K, intercept.shape[0] // SEARCH_MAX_K):
        map_blocks(rows, Z, coef, intercept, tree, select, n_threads)
        return out, scores
    intercept_ro = readonly(intercept)
    search_tree = (tree.node_weight, tree.node_bias, tree.leaf_class, tree.class_leaf, k)

    def scratch():  # the kernels' per-call scratch (one per concurrent call)
        return search_scratch(tree.node_bias, tree.leaf_class, k)

    def class_scratch():
        return np.empty(intercept.shape[0], dtype=np.float64)

    if isinstance(coef, SparseCoef) and rows.sparse:  # scores built per row from the feature-major index
        w_leaf = leaf_index(coef, tree.class_leaf)
        leaf_intercept = np.full(tree.leaf_class.shape[0], -np.inf)
        leaf_intercept[tree.class_leaf] = intercept
        leaf_intercept = readonly(leaf_intercept)

        def search_feature_major(start, stop):
            offset = np.zeros(0, dtype=np.float64)
            if coef.shared is not None:
                offset = np.asarray(rows.X[start:stop] @ coef.shared.astype(np.float64), dtype=np.float64)
            top_k_feature_major(
                rows.indptr, rows.indices, rows.data, start, stop, coef.indptr, w_leaf, coef.data, offset,
                leaf_intercept, Z[start:stop], tree.node_weight, tree.node_bias, tree.leaf_class, k, out[start:stop],
                scores[start:stop], *scratch(),
            )  # fmt: skip

        map_chunks(n, search_feature_major, 2048, n_threads)
        return out, scores
    if isinstance(coef, SparseCoef):  # dense rows: a block of raw scores, then the same branch and bound

        def search_sparse(start, stop):
            S = sparse_block_scores(rows, start, stop, coef)
            m = stop - start
            top_k_csr(
                np.arange(m + 1, dtype=np.int64), np.arange(m, dtype=np.int32), np.ones(m, dtype=FLOAT), 0, m,
                readonly(S.reshape(-1)), 1, S.shape[1], intercept_ro, Z[start:stop], *search_tree, out[start:stop],
                scores[start:stop], *scratch(), class_scratch(),
            )  # fmt: skip

        map_chunks(n, search_sparse, block_rows(coef.shape[0], tree.leaf_class.shape[0]), n_threads)
        return out, scores
    coef_ro = readonly(coef)
    if not dense_rows(rows, coef):  # sparse rows: scores built per row inside the kernel
        coef_flat, stride_c, stride_j = flat_view(coef_ro)

        def search(start, stop):
            top_k_csr(
                rows.indptr,
                rows.indices,
                rows.data,
                start,
                stop,
                coef_flat,
                stride_c,
                stride_j,
                intercept_ro,
                Z[start:stop],
                *search_tree,
                out[start:stop],
                scores[start:stop],
                *scratch(),
                class_scratch(),
            )

        map_chunks(n, search, 2048, n_threads)
        return out, scores

    def search_dense(start, stop):
        # float32 BLAS scores, handed to the kernel as a feature-major "coef" with one unit non-zero per row
        S = float32_scores(dense_block(rows, start, stop), coef_ro)
        if S is None:  # float32 overflow: the float64 path below
            return (start, stop)
        m = stop - start
        top_k_csr(
            np.arange(m + 1, dtype=np.int64),
            np.arange(m, dtype=np.int32),
            np.ones(m, dtype=FLOAT),
            0,
            m,
            readonly(S.reshape(-1)),
            1,
            S.shape[1],
            intercept_ro,
            Z[start:stop],
            *search_tree,
            out[start:stop],
            scores[start:stop],
            *scratch(),
            class_scratch(),
        )
        return None

    block = block_rows(coef.shape[0], tree.leaf_class.shape[0], rows.X.shape[1] if rows.sparse else 0)
    for overflow in map_chunks(n, search_dense, block, n_threads):
        if overflow is not None:
            a, b = overflow
            map_blocks(rows, Z, coef, intercept, tree, lambda s, e, S, o=a: select(s, e, S, o), 1, start=a, stop=b)
    return out, scores


#: The mapped log-odds of a row's top class are kept at least this far above those that would tie it with the
#: second class (:func:`top_log_odds_mapped`): the top class stays the most probable, strictly.
TOP_MARGIN = 1e-9


def top_and_rest(E: np.ndarray):
    """``(top, rest, second)`` of ``E`` (rows, C) = exp(scores - row max): each row's top column (the first of
    ties), and the sum and the largest of its other entries; ``E``'s top entries are set to 0."""
    top = E.argmax(axis=1)
    E[np.arange(E.shape[0]), top] = 0.0
    return top, E.sum(axis=1), E.max(axis=1)


def top_log_odds_mapped(E: np.ndarray, top_map: tuple[float, float]):
    """Each row's top class after the top-label map ``top_map`` = ``(slope, offset)``, from ``E`` (rows, C):
    exp(scores - row max), so the top entry is 1. Returns ``(top, rest, z)``: the top column (the first of
    ties), the sum of the other entries (the odds against the top class) and the top class's mapped log-odds
    ``slope * -log(rest) + offset``, at least those that keep it above the second class (``TOP_MARGIN``); rows
    with ``rest`` 0 (every other class underflows) get z = inf (left as they are). ``E``'s top entries are
    left 0 (callers overwrite them)."""
    slope, offset = top_map
    top, rest, second = top_and_rest(E)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rest = np.log(rest)
        z = np.maximum(offset - slope * log_rest, np.log(second) - log_rest + TOP_MARGIN)
    z[rest == 0.0] = np.inf
    return top, rest, z


def _calibrated_proba(E: np.ndarray, top_map: tuple[float, float]) -> None:
    """In place: ``E`` (exp(scores - row max)) becomes the probabilities with the top class's log-odds mapped by
    ``top_map`` (:func:`top_log_odds_mapped`), the other classes sharing the rest in the softmax's proportions
    (top-label calibration)."""
    top, rest, z = top_log_odds_mapped(E, top_map)
    r = np.arange(E.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(rest > 0.0, np.exp(-np.logaddexp(0.0, z)) / rest, 0.0)  # (1 - p_top) / rest
    E *= factor[:, None]
    E[r, top] = np.exp(-np.logaddexp(0.0, -z))  # sigmoid(z), 1 where rest is 0


def _store(out, start, stop, S) -> None:
    """``out[start:stop] = S``, unless ``S`` is those rows of ``out`` already (:func:`map_blocks`' ``into``)."""
    if not np.may_share_memory(out, S):
        out[start:stop] = S


def _store_raw(out, start, stop, S, top_map=None):
    _store(out, start, stop, S)


def _store_proba(out, start, stop, S, top_map=None):
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    if top_map is None:
        S /= S.sum(axis=1, keepdims=True)
    else:
        _calibrated_proba(S, top_map)
    _store(out, start, stop, S)


#: Bytes of the exponentials that :func:`_store_log_proba` holds at once (float64 rows x classes, at least
#: one row): the log-probabilities keep the scores, so their exponentials need an array of their own, made
#: once per block for this many rows and reused (23,000 classes: 22 rows) rather than the block's size.
EXP_BYTES = 1 << 22


def _store_log_proba(out, start, stop, S, top_map=None):
    m = S.max(axis=1, keepdims=True)
    S -= m
    _store(out, start, stop, S)
    block = out[start:stop]
    step = max(1, EXP_BYTES // (8 * S.shape[1])) if IN_PLACE_BLOCKS else S.shape[0]
    E = np.empty((min(step, S.shape[0]), S.shape[1]), dtype=np.float64)
    for lo in range(0, S.shape[0], step):  # row by row the same operations as on the whole block
        hi = min(lo + step, S.shape[0])
        e, part = E[: hi - lo], block[lo:hi]
        np.exp(S[lo:hi], out=e)
        if top_map is None:
            part -= np.log(e.sum(axis=1, keepdims=True))
            continue
        top, rest, z = top_log_odds_mapped(e, top_map)
        mapped = rest > 0.0
        with np.errstate(divide="ignore"):
            # the others: log(E_j / rest) + log(1 - p_top); the top: log(p_top); rows with rest 0 as they were
            part[mapped] -= (np.log(rest[mapped]) + np.logaddexp(0.0, z[mapped]))[:, None]
        r = np.flatnonzero(mapped)
        part[r, top[r]] = -np.logaddexp(0.0, -z[r])


_OUTPUTS = {"scores": _store_raw, "proba": _store_proba, "log_proba": _store_log_proba}


#: Whether :func:`all_classes` computes each block's scores in its rows of the output (``map_blocks``' ``into``)
#: and :func:`_store_log_proba` takes the exponentials a few rows at a time, rather than each block in arrays of
#: its own that are then copied (stop 65 and before): the same values, bit for bit, with two arrays of a block's
#: size fewer to allocate, whose first touch dominated scoring 500 held-out rows of 23,000 classes on a machine
#: where fresh memory is slow (docs/benchmarks.rst, "Stop 66: the held-out
#: rows scored with less memory").
IN_PLACE_BLOCKS = True


def all_classes(
    rows: KernelRows,
    Z: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray,
    tree: TreeArrays,
    what: str,
    n_threads: int,
    scale: float = 1.0,
    top_map: tuple[float, float] | None = None,
) -> np.ndarray:
    """float64 (n, n_classes) of every class: ``what`` = "scores" (``scale`` (xi + log p_n)), "proba"
    (their softmax) or "log_proba" (its log, by a float64 log-sum-exp); computed in row blocks.
    ``scale`` is the inverse of the model's score temperature; ``top_map`` (slope, offset), if given, maps the
    probabilities' top class's log-odds (:func:`top_log_odds_mapped`; not the scores)."""
    out = np.empty((rows.X.shape[0], coef.shape[0]), dtype=np.float64)
    store = _OUTPUTS[what]

    def scaled_store(start, stop, S):
        if scale != 1.0:
            S *= scale
        store(out, start, stop, S, top_map)

    map_blocks(rows, Z, coef, intercept, tree, scaled_store, n_threads, into=out if IN_PLACE_BLOCKS else None)
    return out


def class_blocks(
    rows: KernelRows, Z: np.ndarray, coef, intercept: np.ndarray, tree: TreeArrays, what: str, n_threads: int,
    scale: float = 1.0,
):  # fmt: skip
    """Yield ``(start, stop, block)``: :func:`all_classes` ``what`` of consecutive blocks of rows, so
    that the full n x C matrix is never held."""
    n = rows.X.shape[0]
    step = block_rows(coef.shape[0], tree.leaf_class.shape[0])
    for start in range(0, n, step):
        stop = min(start + step, n)
        part = kernel_rows(rows.X[start:stop])
        yield start, stop, all_classes(part, Z[start:stop], coef, intercept, tree, what, n_threads, scale)


def proba_of_codes(
    rows: KernelRows, Z: np.ndarray, coef, intercept: np.ndarray, tree: TreeArrays, codes: np.ndarray,
    n_threads: int, scale: float = 1.0, top_map: tuple[float, float] | None = None,
) -> np.ndarray:  # fmt: skip
    """float64 (n, k): the entries ``codes`` (int64 (n, k)) of each row's :func:`all_classes` "proba" (with
    the same ``top_map``), bit for bit, computed in each block's scores in place (:func:`map_blocks`): no n x C
    array, no copy of a block.

    The probabilities of ``top_k``'s classes come from here rather than from its scores: its search adds
    the tree's terms differently from the all-classes kernel (``add_log_noise_rows``), and a score minus a
    normaliser computed the other way exceeded 0 by rounding, by far more on rows of huge scale.
    """
    out = np.empty(codes.shape, dtype=np.float64)

    def store(start, stop, S):  # _store_proba's operations, then the row's k entries
        if scale != 1.0:
            S *= scale
        S -= S.max(axis=1, keepdims=True)
        np.exp(S, out=S)
        if top_map is None:
            out[start:stop] = np.take_along_axis(S, codes[start:stop], axis=1) / S.sum(axis=1, keepdims=True)
        else:
            _calibrated_proba(S, top_map)
            out[start:stop] = np.take_along_axis(S, codes[start:stop], axis=1)

    map_blocks(rows, Z, coef, intercept, tree, store, n_threads)
    return out
