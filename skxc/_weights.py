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

import threading
import weakref

import numpy as np
import scipy.sparse as sp

from ._config import FLOAT
from ._kernels.hashed import (
    ACC_OFFSET,
    EMPTY,
    VAL_OFFSET,
    add_all,
    add_csr,
    block_class_counts,
    block_entries,
    block_to_table,
    buffer_beside,
    buffer_class_max,
    buffer_counts,
    buffer_term_max,
    buffer_to_csr,
    class_counts,
    class_max_abs,
    drop_small,
    insert_all,
    prune_copy,
    prune_counts,
    stored_positives,
    stored_positives_csr,
    table_to_csr,
)
from ._memory import zeros
from ._parallel import fan_out
from ._validation import ModelMemoryError, gib

#: Largest fraction of a table's slots in use; a table that would pass it doubles.
MAX_LOAD = 0.7
#: Smallest table (slots).
MIN_CAPACITY = 1 << 10
#: Bytes per slot: the int64 key and float32 weight (plus float32 Adagrad sum for the full state).
SLOT_BYTES = 12
#: A truncating table (``HashedWeights.truncate`` > 0) keeps its size when truncation leaves it at most
#: this full, and otherwise doubles as it would without truncation.
TRUNCATE_ROOM = 0.5
#: Sparse weights trained by ``fit`` on few rows per class (not ``skxc._fit.many_rows``): a negative's update
#: adds a weight to the table only on features expected to be hit this many times per class
#: (:func:`negative_insert_mask`).
NEGATIVE_INSERT_HITS = 1.0
#: The room a table gets up front before a call's first epoch (:func:`first_epoch_room`): the epoch's bound
#: of new keys, at most the keys stored or this many, whichever is larger.
UPFRONT_ROOM_KEYS = 1 << 24
#: The same cap for a ``fit``'s table that does not truncate (``HashedWeights.truncate`` 0: the automatic
#: settings' pilots, ``weight_threshold=0``): its weights do not depend on when it grows (one thread), so a
#: smaller table, grown as it fills, saves writing the empty slots of a room that the bound overstates
#: (the pilots of 1,200 classes x 20,000 tf-idf features: a 192 MiB table for 1.9 million keys).
#: ``partial_fit`` keeps ``UPFRONT_ROOM_KEYS``.
GROWING_ROOM_KEYS = 1 << 20

#: Whether ``fit`` trains a new model's sparse weights (``weights="auto"``, factored Adagrad, ``l2`` 0) in a
#: dense float32 array where that is smaller than the hash table its first epoch would be given
#: (:func:`buffer_wanted`); ``coef_`` is CSR after training either way (:func:`from_dense_buffer`). The dense
#: kernel ran twice the examples a second of the hashed one (1,198 classes x 57,000 tf-idf features, 8
#: negatives: a 273 MB array against a 402 MB table; docs/benchmarks.rst, "Stop 50: a dense buffer for
#: sparse weights"). False: the table.
DENSE_BUFFER = True


def _capacity_for(n: int) -> int:
    cap = MIN_CAPACITY
    while cap * MAX_LOAD < n:
        cap *= 2
    return cap


def _shift(capacity: int) -> int:
    return 64 - (capacity.bit_length() - 1)


def _settled(name: str, settable: bool = False) -> property:
    """A property of :class:`HashedWeights` that returns the attribute ``name`` after :meth:`HashedWeights.settle`
    (a pending block's weights put into the table first); ``settable``: assigning sets ``name`` as it is."""

    def get(self):
        self.settle()
        return getattr(self, name)

    def put(self, value) -> None:
        setattr(self, name, value)

    return property(get, put if settable else None)


class HashedWeights:
    """Weights of (class, feature) pairs in an open-addressing hash table (``skxc/_kernels/hashed.py``).

    Attributes: ``keys`` int64, ``vals`` float32, ``acc`` float32 (the full
    Adagrad state per slot, or empty), ``count`` (keys stored, an upper bound
    with several threads), ``shape`` (n_classes, n_features), ``truncate``
    (0, or the fraction of its class's largest |w| below which a weight is
    dropped when the table would otherwise grow: :meth:`reserve`), ``pending``
    (None, or ``(columns, block, block_acc)``: weights that a fit's epochs held in a
    block (``skxc._solver.Block``) and handed back; :meth:`to_csr` writes them
    into coef_ with the table's, and reading ``keys``, ``vals``, ``acc``,
    ``buffer`` or ``count`` first puts them into the table, :meth:`settle`).
    """

    pending = None

    def __init__(self, shape, capacity: int, full: bool):
        self.shape = (int(shape[0]), int(shape[1]))
        self._allocate(capacity, full)
        self.count = 0
        self.truncate = 0.0

    def _allocate(self, capacity: int, full: bool) -> None:
        """One zeroed buffer of interleaved slots (key int64, weight float32[, Adagrad sum float32]), so
        that a lookup reads one cache line; ``keys``, ``vals`` and ``acc`` are strided views of it."""
        slot = SLOT_BYTES + (4 if full else 0)
        self.assign_buffer(zeros(capacity * slot, np.uint8, populate=True), slot, full)  # every page written below
        self._keys.fill(EMPTY)

    # the table's arrays and key count, read after a pending block is put into the table (settle)
    keys = _settled("_keys")
    vals = _settled("_vals")
    acc = _settled("_acc")
    buffer = _settled("_buffer")
    count = _settled("_count", settable=True)

    def settle(self) -> None:
        """Put the ``pending`` block's weights of non-zero value (or full-state sum) into the table, growing it
        first (without truncation: the block's weights would not count). A Ctrl-C meanwhile waits for the end
        and then raises (in the main thread), so the table is never left without them."""
        pending = self.pending
        if pending is None:
            return
        from ._parallel import deferred_interrupt

        columns, block, block_acc = pending
        with deferred_interrupt() as stop:
            self.pending = None
            truncate, self.truncate = self.truncate, 0.0
            try:
                self.reserve(int(block_entries(block, block_acc)))
            finally:
                self.truncate = truncate
            n_classes, n_features = self.shape
            self._count += int(block_to_table(block, block_acc, columns, n_classes, n_features, self._keys,
                                              self._vals, self._acc, self.shift))  # fmt: skip
        if stop.requested and threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt

    @property
    def slot_bytes(self) -> int:
        return self._keys.strides[0]

    @property
    def capacity(self) -> int:
        return self._keys.shape[0]

    @property
    def shift(self) -> int:
        return _shift(self.capacity)

    @property
    def full(self) -> bool:
        return self._acc.shape[0] > 0

    def slot_words(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights and the full-state sums (empty for the factored state) as C-contiguous float32 views of
        the buffer, slot i's at ``[i * slot_bytes // 4]``: the hashed epoch's ``val_words`` and ``acc_words``."""
        words = self.buffer.view(FLOAT)
        return words[VAL_OFFSET // 4 :], (words[ACC_OFFSET // 4 :] if self.full else words[:0])

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def free(self) -> int:
        """New keys that fit before the load passes ``MAX_LOAD``."""
        return max(0, int(MAX_LOAD * self.capacity) - self.count)

    def reserve(self, extra: int) -> None:
        """Grow (doubling, rehashing) until ``extra`` more keys fit; with ``truncate`` > 0, first drop the
        weights it makes small (:meth:`_truncate`) and grow only if that leaves the table more than
        ``TRUNCATE_ROOM`` full."""
        if self.count + int(extra) <= MAX_LOAD * self.capacity:
            return
        room = MAX_LOAD
        if self.truncate > 0:
            self._truncate()
            room = TRUNCATE_ROOM
        need = self.count + int(extra)
        if need <= room * self.capacity:
            return
        cap = self.capacity * 2
        while cap * MAX_LOAD < need:
            cap *= 2
        check_growth_memory(cap * self.slot_bytes, self.shape, self.count)
        keys, vals, acc = self.keys, self.vals, self.acc
        self._allocate(cap, acc.shape[0] > 0)
        self.count = int(insert_all(keys, vals, acc, self.keys, self.vals, self.acc, self.shift))

    def _truncate(self) -> None:
        """Drop, in place, the weights below ``truncate`` times their class's largest |w| (and their Adagrad
        sums): the weights that pruning after training would drop (``prune``)."""
        n_classes, n_features = self.shape
        class_max = np.zeros(n_classes, dtype=FLOAT)
        class_max_abs(self.keys, self.vals, n_features, class_max)
        limits = FLOAT(self.truncate) * class_max  # float32, as _prune computes its limits
        self.count = int(drop_small(self.keys, self.vals, self.acc, n_features, limits, self.shift))

    def copy(self) -> HashedWeights:
        out = HashedWeights.__new__(HashedWeights)
        out.shape, out.count, out.truncate = self.shape, self.count, self.truncate
        out.assign_buffer(self.buffer.copy(), self.slot_bytes, self.full)
        return out

    def assign_buffer(self, buffer, slot: int, full: bool) -> None:
        capacity = buffer.shape[0] // slot
        self._buffer = buffer
        self._keys = np.ndarray((capacity,), dtype=np.int64, buffer=buffer, strides=(slot,))
        self._vals = np.ndarray((capacity,), dtype=FLOAT, buffer=buffer, offset=VAL_OFFSET, strides=(slot,))
        self._acc = np.ndarray((capacity if full else 0,), dtype=FLOAT, buffer=buffer, offset=ACC_OFFSET if full else 0,
                               strides=(slot,))  # fmt: skip

    def assign(self, other: HashedWeights) -> None:
        """Take ``other``'s contents (its buffer, not a copy)."""
        self.shape, self.count, self.truncate = other.shape, other.count, other.truncate
        self.assign_buffer(other.buffer, other.slot_bytes, other.full)

    @classmethod
    def from_csr(cls, coef: sp.csr_matrix, acc_data: np.ndarray | None = None, extra: int = 0) -> HashedWeights:
        """A table holding the stored entries of ``coef`` (and ``acc_data``, aligned with ``coef.data``).

        Room is made for ``extra`` more keys.
        """
        coef = sp.csr_matrix(coef)
        src_keys = _csr_keys(coef)
        table = cls(coef.shape, _capacity_for(coef.nnz + int(extra)), acc_data is not None)
        src_acc = np.zeros(0, dtype=FLOAT) if acc_data is None else np.asarray(acc_data, dtype=FLOAT)
        table.count = int(
            insert_all(src_keys, np.asarray(coef.data, dtype=FLOAT), src_acc, table.keys, table.vals, table.acc,
                       table.shift)
        )  # fmt: skip
        return table

    def add_csr(self, delta: sp.csr_matrix) -> None:
        """Add the stored entries of CSR ``delta`` (the table's shape) to the weights, inserting the keys
        that are absent (their Adagrad sums start at 0); the table grows first if needed."""
        delta = sp.csr_matrix(delta)
        if not delta.has_canonical_format:  # distinct keys
            delta = delta.copy()
            delta.sum_duplicates()
        self.reserve(delta.nnz)
        src_keys = _csr_keys(delta)
        self.count += int(add_all(src_keys, np.asarray(delta.data, dtype=FLOAT), self.keys, self.vals, self.shift))

    def to_csr(self):
        """``(coef, acc_data)``: the stored weights (and a ``pending`` block's, not put into the table) as a
        canonical float32 CSR matrix and, for the full state, their Adagrad sums aligned with ``coef.data`` (else
        None). Memory: the result only."""
        n_classes, n_features = self.shape
        columns, block, block_acc = _NO_BLOCK if self.pending is None else self.pending  # written along, not settled
        counts = np.zeros(n_classes, dtype=np.int64)
        class_counts(self._keys, n_features, counts)
        block_class_counts(block, block_acc, n_classes, counts)
        indptr, indices, data = _csr_arrays(counts, n_features)
        index_dtype = indices.dtype
        acc = np.empty(data.shape[0] if self.full else 0, dtype=FLOAT)
        table_to_csr(self._keys, self._vals, self._acc, n_features, indptr, indices, data, acc, columns, block,
                     block_acc)  # fmt: skip
        coef = sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=self.shape, copy=False)
        coef.has_sorted_indices = True
        return coef, (acc if self.full else None)


_NO_BLOCK = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=FLOAT), np.zeros(0, dtype=FLOAT))


def _csr_arrays(counts: np.ndarray, n_features: int):
    """Empty CSR arrays for rows of ``counts`` entries: ``(indptr int64 holding the row pointers, indices int32
    (int64 past 2**31 columns or entries), data float32)``, for a kernel to fill."""
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(n_features, nnz) < 2**31 else np.int64
    return indptr, np.empty(nnz, dtype=index_dtype), np.empty(nnz, dtype=FLOAT)


def _csr_keys(coef: sp.csr_matrix) -> np.ndarray:
    """int64 table key ``c * n_features + j`` of each stored entry of CSR ``coef``, in its order."""
    rows = np.repeat(np.arange(coef.shape[0], dtype=np.int64), np.diff(coef.indptr))
    return rows * coef.shape[1] + coef.indices.astype(np.int64)


def _row_lengths(rows, mask=None) -> np.ndarray:
    """Per example of ``rows``: the non-zeros of its row of X, or only those on features where ``mask``
    (per feature) is set."""
    lengths = np.diff(rows.indptr)
    if mask is not None:
        owner = np.repeat(np.arange(lengths.shape[0]), lengths)
        lengths = np.bincount(owner, weights=mask[rows.indices], minlength=lengths.shape[0]).astype(np.int64)
    return lengths[rows.example_row] if rows.example_row.shape[0] > 0 else lengths


def negative_insert_mask(rows, n_classes: int, n_features: int, n_negatives: int, n_epochs: int) -> np.ndarray:
    """uint8 (n_features,): the features on which a negative's update may add a weight to sparse weights
    (``Rows.negative_inserts``): those that ``n_epochs`` epochs of ``n_negatives`` negatives per example
    are expected to hit at least ``NEGATIVE_INSERT_HITS`` times per class, i.e.
    ``n_epochs * n_negatives * df_j >= NEGATIVE_INSERT_HITS * n_classes`` with ``df_j`` the examples of
    non-zero weight whose row has feature j (negatives spread over the classes about evenly on average).

    A weight that a negative adds on a rarer feature is a step or two of size lr g x_j that nothing
    else moves: truncation (``weight_threshold``) drops almost all of them (gcide-reverse@min_rows=5:
    2.9 million keys cut to 0.46 million whenever the table filled). On frequent features the negatives'
    steps add up (docs/benchmarks.rst, "Negatives add sparse weights on frequent features only")."""
    trained = np.asarray(rows.sample_weight) != 0
    if rows.example_row.shape[0] > 0:  # examples per row: a row counts once per (row, label) pair
        per_row = np.bincount(rows.example_row, weights=trained, minlength=rows.indptr.shape[0] - 1)
    else:
        per_row = trained.astype(np.float64)
    df = np.bincount(rows.indices, weights=np.repeat(per_row, np.diff(rows.indptr)), minlength=n_features)
    return frequent_features(df, n_classes, n_negatives, n_epochs).astype(np.uint8)


def frequent_features(df: np.ndarray, n_classes: int, n_negatives: int, n_epochs: int) -> np.ndarray:
    """bool (n_features,): :func:`negative_insert_mask`'s rule for the examples per feature ``df``."""
    return float(n_epochs) * float(n_negatives) * df >= NEGATIVE_INSERT_HITS * n_classes


def _epoch_bound(rows, n_negatives: int) -> int:
    """:func:`epoch_room` before the stored keys are taken off: the keys one epoch's updates touch."""
    trained = np.asarray(rows.sample_weight) != 0
    mask = rows.negative_inserts if rows.negative_inserts.shape[0] > 0 else None
    lengths = _row_lengths(rows)
    negative_lengths = lengths if mask is None else _row_lengths(rows, mask)
    return int(lengths[trained].sum()) + int(n_negatives) * int(negative_lengths[trained].sum())


def epoch_room(weights, rows, n_negatives: int, bound: int | None = None) -> int:
    """The most keys one epoch over ``rows`` (``skxc._solver.Rows``) can insert into ``weights`` (a table,
    or CSR weights that a table is about to hold): nnz(x) for the positive and ``n_negatives`` times the
    non-zeros on ``rows.negative_inserts`` (all of nnz(x) if empty) per example of non-zero weight, less
    the positive (class, feature) keys stored already (with the centroid start, all of them), at most the
    class x feature pairs not stored. ``bound``: :func:`_epoch_bound`, if the caller has it."""
    if bound is None:
        bound = _epoch_bound(rows, n_negatives)
    if isinstance(weights, HashedWeights):
        stored, count = stored_positives(weights.keys, rows.indptr, rows.indices, rows.codes, rows.example_row,
                                         rows.sample_weight, weights.shape[1]), weights.count  # fmt: skip
    else:
        if not weights.has_sorted_indices:
            weights = weights.sorted_indices()
        stored, count = stored_positives_csr(weights.indptr, weights.indices, rows.indptr, rows.indices, rows.codes,
                                             rows.example_row, rows.sample_weight), weights.nnz  # fmt: skip
    return max(0, min(bound - int(stored), weights.shape[0] * weights.shape[1] - count))


def first_epoch_room(weights, rows, n_negatives: int, truncating: bool = True) -> int:
    """The room made up front for a call's first epoch: :func:`epoch_room`, at most the keys ``weights``
    stores already or ``UPFRONT_ROOM_KEYS`` (``GROWING_ROOM_KEYS`` for a fit's table that does not
    truncate: ``truncating`` False), whichever is larger.

    The bound counts every negative's every feature as a new key; with many non-zeros per row, and
    frequent classes drawn as negatives again and again, it can exceed the keys an epoch adds many
    times over (docs/benchmarks.rst, "Heavy rows"). Up to this cap the epoch runs without a stop; past
    it the table grows as it fills (:meth:`HashedWeights.reserve`: doubling, after dropping the weights
    that pruning would drop when ``truncate`` is set).
    """
    count = int(weights.count if isinstance(weights, HashedWeights) else weights.nnz)
    cap = max(count, UPFRONT_ROOM_KEYS if truncating else GROWING_ROOM_KEYS)
    # the stored positive keys epoch_room takes off are at most the keys stored: when the bound less
    # all of them is still above the cap, the cap is the answer without looking them up
    bound = _epoch_bound(rows, n_negatives)
    if min(bound - count, weights.shape[0] * weights.shape[1] - count) >= cap:
        return cap
    return min(epoch_room(weights, rows, n_negatives, bound), cap)


def reserve_epoch(table: HashedWeights, room: int) -> None:
    """Grow ``table`` up front for ``room`` more keys (:func:`first_epoch_room`).

    The epoch then runs in one call per thread, without a rehash or a pause of the other threads
    midway (ptb-nextword: the bound, 9.8 million with the start's weights, holds the 7.8 million
    stored after five epochs). The memory guard has counted this bound since the start
    (``skxc._fit.stored_weights_bound``); if that much memory is not available now, the table
    instead grows as the kernel fills it (``HashedWeights.reserve``, which checks each doubling).
    """
    try:
        table.reserve(room)
    except SparseWeightsMemoryError:
        pass


def table_with_room(coef: sp.csr_matrix, acc_data, room: int) -> HashedWeights:
    """:meth:`HashedWeights.from_csr` of ``coef`` with room for ``room`` more keys (:func:`reserve_epoch` at
    once: no rehash), or for none if that table would not fit in memory (it then grows as it fills)."""
    slot = SLOT_BYTES + (4 if acc_data is not None else 0)
    try:
        check_growth_memory(_capacity_for(coef.nnz + int(room)) * slot, coef.shape, coef.nnz)
    except SparseWeightsMemoryError:
        room = 0
    return HashedWeights.from_csr(coef, acc_data, extra=room)


class SparseWeightsMemoryError(ModelMemoryError):
    """Growing the sparse weights' table would pass the memory the guard allows (see ``MEMORY_HEADROOM``): a
    :class:`~skxc.ModelMemoryError` (so a ValueError and a MemoryError) raised during training."""


def check_growth_memory(new_bytes: int, shape, count: int) -> None:
    """Raise :class:`SparseWeightsMemoryError` before allocating a table of ``new_bytes`` that would not fit
    in ``MEMORY_HEADROOM`` of the available memory (the old table stays until the new one is filled).

    The up-front guard cannot know how many weights training will touch; this one checks each doubling,
    so a fit that outgrows the machine stops with an error that names the options instead of being killed.
    """
    from . import _validation

    available = _validation.available_memory_bytes()
    if available is None or new_bytes <= _validation.MEMORY_HEADROOM * available:
        return
    raise SparseWeightsMemoryError(
        f"The sparse weights ({count:,} stored of {shape[0]} classes x {shape[1]} features) need a table of "
        f"{gib(new_bytes)} GiB to grow, but only {gib(available)} GiB of memory is available "
        f"(the guard keeps {1 - _validation.MEMORY_HEADROOM:.0%} of it free). Training stopped; the model holds "
        "the weights trained so far. Options: fewer epochs (max_iter) or negatives (n_negatives), each of which "
        "touches new weights; for a partial_fit stream, sparsify(threshold) between batches drops the small "
        "weights; fewer features (e.g. TfidfVectorizer(max_features=...) or SelectKBest)."
    )


def estimated_sparse_bytes(n_stored: int, full: bool) -> int:
    """Peak bytes of a table reaching ``n_stored`` weights: at the last doubling the old table (at
    ``MAX_LOAD``) and the new one (twice as large) are both held, then the CSR coef_ (8 bytes a weight)
    is built beside the table."""
    per_slot = SLOT_BYTES + (4 if full else 0)
    growth = 3 * per_slot * n_stored / MAX_LOAD
    conversion = 2 * per_slot * n_stored / MAX_LOAD + 8 * n_stored
    return int(max(growth, conversion))


def to_dense(coef, shared=None, order="C") -> np.ndarray:
    """Dense float32 weights of a sparse ``coef`` (plus the ``shared`` vector in every row)."""
    out = np.zeros(coef.shape, dtype=FLOAT, order=order)
    if shared is not None:
        out += shared[None, :]
    m = sp.coo_matrix(coef)
    out[m.row, m.col] += m.data
    return out


def buffer_wanted(coef: sp.csr_matrix, room: int, full: bool) -> bool:
    """Whether ``fit`` trains the sparse weights ``coef`` in a dense buffer (``DENSE_BUFFER``): its float32
    classes x features take fewer bytes than the table that would hold them with ``room`` more keys
    (:func:`first_epoch_room`), and the factored Adagrad state (``full`` False) keeps nothing per weight."""
    if not DENSE_BUFFER or full:
        return False
    n_classes, n_features = coef.shape
    return n_classes * n_features * np.dtype(FLOAT).itemsize < _capacity_for(coef.nnz + int(room)) * SLOT_BYTES


def dense_buffer(coef: sp.csr_matrix, shared) -> np.ndarray:
    """The sparse weights ``coef`` plus the ``shared`` term (None: 0) in every class as one feature-major
    float32 array on small pages (``skxc._memory``): the dense weights that score every row as ``coef`` and
    ``shared`` do (to float32 rounding), trained by the dense kernel without a row offset."""
    out = zeros(coef.shape, FLOAT, "F", populate=shared is not None)  # with the term, every weight is written
    if shared is not None:
        out += np.asarray(shared, dtype=FLOAT)[None, :]
    coef = sp.csr_matrix(coef)
    coef.sum_duplicates()
    add_csr(out, np.ascontiguousarray(coef.indptr, dtype=np.int64), coef.indices, np.asarray(coef.data, dtype=FLOAT))
    return out


def from_dense_buffer(a: np.ndarray, shared, threshold: float = 0.0, then=None, n_threads: int = 1) -> sp.csr_matrix:
    """The trained buffer ``a`` (:func:`dense_buffer`) less ``shared`` in every class, as canonical float32
    CSR of its non-zeros: the weights no update reached (and the start did not store) are exactly 0 there.
    Where a CSR of every non-zero (its index and float32 value: 12 bytes each, on the safe side) would not fit
    in memory beside the buffer
    (:func:`check_growth_memory`) and ``threshold`` > 0, the weights below ``threshold`` times their class's
    largest |w| are left out (:func:`prune`'s rule, in float32), as the table's truncation would have dropped
    them.

    ``then``: ``(term, prune_threshold)`` where the caller will add the canonical float32 CSR ``term`` to the
    result (``skxc._blend.blended_sparse``) and then :func:`prune` it at ``prune_threshold`` > 0 (a new fit's
    blend and pruning): the weights that those two steps drop are left out now, and the rest is as without
    ``then``, so the two steps give the same matrix from far fewer entries. Those are the weights where the
    term has no entry and |w| is below ``prune_threshold`` times the largest |w + term| of the class (the
    limit the pruning will compute from the sum). ``n_threads``: the threads of that conversion's passes over
    the buffer (the same CSR on any number)."""
    n_classes, n_features = a.shape
    s = np.zeros(n_features, dtype=FLOAT) if shared is None else np.ascontiguousarray(shared, dtype=FLOAT)
    if then is not None:
        try:
            return _pruned_beside(a, s, *then, n_threads=n_threads)
        except SparseWeightsMemoryError:  # not even those fit beside the buffer: as without ``then``
            pass
    limits = np.zeros(n_classes, dtype=FLOAT)
    counts = np.zeros(n_classes, dtype=np.int64)
    buffer_counts(a, s, limits, counts)
    if threshold > 0:
        try:
            check_growth_memory(12 * int(counts.sum()), a.shape, int(counts.sum()))
        except SparseWeightsMemoryError:
            buffer_class_max(a, s, limits)
            limits = FLOAT(threshold) * limits  # float32, as prune computes its limits
            counts[:] = 0
            buffer_counts(a, s, limits, counts)
    indptr, indices, data = _csr_arrays(counts, n_features)
    buffer_to_csr(a, s, limits, indptr, indices, data)
    coef = sp.csr_matrix((data, indices, indptr.astype(indices.dtype)), shape=a.shape, copy=False)
    coef.has_sorted_indices = True
    return coef


def _pruned_beside(
    a: np.ndarray, s: np.ndarray, term: sp.csr_matrix, threshold: float, n_threads: int = 1
) -> sp.csr_matrix:
    """:func:`from_dense_buffer` with ``then`` = ``(term, threshold)``, each pass over the buffer on up to
    ``n_threads`` threads (contiguous class ranges: the same CSR on any number). SparseWeightsMemoryError (the
    memory guard) if the CSR would not fit beside the buffer."""
    n_classes, n_features = a.shape
    t_indptr, t_classes, t_data = by_feature(term)
    ranges = _class_ranges(n_classes, a.size, n_threads)
    top = np.zeros(n_classes, dtype=FLOAT)
    fan_out(lambda r: buffer_term_max(a, s, t_indptr, t_classes, t_data, *r, top), ranges, len(ranges))
    limits = FLOAT(threshold) * top  # float32, as prune computes its limits (from the sum's largest |w|)
    counts = np.zeros(n_classes, dtype=np.int64)
    # the counting pass writes nothing; its empty outputs have the writing pass's types (int64 columns only where
    # the buffer has 2**31 entries or more), so that the kernel compiles once
    index_dtype = np.int32 if max(n_features, a.size) < 2**31 else np.int64
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=index_dtype), np.zeros(0, dtype=FLOAT))

    def count(r):
        buffer_beside(a, s, limits, t_indptr, t_classes, False, *r, counts, *empty)

    fan_out(count, ranges, len(ranges))
    check_growth_memory(12 * int(counts.sum()), a.shape, int(counts.sum()))
    indptr, indices, data = _csr_arrays(counts, n_features)
    fill = indptr[:-1].copy()

    def write(r):
        buffer_beside(a, s, limits, t_indptr, t_classes, True, *r, counts, fill, indices, data)

    fan_out(write, ranges, len(ranges))
    coef = sp.csr_matrix((data, indices, indptr.astype(indices.dtype)), shape=a.shape, copy=False)
    coef.has_sorted_indices = True
    return coef


#: Buffers of fewer weights than this are converted on one thread (:func:`_class_ranges`).
THREADED_BUFFER_WEIGHTS = 1 << 22


def _class_ranges(n_classes: int, n_weights: int, n_threads: int) -> list[tuple[int, int]]:
    """Contiguous ``(c_lo, c_hi)`` class ranges, one per thread, covering ``range(n_classes)``: one range for
    buffers of fewer than ``THREADED_BUFFER_WEIGHTS`` weights, where threads would cost more than they save."""
    n = max(1, min(int(n_threads), n_classes))
    if n_weights < THREADED_BUFFER_WEIGHTS:
        n = 1
    bounds = np.linspace(0, n_classes, n + 1).round().astype(np.int64)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


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
    """Drop weights with |w| < ``threshold`` times the largest |w| of their class; ``(coef, acc_data)``.

    Two passes of the kernels ``prune_counts`` and ``prune_copy`` (no temporaries of the matrix's size
    besides the result); the limits are ``threshold * row max`` in the data's dtype, as in NumPy.
    """
    coef = sp.csr_matrix(coef)
    if threshold <= 0 or coef.nnz == 0:
        return coef, acc_data
    n_rows = coef.shape[0]
    indptr = np.ascontiguousarray(coef.indptr)
    data = np.ascontiguousarray(coef.data)
    limits = np.empty(n_rows, dtype=data.dtype)
    counts = np.empty(n_rows, dtype=np.int64)
    prune_counts(indptr, data, data.dtype.type(threshold), limits, counts)
    out_indptr = np.zeros(n_rows + 1, dtype=coef.indptr.dtype)
    np.cumsum(counts, out=out_indptr[1:])
    nnz = int(out_indptr[-1])
    full = acc_data is not None
    src_acc = np.ascontiguousarray(acc_data) if full else np.zeros(0, dtype=FLOAT)
    out_indices = np.empty(nnz, dtype=coef.indices.dtype)
    out_data = np.empty(nnz, dtype=data.dtype)
    out_acc = np.empty(nnz if full else 0, dtype=src_acc.dtype)
    prune_copy(indptr, np.ascontiguousarray(coef.indices), data, src_acc, limits, out_indptr, out_indices, out_data,
               out_acc)  # fmt: skip
    out = sp.csr_matrix((out_data, out_indices, out_indptr), shape=coef.shape, copy=False)
    out.has_sorted_indices = coef.has_sorted_indices
    return out, (out_acc if full else None)


def pruned(coef, state, threshold: float):
    """``coef`` without the weights below ``threshold`` times their class's largest |w|: dropped from
    sparse ``coef`` (with their full Adagrad sums in ``state``, updated in place), zeroed in dense ``coef``
    (in place)."""
    if sp.issparse(coef):
        full = state.kind == "full"
        coef, acc = prune(coef, threshold, state.coef_sums if full else None)
        if full:
            state.coef_sums = acc
        return coef
    limit = threshold * np.abs(coef).max(axis=1, keepdims=True)
    coef[np.abs(coef) < limit] = 0.0
    return coef


def sparsified(coef: np.ndarray, state):
    """Dense ``coef`` as canonical float32 CSR (its non-zeros); a full Adagrad state in ``state`` becomes
    the sums of the stored weights, aligned with the CSR data (in place)."""
    sparse = sp.csr_matrix(np.asarray(coef), dtype=FLOAT)
    sparse.sort_indices()
    if state.kind == "full":
        rows, cols = sparse.nonzero()
        state.coef_sums = np.asarray(state.coef_sums[rows, cols], dtype=FLOAT)
    return sparse


def densified(coef, shared, state):
    """Sparse ``coef`` (plus the ``shared`` term in every class) as a feature-major float32 array; a full
    Adagrad state in ``state`` is scattered to the same layout (in place)."""
    coef = sp.csr_matrix(coef)
    if state.kind == "full":
        acc = np.zeros(coef.shape, dtype=FLOAT, order="F")
        rows = np.repeat(np.arange(coef.shape[0]), np.diff(coef.indptr))
        acc[rows, coef.indices] = state.coef_sums
        state.coef_sums = acc
    return to_dense(coef, shared, order="F")


#: Feature-major indexes of sparse coef_ matrices, by id() of the matrix, dropped with it: prediction
#: builds one per fitted coef_ without writing to the estimator (predict leaves its __dict__ as it was,
#: pickles and dask tokens never see it).
_INDEXES: dict = {}
_INDEXES_LOCK = threading.Lock()


#: The leaves of the stored weights' classes (:func:`leaf_index`), by id() of the feature-major index's class
#: array (one per coef_ matrix, :func:`scoring_weights`), dropped with it: ``(weakref to that array, (the tree's
#: class_leaf they were made for, the leaves))``.
_LEAF_INDEXES: dict = {}


def _per_object(store: dict, obj, make, fits=None):
    """``make()``, kept in ``store`` under id(``obj``) while ``obj`` lives (a weak reference tells a live entry
    from a stale one; a finalizer drops it with ``obj``) and made again when ``fits(value)`` is False."""
    key = id(obj)
    with _INDEXES_LOCK:
        hit = store.get(key)
        live = hit is not None and hit[0]() is obj
        if live and (fits is None or fits(hit[1])):
            return hit[1]
        value = make()
        if not live:
            weakref.finalize(obj, store.pop, key, None)
        store[key] = (weakref.ref(obj), value)
        return value


def leaf_index(weights, class_leaf: np.ndarray) -> np.ndarray:
    """int32 leaf of each stored weight's class in the feature-major index of :func:`scoring_weights`'s
    ``weights`` (``class_leaf[weights.classes]``), for the tree whose ``class_leaf`` is given: made once per
    fitted coef_ and tree (another tree, e.g. after ``fit_noise``, makes a new one), as the index is, so
    that the top-k search starts each row from its leaves in one contiguous pass."""
    classes = weights.classes

    def make():
        return np.array(class_leaf), np.ascontiguousarray(np.asarray(class_leaf)[classes], dtype=np.int32)

    return _per_object(_LEAF_INDEXES, classes, make, lambda made: np.array_equal(made[0], class_leaf))[1]


def scoring_weights(coef, shared):
    """:class:`skxc._predict.SparseCoef` of sparse ``coef`` (and the ``shared`` term), cached per object."""
    from ._predict import SparseCoef

    index = _per_object(_INDEXES, coef, lambda: by_feature(coef))
    csr = coef if sp.isspmatrix_csr(coef) else sp.csr_matrix(coef)
    return SparseCoef(csr, *index, shared)
