"""A prefit noise model: ``noise=FrozenEstimator(tree)`` with a fitted :class:`AuxiliaryTree`.

scikit-learn's :class:`sklearn.frozen.FrozenEstimator` returns itself from ``clone``
and does nothing in ``fit``, so a classifier whose ``noise`` is a frozen tree keeps
that tree through ``GridSearchCV``/``cross_validate`` and uses it as is: the tree is
fitted once for a whole grid over the SGD parameters. The checks live here so that
the estimator only branches on the parameter's type.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from ._tree import AuxiliaryTree
from ._validation import type_mismatch


def _head(labels) -> str:
    """The first ten labels, for error messages."""
    labels = np.asarray(labels).tolist()
    return repr(labels[:10])[:-1] + (", ...]" if len(labels) > 10 else "]")


def _tree_of(noise: FrozenEstimator) -> AuxiliaryTree:
    """The fitted AuxiliaryTree inside ``noise``; TypeError or NotFittedError (a ValueError) otherwise."""
    tree = noise.estimator
    if not isinstance(tree, AuxiliaryTree):
        raise TypeError(
            f"noise=FrozenEstimator(...) must wrap a fitted skxc.AuxiliaryTree; got noise={noise!r} "
            f"wrapping a {type(tree).__name__}."
        )
    try:
        check_is_fitted(tree)
    except NotFittedError:
        raise NotFittedError(
            f"noise=FrozenEstimator(AuxiliaryTree(...)) must wrap a fitted tree; got noise={noise!r}, whose tree "
            f"is not fitted. Fit it first: FrozenEstimator(AuxiliaryTree(...).fit(X, y, classes=...))."
        ) from None
    return tree


def frozen_classes(noise, y_classes: np.ndarray) -> np.ndarray:
    """The classes ``fit`` uses: the frozen tree's (a superset of ``y_classes``), else ``y_classes``.

    A training fold of a cross-validation may lack a rare class; the classifier then
    keeps the tree's classes (that class gets no positives), as ``partial_fit`` does
    with ``classes``. Labels of ``y`` that the tree has no leaf for raise a ValueError.
    """
    if not isinstance(noise, FrozenEstimator):
        return y_classes
    tree = _tree_of(noise)
    unseen = not_in(y_classes, tree.classes_)
    if unseen.size:
        hint = type_mismatch(y_classes, tree.classes_, "y", "the tree's classes_")
        raise ValueError(
            f"y has labels that the frozen noise tree (noise={noise!r}) has no leaf for: {_head(unseen)}. "
            f"With a frozen tree the classifier's classes are the tree's classes_ ({len(tree.classes_)} classes: "
            f"{_head(tree.classes_)}){hint}. "
            f"Fit the tree with classes= covering every label.{_encoded_hint(y_classes, tree.classes_)}"
        )
    return tree.classes_


def _encoded_hint(y_classes: np.ndarray, tree_classes: np.ndarray) -> str:
    """A hint when y may be label-encoded (integers in [0, number of the tree's classes)) and the tree's classes are
    other labels: scikit-learn's ``cross_val_predict`` encodes y before fitting each fold for
    ``method="predict_proba"``, ``"predict_log_proba"`` and ``"decision_function"`` (a fold may lack some codes);
    else ""."""
    tree_classes, y_classes = np.asarray(tree_classes), np.asarray(y_classes)
    if y_classes.dtype.kind not in "iu" or y_classes.size == 0:
        return ""
    if y_classes.min() < 0 or y_classes.max() >= tree_classes.size:
        return ""
    if tree_classes.dtype.kind in "iu" and np.array_equal(tree_classes, np.arange(tree_classes.size)):
        return ""
    return (
        " If y comes from scikit-learn's cross_val_predict with method='predict_proba', 'predict_log_proba' or "
        "'decision_function': it label-encodes y (to 0..n_classes-1) before each fold's fit, so a tree fitted "
        "on the original labels has no leaf for the codes; for it, fit the tree on LabelEncoder().fit_transform(y)."
    )


def not_in(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The ``labels`` that are not among the sorted ``classes``, compared as ``encode_labels`` does: labels of
    another type never match (``np.setdiff1d`` of integers and strings compares them as strings: 1 == '1')."""
    if labels.size == 0:
        return labels
    try:
        found = np.searchsorted(classes, labels).clip(0, len(classes) - 1)
        hit = np.asarray(classes[found] == labels)
    except TypeError:  # labels that cannot be ordered with the classes (object arrays of mixed types)
        hit = np.zeros(labels.shape, dtype=bool)
    if hit.shape != labels.shape:  # a comparison numpy refused elementwise
        hit = np.zeros(labels.shape, dtype=bool)
    return labels[~hit]


def classes_fixed_by(noise, first_call: bool) -> str | None:
    """The sentence of ``encode_labels``'s error on where the classes of ``partial_fit`` come from: with a frozen
    tree, its ``classes_`` (which the first call's ``classes`` must equal); else None (the default)."""
    if not isinstance(noise, FrozenEstimator):
        return None
    if first_call:
        return (
            "The classes are the `classes` argument of this first partial_fit call, which must equal the "
            f"frozen noise tree's classes_ (noise={noise!r})."
        )
    return f"The classes are the frozen noise tree's classes_ (noise={noise!r}), fixed by the first call."


def frozen_tree(noise: FrozenEstimator, classes: np.ndarray, n_features: int) -> AuxiliaryTree:
    """The frozen tree, after checking that it matches the classifier's classes and n_features."""
    tree = _tree_of(noise)
    if not np.array_equal(tree.classes_, classes):
        raise ValueError(
            f"The frozen noise tree's classes_ ({len(tree.classes_)} classes: {_head(tree.classes_)}) must equal "
            f"the classifier's classes ({len(classes)} classes: {_head(classes)}); got noise={noise!r}."
        )
    if tree.n_features_in_ != n_features:
        raise ValueError(
            f"The frozen noise tree was fitted on {tree.n_features_in_} features, X has {n_features}; "
            f"got noise={noise!r}."
        )
    return tree


def check_feature_names(noise, feature_names) -> None:
    """ValueError if ``noise`` is a frozen tree fitted on named columns and X's names (``feature_names``, the
    classifier's ``feature_names_in_``, None without names) differ from them, also in order: the tree would
    project the columns in the wrong order. Rows without names are not checked (they carry none)."""
    if not isinstance(noise, FrozenEstimator):
        return
    tree_names = getattr(noise.estimator, "feature_names_in_", None)
    if tree_names is None or feature_names is None or np.array_equal(tree_names, feature_names):
        return
    raise ValueError(
        f"X's feature names must be those the frozen noise tree was fitted with, in the same order: the tree "
        f"projects the columns by position. X has {_head(feature_names)}, the tree {_head(tree_names)}; "
        f"got noise={noise!r}."
    )


def check_same_noise(noise, fitted, call: str) -> None:
    """ValueError if the ``noise`` parameter is of another kind than the noise the fitted model trained with
    (``fitted``, its ``noise_``) where ``call`` continues that model (a warm start, a later ``partial_fit``):
    the model keeps its tree and the scores it trained against, so a changed noise would be half applied
    (``noise_`` would no longer say what the model trained with). ``"adversarial"`` also continues a model whose
    pilots chose uniform noise (``noise_="uniform"``); a frozen tree continues one that trained with a frozen
    tree (``noise_="prefit"``), whose tree it keeps."""
    if isinstance(noise, FrozenEstimator):
        same = fitted == "prefit"
    elif noise == "adversarial":
        same = fitted in ("adversarial", "uniform")
    else:
        same = noise == fitted
    if not same:
        shown = "FrozenEstimator(...)" if isinstance(noise, FrozenEstimator) else repr(noise)
        raise ValueError(
            f"{call} continues the fitted model, which trained with noise_={fitted!r}; noise is now {shown}. "
            f"Set noise back to the fitted kind, or fit a new model (warm_start=False, or a clone) to change it."
        )
