"""Ranking metrics of extreme multi-label classification: P@k, R@k, nDCG@k, PSP@k, PSnDCG@k.

Every metric takes ``y_true``, a label indicator matrix of shape
``(n_samples, n_labels)`` (dense or scipy.sparse, entries 0 or 1), and
``y_pred`` in one of two forms, told apart by type and dtype:

* **a score matrix** (a floating-point array of shape ``(n_samples, n_labels)``,
  or a scipy.sparse matrix of that shape, other than a boolean or 0/1 integer
  one, see below): each row is ranked by decreasing
  score and its first ``k`` labels are used. Ties are broken by the lower
  label index, so the result never depends on the sort algorithm. In a sparse
  score matrix only the stored entries are candidates (a row with fewer than
  ``k`` stored entries predicts fewer than ``k`` labels), as in napkinXC and
  pyxclib; explicitly stored zeros are candidates.
* **a top-k label matrix** (an integer array of shape ``(n_samples, m)`` with
  ``m >= k``): column indices of the predicted labels, best first, as
  :meth:`~skxc.AdversarialSoftmaxClassifier.predict_top_k` of a multi-label
  model returns them. A single-label model's ``predict_top_k`` returns class
  labels (``classes_``), which are column indices only where ``classes_`` is
  ``0 .. n_classes - 1``: map them first, ``np.searchsorted(clf.classes_,
  top)``, or pass ``predict_proba``'s scores with ``y_true =
  label_binarize(y, classes=clf.classes_)``. Only the first ``k`` columns are
  used; ``-1`` means "no prediction" and never
  counts as a hit. A label may appear at most once among a row's first ``k``.

A predicted label indicator matrix (what ``predict`` of a multi-label model
returns) carries no ranking and is rejected with a ValueError, not read as
labels or scores: a boolean ``y_pred``; an integer one of shape
``(n_samples, n_labels)`` whose entries are all 0 or 1 and in which some row
repeats a value (with three or more labels always, so it cannot be a list of
distinct labels); and a sparse boolean or integer one whose stored entries are
all 0 or 1. Pass scores (``predict_proba`` or ``decision_function``) or a
top-k label matrix (``predict_top_k``); cast a matrix to float to have its
values read as scores. With exactly two labels an integer matrix whose rows
are all ``[0, 1]`` or ``[1, 0]`` is a valid top-2 label matrix and is read as
one, with a UserWarning (``predict``'s indicator matrix looks the same where
each row has one label).

Two labels and scikit-learn's scorers: a scorer with
``response_method="predict_proba"`` sees a model whose ``classes_`` are
``[0, 1]`` as a binary classifier and passes only the second column of
``predict_proba``. The metrics raise a ValueError for such a 1-D ``y_pred``
when ``y_true`` has two labels instead of guessing the first column (a 1-D
array cannot be told apart from log-probabilities or a single label's
scores). Use ``response_method="decision_function"`` there: a multi-label
model's ``decision_function`` has one column per label, which the scorer
passes whole.

P@k, R@k and nDCG@k return the mean over the rows of ``y_true`` as a Python
float in ``[0, 1]``; rows without any true label are included and count as 0
(they can never be hit). The ``k`` of the metric is fixed: a row with fewer than
``k`` true labels cannot reach 1 in P@k (the Extreme Classification Repository's
convention), while nDCG@k normalises by the best ranking available for that
row. The propensity-scored metrics (``normalize=True``, the default) return a
ratio of sums over the rows, the sum of the propensity-weighted hits over that of
the best rankings, as napkinXC and pyxclib report them (in ``[0, 1]``); with
``normalize=False`` the unnormalised mean, not bounded by 1.

They are scikit-learn metric functions: ``make_scorer(precision_at_k, k=5,
response_method="predict_proba")`` turns one into a scorer for
:class:`~sklearn.model_selection.GridSearchCV`.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from ._multilabel import dense_labels, only_zeros_and_ones, stored_not_01

__all__ = ["ndcg_at_k", "precision_at_k", "propensity", "psndcg_at_k", "psp_at_k", "recall_at_k"]

# Elements of a dense score block handled at once by the top-k selection (32 MiB of float64).
_BLOCK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------- validation


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, Integral):
        raise TypeError(f"k must be an integer >= 1; got {k!r} of type {type(k).__name__}.")
    if k < 1:
        raise ValueError(f"k must be an integer >= 1; got {k!r}.")
    return int(k)


def _check_normalize(normalize) -> None:
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(
            f"normalize must be a bool (True or False); got {normalize!r} of type {type(normalize).__name__}."
        )


def _check_indicator(Y, name: str) -> sp.csr_matrix:
    """``Y`` as a CSR matrix with sorted indices, no duplicates and no stored zeros; entries checked to be 0/1."""
    repeated_hint = ""
    if sp.issparse(Y):
        stored_01 = only_zeros_and_ones(getattr(Y, "data", None))  # before scipy sums repeated entries
        bad = stored_not_01(Y) if Y.dtype.kind in "biuf" else ()
        if len(bad):  # repeated entries that sum to 0 or 1 (1 and -1, 0.5 and 0.5) are no indicator either
            raise ValueError(
                f"{name} must be a label indicator matrix with entries 0 or 1; found the value {bad[0].item()!r}."
            )
        Y = sp.csr_matrix(Y, copy=True)
        if Y.ndim != 2:  # pragma: no cover - scipy sparse is always 2-D today
            raise ValueError(f"{name} must be 2-D; got shape {Y.shape}.")
        Y.sum_duplicates()
        Y.eliminate_zeros()
        data = Y.data
        if stored_01:
            repeated_hint = (
                f" {name} stores some (row, label) entries more than once and scipy sums repeated entries; store "
                f"each label of a row once, e.g. ({name} != 0).astype(int)."
            )
    else:
        try:
            Y = dense_labels(Y)
        except Exception as exc:  # ragged nested lists and the like
            raise TypeError(f"{name} must be a 2-D label indicator matrix (array or scipy.sparse); {exc}") from exc
        if Y.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D label indicator matrix of shape (n_samples, n_labels); got an array of "
                f"shape {Y.shape}. Multi-class labels can be turned into one with "
                f"sklearn.preprocessing.label_binarize, label lists with MultiLabelBinarizer."
            )
        data = Y
    if not (data.dtype == bool or np.issubdtype(data.dtype, np.number)) or np.issubdtype(
        data.dtype, np.complexfloating
    ):
        raise TypeError(f"{name} must hold 0/1 (or boolean) values; got dtype {data.dtype}.")
    bad = (data != 0) & (data != 1)
    if np.any(bad):
        value = data[bad].ravel()[0].item()
        raise ValueError(
            f"{name} must be a label indicator matrix with entries 0 or 1; found the value {value!r}.{repeated_hint}"
        )
    if Y.shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {Y.shape}); the metrics are means over rows.")
    if not sp.issparse(Y):
        Y = sp.csr_matrix(Y.astype(np.int8, copy=False))
    Y.data = np.ones(Y.nnz, dtype=np.int8)
    return Y


def _top_k(y_pred, k: int, n_samples: int, n_labels: int) -> np.ndarray:
    """The first ``k`` predicted label columns per row, best first, as int64; -1 = none.

    Of shape (n_samples, min(k, n_labels)) for scores (a row ranks at most ``n_labels`` labels, so a
    larger ``k`` only adds columns of -1, and allocating them would make a huge ``k`` a huge array),
    (n_samples, k) for a top-k label matrix (its first ``k`` columns, as given).
    """
    if sp.issparse(y_pred):
        return _top_k_sparse(y_pred, k, n_samples, n_labels)
    try:
        y_pred = np.asarray(y_pred)
    except Exception as exc:
        raise TypeError(f"y_pred must be a 2-D array or scipy.sparse matrix; {exc}") from exc
    if y_pred.ndim == 1 and n_labels == 2 and np.issubdtype(y_pred.dtype, np.floating):
        raise ValueError(
            "y_pred is 1-D but y_true has 2 labels: scikit-learn's scorers (make_scorer with "
            "response_method='predict_proba') pass only one column of predict_proba because they see two labels "
            "(classes_ [0, 1]) as a binary problem, and one column cannot rank two labels. Use "
            "response_method='decision_function' (a multi-label model's decision_function has one column per "
            "label), or pass the full score matrix of shape (n_samples, 2)."
        )
    if y_pred.ndim != 2:
        raise ValueError(
            f"y_pred must be 2-D: a score matrix of shape (n_samples, n_labels) or a top-k label matrix of shape "
            f"(n_samples, k); got an array of shape {y_pred.shape}."
        )
    if y_pred.shape[0] != n_samples:
        raise ValueError(f"y_pred has {y_pred.shape[0]} rows but y_true has {n_samples}.")
    if y_pred.dtype == bool:
        _reject_indicator("is boolean")
    if np.issubdtype(y_pred.dtype, np.integer):
        if _looks_like_indicator(y_pred, n_labels):
            _reject_indicator(f"has an integer dtype, {n_labels} columns (one per label) and only values 0 and 1")
        if n_labels == 2 and y_pred.shape[1] == 2 and only_zeros_and_ones(y_pred):
            warnings.warn(
                "y_pred is an integer matrix whose rows are all [0, 1] or [1, 0]: with two labels this is read as "
                "a top-2 label matrix (label indices, best first), but predict's indicator matrix can look the "
                "same (each row one label). If it is an indicator matrix, pass scores instead (predict_proba, "
                "decision_function, or the matrix cast to float).",
                UserWarning,
                stacklevel=4,
            )
        return _check_top_k_labels(y_pred, k, n_labels)
    if np.issubdtype(y_pred.dtype, np.floating):
        if y_pred.shape[1] != n_labels:
            raise ValueError(
                f"y_pred has a floating-point dtype ({y_pred.dtype}), so it is read as a score matrix, but it has "
                f"{y_pred.shape[1]} columns while y_true has {n_labels} labels. A top-k label matrix must have an "
                f"integer dtype."
            )
        return _top_k_dense(y_pred, k)
    raise TypeError(f"y_pred must hold floating-point scores or integer label indices; got dtype {y_pred.dtype}.")


def _looks_like_indicator(y_pred: np.ndarray, n_labels: int) -> bool:
    """Whether an integer ``y_pred`` is a 0/1 matrix of ``n_labels`` columns that is no list of distinct labels.

    A top-k label matrix of ``n_labels`` columns (``predict_top_k(X, n_labels)``) lists each label once per
    row, so with 0/1 entries only rows ``[0, 1]``/``[1, 0]`` (two labels) or ``[0]`` (one label) are valid;
    with three or more labels every 0/1 row repeats a value.
    """
    if y_pred.shape[1] != n_labels or not only_zeros_and_ones(y_pred):
        return False
    if n_labels > 2:
        return True
    return n_labels == 2 and bool(np.any(y_pred[:, 0] == y_pred[:, 1]))


def _reject_indicator(what: str) -> None:
    raise ValueError(
        f"y_pred {what}: it looks like a predicted label indicator matrix (e.g. from predict), which has no "
        f"ranking. Pass scores (from predict_proba or decision_function) or a top-k label matrix of integer "
        f"column indices (from predict_top_k); cast it to float to use its values as scores."
    )


def _check_top_k_labels(y_pred: np.ndarray, k: int, n_labels: int) -> np.ndarray:
    if y_pred.shape[1] < k:
        raise ValueError(
            f"y_pred is an integer (top-k label) matrix with {y_pred.shape[1]} columns, fewer than k={k}. "
            f"Predict at least k labels per row, padding with -1 for 'no prediction'."
        )
    top = y_pred[:, :k]
    if top.size and top.dtype.kind == "u" and top.max() >= n_labels:  # before the cast: 2**64 - 1 is not -1
        raise ValueError(
            f"y_pred is an integer (top-k label) matrix, so its entries must be label columns in [0, {n_labels}) "
            f"or -1; found {top.max()}."
        )
    top = top.astype(np.int64)
    if top.size and (top.min() < -1 or top.max() >= n_labels):
        value = top.min() if top.min() < -1 else top.max()
        raise ValueError(
            f"y_pred is an integer (top-k label) matrix, so its entries must be label columns in [0, {n_labels}) "
            f"or -1; found {value}."
        )
    ranked = np.sort(top, axis=1)
    duplicate = (ranked[:, 1:] == ranked[:, :-1]) & (ranked[:, 1:] >= 0)
    if np.any(duplicate):
        row = int(np.flatnonzero(duplicate.any(axis=1))[0])
        raise ValueError(
            f"y_pred is an integer (top-k label) matrix, but row {row} repeats a label among its first k={k} "
            f"entries: {top[row].tolist()}."
        )
    return top


def _reject_nan(values: np.ndarray) -> None:
    if np.isnan(values).any():
        raise ValueError("y_pred (a score matrix) contains NaN; scores must be numbers (infinities are allowed).")


def _top_k_dense(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-min(k, n_labels) by decreasing score, ties to the lower column; one partition per block of rows."""
    n, n_labels = scores.shape
    kk = min(k, n_labels)
    out = np.full((n, kk), -1, dtype=np.int64)
    if kk == 0:
        return out
    block = max(1, _BLOCK_ELEMENTS // n_labels)
    for start in range(0, n, block):
        S = scores[start : start + block]
        _reject_nan(S)
        b = S.shape[0]
        threshold = np.partition(S, n_labels - kk, axis=1)[:, n_labels - kk, None]  # the kk-th largest per row
        keep = S >= threshold
        counts = keep.sum(axis=1)
        tied = np.flatnonzero(counts > kk)
        if tied.size:  # ties at the threshold: keep the lowest columns among them
            St, t = S[tied], threshold[tied]
            equal = St == t
            need = kk - (St > t).sum(axis=1, keepdims=True)
            keep[tied] = (St > t) | (equal & (np.cumsum(equal, axis=1) <= need))
        rows, cols = np.nonzero(keep)  # exactly kk per row, columns ascending
        cols = cols.reshape(b, kk)
        values = S[rows, cols.ravel()].reshape(b, kk)
        order = np.argsort(-values, axis=1, kind="stable")  # stable: equal scores stay in column order
        out[start : start + b, :kk] = np.take_along_axis(cols, order, axis=1)
    return out


def _top_k_sparse(scores, k: int, n_samples: int, n_labels: int) -> np.ndarray:
    """Top-min(k, n_labels) among the stored entries of a sparse score matrix; -1 where a row has fewer."""
    S = sp.csr_matrix(scores, copy=True)
    if S.shape != (n_samples, n_labels):
        raise ValueError(
            f"y_pred is sparse, so it is read as a score matrix, which must have the shape of y_true "
            f"{(n_samples, n_labels)}; got {S.shape}."
        )
    if S.dtype == bool:
        _reject_indicator("is a boolean sparse matrix")
    if not np.issubdtype(S.dtype, np.number) or np.issubdtype(S.dtype, np.complexfloating):
        raise TypeError(f"y_pred (a sparse score matrix) must hold real scores; got dtype {S.dtype}.")
    S.sum_duplicates()
    if np.issubdtype(S.dtype, np.integer) and only_zeros_and_ones(S.data):
        _reject_indicator("is an integer sparse matrix whose stored entries are all 0 or 1")
    data = S.data.astype(np.float64)
    _reject_nan(data)
    rows = np.repeat(np.arange(n_samples), np.diff(S.indptr))
    order = np.lexsort((S.indices, -data, rows))  # by row, then decreasing score, then column
    position = np.arange(S.nnz) - S.indptr[rows]  # rows are already grouped, so order keeps them in place
    kk = min(k, n_labels)
    keep = position < kk
    out = np.full((n_samples, kk), -1, dtype=np.int64)
    out[rows[keep], position[keep]] = S.indices[order][keep]
    return out


def _prepare(y_true, y_pred, k):
    k = _check_k(k)
    Y = _check_indicator(y_true, "y_true")
    top = _top_k(y_pred, k, *Y.shape)
    return k, Y, top


def _hits(Y: sp.csr_matrix, top: np.ndarray) -> np.ndarray:
    """Boolean (n_samples, k): whether ``top[i, j]`` is a true label of row i. Y must be canonical CSR."""
    n, n_labels = Y.shape
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(Y.indptr))
    keys = rows * n_labels + Y.indices  # sorted: rows in order, sorted indices within a row
    if keys.size == 0:
        return np.zeros(top.shape, dtype=bool)
    query = np.arange(n, dtype=np.int64)[:, None] * n_labels + top
    found = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return (keys[found] == query) & (top >= 0)


def _discount(k: int) -> np.ndarray:
    """1 / log2(r + 1) for the ranks r = 1..k; call it with a k no larger than the columns it weighs."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def _ideal_dcg(n_true: np.ndarray, k: int, n_labels: int) -> np.ndarray:
    """Ideal DCG@k of a row with ``n_true`` relevant labels (over min(k, n_true) ranks); 0 for empty rows.

    A row has at most ``n_labels`` relevant labels, so ranks beyond min(k, n_labels) never count.
    """
    k = min(k, n_labels)  # also keeps k within n_true's integer type
    cumulative = np.concatenate([[0.0], np.cumsum(_discount(k))])
    return cumulative[np.minimum(n_true, k)]


def _check_propensities(propensities, n_labels: int) -> np.ndarray:
    p = np.asarray(propensities, dtype=np.float64) if not sp.issparse(propensities) else None
    if p is None or p.shape != (n_labels,):
        shape = getattr(propensities, "shape", None)
        raise ValueError(
            f"propensities must be an array of shape (n_labels,) = ({n_labels},), e.g. from "
            f"skxc.metrics.propensity(Y_train); got shape {shape}."
        )
    if not np.all(np.isfinite(p) & (p > 0)):
        bad = float(p[~(np.isfinite(p) & (p > 0))][0])
        raise ValueError(f"propensities must be finite and > 0; found {bad!r}.")
    if np.any(p > 1.0):  # inverse propensities (pyxclib's compute_inv_propesity, napkinXC's inv_ps) are >= 1
        raise ValueError(
            f"propensities must be probabilities in (0, 1]; found {float(p[p > 1.0][0])!r}. Pass the propensities "
            "p_l themselves (skxc.metrics.propensity), not their inverses 1 / p_l."
        )
    return p


def _best_weighted(Y: sp.csr_matrix, weights: np.ndarray, k: int) -> np.ndarray:
    """(n_samples, min(k, n_labels)): each row's true-label weights in decreasing order (the best ranking),
    zero-padded; a row has at most n_labels of them."""
    n = Y.shape[0]
    k = min(k, Y.shape[1])
    rows = np.repeat(np.arange(n), np.diff(Y.indptr))
    w = weights[Y.indices]
    order = np.lexsort((-w, rows))
    position = np.arange(Y.nnz) - Y.indptr[rows]
    keep = position < k
    out = np.zeros((n, k))
    out[rows[keep], position[keep]] = w[order][keep]
    return out


# --------------------------------------------------------------------------- metrics

_Y_DOC = """y_true : {array-like, sparse matrix} of shape (n_samples, n_labels)
        Label indicator matrix: 1 (or True) where a label is relevant, 0
        elsewhere, as :class:`~sklearn.preprocessing.MultiLabelBinarizer`
        returns it.
    y_pred : {array-like, sparse matrix} of shape (n_samples, n_labels) or (n_samples, m)
        Either scores (floating-point dtype, or a sparse matrix; shape
        ``(n_samples, n_labels)``; ranked by decreasing score, ties to the
        lower label index; only stored entries of a sparse matrix are
        candidates), or a top-k label matrix (integer dtype, ``m >= k``
        columns of label indices, best first, ``-1`` for no prediction; a
        single-label model's ``predict_top_k`` gives class labels, which are
        indices only for classes ``0 .. n_classes - 1``). A
        predicted indicator matrix (boolean, or 0/1 integers with one column
        per label) is rejected: it has no ranking. See :mod:`skxc.metrics`."""


def precision_at_k(y_true, y_pred, *, k: int = 5) -> float:
    """Precision at k (P@k): the share of the top k predicted labels that are relevant.

    .. math:: \\mathrm{P@}k = \\frac{1}{n} \\sum_{i=1}^{n} \\frac{1}{k} \\sum_{r=1}^{k} y_{i, \\pi_i(r)}

    where :math:`\\pi_i(r)` is row i's label at rank r.

    Parameters
    ----------
    {Y_DOC}
    k : int, default=5
        Number of top-ranked labels (>= 1).

    Returns
    -------
    score : float
        Mean over rows, in [0, 1]. The denominator is always ``k``, also for
        rows with fewer than ``k`` relevant labels (which therefore cannot
        score 1) and for empty rows (which score 0), as in the Extreme
        Classification Repository, napkinXC and pyxclib.

    See Also
    --------
    recall_at_k, ndcg_at_k, psp_at_k

    Examples
    --------
    >>> import numpy as np
    >>> from skxc.metrics import precision_at_k
    >>> y_true = np.array([[1, 0, 1, 0], [0, 1, 0, 0]])
    >>> scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.2, 0.7, 0.0, 0.1]])
    >>> precision_at_k(y_true, scores, k=1), precision_at_k(y_true, scores, k=2)
    (1.0, 0.5)
    """
    k, Y, top = _prepare(y_true, y_pred, k)
    return float(_hits(Y, top).sum(axis=1).mean() / k)


def recall_at_k(y_true, y_pred, *, k: int = 5) -> float:
    """Recall at k (R@k): the share of a row's relevant labels found among its top k.

    .. math:: \\mathrm{R@}k = \\frac{1}{n} \\sum_{i: |y_i| > 0} \\frac{1}{|y_i|} \\sum_{r=1}^{k} y_{i, \\pi_i(r)}

    Parameters
    ----------
    {Y_DOC}
    k : int, default=5
        Number of top-ranked labels (>= 1).

    Returns
    -------
    score : float
        Mean over all rows, in [0, 1]; a row with more than ``k`` relevant
        labels cannot reach 1, an empty row counts 0 (napkinXC's default
        ``zero_division=0``) and stays in the mean.

    Examples
    --------
    >>> import numpy as np
    >>> from skxc.metrics import recall_at_k
    >>> y_true = np.array([[1, 0, 1, 0], [0, 1, 0, 0]])
    >>> top = np.array([[0, 1], [1, -1]])  # a top-2 label matrix
    >>> recall_at_k(y_true, top, k=2)
    0.75
    """
    k, Y, top = _prepare(y_true, y_pred, k)
    n_true = np.diff(Y.indptr)
    hits = _hits(Y, top).sum(axis=1)
    return float(np.mean(np.divide(hits, n_true, out=np.zeros(len(hits)), where=n_true > 0)))


def ndcg_at_k(y_true, y_pred, *, k: int = 5) -> float:
    """Normalised discounted cumulative gain at k (nDCG@k).

    .. math::

        \\mathrm{DCG@}k_i = \\sum_{r=1}^{k} \\frac{y_{i, \\pi_i(r)}}{\\log_2(r + 1)}, \\qquad
        \\mathrm{nDCG@}k = \\frac{1}{n} \\sum_{i: |y_i| > 0}
        \\frac{\\mathrm{DCG@}k_i}{\\sum_{r=1}^{\\min(k, |y_i|)} 1 / \\log_2(r + 1)}

    Parameters
    ----------
    {Y_DOC}
    k : int, default=5
        Number of top-ranked labels (>= 1).

    Returns
    -------
    score : float
        Mean over all rows, in [0, 1]. Each row is normalised by the ideal
        DCG over ``min(k, |y_i|)`` ranks, so a row with fewer than ``k``
        relevant labels scores 1 when they are all ranked first; an empty row
        counts 0 and stays in the mean (as in napkinXC and pyxclib).

    Examples
    --------
    >>> import numpy as np
    >>> from skxc.metrics import ndcg_at_k
    >>> y_true = np.array([[0, 1, 0]])
    >>> round(ndcg_at_k(y_true, np.array([[0, 1, 2]]), k=3), 4)  # hit at rank 2: 1 / log2(3)
    0.6309
    """
    k, Y, top = _prepare(y_true, y_pred, k)
    dcg = _hits(Y, top) @ _discount(top.shape[1])
    ideal = _ideal_dcg(np.diff(Y.indptr), k, Y.shape[1])
    return float(np.mean(np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0)))


def psp_at_k(y_true, y_pred, *, propensities, k: int = 5, normalize: bool = True) -> float:
    """Propensity-scored precision at k (PSP@k, Jain, Prabhu & Varma, KDD 2016).

    Each hit on label l counts :math:`1 / p_l`, the inverse of the label's
    propensity (:func:`propensity`), so that rare (tail) labels, which are
    often missing from the annotations, weigh more. With ``normalize=True``
    (the default) the result is divided by the best value any ranking could
    reach on the same rows (each row's relevant labels ordered by decreasing
    :math:`1 / p_l`):

    .. math::

        \\mathrm{PSP@}k = \\frac{\\sum_{i} \\sum_{r=1}^{k} y_{i, \\pi_i(r)} / p_{\\pi_i(r)}}
                               {\\sum_{i} \\sum_{r=1}^{\\min(k, |y_i|)} 1 / p_{\\sigma_i(r)}}

    with :math:`\\sigma_i` row i's relevant labels by decreasing :math:`1/p_l`.
    This is the convention of the tables of the Extreme Classification
    Repository, napkinXC (``psprecision_at_k(..., normalize=True)``) and
    pyxclib (``xc_metrics.psprecision``): the ratio of the sums over the
    rows, *not* the mean of per-row ratios (the 1/k factors cancel).

    Parameters
    ----------
    {Y_DOC}
    propensities : array-like of shape (n_labels,)
        Propensity :math:`p_l` in (0, 1] of each label, usually
        ``propensity(Y_train)`` computed on the training labels (not their
        inverses, which other libraries pass: a ValueError).
    k : int, default=5
        Number of top-ranked labels (>= 1).
    normalize : bool, default=True
        Divide by the best achievable value (above). With ``False``, return
        the raw mean :math:`\\frac{1}{n} \\sum_i \\frac{1}{k} \\sum_{r \\le k} y_{i, \\pi_i(r)} / p_{\\pi_i(r)}`
        of Jain et al., which is not bounded by 1.

    Returns
    -------
    score : float
        In [0, 1] when ``normalize=True``; 0.0 when no row has a relevant
        label. Empty rows add 0 to both sums.

    See Also
    --------
    propensity, psndcg_at_k, precision_at_k

    Examples
    --------
    >>> import numpy as np
    >>> from skxc.metrics import psp_at_k
    >>> y_true = np.array([[1, 1, 0]])
    >>> p = np.array([0.5, 0.25, 1.0])  # inverse propensities 2, 4, 1
    >>> psp_at_k(y_true, np.array([[0, 2]]), propensities=p, k=2)  # (2 + 0) / (4 + 2)
    0.3333333333333333
    """
    _check_normalize(normalize)
    k, Y, top = _prepare(y_true, y_pred, k)
    q = 1.0 / _check_propensities(propensities, Y.shape[1])
    gain = (_hits(Y, top) * q[np.maximum(top, 0)]).sum(axis=1)
    if not normalize:
        return float(gain.mean() / k)
    best = _best_weighted(Y, q, k).sum(axis=1)
    total = best.sum()
    return float(gain.sum() / total) if total > 0 else 0.0


def psndcg_at_k(y_true, y_pred, *, propensities, k: int = 5, normalize: bool = True) -> float:
    """Propensity-scored nDCG at k (PSnDCG@k, Jain, Prabhu & Varma, KDD 2016).

    Row i's propensity-scored DCG, :math:`\\sum_{r \\le k} y_{i, \\pi_i(r)} / (p_{\\pi_i(r)} \\log_2(r + 1))`,
    divided by the count-based ideal DCG :math:`Z_i = \\sum_{r=1}^{\\min(k, |y_i|)} 1 / \\log_2(r + 1)`
    (as in :func:`ndcg_at_k`). With ``normalize=True`` (the default) the sum
    of these over the rows is divided by the same sum for the best ranking
    (each row's relevant labels by decreasing :math:`1/p_l`):

    .. math::

        \\mathrm{PSnDCG@}k = \\frac{\\sum_i Z_i^{-1} \\sum_{r=1}^{k} y_{i, \\pi_i(r)} / (p_{\\pi_i(r)} \\log_2(r+1))}
                                  {\\sum_i Z_i^{-1} \\sum_{r=1}^{\\min(k, |y_i|)} 1 / (p_{\\sigma_i(r)} \\log_2(r+1))}

    which is how napkinXC (``psndcg_at_k(..., normalize=True)``) and pyxclib
    (``xc_metrics.psndcg``) report it: a ratio of sums over the rows, as
    for :func:`psp_at_k`.

    Parameters
    ----------
    {Y_DOC}
    propensities : array-like of shape (n_labels,)
        Propensity :math:`p_l` in (0, 1] of each label, usually
        ``propensity(Y_train)`` (not their inverses: a ValueError).
    k : int, default=5
        Number of top-ranked labels (>= 1).
    normalize : bool, default=True
        Divide by the best achievable value. With ``False``, return the mean
        over rows of the propensity-scored DCG divided by :math:`Z_i` (not
        bounded by 1).

    Returns
    -------
    score : float
        In [0, 1] when ``normalize=True``; 0.0 when no row has a relevant
        label. Empty rows add 0 to both sums.

    See Also
    --------
    propensity, psp_at_k, ndcg_at_k
    """
    _check_normalize(normalize)
    k, Y, top = _prepare(y_true, y_pred, k)
    q = 1.0 / _check_propensities(propensities, Y.shape[1])
    ideal = _ideal_dcg(np.diff(Y.indptr), k, Y.shape[1])
    inv_ideal = np.divide(1.0, ideal, out=np.zeros(len(ideal)), where=ideal > 0)
    gain = (_hits(Y, top) * q[np.maximum(top, 0)]) @ _discount(top.shape[1]) * inv_ideal
    if not normalize:
        return float(gain.mean())
    best_weights = _best_weighted(Y, q, k)
    best = (best_weights @ _discount(best_weights.shape[1])) * inv_ideal
    total = best.sum()
    return float(gain.sum() / total) if total > 0 else 0.0


for _function in (precision_at_k, recall_at_k, ndcg_at_k, psp_at_k, psndcg_at_k):
    _function.__doc__ = _function.__doc__.replace("{Y_DOC}", _Y_DOC)
del _function


def propensity(Y, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """Label propensities of Jain, Prabhu & Varma (KDD 2016), Eq. 2.

    .. math::

        p_l = \\frac{1}{1 + C e^{-A \\log(N_l + B)}} = \\frac{1}{1 + C (N_l + B)^{-A}}, \\qquad
        C = (\\log N - 1)(B + 1)^A

    with :math:`N` the number of rows of ``Y``, :math:`N_l` the number of
    rows that carry label l and natural logarithms. :math:`p_l` estimates the
    probability that a relevant label l is actually annotated; frequent
    labels have propensities near 1, rare ones lower. The same formula as
    napkinXC's ``Jain_et_al_propensity`` and the inverse of pyxclib's
    ``compute_inv_propesity``.

    Parameters
    ----------
    Y : {array-like, sparse matrix} of shape (n_samples, n_labels)
        Label indicator matrix, usually the training labels; at least 3 rows
        (the formula needs :math:`\\log N > 1`).
    A : float, default=0.55
        Data-set parameter (>= 0). Jain et al. use 0.5 for Wikipedia data
        sets (WikiLSHTC-325K, WikipediaLarge-500K), 0.6 for Amazon ones
        (Amazon-670K, Amazon-3M) and 0.55 otherwise.
    B : float, default=1.5
        Data-set parameter (> 0): 0.4 for Wikipedia, 2.6 for Amazon, 1.5
        otherwise.

    Returns
    -------
    propensities : ndarray of shape (n_labels,), float64
        In (0, 1]; labels that never occur get the smallest value. A large
        ``A`` drives the propensities of labels with more than one row
        towards 1 (in float64, exactly 1 from about :math:`C (N_l + B)^{-A}
        < 10^{-16}`) and those of labels with none towards 0; the formula is
        evaluated in log space where its terms would overflow.

    Raises
    ------
    ValueError
        If a propensity is too small for a float64 (:math:`1/p_l` would be
        infinite): large ``A`` with small ``B``, for labels that never occur,
        e.g. ``A=1000, B=0.5`` (about :math:`10^{-478}` at 100 rows). The
        message names ``A`` and ``B``.

    Examples
    --------
    >>> import numpy as np
    >>> from skxc.metrics import propensity
    >>> Y = np.zeros((100, 3), dtype=int)
    >>> Y[:50, 0] = 1; Y[:5, 1] = 1
    >>> np.round(propensity(Y), 3)
    array([0.594, 0.319, 0.173])
    """
    for name, value, low, strict in (("A", A, 0.0, False), ("B", B, 0.0, True)):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a finite real number; got {value!r}.")
        if not np.isfinite(value) or value < low or (strict and value == low):  # NaN, inf: a value out of range
            raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}; got {value!r}.")
    Y = _check_indicator(Y, "Y")
    n, n_labels = Y.shape
    if n < 3:
        raise ValueError(f"Y must have at least 3 rows for the propensity formula (log N > 1); got {n}.")
    counts = np.bincount(Y.indices, minlength=n_labels).astype(np.float64)
    log_n1 = np.log(n) - 1.0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        C = log_n1 * np.float64(B + 1.0) ** A  # inf when (B + 1)^A overflows
        power = (counts + B) ** (-A)
        term = C * power
    # the formula as written wherever its terms are finite normal floats (the same bits as always); elsewhere
    # (large A) in log space: p = sigmoid(t), t = A log((N_l + B) / (B + 1)) - log(log N - 1)
    p = 1.0 / (1.0 + term)
    far = ~(np.isfinite(C) & (power >= np.finfo(np.float64).tiny) & np.isfinite(term))
    if np.any(far):
        with np.errstate(divide="ignore", over="ignore"):  # t = -inf or +-inf: p = 0 or 1
            p[far] = expit(A * _log_ratio(counts[far], B) - np.log(log_n1))
    with np.errstate(divide="ignore", over="ignore"):
        tiny = ~np.isfinite(1.0 / p)  # p = 0, or so small that the weight 1 / p overflows
    if np.any(tiny):
        rows = int(counts[tiny].min())
        raise ValueError(
            f"A={A!r} and B={B!r} give the labels carried by {rows} of the {n} rows a propensity too small for "
            "float64 (1/p_l overflows); a smaller A or a larger B keeps it representable."
        )
    return p


def _log_ratio(counts: np.ndarray, B: float) -> np.ndarray:
    """log((N_l + B) / (B + 1)) to float64 precision: log1p((N_l - 1) / (B + 1)), except for N_l = 0 with
    B < 1, where that argument nears -1 and log(B) - log1p(B) does not cancel."""
    out = np.log1p((counts - 1.0) / (B + 1.0))
    if B < 1.0:
        out[counts == 0] = np.log(B) - np.log1p(B)
    return out
