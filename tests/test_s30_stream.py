"""Streams and failed fits (stop 30): the Adagrad kind changed between partial_fit calls with sparse weights,
dense and sparse batches mixed in a stream, the blend's background work after an error, warm starts on
other classes, and what a failed or interrupted fit leaves."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_extreme_classification, make_hierarchical_classification


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


@pytest.fixture(scope="module")
def dense_data():
    X, y = make_hierarchical_classification(n_samples=3000, n_features=16, n_classes=20, random_state=0)
    return X, y


def _start_record(clf):
    sums = clf._start_sums
    return clf._start_seen, clf._start_rows.copy(), sums.copy() if isinstance(sums, np.ndarray) else sums.toarray()


@pytest.mark.usefixtures("sparse_paths")
@pytest.mark.parametrize("first_sparse", [False, True])
def test_a_stream_mixes_dense_and_sparse_batches(dense_data, first_sparse):
    """The class sums that the start follows keep the layout of the first batch; a batch of the other layout
    is converted to it (dense sums: rows minus the centre; sparse sums: rows as they are)."""
    X, y = dense_data
    classes = np.unique(y)
    first, second = (sp.csr_matrix, np.asarray) if first_sparse else (np.asarray, sp.csr_matrix)
    mixed = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(
        first(X[:1000]), y[:1000], classes=classes
    )
    same = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(
        first(X[:1000]), y[:1000], classes=classes
    )
    mixed.partial_fit(second(X[1000:2000]), y[1000:2000])
    same.partial_fit(first(X[1000:2000]), y[1000:2000])  # the batch in the first one's layout
    seen, rows, sums = _start_record(mixed)
    seen_same, rows_same, sums_same = _start_record(same)
    assert seen == seen_same == 2000
    np.testing.assert_array_equal(rows, rows_same)
    np.testing.assert_allclose(sums, sums_same, rtol=1e-10, atol=1e-12)
    assert mixed.t_ == 2000 and mixed.score(X[2000:], y[2000:]) > 0.5


def test_a_warm_fit_after_a_sparse_stream_takes_dense_rows(dense_data):
    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0, warm_start=True, max_iter=2)
    clf.partial_fit(sp.csr_matrix(X[:1000]), y[:1000], classes=np.unique(y))
    clf.fit(X, y)
    assert clf.t_ == 1000 + 2 * X.shape[0] and clf.score(X, y) > 0.5


def test_a_failed_partial_fit_leaves_the_stream_as_it_was(monkeypatch, dense_data):
    """An error while the start follows the batch (here made up) changes neither the counts nor the sums."""
    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0).partial_fit(X[:1000], y[:1000], classes=np.unique(y))
    seen, rows, sums = _start_record(clf)
    t, coef, intercept = clf.t_, clf.coef_.copy(), clf.intercept_.copy()

    def failing(*args, **kwargs):
        raise RuntimeError("made up")

    monkeypatch.setattr("skxc._training.batch_sums", failing)
    with pytest.raises(RuntimeError, match="made up"):
        clf.partial_fit(X[1000:2000], y[1000:2000])
    assert clf._start_seen == seen and clf.t_ == t
    np.testing.assert_array_equal(clf._start_rows, rows)
    np.testing.assert_array_equal(clf._start_sums, sums)
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(clf.intercept_, intercept)


def test_a_full_state_that_does_not_fit_stops_partial_fit_before_the_start_moves(monkeypatch, dense_data):
    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0, adagrad="factored")
    clf.partial_fit(X[:1000], y[:1000], classes=np.unique(y))
    seen, rows, sums = _start_record(clf)
    coef = clf.coef_.copy()
    monkeypatch.setattr("skxc._validation.available_memory_bytes", lambda: 1)
    with pytest.raises(MemoryError):
        clf.set_params(adagrad="full").partial_fit(X[1000:2000], y[1000:2000])
    assert clf._adagrad_state.kind == "factored" and clf._start_seen == seen
    np.testing.assert_array_equal(clf._start_sums, sums)
    np.testing.assert_array_equal(clf.coef_, coef)


@pytest.fixture
def slow_held_out_scores(monkeypatch):
    """``held_out_scores`` of the blend, slowed down: records ``started`` and ``ended``."""
    import skxc._blend as blend

    real, record = blend.held_out_scores, []

    def slow(*args):
        record.append("started")
        time.sleep(0.5)
        out = real(*args)
        record.append("ended")
        return out

    monkeypatch.setattr(blend, "held_out_scores", slow)
    return record


def test_the_memory_guard_stops_fit_before_the_blend_starts(monkeypatch, dense_data, slow_held_out_scores):
    X, y = dense_data
    monkeypatch.setattr("skxc._validation.available_memory_bytes", lambda: 1)
    with pytest.raises(MemoryError):
        AdversarialSoftmaxClassifier(random_state=0).fit(X, y)
    time.sleep(0.2)  # a task started in the background would have begun by now
    assert slow_held_out_scores == []


def test_an_error_in_fit_waits_for_the_blend_background_work(monkeypatch, dense_data, slow_held_out_scores):
    X, y = dense_data

    def failing(*args, **kwargs):
        raise RuntimeError("made up")

    monkeypatch.setattr(AuxiliaryTree, "fit_encoded", failing)
    clf = AdversarialSoftmaxClassifier(random_state=0)
    with pytest.raises(RuntimeError, match="made up"):
        clf.fit(X, y)
    assert slow_held_out_scores == ["started", "ended"]  # nothing runs after fit raised


@pytest.mark.parametrize("change", ["lacks", "adds"])
def test_warm_start_on_other_classes_raises_and_keeps_the_model(dense_data, change):
    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0, warm_start=True, max_iter=1, centroid_blend=0)
    if change == "lacks":
        clf.fit(X, y)
        X2, y2 = X[y != 3], y[y != 3]
    else:
        clf.fit(X[y != 3], y[y != 3])
        X2, y2 = X, y
    before = dict(vars(clf))
    coef, t = clf.coef_.copy(), clf.t_
    match = r"warm_start=True.*y lacks 1 \(\[3\]\)" if change == "lacks" else r"warm_start=True.*y has 1 \(\[3\]\)"
    with pytest.raises(ValueError, match=match):
        clf.fit(X2[:500], y2[:500])
    assert clf.t_ == t and set(vars(clf)) == set(before)
    np.testing.assert_array_equal(clf.coef_, coef)


def test_warm_start_on_the_same_classes_continues(dense_data):
    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0, warm_start=True, max_iter=1, centroid_blend=0).fit(X, y)
    clf.fit(X, y)
    assert clf.t_ == 2 * X.shape[0]


@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit_noise"])
@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_failed_first_fit_leaves_no_fitted_attribute(monkeypatch, dense_data, method, stop):
    """Ctrl-C or an error before a first fit trains: the estimator is unfitted (NotFittedError, not an
    AttributeError from a half-set model), n_features_in_ included."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    X, y = dense_data

    def failing(*args, **kwargs):
        raise stop("made up")

    monkeypatch.setattr(AuxiliaryTree, "fit_encoded", failing)
    clf = AdversarialSoftmaxClassifier(random_state=0)
    with pytest.raises(stop):
        getattr(clf, method)(X, y, **({} if method == "fit" else {"classes": np.unique(y)}))
    assert vars(clf) == vars(AdversarialSoftmaxClassifier(random_state=0))
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    with pytest.raises(NotFittedError):
        clf.predict(X[:3])


def test_a_failed_first_partial_fit_validation_leaves_no_fitted_attribute(dense_data):
    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must contain at least 2"):
        clf.partial_fit(X, y, classes=[0])
    assert not hasattr(clf, "n_features_in_")


def _sigint_in_kernel_call(monkeypatch, call: int, times: int):
    """SIGINT ``times`` times right after the ``call``-th training kernel call (1-based)."""
    import signal

    import skxc._solver as solver

    real, calls = solver.negative_sampling_epoch, []

    def kernel(*args):
        real(*args)
        calls.append(1)
        if len(calls) == call:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(solver, "negative_sampling_epoch", kernel)
    monkeypatch.setattr(solver, "PROGRESS_ROWS", 500)


def test_a_second_ctrl_c_during_a_refit_marks_the_model_interrupted(monkeypatch, dense_data):
    """The weights are the refit's, trained until the second Ctrl-C: interrupted_ says so (it said False, with
    n_iter_ = t_ = 0, as if nothing had trained)."""
    import signal

    X, y = dense_data
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, centroid_blend=0).fit(X, y)
    assert not clf.interrupted_
    _sigint_in_kernel_call(monkeypatch, call=3, times=2)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X[::-1].copy(), y[::-1].copy())
    assert clf.interrupted_ and clf.n_iter_ == 0 and clf.t_ == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ignored_ctrl_c_stays_ignored_during_training(monkeypatch, dense_data):
    import signal

    X, y = dense_data
    _sigint_in_kernel_call(monkeypatch, call=2, times=1)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, centroid_blend=0).fit(X, y)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not clf.interrupted_ and clf.n_iter_ == 2 and clf.t_ == 2 * X.shape[0]


def test_batch_sums_of_dense_rows_are_the_present_classes_rows_of_row_sums():
    """A dense batch's class sums hold only its classes' rows (O(its classes x features)), the same numbers as
    row_sums' full array, and move the start exactly as the full array does."""
    from skxc._start import batch_sums, row_sums, start_change

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 7))
    codes = rng.integers(0, 50, 300) * 2  # even classes only: the odd ones are absent
    w = rng.uniform(0.5, 2.0, 300)
    centre = X.mean(axis=0)
    full = row_sums(X, codes, 100, w, centre, rows=np.arange(0, 300, 3))
    present, part = batch_sums(X, codes, 100, w, centre, rows=np.arange(0, 300, 3))
    assert np.array_equal(present, np.flatnonzero(np.any(full != 0, axis=1)))
    assert np.array_equal(part, full[present])
    sums = rng.standard_normal((100, 7))
    a = start_change(sums.copy(), full, 0.7)
    b = start_change(sums.copy(), (present, part), 0.7)
    for x, z in zip(a, b, strict=True):
        assert np.array_equal(x, z)
