"""The all-classes outputs (decision_function, predict_proba, predict_log_proba) are checked against the
available memory before their n x C array is allocated: a clear error instead of the process being killed
part-way through filling it."""

import numpy as np
import pytest

from skxc import AdversarialSoftmaxClassifier
from skxc import _validation as validation
from skxc._start import scale_choice_bytes


@pytest.fixture(autouse=True)
def _check_every_output(monkeypatch):
    """These small outputs are checked too (the guard skips results of at most UNCHECKED_OUTPUT_BYTES)."""
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = np.arange(300) % 30
    return AdversarialSoftmaxClassifier(random_state=0, max_iter=1).fit(X, y), X


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba", "decision_function"])
def test_an_output_beyond_the_available_memory_gets_the_guard_error(monkeypatch, fitted, method):
    clf, X = fitted
    need = X.shape[0] * len(clf.classes_) * 8  # 72,000 bytes
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) - 8)
    with pytest.raises(validation.ModelMemoryError, match=rf"{method} would return a 300 x 30 float64") as err:
        getattr(clf, method)(X)
    assert isinstance(err.value, ValueError) and isinstance(err.value, MemoryError)
    assert "predict_top_k(X, k, return_scores=True)" in str(err.value)
    # the top-k and predict, computed in blocks, still run; so do the same rows in slices
    assert clf.predict_top_k(X, k=3).shape == (300, 3)
    assert clf.predict(X).shape == (300,)
    assert getattr(clf, method)(X[:100]).shape == (100, 30)


def test_an_output_within_the_available_memory_is_returned(monkeypatch, fitted):
    clf, X = fitted
    need = X.shape[0] * len(clf.classes_) * 8
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) + 8)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: None)  # unknown: no guard
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


@pytest.mark.parametrize("return_scores", [False, True])
def test_a_top_k_beyond_the_available_memory_gets_the_guard_error(monkeypatch, fitted, return_scores):
    clf, X = fitted
    per_entry = 16 + clf.classes_.dtype.itemsize + (8 if return_scores else 0)
    need = X.shape[0] * 20 * per_entry
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) - 8)
    with pytest.raises(validation.ModelMemoryError, match="predict_top_k would return 300 x 20 labels") as err:
        clf.predict_top_k(X, k=20, return_scores=return_scores)
    assert "smaller k" in str(err.value)
    out = clf.predict_top_k(X, k=19, return_scores=return_scores)  # 5 % less: within the guard
    assert (out[0] if return_scores else out).shape == (300, 19)


def test_a_dense_stream_counts_the_class_sums_it_keeps(monkeypatch):
    """partial_fit of dense X keeps a float64 class x feature array of class sums for its centroid start:
    the memory guard counts it (the auditor's case: the guard passed, then numpy failed to allocate it)."""
    rng = np.random.default_rng(0)
    n_classes, n_features = 2000, 50
    X = rng.normal(size=(300, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, size=300)
    weights = n_classes * (n_features + 1) * 4  # coef_ (float32) and the factored state, about
    sums = n_classes * n_features * 8
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int((2 * weights + sums / 2) / 0.8))
    with pytest.raises(validation.ModelMemoryError, match="class sums a stream keeps"):
        AdversarialSoftmaxClassifier(random_state=0).partial_fit(X, y, classes=np.arange(n_classes))
    clf = AdversarialSoftmaxClassifier(random_state=0, init="zeros").partial_fit(X, y, classes=np.arange(n_classes))
    assert clf.coef_.shape == (n_classes, n_features)


def test_the_guard_counts_the_tree_projection_of_dense_rows(monkeypatch):
    """The tree fits its projection on float32 and float64 copies of (at most max_samples) dense rows: a fit's peak
    was about 3x the float32 rows' bytes whatever the model's size, so the guard counts them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 200)).astype(np.float32)
    y = rng.integers(0, 10, size=3000)
    fit_rows = 3000 - 300  # 10 % held out for the calibration
    projection = fit_rows * 200 * validation.PROJECTION_BYTES
    model = 10 * 201 * 4 * 2 + 2 * 10 * 200 * 8  # coef_ and a full Adagrad state, the centroid start's arrays
    model += scale_choice_bytes(300, 200)  # and the copies that choose its scale on the 300 held-out rows
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int((model + projection / 2) / 0.8))
    with pytest.raises(validation.ModelMemoryError, match="the tree's projection of 2,700 dense rows"):
        AdversarialSoftmaxClassifier(random_state=0).fit(X, y)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=0, max_iter=1).fit(X, y)  # no projection
    assert clf.tree_.n_components_ == 0


def test_small_outputs_do_not_read_the_available_memory(monkeypatch, fitted):
    """Up to UNCHECKED_OUTPUT_BYTES the prediction allocates as much in its own blocks: no ~50 us read of the
    OS's and the cgroup's figures per call."""
    clf, X = fitted
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 2**26)

    def unexpected():
        raise AssertionError("the available memory was read")

    monkeypatch.setattr(validation, "available_memory_bytes", unexpected)
    assert clf.predict_proba(X[:1]).shape == (1, 30)
    assert clf.predict_top_k(X[:1], k=5, return_scores=True)[0].shape == (1, 5)


# -- stop 34: the guard is generic, its callers word the messages -----------------------------------------------


def test_the_output_guard_takes_the_callers_wording(monkeypatch):
    """check_output_memory does the arithmetic and the raise; what is returned and the options are the caller's
    templates (n_rows, n_columns, slices), formatted only when it raises."""
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 100)
    args = ("frobnicate", 3, 4, "{n_rows:,} x {n_columns:,} widgets", "fewer widgets; or {slices}")
    validation.check_output_memory(*args, bytes_per_entry=2, extra_bytes=56)  # 80 bytes: within 80 % of 100
    with pytest.raises(validation.ModelMemoryError) as err:
        validation.check_output_memory(*args, bytes_per_entry=2, extra_bytes=57)
    assert str(err.value) == (
        "frobnicate would return 3 x 4 widgets (0.000 GiB), but only 0.000 GiB of memory is available and the guard "
        "keeps 20% of it free. Options: fewer widgets; or frobnicate on slices of X, a few thousand rows at a time."
    )
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 10**6)  # small results are not checked
    validation.check_output_memory(*args, bytes_per_entry=2, extra_bytes=57)


def _guard_message(call):
    with pytest.raises(validation.ModelMemoryError) as err:
        call()
    return str(err.value)


def test_the_guard_messages_keep_their_text(monkeypatch, fitted):
    """The text users see, as it was before the callers took over the wording (stop 34)."""
    from skxc import AuxiliaryTree

    clf, X = fitted
    rng = np.random.default_rng(1)
    Y = (rng.random((300, 30)) < 0.1).astype(np.int64)
    Y[np.arange(300), np.arange(300) % 30] = 1
    multilabel = AdversarialSoftmaxClassifier(random_state=0, max_iter=1).fit(X, Y)  # 30 labels: a dense predict
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, np.arange(300) % 6)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 1000)
    tail = "(0.000 GiB), but only 0.000 GiB of memory is available and the guard keeps 20% of it free. Options: "
    slices = "on slices of X, a few thousand rows at a time"
    assert _guard_message(lambda: clf.predict_proba(X)) == (
        f"predict_proba would return a 300 x 30 float64 array {tail}predict_top_k(X, k, return_scores=True) for "
        f"the k most probable classes and their probabilities; predict(X) (computed in blocks of rows); or "
        f"predict_proba {slices}."
    )
    assert _guard_message(lambda: multilabel.decision_function(X)) == (
        f"decision_function would return a 300 x 30 float64 array {tail}predict_top_k(X, k, return_scores=True) "
        f"for the k most probable labels and their probabilities; or decision_function {slices} (predict returns "
        "a dense 300 x 30 int64 array, as large)."
    )
    assert _guard_message(lambda: multilabel.predict(X)) == (
        "predict would return a 300 x 30 int64 label indicator array and the label positions it is filled from "
        f"{tail}predict_top_k(X, k, return_scores=True) for each row's k most probable labels and their "
        "probabilities (label_cardinality_ times a probability estimates the label's marginal); or predict "
        f"{slices}."
    )
    assert _guard_message(lambda: clf.predict_top_k(X, k=5, return_scores=True)) == (
        f"predict_top_k would return 300 x 5 labels and scores {tail}predict_top_k {slices}, or a smaller k."
    )
    assert _guard_message(lambda: tree.predict_log_proba(X)) == (
        f"predict_log_proba would return a 300 x 6 float64 array {tail}predict(X) (computed in blocks of rows); "
        f"or predict_log_proba {slices}."
    )
