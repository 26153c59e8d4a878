"""Stop 51: the memory guard counts the uniform pilot in the background only where it trains."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def fitted():
    X, y = make_hierarchical_classification(n_samples=1200, n_features=40, n_classes=200, random_state=7)
    return AdversarialSoftmaxClassifier(n_jobs=2).fit(X, y)


@pytest.mark.parametrize("dense", [False, True])
def test_pilots_at_once_are_the_threads_plus_the_uniform_pilot_where_it_trains(fitted, dense):
    X = (
        np.random.default_rng(0).normal(size=(2000, 40)).astype(np.float32)
        if dense
        else sp.random(2000, 1000, density=0.02, format="csr", random_state=0, dtype=np.float32)
    )
    n_classes = len(fitted.classes_)
    scores = blend.map_rows(n_classes) * n_classes * 8
    temporaries = blend.MAX_SCORES * 8
    centroids = 2 * n_classes * X.shape[1] * 8 if dense else 12 * X.nnz

    def pilots_at_once(clf):  # solved from blend_bytes: the pilots' part is larger than the centroids here
        need = blend.blend_bytes(clf, X)
        one = blend.blend_bytes(clf.set_params(n_jobs=1), X) - scores - temporaries  # one pilot and its scores
        clf.set_params(n_jobs=2)
        assert need - scores - temporaries > centroids
        return (need - scores - temporaries) / one

    assert blend.uniform_pilot_wanted(fitted) and blend.n_pilots(fitted, X) == 4
    assert pilots_at_once(fitted) == 3  # two threads, and the uniform pilot in the background
    for params in ({"noise": "uniform"}, {"tree_temperature": 1.0}):  # no uniform pilot: the two threads'
        other = fitted.set_params(**params)
        assert not blend.uniform_pilot_wanted(other) and blend.n_pilots(other, X) == 3
        assert pilots_at_once(other) == 2
        fitted.set_params(noise="adversarial", tree_temperature="auto")
