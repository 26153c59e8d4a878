"""The late centroid start of a stream in small batches (stop 31): once LATE_START_ROWS rows have arrived, the
rows of classes seen before are held out, pooled across calls, until MIN_CALIBRATION_ROWS of them choose the
scale; before, one call had to bring them all, and batches of fewer than 100 rows never chose a start."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_multilabel_classification
from sklearn.feature_extraction.text import TfidfVectorizer

import skxc._training as training_module
from skxc import AdversarialSoftmaxClassifier
from skxc._start import MIN_CALIBRATION_ROWS, row_sums
from skxc._training import LATE_START_ROWS, TrainingMixin
from skxc.datasets import make_hierarchical_classification

N_CLASSES, N_STREAM = 300, 2000


@pytest.fixture(scope="module")
def text():
    """Short texts of 300 classes (four of five characteristic words plus six random ones), tf-idf: about 7
    rows per class in the stream's 2,000, then 500 held-out rows."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, N_CLASSES, 2500)
    words = rng.integers(0, 2000, (N_CLASSES, 5))
    tokens = np.concatenate([rng.integers(0, 2000, (y.size, 6)), words[y[:, None], rng.integers(0, 5, (y.size, 4))]], 1)
    X = TfidfVectorizer().fit_transform([" ".join(f"w{t}" for t in row) for row in tokens])
    return sp.csr_matrix(X), y


def _stream(X, y, size, stop=N_STREAM, clf=None, start=0, **kwargs):
    clf = clf or AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, **kwargs)
    for s in range(start, stop, size):
        batch = slice(s, min(s + size, stop))
        clf.partial_fit(X[batch], y[batch], classes=np.arange(N_CLASSES))
    return clf


@pytest.fixture
def recorded(monkeypatch):
    """Each call of ``_held_out_scale``: the class sums and counts it is chosen against, the rows it scores,
    the held-out rows kept before (or None) and the rows arrived so far."""
    calls, real = [], TrainingMixin._held_out_scale

    def record(self, sums, X, codes, held, example_row):
        pending = self.__dict__.get("_start_pending")
        calls.append({
            "sums": sums.copy() if isinstance(sums, np.ndarray) else sums.toarray(),
            "rows": self._start_rows.copy(), "seen": self._start_seen,
            "X": X[held if example_row is None else example_row[held]], "codes": codes[held].copy(),
            "pending": None if pending is None else pending[2].copy(),
        })  # fmt: skip
        return real(self, sums, X, codes, held, example_row)

    monkeypatch.setattr(TrainingMixin, "_held_out_scale", record)
    return calls


@pytest.mark.parametrize("size", [10, 37, 50])
def test_small_batches_choose_the_start_and_predict_as_large_ones(text, size):
    """The audit's case scaled down: batches of fewer than MIN_CALIBRATION_ROWS rows chose no start (init_scale_
    0, held-out accuracy 0.10-0.26 here), batches of 250 do (0.95); now every batch size does."""
    X, y = text
    large = _stream(X, y, 250)
    small = _stream(X, y, size)
    assert large.init_scale_ > 0 and small.init_scale_ > 0
    assert "_start_pending" not in small.__dict__  # the held-out rows joined the sums
    np.testing.assert_array_equal(small._start_rows, np.bincount(y[:N_STREAM], minlength=N_CLASSES))
    assert small._start_seen == N_STREAM
    accuracy = small.score(X[N_STREAM:], y[N_STREAM:])
    assert accuracy > large.score(X[N_STREAM:], y[N_STREAM:]) - 0.05 and accuracy > 0.8, accuracy


def test_batches_of_enough_known_rows_hold_none_out(text, recorded):
    """Batches of 250 rows: the first call after LATE_START_ROWS rows brings MIN_CALIBRATION_ROWS rows of
    classes seen before, and the scale is chosen on that call's rows alone, as before stop 31 (the same bits);
    no rows are ever kept aside."""
    X, y = text
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    for s in range(0, N_STREAM, 250):
        clf.partial_fit(X[s : s + 250], y[s : s + 250], classes=np.arange(N_CLASSES))
        assert "_start_pending" not in clf.__dict__
    assert len(recorded) == 1 and clf.init_scale_ > 0
    (call,) = recorded
    assert call["pending"] is None and call["seen"] == clf._start_chosen == 1000  # the fifth call
    known = np.flatnonzero(np.isin(y[1000:1250], y[:1000]))
    assert known.size >= MIN_CALIBRATION_ROWS
    np.testing.assert_array_equal(call["codes"], y[1000:1250][known])
    assert (call["X"] != X[1000:1250][known]).nnz == 0
    np.testing.assert_array_equal(call["rows"], np.bincount(y[:1000], minlength=N_CLASSES))


def test_held_out_rows_are_not_in_the_sums_that_score_them(text, recorded):
    """Batches of 30 rows with distinct weights: the rows held out over several calls and the choosing call's
    rows of known classes are scored against the sums of exactly the other rows before that call."""
    X, y = text
    w = 1.0 + np.arange(y.size) / 4096  # a row's weight names it (exact in float32)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    for s in range(0, N_STREAM, 30):
        clf.partial_fit(X[s : s + 30], y[s : s + 30], classes=np.arange(N_CLASSES), sample_weight=w[s : s + 30])
        if recorded:
            break
    a, b = s, s + 30
    assert len(recorded) == 1 and clf.init_scale_ > 0
    (call,) = recorded
    assert a > LATE_START_ROWS and call["seen"] == a  # held out over several calls
    pending = np.searchsorted(w, call["pending"])  # the rows held out before this call
    np.testing.assert_array_equal(w[pending], call["pending"])
    assert pending.size > 0 and pending.min() >= LATE_START_ROWS
    current = a + np.flatnonzero(np.isin(y[a:b], y[:a]))  # this call's rows of classes seen before
    held = np.r_[pending, current]
    assert held.size >= MIN_CALIBRATION_ROWS
    np.testing.assert_array_equal(call["codes"], y[held])
    assert (call["X"] != X[held]).nnz == 0
    summed = np.setdiff1d(np.arange(a), pending)
    np.testing.assert_allclose(call["rows"], np.bincount(y[summed], weights=w[summed], minlength=N_CLASSES))
    expected = row_sums(X[summed], y[summed], N_CLASSES, w[summed])
    np.testing.assert_allclose(call["sums"], expected.toarray(), rtol=1e-12, atol=1e-12)
    # after the choice every row has joined the sums
    assert "_start_pending" not in clf.__dict__ and clf._start_seen == b
    np.testing.assert_allclose(clf._start_rows, np.bincount(y[:b], weights=w[:b], minlength=N_CLASSES))
    np.testing.assert_allclose(clf._start_sums.toarray(), row_sums(X[:b], y[:b], N_CLASSES, w[:b]).toarray(),
                               rtol=1e-10, atol=1e-12)  # fmt: skip


def _pending(clf):
    X, codes, weight = clf._start_pending
    return (X.toarray() if sp.issparse(X) else X.copy()), codes.copy(), weight.copy()


def _assert_same_pending(clf, before):
    for got, expected in zip(_pending(clf), before, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_pickled_mid_hold_out_streams_on_the_same(text):
    X, y = text
    stop = LATE_START_ROWS + 40
    clf = _stream(X, y, 20, stop=stop)
    assert clf.init_scale_ == 0 and 0 < clf._start_pending[1].size < MIN_CALIBRATION_ROWS
    copy = pickle.loads(pickle.dumps(clf))
    _assert_same_pending(copy, _pending(clf))
    for model in (clf, copy):
        _stream(X, y, 20, clf=model, start=stop, stop=1200)
    assert clf.init_scale_ > 0 and copy.init_scale_ == clf.init_scale_
    np.testing.assert_array_equal(copy.coef_, clf.coef_)
    np.testing.assert_array_equal(copy.intercept_, clf.intercept_)


def test_a_failed_call_keeps_the_held_out_rows(monkeypatch, text):
    """A call that raises (validation, or an error while the rows are held out or the scale chosen) leaves the
    held-out rows, the counts and the sums as they were."""
    X, y = text
    stop = LATE_START_ROWS + 60
    clf = _stream(X, y, 20, stop=stop)
    before, seen, rows = _pending(clf), clf._start_seen, clf._start_rows.copy()
    sums = clf._start_sums.toarray()

    def unchanged():
        _assert_same_pending(clf, before)
        assert clf._start_seen == seen and clf.init_scale_ == 0
        np.testing.assert_array_equal(clf._start_rows, rows)
        np.testing.assert_array_equal(clf._start_sums.toarray(), sums)

    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[stop : stop + 20, :-1], y[stop : stop + 20])
    unchanged()

    def failing(*args, **kwargs):
        raise RuntimeError("made up")

    with monkeypatch.context() as patch:
        patch.setattr(training_module, "batch_sums", failing)
        with pytest.raises(RuntimeError, match="made up"):
            clf.partial_fit(X[stop : stop + 20], y[stop : stop + 20])
    unchanged()
    with monkeypatch.context() as patch:  # a call that brings enough rows to choose
        patch.setattr(training_module, "held_out_start", failing)
        with pytest.raises(RuntimeError, match="made up"):
            clf.partial_fit(X[stop : stop + 200], y[stop : stop + 200])
    unchanged()
    _stream(X, y, 20, clf=clf, start=stop, stop=1200)
    assert clf.init_scale_ > 0 and "_start_pending" not in clf.__dict__


def test_a_zero_scale_drops_the_held_out_rows(monkeypatch, text):
    X, y = text
    monkeypatch.setattr(training_module, "held_out_start", lambda *args: (0.0, 0.0))
    clf = _stream(X, y, 20, stop=1200)
    assert clf.init_scale_ == 0
    assert not any(name.startswith("_start_") for name in clf.__dict__)


@pytest.mark.usefixtures("sparse_paths")
@pytest.mark.parametrize("first_sparse", [False, True])
def test_a_mixed_dense_and_sparse_stream_holds_rows_out_in_the_sums_layout(first_sparse):
    X, y = make_hierarchical_classification(n_samples=2000, n_features=16, n_classes=20, random_state=0)
    layouts = (sp.csr_matrix, np.asarray) if first_sparse else (np.asarray, sp.csr_matrix)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    chosen = None
    for i, s in enumerate(range(0, 1600, 20)):
        clf.partial_fit(layouts[i % 2](X[s : s + 20]), y[s : s + 20], classes=np.unique(y))
        if "_start_pending" in clf.__dict__:
            assert sp.issparse(clf._start_pending[0]) == first_sparse == (not isinstance(clf._start_sums, np.ndarray))
        if chosen is None and clf.init_scale_ > 0:
            chosen = s + 20
    assert chosen == LATE_START_ROWS + MIN_CALIBRATION_ROWS  # 20 classes: every row's class is known by then
    assert "_start_pending" not in clf.__dict__ and clf.score(X[1600:], y[1600:]) > 0.5


def test_a_multilabel_stream_in_small_batches_chooses_the_start(recorded):
    X, Y = make_multilabel_classification(n_samples=1600, n_features=50, n_classes=20, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    for s in range(0, 1600, 15):
        clf.partial_fit(X[s : s + 15], Y[s : s + 15])
    assert clf.init_scale_ > 0 and len(recorded) == 1
    (call,) = recorded
    assert call["pending"] is not None and call["codes"].size >= MIN_CALIBRATION_ROWS
    assert call["X"].shape == (call["codes"].size, 50)  # one row per (row, label) example
    np.testing.assert_array_equal(clf._start_rows, Y.sum(axis=0))  # every example joined the sums
