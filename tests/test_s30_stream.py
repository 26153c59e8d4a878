"""Streams and failed fits (stop 30): the Adagrad kind changed between partial_fit calls with sparse weights,
dense and sparse batches mixed in a stream, the blend's background work after an error, warm starts on
other classes, and what a failed or interrupted fit leaves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_extreme_classification


@pytest.fixture(scope="module")
def sparse_data():
    X, y = make_extreme_classification(n_samples=800, n_features=2000, n_classes=40, random_state=0)
    return sp.csr_matrix(X), y


@pytest.mark.parametrize(("before", "after"), [("factored", "full"), ("full", "factored")])
def test_adagrad_changed_between_partial_fit_calls_with_a_kept_table(sparse_data, before, after):
    """The kept table of sparse weights holds the sums of the old kind: the state is converted from coef_ as
    CSR (as for a model whose coef_ was read, which drops the table) and the next call trains on the
    converted state, the same bits either way."""
    X, y = sparse_data
    classes = np.unique(y)
    models = []
    for drop_table in (False, True):
        clf = AdversarialSoftmaxClassifier(random_state=0, weights="sparse", adagrad=before, n_jobs=1)
        clf.partial_fit(X[:400], y[:400], classes=classes)
        assert clf.__dict__.get("_table") is not None  # partial_fit keeps its table
        if drop_table:
            clf.coef_ = clf.coef_  # coef_ as CSR: no table
        clf.set_params(adagrad=after).partial_fit(X[400:], y[400:])
        assert clf._adagrad_state.kind == after
        models.append(clf)
    kept, dropped = models
    assert np.all(np.isfinite(kept.coef_.data))
    assert (kept.coef_ != dropped.coef_).nnz == 0
    np.testing.assert_array_equal(kept.intercept_, dropped.intercept_)
    assert kept.score(X, y) > 0.5
    if after == "full":  # one sum per stored weight, aligned with coef_.data
        assert kept._adagrad_state.coef_sums.shape == (kept.coef_.nnz,)
