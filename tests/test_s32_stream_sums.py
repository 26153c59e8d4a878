"""The class sums of a sparse stream (stop 32, skxc/_stream_sums.py): the CSR ``sums + batch`` bit for bit (values
and each row's stored order), at a cost per call of the rows a batch touches, not of all the rows kept."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._stream_sums as stream_sums_module
from skxc import AdversarialSoftmaxClassifier
from skxc._start import row_sums, start_change
from skxc._stream_sums import StreamSums, is_canonical


def _same(a, b):
    """CSR ``a`` and ``b`` hold the same entries in the same order, to the bit (-0.0 apart from 0.0)."""
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a.indptr, np.int64), np.asarray(b.indptr, np.int64))
    n = int(a.indptr[-1])
    np.testing.assert_array_equal(np.asarray(a.indices[:n], np.int64), np.asarray(b.indices[:n], np.int64))
    np.testing.assert_array_equal(a.data[:n].view(np.int64), b.data[:n].view(np.int64))


def _sums(rng, n_rows, n_classes, n_features, density, sorted_rows=False):
    """Class sums of random rows, as row_sums makes them (columns in scipy's product order), or sorted."""
    X = sp.random(n_rows, n_features, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data -= 0.3  # entries of both signs: sums may cancel
    codes = rng.integers(0, n_classes, n_rows)
    sums = row_sums(X, codes, n_classes, np.ones(n_rows))
    if sorted_rows:
        sums.sort_indices()
    return sums


@pytest.mark.parametrize("first_sorted, batches_sorted", [(False, False), (True, True), (True, False), (False, True)])
def test_stream_sums_are_the_csr_sum_bit_for_bit(first_sorted, batches_sorted, monkeypatch):
    """Each ``add`` leaves exactly the CSR that ``sp.csr_matrix(sums + batch)`` gives, whichever way scipy adds
    (a sorted merge of canonical matrices, else its general method, which reverses every row), and
    start_change's move is the one computed from that CSR."""
    forced, real = [], stream_sums_module._general_sum
    monkeypatch.setattr(stream_sums_module, "_general_sum", lambda a, b: forced.append(1) or real(a, b))
    rng = np.random.default_rng(int(first_sorted) * 2 + int(batches_sorted))
    n_classes, n_features = 40, 30
    reference = _sums(rng, 200, n_classes, n_features, 0.1, first_sorted)
    sums = StreamSums(reference)
    _same(sums.tocsr(), reference)
    merged = general = 0
    for step in range(60):
        rows = int(rng.integers(0, 4)) if step % 7 else 0  # some batches without rows
        batch = _sums(rng, rows, n_classes, n_features, 0.2, batches_sorted)
        if step % 11 == 5:  # a batch that cancels a stored entry exactly
            row = int(np.flatnonzero(np.diff(reference.indptr) > 0)[0])
            col, value = reference.indices[reference.indptr[row]], reference.data[reference.indptr[row]]
            batch = sp.csr_matrix(batch + sp.csr_matrix(([-value], ([row], [col])), shape=batch.shape))
        both_canonical = is_canonical(reference) and is_canonical(batch)
        assert sums.canonical() == is_canonical(reference)
        merged, general = merged + both_canonical, general + (not both_canonical)
        classes, change, same = start_change(sums, batch, 0.7)
        ref_classes, ref_change, reference = start_change(reference, batch, 0.7)
        assert same is sums
        np.testing.assert_array_equal(classes, ref_classes)
        _same(change, ref_change)
        _same(sums.tocsr(), reference)
        _same(sums.rows(classes[::-1]), reference[classes[::-1]])
    np.testing.assert_array_equal(sums.toarray(), reference.toarray())
    if first_sorted and batches_sorted:  # sorted rows stay sorted: scipy merges every time
        assert merged == 60 and general == 0
    else:
        assert general > 0
    if not first_sorted and batches_sorted:  # rows of canonical batches added as the whole unsorted sums' are
        assert forced


def test_stream_sums_of_a_matrix_scipy_would_not_leave_add_it_whole_once():
    """Stored zeros or repeated columns (no scipy sum or product leaves them) are added as scipy adds them."""
    data, indices, indptr = np.array([1.0, 0.0, 2.0, 3.0, 4.0]), np.array([2, 0, 1, 1, 3]), np.array([0, 2, 5, 5])
    odd = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    sums = StreamSums(odd)
    reference = odd
    for batch in (sp.csr_matrix(([1.0], ([2], [0])), shape=(3, 4)), sp.csr_matrix(([5.0], ([0], [3])), shape=(3, 4))):
        sums.add(batch)
        reference = sp.csr_matrix(reference + batch)
        _same(sums.tocsr(), reference)


def test_an_update_copies_the_rows_it_touches_not_all_rows():
    """The entries an ``add`` writes are those of the rows it touches; the store's growth and compaction, over a
    stream, copy a bounded multiple of what it wrote (and of the rows it started with): no call copies all the
    rows kept, as ``sums + batch`` did."""
    rng = np.random.default_rng(0)
    n_classes, n_features = 2000, 3000
    reference = _sums(rng, 20_000, n_classes, n_features, 0.005)
    sums = StreamSums(reference)
    start = sums.nnz
    written = 0
    for _ in range(400):
        batch = _sums(rng, 1, n_classes, n_features, 0.005)
        touched = np.flatnonzero(np.diff(batch.indptr) > 0)
        before = sums._written
        sums.add(batch)
        reference = sp.csr_matrix(reference + batch)
        assert sums._written - before == reference[touched].nnz  # the touched rows, rewritten
        written += reference[touched].nnz
    _same(sums.tocsr(), reference)
    assert written < 400 * start / 50  # a plain CSR sum would have copied 400 x all rows
    assert sums._copied <= 4 * (start + written)


def test_a_partial_fit_call_costs_the_classes_it_touches():
    """On a stream, each 1-row call writes the rows of the classes it moves only: the work does not grow with
    the entries kept."""
    X, y = _text(n_rows=3000, n_classes=200)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(X[:2000], y[:2000], classes=np.arange(200))
    sums = clf._start_sums
    assert isinstance(sums, StreamSums) and clf.init_scale_ > 0
    start, copies = sums.nnz, 0
    for i in range(2000, 2100):
        written, copied, kept = sums._written, sums._copied, sums.nnz
        clf.partial_fit(X[i : i + 1], y[i : i + 1])
        assert clf._start_sums is sums
        assert sums._written - written == sums.rows([y[i]]).nnz < kept / 10  # the class's row, rewritten
        copies += sums._copied > copied
    # the store grows by half and is compacted when a third of it is left behind: copies now and then
    assert copies <= 3 and sums._copied <= 4 * (start + sums._written)


def _text(n_rows, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n_rows)
    words = rng.integers(0, 3000, (n_classes, 8))
    cols = np.concatenate([rng.integers(0, 3000, (n_rows, 6)), words[y[:, None], rng.integers(0, 8, (n_rows, 5))]], 1)
    X = sp.csr_matrix((rng.random(cols.size) + 0.1, (np.repeat(np.arange(n_rows), cols.shape[1]), cols.ravel())),
                      shape=(n_rows, 3000))  # fmt: skip
    X.sum_duplicates()
    return X.astype(np.float32), y


def _bits(clf):
    coef = sp.csr_matrix(clf.coef_) if sp.issparse(clf.coef_) else clf.coef_
    parts = (coef.data, coef.indices, coef.indptr) if sp.issparse(coef) else (coef,)
    return [np.ascontiguousarray(p).tobytes() for p in (*parts, clf.intercept_)]


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_models_pickled_with_csr_sums_stream_on_the_same(weights):
    """A model pickled before StreamSums (its ``_start_sums`` a CSR) loads and streams on: the sums become a
    StreamSums on the first call, and the weights are those of a stream that never stopped."""
    X, y = _text(n_rows=3000, n_classes=200)
    classes = np.arange(200)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights=weights)
    clf.partial_fit(X[:1500], y[:1500], classes=classes)
    for s in range(1500, 1800, 30):
        clf.partial_fit(X[s : s + 30], y[s : s + 30])
    old = pickle.loads(pickle.dumps(clf))
    old._start_sums = old._start_sums.tocsr()  # as the code before kept it
    old = pickle.loads(pickle.dumps(old))
    assert sp.issparse(old._start_sums)
    new = pickle.loads(pickle.dumps(clf))  # a StreamSums, pickled compacted
    for model in (clf, old, new):
        for s in list(range(1800, 1900)) + list(range(1900, 3000, 100)):
            size = 1 if s < 1900 else 100
            model.partial_fit(X[s : s + size], y[s : s + size])
    assert isinstance(old._start_sums, StreamSums) and isinstance(new._start_sums, StreamSums)
    assert _bits(old) == _bits(clf) == _bits(new)
    _same(old._start_sums.tocsr(), clf._start_sums.tocsr())


@pytest.mark.parametrize("dense", [False, True])
def test_a_stream_loaded_with_mmap_mode_r_streams_on(tmp_path, dense):
    """joblib.load(..., mmap_mode="r") maps the kept sums read-only: the next partial_fit copies what it updates
    (it crashed the process on sparse sums: numpy's ufunc.at wrote to the read-only map) and streams on as a
    plain load does."""
    joblib = pytest.importorskip("joblib")
    X, y = _text(900, 50)
    if dense:
        X = X.toarray().astype(np.float32)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, n_components=8)
    clf.partial_fit(X[:600], y[:600], classes=np.arange(50))
    clf.partial_fit(X[600:700], y[600:700])
    path = tmp_path / "stream.joblib"
    joblib.dump(clf, path)
    mapped, plain = joblib.load(path, mmap_mode="r"), joblib.load(path)
    for model in (mapped, plain):
        model.partial_fit(X[700:701], y[700:701])
        model.partial_fit(X[701:900], y[701:900])
    assert _bits(mapped) == _bits(plain)
