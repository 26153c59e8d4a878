"""``predict_top_k(..., return_scores=True)``'s probabilities, block by block in place (stop 31 audit: its
normalisers went through a copy of every block and scipy's log-sum-exp temporaries, 388 MB at 1,000 classes
where the whole 20,000 x 1,000 score matrix is 153 MB; now about one block per thread)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._predict as predict
from skxc import AdversarialSoftmaxClassifier
from skxc._parallel import n_threads
from skxc.datasets import make_hierarchical_classification


@pytest.mark.parametrize("weights", ["dense", "sparse"])
@pytest.mark.parametrize("scale", [1.0, 0.37])
def test_top_k_probabilities_are_the_entries_of_all_classes_proba(weights, scale, monkeypatch):
    """``proba_of_codes`` (stop 33: it replaced the normalisers, ``log_normalizers``) gives predict_proba's
    entries bit for bit, block by block in place."""
    X, y = make_hierarchical_classification(n_samples=1500, n_features=12, n_classes=150, random_state=0)
    X = sp.csr_matrix(np.where(np.abs(X) > 0.8, X, 0.0))
    clf = AdversarialSoftmaxClassifier(random_state=0, weights=weights, max_iter=2, n_jobs=2).fit(X, y)
    rows, Z = clf._kernel_inputs(X[:700])
    coef, tree = clf._scoring_coef(), clf.tree_.arrays
    codes = np.random.default_rng(0).integers(0, len(clf.classes_), size=(700, 4))
    reference = predict.all_classes(rows, Z, coef, clf.intercept_, tree, "proba", 2, scale)

    def no_full_matrix(*args, **kwargs):
        raise AssertionError("proba_of_codes built the n x C matrix")

    monkeypatch.setattr(predict, "all_classes", no_full_matrix)
    got = predict.proba_of_codes(rows, Z, coef, clf.intercept_, tree, codes, n_threads(2), scale)
    np.testing.assert_array_equal(got, np.take_along_axis(reference, codes, axis=1))


def test_top_k_scores_are_the_probabilities():
    X, y = make_hierarchical_classification(n_samples=1500, n_features=12, n_classes=150, random_state=1)
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2).fit(X, y)
    labels, proba = clf.predict_top_k(X[:300], 4, return_scores=True)
    full = clf.predict_proba(X[:300])
    columns = np.searchsorted(clf.classes_, labels)
    np.testing.assert_allclose(proba, np.take_along_axis(full, columns, axis=1), rtol=1e-10, atol=1e-14)
