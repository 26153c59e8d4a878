"""Training orchestration under the estimator: the layout of a new model, its initialisation (noise
tree, allocation, centroid start), the training examples in kernel format, the early-stopping split
and the record of the epochs.

Functions of arrays and of the estimator's parameters (``params``: its
``get_params(deep=False)``, with ``n_negatives`` resolved by
:func:`resolve_n_negatives`); the estimator stores what they return as its
fitted attributes. The epochs themselves run in ``_solver.run_epochs``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator

from ._config import FLOAT
from ._multilabel import hits_at_1, label_examples, labelled_row_weight, pairs_of_rows
from ._noise import frozen_tree
from ._parallel import child_seed, in_background, n_threads, settle
from ._predict import log_noise_of
from ._projection import sparse_svd_bytes
from ._solver import Rows, Schedule, SGDParams, auto_learning_rate
from ._start import calibration_split, centroid_start, equal_weights, held_out_rows, start_centre
from ._state import AdagradState, BestEpoch, touched_zeros
from ._tree import AuxiliaryTree
from ._validation import check_model_memory, kernel_rows, mostly_dense
from ._weights import frequent_features

__all__ = [
    "Progress",
    "Start",
    "adagrad_kind",
    "holdout",
    "initialize",
    "resolve_max_iter",
    "resolve_early_negatives",
    "resolve_n_components",
    "resolve_n_negatives",
    "restart",
    "sgd_setup",
    "training_threads",
    "sparse_layout",
    "stored_weights_bound",
    "top1_score",
    "training_rows",
    "with_shared_offset",
]


def adagrad_kind(adagrad: str, noise) -> str:
    """The Adagrad state ``adagrad`` asks for, "full" or "factored" ("auto" resolved)."""
    if adagrad == "auto":
        return "full" if noise is None else "factored"
    return adagrad


def sparse_layout(weights: str, noise, X, n_classes: int, auto_bytes: int) -> bool:
    """Whether a new model stores sparse weights (``weights``; "auto": sparse X and negative sampling,
    once dense float32 weights would take ``auto_bytes``)."""
    if weights == "sparse":
        if noise is None:
            raise ValueError(
                'weights="sparse" needs negative sampling: noise=None (the exact softmax) updates every '
                'class on every row, so its weights are dense. Use weights="dense" or "auto".'
            )
        if not sp.issparse(X):
            raise ValueError(
                'weights="sparse" needs sparse X (a scipy.sparse matrix): a dense row touches every '
                'feature, so the weights would all be stored. Use weights="dense" or "auto".'
            )
        return True
    if weights == "dense" or noise is None or not sp.issparse(X):
        return False
    return n_classes * X.shape[1] * np.dtype(FLOAT).itemsize >= auto_bytes


def stored_weights_bound(X, n_examples: int, n_negatives: int, n_classes=None, n_epochs=None, example_row=None) -> int:
    """Upper bound on the (class, feature) weights the first epoch can leave stored: the centroid
    start's (at most nnz(X)) plus (1 + n_negatives) nnz(x) per example. Later epochs mostly revisit
    them (gcide-reverse: 10.9 million after 5 epochs, bound 19.6 million); each doubling of the table
    is checked again when it happens (``skxc._weights.check_growth_memory``).

    With ``n_classes`` and ``n_epochs`` (a ``fit`` of sparse X on few rows per class, whose negatives add
    weights only on the features of ``skxc._weights.negative_insert_mask`` for ``n_epochs`` epochs of
    ``n_negatives``), the smaller of that and a bound on every weight such a fit can store: each example's
    positive (class, feature) pairs (the centroid start's weights are among them), plus the keys negatives add
    on the mask's features, at most ``n_classes`` times those features and ``n_epochs x n_negatives`` times the
    examples' non-zeros on them (the mask of all of X's rows: it holds the features of any subset's), and at
    least one epoch's negatives on them (the room the table is given up front for its first epoch,
    ``skxc._weights.first_epoch_room``). ``example_row``: multi-label, each (row, label) example's row of X.
    At 200,000 classes (``benchmarks.extreme_scale``) this is 26 million weights where the first bound is 60
    million; 19.5 million were stored (docs/benchmarks.rst, "Stop 47: the memory guard's bound").
    """
    mean_nnz = X.nnz / max(X.shape[0], 1)
    bound = int(X.nnz + n_examples * (1 + n_negatives) * mean_nnz)
    if n_classes is None or n_epochs is None or not sp.issparse(X):
        return bound
    X = sp.csr_matrix(X)
    if example_row is None:  # one example per row: no per-entry weights (a temporary of nnz(X) floats)
        positives, df = X.nnz, np.bincount(X.indices, minlength=X.shape[1])
    else:
        lengths = np.diff(X.indptr)
        per_row = np.bincount(example_row, minlength=X.shape[0])
        positives = int(np.dot(lengths, per_row))
        df = np.bincount(X.indices, weights=np.repeat(per_row, lengths), minlength=X.shape[1])
    mask = frequent_features(df, n_classes, n_negatives, n_epochs)
    masked_nnz = int(df[mask].sum())
    negatives = min(int(n_classes) * int(mask.sum()), int(n_epochs) * int(n_negatives) * masked_nnz)
    # the table's room for the first epoch (skxc._weights.first_epoch_room) counts every negative on the mask's
    # features, without the classes x features cap: the table holds at least that much up front
    negatives = max(negatives, int(n_negatives) * masked_nnz)
    return min(bound, positives + negatives)


class Start(NamedTuple):
    """A new model before training: what :func:`initialize` returns."""

    tree: AuxiliaryTree
    tree_fit_seconds: float
    coef: object  # float32 ndarray, or CSR matrix for sparse weights
    shared_coef: np.ndarray | None  # sparse weights: the centroid start's common term, or None
    adagrad_state: AdagradState
    intercept: np.ndarray
    init_scale: float
    auto_learning_rate: float
    split: tuple | None  # (fit_rows, held_rows) of the calibration split (rows of X, not examples), or None
    centre: np.ndarray | None  # dense X: the centroid start's centre (skxc._start.start_centre); else None
    optional_dropped: bool = False  # the memory guard left out initialize's optional_negatives


def initialize(
    params: dict, classes, X, codes, sample_weight, rng, example_row=None, label_cardinality=1.0,
    owner="", auto_sparse_bytes=2**27, on_split=None, keep_sums=False, early_negatives=0, optional_negatives=0,
) -> Start:  # fmt: skip
    """Fit the noise tree and allocate coef_, intercept_ and the Adagrad state.

    Multi-label: ``codes`` and ``sample_weight`` are per (row, label)
    example and ``example_row`` maps each example to its row of X; the
    calibration split holds out whole rows, drawn among the rows with labels (rows without labels, which give
    no example, count as rows of weight 0: never held out, and not counted towards the 1,000 rows a split
    needs; a split that leaves either side without examples counts as none), and the tree, the centroid
    start and the automatic learning rate see the expanded examples (X's rows repeated by index: a copy of
    the rows, made here only).
    ``keep_sums``: a stream's start (``partial_fit``, ``fit_noise``) that keeps class sums of the rows (the
    memory check counts them for dense X).
    ``early_negatives``: the most negatives per example the model may draw beyond ``params["n_negatives"]``
    (fit's first epochs; 0: none), which the memory guard counts.
    ``optional_negatives``: negatives per example the model may draw if they fit (the faster pilot's, if it may
    win): the memory guard counts them where the model fits with them, else leaves them out
    (``Start.optional_dropped``) rather than raise.
    ``on_split(X, codes, sample_weight, fit_rows, held_rows, sparse_weights, model_bytes, optional_dropped)``, if
    given, is called with a single-label calibration split as soon as it is drawn (before the tree is fitted),
    whether the model's weights will be sparse, the bytes the memory guard counted for the model and its start,
    and whether it left out ``optional_negatives``.
    """
    noise = params["noise"]
    n_classes, n_features = len(classes), X.shape[1]
    kind = adagrad_kind(params["adagrad"], noise)
    sparse_weights = sparse_layout(params["weights"], noise, X, n_classes, auto_sparse_bytes)
    calibrate = params["init"] == "centroid" or (noise == "adversarial" and params["tree_temperature"] == "auto")
    row_weight = sample_weight
    if example_row is not None:  # each example carries its row's weight
        row_weight = labelled_row_weight(example_row, sample_weight, X.shape[0])
    fit_rows, held = calibration_split(X.shape[0], rng, row_weight) if calibrate else (None, None)
    # the centroid start of dense X holds two float64 class x feature arrays for a moment
    dense_start = params["init"] == "centroid" and held is not None and not sp.issparse(X)
    n_examples = X.shape[0] if example_row is None else example_row.shape[0]
    # the tree's projection is fitted on its rows (at most its max_samples): dense X through float32 and float64
    # copies of them, sparse X by a randomized SVD (float64 bases of the rows and the columns)
    projected = svd_bytes = 0
    if noise == "adversarial" and params["n_components"] > 0:
        tree_rows = min(n_examples if held is None else n_examples - held.shape[0], AuxiliaryTree().max_samples)
        if sp.issparse(X):
            svd_bytes = sparse_svd_bytes(tree_rows, X.shape[1], params["n_components"])
        else:
            projected = tree_rows
    # fit on few rows per class: negatives add weights on frequent features only (skxc._weights.negative_insert_mask)
    masked = ()
    if sparse_weights and not keep_sums and not many_rows(X.shape[0], n_classes, example_row is not None):
        masked = (n_classes, resolve_max_iter(params["max_iter"], X.shape[0]), example_row)

    def model_check(n_negatives: int) -> int:
        return check_model_memory(
            n_classes, n_features, owner, full_adagrad=kind == "full", centroid_start=dense_start,
            stored_weights=stored_weights_bound(X, n_examples, n_negatives, *masked) if sparse_weights else None,
            sparse_input=sp.issparse(X), negative_sampling=noise is not None,
            kept_sums=keep_sums and params["init"] == "centroid" and not sp.issparse(X), projected_rows=projected,
            start_rows=0 if held is None else held.shape[0], svd_bytes=svd_bytes,
        )  # fmt: skip

    negatives = max(params["n_negatives"], early_negatives)
    optional_dropped = False
    try:
        model_bytes = model_check(max(negatives, optional_negatives))
    except MemoryError:
        if optional_negatives <= negatives:
            raise
        model_bytes, optional_dropped = model_check(negatives), True  # raises if the model alone does not fit
    # after the memory check: work started in the background for a model that does not fit would go on after it
    if on_split is not None and held is not None and example_row is None:
        on_split(X, codes, sample_weight, fit_rows, held, sparse_weights, model_bytes, optional_dropped)
    # The OS hands out zeroed pages on first touch, about 1 s per GB (10k classes x 30k
    # features is 1.2 GB): touch coef_ (and a full Adagrad state) in a thread (numpy's
    # fill releases the GIL) while the tree is fitted, instead of in the first epoch.
    # sparse X: by feature, so that a sparse row's entries meet every class's weights in a run; mostly dense
    # rows read each class's weights in a run (the same arithmetic in either layout, twice as fast there)
    order = "C" if mostly_dense(X) else "F"
    if not sparse_weights:
        model_arrays = in_background(touched_zeros, (n_classes, n_features), order, 1 + (kind == "full"))
    t0 = time.perf_counter()
    split = (fit_rows, held) if held is not None else None  # rows of X, also for multi-label
    X_rows = X
    if example_row is not None:
        if held is not None:
            fit_rows, held = pairs_of_rows(example_row, X.shape[0], held)
            if fit_rows.size == 0 or held.size == 0:  # no examples on one side: as without a split
                fit_rows = held = split = None
        X = X[example_row]
    if params["verbose"] >= 2:
        print(f"Fitting the noise model {noise!r}: {n_classes:,} classes, {X.shape[0]:,} examples", flush=True)
    try:
        tree = _noise_tree(params, classes, X, X_rows, codes, sample_weight, fit_rows, held, example_row, rng)
    except BaseException:  # an error or Ctrl-C while the tree is fitted: the arrays' thread ends first
        if not sparse_weights:
            settle([model_arrays])
        raise
    tree_fit_seconds = time.perf_counter() - t0
    if params["verbose"]:
        print(
            f"Noise model {noise!r}: depth {tree.depth_}, {tree.n_components_} features, "
            f"fitted in {tree_fit_seconds:.2f} s",
            flush=True,
        )
    if not sparse_weights:
        model_arrays = model_arrays.result()
    coef, shared, state, intercept, init_scale, learning_rate, centre = _started(
        params, tree, n_classes, X, codes, sample_weight, fit_rows, held, None if sparse_weights else model_arrays,
        kind, rng, example_row is not None, label_cardinality,
    )  # fmt: skip
    parts = (tree, tree_fit_seconds, coef, shared, state, intercept, init_scale, learning_rate, split, centre)
    return Start(*parts, optional_dropped)


def _noise_tree(params, classes, X, X_rows, codes, sample_weight, fit_rows, held, example_row, rng):
    """:func:`initialize`'s noise tree: the frozen one, fitted (``noise="adversarial"``) on the fit rows of
    the calibration split, or unconditional. X, codes and sample_weight are per example (``X_rows`` X's rows)."""
    noise, n_jobs = params["noise"], params["n_jobs"]
    n_classes, n_features = len(classes), X.shape[1]
    if isinstance(noise, FrozenEstimator):  # a prefit tree, used as is (skxc/_noise.py)
        tree = frozen_tree(noise, classes, n_features)
    elif noise == "adversarial":
        projection = resolve_tree_projection(
            params["tree_projection"], X_rows, n_classes, params["n_components"], example_row
        )
        tree = AuxiliaryTree(
            n_components=params["n_components"],
            projection=projection,
            **({} if params.get("tree_newton_tol") is None else {"newton_tol": params["tree_newton_tol"]}),
            alpha=params["tree_alpha"],
            temperature=params["tree_temperature"],
            random_state=child_seed(rng),
            n_jobs=n_jobs,
        )
        fit = slice(None) if held is None else fit_rows
        held_out = None if held is None else (X[held], codes[held])
        w = sample_weight[fit].astype(np.float64)
        if example_row is not None:  # the examples' rows by index: sparse X is projected from its rows once each
            tree.fit_encoded(X_rows, codes[fit], classes, w, rng, held_out=held_out, example_row=example_row[fit])
        elif held is None or sp.issparse(X):
            tree.fit_encoded(X if held is None else X[fit], codes[fit], classes, w, rng, held_out=held_out)
        else:  # dense X by index: the tree copies the rows it fits on (at most max_samples), not all fit rows
            tree.fit_encoded(X, codes[fit], classes, w, rng, held_out=held_out, example_row=fit_rows)
    else:
        if noise in ("uniform", None):  # None: exact softmax, log p_n is a constant
            mass = np.ones(n_classes)
        else:
            mass = np.bincount(codes, weights=sample_weight, minlength=n_classes) + 1.0
        tree = AuxiliaryTree.unconditional(classes, mass, n_features)
    return tree


def _started(
    params, tree, n_classes, X, codes, sample_weight, fit_rows, held, arrays, kind, rng, multilabel, label_cardinality
):
    """The model's start with the fitted noise ``tree``: ``(coef, shared, state, intercept, init_scale,
    learning_rate, centre)``. ``arrays``: the zeroed dense ``(coef, *coef_sums)``, or None for sparse weights.
    X, codes and sample_weight are per example (multi-label: X's rows repeated)."""
    n_features = X.shape[1]
    shared = None
    if arrays is None:
        coef = sp.csr_matrix((n_classes, n_features), dtype=FLOAT)
        state = AdagradState.zeros_sparse(kind, n_classes, n_features)
    else:
        coef, *coef_sums = arrays
        state = AdagradState.zeros(kind, n_classes, n_features, *coef_sums)
    intercept = np.zeros(n_classes, dtype=FLOAT)
    init_scale, centre = 0.0, None
    if params["init"] == "centroid" and held is not None:
        centre = start_centre(X, sample_weight)
        init_scale = centroid_start(
            coef, intercept, X, codes, sample_weight, fit_rows, held, tree, params["n_negatives"], params["alpha"], rng,
            centre,
        )  # fmt: skip
        if arrays is None:
            init_scale, start = init_scale
            if start is not None:
                coef, shared = start
                state = AdagradState.zeros_sparse(kind, n_classes, n_features, coef.nnz)
    learning_rate = auto_learning_rate(X, sample_weight)
    if multilabel:  # a row takes label_cardinality positive steps per epoch
        learning_rate /= np.sqrt(label_cardinality)
    return coef, shared, state, intercept, init_scale, learning_rate, centre


def restart(params, tree, X, codes, sample_weight, split, coef, state, rng) -> Start:
    """A single-label model's start again, on the same calibration ``split``, with the noise ``tree`` and the
    negatives of ``params`` (the automatic settings' pilots chose uniform noise in place of the fitted tree, or
    other negatives per example: ``skxc._blend.chosen_for``): the centroid start chosen anew against that tree's
    negatives. Dense ``coef`` and a full Adagrad ``state`` are zeroed and reused (their pages are already
    allocated); sparse ones are replaced."""
    kind = state.kind
    arrays = None
    if not sp.issparse(coef):
        arrays = [coef] + ([state.coef_sums] if kind == "full" else [])
        for a in arrays:
            a.fill(0.0)
    fit_rows, held = split
    started = _started(
        params, tree, coef.shape[0], X, codes, sample_weight, fit_rows, held, arrays, kind, rng, False, 1.0
    )
    coef, shared, state, intercept, init_scale, learning_rate, centre = started
    return Start(tree, 0.0, coef, shared, state, intercept, init_scale, learning_rate, split, centre)


#: ``max_iter="auto"``: 10 epochs for at most this many training rows (also for multi-label Y: rows, not
#: (row, label) pairs), 5 above (docs/benchmarks, "Learning-rate schedule and epoch budget").
AUTO_MAX_ITER_ROWS = 50_000


#: ``n_negatives="auto"``: single-label data with more than this many training rows per class on average
#: (where ``centroid_blend="auto"`` runs one pilot on a subsample, :data:`skxc._blend.MAX_ROWS_PER_CLASS`) draws
#: ``AUTO_NEGATIVES[1]`` negatives per example, other data ``AUTO_NEGATIVES[0]`` (docs/benchmarks.rst,
#: "More negatives where classes have many rows").
AUTO_NEGATIVES_ROWS_PER_CLASS = 50.0
AUTO_NEGATIVES = (2, 3)
#: ... and where those rows are sparse (not ``mostly_dense``), ``fit``'s first ``EARLY_FRACTION`` of its epochs
#: (rounded: 2 of 5, none of 1) draw this many negatives per example (0: as many as the others). With the linear
#: schedule those epochs take the largest steps; on sparse rows a (class, feature) weight gets a negative's
#: update only when its class is drawn for a row with that feature, and 3 draws per row leave those large steps
#: noisy. ptb-nextword 20.81 -> 21.04 % top-1 at 1.36x the fit time (1.01x that of the code issue 13 was
#: filed on), its top 1,000 classes +0.23, the bag-of-words stand-in +0.19; no gain on dense rows
#: (generated-many) nor on few rows per class, where the centroid start carries the model (docs/benchmarks.rst,
#: "Stop 38: more negatives in the first epochs").
AUTO_EARLY_NEGATIVES = 8
EARLY_FRACTION = 0.4


def many_rows(n_rows: int, n_classes: int, multilabel: bool = False) -> bool:
    """Whether single-label data have more than ``AUTO_NEGATIVES_ROWS_PER_CLASS`` rows per class on average:
    the regime where the "auto" settings (negatives, the tree's projection, the blend's pilot) differ."""
    return not multilabel and n_rows > AUTO_NEGATIVES_ROWS_PER_CLASS * n_classes


def resolve_n_negatives(n_negatives, n_rows: int, n_classes: int, multilabel: bool = False) -> int:
    """The negatives per example of a new model: ``n_negatives``, or for "auto" ``AUTO_NEGATIVES[1]`` for
    single-label data of more than ``AUTO_NEGATIVES_ROWS_PER_CLASS`` rows per class, else ``AUTO_NEGATIVES[0]``."""
    if n_negatives != "auto":
        return int(n_negatives)
    return AUTO_NEGATIVES[1] if many_rows(n_rows, n_classes, multilabel) else AUTO_NEGATIVES[0]


def resolve_early_negatives(n_negatives, X, n_classes: int, multilabel: bool = False) -> int:
    """The negatives per example of ``fit``'s first epochs (:func:`early_epochs`) of a new model, 0 for as many
    as the others: ``AUTO_EARLY_NEGATIVES`` for ``n_negatives="auto"`` on sparse single-label rows (not
    ``mostly_dense``) of more than ``AUTO_NEGATIVES_ROWS_PER_CLASS`` rows per class, else 0."""
    if n_negatives != "auto" or not many_rows(X.shape[0], n_classes, multilabel) or mostly_dense(X):
        return 0
    return AUTO_EARLY_NEGATIVES


def early_epochs(n_epochs: int) -> int:
    """How many of a fit's ``n_epochs`` epochs draw the early negatives: ``EARLY_FRACTION`` of them, rounded."""
    return int(round(EARLY_FRACTION * n_epochs))


#: ``n_components="auto"``: the tree's projection dimension, ``AUTO_COMPONENTS[1]`` for sparse single-label rows (not
#: ``mostly_dense``) of more than ``AUTO_NEGATIVES_ROWS_PER_CLASS`` rows per class on average (where
#: ``tree_projection="auto"`` fits the directions that separate the class means), else ``AUTO_COMPONENTS[0]``. Those
#: means are reliable there, and 24 of their directions lifted top-1 on the three sparse many-rows sets (ptb-nextword,
#: its top 1,000 classes, its bag-of-words stand-in) at 1.03-1.25x the fit; on dense rows (generated-many) and where
#: classes have few rows a sharper tree does not pay (docs/benchmarks.rst, "Stop 60").
AUTO_COMPONENTS = (16, 24)

#: The tree's ``newton_tol`` where ``n_components="auto"`` gives ``AUTO_COMPONENTS[1]`` (elsewhere the tree's
#: default, 1e-6): the tree fit's Newton steps on ptb-nextword's 200,000 tree rows took 0.6x the time, so that the
#: whole fit took 0.93-1.01x that with 16 components (docs/benchmarks.rst, "Stop 61"). With 16 components 1e-3 gave
#: up to 0.6 points less on the 20 data sets, 0.09 on average, so it is kept to the sharper tree.
AUTO_NEWTON_TOL = 1e-3


def resolve_n_components(n_components, X, n_classes: int, multilabel: bool = False) -> tuple[int, float | None]:
    """``(k, newton_tol)``: the tree's projection dimension for a new model and the Newton tolerance to fit it
    with. ``(n_components, None)`` (None: the tree's default), or for "auto" ``(AUTO_COMPONENTS[1],
    AUTO_NEWTON_TOL)`` for sparse single-label rows (not ``mostly_dense``) of more than
    ``AUTO_NEGATIVES_ROWS_PER_CLASS`` rows per class on average, else ``(AUTO_COMPONENTS[0], None)``."""
    if n_components != "auto":
        return int(n_components), None
    sharper = many_rows(X.shape[0], n_classes, multilabel) and not mostly_dense(X)
    return (AUTO_COMPONENTS[1], AUTO_NEWTON_TOL) if sharper else (AUTO_COMPONENTS[0], None)


def resolve_tree_projection(tree_projection, X, n_classes: int, n_components: int, example_row=None) -> str:
    """The tree's ``projection``: ``tree_projection``, or for "auto" "centroids" for single-label data
    (``example_row`` None) of more than ``AUTO_NEGATIVES_ROWS_PER_CLASS`` rows per class, sparse rows (not
    ``mostly_dense``: the top principal directions of word counts follow the frequent words, not the
    classes) and more classes than ``n_components`` (whose means then span as many directions), else "svd"."""
    if tree_projection != "auto":
        return tree_projection
    many = many_rows(X.shape[0], n_classes, multilabel=example_row is not None)
    return "centroids" if many and n_classes > n_components and not mostly_dense(X) else "svd"


def resolve_max_iter(max_iter, n_rows: int) -> int:
    """The epoch budget of ``fit``: ``max_iter``, or for "auto" 10 up to ``AUTO_MAX_ITER_ROWS`` rows, 5 above."""
    if max_iter == "auto":
        return 10 if n_rows <= AUTO_MAX_ITER_ROWS else 5
    return int(max_iter)


#: Fewest classes for which training runs on more than one thread (Hogwild). A step writes its classes'
#: intercepts and Adagrad sums; with very few classes those are a few cache lines that the threads' steps
#: keep taking from each other: at 10 classes two threads trained no faster than one, and they lose more
#: of the sums' updates. From 20 classes on two threads were faster at the same accuracy
#: (docs/benchmarks.rst, "Two training threads from 100 classes"). Measured before stop 69, when the threads shared
#: the Adagrad sums R and S (now each thread's own within a piece: ``skxc._solver.THREAD_SUMS``); the intercepts
#: are still shared.
HOGWILD_MIN_CLASSES = 100


def training_threads(n_jobs, n_classes: int) -> int:
    """Threads of a training epoch: those of ``n_jobs``, or 1 for fewer than ``HOGWILD_MIN_CLASSES`` classes."""
    return n_threads(n_jobs) if n_classes >= HOGWILD_MIN_CLASSES else 1


def sgd_setup(
    params: dict,
    learning_rate: float,
    n_epochs: int,
    check_convergence: bool,
    decay: bool = False,
    n_classes=None,
    early_negatives: int = 0,
):
    """``(SGDParams, Schedule)`` of a training call of up to ``n_epochs`` epochs.

    ``decay``: the call follows ``params["learning_rate_schedule"]`` over its
    epochs (``fit``); else (``partial_fit``) the step size stays constant.
    ``n_classes``: the model's, which decides the training threads (:func:`training_threads`;
    None: those of ``n_jobs``). ``early_negatives`` (:func:`resolve_early_negatives`; 0: none): with
    ``decay``, the negatives per example of the first :func:`early_epochs` epochs.
    """
    sgd = SGDParams(params["noise"] is None, params["n_negatives"], learning_rate, params["alpha"], params["l2"])
    threads = n_threads(params["n_jobs"]) if n_classes is None else training_threads(params["n_jobs"], n_classes)
    schedule = Schedule(
        n_epochs, params["shuffle"], threads, params["tol"], params["n_iter_no_change"],
        check_convergence, n_epochs, params["verbose"],
        params["learning_rate_schedule"] if decay else "constant",
        early_epochs(n_epochs) if decay and early_negatives else 0, int(early_negatives),
    )  # fmt: skip
    return sgd, schedule


def training_rows(
    rows, Z, codes, sample_weight, tree, threads: int, sparse_weights: bool, shared_coef=None,
    example_row=None, Y=None,
) -> Rows:  # fmt: skip
    """Training rows in kernel format (``rows``, ``Z``: as prediction validates and projects them), with
    log p_n of each example's class under the tree's arrays ``tree``.

    Multi-label: the examples are (row, label) pairs, ``example_row`` their
    rows and ``Y`` the CSR indicator (each row's labels, never negatives).
    Sparse weights train on CSR rows, with the centroid start's common term
    ``shared_coef`` as a fixed offset of each row's scores.
    """
    row_offset = np.zeros(0, dtype=np.float64)
    if sparse_weights:  # sparse weights train on CSR rows (skxc/_kernels/hashed.py)
        if not rows.sparse:
            rows = kernel_rows(sp.csr_matrix(rows.X))
        if shared_coef is not None:
            row_offset = np.asarray(rows.X @ shared_coef.astype(np.float64), dtype=np.float64)
    if example_row is None:
        log_noise = log_noise_of(Z, codes, tree, threads)  # once per call (tree fixed)
        return Rows(rows.indptr, rows.indices, rows.data, rows.n_dense_features, codes,
                    sample_weight.astype(FLOAT), Z, log_noise, row_offset=row_offset)  # fmt: skip
    log_noise = log_noise_of(np.ascontiguousarray(Z[example_row]), codes, tree, threads)
    return Rows(
        rows.indptr, rows.indices, rows.data, rows.n_dense_features, codes, sample_weight.astype(FLOAT), Z,
        log_noise, np.ascontiguousarray(example_row, dtype=np.int64),
        np.ascontiguousarray(Y.indptr, dtype=np.int64), np.ascontiguousarray(Y.indices, dtype=np.int32),
        row_offset,
    )  # fmt: skip


def with_shared_offset(rows: Rows, shared_coef: np.ndarray) -> Rows:
    """Training rows of sparse weights (CSR, :func:`training_rows`) with ``row_offset`` recomputed for the
    common term ``shared_coef`` as it is now: a change of the term (the centroid blend taken out) changes
    every class's score of each row by the same amount, which the fixed offset must follow."""
    X = sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(rows.indptr.shape[0] - 1, shared_coef.shape[0]))
    return replace(rows, row_offset=np.asarray(X @ shared_coef.astype(np.float64), dtype=np.float64))


def holdout(X, y, codes, sample_weight, fraction: float, rng, multilabel: bool):
    """Early stopping's split: ``(X, y, codes, sample_weight, val)`` of the training rows, ``val`` =
    (X, codes, weight) of the held-out rows, or (X, Y, weight) with their label indicator rows when
    ``multilabel``; ``weight`` their sample weights, None where all rows weigh the same. The rows of
    positive weight are held out uniformly, as scikit-learn's ``SGDClassifier`` does, and the validation
    score weighs them (:func:`top1_score`), so the training rows keep the weights' proportions; a class
    (multi-label: a label) whose rows were all held out gets one back (:func:`keep_every_class`), and
    ValueError if no validation row is left. Multi-label: rows without labels (which give no example) count
    as rows of weight 0, never held out, so the validation precision@1 is over rows with labels and the
    training rows keep every label."""
    row_weight = sample_weight
    if multilabel:
        counts = np.diff(y.indptr)
        row_weight = labelled_row_weight(np.flatnonzero(counts), np.asarray(sample_weight)[counts > 0], X.shape[0])
    n_rows = int(np.count_nonzero(np.asarray(row_weight) > 0))  # the rows that count
    if multilabel and n_rows == 0:  # y has no label of positive weight: label_examples's error
        label_examples(y, sample_weight, require_labels=True)
    n_val = max(1, int(round(fraction * n_rows)))
    if n_val >= n_rows:
        if n_rows == X.shape[0]:
            of = f"{n_rows}"
        elif multilabel:
            of = f"the {n_rows} with labels and positive sample_weight"
        else:
            of = f"the {n_rows} of positive sample_weight"
        raise ValueError(f"validation_fraction={fraction} leaves no training rows out of {of}.")
    train_idx, val_idx = held_out_rows(X.shape[0], n_val, rng, row_weight, by_weight=False)
    train_idx, val_idx = keep_every_class(train_idx, val_idx, y if multilabel else codes, row_weight)
    if val_idx.shape[0] == 0:
        kind = "label" if multilabel else "class"
        raise ValueError(
            f"validation_fraction={fraction} leaves no validation rows: each row held out for early_stopping went "
            f"back to training, to keep a training row of a {kind} that had no other one (a {kind} whose rows "
            f"were all held out). Use early_stopping=False, or data with more rows per {kind}."
        )
    val_weight = np.asarray(row_weight, dtype=np.float64)[val_idx] if row_weight is not None else None
    if equal_weights(val_weight):  # a plain mean, as before stop 41
        val_weight = None
    if multilabel:  # validation P@1 against the held-out rows' label sets
        return X[train_idx], y[train_idx], codes, sample_weight[train_idx], (X[val_idx], y[val_idx], val_weight)
    return X[train_idx], y, codes[train_idx], sample_weight[train_idx], (X[val_idx], codes[val_idx], val_weight)


def keep_every_class(train_idx: np.ndarray, val_idx: np.ndarray, labels, row_weight=None):
    """``(train_idx, val_idx)`` of early stopping's split with every class kept for training: a class (multi-label:
    a label) whose rows of positive weight were all held out gets the first of them (the lowest row) back, so
    that the model trained on ``train_idx`` knows every class of the data (a class without training rows gets
    no centroid, no positive step and almost no probability). ``labels``: the class code of every row, or the
    CSR label indicator (multi-label; stored zeros are not labels). Both results sorted; ``val_idx`` loses the
    rows given back. Without such a class the split is returned as is."""
    train_pos = train_idx if row_weight is None else train_idx[np.asarray(row_weight)[train_idx] > 0]
    if not sp.issparse(labels):
        codes = np.asarray(labels)
        n_classes = int(codes.max()) + 1 if codes.shape[0] else 0
        kept = np.bincount(codes[train_pos], minlength=n_classes) > 0
        val_codes = codes[val_idx]
        lost = np.flatnonzero(~kept[val_codes])
        if lost.shape[0] == 0:
            return train_idx, val_idx
        _, first = np.unique(val_codes[lost], return_index=True)  # val_idx is sorted: the lowest row of each
        back = val_idx[lost[first]]
    else:
        Y = sp.csr_matrix(labels, copy=True)
        Y.eliminate_zeros()
        kept = np.zeros(Y.shape[1], dtype=bool)
        kept[Y[train_pos].indices] = True
        Y_val = Y[val_idx]
        lost_label = np.zeros(Y.shape[1], dtype=bool)
        lost_label[Y_val.indices[~kept[Y_val.indices]]] = True
        if not lost_label.any():
            return train_idx, val_idx
        back = []
        for i in np.flatnonzero(np.asarray(Y_val[:, lost_label].sum(axis=1)).ravel() > 0):  # in row order
            row_labels = Y_val.indices[Y_val.indptr[i] : Y_val.indptr[i + 1]]
            if not kept[row_labels].all():
                back.append(val_idx[i])
                kept[row_labels] = True
        back = np.asarray(back, dtype=val_idx.dtype)
    return np.sort(np.concatenate([train_idx, back])), np.setdiff1d(val_idx, back, assume_unique=True)


def top1_score(top: np.ndarray, truth, weight=None) -> float:
    """Accuracy of the top-1 codes ``top`` against codes, or precision@1 against a CSR indicator; weighted
    by ``weight`` (None: a plain mean)."""
    hits = hits_at_1(truth, top) if sp.issparse(truth) else (top == truth)  # multi-label: precision@1
    if weight is None:
        return float(np.mean(hits))
    return float(np.average(hits, weights=weight))


class Progress:
    """The record of one training call, with the best validated epoch's copy of the model.

    Holds the counters and curves the estimator keeps as fitted attributes (the
    lists are the estimator's, appended in place); ``record`` and ``stopped``
    are ``run_epochs``'s ``record`` and ``interrupted``.
    """

    def __init__(self, n_iter, t, loss_curve, epoch_seconds, hardness_curve, validation_scores, model,
                 intercept, state):  # fmt: skip
        self.n_iter, self.t, self.interrupted, self.best_iteration = n_iter, t, False, None
        self.loss_curve, self.epoch_seconds = loss_curve, epoch_seconds
        self.hardness_curve, self.validation_scores = hardness_curve, validation_scores
        self.model, self.intercept, self.state = model, intercept, state
        self.best = BestEpoch()

    def offer_start(self, score: float) -> None:
        """The model before the call's first epoch competes too (epoch 0)."""
        self.best.offer(score, 0, self.model, self.intercept, self.state)

    def record(self, stats, score):
        if score is not None:
            self.best.offer(score, self.n_iter + 1, self.model, self.intercept, self.state)
        self.n_iter += 1
        self.t += stats.n_examples
        self.epoch_seconds.append(stats.seconds)
        self.loss_curve.append(stats.loss)
        self.hardness_curve.append(stats.hardness)
        if score is not None:
            self.validation_scores.append(score)
        return self.n_iter

    def stopped(self, stats) -> None:
        self.t += stats.n_examples
        self.interrupted = True

    def keep_best(self) -> None:
        """End with the model of the best validated epoch (``best_iteration``)."""
        if self.best.epoch < self.n_iter and self.best.restore(self.model, self.intercept, self.state):
            self.best_iteration = self.best.epoch  # the model is that of the best validated epoch
        else:
            self.best_iteration = self.n_iter
