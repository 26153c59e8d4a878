"""``make_extreme_classification``: sparse, text-like data of extreme shape, generated without downloads."""

from __future__ import annotations

import inspect
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
    validate_params,
)

from ._validation import check_output_memory

# feature and group indices are int32 (the CSR indices, the signatures, the groups)
_MAX_INT32 = int(np.iinfo(np.int32).max)
# the mean number of token draws per row may be at most this many times nnz_per_row (otherwise the
# requested non-zeros are out of reach of the background law and the draws would not fit in memory)
_MAX_TOKENS_PER_NNZ = 20.0


#: Bytes per word occurrence at the generator's peak (its int64 key, row and draw, int32 feature, and the sort's
#: copy): 310,000 rows of 50 non-zeros (about 1.3 occurrences each) took about 1 GB.
OCCURRENCE_BYTES = 40


def _check_memory(n_samples: int, n_features: int, n_classes: int, nnz_per_row: float, signature_size: int) -> None:
    """Raise ModelMemoryError (a ValueError) if generating the data would need more than ``MEMORY_HEADROOM`` of the
    available memory (NumPy's MemoryError part-way through, or the process killed as Linux overcommits, otherwise):
    about ``OCCURRENCE_BYTES`` per word occurrence (1.3 per stored non-zero), the per-row and per-feature arrays and
    the signatures. The check and its message are ``check_output_memory``'s (up to ``UNCHECKED_OUTPUT_BYTES`` passes
    unchecked)."""
    occurrences = 1.3 * float(n_samples) * float(nnz_per_row)
    need = int(occurrences * OCCURRENCE_BYTES + 40.0 * n_samples + 24.0 * n_features)
    class_bytes = int(n_classes) * (4 * int(signature_size) + 24)
    need += class_bytes
    options = "fewer rows (n_samples) or non-zeros per row (nnz_per_row)"
    if 2 * class_bytes > need:  # the classes' signatures and laws take most of it
        options = "fewer classes (n_classes) or a smaller signature_size"
    check_output_memory(
        f"make_extreme_classification(n_samples={n_samples:,}, n_features={n_features:,}, n_classes={n_classes:,}, "
        f"nnz_per_row={nnz_per_row!r})",
        0, 0,
        f"X from about {occurrences:,.0f} word occurrences ({OCCURRENCE_BYTES} bytes each while they are drawn and "
        f"sorted), the per-row and per-feature arrays and the {int(n_classes):,} classes' signatures, at their peak",
        options,
        extra_bytes=need,
    )  # fmt: skip


def _checked(
    n_samples,
    n_features,
    n_classes,
    nnz_per_row,
    n_groups,
    signature_size,
    group_signature_size,
    class_signal,
    group_signal,
) -> int:
    """make_extreme_classification's checks beyond the parameter constraints (bools, the parameters' relations,
    the memory its data would take); the number of groups (``n_groups``, its default resolved)."""
    for name, value in (
        ("n_samples", n_samples),
        ("n_features", n_features),
        ("n_classes", n_classes),
        ("n_groups", n_groups),
        ("signature_size", signature_size),
        ("group_signature_size", group_signature_size),
    ):
        if isinstance(value, bool):  # a bool is an Integral for Python
            raise InvalidParameterError(f"The {name!r} parameter must be an int, not a bool; got {value!r}.")
    if class_signal + group_signal > 1.0 + 1e-12:  # (0.7 + 0.3 may round above 1)
        raise ValueError(
            f"class_signal + group_signal must be at most 1; got class_signal={class_signal!r} "
            f"and group_signal={group_signal!r} (sum {class_signal + group_signal!r})."
        )
    if n_groups is None:
        n_groups = max(1, int(round(np.sqrt(n_classes))))
    elif n_groups > n_classes:
        raise ValueError(f"n_groups must be at most n_classes={n_classes}; got n_groups={n_groups!r}.")
    for name, value in (("signature_size", signature_size), ("group_signature_size", group_signature_size)):
        if value > n_features:
            raise ValueError(f"{name} must be at most n_features={n_features}; got {name}={value!r}.")
    _check_memory(n_samples, n_features, n_classes, nnz_per_row, signature_size)
    return n_groups


def check_parameters(**params) -> None:
    """Run every check of :func:`make_extreme_classification` on its keyword arguments ``params`` (the others at
    their defaults) without generating anything: the same InvalidParameterError / ValueError /
    ModelMemoryError (benchmarks check their arguments with it before they start), TypeError for an
    unknown name."""
    signature = inspect.signature(make_extreme_classification)
    unknown = sorted(set(params) - set(signature.parameters))
    if unknown:
        raise TypeError(f"make_extreme_classification() got unexpected keyword argument(s) {unknown}")
    bound = signature.bind(**params)
    bound.apply_defaults()
    full = dict(bound.arguments)
    validate_parameter_constraints(_PARAMETER_CONSTRAINTS, full, caller_name="make_extreme_classification")
    _checked(
        full["n_samples"], full["n_features"], full["n_classes"], full["nnz_per_row"], full["n_groups"],
        full["signature_size"], full["group_signature_size"], full["class_signal"], full["group_signal"],
    )  # fmt: skip


#: make_extreme_classification's parameter constraints (scikit-learn's ``validate_params``).
_PARAMETER_CONSTRAINTS = {
    "n_samples": [Interval(Integral, 1, None, closed="left")],
    "n_features": [Interval(Integral, 2, _MAX_INT32, closed="both")],
    "n_classes": [Interval(Integral, 2, None, closed="left")],
    "nnz_per_row": [Interval(Real, 1, None, closed="left")],
    "class_imbalance": [Interval(Real, 0, None, closed="left")],
    "n_groups": [Interval(Integral, 1, _MAX_INT32, closed="both"), None],
    "signature_size": [Interval(Integral, 1, None, closed="left")],
    "group_signature_size": [Interval(Integral, 1, None, closed="left")],
    "class_signal": [Interval(Real, 0, 1, closed="both")],
    "group_signal": [Interval(Real, 0, 1, closed="both")],
    "background_exponent": [Interval(Real, 0, None, closed="left")],
    "tfidf": ["boolean"],
    "random_state": ["random_state"],
}


@validate_params(_PARAMETER_CONSTRAINTS, prefer_skip_nested_validation=True)
def make_extreme_classification(
    n_samples: int = 10_000,
    n_features: int = 20_000,
    n_classes: int = 1_000,
    *,
    nnz_per_row: float = 50,
    class_imbalance: float = 1.0,
    n_groups: int | None = None,
    signature_size: int = 5,
    group_signature_size: int = 10,
    class_signal: float = 0.1,
    group_signal: float = 0.1,
    background_exponent: float = 1.0,
    tfidf: bool = True,
    random_state=None,
):
    """Generate a sparse, text-like multi-class problem of extreme shape.

    Each row is a bag of words. Its class is drawn from a Zipf law over the
    classes; its words come from three sources: the class's *signature* (a few
    features characteristic of the class), the signature of the class's
    *group* (features shared by the classes of one group, as related products
    or topics share words), and a Zipf-distributed *background* over all
    features (common words, shared by every class). The word counts become
    tf-idf values as scikit-learn's ``TfidfTransformer(sublinear_tf=True)``
    computes them, rows L2-normalised. Everything is vectorised NumPy: 310,000
    rows, 135,000 features (about Amazon-670K's vocabulary) and 200,000 classes
    take about 5 seconds and 1 GB.

    Generation, in order:

    1. Class frequencies: the class of rank ``r`` (0-based, ranks randomly
       permuted over the labels) has probability proportional to
       ``(r + 1) ** -class_imbalance``. When ``n_samples >= n_classes`` every
       class gets one row first and the other ``n_samples - n_classes`` rows
       are drawn from the Zipf law, so every class is present; otherwise all
       rows are drawn from the law and rare classes may be absent. The rows
       are shuffled. The tail is then flatter than the law: most tail classes
       have exactly one row, and when ``n_samples`` is close to ``n_classes``
       most rows are these one-per-class rows, so a random train/test split
       leaves many test rows whose class has no training row.
    2. Structure: the classes are split at random into ``n_groups`` groups of
       nearly equal size. Every class gets ``signature_size`` distinct features
       and every group ``group_signature_size`` distinct features, drawn
       uniformly from all features (so a feature may sit in several
       signatures).
    3. Words: a row draws Poisson numbers of word occurrences from each source,
       with means ``lam * class_signal``, ``lam * group_signal`` and
       ``lam * (1 - class_signal - group_signal)``; a word from a signature is
       one of its features chosen uniformly, a background word is the feature
       of rank ``r`` (ranks randomly permuted over the features) with
       probability proportional to ``(r + 1) ** -background_exponent``. The
       document length ``lam`` is solved for so that the expected number of
       *distinct* features per row, i.e. stored non-zeros, is ``nnz_per_row``
       (repeated words merge into one count). A row that draws no word gets one
       background word.
    4. Values (``tfidf=True``): ``(1 + log(count)) * idf`` with
       ``idf = log((1 + n_samples) / (1 + df)) + 1`` and ``df`` the number of
       rows that contain the feature, then each row divided by its L2 norm.

    Parameters
    ----------
    n_samples : int, default=10_000
        Number of rows, >= 1.
    n_features : int, default=20_000
        Number of features (the vocabulary), in ``[2, 2**31 - 1]`` (the
        indices are int32).
    n_classes : int, default=1_000
        Number of classes, >= 2.
    nnz_per_row : float, default=50
        Expected number of stored non-zeros (distinct features) per row, >= 1.
        The mean number of word occurrences per row is larger (repeats merge);
        a ``ValueError`` says when the value is out of reach of the background
        law (more than 20 draws per non-zero would be needed).
    class_imbalance : float, default=1.0
        Zipf exponent of the class frequencies, >= 0 (0: balanced classes;
        extreme classification data sets are around 1).
    n_groups : int or None, default=None
        Number of groups of classes, in ``[1, n_classes]``. None means
        ``round(sqrt(n_classes))``.
    signature_size : int, default=5
        Features characteristic of each class, in ``[1, n_features]``.
    group_signature_size : int, default=10
        Features characteristic of each group, in ``[1, n_features]``.
    class_signal : float, default=0.1
        Expected fraction of a row's word occurrences drawn from its class's
        signature, in [0, 1]. Larger is easier; 0 leaves only the group as
        information about the class.
    group_signal : float, default=0.1
        Expected fraction drawn from its group's signature, in [0, 1];
        ``class_signal + group_signal`` must be at most 1 (the rest is
        background).
    background_exponent : float, default=1.0
        Zipf exponent of the background word frequencies, >= 0 (0: uniform over
        the features; natural language is near 1).
    tfidf : bool, default=True
        Return sublinear tf-idf values with L2-normalised rows. False returns
        the raw word counts (as float32).
    random_state : int, RandomState instance or None, default=None
        Seed of everything drawn. An int gives the same data on every call.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float32
        The rows, in canonical CSR form: sorted indices, no duplicates, no
        explicit zeros, int32 indices. float32 because that is what the
        estimators of skxc compute in; it halves the memory of float64.
    y : ndarray of shape (n_samples,), int64
        Class labels in ``[0, n_classes)``.

    See Also
    --------
    make_hierarchical_classification : Dense features, classes in nested clusters.

    Notes
    -----
    Time and memory are linear in the number of word occurrences, about
    ``1.3 * n_samples * nnz_per_row`` at the defaults (8 bytes each while the
    words are sorted), plus ``n_classes * signature_size`` for the signatures;
    no step loops over rows in Python. The idf is computed from all ``n_samples`` rows, so a train/test split of the
    output shares one vocabulary weighting, as a fixed vectoriser would give. Parameters whose data would not fit
    in the available memory raise ``ModelMemoryError`` (a ValueError) naming them, before anything is drawn.

    Examples
    --------
    >>> from skxc.datasets import make_extreme_classification
    >>> X, y = make_extreme_classification(
    ...     n_samples=2000, n_features=5000, n_classes=300, nnz_per_row=20, random_state=0
    ... )
    >>> X.shape, X.dtype, X.format, y.dtype
    ((2000, 5000), dtype('float32'), 'csr', dtype('int64'))
    >>> len(set(y.tolist()))  # every class has a row when n_samples >= n_classes
    300
    >>> round(float(X.multiply(X).sum(axis=1).mean()), 4)  # rows have unit L2 norm
    1.0
    """
    n_groups = _checked(n_samples, n_features, n_classes, nnz_per_row, n_groups, signature_size,
                        group_signature_size, class_signal, group_signal)  # fmt: skip
    rng = np.random.default_rng(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    background_share = max(0.0, 1.0 - class_signal - group_signal)

    # 1. classes: one row each (when there are enough rows), the rest Zipf; shuffled
    class_p = (np.arange(1, n_classes + 1, dtype=np.float64) ** -float(class_imbalance))[rng.permutation(n_classes)]
    class_p /= class_p.sum()
    n_guaranteed = n_classes if n_samples >= n_classes else 0
    y = np.concatenate([np.arange(n_guaranteed), _draw(rng, np.cumsum(class_p), n_samples - n_guaranteed)])
    y = rng.permutation(y).astype(np.int64)

    # 2. groups and signatures
    group = (rng.permutation(n_classes) % n_groups).astype(np.int32)
    class_sig = _distinct_rows(rng, n_classes, signature_size, n_features)
    group_sig = _distinct_rows(rng, n_groups, group_signature_size, n_features)
    word_p = np.arange(1, n_features + 1, dtype=np.float64) ** -float(background_exponent)
    word_p /= word_p.sum()
    word_of_rank = rng.permutation(n_features).astype(np.int32)

    # 3. words: Poisson counts per source, with the mean length solving E[distinct features] = nnz_per_row
    shares = (class_signal, group_signal, background_share)
    lam = _document_length(nnz_per_row, shares, (signature_size, group_signature_size), word_p)
    lengths = [
        rng.poisson(lam * share, size=n_samples) if share > 0 else np.zeros(n_samples, np.int64) for share in shares
    ]
    empty = (lengths[0] + lengths[1] + lengths[2]) == 0
    lengths[2][empty] = 1
    n_words = [int(n.sum()) for n in lengths]
    keys = np.empty(sum(n_words), dtype=np.int64)  # row * n_features + feature of every word
    start = 0
    for source, (n_source, row_lengths) in enumerate(zip(n_words, lengths, strict=True)):
        rows = np.repeat(np.arange(n_samples, dtype=np.int64), row_lengths)
        if source == 0:
            feats = class_sig[y[rows], rng.integers(0, signature_size, size=n_source)]
        elif source == 1:
            feats = group_sig[group[y[rows]], rng.integers(0, group_signature_size, size=n_source)]
        else:
            feats = word_of_rank[_draw(rng, np.cumsum(word_p), n_source)]
        out = keys[start : start + n_source]
        np.multiply(rows, n_features, out=out)
        out += feats
        start += n_source
        del rows, feats
    del lengths
    keys.sort()

    # 4. counts of (row, feature) pairs -> CSR
    new = np.empty(keys.size, dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    del new
    counts = np.diff(np.append(starts, keys.size)).astype(np.float32)
    keys = keys[starts]
    del starts
    rows = keys // n_features
    indices = (keys - rows * n_features).astype(np.int32)
    del keys
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_samples), out=indptr[1:])
    if tfidf:
        data = np.log(counts)
        data += 1.0
        df = np.bincount(indices, minlength=n_features)
        idf = (np.log((1.0 + n_samples) / (1.0 + df)) + 1.0).astype(np.float32)
        data *= idf[indices]
        sq_norm = np.bincount(rows, weights=data * data, minlength=n_samples)
        data /= np.sqrt(sq_norm).astype(np.float32)[rows]
    else:
        data = counts
    del rows
    if indptr[-1] <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    X = sp.csr_matrix((data, indices, indptr), shape=(n_samples, n_features))
    X.has_sorted_indices = True
    X.has_canonical_format = True
    return X, y


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws from the discrete law of cumulative probabilities ``cdf`` (int64 indices)."""
    u = rng.random(size)
    u *= cdf[-1]
    out = np.searchsorted(cdf, u, side="right")
    np.minimum(out, cdf.size - 1, out=out)  # u == cdf[-1] after rounding
    return out


def _distinct_rows(rng: np.random.Generator, n_rows: int, width: int, high: int) -> np.ndarray:
    """(n_rows, width) int32 array, each row ``width`` distinct integers from ``[0, high)``.

    Rows are drawn with replacement and the few with a repeat drawn again; when ``width`` is
    more than half of ``high``, each row is a prefix of a permutation instead."""
    if 2 * width > high:
        return np.argsort(rng.random((n_rows, high)), axis=1)[:, :width].astype(np.int32)
    out = rng.integers(0, high, size=(n_rows, width), dtype=np.int32)
    redo = np.arange(n_rows)
    while True:
        block = np.sort(out[redo], axis=1)
        redo = redo[(block[:, 1:] == block[:, :-1]).any(axis=1)]
        if redo.size == 0:
            return out
        out[redo] = rng.integers(0, high, size=(redo.size, width), dtype=np.int32)


def _document_length(nnz_per_row: float, shares, sizes, word_p: np.ndarray) -> float:
    """Mean word occurrences per row ``lam`` with expected distinct features per row ``nnz_per_row``.

    With Poisson numbers of words, each feature's count in a row is Poisson and independent of
    the others, so E[distinct] = sum over features of ``1 - exp(-lam * rate)``, rate being the
    feature's share of a row's words (features in both a signature and the background are
    counted twice, which matters little: signatures are a few features out of many). It grows
    with ``lam``: bisection."""
    class_share, group_share, background_share = shares

    def expected_distinct(lam):
        total = 0.0
        for share, size in ((class_share, sizes[0]), (group_share, sizes[1])):
            if share > 0:
                total += size * -np.expm1(-lam * share / size)
        if background_share > 0:
            total += float(np.sum(-np.expm1(-lam * background_share * word_p)))
        return total

    hi = _MAX_TOKENS_PER_NNZ * nnz_per_row
    if expected_distinct(hi) < nnz_per_row * (1.0 - 1e-3):  # within 0.1 %: e.g. every feature a row can hold
        raise ValueError(
            f"nnz_per_row={nnz_per_row!r} is out of reach: even {hi:g} word draws per row give only "
            f"{expected_distinct(hi):.1f} distinct features on average (signatures of "
            f"{sizes[0]} + {sizes[1]} features, background over {word_p.size} features with its Zipf law); "
            "lower nnz_per_row or background_exponent, or raise n_features."
        )
    if expected_distinct(hi) < nnz_per_row:
        return hi
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if expected_distinct(mid) < nnz_per_row:
            lo = mid
        else:
            hi = mid
    return hi
