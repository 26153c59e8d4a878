"""Audit 13's messages and leftovers: multi-label ``classes`` echoed with their count, a frozen tree's classes
named as such, and ``fit_noise`` leaving no attribute of an earlier training call."""

import re

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification


def _clf(**params):
    return AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1, n_components=4, **params)


@pytest.fixture(scope="module")
def data():
    return make_hierarchical_classification(n_samples=600, n_features=10, n_classes=12, random_state=0)


@pytest.fixture(scope="module")
def indicator(data):
    X, y = data
    Y = np.zeros((y.shape[0], 12), dtype=int)
    Y[np.arange(y.shape[0]), y] = 1
    Y[np.arange(y.shape[0]), (y + 1) % 12] = 1
    return X, Y


def test_multilabel_classes_error_says_how_many_and_marks_the_cut(indicator):
    """Before: "got [0, 1, ..., 9]" for 13 classes, cut to 10 without saying so."""
    X, Y = indicator
    with pytest.raises(ValueError, match=re.escape("got 13 classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...] (the first")):
        _clf().fit_noise(X, Y, classes=np.arange(13))
    with pytest.raises(ValueError, match=re.escape("n_labels=12 (the columns of y); got 3 classes: [0, 1, 2].")):
        _clf().partial_fit(X, Y, classes=np.arange(3))


def test_frozen_tree_of_string_labels_and_integer_y_names_the_tree(data):
    """Before: the generic "y contains 12 label(s) not in classes ... fixed by the first call" (np.setdiff1d
    compared the integers with the tree's strings as strings and found them all)."""
    X, y = data
    frozen = FrozenEstimator(AuxiliaryTree(n_components=4, random_state=0).fit(X, y.astype(str)))
    with pytest.raises(ValueError, match="frozen noise tree.*no leaf for: \\[0, 1, 2.*the tree's classes_ \\(12 "
                                         "classes: \\['0', '1', '10'.*labels are numbers, the tree's classes_ strings"):  # fmt: skip
        _clf(noise=frozen).fit(X, y)
    # a stream: the classes are the frozen tree's too
    clf = _clf(noise=frozen).partial_fit(X, y.astype(str), classes=np.unique(y.astype(str)))
    with pytest.raises(ValueError, match="labels are numbers, the classes strings.*the frozen noise tree's classes_"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="first partial_fit call, which must equal the frozen noise tree's classes_"):
        _clf(noise=frozen).partial_fit(X, y, classes=np.unique(y.astype(str)))
    assert _clf(noise=frozen).fit(X, y.astype(str)).score(X, y.astype(str)) > 0.5  # matching labels train


@pytest.mark.parametrize("before", ["stream", "fit", "early stopping"])
def test_fit_noise_leaves_no_attribute_of_an_earlier_training_call(data, before):
    """fit_noise resets the model to its start: it has the attributes of a fresh fit_noise, no learning_rate_,
    interrupted_ or best_iteration_ of the earlier call (before: a stream's stayed)."""
    X, y = data
    clf = _clf(early_stopping=before == "early stopping")
    if before == "stream":
        clf.partial_fit(X, y, classes=np.unique(y))
    else:
        clf.fit(X, y)
    assert hasattr(clf, "learning_rate_") and hasattr(clf, "interrupted_")
    clf.set_params(early_stopping=False).fit_noise(X, y)
    fresh = _clf().fit_noise(X, y)
    assert set(vars(clf)) - {"_validated_params"} == set(vars(fresh))
    for name in ("learning_rate_", "interrupted_", "best_iteration_"):
        assert not hasattr(clf, name)
    assert clf.n_iter_ == clf.t_ == 0 and clf.loss_curve_ == [] and clf.validation_scores_ == []
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), fresh.predict_proba(X[:50]))
    clf.partial_fit(X, y)  # the next training call sets them again
    assert clf.learning_rate_ > 0 and clf.interrupted_ is False
