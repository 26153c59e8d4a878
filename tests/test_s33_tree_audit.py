"""Audit 15 of AuxiliaryTree: X too large for the projection, predict in blocks and the output memory guard,
``sample``'s arguments, the demo's command-line checks."""

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AuxiliaryTree
from skxc import _tree as tree_module
from skxc import _validation as validation
from skxc.demo import main as demo_main


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.arange(300) % 6
    X = rng.normal(size=(300, 10)) + 3.0 * np.eye(10)[y]
    return X, y


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kind", ["dense", "sparse", "centroids"])
@pytest.mark.parametrize("scale", [1e160, 1e300])
def test_x_too_large_for_the_projection_is_a_clear_error(data, kind, scale):
    X, y = data
    X = X * scale
    tree = AuxiliaryTree(n_components=4, random_state=0, projection="centroids" if kind == "centroids" else "svd")
    with pytest.raises(
        ValueError, match=r"Input X contains values too large for the tree's projection.*StandardScaler"
    ):
        tree.fit(sp.csr_matrix(X) if kind == "sparse" else X, y)
    X = X / scale * 1e150  # large, but the sums of squares fit float64: fitted as before
    X = sp.csr_matrix(X) if kind == "sparse" else X
    assert tree.fit(X, y).score(X, y) > 0.5


@pytest.fixture(scope="module")
def tree(data):
    X, y = data
    return AuxiliaryTree(n_components=4, random_state=0).fit(X, y)


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba"])
def test_tree_outputs_beyond_the_available_memory_get_the_guard_error(monkeypatch, tree, data, method):
    X, _ = data
    expected = tree.classes_[np.argmax(tree.predict_log_proba(X), axis=1)]
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    need = X.shape[0] * len(tree.classes_) * 8
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) - 8)
    with pytest.raises(validation.ModelMemoryError, match=rf"{method} would return a 300 x 6 float64") as err:
        getattr(tree, method)(X)
    assert "predict(X) (computed in blocks of rows)" in str(err.value)
    assert "predict_top_k" not in str(err.value)  # the tree has none
    np.testing.assert_array_equal(tree.predict(X), expected)  # in blocks: no n x C array, the same classes
    monkeypatch.setattr(tree_module, "block_rows", lambda *args: 7)  # 300 rows: 43 blocks, the last of 6
    np.testing.assert_array_equal(tree.predict(X), expected)
    assert getattr(tree, method)(X[:100]).shape == (100, 6)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) + 8)
    assert getattr(tree, method)(X).shape == (300, 6)


def test_sample_accepts_a_generator_and_checks_its_arguments(tree, data):
    X, _ = data
    a = tree.sample(X[:5], 3, random_state=np.random.default_rng(0))
    b = tree.sample(X[:5], 3, random_state=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert np.isin(a, tree.classes_).all()
    np.testing.assert_array_equal(tree.sample(X[:5], 3, random_state=1), tree.sample(X[:5], 3, random_state=1))
    with pytest.raises(TypeError, match="random_state must be"):
        tree.sample(X[:5], random_state="seed")
    with pytest.raises(TypeError, match="return_log_proba must be a bool"):
        tree.sample(X[:5], return_log_proba="no")
    samples, log_proba = tree.sample(X[:5], 2, random_state=0, return_log_proba=np.True_)
    assert samples.shape == log_proba.shape == (5, 2)


@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_sample_beyond_the_available_memory_gets_the_guard_error(monkeypatch, data, labels):
    """sample's n_rows x n_samples codes (int64), log-probabilities (float64) and labels are checked before they are
    allocated (stop 34): a huge n_samples was NumPy's MemoryError or, Linux overcommitting, a killed process."""
    X, y = data
    if labels == "strings":
        y = np.array(["class-a", "b", "c", "d", "e", "f"])[y]  # <U7: 28 bytes a label
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, y)
    expected = tree.sample(X, 50, random_state=0, return_log_proba=True)
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    need = X.shape[0] * 50 * (16 + tree.classes_.dtype.itemsize)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) - 8)
    for return_log_proba in (False, True):  # the log-probabilities are computed either way
        with pytest.raises(validation.ModelMemoryError, match="sample would return 300 x 50 drawn classes") as err:
            tree.sample(X, 50, random_state=0, return_log_proba=return_log_proba)
        assert isinstance(err.value, ValueError)
        assert "n_samples=50" in str(err.value) and "sample on slices of X" in str(err.value)
    assert tree.sample(X, 49, random_state=0).shape == (300, 49)  # fewer draws
    assert tree.sample(X[:150], 50, random_state=0).shape == (150, 50)  # a slice of X
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(need / validation.MEMORY_HEADROOM) + 8)
    samples, log_proba = tree.sample(X, 50, random_state=0, return_log_proba=True)  # within the guard: as before
    np.testing.assert_array_equal(samples, expected[0])
    np.testing.assert_array_equal(log_proba, expected[1])


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--n-samples", "0"], "--n-samples"), (["--epochs", "-1"], "--epochs"), (["--n-jobs", "0"], "--n-jobs")],
)
def test_demo_rejects_bad_arguments_naming_the_flag(capsys, argv, flag):
    with pytest.raises(SystemExit) as exit_info:
        demo_main(argv)
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
