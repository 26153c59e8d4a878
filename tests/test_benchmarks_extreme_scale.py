"""Helpers of ``benchmarks/extreme_scale.py``: the train/test split and the tree's blockwise top-k."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import extreme_scale  # noqa: E402
from skxc import AuxiliaryTree  # noqa: E402
from skxc.datasets import make_extreme_classification  # noqa: E402


def test_seen_split_keeps_a_training_row_of_every_class():
    _, y = make_extreme_classification(600, 300, 400, nnz_per_row=3, random_state=0)
    train, test = extreme_scale.split_rows(y, 150, "seen", seed=0)
    assert test.size == 150 and train.size == 450
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(600))
    assert np.unique(y[train]).size == 400  # every class in training, so every test class too
    train, test = extreme_scale.split_rows(y, 150, "random", seed=0)
    np.testing.assert_array_equal(test, np.arange(450, 600))
    with pytest.raises(ValueError, match="n_test"):
        extreme_scale.split_rows(y, 201, "seen", seed=0)  # only 600 - 400 rows beyond each class's first


def test_tree_top_k_is_the_argsort_of_the_log_probabilities(monkeypatch):
    X, y = make_extreme_classification(400, 200, 30, nnz_per_row=8, random_state=1)
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X[:300], y[:300])
    monkeypatch.setattr(extreme_scale, "TOPK_BLOCK_BYTES", 8 * 30 * 7)  # blocks of 7 rows
    top = extreme_scale.tree_top_k(tree, X[300:], k=5)
    L = tree.predict_log_proba(X[300:])
    expected = tree.classes_[np.argsort(-L, axis=1, kind="stable")[:, :5]]
    np.testing.assert_array_equal(
        np.sort(L, axis=1)[:, ::-1][:, :5], np.take_along_axis(L, np.searchsorted(tree.classes_, top), axis=1)
    )
    assert np.mean(top == expected) > 0.99  # the same classes up to ties
