"""The tree's and the data sets' public edges found by the stop-30 audit: frozen trees fitted on named columns,
feature names out, 1-D labels and classes, generator parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def named():
    X, y = make_hierarchical_classification(n_samples=1500, n_features=12, n_classes=30, random_state=0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(12)]), y


def test_a_frozen_tree_fitted_on_named_columns_trains_and_predicts_without_warnings(named):
    df, y = named
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(df, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), max_iter=1, random_state=0).fit(df, y)
        proba = clf.predict_proba(df[:5])
        clf.partial_fit(df[:100], y[:100])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # the same model as from the unnamed rows: the tree projects the same columns
    plain = AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tree was fitted with names, these rows have none
        plain.fit(df.to_numpy(), y)
    np.testing.assert_array_equal(plain.coef_, AdversarialSoftmaxClassifier(
        noise=FrozenEstimator(tree), max_iter=1, random_state=0).fit(df, y).coef_)  # fmt: skip


def test_a_frozen_tree_rejects_reordered_columns(named):
    df, y = named
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(df, y)
    clf = AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), max_iter=1)
    with pytest.raises(ValueError, match="feature names must be those the frozen noise tree was fitted with"):
        clf.fit(df[df.columns[::-1]], y)
    assert not hasattr(clf, "n_features_in_")


def test_tree_feature_names_out_and_pandas_output(named):
    df, y = named
    tree = AuxiliaryTree(n_components=3, random_state=0).fit(df, y)
    assert tree.get_feature_names_out().tolist() == ["auxiliarytree0", "auxiliarytree1", "auxiliarytree2"]
    pipe = make_pipeline(AuxiliaryTree(n_components=3, random_state=0), LogisticRegression())
    pipe.set_output(transform="pandas").fit(df, y)
    Z = pipe[0].transform(df[:4])
    assert list(Z.columns) == ["auxiliarytree0", "auxiliarytree1", "auxiliarytree2"]
    # the tree's own predictions do not go through the wrapped transform
    np.testing.assert_allclose(pipe[0].predict_proba(df[:4]).sum(axis=1), 1.0)
    assert pipe[0].sample(df[:4], 2, random_state=0).shape == (4, 2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda t, X: t.log_proba_of(X[:2], [[0], [1]]), r"y must be 1-D, one label per row; got .* shape \(2, 1\)"),
        (lambda t, X: t.log_proba_of(X[:1], 0), r"y must be 1-D"),
        (lambda t, X: t.sample(X[:2], n_samples=True), "n_samples must be a positive integer; got True"),
        (lambda t, X: AuxiliaryTree().fit(X[:8], np.arange(8), classes=np.arange(8).reshape(2, 4)),
         r"classes must be 1-D; got an array of shape \(2, 4\)"),
    ],
)  # fmt: skip
def test_tree_label_shapes_are_checked(named, call, match):
    df, y = named
    X = df.to_numpy()
    tree = AuxiliaryTree(n_components=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=match):
        call(tree, X)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"noise": np.nan}, "noise"),
        ({"class_sep": -1.0}, "class_sep"),
        ({"decay": -1.0, "n_classes": 2}, "decay"),
        ({"imbalance": np.nan}, "imbalance"),
        ({"class_sep": "a"}, "class_sep"),
        ({"n_samples": True}, "n_samples"),
        ({"n_classes": 1}, "n_classes"),
    ],
)
def test_make_hierarchical_classification_names_bad_parameters(params, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        make_hierarchical_classification(**params)
