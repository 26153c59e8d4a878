"""The tree's projection of sparse rows (skxc/_kernels/project.py) against scipy's product, bit for bit."""

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._projection as projection
import skxc._tree as tree_module
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._kernels.project import project_rows
from skxc._projection import restrict_columns
from skxc._tree import transposed_components


def _rows(n, n_features, density, seed, dtype):
    X = sp.random(n, n_features, density=density, random_state=seed, format="csr", dtype=dtype)
    X.data = (X.data * 10 - 3).astype(dtype)  # signed values, some large: the sums' rounding shows
    keep = np.arange(n) % 7 != 0  # empty rows
    X = sp.csr_matrix(sp.diags(keep.astype(dtype)) @ X)
    X.eliminate_zeros()
    return X


def _reference(tree, X):
    """The projection before the kernel (stop 60): scipy's product of the (restricted) rows with the transposed
    components, then NumPy's centring, scaling and cast."""
    if tree.active_columns_ is not None:
        X = restrict_columns(X, tree.active_columns_)
    Z = np.asarray(X @ transposed_components(tree.projection_))
    Z -= tree._z_shift
    Z *= tree._z_scale
    return np.ascontiguousarray(Z, dtype=np.float32)


@pytest.mark.kernel
def test_kernel_matches_the_scipy_product():
    """Every row, mapped or not, with negative column map entries left out: scipy's sums to the bit."""
    rng = np.random.default_rng(0)
    X = _rows(200, 60, 0.1, 1, np.float64)
    components = rng.standard_normal((40, 5))
    active = np.sort(rng.choice(60, size=40, replace=False))
    column = np.full(60, -1, dtype=np.int32)
    column[active] = np.arange(40, dtype=np.int32)
    shift, scale = rng.standard_normal(5), 0.37
    out = np.full((200, 5), np.nan, dtype=np.float32)
    indptr = X.indptr.astype(np.int64)
    indices = X.indices.astype(np.int32)
    project_rows(indptr, indices, X.data, column, components, shift, scale, 0, 120, np.zeros(5), out)
    project_rows(indptr, indices, X.data, column, components, shift, scale, 120, 200, np.zeros(5), out)
    ref = np.asarray(restrict_columns(X, active) @ components)
    ref = ((ref - shift) * scale).astype(np.float32)
    np.testing.assert_array_equal(out, ref)
    # no map: every column
    full = rng.standard_normal((60, 5))
    project_rows(indptr, indices, X.data, np.zeros(0, np.int32), full, shift, scale, 0, 200, np.zeros(5), out)
    np.testing.assert_array_equal(out, ((np.asarray(X @ full) - shift) * scale).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features", [80, 3000])  # all columns active / a few active columns (active_columns_)
def test_tree_projection_is_the_scipy_one(dtype, n_features, monkeypatch):
    """The fitted tree's transform of sparse rows: the reference's float32 values exactly, on 1 and 3 threads
    with many blocks (each row's sums come from one block)."""
    rng = np.random.default_rng(1)
    X = _rows(600, n_features, 0.02 if n_features > 80 else 0.1, 2, np.float64)
    if n_features > 80:  # entries in a quarter of the columns only
        X = sp.hstack([X[:, : n_features // 4], sp.csr_matrix((600, n_features - n_features // 4))], format="csr")
    y = rng.integers(0, 20, 600)
    y[:20] = np.arange(20)
    tree = AuxiliaryTree(n_components=6, random_state=0).fit(X, y)
    assert (tree.active_columns_ is not None) == (n_features > 80)
    Xt = _rows(300, n_features, 0.05, 3, dtype)
    ref = _reference(tree, Xt)
    monkeypatch.setattr(projection, "BLOCK_NNZ", 50)
    for n_jobs in (1, 3):
        Z = tree.project(Xt, n_jobs=n_jobs)
        assert Z.dtype == np.float32 and Z.flags.c_contiguous
        np.testing.assert_array_equal(Z, ref)
    np.testing.assert_array_equal(tree.transform(Xt), ref)


def test_overflow_is_reported():
    """A projection past float32's range is the tree's clear ValueError, not inf features."""
    X = sp.csr_matrix(np.random.default_rng(0).random((200, 30)))
    y = np.arange(200) % 10
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    big = sp.csr_matrix(np.full((2, 30), 1e300))
    with pytest.raises(ValueError, match="overflows float32"):
        tree.transform(big)


def test_classifier_predictions_do_not_depend_on_n_jobs():
    """The classifier's scores of sparse rows are the same with 1 and 2 prediction threads."""
    rng = np.random.default_rng(2)
    X = _rows(1500, 400, 0.03, 4, np.float64)
    y = rng.integers(0, 30, 1500)
    clf = AdversarialSoftmaxClassifier(n_components=5, max_iter=2, random_state=0, n_jobs=1).fit(X, y)
    one = clf.decision_function(X[:400])
    clf.set_params(n_jobs=2)
    np.testing.assert_array_equal(clf.decision_function(X[:400]), one)


def test_column_map_is_made_once_per_projection():
    """A tree on a few active columns maps them once: the second projection reuses the first's map."""
    rng = np.random.default_rng(3)
    X = _rows(600, 3000, 0.02, 5, np.float64)
    X = sp.hstack([X[:, :500], sp.csr_matrix((600, 2500))], format="csr")
    y = rng.integers(0, 20, 600)
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    assert tree.active_columns_ is not None
    tree.transform(X[:3])
    first = tree_module._COLUMN_MAPS[tree.projection_][1]
    np.testing.assert_array_equal(np.flatnonzero(first >= 0), tree.active_columns_)
    np.testing.assert_array_equal(first[tree.active_columns_], np.arange(tree.active_columns_.shape[0]))
    np.testing.assert_array_equal(tree.transform(X[:3]), _reference(tree, X[:3]))
    assert tree_module._COLUMN_MAPS[tree.projection_][1] is first
