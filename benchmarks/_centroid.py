"""Nearest-centroid classification for sparse (CSR) input, without densifying X or the centroids.

scikit-learn's ``NearestCentroid`` densifies sparse input, which runs out of memory on
tf-idf data with tens of thousands of features and classes. Here the class means are a
sparse (n_classes, n_features) matrix, ``diag(1 / counts) @ Y.T @ X`` with Y the sparse
label-indicator matrix, and prediction scores a block of test rows at a time, so memory is
O(block x n_classes) beyond the data and the centroids. Centroids that are mostly non-zero (dense
features, e.g. embeddings) and small enough are kept dense for scoring (``dense="auto"``): a CSR block
times a dense matrix, where a product of two CSR matrices with a dense result is many times slower.

- ``metric="euclidean"``: argmin_c ||x - mu_c||^2 = argmax_c 2 x.mu_c - ||mu_c||^2.
- ``metric="cosine"``: rows L2-normalised before the means are taken, the means
  L2-normalised again; argmax_c x.mu_c with x L2-normalised.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _l2_normalize_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    X = sp.csr_matrix(X, dtype=np.float64, copy=True)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X.data /= np.repeat(norms, np.diff(X.indptr))
    return X


class SparseNearestCentroid:
    """Nearest class mean (Euclidean) or nearest normalised class mean (cosine) on CSR input.

    Attributes after ``fit``: ``classes_`` (sorted labels), ``centroids_`` (CSR,
    n_classes x n_features, float64), ``sq_norms_`` (||mu_c||^2; zeros for cosine).
    """

    #: ``dense="auto"``: dense centroids for scoring when at least this share of their entries is non-zero...
    DENSE_SHARE = 0.25
    #: ... and they take at most this many bytes as float64.
    DENSE_BYTES = 2**28

    def __init__(self, metric: str = "euclidean", block_rows: int = 512, dense="auto"):
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
        if dense not in ("auto", True, False):
            raise ValueError(f"dense must be 'auto', True or False, got {dense!r}")
        self.metric = metric
        self.block_rows = block_rows
        self.dense = dense

    def fit(self, X, y):
        X = sp.csr_matrix(X)
        if self.metric == "cosine":
            X = _l2_normalize_rows(X)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        n, n_classes = X.shape[0], self.classes_.size
        counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
        # label indicator (n_classes x n) with 1 / count of the row's class: its product with X is the means
        means = sp.csr_matrix((1.0 / counts[codes], (codes, np.arange(n))), shape=(n_classes, n)) @ X
        means = sp.csr_matrix(means, dtype=np.float64)
        means.sum_duplicates()
        if self.metric == "cosine":
            means = _l2_normalize_rows(means)
            self.sq_norms_ = np.zeros(n_classes)
        else:
            self.sq_norms_ = np.asarray(means.multiply(means).sum(axis=1)).ravel()
        self.centroids_ = means
        size = means.shape[0] * means.shape[1]
        dense = self.dense if self.dense != "auto" else (
            means.nnz >= self.DENSE_SHARE * size and 8 * size <= self.DENSE_BYTES
        )  # fmt: skip
        # (n_features, n_classes), for CSR @ CSR products, or as a dense array for CSR @ dense ones
        self._centroids_t = means.T.toarray() if dense else means.T.tocsr()
        return self

    def _scores(self, X_block) -> np.ndarray:
        """(b, n_classes) dense scores of a CSR block: larger is nearer."""
        S = X_block @ self._centroids_t
        S = S.toarray() if sp.issparse(S) else np.asarray(S)
        if self.metric == "euclidean":
            S *= 2.0
            S -= self.sq_norms_
        return S

    def predict_top_k(self, X, k: int = 5) -> np.ndarray:
        """(n, k) labels, nearest first (ties in no particular order)."""
        X = sp.csr_matrix(X)
        if self.metric == "cosine":
            X = _l2_normalize_rows(X)
        k = min(k, self.classes_.size)
        out = np.empty((X.shape[0], k), dtype=self.classes_.dtype)
        for start in range(0, X.shape[0], self.block_rows):
            S = self._scores(X[start : start + self.block_rows])
            top = (
                np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else np.tile(np.arange(k), (S.shape[0], 1))
            )
            rows = np.arange(S.shape[0])[:, None]
            order = np.argsort(-S[rows, top], axis=1, kind="stable")
            out[start : start + S.shape[0]] = self.classes_[top[rows, order]]
        return out

    def predict(self, X) -> np.ndarray:
        return self.predict_top_k(X, k=1)[:, 0]
