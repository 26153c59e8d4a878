"""The class sums a stream of sparse rows keeps for its centroid start, updated in the cost of the classes a batch
touches.

A stream's start follows its rows (``_start_follows`` in skxc/_training.py): per class, the sum of its
L2-normalised rows so far, to which every ``partial_fit`` adds its batch's. Kept as one CSR matrix, each call
rebuilt the whole matrix (``sums + batch``: a copy of every stored entry), so a stream of many small batches was
quadratic in its length. :class:`StreamSums` keeps each class's row in an append-only store instead: a batch rewrites only
the rows of the classes it touches, appended at the end, and the store is compacted once the rows left behind
are half the live ones (amortised O(1) per entry written; the store at most about 2.25 times the live entries).

It holds exactly the matrix ``sums + batch`` would: the same float64 values, added in the same order, and each
row's entries in the same stored order, on which the sums of squares of the centroids' norms (and so the
start's bits) depend. scipy adds two CSR matrices by a sorted merge when both are canonical (every row's
columns strictly increasing), else by its general method, which lists each row's columns in the reverse of
the order they first appear (the first matrix's, then the second's new ones), so that every row not in the
batch is reversed too. Each row therefore carries the parity of the general additions when it was written,
and is read reversed when that parity differs from the current one; whether the whole matrix is canonical
(which decides the method) is kept by counting the rows by their orientation. The rows a batch touches are
added by scipy itself, on those rows only, forced to the method the whole matrix would take.

Rows with stored zeros or repeated columns (which no scipy sum or product leaves: a matrix built otherwise)
would not be reversed as scipy reverses them, so such a matrix is added as a whole once, by scipy, after
which its rows are scipy's.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._state import writeable

#: Row orientations, as kept: at most one entry (canonical either way), columns strictly increasing, strictly
#: decreasing, or neither. Kept for general-addition parity 0 (a row written at parity 1 is kept flipped).
_SHORT, _ASCENDING, _DESCENDING, _OTHER = 0, 1, 2, 3
_FLIPPED = np.array([_SHORT, _DESCENDING, _ASCENDING, _OTHER], dtype=np.int8)


def _orientations(indices: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per row of a CSR ``(indices, indptr)``, its orientation (int8)."""
    lengths = np.diff(indptr).astype(np.int64)
    n = lengths.shape[0]
    nnz = int(indptr[-1]) - int(indptr[0])
    cols = np.asarray(indices[indptr[0] : indptr[-1]], dtype=np.int64)
    row = np.repeat(np.arange(n), lengths)
    same = row[1:] == row[:-1]
    step = np.diff(cols) if nnz > 1 else np.empty(0, np.int64)
    not_up = np.bincount(row[1:][same & (step <= 0)], minlength=n)
    not_down = np.bincount(row[1:][same & (step >= 0)], minlength=n)
    out = np.full(n, _OTHER, dtype=np.int8)
    out[not_down == 0] = _DESCENDING
    out[not_up == 0] = _ASCENDING
    out[lengths < 2] = _SHORT
    return out


def is_canonical(matrix) -> bool:
    """Whether scipy adds the CSR ``matrix`` by its sorted merge: every row's columns strictly increasing."""
    o = _orientations(matrix.indices, matrix.indptr)
    return bool(np.all((o == _SHORT) | (o == _ASCENDING)))


def _entries(starts: np.ndarray, lengths: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Positions in the store of the entries of rows at ``starts`` of ``lengths``, each row read backwards where
    ``reverse``; rows one after the other."""
    total = int(lengths.sum())
    row = np.repeat(np.arange(lengths.shape[0]), lengths)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts[row] + np.where(reverse[row], lengths[row] - 1 - k, k)


class StreamSums:
    """Per class, the sum of a stream's sparse rows (float64): the CSR matrix ``sums + batch`` would keep, its
    rows in an append-only store, so that :meth:`add` costs the batch and the rows it touches.

    ``shape``, ``nnz``; :meth:`tocsr` (the whole matrix, as scipy would hold it), :meth:`rows` (as
    ``csr[classes]``), :meth:`toarray`. Pickles compacted.
    """

    def __init__(self, csr):
        csr = sp.csr_matrix(csr)
        if csr.dtype != np.float64:
            csr = csr.astype(np.float64)
        self.shape = csr.shape
        nnz = int(csr.indptr[-1])
        index_dtype = np.int32 if csr.shape[1] <= np.iinfo(np.int32).max else np.int64
        self._data = np.array(csr.data[:nnz], dtype=np.float64)
        self._indices = np.array(csr.indices[:nnz], dtype=index_dtype)
        self._start = np.asarray(csr.indptr[:-1], dtype=np.int64).copy()
        self._length = np.diff(csr.indptr).astype(np.int64)
        self._used = nnz  # entries of the store in use (live or left behind)
        self._live = nnz
        self._parity = 0  # of the general additions so far
        self._row_parity = np.zeros(csr.shape[0], dtype=np.int8)  # at each row's writing
        self._orientation = _orientations(self._indices, csr.indptr)
        self._counts = np.bincount(self._orientation, minlength=4)
        # rows scipy would rewrite other than by reversing them (stored zeros, repeated columns): add whole once
        row = np.repeat(np.arange(csr.shape[0], dtype=np.int64), self._length)
        keys = row * max(csr.shape[1], 1) + self._indices
        self._whole = bool(np.any(self._data == 0) or np.unique(keys).shape[0] != nnz)
        self._written = 0  # entries written by additions (the rows touched), for tests
        self._copied = 0  # entries moved by the store's growth and compaction, for tests

    @property
    def nnz(self) -> int:
        return self._live

    def canonical(self) -> bool:
        """Whether the matrix is canonical (scipy adds it by its sorted merge when the batch is too)."""
        wrong = _ASCENDING if self._parity else _DESCENDING
        return bool(self._counts[_OTHER] == 0 and self._counts[wrong] == 0)

    def rows(self, classes) -> sp.csr_matrix:
        """``csr[classes]`` of the matrix :meth:`tocsr` gives (float64 CSR, the rows' stored order)."""
        classes = np.asarray(classes, dtype=np.int64)
        lengths = self._length[classes]
        at = _entries(self._start[classes], lengths, self._row_parity[classes] != self._parity)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        shape = (classes.shape[0], self.shape[1])
        return sp.csr_matrix((self._data[at], self._indices[at], indptr), shape=shape)

    def tocsr(self) -> sp.csr_matrix:
        """The whole matrix, as ``sums + batch`` would have left it (a new CSR, float64)."""
        return self.rows(np.arange(self.shape[0]))

    def toarray(self) -> np.ndarray:
        return self.tocsr().toarray()

    def add(self, batch, classes=None, old=None, part=None, added=None) -> None:
        """``self = sums + batch`` (``batch`` CSR of the same shape), in place: the rows with entries in ``batch``
        rewritten, in O(their entries and the batch's). ``classes``, ``old``, ``part``, ``added`` (optional, from
        a caller that has them): the rows with entries in batch, ``rows(classes)``, ``batch[classes]`` and
        ``old + part``, reused where scipy would add them so. A failure leaves the sums as they were."""
        batch = sp.csr_matrix(batch)
        if batch.shape != self.shape:
            raise ValueError(f"batch of shape {batch.shape} for sums of shape {self.shape}")
        for name in ("_data", "_indices", "_start", "_length", "_row_parity", "_orientation", "_counts"):
            setattr(self, name, writeable(getattr(self, name)))  # read-only when loaded with mmap_mode="r"
        if self._whole:  # scipy's own sum, once: its rows from then on
            self.__dict__.update(StreamSums(sp.csr_matrix(self.tocsr() + batch)).__dict__)
            return
        general = not (self.canonical() and is_canonical(batch))
        if classes is None:
            classes = np.flatnonzero(np.diff(batch.indptr) > 0)
        new = None
        if classes.shape[0] > 0:
            old = self.rows(classes) if old is None else old
            part = batch[classes] if part is None else part
            if general and is_canonical(old) and is_canonical(part):  # scipy would merge these rows: force it
                new = _general_sum(old, part)
            else:
                new = sp.csr_matrix(old + part) if added is None else sp.csr_matrix(added)
        # nothing has changed so far
        parity = self._parity ^ 1 if general else self._parity
        if new is not None:
            self._write(classes, new, parity)
        self._parity = parity

    def _write(self, classes: np.ndarray, new: sp.csr_matrix, parity: int) -> None:
        """Rows ``classes`` := the rows of ``new`` (in their order), written at ``parity``."""
        n_new = int(new.indptr[-1])
        orientation = _orientations(new.indices, new.indptr)
        if parity:
            orientation = _FLIPPED[orientation]
        data, indices = new.data[:n_new], new.indices[:n_new]
        freed = int(self._length[classes].sum())
        self._reserve(n_new, freed)
        end = self._used + n_new
        self._data[self._used : end] = data
        self._indices[self._used : end] = indices
        np.subtract.at(self._counts, self._orientation[classes], 1)
        np.add.at(self._counts, orientation, 1)
        self._orientation[classes] = orientation
        self._start[classes] = self._used + np.asarray(new.indptr[:-1], dtype=np.int64)
        self._length[classes] = np.diff(new.indptr)
        self._row_parity[classes] = parity
        self._used, self._live = end, self._live - freed + n_new
        self._written += n_new

    def _reserve(self, n_new: int, freed: int) -> None:
        """Room for ``n_new`` more entries: the store compacted (when the rows left behind would be more than half
        the live ones) or grown by half. The store thus holds at most about 2.25 times the live entries, and
        copies a bounded multiple of the entries written."""
        if self._used + n_new <= self._data.shape[0]:
            return
        live = self._live - freed + n_new
        if 2 * (self._used - self._live + freed) > live:  # compact: the live rows, each as stored
            capacity = live + live // 2 + 1024
            at = _entries(self._start, self._length, np.zeros(self.shape[0], dtype=bool))
            data, indices = np.empty(capacity, np.float64), np.empty(capacity, self._indices.dtype)
            data[: at.shape[0]], indices[: at.shape[0]] = self._data[at], self._indices[at]
            start = np.cumsum(self._length) - self._length
            self._data, self._indices, self._start, self._used = data, indices, start, at.shape[0]
            self._copied += at.shape[0]
            if self._used + n_new <= capacity:
                return
        capacity = max(self._data.shape[0] * 3 // 2, self._used + n_new, 1024)
        data, indices = np.empty(capacity, np.float64), np.empty(capacity, self._indices.dtype)
        data[: self._used], indices[: self._used] = self._data[: self._used], self._indices[: self._used]
        self._data, self._indices = data, indices
        self._copied += self._used

    def __getstate__(self):
        state = dict(self.__dict__)
        at = _entries(self._start, self._length, np.zeros(self.shape[0], dtype=bool))
        state["_data"], state["_indices"] = self._data[at], self._indices[at]
        state["_start"] = np.cumsum(self._length) - self._length
        state["_used"] = at.shape[0]
        return state


def _general_sum(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    """``a + b`` by scipy's general method (as when a matrix the rows belong to is not canonical): a last row
    with its columns out of order appended to ``a`` (and an empty one to ``b``), then dropped."""
    n_a, n_b = int(a.indptr[-1]), int(b.indptr[-1])
    if a.shape[1] < 2:  # pragma: no cover - one column: every row without repeats is canonical
        raise ValueError("a general sum needs two columns")
    a2 = sp.csr_matrix(
        (np.concatenate([a.data[:n_a], [1.0, 1.0]]), np.concatenate([a.indices[:n_a], [1, 0]]),
         np.concatenate([a.indptr, [n_a + 2]])), shape=(a.shape[0] + 1, a.shape[1]),
    )  # fmt: skip
    b2 = sp.csr_matrix(
        (b.data[:n_b], b.indices[:n_b], np.concatenate([b.indptr, [n_b]])), shape=(b.shape[0] + 1, b.shape[1])
    )
    total = a2 + b2
    end = int(total.indptr[-2])
    return sp.csr_matrix((total.data[:end], total.indices[:end], total.indptr[:-1]), shape=a.shape)
