"""Multi-label targets: the label indicator matrix and its (row, label) examples.

Training on a label indicator matrix Y is *pick-all-labels*: every relevant
(row, label) pair is one positive example, trained with the row's features
and negatives drawn from the tree, never one of the row's own labels (the
kernel redraws them, ``skxc/_kernels/sgd.py``). The examples refer to their
rows by index (``example_row``), so X is not copied for training.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array

#: ``predict`` returns a scipy.sparse CSR indicator matrix above this many labels, a dense array otherwise.
SPARSE_PREDICT_LABELS = 1000

#: ``predict`` keeps the labels whose estimated marginal ``label_cardinality_ * proba`` is at least this.
PREDICT_THRESHOLD = 0.5


def is_multilabel(y) -> bool:
    """Whether ``y`` is given as a 2-D label matrix (sparse, or dense with other than 1 column).

    A dense column vector (n, 1) stays a single-label target, as in scikit-learn. A scipy.sparse y that is
    not 2-D (a 1-D sparse array, e.g. ``csr_array(labels)``) is a TypeError: scikit-learn's classifiers take
    no sparse class labels either ("Sparse data was passed for y, but dense data is required").
    """
    if sp.issparse(y):
        check_sparse_2d(y)
        return True
    if getattr(y, "ndim", None) is None:
        try:
            y = np.asarray(y)
        except ValueError:  # ragged lists, e.g. lists of label names
            raise ValueError(
                "y is a ragged sequence (e.g. lists of labels per row): pass a label indicator "
                "matrix instead, e.g. sklearn.preprocessing.MultiLabelBinarizer().fit_transform(y)."
            ) from None
    ndim, shape = y.ndim, y.shape
    return ndim == 2 and shape[1] != 1  # (n, 0): a label matrix without labels, whose error the caller words


def dense_labels(Y) -> np.ndarray:
    """A dense 2-D ``Y`` as a NumPy array: ``np.asarray``, but a pandas DataFrame through ``check_array``, which
    turns nullable and extension dtypes (``Int64``, ``boolean``: object arrays under ``np.asarray``) into
    NumPy ones, as scikit-learn's classifiers read them (a missing value becomes NaN)."""
    if getattr(Y, "ndim", None) == 2 and hasattr(Y, "dtypes") and hasattr(Y, "columns"):
        Y = check_array(
            Y, accept_sparse=True, dtype=None, ensure_all_finite=False, ensure_min_samples=0, ensure_min_features=0
        )
        return Y.toarray() if sp.issparse(Y) else Y  # a sparse DataFrame: dense, as np.asarray makes it
    return np.asarray(Y)


def check_sparse_2d(y, name: str = "y") -> None:
    """TypeError for a scipy.sparse ``y`` that is not 2-D (a 1-D sparse array): class labels are a dense 1-D
    array, and a sparse y is a label indicator matrix."""
    if sp.issparse(y) and y.ndim != 2:
        raise TypeError(
            f"{name} is a {y.ndim}-D scipy.sparse array of shape {y.shape}: pass class labels as a dense 1-D "
            f"array (e.g. {name}.toarray()); a sparse {name} must be a 2-D label indicator matrix of shape "
            f"(n_samples, n_labels) (multi-label)."
        )


def check_indicator(Y, n_samples: int, name: str = "y") -> sp.csr_matrix:
    """``Y`` as a canonical CSR indicator: int8 ones, int64 indptr, sorted int32 indices.

    TypeError for non-numeric values; ValueError for values other than 0 and 1
    (a 2-D target of other values, e.g. multi-output classes, is not supported;
    a sparse matrix storing a (row, label) entry twice sums it to 2, which the
    error names rather than reading as one label) or a number of rows
    different from ``n_samples``.
    """
    repeated = False
    if sp.issparse(Y):
        stored_01 = only_zeros_and_ones(getattr(Y, "data", None))  # before scipy sums repeated entries
        if Y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a numeric label indicator matrix; got dtype {Y.dtype}.")
        bad = stored_not_01(Y)
        if bad.size:
            _not_indicator(name, bad)
        Y = sp.csr_matrix(Y, copy=True)
        Y.sum_duplicates()
        Y.eliminate_zeros()
        values = Y.data
        repeated = stored_01 and not only_zeros_and_ones(values)
    else:
        Y = dense_labels(Y)
        if Y.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} is 2-D with dtype {Y.dtype}: a 2-D y must be a numeric label indicator matrix "
                f"(0/1, e.g. from MultiLabelBinarizer); multi-output targets are not supported."
            )
        values = Y[Y != 0]
        Y = sp.csr_matrix((Y != 0).astype(np.int8))
    bad = values[values != 1]
    if bad.size and repeated:
        raise ValueError(
            f"{name} is a sparse matrix that stores some (row, label) entries more than once, and scipy sums "
            f"repeated entries, here to {np.unique(bad)[:5].tolist()!r}, so it is not a 0/1 label indicator "
            f"matrix. Store each label of a row once, e.g. {name} = ({name} != 0).astype(np.int8)."
        )
    if bad.size:
        _not_indicator(name, bad)
    if Y.shape[0] != n_samples:
        raise ValueError(f"{name} has {Y.shape[0]} rows but X has {n_samples}.")
    Y.sort_indices()
    return sp.csr_matrix(
        (np.ones(Y.indices.shape[0], dtype=np.int8), Y.indices.astype(np.int32), Y.indptr.astype(np.int64)),
        shape=Y.shape,
    )


def _not_indicator(name: str, bad: np.ndarray) -> None:
    raise ValueError(
        f"{name} is 2-D but not a label indicator matrix: it has values other than 0 and 1, e.g. "
        f"{np.unique(bad)[:5].tolist()!r}. Pass 0/1 indicators (e.g. from MultiLabelBinarizer); "
        f"multi-output targets (one class per column) are not supported."
    )


def stored_not_01(Y) -> np.ndarray:
    """The stored entries of sparse ``Y`` other than 0 and 1, before scipy sums repeated ones (two stored 1 and
    -1 would sum to 0, 0.5 and 0.5 to 1: neither is an indicator). Empty where the format's stored entries are
    no numeric ndarray (LIL's object rows, DOK), which cannot repeat an entry anyway."""
    values = getattr(Y, "data", None)
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
        return np.zeros(0)
    return values[(values != 0) & (values != 1)]


def only_zeros_and_ones(values) -> bool:
    """Whether ``values`` (a sparse matrix's stored entries) is a numeric ndarray of 0s and 1s only."""
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "biuf":
        return False  # e.g. the object rows of a LIL matrix, which cannot repeat an entry anyway
    return bool(np.all((values == 0) | (values == 1)))


def label_pairs(Y: sp.csr_matrix, sample_weight: np.ndarray):
    """The (row, label) examples of a CSR indicator: ``(example_row int64, codes int32, weights float32)``.

    Row-major, labels in increasing order within a row; each example carries
    its row's weight. Rows with no label give no example (they have no
    positive term under pick-all-labels).
    """
    counts = np.diff(Y.indptr)
    example_row = np.repeat(np.arange(Y.shape[0], dtype=np.int64), counts)
    return example_row, Y.indices.astype(np.int32), np.asarray(sample_weight, dtype=np.float32)[example_row]


def label_cardinality(Y: sp.csr_matrix, sample_weight: np.ndarray) -> float:
    """Weighted mean number of labels over the rows with at least one label (1.0 if there are none)."""
    counts = np.diff(Y.indptr).astype(np.float64)
    w = np.asarray(sample_weight, dtype=np.float64) * (counts > 0)
    total = w.sum()
    return float(w @ counts / total) if total > 0 else 1.0


def pairs_of_rows(example_row: np.ndarray, n_rows: int, held_rows: np.ndarray):
    """Example indices ``(fit, held)`` of the examples whose rows are not / are in ``held_rows`` (sorted)."""
    held = np.zeros(n_rows, dtype=bool)
    held[held_rows] = True
    is_held = held[example_row]
    return np.flatnonzero(~is_held), np.flatnonzero(is_held)


def labelled_row_weight(example_row: np.ndarray, weights: np.ndarray, n_rows: int) -> np.ndarray:
    """float64 (n_rows,): each row's weight as its examples carry it (``weights`` per example, ``example_row``
    their rows), 0 for rows without labels: such rows give no example, so the splits that hold out rows
    (the calibration split, early stopping's) treat them as rows of weight 0, never held out."""
    row_weight = np.zeros(n_rows)
    row_weight[example_row] = weights
    return row_weight


def hits_at_1(Y: sp.csr_matrix, top: np.ndarray) -> np.ndarray:
    """float64 (n,): 1 where the label ``top[i]`` is one of row i's labels, else 0."""
    return np.asarray(Y[np.arange(Y.shape[0]), top], dtype=np.float64).ravel()


def shared_by_row(weights: np.ndarray, example_row: np.ndarray, label_counts: np.ndarray, cardinality: float):
    """float32 example weights of ``label_weighting="rows"``: each (row, label) example's weight ``weights``
    (its row's, as :func:`label_pairs` gives it) times ``cardinality / |Y_i|``, with ``label_counts`` the rows'
    numbers of labels and ``cardinality`` their weighted mean (:func:`label_cardinality`). A row's labels then
    share ``cardinality`` times its weight, whatever their number, and the examples weigh as much in all as
    with pick-all-labels (the regularisers and the step size see the same total)."""
    scale = cardinality / label_counts[example_row].astype(np.float64)
    shared = np.asarray(weights, dtype=np.float64) * scale
    largest = float(np.max(shared, initial=0.0))
    if largest > float(np.finfo(np.float32).max):
        raise ValueError(
            f"sample_weight is too large for label_weighting='rows' (the default 'auto' may choose it): a row's "
            f"labels share {cardinality:.3g} times its weight, which reaches {largest:.3g}, beyond float32's "
            f"{float(np.finfo(np.float32).max):.3g}. Scale sample_weight down (only its ratios matter) or pass "
            f"label_weighting='pairs'."
        )
    return shared.astype(np.float32)


def label_examples(
    Y: sp.csr_matrix,
    sample_weight: np.ndarray,
    require_labels: bool = False,
    by_row: bool = False,
    cardinality: float | None = None,
):
    """``(codes, weights, example_row)`` of the (row, label) examples of Y (:func:`label_pairs`);
    ``require_labels``: a ValueError when Y has no label at all, or only labels of rows of sample_weight 0;
    ``by_row``: the weights of ``label_weighting="rows"`` (:func:`shared_by_row`), else each row's own, with
    ``cardinality`` the model's ``label_cardinality_`` (None: Y's own, :func:`label_cardinality`, for the calls
    that set it; a later ``partial_fit`` batch passes the model's, so that a batch's pairs weigh
    ``label_cardinality_ / |Y_i|`` times their row's weight whatever the batch's mean number of labels)."""
    example_row, codes, weights = label_pairs(Y, sample_weight)
    if by_row:
        if cardinality is None:
            cardinality = label_cardinality(Y, sample_weight)
        weights = shared_by_row(weights, example_row, np.diff(Y.indptr), cardinality)
    if require_labels:
        check_labels_of_positive_weight(Y, sample_weight)
    return codes, weights, example_row


def check_labels_of_positive_weight(Y: sp.csr_matrix, sample_weight: np.ndarray) -> None:
    """ValueError when the label indicator ``Y`` has no label at all, or only labels of rows of sample_weight 0."""
    counts = np.diff(Y.indptr)
    if not np.any(counts):
        raise ValueError("y has no labels: every row of the label indicator matrix is empty.")
    if not np.any(counts[np.asarray(sample_weight) > 0]):
        raise ValueError(
            "y has no labels of positive weight: every row with a label has sample_weight 0, so there is "
            "nothing to train on."
        )


def label_columns(Y, classes) -> np.ndarray:
    """``classes_`` of a label indicator ``Y``: ``np.arange(n_labels)``; ``classes`` must be None or equal it."""
    labels = np.arange(Y.shape[1])
    if classes is not None and not np.array_equal(np.asarray(classes), labels):
        given = np.asarray(classes)
        if given.ndim == 1:  # how many, and the first ten (marked when there are more)
            head = given[:10].tolist()
            shown = repr(head)[:-1] + (", ...]" if given.shape[0] > 10 else "]")
            got = f"{given.shape[0]} classes: {shown}" + (" (the first 10 shown)" if given.shape[0] > 10 else "")
        else:
            got = f"an array of shape {given.shape}"
        raise ValueError(
            f"With a label indicator matrix y, classes must be None or np.arange(n_labels) with "
            f"n_labels={Y.shape[1]} (the columns of y); got {got}."
        )
    return labels


def label_sets(proba_blocks, n_rows: int, n_labels: int, cardinality: float):
    """``predict`` of a multi-label model from ``(start, stop, proba)`` blocks of ``predict_proba`` rows: the
    labels whose ``cardinality * proba`` is at least ``PREDICT_THRESHOLD``, and each row's most probable
    label; a 0/1 int64 indicator, CSR above ``SPARSE_PREDICT_LABELS`` labels, else dense.

    Dense: each block keeps only the flat positions of its labels (int64, at most
    :func:`max_labels_per_row` per row); the n x L array is allocated after the last block, when the
    blocks' scores are freed, and filled from them (no CSR copy, no stacking). Its memory guard counts both
    (:func:`dense_label_sets_bytes`)."""
    if dense_label_sets(n_labels):
        positions = []
        for start, _, proba in proba_blocks:
            keep = cardinality * proba >= PREDICT_THRESHOLD
            keep[np.arange(proba.shape[0]), np.argmax(proba, axis=1)] = True
            positions.append(np.flatnonzero(keep) + start * n_labels)
            del proba, keep  # not held while the next block is computed, nor with the output
        out = np.zeros((n_rows, n_labels), dtype=np.int64)
        flat = out.reshape(-1)  # a view: out is C-contiguous
        for block in positions:
            flat[block] = 1
        return out
    parts = []
    for _, _, proba in proba_blocks:
        keep = cardinality * proba >= PREDICT_THRESHOLD
        keep[np.arange(proba.shape[0]), np.argmax(proba, axis=1)] = True
        parts.append(sp.csr_matrix(keep.astype(np.int64)))
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((n_rows, n_labels), dtype=np.int64)


def dense_label_sets(n_labels: int) -> bool:
    """Whether a multi-label ``predict`` of ``n_labels`` labels returns a dense n x L int64 array."""
    return n_labels <= SPARSE_PREDICT_LABELS


def max_labels_per_row(n_labels: int, cardinality: float) -> int:
    """Most labels :func:`label_sets` can give a row: the probabilities of a row sum to 1, so at most
    ``cardinality / PREDICT_THRESHOLD`` of them reach the threshold, and the most probable label is added."""
    return min(n_labels, int(cardinality / PREDICT_THRESHOLD) + 1)


def dense_label_sets_bytes(n_rows: int, n_labels: int, cardinality: float) -> tuple[int, int]:
    """``(output, positions)``: the bytes of a dense ``predict``'s n x L int64 array and, at most, of the label
    positions :func:`label_sets` keeps until it allocates it (int64 each)."""
    return n_rows * n_labels * 8, n_rows * max_labels_per_row(n_labels, cardinality) * 8
