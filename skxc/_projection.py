"""The tree's projection of sparse X: a randomized truncated SVD whose sparse products run on threads.

scikit-learn's ``TruncatedSVD(algorithm="randomized")`` runs every product of
X with a tall dense block on one thread, and normalises the power iterations
by LU decompositions that SciPy pays for with copies and permutations of the
tall blocks (on ptb-nextword's 200,000 tree rows, 0.45 of its 0.9 s).
:func:`randomized_svd_projection` is the same algorithm (Halko, Martinsson
and Tropp 2011, Algorithm 4.4, as scikit-learn's ``randomized_svd``: 10
oversamples, the same Gaussian start, a final QR, the small SVD, scikit-learn's
sign rule) with two changes:

- the products ``X @ Q`` and ``X.T @ Q`` are cut into row blocks of X and of
  X's transpose in CSR, computed on ``n_threads`` threads (SciPy's sparse
  products release the GIL). Each output row comes from one block, so the
  result is the same for any number of threads;
- the power iterations are normalised by Cholesky QR (the Cholesky factor of
  the small Gram matrix), falling back to Householder QR when the Gram matrix
  is not numerically positive definite (a block of dependent columns).

It returns a fitted ``TruncatedSVD`` (``components_``, ``singular_values_``,
``explained_variance_``, ``explained_variance_ratio_`` as scikit-learn sets
them), so ``AuxiliaryTree.projection_`` keeps its type and ``transform``.

Sparse X much wider than its rows fill (hashed text: most of the 2**20
columns never occur) is projected on its active columns only
(:func:`active_columns`, :func:`restrict_columns`): a column with no stored
entry gets exactly zero components, so it costs n_features x (k + 10) float64
blocks and n_features x k stored components for nothing.
:func:`randomized_svd_projection` takes the columns' place in the full matrix
(``embedding``) and runs as on it, so the result is the same to rounding.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._parallel import fan_out

__all__ = [
    "GRAM_FEATURES",
    "active_columns",
    "gram_svd_projection",
    "randomized_svd_projection",
    "restrict_columns",
]

#: Oversamples of the random range (scikit-learn's ``n_oversamples`` default).
N_OVERSAMPLES = 10
#: Cholesky QR is used while the smallest pivot is above this fraction of the largest (a Gram matrix
#: condition number below about 1e14), Householder QR otherwise.
MIN_PIVOT = 1e-7
#: Stored non-zeros per row block of a threaded product (at least one block per thread).
BLOCK_NNZ = 1 << 18
#: X of at most this many columns is projected exactly through its Gram matrix (:func:`gram_svd_projection`).
GRAM_FEATURES = 256
#: Rows of X made dense at a time for the Gram matrix (2 MiB blocks at ``GRAM_FEATURES`` columns).
GRAM_BLOCK_ROWS = 1024
#: :func:`restrict_columns` finds the columns of at most n_features / ``SEARCH_FEW_ENTRIES`` stored entries by binary
#: search in the active columns instead of filling a column map of n_features entries (a few rows to predict of a
#: very wide model would pay for the whole map).
SEARCH_FEW_ENTRIES = 64


def active_columns(X: sp.csr_matrix, max_share: float):
    """``(X_active, active)``: CSR ``X`` restricted to its active columns (those with a stored entry) and their
    sorted indices (int64), when there are some and they are at most ``max_share`` of its columns; ``(X, None)``
    otherwise.

    ``X_active`` shares X's ``indptr`` and ``data`` (no entry is dropped) and has its indices renumbered to
    positions among the active columns, in O(nnz + n_features): no column indexing of X.
    """
    n_features = X.shape[1]
    seen = np.zeros(n_features, dtype=bool)
    seen[X.indices] = True
    n_active = int(np.count_nonzero(seen))
    if n_active == 0 or n_active > max_share * n_features:
        return X, None
    position = np.cumsum(seen, dtype=X.indices.dtype)  # 1 + position of each active column
    position -= 1
    indices = position[X.indices]
    X_active = sp.csr_matrix((X.data, indices, X.indptr), shape=(X.shape[0], n_active), copy=False)
    return X_active, np.flatnonzero(seen).astype(np.int64)


def restrict_columns(X: sp.csr_matrix, active: np.ndarray) -> sp.csr_matrix:
    """CSR ``X`` restricted to the sorted columns ``active`` (int64), its indices renumbered to positions in
    ``active`` and the entries of other columns dropped: by a column map (O(nnz + n_features)), or by a binary
    search per entry when X has few entries (``SEARCH_FEW_ENTRIES``). No column indexing of X; its ``data`` and
    ``indptr`` are shared when no entry is dropped."""
    n_features, n_active = X.shape[1], active.shape[0]
    indices = X.indices
    if n_active == 0:
        keep = np.zeros(indices.shape[0], dtype=bool)
        position = indices
    elif indices.shape[0] * SEARCH_FEW_ENTRIES < n_features:
        position = np.minimum(np.searchsorted(active, indices), n_active - 1)
        keep = active[position] == indices
    else:
        column_map = np.full(n_features, -1, dtype=np.int64 if n_features > np.iinfo(np.int32).max else np.int32)
        column_map[active] = np.arange(n_active, dtype=column_map.dtype)
        position = column_map[indices]
        keep = position >= 0
    data, indptr = X.data, X.indptr
    if not keep.all():
        indptr = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])[indptr]  # kept entries before each row
        data, position = data[keep], position[keep]
    return sp.csr_matrix((data, position.astype(indices.dtype, copy=False), indptr), shape=(X.shape[0], n_active))


def row_blocks(A: sp.csr_matrix, n_threads: int) -> list[tuple[int, int]]:
    """Contiguous row ranges of CSR ``A`` with about equal non-zeros: ``n_threads`` of them or more."""
    n_blocks = max(int(n_threads), -(-A.nnz // BLOCK_NNZ)) if n_threads > 1 else 1
    n_blocks = max(1, min(n_blocks, A.shape[0]))
    cuts = np.searchsorted(A.indptr, A.nnz * np.arange(1, n_blocks) / n_blocks)
    bounds = np.unique(np.concatenate([[0], np.clip(cuts, 0, A.shape[0]), [A.shape[0]]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _product(A: sp.csr_matrix, Q: np.ndarray, blocks, n_threads: int) -> np.ndarray:
    """``A @ Q`` (float64, C order), the row blocks of ``A`` on ``n_threads`` threads."""
    out = np.empty((A.shape[0], Q.shape[1]), dtype=np.float64)

    def block(bounds):
        a, b = bounds
        p, q = A.indptr[a], A.indptr[b]
        part = sp.csr_matrix((A.data[p:q], A.indices[p:q], A.indptr[a : b + 1] - p), shape=(b - a, A.shape[1]))
        out[a:b] = part @ Q

    fan_out(block, blocks, n_threads)
    return out


def _orthonormal(A: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of tall ``A``: Cholesky QR, or Householder QR when the Gram
    matrix is not numerically positive definite."""
    try:
        L = np.linalg.cholesky(A.T @ A)
    except np.linalg.LinAlgError:
        L = None
    d = np.abs(np.diag(L)) if L is not None else None
    if d is None or not d.min() > MIN_PIVOT * d.max():  # (nearly) dependent columns
        return scipy.linalg.qr(A, mode="economic", check_finite=False)[0]
    # A L^-T by a product with the small inverse (a triangular solve against the tall block copies it)
    return A @ scipy.linalg.solve_triangular(L, np.eye(L.shape[0]), lower=True, check_finite=False).T


def _sign_flipped(Vt: np.ndarray) -> np.ndarray:
    """``Vt`` with each row's sign set so that its largest absolute entry is positive, in place: the
    rows of scikit-learn's ``svd_flip(U, Vt, u_based_decision=False)`` (U is not needed here)."""
    largest = Vt[np.arange(Vt.shape[0]), np.argmax(np.abs(Vt), axis=1)]
    Vt *= np.sign(largest)[:, np.newaxis]
    return Vt


def sparse_svd_bytes(n_rows: int, n_features: int, n_components: int) -> int:
    """An upper bound on the bytes :func:`randomized_svd_projection` holds at once for ``n_rows`` sparse rows of
    ``n_features`` columns: float64 bases of ``n_components + N_OVERSAMPLES`` columns, the Gaussian start and two
    products for the columns (the start is drawn for all of them) and three for the rows (a product, its
    orthonormal basis and the projection), besides X and its transpose."""
    return 8 * (int(n_components) + N_OVERSAMPLES) * (3 * int(n_features) + 3 * int(n_rows))


def randomized_svd_projection(
    X: sp.csr_matrix, n_components: int, n_iter: int, seed: int, n_threads: int, row_weight=None, embedding=None
):
    """``(svd, Z)``: a ``TruncatedSVD(n_components)`` fitted on float64 CSR ``X`` (module docstring) and
    ``Z = X @ svd.components_.T``, as ``TruncatedSVD.fit_transform`` returns it.

    ``n_components`` < n_features; ``seed`` the integer of scikit-learn's ``random_state``.
    ``row_weight`` (positive float64 per row, or None): row i counts ``row_weight[i]`` times, as if
    repeated: the SVD is that of the rows scaled by the square roots of their weights (the same
    singular vectors as the repeated rows'), and the explained variance is weighted; ``Z`` is of
    the rows unscaled.
    ``embedding`` (``(active, n_features)`` or None): X is the columns ``active`` (sorted int64) of a matrix of
    ``n_features`` columns that has no stored entry elsewhere (:func:`active_columns`), and the algorithm runs as
    on that matrix: its transposed form when that matrix is wider than tall, and otherwise the Gaussian start
    drawn for its n_features columns and restricted to ``active`` (the start's other rows meet zero columns
    only). The components are then its components on ``active``, to rounding (its others are zero).
    """
    X = sp.csr_matrix(X)
    X_rows = X
    if row_weight is not None:
        X = sp.csr_matrix(sp.diags(np.sqrt(np.asarray(row_weight, dtype=np.float64))) @ X)
    XT = X.T.tocsr()
    n_threads = max(1, int(n_threads))
    blocks_X, blocks_XT = row_blocks(X, n_threads), row_blocks(XT, n_threads)

    def X_times(Q):
        return _product(X, Q, blocks_X, n_threads)

    def XT_times(Q):
        return _product(XT, Q, blocks_XT, n_threads)

    # scikit-learn's randomized_svd works on the transpose when X is wider than tall: M = X.T
    n_features = X.shape[1] if embedding is None else int(embedding[1])
    transpose = X.shape[0] < n_features
    M_times, MT_times = (XT_times, X_times) if transpose else (X_times, XT_times)
    n_random = n_components + N_OVERSAMPLES
    Q = np.random.RandomState(seed).normal(size=(X.shape[0] if transpose else n_features, n_random))
    if embedding is not None and not transpose:
        Q = np.ascontiguousarray(Q[embedding[0]])
    for _ in range(n_iter):
        Q = _orthonormal(MT_times(_orthonormal(M_times(Q))))
    Q = _orthonormal(_orthonormal(M_times(Q)))  # twice: orthonormal to rounding (Cholesky QR2)
    B = MT_times(Q).T  # Q.T @ M
    Uhat, s, Vt = scipy.linalg.svd(B, full_matrices=False, lapack_driver="gesdd", check_finite=False)
    # the right singular vectors of X as rows: only n_components of them are computed and kept (C order)
    Vt = np.ascontiguousarray((Q @ Uhat[:, :n_components]).T) if transpose else Vt[:n_components].copy()
    Vt = _sign_flipped(Vt)
    svd = TruncatedSVD(n_components, algorithm="randomized", n_iter=n_iter, random_state=seed)
    if row_weight is None:
        Z = X_times(np.ascontiguousarray(Vt.T))
    else:
        Z = _product(X_rows, np.ascontiguousarray(Vt.T), row_blocks(X_rows, n_threads), n_threads)
    return _fitted(svd, X_rows, Vt, s[:n_components], Z, row_weight), Z


def _fitted(svd: TruncatedSVD, X_rows, Vt: np.ndarray, singular_values: np.ndarray, Z: np.ndarray, row_weight):
    """``svd`` with the attributes ``TruncatedSVD.fit`` sets, from the components ``Vt`` of X's rows ``X_rows``
    (unscaled), their projection ``Z`` and the singular values (of the weighted rows)."""
    svd.components_ = Vt
    svd.n_features_in_ = X_rows.shape[1]
    mean = np.average(Z, axis=0, weights=row_weight)
    svd.explained_variance_ = exp_var = np.average((Z - mean) ** 2, axis=0, weights=row_weight)
    full_var = mean_variance_axis(X_rows, axis=0, weights=row_weight)[1].sum()
    svd.explained_variance_ratio_ = exp_var / full_var
    svd.singular_values_ = singular_values
    return svd


def gram_svd_projection(X: sp.csr_matrix, n_components: int, row_weight=None):
    """``(svd, Z)`` as :func:`randomized_svd_projection` returns them, exactly, for X of few columns (``GRAM_FEATURES``
    or fewer): the right singular vectors of X (rows scaled by the square roots of ``row_weight``) are the
    eigenvectors of its Gram matrix ``X.T @ X``, summed over blocks of rows made dense (``GRAM_BLOCK_ROWS``), so the
    cost is one pass over X and an eigendecomposition of n_features x n_features, where the randomized SVD takes
    ten products with tall blocks (a 10,000 x 64 CSR matrix: 0.1 s). The signs follow scikit-learn's rule."""
    X = sp.csr_matrix(X, dtype=np.float64)
    w = None if row_weight is None else np.sqrt(np.asarray(row_weight, dtype=np.float64))
    G = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], GRAM_BLOCK_ROWS):
        block = X[start : start + GRAM_BLOCK_ROWS].toarray()
        if w is not None:
            block *= w[start : start + GRAM_BLOCK_ROWS, np.newaxis]
        G += block.T @ block
    values, vectors = scipy.linalg.eigh(G, check_finite=False)  # ascending
    top = np.argsort(values)[::-1][:n_components]
    Vt = _sign_flipped(np.ascontiguousarray(vectors[:, top].T))
    Z = np.asarray(X @ Vt.T, dtype=np.float64)
    svd = TruncatedSVD(n_components, algorithm="arpack")
    return _fitted(svd, X, Vt, np.sqrt(np.maximum(values[top], 0.0)), Z, row_weight), Z
