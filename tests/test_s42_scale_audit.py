"""Stop 42 (scale audit): memory of streams with dense weights, the sparse weights' growth error, messages."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import skxc._training as training
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_extreme_classification


def _stream(n_batches=3):
    X, y = make_extreme_classification(n_samples=3000, n_features=2000, n_classes=1000, nnz_per_row=20, random_state=0)
    model = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights="dense")
    batches = [(X[i::n_batches], y[i::n_batches]) for i in range(n_batches)]
    return model, batches, np.unique(y)


def test_start_moves_of_a_dense_stream_do_not_copy_the_weights(monkeypatch):
    """A later partial_fit moved the centroid start with ``coef[:, touched] -= ...``: a copy of every class's
    touched weights (all of coef_ for a batch touching every feature; +763 MiB per batch at 10^5 classes x
    2,000 features, a plain MemoryError past the guard). Now in blocks of columns."""
    monkeypatch.setattr(training, "ADD_BLOCK_WEIGHTS", 1000 * 200, raising=False)  # blocks of 200 of the 2,000 columns
    model, batches, classes = _stream()
    model.partial_fit(*batches[0], classes=classes)
    coef_bytes = model.coef_.nbytes
    tracemalloc.start()
    try:
        model.partial_fit(*batches[1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * coef_bytes, (peak, coef_bytes)


def test_blocks_give_the_same_weights(monkeypatch):
    def run():
        model, batches, classes = _stream()
        model.partial_fit(*batches[0], classes=classes)
        for batch in batches[1:]:
            model.partial_fit(*batch)
        return model

    whole = run()
    monkeypatch.setattr(training, "ADD_BLOCK_WEIGHTS", 1000)  # one column of 1,000 classes per block
    blocks = run()
    np.testing.assert_array_equal(whole.coef_, blocks.coef_)
    np.testing.assert_array_equal(whole.intercept_, blocks.intercept_)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])


def test_sparse_weights_growth_error_is_a_model_memory_error(monkeypatch):
    """The error of the sparse weights' table outgrowing memory during training was a MemoryError of its
    own, which ``except skxc.ModelMemoryError`` and ``except ValueError`` missed; its options named epochs
    only (no help for a partial_fit stream)."""
    import scipy.sparse as sp

    import skxc._validation as validation
    from skxc import ModelMemoryError

    X = sp.random(2000, 20_000, density=0.003, random_state=0, format="csr")  # 60 non-zeros a row
    y = np.arange(2000) % 40
    answers = iter([10**12])  # the up-front guard passes; every later question gets 1 MB
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: next(answers, 10**6))
    clf = AdversarialSoftmaxClassifier(
        weights="sparse", random_state=0, n_jobs=1, max_iter=5, init="zeros", centroid_blend=0.0
    )
    with pytest.raises(ModelMemoryError, match=r"to grow.*sparsify\(threshold\)") as error:
        clf.fit(X, y)
    assert isinstance(error.value, ValueError) and isinstance(error.value, MemoryError)


def test_densify_refusal_names_densify_and_keeps_the_model(monkeypatch):
    import scipy.sparse as sp

    import skxc._validation as validation
    from skxc import ModelMemoryError

    X, y = make_extreme_classification(n_samples=1000, n_features=2000, n_classes=50, nnz_per_row=20, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights="sparse", max_iter=2).fit(X, y)
    before = clf.predict_proba(X[:50])
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 1000)
    with pytest.raises(ModelMemoryError, match=r"^densify\(\) would store the weights dense.*keeps its sparse"):
        clf.densify()
    assert sp.issparse(clf.coef_)
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), before)


@pytest.mark.parametrize(
    "params, option",
    [
        ({"n_samples": 1000, "n_classes": 10**9}, "fewer classes (n_classes)"),
        ({"n_samples": 10**10}, "fewer rows (n_samples)"),
    ],
)
def test_generator_guard_names_what_takes_the_memory(params, option):
    """make_extreme_classification's guard advised fewer rows where the classes' signatures took the memory."""
    from skxc import ModelMemoryError

    with pytest.raises(ModelMemoryError, match=rf"Options: {re.escape(option)}"):
        make_extreme_classification(**params)


def test_large_k_selects_from_all_scores_with_the_search_results(monkeypatch):
    """The tree search keeps a sorted list of k (O(k) per insertion: at 97,000 classes k = 10,000 took 24x
    predict_proba's time); above SEARCH_MAX_K (and n_classes / SEARCH_MAX_K) every class is scored and the k
    best selected, the same classes and scores."""
    import skxc._predict as predict
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=4000, n_features=16, n_classes=300, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert clf.tree_.n_components_ > 0  # log p_n depends on x: the search's case
    searched, searched_p = clf.predict_top_k(X[:200], k=50, return_scores=True)
    monkeypatch.setattr(predict, "SEARCH_MAX_K", 16)  # k = 50 > max(16, 300 // 16)
    selected, selected_p = clf.predict_top_k(X[:200], k=50, return_scores=True)
    np.testing.assert_array_equal(selected, searched)
    np.testing.assert_allclose(selected_p, searched_p, rtol=1e-12, atol=0)
    order = np.argsort(-clf.decision_function(X[:200]), axis=1, kind="stable")[:, :50]
    np.testing.assert_array_equal(selected, clf.classes_[order])
