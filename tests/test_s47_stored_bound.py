"""The memory guard's bound on the weights a fit stores (stop 47): on few rows per class, negatives add sparse
weights on frequent features only (``skxc._weights.negative_insert_mask``), and the guard counts those alone;
the blend counts only the pilots that train."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
import skxc._fit as fit_module
import skxc._weights as weights_module
from skxc import AdversarialSoftmaxClassifier
from skxc._fit import stored_weights_bound


def long_tail_text(n_rows=1500, n_classes=500, n_features=3000, seed=0, multilabel=False):
    """Sparse rows whose features follow a Zipf law (a few frequent, most rare), 1-5 rows per class; with
    ``multilabel``, 1-3 labels per row."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_features + 1)
    p /= p.sum()
    rows = [np.unique(rng.choice(n_features, size=20, p=p)) for _ in range(n_rows)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    X = sp.csr_matrix(
        (rng.random(indptr[-1]).astype(np.float32) + 0.1, np.concatenate(rows), indptr), shape=(n_rows, n_features)
    )
    y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n_rows - n_classes)])
    if not multilabel:
        return X, y
    Y = np.zeros((n_rows, n_classes), dtype=np.int8)
    Y[np.arange(n_rows), y] = 1
    extra = rng.integers(0, 3, n_rows)  # 0-2 more labels
    for i in np.flatnonzero(extra):
        Y[i, rng.choice(n_classes, size=extra[i], replace=False)] = 1
    return X, sp.csr_matrix(Y)


def masked_bound(X, Y, n_negatives, n_epochs):
    n_classes = Y.shape[1] if sp.issparse(Y) else len(np.unique(Y))
    example_row = np.repeat(np.arange(X.shape[0]), np.diff(Y.indptr)) if sp.issparse(Y) else None  # pairs' rows
    n_examples = X.shape[0] if example_row is None else example_row.shape[0]
    return stored_weights_bound(X, n_examples, n_negatives, n_classes, n_epochs, example_row)


def reference_bound(X, Y, n_negatives, n_epochs, hits):
    """The same bound, slowly: every example's positive pairs, plus the negatives' keys on the features that
    ``n_epochs x n_negatives x df >= hits x n_classes`` (at most classes x those features, at least one epoch's
    negatives on them), at most the first epoch's bound of every negative."""
    X = sp.csr_matrix(X)
    if sp.issparse(Y):
        labels = [Y.indices[Y.indptr[i] : Y.indptr[i + 1]] for i in range(X.shape[0])]
        n_classes = Y.shape[1]
    else:
        labels = [[c] for c in Y]
        n_classes = len(np.unique(Y))
    df = np.zeros(X.shape[1])
    positives = 0
    for i in range(X.shape[0]):
        features = X.indices[X.indptr[i] : X.indptr[i + 1]]
        positives += len(labels[i]) * features.size
        df[features] += len(labels[i])
    mask = n_epochs * n_negatives * df >= hits * n_classes
    n_examples = sum(len(lab) for lab in labels)
    mean_nnz = X.nnz / X.shape[0]
    old = int(X.nnz + n_examples * (1 + n_negatives) * mean_nnz)  # the first epoch's bound
    negatives = min(n_classes * mask.sum(), n_epochs * n_negatives * df[mask].sum())
    negatives = max(negatives, n_negatives * df[mask].sum())  # at least the first epoch's room
    return min(old, positives + negatives)


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("hits", [1.0, 0.0, 1e9])
def test_masked_bound_matches_a_slow_reference(monkeypatch, multilabel, hits):
    monkeypatch.setattr(weights_module, "NEGATIVE_INSERT_HITS", hits)
    X, Y = long_tail_text(multilabel=multilabel)
    for n_negatives, n_epochs in [(2, 10), (8, 2), (1, 1)]:
        assert masked_bound(X, Y, n_negatives, n_epochs) == reference_bound(X, Y, n_negatives, n_epochs, hits)


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("n_negatives", [2, 8])
def test_a_fit_stores_no_more_weights_than_the_masked_bound(multilabel, n_negatives):
    """With every weight kept (no pruning or truncation, no blend), the sparse coef_ of a 4-epoch fit holds at
    most the masked bound (a bound on all its epochs), below the first epoch's bound of every negative."""
    X, Y = long_tail_text(multilabel=multilabel)
    clf = AdversarialSoftmaxClassifier(
        weights="sparse", weight_threshold=0.0, centroid_blend=0.0, n_negatives=n_negatives, max_iter=4,
        random_state=0, n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    bound = masked_bound(X, Y, n_negatives, 4)
    n_examples = X.shape[0] if not multilabel else Y.nnz
    assert clf.coef_.nnz <= bound < 0.8 * stored_weights_bound(X, n_examples, n_negatives)


@pytest.mark.parametrize("multilabel", [False, True])
def test_where_every_feature_takes_negatives_the_first_epochs_bound_stays(monkeypatch, multilabel):
    """NEGATIVE_INSERT_HITS = 0: negatives add weights on every feature; the bound is then at most the first
    epoch's, as before (later epochs' growth is checked as the table doubles), and a 1-epoch fit stores no more."""
    monkeypatch.setattr(weights_module, "NEGATIVE_INSERT_HITS", 0.0)
    X, Y = long_tail_text(multilabel=multilabel)
    n_examples = X.shape[0] if not multilabel else Y.nnz
    # the positives' pairs counted once (the old bound counts the start's and the positives' apart)
    assert masked_bound(X, Y, 2, 1) == reference_bound(X, Y, 2, 1, 0.0) < stored_weights_bound(X, n_examples, 2)
    clf = AdversarialSoftmaxClassifier(
        weights="sparse", weight_threshold=0.0, centroid_blend=0.0, n_negatives=2, max_iter=1, random_state=0,
        n_jobs=1,
    ).fit(X, Y)  # fmt: skip
    assert clf.coef_.nnz <= masked_bound(X, Y, 2, 1)


def guard_counts(monkeypatch):
    seen = []
    real = fit_module.check_model_memory

    def recording(*args, **kwargs):
        seen.append(kwargs.get("stored_weights"))
        return real(*args, **kwargs)

    monkeypatch.setattr(fit_module, "check_model_memory", recording)
    return seen


def test_the_model_guard_counts_the_masked_bound_for_fit_only(monkeypatch):
    """fit on few rows per class: the masked bound at the epoch budget, for the faster pilot's negatives where it
    may train (its 8 count; not without the automatic blend, whose pilot it is); a stream (partial_fit) and many
    rows per class: the bound of every negative."""
    X, y = long_tail_text()
    seen = guard_counts(monkeypatch)
    AdversarialSoftmaxClassifier(weights="sparse", max_iter=3, random_state=0).fit(X, y)
    assert seen[0] == masked_bound(X, y, blend.FASTER[1], 3)  # learning_rate, n_negatives, centroid_blend "auto"
    assert len(seen) > 1  # the pilots' own guards came after the model's
    AdversarialSoftmaxClassifier(weights="sparse", centroid_blend=0.0, max_iter=3, random_state=0).fit(X, y)
    assert seen[-1] == masked_bound(X, y, 2, 3)  # no pilots: the estimator's 2 negatives
    AdversarialSoftmaxClassifier(weights="sparse", centroid_blend=0.0, max_iter=3, n_negatives=3).fit(X, y)
    assert seen[-1] == masked_bound(X, y, 3, 3)
    AdversarialSoftmaxClassifier(weights="sparse", n_negatives=3).partial_fit(X, y, classes=np.unique(y))
    assert seen[-1] == stored_weights_bound(X, X.shape[0], 3)
    many_y = y % 20  # 75 rows per class
    AdversarialSoftmaxClassifier(weights="sparse", centroid_blend=0.0, max_iter=1, n_negatives=3).fit(X, many_y)
    assert seen[-1] == stored_weights_bound(X, X.shape[0], 3)


@pytest.mark.parametrize(
    "params, multilabel",
    [
        ({}, False),
        ({"n_jobs": 2}, False),
        ({"learning_rate": 0.1}, False),
        ({"tree_temperature": 1.0}, False),
        ({"noise": "uniform"}, False),
        ({}, True),
        ({"label_weighting": "pairs"}, True),
    ],
)
def test_n_pilots_counts_the_pilots_that_train(monkeypatch, params, multilabel):
    X, Y = long_tail_text(n_rows=1200, n_classes=150, multilabel=multilabel)
    trained = []
    real = blend.new_pilot

    def counting(*args, **kwargs):
        trained.append(1)
        return real(*args, **kwargs)

    flat = []  # the flatter tree, or None where the tree is as flat as it goes (no such pilot)
    real_flatter = blend.flatter_tree
    monkeypatch.setattr(blend, "new_pilot", counting)
    monkeypatch.setattr(blend, "flatter_tree", lambda tree: flat.append(real_flatter(tree)) or flat[-1])
    clf = AdversarialSoftmaxClassifier(**{"random_state": 0, "max_iter": 2, **params}).fit(X, Y)
    # a tree as flat as it goes has no flatter pilot: the estimator's own trains in its place beside the slower
    # step's, and none does where the step is the user's (n_pilots is then one too many: on the safe side)
    missing = int(any(f is None for f in flat) and clf.learning_rate != "auto")
    assert len(trained) == blend.n_pilots(clf, X, multilabel) - missing >= 1


@pytest.mark.parametrize("shared", [120, 330])
def test_the_table_made_up_front_stays_within_the_guards_count(monkeypatch, shared):
    """Rows sharing many features (every one on the mask) and few classes: the first epoch's room counts every
    negative on them, more than classes x features; the guard counts that room too (an audit found the table
    of 330 shared features at 25.2 MB against 17.4 MB counted)."""
    rng = np.random.default_rng(0)
    n_classes, n_features, per_class = 200, 5000, 4
    n = n_classes * per_class
    rows = [np.concatenate([np.arange(shared), shared + rng.choice(n_features - shared, 10, replace=False)])
            for _ in range(n)]  # fmt: skip
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    X = sp.csr_matrix(
        (rng.random(indptr[-1]).astype(np.float32) + 0.1, np.concatenate(rows), indptr), shape=(n, n_features)
    )
    y = np.repeat(np.arange(n_classes), per_class)
    seen = guard_counts(monkeypatch)
    tables = []
    real = weights_module.HashedWeights.from_csr.__func__

    def from_csr(cls, coef, acc, extra=0):
        table = real(cls, coef, acc, extra=extra)
        tables.append((coef.nnz + extra, table.nbytes))
        return table

    monkeypatch.setattr(weights_module.HashedWeights, "from_csr", classmethod(from_csr))
    AdversarialSoftmaxClassifier(
        weights="sparse", weight_threshold=0.0, centroid_blend=0.0, n_negatives=2, max_iter=10, random_state=0,
        n_jobs=1,
    ).fit(X, y)  # fmt: skip
    keys, nbytes = tables[-1]
    assert keys <= seen[-1]
    assert nbytes <= weights_module.estimated_sparse_bytes(seen[-1], False)
