"""The auxiliary model p_n(y|x): a probabilistic binary tree over the classes.

``AuxiliaryTree`` is the public estimator (paper Sec. 3). Its state is a handful
of flat arrays (see ``skxc/_kernels/tree.py`` for the layout), so it pickles
for free and kernels take it as-is. The unconditional noise distributions
("uniform", "frequency") are trees too: with no features (k = 0), each node's
bias alone routes the probability mass, so the classifier has one code path
for every noise model.
"""

from __future__ import annotations

import weakref
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._config import FLOAT, PADDING_BIAS
from ._kernels.project import project_rows
from ._kernels.rng import seed_states
from ._kernels.tree import log_noise_of_codes, sample_classes
from ._memory import small_pages
from ._model import intact_on_error
from ._parallel import child_seed, fan_out, n_threads, one_blas_thread, seed_rng
from ._predict import TreeArrays, add_log_noise, block_rows, readonly
from ._projection import (
    GRAM_FEATURES,
    active_columns,
    gram_svd_projection,
    randomized_svd_projection,
    restrict_columns,
    row_blocks,
)
from ._start import calibration_split, choose_temperature, tempered
from ._tree_fit import class_segments, fit_tree, tree_depth
from ._validation import (
    NONZERO_N_JOBS,
    check_finite_projection,
    check_fitted_projection,
    check_many_class_targets,
    check_output_memory,
    check_projectable,
    check_tree_memory,
    encode_labels,
    positive_rows,
    reject_bool_numbers,
    unique_labels,
)

#: Project sparse X with :func:`skxc._projection.randomized_svd_projection` (threaded sparse products,
#: Cholesky QR); False: scikit-learn's ``TruncatedSVD`` (the same algorithm, one thread, LU steps).
THREADED_SVD = True
#: Dense rows are projected in blocks of about this many entries (16 MiB of float64), so that projecting X
#: never holds a float64 copy of all of it (PCA's float64 components turn a float32 X into one).
PROJECT_BLOCK = 2**21
#: Sparse X whose active columns (those with a stored entry in the tree's rows) are at most this share of its
#: columns is projected on them alone (``active_columns_``): an inactive column gets exactly zero components, yet
#: costs a row of each n_features x (k + 10) float64 block of the SVD and k float64 components in every saved model.
#: Up to this share the renumbering (O(nnz + n_features)) saves at least half of those; above it (every data set in
#: docs/benchmarks.rst) the projection is fitted on X as it is, over all its columns.
ACTIVE_COLUMNS_SHARE = 0.5


#: Per fitted TruncatedSVD: ``(components_, its transpose in C order)``, outside the estimator (not pickled).
_TRANSPOSED = weakref.WeakKeyDictionary()


def transposed_components(svd: TruncatedSVD) -> np.ndarray:
    """``svd.components_.T`` as a C-contiguous float64 array, made once per components array: scipy's product of
    sparse rows with the transposed view copies it to C order first, on every call (n_features x k float64: 10 MB
    at 80,000 features, most of a one-row prediction's time)."""
    cached = _TRANSPOSED.get(svd)
    if cached is None or cached[0] is not svd.components_:
        cached = (svd.components_, np.ascontiguousarray(svd.components_.T, dtype=np.float64))
        _TRANSPOSED[svd] = cached
    return cached[1]


#: Per fitted TruncatedSVD of a tree with ``active_columns_``: ``(active_columns_, its column map)`` (see
#: :func:`column_map`), outside the estimator (not pickled).
_COLUMN_MAPS = weakref.WeakKeyDictionary()


def column_map(svd: TruncatedSVD, active: np.ndarray, n_features: int) -> np.ndarray:
    """Read-only int32 (n_features,): each column's position among the sorted ``active`` columns, -1 for the
    others; made once per ``(svd, active)`` (a prediction of a few rows does not pay O(n_features) each call)."""
    cached = _COLUMN_MAPS.get(svd)
    if cached is None or cached[0] is not active or cached[1].shape[0] != n_features:
        column = np.full(n_features, -1, dtype=np.int32)
        column[active] = np.arange(active.shape[0], dtype=np.int32)
        cached = (active, readonly(column))
        _COLUMN_MAPS[svd] = cached
    return cached[1]


def _zero_padded(svd: TruncatedSVD, Z: np.ndarray, k: int):
    """``(svd, Z)`` with zero components (and zero singular values, variances and Z columns) appended up to ``k``."""
    pad = k - svd.components_.shape[0]
    svd.components_ = np.vstack([svd.components_, np.zeros((pad, svd.components_.shape[1]))])
    for name in ("singular_values_", "explained_variance_", "explained_variance_ratio_"):
        setattr(svd, name, np.concatenate([getattr(svd, name), np.zeros(pad)]))
    svd.n_components = k
    return svd, np.hstack([Z, np.zeros((Z.shape[0], pad))])


def balanced_leaf_class(n_classes: int) -> np.ndarray:
    """Leaves of classes 0..C-1 in index order under the layout rule of the tree fit.

    A node with n real classes sends n - n // 2 left and n // 2 right, so padding
    leaves (-1) are spread evenly. Returns int32 (2**D,).
    """
    node_lo, node_hi = class_segments(n_classes)  # the fit's own layout, in class order
    n_leaves = 2 ** tree_depth(n_classes)
    lo, hi = node_lo[n_leaves - 1 :], node_hi[n_leaves - 1 :]
    return np.where(hi > lo, lo, -1).astype(np.int32)


def unconditional_tree_arrays(class_mass: np.ndarray):
    """Tree arrays (k = 0) whose leaf probabilities are ``class_mass`` normalised.

    ``class_mass``: positive float (C,). Returns (node_weight, node_bias,
    leaf_class, class_leaf) following the layout contract of the tree fit.
    """
    n_classes = class_mass.shape[0]
    depth = tree_depth(n_classes)
    n_inner = 2**depth - 1
    leaf_class = balanced_leaf_class(n_classes)
    class_leaf = np.empty(n_classes, dtype=np.int32)
    real = leaf_class >= 0
    class_leaf[leaf_class[real]] = np.flatnonzero(real)
    mass = np.zeros(2**depth, dtype=np.float64)
    mass[real] = class_mass[leaf_class[real]]
    node_bias = np.zeros(n_inner, dtype=FLOAT)
    # bottom-up: the children of level l's nodes are the (pairs of) entries of `mass`
    for level in range(depth - 1, -1, -1):
        left, right = mass[0::2], mass[1::2]
        with np.errstate(divide="ignore"):
            b = np.log(right) - np.log(left)
        b = np.where(right == 0, -PADDING_BIAS, b)
        b = np.where((left == 0) & (right == 0), 0.0, b)
        node_bias[2**level - 1 : 2 ** (level + 1) - 1] = b
        mass = left + right
    node_weight = np.zeros((n_inner, 0), dtype=FLOAT)
    return node_weight, node_bias, leaf_class, class_leaf


def class_means(X, codes, rows, weight, n_classes: int):
    """``(means, class_weight)`` for ``projection="centroids"``: float64 CSR, one row per class with
    examples of positive total weight, the weighted mean of its examples' rows of ``X`` (example e: row
    ``rows[e]``, class ``codes[e]``, weight ``weight[e]``), centred on the weighted mean of all examples when
    ``X`` is dense (as PCA centres; sparse means stay sparse, as TruncatedSVD does not centre), and each
    class's total weight (positive, float64)."""
    weight = np.asarray(weight, dtype=np.float64)
    L = sp.csr_matrix((weight, (np.asarray(codes), np.asarray(rows))), shape=(n_classes, X.shape[0]))
    class_weight = np.asarray(L.sum(axis=1), dtype=np.float64).ravel()
    kept = np.flatnonzero(class_weight > 0)
    L, class_weight = L[kept], class_weight[kept]
    if sp.issparse(X):
        means = sp.csr_matrix(sp.diags(1.0 / class_weight) @ (L @ sp.csr_matrix(X, dtype=np.float64)))
    else:
        means = np.asarray(L @ np.asarray(X, dtype=np.float64)) / class_weight[:, None]
        means -= (class_weight @ means) / class_weight.sum()
        means = sp.csr_matrix(means)
    return means, class_weight


#: Largest ``n_components``: the tree's projection is low-dimensional (the paper's 16); a randomized SVD
#: of thousands of components holds tall float64 blocks of n_features (or rows) x (k + 10), gigabytes that
#: no guard counts, for a tree no better (docs/benchmarks.rst: 16-64 components).
MAX_COMPONENTS = 1024
#: Upper bound of the tree's iteration counts: far above any use, and an int64 in the fitting kernels (2**63 overflowed
#: their signature or compiled a uint64 one).
MAX_ITER = 2**31 - 1
#: ``temperature`` (and the classifier's ``tree_temperature``) lies in [1 / MAX_TEMPERATURE, MAX_TEMPERATURE]:
#: beyond, the splits' logits overflow (float32 weights) or the tree is uniform to float precision.
MAX_TEMPERATURE = 1e6


class AuxiliaryTree(ClassifierMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Probabilistic binary decision tree over the classes, p_n(y|x).

    The auxiliary ("adversarial") model of Bamler & Mandt (2020), Sec. 3. Inputs
    are projected to ``n_components`` dimensions (PCA for dense X, TruncatedSVD
    for sparse X, or the class means' directions: ``projection``) and a
    balanced binary tree is fitted greedily top-down: at each node, Newton
    steps on the node's logistic split (w, b) alternate with reassigning the
    half of the classes with the largest score to the right
    child (Eqs. 7-9). Sampling a class and evaluating log p_n(y|x) cost
    O(k log C); all-class probabilities cost O(k C) per row.

    Parameters
    ----------
    n_components : int in [0, 1024], default=16
        Dimension k of the projection the tree splits on (paper: 16). Capped at
        ``n_features - 1`` (sparse; its active columns less one when the
        projection takes those alone: ``active_columns_``) or
        ``min(n_samples, n_features)`` (dense). Each node's Newton steps solve
        k x k systems, so the fit's time grows about as k^3 and faster: the
        upper end of the range takes minutes where 16 takes a fraction of a
        second.
        ``0`` fits an unconditional tree, the same for every row: each node's
        bias b alone splits the probability between its children, b
        maximising ``R log sigmoid(b) + L log sigmoid(-b) - alpha b**2``
        (R, L: the summed weights of the rows of the classes in its right and
        left subtree). With ``alpha=0`` the tree gives the class frequencies
        of the rows it is fitted on; ``alpha > 0`` pulls every split towards
        an even one, so the tree lies between the frequencies and the
        balanced tree whose every split is even (uniform when the number of
        classes is a power of two; otherwise a class whose leaf's sibling is
        a padding leaf gets twice the share of one whose sibling is a class),
        the closer to the frequencies the more rows each node has. With the default ``alpha=10``, classes of 80, 40, 20 and 10 rows
        (frequencies 0.53, 0.27, 0.13, 0.07) get 0.41, 0.28, 0.17 and 0.14; a
        hundred times as many rows get 0.53, 0.27, 0.13 and 0.07.

    alpha : float, default=10.0
        L2 regularisation λ_n of each node's (w, b) on the standardised
        projection (paper: 0.1, which over-fits the deep nodes' few rows: see
        ``tree_alpha`` of :class:`AdversarialSoftmaxClassifier`).

    projection : {"svd", "centroids"}, default="svd"
        The directions the tree splits on. "svd": the top ``n_components``
        principal directions of X (PCA for dense X, TruncatedSVD for sparse
        X), which ignore y. "centroids": the top ``n_components`` directions
        of the class means (right singular vectors of the matrix of class
        means, each row weighted by the square root of its class's weight,
        centred for dense X), the directions that best separate the classes;
        at most one fewer than the classes with rows. It suits many rows per
        class, whose means are reliable (a class with one or two rows has a
        mean that is its rows); :class:`AdversarialSoftmaxClassifier` uses it
        there (``tree_projection``).

    max_samples : int, default=200_000
        The projection and the tree are fitted on a random subsample of at most
        this many rows (all rows when N is smaller).

    max_newton_iter : int in [1, 2**31 - 1], default=20
        Newton iterations per continuous step.

    max_split_iter : int in [1, 2**31 - 1], default=10
        Alternations of continuous and discrete steps per node.

    newton_tol : float >= 0, default=1e-6
        A continuous step stops once the next Newton step's predicted gain of
        the node objective is at most this much per unit of the node's row
        weight. Larger values fit the tree in fewer passes over the rows
        (ptb-nextword, 24 components: 1e-3 took 0.6x the time of 1e-6) with
        less converged splits; :class:`AdversarialSoftmaxClassifier` uses 1e-3
        where ``n_components="auto"`` gives 24 components.

    temperature : float in [1e-6, 1e6] or "auto", default="auto"
        Multiplies every split's logit w_ν·z + b_ν; the bounds are the
        classifier's ``tree_temperature``'s (far above, the tempered float32
        weights overflow to NaN probabilities; below, the tree is uniform to
        float precision). Below 1 the
        tree is smoother (closer to the balanced tree that ignores x), above 1
        sharper ("auto" never sharpens); every temperature gives a proper distribution with the same
        O(k log C) sampling. ``"auto"`` holds out 10 % of the rows (at most
        10,000; none when fewer than 1,000 rows, then the temperature is 1),
        fits the tree on the rest and picks the temperature in [1/32, 1] with
        the best mean held-out log-likelihood log p_n(y|x): a tree fitted on
        classes with one or two rows each is over-confident on new rows, one
        fitted on many rows per class keeps a temperature near 1; with
        ``n_components=0`` (an unconditional tree) it is 1 and no row is held out.
        The value used is ``temperature_``.

    random_state : int, RandomState instance or None, default=None
        Seeds the subsample, the projection and :meth:`sample` when it is not
        given its own ``random_state``.

    n_jobs : int, default=None
        Threads used to fit the nodes of one level (the result does not depend on it).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.
    projection_ : PCA, TruncatedSVD or None
        The fitted projection (None when ``n_components == 0``); with
        ``projection="centroids"`` a TruncatedSVD of the class means. Its
        ``components_`` are of shape (``n_components_``, n_active): over the
        columns ``active_columns_`` when that is set, all
        ``n_features_in_`` otherwise.
    active_columns_ : ndarray of shape (n_active,), int64, or None
        The columns the projection is fitted on and takes, sorted: for sparse
        X whose columns with a stored entry in the tree's rows are at most
        half of them, those columns (the others would get exactly zero
        components); None when it takes all columns (dense X, most sparse X,
        or no projection). Entries of other columns are ignored when
        projecting, as zero components would ignore them.
    n_components_ : int
        The projection's dimension k actually used.
    depth_ : int
        Depth D of the tree; it has 2**D leaves, 2**D - C of them padding.
    node_weight_ : ndarray of shape (2**D - 1, k), float32
        Split weights w_ν in heap order (children of node i: 2i+1 left, 2i+2 right).
    node_bias_ : ndarray of shape (2**D - 1,), float32
        Split biases b_ν; P(right) = sigmoid(w_ν·z + b_ν).
    leaf_class_ : ndarray of shape (2**D,), int32
        Class index of each leaf, -1 for padding leaves.
    class_leaf_ : ndarray of shape (n_classes,), int32
        Leaf of each class.
    temperature_ : float
        The temperature applied to ``node_weight_`` and ``node_bias_`` (1 when
        ``temperature="auto"`` had too few rows to hold out).

    See Also
    --------
    AdversarialSoftmaxClassifier : Uses this tree to draw negatives.

    References
    ----------
    R. Bamler and S. Mandt. Extreme Classification via Adversarial Softmax
    Approximation. ICLR 2020.

    Examples
    --------
    >>> from skxc import AuxiliaryTree
    >>> from skxc.datasets import make_hierarchical_classification
    >>> X, y = make_hierarchical_classification(n_samples=2000, n_classes=32, random_state=0)
    >>> tree = AuxiliaryTree(n_components=8, random_state=0).fit(X, y)
    >>> tree.predict_proba(X[:2]).sum(axis=1).round(6)
    array([1., 1.])
    >>> tree.sample(X[:2], n_samples=3, random_state=0).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 0, MAX_COMPONENTS, closed="both")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "projection": [StrOptions({"svd", "centroids"})],
        "max_samples": [Interval(Integral, 1, None, closed="left")],
        "max_newton_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],
        "max_split_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],
        "newton_tol": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 1 / MAX_TEMPERATURE, MAX_TEMPERATURE, closed="both"), StrOptions({"auto"})],
        "random_state": ["random_state"],
        "n_jobs": [*NONZERO_N_JOBS, None],
    }

    def __init__(
        self,
        *,
        n_components=16,
        alpha=10.0,
        projection="svd",
        max_samples=200_000,
        max_newton_iter=20,
        max_split_iter=10,
        newton_tol=1e-6,
        temperature="auto",
        random_state=None,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.projection = projection
        self.max_samples = max_samples
        self.max_newton_iter = max_newton_iter
        self.max_split_iter = max_split_iter
        self.newton_tol = newton_tol
        self.temperature = temperature
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self):
        """scikit-learn's parameter validation, and no bool for a numeric parameter (True would pass as 1)."""
        super()._validate_params()
        reject_bool_numbers(self, self._parameter_constraints)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # transform returns float32 Z for any input
        return tags

    def __dask_tokenize__(self):
        """Dask token from all attributes, large arrays by fingerprint: no pickling (skxc/_dask.py)."""
        from ._dask import object_token

        return object_token(self)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, classes=None, sample_weight=None):
        """Fit the projection and the tree.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All classes the tree must have leaves for (a superset of ``y``);
            default: the classes present in ``y``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights. They count like repeated rows against
            the fixed regularisation ``alpha`` of each node, so their overall
            scale matters, not only their ratios: weights multiplied by 1000
            fit sharper splits, and weights summing to 1 (a distribution)
            make the tree nearly uniform. Use counts, e.g. weights of mean 1.
            Rows of weight 0 are left out, as if absent from X (also from the
            projection, which does not weight rows).

        Returns
        -------
        self : AuxiliaryTree
            The fitted tree.
        """
        # a refit that raises leaves the fitted tree as it was; NumPy's arrays on small pages meanwhile
        with intact_on_error(self.__dict__), small_pages():
            X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
            check_many_class_targets(y)
            classes = np.unique(y) if classes is None else unique_labels(classes, "classes")
            codes = encode_labels(classes, y, "y", "The classes are the `classes` argument of fit.")
            if len(classes) < 2:
                raise ValueError(f"AuxiliaryTree needs at least 2 classes; got {len(classes)} class: {classes!r}.")
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
            X, codes, sample_weight = positive_rows(X, codes, sample_weight)  # weight 0: as if absent
            rng = seed_rng(self.random_state)
            held_out = None
            if self.temperature == "auto" and self.n_components != 0:  # an unconditional tree calibrates nothing
                fit_rows, held_rows = calibration_split(X.shape[0], rng, sample_weight)
                if held_rows is not None:
                    held_out = (X[held_rows], codes[held_rows])
                    X, codes, sample_weight = X[fit_rows], codes[fit_rows], sample_weight[fit_rows]
            return self.fit_encoded(X, codes, classes, sample_weight, rng, held_out=held_out)

    def fit_encoded(self, X, codes, classes, sample_weight, rng, held_out=None, example_row=None):
        """Fit on validated X and integer class codes, drawing randomness from ``rng``.

        The entry point for an estimator that has validated its data and
        encoded its labels already (``fit`` calls it after doing both).

        Parameters
        ----------
        X : {ndarray, CSR matrix} of shape (n_samples, n_features)
            Validated, finite training data (float32 or float64).
        codes : ndarray of shape (n_samples,), int
            Index of each row's class in ``classes``.
        classes : ndarray of shape (n_classes,)
            Sorted class labels (at least 2); becomes ``classes_``.
        sample_weight : ndarray of shape (n_samples,), float64
            Non-negative row weights.
        rng : numpy.random.Generator
            Source of the subsample and the projection's seed (advanced).
        held_out : tuple (X_held, codes_held) or None, default=None
            Rows not in ``X`` on which ``temperature="auto"`` is chosen; with
            None, "auto" means a temperature of 1.
        example_row : ndarray of shape (n_examples,), int, or None, default=None
            The rows of X that ``codes`` and ``sample_weight`` label, one
            entry per example (a multi-label classifier's (row, label)
            pairs): the tree is fitted as on ``X[example_row]``, but sparse
            X is projected from its rows once each, weighted by their
            counts, without the repeated copy. None: one example per row.

        Returns
        -------
        self : AuxiliaryTree
            The fitted tree.
        """
        check_tree_memory(len(classes), min(self.n_components, X.shape[1]), type(self).__name__)
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        n_samples = X.shape[0] if example_row is None else example_row.shape[0]
        if n_samples > self.max_samples:
            rows = np.sort(rng.choice(n_samples, size=self.max_samples, replace=False))
            codes, sample_weight = codes[rows], sample_weight[rows]
            if example_row is None:
                X = X[rows]
            else:
                example_row = example_row[rows]
        n_classes = len(self.classes_)
        if example_row is not None and sp.issparse(X):  # each row of X once, counted per example
            used, inverse = np.unique(example_row, return_inverse=True)
            X = X[used]
            labels = (codes, inverse, sample_weight, n_classes)
            self._fit_projection(X, rng, row_weight=np.bincount(inverse).astype(np.float64), labels=labels)
            Z = self._project(X)[inverse]
        else:
            if example_row is not None:
                X = X[example_row]
            self._fit_projection(X, rng, labels=(codes, np.arange(X.shape[0]), sample_weight, n_classes))
            Z = self._project(X)
        self.depth_ = tree_depth(n_classes)
        self.node_weight_, self.node_bias_, self.leaf_class_, self.class_leaf_ = fit_tree(
            Z,
            codes.astype(np.int32),
            len(self.classes_),
            sample_weight=sample_weight,
            alpha=self.alpha,
            max_newton_iter=self.max_newton_iter,
            max_split_iter=self.max_split_iter,
            newton_tol=self.newton_tol,
            n_jobs=n_threads(self.n_jobs),
        )
        self._set_temperature(held_out)
        return self

    def _set_temperature(self, held_out):
        """Apply ``temperature``; for "auto", the one that best predicts the rows ``held_out`` (X, codes).

        With "auto" and no held-out rows the temperature is 1.
        """
        self.temperature_ = 1.0
        if self.n_components_ == 0 and self.temperature == "auto":  # unconditional: alpha alone smooths it
            return
        if self.temperature != "auto":
            tau = float(self.temperature)
        elif held_out is None:
            return
        else:
            Z = self._project(held_out[0])
            codes = np.ascontiguousarray(held_out[1], dtype=np.int32)
            out = np.empty(Z.shape[0], dtype=np.float64)
            weight, bias = self.node_weight_, self.node_bias_

            def held_out_log_likelihood(tau):
                w, b = tempered(weight, bias, tau)
                log_noise_of_codes(Z, codes, readonly(w), readonly(b), readonly(self.class_leaf_), out)
                return float(np.mean(out))

            tau, _ = choose_temperature(held_out_log_likelihood)
        if tau != 1.0:
            self.node_weight_, self.node_bias_ = tempered(self.node_weight_, self.node_bias_, tau)
        self.temperature_ = tau

    def _fit_projection(self, X, rng, row_weight=None, labels=None):
        """Fit ``projection_`` and the standardisation of Z on X's rows; ``row_weight`` (float64, positive,
        sparse X only): row i counts ``row_weight[i]`` times, as if it were repeated (the SVD of the
        repeated rows is that of X's rows scaled by the square roots of their counts). ``labels``:
        ``(codes, rows, weight, n_classes)``, the examples' classes, rows of X and weights, for
        ``projection="centroids"``. Sparse X of few active columns (``ACTIVE_COLUMNS_SHARE``) is projected on
        them alone, as the full-width projection (the same algorithm and start) to rounding: ``active_columns_``."""
        n_features = X.shape[1]
        n_samples = X.shape[0] if row_weight is None else int(round(row_weight.sum()))
        self.active_columns_ = embedding = None
        if sp.issparse(X) and self.n_components > 0:  # few active columns: project on them alone
            X, self.active_columns_ = active_columns(X, ACTIVE_COLUMNS_SHARE)
            if self.active_columns_ is not None:
                embedding = (self.active_columns_, n_features)
        if sp.issparse(X):
            k = min(self.n_components, n_features - 1, n_samples)
        else:
            k = min(self.n_components, n_features, n_samples)
        means = None
        if self.projection == "centroids" and labels is not None and k > 0:
            means, mean_weight = class_means(X, *labels)
            k = min(k, means.shape[0] - 1)  # C centred means span at most C - 1 directions (kept so for sparse X)
        self.n_components_ = max(int(k), 0)
        if self.n_components_ == 0:
            self.projection_ = self.active_columns_ = None
            self._z_shift = np.zeros(0, dtype=FLOAT)
            self._z_scale = 1.0
            return
        # on fewer active columns than k the full-width projection's last components span no row (zero Z): they are
        # fitted as zeros, after the active columns' own (at most one per column)
        fitted = self.n_components_ if embedding is None else min(self.n_components_, X.shape[1])
        check_projectable(X if means is None else means)
        seed = child_seed(rng)
        # in float64 (X is at most max_samples rows here): float32 X near the float32
        # limit would overflow inside the eigen/SVD solvers; all-zero or one-row X makes
        # scikit-learn divide 0 by 0 for the explained variance, which Z does not use
        # on one BLAS thread: the LU and QR steps of the solvers round differently with more threads
        # (the tree would depend on the machine's core count), and on a busy machine they were 5-10x
        # slower with two threads than with one (docs/benchmarks.rst, "Cost of the centroid blend");
        # the threaded SVD's sparse products give the same result on any number of threads
        with np.errstate(invalid="ignore", divide="ignore"), one_blas_thread():
            if means is not None:  # the class means' directions (their SVD, rows weighted by class weight)
                proj, _ = randomized_svd_projection(
                    means, fitted, 4, seed, n_threads(self.n_jobs), mean_weight, embedding
                )
                Zp = np.asarray(proj.transform(X.astype(np.float64)), dtype=np.float64)
            elif sp.issparse(X) and n_features <= GRAM_FEATURES:  # few columns: exactly, through X.T @ X
                proj, Zp = gram_svd_projection(X, fitted, row_weight)
            elif sp.issparse(X) and (THREADED_SVD or row_weight is not None):
                proj, Zp = randomized_svd_projection(
                    X.astype(np.float64), fitted, 4, seed, n_threads(self.n_jobs), row_weight, embedding
                )
            else:
                if sp.issparse(X):
                    proj = TruncatedSVD(fitted, algorithm="randomized", n_iter=4, random_state=seed)
                else:
                    proj = PCA(self.n_components_, svd_solver="auto", random_state=seed, copy=False)  # X: our copy
                Zp = proj.fit_transform(X.astype(np.float64))
        check_fitted_projection(Zp, X)
        if fitted < self.n_components_:
            proj, Zp = _zero_padded(proj, Zp, self.n_components_)
        self.projection_ = proj
        # centre and scale to unit mean variance per component, so that the
        # regulariser alpha means the same for any input scale
        self._z_shift = np.average(Zp, axis=0, weights=row_weight).astype(np.float64)
        var = float(np.average(np.mean((Zp - self._z_shift) ** 2, axis=1), weights=row_weight)) if Zp.size else 0.0
        self._z_scale = 1.0 / np.sqrt(var) if var > 0 else 1.0

    def transform(self, X):
        """Project X onto the features the tree splits on.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_), float32
            The projection (PCA or TruncatedSVD), centred and scaled to unit
            mean variance; C-contiguous. ValueError if it overflows float32.
        """
        return self._project(self._validate_X(X))

    @property
    def _n_features_out(self) -> int:
        """Number of features :meth:`transform` returns (``get_feature_names_out``: ``auxiliarytree0`` ...)."""
        return self.n_components_

    def project(self, X, n_jobs=None):
        """:meth:`transform` of rows that the caller has validated: no conversion and no check of feature
        names, which such rows no longer carry (the classifier checks a frozen tree's names when it is fitted).

        Parameters
        ----------
        X : ndarray of float32 or float64, or CSR matrix, of shape (n_samples, n_features_in_)
            Rows already validated, e.g. the classifier's kernel rows.
        n_jobs : int or None, default=None
            Threads projecting sparse rows; None means the tree's ``n_jobs``. The result does not depend on it.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_), float32
            The rows' projection, as :meth:`transform` gives it.
        """
        check_is_fitted(self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the tree was fitted with {self.n_features_in_}.")
        return self._project(X, n_jobs)

    @property
    def arrays(self) -> TreeArrays:
        """The fitted tree's flat arrays as read-only, C-contiguous views: what the kernels take.

        ``(node_weight, node_bias, leaf_class, class_leaf)``, see the fitted
        attributes of the same names. Read-only for every model (fresh or
        loaded with ``mmap_mode="r"``), so the kernels compile once.
        """
        check_is_fitted(self)
        return TreeArrays(
            *(
                readonly(np.ascontiguousarray(a))
                for a in (self.node_weight_, self.node_bias_, self.leaf_class_, self.class_leaf_)
            )
        )

    def _project(self, X, n_jobs=None):
        """Projected, standardised features Z of validated X: float32 (n, k), C-contiguous. ``n_jobs``: threads
        projecting sparse rows (None: the tree's ``n_jobs``); the result does not depend on it."""
        if self.projection_ is None:
            return np.zeros((X.shape[0], 0), dtype=FLOAT)
        active = getattr(self, "active_columns_", None)  # None: all columns (and trees saved before it existed)
        if sp.issparse(X) and isinstance(self.projection_, TruncatedSVD) and X.shape[1] < 2**31:
            return check_finite_projection(self._project_sparse(X, active, n_jobs))
        if active is not None and sp.issparse(X):  # the entries of columns without components are dropped
            X = restrict_columns(X, active)
        with np.errstate(over="ignore", invalid="ignore"):
            if sp.issparse(X) and isinstance(self.projection_, TruncatedSVD):  # its transform, without the copy
                Z = np.asarray(X @ transposed_components(self.projection_))
            elif sp.issparse(X) or (active is None and X.shape[0] * X.shape[1] <= PROJECT_BLOCK):
                Z = self.projection_.transform(X)
            else:  # dense float32 rows meet float64 components in a float64 copy: a block at a time
                step = max(1, PROJECT_BLOCK // X.shape[1])
                blocks = (
                    X[i : i + step] if active is None else X[i : i + step, active] for i in range(0, X.shape[0], step)
                )
                Z = np.vstack([self.projection_.transform(block) for block in blocks])
            Z -= self._z_shift
            Z *= self._z_scale
            Z = np.ascontiguousarray(Z, dtype=FLOAT)
        return check_finite_projection(Z)

    def _project_sparse(self, X, active, n_jobs):
        """:meth:`_project` of CSR ``X`` (fewer than 2**31 columns) through a ``TruncatedSVD``: the kernel
        :func:`~skxc._kernels.project.project_rows` on the row blocks of ``skxc._projection.row_blocks``, on ``n_jobs``
        threads (None: the tree's). The same float32 values as scipy's product with the components followed
        by the centring, the scaling and the cast (the kernel's sums are that product's), without the float64
        (n, k) temporaries or the copy of X restricted to ``active`` columns."""
        X = sp.csr_matrix(X)
        # read-only views throughout (the rows and the model may be memory-mapped): one compiled signature
        indptr = readonly(np.ascontiguousarray(X.indptr, dtype=np.int64))
        indices = readonly(np.ascontiguousarray(X.indices, dtype=np.int32))
        data = readonly(np.ascontiguousarray(X.data, dtype=np.float64))
        column = (
            readonly(np.zeros(0, dtype=np.int32))
            if active is None
            else column_map(self.projection_, active, X.shape[1])
        )
        components = readonly(transposed_components(self.projection_))
        k = components.shape[1]
        shift = readonly(np.ascontiguousarray(np.broadcast_to(np.asarray(self._z_shift, dtype=np.float64), (k,))))
        scale = float(self._z_scale)
        Z = np.empty((X.shape[0], k), dtype=FLOAT)
        threads = n_threads(self.n_jobs if n_jobs is None else n_jobs)
        blocks = row_blocks(X, threads)

        def block(bounds):
            project_rows(indptr, indices, data, column, components, shift, scale, bounds[0], bounds[1],
                         np.zeros(k), Z)  # fmt: skip

        fan_out(block, blocks, threads)
        return Z

    @classmethod
    def unconditional(cls, classes, class_mass, n_features_in: int) -> AuxiliaryTree:
        """A fitted tree with no features (k = 0) whose leaf probabilities are ``class_mass`` normalised.

        Parameters
        ----------
        classes : ndarray of shape (n_classes,)
            Sorted class labels; becomes ``classes_``.
        class_mass : array-like of shape (n_classes,)
            Positive mass of each class, e.g. ones (uniform) or smoothed counts (frequency).
        n_features_in : int
            Number of input features the tree accepts (it ignores them).

        Returns
        -------
        tree : AuxiliaryTree
            A fitted tree with ``n_components_ == 0``.
        """
        classes = np.asarray(classes)
        mass = np.asarray(class_mass, dtype=np.float64)
        if classes.ndim != 1 or classes.shape[0] < 2:
            raise ValueError(f"classes must be 1-D with at least 2 labels; got shape {classes.shape}.")
        if np.any(classes[1:] <= classes[:-1]):
            raise ValueError("classes must be sorted and distinct (np.unique(y) gives them so).")
        if mass.shape != classes.shape:
            raise ValueError(f"class_mass must have one entry per class, shape {classes.shape}; got {mass.shape}.")
        if not np.all(np.isfinite(mass) & (mass > 0)):
            raise ValueError("class_mass must be positive and finite for every class.")
        if isinstance(n_features_in, bool) or not isinstance(n_features_in, Integral) or n_features_in < 0:
            raise ValueError(f"n_features_in must be a non-negative int; got {n_features_in!r}.")
        tree = cls(n_components=0)
        tree.classes_ = classes
        tree.n_features_in_ = int(n_features_in)
        tree.n_components_ = 0
        tree.projection_ = tree.active_columns_ = None
        tree._z_shift = np.zeros(0, dtype=FLOAT)
        tree._z_scale = 1.0
        tree.depth_ = tree_depth(len(classes))
        tree.temperature_ = 1.0
        tree.node_weight_, tree.node_bias_, tree.leaf_class_, tree.class_leaf_ = unconditional_tree_arrays(mass)
        return tree

    # -- inference -------------------------------------------------------------

    def _validate_X(self, X):
        check_is_fitted(self)
        with np.errstate(over="ignore", invalid="ignore"):  # scikit-learn's finiteness check may sum float32 X to inf
            return validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)

    def predict_log_proba(self, X):
        """Compute the log-probabilities log p_n(c|x) of all classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes), float64
            Each row has logsumexp 0.
        """
        return self._log_proba(X, "predict_log_proba")

    def _log_proba(self, X, method):
        """``predict_log_proba`` of X, its (n, C) float64 array checked against the available memory for ``method``."""
        Z = self._project(self._validate_X(X))
        check_output_memory(
            method, Z.shape[0], len(self.classes_), "a {n_rows:,} x {n_columns:,} float64 array",
            "predict(X) (computed in blocks of rows); or {slices}",  # an AuxiliaryTree has no predict_top_k
        )  # fmt: skip
        out = np.zeros((Z.shape[0], len(self.classes_)), dtype=np.float64)
        for _ in self._log_proba_blocks(Z, out):
            pass
        return out

    def _log_proba_blocks(self, Z, out=None):
        """``(start, stop, log_proba)`` of the projected rows ``Z`` in row blocks: slices of ``out`` (float64
        (n, C) zeros) if given, else of one buffer reused from block to block."""
        block = block_rows(2 * len(self.leaf_class_), 0)
        arrays = self.arrays
        if out is None:
            buffer = np.empty((min(block, Z.shape[0]), len(self.classes_)), dtype=np.float64)
        for start in range(0, Z.shape[0], block):
            stop = min(start + block, Z.shape[0])
            if out is None:
                part = buffer[: stop - start]
                part.fill(0.0)
            else:
                part = out[start:stop]
            add_log_noise(Z[start:stop], arrays, part)
            yield start, stop, part

    def predict_proba(self, X):
        """Compute the probabilities p_n(c|x) of all classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Rows sum to 1.
        """
        return np.exp(self._log_proba(X, "predict_proba"))

    def predict(self, X):
        """Most probable class under the tree.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Class labels.
        """
        Z = self._project(self._validate_X(X))
        codes = np.empty(Z.shape[0], dtype=np.intp)
        for start, stop, log_proba in self._log_proba_blocks(Z):  # predict_log_proba's blocks: the same sums
            codes[start:stop] = np.argmax(log_proba, axis=1)
        return self.classes_[codes]

    def log_proba_of(self, X, y):
        """Compute log p_n(y_i | x_i) of given labels, O(k log C) per row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.
        y : array-like of shape (n_samples,)
            Labels, each in ``classes_``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples,), float64
            Log-probability of each row's label under the tree.
        """
        X = self._validate_X(X)
        codes = encode_labels(self.classes_, np.asarray(y), "y", "The classes are the tree's classes_ (fixed by fit).")
        if codes.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {codes.shape[0]} labels.")
        Z = self._project(X)
        out = np.empty(Z.shape[0], dtype=np.float64)
        a = self.arrays
        log_noise_of_codes(Z, codes.astype(np.int32), a.node_weight, a.node_bias, a.class_leaf, out)
        return out

    def sample(self, X, n_samples=1, random_state=None, return_log_proba=False):
        """Draw classes y ~ p_n(.|x) by ancestral sampling, O(k log C) per draw.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_rows, n_features)
            Input rows.
        n_samples : int, default=1
            Draws per row.
        random_state : int, RandomState instance, Generator or None, default=None
            Seed of the draws; None uses ``self.random_state``. A
            :class:`numpy.random.Generator` is drawn from (advanced).
        return_log_proba : bool, default=False
            Also return log p_n of each drawn class.

        Returns
        -------
        samples : ndarray of shape (n_rows, n_samples)
            Drawn class labels (elements of ``classes_``). The draws and
            their log-probabilities (computed with or without
            ``return_log_proba``) are checked against the available memory
            before they are allocated: a ModelMemoryError (a ValueError) when
            they would not fit, naming fewer draws or slices of X instead.
        log_proba : ndarray of shape (n_rows, n_samples), float64
            Only when ``return_log_proba`` is True.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        if not isinstance(return_log_proba, (bool, np.bool_)):
            raise TypeError(f"return_log_proba must be a bool; got {return_log_proba!r}.")
        if random_state is None:
            random_state = self.random_state
        if isinstance(random_state, np.random.Generator):
            rng = random_state
        elif (
            random_state is None
            or isinstance(random_state, np.random.RandomState)
            or (isinstance(random_state, Integral) and not isinstance(random_state, bool))
        ):
            rng = seed_rng(random_state)  # an integer outside [0, 2**32) gets numpy's ValueError
        else:
            raise TypeError(
                "random_state must be None, an int, a numpy RandomState or a numpy Generator; "
                f"got {random_state!r} of type {type(random_state).__name__}."
            )
        X = self._validate_X(X)
        # the kernel's codes (int64) and log-probabilities (float64), then the labels
        check_output_memory(
            "sample", X.shape[0], n_samples, "{n_rows:,} x {n_columns:,} drawn classes and their log-probabilities",
            "fewer draws per row per call (n_samples={n_columns:,} now), e.g. several calls that draw from one "
            "numpy Generator passed as random_state; or {slices}",
            16 + self.classes_.dtype.itemsize,
        )  # fmt: skip
        Z = self._project(X)
        state = seed_states(rng, 1)[0]
        codes = np.empty((Z.shape[0], n_samples), dtype=np.int64)
        log_proba = np.empty((Z.shape[0], n_samples), dtype=np.float64)
        a = self.arrays
        sample_classes(Z, n_samples, a.node_weight, a.node_bias, a.leaf_class, state, codes, log_proba)
        samples = self.classes_[codes]
        return (samples, log_proba) if return_log_proba else samples


def unconditional_tree(classes: np.ndarray, class_mass: np.ndarray, n_features_in: int) -> AuxiliaryTree:
    """A fitted :class:`AuxiliaryTree` with no features and leaf masses ``class_mass`` (see ``AuxiliaryTree.unconditional``)."""
    return AuxiliaryTree.unconditional(classes, class_mass, n_features_in)
