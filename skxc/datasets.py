"""Data sets: synthetic problems (classes in nested clusters; sparse text-like data of extreme shape), and the
Extreme Classification Repository's files."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, validate_params

from . import _validation
from ._extreme_data import make_extreme_classification
from ._xmc_format import load_xmc_file

__all__ = ["load_xmc_file", "make_extreme_classification", "make_hierarchical_classification"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "class_sep": [Interval(Real, 0, None, closed="left")],
        "decay": [Interval(Real, 0, None, closed="left")],
        "imbalance": [Interval(Real, 0, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_hierarchical_classification(
    n_samples: int = 1000,
    n_features: int = 32,
    n_classes: int = 64,
    *,
    class_sep: float = 2.0,
    decay: float = 0.7,
    imbalance: float = 0.8,
    noise: float = 1.0,
    shuffle: bool = True,
    random_state=None,
):
    """Generate a multi-class problem whose classes sit in nested clusters.

    The classes are the leaves of a random binary hierarchy of depth
    ``D = ceil(log2(n_classes))``. A class centre is the sum of one Gaussian
    offset per level of its root-to-leaf path, with standard deviation
    ``class_sep * decay**level``: classes that share a long path prefix are
    close, so an auxiliary tree has structure to find. Rows are their class
    centre plus isotropic Gaussian noise. Class frequencies follow a Zipf law
    with exponent ``imbalance`` (0 gives balanced classes), as label
    frequencies in extreme classification do.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows. Sizes whose generation would need more than 80 % of
        the available memory (at its peak about twice X's
        ``n_samples * n_features`` float64 entries, or three to four times
        the class centres' ``n_classes * n_features``) raise a
        ModelMemoryError (a ValueError) naming them, before anything is
        allocated.
    n_features : int, default=32
        Number of (dense) features.
    n_classes : int, default=64
        Number of classes (>= 2).
    class_sep : float >= 0, default=2.0
        Scale of the top-level offsets.
    decay : float >= 0, default=0.7
        Factor by which the offsets shrink per level (smaller: tighter
        sub-clusters, harder fine-grained classes). Values that make a
        feature overflow float64 (``class_sep * decay**level`` or ``noise``
        near 1e308) raise a ValueError naming them.
    imbalance : float >= 0, default=0.8
        Zipf exponent of the class frequencies (class of rank r has probability
        proportional to ``(r + 1) ** -imbalance``).
    noise : float >= 0, default=1.0
        Standard deviation of the per-row Gaussian noise.
    shuffle : bool, default=True
        Shuffle the rows (otherwise they come grouped by nothing in particular,
        in generation order).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        Features.
    y : ndarray of shape (n_samples,), int64
        Class labels in ``[0, n_classes)``; a rare class may have no rows.

    Examples
    --------
    >>> from skxc.datasets import make_hierarchical_classification
    >>> X, y = make_hierarchical_classification(n_samples=500, n_classes=16, random_state=0)
    >>> X.shape, int(y.max()) < 16
    ((500, 32), True)
    """
    for name, value in (("n_samples", n_samples), ("n_features", n_features), ("n_classes", n_classes)):
        if isinstance(value, bool):  # a bool is an Integral for Python
            raise InvalidParameterError(f"The {name!r} parameter must be an int, not a bool; got {value!r}.")
    depth = max(1, int(np.ceil(np.log2(n_classes))))
    _check_memory(n_samples, n_features, n_classes, depth)
    rng = check_random_state(random_state)
    leaf = rng.permutation(2**depth)[:n_classes]  # leaf position of each class
    centres = np.zeros((n_classes, n_features))
    for level in range(depth):
        prefix = leaf >> (depth - level - 1)  # node of each class at this level
        try:
            scale = class_sep * decay**level
        except OverflowError:  # decay**level beyond float64
            scale = 0.0 if class_sep == 0 else math.inf
        if not math.isfinite(scale):
            raise _overflow_error(class_sep, decay, noise, depth)
        offsets = rng.normal(0.0, scale, size=(2 ** (level + 1), n_features))
        with np.errstate(over="ignore", invalid="ignore"):  # checked below
            centres += offsets[prefix]
    p = (np.arange(n_classes) + 1.0) ** -float(imbalance)
    p = p[rng.permutation(n_classes)]
    p /= p.sum()
    y = rng.choice(n_classes, size=n_samples, p=p)
    X = rng.normal(0.0, noise, size=(n_samples, n_features))
    with np.errstate(over="ignore", invalid="ignore"):
        X += centres[y]  # in place: the peak is two n_samples x n_features arrays, as the guard counts
    if not np.isfinite(X).all():
        raise _overflow_error(class_sep, decay, noise, depth)
    if shuffle:
        perm = rng.permutation(n_samples)
        X, y = X[perm], y[perm]
    return X, y.astype(np.int64)


def _peak_bytes(n_samples: int, n_features: int, n_classes: int, depth: int) -> int:
    """The most memory ``make_hierarchical_classification`` holds at once (see ``_check_memory``)."""
    leaves = 2**depth
    centres = 8 * n_features * (2 * n_classes + leaves) + 8 * (leaves + n_classes)
    rows = 8 * n_features * (n_classes + leaves + 2 * n_samples) + 8 * n_samples
    return max(centres, rows) + 24 * n_samples + 8 * leaves


def _check_memory(n_samples: int, n_features: int, n_classes: int, depth: int) -> None:
    """Raise ModelMemoryError (a ValueError) if generating the data would need more than ``MEMORY_HEADROOM`` of the
    available memory (NumPy's MemoryError, or the process killed part-way through as Linux overcommits, otherwise).

    Counts the larger peak of two phases (float64 arrays): the class centres, the last level's 2**depth offsets and
    the centres' rows of them; then the centres, the offsets, X (the noise the centres are added to) and the centres'
    rows of X, as large, or X and its shuffled copy; plus the per-row labels, draws and permutation. Measured with
    tracemalloc at 100-270 MB: 0-5 % above the real peak (20 % with one feature, where the per-row arrays count).
    The check and its message are ``check_output_memory``'s (up to ``UNCHECKED_OUTPUT_BYTES`` passes unchecked)."""
    need = _peak_bytes(n_samples, n_features, n_classes, depth)
    x_gib, centres_gib = 8 * n_samples * n_features / 2**30, 8 * n_classes * n_features / 2**30
    _validation.check_output_memory(  # the classifier's output guard: the same threshold and headroom
        f"make_hierarchical_classification(n_samples={n_samples:,}, n_features={n_features:,}, "
        f"n_classes={n_classes:,})",
        0, 0,
        f"X (n_samples x n_features float64, {x_gib:.1f} GiB) with a second array as large while it is generated "
        f"and shuffled, and the class centres (n_classes x n_features float64, {centres_gib:.1f} GiB) with the "
        "offsets they are summed from, at their peak",
        "fewer rows (n_samples) or features (n_features); fewer classes (n_classes) where the class centres dominate",
        extra_bytes=need,
    )  # fmt: skip


def _overflow_error(class_sep, decay, noise, depth: int) -> ValueError:
    return ValueError(
        f"make_hierarchical_classification: class_sep={class_sep!r}, decay={decay!r} and noise={noise!r} give "
        f"features beyond the float64 range (the offsets of level L < {depth} have standard deviation "
        f"class_sep * decay**L, the rows' noise noise); lower class_sep, decay or noise."
    )
