"""Input normalisation shared by the estimators: labels, kernel-ready X, memory."""

from __future__ import annotations

import inspect
import os
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, validate_data

from ._config import FLOAT, INDEX, INDPTR
from ._memory import pooled_bytes
from ._multilabel import check_indicator

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SKLEARN_BASE = os.path.join("sklearn", "base.py")  # _fit_context's wrapper around fit and partial_fit


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the caller's line: the first frame outside skxc and scikit-learn's
    fit wrapper (a GridSearchCV, a Pipeline, or the user's own call)."""
    frame, level = inspect.currentframe().f_back, 2
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE_DIR) or frame.f_code.co_filename.endswith(_SKLEARN_BASE)
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


#: The constraints of an ``n_jobs`` parameter (with None): any int but 0, which joblib rejects only at fit.
NONZERO_N_JOBS = (Interval(Integral, None, -1, closed="right"), Interval(Integral, 1, None, closed="left"))


def reject_bool_numbers(estimator, constraints: dict) -> None:
    """InvalidParameterError naming the parameter if a numeric one is True or False.

    Numeric: its scikit-learn ``constraints`` admit a number (an ``Interval``, or the type ``Integral`` or
    ``Real``). Python counts a bool as the int 1 or 0, so those constraints alone would take ``True`` as 1 or
    1.0. Parameters whose constraints are a bool option ("boolean", "verbose") or a random state are left alone.
    """
    for name, options in constraints.items():
        numeric = [
            c.type if isinstance(c, Interval) else c
            for c in options
            if isinstance(c, Interval) or (isinstance(c, type) and issubclass(c, Real))
        ]
        value = getattr(estimator, name)
        if numeric and isinstance(value, (bool, np.bool_)):
            kind = "an int" if all(t is Integral for t in numeric) else "a float"
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be {kind}, not a bool; got {value!r}."
            )


def label_type(labels: np.ndarray) -> str | None:
    """An array's label type: "numbers" (numeric dtype), "strings" (str dtype), else None (e.g. object)."""
    kind = np.asarray(labels).dtype.kind
    return "numbers" if kind in "biuf" else "strings" if kind in "US" else None


def type_mismatch(labels: np.ndarray, classes: np.ndarray, name: str, of: str) -> str:
    """A hint for error messages when ``labels`` (named ``name``) and ``classes`` (named ``of``) are of different
    label types (numbers against strings, which never match), else ""."""
    have, want = label_type(labels), label_type(classes)
    if have is None or want is None or have == want:
        return ""
    return f" ({name}'s labels are {have}, {of} {want}: labels of different types never match, e.g. 1 and '1')"


def encode_labels(classes: np.ndarray, y: np.ndarray, name: str, fixed_by: str | None = None) -> np.ndarray:
    """Integer codes of ``y`` (1-D) in the sorted ``classes``; ValueError naming unseen labels and where the
    classes come from (``fixed_by``, a sentence; default: the first call's ``classes`` or the labels seen by
    fit)."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, one label per row; got an array of shape {y.shape}.")
    if y.shape[0] == 0:
        return np.zeros(0, dtype=np.int32)
    try:
        codes = np.searchsorted(classes, y)
    except TypeError as exc:
        raise ValueError(f"{name} has labels that cannot be compared with classes {classes[:5]!r}...") from exc
    codes = np.clip(codes, 0, len(classes) - 1)
    unseen = classes[codes] != y
    if np.any(unseen):
        bad = np.unique(y[unseen])
        if fixed_by is None:
            fixed_by = (
                "The classes are fixed by the first call (the `classes` argument of partial_fit, or the labels "
                "seen by fit)."
            )
        raise ValueError(
            f"{name} contains {len(bad)} label(s) not in classes: {bad[:10].tolist()!r}"
            f"{' ...' if len(bad) > 10 else ''}{type_mismatch(y, classes, name, 'the classes')}. {fixed_by}"
        )
    return codes.astype(np.int32)


def unique_labels(y, name: str) -> np.ndarray:
    """Sorted unique labels of 1-D ``y``; TypeError naming ``name`` if they cannot be sorted (e.g. ["1", 1]),
    ValueError if one is NaN (or None), as scikit-learn's ``partial_fit`` says of its ``classes``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {y.shape}.")
    if y.dtype.kind == "O" and np.equal(y, None).any():  # before sorting, which None would fail
        raise ValueError(f"{name} contains NaN or None: a class label must be a value.")
    try:
        labels = np.unique(y)
    except TypeError as exc:
        types = sorted({type(v).__name__ for v in y.ravel()})
        raise TypeError(
            f"{name} mixes label types that cannot be sorted together: {types}. "
            f"Use labels of one type, e.g. all strings or all integers."
        ) from exc
    if labels.dtype.kind in "fc":
        missing = bool(np.isnan(labels).any())
    elif labels.dtype.kind == "O":
        missing = any(isinstance(v, float) and v != v for v in labels)
    else:
        missing = False
    if missing:
        raise ValueError(f"{name} contains NaN or None: a class label must be a value.")
    return labels


def canonical_csr(X):
    """Sparse X with duplicate entries summed (in X's dtype) and sorted indices, copied only if needed.

    This is what a sparse matrix with duplicates means (scipy sums them); doing it before
    the projection, the tree and the float32 cast makes such input give the same model as
    its canonical form. Dense X is returned as is. ValueError if a sum overflows.
    """
    if not sp.issparse(X) or X.has_canonical_format:
        return X
    X = X.copy()
    with np.errstate(over="ignore"):
        X.sum_duplicates()
    if not np.all(np.isfinite(X.data)):
        raise _float32_range_error()
    return X


def check_finite_projection(Z: np.ndarray) -> np.ndarray:
    """``Z``, the tree's projected features; ValueError if X was too large for them to fit in float32."""
    if not np.all(np.isfinite(Z)):
        raise ValueError(
            "Input X contains values too large for the noise model: their projection onto the "
            "tree's n_components features overflows float32. Scale the features, e.g. with "
            "StandardScaler or MaxAbsScaler."
        )
    return Z


TOO_LARGE_TO_PROJECT = (
    "Input X contains values too large for the tree's projection: the sums of their squares overflow float64 "
    "(largest absolute value {largest:.3g}). Scale the features, e.g. with StandardScaler, MaxAbsScaler or normalize."
)


def check_projectable(X) -> None:
    """ValueError if the projection of X (dense or CSR, finite) would overflow float64: its solvers sum squares of
    entries over rows (covariance) or over features (row norms), so entries above sqrt(float64 max) / sqrt(max(n_rows,
    n_features)) may make them inf or NaN (an all-zero projection, or "Eigenvalues did not converge")."""
    data = X.data if sp.issparse(X) else X
    if data.size == 0 or data.dtype.itemsize <= 4:  # float32 entries square to at most ~1e77: no scan
        return
    largest = float(np.max(np.abs(data)))
    if largest > np.sqrt(np.finfo(np.float64).max / max(X.shape[0], X.shape[1], 1)):
        raise ValueError(TOO_LARGE_TO_PROJECT.format(largest=largest))


def check_fitted_projection(Zp: np.ndarray, X) -> None:
    """ValueError if the projected training rows ``Zp`` are not finite (X too large for the projection's solver)."""
    if not np.all(np.isfinite(Zp)):
        data = X.data if sp.issparse(X) else X
        largest = float(np.max(np.abs(data))) if data.size else 0.0
        raise ValueError(TOO_LARGE_TO_PROJECT.format(largest=largest))


def _writeable(a: np.ndarray) -> np.ndarray:
    """``a``, copied if read-only (e.g. a joblib memmap): numba types read-only
    arrays differently, so passing one would compile a second kernel signature."""
    return a if a.flags.writeable else a.copy()


def _float32_range_error() -> ValueError:
    return ValueError(
        f"Input X contains values too large for float32 (absolute value above "
        f"{np.finfo(FLOAT).max:.3g}); the model computes in float32. Scale the features, "
        f"e.g. with StandardScaler or MaxAbsScaler."
    )


def _check_float32_range(input_dtype, converted) -> None:
    """ValueError if finite (validated) values overflowed when cast to float32."""
    if input_dtype != FLOAT and not np.all(np.isfinite(converted)):
        raise _float32_range_error()


def check_float32_range(X) -> None:
    """ValueError if validated (finite) X has values beyond the float32 range."""
    data = X.data if sp.issparse(X) else X
    if data.dtype != FLOAT and data.size and np.abs(data).max() > np.finfo(FLOAT).max:
        raise _float32_range_error()


class KernelRows(NamedTuple):
    """Validated X in the kernels' row format (see :func:`kernel_rows`)."""

    X: object  # float32 canonical CSR matrix or C-contiguous float32 array
    indptr: np.ndarray  # int64 (n+1,) for CSR, (1,) zeros for dense
    indices: np.ndarray  # int32 (nnz,) for CSR, empty for dense
    data: np.ndarray  # float32 (nnz,) for CSR, the flat (n * K,) view of dense X
    n_dense_features: int  # K >= 1 for dense X, 0 for CSR

    @property
    def sparse(self) -> bool:
        return self.n_dense_features == 0


#: Sparse X with at least this share of its entries stored counts as mostly dense (:func:`mostly_dense`):
#: a dense model of it is laid out by class rows, its pilots keep dense weights and prediction scores
#: it as dense blocks by BLAS, as for dense X (docs/benchmarks.rst, "Dense rows stored as CSR").
DENSE_DENSITY = 0.1


def mostly_dense(X) -> bool:
    """Whether X is dense, or sparse with at least ``DENSE_DENSITY`` of its entries stored."""
    if not sp.issparse(X):
        return True
    n, d = X.shape
    return n * d > 0 and X.nnz >= DENSE_DENSITY * n * d


#: Sparse training X with at least this share of its entries stored trains as the dense array it is: its
#: float32 dense form then takes no more memory than the CSR (4 bytes per entry against 8 per stored one),
#: and the model is the one the same rows give as an array (the tree's PCA, dense training rows), in 0.6-0.8x
#: the fit time of the sparse paths (docs/benchmarks.rst, "Dense rows stored as CSR train as arrays"). None: never.
TRAIN_DENSE_DENSITY = 0.5


def dense_for_training(X):
    """Validated training X as a dense array if it is sparse with at least ``TRAIN_DENSE_DENSITY`` of its
    entries stored (embeddings stored as CSR), else X as it is: float64 for float64 X, as the same values in
    an array train (then at most 4/3 the CSR's bytes), else float32 (no larger than the CSR). Not for
    ``weights="sparse"``, which needs sparse rows (the estimator's training keeps them there)."""
    if TRAIN_DENSE_DENSITY is None or not sp.issparse(X):
        return X
    n, d = X.shape
    if n * d == 0 or X.nnz < TRAIN_DENSE_DENSITY * n * d:
        return X
    return np.ascontiguousarray(X.toarray(), dtype=np.float64 if X.dtype == np.float64 else np.float32)


def kernel_rows(X) -> KernelRows:
    """Split validated X into the kernel's row format: the one conversion at the boundary.

    Returns ``KernelRows(X, indptr, indices, data, n_dense_features)``: for CSR input
    ``X`` is a canonical float32 CSR matrix (summed duplicates, int64 indptr,
    int32 indices) and ``n_dense_features`` is 0; for dense input X is a
    C-contiguous float32 array, ``data`` its flat view and ``n_dense_features``
    its number of columns (>= 1).
    """
    input_dtype = X.dtype
    with np.errstate(over="ignore"):  # overflow to inf is reported by _check_float32_range
        return _kernel_rows(X, input_dtype)


def _kernel_rows(X, input_dtype):
    if sp.issparse(X):
        X = sp.csr_matrix(canonical_csr(X), dtype=FLOAT, copy=False)  # sum duplicates before the cast
        indptr = _writeable(np.ascontiguousarray(X.indptr, dtype=INDPTR))
        indices = _writeable(np.ascontiguousarray(X.indices, dtype=INDEX))
        data = _writeable(np.ascontiguousarray(X.data, dtype=FLOAT))
        _check_float32_range(input_dtype, data)
        return KernelRows(X, indptr, indices, data, 0)
    X = _writeable(np.ascontiguousarray(X, dtype=FLOAT))
    _check_float32_range(input_dtype, X)
    empty_ptr = np.zeros(1, dtype=INDPTR)
    empty_idx = np.zeros(0, dtype=INDEX)
    return KernelRows(X, empty_ptr, empty_idx, X.reshape(-1), max(X.shape[1], 1))


def available_memory_bytes() -> int | None:
    """Memory this process may still allocate: the least of what the OS reports as available (Linux
    /proc/meminfo, else sysconf), what the process's memory cgroup (a container's limit; cgroup v2 or v1)
    leaves below its limit, and what an address-space limit (``ulimit -v``, RLIMIT_AS) leaves above the
    process's virtual size; None if none of them is known. Memory that the running fit keeps for reuse
    (``skxc._memory.reused_buffers``) counts as available: its next arrays take it first."""
    limits = [_os_available(), _cgroup_available(), _address_space_available()]
    known = [limit for limit in limits if limit is not None]
    return max(0, min(known)) + pooled_bytes() if known else None


def _os_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


#: The memory cgroup's limit, usage and statistics files and the statistic of its reclaimable page cache:
#: cgroup v2, then v1 (a v1 limit this large means none).
CGROUP_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
     "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"),
)  # fmt: skip
CGROUP_NO_LIMIT = 1 << 60


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):  # absent, or "max" (no limit)
        return None


def _stat(path: str, key: str) -> int:
    """The value of ``key`` in a cgroup's memory.stat file (0 if absent)."""
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_available(files=None) -> int | None:
    """The memory cgroup's limit less its usage (its inactive page cache, which the kernel reclaims
    before it fails an allocation, not counted as used), or None without a limit. ``files``: default
    ``CGROUP_FILES``."""
    for limit_path, usage_path, stat_path, cache_key in CGROUP_FILES if files is None else files:
        limit, usage = _read_int(limit_path), _read_int(usage_path)
        if limit is not None and usage is not None and limit < CGROUP_NO_LIMIT:
            return limit - max(0, usage - _stat(stat_path, cache_key))
    return None


def _address_space_available() -> int | None:
    """RLIMIT_AS less the process's virtual size (/proc/self/status VmSize), or None without a limit."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return soft - int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


#: Memory the guard leaves free: a fit may use at most this fraction of what the OS reports as
#: available (the rest is for X, the tree, temporaries and everything else running).
MEMORY_HEADROOM = 0.8


#: Bytes per entry of the dense rows the tree's projection is fitted on: a float32 copy of the rows and the float64
#: copy the PCA centres in place (a fit's peak was 2.95-2.98x the float32 rows' bytes at 50,000 x 256 and
#: 20,000 x 1,024).
PROJECTION_BYTES = 12


class ModelMemoryError(ValueError, MemoryError):
    """Raised before allocating when a model, a tree or a result would not fit in the available memory.

    The memory guard's error, raised by ``fit``, ``partial_fit``, ``fit_noise``, the
    prediction methods and the data set generators before they allocate: a
    ValueError (the parameters do not suit this machine) and a MemoryError, so
    ``except ValueError`` and ``except MemoryError`` both catch it. Its message
    says how much memory the request needs, how much is available, and which
    parameters to change. Sparse weights, whose size the guard cannot know up
    front, are checked again as their table grows during training: that error
    is a ModelMemoryError too, raised with the weights trained so far kept.
    """


def gib(n_bytes: float) -> str:
    """``n_bytes`` in GiB for a message: one decimal from 1 GiB on, three below (0.065, not 0.1)."""
    x = n_bytes / 2**30
    return f"{x:.1f}" if x >= 1 else f"{x:.3f}"


def check_model_memory(
    n_classes: int,
    n_features: int,
    owner: str,
    full_adagrad: bool = True,
    centroid_start: bool = False,
    stored_weights: int | None = None,
    sparse_input: bool = False,
    negative_sampling: bool = True,
    kept_sums: bool = False,
    projected_rows: int = 0,
    start_rows: int = 0,
    svd_bytes: int = 0,
) -> int:
    """Raise ModelMemoryError (a ValueError) if the weights plus their Adagrad state (plus the dense centroid start's arrays)
    would need more than ``MEMORY_HEADROOM`` of the available memory; else return the bytes counted.

    Dense weights: coef_ (n_classes x n_features float32) and, for the full
    state, as much again. Sparse weights (``stored_weights`` = an upper bound
    on the (class, feature) weights training can touch): the hash table at
    its lowest load (skxc/_weights.py) and the CSR coef_ made from it.
    ``negative_sampling``: whether the model samples negatives (sparse weights need them; the error's
    options offer them only then). ``kept_sums``: a stream's centroid start keeps a float64 class x feature
    array of class sums of dense X (``partial_fit``, ``fit_noise``). ``start_rows``: the held-out rows that
    choose the dense centroid start's scale (``skxc._start.scale_choice_bytes``). ``projected_rows``: rows of dense X the tree's
    projection is fitted on, through a float32 and a float64 copy of them (``PROJECTION_BYTES`` per entry).
    ``svd_bytes``: what the tree's randomized SVD of sparse X holds (``skxc._projection.sparse_svd_bytes``).
    """
    from ._weights import estimated_sparse_bytes

    if stored_weights is not None:
        n_stored = min(int(stored_weights), n_classes * n_features)
        need = estimated_sparse_bytes(n_stored, full_adagrad) + 8 * n_classes
        need += (n_classes + n_features + 1) * 8
        what = f"up to {n_stored:,} sparse weights (of {n_classes} classes x {n_features} features)"
        state = "and their Adagrad state"
    else:
        n_weights = n_classes * (n_features + 1)
        need = n_weights * np.dtype(FLOAT).itemsize
        what = f"coef_ ({n_classes} classes x {n_features} features, float32)"
        if full_adagrad:
            need += n_weights * np.dtype(FLOAT).itemsize
            state = "and its full Adagrad state"
        else:
            need += (n_classes + n_features + 1) * np.dtype(np.float64).itemsize
            state = "and its factored Adagrad state"
    if centroid_start:  # two float64 class x feature centroid arrays of dense X (skxc/_start.py), and the
        # held-out rows centred and the pairs' copies that choose its scale (pair_scores)
        from ._start import dense_start_bytes

        need += dense_start_bytes(n_classes, n_features, start_rows)
        state += ' and, for a moment, the centroid start of dense X (init="zeros" needs none)'
    if projected_rows:
        need += projected_rows * n_features * PROJECTION_BYTES
        state += (
            f" and, for a moment, the tree's projection of {projected_rows:,} dense rows (float32 and float64 copies)"
        )
    if svd_bytes:
        need += int(svd_bytes)
        state += " and, for a moment, the tree's randomized SVD of the sparse rows (float64, n_components wide)"
    if kept_sums:
        need += n_classes * n_features * np.dtype(np.float64).itemsize
        state += ' and the class sums a stream keeps for its centroid start of dense X (init="zeros" keeps none)'
    avail = available_memory_bytes()
    if avail is not None and need > MEMORY_HEADROOM * avail:
        options = []
        if stored_weights is None and sparse_input and negative_sampling:  # sparse weights need negatives
            options.append('weights="sparse" (stores only the weights training touches)')
        if stored_weights is not None:
            options.append("fewer negatives (n_negatives): each touches new weights")
        if full_adagrad:
            options.append('adagrad="factored" (no state per weight)')
        if svd_bytes or projected_rows:
            options.append("fewer tree components (n_components)")
        options.append(
            "fewer features, e.g. SelectKBest or a smaller vocabulary (TfidfVectorizer(max_features=...)), "
            "or TruncatedSVD(n_components=256) in a Pipeline before the classifier"
        )
        raise ModelMemoryError(
            f"{owner} would need {gib(need)} GiB for {what} {state}, but only "
            f"{gib(avail)} GiB of memory is available and the guard keeps "
            f"{1 - MEMORY_HEADROOM:.0%} of it free. Options: " + "; ".join(options) + "."
        )
    return need


def check_tree_memory(n_classes: int, n_components: int, owner: str) -> None:
    """Raise ModelMemoryError (a ValueError) if fitting a tree over ``n_classes`` leaves on ``n_components``
    projected features would need more than ``MEMORY_HEADROOM`` of the available memory: the float64 class sums
    (n_classes x k), each inner node's float64 parameters, objectives and counts and its float32 weights
    (about as many inner nodes as leaves, a power of two), and per-class arrays. Without it, a tree of tens of
    millions of classes (or a million classes on 1,024 components) met NumPy's MemoryError part-way through the
    fit, or the kernel's out-of-memory killer."""
    k = max(int(n_components), 0)
    n_leaves = 1 << max(1, int(np.ceil(np.log2(max(n_classes, 2)))))
    need = n_classes * (k * 8 + 48) + n_leaves * ((k + 1) * 8 + 48 + k * 4 + 4)
    if need <= UNCHECKED_OUTPUT_BYTES:  # as small as a block of scores: not worth reading the memory
        return
    avail = available_memory_bytes()
    if avail is not None and need > MEMORY_HEADROOM * avail:
        raise ModelMemoryError(
            f"{owner} would need {gib(need)} GiB to fit its tree over {n_classes:,} classes on {k} "
            f"projected features, but only {gib(avail)} GiB of memory is available and the guard keeps "
            f"{1 - MEMORY_HEADROOM:.0%} of it free. Options: fewer components (n_components), or fewer classes "
            "(e.g. merge the rarest into coarser labels)."
        )


#: Predictions whose results need at most this many bytes are not checked against the available memory (reading it
#: takes about 50 us, 7 % of a one-row prediction's time): their blocks of scores are as large (64 MiB).
UNCHECKED_OUTPUT_BYTES = 2**26


def check_output_memory(
    method: str, n_rows: int, n_columns: int, what: str, options: str, bytes_per_entry: int = 8, extra_bytes: int = 0
) -> None:
    """Raise ModelMemoryError (a ValueError) if ``method``'s (n_rows, n_columns) results, ``bytes_per_entry`` bytes
    per entry in all (one float64 array: 8), plus ``extra_bytes`` held with them, would need more than
    ``MEMORY_HEADROOM`` of the available memory: they are allocated before they are filled, so without this the
    process would be killed part-way through (Linux overcommits) rather than get an error. Results of at most
    ``UNCHECKED_OUTPUT_BYTES`` pass unchecked.

    The caller words the message: "``method`` would return ``what`` (its GiB), but only ... Options:
    ``options``." ``what`` and ``options`` are templates, formatted only when the guard raises, with the fields
    ``n_rows``, ``n_columns`` and ``slices`` ("``method`` on slices of X, a few thousand rows at a time")."""
    need = int(n_rows) * int(n_columns) * int(bytes_per_entry) + int(extra_bytes)  # Python ints: no overflow
    if need <= UNCHECKED_OUTPUT_BYTES:
        return
    avail = available_memory_bytes()
    if avail is None or need <= MEMORY_HEADROOM * avail:
        return
    slices = f"{method} on slices of X, a few thousand rows at a time"
    fields = {"n_rows": n_rows, "n_columns": n_columns, "slices": slices}
    raise ModelMemoryError(
        f"{method} would return {what.format(**fields)} ({gib(need)} GiB), but only {gib(avail)} GiB "
        f"of memory is available and the guard keeps {1 - MEMORY_HEADROOM:.0%} of it free. "
        f"Options: {options.format(**fields)}."
    )


#: The target types of scikit-learn's ``check_classification_targets``.
CLASSIFICATION_TARGETS = (
    "binary",
    "multiclass",
    "multiclass-multioutput",
    "multilabel-indicator",
    "multilabel-sequences",
)


def check_many_class_targets(y) -> None:
    """scikit-learn's ``check_classification_targets`` without its warning about more than 50 % unique
    labels: many classes with few rows each is this package's normal case, not a regression target.

    The check is made again here rather than run under ``warnings.catch_warnings``: that swaps the
    process-wide filter list and is not thread-safe, so pilots validating their rows in threads side by
    side let the warning through now and then (a fit at 200,000 classes printed it).

    Labels of types that cannot be sorted together (e.g. ``["1", 1]``) get ``unique_labels``'s TypeError,
    which names y and the types: scikit-learn raises a TypeError from NumPy's sort for them, or, when an
    object y's first label is not a string, the ValueError "Unknown label type: unknown".
    """
    try:
        y_type = type_of_target(y, input_name="y")
        if y_type not in CLASSIFICATION_TARGETS:  # scikit-learn's message
            raise ValueError(
                f"Unknown label type: {y_type}. Maybe you are trying to fit a classifier, which expects "
                "discrete classes on a regression target with continuous values."
            )
    except (TypeError, ValueError) as exc:
        if np.ndim(y) == 1 and (isinstance(exc, TypeError) or np.asarray(y).dtype == object):
            unique_labels(y, "y")  # a TypeError if the labels cannot be sorted together, else returns
        raise


def validate_training_data(estimator, X, y, sample_weight, reset: bool, multilabel: bool = False):
    """``(X, y, sample_weight)`` validated for training: CSR or dense float32/64 X in canonical
    form (duplicates summed) and within the float32 range, classification targets, float32 weights.

    ``multilabel``: y is a label indicator matrix, returned as a canonical CSR
    matrix (see ``skxc._multilabel.check_indicator``).
    Checks everything before any state changes, so a failed call leaves the model as it was.
    """
    if multilabel:
        X = canonical_csr(validate_data(estimator, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=reset))
        y = check_indicator(y, X.shape[0])
        check_float32_range(X)
        return X, y, check_sample_weight32(sample_weight, X)
    if hasattr(y, "isna") and bool(np.asarray(y.isna()).any()):  # pandas NA: scikit-learn's check would say
        # "boolean value of NA is ambiguous" (a "string" Series with a missing value)
        raise ValueError("y contains NaN or None: a class label must be a value.")
    X, y = validate_data(estimator, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], reset=reset)
    X = canonical_csr(X)  # duplicates summed before the tree, the range check and the float32 cast
    check_many_class_targets(y)  # also names mixed label types such as ["1", 1]
    check_float32_range(X)
    return X, y, check_sample_weight32(sample_weight, X)


def check_sample_weight32(sample_weight, X) -> np.ndarray:
    """float32 (n,) sample weights, validated (scikit-learn's ``_check_sample_weight``, non-negative); a
    ValueError naming sample_weight if positive weights are too small for float32 (below about 1.4e-45),
    which the cast would make 0: rows silently dropped, or all weights "zero"."""
    _check_weight_overflow(sample_weight, X.shape[0])
    try:
        weights = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
    except ValueError:
        _check_weight_underflow(sample_weight, X.shape[0])  # e.g. all weights 1e-50: "must contain a non-zero"
        raise
    if sample_weight is not None and not weights.all():
        _check_weight_underflow(sample_weight, X.shape[0])
    return weights


def _raw_weights(sample_weight, n_samples: int):
    """``sample_weight`` as float64 (a scalar or ``n_samples`` numbers), or None where scikit-learn's own check
    will name what is wrong with it (not numbers, or the wrong shape)."""
    try:
        raw = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if raw.ndim > 1 or (raw.ndim == 1 and raw.shape[0] != n_samples):
        return None
    return raw


def _check_weight_overflow(sample_weight, n_samples: int) -> None:
    """ValueError naming sample_weight if a finite value is beyond float32's largest (the cast would make it
    inf, with a RuntimeWarning)."""
    raw = _raw_weights(sample_weight, n_samples)
    if raw is None:
        return
    big = np.isfinite(raw) & (np.abs(raw) > float(np.finfo(np.float32).max))
    if big.any():
        raise ValueError(
            f"sample_weight has {int(np.count_nonzero(big)) if raw.ndim else n_samples:,} value(s) too large for "
            f"float32 (the largest {float(np.abs(raw[big]).max()):.3g}; float32's largest is "
            f"{float(np.finfo(np.float32).max):.3g}): the model computes in float32. Scale sample_weight, e.g. to "
            "mean 1 (sample_weight / sample_weight.mean()): only the weights' ratios and the step size matter."
        )


def _check_weight_underflow(sample_weight, n_samples: int) -> None:
    """ValueError if ``sample_weight`` (a scalar or ``n_samples`` numbers) has positive values that are 0 in
    float32."""
    raw = _raw_weights(sample_weight, n_samples)
    if raw is None:
        return
    with np.errstate(over="ignore"):
        lost = (raw > 0) & (raw.astype(np.float32) == 0)
    if lost.any():
        raise ValueError(
            f"sample_weight has {int(np.count_nonzero(lost)) if raw.ndim else n_samples:,} positive value(s) "
            f"too small for float32 (the smallest {float(raw[lost].min()):.3g}; float32's smallest positive "
            f"number is {float(np.finfo(np.float32).smallest_subnormal):.3g}): the model computes in float32, "
            "where they would be 0 and their rows dropped. Scale sample_weight, e.g. to mean 1 "
            "(sample_weight / sample_weight.mean()), and set the weights of rows meant to be absent to 0."
        )


def positive_rows(X, y, sample_weight):
    """``(X, y, sample_weight)`` without the rows of weight 0: a row of weight 0 is a row absent from X (the
    scikit-learn convention), also for what counts rows rather than weights (the tree's projection, the
    held-out rows of the automatic settings, the epoch budget). Unchanged (not copied) if no weight is 0;
    otherwise copies of the other rows. ``y``: labels, codes or a CSR label indicator matrix (multi-label)."""
    keep = sample_weight != 0
    if keep.all():
        return X, y, sample_weight
    rows = np.flatnonzero(keep)
    return X[rows], y[rows], sample_weight[rows]
