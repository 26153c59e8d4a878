"""A temperature of an unconditional tree (n_components=0; stop 31 audit): an explicit one was ignored, and
"auto" held out rows it never used."""

from __future__ import annotations

import numpy as np
import pytest

import skxc._tree as tree_module
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def data():
    return make_hierarchical_classification(n_samples=2000, n_features=8, n_classes=12, random_state=0)


def test_an_explicit_temperature_flattens_the_class_frequencies(data):
    X, y = data
    plain = AuxiliaryTree(n_components=0, temperature=1.0, random_state=0).fit(X, y)
    flat = AuxiliaryTree(n_components=0, temperature=0.25, random_state=0).fit(X, y)
    assert flat.temperature_ == 0.25
    p, q = plain.predict_proba(X[:1])[0], flat.predict_proba(X[:1])[0]
    np.testing.assert_allclose(q.sum(), 1.0)
    assert q.max() < p.max() and q.min() > p.min()  # toward the balanced tree
    clf = AdversarialSoftmaxClassifier(n_components=0, tree_temperature=0.5, random_state=0, max_iter=1).fit(X, y)
    assert clf.tree_.temperature_ == 0.5


def test_auto_holds_out_no_rows_for_an_unconditional_tree(data, monkeypatch):
    X, y = data
    calls = []
    monkeypatch.setattr(tree_module, "calibration_split", lambda *args: calls.append(args) or (None, None))
    tree = AuxiliaryTree(n_components=0, random_state=0).fit(X, y)
    assert calls == [] and tree.temperature_ == 1.0
    monkeypatch.undo()
    all_rows = AuxiliaryTree(n_components=0, temperature=1.0, random_state=0).fit(X, y)  # fitted on every row
    np.testing.assert_array_equal(tree.predict_proba(X[:3]), all_rows.predict_proba(X[:3]))
