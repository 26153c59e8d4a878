"""Dense rows are projected onto the tree's features in blocks: no float64 copy of all of X (PCA's float64
components turn float32 rows into one), and the same Z as in one piece."""

import tracemalloc

import numpy as np
import pytest

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree, _tree


@pytest.fixture(scope="module")
def dense_tree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60_000, 256)).astype(np.float32)  # 61 MB; a block's float64 copy is 16 MiB
    y = rng.integers(0, 40, size=X.shape[0])
    return AuxiliaryTree(random_state=0, n_components=8).fit(X[:2000], y[:2000]), X


def test_blocks_give_the_projection_of_the_whole(monkeypatch, dense_tree):
    tree, X = dense_tree
    blocked = tree.project(X)
    monkeypatch.setattr(_tree, "PROJECT_BLOCK", X.size)  # one piece
    whole = tree.project(X)
    assert blocked.dtype == whole.dtype == np.float32 and blocked.flags.c_contiguous
    np.testing.assert_allclose(blocked, whole, rtol=1e-6, atol=1e-6)
    monkeypatch.setattr(_tree, "PROJECT_BLOCK", 1000)  # uneven blocks of 3 rows, the last shorter
    np.testing.assert_allclose(tree.project(X[:1001]), whole[:1001], rtol=1e-6, atol=1e-6)


def _peak_bytes(call) -> int:
    """Peak bytes numpy allocated (traced) while ``call()`` ran."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_projecting_dense_rows_holds_no_float64_copy_of_them(dense_tree):
    tree, X = dense_tree
    assert _peak_bytes(lambda: tree.project(X)) < 0.5 * X.nbytes  # a float64 copy of X would be 2 x X.nbytes


def test_predictions_of_dense_rows_hold_no_float64_copy_of_them():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60_000, 256)).astype(np.float32)
    y = rng.integers(0, 40, size=X.shape[0])
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=1, centroid_blend=0).fit(X[:3000], y[:3000])
    assert _peak_bytes(lambda: clf.predict(X)) < X.nbytes


def test_sparse_rows_are_projected_as_truncated_svd_transforms_them():
    """Sparse rows meet a C-order copy of the components' transpose made once per components array (scipy copies
    the transposed view on every product otherwise): the same Z, bit for bit, as TruncatedSVD.transform."""
    import pickle

    import scipy.sparse as sp

    rng = np.random.default_rng(2)
    X = sp.random(600, 3000, density=0.01, format="csr", random_state=2, dtype=np.float32)
    y = rng.integers(0, 30, size=600)
    tree = AuxiliaryTree(random_state=0, n_components=6, projection="svd").fit(X, y)
    svd = tree.projection_
    expected = (svd.transform(X) - tree._z_shift) * tree._z_scale
    np.testing.assert_array_equal(tree.project(X), expected.astype(np.float32))
    first = _tree.transposed_components(svd)
    assert first.flags.c_contiguous and first.shape == (3000, 6)
    assert _tree.transposed_components(svd) is first  # made once
    svd.components_ = svd.components_ * 2.0  # a new components array: a new transpose
    assert np.array_equal(_tree.transposed_components(svd), 2.0 * first)
    assert len(pickle.dumps(tree)) < 1.5 * len(pickle.dumps(svd.components_))  # the copy is not saved with it
