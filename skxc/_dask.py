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
small enough to vanish in the float32 projection (a change of about one unit in the
last place of a single weight); such an edit changes no token.

``skxc`` does not depend on dask: when it is installed, importing ``skxc`` imports
``dask.base`` (about 0.1 s) to register these tokens (:func:`register_dask_tokenize`).
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np

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

    normalize_token.register((AdversarialSoftmaxClassifier, AuxiliaryTree), object_token)
