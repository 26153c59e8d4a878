"""The scikit-learn estimator: parameters, validation, labels, fitted attributes.

The work is done below it: ``_fit.py`` initialises a model (noise tree from
``_tree.py``, centroid start from ``_start.py``) and prepares the training
rows, ``_solver.py`` runs the epochs, ``_state.py`` holds the Adagrad state,
``_model.py`` keeps ``coef_`` (and sparse weights' training table) and
``_predict.py`` computes scores and the top-k; no kernel is imported here.
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import _check_partial_fit_first_call
from sklearn.utils.validation import check_is_fitted, validate_data

from ._blend import blended, chosen_for
from ._fit import (
    Progress,
    adagrad_kind,
    holdout,
    initialize,
    resolve_max_iter,
    sgd_setup,
    top1_score,
    training_rows,
)
from ._model import (
    drop_coef,
    has_sparse_weights,
    intact_on_error,
    loaded_state,
    pickled_state,
    read_coef,
    training_model,
    write_coef,
)
from ._multilabel import (
    check_indicator,
    hits_at_1,
    is_multilabel,
    label_cardinality,
    label_columns,
    label_examples,
    label_sets,
)
from ._noise import frozen_classes
from ._parallel import deferred_interrupt, n_threads, seed_rng
from ._predict import all_classes, class_blocks, log_noise_of, log_normalizers, top_k
from ._solver import Rows, check_finite_model, run_epochs
from ._state import writeable
from ._validation import (
    canonical_csr,
    check_model_memory,
    encode_labels,
    kernel_rows,
    unique_labels,
    validate_training_data,
)
from ._weights import HashedWeights, densified, pruned, scoring_weights, sparsified

#: ``weights="auto"``: sparse weights for sparse X once dense float32 weights would take this many bytes.
AUTO_SPARSE_BYTES = 2**28
#: ``weight_threshold="auto"`` for sparse weights (dense ones are not pruned).
AUTO_WEIGHT_THRESHOLD = 0.01


class AdversarialSoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """Softmax classifier for many classes, trained by adversarial negative sampling.

    Implements Bamler & Mandt (ICLR 2020): (1) fit an auxiliary probabilistic
    binary tree p_n(y|x) over the classes on a low-dimensional projection of x;
    (2) train a linear model xi_y(x) = coef_[y] @ x + intercept_[y] by negative
    sampling with negatives drawn from the tree, minimising the regularised
    loss of the paper's Eq. 6 with Adagrad; (3) at prediction, remove the
    sampling bias: the softmax over all classes of xi_y(x) + log p_n(y|x)
    estimates p(y|x). The parameters in detail: :ref:`parameter-details`.

    Parameters
    ----------
    noise : {"adversarial", "uniform", "frequency"}, FrozenEstimator or None, default="adversarial"
        Distribution of the negatives: "adversarial", the fitted conditional
        tree (the paper's method); "uniform", all classes equally likely;
        "frequency", the training label frequencies (add-one smoothed); None,
        no sampling but the exact softmax gradient over all classes (the
        reference for small C; ``n_negatives`` is ignored);
        ``sklearn.frozen.FrozenEstimator(tree)`` around a fitted
        :class:`AuxiliaryTree`: that tree, used as is and never refitted
        (:ref:`param-noise`). The bias removal uses the same distribution, so
        all of them estimate the same softmax model.

    n_negatives : int >= 1, default=2
        Negatives drawn per positive example, each with its own loss term.
        More train better per epoch and cost about one more tree walk and row
        update each (:ref:`param-noise`, :ref:`benchmarks-defaults`).

    learning_rate : float > 0 or "auto", default="auto"
        Adagrad step size ρ. ``"auto"``: ρ = 1 / sqrt(1 + mean ||x||^2) over
        the rows given to the call that initialises the model (multi-label:
        over the (row, label) examples, divided by
        sqrt(``label_cardinality_``)); the value used is ``learning_rate_``.
        Too large a value does not diverge visibly (:ref:`param-learning-rate`).

    learning_rate_schedule : {"linear", "constant"}, default="linear"
        How the step size moves during ``fit``. "linear": from ρ at the first
        example down to 0 after the last example of epoch ``max_iter``
        (linearly in the number of examples seen, as fastText does), so the
        last epochs average out the noise of the early steps; training
        stopped early ends where the schedule then is. "constant": ρ
        throughout. ``partial_fit`` always steps with ρ (it does not know how
        much training follows); a warm start runs the schedule again over its
        own ``max_iter`` epochs (:ref:`param-learning-rate`).

    alpha : float >= 0, default=3e-3
        Strength λ of the regulariser λ (xi_y + log p_n(y|x))^2 of Eq. 6,
        which keeps the bias-corrected scores small; 0 turns it off.

    l2 : float >= 0, default=0.0
        L2 penalty on the weights (not the intercepts) that each step
        touches: a step adds ``l2 * w`` to the gradient of each weight it
        updates (:ref:`param-l2`).

    adagrad : {"auto", "factored", "full"}, default="auto"
        How Adagrad keeps each weight's sum of squared gradients: "full", per
        weight (a float32 array as large as ``coef_``, the paper's setting);
        "factored", only its sums per class, per feature and in total
        (C + n_features + 1 float64 numbers); "auto", "factored" for negative
        sampling and "full" for ``noise=None`` (:ref:`param-adagrad`).

    max_iter : int >= 1 or "auto", default="auto"
        Maximum number of epochs (passes over the training data) in ``fit``.
        "auto": 10 for at most 50,000 training examples (rows; for
        multi-label Y, (row, label) pairs), 5 above (the epochs of small sets
        are cheap; :ref:`benchmarks-schedule`).

    tol : float or None, default=None
        Stopping tolerance: training stops when the monitored quantity (training
        loss, or validation accuracy with ``early_stopping``) has not improved by
        at least ``tol`` for ``n_iter_no_change`` consecutive epochs, and a
        ``ConvergenceWarning`` is raised if ``max_iter`` epochs end before that.
        None runs exactly ``max_iter`` epochs, as fastText does.

    n_iter_no_change : int >= 1, default=3
        Epochs without improvement before stopping.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows, monitor their
        top-1 accuracy before the first epoch and after each one, stop when
        it has not improved by ``tol`` (0 when None) for ``n_iter_no_change``
        epochs and end with the model where it was best
        (``best_iteration_``; :ref:`param-early-stopping`).

    validation_fraction : float in (0, 1), default=0.1
        Fraction of rows held out when ``early_stopping`` is True.

    shuffle : bool, default=True
        Visit the rows in a fresh random order each epoch.

    n_components : int >= 0, default=16
        Dimension k of the projection the tree is fitted on ("adversarial"
        only); 0 gives an unconditional tree (class frequencies).

    tree_alpha : float >= 0, default=10.0
        L2 regularisation λ_n of the tree's node splits ("adversarial" only;
        the paper's 0.1 makes the tree over-confident about rare classes:
        :ref:`benchmarks-defaults`).

    tree_temperature : float > 0 or "auto", default="auto"
        Temperature of the tree's splits ("adversarial" only; see
        :class:`AuxiliaryTree`): every split's logit is multiplied by it.
        ``"auto"`` chooses it in [1/32, 1] by the log-likelihood of the tree
        on the rows held out for calibration (:ref:`param-init`), then halves
        it if the centroid blend's pilot does better with the flatter tree
        (``centroid_blend``).

    init : {"centroid", "zeros"}, default="centroid"
        Where the weights start. "centroid": class c's weights at s times the
        unit-length mean of its L2-normalised rows, with s (``init_scale_``)
        chosen on held-out rows, s = 0 being a candidate; "zeros": all weights
        0, i.e. p(y|x) = p_n(y|x) (the paper's start). Calibration holds out
        10 % of the rows (at most 10,000); with fewer than 1,000 rows the
        temperature is 1 and the weights start at 0 (:ref:`param-init`).

    centroid_blend : float >= 0 or "auto", default="auto"
        Weight beta of a nearest-centroid term added to the scores after
        training: class c's score gains beta (x - centre).mu_c / r, with mu_c
        the unit-length mean of the class's L2-normalised rows (as for
        ``init``) and r the RMS row norm. It helps where classes have few
        rows. ``"auto"`` chooses beta in {0, 1, 4, ..., 4096}, together with
        the temperature ``score_temperature_`` of the probabilities, by the
        log-likelihood of the rows held out for calibration under a pilot
        model trained on the other rows for 30 % of the epochs (a second
        pilot tries the tree at half its temperature, with
        ``tree_temperature="auto"``); it does so for single-label
        data with negative sampling, at most 50 rows per class and at least
        1,000 rows, and otherwise means 0. A number: that beta, temperature 1.
        0 leaves the paper's model (:ref:`param-centroid-blend`).

    intercept_init : {"zeros", "noise"}, default="zeros"
        "zeros" starts every class bias at 0. "noise" (an option of the
        reference implementation) starts each at minus the mean log p_n(y|x)
        over the class's training rows; it trains slower
        (:ref:`benchmarks-defaults`) and is kept for comparison.

    random_state : int, RandomState instance or None, default=None
        Seeds the tree fit, shuffling and the negatives.

    n_jobs : int, default=None
        Threads for training (lock-free Hogwild updates) and prediction.
        None means 1 (unless in a ``joblib.parallel_config`` context), -1 all
        cores, -2 all but one. ``n_jobs=1`` is bitwise reproducible for a fixed
        ``random_state``; ``n_jobs > 1`` is not (updates race).

    verbose : int >= 0, default=0
        Print one line per epoch when > 0, and progress within an epoch when >= 2.

    warm_start : bool, default=False
        Reuse the previous fit's tree and coefficients as the starting point.

    weights : {"auto", "dense", "sparse"}, default="auto"
        How ``coef_`` is stored: "dense", a float32 n_classes x n_features
        array; "sparse" (sparse X and negative sampling only), only the
        weights training has updated (a hash table while training, a CSR
        ``coef_`` after it); "auto", "sparse" for sparse X when dense weights
        would take at least 256 MiB, else "dense". Chosen when the model is
        initialised and kept by a warm start or ``partial_fit``;
        :meth:`sparsify` / :meth:`densify` convert a fitted model
        (:ref:`param-weights`).

    weight_threshold : float in [0, 1) or "auto", default="auto"
        After ``fit``, drop the weights whose magnitude is below
        ``weight_threshold`` times the largest magnitude among their class's
        weights (zeroed for dense weights); 0 keeps all. "auto": 0.01 for
        sparse weights, 0 for dense ones. ``partial_fit`` never prunes
        (:ref:`param-weights`, :ref:`benchmarks-sparse-weights`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; ``np.arange(n_labels)`` for a model trained on a label
        indicator matrix (multi-label).
    label_cardinality_ : float
        Multi-label models only: the weighted mean number of labels of the
        training rows that have labels (of the first ``partial_fit`` batch or
        the ``fit_noise`` sample when streaming); ``predict`` thresholds
        ``label_cardinality_ * predict_proba`` at 0.5.
    coef_ : ndarray or scipy.sparse CSR matrix of shape (n_classes, n_features), float32
        Weights of the linear scores xi. Dense: stored feature-major (Fortran
        order) when trained on sparse input, class-major otherwise. Sparse
        (``weights``): a CSR matrix of the stored weights; a centroid start
        then adds one more term, the same for every class of a row, which
        ``decision_function`` includes and ``coef_`` leaves out.
    intercept_ : ndarray of shape (n_classes,), float32
        Class biases of xi.
    tree_ : AuxiliaryTree
        The noise distribution p_n(y|x) (for "uniform"/"frequency" a tree with no
        features whose biases encode the unconditional distribution).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.
    learning_rate_ : float
        The Adagrad step size of the last training call (``learning_rate``, or
        its ``"auto"`` value).
    n_iter_ : int
        Epochs run by the last ``fit`` (``partial_fit`` adds one per call).
    t_ : int
        Positive examples processed so far.
    interrupted_ : bool
        True when the last training call was stopped by Ctrl-C (see Notes).
    loss_curve_ : list of float
        Mean training loss (Eq. 6) per epoch.
    hardness_curve_ : list of float
        Per epoch, the mean sigmoid(xi) of the drawn negatives: how often the
        model mistook a negative for the positive class (:ref:`snr`). NaN for
        ``noise=None`` (no negatives are drawn).
    validation_scores_ : list of float
        Validation accuracy per epoch (``early_stopping`` only).
    best_iteration_ : int
        With ``early_stopping``: the epoch (1-based, of the last call; 0 for
        the model before its first epoch) whose model the estimator holds.
    epoch_seconds_ : list of float
        Wall-clock seconds of each epoch's training pass.
    init_scale_ : float
        The scale s of the centroid start (0 when the weights started at 0).
    centroid_blend_ : float
        The weight beta of the centroid term in ``coef_`` and ``intercept_``
        (0: none; see ``centroid_blend``).
    score_temperature_ : float
        T: the probabilities are the softmax of the scores divided by T
        (1 unless ``centroid_blend="auto"`` chose it); the order of the
        classes, ``predict`` and ``predict_top_k`` do not depend on it.
    tree_fit_seconds_ : float
        Seconds spent fitting the noise tree (including its projection).

    See Also
    --------
    AuxiliaryTree : The auxiliary model on its own.
    sklearn.linear_model.LogisticRegression : Exact softmax for small C.

    Notes
    -----
    Ctrl-C before training starts raises KeyboardInterrupt and leaves the
    estimator as it was; during training it stops at the next piece boundary
    and returns a consistent model with a
    :class:`~skxc.TrainingInterruptedWarning` and ``interrupted_`` set
    (:ref:`interrupting`).

    One positive example costs O(nnz(x) (1 + n_negatives) + k log C) time,
    against O(nnz(x) C) for the exact softmax gradient; prediction needs all
    C scores per row, computed in blocks of rows (:ref:`cost`).
    ``predict_proba`` estimates p(y|x) of the softmax classifier, not of the
    biased negative-sampling model (Theorem 1, :ref:`bias-removal`).
    Multi-label training (``y`` a label indicator matrix) is pick-all-labels:
    :ref:`multilabel-training`.

    References
    ----------
    R. Bamler and S. Mandt. Extreme Classification via Adversarial Softmax
    Approximation. ICLR 2020. https://arxiv.org/abs/2002.06298

    Examples
    --------
    >>> from skxc import AdversarialSoftmaxClassifier
    >>> from skxc.datasets import make_hierarchical_classification
    >>> X, y = make_hierarchical_classification(n_samples=3000, n_classes=64, random_state=0)
    >>> clf = AdversarialSoftmaxClassifier(random_state=0).fit(X[:2500], y[:2500])
    >>> clf.predict_proba(X[2500:]).shape
    (500, 64)
    >>> bool(clf.score(X[2500:], y[2500:]) > 0.5)
    True
    """

    _parameter_constraints: dict = {
        "noise": [StrOptions({"adversarial", "uniform", "frequency"}), None, FrozenEstimator],
        "n_negatives": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "learning_rate_schedule": [StrOptions({"linear", "constant"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "adagrad": [StrOptions({"auto", "factored", "full"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, None, None, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "n_components": [Interval(Integral, 0, None, closed="left")],
        "tree_alpha": [Interval(Real, 0, None, closed="left")],
        "tree_temperature": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "init": [StrOptions({"centroid", "zeros"})],
        "centroid_blend": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "intercept_init": [StrOptions({"noise", "zeros"})],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "weights": [StrOptions({"auto", "dense", "sparse"})],
        "weight_threshold": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        noise="adversarial",
        n_negatives=2,
        learning_rate="auto",
        learning_rate_schedule="linear",
        alpha=3e-3,
        l2=0.0,
        adagrad="auto",
        max_iter="auto",
        tol=None,
        n_iter_no_change=3,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        n_components=16,
        tree_alpha=10.0,
        tree_temperature="auto",
        init="centroid",
        centroid_blend="auto",
        intercept_init="zeros",
        random_state=None,
        n_jobs=None,
        verbose=0,
        warm_start=False,
        weights="auto",
        weight_threshold="auto",
    ):
        self.noise = noise
        self.n_negatives = n_negatives
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.alpha = alpha
        self.l2 = l2
        self.adagrad = adagrad
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.n_components = n_components
        self.tree_alpha = tree_alpha
        self.tree_temperature = tree_temperature
        self.init = init
        self.centroid_blend = centroid_blend
        self.intercept_init = intercept_init
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.warm_start = warm_start
        self.weights = weights
        self.weight_threshold = weight_threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        tags.classifier_tags.poor_score = False
        return tags

    # -- coef_: an attribute, except that sparse weights trained by partial_fit stay in their training
    # table between calls and become a CSR matrix only when coef_ is read (skxc/_model.py) ----------

    coef_ = property(
        lambda self: read_coef(self.__dict__, type(self).__name__),
        lambda self, value: write_coef(self.__dict__, value),
        lambda self: drop_coef(self.__dict__),
    )

    def _sparse_weights(self) -> bool:
        """Whether the model stores sparse weights (without building coef_ from a kept table)."""
        return has_sparse_weights(self.__dict__)

    def __getstate__(self):
        # object.__getstate__ may hand out __dict__ itself: copied first
        return pickled_state(dict(super().__getstate__()), self.__dict__, type(self).__name__)

    def __setstate__(self, state):
        super().__setstate__(loaded_state(state))

    def __dask_tokenize__(self):
        """Dask token from all attributes, large arrays by fingerprint: no pickling (skxc/_dask.py)."""
        from ._dask import object_token

        if self.__dict__.get("_table") is not None:
            self.coef_ = self.coef_  # the token is of coef_, not of the training table
        return object_token(self)

    # -- fitting -----------------------------------------------------------------

    def _targets(self, X, y, sample_weight, reset):
        """Validated ``(X, y, sample_weight, multilabel)``; y is a CSR indicator matrix when ``multilabel``."""
        multilabel = is_multilabel(y)
        X, y, sample_weight = validate_training_data(self, X, y, sample_weight, reset, multilabel)
        if multilabel and y.shape[1] < 2:
            raise ValueError(f"A label indicator y needs at least 2 labels (columns); got {y.shape[1]}.")
        return X, y, sample_weight, multilabel

    def _initialize(self, X, codes, sample_weight, rng, example_row=None):
        """Fit the noise tree and allocate coef_, intercept_ and the Adagrad state (``_fit.initialize``)."""
        start = initialize(
            self.get_params(deep=False), self.classes_, X, codes, sample_weight, rng, example_row,
            getattr(self, "label_cardinality_", 1.0), type(self).__name__, AUTO_SPARSE_BYTES,
        )  # fmt: skip
        self.tree_, self.tree_fit_seconds_ = start.tree, start.tree_fit_seconds
        self._shared_coef, self.coef_, self._adagrad_state = start.shared_coef, start.coef, start.adagrad_state
        self.intercept_, self.init_scale_ = start.intercept, start.init_scale
        self.centroid_blend_, self.score_temperature_ = 0.0, 1.0
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
        rows, Z = self._kernel_inputs(X)
        return training_rows(
            rows, Z, codes, sample_weight, self.tree_.arrays, n_threads(self.n_jobs), self._sparse_weights(),
            getattr(self, "_shared_coef", None), example_row, Y,
        )  # fmt: skip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the tree, then train by negative sampling for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is converted to CSR.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            Class labels (any sortable type, e.g. ints or strings), or a 0/1
            label indicator matrix for multi-label training (rows without
            labels are skipped).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights scaling each row's loss.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The fitted estimator.
        """
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
        warm = (
            self.warm_start
            and hasattr(self, "coef_")
            and getattr(self, "_multilabel", False) == multilabel
            and np.array_equal(getattr(self, "classes_", None), classes)
            and self.coef_.shape[1] == X.shape[1]
        )
        rng = self._rng if warm else seed_rng(self.random_state)
        # the epoch budget of max_iter="auto" counts examples: rows, or (row, label) pairs
        n_examples = (int(y.nnz) if sp.issparse(y) else int(np.count_nonzero(y))) if multilabel else X.shape[0]
        n_epochs = resolve_max_iter(self.max_iter, n_examples)
        with intact_on_error(self.__dict__):  # also Ctrl-C during the blend's pilot: nothing has changed
            X, val, rows, split = self._prepare_fit(X, y, classes, sample_weight, rng, warm, multilabel)
            # the blend is chosen before training, so that the pilot's memory is freed before the model's grows
            blend = None if warm or multilabel else chosen_for(self, X, rows, split, rng, n_epochs)
            if blend is not None and blend[2] is not self.tree_:  # the blend's pilots chose the flatter tree
                self.tree_ = blend[2]  # same projection: only each row's log p_n changes
                rows = replace(
                    rows, log_noise=log_noise_of(rows.Z, rows.codes, blend[2].arrays, n_threads(self.n_jobs))
                )
        self.n_iter_ = 0
        self._train(rows, n_epochs, val)
        if blend is not None:
            self._add_blend(X, rows, *blend[:2])
        threshold = self.weight_threshold
        if threshold == "auto":
            threshold = AUTO_WEIGHT_THRESHOLD if sp.issparse(self.coef_) else 0.0
        if threshold > 0:
            self._prune(threshold)
        return self

    def _add_blend(self, X, rows: Rows, beta: float, temperature: float) -> None:
        """Fold ``beta`` times the centroid scores into the trained model (skxc/_blend.py); set the temperature."""
        if beta > 0:
            shared = getattr(self, "_shared_coef", None)
            coef, self._adagrad_state, shared = blended(
                self.coef_, self.intercept_, self._adagrad_state, shared, X, rows, beta
            )
            self.coef_ = coef
            if sp.issparse(coef):
                self._shared_coef = shared
        self.centroid_blend_, self.score_temperature_ = float(beta), float(temperature)

    def _prune(self, threshold: float) -> None:
        """Drop (sparse) or zero (dense) the weights below ``threshold`` times their class's largest |w|."""
        coef = self.coef_ if sp.issparse(self.coef_) else writeable(self.coef_)
        self.coef_ = pruned(coef, self._adagrad_state, threshold)

    def sparsify(self, threshold: float = 0.0):
        """Store the weights sparse: ``coef_`` becomes a scipy.sparse CSR matrix.

        Further training (``partial_fit``, a warm start) keeps the sparse
        layout. Predictions do not change (unless ``threshold`` > 0).

        Parameters
        ----------
        threshold : float in [0, 1), default=0.0
            Also drop the weights whose magnitude is below ``threshold``
            times the largest magnitude of their class's weights (0 keeps
            every non-zero weight).

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator.
        """
        check_is_fitted(self)
        if not (isinstance(threshold, Real) and 0 <= threshold < 1):
            raise ValueError(f"threshold must be a number in [0, 1); got {threshold!r}.")
        if not sp.issparse(self.coef_):
            if self.noise is None:
                raise ValueError("sparsify() needs negative sampling: a model with noise=None trains dense weights.")
            self.coef_, self._shared_coef = sparsified(self.coef_, self._adagrad_state), None
        if threshold > 0:
            self._prune(threshold)
        return self

    def densify(self):
        """Store the weights dense: ``coef_`` becomes a float32 ndarray (feature-major).

        Predictions do not change; further training uses dense weights.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator.
        """
        check_is_fitted(self)
        if not sp.issparse(self.coef_):
            return self
        n_classes, n_features = self.coef_.shape
        state = self._adagrad_state
        check_model_memory(n_classes, n_features, type(self).__name__, full_adagrad=state.kind == "full")
        self.coef_ = densified(self.coef_, getattr(self, "_shared_coef", None), state)
        self._shared_coef = None
        return self

    def _prepare_fit(self, X, y, classes, sample_weight, rng, warm, multilabel):
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
            codes, pair_weight, example_row = label_examples(y, sample_weight, require_labels=True)
        else:
            pair_weight, example_row = sample_weight, None
        self.classes_ = classes
        self._set_kind(multilabel)
        split = None
        if not warm:
            if multilabel:
                self.label_cardinality_ = label_cardinality(Y, sample_weight)
            split = self._initialize(X, codes, pair_weight, rng, example_row)
        return X, val, self._rows(X, codes, pair_weight, example_row, Y), split

    def _train(self, rows: Rows, n_epochs: int, val=None, check_convergence=True, keep_table=False):
        """Run up to ``n_epochs`` epochs on ``rows``; ``val`` = (X, codes) of held-out rows for early stopping.

        Sparse weights train in a hash table: built from coef_ (or the table kept by the previous
        ``partial_fit``); ``keep_table`` keeps it for the next call, coef_ then being built on demand.
        """
        kind = adagrad_kind(self.adagrad, self.noise)
        if self._adagrad_state.kind != kind:
            self._adagrad_state = self._adagrad_state.converted(kind, self.coef_, type(self).__name__)
        self._adagrad_state = state = self._adagrad_state.writeable()  # read-only after joblib.load(mmap_mode="r")
        self.intercept_ = writeable(self.intercept_)
        model = training_model(self.__dict__, extra=rows.indices.shape[0])
        table = model if isinstance(model, HashedWeights) else None
        self.learning_rate_ = self._auto_learning_rate if self.learning_rate == "auto" else float(self.learning_rate)
        params, schedule = sgd_setup(
            self.get_params(deep=False), self.learning_rate_, n_epochs, check_convergence, decay=check_convergence
        )
        validate = None
        if val is not None:
            val_inputs, val_truth = self._kernel_inputs(val[0]), val[1]  # converted once, scored every epoch

            def validate():
                if table is not None:
                    self.__dict__["_coef"] = None  # coef_ from the table as it is now
                return top1_score(self._top_k_codes(val_inputs, 1)[0][:, 0], val_truth)

        progress = Progress(self.n_iter_, self.t_, self.loss_curve_, self.epoch_seconds_, self.hardness_curve_,
                            self.validation_scores_, model, self.intercept_, state)  # fmt: skip
        try:
            if validate is not None:  # the model before this call's first epoch competes too (epoch 0)
                progress.offer_start(validate())
            with deferred_interrupt() as stop:
                run_epochs(model, self.intercept_, state, params, rows, self.tree_.arrays, self._rng, schedule,
                           progress.record, validate, stop, progress.stopped)  # fmt: skip
            if val is not None:
                progress.keep_best()
        finally:
            self.n_iter_, self.t_, self.interrupted_ = progress.n_iter, progress.t, progress.interrupted
            if progress.best_iteration is not None:
                self.best_iteration_ = progress.best_iteration
            if table is not None:  # coef_ is stale; back to CSR now unless the table is kept
                self.__dict__["_coef"] = None
                if not keep_table:
                    self.coef_ = self.coef_
        bound = getattr(self, "_weight_bound", (np.inf, 0))
        weights = table.vals if table is not None and keep_table else self.coef_
        self._weight_bound = check_finite_model(weights, self.intercept_, bound, self.t_, params)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_noise(self, X, y, classes=None, sample_weight=None):
        """Fit only the noise distribution (the tree) and reset the linear model to its start.

        Use it before streaming with :meth:`partial_fit` to fit the tree on a
        representative sample instead of the first batch; later ``partial_fit``
        calls then train the linear model and leave the tree fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A sample of the training data.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            Its labels, or a 0/1 label indicator matrix (multi-label).
        classes : array-like of shape (n_classes,), default=None
            All classes of the stream (a superset of ``y``); default: those in ``y``.
            Multi-label: None or ``np.arange(n_labels)``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator with ``tree_`` fitted and ``coef_`` at its initial value.
        """
        X, y, sample_weight, multilabel = self._targets(X, y, sample_weight, reset=True)
        if multilabel:
            classes = label_columns(y, classes)
        else:
            classes = unique_labels(y, "y") if classes is None else unique_labels(classes, "classes")
        if len(classes) < 2:
            raise ValueError(f"classes must contain at least 2 classes; got {classes.tolist()!r}.")
        if multilabel:
            codes, pair_weight, example_row = label_examples(y, sample_weight, require_labels=True)
        else:
            codes, pair_weight, example_row = encode_labels(classes, y, "y"), sample_weight, None
        with intact_on_error(self.__dict__):
            if multilabel:
                self.label_cardinality_ = label_cardinality(y, sample_weight)
            self.classes_ = classes
            self._set_kind(multilabel)
            self._initialize(X, codes, pair_weight, seed_rng(self.random_state), example_row)
        return self

    def _set_kind(self, multilabel: bool) -> None:
        """Record single- or multi-label training; ``label_cardinality_`` exists for multi-label models only."""
        self._multilabel = multilabel
        if not multilabel and hasattr(self, "label_cardinality_"):
            del self.label_cardinality_

    @property
    def _is_multilabel(self) -> bool:
        return getattr(self, "_multilabel", False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of negative sampling over the given batch.

        The first call fits the noise tree on this batch (it then stays fixed, so
        scores stay consistent with the bias correction) and must be given
        ``classes``; to fit the tree on another sample first, call
        :meth:`fit_noise`. Each call draws fresh negatives. Sparse weights
        (``weights``) stay in their training table between calls; ``coef_``
        is built from it (O(stored weights)) when it is read, and pickling
        stores it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training rows.
        y : array-like of shape (n_samples,), or {array-like, sparse matrix} of shape (n_samples, n_labels)
            Their labels, all in ``classes``, or a 0/1 label indicator matrix
            (multi-label; every call must then pass one with the same columns).
        classes : array-like of shape (n_classes,), default=None
            All classes of the stream; required on the first call, ignored (but
            checked) later. Multi-label: optional (None or ``np.arange(n_labels)``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The updated estimator.
        """
        first = "_coef" not in self.__dict__  # not hasattr(self, "coef_"): that would build coef_ from a kept table
        multilabel = is_multilabel(y)
        if not first and multilabel != getattr(self, "_multilabel", False):
            before, now = ("a label indicator matrix", "1-D labels") if not multilabel else ("1-D labels", "a 2-D y")
            raise ValueError(
                f"partial_fit was first called with {before} and now gets {now}: single-label and "
                f"multi-label training cannot be mixed in one model."
            )
        if first and classes is None and not multilabel:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y, sample_weight, multilabel = self._targets(X, y, sample_weight, reset=first)
        if multilabel:
            if first:
                classes = label_columns(y, classes)
            else:
                if y.shape[1] != len(self.classes_):
                    raise ValueError(
                        f"y has {y.shape[1]} label columns but the model was trained with {len(self.classes_)}."
                    )
                label_columns(y, self.classes_ if classes is None else classes)
            codes, pair_weight, example_row = label_examples(y, sample_weight)
            if first:
                with intact_on_error(self.__dict__):
                    self.classes_ = classes
                    self._set_kind(True)
                    self.label_cardinality_ = label_cardinality(y, sample_weight)
                    self._initialize(X, codes, pair_weight, seed_rng(self.random_state), example_row)
            self._train(self._rows(X, codes, pair_weight, example_row, y), 1, check_convergence=False, keep_table=True)
            return self
        if first:
            classes = unique_labels(classes, "classes")
            if len(classes) < 2:
                raise ValueError(f"classes must contain at least 2 classes; got {classes.tolist()!r}.")
            codes = encode_labels(classes, y, "y")
            with intact_on_error(self.__dict__):
                _check_partial_fit_first_call(self, classes)
                self._set_kind(False)
                self._initialize(X, codes, sample_weight, seed_rng(self.random_state))
        else:
            _check_partial_fit_first_call(self, classes)
            codes = encode_labels(self.classes_, y, "y")
        self._train(self._rows(X, codes, sample_weight), 1, check_convergence=False, keep_table=True)
        return self

    # -- prediction --------------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        return canonical_csr(validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False))

    def _kernel_inputs(self, X):
        """Validated X in kernel format and its projection for the tree: the one conversion per call."""
        rows = kernel_rows(X)
        return rows, self.tree_.transform(rows.X)  # raises if the projection overflows float32

    def _all_classes(self, X, what):
        """float64 (n, n_classes): "scores", "proba" or "log_proba" of every class (see ``_predict.all_classes``)."""
        rows, Z = self._kernel_inputs(self._validate_X(X))
        return all_classes(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays, what,
                           n_threads(self.n_jobs), self._score_scale)  # fmt: skip

    @property
    def _score_scale(self) -> float:
        """1 / ``score_temperature_`` (1 for models saved before it existed)."""
        return 1.0 / getattr(self, "score_temperature_", 1.0)

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
        """Class probabilities: softmax over all classes of xi_y(x) + log p_n(y|x).

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
        the user guide, "Multi-label training"); computed in row blocks.

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
        inputs = self._kernel_inputs(self._validate_X(X))  # validates (NotFittedError) before reading classes_
        if self._is_multilabel:
            rows, Z = inputs
            blocks = class_blocks(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays, "proba",
                                  n_threads(self.n_jobs))  # fmt: skip
            return label_sets((p for _, _, p in blocks), rows.X.shape[0], len(self.classes_), self.label_cardinality_)
        return self.classes_[self._top_k_codes(inputs, 1)[0][:, 0]]

    def predict_top_k(self, X, k=5, return_scores=False):
        """The k most probable classes (or labels) of each row, most probable first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.
        k : int, default=5
            Number of classes per row (at most ``n_classes``).
        return_scores : bool, default=False
            Also return their probabilities (the entries of
            :meth:`predict_proba`), computed with each row's normaliser over
            all classes in row blocks.

        Returns
        -------
        top : ndarray of shape (n_samples, k)
            Class labels (multi-label: label columns, i.e. indices into ``classes_``).
        proba : ndarray of shape (n_samples, k), float64
            Only with ``return_scores=True``: their probabilities, non-increasing along each row.
        """
        X = self._validate_X(X)
        if not isinstance(k, Integral) or not 1 <= k <= len(self.classes_):
            raise ValueError(f"k must be an integer in [1, n_classes={len(self.classes_)}]; got {k!r}.")
        inputs = self._kernel_inputs(X)
        codes, scores = self._top_k_codes(inputs, k)
        top = self.classes_[codes]
        if not return_scores:
            return top
        rows, Z = inputs
        scale = self._score_scale
        log_norm = log_normalizers(rows, Z, self._scoring_coef(), self.intercept_, self.tree_.arrays,
                                   n_threads(self.n_jobs), scale)  # fmt: skip
        return top, np.exp(scale * scores - log_norm[:, None])

    def score(self, X, y, sample_weight=None):
        """Accuracy (single-label), or precision@1 (multi-label).

        For a model trained on a label indicator matrix, ``y`` must be one too
        and the score is the (weighted) fraction of rows whose most probable
        label is one of their labels: precision@1, the Extreme Classification
        Repository's first metric (rows without labels count as misses).
        Subset accuracy, scikit-learn's default for multi-label classifiers,
        is near 0 with thousands of labels, so model selection by ``score``
        (e.g. ``GridSearchCV`` with default scoring) would learn nothing.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test rows.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels, or the label indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        score : float
            Accuracy, or precision@1.
        """
        if not self._is_multilabel:
            check_is_fitted(self)
            return super().score(X, y, sample_weight=sample_weight)
        inputs = self._kernel_inputs(self._validate_X(X))
        Y = check_indicator(y, inputs[0].X.shape[0])
        if Y.shape[1] != len(self.classes_):
            raise ValueError(f"y has {Y.shape[1]} label columns but the model was trained with {len(self.classes_)}.")
        hits = hits_at_1(Y, self._top_k_codes(inputs, 1)[0][:, 0])
        return float(np.average(hits, weights=sample_weight))
