"""Stop 50: sparse weights trained in a dense buffer where that is smaller than their hash table."""

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._training as training
import skxc._weights as weights
from skxc import AdversarialSoftmaxClassifier
from skxc._kernels.hashed import add_csr, buffer_class_max, buffer_counts, buffer_to_csr
from skxc._weights import buffer_wanted, dense_buffer, from_dense_buffer, prune


def _reference_csr(a, shared):
    """``a - shared`` (float32) where not 0, as CSR, by NumPy."""
    d = (a.astype(np.float32) - shared.astype(np.float32)[None, :]).astype(np.float32)
    return sp.csr_matrix(d)


@pytest.mark.parametrize("threshold", [0.0, 0.3])
@pytest.mark.parametrize("order", ["C", "F"])
def test_buffer_kernels_against_numpy(order, threshold):
    rng = np.random.default_rng(3)
    n_classes, n_features = 7, 30
    shared = rng.normal(size=n_features).astype(np.float32)
    a = np.array(shared[None, :].repeat(n_classes, 0), order=order)
    hit = rng.random((n_classes, n_features)) < 0.3
    a[hit] += rng.normal(size=hit.sum()).astype(np.float32)
    a[0, :] = shared  # a class with nothing stored
    ref = _reference_csr(a, shared)
    class_max = np.zeros(n_classes, dtype=np.float32)
    buffer_class_max(a, shared, class_max)
    np.testing.assert_array_equal(class_max, abs(ref).max(axis=1).toarray().ravel())
    limits = np.float32(threshold) * class_max if threshold else np.zeros(n_classes, dtype=np.float32)
    if threshold:  # prune's rule: |w| below threshold x the class's largest goes
        ref, _ = prune(ref, threshold)
        assert ref.nnz < hit.sum()
    counts = np.zeros(n_classes, dtype=np.int64)
    buffer_counts(a, shared, limits, counts)
    np.testing.assert_array_equal(counts, np.diff(ref.indptr))
    indptr = np.zeros(n_classes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    before = indptr.copy()
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=np.float32)
    buffer_to_csr(a, shared, limits, indptr, indices, data)
    np.testing.assert_array_equal(indptr, before)  # restored
    np.testing.assert_array_equal(indices, ref.indices)
    np.testing.assert_array_equal(data, ref.data)


def test_add_csr_against_numpy():
    coef = sp.random(9, 25, density=0.3, format="csr", random_state=4, dtype=np.float32)
    for order in "CF":
        out = np.ones((9, 25), dtype=np.float32, order=order)
        add_csr(out, coef.indptr.astype(np.int64), coef.indices, coef.data)
        np.testing.assert_array_equal(out, np.float32(1) + coef.toarray())


def test_conversion_prunes_when_the_full_csr_does_not_fit(monkeypatch):
    rng = np.random.default_rng(5)
    a = np.asfortranarray(rng.normal(size=(6, 40)).astype(np.float32))
    shared = np.zeros(40, dtype=np.float32)
    full = from_dense_buffer(a, shared, threshold=0.5)
    assert full.nnz == 240  # it fits: every non-zero
    monkeypatch.setattr("skxc._validation.available_memory_bytes", lambda: 1000)
    pruned = from_dense_buffer(a, shared, threshold=0.5)
    expected, _ = prune(sp.csr_matrix(a), 0.5)
    assert 0 < pruned.nnz < 240
    np.testing.assert_array_equal(pruned.toarray(), expected.toarray())


def test_dense_buffer_round_trip():
    rng = np.random.default_rng(0)
    coef = sp.random(12, 40, density=0.2, format="csr", random_state=1, dtype=np.float32)
    coef.data += np.float32(1.0)  # no stored entry rounds away against the term
    shared = rng.normal(size=40).astype(np.float32)
    a = dense_buffer(coef, shared)
    assert a.flags.f_contiguous and a.dtype == np.float32
    np.testing.assert_allclose(a, coef.toarray() + shared[None, :], rtol=1e-6)
    back = from_dense_buffer(a, shared)
    assert back.has_sorted_indices and back.dtype == np.float32
    np.testing.assert_array_equal(back.indices, coef.indices)  # the same pattern: untouched entries are exactly 0
    np.testing.assert_array_equal(back.indptr, coef.indptr)
    np.testing.assert_allclose(back.data, coef.data, rtol=1e-5, atol=1e-6)
    assert from_dense_buffer(dense_buffer(coef, None), None).nnz == coef.nnz


def test_buffer_wanted_compares_bytes(monkeypatch):
    coef = sp.csr_matrix((100, 1000), dtype=np.float32)  # 400 kB dense
    assert buffer_wanted(coef, 1_000_000, full=False)  # a table for a million keys: 2**21 slots, 24 MiB
    assert not buffer_wanted(coef, 1_000, full=False)  # 2**11 slots, 24 kB
    assert not buffer_wanted(coef, 1_000_000, full=True)  # a full Adagrad state: per weight sums, no buffer
    monkeypatch.setattr(weights, "DENSE_BUFFER", False)
    assert not buffer_wanted(coef, 1_000_000, full=False)


def _data():
    rng = np.random.default_rng(0)
    X = sp.random(1500, 300, density=0.08, format="csr", random_state=2, dtype=np.float64)
    y = rng.integers(0, 40, size=1500)
    X = X + sp.csr_matrix((np.ones(1500), (np.arange(1500), y)), shape=X.shape)  # a class signal
    return sp.csr_matrix(X), y


FIXED = dict(random_state=0, n_jobs=1, max_iter=4, centroid_blend=0.0, tree_temperature=1.0, learning_rate=0.3)


def test_fit_trains_sparse_weights_in_the_buffer(monkeypatch):
    """weights="auto" with sparse weights (a low threshold): the buffer is used, coef_ is CSR with the common
    term apart, and the model scores as dense weights trained the same way do (to float32 rounding)."""
    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)  # sparse weights for any model
    used = []
    original = training.dense_buffer
    monkeypatch.setattr(training, "dense_buffer", lambda *a: used.append(1) or original(*a))
    model = AdversarialSoftmaxClassifier(**FIXED, weight_threshold=0.0).fit(X, y)
    assert used == [1]
    assert sp.issparse(model.coef_) and model._shared_coef is not None
    assert "_buffer_shared" not in model.__dict__
    dense = AdversarialSoftmaxClassifier(**FIXED, weights="dense", weight_threshold=0.0).fit(X, y)
    np.testing.assert_allclose(model.decision_function(X[:200]), dense.decision_function(X[:200]), atol=2e-4)
    # the stored weights are those of the dense model less the common term, where not 0
    stored = dense.coef_ - model._shared_coef[None, :]
    assert model.coef_.nnz <= np.count_nonzero(np.abs(stored) > 1e-6) + X.shape[1]
    # pruned at "auto" as a table's weights are, and further training keeps sparse weights (a table)
    pruned = AdversarialSoftmaxClassifier(**FIXED).fit(X, y)
    assert sp.issparse(pruned.coef_) and pruned.coef_.nnz < model.coef_.nnz
    pruned.partial_fit(X[:100], y[:100])
    assert sp.issparse(pruned.coef_)
    assert np.mean(pruned.predict(X) == y) > 0.5


def test_fit_without_buffer_is_the_table(monkeypatch):
    """DENSE_BUFFER False, an explicit weights="sparse", l2 > 0 or a warm start: the table as before."""
    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)
    used = []
    original = training.dense_buffer
    monkeypatch.setattr(training, "dense_buffer", lambda *a: used.append(1) or original(*a))
    AdversarialSoftmaxClassifier(**FIXED, weights="sparse").fit(X, y)
    AdversarialSoftmaxClassifier(**FIXED, l2=1e-4).fit(X, y)
    warm = AdversarialSoftmaxClassifier(**FIXED, warm_start=True).fit(X, y)
    assert used == [1]
    warm.fit(X, y)
    assert used == [1]
    monkeypatch.setattr(weights, "DENSE_BUFFER", False)
    table = AdversarialSoftmaxClassifier(**FIXED).fit(X, y)
    assert used == [1] and sp.issparse(table.coef_)


def test_ctrl_c_in_the_buffer_leaves_sparse_weights(monkeypatch, sigint_after_first_kernel_call):
    """A Ctrl-C during buffered training stops at a piece boundary with coef_ back as CSR and its common term."""
    from skxc import TrainingInterruptedWarning

    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)
    model = AdversarialSoftmaxClassifier(**FIXED)
    with pytest.warns(TrainingInterruptedWarning, match="interrupted"):
        model.fit(X, y)
    assert model.interrupted_ and model.t_ == 500 and len(sigint_after_first_kernel_call) == 1
    assert sp.issparse(model.coef_) and model._shared_coef is not None and "_buffer_shared" not in model.__dict__
    assert np.all(np.isfinite(model.coef_.data)) and model.score(X, y) > 0.1


def test_declined_buffer_leaves_the_table_as_before(monkeypatch):
    """Where the buffer is declined, the table gets the room it got before (with the negatives' insert mask)."""
    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)
    capacities = []
    original = training.training_model

    def spy(d, room):
        model = original(d, room)
        capacities.append(getattr(model, "capacity", None))
        return model

    monkeypatch.setattr(training, "training_model", spy)
    monkeypatch.setattr(training, "buffer_wanted", lambda *a: False)
    declined = AdversarialSoftmaxClassifier(**FIXED).fit(X, y)
    monkeypatch.setattr(weights, "DENSE_BUFFER", False)
    table = AdversarialSoftmaxClassifier(**FIXED).fit(X, y)
    assert len(capacities) == 2 and capacities[0] is not None and capacities[0] == capacities[1]
    np.testing.assert_array_equal(declined.coef_.toarray(), table.coef_.toarray())


def test_no_common_term_stays_none(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)
    model = AdversarialSoftmaxClassifier(**FIXED, init="zeros").fit(X, y)
    assert sp.issparse(model.coef_) and model.__dict__.get("_shared_coef") is None
    started = AdversarialSoftmaxClassifier(**FIXED).fit(X, y)
    assert np.any(started._shared_coef != 0)  # the centroid start's common term came back


def test_error_after_the_buffer_is_made_converts_it_back(monkeypatch):
    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)

    def fail(*args, **kwargs):
        raise ValueError("set-up failed")

    monkeypatch.setattr(training.TrainingMixin, "_setup_rest", fail)
    model = AdversarialSoftmaxClassifier(**FIXED)
    with pytest.raises(ValueError, match="set-up failed"):
        model.fit(X, y)
    assert sp.issparse(model.__dict__["_coef"]) and "_buffer_shared" not in model.__dict__
    assert model.__dict__.get("_shared_coef") is not None


def test_diverged_buffer_is_discarded(monkeypatch):
    """Weights that diverge in the buffer are not converted (the estimator is left unfitted)."""
    X, y = _data()
    monkeypatch.setattr(training, "AUTO_SPARSE_BYTES", 1)
    real = training.run_epochs

    def diverging(*args, **kwargs):
        real(*args, **kwargs)
        raise FloatingPointError("Training diverged.")

    converted = []
    monkeypatch.setattr(training, "run_epochs", diverging)
    monkeypatch.setattr(training, "from_dense_buffer", lambda *a: converted.append(1))
    model = AdversarialSoftmaxClassifier(**FIXED)
    with pytest.raises(FloatingPointError, match="left unfitted"):
        model.fit(X, y)
    assert converted == [] and not hasattr(model, "coef_") and "_buffer_shared" not in model.__dict__
