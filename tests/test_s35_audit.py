"""Audit 35 (a scikit-learn user's audit): fixes found by using the estimator as scikit-learn's own."""

import re

import numpy as np
import pytest

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


def _clf(**params):
    return AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, n_components=4, **params)


@pytest.fixture(scope="module")
def data():
    return make_hierarchical_classification(n_samples=300, n_features=8, n_classes=12, random_state=0)


def test_warm_start_with_labels_of_another_type_names_them(data):
    """Before: "y must have its classes; y . Set warm_start=False": np.setdiff1d compared the int classes with
    y's strings as strings, found no difference and named none."""
    X, y = data
    clf = _clf(warm_start=True).fit(X, y)
    coef = clf.coef_.copy()
    with pytest.raises(ValueError) as info:
        clf.fit(X, y.astype(str))
    message = str(info.value)
    assert "y lacks 12 ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] and 2 more) of the fitted classes" in message
    assert re.search(r"has 12 \(\['0', '1', '10', .*\] and 2 more\) classes the model was not fitted with", message)
    assert "y's labels are strings, the fitted classes numbers" in message
    np.testing.assert_array_equal(clf.coef_, coef)  # the model stays as it was


def test_frozen_tree_under_cross_val_predict_proba_explains_the_encoded_labels(data):
    """Before: cross_val_predict(method="predict_proba") with a frozen tree fitted on string labels raised that
    y's labels [0, 1, ...] have no leaf, with no word of where those integers came from (scikit-learn encodes y)."""
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.preprocessing import LabelEncoder

    from skxc import AuxiliaryTree

    X, y = data
    labels = np.array([f"c{v:02d}" for v in y])
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, labels)
    with pytest.raises(ValueError, match="cross_val_predict.*LabelEncoder"):
        cross_val_predict(_clf(noise=FrozenEstimator(tree)), X, labels, cv=KFold(2), method="predict_proba")
    with pytest.raises(ValueError) as info:  # labels of the tree's type that it lacks: no such hint
        _clf(noise=FrozenEstimator(tree)).fit(X, np.array([f"d{v:02d}" for v in y]))
    assert "cross_val_predict" not in str(info.value)
    codes = LabelEncoder().fit_transform(labels)  # the workaround the message names
    encoded = AuxiliaryTree(n_components=4, random_state=0).fit(X, codes)
    proba = cross_val_predict(_clf(noise=FrozenEstimator(encoded)), X, labels, cv=KFold(2), method="predict_proba")
    assert proba.shape == (len(y), 12)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(lambda X, y: (X, y, np.arange(3)), id="classes-lack-labels"),
        pytest.param(lambda X, y: (X[:, :5], y.astype(str), ["x", "y"]), id="other-features-and-labels"),
    ],
)
def test_tree_refit_that_raises_leaves_the_fitted_tree(data, args):
    """Before: AuxiliaryTree.fit set classes_ (and n_features_in_) before checking y against ``classes``, so a
    refit that raised left a tree whose classes_ did not match its leaves: predict returned other labels
    silently, predict_proba had the wrong number of columns (and the process could crash later)."""
    from skxc import AuxiliaryTree

    X, y = data
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    before = tree.predict_proba(X[:20])
    with pytest.raises(ValueError, match=re.escape("The classes are the `classes` argument of fit.")):
        tree.fit(*args(X, y))
    np.testing.assert_array_equal(tree.classes_, np.arange(12))
    assert tree.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(tree.predict_proba(X[:20]), before)


def test_unseen_label_messages_name_the_call_that_fixed_the_classes(data):
    """Before: fit_noise(classes=...) and AuxiliaryTree.log_proba_of said the classes were "fixed by the first
    call (the `classes` argument of partial_fit, or the labels seen by fit)"; neither is a partial_fit."""
    from skxc import AuxiliaryTree

    X, y = data
    with pytest.raises(ValueError, match=re.escape("The classes are the `classes` argument of fit_noise.")):
        _clf().fit_noise(X, y, classes=np.arange(6))
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=re.escape("The classes are the tree's classes_ (fixed by fit).")):
        tree.log_proba_of(X[:3], [0, 1, 99])


def test_multilabel_y_as_a_pandas_dataframe_of_nullable_dtypes(data):
    """Before: a DataFrame of pandas' nullable Int64 / boolean columns (what many pandas pipelines hold) became an
    object array under np.asarray, and fit, score and skxc.metrics raised a TypeError ("dtype object"), where
    scikit-learn's classifiers (OneVsRestClassifier, KNeighborsClassifier) read it as the 0/1 matrix it is."""
    pd = pytest.importorskip("pandas")
    from skxc.metrics import precision_at_k

    X, y = data
    Y = np.zeros((y.shape[0], 12), dtype=int)
    Y[np.arange(y.shape[0]), y] = 1
    Y[::3, 0] = 1
    expected = _clf().fit(X, Y).predict_proba(X[:20])
    for frame in (pd.DataFrame(Y).astype("Int64"), pd.DataFrame(Y.astype(bool)).astype("boolean")):
        clf = _clf().fit(X, frame)
        np.testing.assert_array_equal(clf.predict_proba(X[:20]), expected)
        assert clf.score(X, frame) == clf.score(X, Y)
        assert precision_at_k(frame, clf.predict_proba(X), k=1) == precision_at_k(Y, clf.predict_proba(X), k=1)
    missing = pd.DataFrame(Y).astype("Int64")
    missing.iloc[0, 0] = pd.NA
    with pytest.raises(ValueError, match=re.escape("values other than 0 and 1, e.g. [nan]")):
        _clf().fit(X, missing)


@pytest.mark.parametrize("start", ["fit", "fit_noise"])
def test_partial_fit_mixing_label_kinds_names_the_call_that_started_the_model(data, start):
    """Before: "partial_fit was first called with a label indicator matrix" for a model started by fit or
    fit_noise, which partial_fit never was."""
    X, y = data
    Y = np.zeros((y.shape[0], 12), dtype=int)
    Y[np.arange(y.shape[0]), y] = 1
    clf = getattr(_clf(), start)(X, Y)
    with pytest.raises(ValueError, match=re.escape("initialised on a label indicator matrix (by fit, fit_noise or")):
        clf.partial_fit(X, y)
