"""Sparse class weights: an open-addressing hash table keyed by (class, feature), and its SGD kernel.

Weight (c, j) lives in slot i of three parallel arrays when ``keys[i] ==
c * n_features + j`` (int64, so C x n_features may exceed 2**31):
``vals[i]`` (float32) is the weight and, for the full Adagrad state,
``acc[i]`` (float32) its sum of squared gradients (``acc`` is empty for the
factored state, which keeps nothing per weight). Empty slots hold key -1 and
value 0. A key's home slot is the top ``64 - shift`` bits of key times
2**64 / golden ratio (Fibonacci hashing, Knuth 6.4), so consecutive features
of a class spread over the table; collisions probe the next slots (linear
probing). The capacity is a power of two and the caller keeps the load at
most ``MAX_LOAD`` (:mod:`skxc._weights`), so a probe sequence is short and
always ends at an empty slot. Absent keys are weights equal to 0.

The three arrays are strided views of one buffer of interleaved slots (key,
weight[, sum]), so a lookup touches one cache line, not three. Memory per
stored weight: 12 bytes per slot (16 with the full state), at a load up to
``MAX_LOAD`` (``MAX_LOAD / 2`` after a doubling; lower while the room made for
a first epoch's bound is not used up, e.g. 0.17-0.46 over five ptb-nextword epochs).

Training (:func:`negative_sampling_epoch_hashed`) inserts the keys an update
touches (a negative's only on the features its mask allows). The kernel never
grows the table: it is given a ``budget`` of new keys and stops, at an example
boundary, before an example could exceed it; the caller grows the table
(``HashedWeights.reserve``) and calls again from there. Before a call's first
epoch the table gets room for that epoch's bound, at most the keys stored or
``UPFRONT_ROOM_KEYS`` (``skxc._model.training_model``,
``skxc._weights.first_epoch_room``), so such stops come in later epochs, or in
the first where that bound is far above what it adds. A ``fit``'s table that
does not truncate (``weight_threshold`` 0, the automatic settings' pilots),
whose weights do not depend on where it grows, gets at most the keys stored or
``GROWING_ROOM_KEYS``. The negatives of an
example are drawn only once it is certain to run, so the random sequence, and
with one thread the model, do not depend on where the calls were cut.

Where negatives insert only on some features (an insert mask: ``fit`` on few
rows per class, ``skxc._weights.negative_insert_mask``), nearly all of a
table's keys are on those features, and every negative looks its weights up
there. While a fit's epochs run, the weights on those K features can live in a
dense block instead (``skxc._solver.Block``): float32 ``block[k * C + c]`` for
the k-th mask feature and class c (``colmap[j]`` = k, -1 off the mask), and a
full-state sum beside each in ``block_acc``. The kernel reads and steps a block
entry where it would have claimed a slot: the same values, the same arithmetic
in the same order, so the same model (one thread, a table that does not
truncate). :func:`move_to_block` takes those entries out of the table before
the epochs; after them the block is handed back (``HashedWeights.pending``):
:func:`table_to_csr` writes its stored entries into the CSR weights along with
the table's, and :func:`block_to_table` puts them into the table where the
table itself is needed again. Meanwhile the table holds the positives' keys
off the mask alone, a tenth to a half of its keys, and the epochs' lookups
there miss the cache far less often. With
several threads (Hogwild) two threads may claim the same empty slot at once
for different keys; one key then takes over the other's slot and its first
update (a lost update of the kind Hogwild already allows).
"""

import numpy as np
from numba import njit

from .._config import NJIT, NJIT_HELPER, NJIT_NO_NRT
from .prefetch import prefetch
from .sgd import (
    _draw_negatives,
    intercept_step,
    losses_and_gradients,
    prefetch_example,
    step_schedule,
    sum_share,
    weight_step,
)

#: Key of an empty slot.
EMPTY = -1
#: Byte offsets of a slot's weight and (full Adagrad state) sum of squared gradients: a slot is key int64,
#: weight float32[, sum float32] (``skxc._weights.HashedWeights``).
VAL_OFFSET = 8
ACC_OFFSET = 12
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(**NJIT_HELPER)
def home_slot(key, shift):
    """The home slot of ``key``: the top bits of key * 2**64 / phi (``shift`` = 64 - log2(capacity))."""
    return np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(shift))


@njit(**NJIT_HELPER)
def find_slot(keys, shift, key):
    """Slot of ``key``, or -1 if it is not stored."""
    mask = keys.shape[0] - 1
    i = home_slot(key, shift)
    while True:
        k = keys[i]
        if k == key:
            return i
        if k == EMPTY:
            return -1
        i = (i + 1) & mask


@njit(**NJIT_HELPER)
def claim_slot(keys, shift, key):
    """Slot of ``key``, inserting it (value 0) if absent; returns (slot, 1 if inserted else 0)."""
    mask = keys.shape[0] - 1
    i = home_slot(key, shift)
    while True:
        k = keys[i]
        if k == key:
            return i, 0
        if k == EMPTY:
            keys[i] = key
            return i, 1
        i = (i + 1) & mask


@njit(**NJIT_HELPER)
def _put(keys, vals, acc, shift, key, src_vals, src_acc, s):
    """Store entry ``s`` of (src_vals, src_acc) under ``key`` (absent from the table)."""
    i, _ = claim_slot(keys, shift, key)
    vals[i] = src_vals[s]
    if acc.shape[0] > 0:
        acc[i] = src_acc[s]


@njit(**NJIT_NO_NRT)
def insert_all(src_keys, src_vals, src_acc, keys, vals, acc, shift):
    """Insert the non-empty entries of (src_keys, src_vals, src_acc) into the table (keys, vals, acc).

    Used to grow a table (rehash into a larger one) and to build one from CSR
    weights. Keys must be distinct and absent from the target; ``src_acc``
    and ``acc`` are both empty or both as long as their keys. Returns the
    number inserted.
    """
    n = 0
    for s in range(src_keys.shape[0]):
        key = src_keys[s]
        if key != EMPTY:
            _put(keys, vals, acc, shift, key, src_vals, src_acc, s)
            n += 1
    return n


@njit(**NJIT_NO_NRT)
def add_all(src_keys, src_vals, keys, vals, shift):
    """Add ``src_vals[s]`` to the weight of key ``src_keys[s]`` for every s, inserting absent keys (their
    value, and Adagrad sum, start at 0 as an empty slot's are). Keys must be distinct; the table must have
    room for all of them. Returns the number inserted."""
    n = 0
    for s in range(src_keys.shape[0]):
        i, inserted = claim_slot(keys, shift, src_keys[s])
        vals[i] += src_vals[s]
        n += inserted
    return n


@njit(**NJIT_NO_NRT)
def gather(keys, vals, query, out):
    """out[q] = weight of key query[q] (0 when absent): the table read through its own probing (tests)."""
    shift = shift_of(keys.shape[0])
    for q in range(query.shape[0]):
        i = find_slot(keys, shift, query[q])
        out[q] = vals[i] if i >= 0 else 0.0


@njit(**NJIT_HELPER)
def shift_of(capacity):
    """64 - log2(capacity) for a power-of-two capacity."""
    bits = 0
    while (np.int64(1) << bits) < capacity:
        bits += 1
    return 64 - bits


@njit(**NJIT_HELPER)
def _resolve_and_score(
    indptr, indices, data, r, keys, shift, vals, key_base, slots, intercept_c, offset, insert_mask, colmap, block,
    n_classes, c,
):  # fmt: skip
    """xi_c(x_r) in float64 and the slot of each of the row's weights of class c (``c`` = key_base / n_features).

    An absent weight is inserted (value 0) if the mask is empty or its feature's ``insert_mask``
    entry is set; otherwise it reads as 0 and gets slot -1, like an explicit zero of x (never
    stored, not updated). Returns (xi, number of keys inserted). The epoch passes an empty slice of
    the mask for a positive (insert on every feature) rather than a literal flag: numba compiles a
    helper once per literal value it is called with (``Literal[bool](True)`` and ``(False)``).
    With a block (``colmap`` not empty, module docstring), a feature j with ``colmap[j] >= 0`` reads
    ``block[colmap[j] * n_classes + c]`` and gets the code ``-2 - that index`` in place of a slot.
    """
    s = np.float64(intercept_c) + offset
    inserted = 0
    start = indptr[r]
    every = insert_mask.shape[0] == 0
    has_block = colmap.shape[0] > 0
    for p in range(start, indptr[r + 1]):
        v = data[p]
        if v == 0.0:
            slots[p - start] = -1
            continue
        j = indices[p]
        if has_block:
            k = colmap[j]
            if k >= 0:
                b = np.int64(k) * n_classes + c
                slots[p - start] = -2 - b
                s += np.float64(v) * np.float64(block[b])
                continue
        if every or insert_mask[j] != 0:
            i, new = claim_slot(keys, shift, key_base + j)
            inserted += new
        else:
            i = find_slot(keys, shift, key_base + j)
            if i < 0:
                slots[p - start] = -1
                continue
        slots[p - start] = i
        s += np.float64(v) * np.float64(vals[i])
    return s, inserted


@njit(**NJIT_HELPER)
def _update_slots(
    indptr, indices, data, r, val_words, acc_words, words_per_slot, slots, acc_factors, acc_total, intercept,
    acc_intercept, c, g, lr, l2, block, block_acc,
):  # fmt: skip
    """The Adagrad step of ``skxc._kernels.sgd.adagrad_row_update`` on the weights in ``slots``.

    The same arithmetic in the same order as the dense step, so both layouts
    train the same model (to rounding). The weight of slot i is
    ``val_words[i * words_per_slot]`` and its full-state sum ``acc_words[i * words_per_slot]``
    (``acc_words`` empty for the factored state): contiguous float32 arrays over the table's buffer
    (``HashedWeights.slot_words``), so that ``weight_step`` gets the array types the dense
    epoch gives it and compiles once for both layouts (the strided ``vals``/``acc`` views would
    compile another specialisation). A code ``-2 - b`` (:func:`_resolve_and_score`) steps ``block[b]`` (and
    ``block_acc[b]``) with the same arithmetic.
    """
    if g == 0.0 and l2 == 0.0:
        return
    intercept_step(intercept, acc_intercept, c, g, lr)
    start = indptr[r]
    full = acc_words.shape[0] > 0
    s_base = intercept.shape[0]
    row_sum = 0.0 if full else acc_factors[c]
    total = 0.0 if full else acc_total[0]
    share = sum_share(acc_total)
    for p in range(start, indptr[r + 1]):
        i = slots[p - start]
        if i < 0:
            if i == -1:
                continue
            row_sum, total = weight_step(
                block, block_acc, -2 - i, acc_factors, s_base + indices[p], full, row_sum, total, g, data[p], lr, l2,
                share,
            )  # fmt: skip
            continue
        row_sum, total = weight_step(
            val_words, acc_words, i * words_per_slot, acc_factors, s_base + indices[p], full, row_sum, total, g,
            data[p], lr, l2, share,
        )  # fmt: skip
    if not full:
        acc_factors[c] = row_sum
        acc_total[0] = total


@njit(**NJIT_HELPER)
def _prefetch_homes(indptr, indices, r, buffer, slot_bytes, shift, key_base, colmap, block, n_classes, c):
    """Prefetch the home slots of class ``c`` = ``key_base / n_features`` on row r's features (one line each),
    or its entries of the block on the block's features."""
    has_block = colmap.shape[0] > 0
    for p in range(indptr[r], indptr[r + 1]):
        j = indices[p]
        if has_block:
            k = colmap[j]
            if k >= 0:
                prefetch(block, np.int64(k) * n_classes + c)
                continue
        prefetch(buffer, home_slot(key_base + j, shift) * slot_bytes)


@njit(**NJIT_HELPER)
def _need(indptr, sample_weight, example_row, mapped, e, n_classes_per_example):
    """Most keys example ``e`` can insert: (1 + n_negatives) nnz(x), 0 for a zero-weight example."""
    if sample_weight[e] == 0.0:
        return 0
    r = example_row[e] if mapped else e
    return n_classes_per_example * (indptr[r + 1] - indptr[r])


@njit(**NJIT_NO_NRT)
def negative_sampling_epoch_hashed(
    indptr,
    indices,
    data,
    y,
    sample_weight,
    example_row,
    label_indptr,
    label_indices,
    order,
    start,
    Z,
    log_noise,
    row_offset,
    keys,
    vals,
    val_words,
    acc_words,
    buffer,
    shift,
    n_features,
    acc_factors,
    acc_total,
    intercept,
    acc_intercept,
    node_weight,
    node_bias,
    leaf_class,
    n_negatives,
    lr,
    lr_end,
    alpha,
    l2,
    state,
    budget,
    out_inserted,
    out_stats,
    class_scratch,
    score_scratch,
    slots,
    negative_inserts,
    colmap,
    block,
    block_acc,
):
    """:func:`skxc._kernels.sgd.negative_sampling_epoch` on hashed weights, for CSR rows, from ``order[start]``.

    The same examples, negatives, loss, gradients and Adagrad steps as the
    dense kernel (one thread: the same random sequence, so the same model up
    to rounding). Differences: weight (c, j) is looked up (and inserted) in
    the table ``keys``/``vals`` (module docstring; ``shift`` = 64 - log2
    capacity, keys c * n_features + j; ``buffer`` the uint8 array they are
    strided views of, for prefetching; ``val_words`` and ``acc_words`` the
    table's weights and full-state sums as C-contiguous float32 arrays over
    ``buffer``, slot i's at ``[i * words_per_slot]``, ``acc_words`` empty for
    the factored state: ``HashedWeights.slot_words``); ``row_offset`` float64 (n,) (or
    empty) adds a fixed term to every class's score of row r (the part of the
    centroid start common to all classes, which the sparse layout does not
    store per class). It inserts at most ``budget`` new keys: before an
    example whose possible inserts would exceed what is left, it returns that
    example's position in ``order`` (``order.shape[0]`` when done), with
    nothing of it drawn or trained. Like the dense kernel, it prefetches the weights of the next
    example and the per-example entries (weight, class, log p_n, row pointer, offset, projection) of
    the one after, which ``order`` puts at random positions. The step size follows the same linear
    schedule from ``lr`` to ``lr_end`` over the whole of ``order`` as in the
    dense kernel, so a resumed call continues it where it stopped. ``out_inserted`` int64 (1,) is
    incremented by the keys inserted; ``out_stats`` as in the dense kernel. Scratch, one set per
    concurrent call (the kernel allocates nothing): ``class_scratch`` int64 (2, n_negatives) and
    ``score_scratch`` float64 (3 + ``SAMPLE_SCRATCH_ROWS``, n_negatives)
    (``skxc._kernels.sgd.sampling_scratch``), ``slots`` int64 with room for (1 + n_negatives) times the
    most non-zeros of a row. ``negative_inserts`` uint8 (n_features,) or empty: a negative's update adds
    a weight absent from the table only on the features whose entry is set (empty: on every feature);
    elsewhere that weight stays 0. A positive's update adds its weights on every feature.
    ``colmap`` int32 (n_features,), ``block`` and ``block_acc`` float32: the block of the weights on the mask's
    features (module docstring), or three empty arrays (none).
    """
    slot_bytes = keys.strides[0]
    # the weights (and full-state sums) come as C-contiguous float32 arrays over the buffer, slot i's at
    # [i * words_per_slot] (views, no copy), made in Python: the update's weight_step then shares the dense
    # epoch's specialisation instead of compiling one for the strided vals/acc; the factored and the full
    # state give the kernel the same argument types (one specialisation for both); no ``view`` overload
    # to compile here
    words_per_slot = slot_bytes // 4
    n_classes = intercept.shape[0]
    per_example = 1 + n_negatives
    every_feature = negative_inserts[:0]  # an empty mask: a positive inserts on every feature
    neg_class = class_scratch[0]
    next_class = class_scratch[1]
    neg_xi = score_scratch[0]
    neg_lp = score_scratch[1]
    next_lp = score_scratch[2]
    draw_scratch = score_scratch[3:]
    mapped = example_row.shape[0] > 0
    has_offset = row_offset.shape[0] > 0
    n_rows = order.shape[0]
    width = 1  # the most non-zeros of a row to visit (at least 1)
    for t in range(start, n_rows):
        e = order[t]
        r = example_row[e] if mapped else e
        if indptr[r + 1] - indptr[r] > width:
            width = indptr[r + 1] - indptr[r]
    # slots holds the slots of the positive's weights, then each negative's: one block of ``width`` each
    loss_sum = 0.0
    weight_sum = 0.0
    hard_sum = 0.0
    n_drawn = 0
    used = 0
    if start >= n_rows:
        return n_rows
    reserved = _need(indptr, sample_weight, example_row, mapped, order[start], per_example)
    if reserved > budget:
        return start
    if sample_weight[order[start]] != 0.0:
        x0 = example_row[order[start]] if mapped else order[start]
        _draw_negatives(
            Z[x0], node_weight, node_bias, leaf_class, label_indptr, label_indices, x0, state, next_class, next_lp,
            draw_scratch,
        )  # fmt: skip
    stop_at = n_rows
    lr_slope, n_stepped = step_schedule(sample_weight, order, start, lr, lr_end)
    for t in range(start, n_rows):
        e = order[t]
        r = example_row[e] if mapped else e
        w = np.float64(sample_weight[e])
        for m in range(n_negatives):
            neg_class[m] = next_class[m]
            neg_lp[m] = next_lp[m]
        last = False
        if t + 1 < n_rows:
            e_next = order[t + 1]
            need_next = _need(indptr, sample_weight, example_row, mapped, e_next, per_example)
            if used + reserved + need_next > budget:
                last = True  # train this example, then hand back for a larger table
            elif sample_weight[e_next] != 0.0:
                r_next = example_row[e_next] if mapped else e_next
                _draw_negatives(
                    Z[r_next], node_weight, node_bias, leaf_class, label_indptr, label_indices, r_next, state,
                    next_class, next_lp, draw_scratch,
                )  # fmt: skip
                c_next = np.int64(y[e_next])
                _prefetch_homes(
                    indptr, indices, r_next, buffer, slot_bytes, shift, c_next * n_features, colmap, block, n_classes,
                    c_next,
                )  # fmt: skip
                for m in range(n_negatives):
                    if next_class[m] >= 0:
                        _prefetch_homes(
                            indptr, indices, r_next, buffer, slot_bytes, shift, next_class[m] * n_features, colmap,
                            block, n_classes, next_class[m],
                        )  # fmt: skip
            if t + 2 < n_rows:  # the example after next: its own entries (random positions, as ``order`` is)
                r_after = prefetch_example(order[t + 2], sample_weight, y, log_noise, indptr, example_row, mapped)
                if has_offset:
                    prefetch(row_offset, r_after)
                if Z.shape[1] > 0:
                    prefetch(Z[r_after], 0)
        else:
            need_next = 0
        if w != 0.0:
            lr_t = lr + lr_slope * n_stepped
            n_stepped += 1
            offset = row_offset[r] if has_offset else 0.0
            c_pos = np.int64(y[e])
            lp_pos = log_noise[e]
            xi_pos, new = _resolve_and_score(
                indptr, indices, data, r, keys, shift, vals, c_pos * n_features, slots[:width], intercept[c_pos], offset,
                every_feature, colmap, block, n_classes, c_pos,
            )  # fmt: skip
            used += new
            for m in range(n_negatives):
                c = neg_class[m]
                if c >= 0:
                    neg_xi[m], new = _resolve_and_score(
                        indptr, indices, data, r, keys, shift, vals, c * n_features, slots[(m + 1) * width :],
                        intercept[c], offset, negative_inserts, colmap, block, n_classes, c,
                    )  # fmt: skip
                    used += new
            loss, g_pos, hard, n = losses_and_gradients(xi_pos, lp_pos, neg_class, neg_xi, neg_lp, w, alpha)
            hard_sum += hard
            n_drawn += n
            loss_sum += w * loss
            weight_sum += w
            _update_slots(
                indptr, indices, data, r, val_words, acc_words, words_per_slot, slots[:width], acc_factors, acc_total,
                intercept, acc_intercept, c_pos, g_pos, lr_t, l2, block, block_acc,
            )  # fmt: skip
            for m in range(n_negatives):
                if neg_class[m] < 0:
                    continue
                _update_slots(
                    indptr, indices, data, r, val_words, acc_words, words_per_slot, slots[(m + 1) * width :],
                    acc_factors, acc_total, intercept, acc_intercept, neg_class[m], neg_xi[m], lr_t, l2, block, block_acc,
                )  # fmt: skip
        reserved = need_next
        if last:
            stop_at = t + 1
            break
    out_inserted[0] += used
    out_stats[0] += loss_sum
    out_stats[1] += weight_sum
    out_stats[2] += hard_sum
    out_stats[3] += np.float64(n_drawn)
    return stop_at


@njit(**NJIT_NO_NRT)
def add_feature_major_scores(indptr, indices, data, row_start, row_stop, w_indptr, w_class, w_data, out_inout):
    """out_inout[r - row_start, c] += sum_p data[p] * w[c, indices[p]] for the CSR rows [row_start, row_stop).

    The weights come feature-major: feature j's non-zero weights are
    ``w_data[w_indptr[j]:w_indptr[j + 1]]`` of the classes ``w_class[...]``
    (the CSR form of coef_.T), so a row costs the sum over its features of
    their stored weights, never O(C) per feature.
    """
    for r in range(row_start, row_stop):
        out = out_inout[r - row_start]
        for p in range(indptr[r], indptr[r + 1]):
            v = np.float64(data[p])
            j = indices[p]
            for q in range(w_indptr[j], w_indptr[j + 1]):
                out[w_class[q]] += v * w_data[q]


@njit(**NJIT_HELPER)
def _sort_row(out_indices, out_data, out_acc, a, n, full, low_bits, digits, packed, spare, weights, buckets):
    """Sort ``out_indices[a:a + n]`` (distinct columns) in place, moving data (and acc) along.

    Each entry is packed as ``column << low_bits | position`` (int64; ``2**low_bits`` > n) into
    ``packed`` and sorted by column with an LSD radix sort of ``digits`` bytes (``spare``: the
    other buffer, ``buckets`` int64 (257,)); the positions then permute the data through
    ``weights``. Scratch: as long as the longest row.
    """
    low = (np.int64(1) << low_bits) - 1
    for i in range(n):
        packed[i] = (np.int64(out_indices[a + i]) << low_bits) | i
    src = packed
    dst = spare
    for d in range(digits):
        shift = low_bits + 8 * d
        for b in range(257):
            buckets[b] = 0
        for i in range(n):
            buckets[((src[i] >> shift) & 255) + 1] += 1
        for b in range(256):
            buckets[b + 1] += buckets[b]
        for i in range(n):
            b = (src[i] >> shift) & 255
            dst[buckets[b]] = src[i]
            buckets[b] += 1
        src, dst = dst, src
    for i in range(n):
        out_indices[a + i] = src[i] >> low_bits
        weights[i] = out_data[a + (src[i] & low)]
    for i in range(n):
        out_data[a + i] = weights[i]
    if full:
        for i in range(n):
            weights[i] = out_acc[a + (src[i] & low)]
        for i in range(n):
            out_acc[a + i] = weights[i]


@njit(**NJIT_NO_NRT)
def add_csr(a, indptr, indices, data):
    """a[c, indices[p]] += data[p] for the entries p of CSR row c (rows = classes): a CSR matrix added into a
    dense array of either memory order, without temporaries (``skxc._weights.dense_buffer``)."""
    for c in range(indptr.shape[0] - 1):
        for p in range(indptr[c], indptr[c + 1]):
            a[c, indices[p]] += data[p]


@njit(**NJIT_NO_NRT)
def buffer_counts(a, shared, limits, counts):
    """counts[c] += the features j with ``|a[c, j] - shared[j]|`` (float32) not 0 and not below ``limits[c]``:
    the stored weights of class c in a dense training buffer of sparse weights
    (``skxc._weights.from_dense_buffer``). ``a`` (C, F) in either memory order, read feature by feature (a
    feature-major buffer reads in order)."""
    n_classes, n_features = a.shape
    for j in range(n_features):
        s = shared[j]
        for c in range(n_classes):
            v = abs(a[c, j] - s)
            if v != 0.0 and v >= limits[c]:
                counts[c] += 1


@njit(**NJIT_NO_NRT)
def buffer_class_max(a, shared, out):
    """out[c] = the largest ``|a[c, j] - shared[j]|`` (float32) of class c (``out`` zeroed by the caller)."""
    n_classes, n_features = a.shape
    for j in range(n_features):
        s = shared[j]
        for c in range(n_classes):
            v = abs(a[c, j] - s)
            if v > out[c]:
                out[c] = v


@njit(**NJIT_NO_NRT)
def buffer_to_csr(a, shared, limits, indptr, out_indices, out_data):
    """Write ``a[c, j] - shared[j]`` where not 0 and not below ``limits[c]`` in magnitude as CSR (rows = classes,
    columns sorted): ``indptr`` int64 (C + 1,) must hold the row pointers (:func:`buffer_counts` with the same
    limits; used as the rows' fill positions meanwhile and restored); ``out_indices`` and ``out_data``
    (float32) of length nnz are filled. Features in order, so each row's columns come sorted."""
    n_classes, n_features = a.shape
    for j in range(n_features):
        s = shared[j]
        for c in range(n_classes):
            v = a[c, j] - s
            if v != 0.0 and abs(v) >= limits[c]:
                p = indptr[c]
                indptr[c] = p + 1
                out_indices[p] = j
                out_data[p] = v
    for c in range(n_classes, 0, -1):  # indptr[c] now holds the end of row c, the start of row c + 1
        indptr[c] = indptr[c - 1]
    indptr[0] = 0


@njit(**NJIT_HELPER)
def _first_at_least(t_classes, q, q_end, c_lo):
    """The first position in ``t_classes[q:q_end]`` (sorted) holding a class of at least ``c_lo`` (``q_end``:
    none), by bisection."""
    while q < q_end:
        mid = (q + q_end) // 2
        if t_classes[mid] < c_lo:
            q = mid + 1
        else:
            q_end = mid
    return q


@njit(**NJIT_NO_NRT)
def buffer_term_max(a, shared, t_indptr, t_classes, t_data, c_lo, c_hi, out):
    """out[c] = the largest |w| of class c (for the classes ``c_lo <= c < c_hi``) once the term t is added to the
    buffer's weights w = ``a[c, j] - shared[j]`` (float32): ``|w + t[c, j]|`` where t has an entry (c, j), ``|w|``
    elsewhere, as the sum of the two CSR matrices (``skxc._blend.blended_sparse``) stores them. ``out`` zeroed by
    the caller; t feature-major (``skxc._weights.by_feature``: ``t_indptr`` int64 (F + 1,), ``t_classes`` each
    feature's classes, sorted, ``t_data`` float32). Calls on disjoint class ranges may run side by side."""
    n_features = a.shape[1]
    for j in range(n_features):
        s = shared[j]
        q_end = t_indptr[j + 1]
        q = _first_at_least(t_classes, t_indptr[j], q_end, c_lo)
        for c in range(c_lo, c_hi):
            v = a[c, j] - s
            if q < q_end and t_classes[q] == c:
                v = v + t_data[q]
                q += 1
            v = abs(v)
            if v > out[c]:
                out[c] = v


@njit(**NJIT_NO_NRT)
def buffer_beside(a, shared, limits, t_indptr, t_classes, write, c_lo, c_hi, counts, fill, out_indices, out_data):
    """For the classes ``c_lo <= c < c_hi``: :func:`buffer_counts` (``write`` False: ``counts`` int64 (C,)
    incremented) and then :func:`buffer_to_csr` (``write`` True: ``fill`` int64 (C,) each class's next position in
    ``out_indices`` and ``out_data``, advanced as they are filled; the row pointers of those counts give the
    first), where the entries (c, j) of a term t (feature-major, as for :func:`buffer_term_max`) are kept
    whenever w = ``a[c, j] - shared[j]`` is not 0, whatever ``limits[c]``: the weights that a later sum with t
    and pruning at ``limits`` may keep. Calls on disjoint class ranges may run side by side."""
    n_features = a.shape[1]
    for j in range(n_features):
        s = shared[j]
        q_end = t_indptr[j + 1]
        q = _first_at_least(t_classes, t_indptr[j], q_end, c_lo)
        if not write:  # the weights at or above their limit (a loop without branches), then the term's others
            for c in range(c_lo, c_hi):
                v = a[c, j] - s
                counts[c] += np.int64(v != 0.0) & np.int64(abs(v) >= limits[c])
            while q < q_end and t_classes[q] < c_hi:
                c = t_classes[q]
                v = a[c, j] - s
                if v != 0.0 and not abs(v) >= limits[c]:
                    counts[c] += 1
                q += 1
            continue
        for c in range(c_lo, c_hi):
            beside = q < q_end and t_classes[q] == c
            if beside:
                q += 1
            v = a[c, j] - s
            if v == 0.0 or not (beside or abs(v) >= limits[c]):
                continue
            p = fill[c]
            fill[c] = p + 1
            out_indices[p] = j
            out_data[p] = v


@njit(**NJIT_HELPER)
def _block_stored(block, block_acc, b, full):
    """Whether block entry b is a stored weight: non-zero, or with a non-zero full-state sum."""
    return block[b] != 0.0 or (full and block_acc[b] != 0.0)


@njit(**NJIT)
def table_to_csr(keys, vals, acc, n_features, indptr, out_indices, out_data, out_acc, columns, block, block_acc):
    """Write the table's weights as CSR (rows = classes), columns sorted within each row; with those of a block
    (``block[k * n_classes + c]`` the weight of class c on feature ``columns[k]``, ``block_acc`` its full-state
    sum; the entries :func:`block_entries` counts), which the table does not hold (all three empty: none).

    ``indptr`` int64 (n_classes + 1,) must hold the row pointers already (from the
    per-class counts; used as the rows' fill positions meanwhile and restored);
    ``out_indices`` int32 or int64, ``out_data`` float32 and ``out_acc`` float32
    (empty unless ``acc`` is) of length nnz are filled. No copy of the table: the
    entries are written to their rows in slot order, then each row is sorted in
    place (insertion sort for short rows, else a radix sort on the columns with
    scratch as long as the longest row, :func:`_sort_row`). The columns of a row are
    distinct, so the result does not depend on the sort. Written without NumPy
    calls (``argsort``, fancy indexing), which take numba long to compile.
    """
    n_classes = indptr.shape[0] - 1
    full = acc.shape[0] > 0
    for i in range(keys.shape[0]):
        key = keys[i]
        if key == EMPTY:
            continue
        c = key // n_features
        p = indptr[c]
        indptr[c] = p + 1
        out_indices[p] = key - c * n_features
        out_data[p] = vals[i]
        if full:
            out_acc[p] = acc[i]
    for b in range(block.shape[0]):
        if _block_stored(block, block_acc, b, full):
            k = b // n_classes
            c = b - k * n_classes
            p = indptr[c]
            indptr[c] = p + 1
            out_indices[p] = columns[k]
            out_data[p] = block[b]
            if full:
                out_acc[p] = block_acc[b]
    for c in range(n_classes, 0, -1):  # indptr[c] now holds the end of row c, the start of row c + 1
        indptr[c] = indptr[c - 1]
    indptr[0] = 0
    longest = 0
    for c in range(n_classes):
        longest = max(longest, indptr[c + 1] - indptr[c])
    low_bits = 1  # positions in a row: low_bits bits; columns: the next 8 * digits bits
    while (np.int64(1) << low_bits) <= longest:
        low_bits += 1
    digits = 1
    while (np.int64(1) << (8 * digits)) < n_features:
        digits += 1
    radix = low_bits + 8 * digits <= 63  # else (columns x row lengths past 2**63) insertion sort only
    scratch = np.empty(2 * longest if longest > 16 and radix else 0, dtype=np.int64)
    weights = np.empty(longest if longest > 16 and radix else 0, dtype=out_data.dtype)
    buckets = np.empty(257, dtype=np.int64)
    for c in range(n_classes):
        a = indptr[c]
        n = indptr[c + 1] - a
        if n > 16 and radix:
            _sort_row(out_indices, out_data, out_acc, a, n, full, low_bits, digits, scratch[:n],
                      scratch[longest : longest + n], weights, buckets)  # fmt: skip
            continue
        for i in range(a + 1, a + n):  # insertion sort
            col = out_indices[i]
            val = out_data[i]
            s = out_acc[i] if full else val
            j = i
            while j > a and out_indices[j - 1] > col:
                out_indices[j] = out_indices[j - 1]
                out_data[j] = out_data[j - 1]
                if full:
                    out_acc[j] = out_acc[j - 1]
                j -= 1
            out_indices[j] = col
            out_data[j] = val
            if full:
                out_acc[j] = s


@njit(**NJIT_NO_NRT)
def class_counts(keys, n_features, out_counts):
    """out_counts[c] += number of stored keys of class c."""
    for i in range(keys.shape[0]):
        key = keys[i]
        if key != EMPTY:
            out_counts[key // n_features] += 1


@njit(**NJIT_NO_NRT)
def prune_counts(indptr, data, scale, out_limits, out_counts):
    """Per row r of a CSR matrix: ``out_limits[r]`` = ``scale`` times the largest |data| of the row (in
    data's dtype, as NumPy computes ``scale * row_max``) and ``out_counts[r]`` = its entries with
    |data| >= that limit (the ones :func:`prune_copy` keeps; 0 for an empty row)."""
    for r in range(indptr.shape[0] - 1):
        top = scale - scale  # 0 in the data's dtype
        for p in range(indptr[r], indptr[r + 1]):
            top = max(top, abs(data[p]))
        out_limits[r] = scale * top
        limit = out_limits[r]  # as stored: prune_copy compares with the same value
        n = 0
        for p in range(indptr[r], indptr[r + 1]):
            if abs(data[p]) >= limit:
                n += 1
        out_counts[r] = n


@njit(**NJIT_NO_NRT)
def prune_copy(indptr, indices, data, acc, limits, out_indptr, out_indices, out_data, out_acc):
    """Copy the entries with |data| >= ``limits[row]`` (and their ``acc``, unless empty) to the CSR arrays
    ``out_*``, in order; ``out_indptr`` holds the kept rows' pointers already (:func:`prune_counts`)."""
    full = acc.shape[0] > 0
    for r in range(indptr.shape[0] - 1):
        q = out_indptr[r]
        for p in range(indptr[r], indptr[r + 1]):
            if abs(data[p]) >= limits[r]:
                out_indices[q] = indices[p]
                out_data[q] = data[p]
                if full:
                    out_acc[q] = acc[p]
                q += 1


@njit(**NJIT_NO_NRT)
def union_counts(a_indptr, a_indices, b_indptr, b_indices, out_indptr):
    """``out_indptr`` (n + 1,): the row pointers of the union of two CSR patterns with sorted indices."""
    out_indptr[0] = 0
    for r in range(a_indptr.shape[0] - 1):
        p, p_end, q, q_end = a_indptr[r], a_indptr[r + 1], b_indptr[r], b_indptr[r + 1]
        n = 0
        while p < p_end and q < q_end:
            if a_indices[p] <= b_indices[q]:
                q += a_indices[p] == b_indices[q]
                p += 1
            else:
                q += 1
            n += 1
        out_indptr[r + 1] = out_indptr[r] + n + (p_end - p) + (q_end - q)


@njit(**NJIT_NO_NRT)
def union_sum(a_indptr, a_indices, a_data, a_acc, b_indptr, b_indices, b_data, out_indptr, out_indices, out_data,
              out_acc):  # fmt: skip
    """``a + b`` for CSR matrices with sorted indices, into the pattern :func:`union_counts` sized: an entry of
    both is ``a_data + b_data`` (in ``out_data``'s dtype, as scipy sums duplicates), ``out_acc`` (unless
    ``a_acc`` is empty) carries ``a_acc`` and 0 for entries of ``b`` only."""
    full = a_acc.shape[0] > 0
    for r in range(a_indptr.shape[0] - 1):
        p, p_end, q, q_end = a_indptr[r], a_indptr[r + 1], b_indptr[r], b_indptr[r + 1]
        o = out_indptr[r]
        while p < p_end or q < q_end:
            if q == q_end or (p < p_end and a_indices[p] < b_indices[q]):
                out_indices[o] = a_indices[p]
                out_data[o] = a_data[p]
                if full:
                    out_acc[o] = a_acc[p]
                p += 1
            elif p == p_end or b_indices[q] < a_indices[p]:
                out_indices[o] = b_indices[q]
                out_data[o] = b_data[q]
                if full:
                    out_acc[o] = 0.0
                q += 1
            else:
                out_indices[o] = a_indices[p]
                out_data[o] = a_data[p] + b_data[q]
                if full:
                    out_acc[o] = a_acc[p]
                p += 1
                q += 1
            o += 1


@njit(**NJIT_NO_NRT)
def class_max_abs(keys, vals, n_features, out_max):
    """out_max[c] = max(out_max[c], largest |weight| stored for class c)."""
    for i in range(keys.shape[0]):
        key = keys[i]
        if key != EMPTY:
            c = key // n_features
            a = abs(vals[i])
            if a > out_max[c]:
                out_max[c] = a


_NO_COLUMNS = np.zeros(0, dtype=np.int32)
_NO_ENTRIES = np.zeros(0, dtype=np.float32)


def drop_small(keys, vals, acc, n_features, limits, shift):
    """Drop, in place, the entries whose |weight| is below their class's ``limits`` entry (float32); returns the
    number kept (:func:`take_out`)."""
    return take_out(keys, vals, acc, n_features, limits, _NO_COLUMNS, 0, _NO_ENTRIES, _NO_ENTRIES, shift)


@njit(**NJIT_NO_NRT)
def take_out(keys, vals, acc, n_features, limits, colmap, n_classes, block, block_acc, shift):
    """Take entries out of the table in place; returns the number left. An entry on a feature j with
    ``colmap[j] >= 0`` (``colmap`` not empty) goes to ``block[colmap[j] * n_classes + c]`` (its full-state
    sum to ``block_acc``); one whose |weight| is below its class's ``limits`` entry (``limits`` not empty)
    is dropped.

    One pass in slot order from an empty slot: each stored entry is taken out and, if kept, put back
    at the first empty slot from its home. Linear probing never leaves an empty slot between a key's
    home and its slot, so that slot was reached earlier in the pass (or is the entry's own): every kept
    key ends where inserting it into the smaller table would put it, without a second table.
    The table must have an empty slot (its load is below 1).
    """
    mask = keys.shape[0] - 1
    full = acc.shape[0] > 0
    to_block = colmap.shape[0] > 0
    limited = limits.shape[0] > 0
    start = 0
    while keys[start] != EMPTY:
        start += 1
    n = 0
    for step in range(1, keys.shape[0] + 1):
        i = (start + step) & mask
        key = keys[i]
        if key == EMPTY:
            continue
        v = vals[i]
        a = acc[i] if full else np.float32(0.0)
        keys[i] = EMPTY
        vals[i] = 0.0
        if full:
            acc[i] = 0.0
        if to_block:
            k = colmap[key % n_features]
            if k >= 0:
                b = np.int64(k) * n_classes + key // n_features
                block[b] = v
                if full:
                    block_acc[b] = a
                continue
        if limited and not abs(v) >= limits[key // n_features]:
            continue
        j = home_slot(key, shift)
        while keys[j] != EMPTY:
            j = (j + 1) & mask
        keys[j] = key
        vals[j] = v
        if full:
            acc[j] = a
        n += 1
    return n


@njit(**NJIT_NO_NRT)
def stored_positives(keys, indptr, indices, codes, example_row, sample_weight, n_features):
    """Number of (example, feature) pairs of the examples of non-zero weight whose positive key (the
    example's class, the feature) is stored: updates that insert nothing. ``example_row`` maps examples to
    rows of (indptr, indices), or is empty (one example per row)."""
    shift = shift_of(keys.shape[0])
    n = 0
    for e in range(codes.shape[0]):
        if sample_weight[e] == 0:
            continue
        r = example_row[e] if example_row.shape[0] > 0 else e
        base = np.int64(codes[e]) * n_features
        for p in range(indptr[r], indptr[r + 1]):
            if find_slot(keys, shift, base + indices[p]) >= 0:
                n += 1
    return n


@njit(**NJIT_NO_NRT)
def stored_positives_csr(c_indptr, c_indices, indptr, indices, codes, example_row, sample_weight):
    """:func:`stored_positives` with the weights as a CSR matrix with sorted indices (binary search in the
    class's row) instead of a table."""
    n = 0
    for e in range(codes.shape[0]):
        if sample_weight[e] == 0:
            continue
        r = example_row[e] if example_row.shape[0] > 0 else e
        lo0, hi0 = c_indptr[codes[e]], c_indptr[codes[e] + 1]
        for p in range(indptr[r], indptr[r + 1]):
            j = indices[p]
            lo, hi = lo0, hi0
            while lo < hi:
                mid = (lo + hi) >> 1
                if c_indices[mid] < j:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < hi0 and c_indices[lo] == j:
                n += 1
    return n


def move_to_block(keys, vals, acc, n_features, colmap, n_classes, block, block_acc, shift):
    """Move the entries on features with ``colmap[j] >= 0`` (int32) into ``block[colmap[j] * n_classes + c]``
    (float32; their full-state sums into ``block_acc``), taking them out of the table in place
    (:func:`take_out`); returns the number left in the table."""
    return take_out(keys, vals, acc, n_features, _NO_ENTRIES, colmap, n_classes, block, block_acc, shift)


@njit(**NJIT_NO_NRT)
def block_class_counts(block, block_acc, n_classes, out_counts):
    """out_counts[c] += the block's entries of class c (:func:`block_entries`' rule)."""
    full = block_acc.shape[0] > 0
    for b in range(block.shape[0]):
        if _block_stored(block, block_acc, b, full):
            out_counts[b % n_classes] += 1


@njit(**NJIT_NO_NRT)
def block_entries(block, block_acc):
    """The block's stored entries (:func:`_block_stored`), which the table does not hold."""
    full = block_acc.shape[0] > 0
    n = 0
    for b in range(block.shape[0]):
        if _block_stored(block, block_acc, b, full):
            n += 1
    return n


@njit(**NJIT_NO_NRT)
def block_to_table(block, block_acc, columns, n_classes, n_features, keys, vals, acc, shift):
    """Put the block's entries (:func:`block_entries`) back in the table; returns the keys inserted."""
    full = block_acc.shape[0] > 0
    n = 0
    for b in range(block.shape[0]):
        if _block_stored(block, block_acc, b, full):
            k = b // n_classes
            c = b - k * n_classes
            i, new = claim_slot(keys, shift, np.int64(c) * n_features + columns[k])
            vals[i] = block[b]
            if full:
                acc[i] = block_acc[b]
            n += new
    return n
