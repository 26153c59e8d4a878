"""Where the class weights live: a dense array, or sparse weights for sparse input.

``weights="sparse"`` keeps only the (class, feature) weights that training
has touched. While training they sit in a hash table (:class:`HashedWeights`,
kernels in ``skxc/_kernels/hashed.py``) that grows as updates reach new
pairs; between calls the fitted ``coef_`` is a ``scipy.sparse`` CSR matrix
(n_classes, n_features), the form scikit-learn's linear models take after
``sparsify()``. A full Adagrad state is then a float32 array aligned with
``coef_.data``; the factored state is the same as for dense weights.

The class-centroid start subtracts the mean centroid from every class (see
``skxc/_start.py``): a vector over all features that would make every class's
weights dense. The sparse layout keeps it once, as ``shared`` (n_features,):
every class's score of x gets ``shared @ x``. That term is the same for all
classes of a row, so probabilities, top-k and predictions do not depend on
it; with ``l2 = 0`` the two layouts train the same model.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._config import FLOAT
from ._kernels.hashed import EMPTY, insert_all

#: Largest fraction of a table's slots in use; a table that would pass it doubles.
MAX_LOAD = 0.5
#: Smallest table (slots).
MIN_CAPACITY = 1 << 10
#: Bytes per slot: the int64 key and float32 weight (plus float32 Adagrad sum for the full state).
SLOT_BYTES = 12


def _capacity_for(n: int) -> int:
    cap = MIN_CAPACITY
    while cap * MAX_LOAD < n:
        cap *= 2
    return cap


def _shift(capacity: int) -> int:
    return 64 - (capacity.bit_length() - 1)


class HashedWeights:
    """Weights of (class, feature) pairs in an open-addressing hash table (``skxc/_kernels/hashed.py``).

    Attributes: ``keys`` int64, ``vals`` float32, ``acc`` float32 (the full
    Adagrad state per slot, or empty), ``count`` (keys stored, an upper bound
    with several threads), ``shape`` (n_classes, n_features).
    """

    def __init__(self, shape, capacity: int, full: bool):
        self.shape = (int(shape[0]), int(shape[1]))
        self.keys = np.full(capacity, EMPTY, dtype=np.int64)
        self.vals = np.zeros(capacity, dtype=FLOAT)
        self.acc = np.zeros(capacity if full else 0, dtype=FLOAT)
        self.count = 0

    @property
    def capacity(self) -> int:
        return self.keys.shape[0]

    @property
    def shift(self) -> int:
        return _shift(self.capacity)

    @property
    def full(self) -> bool:
        return self.acc.shape[0] > 0

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.vals.nbytes + self.acc.nbytes

    def free(self) -> int:
        """New keys that fit before the load passes ``MAX_LOAD``."""
        return max(0, int(MAX_LOAD * self.capacity) - self.count)

    def reserve(self, extra: int) -> None:
        """Grow (doubling, rehashing) until ``extra`` more keys fit."""
        need = self.count + int(extra)
        if need <= MAX_LOAD * self.capacity:
            return
        cap = self.capacity
        while cap * MAX_LOAD < need:
            cap *= 2
        keys, vals, acc = self.keys, self.vals, self.acc
        self.keys = np.full(cap, EMPTY, dtype=np.int64)
        self.vals = np.zeros(cap, dtype=FLOAT)
        self.acc = np.zeros(cap if acc.shape[0] else 0, dtype=FLOAT)
        self.count = int(insert_all(keys, vals, acc, self.keys, self.vals, self.acc, self.shift))

    def copy(self) -> HashedWeights:
        out = HashedWeights.__new__(HashedWeights)
        out.shape, out.count = self.shape, self.count
        out.keys, out.vals, out.acc = self.keys.copy(), self.vals.copy(), self.acc.copy()
        return out

    def assign(self, other: HashedWeights) -> None:
        """Take ``other``'s contents (its arrays, not copies)."""
        self.shape, self.count = other.shape, other.count
        self.keys, self.vals, self.acc = other.keys, other.vals, other.acc

    @classmethod
    def from_csr(cls, coef: sp.csr_matrix, acc_data: np.ndarray | None = None, extra: int = 0) -> HashedWeights:
        """A table holding the stored entries of ``coef`` (and ``acc_data``, aligned with ``coef.data``).

        Room is made for ``extra`` more keys.
        """
        coef = sp.csr_matrix(coef)
        n_features = coef.shape[1]
        rows = np.repeat(np.arange(coef.shape[0], dtype=np.int64), np.diff(coef.indptr))
        src_keys = rows * n_features + coef.indices.astype(np.int64)
        table = cls(coef.shape, _capacity_for(coef.nnz + int(extra)), acc_data is not None)
        src_acc = np.zeros(0, dtype=FLOAT) if acc_data is None else np.asarray(acc_data, dtype=FLOAT)
        table.count = int(
            insert_all(src_keys, np.asarray(coef.data, dtype=FLOAT), src_acc, table.keys, table.vals, table.acc,
                       table.shift)
        )  # fmt: skip
        return table

    def to_csr(self):
        """``(coef, acc_data)``: the stored weights as a canonical float32 CSR matrix and, for the full
        state, their Adagrad sums aligned with ``coef.data`` (else None)."""
        used = np.flatnonzero(self.keys != EMPTY)
        keys = self.keys[used]
        order = np.argsort(keys, kind="stable")
        keys, used = keys[order], used[order]
        n_classes, n_features = self.shape
        rows, cols = np.divmod(keys, n_features)
        indptr = np.zeros(n_classes + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_classes), out=indptr[1:])
        index_dtype = np.int32 if max(n_features, keys.shape[0]) < 2**31 else np.int64
        coef = sp.csr_matrix(
            (self.vals[used], cols.astype(index_dtype), indptr.astype(index_dtype)), shape=self.shape, copy=False
        )
        coef.has_sorted_indices = True
        acc = self.acc[used] if self.full else None
        return coef, acc


def estimated_sparse_bytes(n_stored: int, full: bool) -> int:
    """Bytes of a table holding ``n_stored`` weights at the worst load after growth (``MAX_LOAD / 2``)."""
    per_slot = SLOT_BYTES + (4 if full else 0)
    return int(per_slot * n_stored / (MAX_LOAD / 2))


def to_dense(coef, shared=None, order="C") -> np.ndarray:
    """Dense float32 weights of a sparse ``coef`` (plus the ``shared`` vector in every row)."""
    out = np.zeros(coef.shape, dtype=FLOAT, order=order)
    if shared is not None:
        out += shared[None, :]
    m = sp.coo_matrix(coef)
    out[m.row, m.col] += m.data
    return out


def by_feature(coef: sp.csr_matrix):
    """The feature-major index of sparse ``coef``: ``(indptr int64, classes int32, weights float32)`` of coef.T as CSR."""
    t = sp.csr_matrix(coef.T)
    t.sort_indices()
    return (
        np.ascontiguousarray(t.indptr, dtype=np.int64),
        np.ascontiguousarray(t.indices, dtype=np.int32),
        np.ascontiguousarray(t.data, dtype=FLOAT),
    )


def prune(coef: sp.csr_matrix, threshold: float, acc_data=None):
    """Drop weights with |w| < ``threshold`` times the largest |w| of their class; ``(coef, acc_data)``."""
    coef = sp.csr_matrix(coef)
    if threshold <= 0 or coef.nnz == 0:
        return coef, acc_data
    absw = np.abs(coef.data)
    lengths = np.diff(coef.indptr)
    nonempty = lengths > 0
    row_max = np.zeros(coef.shape[0], dtype=absw.dtype)
    row_max[nonempty] = np.maximum.reduceat(absw, coef.indptr[:-1][nonempty])
    keep = absw >= threshold * np.repeat(row_max, lengths)
    rows = np.repeat(np.arange(coef.shape[0]), lengths)[keep]
    indptr = np.zeros(coef.shape[0] + 1, dtype=coef.indptr.dtype)
    np.cumsum(np.bincount(rows, minlength=coef.shape[0]), out=indptr[1:])
    out = sp.csr_matrix((coef.data[keep], coef.indices[keep], indptr), shape=coef.shape)
    out.has_sorted_indices = coef.has_sorted_indices
    return out, (None if acc_data is None else acc_data[keep])
