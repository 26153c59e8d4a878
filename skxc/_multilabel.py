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

#: ``predict`` returns a scipy.sparse CSR indicator matrix above this many labels, a dense array otherwise.
SPARSE_PREDICT_LABELS = 1000

#: ``predict`` keeps the labels whose estimated marginal ``label_cardinality_ * proba`` is at least this.
PREDICT_THRESHOLD = 0.5


def is_multilabel(y) -> bool:
    """Whether ``y`` is given as a 2-D label matrix (sparse, or dense with at least 2 columns).

    A dense column vector (n, 1) stays a single-label target, as in scikit-learn.
    """
    if sp.issparse(y):
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
    return ndim == 2 and shape[1] >= 2


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
        Y = sp.csr_matrix(Y, copy=True)
        if Y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a numeric label indicator matrix; got dtype {Y.dtype}.")
        Y.sum_duplicates()
        Y.eliminate_zeros()
        values = Y.data
        repeated = stored_01 and not only_zeros_and_ones(values)
    else:
        Y = np.asarray(Y)
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
        raise ValueError(
            f"{name} is 2-D but not a label indicator matrix: it has values other than 0 and 1, e.g. "
            f"{np.unique(bad)[:5].tolist()!r}. Pass 0/1 indicators (e.g. from MultiLabelBinarizer); "
            f"multi-output targets (one class per column) are not supported."
        )
    if Y.shape[0] != n_samples:
        raise ValueError(f"{name} has {Y.shape[0]} rows but X has {n_samples}.")
    Y.sort_indices()
    return sp.csr_matrix(
        (np.ones(Y.indices.shape[0], dtype=np.int8), Y.indices.astype(np.int32), Y.indptr.astype(np.int64)),
        shape=Y.shape,
    )


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


def hits_at_1(Y: sp.csr_matrix, top: np.ndarray) -> np.ndarray:
    """float64 (n,): 1 where the label ``top[i]`` is one of row i's labels, else 0."""
    return np.asarray(Y[np.arange(Y.shape[0]), top], dtype=np.float64).ravel()


def label_examples(Y: sp.csr_matrix, sample_weight: np.ndarray, require_labels: bool = False):
    """``(codes, weights, example_row)`` of the (row, label) examples of Y (:func:`label_pairs`);
    ``require_labels``: a ValueError when Y has no label at all, or only labels of rows of sample_weight 0."""
    example_row, codes, weights = label_pairs(Y, sample_weight)
    if require_labels and codes.shape[0] == 0:
        raise ValueError("y has no labels: every row of the label indicator matrix is empty.")
    if require_labels and not np.any(weights > 0):
        raise ValueError(
            "y has no labels of positive weight: every row with a label has sample_weight 0, so there is "
            "nothing to train on."
        )
    return codes, weights, example_row


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
    """``predict`` of a multi-label model from blocks of ``predict_proba`` rows: the labels whose
    ``cardinality * proba`` is at least ``PREDICT_THRESHOLD``, and each row's most probable label; a 0/1
    int64 indicator, CSR above ``SPARSE_PREDICT_LABELS`` labels, else dense."""
    parts = []
    for proba in proba_blocks:
        keep = cardinality * proba >= PREDICT_THRESHOLD
        keep[np.arange(proba.shape[0]), np.argmax(proba, axis=1)] = True
        parts.append(sp.csr_matrix(keep.astype(np.int64)))
    out = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((n_rows, n_labels), dtype=np.int64)
    return out if n_labels > SPARSE_PREDICT_LABELS else out.toarray()
