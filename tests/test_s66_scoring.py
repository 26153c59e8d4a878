"""Stop 66: all-class scores computed in their rows of the output, and log p_n with the node activations
computed row by row in the kernel (``skxc._predict.IN_PLACE_BLOCKS``, ``FUSED_LOG_NOISE``).

In place, the probabilities, log-probabilities and scores are the same bits as from the blocks' own arrays
(every weight layout and row container, with a score temperature and a top-label map, the exponentials
taken a row at a time or a block at a time), and the output is the one large array a call makes. Row by row,
log p_n is the activation array's to rounding (the kernel itself: ``tests/test_tree.py``).
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._predict as predict
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification

METHODS = ("predict_log_proba", "predict_proba", "decision_function")


def _fitted(weights, container, n_classes=300, seed=0):
    X, y = make_hierarchical_classification(n_samples=1500, n_features=30, n_classes=n_classes, random_state=seed)
    X[np.random.default_rng(seed).random(X.shape) < 0.5] = 0.0
    X = sp.csr_matrix(X) if container == "csr" else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = AdversarialSoftmaxClassifier(random_state=seed, n_jobs=1, max_iter=2, weights=weights).fit(X, y)
    return clf, X


@pytest.mark.parametrize(("weights", "container"), [("dense", "dense"), ("dense", "csr"), ("sparse", "csr")])
@pytest.mark.parametrize("top_map", [None, (1.3, 0.2)])
def test_scores_in_place_are_the_same_bits(monkeypatch, weights, container, top_map):
    clf, X = _fitted(weights, container)
    clf.score_temperature_ = 1.4
    if top_map is not None:
        clf.top_label_calibration_ = top_map
    monkeypatch.setattr(predict, "PREDICT_BLOCK_BYTES", 8 * 512 * 100)  # 100 rows a block: several blocks
    monkeypatch.setattr(predict, "IN_PLACE_BLOCKS", False)
    before = {method: getattr(clf, method)(X) for method in METHODS}
    monkeypatch.setattr(predict, "IN_PLACE_BLOCKS", True)
    for exp_bytes in (predict.EXP_BYTES, 8 * 300 * 7, 1):  # all of a block's rows, 7 rows, one row at a time
        monkeypatch.setattr(predict, "EXP_BYTES", exp_bytes)
        for method in METHODS:
            after = getattr(clf, method)(X)
            assert after.dtype == before[method].dtype and after.shape == before[method].shape
            assert after.tobytes() == before[method].tobytes(), (method, exp_bytes)
    assert np.isfinite(before["predict_log_proba"]).all()
    np.testing.assert_allclose(np.exp(before["predict_log_proba"]).sum(axis=1), 1.0, rtol=1e-9)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", METHODS)
def test_in_place_the_output_is_the_one_large_array(monkeypatch, method):
    """NumPy reports its arrays to tracemalloc: in place, a call's peak is its output and a few rows' worth,
    where each block's own scores (and before the row-by-row kernel, its node activations) came on top. (Sparse
    weights: dense ones score a block by a float32 BLAS product first, half the block's size.)"""
    clf, X = _fitted("sparse", "csr", n_classes=1000)
    out_bytes = X.shape[0] * len(clf.classes_) * 8
    getattr(clf, method)(X[:10])  # the kernels compiled, the scoring weights cached
    monkeypatch.setattr(predict, "IN_PLACE_BLOCKS", False)
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", False)
    before = _peak_bytes(lambda: getattr(clf, method)(X))
    monkeypatch.setattr(predict, "IN_PLACE_BLOCKS", True)
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", True)
    after = _peak_bytes(lambda: getattr(clf, method)(X))
    assert before > 1.9 * out_bytes
    exponentials = predict.EXP_BYTES if method == "predict_log_proba" else 0  # a few rows' exp (here 600)
    assert after < 1.1 * out_bytes + exponentials


def test_row_by_row_log_noise_is_the_activation_arrays_to_rounding(monkeypatch):
    clf, X = _fitted("dense", "csr")
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", False)
    before = clf.predict_log_proba(X)
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", True)
    after = clf.predict_log_proba(X)
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-9)
    Z = clf.tree_.transform(X)
    arrays = clf.tree_.arrays
    n_classes = len(clf.classes_)
    fused, blas = np.zeros((X.shape[0], n_classes)), np.zeros((X.shape[0], n_classes))
    predict.add_log_noise(Z, arrays, fused)
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", False)
    predict.add_log_noise(Z, arrays, blas)
    np.testing.assert_allclose(fused, blas, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused, np.log(clf.tree_.predict_proba(X)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("noise", ["uniform", "frequency"])
def test_an_unconditional_tree_gives_the_same_bits_row_by_row(monkeypatch, noise):
    """Trees without features (uniform and frequency noise) go through the row-by-row kernel too (one kernel to
    compile): their one row of log p_n is the same bits as from the activation array."""
    X, y = make_hierarchical_classification(n_samples=800, n_features=20, n_classes=60, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = AdversarialSoftmaxClassifier(noise=noise, random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert clf.tree_.arrays.node_weight.shape[1] == 0
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", False)
    before = clf.predict_log_proba(X)
    monkeypatch.setattr(predict, "FUSED_LOG_NOISE", True)
    assert clf.predict_log_proba(X).tobytes() == before.tobytes()
