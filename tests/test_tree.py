"""AuxiliaryTree inference and sampling, and the unconditional (k = 0) trees.

The greedy tree fit (Eqs. 7-9) is tested in test_tree_fit.py; here trees are
built by hand (random node parameters in the heap layout) or taken as fitted.
"""

from __future__ import annotations

import copy
import pickle

import _reference as ref
import numba
import numpy as np
import pytest
from conftest import to_csr
from scipy import stats
from scipy.special import logsumexp

from skxc._kernels.tree import add_log_noise_all, add_log_noise_rows, log_noise_of_codes, sample_classes
from skxc._kernels.tree import log_prob_of_leaf as _log_prob_of_leaf
from skxc._tree import balanced_leaf_class, tree_depth, unconditional_tree, unconditional_tree_arrays

pytestmark = pytest.mark.kernel


@numba.njit
def log_prob_of_leaf(z, leaf, node_weight, node_bias):  # a shim: the helper has no Python entry point
    return _log_prob_of_leaf(z, leaf, node_weight, node_bias)


CLASS_COUNTS = [2, 3, 5, 17, 64, 1000]


# -- layout ----------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", CLASS_COUNTS)
def test_balanced_leaf_class_layout(n_classes):
    depth = tree_depth(n_classes)
    assert 2 ** (depth - 1) < n_classes <= 2**depth
    leaf_class = balanced_leaf_class(n_classes)
    assert leaf_class.dtype == np.int32 and leaf_class.shape == (2**depth,)
    real = leaf_class[leaf_class >= 0]
    assert np.array_equal(real, np.arange(n_classes))  # each class once, in index order
    assert np.all(leaf_class[leaf_class < 0] == -1)
    # every node sends n - n // 2 of its n real classes left, n // 2 right
    for level in range(depth):
        for block in np.split(leaf_class >= 0, 2**level):
            left, right = np.split(block, 2)
            n = block.sum()
            assert left.sum() == n - n // 2 and right.sum() == n // 2


# -- unconditional trees ---------------------------------------------------------------


@pytest.mark.parametrize("n_classes", CLASS_COUNTS)
@pytest.mark.parametrize("mass_kind", ["uniform", "random"])
def test_unconditional_tree_leaf_probabilities(n_classes, mass_kind):
    rng = np.random.default_rng(n_classes)
    mass = np.ones(n_classes) if mass_kind == "uniform" else rng.uniform(0.05, 20.0, size=n_classes)
    classes = np.arange(n_classes) * 10
    tree = unconditional_tree(classes, mass, n_features_in=3)
    assert tree.node_weight_.shape == (2**tree.depth_ - 1, 0)
    X = rng.normal(size=(4, 3))
    proba = tree.predict_proba(X)
    np.testing.assert_allclose(proba, np.tile(mass / mass.sum(), (4, 1)), rtol=2e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # padding leaves: probability 0 (in float64)
    z = np.zeros(0, dtype=np.float32)
    padding = np.flatnonzero(tree.leaf_class_ < 0)
    assert len(padding) == 2**tree.depth_ - n_classes
    for leaf in padding:
        assert np.exp(log_prob_of_leaf(z, leaf, tree.node_weight_, tree.node_bias_)) == 0.0
    if n_classes <= 64:
        leaf_lp = ref.leaf_log_proba(z, tree.node_weight_, tree.node_bias_)
        assert np.all(np.exp(leaf_lp[padding]) == 0.0)
        np.testing.assert_allclose(np.exp(leaf_lp[tree.leaf_class_ >= 0]), mass / mass.sum(), rtol=2e-5)
    if mass_kind == "random":  # (uniform mass: every class ties)
        assert np.array_equal(tree.predict(X), np.repeat(classes[np.argmax(mass)], 4))


def test_unconditional_tree_arrays_contract():
    node_weight, node_bias, leaf_class, class_leaf = unconditional_tree_arrays(np.array([1.0, 2.0, 3.0]))
    assert node_weight.dtype == np.float32 and node_bias.dtype == np.float32
    assert leaf_class.dtype == np.int32 and class_leaf.dtype == np.int32
    assert np.array_equal(leaf_class[class_leaf], np.arange(3))


# -- random trees (k = 3) --------------------------------------------------------------


def _random_tree_rows(n_classes, seed, n_rows=6, k=3, scale=1.0):
    rng = np.random.default_rng(seed)
    tree = ref.random_tree(n_classes, k, rng, scale=scale)
    Z = rng.normal(size=(n_rows, k)).astype(np.float32)
    return tree, Z


def _all_class_log_proba(tree, Z, n_classes):
    node_weight, node_bias, leaf_class, _ = tree
    A = Z.astype(np.float64) @ node_weight.T.astype(np.float64) + node_bias
    out = np.zeros((Z.shape[0], n_classes))
    add_log_noise_all(A, leaf_class, out, np.empty(node_bias.shape[0] + leaf_class.shape[0]))
    return out


@pytest.mark.parametrize("n_classes", [2, 3, 5, 17, 64, 1000])
def test_all_class_log_proba_matches_path_walk(n_classes):
    tree, Z = _random_tree_rows(n_classes, seed=n_classes)
    out = _all_class_log_proba(tree, Z, n_classes)
    np.testing.assert_allclose(logsumexp(out, axis=1), 0.0, atol=1e-9)
    rows = range(Z.shape[0]) if n_classes <= 64 else range(2)
    for i in rows:
        expected = ref.class_log_proba(Z[i], tree[0], tree[1], tree[2], n_classes)
        np.testing.assert_allclose(out[i], expected, rtol=1e-9, atol=1e-9)


def test_all_class_log_proba_adds_in_place():
    tree, Z = _random_tree_rows(5, seed=1)
    base = np.arange(30, dtype=np.float64).reshape(6, 5)
    out = base.copy()
    node_weight, node_bias, leaf_class, _ = tree
    A = Z.astype(np.float64) @ node_weight.T.astype(np.float64) + node_bias
    add_log_noise_all(A, leaf_class, out, np.empty(node_bias.shape[0] + leaf_class.shape[0]))
    np.testing.assert_allclose(out - base, _all_class_log_proba(tree, Z, 5), rtol=1e-12)


def _row_by_row_log_proba(tree, Z, n_classes, out=None):
    node_weight, node_bias, leaf_class, _ = tree
    out = np.zeros((Z.shape[0], n_classes)) if out is None else out
    acts, buf = np.empty(node_bias.shape[0]), np.empty(node_bias.shape[0] + leaf_class.shape[0])
    add_log_noise_rows(Z, np.ascontiguousarray(node_weight.T), node_bias, leaf_class, out, acts, buf)
    return out


@pytest.mark.parametrize("n_classes", [2, 3, 17, 1000])
def test_row_by_row_log_noise_matches_the_path_walk_and_the_activation_array(n_classes):
    """The kernel that computes the node activations itself, row by row (what prediction uses), against the
    leaf-to-root walk of the reference and the kernel given the activations by NumPy."""
    tree, Z = _random_tree_rows(n_classes, seed=100 + n_classes)
    out = _row_by_row_log_proba(tree, Z, n_classes)
    np.testing.assert_allclose(out, _all_class_log_proba(tree, Z, n_classes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logsumexp(out, axis=1), 0.0, atol=1e-9)
    for i in range(2):
        expected = ref.class_log_proba(Z[i], tree[0], tree[1], tree[2], n_classes)
        np.testing.assert_allclose(out[i], expected, rtol=1e-9, atol=1e-9)
    # in place, onto what the scores hold, and the scratch's old contents do not leak into the next call
    base = np.arange(Z.shape[0] * n_classes, dtype=np.float64).reshape(Z.shape[0], n_classes)
    added = _row_by_row_log_proba(tree, Z, n_classes, out=base.copy())
    np.testing.assert_allclose(added - base, out, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n_classes", [2, 5, 17, 64])
def test_log_noise_of_codes_matches_all_class(n_classes):
    tree, Z = _random_tree_rows(n_classes, seed=10 + n_classes, n_rows=40)
    y = np.random.default_rng(0).integers(0, n_classes, size=40).astype(np.int32)
    out = np.empty(40)
    log_noise_of_codes(Z, y, tree[0], tree[1], tree[3], out)
    np.testing.assert_allclose(out, _all_class_log_proba(tree, Z, n_classes)[np.arange(40), y], rtol=1e-9, atol=1e-12)


def _chisquare_pvalue(counts, proba, n_draws):
    """Chi-square p-value with the classes of expected count < 5 pooled into one bin."""
    expected = proba * n_draws
    small = expected < 5
    f_obs = np.r_[counts[~small], counts[small].sum()]
    f_exp = np.r_[expected[~small], expected[small].sum()]
    if f_exp[-1] == 0:
        assert f_obs[-1] == 0
        f_obs, f_exp = f_obs[:-1], f_exp[:-1]
    f_exp *= f_obs.sum() / f_exp.sum()  # float rounding of the normaliser
    return stats.chisquare(f_obs, f_exp).pvalue


@pytest.mark.parametrize("n_classes", [5, 17])
def test_sample_classes_frequencies_match_probabilities(n_classes):
    n_draws = 20_000
    tree, Z = _random_tree_rows(n_classes, seed=100 + n_classes, n_rows=3, scale=0.7)
    lp = _all_class_log_proba(tree, Z, n_classes)
    state = np.array([123456789], dtype=np.uint64)
    out_class = np.empty((3, n_draws), dtype=np.int64)
    out_lp = np.empty((3, n_draws), dtype=np.float64)
    sample_classes(Z, n_draws, tree[0], tree[1], tree[2], state, out_class, out_lp)
    assert int(state[0]) != 123456789
    assert out_class.min() >= 0 and out_class.max() < n_classes  # never a padding leaf
    for i in range(3):
        counts = np.bincount(out_class[i], minlength=n_classes)
        assert _chisquare_pvalue(counts, np.exp(lp[i]), n_draws) > 1e-3
        np.testing.assert_allclose(out_lp[i], lp[i, out_class[i]], rtol=1e-9, atol=1e-12)


def test_sample_classes_is_deterministic_given_the_state():
    tree, Z = _random_tree_rows(17, seed=5, n_rows=2)
    draws = []
    for _ in range(2):
        state = np.array([77], dtype=np.uint64)
        out_class = np.empty((2, 50), dtype=np.int64)
        out_lp = np.empty((2, 50))
        sample_classes(Z, 50, tree[0], tree[1], tree[2], state, out_class, out_lp)
        draws.append(out_class)
    assert np.array_equal(draws[0], draws[1])
    # the same draws as the reference sampler with the same xorshift64* stream
    rng = ref.XorShift64Star(77)
    expected = [[tree[2][ref.sample_leaf(Z[i], tree[0], tree[1], rng)[0]] for _ in range(50)] for i in range(2)]
    assert np.array_equal(draws[0], expected)


# -- the AuxiliaryTree estimator (fitted) ----------------------------------------------


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_fitted_tree_inference(fitted_tree, data, sparse):
    tree = fitted_tree(sparse)
    X = to_csr(data[2]) if sparse else data[2]
    y = data[3]
    log_proba = tree.predict_log_proba(X)
    assert log_proba.shape == (X.shape[0], len(tree.classes_))
    np.testing.assert_allclose(logsumexp(log_proba, axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(tree.predict_proba(X), np.exp(log_proba), rtol=1e-12)
    codes = np.searchsorted(tree.classes_, y)
    np.testing.assert_allclose(tree.log_proba_of(X, y), log_proba[np.arange(len(y)), codes], rtol=1e-9, atol=1e-9)
    assert np.array_equal(tree.predict(X), tree.classes_[np.argmax(log_proba, axis=1)])
    # slow reference on the projected rows
    Z = tree.transform(X)
    for i in range(3):
        expected = ref.class_log_proba(Z[i], tree.node_weight_, tree.node_bias_, tree.leaf_class_, len(tree.classes_))
        np.testing.assert_allclose(log_proba[i], expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_fitted_tree_sample(fitted_tree, data, sparse):
    tree = fitted_tree(sparse)
    X = to_csr(data[2][:3]) if sparse else data[2][:3]
    n_draws = 20_000
    samples, log_proba = tree.sample(X, n_samples=n_draws, random_state=0, return_log_proba=True)
    assert samples.shape == (3, n_draws) and log_proba.shape == (3, n_draws)
    assert np.all(np.isin(samples, tree.classes_))
    assert np.array_equal(samples, tree.sample(X, n_samples=n_draws, random_state=0))
    assert not np.array_equal(samples, tree.sample(X, n_samples=n_draws, random_state=1))
    all_lp = tree.predict_log_proba(X)
    for i in range(3):
        codes = np.searchsorted(tree.classes_, samples[i])
        np.testing.assert_allclose(log_proba[i], all_lp[i, codes], rtol=1e-9, atol=1e-9)
        counts = np.bincount(codes, minlength=len(tree.classes_))
        assert _chisquare_pvalue(counts, np.exp(all_lp[i]), n_draws) > 1e-3


def test_fitted_tree_string_labels_and_pickle(data):
    from skxc import AuxiliaryTree

    X, y = data[0], data[1]
    labels = np.array([f"class-{c:02d}" for c in range(10)])
    tree = AuxiliaryTree(n_components=3, random_state=0).fit(X, labels[y])
    assert np.array_equal(tree.classes_, np.unique(labels[y]))
    pred = tree.predict(X)
    assert pred.dtype.kind == "U" and np.all(np.isin(pred, tree.classes_))
    again = pickle.loads(pickle.dumps(tree))
    np.testing.assert_array_equal(again.predict_log_proba(X), tree.predict_log_proba(X))
    assert np.array_equal(again.sample(X[:5], 4, random_state=3), tree.sample(X[:5], 4, random_state=3))
    copied = copy.deepcopy(tree)
    assert np.array_equal(copied.node_weight_, tree.node_weight_)


def test_tree_with_classes_argument_covers_unseen_classes(data):
    from skxc import AuxiliaryTree

    X, y = data[0], data[1]
    tree = AuxiliaryTree(n_components=3, random_state=0).fit(X, y, classes=np.arange(12))
    assert len(tree.classes_) == 12
    proba = tree.predict_proba(X[:5])
    assert proba.shape == (5, 12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)


def test_tree_sample_rejects_bad_n_samples(fitted_tree, data):
    with pytest.raises(ValueError, match="n_samples"):
        fitted_tree(False).sample(data[2][:2], n_samples=0)


def test_many_classes_with_few_rows_do_not_warn():
    """One or two rows per class is the normal case: no 'regression target?' warning from scikit-learn."""
    import warnings

    from skxc import AuxiliaryTree

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), np.arange(300) * 2 // 3  # 200 classes, 1.5 rows each
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The number of unique classes")
        AuxiliaryTree(n_components=2, random_state=0).fit(X, y)
