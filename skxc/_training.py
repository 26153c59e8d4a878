"""How AdversarialSoftmaxClassifier fits: the private methods behind ``fit``, ``partial_fit`` and ``fit_noise``.

:class:`TrainingMixin` turns validated input into the fitted attributes and calls
the modules below for the work: ``_fit.py`` initialises a model (noise tree
from ``_tree.py``, centroid start from ``_start.py``) and prepares the training
rows, ``_blend.py`` chooses the centroid blend, ``_solver.py`` runs the epochs,
``_state.py`` holds the Adagrad state and ``_model.py`` keeps ``coef_``. The
public methods, with their documentation, are in ``_estimator.py``.
"""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator
from sklearn.utils.multiclass import _check_partial_fit_first_call

from ._blend import (
    BETAS,
    FASTER,
    IDENTITY_MAP,
    blend_preparation,
    blend_term,
    blended,
    budget_tree,
    chosen_for,
    faster_pilot_wanted,
    few_rows,
    set_faster_dropped,
)
from ._config import FLOAT
from ._fit import (
    AUTO_COMPONENTS,
    Progress,
    adagrad_kind,
    holdout,
    initialize,
    many_rows,
    resolve_early_negatives,
    resolve_max_iter,
    resolve_n_components,
    resolve_n_negatives,
    restart,
    sgd_setup,
    top1_score,
    training_rows,
    with_shared_offset,
)
from ._model import has_sparse_weights, intact_on_error, training_model
from ._multilabel import (
    check_labels_of_positive_weight,
    is_multilabel,
    label_cardinality,
    label_columns,
    label_examples,
    shared_by_row,
)
from ._noise import check_feature_names, check_same_noise, classes_fixed_by, frozen_classes, not_in
from ._parallel import InterruptedBeforeTraining, deferred_interrupt, n_threads, one_blas_thread, seed_rng, settle
from ._predict import log_noise_of
from ._solver import Rows, check_finite_model, run_epochs
from ._start import (
    CALIBRATION_FRACTION,
    MAX_SCALE_ROWS,
    MIN_CALIBRATION_ROWS,
    add_entries,
    batch_sums,
    check_row_scale,
    class_starts,
    held_out_start,
    rms_row_norm,
    row_sums,
    start_centre,
    start_change,
)
from ._state import writeable
from ._stream_sums import StreamSums
from ._validation import (
    dense_for_training,
    encode_labels,
    positive_rows,
    type_mismatch,
    unique_labels,
    validate_training_data,
    warn_user,
)
from ._weights import (
    HashedWeights,
    buffer_wanted,
    check_growth_memory,
    dense_buffer,
    first_epoch_room,
    from_dense_buffer,
    negative_insert_mask,
)

__all__ = ["AUTO_SPARSE_BYTES", "AUTO_WEIGHT_THRESHOLD", "TrainingMixin"]

#: Whether the centroid start of a model started by ``fit_noise`` or a first ``partial_fit`` follows the rows of
#: later ``partial_fit`` calls (``TrainingMixin._start_follows``); False: the start stays that of the first rows,
#: and classes without rows there start at zero weights (before stop 26).
STREAM_START_FOLLOWS = True
#: The start of a class follows the stream's rows until it has this many (weighted) rows, then stays: it
#: is what a class with few rows needs, and following a class of many costs a pass over its sums per batch
#: for a change SGD makes anyway (the boundary of ``skxc._blend.MAX_ROWS_PER_CLASS`` and ``n_negatives``).
START_FOLLOW_ROWS = 50

#: Whether a stream whose first call had too few rows for the centroid start (fewer than
#: ``MIN_CALIBRATION_ROWS / CALIBRATION_FRACTION``) chooses it on a later call (``TrainingMixin._late_start``);
#: False: such a stream trains from zero weights (before stop 27).
LATE_START = True
#: The late start is chosen once the stream's rows before the call number this many: as many as ``fit``'s
#: calibration split leaves to the centroids of the smallest data set it calibrates (1,000 rows, 100 held out).
LATE_START_ROWS = int(round(MIN_CALIBRATION_ROWS / CALIBRATION_FRACTION)) - MIN_CALIBRATION_ROWS
#: A stream's start chooses its scale again each time the rows summed have grown this many times since the
#: last choice (``TrainingMixin._rechoose_scale``); ``np.inf``: never (before stop 27).
RECHOOSE_GROWTH = 2.0

#: ``weights="auto"``: sparse weights for sparse X once dense float32 weights would take this many bytes.
AUTO_SPARSE_BYTES = 2**27
#: ``weight_threshold="auto"`` for sparse weights (dense ones are not pruned).
AUTO_WEIGHT_THRESHOLD = 0.01
#: Whether ``fit`` also drops the sparse weights below that threshold (relative to their class's largest) whenever
#: their hash table would otherwise grow (truncated gradient, Langford et al., JMLR 2009), so that the table
#: holds about the weights the fitted model keeps, not every one an update ever touched
#: (docs/benchmarks.rst, "Truncation while training"). False: prune only after training.
TRUNCATE_WHILE_TRAINING = True
#: Whether a new fit's sparse weights trained in a dense buffer leave it without the weights that the blend and the
#: pruning after training would drop anyway (``skxc._weights.from_dense_buffer``'s ``then``): the same model,
#: with far fewer weights written to CSR and summed with the blend's term (text1200b: 5.4 of 19.4 million;
#: docs/benchmarks.rst, "Stop 66: the buffer's conversion after the blend's limits"). False: every non-zero.
PRUNE_IN_BUFFER = True


def present_rows(X, y, sample_weight, multilabel: bool, require_labels: bool = True):
    """``(X, y, sample_weight)`` of the rows of positive weight (:func:`~skxc._validation.positive_rows`: a row of
    weight 0 is absent). Multi-label with ``require_labels``: first the ValueError naming y's labels all of weight
    0 (after the drop y could look empty, a less telling error)."""
    if multilabel and require_labels:
        check_labels_of_positive_weight(y, sample_weight)
    return positive_rows(X, y, sample_weight)


def _warn_rowless_classes(rows: Rows, n_classes: int, beta: float) -> None:
    """UserWarning if some classes have no training rows (a frozen tree's classes that y lacks, or classes whose
    rows all have weight 0) while the centroid blend is added: their centroid is zero, so the blended model
    gives them almost no probability (a frozen tree of 300 classes, rows of 250: 64 nats on the others' test
    rows against 5 without the blend)."""
    present = np.bincount(rows.codes[rows.sample_weight > 0], minlength=n_classes) > 0
    n_absent = int(n_classes - present.sum())
    if n_absent:
        warnings.warn(
            f"{n_absent} of the {n_classes} classes have no training rows (classes of the frozen noise that y "
            f"lacks, or whose rows all have sample_weight 0): the centroid blend (centroid_blend_={beta:g}) has "
            f"no centroid for them and gives them almost no probability. Pass centroid_blend=0 to keep the trained model's share for them.",
            UserWarning,
            stacklevel=7,  # the caller of fit (through scikit-learn's fit wrapper)
        )


#: A stream's first call warns when more than this many times the classes that a random sample of its size would
#: miss (the Chao1 estimate of :func:`_warn_unseen_classes`), plus one, have no rows in it ...
UNSEEN_CLASSES_FACTOR = 4.0
#: ... and at most this share of its examples are of classes it holds once (the Good-Turing estimate of the
#: probability that one more random row is of a class it has not seen): it looks complete, yet misses classes.
UNSEEN_CLASSES_COVERAGE = 0.05


def _warn_unseen_classes(codes, n_classes: int, noise, call: str) -> None:
    """UserWarning if far more of the ``n_classes`` classes have no example among ``codes`` (the class codes of the
    examples of positive weight of a stream's first call, ``call``: "partial_fit" or "fit_noise") than a random
    sample would miss, while the noise is fitted on those rows and then stays fixed (``noise`` "adversarial" or
    "frequency"): a stream sorted or grouped by class. The noise then gives the classes it has not seen less
    probability than the others for the whole stream (30 classes, a first batch of 250 rows of 5 of them: 28 % of
    the tree's mass on the 25 others, and 0.50-0.61 top-1 after three passes against 0.78-0.80 from batches that
    show every class).

    A random sample tells how much it misses by the classes it holds once (f1) and twice (f2): the
    bias-corrected Chao1 estimate ``f1 (f1 - 1) / (2 (f2 + 1))`` of the classes it misses (Chao, 1984), and the
    Good-Turing estimate ``f1 / n`` of the chance that one more row is of an unseen class. It warns when both say
    the batch is nearly complete (more than ``UNSEEN_CLASSES_FACTOR`` times the first, plus one, are missing,
    and the second is at most ``UNSEEN_CLASSES_COVERAGE``): a batch sorted by class holds no class once. A
    small random batch, or one of long-tailed data, holds many classes once and does not warn: on random first
    batches of 10 and 30 % of the shared sets (bibtex, corel5k, delicious, gcide-reverse, first labels) the
    classes missing were 0.65-2.4 times the Chao1 estimate (2.5 in the generated hierarchy's first 250 rows of 600
    classes), on ptb-nextword's first 20,000 rows in their own order 3.1 times; where Chao1 is far below the
    truth (a first batch of 100 rows of 2,000 classes), f1 / n is near 1. Classes that the data never has count
    as missing too: the message names both causes."""
    if not isinstance(noise, str) or noise not in ("adversarial", "frequency") or codes.shape[0] == 0:
        return
    counts = np.bincount(codes, minlength=n_classes)
    n_absent = int(np.count_nonzero(counts == 0))
    f1, f2 = int(np.count_nonzero(counts == 1)), int(np.count_nonzero(counts == 2))
    missed = f1 * (f1 - 1) / (2.0 * (f2 + 1))
    if n_absent > UNSEEN_CLASSES_FACTOR * missed + 1.0 and f1 <= UNSEEN_CLASSES_COVERAGE * codes.shape[0]:
        where = "the first partial_fit call" if call == "partial_fit" else "fit_noise's sample"
        remedy = (
            "shuffle the stream so that the first batch shows every class, or fit the noise first with fit_noise "
            "on a sample that does"
            if call == "partial_fit"
            else "pass fit_noise a sample that shows every class"
        )
        warn_user(
            f"{n_absent} of the {n_classes} classes have no rows in {where} ({codes.shape[0]} examples), far more "
            f"than a random sample would miss: the noise (noise={noise!r}) is fitted on these rows and then stays "
            f"fixed for the stream, so it gives those classes less probability than the others. If the rows are "
            f"sorted or grouped by class, {remedy}; if those classes never occur, leave them out of classes.",
            UserWarning,
        )


#: Weights (classes x features) a block of ``_add_to_start``'s column update holds in its temporary.
ADD_BLOCK_WEIGHTS = 1 << 22
#: Whether multi-label fits train a new model's sparse weights in a dense buffer as single-label ones do
#: (``skxc._weights.buffer_wanted``): multi-label topic text of 4,000 labels x 20,000 words trained in 0.64x the
#: time with P@1 / P@3 / P@5 40.0 / 22.3 / 16.4 -> 40.3 / 22.9 / 16.7 (docs/benchmarks.rst, "Stop 56"). False:
#: the table (stop 55 and before).
MULTILABEL_BUFFER = True


#: Whether fit starts the model again (the centroid start's scale chosen anew) when the pilots chose other
#: negatives per example than the start was chosen for (the faster pilot, ``skxc._blend.FASTER``).
RESTART_NEGATIVES = True
#: ``label_weighting="auto"``: a new multi-label model (``fit``, ``fit_noise``, a stream's first ``partial_fit``) whose
#: rows carry at least this many labels on average (``label_cardinality_``) shares each row's weight among its labels
#: ("rows") from the start; below it "pairs", unless ``fit``'s pilots choose "rows". None: never from the start (stop
#: 64 and before). "rows" beat the pilots' choice on delicious (19 labels per row), mltext4k (5) and mltext30k (15);
#: it loses P@3 and P@5 on bibtex (2.4) and is level on corel5k (3.5) (docs/benchmarks.rst, "Stop 65").
ROWS_CARDINALITY = 4.0


class TrainingMixin:
    """Fitting machinery of :class:`~skxc.AdversarialSoftmaxClassifier` (parameters are the estimator's)."""

    def _targets(self, X, y, sample_weight, reset):
        """Validated ``(X, y, sample_weight, multilabel)``; y is a CSR indicator matrix when ``multilabel``."""
        multilabel = is_multilabel(y)
        X, y, sample_weight = validate_training_data(self, X, y, sample_weight, reset, multilabel)
        # dense rows stored as CSR train as the array they are; sparse weights need sparse rows
        if self.weights != "sparse":
            X = dense_for_training(X)
        check_feature_names(self.noise, getattr(self, "feature_names_in_", None))
        check_row_scale(X, self.init, self.centroid_blend, auto_beta=float(BETAS[-1]))
        if multilabel and y.shape[1] < 2:
            raise ValueError(f"A label indicator y needs at least 2 labels (columns); got {y.shape[1]}.")
        return X, y, sample_weight, multilabel

    def _params(self) -> dict:
        """``get_params(deep=False)`` with ``n_negatives`` as the model uses it (``n_negatives_`` for "auto")."""
        params = self.get_params(deep=False)
        if params["n_negatives"] == "auto":
            params["n_negatives"] = self.n_negatives_
        if params["n_components"] == "auto":  # set before the tree, with the tree's Newton tolerance (None: default)
            params["n_components"], params["tree_newton_tol"] = getattr(
                self, "_n_components", (AUTO_COMPONENTS[0], None)
            )
        return params

    def _initialize(self, X, codes, sample_weight, rng, example_row=None, on_split=None, keep_sums=False):
        """Fit the noise tree and allocate coef_, intercept_ and the Adagrad state (``_fit.initialize``).
        ``keep_sums`` (``fit_noise``, a first ``partial_fit``): keep what :meth:`_start_follows` needs."""
        # "auto" negatives: from the rows of this call (multi-label: 2 whatever the pairs per label)
        self.n_negatives_ = resolve_n_negatives(
            self.n_negatives, X.shape[0], len(self.classes_), example_row is not None
        )
        # "auto" components of the tree's projection: from the rows of this call, as the negatives
        self._n_components = resolve_n_components(self.n_components, X, len(self.classes_), example_row is not None)
        # "auto" negatives of fit's first epochs (0: none): decided with n_negatives_, kept for warm starts
        self._early_negatives = resolve_early_negatives(
            self.n_negatives, X, len(self.classes_), example_row is not None
        )
        # the memory guard counts the negatives the model may train with: the faster pilot's, if it may win and
        # the model fits with them (else that pilot does not train: skxc._blend.faster_pilot_wanted)
        set_faster_dropped(self, False)
        optional_negatives = 0
        auto_blend = not keep_sums and example_row is None and self.centroid_blend == "auto"
        # the faster pilot trains on few rows per class only
        if auto_blend and few_rows(X.shape[0], len(self.classes_)) and faster_pilot_wanted(self, X):
            optional_negatives = FASTER[1]
        start = initialize(
            self._params(), self.classes_, X, codes, sample_weight, rng, example_row,
            getattr(self, "label_cardinality_", 1.0), type(self).__name__, AUTO_SPARSE_BYTES, on_split, keep_sums,
            self._early_negatives, optional_negatives,
        )  # fmt: skip
        if start.optional_dropped:
            set_faster_dropped(self, True)
        self.tree_, self.tree_fit_seconds_ = start.tree, start.tree_fit_seconds
        self.noise_ = "prefit" if isinstance(self.noise, FrozenEstimator) else self.noise
        self._shared_coef, self.coef_, self._adagrad_state = start.shared_coef, start.coef, start.adagrad_state
        self.intercept_, self.init_scale_ = start.intercept, start.init_scale
        # a new model has had no training call yet: the attributes that describe one go until the next sets them
        # (fit_noise after a fit or a stream leaves none of the earlier call's)
        for name in ("learning_rate_", "interrupted_", "best_iteration_"):
            self.__dict__.pop(name, None)
        # a stream's start follows its rows (_start_follows): the class sums of the rows so far, and the centre
        for name in ("_start_sums", "_start_centre", "_start_rows", "_start_seen", "_start_chosen", "_start_pending"):
            self.__dict__.pop(name, None)
        # too few rows to choose the start here: a later call chooses it (_late_start)
        pending = keep_sums and self.init == "centroid" and start.split is None and LATE_START
        if keep_sums and self.init == "centroid" and (start.init_scale > 0 or pending):
            centre = start_centre(X, sample_weight, example_row) if pending else start.centre
            sums = row_sums(X, codes, len(self.classes_), sample_weight, centre, example_row)
            # sparse: kept so that a call's update costs the classes it touches (skxc/_stream_sums.py)
            self._start_sums = StreamSums(sums) if sp.issparse(sums) else sums
            self._start_centre = centre
            self._start_rows = np.bincount(codes, weights=sample_weight, minlength=len(self.classes_))
            self._start_seen = X.shape[0]  # the rows arrived so far (summed, or held out: _late_start)
            self._start_chosen = 0 if pending else X.shape[0]  # the rows summed when the scale was chosen
        self.centroid_blend_, self.score_temperature_, self.centroid_metric_ = 0.0, 1.0, "cosine"
        self.top_label_calibration_ = np.array(IDENTITY_MAP)
        self.__dict__.pop("_blend_parts", None)
        self._rng, self._auto_learning_rate = rng, start.auto_learning_rate
        self.t_ = 0
        self._weight_bound = (float(np.abs(self.intercept_).max()), 0)  # see check_finite_model
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.epoch_seconds_ = []
        self.hardness_curve_ = []
        self.validation_scores_ = []
        return start.split

    def _rows(self, X, codes, sample_weight, example_row=None, Y=None) -> Rows:
        """Validated training X in kernel format, with the tree's features and log p_n of each example's class.

        Multi-label: the examples are (row, label) pairs, ``example_row`` their
        rows and ``Y`` the CSR indicator (each row's labels, never negatives).
        """
        rows, Z = self._kernel_inputs(X, "fit")
        return training_rows(
            rows, Z, codes, sample_weight, self.tree_.arrays, n_threads(self.n_jobs), self._sparse_weights(),
            getattr(self, "_shared_coef", None), example_row, Y,
        )  # fmt: skip

    def _fit(self, X, y, sample_weight):
        """``fit``: fit the tree, choose the blend, train, blend, prune (BLAS on one thread throughout:
        ``skxc._parallel.one_blas_thread``)."""
        with one_blas_thread():
            return self._fit_model(X, y, sample_weight)

    def _fit_model(self, X, y, sample_weight):
        t_fit = time.perf_counter()
        timing = {"choice": 0.0}  # seconds of the automatic settings' pilots (``_fit_start``), for verbose
        prepared = []  # the blend's held-out scores, computed while the tree is fitted
        before = dict(self.__dict__)  # restored by a Ctrl-C before training starts (also while it is set up)
        try:
            # validation sets n_features_in_: an error or Ctrl-C before training restores every attribute
            # (a first fit leaves none), also during the blend's pilot
            with intact_on_error(self.__dict__):
                names_before = self.__dict__.get("feature_names_in_")  # a warm start checks X's against them
                X, y, sample_weight, multilabel = self._targets(X, y, sample_weight, reset=True)
                if multilabel:  # a frozen tree must have the classes np.arange(n_labels) (checked in _initialize)
                    classes = np.arange(y.shape[1])
                else:
                    classes = frozen_classes(self.noise, unique_labels(y, "y"))  # a frozen tree's classes, else y's
                if len(classes) < 2:
                    raise ValueError(
                        f"{type(self).__name__} needs samples of at least 2 classes in the data, but the "
                        f"data contains only one class: {classes.tolist()!r}."
                    )
                # rows of weight 0 go (their classes stay in classes_, as in scikit-learn's classifiers)
                X, y, sample_weight = present_rows(X, y, sample_weight, multilabel)
                warm = self._warm(X, classes, multilabel, names_before)
                rng = self._rng if warm else seed_rng(self.random_state)
                # the epoch budget of max_iter="auto" counts rows, for multi-label y too (not (row, label) pairs)
                n_epochs = resolve_max_iter(self.max_iter, X.shape[0])
                started = self._fit_start(
                    X, y, classes, sample_weight, rng, warm, multilabel, n_epochs, prepared, timing
                )
        finally:  # an error (the memory guard, Ctrl-C): the background work ends before fit raises
            settle(prepared)
        X, val, rows, split, blend = started
        self.n_iter_ = 0
        threshold = self.weight_threshold
        if threshold == "auto":
            threshold = AUTO_WEIGHT_THRESHOLD if has_sparse_weights(self.__dict__) else 0.0
        # sparse weights: the weights that pruning would drop also go whenever the table would grow
        t_train = time.perf_counter()
        buffer = not warm and self.weights == "auto"
        parts = self._parts_before_training(X, rows, blend, threshold) if buffer else None
        try:
            late = self._train(
                rows, n_epochs, val, truncate=threshold if TRUNCATE_WHILE_TRAINING else 0.0, buffer=buffer
            )
        except InterruptedBeforeTraining:  # no step ran: the estimator as it was before the call
            self.__dict__.clear()
            self.__dict__.update(before)
            raise KeyboardInterrupt from None
        finally:
            self.__dict__.pop("_buffer_then", None)  # a buffer's conversion took it, or none was made
        t_after = time.perf_counter()
        with deferred_interrupt() as stop:  # after training, a Ctrl-C waits for the blend and the pruning
            if blend is not None:
                self._add_blend(X, rows, *blend, parts=parts)
            if threshold > 0:
                self._prune(threshold)
        if self.verbose:
            now = time.perf_counter()
            self._print_fit_summary(now - t_fit, timing["choice"], t_after - t_train, now - t_after, warm)
        if stop.requested or late:  # the model is whole: the call ends here
            raise KeyboardInterrupt
        return self

    def _print_fit_summary(self, total: float, choice: float, training: float, after: float, warm: bool) -> None:
        """verbose: where ``fit``'s ``total`` seconds went: the tree, the automatic settings' pilots, the
        training (its set-up and epochs), the blend and pruning after it (``after``), and the rest (validation,
        the start, the kernel rows)."""
        parts = [
            ("tree", 0.0 if warm else self.tree_fit_seconds_),
            ("automatic settings", choice),
            ("training", training),
            ("blend and pruning", after),
        ]
        rest = max(0.0, total - sum(seconds for _, seconds in parts))
        shown = "".join(f"{name} {seconds:.2f} s, " for name, seconds in parts if seconds >= 0.005)
        print(f"Fit in {total:.2f} s: {shown}other {rest:.2f} s", flush=True)

    def _warm(self, X, classes, multilabel: bool, names_before=None) -> bool:
        """Whether ``fit`` continues the fitted model (``warm_start``); ValueError if y's classes, its kind
        (single- or multi-label), X's number of features or, where the fitted model and X both have them, X's
        feature names (``names_before``: the fitted ``feature_names_in_``) are not the fitted ones (a
        scikit-learn warm start does not change the model's shape; ``partial_fit`` trains on rows of some of
        the classes). Reordered columns would otherwise train the fitted weights and tree on other features."""
        if not (self.warm_start and "_coef" in self.__dict__):
            return False
        if self._is_multilabel != multilabel:
            kinds = ("a label indicator matrix (multi-label)", "1-D labels (single-label)")
            before, now = kinds if self._is_multilabel else kinds[::-1]
            raise ValueError(
                f"warm_start=True continues the fitted model, which was trained on {before}; y is {now}. "
                f"Set warm_start=False to fit a new model."
            )
        check_same_noise(self.noise, self.noise_, "warm_start=True")
        if not np.array_equal(self.classes_, classes):
            # compared as encode_labels does (np.setdiff1d would match 1 and '1': no difference to name)
            missing, new = not_in(self.classes_, classes), not_in(classes, self.classes_)
            what = "label columns" if multilabel else "classes"

            def named(labels):  # at most 10 named
                more = f" and {labels.size - 10} more" if labels.size > 10 else ""
                return f"{labels.size} ({labels[:10].tolist()!r}{more})"

            problems = []
            if missing.size:
                problems.append(f"lacks {named(missing)} of the fitted {what}")
            if new.size:
                problems.append(f"has {named(new)} {what} the model was not fitted with")
            hint = (
                ""
                if multilabel
                else ", or continue with partial_fit (its y may hold rows of some of the fitted classes)"
            )
            types = type_mismatch(classes, self.classes_, "y", "the fitted classes")
            raise ValueError(
                f"warm_start=True continues the fitted model, so y must have its {what}; y "
                f"{' and '.join(problems)}{types}. Set warm_start=False to fit a new model{hint}."
            )
        n_features = self.coef_.shape[1]
        if n_features != X.shape[1]:
            raise ValueError(
                f"warm_start=True continues the fitted model, so X must have its {n_features} features; X has "
                f"{X.shape[1]}. Set warm_start=False to fit a new model."
            )
        names = self.__dict__.get("feature_names_in_")
        if names_before is not None and names is not None and not np.array_equal(names, names_before):
            moved = [str(a) for a, b in zip(names_before, names, strict=True) if a != b]
            raise ValueError(
                f"warm_start=True continues the fitted model, so X's columns must be its features in the fitted "
                f"order; X's feature names differ from feature_names_in_ at {len(moved)} column(s), e.g. where "
                f"{moved[:3]!r} were. Reorder X's columns (X[model.feature_names_in_]) or set warm_start=False "
                f"to fit a new model."
            )
        return True

    def _fit_start(self, X, y, classes, sample_weight, rng, warm, multilabel, n_epochs, prepared, timing=None):
        """``fit`` up to training: the new model (or the warm one), its rows and the blend chosen for it.
        ``(X, val, rows, split, blend)``, ``blend`` = ``(beta, temperature, top_map, metric)`` or None; ``prepared`` receives the
        futures of the blend's background work (:func:`~skxc._blend.blend_preparation`)."""
        on_split = None if warm or multilabel else blend_preparation(self, rng, prepared, n_epochs)
        X, val, rows, split = self._prepare_fit(X, y, classes, sample_weight, rng, warm, multilabel, on_split)
        # the blend is chosen before training, so that the pilot's memory is freed before the model's grows
        blend = None
        if not warm:
            t0 = time.perf_counter()
            if self.verbose >= 2 and self.centroid_blend == "auto":
                print("Choosing the automatic settings (pilot models on held-out rows)", flush=True)
            blend = chosen_for(self, X, rows, split, rng, n_epochs, prepared)
            choice_seconds = time.perf_counter() - t0
            if timing is not None:
                timing["choice"] = choice_seconds
        if blend is not None:
            beta, temperature, tree, lr_factor, top_map, weighting, n_negatives, metric = blend
            flatter = tree is not self.tree_ and tree.n_components_ > 0  # the pilots chose the flatter tree
            if weighting == "rows" and self.label_weighting_ == "pairs":  # the pilots chose "rows" (multi-label)
                counts = np.diff(rows.label_indptr)
                weight = shared_by_row(rows.sample_weight, rows.example_row, counts, self.label_cardinality_)
                rows, self.label_weighting_ = replace(rows, sample_weight=weight), "rows"
            if self.tree_temperature == "auto" and self.noise == "adversarial" and not self.early_stopping:
                tree = budget_tree(tree, n_epochs)  # max_iter is the budget (with early stopping, a cap)
            start_negatives = self.n_negatives_
            if n_negatives is not None:  # the faster pilot's, for n_negatives="auto"
                self.n_negatives_ = int(n_negatives)
            if tree is not self.tree_ and tree.n_components_ == 0:  # the pilots chose uniform noise (maybe with
                # the faster pilot's negatives: one start again for both)
                rows = self._restart(X, rows, split, tree, "uniform")
                start_negatives = self.n_negatives_
            elif tree is not self.tree_:  # the pilots chose the flatter tree (or the budget's temperature)
                self.tree_ = tree  # same projection: only each example's log p_n changes
                Z = np.ascontiguousarray(rows.Z[rows.example_row]) if multilabel else rows.Z
                rows = replace(rows, log_noise=log_noise_of(Z, rows.codes, tree.arrays, n_threads(self.n_jobs)))
            self._auto_learning_rate *= lr_factor  # the pilots' choice for learning_rate="auto"
            # the centroid start's scale was chosen for the negatives before the pilots; with the faster pilot's
            # negatives Eq. 6's held-out loss prefers another scale (the one the winning pilot started from)
            if RESTART_NEGATIVES and self.init == "centroid" and self.n_negatives_ != start_negatives:
                rows = self._restart(X, rows, split, self.tree_)
            blend = beta, temperature, top_map, metric
            if self.verbose and self.centroid_blend == "auto":
                chosen = [f"centroid_blend {beta:g}", f"temperature {temperature:.3g}"]
                if metric != "cosine":
                    chosen.append(f"{metric} centroids")
                if self.noise_ == "uniform" and self.noise == "adversarial":
                    chosen.append("uniform noise (its pilot won)")
                elif flatter:
                    chosen.append("the tree at half its temperature (its pilot won)")
                if lr_factor != 1.0:
                    chosen.append(f"learning rate x{lr_factor:g}")
                if n_negatives is not None:
                    chosen.append(f"{n_negatives} negatives")
                if weighting is not None:
                    chosen.append(f"label_weighting {self.label_weighting_!r}")
                print(f"Automatic settings: {', '.join(chosen)}; chosen in {choice_seconds:.2f} s", flush=True)
        return X, val, rows, split, blend

    def _restart(self, X, rows: Rows, split, tree, noise=None) -> Rows:
        """The new model started again (``_fit.restart``) with the noise ``tree`` (``noise_`` then
        ``noise``, if given) and the negatives of ``n_negatives_``; its training rows."""
        codes, weight = rows.codes, rows.sample_weight.astype(np.float64)
        start = restart(self._params(), tree, X, codes, weight, split, self.coef_, self._adagrad_state, self._rng)
        self.tree_ = start.tree
        if noise is not None:
            self.noise_ = noise
        self._shared_coef, self.coef_, self._adagrad_state = start.shared_coef, start.coef, start.adagrad_state
        self.intercept_, self.init_scale_ = start.intercept, start.init_scale
        self._weight_bound = (float(np.abs(self.intercept_).max()), 0)  # see check_finite_model
        return self._rows(X, codes, weight)

    def _parts_before_training(self, X, rows: Rows, blend, threshold: float):
        """The blend's term (:func:`~skxc._blend.blend_term`, as :meth:`_add_blend` computes it) before a new fit's
        training, where its sparse weights may train in a dense buffer and the blend and pruning follow
        (``PRUNE_IN_BUFFER``): ``_buffer_then`` tells the buffer's conversion the term and the pruning threshold
        (:meth:`_from_buffer`). None (nothing set) otherwise. The term is then held while the model trains: at
        most one float32 weight and index per stored entry of the class centroids."""
        if not (PRUNE_IN_BUFFER and blend is not None and threshold > 0 and has_sparse_weights(self.__dict__)):
            return None
        beta, _, _, metric = blend  # (beta, T, top-label map, centroid rule) of _fit_start
        if beta <= 0 or not sp.issparse(X):
            return None
        parts = self._blend_term(X, rows, beta, metric)
        term = parts["term"]
        if sp.issparse(term) and term.has_canonical_format and term.dtype == FLOAT:
            self._buffer_then = (term, float(threshold))
        return parts

    def _blend_term(self, X, rows: Rows, beta: float, metric="cosine") -> dict:
        """:func:`~skxc._blend.blend_term` of the training rows ``rows`` at ``beta`` with the rule ``metric``."""
        example_row = rows.example_row if rows.example_row.shape[0] else None  # multi-label: example rows
        return blend_term(
            X, rows.codes, rows.sample_weight.astype(np.float64), len(self.intercept_), beta, example_row, metric
        )

    def _add_blend(
        self, X, rows: Rows, beta: float, temperature: float, top_map=None, metric="cosine", parts=None
    ) -> None:
        """Fold ``beta`` times the centroid scores (of the rule ``metric``, "cosine" or "euclidean") into the trained
        model (skxc/_blend.py); set the temperature and the top-label calibration ``top_map`` (slope, offset; None:
        the identity). ``parts``: the term computed already (:meth:`_parts_before_training`), else None.
        The term's parts are kept (``_blend_parts``): further training (``warm_start``, ``partial_fit``) takes
        them out first and adds them back after (:meth:`_train`)."""
        if beta > 0:
            if not rows.example_row.shape[0]:
                _warn_rowless_classes(rows, len(self.intercept_), beta)
            if parts is None:
                parts = self._blend_term(X, rows, beta, metric)
            self._fold_blend(parts, 1.0)
            self._blend_parts = parts
        self.centroid_blend_, self.score_temperature_ = float(beta), float(temperature)
        self.centroid_metric_ = metric if beta > 0 else "cosine"
        self.top_label_calibration_ = np.array(IDENTITY_MAP if top_map is None else top_map, dtype=np.float64)

    def _fold_blend(self, parts: dict, sign: float) -> None:
        """Add (``sign`` 1) or take out (-1) the blend's term ``parts`` (:func:`~skxc._blend.blend_term`)."""
        shared = getattr(self, "_shared_coef", None)
        self.intercept_ = writeable(self.intercept_)
        coef, self._adagrad_state, shared = blended(
            self.coef_, self.intercept_, self._adagrad_state, shared, parts, sign
        )
        self.coef_ = coef
        if sp.issparse(coef):
            self._shared_coef = shared

    def _prepare_fit(self, X, y, classes, sample_weight, rng, warm, multilabel, on_split=None):
        """Labels, early-stopping split, initialisation (unless warm) and kernel rows of ``fit``.

        Returns ``(X, val, rows, split)``: ``split`` the calibration split of a new model (or None);
        multi-label ``y`` is a CSR indicator matrix.
        """
        codes = None if multilabel else encode_labels(classes, y, "y")
        val = None
        if self.early_stopping:
            X, y, codes, sample_weight, val = holdout(
                X, y, codes, sample_weight, self.validation_fraction, rng, multilabel
            )
        Y = y if multilabel else None
        if multilabel:
            cardinality = label_cardinality(Y, sample_weight)
            by_row = self._by_row(continued=warm, cardinality=cardinality)
            codes, pair_weight, example_row = label_examples(y, sample_weight, require_labels=True, by_row=by_row)
        else:
            pair_weight, example_row = sample_weight, None
        self.classes_ = classes
        self._set_kind(multilabel)
        split = None
        if multilabel:  # of the rows this fit trains on, also for a warm start (predict's threshold)
            self.label_cardinality_ = cardinality
            self.label_weighting_ = "rows" if by_row else "pairs"  # "auto": the pilots may choose "rows"
        if not warm:
            split = self._initialize(X, codes, pair_weight, rng, example_row, on_split)
        else:  # a warm start of a streamed model: its start follows these rows too
            self._convert_adagrad()
            self._start_follows(X, codes, pair_weight, example_row)
        return X, val, self._rows(X, codes, pair_weight, example_row, Y), split

    def _convert_adagrad(self) -> None:
        """The Adagrad state converted to the kind ``adagrad`` asks for (``AdagradState.converted``), if it differs.

        Called before a training call changes anything (a warm start, a later ``partial_fit``), so that the
        memory check of a full state stops the call with the model as it was. A kept table of sparse weights
        holds the sums of the old kind (a full state's per weight, a factored one's none): the state is
        converted from coef_ as CSR (built from the table, with its sums), and training builds a table of the
        new kind from coef_ and the converted sums.
        """
        kind = adagrad_kind(self.adagrad, self.noise)
        if self._adagrad_state.kind != kind:
            coef = self.coef_
            converted = self._adagrad_state.converted(kind, coef, type(self).__name__)
            self.coef_, self._adagrad_state = coef, converted

    def _train(
        self, rows: Rows, n_epochs: int, val=None, check_convergence=True, keep_table=False, truncate=0.0, buffer=False
    ):
        """:meth:`_train_model`; a blended model (``centroid_blend_`` > 0) trains without its beta term, which
        is taken out before and added back after (also when training stops early or fails), so that SGD
        continues the model it trained instead of fighting the term's large scores; its weights are then
        not kept in a table between ``partial_fit`` calls (the term is added to coef_). Sparse weights hold
        part of the term in their common term, so the rows' offset (made with the term in) is made again
        for the model without it. True if a Ctrl-C came after training's own handler (:meth:`_train_model`): the
        caller finishes its steps that change the model as a whole, then raises KeyboardInterrupt. ``buffer``: a new
        model's sparse weights may train in a dense buffer (:meth:`_training_setup`)."""
        if getattr(self, "noise_", self.noise) is None and has_sparse_weights(self.__dict__):
            self.densify()  # a sparsified exact-softmax model: its kernel updates every weight of a dense array
        parts = self.__dict__.get("_blend_parts")
        try:
            if parts is None or not getattr(self, "centroid_blend_", 0.0):
                return self._train_model(rows, n_epochs, val, check_convergence, keep_table, truncate, buffer)
            # the term goes out and comes back whole: a Ctrl-C during either waits for its end (a fold half done
            # would leave a model whose centroid_blend_ is not its term); during the first, nothing trains
            with deferred_interrupt() as stop:
                self._fold_blend(parts, -1.0)
                if stop.requested:
                    self._fold_blend(parts, 1.0)
            if stop.requested:  # no step ran: fit restores the estimator as it was (n_iter_ included)
                raise InterruptedBeforeTraining
            try:
                if self._sparse_weights():  # the rows' offset is x . _shared_coef, which the fold has changed
                    rows = with_shared_offset(rows, self._shared_coef)
                late = self._train_model(rows, n_epochs, val, check_convergence, False, truncate)
            except BaseException:
                with deferred_interrupt():
                    self._fold_blend(parts, 1.0)
                raise
            with deferred_interrupt() as stop:
                self._fold_blend(parts, 1.0)
            if stop.requested or late:  # the model is whole (trained, the term back): the call ends here
                raise KeyboardInterrupt
            return False
        except FloatingPointError as error:  # the weights diverged: no model to keep
            self._discard_model()
            raise FloatingPointError(
                f"{error} The weights are no longer finite, so the estimator is left unfitted (its fitted "
                f"attributes are removed; predict raises NotFittedError) rather than predicting NaN."
            ) from error

    def _discard_model(self) -> None:
        """Remove every attribute but the constructor's parameters: the estimator is unfitted again."""
        keep = set(self.get_params(deep=False))
        for name in [name for name in self.__dict__ if name not in keep]:
            del self.__dict__[name]

    def _training_setup(self, rows: Rows, n_epochs: int, val, check_convergence: bool, truncate: float, buffer=False):
        """:meth:`_train_model`'s state before its first step: ``(model, table, state, params, schedule, validate,
        progress, rows)`` (the weights or their hash table, the table or None, the Adagrad state, the kernels'
        parameters and schedule, the early-stopping scorer or None, the progress record, the rows with the
        negatives' insert mask).

        ``buffer`` (a new model of ``fit``, ``weights="auto"``): sparse weights with ``l2`` 0 (multi-label ones
        too, ``MULTILABEL_BUFFER``) train in a dense float32 array, with the common term in every class, where
        that is smaller than the table their first epoch would be given (``skxc._weights.buffer_wanted``) and fits in memory; ``_buffer_shared`` then
        holds the common term, which :meth:`_from_buffer` takes out again after training (coef_ CSR)."""
        self._convert_adagrad()
        self._adagrad_state = state = self._adagrad_state.writeable()  # read-only after joblib.load(mmap_mode="r")
        self.intercept_ = writeable(self.intercept_)
        if self.n_negatives != "auto":  # else the value resolved when the model was initialised
            self.n_negatives_ = int(self.n_negatives)
        truncating = truncate > 0 or not check_convergence
        if (
            check_convergence
            and has_sparse_weights(self.__dict__)
            and not many_rows(rows.indptr.shape[0] - 1, len(self.intercept_), rows.example_row.shape[0] > 0)
        ):  # fit on few rows per class: negatives add weights on frequent features only (negative_insert_mask)
            mask = negative_insert_mask(rows, len(self.intercept_), self.n_features_in_, self.n_negatives_, n_epochs)
            rows = replace(rows, negative_inserts=mask)
        room = None  # the first epoch's room for a new table (with the mask), if computed here
        if (
            buffer
            and self.__dict__.get("_table") is None
            and has_sparse_weights(self.__dict__)
            and self.l2 == 0
            and (rows.example_row.shape[0] == 0 or MULTILABEL_BUFFER)
        ):
            coef = self.__dict__["_coef"]
            room = first_epoch_room(coef, rows, self.n_negatives_, truncating)
            if buffer_wanted(coef, room, state.kind == "full"):
                rows = self._to_buffer(coef, rows, truncate)
        try:
            return self._setup_rest(rows, n_epochs, val, check_convergence, truncate, truncating, room, state)
        except BaseException:  # the buffer goes back to CSR before the error leaves (a Ctrl-C: fit restores all)
            self._from_buffer()
            raise

    def _to_buffer(self, coef, rows: Rows, truncate: float) -> Rows:
        """Sparse ``coef`` (and the common term) as a dense buffer in ``_coef`` (:meth:`_training_setup`); the rows
        for it (no offset: the term is in the weights; no insert mask). Unchanged if it does not fit in memory."""
        try:
            check_growth_memory(coef.shape[0] * coef.shape[1] * 4, coef.shape, coef.nnz)
            shared = self.__dict__.get("_shared_coef")
            buffered = dense_buffer(coef, shared)
        except MemoryError:  # SparseWeightsMemoryError included: the table, which grows as it fills
            return rows
        # (common term or zeros, whether there was one, the fit's pruning threshold); _coef and _shared_coef in one
        # step, after which the buffer with the term in it is a whole dense model (_from_buffer pops this first)
        self._buffer_shared = (np.zeros(coef.shape[1], dtype=FLOAT) if shared is None else shared, shared is not None,
                               float(truncate))  # fmt: skip
        self.__dict__.update(_coef=buffered, _shared_coef=None)
        return replace(rows, row_offset=np.zeros(0, dtype=np.float64), negative_inserts=rows.negative_inserts[:0])

    def _setup_rest(self, rows, n_epochs, val, check_convergence, truncate, truncating, room, state):
        """:meth:`_training_setup` from the weights' layout on."""
        # a table (new or kept) gets room for its first epoch up front: the epoch runs without a rehash
        # unless the epoch's bound exceeds both the keys stored and UPFRONT_ROOM_KEYS; a fit's table that does
        # not truncate (the pilots'), whose weights do not depend on when it grows, gets at most
        # GROWING_ROOM_KEYS (partial_fit's keeps the room: its calls' tables grow less often)
        model = training_model(
            self.__dict__,
            room=lambda coef: room if room is not None else first_epoch_room(coef, rows, self.n_negatives_, truncating),
        )
        table = model if isinstance(model, HashedWeights) else None
        if table is not None:
            table.truncate = float(truncate)
        self.learning_rate_ = self._auto_learning_rate if self.learning_rate == "auto" else float(self.learning_rate)
        # fit's first epochs may draw more negatives ("auto" on sparse rows with many rows per class)
        early = getattr(self, "_early_negatives", 0) if self.n_negatives == "auto" else 0
        params, schedule = sgd_setup(
            self._params(), self.learning_rate_, n_epochs, check_convergence, decay=check_convergence,
            n_classes=len(self.intercept_), early_negatives=early,
        )  # fmt: skip
        validate = None
        if val is not None:
            val_inputs, val_truth, val_weight = self._kernel_inputs(val[0], "fit"), val[1], val[2]  # converted once

            def validate():
                if table is not None:
                    self.__dict__["_coef"] = None  # coef_ from the table as it is now
                return top1_score(self._top_k_codes(val_inputs, 1)[0][:, 0], val_truth, val_weight)

        progress = Progress(self.n_iter_, self.t_, self.loss_curve_, self.epoch_seconds_, self.hardness_curve_,
                            self.validation_scores_, model, self.intercept_, state)  # fmt: skip
        return model, table, state, params, schedule, validate, progress, rows

    def _train_model(self, rows: Rows, n_epochs: int, val=None, check_convergence=True, keep_table=False,
                     truncate=0.0, buffer=False):  # fmt: skip
        """Run up to ``n_epochs`` epochs on ``rows``; ``val`` = (X, codes) of held-out rows for early stopping.

        Sparse weights train in a hash table: built from coef_ (or the table kept by the previous
        ``partial_fit``); ``keep_table`` keeps it for the next call, coef_ then being built on demand.
        ``truncate`` > 0: whenever the table would grow, the weights below ``truncate`` times their class's
        largest |w| are dropped first (``HashedWeights.reserve``; ``fit`` passes its pruning threshold).
        """
        # a Ctrl-C while training is set up (seconds for a large weight table) waits for the setup's end, then
        # raises InterruptedBeforeTraining: no step has run (fit restores the estimator as it was)
        try:
            with deferred_interrupt() as setup_stop:
                setup = self._training_setup(rows, n_epochs, val, check_convergence, truncate, buffer)
        except KeyboardInterrupt:  # a second Ctrl-C, raised at once: still before the first step
            raise InterruptedBeforeTraining from None
        if setup_stop.requested:
            raise InterruptedBeforeTraining
        model, table, state, params, schedule, validate, progress, rows = setup
        # a Ctrl-C after training's own handler (below: the bookkeeping, coef_ made from the table, the finite
        # check) waits for their end; the caller raises KeyboardInterrupt once the model is whole (True returned)
        with deferred_interrupt() as late:
            try:
                start_score = None
                # a Ctrl-C from here stops training at its next piece boundary (none yet while the start is scored)
                with deferred_interrupt() as stop:
                    if validate is not None:  # the model before this call's first epoch competes too (epoch 0): for
                        start_score = validate()  # the model kept and for the stopping rule, which counts from it
                        progress.offer_start(start_score)
                    run_epochs(model, self.intercept_, state, params, rows, self.tree_.arrays, self._rng, schedule,
                               progress.record, validate, stop, progress.stopped, start_score)  # fmt: skip
                if val is not None:
                    progress.keep_best()
            except KeyboardInterrupt:  # a second Ctrl-C, raised at once: the weights hold what has trained so far
                progress.interrupted = True  # (n_iter_, t_ count what was recorded: the epoch in progress is not)
                raise
            finally:
                self.n_iter_, self.t_, self.interrupted_ = progress.n_iter, progress.t, progress.interrupted
                if progress.best_iteration is not None:
                    self.best_iteration_ = progress.best_iteration
                else:  # a call without early stopping: no best epoch (not the one of an earlier call)
                    self.__dict__.pop("best_iteration_", None)
                if table is not None:  # coef_ is stale; back to CSR now unless the table is kept
                    table.truncate = 0.0
                    self.__dict__["_coef"] = None
                    if not keep_table:
                        self.coef_ = self.coef_
                error = sys.exc_info()[1]
                self._from_buffer(convert=not isinstance(error, FloatingPointError), complete=error is None)
            bound = getattr(self, "_weight_bound", (np.inf, 0))
            weights = table.vals if table is not None and keep_table else self.coef_
            self._weight_bound = check_finite_model(
                weights, self.intercept_, bound, self.t_, schedule.most_negatives(params)
            )
        return late.requested

    def _from_buffer(self, convert: bool = True, complete: bool = False) -> None:
        """Sparse weights trained in a dense buffer (:meth:`_training_setup`) back to CSR coef_ and their common
        term (``_shared_coef``, None if there was none); nothing otherwise. Also where training stopped early or
        failed. Until the CSR is whole, and where ``convert`` is False (weights that diverged, which the caller
        discards) or the CSR does not fit in memory, the buffer stays a dense model with the term in its weights:
        a Ctrl-C at any point leaves a whole model. ``complete``: training ended without an error (``fit`` goes on
        to the blend and the pruning): only then are the weights those two steps drop left out of the CSR now
        (``_buffer_then``, :meth:`_parts_before_training`)."""
        held = self.__dict__.pop("_buffer_shared", None)
        then = self.__dict__.pop("_buffer_then", None)  # (term, threshold) of the blend and pruning to come
        if held is None or not convert:
            return
        shared, had_shared, threshold = held
        then = then if complete else None  # training ended without an error: fit goes on to the blend and pruning
        try:
            coef = from_dense_buffer(self.__dict__["_coef"], shared, threshold, then, n_threads(self.n_jobs))
        except MemoryError:
            return
        self.__dict__.update(_coef=coef, _shared_coef=shared if had_shared else None)

    def _by_row(self, continued: bool, cardinality: float = 1.0) -> bool:
        """Whether a multi-label call's examples share their rows' weights (``label_weighting="rows"``), "auto"
        following the fitted ``label_weighting_`` where the call ``continued`` a model (a warm start, a later
        ``partial_fit``), and for a new model "rows" where its rows' ``cardinality`` (their weighted mean number of
        labels) is at least ``ROWS_CARDINALITY``; else a new model's pilots may choose "rows" later
        (:meth:`_fit_start`)."""
        if self.label_weighting != "auto":
            return self.label_weighting == "rows"
        if continued:
            return getattr(self, "label_weighting_", "pairs") == "rows"
        return ROWS_CARDINALITY is not None and cardinality >= ROWS_CARDINALITY

    def _fit_noise(self, X, y, classes, sample_weight):
        """``fit_noise``: the tree and the model's start, no training."""
        # validation sets n_features_in_: an error or Ctrl-C restores every attribute (a first call leaves none)
        with intact_on_error(self.__dict__):
            X, y, sample_weight, multilabel = self._targets(X, y, sample_weight, reset=True)
            fixed_by = None if classes is None else "The classes are the `classes` argument of fit_noise."
            if multilabel:
                classes = label_columns(y, classes)
            else:
                classes = unique_labels(y, "y") if classes is None else unique_labels(classes, "classes")
            if len(classes) < 2:
                raise ValueError(f"classes must contain at least 2 classes; got {classes.tolist()!r}.")
            X, y, sample_weight = present_rows(X, y, sample_weight, multilabel)  # weight 0: as if absent
            if multilabel:
                cardinality = label_cardinality(y, sample_weight)
                by_row = self._by_row(continued=False, cardinality=cardinality)
                codes, pair_weight, example_row = label_examples(y, sample_weight, require_labels=True, by_row=by_row)
            else:
                codes, pair_weight, example_row = encode_labels(classes, y, "y", fixed_by), sample_weight, None
            if multilabel:
                self.label_cardinality_ = cardinality
                self.label_weighting_ = "rows" if by_row else "pairs"
            _warn_unseen_classes(codes, len(classes), self.noise, "fit_noise")
            self.classes_ = classes
            self._set_kind(multilabel)
            self._initialize(X, codes, pair_weight, seed_rng(self.random_state), example_row, keep_sums=True)
        return self

    def _set_kind(self, multilabel: bool) -> None:
        """Record single- or multi-label training; ``label_cardinality_`` and ``label_weighting_`` exist for
        multi-label models only (a refit on 1-D y removes those of an earlier multi-label fit)."""
        self._multilabel = multilabel
        if not multilabel:
            for name in ("label_cardinality_", "label_weighting_"):
                self.__dict__.pop(name, None)

    @property
    def _is_multilabel(self) -> bool:
        return getattr(self, "_multilabel", False)

    def _start_follows(self, X, codes, sample_weight, example_row=None) -> None:
        """A model started by ``fit_noise`` or a first ``partial_fit`` (init="centroid"): move each
        class's start ``init_scale_ x unit(sum of its L2-normalised rows)`` to include its rows here, before
        they train, as ``fit``'s start includes all of a class's rows; a class without rows so far gets its
        start; a class with ``START_FOLLOW_ROWS`` rows or more keeps the start it has.

        The start is part of the weights (SGD's steps are added to it), so the move is added to coef_ (and
        the common term, minus its mean over the classes, as the start writes it). Cost: the class sums
        (about one entry per (class, feature) pair of the rows so far) and, for sparse X, a pass over the rows
        of the classes the batch moves (a :class:`~skxc._stream_sums.StreamSums`, not all the sums per call).
        Without it a stream keeps the start of its first rows, and classes absent from them start at zero
        weights (docs/benchmarks.rst, "Streaming: the start follows the rows"). A model whose first call had
        too few rows for a start chooses it here later (:meth:`_late_start`), and the scale is chosen again
        as the rows grow (:meth:`_rechoose_scale`).
        """
        sums = self.__dict__.get("_start_sums")
        if sums is None or not STREAM_START_FOLLOWS:
            return
        if sp.issparse(sums):  # a CSR, as models pickled before StreamSums keep it: the same sums, updated in place
            sums = self._start_sums = StreamSums(sums)
        elif not isinstance(sums, StreamSums):  # dense sums, updated in place: read-only when loaded with mmap_mode="r"
            sums = self._start_sums = writeable(sums)
        # the rows in the layout of the sums kept so far: CSR for sparse sums (rows summed as they are), dense
        # for dense ones (rows minus the centre); a stream may mix dense and sparse batches
        sparse = isinstance(sums, StreamSums)
        if sparse and not sp.issparse(X):
            X = sp.csr_matrix(X)
        elif not sparse and sp.issparse(X):
            X = X.toarray()
        with deferred_interrupt() as stop:  # Ctrl-C: the sums and the weights move together, or neither
            if not self._start_chosen:
                self._late_start(sums, X, codes, sample_weight, example_row)
            else:
                if self._start_seen >= RECHOOSE_GROWTH * self._start_chosen:
                    self._rechoose_scale(sums, X, codes, sample_weight, example_row)
                self._move_start(sums, X, codes, sample_weight, example_row)
        if stop.requested:  # the start has moved, the batch has not trained
            raise KeyboardInterrupt

    def _late_start(self, sums, X, codes, sample_weight, example_row) -> None:
        """The centroid start of a stream whose first call (``fit_noise`` or ``partial_fit``) had too few rows to
        hold out some for it: once the rows arrived so far number ``LATE_START_ROWS``, the rows of classes seen
        before (weight > 0) are held out (the centroids of the rows before them score them, as ``fit``'s
        calibration rows), and once ``MIN_CALIBRATION_ROWS`` of them are held out they choose the scale s (Eq. 6
        with the tree's negatives, :func:`~skxc._start.choose_centroid_start`); ``s x unit(sums)`` (centred) is
        added to the weights trained so far, the held-out rows join the sums and move the start, and the start
        follows the stream from here (:meth:`_move_start`). A call with fewer such rows than needed keeps them
        aside, out of the sums (``_start_pending``: copies of their rows of X in the sums' layout, multi-label
        one per example, their codes and weights), until later calls bring the rest; so batches of any size
        choose the start (before, one call had to bring ``MIN_CALIBRATION_ROWS`` of them). Until then the
        other rows join the sums; s = 0 (no start beats none on these rows) ends the following."""
        n_classes = len(self.classes_)
        weight = np.asarray(sample_weight, dtype=np.float64)
        enough = self._start_seen >= LATE_START_ROWS
        known = np.flatnonzero((self._start_rows[codes] > 0) & (weight > 0)) if enough else np.empty(0, np.int64)
        pending = self.__dict__.get("_start_pending")  # held-out rows of earlier calls (enough rows), or None
        n_pending = 0 if pending is None else pending[1].shape[0]
        if known.size + n_pending < MIN_CALIBRATION_ROWS:
            # this call's known rows, if any, are held out too: the other rows join the sums
            rest = None if known.size == 0 else np.setdiff1d(np.arange(codes.shape[0]), known)
            # computed before anything changes: an error leaves the stream (and the held-out rows) as it was
            batch = batch_sums(X, codes, n_classes, weight, self._start_centre, example_row, rest)
            if rest is None:
                rows = np.bincount(codes, weights=weight, minlength=n_classes)
            else:
                rows = np.bincount(codes[rest], weights=weight[rest], minlength=n_classes)
                pending = self._pending_rows(pending, X, codes, weight, example_row, known)
            if isinstance(sums, StreamSums):  # in place, in the cost of the classes the batch touches
                sums.add(batch)
            else:  # dense: the present classes' rows, in place
                present, batch = batch
                sums[present] += batch
            self._start_rows = self._start_rows + rows
            self._start_seen += X.shape[0]  # the rows arrived: summed, or held out until the start is chosen
            if rest is not None:
                self._start_pending = pending
            return
        if pending is None:  # this call's rows suffice
            scale = self._held_out_scale(sums, X, codes, known, example_row)
        else:  # the rows held out before and this call's (as many as are scored: a warm fit's X may be large)
            scored = known[: max(MAX_SCALE_ROWS - n_pending, 0)]
            X_held, codes_held, _ = self._pending_rows(pending, X, codes, weight, example_row, scored)
            scale = self._held_out_scale(sums, X_held, codes_held, np.arange(codes_held.shape[0]), None)
        if scale <= 0:  # the zero start stays, as fit's calibration would leave it
            for name in ("_start_sums", "_start_centre", "_start_rows", "_start_seen", "_start_chosen"):
                del self.__dict__[name]
            self.__dict__.pop("_start_pending", None)
            return
        self.init_scale_, self._start_chosen = scale, self._start_seen
        classes = np.flatnonzero(self._start_rows > 0)
        self._add_to_start(classes, class_starts(sums, classes, scale))
        if pending is not None:  # the rows held out before join the sums first (counted when they arrived)
            seen = self._start_seen
            self._move_start(sums, *pending, None)
            self._start_seen = seen
            del self._start_pending
            sums = self._start_sums
        self._move_start(sums, X, codes, sample_weight, example_row)

    @staticmethod
    def _pending_rows(pending, X, codes, weight, example_row, held):
        """``(X_held, codes_held, weight_held)``: the rows ``pending`` held out before (or None) followed by the
        examples ``held`` of this call, copied (rows of X in its layout, CSR when sparse; multi-label one row
        per example); float64 weights."""
        X_new = X[held if example_row is None else np.asarray(example_row)[held]]
        X_new = sp.csr_matrix(X_new) if sp.issparse(X_new) else np.array(X_new)
        codes_new, weight_new = np.array(codes[held]), np.array(weight[held], dtype=np.float64)
        if pending is None:
            return X_new, codes_new, weight_new
        X_old, codes_old, weight_old = pending
        stacked = sp.vstack([X_old, X_new], format="csr") if sp.issparse(X_new) else np.vstack([X_old, X_new])
        return stacked, np.concatenate([codes_old, codes_new]), np.concatenate([weight_old, weight_new])

    def _held_out_scale(self, sums, X, codes, held, example_row) -> float:
        """The start's scale chosen on the examples ``held`` of X (this call's, or the rows :meth:`_late_start`
        held out over several calls; at most ``MAX_SCALE_ROWS``) against the centroids of ``sums``
        (:func:`~skxc._start.held_out_start`; its bias is not used: the intercepts train)."""
        held = held[:MAX_SCALE_ROWS]
        sums = sums.tocsr() if isinstance(sums, StreamSums) else sums  # all classes' centroids score the rows
        X_held = X[held if example_row is None else example_row[held]]
        scale, _ = held_out_start(
            X_held, codes[held], sums, self._start_centre, self.tree_, self._params()["n_negatives"],
            self.alpha, self._rng, rms_row_norm(X if example_row is None else X[example_row]),
        )  # fmt: skip
        return scale

    def _rechoose_scale(self, sums, X, codes, sample_weight, example_row) -> None:
        """Choose the start's scale again once the rows summed have grown ``RECHOOSE_GROWTH``-fold since it was
        chosen: on this call's rows of the classes that still follow (fewer than ``START_FOLLOW_ROWS`` rows, at
        least one), held out against the centroids of the rows before them, as :meth:`_late_start` chooses it.
        Centroids of more rows score held-out rows more reliably and earn a larger scale (a scale chosen on a
        sample of a few rows per class is too small for the stream's later centroids: docs/benchmarks.rst,
        "Streaming: a start chosen later"). The following classes' starts move to the new scale; a choice of
        0 keeps the scale there is."""
        followed = (self._start_rows > 0) & (self._start_rows < START_FOLLOW_ROWS)
        held = np.flatnonzero(followed[codes] & (np.asarray(sample_weight) > 0))
        if held.size < MIN_CALIBRATION_ROWS:
            return
        scale, old = self._held_out_scale(sums, X, codes, held, example_row), float(self.init_scale_)
        self._start_chosen = self._start_seen
        if scale <= 0 or scale == old:
            return
        classes = np.flatnonzero(followed)
        self._add_to_start(classes, class_starts(sums, classes, scale - old))
        self.init_scale_ = scale

    def _move_start(self, sums, X, codes, sample_weight, example_row) -> None:
        """:meth:`_start_follows`'s move."""
        n_classes = len(self.classes_)
        weight = np.asarray(sample_weight, dtype=np.float64)
        followed = self._start_rows < START_FOLLOW_ROWS  # classes of fewer rows so far
        examples = np.flatnonzero(followed[codes] & (weight > 0))
        batch = None
        if examples.size > 0:  # computed before any count changes: an error leaves the stream as it was
            batch = batch_sums(X, codes, n_classes, weight, self.__dict__.get("_start_centre"), example_row, examples)
        self._start_rows = self._start_rows + np.bincount(codes, weights=weight, minlength=n_classes)
        self._start_seen += X.shape[0]
        if batch is None:
            return
        classes, change, self._start_sums = start_change(sums, batch, float(self.init_scale_))
        if classes.size == 0:
            return
        self._add_to_start(classes, change)

    def _add_to_start(self, classes, change) -> None:
        """Add ``change`` (float64 rows, CSR for sparse X, of the classes ``classes``) to those classes' starts,
        minus its mean over all classes, as the start writes it (:func:`~skxc._start.add_centred`; sparse
        weights: the stored weights and the common term)."""
        n_classes = len(self.classes_)
        centre = self.__dict__.get("_start_centre")
        mean = np.asarray(change.sum(axis=0), dtype=np.float64).ravel() / n_classes
        if self._sparse_weights():  # stored weights + the common term, as sparse_centred writes the start
            counts = np.zeros(n_classes, dtype=np.int64)
            counts[classes] = np.diff(change.indptr)
            indptr = np.concatenate([[0], np.cumsum(counts)])
            full = sp.csr_matrix((change.data, change.indices, indptr), shape=(n_classes, change.shape[1]))
            full.has_canonical_format = change.has_canonical_format  # the same rows, placed: no re-sorting
            table = training_model(self.__dict__, room=lambda weights: 0)  # the kept table, or one from coef_
            table.add_csr(full)
            shared = self.__dict__.get("_shared_coef")
            self._shared_coef = (-mean if shared is None else shared - mean).astype(FLOAT)
            return
        coef, intercept = writeable(self.coef_), writeable(self.intercept_)
        if sp.issparse(change):  # sparse X: only the entries of the moved sums, and the features they touch
            if not change.has_canonical_format:  # distinct (class, feature) pairs for add_entries
                change = change.copy()
                change.sum_duplicates()
            entries = change.tocoo()
            add_entries(coef, classes[entries.row], entries.col, entries.data.astype(FLOAT))
            touched = np.flatnonzero(mean)
            # in blocks of columns: coef[:, touched] at once is a copy of every class's touched weights (all of
            # coef_ for a batch that touches every feature), which the memory guard does not count
            step = max(1, ADD_BLOCK_WEIGHTS // max(n_classes, 1))
            for lo in range(0, touched.size, step):
                cols = touched[lo : lo + step]
                coef[:, cols] -= mean[cols].astype(FLOAT)
        else:
            coef[classes] += change.astype(FLOAT)
            coef -= mean.astype(FLOAT)[None, :]
        if centre is not None:  # dense X: the centre moves into the biases, as in add_centred
            intercept[classes] -= (change @ centre).astype(FLOAT)
            intercept += FLOAT(mean @ centre)
        self.coef_, self.intercept_ = coef, intercept

    def _partial_fit(self, X, y, classes, sample_weight):
        """``partial_fit``: the first call initialises (tree fitted on this batch), each call trains one epoch."""
        first = "_coef" not in self.__dict__  # not hasattr(self, "coef_"): that would build coef_ from a kept table
        multilabel = is_multilabel(y)
        if not first and multilabel != getattr(self, "_multilabel", False):
            before, now = ("a label indicator matrix", "1-D labels") if not multilabel else ("1-D labels", "a 2-D y")
            raise ValueError(
                f"The model was initialised on {before} (by fit, fit_noise or the first partial_fit call) and "
                f"partial_fit now gets {now}: single-label and multi-label training cannot be mixed in one model."
            )
        if not first:
            check_same_noise(self.noise, self.noise_, "partial_fit")
        if first and classes is None and not multilabel:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        # a first call's validation sets n_features_in_: an error or Ctrl-C before it trains leaves no attribute
        before = dict(self.__dict__) if first else None
        with intact_on_error(self.__dict__) if first else nullcontext():
            rows = self._rows(*self._partial_fit_start(X, y, classes, sample_weight, first))
        try:
            late = self._train(rows, 1, check_convergence=False, keep_table=True)
        except InterruptedBeforeTraining:  # Ctrl-C while training was set up: no step ran
            if not first:
                raise
            self.__dict__.clear()  # a first call leaves the estimator as it was (unfitted), as fit does
            self.__dict__.update(before)
            raise KeyboardInterrupt from None
        if late:  # a Ctrl-C after training: the model is whole
            raise KeyboardInterrupt
        return self

    def _partial_fit_start(self, X, y, classes, sample_weight, first: bool):
        """``partial_fit`` up to training: validation, and the new model (``first``) or the start following the
        rows (:meth:`_start_follows`). The arguments of :meth:`_rows`."""
        X, y, sample_weight, multilabel = self._targets(X, y, sample_weight, reset=first)
        if multilabel:  # rows of weight 0 go, as if absent (single-label: once their labels are checked); a first
            # call's tree and label_cardinality_ need labels of rows of positive weight
            X, y, sample_weight = present_rows(X, y, sample_weight, True, require_labels=first)
        if multilabel:
            if first:
                classes = label_columns(y, classes)
            else:
                if y.shape[1] != len(self.classes_):
                    raise ValueError(
                        f"y has {y.shape[1]} label columns but the model was trained with {len(self.classes_)}."
                    )
                label_columns(y, self.classes_ if classes is None else classes)
            # the first batch's labels per row: the model's label_cardinality_, which decides "auto" (later batches
            # follow the fitted choice, and their pairs weigh label_cardinality_ / |Y_i|, not the batch's own mean)
            cardinality = label_cardinality(y, sample_weight) if first else self.label_cardinality_
            by_row = self._by_row(continued=not first, cardinality=cardinality)
            codes, pair_weight, example_row = label_examples(y, sample_weight, by_row=by_row, cardinality=cardinality)
            if first:
                _warn_unseen_classes(codes, len(classes), self.noise, "partial_fit")
                self.classes_ = classes
                self._set_kind(True)
                self.label_cardinality_ = cardinality
                self.label_weighting_ = "rows" if by_row else "pairs"
                self._initialize(X, codes, pair_weight, seed_rng(self.random_state), example_row, keep_sums=True)
            else:
                self._convert_adagrad()
                self._start_follows(X, codes, pair_weight, example_row)
                self.label_weighting_ = "rows" if by_row else "pairs"  # this call's (an explicit parameter wins)
            return X, codes, pair_weight, example_row, y
        if first:
            classes = unique_labels(classes, "classes")
            if len(classes) < 2:
                raise ValueError(f"classes must contain at least 2 classes; got {classes.tolist()!r}.")
            codes = encode_labels(classes, y, "y", classes_fixed_by(self.noise, first_call=True))
            _check_partial_fit_first_call(self, classes)
            X, codes, sample_weight = positive_rows(X, codes, sample_weight)
            _warn_unseen_classes(codes, len(classes), self.noise, "partial_fit")
            self._set_kind(False)
            self._initialize(X, codes, sample_weight, seed_rng(self.random_state), keep_sums=True)
        else:
            _check_partial_fit_first_call(self, classes)
            codes = encode_labels(self.classes_, y, "y", classes_fixed_by(self.noise, first_call=False))
            X, codes, sample_weight = positive_rows(X, codes, sample_weight)
            self._convert_adagrad()
            self._start_follows(X, codes, sample_weight)
        return X, codes, sample_weight
