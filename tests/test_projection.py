"""The tree's threaded randomized SVD (skxc/_projection.py) against scikit-learn's TruncatedSVD."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

import skxc._projection as projection
from skxc import AuxiliaryTree
from skxc._projection import randomized_svd_projection


def _data(n_rows, n_features, seed):
    X = sp.random(n_rows, n_features, density=0.05, random_state=seed, format="csr", dtype=np.float64)
    # a few strong directions, as text has, so that the leading subspace is well defined
    X = X + sp.csr_matrix(np.outer(np.random.default_rng(seed).random(n_rows) > 0.7, np.arange(n_features) % 7 == 0))
    return sp.csr_matrix(X)


@pytest.mark.parametrize("shape", [(300, 900), (900, 300)])  # wider than tall: scikit-learn's transposed path
def test_matches_scikit_learn(shape):
    """The same algorithm, start and sign rule as TruncatedSVD(algorithm="randomized"): the same
    components, projection, singular values and explained variance, to rounding."""
    X = _data(*shape, seed=1)
    ref = TruncatedSVD(6, algorithm="randomized", n_iter=4, random_state=5)
    Z_ref = ref.fit_transform(X)
    svd, Z = randomized_svd_projection(X, 6, 4, 5, n_threads=2)
    np.testing.assert_allclose(svd.components_, ref.components_, atol=1e-8)
    np.testing.assert_allclose(Z, Z_ref, atol=1e-8)
    np.testing.assert_allclose(svd.transform(X), Z_ref, atol=1e-8)
    np.testing.assert_allclose(svd.singular_values_, ref.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(svd.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-8)
    # the fitted projection holds its k components only, not a view of the oversampled basis
    assert svd.components_.flags.c_contiguous and svd.components_.base is None


def test_same_result_on_any_number_of_threads(monkeypatch):
    """Each output row of a product comes from one row block: 1 and 3 threads agree bitwise."""
    monkeypatch.setattr(projection, "BLOCK_NNZ", 500)  # many blocks
    X = _data(700, 400, seed=2)
    one = randomized_svd_projection(X, 5, 4, 0, n_threads=1)
    three = randomized_svd_projection(X, 5, 4, 0, n_threads=3)
    np.testing.assert_array_equal(one[1], three[1])
    np.testing.assert_array_equal(one[0].components_, three[0].components_)


def test_rank_deficient_input_falls_back_to_householder():
    """X of rank 3 with 5 components (15 random columns): the Gram matrices are singular, the steps fall back to
    QR; the result is finite with orthonormal components, and the leading singular values are X's."""
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.random((200, 3)) @ rng.random((3, 50)))
    svd, Z = randomized_svd_projection(X, 5, 4, 0, n_threads=2)
    assert np.isfinite(Z).all() and np.isfinite(svd.components_).all()
    np.testing.assert_allclose(svd.components_ @ svd.components_.T, np.eye(5), atol=1e-8)
    np.testing.assert_allclose(svd.singular_values_[:3], np.linalg.svd(X.toarray(), compute_uv=False)[:3], rtol=1e-8)


def test_the_tree_projects_sparse_input_with_it(monkeypatch):
    """AuxiliaryTree on sparse X: the threaded SVD by default, scikit-learn's with THREADED_SVD=False; the same
    projection and the same tree either way on this data."""
    import skxc._tree as tree_module

    X = _data(600, 300, seed=3)
    y = np.arange(600) % 20
    fast = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    monkeypatch.setattr(tree_module, "THREADED_SVD", False)
    slow = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    np.testing.assert_allclose(fast.projection_.components_, slow.projection_.components_, atol=1e-8)
    np.testing.assert_array_equal(fast.leaf_class_, slow.leaf_class_)


def test_row_weights_are_repeated_rows():
    """row_weight counts a row as often as its weight: the SVD of the repeated rows (scikit-learn's), to
    rounding, with Z of the rows unscaled and the explained variance of the repeated rows."""
    X = _data(200, 120, seed=4)
    counts = np.random.default_rng(0).integers(1, 5, size=200)
    repeated = X[np.repeat(np.arange(200), counts)]
    ref = TruncatedSVD(5, algorithm="randomized", n_iter=4, random_state=2)
    Z_ref = ref.fit_transform(repeated)
    svd, Z = randomized_svd_projection(X, 5, 4, 2, n_threads=2, row_weight=counts.astype(float))
    np.testing.assert_allclose(svd.components_, ref.components_, atol=1e-8)
    np.testing.assert_allclose(Z[np.repeat(np.arange(200), counts)], Z_ref, atol=1e-8)
    np.testing.assert_allclose(svd.singular_values_, ref.singular_values_, rtol=1e-8)
    np.testing.assert_allclose(svd.explained_variance_, ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(svd.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-8)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("max_samples", [200_000, 700])
def test_the_tree_reads_examples_through_their_rows(sparse, max_samples):
    """fit_encoded(X, ..., example_row=r) is the tree of X[r] (a multi-label classifier's (row, label) pairs),
    also when the examples are subsampled (max_samples) and for dense X (which is expanded): the same
    projection to rounding, the same class layout and node parameters."""
    rng = np.random.default_rng(1)
    X = _data(400, 150, seed=5)
    X = X if sparse else X.toarray()
    example_row = np.sort(rng.integers(0, 400, size=1000))
    codes = rng.integers(0, 12, size=1000)
    w = rng.random(1000) + 0.5
    classes = np.arange(12)
    kw = dict(n_components=4, random_state=0, max_samples=max_samples)
    by_index = AuxiliaryTree(**kw).fit_encoded(X, codes, classes, w, np.random.default_rng(3), example_row=example_row)
    copied = AuxiliaryTree(**kw).fit_encoded(X[example_row], codes, classes, w, np.random.default_rng(3))
    np.testing.assert_allclose(by_index.projection_.components_, copied.projection_.components_, atol=1e-8)
    np.testing.assert_allclose(by_index._z_shift, copied._z_shift, atol=1e-8)
    np.testing.assert_allclose(by_index._z_scale, copied._z_scale, rtol=1e-8)
    np.testing.assert_array_equal(by_index.leaf_class_, copied.leaf_class_)
    np.testing.assert_allclose(by_index.node_weight_, copied.node_weight_, atol=1e-4)
    np.testing.assert_allclose(by_index.node_bias_, copied.node_bias_, atol=1e-4)


# -- projection="centroids": the directions of the class means ---------------------------------------------------


def _class_data(n_classes, n_features, n_rows, seed, sparse):
    """Rows whose classes differ along a few directions while most of X's variance lies along others."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows) % n_classes
    means = np.zeros((n_classes, n_features))
    means[:, :3] = 2.0 * rng.standard_normal((n_classes, 3))  # the classes: features 0-2
    X = means[y] + rng.standard_normal((n_rows, n_features)) * np.r_[np.ones(3), np.full(n_features - 3, 4.0)]
    if sparse:
        X = X * (rng.random(X.shape) < 0.7)  # 70 % of the entries stored
    return (sp.csr_matrix(X) if sparse else X), y


@pytest.mark.parametrize("sparse", [False, True])
def test_class_means_match_numpy(sparse):
    """class_means: each class's weighted mean row (classes of zero weight dropped), centred on the weighted
    mean for dense X only, and the classes' weights; examples may repeat rows (multi-label)."""
    from skxc._tree import class_means

    X, _ = _class_data(5, 7, 40, seed=0, sparse=sparse)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 40, size=60)
    codes = rng.integers(0, 6, size=60)
    codes[codes == 4] = 5  # class 4 has no example
    weight = rng.random(60)
    weight[codes == 3] = 0.0  # class 3 has examples of weight 0
    means, class_weight = class_means(X, codes, rows, weight, 6)
    Xd = X.toarray() if sparse else X
    kept = [0, 1, 2, 5]
    want_w = np.array([weight[codes == c].sum() for c in kept])
    want = np.array([weight[codes == c] @ Xd[rows[codes == c]] for c in kept]) / want_w[:, None]
    if not sparse:
        want -= (want_w @ want) / want_w.sum()
    assert sp.issparse(means)
    np.testing.assert_allclose(class_weight, want_w)
    np.testing.assert_allclose(means.toarray(), want, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_centroid_projection_spans_the_weighted_class_means(sparse):
    """projection="centroids": components_ span the top right singular vectors of the class means scaled by
    the square roots of the classes' weights (NumPy's SVD), at most one fewer than the classes; "svd" follows
    X's variance instead, so on rows whose classes differ along low-variance features the centroid tree
    predicts held-out rows better."""
    from skxc._tree import class_means

    X, y = _class_data(12, 40, 3600, seed=2, sparse=sparse)
    X, y, X_new, y_new = X[:2400], y[:2400], X[2400:], y[2400:]
    tree = AuxiliaryTree(n_components=4, projection="centroids", random_state=0, temperature=1.0).fit(X, y)
    assert tree.n_components_ == 4
    means, w = class_means(X, y, np.arange(X.shape[0]), np.ones(X.shape[0]), 12)
    Vt = np.linalg.svd(np.sqrt(w)[:, None] * means.toarray())[2][:4]
    # the same subspace: the singular values of the product of the two orthonormal bases are cosines of
    # the principal angles between them
    cosines = np.linalg.svd(tree.projection_.components_ @ Vt.T, compute_uv=False)
    np.testing.assert_allclose(cosines, 1.0, atol=1e-4)
    svd_tree = AuxiliaryTree(n_components=4, random_state=0, temperature=1.0).fit(X, y)
    idx = np.searchsorted(tree.classes_, y_new)

    def held_out(t):
        return t.predict_log_proba(X_new)[np.arange(len(idx)), idx].mean()

    assert held_out(tree) > held_out(svd_tree) + 0.1
    few = AuxiliaryTree(n_components=8, projection="centroids", random_state=0).fit(X[:300], y[:300] % 3)
    assert few.n_components_ == 2  # three class means span two directions


@pytest.mark.parametrize("sparse", [False, True])
def test_centroid_projection_of_multilabel_examples(sparse):
    """Multi-label: the label means are those of the (row, label) examples, each row counted once per label it
    carries; the classifier's tree uses them when asked and stays on "svd" under "auto"."""
    from skxc import AdversarialSoftmaxClassifier
    from skxc._tree import class_means

    X, y = _class_data(8, 20, 800, seed=4, sparse=sparse)
    Y = np.zeros((800, 8), dtype=int)
    Y[np.arange(800), y] = 1
    Y[np.arange(800), (y + 1) % 8] = 1  # every row carries its class and the next
    clf = AdversarialSoftmaxClassifier(tree_projection="centroids", n_components=3, max_iter=1, random_state=0)
    clf.fit(X, Y)
    assert clf.tree_.projection == "centroids" and clf.tree_.n_components_ == 3
    rows, labels = np.nonzero(Y)
    means, w = class_means(X, labels, rows, np.ones(rows.size), 8)
    Vt = np.linalg.svd(np.sqrt(w)[:, None] * means.toarray())[2][:3]
    cosines = np.linalg.svd(clf.tree_.projection_.components_ @ Vt.T, compute_uv=False)
    assert cosines.min() > 0.9  # the tree was fitted on the fit rows (the calibration split holds some out)
    auto = AdversarialSoftmaxClassifier(n_components=3, max_iter=1, random_state=0).fit(X, Y)
    assert auto.tree_.projection == "svd"


@pytest.mark.parametrize("weighted", [False, True])
def test_gram_projection_is_the_exact_truncated_svd(weighted):
    """X of few columns: the components, singular values and projection of NumPy's full SVD (of the rows scaled by
    the square roots of their weights), with scikit-learn's sign rule; explained variance as TruncatedSVD's."""
    from skxc._projection import gram_svd_projection

    X = _data(500, 40, seed=3)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 500) if weighted else None
    dense = X.toarray() * (np.sqrt(w)[:, None] if weighted else 1.0)
    _, s, Vt = np.linalg.svd(dense, full_matrices=False)
    svd, Z = gram_svd_projection(X, 5, w)
    signs = np.sign(Vt[np.arange(5), np.argmax(np.abs(Vt[:5]), axis=1)])
    np.testing.assert_allclose(svd.components_, Vt[:5] * signs[:, None], atol=1e-8)
    np.testing.assert_allclose(svd.singular_values_, s[:5], rtol=1e-8)
    np.testing.assert_allclose(Z, X.toarray() @ svd.components_.T, atol=1e-10)
    np.testing.assert_allclose(svd.transform(X), Z, atol=1e-10)
    if not weighted:
        ref = TruncatedSVD(5, algorithm="arpack").fit(X)
        np.testing.assert_allclose(svd.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-6)


def test_the_tree_projects_few_sparse_columns_through_the_gram_matrix(monkeypatch):
    import skxc._tree as tree_module

    calls = []
    original = tree_module.gram_svd_projection
    monkeypatch.setattr(tree_module, "gram_svd_projection", lambda *a: calls.append(a[0].shape) or original(*a))
    X = _data(400, 30, seed=4)
    AuxiliaryTree(n_components=4, random_state=0).fit(X, np.arange(400) % 7)
    assert calls and calls[0][1] == 30
