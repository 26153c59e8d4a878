"""How AdversarialSoftmaxClassifier predicts: :class:`PredictionMixin`, the prediction API.

Each method validates X, converts it once to the kernels' format with its tree
projection (``_kernel_inputs``) and calls the block/chunk engine of
``_predict.py``, which never holds more than a block of the n x C scores.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._blend import IDENTITY_MAP
from ._dask import blockwise_score, is_dask_collection
from ._multilabel import (
    check_indicator,
    check_sparse_2d,
    dense_label_sets,
    dense_label_sets_bytes,
    hits_at_1,
    label_sets,
)
from ._parallel import n_threads
from ._predict import all_classes, class_blocks, proba_of_codes, top_k
from ._validation import canonical_csr, check_output_memory, kernel_rows
from ._weights import scoring_weights

__all__ = ["PredictionMixin"]

#: The public method that returns each kind of all-classes output (for error messages).
_METHODS = {"scores": "decision_function", "proba": "predict_proba", "log_proba": "predict_log_proba"}

#: The output memory guard's wording (``check_output_memory``'s templates): what each method would return and
#: the options its message offers instead.
_ALL_CLASSES = "a {n_rows:,} x {n_columns:,} float64 array"
_ALL_CLASSES_OPTIONS = (
    "predict_top_k(X, k, return_scores=True) for the k most probable classes and their probabilities; "
    "predict(X) (computed in blocks of rows); or {slices}"
)
_ALL_LABELS_OPTIONS = (  # a multi-label model whose predict returns a dense array as large: not offered
    "predict_top_k(X, k, return_scores=True) for the k most probable labels and their probabilities; "
    "or {slices} (predict returns a dense {n_rows:,} x {n_columns:,} int64 array, as large)"
)
_LABEL_SETS = "a {n_rows:,} x {n_columns:,} int64 label indicator array and the label positions it is filled from"
_LABEL_SETS_OPTIONS = (
    "predict_top_k(X, k, return_scores=True) for each row's k most probable labels and their "
    "probabilities (label_cardinality_ times a probability estimates the label's marginal); or {slices}"
)
_TOP_K = "{n_rows:,} x {n_columns:,} labels and scores"
_PROJECTION = "first the tree's projection of X, a {n_rows:,} x {n_columns:,} float32 array"
_PROJECTION_OPTIONS = "{slices}, or a tree with fewer components (n_components)"
_TOP_K_OPTIONS = "{slices}, or a smaller k"


class PredictionMixin:
    """Scores, probabilities, top-k and ``score`` of :class:`~skxc.AdversarialSoftmaxClassifier`."""

    def _validate_X(self, X):
        check_is_fitted(self)
        return canonical_csr(validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False))

    def _kernel_inputs(self, X, method: str = "predict"):
        """Validated X in kernel format and its projection for the tree: the one conversion per call. The
        projection (rows x the tree's components, float32) is allocated whole first: the memory guard checks it
        (``method`` names the call in its message), as the outputs' (``check_output_memory``)."""
        check_output_memory(
            method, X.shape[0], getattr(self.tree_, "n_components_", 0), _PROJECTION, _PROJECTION_OPTIONS, 4
        )
        rows = kernel_rows(X)
        return rows, self.tree_.project(rows.X, n_threads(self.n_jobs))  # raises if the projection overflows float32

    def _all_classes(self, X, what):
        """float64 (n, n_classes): "scores", "proba" or "log_proba" of every class (see ``_predict.all_classes``)."""
        X = self._validate_X(X)
        n_classes = len(self.classes_)
        dense_sets = self._is_multilabel and dense_label_sets(n_classes)  # predict is as large: not offered
        options = _ALL_LABELS_OPTIONS if dense_sets else _ALL_CLASSES_OPTIONS
        check_output_memory(_METHODS[what], X.shape[0], n_classes, _ALL_CLASSES, options)
        rows, Z = self._kernel_inputs(X, _METHODS[what])
        return all_classes(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays, what,
                           n_threads(self.n_jobs), self._score_scale, self._top_map)  # fmt: skip

    @property
    def _score_scale(self) -> float:
        """1 / ``score_temperature_`` (1 for models saved before it existed)."""
        return 1.0 / getattr(self, "score_temperature_", 1.0)

    @property
    def _top_map(self) -> tuple[float, float] | None:
        """``top_label_calibration_`` as ``(slope, offset)``, or None for the identity (and for models saved
        before it existed): the probabilities are then the softmax of the scores, bit for bit."""
        slope, offset = getattr(self, "top_label_calibration_", IDENTITY_MAP)
        return None if (slope, offset) == IDENTITY_MAP else (float(slope), float(offset))

    def _scoring_coef(self):
        """coef_ as the prediction engine takes it: the array, or sparse weights with their feature-major
        index (built once per coef_ object and cached outside the estimator, see ``scoring_weights``)."""
        if not sp.issparse(self.coef_):
            return self.coef_
        return scoring_weights(self.coef_, getattr(self, "_shared_coef", None))

    def _top_k_codes(self, inputs, k):
        """Codes (n, k) and bias-corrected scores of the k best classes, best first, of ``_kernel_inputs``."""
        rows, Z = inputs
        return top_k(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays, k, n_threads(self.n_jobs))

    def decision_function(self, X):
        """Bias-corrected scores xi_y(x) + log p_n(y|x) of all classes, divided by ``score_temperature_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,), float64
            Unnormalised log-probabilities. For two classes, the log-odds of
            ``classes_[1]`` (shape (n_samples,)), as in scikit-learn.
        """
        out = self._all_classes(X, "scores")
        if len(self.classes_) == 2 and not self._is_multilabel:
            return out[:, 1] - out[:, 0]
        return out

    def predict_log_proba(self, X):
        """Return the log of :meth:`predict_proba`, computed stably (log-sum-exp in float64).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes), float64
            Log-probabilities of the classes in ``classes_``; each row has logsumexp 0.
        """
        return self._all_classes(X, "log_proba")

    def predict_proba(self, X):
        """Class probabilities: softmax over all classes of xi_y(x) + log p_n(y|x), divided by
        ``score_temperature_``, with each row's top class recalibrated by ``top_label_calibration_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Rows sum to 1; columns follow ``classes_``. Multi-label models:
            shares of the label marginals, about P(label|x) / E[#labels|x],
            not the marginals themselves (user guide, "Multi-label training").
        """
        return self._all_classes(X, "proba")

    def predict(self, X):
        """Most probable class (single-label), or the predicted label set (multi-label).

        Single-label: computed in row blocks (never the full n x C matrix).
        Multi-label (trained on a label indicator matrix): the labels whose
        estimated marginal ``label_cardinality_ * predict_proba(X)`` is at least
        0.5, and always the most probable label, so that no row is empty (see
        the user guide, "Multi-label training"); computed in row blocks with
        the probabilities of :meth:`predict_proba`, so the label sets depend
        on ``score_temperature_``. Its dense n x L int64 indicator (at most
        1000 labels) is as large as ``predict_proba``'s output and is checked
        against the available memory first, as that is: a ModelMemoryError
        (a ValueError) when it would not fit, naming :meth:`predict_top_k`
        and slices of X instead.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,), or indicator of shape (n_samples, n_labels)
            Class labels; multi-label: a 0/1 int64 indicator matrix, a
            scipy.sparse CSR matrix when there are more than 1000 labels, else
            a dense ndarray.
        """
        X = self._validate_X(X)  # validates (NotFittedError) before reading classes_
        n_classes = len(self.classes_)
        if self._is_multilabel and dense_label_sets(n_classes):  # a dense n x L int64 indicator
            _, positions = dense_label_sets_bytes(X.shape[0], n_classes, self.label_cardinality_)
            check_output_memory(
                "predict", X.shape[0], n_classes, _LABEL_SETS, _LABEL_SETS_OPTIONS, extra_bytes=positions
            )
        inputs = self._kernel_inputs(X)
        if self._is_multilabel:
            rows, Z = inputs
            blocks = class_blocks(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays, "proba",
                                  n_threads(self.n_jobs), self._score_scale)  # fmt: skip
            return label_sets(blocks, rows.X.shape[0], n_classes, self.label_cardinality_)
        return self.classes_[self._top_k_codes(inputs, 1)[0][:, 0]]

    def predict_top_k(self, X, k=None, return_scores=False):
        """The k most probable classes (or labels) of each row, most probable first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.
        k : int in [1, n_classes] or None, default=None
            Number of classes per row; None: 5, or ``n_classes`` where there
            are fewer.
        return_scores : bool, default=False
            Also return their probabilities: the entries of
            :meth:`predict_proba`, bit for bit (computed over all classes in
            row blocks, never the full n x C matrix). Each row's normaliser
            sums over all classes, so this costs about what ``predict_proba``
            costs per row, several times the top k alone, which can skip most
            classes.

        Returns
        -------
        top : ndarray of shape (n_samples, k)
            Class labels (multi-label: label columns, i.e. indices into ``classes_``).
            Exactly tied classes come in class order (the first of them is
            ``predict``'s and ``predict_proba``'s argmax) where every class's
            score is computed (``noise`` "uniform", "frequency" or None, or a k
            beyond the tree search's); the tree search, which skips most
            classes, orders them by its leaves instead.
        proba : ndarray of shape (n_samples, k), float64
            Only with ``return_scores=True``: their probabilities, in [0, 1] and
            non-increasing along each row up to rounding (the top-k search
            ranks by scores that may differ from those of predict_proba in
            the last bits).
        """
        X = self._validate_X(X)
        if k is None:
            k = min(5, len(self.classes_))
        if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= len(self.classes_):
            raise ValueError(f"k must be an integer in [1, n_classes={len(self.classes_)}]; got {k!r}.")
        k = int(k)  # a NumPy integer of a small dtype (uint8) would overflow in the sizes below
        if not isinstance(return_scores, (bool, np.bool_)):  # a string "False" would be truthy
            raise TypeError(f"return_scores must be True or False; got {return_scores!r}.")
        # the kernel's codes and scores (int64, float64), the labels, with return_scores the probabilities
        per_entry = 16 + self.classes_.dtype.itemsize + (8 if return_scores else 0)
        check_output_memory("predict_top_k", X.shape[0], k, _TOP_K, _TOP_K_OPTIONS, per_entry)
        inputs = self._kernel_inputs(X, "predict_top_k")
        codes = self._top_k_codes(inputs, k)[0]
        top = self.classes_[codes]
        if not return_scores:
            return top
        rows, Z = inputs
        proba = proba_of_codes(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays, codes,
                               n_threads(self.n_jobs), self._score_scale, self._top_map)  # fmt: skip
        return top, proba

    def score(self, X, y, sample_weight=None):
        """Accuracy (single-label), or precision@1 (multi-label).

        For a model trained on a label indicator matrix, ``y`` must be one too
        and the score is the (weighted) fraction of rows whose most probable
        label is one of their labels: precision@1, the Extreme Classification
        Repository's first metric (rows without labels count as misses).
        Subset accuracy, scikit-learn's default for multi-label classifiers,
        is near 0 with thousands of labels, so model selection by ``score``
        (e.g. ``GridSearchCV`` with default scoring) would learn nothing.
        A dask array or dataframe ``X`` (as dask-ml's ``Incremental`` and
        ``ParallelPostFit`` pass it) is scored block by block, without
        gathering it into this process.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test rows.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            True labels; for a multi-label model the 0/1 label indicator
            matrix, with the model's ``n_labels`` columns.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights (multi-label: non-negative, not all 0); None weighs
            every row 1.

        Returns
        -------
        score : float
            Accuracy, or precision@1.
        """
        if is_dask_collection(X):  # dask-ml's wrappers pass the lazy collection: scored block by block
            check_is_fitted(self)
            return blockwise_score(self, X, y, sample_weight, self._is_multilabel)
        if not self._is_multilabel:
            check_is_fitted(self)
            check_sparse_2d(y)  # scikit-learn's accuracy fails on a 1-D sparse y with an UnboundLocalError
            return super().score(X, y, sample_weight=sample_weight)
        X = self._validate_X(X)
        n_samples, n_labels = X.shape[0], len(self.classes_)
        try:
            shape = y.shape if sp.issparse(y) else np.shape(y)
        except ValueError:  # ragged lists
            shape = None
        if shape is None or len(shape) != 2:
            got = "a ragged sequence" if shape is None else f"shape {shape}"
            raise ValueError(
                f"y must be a label indicator matrix of shape (n_samples, n_labels) = ({n_samples}, {n_labels}) "
                f"for a multi-label model (trained on one); got {got}. Class labels can be turned into one with "
                f"sklearn.preprocessing.label_binarize(y, classes=np.arange({n_labels}))."
            )
        Y = check_indicator(y, n_samples)
        if Y.shape[1] != n_labels:
            raise ValueError(f"y has {Y.shape[1]} label columns but the model was trained with {n_labels}.")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            if not np.any(sample_weight):
                raise ValueError("sample_weight is 0 for every row; the score is a weighted mean over rows.")
        hits = hits_at_1(Y, self._top_k_codes(self._kernel_inputs(X, "score"), 1)[0][:, 0])
        return float(np.average(hits, weights=sample_weight))
