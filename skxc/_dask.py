"""Dask tokens for skxc estimators without pickling the model (``__dask_tokenize__``).

Dask names graph tasks by a token of their arguments: ``dask_ml``'s ``Incremental``
tokenizes the model it streams through ``partial_fit``, ``ParallelPostFit`` and
``map_blocks`` the model they predict with. Without ``__dask_tokenize__`` dask pickles
the estimator (protocol 5, at least twice) and SHA-1-hashes every buffer: about
1 s per GB of ``coef_``. The token here is a function of the estimator's whole
state, read in place:

- every attribute (parameters, fitted attributes, counters such as ``t_`` and
  ``n_iter_``, the random generator's state, the tree and its projection), hashed
  exactly, but for wall-clock timings (names ending in ``seconds_``, which differ
  between two runs that produce the same model) and
- float arrays above ``EXACT_BYTES`` (``coef_``, a full Adagrad state, also inside
  dataclasses such as the ``AdagradState``, a wide projection), which enter
  through their shape, dtype, strides and a float32
  random projection ``A @ r`` (one BLAS pass at memory speed, no copy, about 7 times
  faster than hashing the bytes).

So two models get the same token only if their small state is identical and their
large arrays agree on the projection. Any training step changes ``intercept_``,
``t_`` and the generator state (hashed exactly), so fits on different data, with
other parameters or seeds, and every ``partial_fit`` give new tokens; a model equal
bit for bit to another (same data, seed and ``n_jobs=1``) gets the same token, as
content addressing should. The one blind spot: an in-place edit of a large array
small enough to vanish in the float32 projection, whose rounding grows with the
array: a change below about 1e-7 of the sum of the entries' magnitudes (in a 2 MB
``coef_``, a single weight moved by a relative 1e-6 went unseen; by 1e-3 it did not);
such an edit changes no token.

``skxc`` does not depend on dask: when it is installed, importing ``skxc`` imports
``dask.base`` (about 0.1 s) to register these tokens (:func:`register_dask_tokenize`).
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import scipy.sparse as sp

from ._multilabel import check_sparse_2d

EXACT_BYTES = 1 << 20  # float arrays up to 1 MiB are hashed exactly


def _projection(a: np.ndarray) -> np.ndarray:
    """``a @ r`` for a fixed random r (float32 unless ``a`` is float64), a 1-d float array."""
    flat = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)
    dtype = np.float64 if a.dtype == np.float64 else np.float32
    r = np.random.default_rng(20200213).standard_normal(flat.shape[1]).astype(dtype)
    with np.errstate(all="ignore"):
        return flat.astype(dtype, copy=False) @ r


def _normalize(value, normalize_token):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.nbytes > EXACT_BYTES:
        return ("ndarray-fingerprint", value.shape, value.dtype.str, value.strides,
                normalize_token(_projection(value)))  # fmt: skip
    if sp.issparse(value) and value.format in ("csr", "csc"):  # its arrays as arrays (their flags aside: coef_'s
        # are read-only once read, skxc._model.read_only_sparse, and writeable again after a pickle round trip)
        arrays = (value.data, value.indices, value.indptr)
        return ("sparse", value.format, value.shape, tuple(_normalize(a, normalize_token) for a in arrays))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # e.g. the AdagradState: its big arrays too
        fields = dataclasses.fields(value)
        return (
            type(value).__qualname__,
            tuple((f.name, _normalize(getattr(value, f.name), normalize_token)) for f in fields),
        )
    if isinstance(value, np.random.Generator):
        return ("Generator", normalize_token(value.bit_generator.state))
    if hasattr(value, "__dask_tokenize__") or not hasattr(value, "get_params"):
        return normalize_token(value)
    return object_token(value)  # an sklearn estimator (e.g. PCA, FrozenEstimator): its attributes


def object_token(obj) -> tuple:
    """A token of ``obj``'s class and all its attributes (see the module docstring)."""
    from dask.base import normalize_token

    cls = type(obj)
    items = tuple(
        (name, _normalize(value, normalize_token))
        for name, value in sorted(vars(obj).items())
        if not name.endswith("seconds_")
    )
    return (f"{cls.__module__}.{cls.__qualname__}", items)


def register_dask_tokenize() -> None:
    """Register skxc's tokens with dask's ``normalize_token``, when dask is installed.

    dask-ml registers a normaliser for every ``sklearn.base.BaseEstimator`` (on import
    of ``dask_ml.wrappers``), which dask's dispatch prefers to ``__dask_tokenize__``;
    it SHA-1-hashes each public fitted attribute, includes the epoch timings (two
    equal models get different tokens) and leaves out the private training state (the
    random generator, the Adagrad sums). Registering the skxc classes themselves makes
    dask use :func:`object_token` whichever is imported first.
    """
    if importlib.util.find_spec("dask") is None:
        return
    from dask.base import normalize_token

    from ._estimator import AdversarialSoftmaxClassifier
    from ._tree import AuxiliaryTree

    normalize_token.register((AdversarialSoftmaxClassifier, AuxiliaryTree), _estimator_token)


def _estimator_token(obj) -> tuple:
    """The token of an skxc estimator: its own ``__dask_tokenize__`` (a classifier's weights kept in a training
    table are tokenised as ``coef_``, so that reading ``coef_`` or a pickle round trip leaves the token as it
    is), else :func:`object_token`."""
    tokenize = getattr(obj, "__dask_tokenize__", None)
    return tokenize() if tokenize is not None else object_token(obj)


def is_dask_collection(value) -> bool:
    """Whether ``value`` is a lazy dask collection (array, dataframe, series), without importing dask."""
    return callable(getattr(value, "__dask_graph__", None))


def _dask_array(value):
    """A dask collection as a dask array with known chunk sizes (dataframes and series through
    ``to_dask_array``, arrays of unknown chunk sizes, e.g. after boolean indexing, through
    ``compute_chunk_sizes``, which records them on the array in place: a pass over the data, as ``lengths=True``
    is); anything else as it is."""
    if is_dask_collection(value) and not hasattr(value, "map_blocks"):
        return value.to_dask_array(lengths=True)
    if is_dask_collection(value) and any(np.isnan(size) for sizes in value.chunks for size in sizes):
        return value.compute_chunk_sizes()
    return value


def _row_vector(value, name: str, n_rows: int, column: bool):
    """``value`` (numpy-like or a dask array) as a 1-D vector of ``n_rows`` entries, as in-memory ``score``
    takes it: ``column``: a column vector (n_rows, 1) is raveled (as for ``y``); ValueError naming ``name``
    for another shape or length."""
    if not is_dask_collection(value):
        value = np.asarray(value)
    shape = tuple(value.shape)
    if column and len(shape) == 2 and shape[1] == 1:
        value = value[:, 0]
    elif len(shape) != 1:
        what = "a 1-D array of shape (n_samples,)" + (" or a column vector (n_samples, 1)" if column else "")
        raise ValueError(f"{name} must be {what}; got shape {shape}.")
    if value.shape[0] != n_rows:
        raise ValueError(f"{name} has {value.shape[0]} entries but X has {n_rows} rows.")
    return value


#: in-memory ``score``'s errors for weights it cannot average (scikit-learn's ``_check_sample_weight``, numpy's average)
ALL_ZERO_WEIGHTS = "Sample weights must contain at least one non-zero number."
ZERO_SUM_WEIGHTS = "Weights sum to zero, can't be normalized"


def blockwise_score(estimator, X, y, sample_weight=None, multilabel: bool = False) -> float:
    """``estimator.score(X, y, sample_weight)`` for a dask collection ``X`` (numpy or dask ``y`` and weights).

    Single-label: the (weighted) accuracy of ``estimator.predict`` on each block of rows of X (dense or
    scipy.sparse blocks; a block of all the columns at a time), so that X is never gathered into this
    process, as scikit-learn's own ``score`` runs under dask-ml's ``Incremental`` and ``ParallelPostFit``
    (which call ``score`` with the lazy collection when the estimator defines its own). Multi-label models
    (``multilabel``) compute X, y and the weights into memory first and score them as usual.
    ``X``, ``y`` and ``sample_weight`` are checked as in-memory ``score`` checks them: a dask dataframe's
    column names against ``feature_names_in_`` up front (scikit-learn's error and warnings, once, not per
    block); the shapes of y and the weights up front (a column vector y is raveled); y's labels on each
    block by scikit-learn's checks of true against predicted labels (another label type, NaN, a sparse y
    raise its errors); and weights that are not finite, all 0 or sum to 0 raise its errors (for dask
    weights, once computed).
    """
    import dask
    import dask.array as da
    from sklearn.metrics._classification import _check_targets
    from sklearn.utils import check_array
    from sklearn.utils.validation import _check_feature_names

    if multilabel:  # a dask dataframe X computes to a pandas one, whose names in-memory score checks
        X, y, sample_weight = dask.compute(X, _dask_array(y), _dask_array(sample_weight))
        return estimator.score(X, y, sample_weight=sample_weight)
    names = None
    if is_dask_collection(X) and hasattr(X, "columns"):  # its names, as an empty pandas dataframe (no compute)
        import pandas as pd

        _check_feature_names(estimator, pd.DataFrame(columns=X.columns), reset=False)
        names = getattr(estimator, "feature_names_in_", None)
    X, y, sample_weight = _dask_array(X), _dask_array(y), _dask_array(sample_weight)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got a dask array of shape {X.shape}.")
    n_rows = X.shape[0]
    if n_rows == 0:  # a filter that kept no row: in-memory score's error (check_array's), not a mean of nothing
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a minimum of 1 is required by "
            f"{type(estimator).__name__}."
        )
    if sp.issparse(y):  # in memory, a 1-D one fails check_sparse_2d, a 2-D one scikit-learn's checks (per block)
        check_sparse_2d(y)
        if y.shape[0] != n_rows:
            raise ValueError(f"y has {y.shape[0]} rows but X has {n_rows} rows.")
    else:
        y = _row_vector(y, "y", n_rows, column=True)
    if sample_weight is not None:
        sample_weight = _row_vector(sample_weight, "sample_weight", n_rows, column=False)
        if not is_dask_collection(sample_weight):  # NaN, infinity: in-memory score's messages
            sample_weight = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
            if not np.any(sample_weight != 0):
                raise ValueError(ALL_ZERO_WEIGHTS)
    if X.numblocks[1] > 1:  # predict needs every column of a row
        X = X.rechunk({1: X.shape[1]})
    labels = estimator.classes_
    rows = X.chunks[0]
    if sp.issparse(y):
        y = da.from_array(y.tocsr(), chunks=(rows, y.shape[1]), asarray=False)
    else:
        y = y.rechunk((rows,)) if is_dask_collection(y) else da.from_array(y, chunks=(rows,))

    def block_hits(block, truth):  # 1.0 where the predicted label is the true one
        if block.shape[0] == 0:  # an empty partition: no rows to predict (predict refuses 0 samples)
            return np.empty(0, dtype=np.float64)
        if names is not None and block.shape[1] == len(names):  # columns checked above: no warning per block
            import pandas as pd

            block = pd.DataFrame(block, columns=names, copy=False)
        predicted = estimator.predict(block)
        if truth.shape[0]:
            _check_targets(truth, predicted)
        codes = np.searchsorted(labels, predicted)  # class codes: every label dtype (e.g. strings) as integers
        found = np.searchsorted(labels, truth).clip(0, len(labels) - 1)
        true_codes = np.where(labels[found] == truth, found, -1)  # -1 for a label the model does not know: a miss
        return (codes == true_codes).astype(np.float64)

    y_index = "i" if y.ndim == 1 else "ik"
    hits = da.blockwise(
        block_hits, "i", X, "ij", y, y_index, concatenate=True, dtype=np.float64, meta=np.empty(0, dtype=np.float64)
    )
    if sample_weight is None:
        return float(hits.mean().compute())
    lazy = is_dask_collection(sample_weight)
    w = sample_weight if lazy else da.from_array(sample_weight, chunks=(rows,))
    w = w.rechunk((rows,)).astype(np.float64)
    if lazy:  # checked in the same pass as the score
        total, weight, nan, finite, nonzero = da.compute(
            (hits * w).sum(), w.sum(), da.isnan(w).any(), da.isfinite(w).all(), (w != 0).any()
        )
        if nan:
            raise ValueError("Input sample_weight contains NaN.")
        if not finite:
            raise ValueError("Input sample_weight contains infinity or a value too large for dtype('float64').")
        if not nonzero:
            raise ValueError(ALL_ZERO_WEIGHTS)
    else:
        total, weight = da.compute((hits * w).sum(), w.sum())
    if weight == 0:
        raise ZeroDivisionError(ZERO_SUM_WEIGHTS)
    return float(total / weight)
