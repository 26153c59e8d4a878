"""Stop 65: ``label_weighting="auto"`` shares each row's weight among its labels ("rows") from the start where the
rows carry at least ``ROWS_CARDINALITY`` labels on average (``skxc._training``); below that the pilots choose as
before (docs/benchmarks.rst, "Stop 65")."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_blend import few_rows_data, multilabel_few_rows_data
from test_s39_weighting_budget_start import dense, record_pilots

import skxc._blend as blend
import skxc._training as training
from skxc import AdversarialSoftmaxClassifier
from skxc._multilabel import label_cardinality


@pytest.fixture(autouse=True)
def _no_multilabel_faster_pilot(monkeypatch):
    """The tests count the weighting's pilots: without the faster one (``MULTILABEL_FASTER``)."""
    monkeypatch.setattr(blend, "MULTILABEL_FASTER", 1.0)


def many_labels_data(seed=3):
    """Few-rows hierarchical data with about 4.5 labels per row: the class, three coarser groups of it and, for
    half the rows, a random tag."""
    X, y, Xt, yt = few_rows_data(seed=seed)
    rng = np.random.default_rng(seed)

    n_classes = int(max(y.max(), yt.max())) + 1
    offsets = np.cumsum([0, n_classes, n_classes // 4 + 1, n_classes // 8 + 1, n_classes // 16 + 1])

    def indicator(c):
        n = c.size
        tag = rng.random(n) < 0.5
        rows = np.concatenate([np.arange(n)] * 4 + [np.flatnonzero(tag)])
        cols = np.concatenate([c, offsets[1] + c // 4, offsets[2] + c // 8, offsets[3] + c // 16,
                               offsets[4] + rng.integers(0, 50, tag.sum())])  # fmt: skip
        return sp.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(n, offsets[4] + 50))

    return X, indicator(y), Xt, indicator(yt)


def first_labels(Y):
    """Each row's first label alone (the class of :func:`many_labels_data`): one label per row."""
    first = np.array([Y.indices[a:b].min() for a, b in zip(Y.indptr[:-1], Y.indptr[1:], strict=True)])
    return sp.csr_matrix((np.ones(first.size, np.int8), (np.arange(first.size), first)), shape=Y.shape)


def test_auto_is_rows_from_the_start_where_rows_carry_many_labels(monkeypatch):
    X, Y, Xt, _ = many_labels_data()
    assert label_cardinality(Y, np.ones(Y.shape[0])) >= training.ROWS_CARDINALITY
    params = {"random_state": 0, "n_jobs": 1, "max_iter": 2}
    seen = record_pilots(monkeypatch)
    auto = AdversarialSoftmaxClassifier(**params).fit(X, Y)
    assert auto.label_weighting_ == "rows" and seen == ["rows"]  # one pilot: no "pairs" one to compare with
    seen.clear()
    rows = AdversarialSoftmaxClassifier(label_weighting="rows", **params).fit(X, Y)
    assert seen == ["rows"]
    # the same model as an explicit "rows": the tree, the start and the step of the shared weights
    np.testing.assert_array_equal(dense(auto.coef_), dense(rows.coef_))
    np.testing.assert_array_equal(auto.predict_proba(Xt), rows.predict_proba(Xt))
    assert auto.learning_rate_ == rows.learning_rate_ and auto.init_scale_ == rows.init_scale_
    # without the rule, "auto" starts with "pairs" and the pilots choose, as before stop 65
    monkeypatch.setattr(training, "ROWS_CARDINALITY", None)
    seen.clear()
    before = AdversarialSoftmaxClassifier(**params).fit(X, Y)
    assert seen == ["pairs", "rows"] and before.label_weighting_ in ("pairs", "rows")
    assert not np.array_equal(dense(before.coef_), dense(auto.coef_))
    # an explicit "pairs" is kept whatever the labels per row
    monkeypatch.setattr(training, "ROWS_CARDINALITY", 4.0)
    pairs = AdversarialSoftmaxClassifier(label_weighting="pairs", **params).fit(X, Y)
    assert pairs.label_weighting_ == "pairs"


def test_auto_below_the_cardinality_is_the_previous_choice(monkeypatch):
    """Rows with fewer labels (here 1.5 on average): the pilots compare "pairs" and "rows" as before, and the
    model is the one without the rule, bit for bit."""
    X, Y, Xt, _ = multilabel_few_rows_data(seed=3)
    assert label_cardinality(Y, np.ones(Y.shape[0])) < training.ROWS_CARDINALITY
    params = {"random_state": 0, "n_jobs": 1, "max_iter": 2}
    seen = record_pilots(monkeypatch)
    auto = AdversarialSoftmaxClassifier(**params).fit(X, Y)
    assert seen == ["pairs", "rows"]
    monkeypatch.setattr(training, "ROWS_CARDINALITY", None)
    before = AdversarialSoftmaxClassifier(**params).fit(X, Y)
    assert auto.label_weighting_ == before.label_weighting_
    np.testing.assert_array_equal(dense(auto.coef_), dense(before.coef_))
    np.testing.assert_array_equal(auto.predict_proba(Xt), before.predict_proba(Xt))


def test_the_cardinality_is_that_of_the_sample_weights(monkeypatch):
    """The rule reads ``label_cardinality_``, the sample-weighted mean number of labels: rows of weight 0 do not
    count (here the many-labels rows), so the same Y can fall on either side."""
    X, Y, _, _ = many_labels_data()
    few = first_labels(Y)
    both = sp.vstack([Y, few]).tocsr()
    X2 = sp.vstack([X, X]).tocsr()
    params = {"random_state": 0, "n_jobs": 1, "max_iter": 1, "centroid_blend": 0.0}
    weight = np.r_[np.ones(Y.shape[0]), np.zeros(Y.shape[0])]
    many = AdversarialSoftmaxClassifier(**params).fit(X2, both, sample_weight=weight)
    assert many.label_cardinality_ >= 4 and many.label_weighting_ == "rows"
    one = AdversarialSoftmaxClassifier(**params).fit(X2, both, sample_weight=weight[::-1])
    assert one.label_cardinality_ == 1.0 and one.label_weighting_ == "pairs"


def test_a_stream_of_many_labels_per_row_shares_the_rows_weights_from_its_first_batch():
    X, Y, _, _ = many_labels_data()
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    clf.partial_fit(X[:600], Y[:600], classes=np.arange(Y.shape[1]))
    assert clf.label_weighting_ == "rows"
    rows = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, label_weighting="rows")
    rows.partial_fit(X[:600], Y[:600], classes=np.arange(Y.shape[1]))
    np.testing.assert_array_equal(dense(clf.coef_), dense(rows.coef_))
    # later batches keep it, whatever their own labels per row (here one per row: the class alone)
    few = first_labels(Y[600:900])
    clf.partial_fit(X[600:900], few)
    assert clf.label_weighting_ == "rows"
