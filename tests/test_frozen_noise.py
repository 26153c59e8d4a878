"""noise=FrozenEstimator(tree): a prefit AuxiliaryTree used as is, fitted once for a whole grid search."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def data():
    X, y = make_hierarchical_classification(n_samples=1500, n_features=16, n_classes=24, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def tree(data):
    X, y = data
    return AuxiliaryTree(random_state=0).fit(X, y)


@pytest.fixture
def tree_fits(monkeypatch):
    """Counts tree fits (AuxiliaryTree.fit and the classifier's own tree fit both go through fit_encoded)."""
    calls = []
    real = AuxiliaryTree.fit_encoded

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AuxiliaryTree, "fit_encoded", counting)
    return calls


GRID = {"alpha": [1e-3, 1e-2], "n_negatives": [1, 2]}  # 4 settings


def _clf(**params):
    return AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, **params)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_grid_search_fits_a_frozen_tree_once(data, tree_fits, sparse):
    X, y = data
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    tree = AuxiliaryTree(random_state=0).fit(X, y)
    assert len(tree_fits) == 1
    search = GridSearchCV(_clf(noise=FrozenEstimator(tree)), GRID, cv=3).fit(X, y)
    assert len(tree_fits) == 1  # 4 settings x 3 folds + the refit: no tree fit
    assert search.best_estimator_.tree_ is tree
    assert search.best_score_ > 0.5
    tree_fits.clear()
    GridSearchCV(_clf(), GRID, cv=3).fit(X, y)
    assert len(tree_fits) == 4 * 3 + 1  # without freezing: one tree per fit


def test_frozen_tree_is_used_as_is(data, tree):
    X, y = data
    clf = _clf(noise=FrozenEstimator(tree)).fit(X, y)
    assert clf.tree_ is tree
    assert clone(clf).noise is clf.noise  # FrozenEstimator's clone returns itself
    # the same model as a classifier that fitted this very tree itself and then streamed with it
    np.testing.assert_array_equal(clf.tree_.predict_proba(X), tree.predict_proba(X))
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.tree_ is again.noise.estimator  # pickled once, shared after loading
    # partial_fit and fit_noise take it too
    classes = np.unique(y)
    streamed = _clf(noise=FrozenEstimator(tree)).partial_fit(X[:500], y[:500], classes=classes)
    assert streamed.tree_ is tree
    assert _clf(noise=FrozenEstimator(tree)).fit_noise(X, y).tree_ is tree


def test_frozen_tree_equals_fitting_the_same_tree(data):
    """A frozen tree gives the same model as noise="adversarial" when that fit builds the identical tree."""
    X, y = data
    fitted = _clf().fit(X, y)
    frozen = _clf(noise=FrozenEstimator(fitted.tree_)).fit(X, y)
    # the rng draws for the tree fit are skipped, so shuffles and negatives differ: compare the quality
    assert frozen.tree_ is fitted.tree_
    assert abs(frozen.score(X, y) - fitted.score(X, y)) < 0.05


def test_fold_without_a_class_keeps_the_tree_classes(data, tree):
    X, y = data
    rare = y != y[0]  # drop every row of one class from the training data
    clf = _clf(noise=FrozenEstimator(tree)).fit(X[rare], y[rare])
    np.testing.assert_array_equal(clf.classes_, tree.classes_)
    assert clf.predict_proba(X).shape == (X.shape[0], len(tree.classes_))
    # a CV whose training folds miss classes (unshuffled KFold on sorted labels) runs without fit failures
    order = np.argsort(y, kind="stable")
    search = GridSearchCV(_clf(noise=FrozenEstimator(tree)), {"alpha": [1e-3]}, cv=KFold(3), error_score="raise")
    search.fit(X[order], y[order])


def test_frozen_tree_errors(data, tree):
    X, y = data
    with pytest.raises(NotFittedError, match="noise=FrozenEstimator.*not fitted"):
        _clf(noise=FrozenEstimator(AuxiliaryTree())).fit(X, y)
    with pytest.raises(TypeError, match="must wrap a fitted skxc.AuxiliaryTree.*LogisticRegression"):
        _clf(noise=FrozenEstimator(LogisticRegression())).fit(X, y)
    with pytest.raises(ValueError, match="fitted on 16 features, X has 5"):
        _clf(noise=FrozenEstimator(tree)).fit(X[:, :5], y)
    with pytest.raises(ValueError, match=r"no leaf for: \[100, 101"):
        _clf(noise=FrozenEstimator(tree)).fit(X, y + 100)
    with pytest.raises(ValueError, match="must equal the classifier's classes"):
        _clf(noise=FrozenEstimator(tree)).partial_fit(X, y, classes=np.arange(40))
    with pytest.raises(ValueError, match="noise"):  # InvalidParameterError: an unfrozen tree is not accepted
        _clf(noise=tree).fit(X, y)
