"""Data sets: synthetic problems (classes in nested clusters; sparse text-like data of extreme shape), and the
Extreme Classification Repository's files."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, validate_params

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
        Number of rows.
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
    rng = check_random_state(random_state)
    depth = max(1, int(np.ceil(np.log2(n_classes))))
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
    with np.errstate(over="ignore", invalid="ignore"):
        X = centres[y] + rng.normal(0.0, noise, size=(n_samples, n_features))
    if not np.isfinite(X).all():
        raise _overflow_error(class_sep, decay, noise, depth)
    if shuffle:
        perm = rng.permutation(n_samples)
        X, y = X[perm], y[perm]
    return X, y.astype(np.int64)


def _overflow_error(class_sep, decay, noise, depth: int) -> ValueError:
    return ValueError(
        f"make_hierarchical_classification: class_sep={class_sep!r}, decay={decay!r} and noise={noise!r} give "
        f"features beyond the float64 range (the offsets of level L < {depth} have standard deviation "
        f"class_sep * decay**L, the rows' noise noise); lower class_sep, decay or noise."
    )
