"""Stop 62: the top-k search of sparse weights starts each row from its leaves (skxc._weights.leaf_index)."""

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier
from skxc._kernels.predict import search_scratch, top_k_feature_major
from skxc._weights import by_feature, leaf_index, scoring_weights

N_CLASSES, N_FEATURES, K = 37, 50, 3  # 37 classes: a tree of 64 leaves, 27 of them padding


def _problem(seed):
    rng = np.random.default_rng(seed)
    tree = ref.random_tree(N_CLASSES, K, rng)
    coef = sp.random(N_CLASSES, N_FEATURES, density=0.2, random_state=seed, format="csr", dtype=np.float32)
    X = sp.random(40, N_FEATURES, density=0.1, random_state=seed + 1, format="csr", dtype=np.float32)
    intercept = rng.standard_normal(N_CLASSES).astype(np.float32)
    Z = rng.standard_normal((40, K)).astype(np.float32)
    return tree, coef, X, intercept, Z


def _search(tree, coef, X, intercept, Z, k, offset):
    node_weight, node_bias, leaf_class, class_leaf = tree
    w_indptr, w_classes, w_data = by_feature(coef)
    leaf_intercept = np.full(leaf_class.shape[0], -np.inf)
    leaf_intercept[class_leaf] = intercept
    out = np.empty((X.shape[0], k), dtype=np.int64)
    scores = np.empty((X.shape[0], k))
    top_k_feature_major(
        X.indptr.astype(np.int64), X.indices.astype(np.int32), X.data, 0, X.shape[0], w_indptr,
        class_leaf[w_classes].astype(np.int32), w_data, offset, leaf_intercept, Z, node_weight, node_bias,
        leaf_class, k, out, scores, *search_scratch(node_bias, leaf_class, k),
    )  # fmt: skip
    return out, scores


@pytest.mark.parametrize("with_offset", [False, True])
@pytest.mark.parametrize("k", [1, 4])
def test_feature_major_search_matches_a_numpy_reference(k, with_offset):
    tree, coef, X, intercept, Z = _problem(3)
    node_weight, node_bias, leaf_class, _ = tree
    offset = np.linspace(-1.0, 2.0, X.shape[0]) if with_offset else np.zeros(0)
    out, scores = _search(tree, coef, X, intercept, Z, k, offset)
    S = X.toarray().astype(np.float64) @ coef.toarray().astype(np.float64).T + intercept
    if with_offset:
        S += offset[:, None]
    for i in range(X.shape[0]):
        full = S[i] + ref.class_log_proba(Z[i], node_weight, node_bias, leaf_class, N_CLASSES)
        expected = np.argsort(-full, kind="stable")[:k]
        np.testing.assert_array_equal(out[i], expected)
        np.testing.assert_allclose(scores[i], full[expected], rtol=1e-9, atol=1e-9)


def test_an_infinite_offset_reaches_the_classes_only():
    """A broken model's +inf common term makes every class's score +inf; the padding leaves stay -inf, so the
    search still returns real classes (as the class-ordered start did)."""
    tree, coef, X, intercept, Z = _problem(4)
    offset = np.full(X.shape[0], np.inf)
    out, scores = _search(tree, coef, X, intercept, Z, 2, offset)
    assert np.all((out >= 0) & (out < N_CLASSES))
    assert np.all(scores == np.inf)


def test_leaf_index_is_made_once_per_weights_and_tree():
    tree, coef, *_ = _problem(5)
    class_leaf = tree[3]
    weights = scoring_weights(coef, None)
    first = leaf_index(weights, class_leaf)
    np.testing.assert_array_equal(first, class_leaf[weights.classes])
    assert first.dtype == np.int32
    assert leaf_index(scoring_weights(coef, None), class_leaf.copy()) is first  # the same weights and tree
    other = np.random.default_rng(0).permutation(class_leaf).astype(np.int32)
    second = leaf_index(weights, other)  # another tree over the same weights
    np.testing.assert_array_equal(second, other[weights.classes])
    assert leaf_index(weights, other) is second


def test_sparse_weights_predict_as_their_dense_copy():
    """End to end: a sparse-weights model's top k (the feature-major search) equals that of the same model with
    its weights made dense (the class-major kernel), classes and scores."""
    rng = np.random.default_rng(0)
    X = sp.random(600, 80, density=0.08, random_state=1, format="csr", dtype=np.float64)
    y = rng.integers(0, 30, 600)
    clf = AdversarialSoftmaxClassifier(weights="sparse", max_iter=3, random_state=0, n_jobs=1).fit(X, y)
    assert sp.issparse(clf.coef_)
    top, proba = clf.predict_top_k(X[:200], 5, return_scores=True)
    dense = clf._scoring_coef()
    rows, Z = clf._kernel_inputs(X[:200])
    from skxc._predict import top_k
    from skxc._weights import to_dense

    codes, _ = top_k(rows, Z, to_dense(dense.coef, dense.shared, order="F"), clf.intercept_, clf.tree_.arrays, 5, 1)
    np.testing.assert_array_equal(top, clf.classes_[codes])
    assert np.all(np.diff(proba, axis=1) <= 1e-12)
