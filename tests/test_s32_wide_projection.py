"""Sparse X much wider than its rows fill (hashed text): the tree's projection is fitted on, stores components for
and takes only the columns with a stored entry in the tree's rows (``AuxiliaryTree.active_columns_``), with the
same result, to rounding, as the full-width projection, whose other components are exactly zero."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._projection as projection
import skxc._tree as tree_module
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree


def _wide(n_rows, n_features, n_classes=10, per_row=4, seed=0, random_columns=None):
    """Rows of class c share two class columns (two strong directions per class); the others are random (among
    the first ``random_columns``): a few thousand active columns of ``n_features``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows) % n_classes
    cols = rng.integers(0, random_columns or n_features, (n_rows, per_row))
    cols[:, :2] = (y[:, None] * 7919 + np.arange(2) * 104729) % n_features
    cols.sort(axis=1)
    X = sp.csr_matrix(
        (rng.random(cols.size) + 0.1, cols.ravel(), np.arange(0, cols.size + 1, per_row)), shape=(n_rows, n_features)
    )
    X.sum_duplicates()
    return X, y


def _full_width(monkeypatch):
    """Force the projection over all columns, as before active columns existed."""
    monkeypatch.setattr(tree_module, "ACTIVE_COLUMNS_SHARE", 0.0)


@pytest.mark.parametrize("shape", [(300, 20_000), (900, 600)])  # the transposed form (wider than tall) and the other
@pytest.mark.parametrize("weighted", [False, True])
def test_the_svd_on_the_active_columns_is_the_full_width_svd(shape, weighted):
    """randomized_svd_projection on the active columns, told their place (``embedding``), runs as on the full X:
    the same transposed form and Gaussian start, so the same components on the active columns (the full
    ones are exactly zero on the others), Z, singular values and explained variance, to rounding."""
    X, _ = _wide(*shape, per_row=3, random_columns=200)
    w = np.random.default_rng(1).uniform(0.5, 2.0, shape[0]) if weighted else None
    X_active, active = projection.active_columns(X, 0.5)
    assert active is not None and active.dtype == np.int64 and active.size < shape[1] / 2
    assert X_active.shape == (shape[0], active.size) and X_active.indptr is X.indptr
    full, Z_full = projection.randomized_svd_projection(X, 6, 4, 5, 1, w)
    part, Z_part = projection.randomized_svd_projection(X_active, 6, 4, 5, 1, w, embedding=(active, shape[1]))
    inactive = np.setdiff1d(np.arange(shape[1]), active)
    assert np.abs(full.components_[:, inactive]).max() < 1e-12
    np.testing.assert_allclose(part.components_, full.components_[:, active], rtol=0, atol=1e-10)
    np.testing.assert_allclose(Z_part, Z_full, rtol=0, atol=1e-10)
    np.testing.assert_allclose(part.singular_values_, full.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(part.explained_variance_ratio_, full.explained_variance_ratio_, rtol=1e-8)


@pytest.mark.parametrize(
    ("n_features", "projection"),
    [(200_000, "svd"), (200_000, "centroids"), (250, "svd")],  # randomized SVD, class means, the Gram matrix
)
def test_the_tree_projects_wide_sparse_x_on_its_active_columns(monkeypatch, n_features, projection):
    X, y = _wide(300, n_features, per_row=2 if n_features < 1000 else 4)
    tree = AuxiliaryTree(n_components=6, projection=projection, random_state=0, temperature=1.0).fit(X, y)
    active = np.unique(X.indices)
    assert active.size <= n_features / 2
    assert tree.projection_.components_.shape == (tree.n_components_, active.size)
    np.testing.assert_array_equal(tree.active_columns_, active)
    assert tree.active_columns_.dtype == np.int64
    assert tree.projection_.n_features_in_ == active.size
    _full_width(monkeypatch)
    wide = AuxiliaryTree(n_components=6, projection=projection, random_state=0, temperature=1.0).fit(X, y)
    assert wide.active_columns_ is None and wide.projection_.components_.shape == (6, n_features)
    np.testing.assert_allclose(tree.projection_.components_, wide.projection_.components_[:, active], atol=1e-10)
    np.testing.assert_allclose(tree.transform(X), wide.transform(X), rtol=1e-5, atol=1e-5)


def test_the_classifier_on_wide_sparse_x_matches_the_full_width_projection(monkeypatch):
    """300 rows x 200,000 columns, 4 entries a row: the tree stores components for its ~1,000 active columns only;
    the model predicts as the one whose tree projects over all columns, and survives pickling."""
    X, y = _wide(300, 200_000)
    X_new, _ = _wide(60, 200_000, seed=1)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    tree = clf.tree_
    assert clf.noise_ == "adversarial"
    assert tree.projection_.components_.shape[1] < 2_000
    assert tree.projection_.components_.shape == (tree.n_components_, tree.active_columns_.size)
    proba = clf.predict_proba(X_new)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X_new), proba)
    np.testing.assert_array_equal(loaded.tree_.active_columns_, tree.active_columns_)
    assert len(pickle.dumps(tree)) < 500_000  # its full-width components alone were 16 x 200,000 x 8 = 25.6 MB
    _full_width(monkeypatch)
    wide = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert wide.tree_.active_columns_ is None and wide.tree_.projection_.components_.shape[1] == 200_000
    np.testing.assert_allclose(proba, wide.predict_proba(X_new), rtol=1e-4, atol=1e-6)


def test_entries_of_columns_unseen_at_fit_are_ignored():
    """Rows with entries in columns no training row had are projected as without them, sparse or dense, one row or
    many (a binary search in the active columns or a column map); dense rows by column selection."""
    X, y = _wide(300, 200_000)
    tree = AuxiliaryTree(n_components=6, random_state=0).fit(X, y)
    X_new, _ = _wide(40, 200_000, seed=2)
    seen = np.zeros(200_000, dtype=bool)
    seen[tree.active_columns_] = True
    kept = X_new.multiply(sp.csr_matrix(seen.astype(np.float64))).tocsr()
    kept.eliminate_zeros()
    assert kept.nnz < X_new.nnz  # some entries are in unseen columns
    Z = tree.transform(kept)
    np.testing.assert_array_equal(tree.transform(X_new), Z)
    for i in range(3):  # one row: few entries, found by binary search
        np.testing.assert_array_equal(tree.transform(X_new[i]), Z[i : i + 1])
    np.testing.assert_allclose(tree.transform(X_new[:5].toarray()), Z[:5], rtol=1e-6, atol=1e-6)
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=1).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X_new[:5].toarray()), clf.predict_proba(X_new[:5]), rtol=1e-5)


def test_restrict_columns_drops_and_renumbers_entries():
    X = sp.csr_matrix(np.array([[0, 1, 2, 0, 3], [4, 0, 0, 5, 0], [0, 0, 0, 0, 6]], dtype=np.float32))
    active = np.array([1, 3, 4], dtype=np.int64)
    want = X.toarray()[:, active]
    for Xi in (X, sp.csr_matrix(sp.random(200, 5, density=0.0))):  # many entries (the map) and none
        got = projection.restrict_columns(Xi, active)
        assert got.shape == (Xi.shape[0], 3) and got.dtype == Xi.dtype
        np.testing.assert_array_equal(got.toarray(), Xi.toarray()[:, active])
    np.testing.assert_array_equal(projection.restrict_columns(X, active).toarray(), want)
    wide = sp.hstack([X, sp.csr_matrix((3, 10_000), dtype=np.float32)]).tocsr()  # few entries: binary search
    np.testing.assert_array_equal(projection.restrict_columns(wide, active).toarray(), want)
    assert projection.restrict_columns(wide, np.zeros(0, dtype=np.int64)).shape == (3, 0)


def test_dense_and_mostly_filled_sparse_x_keep_all_columns():
    rng = np.random.default_rng(0)
    X = sp.random(200, 400, density=0.05, random_state=0, format="csr")
    y = rng.integers(0, 5, 200)
    assert AuxiliaryTree(n_components=4, random_state=0).fit(X, y).active_columns_ is None
    assert AuxiliaryTree(n_components=4, random_state=0).fit(X.toarray(), y).active_columns_ is None
    assert AuxiliaryTree(n_components=0, random_state=0).fit(X[:, :50], y).active_columns_ is None


def test_rows_on_fewer_active_columns_than_components_keep_the_full_width_tree(monkeypatch):
    """Rows spanning 10 of 1,000 columns, 16 components asked: the full-width projection has 16 (n_features - 1
    caps them), its last 6 spanning no row; on the active columns those come out as zero components, so the tree
    is the full-width one (it had 9 components and a training log-likelihood of -0.70 against -0.51)."""
    rng = np.random.default_rng(0)
    category = rng.integers(0, 10, 400)
    X = sp.csr_matrix((np.ones(400), category * 37, np.arange(401)), shape=(400, 1000))
    y = (category + (rng.random(400) < 0.1)) % 10
    tree = AuxiliaryTree(n_components=16, random_state=0, n_jobs=1).fit(X, y)
    assert tree.n_components_ == 16 and tree.active_columns_.size == 10
    assert tree.projection_.components_.shape == (16, 10)
    assert not tree.projection_.components_[10:].any() and not tree.projection_.singular_values_[10:].any()
    _full_width(monkeypatch)
    wide = AuxiliaryTree(n_components=16, random_state=0, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(tree.predict_proba(X), wide.predict_proba(X), rtol=1e-5, atol=1e-7)
    empty = AuxiliaryTree(n_components=16, random_state=0, temperature=1.0).fit(sp.csr_matrix((2, 1000)), [0, 1])
    assert empty.active_columns_ is None  # no active column: nothing to take, the full-width path as before
