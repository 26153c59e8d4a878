"""Stop 66: the dense buffer's conversion leaves out the weights that the blend and the pruning after training
drop anyway (``skxc._training.PRUNE_IN_BUFFER``, ``skxc._weights.from_dense_buffer``'s ``then``).

The conversion with ``then`` followed by the sum with the term and the pruning is the same matrix, bit for bit,
as without it (kernels against that NumPy composition; fits with and without, single- and multi-label), and it
writes fewer weights.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._training as training
import skxc._weights as weights
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import blended_sparse
from skxc._kernels.hashed import buffer_beside, buffer_term_max
from skxc._weights import by_feature, from_dense_buffer, prune


def _buffer_and_term(seed, n_classes=9, n_features=50):
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=n_features).astype(np.float32)
    a = np.asfortranarray(np.repeat(shared[None, :], n_classes, axis=0))
    hit = rng.random((n_classes, n_features)) < 0.5
    a[hit] += (rng.normal(size=hit.sum()) * rng.choice([1e-3, 1.0], size=hit.sum())).astype(np.float32)
    a[1, :] = shared  # a class with nothing stored (its term entries alone)
    term = sp.random(n_classes, n_features, density=0.2, format="csr", random_state=seed, dtype=np.float32)
    term.data = (term.data * 3 - 1.5).astype(np.float32)
    dense_term = term.toarray()
    w = (a - shared[None, :]).astype(np.float32)
    j = np.flatnonzero((dense_term[0] != 0) & (w[0] != 0))[0]
    dense_term[0, j] = -w[0, j]  # an entry where the sum is exactly 0
    j = np.flatnonzero(dense_term[2] != 0)[0]
    a[2, j] = shared[j]  # a term entry where the buffer's weight is 0
    return a, shared, sp.csr_matrix(dense_term)


def _blend_then_prune(coef, term, threshold):
    summed, _ = blended_sparse(coef, None, term)
    return prune(summed, threshold)[0]


@pytest.mark.parametrize("threshold", [0.01, 0.2, 0.6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conversion_then_blend_and_pruning_is_the_same_matrix(seed, threshold):
    a, shared, term = _buffer_and_term(seed)
    full = from_dense_buffer(a, shared)
    fewer = from_dense_buffer(a, shared, then=(term, threshold))
    assert fewer.has_sorted_indices and fewer.dtype == np.float32
    expected = _blend_then_prune(full, term, threshold)
    got = _blend_then_prune(fewer, term, threshold)
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    assert got.data.tobytes() == expected.data.tobytes()
    assert fewer.nnz < full.nnz
    # every weight left out has no term entry and is below the limit of the sum's largest |w|
    dropped = (full != 0).astype(int) - (fewer != 0).astype(int)
    assert dropped.min() == 0
    rows, cols = dropped.nonzero()
    summed, _ = blended_sparse(full, None, term)
    limits = np.float32(threshold) * abs(summed).max(axis=1).toarray().ravel().astype(np.float32)
    assert not term[rows, cols].any()
    assert np.all(np.abs(full[rows, cols].A1) < limits[rows])


@pytest.mark.parametrize("split", [None, 3, 5])
def test_kernels_against_numpy(split):
    """The kernels over all classes, or over two class ranges split at ``split`` (what two threads run)."""
    a, shared, term = _buffer_and_term(4)
    n_classes = a.shape[0]
    ranges = [(0, n_classes)] if split is None else [(0, split), (split, n_classes)]
    t_indptr, t_classes, t_data = by_feature(term)
    w = (a - shared[None, :]).astype(np.float32)
    summed = np.where(term.toarray() != 0, (w + term.toarray()).astype(np.float32), w)
    top = np.zeros(n_classes, dtype=np.float32)
    for r in ranges:
        buffer_term_max(a, shared, t_indptr, t_classes, t_data, *r, top)
    np.testing.assert_array_equal(top, np.abs(summed).max(axis=1))
    limits = np.float32(0.3) * top
    keep = (w != 0) & ((term.toarray() != 0) | (np.abs(w) >= limits[:, None]))
    counts = np.zeros(n_classes, dtype=np.int64)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
    for r in ranges:
        buffer_beside(a, shared, limits, t_indptr, t_classes, False, *r, counts, *empty)
    np.testing.assert_array_equal(counts, keep.sum(axis=1))
    indptr = np.zeros(n_classes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=np.float32)
    for r in reversed(ranges):  # the ranges in any order
        buffer_beside(a, shared, limits, t_indptr, t_classes, True, *r, counts, fill, indices, data)
    np.testing.assert_array_equal(fill, indptr[1:])  # every row filled to its end
    expected = sp.csr_matrix(np.where(keep, w, 0))
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)


def test_class_ranges():
    assert weights._class_ranges(10, weights.THREADED_BUFFER_WEIGHTS - 1, 2) == [(0, 10)]
    assert weights._class_ranges(10, weights.THREADED_BUFFER_WEIGHTS, 2) == [(0, 5), (5, 10)]
    assert weights._class_ranges(10, weights.THREADED_BUFFER_WEIGHTS, 3) == [(0, 3), (3, 7), (7, 10)]
    assert weights._class_ranges(2, weights.THREADED_BUFFER_WEIGHTS, 8) == [(0, 1), (1, 2)]
    assert weights._class_ranges(7, weights.THREADED_BUFFER_WEIGHTS, 1) == [(0, 7)]


@pytest.mark.parametrize("n_threads", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_the_conversion_on_threads_is_the_same_matrix(monkeypatch, seed, n_threads):
    """Converted on several threads (class ranges, the size limit lifted), the CSR is the one-thread one, bit for
    bit."""
    a, shared, term = _buffer_and_term(seed, n_classes=23, n_features=70)
    one = from_dense_buffer(a, shared, then=(term, 0.2))
    monkeypatch.setattr(weights, "THREADED_BUFFER_WEIGHTS", 0)
    many = from_dense_buffer(a, shared, then=(term, 0.2), n_threads=n_threads)
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(many, name), getattr(one, name))
    assert many.has_sorted_indices and many.indices.dtype == one.indices.dtype


def test_without_room_the_conversion_is_as_before(monkeypatch):
    """Where not even the fewer weights fit beside the buffer, the conversion is the one without ``then`` (which
    prunes by the weights alone when memory is short)."""
    a, shared, term = _buffer_and_term(5)
    monkeypatch.setattr("skxc._validation.available_memory_bytes", lambda: 1)
    assert from_dense_buffer(a, shared, 0.5, then=(term, 0.5)).toarray().tobytes() == (
        from_dense_buffer(a, shared, 0.5).toarray().tobytes()
    )


def _text(seed=0, n_classes=120):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=2500)
    X = sp.random(2500, 2000, density=0.01, format="csr", random_state=seed, dtype=np.float64)
    X = X + sp.csr_matrix((np.ones(2500), (np.arange(2500), y * 5 + rng.integers(0, 5, size=2500))), shape=X.shape)
    return sp.csr_matrix(X), y


def _fit(monkeypatch, X, y, prune_in_buffer, **params):
    monkeypatch.setattr(training, "PRUNE_IN_BUFFER", prune_in_buffer)
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)  # sparse weights, trained in the buffer
    written = []
    original = weights._csr_arrays
    monkeypatch.setattr(
        weights, "_csr_arrays", lambda counts, n: written.append(int(counts.sum())) or original(counts, n)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3, **params).fit(X, y)
    return model, written


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_a_fit_is_the_same_model_with_fewer_weights_written(monkeypatch, kind):
    if kind == "single":
        X, y = _text()
        params = dict(centroid_blend=4.0)
    else:
        X, labels = _text()
        coarse = labels // 4 + 120  # and for every other row a coarse label
        rows = np.concatenate([np.arange(labels.size), np.arange(0, labels.size, 2)])
        cols = np.concatenate([labels, coarse[::2]])
        y = sp.csr_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(labels.size, 150))
        params = dict(centroid_blend=4.0)
        monkeypatch.setattr(training, "MULTILABEL_BUFFER", True)
    before, written_before = _fit(monkeypatch, X, y, False, **params)
    after, written_after = _fit(monkeypatch, X, y, True, **params)
    assert sp.issparse(after.coef_) and after.centroid_blend_ == 4.0
    assert "_buffer_then" not in after.__dict__ and "_buffer_shared" not in after.__dict__
    for name in ("coef_", "intercept_", "_shared_coef"):
        b, a = getattr(before, name), getattr(after, name)
        b, a = (b.toarray(), a.toarray()) if sp.issparse(b) else (b, a)
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), name
    assert after._blend_parts["term"].nnz == before._blend_parts["term"].nnz
    assert written_after[0] < written_before[0]  # the buffer's conversion wrote fewer weights
    assert after.predict_proba(X[:50]).tobytes() == before.predict_proba(X[:50]).tobytes()


def test_no_blend_or_no_pruning_converts_every_non_zero(monkeypatch):
    X, y = _text(1)
    for params in (dict(centroid_blend=0.0), dict(centroid_blend=4.0, weight_threshold=0.0)):
        before, written_before = _fit(monkeypatch, X, y, False, **params)
        after, written_after = _fit(monkeypatch, X, y, True, **params)
        assert written_after[0] == written_before[0]
        assert after.coef_.toarray().tobytes() == before.coef_.toarray().tobytes()
