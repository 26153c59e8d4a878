"""Where training starts: held-out calibration rows, the tree's temperature, class-centroid weights.

Two things are chosen here on rows held out from the fit, before any SGD step:

* the temperature tau of the noise tree (:class:`AuxiliaryTree` with
  ``temperature="auto"``), by the tree's mean held-out log-likelihood: every
  split's logit is multiplied by tau. A tree fitted on classes with one or
  two rows each is over-confident on new rows (its held-out log-likelihood
  can be below uniform's); tau < 1 smooths it toward the balanced tree,
  tau = 1 leaves a tree that generalises as it is (tau is never above 1).
  Any tau gives a proper distribution that can be sampled in O(k log C), and
  the same tempered tree is used for sampling and for the bias correction,
  so Theorem 1 holds for it as for the untempered one.
* the class-centroid start (``init="centroid"``), by the training loss
  itself (Eq. 6 with negatives from the tree) on the held-out rows: class c's
  weights start at s (mu_c - mean mu), mu_c the unit-length mean of the
  class's L2-normalised rows (not centred: ``CENTRE_DENSE``), and every bias at a
  common b. Training then starts at p(c|x) proportional to
  p_n(c|x) exp(s x.mu_c), a nearest-centroid rule on top of the tree; a
  class with one training row starts at its row instead of at zero. s = 0,
  the zero start, is one of the candidates.

Choosing s by the held-out log-likelihood of the start instead picks far
sharper starts, which Eq. 6's regulariser (xi + log p_n)^2 penalises: SGD at
the usual step size then falls apart in its first epoch (a dense 50-class set:
8 % top-1 after 5 epochs against 87 % from zero weights). Without the mean
centroid subtracted, inputs that are not centred give every class a large
common score and every negative starts saturated.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from ._config import FLOAT, PADDING_BIAS
from ._kernels.rng import seed_states
from ._kernels.start import pair_dots
from ._kernels.tree import log_noise_of_codes, sample_classes
from ._stream_sums import StreamSums

#: Whether the class centroids of dense X (the centroid start, the centroid blend) are those of its rows minus
#: their column mean. Not since stop 36: the rows as they are, as for sparse X, so that the same rows dense
#: or stored as CSR give the same centroids. Centred, dense embeddings of a long tail lost 0.7-2.2 points of
#: top-1 against the same rows as CSR (all-MiniLM-L6-v2 embeddings of gcide-reverse, the generated sets; the
#: blend's "(x - centre).(mu_c - mean mu)" takes off the common direction that centring was to remove, even
#: for rows with a large common offset: docs/benchmarks.rst, "Dense rows are not centred").
CENTRE_DENSE = False

#: Fraction of the training rows held out for the calibration, and its bounds.
CALIBRATION_FRACTION = 0.1
#: Fewest held-out rows a calibration uses; smaller data sets are not calibrated.
MIN_CALIBRATION_ROWS = 100
#: Most held-out rows (the temperature costs O(k log C) per row).
MAX_CALIBRATION_ROWS = 10_000
#: Most held-out rows for the centroid start (it scores each row's positive and negatives).
MAX_SCALE_ROWS = 1_000
#: Dense X: float64 entries of the pairs' row and centroid copies :func:`pair_scores` makes at once (each).
PAIR_BLOCK_ENTRIES = 1 << 20
#: The centroid start's held-out loss (:func:`held_out_start`) draws this many negatives per row (at least the
#: model's ``n_negatives``; None: ``n_negatives``), each weighted ``n_negatives / START_DRAWS``: the loss of
#: ``n_negatives`` negatives in expectation, estimated with less noise. With 2 draws the scale chosen on the same
#: rows and centroids could differ by a half octave from one draw to another (gcide-reverse@min_rows=12, the start
#: again with uniform noise: 64 against 45 on seeds 0-2, 0.25 points of top-1 at 20 epochs). With 16: every shared
#: set within 0.07 points at the default budgets but bibtex (-0.24, two threads, one run; seeds 0-2 on one thread
#: +0.01), min_rows=12 +0.27 / +0.27 / +0.32 at 5 / 20 / 30 epochs and now level with uniform noise there
#: (docs/benchmarks.rst, "Stop 39: the centroid start's loss from 16 draws").
START_DRAWS = 16

#: Temperatures tried for the tree: 2**(-5) .. 1 in quarter octaves. Never above 1: sharpening
#: the fitted tree raised its held-out likelihood on bibtex (tau = 1.19) but cost the classifier
#: 0.6-0.9 points of top-1 there (4 seeds), and the temperature is there to undo over-confidence.
TEMPERATURES = 2.0 ** np.arange(-5.0, 0.01, 0.25)
#: Scales tried for the centroid start (in units of 1 / RMS row norm): 2**(-2) .. 2**7 in octaves,
#: then the half octaves either side of the best.
SCALES = 2.0 ** np.arange(-2.0, 7.01, 1.0)


def calibration_split(n_samples: int, rng: np.random.Generator, sample_weight=None):
    """Row indices ``(fit_rows, held_out_rows)``, both sorted, or ``(None, None)`` when too few rows.

    About ``CALIBRATION_FRACTION`` of the rows (at most ``MAX_CALIBRATION_ROWS``)
    are held out; data sets with fewer than ``MIN_CALIBRATION_ROWS /
    CALIBRATION_FRACTION`` rows are not split. With unequal ``sample_weight``
    (per row), the fraction is of the rows of positive weight, drawn as
    :func:`held_out_rows` draws them.
    """
    n_rows = n_samples if equal_weights(sample_weight) else int(np.count_nonzero(np.asarray(sample_weight) > 0))
    n_held = min(MAX_CALIBRATION_ROWS, int(CALIBRATION_FRACTION * n_rows))
    if n_held < MIN_CALIBRATION_ROWS:
        return None, None
    return held_out_rows(n_samples, n_held, rng, sample_weight)


def equal_weights(sample_weight) -> bool:
    """Whether ``sample_weight`` (or None) gives every row the same positive weight."""
    if sample_weight is None:
        return True
    w = np.asarray(sample_weight)
    return w.size == 0 or bool(w[0] > 0 and np.all(w == w[0]))


def held_out_rows(n_samples: int, n_held: int, rng: np.random.Generator, sample_weight=None, by_weight=True):
    """``(kept_rows, held_rows)``, both sorted: ``n_held`` of ``n_samples`` rows held out at random.

    The calibration split's held-out rows score the choices made on them (the tree's temperature, the
    centroid start, the blend) by plain means over rows. So that those means estimate the weighted ones,
    with ``by_weight`` rows of unequal ``sample_weight`` are held out with probabilities proportional to
    their weights, without replacement (a row of weight 0 never, as a row absent from X; a row of weight 2
    about as often as a row given twice). Without ``by_weight`` (early stopping, whose score weighs the
    held-out rows) the rows of positive weight are held out uniformly, so that the rows kept for training
    keep the weights' proportions (held out by weight, heavy rows left training far more often than their
    share). With equal weights (or None), uniformly either way. ``n_held`` must not exceed the rows of
    positive weight.
    """
    if equal_weights(sample_weight):
        perm = rng.permutation(n_samples)
        return np.sort(perm[n_held:]), np.sort(perm[:n_held])
    w = np.asarray(sample_weight, dtype=np.float64)
    positive = np.flatnonzero(w > 0)
    # rows of weight 0 aside, equal weights draw as by weight (the same draws as before stop 41)
    p = w[positive] / w[positive].sum() if by_weight or equal_weights(w[positive]) else None
    held = np.sort(rng.choice(positive, size=n_held, replace=False, p=p))
    kept = np.ones(n_samples, dtype=bool)
    kept[held] = False
    return np.flatnonzero(kept), held


def tempered(node_weight: np.ndarray, node_bias: np.ndarray, temperature: float):
    """Copies of the tree arrays with every real split's logit multiplied by ``temperature``.

    Nodes whose one side holds only padding leaves (bias +-PADDING_BIAS, weight 0)
    keep their bias, so padding leaves keep probability 0.
    """
    padding = np.abs(node_bias) >= PADDING_BIAS
    weight = (node_weight * temperature).astype(FLOAT)
    bias = np.where(padding, node_bias, node_bias * temperature).astype(FLOAT)
    return weight, bias


def choose_temperature(log_likelihood_at) -> tuple[float, float]:
    """``(tau, mean log-likelihood)`` maximising ``log_likelihood_at(tau)`` over ``TEMPERATURES``.

    Ties go to the temperature closest to 1 (the fitted tree as it is).
    """
    scores = np.array([log_likelihood_at(float(t)) for t in TEMPERATURES])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    i = best[np.argmin(np.abs(np.log(TEMPERATURES[best])))]
    return float(TEMPERATURES[i]), float(scores[i])


def unit_centroids(X, codes: np.ndarray, n_classes: int, sample_weight: np.ndarray, rows=None, example_row=None):
    """Per class, the unit-length weighted mean of the L2-normalised rows of X, and the centre used.

    Only the rows ``rows`` (an index array; default all) count; X is not copied.
    Multi-label: ``codes``, ``sample_weight`` and ``rows`` refer to (row, label)
    examples and ``example_row`` maps each example to its row of X (None: one
    example per row), so a row counts once for each of its labels.
    X is not centred (``CENTRE_DENSE``): dense X gives the centroids of the
    same rows stored as CSR. Dense X is read in blocks of rows, so the float64
    temporaries stay O(block x n_features). Returns ``(mu, centre)``: ``mu``
    CSR float64 (n_classes, n_features) for sparse X, dense float64
    otherwise, zero rows for classes without rows; ``centre`` float64
    (n_features,) with ``CENTRE_DENSE`` and dense X, else None. Scores are
    ``(x - centre) @ mu.T``.
    """
    if example_row is None:
        w = _row_weights(sample_weight, rows, X.shape[0])
        centre = _centre(X, w) if CENTRE_DENSE and not sp.issparse(X) else None
        return _unit_rows(_class_sums(X, codes, n_classes, w, centre, rows)), centre
    w = np.asarray(sample_weight, dtype=np.float64)
    centre = None
    if CENTRE_DENSE and not sp.issparse(X):  # each row's weight in the centre: the sum of its examples' weights
        idx = np.arange(codes.shape[0]) if rows is None else np.asarray(rows)
        centre = _centre(X, np.bincount(example_row[idx], weights=w[idx], minlength=X.shape[0]))
    return _unit_rows(_class_sums(X, codes, n_classes, w, centre, rows, example_row)), centre


def start_centre(X, sample_weight, example_row=None):
    """The centre of the centroid start: with ``CENTRE_DENSE``, dense X's weighted column mean (float64);
    else, and for sparse X, None. Multi-label: ``sample_weight`` per (row, label) example and ``example_row``
    their rows of X (a row counts once per label, as in the start)."""
    if sp.issparse(X) or not CENTRE_DENSE:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if example_row is not None:
        w = np.bincount(example_row, weights=w, minlength=X.shape[0])
    return _centre(X, w)


def row_sums(X, codes, n_classes: int, sample_weight, centre=None, example_row=None, rows=None):
    """Per class, the weighted sum of its L2-normalised rows (``x - centre`` for dense X): CSR float64 for
    sparse X, else dense float64 (n_classes x n_features). Multi-label: ``codes`` and ``sample_weight`` per
    (row, label) example, ``example_row`` their rows. Only the examples ``rows`` count (default all). A
    class's centroid is its sum scaled to unit length."""
    return _class_sums(X, codes, n_classes, np.asarray(sample_weight, dtype=np.float64), centre, rows, example_row)


def batch_sums(X, codes, n_classes: int, sample_weight, centre=None, example_row=None, rows=None):
    """:func:`row_sums` of a stream's batch: CSR for sparse X; for dense X ``(present, sums)``, the rows of
    only the classes present (:func:`present_class_sums`), so that a batch of few rows costs O(its classes x
    n_features), not O(n_classes x n_features)."""
    if sp.issparse(X):
        return row_sums(X, codes, n_classes, sample_weight, centre, example_row, rows)
    w = np.asarray(sample_weight, dtype=np.float64)
    idx, x_rows = _examples_read(X, codes, rows, example_row)
    return present_class_sums(X, codes, w, centre, idx, x_rows)


def start_change(sums, batch, scale: float):
    """How the centroid start ``scale x unit(sums_c)`` of each class c moves when the rows summed in ``batch``
    (:func:`row_sums`, or :func:`batch_sums`'s ``(present, sums)`` for dense rows) join ``sums``: ``(classes, change, sums + batch)``, ``classes`` int64 the classes with
    rows in ``batch`` and ``change`` the move of their rows (CSR for sparse sums, else dense; float64). A class
    without rows before gets its start, ``scale x unit(batch_c)``. Sparse sums are a :class:`StreamSums`, updated
    in place in the cost of the rows ``batch`` touches (a CSR ``sums``, as kept before, is rebuilt whole)."""
    if isinstance(sums, StreamSums):
        batch = sp.csr_matrix(batch)
        classes = np.flatnonzero(np.diff(batch.indptr) > 0)
        old, part = sums.rows(classes), batch[classes]
        added = old + part
        change = sp.csr_matrix(_unit_rows(added) - _unit_rows(old)) * scale
        sums.add(batch, classes, old, part, added)
        return classes, change, sums
    if sp.issparse(sums):
        batch = sp.csr_matrix(batch)
        classes = np.flatnonzero(np.diff(batch.indptr) > 0)
        old = sums[classes]
        change = sp.csr_matrix(_unit_rows(old + batch[classes]) - _unit_rows(old)) * scale
        return classes, change, sp.csr_matrix(sums + batch)
    if isinstance(batch, tuple):  # (present, their sums): batch_sums of dense rows
        present, batch = batch
        nonzero = np.any(batch != 0, axis=1)
        classes, batch = present[nonzero], batch[nonzero]
    else:
        classes = np.flatnonzero(np.any(batch != 0, axis=1))
        batch = batch[classes]
    old = sums[classes]
    new = old + batch
    change = (_unit_rows(new) - _unit_rows(old)) * scale
    sums[classes] = new  # in place: dense sums are as large as the weights
    return classes, change, sums


def class_starts(sums, classes: np.ndarray, scale: float):
    """The centroid start ``scale x unit(sums_c)`` of each class c in ``classes`` (rows in that order; CSR for
    sparse ``sums``, else dense; float64), before the mean over all classes is taken off."""
    if isinstance(sums, StreamSums):
        return sp.csr_matrix(_unit_rows(sums.rows(classes)) * scale)
    start = _unit_rows(sums[classes]) * scale
    return sp.csr_matrix(start) if sp.issparse(sums) else start


def _row_weights(sample_weight, rows, n: int) -> np.ndarray:
    """float64 row weights, zero outside ``rows`` (all rows when None)."""
    w = np.asarray(sample_weight, dtype=np.float64)
    return w if rows is None else np.bincount(rows, weights=w[rows], minlength=n)


def _blocks(n: int, n_features: int, entries: int = 2**22):
    """Slices of ``n`` rows of ``n_features`` entries, at most ``entries`` entries (and at least one row) each."""
    block = max(1, entries // max(n_features, 1))
    return [slice(start, min(start + block, n)) for start in range(0, n, block)]


def _centre(X, w) -> np.ndarray:
    """Weighted column mean of dense X, read in blocks of rows."""
    total = w.sum()
    if total <= 0:
        return np.zeros(X.shape[1])
    return sum(w[b] @ np.asarray(X[b], dtype=np.float64) for b in _blocks(X.shape[0], X.shape[1])) / total


def squared_row_norms(X: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
    """Squared L2 norms (float64) of the rows ``rows`` (default all; repeats allowed) of CSR ``X``, each
    the sum of its stored entries' float64 squares in stored order from 0.

    All rows, or rows that cover at least half of X: every row's norm by one product of the squares
    with a vector of ones (no per-entry index arrays), then indexed; fewer rows: only their entries
    are read.
    """
    if rows is None or rows.shape[0] * 2 >= X.shape[0]:
        squares = sp.csr_matrix((np.square(X.data, dtype=np.float64), X.indices, X.indptr), shape=X.shape)
        norms = squares @ np.ones(X.shape[1])
        return norms if rows is None else norms[rows]
    lengths = np.diff(X.indptr)[rows]
    starts = X.indptr[rows]
    entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    return np.bincount(
        np.repeat(np.arange(rows.shape[0]), lengths), weights=np.square(X.data[entries], dtype=np.float64),
        minlength=rows.shape[0],
    )  # fmt: skip


def _examples_read(X, codes, rows, example_row):
    """``(idx, x_rows)``: the examples read (``rows``, default all) and their rows of X (multi-label: through
    ``example_row``; else the same)."""
    if example_row is None:
        idx = np.arange(X.shape[0]) if rows is None else np.asarray(rows)
        return idx, idx
    idx = np.arange(codes.shape[0]) if rows is None else np.asarray(rows)
    return idx, np.asarray(example_row)[idx]


def _class_sums(X, codes, n_classes: int, w, centre, rows=None, example_row=None):
    """Per class, the w-weighted sum of the L2-normalised rows (x - centre) / ||x - centre||.

    Only the rows ``rows`` (default all) are read: O(their nnz) for sparse X.
    Multi-label: ``codes``, ``w`` and ``rows`` refer to (row, label) examples,
    each read from its row ``example_row[e]`` of X (a row once per label).
    """
    idx, x_rows = _examples_read(X, codes, rows, example_row)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        sq = squared_row_norms(X, x_rows)
        inv_norm = np.divide(w[idx], np.sqrt(sq), out=np.zeros(idx.size), where=sq > 0)
        # an (n_classes x n) sparse indicator with entries in the read rows' columns only, times X
        M = sp.csr_matrix((inv_norm, (codes[idx], x_rows)), shape=(n_classes, X.shape[0]))
        return sp.csr_matrix(M @ X, dtype=np.float64)
    present, sums = present_class_sums(X, codes, w, centre, idx, x_rows)
    if present.shape[0] == n_classes:  # every class has rows (present is 0 .. n_classes - 1): no second array
        return sums
    out = np.zeros((n_classes, X.shape[1]))
    out[present] = sums
    return out


def present_class_sums(X, codes, w, centre, idx, x_rows):
    """Dense X: ``(present, sums)``, the classes with examples among ``idx`` (int64, ascending) and the
    w-weighted sums of their L2-normalised rows ``x - centre`` (float64, one row per present class): what
    :func:`_class_sums` computes, without a row for every class (a stream's batch names few of many classes).
    ``idx`` the examples read, ``x_rows`` their rows of X."""
    present = np.unique(codes[idx]).astype(np.int64)
    sums = np.zeros((present.shape[0], X.shape[1]))
    blocks = _blocks(idx.size, X.shape[1])
    # one float64 block for all blocks (each block's rows copied into it, exactly): not a fresh array per block
    buffer = np.empty((blocks[0].stop - blocks[0].start, X.shape[1])) if blocks else None
    for b in blocks:
        rows_b = idx[b]
        Xb = buffer[: rows_b.shape[0]]
        Xb[...] = X[x_rows[b]]
        if centre is not None:
            Xb -= centre
        sq = np.einsum("ij,ij->i", Xb, Xb)
        scale = np.divide(w[rows_b], np.sqrt(sq), out=np.zeros(sq.shape[0]), where=sq > 0)
        # the block's unit rows summed per class by a sparse (classes x rows) product over the block's classes
        # only (a temporary no larger than the block): each class's rows in row order, as np.add.at added
        # them, within a block; with several blocks, each block's sum is added (other rounding in the last bits)
        block_present, local = np.unique(codes[rows_b], return_inverse=True)
        M = sp.csr_matrix((scale, (local, np.arange(scale.shape[0]))), shape=(block_present.shape[0], scale.shape[0]))
        sums[np.searchsorted(present, block_present)] += M @ Xb
    return present, sums


def _unit_rows(sums, in_place: bool = False):
    """``sums`` with every non-zero row scaled to unit length; dense ``sums`` scaled in place if ``in_place``."""
    if sp.issparse(sums):
        norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
        scale = np.divide(1.0, norms, out=np.zeros(sums.shape[0]), where=norms > 0)
        return sp.csr_matrix(sp.diags(scale) @ sums)
    norms = dense_row_norms(sums)
    factor = np.divide(1.0, norms, out=np.zeros(sums.shape[0]), where=norms > 0)[:, None]
    if in_place:
        sums *= factor
        return sums
    return sums * factor


#: Entries per block of rows in the dense helpers below (2 MiB of float64): temporaries of this size come
#: back from the allocator's free memory, where one of all the rows is a fresh memory map each time.
ROW_BLOCK_ENTRIES = 1 << 18


def dense_row_norms(a: np.ndarray) -> np.ndarray:
    """``np.linalg.norm(a, axis=1)`` for a 2-D float array, the same bits, with squares of a block of rows at a
    time rather than of all of ``a`` (each row's squares are summed along the row, as NumPy sums them for
    the whole array). Other layouts than C order: NumPy's norm itself."""
    a = np.asarray(a)
    if a.ndim != 2 or not a.flags.c_contiguous or a.dtype.kind != "f" or a.size <= ROW_BLOCK_ENTRIES:
        return np.linalg.norm(a, axis=1)
    out = np.empty(a.shape[0], dtype=a.dtype)
    for b in _blocks(*a.shape, ROW_BLOCK_ENTRIES):
        block = a[b]
        np.sqrt(np.add.reduce(block * block, axis=1), out=out[b])
    return out


def scale_choice_bytes(n_held: int, n_features: int) -> int:
    """Bytes that choosing the centroid start's scale holds for a moment with dense X of ``n_features`` features
    and ``n_held`` held-out rows: the centred rows (at most ``MAX_SCALE_ROWS``) and the pairs' row and centroid
    copies of :func:`pair_scores` (a positive and ``START_DRAWS`` negatives per row, in blocks)."""
    rows = min(int(n_held), MAX_SCALE_ROWS)
    per_row = (1 + (START_DRAWS or 0)) * n_features
    pairs = min(rows * per_row, max(PAIR_BLOCK_ENTRIES, per_row))
    return 8 * (rows * n_features + 2 * pairs)


def dense_start_bytes(n_classes: int, n_features: int, n_held: int) -> int:
    """Bytes the centroid start of dense X holds for a moment: two float64 classes x features centroid arrays and
    what choosing its scale on ``n_held`` held-out rows copies (:func:`scale_choice_bytes`)."""
    return 2 * n_classes * n_features * 8 + scale_choice_bytes(n_held, n_features)


def pair_scores(X, mu, centre, classes: np.ndarray) -> np.ndarray:
    """``(x_i - centre).(mu_c - mean mu)`` for the classes ``classes[i, j]`` of each row i: float64 (n, m).

    O(nnz) per pair for sparse X, never all classes' scores (C may be 10^6). Dense X: the rows' and their
    classes' copies for the pairs are made for blocks of rows of at most ``PAIR_BLOCK_ENTRIES`` entries.
    """
    n, m = classes.shape
    mean = np.asarray(mu.mean(axis=0)).ravel()
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        return _sparse_pair_dots(X, mu, classes) - (X @ mean)[:, None]
    Xc = np.asarray(X, dtype=np.float64) - (0.0 if centre is None else centre)
    mu = np.asarray(mu)
    out = np.empty((n, m))
    step = max(1, PAIR_BLOCK_ENTRIES // max(m * Xc.shape[1], 1))  # rows whose pairs' copies stay small
    for lo in range(0, n, step):
        block = classes[lo : lo + step]
        rows = np.repeat(np.arange(lo, lo + block.shape[0]), m)
        out[lo : lo + step] = np.einsum("ik,ik->i", Xc[rows], mu[block.ravel()]).reshape(block.shape)
    return out - (Xc @ mean)[:, None]


def _sparse_pair_dots(X: sp.csr_matrix, mu, classes: np.ndarray) -> np.ndarray:
    """``x_i . mu_c`` for the classes ``c = classes[i, j]`` of each row i of CSR ``X``: float64 (n, m).

    The rows of mu that ``classes`` name are read once each (not once per pair: a frequent class drawn
    as a negative for many rows has a centroid with many features): the kernel
    (``skxc._kernels.start.pair_dots``) scatters each into a dense array once and then sums, for each of
    its pairs, x_i's stored entries times that array at their features, so a pair costs O(nnz(x_i)). The
    products are summed from 0 in x_i's feature order.
    """
    n, m = classes.shape
    present, local = np.unique(classes.reshape(-1), return_inverse=True)
    part = sp.csr_matrix(mu)[present]  # a copy of those rows
    part.sum_duplicates()  # canonical: duplicate entries summed (their sum is the centroid's value)
    if not X.has_sorted_indices:
        X = X.copy()
        X.sort_indices()
    out = np.zeros(n * m)
    if part.nnz == 0 or n * m == 0:
        return out.reshape(n, m)
    local = local.astype(np.int64).reshape(-1)
    pair_dots(
        X.indptr.astype(np.int64), X.indices.astype(np.int64), X.data.astype(np.float64),
        part.indptr.astype(np.int64), part.indices.astype(np.int64), part.data.astype(np.float64),
        local, np.argsort(local, kind="stable").astype(np.int64), np.int64(m), np.zeros(X.shape[1]), out,
    )  # fmt: skip
    return out.reshape(n, m)


def rms_row_norm(X) -> float:
    """Root mean square of the rows' L2 norms (1 if all rows are zero)."""
    data = sp.csr_matrix(X).data if sp.issparse(X) else np.asarray(X)
    rms = np.sqrt(sum_of_squares(data) / max(X.shape[0], 1))
    return rms if rms > 0 else 1.0


#: :func:`sum_of_squares` squares at most this many entries at a time.
SQUARES_BLOCK = 1 << 20


def sum_of_squares(a: np.ndarray) -> float:
    """``float(np.square(a, dtype=np.float64).sum())``, the same bits, without a float64 copy of all of ``a``
    (233 MB for 76,000 dense rows of 384 float32 features, made 8 times per fit with the pilots). NumPy
    sums a contiguous array pairwise: the sum of n > 128 entries is the sum of its first n2 and its other
    n - n2, n2 being n / 2 rounded down to a multiple of 8. A contiguous ``a`` (in either order) is cut
    the same way down to ``SQUARES_BLOCK`` entries, whose squares are summed by NumPy: the same additions
    in the same order. Other ``a`` as the expression above (``tests/test_s68_reused_buffers.py`` checks the
    bits against it)."""
    block = max(int(SQUARES_BLOCK), PAIRWISE_LEAF)
    if a.size <= block or not (a.flags.c_contiguous or a.flags.f_contiguous):
        return float(np.square(a, dtype=np.float64).sum())
    flat = a.ravel(order="K")  # a view, in memory order (NumPy's order of summation)
    return _pairwise_squares(flat, block)


#: The most entries NumPy's pairwise sum adds without cutting them in halves (its unrolled loop): pieces are
#: never cut below this, where NumPy would not cut them.
PAIRWISE_LEAF = 128


def _pairwise_squares(flat: np.ndarray, block: int) -> float:
    n = flat.shape[0]
    if n <= block:
        return float(np.square(flat, dtype=np.float64).sum())
    half = n // 2
    half -= half % 8
    return _pairwise_squares(flat[:half], block) + _pairwise_squares(flat[half:], block)


#: The largest score scale per unit of the rows' RMS L2 norm r that a fit writes into float32 weights: the
#: centroid start's scales (up to ``SCALES[-1]`` sqrt(2) / r) and the centroid blend's beta / r (beta up to the
#: largest of ``skxc._blend.BETAS`` with "auto");
#: ``check_row_scale`` keeps it this far below float32's largest value (sums of such weights stay finite).
ROW_SCALE_HEADROOM = 10.0


def check_row_scale(X, init: str, centroid_blend, auto_beta: float) -> None:
    """ValueError (naming the rows' scale and the setting) when X's rows are so small that the centroid start
    (``init="centroid"``, scales up to ``SCALES[-1]`` sqrt(2) / r) or the centroid blend (beta / r, up to
    ``auto_beta`` for "auto") would overflow float32 weights, r being the rows' RMS L2 norm: such a fit gave
    non-finite weights or diverged. Rows of all zeros pass (nothing is scaled)."""
    start = float(SCALES[-1]) * 2.0**0.5  # the largest scale choose_centroid_start tries
    largest = start if init == "centroid" else 0.0
    if centroid_blend == "auto":
        largest = max(largest, float(auto_beta))
    elif float(centroid_blend) > 0:
        largest = max(largest, float(centroid_blend))
    if largest == 0.0:
        return
    r = rms_row_norm(X)  # the unit of the start's and the blend's scales (1 for rows of all zeros)
    limit = float(np.finfo(np.float32).max) / ROW_SCALE_HEADROOM
    if largest / r > limit:
        setting = "init='centroid'" if largest == start else f"centroid_blend={centroid_blend!r}"
        raise ValueError(
            f"X's rows are too small for float32 weights: their RMS L2 norm is {r:.3g}, and {setting} scales "
            f"the class centroids by up to {largest:g} / {r:.3g} = {largest / r:.3g}, beyond {limit:.3g}. "
            f"Scale the features (e.g. sklearn.preprocessing.normalize, or multiply X by a constant)."
        )


def _softplus(a):
    return np.logaddexp(0.0, a)


#: The least curvature :func:`_losses_and_biases`' Newton steps on the bias divide by (``alpha`` = 0 only:
#: with ``alpha`` > 0 the curvature is at least 2 alpha).
BIAS_HESSIAN_FLOOR = 1e-12
#: Scales whose (rows x pair) arrays :func:`_losses_and_biases` holds at once at most, in float64 entries.
SCALE_BLOCK_ENTRIES = 1 << 20


def _losses_and_biases(scales, pos_s, neg_s, pos_l, neg_l, alpha: float, neg_weight: float = 1.0):
    """``(loss, b)`` per scale s of :func:`choose_centroid_start`: float64 arrays of ``scales``' length.

    b minimises the mean of Eq. 6 over the rows for the scores ``s pos_s + b`` (the positives, (n,))
    and ``s neg_s + b`` (the negatives, (n, m)), with log p_n ``pos_l`` and ``neg_l``, by at most 20
    Newton steps, each scale stopping after its first step below 1e-6 (s = 0 keeps b = 0); loss is the
    mean of Eq. 6 at that b. Each negative's terms count ``neg_weight`` times (:func:`held_out_start`). The
    scales of a block of them step together, each with its own arithmetic.
    """
    losses, biases = np.empty(scales.shape[0]), np.zeros(scales.shape[0])
    per_scale = max(neg_s.size + pos_s.size, 1)
    step_rows = max(1, SCALE_BLOCK_ENTRIES // per_scale)
    for a in range(0, scales.shape[0], step_rows):
        s = scales[a : a + step_rows, None]
        b = np.zeros_like(s)
        active = np.flatnonzero(s[:, 0] > 0)  # Newton on the convex 1-D loss in b, per scale
        for _ in range(20):
            if active.size == 0:
                break
            sa, ba = s[active], b[active]
            xp, xn = sa * pos_s + ba, sa[:, :, None] * neg_s + ba[:, :, None]
            sp_, sn = expit(-xp), expit(xn)
            grad = np.mean(
                -sp_ + 2 * alpha * (xp + pos_l) + neg_weight * np.sum(sn + 2 * alpha * (xn + neg_l), axis=2), axis=1
            )
            hess = np.mean(sp_ * (1 - sp_) + 2 * alpha + neg_weight * np.sum(sn * (1 - sn) + 2 * alpha, axis=2), axis=1)
            # alpha = 0 with saturated sigmoids (a large scale) leaves no curvature: a floor keeps the step
            # finite (that scale's loss then comes out large, not NaN); alpha > 0 bounds hess far above it
            step = grad / np.maximum(hess, BIAS_HESSIAN_FLOOR)
            b[active, 0] = ba[:, 0] - step
            active = active[~(np.abs(step) < 1e-6)]
        xp, xn = s * pos_s + b, s[:, :, None] * neg_s + b[:, :, None]
        losses[a : a + s.shape[0]] = np.mean(
            _softplus(-xp)
            + alpha * (xp + pos_l) ** 2
            + neg_weight * np.sum(_softplus(xn) + alpha * (xn + neg_l) ** 2, axis=2),
            axis=1,
        )
        biases[a : a + s.shape[0]] = b[:, 0]
    return losses, biases


def choose_centroid_start(
    X_held, codes_held, centroids, log_noise, negatives, unit: float, alpha: float, neg_weight: float = 1.0
):
    """Scale s and bias b of the centroid start with the smallest held-out training loss (Eq. 6).

    The start scores class c of row x as ``xi_c = s (x - centre).(mu_c - mean mu) + b``
    (``centroids`` is ``(mu, centre)`` of :func:`unit_centroids`). For each
    ``s`` in ``{0} U SCALES / unit`` (and the half octaves either side of the
    best), ``b`` minimises the mean of Eq. 6 over the held-out rows with the
    negatives ``negatives(X_block)`` drawn from the noise model (codes
    (n, m) and their log p_n), by Newton steps; s = 0 is the zero start.
    ``log_noise(X_block, codes)`` is log p_n(codes_i|x_i), float64 (n,). Only
    the positive's and the negatives' scores are computed (O(m nnz(x)) per
    row, whatever C). At most ``MAX_SCALE_ROWS`` held-out rows are used; rows
    whose class has no centroid are skipped. Each negative's terms count ``neg_weight`` times. Returns
    ``(s, b)``; ``(0.0, 0.0)``
    means that no start beats zero weights on held-out rows.
    """
    mu, centre = centroids
    has_centroid = mu.getnnz(axis=1) > 0 if sp.issparse(mu) else np.any(mu != 0, axis=1)
    known = np.flatnonzero(np.asarray(has_centroid)[codes_held])[:MAX_SCALE_ROWS]
    if known.size == 0:
        return 0.0, 0.0
    X_held, own = X_held[known], codes_held[known]
    neg, neg_log_noise = negatives(X_held)
    scores = pair_scores(X_held, mu, centre, np.column_stack([own, neg]))
    pos_s, neg_s = scores[:, 0], scores[:, 1:]
    pos_l = log_noise(X_held, own)

    def losses_and_biases(scales):
        scales = np.asarray(scales, dtype=np.float64)
        return _losses_and_biases(scales, pos_s, neg_s, pos_l, neg_log_noise, alpha, neg_weight)

    scales = [0.0, *(SCALES / unit)]
    losses, biases = losses_and_biases(scales)
    best = int(np.argmin(losses))
    if best > 0:
        more = [scales[best] * 2.0**-0.5, scales[best] * 2.0**0.5]
        more_losses, more_biases = losses_and_biases(more)
        scales += more
        losses, biases = np.concatenate([losses, more_losses]), np.concatenate([biases, more_biases])
        best = int(np.argmin(losses))
    return float(scales[best]), float(biases[best])


def write_centred(coef: np.ndarray, intercept: np.ndarray, centroids, scale: float, bias: float = 0.0) -> None:
    """Weights and biases of the scores ``scale (x - centre).(mu_c - mean_c' mu_c')``, in place.

    ``centroids`` is ``(mu, centre)`` of :func:`unit_centroids`; ``coef`` must be
    zero. Subtracting the mean centroid shifts every row's scores by the same
    amount for all classes, so the softmax, the held-out likelihood and the
    predictions are unchanged, while each row's scores average 0 over the
    classes. Without it, inputs that are not centred (e.g. bags of words) give
    every class a large common score, which the sigmoid terms of Eq. 6 read
    as every negative being very likely. The centre moves into the biases:
    ``intercept_c = bias - scale centre.(mu_c - mean mu)``.
    """
    intercept[:] = bias
    add_centred(coef, intercept, centroids, scale)


def add_centred(coef: np.ndarray, intercept: np.ndarray, centroids, scale: float) -> None:
    """Add the scores ``scale (x - centre).(mu_c - mean_c' mu_c')`` to dense ``coef`` and ``intercept``,
    in place (:func:`write_centred` on zero weights; the centroid blend on trained ones)."""
    mu, centre = centroids
    mean = np.asarray(mu.mean(axis=0)).ravel()
    coef -= (scale * mean).astype(FLOAT)[None, :]
    if sp.issparse(mu):
        m = sp.coo_matrix(mu)  # from CSR: no repeated (row, column) pairs, so += adds each entry once
        add_entries(coef, m.row, m.col, (scale * m.data).astype(FLOAT))
    else:  # a block of rows at a time: the same float32 values, without float64 and float32 copies of all of mu
        for b in _blocks(*mu.shape, ROW_BLOCK_ENTRIES):
            coef[b] += (scale * mu[b]).astype(FLOAT)
    if centre is not None:
        intercept -= (scale * (mu @ centre - mean @ centre)).astype(FLOAT)


def add_entries(coef: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """``coef[rows, cols] += values`` for distinct (row, column) pairs, through one flat index of coef's
    memory order when it is contiguous (far faster than the two-array index on a feature-major coef)."""
    if coef.flags.c_contiguous:
        coef.reshape(-1)[rows.astype(np.int64) * coef.shape[1] + cols] += values
    elif coef.flags.f_contiguous:
        coef.T.reshape(-1)[cols.astype(np.int64) * coef.shape[0] + rows] += values
    else:
        coef[rows, cols] += values


def sparse_centred(centroids, scale: float, bias: float, intercept: np.ndarray):
    """The start of :func:`write_centred` for sparse weights: ``(coef, shared)``; ``intercept`` set in place.

    ``coef`` is ``scale mu`` as float32 CSR (the stored weights); ``shared`` is
    float32 ``-scale mean mu`` (n_features,), the term every class's score
    gets (skxc/_weights.py), kept once instead of in every class's row.
    Sparse X only (no centre).
    """
    mu, centre = centroids
    if centre is not None:  # pragma: no cover - sparse weights are for sparse X
        raise ValueError("sparse weights start from the centroids of sparse X only")
    mean = np.asarray(mu.mean(axis=0)).ravel()
    coef = sp.csr_matrix(mu * scale, dtype=FLOAT)
    coef.sort_indices()
    intercept[:] = bias
    return coef, (-scale * mean).astype(FLOAT)


def held_out_start(X_held, codes_held, sums, centre, tree, n_negatives: int, alpha: float, rng, unit: float):
    """``(s, b)`` of :func:`choose_centroid_start` for the held-out rows ``X_held`` (classes ``codes_held``)
    against the centroids of the class sums ``sums`` (:func:`row_sums`, rows other than the held-out ones),
    with ``n_negatives`` negatives per row drawn from the fitted noise ``tree`` (one RNG state seeded from
    ``rng``); ``unit`` is the RMS row norm that the scales are in units of."""
    arrays = tree.arrays
    state = seed_states(rng, 1)[0]

    projected = [None, None]  # the last block and its projection: the held-out rows are projected once

    def transform(X_block):
        if projected[0] is not X_block:
            projected[:] = X_block, tree.project(X_block)
        return projected[1]

    def log_noise(X_block, codes_block):
        out = np.empty(X_block.shape[0], dtype=np.float64)
        log_noise_of_codes(transform(X_block), codes_block.astype(np.int32), *arrays[:2], arrays.class_leaf, out)
        return out

    draws = n_negatives if START_DRAWS is None else max(n_negatives, START_DRAWS)

    def negatives(X_block):
        Z = transform(X_block)
        drawn = np.empty((Z.shape[0], draws), dtype=np.int64)
        log_p = np.empty(drawn.shape, dtype=np.float64)
        sample_classes(Z, draws, arrays.node_weight, arrays.node_bias, arrays.leaf_class, state, drawn, log_p)
        return drawn, log_p

    centroids = (_unit_rows(sums), centre)
    weight = n_negatives / draws  # the loss of n_negatives negatives per row, estimated from `draws` of them
    return choose_centroid_start(X_held, codes_held, centroids, log_noise, negatives, unit, alpha, weight)


def centroid_start(
    coef, intercept, X, codes, sample_weight, fit_rows, held_rows, tree, n_negatives, alpha, rng, centre=None
):  # fmt: skip
    """``init="centroid"``: write the start into ``coef`` and ``intercept`` (both zero); return its scale s.

    Sparse weights (``coef`` a scipy.sparse matrix, which is not written):
    returns ``(s, start)`` with ``start`` the ``(coef, shared)`` of
    :func:`sparse_centred`, or None when s = 0.

    ``tree`` is the fitted noise :class:`~skxc.AuxiliaryTree`; the scale and
    bias are chosen by :func:`choose_centroid_start` on the rows ``held_rows``
    of X against centroids of the rows ``fit_rows``, with ``n_negatives``
    negatives per row drawn from the tree (seeded from ``rng``); the written
    centroids use all rows. s = 0 leaves the zero start. ``centre``: dense X's weighted column mean
    (:func:`start_centre`; computed here if None), unused for sparse X.
    """
    n_classes = coef.shape[0]
    # the class sums of the fit part and of the held-out part, each over its own rows: together, all rows
    w = np.asarray(sample_weight, dtype=np.float64)
    if centre is None:
        centre = start_centre(X, w)
    fit_sums = _class_sums(X, codes, n_classes, w, centre, fit_rows)
    scale, bias = held_out_start(
        X[held_rows], codes[held_rows], fit_sums, centre, tree, n_negatives, alpha, rng, rms_row_norm(X)
    )
    start = None
    if scale > 0:
        held_sums = _class_sums(X, codes, n_classes, w, centre, held_rows)
        if sp.issparse(fit_sums):
            centroids = (_unit_rows(fit_sums + held_sums), centre)
        else:  # in place: the fit part's sums are not used again (the same values as fit_sums + held_sums)
            np.add(fit_sums, held_sums, out=fit_sums)
            centroids = (_unit_rows(fit_sums, in_place=True), centre)
        if sp.issparse(coef):
            start = sparse_centred(centroids, scale, bias, intercept)
        else:
            write_centred(coef, intercept, centroids, scale, bias)
    return (scale, start) if sp.issparse(coef) else scale
