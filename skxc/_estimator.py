"""The scikit-learn estimator: validation, labels, seeds, state; no kernels here."""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._config import FLOAT, PREDICT_BLOCK_BYTES
from ._kernels.predict import add_csr_scores, top_k_csr
from ._kernels.tree import log_proba_of_classes
from ._solver import Rows, adagrad_state, auto_learning_rate, convert_adagrad_state, epoch_order, flat_view, sgd_epoch
from ._kernels.rng import seed_states
from ._kernels.tree import sample_classes
from ._start import calibration_split, choose_centroid_start, rms_row_norm, unit_centroids, write_centred
from ._tree import AuxiliaryTree, unconditional_tree
from ._validation import (
    canonical_csr,
    check_float32_range,
    check_model_memory,
    encode_labels,
    kernel_rows,
    unique_labels,
)


def _touched_zeros(shape, order, count):
    """``count`` float32 zero arrays whose pages are all touched (allocated by the OS)."""
    out = []
    for _ in range(count):
        a = np.zeros(shape, dtype=FLOAT, order=order)
        a.fill(0.0)
        out.append(a)
    return out


class AdversarialSoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """Softmax classifier for many classes, trained by adversarial negative sampling.

    Implements Bamler & Mandt (ICLR 2020): (1) fit an auxiliary probabilistic
    binary tree p_n(y|x) over the classes on a low-dimensional projection of x;
    (2) train a linear model xi_y(x) = coef_[y] @ x + intercept_[y] by negative
    sampling with negatives drawn from the tree, minimising the regularised
    loss of the paper's Eq. 6 with Adagrad; (3) at prediction, remove the
    sampling bias: the softmax over all classes of xi_y(x) + log p_n(y|x)
    estimates p(y|x).

    Parameters
    ----------
    noise : {"adversarial", "uniform", "frequency"} or None, default="adversarial"
        Distribution of the negatives. "adversarial": the fitted conditional
        tree (the paper's method). "uniform": all classes equally likely.
        "frequency": the training label frequencies (add-one smoothed). The
        bias removal uses the same distribution, so all three estimate the
        same softmax model; they differ in how fast training converges.
        None: no sampling, the exact softmax gradient over all classes with
        the same Adagrad step, O(nnz(x) C) per row: the reference for small C
        (``alpha`` then weighs ``alpha / C * sum_c xi_c^2``, which only fixes
        the softmax's free shift; ``n_negatives`` is ignored).

    n_negatives : int, default=2
        Negatives drawn per positive example; each adds its own loss term
        (summed, as in word2vec: the optimum's bias-corrected scores then
        shift by the class-independent log m, which the softmax cancels).
        More negatives train better per epoch and cost about one more tree
        walk and row update each: on ptb-nextword 1 / 2 / 4 negatives reach
        20.2 / 20.5 / 20.6 % top-1 in 10 epochs, at 1 / 1.9 / 3 times the
        epoch time. The defaults (2 negatives, 5 epochs) train faster than
        1 negative for 10 epochs and reach a higher top-1 on ptb-nextword,
        bibtex, corel5k and delicious (docs/benchmarks).

    learning_rate : float or "auto", default="auto"
        Adagrad step size ρ. An Adagrad step moves each weight by about ρ, so
        one step moves a score by about ρ ||(x, 1)||. ``"auto"`` sets
        ρ = 1 / sqrt(1 + mean ||x||^2) over the rows given to the call that
        initialises the model (``fit``, ``fit_noise`` or the first
        ``partial_fit``), so that this move is about 1 for an average row; the
        value used is ``learning_rate_``. On one-hot inputs with 3 non-zeros
        (ptb-nextword) it gives 0.5, on standardised dense inputs of 64
        features about 0.04, the best values of a grid search on each. Too
        large a value does not diverge visibly: the training loss keeps
        falling while the scores of rarely sampled classes run away and
        held-out accuracy collapses.

    alpha : float, default=3e-3
        Strength λ of the regulariser λ (xi_y + log p_n(y|x))^2 of Eq. 6,
        which keeps the bias-corrected scores small. On ptb-nextword 3e-3
        gives +0.15-0.2 points of top-1 and +0.03 nats of test
        log-likelihood over 1e-3 (3 seeds); 1e-2 over-regularises there.

    l2 : float, default=0.0
        L2 penalty on the weights (not the intercepts), applied to the
        weights each step touches: a step adds ``l2 * w`` to the gradient of
        each weight it updates, so a weight is shrunk in proportion to how
        often it is used (the penalty the step follows is the sum over
        examples of l2 / 2 ||w||^2 restricted to the rows and features the
        example touches). It curbs the growth of weights that only a few
        examples support.

    adagrad : {"auto", "factored", "full"}, default="auto"
        How Adagrad keeps each weight's sum of squared gradients. "auto" is
        "factored" for negative sampling and "full" for ``noise=None`` (whose
        steps update every class row, where the factored sums train worse:
        on the 1,000-class PTB subset 19.8 % top-1 against 20.5 %). "full"
        stores it per weight, a float32 array as large as ``coef_`` (the
        paper's setting). "factored" keeps only its sums per class (R_c),
        per feature (S_j) and in total (T) and uses R_c S_j / T in place of
        the sum of weight (c, j), as Adafactor factors its second moments:
        C + n_features + 1 float64 numbers instead of C n_features float32.
        On ptb-nextword it takes 1.2 GB less memory (peak 2.9 -> 1.7 GiB),
        fits sooner (no C x n_features array to allocate; epochs run at the
        same speed) and reaches the same top-1 accuracy with a better
        log-likelihood; on bibtex, corel5k and delicious it is between 0.04
        points below and 1.1 points above "full" (docs/benchmarks).
        Changing it between ``partial_fit`` calls or for a warm start
        converts the state: factored sums from a full state are exact, a full
        state from factored sums is their estimate.

    max_iter : int, default=5
        Maximum number of epochs (passes over the training data) in ``fit``.

    tol : float or None, default=None
        Stopping tolerance: training stops when the monitored quantity (training
        loss, or validation accuracy with ``early_stopping``) has not improved by
        at least ``tol`` for ``n_iter_no_change`` consecutive epochs, and a
        ``ConvergenceWarning`` is raised if ``max_iter`` epochs end before that.
        None (the default) runs exactly ``max_iter`` epochs, as fastText does:
        the stochastic training loss rarely settles to 1e-3 within a few epochs.

    n_iter_no_change : int, default=3
        Epochs without improvement before stopping.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows and monitor their
        top-1 accuracy instead of the training loss; training stops when it has
        not improved by ``tol`` (0 when ``tol`` is None) for ``n_iter_no_change``
        epochs.

    validation_fraction : float, default=0.1
        Fraction of rows held out when ``early_stopping`` is True.

    shuffle : bool, default=True
        Visit the rows in a fresh random order each epoch.

    n_components : int, default=16
        Dimension k of the projection the tree is fitted on ("adversarial" only).

    tree_alpha : float, default=10.0
        L2 regularisation λ_n of the tree's node splits ("adversarial" only).
        The paper uses 0.1; that makes the tree over-confident about rare
        classes (deep nodes see few rows), which costs test log-likelihood:
        on ptb-nextword -6.12 at 0.1 against -5.35 at 10, and 10 is also at
        least as good as 0.1 and 1 on bibtex, corel5k, delicious and the demo
        data, with top-1 accuracy unchanged or higher (docs/benchmarks).

    tree_temperature : float or "auto", default="auto"
        Temperature of the tree's splits ("adversarial" only; see
        :class:`AuxiliaryTree`): every split's logit is multiplied by it.
        ``"auto"`` chooses it in [1/32, 1] by the held-out log-likelihood of
        the tree on the rows held out for calibration (see ``init``), so that
        a tree that is over-confident on new rows (classes with one or two
        rows each) is smoothed and one that generalises stays as fitted.
        Sampling and bias correction use the same tempered tree, so the
        estimate of p(y|x) stays consistent (Theorem 1).

    init : {"centroid", "zeros"}, default="centroid"
        Where the weights start. "centroid": class c's weights at s times the
        unit-length mean of its L2-normalised rows (dense X centred first;
        minus the mean of these over the classes, which shifts all classes'
        scores of a row alike and so changes no probability), so that
        training starts at p(y|x) proportional to p_n(y|x) exp(s x.mu_y), a
        nearest-centroid rule on top of the tree; s is chosen by that
        model's log-likelihood on held-out rows. A class with one or two
        training rows then starts at its rows instead of at p_n.
        "zeros": all weights 0, i.e. the model p(y|x) = p_n(y|x) (the
        paper's start).

        Calibration (``init="centroid"``, ``tree_temperature="auto"``) holds
        out 10 % of the rows (at most 10,000) from the tree fit and the
        centroid used to choose s; the final centroids and SGD use all rows.
        With fewer than 1,000 rows nothing is held out: the temperature is 1
        and the weights start at 0. The chosen scale is ``init_scale_``.

    intercept_init : {"zeros", "noise"}, default="zeros"
        "zeros" starts every class bias at 0.
        "noise" (an option of the reference implementation) starts each class
        bias at minus the mean log p_n(y|x) over the class's training rows, so
        that the bias-corrected scores start near 0; it trains slower here
        (see docs/benchmarks) and is kept for comparison.

    random_state : int, RandomState instance or None, default=None
        Seeds the tree fit, shuffling and the negatives.

    n_jobs : int, default=None
        Threads for training (lock-free Hogwild updates) and prediction.
        None means 1. ``n_jobs=1`` is bitwise reproducible for a fixed
        ``random_state``; ``n_jobs > 1`` is not (updates race).

    verbose : int, default=0
        Print one line per epoch when > 0.

    warm_start : bool, default=False
        Reuse the previous fit's tree and coefficients as the starting point.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (n_classes, n_features), float32
        Weights of the linear scores xi. Stored feature-major (Fortran order)
        when trained on sparse input, class-major otherwise.
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
    loss_curve_ : list of float
        Mean training loss (Eq. 6) per epoch.
    hardness_curve_ : list of float
        Per epoch, the mean sigmoid(xi) of the drawn negatives: how often the
        model mistook a negative for the positive class. Harder negatives
        (larger values) carry more gradient signal (the paper's Theorem 2).
        NaN for ``noise=None`` (no negatives are drawn).
    validation_scores_ : list of float
        Validation accuracy per epoch (``early_stopping`` only).
    epoch_seconds_ : list of float
        Wall-clock seconds of each epoch's training pass.
    init_scale_ : float
        The scale s of the centroid start (0 when the weights started at 0).
    tree_fit_seconds_ : float
        Seconds spent fitting the noise tree (including its projection).

    See Also
    --------
    AuxiliaryTree : The auxiliary model on its own.
    sklearn.linear_model.LogisticRegression : Exact softmax for small C.

    Notes
    -----
    Cost: one positive example costs O(nnz(x) (1 + n_negatives) + k log C)
    time, against O(nnz(x) C) for the exact softmax gradient. Memory: ``coef_``,
    C (n_features + 1) float32 numbers, and its Adagrad state, as many again
    with the full state (``noise=None`` by default) or C + n_features + 1 float64
    numbers with the factored one (negative sampling by default); the tree
    O(C k). Prediction needs all C scores per row, O(nnz(x) C + k C), computed
    in blocks of rows so that ``predict`` never holds the full n x C matrix.

    ``predict_proba`` returns softmax(xi(x) + log p_n(.|x)) over all classes:
    by the paper's Theorem 1 these are estimates of p(y|x) of the softmax
    classifier, not of the biased negative-sampling model.

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
        "noise": [StrOptions({"adversarial", "uniform", "frequency"}), None],
        "n_negatives": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "adagrad": [StrOptions({"auto", "factored", "full"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, None, None, closed="neither"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "n_components": [Interval(Integral, 0, None, closed="left")],
        "tree_alpha": [Interval(Real, 0, None, closed="left")],
        "tree_temperature": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "init": [StrOptions({"centroid", "zeros"})],
        "intercept_init": [StrOptions({"noise", "zeros"})],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        *,
        noise="adversarial",
        n_negatives=2,
        learning_rate="auto",
        alpha=3e-3,
        l2=0.0,
        adagrad="auto",
        max_iter=5,
        tol=None,
        n_iter_no_change=3,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        n_components=16,
        tree_alpha=10.0,
        tree_temperature="auto",
        init="centroid",
        intercept_init="zeros",
        random_state=None,
        n_jobs=None,
        verbose=0,
        warm_start=False,
    ):
        self.noise = noise
        self.n_negatives = n_negatives
        self.learning_rate = learning_rate
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
        self.intercept_init = intercept_init
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.poor_score = False
        return tags

    # -- fitting -----------------------------------------------------------------

    def _validate_xy(self, X, y, sample_weight, reset):
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], reset=reset)
        X = canonical_csr(X)  # duplicates summed before the tree, the range check and the float32 cast
        with warnings.catch_warnings():
            # many classes with few rows each is this estimator's normal case, not a
            # sign of a regression target (scikit-learn warns above 50 % unique labels)
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            try:
                check_classification_targets(y)
            except TypeError:  # e.g. y = ["1", 1]: numpy cannot sort the labels
                unique_labels(y, "y")  # raises a TypeError that names y and the label types
                raise
        check_float32_range(X)  # before any state changes, so a failed call leaves the model as it was
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
        return X, y, sample_weight

    def _n_threads(self) -> int:
        return max(1, effective_n_jobs(self.n_jobs))

    def _initialize(self, X, codes, sample_weight, rng):
        """Fit the noise tree and allocate coef_, intercept_ and the Adagrad state."""
        n_classes, n_features = len(self.classes_), X.shape[1]
        full = self._adagrad_kind() == "full"
        check_model_memory(n_classes, n_features, type(self).__name__, full_adagrad=full)
        # The OS hands out zeroed pages on first touch, about 1 s per GB (10k classes x 30k
        # features is 1.2 GB): touch coef_ (and a full Adagrad state) in a thread (numpy's
        # fill releases the GIL) while the tree is fitted, instead of in the first epoch.
        pool = ThreadPoolExecutor(1)
        order = "F" if sp.issparse(X) else "C"
        model_arrays = pool.submit(_touched_zeros, (n_classes, n_features), order, 1 + full)
        pool.shutdown(wait=False)
        t0 = time.perf_counter()
        calibrate = self.init == "centroid" or (self.noise == "adversarial" and self.tree_temperature == "auto")
        fit_rows, held = calibration_split(X.shape[0], rng) if calibrate else (None, None)
        if self.noise == "adversarial":
            tree = AuxiliaryTree(
                n_components=self.n_components,
                alpha=self.tree_alpha,
                temperature=self.tree_temperature,
                random_state=int(rng.integers(2**31)),
                n_jobs=self.n_jobs,
            )
            tree.classes_ = self.classes_
            tree.n_features_in_ = n_features
            rows = slice(None) if held is None else fit_rows
            tree._fit_arrays(X[rows], codes[rows], sample_weight[rows].astype(np.float64), rng)
            tree._set_temperature(X, codes, held)
        else:
            if self.noise in ("uniform", None):  # None: exact softmax, log p_n is a constant
                mass = np.ones(n_classes)
            else:
                mass = np.bincount(codes, weights=sample_weight, minlength=n_classes) + 1.0
            tree = unconditional_tree(self.classes_, mass, n_features)
        self.tree_ = tree
        self.tree_fit_seconds_ = time.perf_counter() - t0
        if self.verbose:
            print(
                f"Noise model {self.noise!r}: depth {tree.depth_}, {tree.n_components_} features, "
                f"fitted in {self.tree_fit_seconds_:.2f} s",
                flush=True,
            )
        self.coef_, *acc = model_arrays.result()
        self._acc_coef, self._acc_factors = adagrad_state(self._adagrad_kind(), n_classes, n_features, acc)
        self.intercept_ = np.zeros(n_classes, dtype=FLOAT)
        self._acc_intercept = np.zeros(n_classes, dtype=FLOAT)
        self.init_scale_ = 0.0
        if self.init == "centroid" and held is not None:
            self._centroid_start(X, codes, sample_weight, fit_rows, held, rng)
        if self.intercept_init == "noise":
            self.intercept_[:] = self._mean_negative_log_noise(X, codes, sample_weight)
        self._rng = rng
        self._auto_learning_rate = auto_learning_rate(X, sample_weight)
        self.t_ = 0
        self._weight_bound = (float(np.abs(self.intercept_).max()), 0)  # see _check_finite_model
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.epoch_seconds_ = []
        self.hardness_curve_ = []
        self.validation_scores_ = []

    def _centroid_start(self, X, codes, sample_weight, fit_rows, held, rng):
        """``init="centroid"``: coef_ at s x unit class centroids, s and a common bias chosen on held-out rows.

        See skxc/_start.py; s = 0 (zero weights) when no centroid start has a
        smaller held-out training loss.
        """
        n_classes = len(self.classes_)
        tree = self.tree_

        def negatives(Xb):
            Z = tree._transform(Xb)
            codes_n = np.empty((Z.shape[0], self.n_negatives), dtype=np.int64)
            log_p = np.empty(codes_n.shape, dtype=np.float64)
            state = seed_states(rng, 1)[0]
            sample_classes(Z, self.n_negatives, tree.node_weight_, tree.node_bias_, tree.leaf_class_, state, codes_n, log_p)
            return codes_n, log_p

        scale, bias = choose_centroid_start(
            X[held],
            codes[held],
            unit_centroids(X[fit_rows], codes[fit_rows], n_classes, sample_weight[fit_rows]),
            lambda Xb, out: tree._add_log_proba(tree._transform(Xb), out),
            negatives,
            rms_row_norm(X),
            self.alpha,
        )
        if scale > 0:
            write_centred(self.coef_, self.intercept_, unit_centroids(X, codes, n_classes, sample_weight), scale, bias)
        self.init_scale_ = scale

    def _adagrad_kind(self) -> str:
        """The Adagrad state ``adagrad`` asks for, "full" or "factored" ("auto" resolved)."""
        if self.adagrad == "auto":
            return "full" if self.noise is None else "factored"
        return self.adagrad

    def _mean_negative_log_noise(self, X, codes, sample_weight):
        """Per class: minus the weighted mean of log p_n(y|x) over its rows (0 if none)."""
        lp = self._log_noise_of(self.tree_._transform(X), codes)
        n_classes = len(self.classes_)
        w = sample_weight.astype(np.float64)
        num = np.bincount(codes, weights=w * lp, minlength=n_classes)
        den = np.bincount(codes, weights=w, minlength=n_classes)
        out = np.zeros(n_classes)
        np.divide(-num, den, out=out, where=den > 0)
        return out

    def _log_noise_of(self, Z, codes):
        """log p_n(y_i|x_i) of each row's own class, float64, on ``n_jobs`` threads."""
        tree = self.tree_
        out = np.empty(Z.shape[0], dtype=np.float64)

        def run(start, stop):
            log_proba_of_classes(
                Z[start:stop], codes[start:stop], tree.node_weight_, tree.node_bias_, tree.class_leaf_,
                out[start:stop],
            )

        self._map_chunks(Z.shape[0], run, rows_per_chunk=65536)
        return out

    def _rows(self, X, codes, sample_weight) -> Rows:
        X, indptr, indices, data, n_dense = kernel_rows(X)
        Z = self.tree_._transform(X)  # raises if the projection overflows float32
        log_noise = self._log_noise_of(Z, codes)  # the tree is fixed: once per call, not per epoch
        return Rows(indptr, indices, data, n_dense, codes, sample_weight.astype(FLOAT), Z, log_noise)

    def _seed_rng(self) -> np.random.Generator:
        return np.random.default_rng(check_random_state(self.random_state).randint(2**31))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the tree, then train by negative sampling for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is converted to CSR.
        y : array-like of shape (n_samples,)
            Class labels (any sortable type, e.g. ints or strings).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights scaling each row's loss.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The fitted estimator.
        """
        X, y, sample_weight = self._validate_xy(X, y, sample_weight, reset=True)
        classes = unique_labels(y, "y")
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but the "
                f"data contains only one class: {classes.tolist()!r}."
            )
        warm = (
            self.warm_start
            and hasattr(self, "coef_")
            and np.array_equal(getattr(self, "classes_", None), classes)
            and self.coef_.shape[1] == X.shape[1]
        )
        rng = self._rng if warm else self._seed_rng()
        self.classes_ = classes
        codes = encode_labels(classes, y, "y")
        val = None
        if self.early_stopping:
            n_val = max(1, int(round(self.validation_fraction * X.shape[0])))
            if n_val >= X.shape[0]:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves no training rows "
                    f"out of {X.shape[0]}."
                )
            perm = rng.permutation(X.shape[0])
            val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            val = (X[val_idx], codes[val_idx])
            X, codes, sample_weight = X[train_idx], codes[train_idx], sample_weight[train_idx]
        if not warm:
            self._initialize(X, codes, sample_weight, rng)
        rows = self._rows(X, codes, sample_weight)
        self.n_iter_ = 0
        self._run_epochs(rows, self.max_iter, val)
        self._check_finite_model()
        return self

    def _run_epochs(self, rows: Rows, n_epochs: int, val=None, check_convergence=True):
        convert_adagrad_state(self)  # if ``adagrad`` changed since the state was allocated
        self.learning_rate_ = (
            self._auto_learning_rate if self.learning_rate == "auto" else float(self.learning_rate)
        )
        best, no_improve, t0 = None, 0, time.perf_counter()
        n_threads = self._n_threads()
        for _ in range(n_epochs):
            order = epoch_order(rows.n_samples, self.shuffle, self._rng)
            stats = sgd_epoch(self, rows, order, self._rng, n_threads, self.verbose)
            self._check_finite(stats.loss)
            self.n_iter_ += 1
            self.t_ += stats.n_examples
            self.epoch_seconds_.append(stats.seconds)
            self.loss_curve_.append(stats.loss)
            self.hardness_curve_.append(stats.hardness)
            score = None
            if val is not None:
                score = float(np.mean(self._predict_codes(val[0]) == val[1]))
                self.validation_scores_.append(score)
            if self.verbose:
                print(
                    f"-- Epoch {self.n_iter_}: loss {stats.loss:.5f}, hardness {stats.hardness:.4f}"
                    + (f", val accuracy {score:.4f}" if score is not None else "")
                    + f", {stats.n_examples / max(stats.seconds, 1e-9):,.0f} ex/s"
                    + f", elapsed {time.perf_counter() - t0:.2f} s",
                    flush=True,
                )
            tol = 0.0 if (self.tol is None and score is not None) else self.tol
            if not check_convergence or tol is None:
                continue
            current = score if score is not None else -stats.loss  # larger is better
            if best is not None and current < best + tol:
                no_improve += 1
            else:
                no_improve = 0
            best = current if best is None else max(best, current)
            if no_improve >= self.n_iter_no_change:
                if self.verbose:
                    print(f"Convergence after {self.n_iter_} epochs.", flush=True)
                return
        if check_convergence and (self.tol is not None or val is not None) and n_epochs > 1:
            warnings.warn(
                f"Maximum number of epochs (max_iter={self.max_iter}) reached before the "
                f"{'validation accuracy' if val is not None else 'training loss'} stopped "
                f"improving by tol={self.tol or 0.0}; consider increasing max_iter.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _check_finite(self, loss):
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"Training diverged (loss {loss}) with learning_rate={self.learning_rate_}, "
                f"alpha={self.alpha}. The coefficients are no longer usable: lower "
                f"learning_rate or scale the features (e.g. StandardScaler/normalize), then refit."
            )

    def _check_finite_model(self):
        """FloatingPointError if the last updates overflowed coef_ or intercept_ (float32).

        The epoch loss is computed before each row's update, so it cannot see an
        overflow in the final updates of a call (e.g. a one-row partial_fit batch).
        An Adagrad step (skxc/_kernels/sgd.py) moves a weight by at most learning_rate,
        and a row updates at most 1 + n_negatives rows of coef_ (each class once for
        noise=None), so ``_weight_bound`` = (bound on |weights|, t_ when set) grows by
        learning_rate (1 + n_negatives) per example; the O(C d) scan runs only once that
        bound nears the float32 range (or alpha or l2 is so large that a gradient can overflow).
        """
        bound, t = getattr(self, "_weight_bound", (np.inf, 0))
        bound += self.learning_rate_ * (self.t_ - t) * (1 + self.n_negatives)
        if bound < 1e37 and self.alpha < 1e100 and self.l2 < 1e100:
            self._weight_bound = (bound, self.t_)
            return
        largest = 0.0
        for name in ("intercept_", "coef_"):
            a = getattr(self, name)
            lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)  # reductions, no C x d temporary
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise FloatingPointError(
                    f"Training diverged: {name} overflowed float32 with learning_rate={self.learning_rate_}, "
                    f"alpha={self.alpha}. The coefficients are no longer usable: lower learning_rate or "
                    f"scale the features (e.g. StandardScaler/normalize), then refit."
                )
            largest = max(largest, -lo, hi)
        self._weight_bound = (largest, self.t_)

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
        y : array-like of shape (n_samples,)
            Its labels.
        classes : array-like of shape (n_classes,), default=None
            All classes of the stream (a superset of ``y``); default: those in ``y``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The estimator with ``tree_`` fitted and ``coef_`` at its initial value.
        """
        X, y, sample_weight = self._validate_xy(X, y, sample_weight, reset=True)
        classes = unique_labels(y, "y") if classes is None else unique_labels(classes, "classes")
        if len(classes) < 2:
            raise ValueError(f"classes must contain at least 2 classes; got {classes.tolist()!r}.")
        codes = encode_labels(classes, y, "y")
        self.classes_ = classes
        self._initialize(X, codes, sample_weight, self._seed_rng())
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of negative sampling over the given batch.

        The first call fits the noise tree on this batch (it then stays fixed, so
        scores stay consistent with the bias correction) and must be given
        ``classes``; to fit the tree on another sample first, call
        :meth:`fit_noise`. Each call draws fresh negatives.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training rows.
        y : array-like of shape (n_samples,)
            Their labels, all in ``classes``.
        classes : array-like of shape (n_classes,), default=None
            All classes of the stream; required on the first call, ignored (but
            checked) later.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : AdversarialSoftmaxClassifier
            The updated estimator.
        """
        first = not hasattr(self, "coef_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y, sample_weight = self._validate_xy(X, y, sample_weight, reset=first)
        if first:
            classes = unique_labels(classes, "classes")
            if len(classes) < 2:
                raise ValueError(
                    f"classes must contain at least 2 classes; got {classes.tolist()!r}."
                )
            codes = encode_labels(classes, y, "y")
            _check_partial_fit_first_call(self, classes)
            self._initialize(X, codes, sample_weight, self._seed_rng())
        else:
            _check_partial_fit_first_call(self, classes)
            codes = encode_labels(self.classes_, y, "y")
        self._run_epochs(self._rows(X, codes, sample_weight), 1, check_convergence=False)
        self._check_finite_model()
        return self

    # -- prediction --------------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        return canonical_csr(validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False))

    def _block_rows(self) -> int:
        return max(1, PREDICT_BLOCK_BYTES // (8 * max(len(self.classes_), len(self.tree_.leaf_class_))))

    def _map_blocks(self, X, fn, corrected=True):
        """Apply ``fn(start, stop, S, Z_block)`` to row blocks of scores, in order.

        ``S`` is float64 (rows, n_classes): the raw scores xi, plus log p_n(c|x)
        when ``corrected``. Memory stays O(block x C); with ``n_jobs > 1`` the
        blocks of one wave run concurrently (numba and BLAS release the GIL).
        Returns the list of ``fn``'s results.
        """
        X, indptr, indices, data, _ = kernel_rows(X)
        Z = self.tree_._transform(X)  # raises if the projection overflows float32
        coef_flat, stride_c, stride_j = flat_view(self.coef_)
        n, block = X.shape[0], self._block_rows()

        def run(start):
            stop = min(start + block, n)
            if sp.issparse(X):
                S = np.zeros((stop - start, len(self.classes_)), dtype=np.float64)
                add_csr_scores(indptr, indices, data, start, stop, coef_flat, stride_c, stride_j, S)
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    S = (X[start:stop] @ self.coef_.T).astype(np.float64)
                    overflow = not np.isfinite(S.sum())
                if overflow:  # the float32 product overflowed (huge x or coef_): redo this block in float64
                    S = X[start:stop].astype(np.float64) @ self.coef_.T.astype(np.float64)
            S += self.intercept_
            if corrected:
                self.tree_._add_log_proba(Z[start:stop], S)
            return fn(start, stop, S, Z[start:stop])

        starts = list(range(0, n, block))
        n_threads = min(self._n_threads(), len(starts))
        if n_threads <= 1:
            return [run(start) for start in starts]
        with ThreadPoolExecutor(n_threads) as pool:
            return list(pool.map(run, starts))

    def _map_chunks(self, n, fn, rows_per_chunk=2048):
        """Run ``fn(start, stop)`` over row chunks of ``range(n)``, on ``n_jobs`` threads."""
        starts = list(range(0, n, rows_per_chunk))
        n_threads = min(self._n_threads(), len(starts))
        if n_threads <= 1:
            for start in starts:
                fn(start, min(start + rows_per_chunk, n))
            return
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(lambda start: fn(start, min(start + rows_per_chunk, n)), starts))

    def _top_k_codes(self, X, k):
        """Codes (n, k) and bias-corrected scores of the k best classes, best first."""
        out = np.empty((X.shape[0], k), dtype=np.int64)
        scores = np.empty((X.shape[0], k), dtype=np.float64)

        def select(start, stop, S, Zb):  # from all classes' corrected float64 scores
            part = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else np.argsort(-S, axis=1)
            top = np.take_along_axis(S, part, axis=1)
            order = np.argsort(-top, axis=1, kind="stable")
            out[start:stop] = np.take_along_axis(part, order, axis=1)
            scores[start:stop] = np.take_along_axis(top, order, axis=1)

        tree = self.tree_
        if tree.n_components_ == 0:  # log p_n is the same for every row: add it, then select
            self._map_blocks(X, select)
            return out, scores
        # exact branch and bound over the tree (skxc/_kernels/predict.py)
        X, indptr, indices, data, _ = kernel_rows(X)
        Z = tree._transform(X)
        tree_arrays = (tree.node_weight_, tree.node_bias_, tree.leaf_class_, tree.class_leaf_, k)
        if sp.issparse(X):  # scores built per row inside the kernel
            coef_flat, stride_c, stride_j = flat_view(self.coef_)

            def search(start, stop):
                top_k_csr(indptr, indices, data, start, stop, coef_flat, stride_c, stride_j, self.intercept_,
                          Z[start:stop], *tree_arrays, out[start:stop], scores[start:stop])

            self._map_chunks(X.shape[0], search, 2048)
            return out, scores
        overflow = []

        def search_dense(start, stop):
            # float32 BLAS scores, handed to the kernel as a feature-major "coef" with one unit non-zero per row
            with np.errstate(over="ignore", invalid="ignore"):
                S = X[start:stop] @ self.coef_.T
                finite = np.isfinite(S.sum())
            if not finite:  # float32 overflow (huge x or coef_): the float64 path below
                overflow.append((start, stop))
                return
            n = stop - start
            top_k_csr(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int32), np.ones(n, dtype=FLOAT), 0, n,
                      S.reshape(-1), 1, S.shape[1], self.intercept_, Z[start:stop], *tree_arrays,
                      out[start:stop], scores[start:stop])

        self._map_chunks(X.shape[0], search_dense, self._block_rows())
        for start, stop in overflow:
            self._map_blocks(X[start:stop], lambda a, b, S, Zb, o=start: select(o + a, o + b, S, Zb))
        return out, scores

    def _predict_codes(self, X):
        return self._top_k_codes(X, 1)[0][:, 0]

    def decision_function(self, X):
        """Bias-corrected scores xi_y(x) + log p_n(y|x) of all classes.

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
        X = self._validate_X(X)
        out = np.empty((X.shape[0], len(self.classes_)), dtype=np.float64)

        def store(start, stop, S, Zb):
            out[start:stop] = S

        self._map_blocks(X, store)
        if len(self.classes_) == 2:
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
        X = self._validate_X(X)
        out = np.empty((X.shape[0], len(self.classes_)), dtype=np.float64)

        def store(start, stop, S, Zb):
            m = S.max(axis=1, keepdims=True)
            S -= m
            out[start:stop] = S
            np.exp(S, out=S)
            out[start:stop] -= np.log(S.sum(axis=1, keepdims=True))

        self._map_blocks(X, store)
        return out

    def predict_proba(self, X):
        """Class probabilities: softmax over all classes of xi_y(x) + log p_n(y|x).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Rows sum to 1; columns follow ``classes_``.
        """
        X = self._validate_X(X)
        out = np.empty((X.shape[0], len(self.classes_)), dtype=np.float64)

        def store(start, stop, S, Zb):
            S -= S.max(axis=1, keepdims=True)
            np.exp(S, out=S)
            S /= S.sum(axis=1, keepdims=True)
            out[start:stop] = S

        self._map_blocks(X, store)
        return out

    def predict(self, X):
        """Most probable class, computed in row blocks (never the full n x C matrix).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Class labels.
        """
        codes = self._predict_codes(self._validate_X(X))  # validates (NotFittedError) before reading classes_
        return self.classes_[codes]

    def predict_top_k(self, X, k=5):
        """The k most probable classes of each row, most probable first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.
        k : int, default=5
            Number of classes per row (at most ``n_classes``).

        Returns
        -------
        top : ndarray of shape (n_samples, k)
            Class labels.
        """
        X = self._validate_X(X)
        if not isinstance(k, Integral) or not 1 <= k <= len(self.classes_):
            raise ValueError(f"k must be an integer in [1, n_classes={len(self.classes_)}]; got {k!r}.")
        return self.classes_[self._top_k_codes(X, k)[0]]
