"""Early stopping's validation split keeps every class for training (stop 45, audit s45/qaB).

Held out uniformly, the rows of a class with one or two rows were all held out about a tenth of the time:
the model then had no training row, no centroid and almost no probability for a class of ``y``
(true-class probabilities down to 1e-47 on long-tailed data).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier
from skxc._fit import holdout, keep_every_class
from skxc.datasets import make_hierarchical_classification


def _reference_keep(train_idx, val_idx, codes, weight):
    """Row by row: each class with no kept row of positive weight takes back its lowest held-out row."""
    train, val = set(train_idx.tolist()), sorted(val_idx.tolist())
    for c in np.unique(codes[val_idx]):
        if not any(codes[r] == c and (weight is None or weight[r] > 0) for r in train):
            first = min(r for r in val if codes[r] == c)
            train.add(first)
            val.remove(first)
    return np.array(sorted(train)), np.array(val, dtype=np.int64)


@pytest.mark.parametrize("seed", range(5))
def test_keep_every_class_matches_a_row_by_row_reference(seed):
    rng = np.random.default_rng(seed)
    codes = rng.zipf(1.3, size=300) % 120  # many classes of one or two rows
    weight = np.where(rng.random(300) < 0.1, 0.0, 1.0)
    perm = rng.permutation(np.flatnonzero(weight > 0))
    val_idx = np.sort(perm[:60])
    train_idx = np.setdiff1d(np.arange(300), val_idx)
    got = keep_every_class(train_idx, val_idx, codes, weight)
    want = _reference_keep(train_idx, val_idx, codes, weight)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    kept = set(codes[got[0][weight[got[0]] > 0]].tolist())
    assert set(codes[weight > 0].tolist()) <= kept  # every class of positive weight trains


def test_a_split_that_loses_no_class_is_unchanged():
    codes = np.repeat(np.arange(10), 5)
    train_idx, val_idx = np.arange(0, 50, 2), np.arange(1, 50, 2)
    got_train, got_val = keep_every_class(train_idx, val_idx, codes)
    assert got_train is train_idx and got_val is val_idx


def test_every_label_keeps_a_training_row():
    # rows 2 and 4 carry labels 3 and 4, which no training row has: row 2 comes back (it brings label 3 and 4)
    Y = sp.csr_matrix(
        np.array([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 0], [0, 0, 0, 1, 1], [1, 1, 0, 0, 0]])
    )
    train_idx, val_idx = np.array([0, 1, 3]), np.array([2, 4, 5])
    got_train, got_val = keep_every_class(train_idx, val_idx, Y)
    np.testing.assert_array_equal(got_train, [0, 1, 2, 3])
    np.testing.assert_array_equal(got_val, [4, 5])
    # a stored zero is not a label
    Y0 = Y.astype(np.float64).tolil()
    Y0[5, 4] = 0.0
    Y0 = Y0.tocsr()
    Y0.data[Y0.data == 0] = 0.0
    assert keep_every_class(np.array([0, 1, 2, 3]), np.array([4, 5]), Y0)[1].tolist() == [4, 5]


def test_holdout_keeps_every_class_of_long_tailed_codes():
    rng = np.random.default_rng(0)
    codes = np.concatenate([np.arange(400), rng.integers(0, 400, size=400)])  # 400 classes, one or two rows
    X = sp.random(codes.shape[0], 30, density=0.2, format="csr", random_state=0)
    w = np.ones(codes.shape[0])
    _, _, train_codes, _, (_, val_codes, _) = holdout(X, None, codes, w, 0.2, np.random.default_rng(1), False)
    assert set(train_codes.tolist()) == set(range(400))
    assert 0 < val_codes.shape[0] < round(0.2 * codes.shape[0])  # rows given back leave the validation set


def test_no_validation_row_left_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(40, 5))
    y = np.arange(40)  # every class has one row
    with pytest.raises(ValueError, match="validation_fraction=0.1 leaves no validation rows"):
        AdversarialSoftmaxClassifier(early_stopping=True, random_state=0).fit(X, y)


def test_early_stopping_on_a_long_tail_gives_no_class_almost_no_probability():
    X, y = make_hierarchical_classification(n_samples=6000, n_features=32, n_classes=1500, random_state=0)
    X_train, y_train, X_test, y_test = X[:4500], y[:4500], X[4500:], y[4500:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = AdversarialSoftmaxClassifier(early_stopping=True, random_state=0, max_iter=3).fit(X_train, y_train)
    # before: "... classes have no training rows ..." and true-class probabilities down to 1e-40
    assert not [w for w in caught if "no training rows" in str(w.message)]
    seen = np.isin(y_test, clf.classes_)
    proba = clf.predict_proba(X_test[seen])
    p_true = proba[np.arange(proba.shape[0]), np.searchsorted(clf.classes_, y_test[seen])]
    assert p_true.min() > 1e-12
